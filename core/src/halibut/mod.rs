//! Halibut, Octopus's RPC protocol: TLS with pinned thumbprints, identity and control lines, DEFLATE+BSON messages, data streams, and the listening and polling roles.
//!
//! The wire contract is `shared/reference/halibut-protocol.md`; section numbers in comments refer to it.
//!
//! # Layout
//!
//! | module | what it holds |
//! |---|---|
//! | [`frame`] | bytes only: preamble, identity and control lines, DEFLATE messages, DataStream frames |
//! | [`bson`], [`message`] | BSON with .NET conventions; RequestMessage, ResponseMessage, ServerError |
//! | [`tls`] | rustls configs pinning thumbprints both ways, without webpki parsing peers |
//! | [`transport`] | TCP, HTTP CONNECT proxy, WebSocket framing |
//! | [`welcome`] | the page browsers get on a Halibut port |
//! | [`connection`] | one connection's units over any stream, with timeouts, limits and spooled DataStreams |
//! | [`dial`] | opening an outbound connection (TCP, proxy, WebSocket) up to `MX-SERVER` |
//! | [`listen`] | the acceptor: MX-CLIENT peers get RPCs, MX-SUBSCRIBER peers get their queue |
//! | [`preauth`], [`admission`] | what an unauthenticated peer may cost: byte budget, deadline, shedding |
//! | [`poll`] | the polling subscriber with reconnect backoff |
//! | [`client`], [`queue`] | calling listening Tentacles (pooled) and polling ones (queued) |
//! | [`rpc`] | the service table and dispatch |
//!
//! Where the reference leaves a question open, we choose what keeps old and new peers working:
//! - Timeouts (open question 1): Tentacle's `RecommendedValues` ([`connection::Timeouts`]), which
//!   are no longer than any Octopus Server's, so we never give up before the peer does.
//! - Polling over 443 (question 3): SNI is always the comms address's host name, so an
//!   SNI-routing reverse proxy can pass TLS through untouched; IP literals send no SNI, as .NET.
//! - WebSocket client certificates (question 4): our WebSocket acceptor asks for the client
//!   certificate in the first handshake. rustls cannot renegotiate, so an http.sys endpoint that
//!   only asks on renegotiation cannot see our certificate; that needs a live Windows server.
//! - WebSocket keep-alives (question 5): any ping is answered and any pong ignored; we send no
//!   pings ourselves and never an empty data frame.
//! - Compression (question 6): any valid DEFLATE is accepted; tests compare decompressed BSON.
//! - Odd certificates (question 8): peers are never parsed by webpki, only pinned by thumbprint,
//!   with the handshake signature checked against the key x509-parser extracts.
//! - Preamble and identity in one TLS record (question 9): the reader keeps whatever it read past
//!   a unit, so any segmentation works, and the writer still flushes each unit on its own.

pub mod admission;
pub mod bson;
pub mod connection;
mod error;
pub mod frame;
#[cfg(test)]
mod hostile_tests;
pub mod message;

pub use error::HalibutError;
pub mod client;
pub mod dial;
pub mod listen;
pub mod poll;
pub mod preauth;
pub mod queue;
pub mod rpc;
mod spool;
pub mod tls;
pub mod transport;
pub mod welcome;
