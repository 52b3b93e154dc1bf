//! Opening an outbound Halibut connection: TCP (directly or through an HTTP proxy) then TLS pinned to a thumbprint, or a WebSocket over TLS.

use std::sync::Arc;
use std::time::Duration;

use super::HalibutError;
use super::transport::BoxStream;

/// Where a peer is: `https://host:port/` (TCP) or `wss://host[:port]/path` (WebSocket).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// TLS over TCP; SNI is `host`.
    Tcp {
        /// Host name or IP literal (IPv6 without brackets).
        host: String,
        /// Port.
        port: u16,
    },
    /// TLS, then a WebSocket with the `Octopus` sub-protocol.
    WebSocket(url::Url),
}

/// The host (IPv6 without brackets) and port a WebSocket URL connects to.
pub fn url_endpoint(url: &url::Url) -> (String, u16) {
    let host = url
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    (host, url.port_or_known_default().unwrap_or(443))
}

impl Address {
    /// The host and port the TCP connection goes to.
    pub fn endpoint(&self) -> (String, u16) {
        match self {
            Address::Tcp { host, port } => (host.clone(), *port),
            Address::WebSocket(url) => url_endpoint(url),
        }
    }

    /// Parses `https://host:port/`, `host:port`, or `wss://…`.
    pub fn parse(text: &str) -> Result<Address, HalibutError> {
        let bad =
            |why: &str| HalibutError::Connect(format!("'{text}' is not a usable address: {why}"));
        let has_scheme = text.contains("://");
        let with_scheme = if has_scheme {
            text.to_owned()
        } else {
            format!("https://{text}")
        };
        let url = url::Url::parse(&with_scheme).map_err(|e| bad(&e.to_string()))?;
        let host = url.host_str().ok_or_else(|| bad("it has no host"))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        match url.scheme() {
            "wss" => Ok(Address::WebSocket(url)),
            "https" | "http" => Ok(Address::Tcp {
                host,
                // An explicit port wins; `https://host/` means 443 as a URL does; a bare host means 10943.
                port: url.port().unwrap_or(if has_scheme {
                    443
                } else {
                    explicit_port(text).unwrap_or(10943)
                }),
            }),
            other => Err(bad(&format!("scheme '{other}' is not https:// or wss://"))),
        }
    }

    /// `host:port` for logs and messages.
    pub fn describe(&self) -> String {
        match self {
            Address::Tcp { host, port } if host.contains(':') => format!("[{host}]:{port}"),
            Address::Tcp { host, port } => format!("{host}:{port}"),
            Address::WebSocket(u) => u.to_string(),
        }
    }
}

/// The port written in `host:port` (url drops 443 because it is https' default).
fn explicit_port(text: &str) -> Option<u16> {
    text.rsplit_once(':')
        .and_then(|(_, p)| p.trim_end_matches('/').parse().ok())
}

/// An HTTP CONNECT proxy to go through.
pub use super::transport::proxy::ProxySettings;

/// Opens the transport and TLS. Returns the stream and whether the `MX` preamble must still be
/// sent (WebSockets replace it with a text message, §7.2).
pub async fn dial(
    address: &Address,
    tls: Arc<rustls::ClientConfig>,
    proxy: Option<&ProxySettings>,
    connect_timeout: Duration,
    handshake_timeout: Duration,
) -> Result<(BoxStream, bool), HalibutError> {
    match address {
        Address::Tcp { host, port } => {
            let tcp = match proxy {
                None => super::transport::tcp::connect(host, *port, connect_timeout).await?,
                Some(p) => {
                    super::transport::proxy::connect_via_proxy(p, host, *port, connect_timeout)
                        .await?
                }
            };
            let tls = super::tls::connect(tcp, tls, host, handshake_timeout)
                .await
                .map_err(|e| e.for_url(&format!("https://{}/", address.describe())))?;
            Ok((Box::new(tls), true))
        }
        Address::WebSocket(url) => {
            let (host, port) = url_endpoint(url);
            let tcp = match proxy {
                None => super::transport::tcp::connect(&host, port, connect_timeout).await?,
                Some(p) => {
                    super::transport::proxy::connect_via_proxy(p, &host, port, connect_timeout)
                        .await?
                }
            };
            let tls = super::tls::connect(tcp, tls, &host, handshake_timeout)
                .await
                .map_err(|e| e.for_url(url.as_str()))?;
            let ws = tokio::time::timeout(
                handshake_timeout,
                super::transport::websocket::client_handshake(tls, url),
            )
            .await
            .map_err(|_| HalibutError::Timeout {
                what: "the WebSocket handshake",
                after: handshake_timeout,
            })??;
            Ok((Box::new(ws), false))
        }
    }
}

/// Dials, sends the preamble (unless a WebSocket replaced it) and `identity`, and waits for
/// the acceptor's `MX-SERVER`. The shared opening of the listening client and the subscriber.
pub async fn open(
    address: &Address,
    tls: Arc<rustls::ClientConfig>,
    proxy: Option<&ProxySettings>,
    connect_timeout: Duration,
    timeouts: &super::connection::Timeouts,
    limits: &super::connection::Limits,
    identity: &super::frame::Identity,
) -> Result<super::connection::Connection<BoxStream>, HalibutError> {
    let (stream, preamble) = dial(address, tls, proxy, connect_timeout, timeouts.io).await?;
    let mut conn = super::connection::Connection::new(stream, limits.clone());
    if preamble {
        conn.send_preamble().await?;
    }
    conn.send_identity(identity).await?;
    match conn.read_identity(timeouts.io).await? {
        super::frame::Identity::Server => Ok(conn),
        other => Err(HalibutError::UnexpectedIdentity {
            expected: "server",
            got: format!("{other:?}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse() {
        assert_eq!(
            Address::parse("https://octopus.example:10943/").unwrap(),
            Address::Tcp {
                host: "octopus.example".into(),
                port: 10943
            }
        );
        assert_eq!(
            Address::parse("polling.example:443").unwrap().describe(),
            "polling.example:443"
        );
        assert_eq!(
            Address::parse("https://polling.example")
                .unwrap()
                .describe(),
            "polling.example:443"
        );
        assert_eq!(
            Address::parse("octopus.example").unwrap().describe(),
            "octopus.example:10943"
        );
        assert_eq!(
            Address::parse("https://[::1]:10943/").unwrap().describe(),
            "[::1]:10943"
        );
        assert!(matches!(
            Address::parse("wss://example.com/OctopusComms").unwrap(),
            Address::WebSocket(_)
        ));
        assert!(Address::parse("ftp://x/").is_err());
    }
}
