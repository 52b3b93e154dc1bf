//! HTTP CONNECT proxies exactly as Halibut drives them (§9): one request write, a byte-at-a-time reply read, 200 or a typed error.

use std::fmt;
use std::time::Duration;

use base64::Engine;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{TransportError, tcp};

/// How long the proxy has to answer CONNECT (Halibut's 15 s).
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(15);

/// The most reply header bytes we read before giving up.
const MAX_REPLY_BYTES: usize = 16 * 1024;

/// Where the HTTP proxy is and, optionally, who we are to it.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxySettings {
    /// Proxy host name or IP.
    pub host: String,
    /// Proxy port.
    pub port: u16,
    /// User for Basic authentication; credentials are sent only when this is non-blank.
    pub username: Option<String>,
    /// Password for Basic authentication. Never printed.
    pub password: Option<String>,
}

impl ProxySettings {
    /// The proxy the agent's polling connections go through, from the instance's
    /// `polling-proxy` settings. "Default" means the system proxy; Linux has no system-wide one,
    /// so that (and "None") connects directly. The agent, `tentacle check` and registration's
    /// comms-port check all use this, so they take the same path.
    pub fn for_polling(config: &crate::instance::TentacleConfig) -> Option<ProxySettings> {
        let p = &config.polling_proxy;
        match (p.mode, p.host.as_deref()) {
            (crate::instance::ProxyMode::Custom, Some(host)) if !host.trim().is_empty() => {
                Some(ProxySettings {
                    host: host.trim().to_owned(),
                    port: p.port.unwrap_or(80),
                    username: p.username.clone(),
                    password: p.password.clone(),
                })
            }
            _ => None,
        }
    }
}

impl fmt::Debug for ProxySettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxySettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

impl ProxySettings {
    /// A proxy without credentials.
    pub fn new(host: impl Into<String>, port: u16) -> ProxySettings {
        ProxySettings {
            host: host.into(),
            port,
            username: None,
            password: None,
        }
    }

    /// The same proxy with Basic credentials.
    pub fn with_credentials(
        self,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> ProxySettings {
        ProxySettings {
            username: Some(username.into()),
            password: Some(password.into()),
            ..self
        }
    }

    /// `host:port` of the proxy, for messages.
    fn address(&self) -> String {
        authority(&self.host, self.port)
    }

    /// The `Proxy-Authorization` value, sent pre-emptively when a user name is set (§9).
    fn authorization(&self) -> Option<String> {
        let user = self.username.as_deref().filter(|u| !u.trim().is_empty())?;
        let pass = self.password.as_deref().unwrap_or("");
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        Some(format!("Basic {token}"))
    }
}

/// `host:port` as .NET's `Uri.Host` renders it: DNS names lower-cased, IPv6 in brackets.
pub fn authority(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{}:{port}", host.to_ascii_lowercase())
    }
}

/// The exact CONNECT request bytes for `host:port` through `proxy`.
pub fn connect_request(proxy: &ProxySettings, host: &str, port: u16) -> Vec<u8> {
    let target = authority(host, port);
    let mut request = format!("CONNECT {target} HTTP/1.0\r\nHost: {target}\r\n");
    if let Some(auth) = proxy.authorization() {
        request.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
    }
    request.push_str("\r\n");
    request.into_bytes()
}

/// Opens a TCP connection to the proxy and tunnels it to `host:port`. The returned stream
/// is ready for the TLS handshake (whose SNI is still the endpoint's host).
pub async fn connect_via_proxy(
    proxy: &ProxySettings,
    host: &str,
    port: u16,
    connect_timeout: Duration,
) -> Result<TcpStream, TransportError> {
    let mut stream = tcp::connect(&proxy.host, proxy.port, connect_timeout)
        .await
        .map_err(|e| TransportError::ProxyUnreachable {
            source: Box::new(e),
        })?;
    tunnel(&mut stream, proxy, host, port).await?;
    tracing::debug!(proxy = %proxy.address(), target = %authority(host, port), "HTTP proxy tunnel open");
    Ok(stream)
}

