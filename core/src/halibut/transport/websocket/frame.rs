//! RFC 6455 frame headers and masking: bytes only, no I/O.

/// Continuation of a fragmented message.
pub const OP_CONTINUATION: u8 = 0x0;
/// Text message (Halibut's initial `MX`).
pub const OP_TEXT: u8 = 0x1;
/// Binary message (Halibut's byte stream).
pub const OP_BINARY: u8 = 0x2;
/// Close.
pub const OP_CLOSE: u8 = 0x8;
/// Ping.
pub const OP_PING: u8 = 0x9;
/// Pong.
pub const OP_PONG: u8 = 0xA;

/// Control frames carry at most this many payload bytes.
pub const MAX_CONTROL_PAYLOAD: u64 = 125;

/// The longest header: 2 bytes, 8 bytes of extended length, 4 bytes of mask.
pub const MAX_HEADER_LEN: usize = 14;

/// A frame that breaks RFC 6455 or our limits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// RSV1-3 set without a negotiated extension.
    #[error(
        "a frame has reserved bits set ({0:#x}); the peer uses an extension we did not agree to"
    )]
    ReservedBits(u8),
    /// An opcode RFC 6455 does not define.
    #[error("a frame has unknown opcode {0:#x}")]
    UnknownOpcode(u8),
    /// Payload longer than we accept.
    #[error("a frame announces {len} payload bytes, more than the {max} we accept")]
    TooLarge {
        /// Announced length.
        len: u64,
        /// Our limit.
        max: u64,
    },
    /// Control frames may not be fragmented or exceed 125 bytes.
    #[error("a control frame (opcode {opcode:#x}) is fragmented or longer than 125 bytes")]
    BadControlFrame {
        /// The opcode.
        opcode: u8,
    },
    /// Client frames must be masked, server frames must not.
    #[error("a frame from the {from} is {}masked, which RFC 6455 forbids", if *masked { "" } else { "not " })]
    Masking {
        /// "client" or "server".
        from: &'static str,
        /// Whether it was masked.
        masked: bool,
    },
    /// The 64-bit length has its top bit set.
    #[error("a frame length has its most significant bit set")]
    LengthOverflow,
    /// A continuation frame with no message to continue.
    #[error("a continuation frame arrived with no message to continue")]
    UnexpectedContinuation,
    /// A new data message started before the previous one ended.
    #[error("a new message started before the previous one was finished")]
    UnfinishedMessage,
}

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Final fragment of a message.
    pub fin: bool,
    /// Opcode (low 4 bits of the first byte).
    pub opcode: u8,
    /// Masking key, present on client-to-server frames.
    pub mask: Option<[u8; 4]>,
    /// Payload length.
    pub len: u64,
}

impl FrameHeader {
    /// Close, ping or pong.
    pub fn is_control(&self) -> bool {
        self.opcode & 0x8 != 0
    }

    /// Appends the encoded header (shortest length form) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(if self.fin { 0x80 } else { 0 } | (self.opcode & 0x0f));
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        match self.len {
            0..=125 => out.push(mask_bit | self.len as u8),
            126..=0xffff => {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(self.len as u16).to_be_bytes());
            }
            _ => {
                out.push(mask_bit | 127);
                out.extend_from_slice(&self.len.to_be_bytes());
            }
        }
        if let Some(mask) = self.mask {
            out.extend_from_slice(&mask);
        }
    }
}

/// Decodes a header from the start of `buf`: `Ok(None)` if more bytes are needed, else the
/// header and its encoded length. Checks reserved bits, opcodes, control-frame rules and
/// `max_payload`; masking direction is the caller's to check.
pub fn decode_header(
    buf: &[u8],
    max_payload: u64,
) -> Result<Option<(FrameHeader, usize)>, FrameError> {
    let [b0, b1, ..] = *buf else {
        return Ok(None);
    };
    let rsv = b0 & 0x70;
    if rsv != 0 {
        return Err(FrameError::ReservedBits(rsv));
    }
    let opcode = b0 & 0x0f;
    if !matches!(
        opcode,
        OP_CONTINUATION | OP_TEXT | OP_BINARY | OP_CLOSE | OP_PING | OP_PONG
    ) {
        return Err(FrameError::UnknownOpcode(opcode));
    }
    let fin = b0 & 0x80 != 0;
    let masked = b1 & 0x80 != 0;
    let (len, mut pos) = match b1 & 0x7f {
        126 => match buf.get(2..4) {
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
            None => return Ok(None),
        },
        127 => match buf.get(2..10) {
            Some(b) => {
                let mut be = [0u8; 8];
                be.copy_from_slice(b);
                (u64::from_be_bytes(be), 10)
            }
            None => return Ok(None),
        },
        short => (u64::from(short), 2),
    };
    if len >> 63 != 0 {
        return Err(FrameError::LengthOverflow);
    }
    let control = opcode & 0x8 != 0;
    if control && (!fin || len > MAX_CONTROL_PAYLOAD) {
        return Err(FrameError::BadControlFrame { opcode });
    }
    if len > max_payload {
        return Err(FrameError::TooLarge {
            len,
            max: max_payload,
        });
    }
    let mask = if masked {
        let Some(m) = buf.get(pos..pos + 4) else {
            return Ok(None);
        };
        pos += 4;
        Some([m[0], m[1], m[2], m[3]])
    } else {
        None
    };
    Ok(Some((
        FrameHeader {
            fin,
            opcode,
            mask,
            len,
        },
        pos,
    )))
}

