//! DataStream frame headers and trailers: 16-byte .NET GUID, int64 LE length, payload, length again (§5.1).

use super::FrameError;
use crate::halibut::bson::Guid;

/// GUID plus length.
pub const STREAM_HEADER_LEN: usize = 24;
/// The repeated length.
pub const STREAM_TRAILER_LEN: usize = 8;

/// The 24 bytes before a payload.
pub fn encode_stream_header(id: Guid, length: u64) -> [u8; STREAM_HEADER_LEN] {
    let mut out = [0u8; STREAM_HEADER_LEN];
    out[..16].copy_from_slice(&id.to_dotnet_bytes());
    out[16..].copy_from_slice(&(length as i64).to_le_bytes());
    out
}

/// Reads a header, refusing negative lengths and lengths over `limit`.
pub fn decode_stream_header(
    bytes: &[u8; STREAM_HEADER_LEN],
    limit: u64,
) -> Result<(Guid, u64), FrameError> {
    let mut id = [0u8; 16];
    id.copy_from_slice(&bytes[..16]);
    let mut len = [0u8; 8];
    len.copy_from_slice(&bytes[16..]);
    let length = i64::from_le_bytes(len);
    if length < 0 || length as u64 > limit {
        return Err(FrameError::StreamLength { length, limit });
    }
    Ok((Guid::from_dotnet_bytes(id), length as u64))
}

/// The 8 bytes after a payload.
pub fn encode_stream_trailer(length: u64) -> [u8; STREAM_TRAILER_LEN] {
    (length as i64).to_le_bytes()
}

/// Checks the trailer against the header's length.
pub fn decode_stream_trailer(
    bytes: &[u8; STREAM_TRAILER_LEN],
    expected: u64,
) -> Result<(), FrameError> {
    let trailer = i64::from_le_bytes(*bytes);
    if trailer != expected as i64 {
        return Err(FrameError::StreamSizeMismatch {
            header: expected as i64,
            trailer,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_example() {
        // §5.1: "hello" with id 6f9619ff-8b86-d011-b42d-00c04fc964ff.
        let id = Guid(uuid::Uuid::parse_str("6f9619ff-8b86-d011-b42d-00c04fc964ff").unwrap());
        let h = encode_stream_header(id, 5);
        assert_eq!(
            hex::encode(h),
            "ff19966f868b11d0b42d00c04fc964ff0500000000000000"
        );
        assert_eq!(decode_stream_header(&h, 10).unwrap(), (id, 5));
        assert!(decode_stream_header(&h, 4).is_err());
        assert!(decode_stream_trailer(&encode_stream_trailer(5), 5).is_ok());
        assert!(matches!(
            decode_stream_trailer(&encode_stream_trailer(6), 5),
            Err(FrameError::StreamSizeMismatch { .. })
        ));
        let mut neg = h;
        neg[23] = 0x80;
        assert!(decode_stream_header(&neg, u64::MAX).is_err());
    }
}
