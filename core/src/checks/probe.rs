//! Probing a peer as a browser or TentaclePing would: a TLS handshake that accepts any certificate and reports what it saw, an HTTP GET over it, and the raw bytes a non-TLS peer sent.
//!
//! Shared by the checks and by `tentacle ping`.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use crate::halibut::tls::{self, TlsError};
use crate::halibut::transport::http_head::HttpResponse;
use crate::trust::Thumbprint;

/// How many of a peer's first bytes are kept for diagnosis.
const RECORD_LIMIT: usize = 512;

/// The most of a page that is read.
pub const PAGE_LIMIT: usize = 256 * 1024;

/// What a TLS handshake showed about the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFacts {
    /// Thumbprint of the certificate the peer presented.
    pub thumbprint: Option<Thumbprint>,
    /// The peer's certificate (DER).
    pub certificate: Option<Vec<u8>>,
    /// `TLSv1.3`, `TLSv1.2`.
    pub version: String,
    /// The negotiated cipher suite, e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher: String,
}

impl TlsFacts {
    /// The facts of an established connection.
    pub fn of(state: &rustls::CommonState) -> TlsFacts {
        TlsFacts {
            thumbprint: tls::peer_thumbprint(state),
            certificate: state
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| c.as_ref().to_vec()),
            version: state
                .protocol_version()
                .map(|v| format!("{v:?}").replace("_", "."))
                .unwrap_or_else(|| "unknown".to_owned()),
            cipher: state
                .negotiated_cipher_suite()
                .map(|s| format!("{:?}", s.suite()))
                .unwrap_or_else(|| "unknown".to_owned()),
        }
    }
}

/// A stream that keeps a copy of the first bytes read from it, so a failed TLS handshake
/// can show what the peer really sent (an HTTP page, an SSH banner…).
pub struct Recording<S> {
    inner: S,
    seen: Arc<Mutex<Vec<u8>>>,
}

impl<S> Recording<S> {
    /// Wraps `inner`; read the copy through the returned handle.
    pub fn new(inner: S) -> (Recording<S>, Arc<Mutex<Vec<u8>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        (
            Recording {
                inner,
                seen: seen.clone(),
            },
            seen,
        )
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Recording<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &result {
            let new = &buf.filled()[before..];
            if let Ok(mut seen) = self.seen.lock() {
                let room = RECORD_LIMIT.saturating_sub(seen.len());
                seen.extend_from_slice(&new[..new.len().min(room)]);
            }
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Recording<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The first line of `bytes` when they look like HTTP (`HTTP/1.0 200 OK`), or a note when
/// they are an HTML page without a status line (an HTTP/0.9-style error page), else `None`.
pub fn http_first_line(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let trimmed = text.trim_start();
    if trimmed.starts_with("HTTP/") {
        return Some(trimmed.lines().next().unwrap_or_default().trim().to_owned());
    }
    let start: String = trimmed
        .chars()
        .take(100)
        .collect::<String>()
        .to_ascii_lowercase();
    if start.starts_with('<') && start.contains("html") {
        return Some("an HTML page without an HTTP status line".to_owned());
    }
    None
}

/// Printable start of what a peer sent, for messages: at most 60 characters.
pub fn printable_start(bytes: &[u8]) -> String {
    let text: String = String::from_utf8_lossy(bytes)
        .chars()
        .take(60)
        .map(|c| if c.is_control() { '·' } else { c })
        .collect();
    text
}

/// A TLS handshake as a browser makes it: no client certificate, any server certificate
/// (its handshake signature is still checked). Returns the stream and what was seen; on
/// failure, the error and the peer's first bytes.
pub async fn tls_probe<S>(
    stream: S,
    host: &str,
    timeout: Duration,
) -> Result<(tokio_rustls::client::TlsStream<Recording<S>>, TlsFacts), (TlsError, Vec<u8>)>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (recording, seen) = Recording::new(stream);
    match tls::connect(recording, tls::probe_config(), host, timeout).await {
        Ok(tls) => {
            let facts = TlsFacts::of(tls.get_ref().1);
            Ok((tls, facts))
        }
        Err(e) => {
            let bytes = seen.lock().map(|s| s.clone()).unwrap_or_default();
            Err((e, bytes))
        }
    }
}

/// An HTTP response read to its end.
#[derive(Debug, Clone)]
pub struct Page {
    /// The status line, e.g. `HTTP/1.0 200 OK`.
    pub status_line: String,
    /// The parsed head, when it parsed.
    pub head: Option<HttpResponse>,
    /// The body as text (lossy), up to [`PAGE_LIMIT`].
    pub body: String,
    /// Every byte received, head included.
    pub bytes: usize,
}

impl Page {
    /// The status code, 0 when the head did not parse.
    pub fn status(&self) -> u16 {
        self.head.as_ref().map_or(0, |h| h.status)
    }

    /// The `<title>` or first `<h1>` of the body, for messages.
    pub fn heading(&self) -> Option<String> {
        for (open, close) in [("<h1>", "</h1>"), ("<title>", "</title>"), ("<p>", "</p>")] {
            let lower = self.body.to_ascii_lowercase();
            if let Some(start) = lower.find(open) {
                let from = start + open.len();
                if let Some(len) = lower[from..].find(close) {
                    let text = self.body[from..from + len].trim();
                    if !text.is_empty() {
                        return Some(text.chars().take(80).collect());
                    }
                }
            }
        }
        None
    }
}

/// Sends `GET path` with `Host: host_header` (and `extra` header lines, each ending in
/// CRLF), then reads the response until the peer closes, [`PAGE_LIMIT`] or `timeout`.
pub async fn http_get<S>(
    stream: &mut S,
    host_header: &str,
    path: &str,
    extra: &str,
    timeout: Duration,
) -> io::Result<Page>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: tentacle-check\r\nAccept: text/html\r\nConnection: close\r\n{extra}\r\n"
    );
    let work = async {
        stream.write_all(request.as_bytes()).await?;
        stream.flush().await?;
        read_to_close(stream).await
    };
    let raw = match tokio::time::timeout(timeout, work).await {
        Ok(r) => r?,
        Err(_) => {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no complete answer within {} s", timeout.as_secs()),
            ));
        }
    };
    Ok(parse_page(&raw))
}