/// Sends CONNECT over an open connection to the proxy and waits for a 200.
pub async fn tunnel<S>(
    stream: &mut S,
    proxy: &ProxySettings,
    host: &str,
    port: u16,
) -> Result<(), TransportError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // One write, as Halibut does; some proxies dislike a request split across segments.
    stream
        .write_all(&connect_request(proxy, host, port))
        .await?;
    stream.flush().await?;
    let reply = match tokio::time::timeout(REPLY_TIMEOUT, read_reply(stream, proxy)).await {
        Ok(reply) => reply?,
        Err(_) => {
            return Err(TransportError::ProxyTimeout {
                secs: REPLY_TIMEOUT.as_secs(),
                proxy: proxy.address(),
            });
        }
    };
    check_reply(&reply, proxy, host, port)
}

/// Reads one byte at a time so not a byte of the TLS stream behind the reply is consumed.
async fn read_reply<S: AsyncRead + Unpin>(
    stream: &mut S,
    proxy: &ProxySettings,
) -> Result<Vec<u8>, TransportError> {
    let mut reply = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !reply.ends_with(b"\r\n\r\n") {
        if reply.len() >= MAX_REPLY_BYTES {
            return Err(TransportError::HeadTooLarge {
                what: "HTTP proxy's reply",
                max: MAX_REPLY_BYTES,
            });
        }
        if stream.read(&mut byte).await? == 0 {
            let problem = if reply.is_empty() {
                "it closed the connection without answering".to_owned()
            } else {
                format!(
                    "it closed the connection in the middle of its reply: {:?}",
                    String::from_utf8_lossy(&reply)
                )
            };
            return Err(TransportError::ProxyBadReply {
                problem,
                proxy: proxy.address(),
            });
        }
        reply.push(byte[0]);
    }
    Ok(reply)
}

