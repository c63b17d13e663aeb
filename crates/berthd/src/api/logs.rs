//! A container's log as the API streams it, for `logs` (with or without `--follow`) and for
//! `attach`: its records in the order they were written, filtered by stream and time, the last
//! `tail` of them, in Docker's frames (raw for a terminal), optionally stamped.
//!
//! Following is reading the log as the keeper appends to it, until the container has exited
//! and its keeper has drained it. Reads go a chunk at a time, so a follower's memory does not
//! grow with the log. Logs from before the record log (two plain files) are read first, once.

use super::log_options::LogOptions;
use super::{ApiError, AppState};
use crate::engine::logs::{self, Record};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWrite, AsyncWriteExt};

const CHUNK: usize = 64 * 1024;

enum Kind {
    /// The record log.
    Records,
    /// A legacy file: one stream, stamped with the file's last write.
    Plain { stream: u8, time: DateTime<Utc> },
}

struct Source {
    kind: Kind,
    file: tokio::fs::File,
    /// Bytes read but not yet a whole record (or line).
    pending: Vec<u8>,
}

impl Source {
    /// The records that are there now; empty at the end of what is written so far.
    async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<Vec<Record>> {
        let n = self.file.read(buf).await?;
        match self.kind {
            Kind::Records => {
                self.pending.extend_from_slice(&buf[..n]);
                let (recs, used) = logs::decode(&self.pending);
                self.pending.drain(..used);
                Ok(recs)
            }
            Kind::Plain { stream, time } => {
                self.pending.extend_from_slice(&buf[..n]);
                // A legacy file is written no more once read to its end: its last line goes.
                let cut = if n == 0 {
                    self.pending.len()
                } else {
                    self.pending
                        .iter()
                        .rposition(|b| *b == b'\n')
                        .map_or(0, |i| i + 1)
                };
                let whole: Vec<u8> = self.pending.drain(..cut).collect();
                Ok(logs::legacy::records(stream, &whole, time))
            }
        }
    }
}

/// An open log, positioned where streaming starts.
pub struct Follow {
    engine: Arc<crate::engine::Engine>,
    id: String,
    /// A terminal's output goes out raw, without frames.
    pub tty: bool,
    /// The exit the stream must outlast: the finish time seen when it was opened.
    since: Option<DateTime<Utc>>,
    opts: LogOptions,
    sources: Vec<Source>,
    /// Matching records to pass over before sending (what `tail` leaves out).
    skip: usize,
    /// Per stream, whether the next record starts a line (where a timestamp goes).
    at_line_start: [bool; 3],
}

fn internal(what: &str, name: &str, e: std::io::Error) -> ApiError {
    ApiError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        message: format!("cannot {what} the log of {name}: {e}"),
    }
}

/// Opens a container's log: from its start (`logs`, `attach --logs`), else from its end
/// (`attach`, which shows only what comes).
pub async fn open(
    st: &AppState,
    id: &str,
    opts: LogOptions,
    from_start: bool,
) -> Result<Follow, ApiError> {
    let c = st.engine.container(id).await?;
    let dir = st.containers_dir.join(&c.id);
    let mut sources = Vec::new();
    if from_start {
        for (stream, name) in logs::LEGACY {
            let Ok(file) = tokio::fs::File::open(dir.join(name)).await else {
                continue;
            };
            let time = match file.metadata().await.and_then(|m| m.modified()) {
                Ok(t) => DateTime::<Utc>::from(t),
                Err(_) => DateTime::<Utc>::UNIX_EPOCH,
            };
            sources.push(Source {
                kind: Kind::Plain { stream, time },
                file,
                pending: Vec::new(),
            });
        }
    }
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(dir.join(logs::FILE))
        .await
        .map_err(|e| internal("open", &c.name, e))?;
    if !from_start {
        file.seek(std::io::SeekFrom::End(0))
            .await
            .map_err(|e| internal("read", &c.name, e))?;
    }
    sources.push(Source {
        kind: Kind::Records,
        file,
        pending: Vec::new(),
    });
    let mut f = Follow {
        engine: st.engine.clone(),
        id: c.id.clone(),
        tty: c.spec.tty,
        // A running container has no finish time yet; any later exit changes it.
        since: c.state.finished_at,
        opts,
        sources,
        skip: 0,
        at_line_start: [true; 3],
    };
    if let Some(n) = f.opts.tail {
        let total = f.count().await.map_err(|e| internal("read", &c.name, e))?;
        f.skip = total.saturating_sub(n);
        for s in f.sources.iter_mut() {
            s.file
                .seek(std::io::SeekFrom::Start(0))
                .await
                .map_err(|e| internal("read", &c.name, e))?;
            s.pending.clear();
        }
    }
    Ok(f)
}

