//! The error shape for requests hyper refuses itself.
//!
//! A request head that hyper cannot parse (a control byte in a header, a head past its buffer,
//! a malformed URI) is answered by hyper before any service runs, with an empty body and no
//! hook to change it. This writer recognises that answer by its exact shape — a 400, 414 or 431
//! status line followed by only `connection: close`, `content-length: 0` and `date`, which no
//! answer of ours has (every one carries a content type and security headers) — and sends the
//! same status in the platform's JSON error shape instead. hyper closes the connection next.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use marquee_api::Code;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// hyper's own answer is a status line and three short headers.
const MAX_OWN_ANSWER: usize = 160;

pub(crate) struct ParseErrors<T> {
    io: T,
    /// The replacement answer, and how much of it is written.
    pending: Option<(Vec<u8>, usize)>,
}

impl<T> ParseErrors<T> {
    pub(crate) fn new(io: T) -> Self {
        Self { io, pending: None }
    }
}

/// The JSON answer standing for hyper's own `head`, if `head` is one.
fn replacement(head: &[u8]) -> Option<Vec<u8>> {
    // Every write passes here: anything but a short 4xx head is let through untouched at once.
    if head.len() > MAX_OWN_ANSWER || !head.starts_with(b"HTTP/1.1 4") {
        return None;
    }
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.strip_suffix("\r\n\r\n")?.split("\r\n");
    let status = lines.next()?.strip_prefix("HTTP/1.1 ")?;
    let (code, message) = match status {
        "400 Bad Request" => (Code::BadRequest, "the request head is malformed (a control character in a header, or a bad request line)"),
        "414 URI Too Long" => (Code::UriTooLong, "the request target is too long"),
        "431 Request Header Fields Too Large" => (Code::HeadersTooLarge, "the request headers are too large"),
        _ => return None,
    };
    let rest: Vec<&str> = lines.collect();
    let [close, length, date] = rest.as_slice() else { return None };
    if *close != "connection: close" || *length != "content-length: 0" || !date.starts_with("date: ") {
        return None;
    }
    let body = serde_json::json!({ "error": code.as_str(), "message": message }).to_string();
    Some(
        format!(
            "HTTP/1.1 {status}\r\nconnection: close\r\ncontent-type: application/json\r\nx-content-type-options: nosniff\r\ncontent-length: {}\r\n{date}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

impl<T: AsyncWrite + Unpin> ParseErrors<T> {
    /// Writes what is left of a replacement answer.
    fn drive(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while let Some((bytes, written)) = &mut self.pending {
            if *written == bytes.len() {
                self.pending = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(()))
    }

    /// Takes `buf` in place of hyper's own answer; `false` if it is not one.
    fn replace(&mut self, buf: &[u8]) -> bool {
        match replacement(buf) {
            Some(bytes) => {
                self.pending = Some((bytes, 0));
                true
            }
            None => false,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ParseErrors<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ParseErrors<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        ready!(self.drive(cx))?;
        if self.replace(buf) {
            // Taken whole; the rest goes out on the next write, flush or shutdown.
            let _ = self.drive(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[std::io::IoSlice<'_>]) -> Poll<std::io::Result<usize>> {
        ready!(self.drive(cx))?;
        // hyper's own answer is a head with no body: a slice of its own, written first.
        if let Some(first) = bufs.iter().find(|b| !b.is_empty())
            && self.replace(first)
        {
            let _ = self.drive(cx)?;
            return Poll::Ready(Ok(first.len()));
        }
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        ready!(self.drive(cx))?;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        ready!(self.drive(cx))?;
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::replacement;

    #[test]
    fn only_hypers_own_answer_is_replaced() {
        let own = b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\ndate: Tue, 01 Dec 2026 22:37:08 GMT\r\n\r\n";
        let answer = String::from_utf8(replacement(own).unwrap()).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        assert_eq!(serde_json::from_str::<serde_json::Value>(body).unwrap()["error"], "bad_request");
        // An answer of ours carries more headers; a 200 or a 404 is never hyper's own.
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        assert!(replacement(ours).is_none());
        assert!(replacement(b"HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\ndate: x\r\n\r\n").is_none());
        assert!(replacement(b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\ndate: x\r\n\r\nbody").is_none());
    }
}
