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
/// it; stops after [`MAX_PREAMBLE`] bytes. Returns `None` while more bytes are needed; `eof`
/// says no more will come. One-shot form of [`PreambleReader`].
pub fn take_preamble(buf: &[u8], eof: bool) -> Option<(Preamble, usize)> {
    let mut reader = PreambleReader::default();
    let (used, done) = reader.feed(buf, eof);
    done.map(|p| (p, used))
}

/// The preamble read incrementally: every byte fed is looked at once and then belongs to the
/// reader, so a caller can drop it from its buffer. CRs count towards [`MAX_PREAMBLE`] like
/// any other byte: a peer streaming nothing but CRs reaches the cap instead of growing the
/// caller's buffer for ever.
#[derive(Debug, Default)]
pub struct PreambleReader {
    text: String,
    last_lf: bool,
    seen: usize,
}

impl PreambleReader {
    /// Takes bytes from `buf`; returns how many were consumed and, once it is complete, the
    /// preamble. `eof` says no more will come.
    pub fn feed(&mut self, buf: &[u8], eof: bool) -> (usize, Option<Preamble>) {
        for (i, &b) in buf.iter().enumerate() {
            self.seen += 1;
            match b {
                b'\r' => {}
                b'\n' if self.last_lf => return (i + 1, Some(self.finish())),
                b'\n' => {
                    self.last_lf = true;
                    self.text.push('\n');
                }
                _ => {
                    self.last_lf = false;
                    // Bytes are read one per character, Latin-1 style, as .NET does.
                    self.text.push(char::from(b));
                }
            }
            if self.seen >= MAX_PREAMBLE {
                return (i + 1, Some(self.finish()));
            }
        }
        if eof {
            return (buf.len(), Some(self.finish()));
        }
        (buf.len(), None)
    }

    /// Bytes consumed so far.
    pub fn seen(&self) -> usize {
        self.seen
    }

    fn finish(&mut self) -> Preamble {
        classify(std::mem::take(&mut self.text))
    }
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

/// Parses the identity: first line plus the blank line. `None` while incomplete. One-shot
/// form of [`IdentityReader`].
pub fn parse_identity(buf: &[u8]) -> Result<Option<(Identity, usize)>, FrameError> {
    let mut reader = IdentityReader::default();
    let (used, done) = reader.feed(buf)?;
    Ok(done.map(|id| (id, used)))
}

/// CRLF lines read incrementally, each byte looked at once (same rules as [`take_line`]).
#[derive(Debug, Default)]
pub struct LineReader {
    line: Vec<u8>,
    after_cr: bool,
}

impl LineReader {
    /// Consumes bytes up to the end of one line; returns how many and the line once complete.
    pub fn feed(&mut self, buf: &[u8]) -> Result<(usize, Option<String>), FrameError> {
        for (i, &b) in buf.iter().enumerate() {
            if self.after_cr {
                if b != b'\n' {
                    return Err(FrameError::BareCarriageReturn);
                }
                self.after_cr = false;
                let line = std::mem::take(&mut self.line);
                return Ok((i + 1, Some(line.iter().map(|&c| char::from(c)).collect())));
            }
            if b == b'\r' {
                self.after_cr = true;
                continue;
            }
            if self.line.len() >= MAX_LINE {
                return Err(FrameError::LineTooLong(MAX_LINE));
            }
            self.line.push(b);
        }
        Ok((buf.len(), None))
    }
}

/// The identity line and its blank line, read incrementally: bytes fed are consumed (up to the
/// end of the blank line, never past it), so nothing is scanned twice.
#[derive(Debug, Default)]
pub struct IdentityReader {
    lines: LineReader,
    first: Option<String>,
}

impl IdentityReader {
    /// Takes bytes from `buf`; returns how many were consumed and the identity once complete.
    pub fn feed(&mut self, buf: &[u8]) -> Result<(usize, Option<Identity>), FrameError> {
        let mut pos = 0;
        loop {
            let (used, line) = self.lines.feed(&buf[pos..])?;
            pos += used;
            let Some(line) = line else {
                return Ok((pos, None));
            };
            let Some(first) = &self.first else {
                if line.trim().is_empty() {
                    return Err(FrameError::EmptyIdentity);
                }
                self.first = Some(line);
                continue;
            };
            if !line.is_empty() {
                return Err(FrameError::MissingBlankLine);
            }
            return Ok((pos, Some(identity_from_line(first)?)));
        }
    }
}

fn identity_from_line(line: &str) -> Result<Identity, FrameError> {
    let tokens: Vec<&str> = line.split(' ').filter(|t| !t.is_empty()).collect();
    Ok(match tokens.first().copied() {
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
    })
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
    fn a_stream_of_carriage_returns_reaches_the_preamble_cap() {
        // Today's hostile peer: TLS, then nothing but CR. It must end at the cap, not grow.
        let crs = vec![b'\r'; MAX_PREAMBLE + 5_000];
        assert_eq!(
            take_preamble(&crs, false),
            Some((Preamble::Empty, MAX_PREAMBLE))
        );
        let mut reader = PreambleReader::default();
        let mut fed = 0;
        let done = loop {
            let (used, done) = reader.feed(&crs[fed..fed + 1000], false);
            assert_eq!(
                used,
                1000.min(MAX_PREAMBLE - fed),
                "every byte fed is consumed"
            );
            fed += used;
            if let Some(p) = done {
                break p;
            }
        };
        assert_eq!((done, fed), (Preamble::Empty, MAX_PREAMBLE));
    }

    #[test]
    fn readers_fed_byte_by_byte_match_the_one_shot_parsers() {
        let wire = b"MX\r\n\r\nMX-SUBSCRIBER 1.0 poll://ABC/\r\n\r\nNEXT\r\n";
        let mut preamble = PreambleReader::default();
        let mut pos = 0;
        while pos < wire.len() {
            let (used, done) = preamble.feed(&wire[pos..pos + 1], false);
            pos += used;
            if let Some(p) = done {
                assert_eq!(p, Preamble::Halibut);
                break;
            }
        }
        assert_eq!(pos, 6);
        let mut identity = IdentityReader::default();
        let got = loop {
            let (used, done) = identity.feed(&wire[pos..pos + 1]).unwrap();
            pos += used;
            if let Some(id) = done {
                break id;
            }
        };
        assert_eq!(got, Identity::Subscriber("poll://abc/".into()));
        assert_eq!(
            &wire[pos..],
            b"NEXT\r\n",
            "nothing past the blank line is taken"
        );
        let mut long = LineReader::default();
        assert_eq!(
            long.feed(&vec![b'x'; MAX_LINE + 1]).unwrap_err(),
            FrameError::LineTooLong(MAX_LINE)
        );
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