/// XORs `data` with `mask`, where `data` starts `offset` bytes into the payload.
/// Masking is its own inverse, so this both masks and unmasks.
pub fn apply_mask(data: &mut [u8], mask: [u8; 4], offset: usize) {
    for (i, b) in data.iter_mut().enumerate() {
        *b ^= mask[(offset + i) & 3];
    }
}

/// Appends a whole frame (header and, masked if `mask` is set, payload) to `out`.
pub fn encode_frame(
    fin: bool,
    opcode: u8,
    mask: Option<[u8; 4]>,
    payload: &[u8],
    out: &mut Vec<u8>,
) {
    FrameHeader {
        fin,
        opcode,
        mask,
        len: payload.len() as u64,
    }
    .encode(out);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(mask) = mask {
        apply_mask(&mut out[start..], mask, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MAX: u64 = 16 * 1024 * 1024;

    fn length_class() -> impl Strategy<Value = usize> {
        prop_oneof![0usize..=125, 126usize..=0xffff, 0x10000usize..=70000]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn round_trip(
            len in length_class(),
            fin in any::<bool>(),
            opcode in prop::sample::select(vec![OP_CONTINUATION, OP_TEXT, OP_BINARY]),
            mask in proptest::option::of(any::<[u8; 4]>()),
            seed in any::<u8>(),
        ) {
            let payload: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect();
            let mut wire = Vec::new();
            encode_frame(fin, opcode, mask, &payload, &mut wire);
            let expected_header = 2 + match len { 0..=125 => 0, 126..=0xffff => 2, _ => 8 } + if mask.is_some() { 4 } else { 0 };
            prop_assert_eq!(wire.len(), expected_header + len);
            // Every strict prefix of the header asks for more bytes.
            for cut in 0..expected_header {
                prop_assert_eq!(decode_header(&wire[..cut], MAX).unwrap(), None);
            }
            let (header, hlen) = decode_header(&wire, MAX).unwrap().unwrap();
            prop_assert_eq!(hlen, expected_header);
            prop_assert_eq!(header, FrameHeader { fin, opcode, mask, len: len as u64 });
            let mut body = wire[hlen..].to_vec();
            if let Some(m) = header.mask {
                if len >= 4 && m != [0; 4] {
                    prop_assert_ne!(&body, &payload);
                }
                apply_mask(&mut body, m, 0);
            }
            prop_assert_eq!(body, payload);
        }

        #[test]
        fn unmasking_in_pieces_matches_whole(data in prop::collection::vec(any::<u8>(), 0..300), mask in any::<[u8; 4]>(), cut in 0usize..300) {
            let cut = cut.min(data.len());
            let mut whole = data.clone();
            apply_mask(&mut whole, mask, 0);
            let mut pieces = data.clone();
            let (a, b) = pieces.split_at_mut(cut);
            apply_mask(a, mask, 0);
            apply_mask(b, mask, cut);
            prop_assert_eq!(whole, pieces);
        }
    }

    #[test]
    fn rejects_reserved_bits_unknown_opcodes_and_bad_control_frames() {
        assert_eq!(
            decode_header(&[0xC2, 0x00], MAX),
            Err(FrameError::ReservedBits(0x40))
        );
        assert_eq!(
            decode_header(&[0x83, 0x00], MAX),
            Err(FrameError::UnknownOpcode(3))
        );
        assert_eq!(
            decode_header(&[0x09, 0x00], MAX),
            Err(FrameError::BadControlFrame { opcode: OP_PING })
        );
        assert_eq!(
            decode_header(&[0x89, 126, 0, 126], MAX),
            Err(FrameError::BadControlFrame { opcode: OP_PING })
        );
        let mut huge = vec![0x02, 127];
        huge.extend_from_slice(&(MAX + 1).to_be_bytes());
        assert!(matches!(
            decode_header(&huge, MAX),
            Err(FrameError::TooLarge { .. })
        ));
        let mut overflow = vec![0x02, 127];
        overflow.extend_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(
            decode_header(&overflow, u64::MAX),
            Err(FrameError::LengthOverflow)
        );
    }

    #[test]
    fn rfc6455_examples() {
        // §5.7: a single-frame unmasked text "Hello" and its masked form.
        let mut out = Vec::new();
        encode_frame(true, OP_TEXT, None, b"Hello", &mut out);
        assert_eq!(out, [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        out.clear();
        encode_frame(
            true,
            OP_TEXT,
            Some([0x37, 0xfa, 0x21, 0x3d]),
            b"Hello",
            &mut out,
        );
        assert_eq!(
            out,
            [
                0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58
            ]
        );
    }
}
