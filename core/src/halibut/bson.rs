//! BSON as .NET's Newtonsoft.Json.Bson writes it: `$type` first, GUIDs in .NET byte order, TimeSpan strings, and a bounded decoder (§4.2).

use std::time::Duration;

use ::bson::spec::BinarySubtype;
use ::bson::{Binary, Bson, Document};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Newtonsoft's default `MaxDepth`; real messages nest about 5 levels.
pub const MAX_DEPTH: usize = 64;

/// Why a document could not be read or written.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum BsonError {
    /// Structurally broken bytes.
    #[error("malformed BSON at byte {offset}: {problem}; the peer sent a corrupt message")]
    Malformed {
        /// Where in the document.
        offset: usize,
        /// What is wrong.
        problem: &'static str,
    },
    /// Deeper than .NET would ever read.
    #[error(
        "BSON document nests deeper than {MAX_DEPTH} levels; .NET peers refuse such messages too"
    )]
    TooDeep,
    /// Valid BSON that does not fit the expected shape.
    #[error("message does not have the expected shape: {0}")]
    Shape(String),
}

/// A .NET `Guid`, written as BSON binary subtype 4 in `Guid.ToByteArray()` order
/// (first three fields little-endian), as Newtonsoft does despite the subtype's RFC meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Guid(pub uuid::Uuid);

impl Guid {
    /// A random (v4) GUID.
    pub fn new_random() -> Guid {
        Guid(uuid::Uuid::new_v4())
    }

    /// The 16 bytes .NET's `ToByteArray()` gives.
    pub fn to_dotnet_bytes(self) -> [u8; 16] {
        self.0.to_bytes_le()
    }

    /// From `ToByteArray()` order.
    pub fn from_dotnet_bytes(bytes: [u8; 16]) -> Guid {
        Guid(uuid::Uuid::from_bytes_le(bytes))
    }

    /// As a BSON binary, subtype 4.
    pub fn to_bson(self) -> Bson {
        Bson::Binary(Binary {
            subtype: BinarySubtype::Uuid,
            bytes: self.to_dotnet_bytes().to_vec(),
        })
    }

    /// Reads a 16-byte binary of subtype 4 (or 0, which .NET also turns into a Guid for Guid members).
    pub fn from_bson(value: &Bson) -> Option<Guid> {
        match value {
            Bson::Binary(b)
                if matches!(b.subtype, BinarySubtype::Uuid | BinarySubtype::Generic) =>
            {
                let bytes: [u8; 16] = b.bytes.as_slice().try_into().ok()?;
                Some(Guid::from_dotnet_bytes(bytes))
            }
            _ => None,
        }
    }
}

impl std::fmt::Display for Guid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // .NET's default Guid format: lowercase, hyphenated.
        write!(f, "{}", self.0.hyphenated())
    }
}

impl Serialize for Guid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Binary {
            subtype: BinarySubtype::Uuid,
            bytes: self.to_dotnet_bytes().to_vec(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Guid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let b = Binary::deserialize(d)?;
        let bytes: [u8; 16] = b
            .bytes
            .as_slice()
            .try_into()
            .map_err(|_| serde::de::Error::custom("a Guid must be 16 bytes"))?;
        Ok(Guid::from_dotnet_bytes(bytes))
    }
}

/// .NET `TimeSpan.ToString()` ("c" format): `[-][d.]hh:mm:ss[.fffffff]`.
pub fn format_timespan(d: Duration) -> String {
    let ticks = d.as_nanos() / 100;
    let frac = ticks % 10_000_000;
    let secs = d.as_secs();
    let (days, h, m, s) = (
        secs / 86_400,
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60,
    );
    let mut out = String::new();
    if days > 0 {
        out.push_str(&format!("{days}."));
    }
    out.push_str(&format!("{h:02}:{m:02}:{s:02}"));
    if frac > 0 {
        out.push_str(&format!(".{frac:07}"));
    }
    out
}

