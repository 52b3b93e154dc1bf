//! Byte streams the Halibut protocol runs over: TCP with keep-alive (§1.5), HTTP CONNECT proxies (§9) and WebSocket framing (§7).
//!
//! TLS sits on top of `tcp`/`proxy` streams and under `websocket` ones; see [`super::tls`].

pub mod http_head;
pub mod proxy;
pub mod tcp;
pub mod websocket;

use std::io;

use tokio::io::{AsyncRead, AsyncWrite};

pub use http_head::HttpRequest;

/// Any stream the protocol layer can run over.
pub trait AsyncStream: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + ?Sized> AsyncStream for T {}

/// A type-erased stream: plain TLS, TLS through a proxy, or WebSocket over TLS.
pub type BoxStream = Box<dyn AsyncStream>;

/// Why a connection could not be opened or a stream broke.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// DNS gave no address.
    #[error("Could not resolve host {host}: check the name or DNS ({source})")]
    Resolve {
        /// The host name.
        host: String,
        /// The resolver's error.
        #[source]
        source: io::Error,
    },
    /// Connection refused.
    #[error(
        "Nothing is listening on {host}:{port}: is the Octopus Server or Tentacle running, and is the port open?"
    )]
    Refused {
        /// Host as given.
        host: String,
        /// Port.
        port: u16,
    },
    /// No SYN-ACK (or no DNS answer) in time.
    #[error(
        "No answer from {host}:{port} within {secs} s: a firewall may be dropping packets, or the address is wrong"
    )]
    ConnectTimeout {
        /// Host as given.
        host: String,
        /// Port.
        port: u16,
        /// The limit in seconds.
        secs: u64,
    },
    /// No route.
    #[error(
        "{host}:{port} is unreachable from here ({source}): check the network route, VPN or the address"
    )]
    Unreachable {
        /// Host as given.
        host: String,
        /// Port.
        port: u16,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Any other connect failure.
    #[error("Could not connect to {host}:{port}: {source}")]
    Connect {
        /// Host as given.
        host: String,
        /// Port.
        port: u16,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The proxy itself could not be reached.
    #[error("Could not reach the HTTP proxy; check the proxy host and port: {source}")]
    ProxyUnreachable {
        /// Why the TCP connection to the proxy failed.
        #[source]
        source: Box<TransportError>,
    },
    /// The proxy answered CONNECT with something other than 200.
    #[error(
        "The HTTP proxy answered CONNECT {target} with {status} {reason}: {hint}. Proxy: {proxy}"
    )]
    ProxyRefused {
        /// The status code text (between the first and second space of the reply).
        status: String,
        /// The reason phrase.
        reason: String,
        /// What usually causes this status and how to fix it.
        hint: &'static str,
        /// `host:port` we asked for.
        target: String,
        /// `host:port` of the proxy.
        proxy: String,
    },
    /// The proxy's reply was not HTTP, too long or cut short.
    #[error(
        "The HTTP proxy sent an unusable reply to CONNECT ({problem}); check that the address is an HTTP proxy. Proxy: {proxy}"
    )]
    ProxyBadReply {
        /// What was wrong.
        problem: String,
        /// `host:port` of the proxy.
        proxy: String,
    },
    /// The proxy did not answer in time.
    #[error(
        "The HTTP proxy did not answer the CONNECT request within {secs} s; check that the address is an HTTP proxy and that it can reach the target. Proxy: {proxy}"
    )]
    ProxyTimeout {
        /// The limit in seconds.
        secs: u64,
        /// `host:port` of the proxy.
        proxy: String,
    },
    /// The server answered the WebSocket upgrade with something other than 101.
    #[error(
        "The server refused the WebSocket upgrade with HTTP {status} {reason}: {hint}. URL: {url}"
    )]
    WebSocketRejected {
        /// HTTP status code.
        status: u16,
        /// Reason phrase.
        reason: String,
        /// What usually causes this and how to fix it.
        hint: &'static str,
        /// The WebSocket URL.
        url: String,
    },
    /// The upgrade response or request broke RFC 6455.
    #[error("The WebSocket handshake is invalid: {problem}")]
    WebSocketHandshake {
        /// What was wrong.
        problem: String,
    },
    /// The `Octopus` sub-protocol was not agreed (§7.1).
    #[error(
        "The WebSocket peer did not agree on the 'Octopus' sub-protocol ({detail}); the other end is not an Octopus Server or Tentacle WebSocket endpoint, or a proxy stripped the Sec-WebSocket-Protocol header"
    )]
    WebSocketNoOctopusProtocol {
        /// What the peer offered or chose.
        detail: String,
    },
    /// The first WebSocket message was not the text `MX` (§7.1).
    #[error(
        "The WebSocket client's first message was not the text 'MX' ({detail}); it is not a Halibut client"
    )]
    WebSocketNoMx {
        /// What arrived instead.
        detail: String,
    },
    /// A frame broke RFC 6455.
    #[error("WebSocket protocol error: {0}")]
    WebSocketFrame(#[from] websocket::FrameError),
    /// HTTP headers (proxy reply, upgrade) larger than we accept.
    #[error("The {what} is larger than {max} bytes; refusing it")]
    HeadTooLarge {
        /// Which header block.
        what: &'static str,
        /// The limit.
        max: usize,
    },
    /// A handshake step did not finish in time.
    #[error("The {what} did not finish within {secs} s; the peer stopped answering")]
    Timeout {
        /// Which step.
        what: &'static str,
        /// The limit in seconds.
        secs: u64,
    },
    /// A read or write on an established stream failed.
    #[error("Network I/O failed: {0}")]
    Io(#[from] io::Error),
}

impl From<TransportError> for io::Error {
    fn from(e: TransportError) -> io::Error {
        match e {
            TransportError::Io(inner) => inner,
            other => io::Error::other(other),
        }
    }
}
