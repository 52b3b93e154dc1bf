//! HTTP/1.x header blocks for the WebSocket upgrade: bounded reading and lenient parsing.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

use super::TransportError;

/// The most header bytes we accept in an upgrade request or response.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// A parsed HTTP request head (request line and headers; the body is never read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// The request target, e.g. `/OctopusComms/`.
    pub target: String,
    /// `HTTP/1.1`.
    pub version: String,
    /// Header names and values in arrival order, values trimmed.
    pub headers: Vec<(String, String)>,
}

impl HttpRequest {
    /// Parses a head as returned by [`read_head`].
    pub fn parse(head: &[u8]) -> Result<HttpRequest, TransportError> {
        let (first, headers) = split_head(head)?;
        let mut parts = first.split_whitespace();
        let (Some(method), Some(target), version) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(TransportError::WebSocketHandshake {
                problem: format!("the request line is not HTTP: {first:?}"),
            });
        };
        Ok(HttpRequest {
            method: method.to_owned(),
            target: target.to_owned(),
            version: version.unwrap_or("HTTP/1.0").to_owned(),
            headers,
        })
    }

    /// The first value of a header (name compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// Whether the comma-separated values of `name` (all occurrences) include `token`
    /// (case-insensitively).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        has_token(&self.headers, name, token)
    }
}

/// A parsed HTTP response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code, e.g. 101.
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// Header names and values in arrival order.
    pub headers: Vec<(String, String)>,
}

impl HttpResponse {
    /// Parses a head as returned by [`read_head`].
    pub fn parse(head: &[u8]) -> Result<HttpResponse, TransportError> {
        let (first, headers) = split_head(head)?;
        let mut parts = first.splitn(3, ' ');
        let version = parts.next().unwrap_or("");
        let status = parts.next().and_then(|s| s.trim().parse::<u16>().ok());
        let (true, Some(status)) = (version.starts_with("HTTP/"), status) else {
            return Err(TransportError::WebSocketHandshake {
                problem: format!("the response status line is not HTTP: {first:?}"),
            });
        };
        Ok(HttpResponse {
            status,
            reason: parts.next().unwrap_or("").trim().to_owned(),
            headers,
        })
    }

    /// The first value of a header (name compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// Whether the comma-separated values of `name` include `token` (case-insensitively).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        has_token(&self.headers, name, token)
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn has_token(headers: &[(String, String)], name: &str, token: &str) -> bool {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// First line and headers of a head; tolerates bare LF line ends.
fn split_head(head: &[u8]) -> Result<(String, Vec<(String, String)>), TransportError> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let first = lines.next().unwrap_or("").to_owned();
    let mut headers = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            return Err(TransportError::WebSocketHandshake {
                problem: format!("a header line has no colon: {line:?}"),
            });
        };
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    Ok((first, headers))
}

/// Reads up to and including the blank line that ends a head, within `timeout`.
/// Returns the head and whatever arrived after it (the start of the WebSocket stream).
pub async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
    what: &'static str,
    timeout: Duration,
) -> Result<(Vec<u8>, Vec<u8>), TransportError> {
    match tokio::time::timeout(timeout, read_head_unbounded_in_time(stream, what)).await {
        Ok(result) => result,
        Err(_) => Err(TransportError::Timeout {
            what,
            secs: timeout.as_secs(),
        }),
    }
}

async fn read_head_unbounded_in_time<S: AsyncRead + Unpin>(
    stream: &mut S,
    what: &'static str,
) -> Result<(Vec<u8>, Vec<u8>), TransportError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        // Resume the search a few bytes back in case the terminator straddles two reads.
        let from = buf.len().saturating_sub(3);
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(TransportError::WebSocketHandshake {
                problem: format!("the connection closed before the end of the {what}"),
            });
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = find_end(&buf[from..]).map(|e| from + e) {
            let rest = buf.split_off(end);
            return Ok((buf, rest));
        }
        if buf.len() > MAX_HEAD_BYTES {
            return Err(TransportError::HeadTooLarge {
                what,
                max: MAX_HEAD_BYTES,
            });
        }
    }
}

/// Index just past the first `\r\n\r\n` (or `\n\n`).
fn find_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|p| p + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[test]
    fn parses_request_and_tokens() {
        let req = HttpRequest::parse(
            b"GET /OctopusComms/ HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Protocol: chat, Octopus\r\n\r\n",
        )
        .unwrap();
        assert_eq!(req.method, "GET");
        assert_eq!(req.target, "/OctopusComms/");
        assert_eq!(req.header("host"), Some("x"));
        assert!(req.has_token("connection", "upgrade"));
        assert!(req.has_token("sec-websocket-protocol", "octopus"));
        assert!(!req.has_token("sec-websocket-protocol", "Octo"));
    }

    #[test]
    fn parses_response() {
        let resp =
            HttpResponse::parse(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")
                .unwrap();
        assert_eq!(resp.status, 101);
        assert_eq!(resp.reason, "Switching Protocols");
        assert!(HttpResponse::parse(b"SSH-2.0\r\n\r\n").is_err());
    }

    #[tokio::test]
    async fn keeps_bytes_after_the_head() {
        let (mut a, mut b) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            for piece in [&b"GET / HTTP/1.1\r\nHost: x\r"[..], b"\n\r", b"\nFRAME"] {
                a.write_all(piece).await.unwrap();
                tokio::task::yield_now().await;
            }
            a
        });
        let (head, rest) = read_head(&mut b, "test head", Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(head, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut rest = rest;
        while rest.len() < 5 {
            let mut more = [0u8; 16];
            let n = b.read(&mut more).await.unwrap();
            rest.extend_from_slice(&more[..n]);
        }
        assert_eq!(rest, b"FRAME");
        drop(writer.await.unwrap());
    }

    #[tokio::test]
    async fn oversized_head_is_refused() {
        let (mut a, mut b) = tokio::io::duplex(64 * 1024);
        a.write_all(&vec![b'a'; MAX_HEAD_BYTES + 4096])
            .await
            .unwrap();
        let err = read_head(&mut b, "test head", Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(
            matches!(err, TransportError::HeadTooLarge { .. }),
            "{err:?}"
        );
    }
}