/// Parses the "c" format back (non-negative values only; Halibut never sends negative ones).
pub fn parse_timespan(text: &str) -> Option<Duration> {
    let (days, rest) = match text.split_once('.') {
        Some((d, r)) if !d.contains(':') => (d.parse::<u64>().ok()?, r),
        _ => (0, text),
    };
    let (hms, frac) = match rest.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (rest, None),
    };
    let mut parts = hms.split(':');
    let h: u64 = parts.next()?.parse().ok()?;
    let m: u64 = parts.next()?.parse().ok()?;
    let s: u64 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || h > 23 || m > 59 || s > 59 {
        return None;
    }
    let nanos = match frac {
        Some(f) if !f.is_empty() && f.len() <= 7 && f.bytes().all(|b| b.is_ascii_digit()) => {
            f.parse::<u64>().ok()? * 10u64.pow(7 - f.len() as u32) * 100
        }
        Some(_) => return None,
        None => 0,
    };
    // A peer may send any number of days; saturate rather than overflow (a panic in debug
    // builds, a wrapped short wait in release ones).
    let secs = days
        .saturating_mul(86_400)
        .saturating_add(h * 3600 + m * 60 + s);
    Some(Duration::from_secs(secs).saturating_add(Duration::from_nanos(nanos)))
}

/// Serialises a value and puts `"$type": type_name` first, as Json.NET does for a value in an
/// `object` slot (a parameter, a result, the envelope's `Message`).
pub fn to_typed(type_name: &str, value: &impl Serialize) -> Result<Bson, BsonError> {
    let body = ::bson::serialize_to_document(value).map_err(|e| BsonError::Shape(e.to_string()))?;
    Ok(Bson::Document(with_type(type_name, body)))
}

/// `doc` with `$type` as its first element (replacing any `$type` it had).
pub fn with_type(type_name: &str, doc: Document) -> Document {
    let mut out = Document::new();
    out.insert("$type", type_name);
    for (k, v) in doc {
        if k != "$type" {
            out.insert(k, v);
        }
    }
    out
}

/// The `$type` of a document, when it is the first element (Json.NET ignores it elsewhere).
pub fn type_of(doc: &Document) -> Option<&str> {
    match doc.iter().next() {
        Some((k, Bson::String(s))) if k == "$type" => Some(s.as_str()),
        _ => None,
    }
}

/// Reads a typed value from BSON; `$type` and unknown members are ignored, as .NET does.
pub fn from_bson<T: DeserializeOwned>(value: Bson) -> Result<T, BsonError> {
    ::bson::deserialize_from_bson(value).map_err(|e| BsonError::Shape(e.to_string()))
}

/// Encodes a document.
pub fn encode(doc: &Document) -> Result<Vec<u8>, BsonError> {
    doc.to_vec().map_err(|e| BsonError::Shape(e.to_string()))
}

/// Decodes exactly one document occupying all of `bytes`, after checking its structure and
/// depth without recursion, so hostile input cannot exhaust the stack.
pub fn decode(bytes: &[u8]) -> Result<Document, BsonError> {
    validate(bytes)?;
    Document::from_reader(bytes).map_err(|e| BsonError::Shape(e.to_string()))
}

fn read_i32(bytes: &[u8], at: usize) -> Result<i32, BsonError> {
    bytes
        .get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map(i32::from_le_bytes)
        .ok_or(BsonError::Malformed {
            offset: at,
            problem: "truncated length",
        })
}

