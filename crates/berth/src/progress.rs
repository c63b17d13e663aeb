//! Upload progress for `load` and `import` on a terminal: the bytes sent so far (and the
//! total, with a bar, when the file's size is known), redrawn in place. Nothing is drawn when
//! stdout is not a terminal, so scripts and pipes see only the daemon's answer.

use crate::client::RequestBody;
use std::io::{IsTerminal, Write};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, ReadBuf};

/// The least time between two redraws.
const REDRAW: Duration = Duration::from_millis(100);
const BAR: usize = 50;

/// `body` with progress drawn as it is read, when stdout is a terminal.
pub fn on_terminal(body: RequestBody) -> RequestBody {
    if !std::io::stdout().is_terminal() {
        return body;
    }
    match body {
        RequestBody::Stream {
            reader,
            len,
            content_type,
        } => RequestBody::Stream {
            reader: Box::pin(Progress {
                inner: reader,
                sent: 0,
                total: len,
                drawn: None,
            }),
            len,
            content_type,
        },
        other => other,
    }
}

struct Progress {
    inner: Pin<Box<dyn AsyncRead + Send>>,
    sent: u64,
    total: Option<u64>,
    drawn: Option<Instant>,
}

/// One line of progress, as the docker CLI draws a transfer: `[===>   ]  1.2MB/5MB`.
pub fn line(sent: u64, total: Option<u64>) -> String {
    let human = crate::units::human_size;
    match total {
        Some(t) if t > 0 => {
            let done = ((sent.min(t) as f64 / t as f64) * BAR as f64) as usize;
            let bar = if done >= BAR {
                "=".repeat(BAR)
            } else {
                format!("{}>{}", "=".repeat(done), " ".repeat(BAR - done - 1))
            };
            format!("Sending [{bar}]  {}/{}", human(sent), human(t))
        }
        _ => format!("Sending  {}", human(sent)),
    }
}

impl Progress {
    fn draw(&mut self, last: bool) {
        let now = Instant::now();
        if !last && self.drawn.is_some_and(|d| now.duration_since(d) < REDRAW) {
            return;
        }
        self.drawn = Some(now);
        let mut out = std::io::stdout();
        // A failed write to the terminal only loses the drawing, never the upload.
        let _ = write!(
            out,
            "\r\x1b[K{}{}",
            line(self.sent, self.total),
            if last { "\n" } else { "" }
        );
        let _ = out.flush();
    }
}

impl AsyncRead for Progress {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = this.inner.as_mut().poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = r {
            let n = buf.filled().len() - before;
            this.sent += n as u64;
            this.draw(n == 0);
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_shows_bytes_and_a_bar_when_the_total_is_known() {
        assert_eq!(line(1500, None), "Sending  1.5kB");
        let half = line(50, Some(100));
        assert!(half.contains(&format!("[{}>", "=".repeat(25))), "{half}");
        assert!(half.ends_with("50B/100B"), "{half}");
        assert!(line(100, Some(100)).contains(&"=".repeat(BAR)));
    }
}