impl Follow {
    fn wanted(&self, r: &Record) -> bool {
        let stream = match r.stream {
            logs::STDOUT => self.opts.stdout,
            logs::STDERR => self.opts.stderr,
            _ => false,
        };
        stream && self.opts.since.is_none_or(|s| r.time >= s) && !self.past_until(r)
    }

    fn past_until(&self, r: &Record) -> bool {
        self.opts.until.is_some_and(|u| r.time > u)
    }

    /// The matching records written so far (a first pass for `tail`, in bounded memory).
    async fn count(&mut self) -> std::io::Result<usize> {
        let mut buf = vec![0u8; CHUNK];
        let mut n = 0;
        for i in 0..self.sources.len() {
            loop {
                let recs = self.sources[i].read(&mut buf).await?;
                if recs.is_empty() {
                    break;
                }
                n += recs.iter().filter(|r| self.wanted(r)).count();
            }
        }
        Ok(n)
    }

    /// Sends one record; false once the stream is over (past `until`) or the client gone.
    async fn send(&mut self, r: Record, out: &mut (impl AsyncWrite + Unpin)) -> Option<bool> {
        if self.past_until(&r) {
            return Some(false);
        }
        if !self.wanted(&r) {
            return Some(true);
        }
        if self.skip > 0 {
            self.skip -= 1;
            return Some(true);
        }
        let mut data = r.data;
        let line = usize::from(r.stream.min(2));
        if self.opts.timestamps && self.at_line_start[line] {
            let mut stamped = berth_api::timestamp::rfc3339_nano(r.time).into_bytes();
            stamped.push(b' ');
            stamped.extend_from_slice(&data);
            data = stamped;
        }
        self.at_line_start[line] = data.ends_with(b"\n");
        let sent = if self.tty {
            out.write_all(&data).await
        } else {
            super::stream::frame(out, r.stream, &data).await
        };
        sent.ok().map(|()| true)
    }
}

/// Sends the log (and, when following, what comes) until its end: for `logs` without
/// `--follow` what is written now; when following, until the container has exited and its log
/// is drained, or `until` has passed.
pub async fn pump(mut f: Follow, out: &mut (impl AsyncWrite + Unpin)) {
    let mut buf = vec![0u8; CHUNK];
    'stream: loop {
        // Checked before reading, so output written before the exit is still sent.
        let over = !f.opts.follow
            || f.engine.exited_since(&f.id, f.since).await
            || f.opts.until.is_some_and(|u| Utc::now() > u);
        let mut any = false;
        for i in 0..f.sources.len() {
            loop {
                let recs = match f.sources[i].read(&mut buf).await {
                    Ok(r) if r.is_empty() => break,
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!(container = %f.id, error = %e, "cannot read a container's log");
                        break 'stream;
                    }
                };
                any = true;
                for r in recs {
                    match f.send(r, out).await {
                        Some(true) => {}
                        Some(false) => break 'stream,
                        // The client is gone: nobody to send to.
                        None => return,
                    }
                }
            }
        }
        if out.flush().await.is_err() {
            return;
        }
        if over && !any {
            break;
        }
        if !any {
            // The keeper writes the log from another process: it is polled, and the daemon's
            // own copier (and a keeper's end) wake it sooner.
            tokio::select! {
                _ = f.engine.output.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
    }
    // The last frame is out; a client that left first has nothing to be told.
    let _ = out.shutdown().await;
}

/// The log as a streamed body.
pub async fn body(
    st: &AppState,
    id: &str,
    opts: LogOptions,
    from_start: bool,
) -> Result<Response, ApiError> {
    let f = open(st, id, opts, from_start).await?;
    let (mut near, response) = super::stream::piped_body(f.tty);
    tokio::spawn(async move { pump(f, &mut near).await });
    Ok(response)
}
