//! What can end a Halibut connection or call, each with the likely cause and fix.

use std::time::Duration;

use super::frame::FrameError;

/// A connection- or call-level failure.
#[derive(Debug, thiserror::Error)]
pub enum HalibutError {
    /// The peer broke the protocol.
    #[error("protocol error: {0}")]
    Frame(#[from] FrameError),
    /// A read or write did not finish in time.
    #[error(
        "timed out after {} s waiting for {what}; the peer stopped responding or the network dropped the connection",
        after.as_secs_f32()
    )]
    Timeout {
        /// What we were waiting for.
        what: &'static str,
        /// How long we waited.
        after: Duration,
    },
    /// The peer closed the connection in the middle of something.
    #[error(
        "the connection closed while {0}; the peer went away or a network device cut the connection"
    )]
    Closed(&'static str),
    /// Socket error.
    #[error("network error while {what}: {source}")]
    Io {
        /// What we were doing.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// A DataStream did not arrive or could not be stored.
    #[error("DataStream error: {0}")]
    DataStream(String),
    /// The peer's identity is not what this role needs.
    #[error(
        "Expected the remote endpoint to identity as a {expected}. Instead, it identified as: {got}"
    )]
    UnexpectedIdentity {
        /// What we wanted.
        expected: &'static str,
        /// What it said.
        got: String,
    },
    /// The peer presented no client certificate, or one we do not trust.
    #[error(
        "the peer {peer} presented {presented}, which is not in the list of thumbprints this Tentacle trusts; add it with tentacle configure --trust THUMBPRINT if it is your Octopus Server"
    )]
    Untrusted {
        /// Peer address.
        peer: String,
        /// "no client certificate" or "a client certificate with the thumbprint X".
        presented: String,
    },
    /// The call failed on the service's side.
    #[error("the service failed: {0}")]
    Remote(super::message::ServerError),
    /// No connection could be made after retries.
    #[error("{0}")]
    Connect(String),
    /// The caller's request was never collected by a polling Tentacle in time.
    #[error(
        "A request was sent to a polling endpoint, but the polling endpoint did not collect the request within the allowed time ({}), so the request timed out. Is the Tentacle running and connected?",
        super::bson::format_timespan(*.0)
    )]
    NotCollected(Duration),
    /// TLS failed (pinning, handshake).
    #[error(transparent)]
    Tls(#[from] super::tls::TlsError),
    /// The connection could not be opened.
    #[error(transparent)]
    Transport(#[from] super::transport::TransportError),
    /// Shut down while the call was in progress.
    #[error("the Halibut runtime is shutting down")]
    ShuttingDown,
}

impl HalibutError {
    pub(crate) fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> HalibutError {
        move |source| HalibutError::Io { what, source }
    }
}
