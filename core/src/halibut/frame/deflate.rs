//! Messages on the wire: raw DEFLATE (RFC 1951, no zlib header) of one BSON envelope, read exactly to the end of the DEFLATE stream (§4.1).

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::FrameError;
use crate::halibut::bson;
use crate::halibut::message::Envelope;

/// Raw DEFLATE at zlib level 6, which is what .NET's `CompressionLevel.Optimal` produces.
pub fn compress(data: &[u8]) -> Vec<u8> {
    // A compressor's state is a few hundred KiB; building one per message dominated small RPCs.
    thread_local! {
        static COMPRESSOR: std::cell::RefCell<Compress> = std::cell::RefCell::new(Compress::new(Compression::new(6), false));
    }
    COMPRESSOR.with(|cell| {
        let mut c = cell.borrow_mut();
        c.reset();
        let mut out = Vec::with_capacity(data.len() / 2 + 64);
        loop {
            let before_in = c.total_in() as usize;
            // Ok is guaranteed for in-memory buffers with room to grow; a failure would be a flate2 bug.
            let status = c.compress_vec(&data[before_in..], &mut out, FlushCompress::Finish);
            match status {
                Ok(Status::StreamEnd) => return out,
                Ok(_) | Err(_) => out.reserve(out.capacity().max(64)),
            }
        }
    })
}

/// The compressed bytes of an envelope, ready to write.
pub fn encode_message(envelope: &Envelope) -> Result<Vec<u8>, FrameError> {
    let bytes = bson::encode(&envelope.to_document())?;
    Ok(compress(&bytes))
}

/// Inflates one message incrementally and stops exactly where the DEFLATE stream ends, so
/// the bytes after it (DataStream frames, a control line) stay unread.
pub struct Inflater {
    d: Decompress,
    out: Vec<u8>,
    limit: usize,
    done: bool,
}

impl Inflater {
    /// An inflater that refuses output beyond `limit` bytes.
    pub fn new(limit: usize) -> Inflater {
        Inflater {
            d: Decompress::new(false),
            out: Vec::new(),
            limit,
            done: false,
        }
    }

    /// Feeds received bytes. Returns how many were consumed and whether the stream ended;
    /// unconsumed bytes belong to whatever follows the message.
    pub fn feed(&mut self, input: &[u8]) -> Result<(usize, bool), FrameError> {
        let start = self.d.total_in();
        while !self.done {
            let used = (self.d.total_in() - start) as usize;
            if self.out.len() == self.out.capacity() {
                if self.out.len() >= self.limit {
                    // Room for one more byte tells "exactly at the limit" from "over it".
                    if self.out.len() > self.limit {
                        return Err(FrameError::MessageTooLarge { limit: self.limit });
                    }
                    // Exactly one: `reserve` may double the buffer, and inflate that far past the limit.
                    self.out.reserve_exact(1);
                } else {
                    let grow = (self.out.len().max(4096)).min(self.limit + 1 - self.out.len());
                    self.out.reserve_exact(grow);
                }
            }
            let before_out = self.out.len();
            let status = self
                .d
                .decompress_vec(&input[used..], &mut self.out, FlushDecompress::None)
                .map_err(|e| FrameError::Deflate(e.to_string()))?;
            if self.out.len() > self.limit {
                return Err(FrameError::MessageTooLarge { limit: self.limit });
            }
            match status {
                Status::StreamEnd => self.done = true,
                _ => {
                    let progressed =
                        self.out.len() > before_out || (self.d.total_in() - start) as usize > used;
                    let exhausted = (self.d.total_in() - start) as usize >= input.len();
                    if exhausted && self.out.len() < self.out.capacity() {
                        break;
                    }
                    if !progressed && self.out.len() < self.out.capacity() {
                        break;
                    }
                }
            }
        }
        Ok(((self.d.total_in() - start) as usize, self.done))
    }

    /// True once the final block has been read.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// How many bytes have been inflated so far.
    pub fn inflated(&self) -> usize {
        self.out.len()
    }

    /// The inflated document bytes.
    pub fn into_inner(self) -> Vec<u8> {
        self.out
    }
}

/// Decodes one message from the front of `buf`. `None` when the DEFLATE stream is not
/// complete yet; otherwise the envelope and the bytes it used.
pub fn decode_message(buf: &[u8], limit: usize) -> Result<Option<(Envelope, usize)>, FrameError> {
    let mut inf = Inflater::new(limit);
    let (used, done) = inf.feed(buf)?;
    if !done {
        return Ok(None);
    }
    let doc = bson::decode(&inf.into_inner())?;
    Ok(Some((Envelope::from_document(&doc)?, used)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_envelope_matches_the_reference_bytes() {
        let bytes = bson::encode(&Envelope::Null.to_document()).unwrap();
        assert_eq!(hex::encode(&bytes), "0e0000000a4d6573736167650000");
        let compressed = compress(&bytes);
        assert_eq!(hex::encode(&compressed), "e3636060e0f24d2d2e4e4c4f65600000");
    }

    #[test]
    fn size_vector_from_halibut_tests_round_trips() {
        let phrase = "Repeating phrase that compresses. Repeating phrase that compresses. Repeating phrase that compresses.";
        let doc = ::bson::doc! {"Message": phrase};
        let bytes = doc.to_vec().unwrap();
        assert_eq!(bytes.len(), 120);
        // zlib gives 55 bytes, miniz_oxide a few more; any valid DEFLATE is accepted (§4.1),
        // and the reference's zlib bytes must inflate to the same document.
        let zlib = hex::decode("ab60606060f24d2d2e4e4c4f6548037282520b52134b32f3d2150a328a128b53154a32124b1492f3730b8a80aa528bf514a8a082810100").unwrap();
        assert_eq!(zlib.len(), 55);
        let mut inf = Inflater::new(1000);
        assert_eq!(inf.feed(&zlib).unwrap(), (55, true));
        assert_eq!(inf.into_inner(), bytes);
        assert!(compress(&bytes).len() <= 64);
    }

    #[test]
    fn stops_exactly_at_the_end_of_the_deflate_stream() {
        // Halibut's DeflateStreamInputBufferReflectorFixture: "Compressed" then literal "Not Compressed".
        let mut wire = compress(b"Compressed");
        let n = wire.len();
        wire.extend_from_slice(b"Not Compressed");
        let mut inf = Inflater::new(1024);
        let (used, done) = inf.feed(&wire).unwrap();
        assert!(done);
        assert_eq!(used, n);
        assert_eq!(&wire[used..], b"Not Compressed");
        assert_eq!(inf.into_inner(), b"Compressed");
    }

    #[test]
    fn byte_at_a_time_feeding_gives_the_same_result() {
        let data: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let wire = compress(&data);
        let mut inf = Inflater::new(100_000);
        let mut pos = 0;
        while !inf.is_done() {
            let (used, _) = inf.feed(&wire[pos..(pos + 1).min(wire.len())]).unwrap();
            pos += used;
            assert!(pos <= wire.len());
        }
        assert_eq!(pos, wire.len());
        assert_eq!(inf.into_inner(), data);
    }

    #[test]
    fn limits_and_garbage_are_errors() {
        let wire = compress(&vec![0u8; 10_000]);
        assert!(matches!(
            Inflater::new(9_999).feed(&wire),
            Err(FrameError::MessageTooLarge { .. })
        ));
        assert!(Inflater::new(10_000).feed(&wire).unwrap().1);
        assert!(Inflater::new(100).feed(&[0xff; 32]).is_err());
        assert_eq!(
            decode_message(&wire[..wire.len() / 2], 20_000).unwrap(),
            None
        );
    }
}