/// Accepts a 200 reply; anything else becomes a typed error with a hint.
fn check_reply(
    reply: &[u8],
    proxy: &ProxySettings,
    host: &str,
    port: u16,
) -> Result<(), TransportError> {
    let text = String::from_utf8_lossy(reply);
    let first = text.lines().next().unwrap_or("");
    if !first.contains("HTTP") {
        return Err(TransportError::ProxyBadReply {
            problem: format!("the first line is not HTTP: {first:?}"),
            proxy: proxy.address(),
        });
    }
    // The status is the text between the first and second space (§9).
    let mut parts = first.splitn(3, ' ');
    let _version = parts.next();
    let status = parts.next().unwrap_or("").trim().to_owned();
    let reason = parts.next().unwrap_or("").trim().to_owned();
    if status == "200" {
        return Ok(());
    }
    let sent_credentials = proxy.authorization().is_some();
    let hint = match status.as_str() {
        // tinyproxy answers wrong credentials with 401, missing ones with 407.
        "407" | "401" if sent_credentials => {
            "the proxy rejected the user name or password: correct them with tentacle polling-proxy --proxyUsername/--proxyPassword"
        }
        "407" | "401" => {
            "the proxy wants credentials: set them with tentacle polling-proxy --proxyUsername/--proxyPassword"
        }
        "403" => {
            "the proxy refuses CONNECT to that port (tinyproxy's ConnectPort, squid's SSL_ports): ask for the port to be allowed"
        }
        "502" | "503" | "504" => {
            "the proxy could not reach the target: check the target host and port from the proxy's side"
        }
        "400" | "405" | "501" => "the proxy does not support CONNECT tunnels",
        _ => "check the proxy's configuration and logs",
    };
    Err(TransportError::ProxyRefused {
        status,
        reason,
        hint,
        target: authority(host, port),
        proxy: proxy.address(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_without_credentials() {
        let req = connect_request(
            &ProxySettings::new("proxy", 3128),
            "Octopus.Example.com",
            10943,
        );
        assert_eq!(
            req,
            b"CONNECT octopus.example.com:10943 HTTP/1.0\r\nHost: octopus.example.com:10943\r\n\r\n"
        );
    }

    #[test]
    fn request_with_credentials_and_ipv6_target() {
        let proxy = ProxySettings::new("proxy", 3128).with_credentials("bob", "s3cret:x");
        let req = String::from_utf8(connect_request(&proxy, "2001:db8::1", 10933)).unwrap();
        assert_eq!(
            req,
            "CONNECT [2001:db8::1]:10933 HTTP/1.0\r\nHost: [2001:db8::1]:10933\r\nProxy-Authorization: Basic Ym9iOnMzY3JldDp4\r\n\r\n"
        );
    }

    #[test]
    fn blank_user_sends_no_credentials() {
        let proxy = ProxySettings::new("proxy", 3128).with_credentials("  ", "pw");
        let req = String::from_utf8(connect_request(&proxy, "h", 1)).unwrap();
        assert!(!req.contains("Proxy-Authorization"));
    }

    #[test]
    fn password_never_printed() {
        let proxy = ProxySettings::new("proxy", 3128).with_credentials("bob", "hunter2");
        assert!(!format!("{proxy:?}").contains("hunter2"));
        let err = check_reply(
            b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n",
            &proxy,
            "h",
            1,
        )
        .unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
        assert!(
            err.to_string()
                .contains("rejected the user name or password")
        );
    }

    #[test]
    fn statuses_map_to_hints() {
        let proxy = ProxySettings::new("proxy", 3128);
        assert!(
            check_reply(
                b"HTTP/1.0 200 Connection established\r\n\r\n",
                &proxy,
                "h",
                1
            )
            .is_ok()
        );
        let err =
            check_reply(b"HTTP/1.1 403 Access violation\r\n\r\n", &proxy, "h", 1).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("403 Access violation"), "{text}");
        assert!(text.contains("ConnectPort"), "{text}");
        assert!(text.ends_with("Proxy: proxy:3128"), "{text}");
        let err = check_reply(b"HTTP/1.1 407 Auth\r\n\r\n", &proxy, "h", 1).unwrap_err();
        assert!(err.to_string().contains("wants credentials"));
        let err = check_reply(b"SSH-2.0-OpenSSH\r\n\r\n", &proxy, "h", 1).unwrap_err();
        assert!(matches!(err, TransportError::ProxyBadReply { .. }));
    }

    #[tokio::test]
    async fn reads_exactly_the_reply_and_leaves_the_rest() {
        let (mut near, mut far) = tokio::io::duplex(4096);
        let proxy = ProxySettings::new("proxy", 3128);
        let server = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let n = far.read(&mut buf).await.unwrap();
            assert!(buf[..n].starts_with(b"CONNECT h:1 HTTP/1.0\r\n"));
            far.write_all(b"HTTP/1.0 200 OK\r\nX: y\r\n\r\nTLSBYTES")
                .await
                .unwrap();
            far
        });
        tunnel(&mut near, &proxy, "h", 1).await.unwrap();
        let mut rest = [0u8; 8];
        near.read_exact(&mut rest).await.unwrap();
        assert_eq!(&rest, b"TLSBYTES");
        drop(server.await.unwrap());
    }

    #[tokio::test]
    async fn silent_proxy_times_out_after_15s() {
        tokio::time::pause();
        let (mut near, _far) = tokio::io::duplex(4096);
        let err = tunnel(&mut near, &ProxySettings::new("p", 1), "h", 1)
            .await
            .unwrap_err();
        assert!(
            matches!(err, TransportError::ProxyTimeout { secs: 15, .. }),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn closed_without_answer_is_a_bad_reply() {
        let (mut near, far) = tokio::io::duplex(4096);
        drop(far);
        let err = tunnel(&mut near, &ProxySettings::new("p", 1), "h", 1)
            .await
            .unwrap_err();
        // Writing into a closed duplex fails first; either way it is an error, not a hang.
        assert!(
            matches!(
                err,
                TransportError::ProxyBadReply { .. } | TransportError::Io(_)
            ),
            "{err:?}"
        );
    }
}
