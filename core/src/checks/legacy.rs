//! After a failed TLS handshake: a hand-made TLS 1.2-style ClientHello offering old versions and suites too, to learn which version and cipher suite the server really picks, so a version or cipher mismatch can be named.
//!
//! rustls only speaks what it supports, and a server that supports nothing in common answers
//! with a bare `handshake_failure` alert. This probe offers what old servers speak (TLS 1.0
//! to 1.2, CBC, RSA key exchange) and reads the ServerHello; it never completes a handshake.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::reach::open_tcp;
use crate::halibut::transport::proxy::ProxySettings;

/// Cipher suites offered, modern first, with their OpenSSL-style names.
const SUITES: &[(u16, &str)] = &[
    (0xC02F, "ECDHE-RSA-AES128-GCM-SHA256"),
    (0xC030, "ECDHE-RSA-AES256-GCM-SHA384"),
    (0xC02B, "ECDHE-ECDSA-AES128-GCM-SHA256"),
    (0xC02C, "ECDHE-ECDSA-AES256-GCM-SHA384"),
    (0xCCA8, "ECDHE-RSA-CHACHA20-POLY1305"),
    (0xCCA9, "ECDHE-ECDSA-CHACHA20-POLY1305"),
    (0x009E, "DHE-RSA-AES128-GCM-SHA256"),
    (0x009F, "DHE-RSA-AES256-GCM-SHA384"),
    (0xC027, "ECDHE-RSA-AES128-SHA256"),
    (0xC028, "ECDHE-RSA-AES256-SHA384"),
    (0xC013, "ECDHE-RSA-AES128-SHA"),
    (0xC014, "ECDHE-RSA-AES256-SHA"),
    (0xC009, "ECDHE-ECDSA-AES128-SHA"),
    (0xC00A, "ECDHE-ECDSA-AES256-SHA"),
    (0x0067, "DHE-RSA-AES128-SHA256"),
    (0x0033, "DHE-RSA-AES128-SHA"),
    (0x0039, "DHE-RSA-AES256-SHA"),
    (0x009C, "AES128-GCM-SHA256"),
    (0x009D, "AES256-GCM-SHA384"),
    (0x003C, "AES128-SHA256"),
    (0x003D, "AES256-SHA256"),
    (0x002F, "AES128-SHA"),
    (0x0035, "AES256-SHA"),
    (0x000A, "DES-CBC3-SHA"),
];

/// The TLS 1.2 suites rustls (ring) implements.
const OURS: &[u16] = &[0xC02F, 0xC030, 0xC02B, 0xC02C, 0xCCA8, 0xCCA9];

/// What the server answered to the old-style hello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// A ServerHello: the version and suite it chose.
    Hello { version: u16, suite: u16 },
    /// An alert (its description code).
    Alert(u8),
}

fn u16be(v: usize) -> [u8; 2] {
    u16::try_from(v).unwrap_or(u16::MAX).to_be_bytes()
}