/// Reads until EOF or [`PAGE_LIMIT`]; a reset after some data counts as the end (Halibut
/// closes with linger 0).
pub async fn read_to_close<S: AsyncRead + Unpin>(stream: &mut S) -> io::Result<Vec<u8>> {
    let mut raw = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match stream.read(&mut chunk).await {
            Ok(0) => break,
            Ok(n) => {
                raw.extend_from_slice(&chunk[..n]);
                if raw.len() >= PAGE_LIMIT {
                    break;
                }
            }
            Err(e) if !raw.is_empty() => {
                tracing::debug!(error = %e, "peer closed abruptly after answering");
                break;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(raw)
}

/// Splits raw response bytes into status line, head and body.
pub fn parse_page(raw: &[u8]) -> Page {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i + 4, i + 4))
        .or_else(|| {
            raw.windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| (i + 2, i + 2))
        });
    let (head_bytes, body_bytes) = match split {
        Some((end, body)) => (&raw[..end], &raw[body..]),
        None => (raw, &raw[raw.len()..]),
    };
    let status_line = String::from_utf8_lossy(head_bytes)
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    Page {
        status_line,
        head: HttpResponse::parse(head_bytes).ok(),
        body: String::from_utf8_lossy(body_bytes).into_owned(),
        bytes: raw.len(),
    }
}

/// Seconds since the Unix epoch of an HTTP `Date` (IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn parse_http_date(value: &str) -> Option<i64> {
    let parts: Vec<&str> = value.split_whitespace().collect();
    let [_, day, month, year, clock, zone] = parts.as_slice() else {
        return None;
    };
    if !zone.eq_ignore_ascii_case("GMT") {
        return None;
    }
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let month_index = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(month))?;
    let month = time::Month::try_from(u8::try_from(month_index + 1).ok()?).ok()?;
    let date = time::Date::from_calendar_date(year.parse().ok()?, month, day.parse().ok()?).ok()?;
    let mut hms = clock.split(':').map(|p| p.parse::<u8>().ok());
    let (Some(Some(h)), Some(Some(m)), Some(Some(s))) = (hms.next(), hms.next(), hms.next()) else {
        return None;
    };
    let time = time::Time::from_hms(h, m, s).ok()?;
    Some(date.with_time(time).assume_utc().unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_parse() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784111777)
        );
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 CET"), None);
        assert_eq!(parse_http_date("yesterday"), None);
    }

    #[test]
    fn pages_split_and_name_themselves() {
        let page = parse_page(
            b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<html><h1>Blocked by policy</h1></html>",
        );
        assert_eq!(page.status(), 200);
        assert_eq!(page.status_line, "HTTP/1.0 200 OK");
        assert_eq!(page.heading().as_deref(), Some("Blocked by policy"));
        assert_eq!(
            http_first_line(b"HTTP/1.1 400 Bad\r\n").as_deref(),
            Some("HTTP/1.1 400 Bad")
        );
        assert_eq!(http_first_line(b"\x16\x03\x03"), None);
        assert_eq!(
            http_first_line(b"<!DOCTYPE HTML>\n<html lang=\"en\">").as_deref(),
            Some("an HTML page without an HTTP status line")
        );
        assert_eq!(printable_start(b"SSH-2.0\r\n"), "SSH-2.0··");
    }

    #[tokio::test]
    async fn recording_keeps_the_first_bytes() {
        let (a, mut b) = tokio::io::duplex(64);
        let (mut rec, seen) = Recording::new(a);
        b.write_all(b"HTTP/1.0 200 OK\r\n").await.unwrap();
        drop(b);
        let mut all = Vec::new();
        rec.read_to_end(&mut all).await.unwrap();
        assert_eq!(seen.lock().unwrap().as_slice(), b"HTTP/1.0 200 OK\r\n");
    }
}
