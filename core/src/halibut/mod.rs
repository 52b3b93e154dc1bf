//! Halibut, Octopus's RPC protocol: TLS with pinned thumbprints, identity and control lines, DEFLATE+BSON messages, data streams, and the listening and polling roles.
//!
//! The wire contract is `shared/reference/halibut-protocol.md`; section numbers in comments refer to it.

pub mod bson;
pub mod frame;
pub mod message;