/// A ClientHello with legacy version TLS 1.2, every suite in [`SUITES`], SNI for names,
/// and the extensions ECDHE and RSA-SHA1 servers need.
pub(crate) fn client_hello(host: &str) -> Vec<u8> {
    let mut body = vec![0x03, 0x03];
    body.extend(rand::random::<[u8; 32]>());
    body.push(0); // no session id
    body.extend(u16be(SUITES.len() * 2));
    for (id, _) in SUITES {
        body.extend(id.to_be_bytes());
    }
    body.extend([1, 0]); // null compression only
    let mut ext = Vec::new();
    if host.parse::<std::net::IpAddr>().is_err() && !host.is_empty() {
        let name = host.as_bytes();
        ext.extend([0x00, 0x00]);
        ext.extend(u16be(name.len() + 5));
        ext.extend(u16be(name.len() + 3));
        ext.push(0);
        ext.extend(u16be(name.len()));
        ext.extend(name);
    }
    // supported_groups: x25519, secp256r1, secp384r1.
    ext.extend([
        0x00, 0x0a, 0x00, 0x08, 0x00, 0x06, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18,
    ]);
    // ec_point_formats: uncompressed.
    ext.extend([0x00, 0x0b, 0x00, 0x02, 0x01, 0x00]);
    // signature_algorithms, SHA-1 ones included so old servers can answer.
    let schemes: [u16; 8] = [
        0x0804, 0x0401, 0x0501, 0x0601, 0x0403, 0x0503, 0x0201, 0x0203,
    ];
    ext.extend([0x00, 0x0d]);
    ext.extend(u16be(schemes.len() * 2 + 2));
    ext.extend(u16be(schemes.len() * 2));
    for s in schemes {
        ext.extend(s.to_be_bytes());
    }
    // renegotiation_info (empty), which some servers insist on.
    ext.extend([0xff, 0x01, 0x00, 0x01, 0x00]);
    body.extend(u16be(ext.len()));
    body.extend(ext);
    let len = u32::try_from(body.len()).unwrap_or(0).to_be_bytes();
    let mut handshake = vec![0x01, len[1], len[2], len[3]];
    handshake.extend(body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend(u16be(handshake.len()));
    record.extend(handshake);
    record
}

/// Reads the first record of the answer: a ServerHello or an alert.
pub(crate) fn parse_answer(bytes: &[u8]) -> Option<Answer> {
    let (&kind, rest) = bytes.split_first()?;
    let body = rest.get(4..)?;
    match kind {
        0x15 => body.get(1).map(|d| Answer::Alert(*d)),
        0x16 if body.first() == Some(&0x02) => {
            let hello = body.get(4..)?;
            let version = u16::from_be_bytes([*hello.first()?, *hello.get(1)?]);
            let sid_len = usize::from(*hello.get(34)?);
            let at = 35 + sid_len;
            let suite = u16::from_be_bytes([*hello.get(at)?, *hello.get(at + 1)?]);
            Some(Answer::Hello { version, suite })
        }
        _ => None,
    }
}

/// Sends the old-style hello to `host:port` and reads the answer.
pub(crate) async fn probe(
    host: &str,
    port: u16,
    proxy: Option<&ProxySettings>,
    timeout: Duration,
) -> Option<Answer> {
    let mut stream = open_tcp(host, port, proxy, timeout).await.ok()?;
    let work = async {
        stream.write_all(&client_hello(host)).await.ok()?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        while buf.len() < 5 + 4 + 2 + 32 + 1 + 32 + 2 {
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.first() == Some(&0x15) && buf.len() >= 7 {
                break;
            }
        }
        parse_answer(&buf)
    };
    tokio::time::timeout(timeout, work).await.ok().flatten()
}

fn version_name(v: u16) -> String {
    match v {
        0x0300 => "SSL 3.0".to_owned(),
        0x0301 => "TLS 1.0".to_owned(),
        0x0302 => "TLS 1.1".to_owned(),
        0x0303 => "TLS 1.2".to_owned(),
        other => format!("version 0x{other:04x}"),
    }
}

fn suite_name(s: u16) -> String {
    SUITES
        .iter()
        .find(|(id, _)| *id == s)
        .map(|(_, n)| (*n).to_owned())
        .unwrap_or_else(|| format!("suite 0x{s:04x}"))
}

/// `(seen, cause, fix)` naming the mismatch, or `None` when the answer explains nothing.
pub(crate) fn explain(answer: &Answer) -> Option<(String, String, String)> {
    let Answer::Hello { version, suite } = *answer else {
        return None;
    };
    let seen = format!(
        "Offered older versions and suites, the server chose {} with {}",
        version_name(version),
        suite_name(suite)
    );
    if version < 0x0303 {
        return Some((
            seen,
            format!(
                "The server speaks {} at most; this Tentacle needs TLS 1.2 or 1.3 (as current Octopus Servers and Tentacles do)",
                version_name(version)
            ),
            "Enable TLS 1.2 on the server (on Windows: the SChannel TLS 1.2 Client and Server registry keys and .NET strong cryptography, or IIS Crypto's best-practice template), then restart it".to_owned(),
        ));
    }
    if !OURS.contains(&suite) {
        return Some((
            seen,
            format!(
                "The server's TLS 1.2 prefers {} (a CBC, DHE or RSA key exchange suite), and shares none of the ECDHE with AES-GCM or ChaCha20-Poly1305 suites this Tentacle supports",
                suite_name(suite)
            ),
            "Enable ECDHE-RSA-AES128-GCM-SHA256 and ECDHE-RSA-AES256-GCM-SHA384 on the server (old Windows hosts need the updates that add them; IIS Crypto can enable and order them)".to_owned(),
        ));
    }
    Some((
        seen,
        format!(
            "The server agrees on TLS 1.2 and {}, so the handshake fails on its signature: it signs with SHA-1 only, or its RSA key is under 2048 bits",
            suite_name(suite)
        ),
        "Allow SHA-256 handshake signatures on the server, and regenerate its certificate with an RSA key of 2048 bits or more".to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hello_is_a_well_formed_record() {
        let hello = client_hello("octopus.example");
        assert_eq!(&hello[..3], &[0x16, 0x03, 0x01]);
        let len = usize::from(u16::from_be_bytes([hello[3], hello[4]]));
        assert_eq!(hello.len(), 5 + len);
        assert_eq!(hello[5], 0x01);
        assert!(hello.windows(15).any(|w| w == b"octopus.example"));
        assert!(
            !client_hello("10.0.0.1")
                .windows(8)
                .any(|w| w == b"10.0.0.1")
        );
    }

    #[test]
    fn answers_parse_and_explain() {
        // A TLS 1.1 ServerHello choosing ECDHE-RSA-AES256-SHA with a 32-byte session id.
        let mut hello = vec![
            0x16, 0x03, 0x02, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x03, 0x02,
        ];
        hello.extend([7u8; 32]);
        hello.push(32);
        hello.extend([9u8; 32]);
        hello.extend([0xC0, 0x14, 0x00]);
        let answer = parse_answer(&hello).unwrap();
        assert_eq!(
            answer,
            Answer::Hello {
                version: 0x0302,
                suite: 0xC014
            }
        );
        let (seen, cause, fix) = explain(&answer).unwrap();
        assert!(seen.contains("TLS 1.1 with ECDHE-RSA-AES256-SHA"), "{seen}");
        assert!(cause.contains("TLS 1.1 at most"), "{cause}");
        assert!(fix.contains("Enable TLS 1.2"), "{fix}");
        let cbc = explain(&Answer::Hello {
            version: 0x0303,
            suite: 0x002F,
        })
        .unwrap();
        assert!(cbc.1.contains("AES128-SHA"), "{cbc:?}");
        assert!(
            explain(&Answer::Hello {
                version: 0x0303,
                suite: 0xC02F
            })
            .unwrap()
            .1
            .contains("signature")
        );
        assert_eq!(
            parse_answer(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]),
            Some(Answer::Alert(0x28))
        );
        assert_eq!(explain(&Answer::Alert(0x28)), None);
        assert_eq!(parse_answer(b"HTTP/1.0 200 OK"), None);
    }
}
