//! The text parts of Halibut: the `MX` preamble, identity lines and control lines (§2.1, §2.2, §3.1).

use super::FrameError;

/// The preamble reader gives up after this many characters (as .NET does).
pub const MAX_PREAMBLE: usize = 20_000;
/// Longest identity or control line we accept; real ones are under 100 bytes.
pub const MAX_LINE: usize = 8 * 1024;

/// What the first bytes of a TLS connection were.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Preamble {
    /// `MX` and two newlines: a Halibut peer.
    Halibut,
    /// Anything else (a browser's `GET /`, a registration probe, `HELLO`): the text read, CRs dropped.
    Other(String),
    /// The peer closed before sending anything.
    Empty,
}

/// Reads the pre-identity text: CR bytes are dropped, LF ends a line, two LFs in a row end
/// it; stops at [`MAX_PREAMBLE`] characters. Returns `None` while more bytes are needed; `eof`
/// says no more will come.
pub fn take_preamble(buf: &[u8], eof: bool) -> Option<(Preamble, usize)> {
    let mut text = String::new();
    let mut last_lf = false;
    for (i, &b) in buf.iter().enumerate() {
        match b {
            b'\r' => continue,
            b'\n' if last_lf => return Some((classify(text), i + 1)),
            b'\n' => {
                last_lf = true;
                text.push('\n');
            }
            _ => {
                last_lf = false;
                // Bytes are read one per character, Latin-1 style, as .NET does.
                text.push(char::from(b));
            }
        }
        if text.len() >= MAX_PREAMBLE {
            return Some((classify(text), i + 1));
        }
    }
    if eof {
        let p = if text.is_empty() {
            Preamble::Empty
        } else {
            classify(text)
        };
        return Some((p, buf.len()));
    }
    None
}

fn classify(text: String) -> Preamble {
    if text.starts_with("MX") {
        Preamble::Halibut
    } else if text.is_empty() {
        Preamble::Empty
    } else {
        Preamble::Other(text)
    }
}

/// One CRLF-terminated line. A CR followed by anything but LF is an error; a bare LF is an
/// ordinary character, as in .NET's reader. `None` while the line is incomplete.
pub fn take_line(buf: &[u8]) -> Result<Option<(String, usize)>, FrameError> {
    for (i, &b) in buf.iter().enumerate() {
        if i >= MAX_LINE {
            return Err(FrameError::LineTooLong(MAX_LINE));
        }
        if b == b'\r' {
            return match buf.get(i + 1) {
                Some(b'\n') => Ok(Some((
                    buf[..i].iter().map(|&c| char::from(c)).collect(),
                    i + 2,
                ))),
                Some(_) => Err(FrameError::BareCarriageReturn),
                None => Ok(None),
            };
        }
    }
    if buf.len() > MAX_LINE {
        return Err(FrameError::LineTooLong(MAX_LINE));
    }
    Ok(None)
}

/// Who the peer says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// `MX-CLIENT`: will send requests (Octopus calling a listening Tentacle).
    Client,
    /// `MX-SERVER`: the acceptor's answer.
    Server,
    /// `MX-SUBSCRIBER <poll uri>`: a polling Tentacle asking for its queue.
    Subscriber(String),
}

/// The identity line and the blank line after it, to be sent in one write (§2.2).
pub fn encode_identity(identity: &Identity) -> Vec<u8> {
    let line = match identity {
        Identity::Client => "MX-CLIENT 1.0".to_owned(),
        Identity::Server => "MX-SERVER 1.0".to_owned(),
        Identity::Subscriber(uri) => format!("MX-SUBSCRIBER 1.0 {uri}"),
    };
    format!("{line}\r\n\r\n").into_bytes()
}

/// Parses the identity: first line plus the blank line. `None` while incomplete.
pub fn parse_identity(buf: &[u8]) -> Result<Option<(Identity, usize)>, FrameError> {
    let Some((line, used)) = take_line(buf)? else {
        return Ok(None);
    };
    if line.trim().is_empty() {
        return Err(FrameError::EmptyIdentity);
    }
    let Some((blank, used2)) = take_line(&buf[used..])? else {
        return Ok(None);
    };
    if !blank.is_empty() {
        return Err(FrameError::MissingBlankLine);
    }
    let tokens: Vec<&str> = line.split(' ').filter(|t| !t.is_empty()).collect();
    let identity = match tokens.first().copied() {
        Some("MX-CLIENT") => Identity::Client,
        Some("MX-SERVER") => Identity::Server,
        Some("MX-SUBSCRIBER") => {
            let uri = tokens.get(2).ok_or(FrameError::MissingSubscriptionId)?;
            Identity::Subscriber(normalise_subscription(uri)?)
        }
        // The version token is ignored, as every Halibut does.
        other => {
            return Err(FrameError::UnknownIdentity(
                other.unwrap_or_default().to_owned(),
            ));
        }
    };
    Ok(Some((identity, used + used2)))
}

