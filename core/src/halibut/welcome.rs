//! The page a browser (or anything not speaking Halibut) gets from the listening port (§2.3).

use std::sync::LazyLock;
use std::time::Duration;

use base64::Engine;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The only inline style; the Content-Security-Policy allows exactly this text by its hash.
const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:36em;margin:4em auto;padding:0 1em;color:#1f2d3d;line-height:1.5}h1{font-size:1.6em;color:#0d5c8c}";

/// How much of a request we read before answering anyway (Halibut stops at 20 000 characters).
const MAX_REQUEST_BYTES: usize = 16 * 1024;

/// How long we wait for a request's headers before answering anyway.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The heading, so tests and probes can recognise the page.
pub const HEADING: &str = "Tentacle is listening";

/// The HTML body.
pub fn body() -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Tentacle</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{HEADING}</h1>\n<p>This port carries Octopus Deploy traffic. Only an Octopus Server whose certificate thumbprint this Tentacle trusts can control it; everyone else, browsers included, gets this page.</p>\n</body>\n</html>\n"
    )
}

/// `'sha256-…'` for the inline style, as CSP wants it.
fn style_hash() -> Option<String> {
    // rustls' ring SHA-256, reached through a TLS 1.3 suite, saves a direct sha2 dependency.
    let rustls::SupportedCipherSuite::Tls13(suite) =
        rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256
    else {
        return None;
    };
    let digest = suite.common.hash_provider.hash(STYLE.as_bytes());
    Some(format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
    ))
}

/// The Content-Security-Policy value: nothing but our own inline style.
fn content_security_policy() -> String {
    match style_hash() {
        Some(hash) => format!("default-src 'none'; style-src {hash}"),
        None => "default-src 'none'".to_owned(),
    }
}

static RESPONSE: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let body = body();
    let mut out = String::with_capacity(body.len() + 512);
    out.push_str("HTTP/1.0 200 OK\r\n");
    out.push_str("Content-Type: text/html; charset=utf-8\r\n");
    out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    out.push_str(&format!(
        "Content-Security-Policy: {}\r\n",
        content_security_policy()
    ));
    out.push_str("Referrer-Policy: no-referrer\r\n");
    out.push_str("X-Content-Type-Options: nosniff\r\n");
    out.push_str("X-Frame-Options: DENY\r\n");
    out.push_str("X-XSS-Protection: 1; mode=block\r\n");
    out.push_str("Strict-Transport-Security: max-age=31536000\r\n");
    out.push_str("\r\n");
    out.push_str(&body);
    // Halibut writes an empty line after the body, beyond Content-Length; so do we.
    out.push_str("\r\n\r\n");
    out.into_bytes()
});

/// The complete HTTP response: status line, headers, body and Halibut's trailing blank line.
pub fn response() -> Vec<u8> {
    RESPONSE.clone()
}

/// How much of the request the caller has already taken off the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlreadyRead {
    /// Nothing: read the request line and headers.
    Nothing,
    /// The first line (up to and including its LF): read the remaining headers.
    FirstLine,
    /// Everything up to the blank line (Halibut's preamble reader does this): just answer.
    Headers,
}

/// Consumes the request headers up to the first blank line (bounded in size and time;
/// the body is never read), writes the page and shuts the stream down.
pub async fn serve_welcome<S>(mut stream: S, already: AlreadyRead) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if already != AlreadyRead::Headers {
        // Answer even if the request is huge or stalls: the page is the same either way.
        let _ = tokio::time::timeout(
            REQUEST_TIMEOUT,
            skip_headers(&mut stream, already == AlreadyRead::FirstLine),
        )
        .await;
    }
    stream.write_all(&RESPONSE).await?;
    stream.flush().await?;
    stream.shutdown().await
}

/// Reads byte by byte until an empty line (CRs ignored), EOF or the size cap. Byte-wise so
/// nothing beyond the headers is taken, matching Halibut's reader.
async fn skip_headers<S: AsyncRead + Unpin>(
    stream: &mut S,
    at_line_start: bool,
) -> std::io::Result<()> {
    let mut previous_was_lf = at_line_start;
    let mut byte = [0u8; 1];
    for _ in 0..MAX_REQUEST_BYTES {
        if stream.read(&mut byte).await? == 0 {
            break;
        }
        match byte[0] {
            b'\r' => {}
            b'\n' if previous_was_lf => break,
            b'\n' => previous_was_lf = true,
            _ => previous_was_lf = false,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text() -> String {
        String::from_utf8(response()).unwrap()
    }

    #[test]
    fn status_and_headers_come_in_halibut_order() {
        let text = text();
        let (head, _) = text.split_once("\r\n\r\n").unwrap();
        let lines: Vec<&str> = head.split("\r\n").collect();
        assert_eq!(lines[0], "HTTP/1.0 200 OK");
        assert_eq!(lines[1], "Content-Type: text/html; charset=utf-8");
        assert!(lines[2].starts_with("Content-Length: "));
        assert!(
            lines[3].starts_with("Content-Security-Policy: default-src 'none'; style-src 'sha256-")
        );
        assert_eq!(
            &lines[4..],
            [
                "Referrer-Policy: no-referrer",
                "X-Content-Type-Options: nosniff",
                "X-Frame-Options: DENY",
                "X-XSS-Protection: 1; mode=block",
                "Strict-Transport-Security: max-age=31536000",
            ]
        );
    }

    #[test]
    fn content_length_counts_body_bytes_and_trailer_follows() {
        let text = text();
        let (head, rest) = text.split_once("\r\n\r\n").unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(length, body().len());
        assert_eq!(&rest[..length], body());
        assert_eq!(&rest[length..], "\r\n\r\n");
        assert!(body().contains(HEADING));
        assert!(body().contains("certificate thumbprint"));
    }

    #[test]
    fn style_hash_is_sha256_of_the_inline_style() {
        // Known-answer check of the hash plumbing: SHA-256("abc").
        let rustls::SupportedCipherSuite::Tls13(suite) =
            rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256
        else {
            panic!("not a TLS 1.3 suite");
        };
        assert_eq!(
            hex::encode(suite.common.hash_provider.hash(b"abc").as_ref()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // The style the page carries is exactly the hashed text.
        assert!(body().contains(&format!("<style>{STYLE}</style>")));
        assert_eq!(style_hash().unwrap().len(), "'sha256-'".len() + 44);
    }

    #[tokio::test]
    async fn serves_after_reading_headers_but_not_the_body() {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        client
            .write_all(b"POST /handshake HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nBODY")
            .await
            .unwrap();
        let task = tokio::spawn(serve_welcome(server, AlreadyRead::Nothing));
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        task.await.unwrap().unwrap();
        assert_eq!(got, response());
    }

    #[tokio::test]
    async fn answers_after_first_line_with_bare_lf() {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        client.write_all(b"\n").await.unwrap();
        let task = tokio::spawn(serve_welcome(server, AlreadyRead::FirstLine));
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        task.await.unwrap().unwrap();
        assert_eq!(got, response());
    }
}
