//! Halibut's bytes without I/O: the `MX` preamble, identity and control lines, compressed messages and DataStream frames.
//!
//! Every parser takes the bytes received so far and answers "need more", "done, consumed N",
//! or an error, so the same code serves sockets, fuzzers and property tests.

mod deflate;
mod lines;
mod stream;

pub use deflate::{Inflater, compress, decode_message, encode_message};
pub use lines::{
    Control, Identity, IdentityReader, LineReader, MAX_LINE, MAX_PREAMBLE, Preamble,
    PreambleReader, encode_control, encode_identity, parse_control, parse_identity, take_line,
    take_preamble,
};
pub use stream::{
    STREAM_HEADER_LEN, STREAM_TRAILER_LEN, decode_stream_header, decode_stream_trailer,
    encode_stream_header, encode_stream_trailer,
};

/// A protocol violation found in received bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A line longer than any Halibut peer sends.
    #[error("line longer than {0} bytes; the peer is not speaking Halibut")]
    LineTooLong(usize),
    /// CR not followed by LF inside a control or identity line.
    #[error("a carriage return not followed by a line feed; the peer is not speaking Halibut")]
    BareCarriageReturn,
    /// Identity line missing.
    #[error("Unable to receive the remote identity; the identity line was empty.")]
    EmptyIdentity,
    /// Identity without the blank line after it.
    #[error("Unable to receive the remote identity; the following line was not empty.")]
    MissingBlankLine,
    /// Not MX-CLIENT, MX-SERVER or MX-SUBSCRIBER; an HTTP page means a proxy or firewall answered.
    #[error(
        "Unable to process remote identity; unknown identity type: '{0}'. Something between the two ends (a proxy, firewall or load balancer) is answering instead of Halibut"
    )]
    UnknownIdentity(String),
    /// `MX-SUBSCRIBER` without its subscription id.
    #[error("The remote party identified as a subscriber, but did not supply a subscription ID.")]
    MissingSubscriptionId,
    /// Subscription id that is not a poll:// URI.
    #[error("The subscription ID '{0}' is not a poll:// URI")]
    BadSubscriptionId(String),
    /// Expected NEXT/PROCEED/END.
    #[error("Expected {expected}, got: {got}")]
    UnexpectedControl {
        /// What the state machine wanted.
        expected: &'static str,
        /// What arrived.
        got: String,
    },
    /// DEFLATE data that does not inflate.
    #[error("the message is not valid DEFLATE data ({0})")]
    Deflate(String),
    /// Inflates past the size limit.
    #[error("the message inflates to more than {limit} bytes; refusing it")]
    MessageTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// A BSON problem inside a well-formed DEFLATE stream.
    #[error("the message is not a valid Halibut document: {0}")]
    Document(#[from] super::bson::BsonError),
    /// Negative or oversized DataStream length.
    #[error("DataStream length {length} is not acceptable (limit {limit} bytes)")]
    StreamLength {
        /// Declared length.
        length: i64,
        /// Our limit.
        limit: u64,
    },
    /// Trailer length differs from the header's.
    #[error(
        "Data stream size mismatch detected: header said {header} bytes, trailer says {trailer}"
    )]
    StreamSizeMismatch {
        /// From the header.
        header: i64,
        /// From the trailer.
        trailer: i64,
    },
}
