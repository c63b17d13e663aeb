//! A container's log: one file of records in the order they were read, each tagged with its
//! stream and the time it was read, written by the container's keeper (see [`super::keeper`]).
//!
//! A record is a 13-byte head, `[stream (1 stdout, 2 stderr)] [time: i64 ns since the epoch,
//! little-endian] [length: u32 little-endian]`, and that many bytes of output. Output is cut
//! at newlines, so a record is a line or the part of one a single read returned. Framed rather
//! than Docker's JSON lines because attach streams through this log: JSON would have to mangle
//! output that is not UTF-8, where these records keep every byte. A torn last record (a crash
//! mid-write) reads as not yet written.
//!
//! Logs of containers started before this format are two plain files, `stdout.log` and
//! `stderr.log`, which the container wrote itself; they are still read (see [`legacy`]).

use chrono::{DateTime, Utc};
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

/// The log file in a container's directory.
pub const FILE: &str = "container.log";
/// The two files of the format before this one.
pub const LEGACY: [(u8, &str); 2] = [(STDOUT, "stdout.log"), (STDERR, "stderr.log")];

pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
const HEAD: usize = 13;
/// One read's worth: what a record carries at most, and what the copier holds per stream.
const CHUNK: usize = 64 * 1024;
/// How long output is still drained once the container's init has ended.
pub const DRAIN: Duration = Duration::from_secs(2);

/// One record: a line (or part of one) of one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub stream: u8,
    pub time: DateTime<Utc>,
    pub data: Vec<u8>,
}

/// Appends `data` as records (cut after each newline) read at `time` to `out`.
pub fn encode(out: &mut Vec<u8>, stream: u8, time: DateTime<Utc>, data: &[u8]) {
    let ns = time.timestamp_nanos_opt().unwrap_or(i64::MAX);
    for line in data.split_inclusive(|b| *b == b'\n') {
        out.push(stream);
        out.extend_from_slice(&ns.to_le_bytes());
        out.extend_from_slice(&(line.len() as u32).to_le_bytes());
        out.extend_from_slice(line);
    }
}

/// Decodes the whole records at the start of `buf`; returns them and the bytes they used. A
/// record cut short is left for the next call, once more of the file is there.
pub fn decode(buf: &[u8]) -> (Vec<Record>, usize) {
    let mut records = Vec::new();
    let mut at = 0;
    while buf.len() - at >= HEAD {
        let head = &buf[at..at + HEAD];
        let mut ns = [0u8; 8];
        ns.copy_from_slice(&head[1..9]);
        let mut len = [0u8; 4];
        len.copy_from_slice(&head[9..13]);
        let len = u32::from_le_bytes(len) as usize;
        if buf.len() - at - HEAD < len {
            break;
        }
        records.push(Record {
            stream: head[0],
            time: DateTime::from_timestamp_nanos(i64::from_le_bytes(ns)),
            data: buf[at + HEAD..at + HEAD + len].to_vec(),
        });
        at += HEAD + len;
    }
    (records, at)
}

/// The legacy files: each line one record, all of a file stamped with the file's last write
/// (the only time those files kept).
pub mod legacy {
    use super::Record;
    use chrono::{DateTime, Utc};

    pub fn records(stream: u8, data: &[u8], written: DateTime<Utc>) -> Vec<Record> {
        data.split_inclusive(|b| *b == b'\n')
            .map(|l| Record {
                stream,
                time: written,
                data: l.to_vec(),
            })
            .collect()
    }
}

/// What the copier reads: the container's stdout and stderr pipes, or its terminal.
#[derive(Debug, Default)]
pub struct Sources {
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
    pub tty: Option<OwnedFd>,
}

impl Sources {
    pub fn is_empty(&self) -> bool {
        self.stdout.is_none() && self.stderr.is_none() && self.tty.is_none()
    }
}