/// Walks the element tree iteratively: every length in bounds, every document closed by
/// its terminator, depth at most [`MAX_DEPTH`].
fn validate(bytes: &[u8]) -> Result<(), BsonError> {
    let total = read_i32(bytes, 0)?;
    if total < 5 || total as usize != bytes.len() {
        return Err(BsonError::Malformed {
            offset: 0,
            problem: "document length does not match the data",
        });
    }
    // Stack of document end offsets (exclusive of the terminating NUL's successor).
    let mut ends: Vec<usize> = vec![bytes.len()];
    let mut pos = 4;
    while let Some(&end) = ends.last() {
        let bad = |offset, problem| BsonError::Malformed { offset, problem };
        if pos >= end {
            return Err(bad(pos, "document ends without its terminator"));
        }
        let tag = *bytes.get(pos).ok_or(bad(pos, "truncated element"))?;
        if tag == 0 {
            if pos + 1 != end {
                return Err(bad(pos, "document terminator in the wrong place"));
            }
            ends.pop();
            pos += 1;
            continue;
        }
        pos += 1;
        let name_len = bytes[pos..end.min(bytes.len())]
            .iter()
            .position(|&b| b == 0)
            .ok_or(bad(pos, "unterminated element name"))?;
        pos += name_len + 1;
        let size = match tag {
            0x01 | 0x09 | 0x11 | 0x12 => 8,
            0x08 => 1,
            0x0A | 0x06 | 0x7F | 0xFF => 0,
            0x10 => 4,
            0x07 => 12,
            0x13 => 16,
            0x02 | 0x0D | 0x0E => {
                let n = read_i32(bytes, pos)?;
                if n < 1 {
                    return Err(bad(pos, "negative string length"));
                }
                4 + n as usize
            }
            0x05 => {
                let n = read_i32(bytes, pos)?;
                if n < 0 {
                    return Err(bad(pos, "negative binary length"));
                }
                5 + n as usize
            }
            0x03 | 0x04 => {
                let n = read_i32(bytes, pos)?;
                let sub_end = pos
                    .checked_add(n as usize)
                    .ok_or(bad(pos, "length overflow"))?;
                if n < 5 || sub_end > end {
                    return Err(bad(pos, "embedded document overruns its parent"));
                }
                if ends.len() >= MAX_DEPTH {
                    return Err(BsonError::TooDeep);
                }
                ends.push(sub_end);
                pos += 4;
                continue;
            }
            0x0B => {
                // Regex: two C strings.
                let mut p = pos;
                for _ in 0..2 {
                    let n = bytes[p.min(end)..end]
                        .iter()
                        .position(|&b| b == 0)
                        .ok_or(bad(p, "unterminated regex"))?;
                    p += n + 1;
                }
                p - pos
            }
            0x0C => {
                let n = read_i32(bytes, pos)?;
                if n < 1 {
                    return Err(bad(pos, "negative string length"));
                }
                4 + n as usize + 12
            }
            0x0F => {
                let n = read_i32(bytes, pos)?;
                if n < 14 {
                    return Err(bad(pos, "bad code-with-scope length"));
                }
                n as usize
            }
            _ => return Err(bad(pos - name_len - 2, "unknown element type")),
        };
        pos = pos.checked_add(size).ok_or(bad(pos, "length overflow"))?;
        if pos > end {
            return Err(bad(pos, "element overruns its document"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::bson::doc;

    #[test]
    fn guid_uses_dotnet_byte_order() {
        let g = Guid(uuid::Uuid::parse_str("3f2504e0-4f89-11d3-9a0c-0305e82c3301").unwrap());
        assert_eq!(
            g.to_dotnet_bytes(),
            [
                0xe0, 0x04, 0x25, 0x3f, 0x89, 0x4f, 0xd3, 0x11, 0x9a, 0x0c, 0x03, 0x05, 0xe8, 0x2c,
                0x33, 0x01
            ]
        );
        assert_eq!(Guid::from_bson(&g.to_bson()), Some(g));
    }

    #[test]
    fn timespans_match_dotnet() {
        assert_eq!(format_timespan(Duration::from_secs(120)), "00:02:00");
        assert_eq!(format_timespan(Duration::from_secs(86_400)), "1.00:00:00");
        assert_eq!(
            format_timespan(Duration::from_millis(500)),
            "00:00:00.5000000"
        );
        for s in [
            "00:02:00",
            "1.00:00:00",
            "00:00:00.5000000",
            "12:34:56.0000001",
        ] {
            assert_eq!(format_timespan(parse_timespan(s).unwrap()), s);
        }
        assert_eq!(parse_timespan("25:00:00"), None);
        assert_eq!(parse_timespan("garbage"), None);
    }

    #[test]
    fn type_goes_first() {
        #[derive(Serialize)]
        struct X {
            #[serde(rename = "A")]
            a: i32,
        }
        let b = to_typed("N.X, A", &X { a: 1 }).unwrap();
        let d = b.as_document().unwrap();
        assert_eq!(type_of(d), Some("N.X, A"));
        assert_eq!(d.keys().collect::<Vec<_>>(), ["$type", "A"]);
    }

    #[test]
    fn decoder_rejects_deep_and_broken_documents() {
        let mut d = doc! {"x": 1};
        for _ in 0..70 {
            d = doc! {"x": d};
        }
        let bytes = d.to_vec().unwrap();
        assert_eq!(decode(&bytes), Err(BsonError::TooDeep));
        let ok = doc! {"a": "b", "n": ::bson::Bson::Null, "arr": [1, 2i64]}
            .to_vec()
            .unwrap();
        assert!(decode(&ok).is_ok());
        for cut in 0..ok.len() {
            assert!(decode(&ok[..cut]).is_err(), "truncated at {cut}");
        }
        let mut lying = ok.clone();
        lying[0] = lying[0].wrapping_add(10);
        assert!(decode(&lying).is_err());
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            let _ = decode(&bytes);
        }
    }
}
