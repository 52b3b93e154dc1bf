//! Halibut, Octopus's RPC protocol: TLS with pinned thumbprints, identity and control lines, DEFLATE+BSON messages, data streams, and the listening and polling roles.
//!
//! The wire contract is `shared/reference/halibut-protocol.md`; section numbers in comments refer to it.

pub mod bson;
pub mod connection;
mod error;
pub mod frame;
pub mod message;

pub use error::HalibutError;
pub mod client;
pub mod dial;
pub mod listen;
pub mod poll;
pub mod queue;
pub mod rpc;
pub mod tls;
pub mod transport;
pub mod welcome;