/// Copies output into `log` as records until every source has ended, or for [`DRAIN`] after
/// `init` (a pidfd) has. Blocking: the keeper's thread, or a daemon thread when there is no
/// keeper. One poll round's records go out in one write, with no fsync: a log line is not
/// worth a disk flush, and the page cache has it for readers at once. `wrote` runs after each.
pub fn copy(
    sources: Sources,
    mut log: impl Write,
    init: Option<BorrowedFd<'_>>,
    mut wrote: impl FnMut(),
) -> io::Result<()> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    // The terminal is the container's stdout and stderr at once, as Docker logs it.
    let mut open: Vec<(u8, OwnedFd)> = [
        (STDOUT, sources.stdout),
        (STDERR, sources.stderr),
        (STDOUT, sources.tty),
    ]
    .into_iter()
    .filter_map(|(s, fd)| fd.map(|fd| (s, fd)))
    .collect();
    let mut deadline: Option<Instant> = None;
    let mut buf = vec![0u8; CHUNK];
    let mut out = Vec::with_capacity(CHUNK + HEAD * 64);
    while !open.is_empty() {
        let timeout = match deadline {
            None => PollTimeout::NONE,
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) => PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX),
                None => break,
            },
        };
        let mut fds: Vec<PollFd> = open
            .iter()
            .map(|(_, fd)| PollFd::new(fd.as_fd(), PollFlags::POLLIN))
            .collect();
        let watch_init = deadline.is_none() && init.is_some();
        if let (true, Some(p)) = (watch_init, init) {
            fds.push(PollFd::new(p, PollFlags::POLLIN));
        }
        match poll(&mut fds, timeout) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
            Ok(_) => {}
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        if watch_init && ready.last() == Some(&true) {
            deadline = Some(Instant::now() + DRAIN);
        }
        let mut ended = Vec::new();
        for (i, (stream, fd)) in open.iter().enumerate() {
            if !ready[i] {
                continue;
            }
            match nix::unistd::read(fd.as_raw_fd(), &mut buf) {
                Ok(0) => ended.push(i),
                Ok(n) => encode(&mut out, *stream, Utc::now(), &buf[..n]),
                Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
                // EIO: a terminal whose every slave is closed; anything else ends it as well.
                Err(_) => ended.push(i),
            }
        }
        for i in ended.into_iter().rev() {
            open.remove(i);
        }
        if !out.is_empty() {
            log.write_all(&out)?;
            log.flush()?;
            out.clear();
            wrote();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_a_torn_one_waits() {
        let t = DateTime::from_timestamp(1_700_000_000, 123).expect("time");
        let mut b = Vec::new();
        encode(&mut b, STDOUT, t, b"one\ntwo\nthr");
        encode(&mut b, STDERR, t, b"\xff\xfe\n");
        let (recs, used) = decode(&b);
        assert_eq!(used, b.len());
        let lines: Vec<&[u8]> = recs.iter().map(|r| r.data.as_slice()).collect();
        assert_eq!(lines, [&b"one\n"[..], b"two\n", b"thr", b"\xff\xfe\n"]);
        assert_eq!(recs[3].stream, STDERR);
        assert_eq!(recs[0].time, t);
        let (recs, used) = decode(&b[..b.len() - 1]);
        assert_eq!((recs.len(), used), (3, b.len() - HEAD - 3));
    }

    #[test]
    fn the_copier_keeps_the_order_it_reads_in_and_ends_with_its_sources() {
        let (out_r, out_w) = nix::unistd::pipe().expect("pipe");
        let (err_r, err_w) = nix::unistd::pipe().expect("pipe");
        let mut log = Vec::new();
        // Written before the copier starts: both are ready at its first poll, and stdout is
        // read first. The order across streams is the order of reading.
        nix::unistd::write(&out_w, b"o1\no2\n").expect("write");
        nix::unistd::write(&err_w, b"e1\n").expect("write");
        drop((out_w, err_w));
        let sources = Sources {
            stdout: Some(out_r),
            stderr: Some(err_r),
            tty: None,
        };
        let mut writes = 0;
        copy(sources, &mut log, None, || writes += 1).expect("copy");
        let (recs, _) = decode(&log);
        let got: Vec<(u8, &[u8])> = recs.iter().map(|r| (r.stream, &r.data[..])).collect();
        assert_eq!(
            got,
            [(STDOUT, &b"o1\n"[..]), (STDOUT, b"o2\n"), (STDERR, b"e1\n")]
        );
        assert!(writes >= 1);
    }
}
