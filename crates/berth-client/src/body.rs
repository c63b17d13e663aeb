//! Request bodies: nothing, bytes in memory, or a reader streamed in chunks.

use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Body, Bytes, Frame, SizeHint};
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};

/// How much of a streamed body is read and sent at a time.
const CHUNK: usize = 64 * 1024;

/// What a request carries.
pub enum RequestBody {
    Empty,
    /// A JSON document.
    Json(Vec<u8>),
    /// Bytes read from `reader` as they are sent; `len` (when known) becomes the
    /// Content-Length, else the body is chunked.
    Stream {
        reader: Pin<Box<dyn AsyncRead + Send>>,
        len: Option<u64>,
        content_type: &'static str,
    },
}

impl std::fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestBody::Empty => f.write_str("Empty"),
            RequestBody::Json(b) => write!(f, "Json({} bytes)", b.len()),
            RequestBody::Stream { len, .. } => write!(f, "Stream({len:?} bytes)"),
        }
    }
}

impl RequestBody {
    /// A tar archive streamed from the file at `path`.
    pub async fn tar_file(path: &Path) -> io::Result<RequestBody> {
        let file = tokio::fs::File::open(path).await?;
        let len = file.metadata().await?.len();
        Ok(RequestBody::Stream {
            reader: Box::pin(file),
            len: Some(len),
            content_type: "application/x-tar",
        })
    }

    /// A tar archive streamed from standard input, of unknown length.
    pub fn tar_stdin() -> RequestBody {
        RequestBody::Stream {
            reader: Box::pin(tokio::io::stdin()),
            len: None,
            content_type: "application/x-tar",
        }
    }

    pub(crate) fn content_type(&self) -> Option<&'static str> {
        match self {
            RequestBody::Empty => None,
            RequestBody::Json(_) => Some("application/json"),
            RequestBody::Stream { content_type, .. } => Some(content_type),
        }
    }

    pub(crate) fn into_hyper(self) -> UnsyncBoxBody<Bytes, io::Error> {
        match self {
            RequestBody::Empty => Empty::new().map_err(|e| match e {}).boxed_unsync(),
            RequestBody::Json(b) => Full::new(Bytes::from(b))
                .map_err(|e| match e {})
                .boxed_unsync(),
            RequestBody::Stream { reader, len, .. } => ReaderBody {
                reader,
                remaining: len,
                done: false,
            }
            .boxed_unsync(),
        }
    }
}

impl From<Option<Vec<u8>>> for RequestBody {
    fn from(b: Option<Vec<u8>>) -> Self {
        b.map_or(RequestBody::Empty, RequestBody::Json)
    }
}

/// A body that reads its reader one chunk per frame, so at most a chunk is in memory.
struct ReaderBody {
    reader: Pin<Box<dyn AsyncRead + Send>>,
    remaining: Option<u64>,
    done: bool,
}

impl Body for ReaderBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let mut buf = vec![0u8; CHUNK];
        let mut rb = ReadBuf::new(&mut buf);
        ready!(this.reader.as_mut().poll_read(cx, &mut rb))?;
        let n = rb.filled().len();
        if n == 0 {
            this.done = true;
            if this.remaining.is_some_and(|r| r > 0) {
                // The file shrank while it was sent: the declared length cannot be met.
                return Poll::Ready(Some(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the file became shorter while it was being sent",
                ))));
            }
            return Poll::Ready(None);
        }
        if let Some(r) = &mut this.remaining {
            *r = r.saturating_sub(n as u64);
        }
        buf.truncate(n);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(buf)))))
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.remaining == Some(0)
    }

    fn size_hint(&self) -> SizeHint {
        match self.remaining {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stream_is_sent_in_chunks_and_whole() {
        let data: Vec<u8> = (0..(3 * CHUNK + 17)).map(|i| (i % 251) as u8).collect();
        let body = RequestBody::Stream {
            reader: Box::pin(std::io::Cursor::new(data.clone())),
            len: Some(data.len() as u64),
            content_type: "application/x-tar",
        };
        let mut b = body.into_hyper();
        assert_eq!(b.size_hint().exact(), Some(data.len() as u64));
        let mut got = Vec::new();
        let mut frames = 0;
        while let Some(f) = b.frame().await {
            let chunk = f.expect("frame").into_data().expect("data frame");
            assert!(chunk.len() <= CHUNK);
            got.extend_from_slice(&chunk);
            frames += 1;
        }
        assert_eq!(got, data);
        assert!(frames >= 4, "{frames} frames");
    }

    #[tokio::test]
    async fn a_short_stream_is_an_error_not_a_truncated_body() {
        let body = RequestBody::Stream {
            reader: Box::pin(std::io::Cursor::new(vec![1u8; 10])),
            len: Some(20),
            content_type: "application/x-tar",
        };
        let mut b = body.into_hyper();
        assert!(b.frame().await.expect("first").is_ok());
        assert!(b.frame().await.expect("second").is_err());
    }
}
