//! TCP connections as Halibut makes them (§1.5): keep-alive on both ends and one clear error per way a connect can fail.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use socket2::{SockRef, TcpKeepalive};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::TransportError;

/// Halibut's `TcpClientConnectTimeout`.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// Keep-alive idle time before the first probe.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(15);
/// Time between probes (unused on OSes without per-socket tuning).
#[allow(dead_code)]
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
/// Unanswered probes before the connection is dropped (unused on OSes without per-socket tuning).
#[allow(dead_code)]
const KEEPALIVE_PROBES: u32 = 10;

/// Connects to `host:port` (DNS name or IP literal, IPv6 with or without brackets), trying
/// each resolved address in turn within `timeout` overall, with keep-alive set.
pub async fn connect(
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<TcpStream, TransportError> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let deadline = Instant::now() + timeout;
    let timed_out = || TransportError::ConnectTimeout {
        host: host.to_owned(),
        port,
        secs: timeout.as_secs(),
    };
    let addrs: Vec<SocketAddr> =
        match tokio::time::timeout_at(deadline, tokio::net::lookup_host((bare, port))).await {
            Err(_) => return Err(timed_out()),
            Ok(Err(source)) => {
                return Err(TransportError::Resolve {
                    host: host.to_owned(),
                    source,
                });
            }
            Ok(Ok(addrs)) => addrs.collect(),
        };
    let mut last_error = None;
    for addr in &addrs {
        match tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
            Err(_) => return Err(timed_out()),
            Ok(Ok(stream)) => {
                set_keepalive(&stream);
                tracing::debug!(%addr, "TCP connected");
                return Ok(stream);
            }
            Ok(Err(e)) => {
                tracing::debug!(%addr, error = %e, "TCP connect attempt failed");
                last_error = Some(e);
            }
        }
    }
    let Some(source) = last_error else {
        return Err(TransportError::Resolve {
            host: host.to_owned(),
            source: io::Error::new(io::ErrorKind::NotFound, "no addresses found"),
        });
    };
    Err(classify(host, port, timeout, source))
}

/// Turns a connect error into the variant that says what to check.
fn classify(host: &str, port: u16, timeout: Duration, source: io::Error) -> TransportError {
    let host = host.to_owned();
    match source.kind() {
        io::ErrorKind::ConnectionRefused => TransportError::Refused { host, port },
        io::ErrorKind::TimedOut => TransportError::ConnectTimeout {
            host,
            port,
            secs: timeout.as_secs(),
        },
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
            TransportError::Unreachable { host, port, source }
        }
        _ => TransportError::Connect { host, port, source },
    }
}

/// Applies Halibut's socket options to a socket a listener accepted.
pub fn configure_accepted(stream: &TcpStream) {
    set_keepalive(stream);
}

/// Keep-alive (idle 15 s, every 5 s, 10 probes) so a dead peer or a NAT that forgot us is
/// noticed while the connection idles between polls. Failure only costs that, so it is logged.
fn set_keepalive(stream: &TcpStream) {
    // Every protocol unit is written and flushed on its own (§3.6); with Nagle on, the second
    // of two back-to-back units (preamble then identity, DataStream header then payload)
    // waits for the peer's delayed ACK, costing 40 ms per connection on Linux.
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "could not disable Nagle's algorithm");
    }
    let keepalive = TcpKeepalive::new().with_time(KEEPALIVE_IDLE);
    // socket2 offers interval and probe count only where the OS lets them be set per socket.
    #[cfg(any(
        target_os = "linux",
        target_os = "android",
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "windows"
    ))]
    let keepalive = keepalive
        .with_interval(KEEPALIVE_INTERVAL)
        .with_retries(KEEPALIVE_PROBES);
    if let Err(e) = SockRef::from(stream).set_tcp_keepalive(&keepalive) {
        tracing::debug!(error = %e, "could not enable TCP keep-alive");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connects_with_keepalive_on_both_ends() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (client, accepted) = tokio::join!(
            connect("127.0.0.1", port, Duration::from_secs(5)),
            listener.accept()
        );
        let client = client.unwrap();
        let (accepted, _) = accepted.unwrap();
        configure_accepted(&accepted);
        for s in [&client, &accepted] {
            let sock = SockRef::from(s);
            assert!(sock.keepalive().unwrap());
            #[cfg(target_os = "linux")]
            {
                assert_eq!(sock.tcp_keepalive_time().unwrap(), KEEPALIVE_IDLE);
                assert_eq!(sock.tcp_keepalive_interval().unwrap(), KEEPALIVE_INTERVAL);
                assert_eq!(sock.tcp_keepalive_retries().unwrap(), KEEPALIVE_PROBES);
            }
        }
    }

    #[tokio::test]
    async fn refused_names_the_address_and_the_fix() {
        // Bind then drop, so the port is very likely closed.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let err = connect("127.0.0.1", port, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(matches!(err, TransportError::Refused { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
        assert!(
            text.contains("is the Octopus Server or Tentacle running"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn unresolvable_host_is_a_dns_error() {
        // `.invalid` is reserved (RFC 2606) and never resolves.
        let err = connect("no-such-host.invalid", 10933, Duration::from_secs(10))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                TransportError::Resolve { .. } | TransportError::ConnectTimeout { .. }
            ),
            "{err:?}"
        );
        if let TransportError::Resolve { .. } = err {
            let text = err.to_string();
            assert!(
                text.starts_with(
                    "Could not resolve host no-such-host.invalid: check the name or DNS"
                ),
                "{text}"
            );
        }
    }

    #[tokio::test]
    async fn bracketed_ipv6_literal_is_accepted() {
        let Ok(listener) = tokio::net::TcpListener::bind("[::1]:0").await else {
            return; // no IPv6 loopback in this environment
        };
        let port = listener.local_addr().unwrap().port();
        let (client, accepted) = tokio::join!(
            connect("[::1]", port, Duration::from_secs(5)),
            listener.accept()
        );
        client.unwrap();
        accepted.unwrap();
    }

    #[test]
    fn classify_maps_kinds() {
        let t = Duration::from_secs(3);
        let e = classify("h", 1, t, io::Error::from(io::ErrorKind::TimedOut));
        assert!(e.to_string().contains("within 3 s"), "{e}");
        let e = classify(
            "h",
            1,
            t,
            io::Error::from(io::ErrorKind::NetworkUnreachable),
        );
        assert!(matches!(e, TransportError::Unreachable { .. }));
        let e = classify("h", 1, t, io::Error::from(io::ErrorKind::PermissionDenied));
        assert!(matches!(e, TransportError::Connect { .. }));
    }
}