/// `poll://ABC/` → `poll://abc/`, as .NET's `Uri` normalises it.
fn normalise_subscription(uri: &str) -> Result<String, FrameError> {
    let rest = uri
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case("poll://"))
        .map(|_| &uri[7..])
        .ok_or_else(|| FrameError::BadSubscriptionId(uri.to_owned()))?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty()
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return Err(FrameError::BadSubscriptionId(uri.to_owned()));
    }
    Ok(format!("poll://{}/", host.to_ascii_lowercase()))
}

/// Control words exchanged between messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// "I have another request" (client) / "I am ready for the next" (subscriber).
    Next,
    /// "Go ahead."
    Proceed,
    /// "This connection is finished."
    End,
}

/// The line for a control word, CRLF included.
pub fn encode_control(c: Control) -> &'static [u8] {
    match c {
        Control::Next => b"NEXT\r\n",
        Control::Proceed => b"PROCEED\r\n",
        Control::End => b"END\r\n",
    }
}

/// The next control word, skipping empty lines. `None` while incomplete.
pub fn parse_control(
    buf: &[u8],
    expected: &'static str,
) -> Result<Option<(Control, usize)>, FrameError> {
    let mut pos = 0;
    loop {
        let Some((line, used)) = take_line(&buf[pos..])? else {
            return Ok(None);
        };
        pos += used;
        match line.trim() {
            "" => continue,
            "NEXT" => return Ok(Some((Control::Next, pos))),
            "PROCEED" => return Ok(Some((Control::Proceed, pos))),
            "END" => return Ok(Some((Control::End, pos))),
            other => {
                return Err(FrameError::UnexpectedControl {
                    expected,
                    got: other.chars().take(80).collect(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preamble_accepts_both_newline_styles() {
        assert_eq!(
            take_preamble(b"MX\r\n\r\nMX-CLIENT", false),
            Some((Preamble::Halibut, 6))
        );
        assert_eq!(
            take_preamble(b"MX\n\nrest", false),
            Some((Preamble::Halibut, 4))
        );
        assert_eq!(take_preamble(b"MX\r\n", false), None);
        assert_eq!(take_preamble(b"", true), Some((Preamble::Empty, 0)));
        let (p, used) = take_preamble(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody", false).unwrap();
        assert!(matches!(p, Preamble::Other(t) if t.starts_with("GET / HTTP/1.1")));
        assert_eq!(used, 27);
        let (p, _) = take_preamble(&[b'A'; 30_000], false).unwrap();
        assert!(matches!(p, Preamble::Other(t) if t.len() == MAX_PREAMBLE));
    }

    #[test]
    fn identities_round_trip_and_errors_match_halibut() {
        for id in [
            Identity::Client,
            Identity::Server,
            Identity::Subscriber("poll://abc123/".into()),
        ] {
            let bytes = encode_identity(&id);
            assert_eq!(parse_identity(&bytes).unwrap(), Some((id, bytes.len())));
        }
        assert_eq!(encode_identity(&Identity::Client), b"MX-CLIENT 1.0\r\n\r\n");
        assert_eq!(
            parse_identity(b"MX-SUBSCRIBER 1.0 poll://SQ-TENTAPOLL\r\n\r\n")
                .unwrap()
                .unwrap()
                .0,
            Identity::Subscriber("poll://sq-tentapoll/".into())
        );
        let e = parse_identity(b"HTTP/1.0 200 OK\r\n\r\n").unwrap_err();
        assert!(
            e.to_string().contains("unknown identity type: 'HTTP/1.0'"),
            "{e}"
        );
        assert_eq!(
            parse_identity(b"\r\n\r\n").unwrap_err(),
            FrameError::EmptyIdentity
        );
        assert_eq!(
            parse_identity(b"MX-CLIENT 1.0\r\nX\r\n").unwrap_err(),
            FrameError::MissingBlankLine
        );
        assert_eq!(
            parse_identity(b"MX-SUBSCRIBER 1.0\r\n\r\n").unwrap_err(),
            FrameError::MissingSubscriptionId
        );
        assert_eq!(parse_identity(b"MX-CLIENT 1.0\r\n").unwrap(), None);
        assert_eq!(
            parse_identity(b"MX-CLIENT 1.0\rX").unwrap_err(),
            FrameError::BareCarriageReturn
        );
    }

    #[test]
    fn control_lines_skip_blank_lines() {
        assert_eq!(
            parse_control(b"\r\n\r\nNEXT\r\n", "NEXT or END").unwrap(),
            Some((Control::Next, 10))
        );
        assert_eq!(parse_control(b"PROC", "PROCEED").unwrap(), None);
        let e = parse_control(b"HELLO\r\n", "PROCEED").unwrap_err();
        assert_eq!(e.to_string(), "Expected PROCEED, got: HELLO");
        for c in [Control::Next, Control::Proceed, Control::End] {
            let b = encode_control(c);
            assert_eq!(parse_control(b, "x").unwrap(), Some((c, b.len())));
        }
    }
}
