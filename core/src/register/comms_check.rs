//! "Does the polling address answer?": `POST /handshake` over TLS to the server's communications port before a polling Tentacle is registered, with the certificate it presents.

use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::RegisterError;
use crate::halibut::dial::Address;
use crate::halibut::tls;
use crate::halibut::transport::http_head::{HttpResponse, read_head};
use crate::halibut::transport::proxy::{ProxySettings as TunnelProxy, connect_via_proxy};
use crate::halibut::transport::tcp;
use crate::instance::DEFAULT_POLLING_PORT;
use crate::trust::{self, Thumbprint};

/// How the check is run: Tentacle tries 5 times, waiting 0.5 s and then 1.5 times longer each time.
#[derive(Debug, Clone)]
pub struct CommsCheckOptions {
    /// Tries before giving up (at least 1).
    pub attempts: u32,
    /// Wait after the first failure.
    pub first_delay: Duration,
    /// Each further wait is this many times the previous one.
    pub backoff: f64,
    /// Limit for connecting, TLS and the answer, per try.
    pub timeout: Duration,
    /// The polling proxy (`tentacle polling-proxy`), if the agent will use one.
    pub proxy: Option<TunnelProxy>,
}

impl Default for CommsCheckOptions {
    fn default() -> Self {
        CommsCheckOptions {
            attempts: 5,
            first_delay: Duration::from_millis(500),
            backoff: 1.5,
            timeout: Duration::from_secs(10),
            proxy: None,
        }
    }
}

/// The server's communications port answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommsAnswer {
    /// The address checked, normalised (`https://host:port/` or `wss://…`).
    pub address: String,
    /// The HTTP status it answered `POST /handshake` with (200 or 400).
    pub status: u16,
    /// The TLS certificate it presented. For a WebSocket address this is the thumbprint to
    /// trust (the SSL certificate bound to that port, seed 000); for TCP it is Octopus's own.
    pub thumbprint: Thumbprint,
}

/// Checks the address with Tentacle's defaults (5 tries, 0.5 s backoff ×1.5, no proxy).
/// `address` is `https://host:port/`, `host:port` (port 10943 if omitted) or `wss://host:port/path`.
pub async fn check_comms_address(address: &str) -> Result<CommsAnswer, RegisterError> {
    check_comms_address_with(address, &CommsCheckOptions::default()).await
}

/// Checks the address: TCP (through the proxy if given), TLS accepting any certificate,
/// `POST /handshake` (or the WebSocket path) with an empty body. HTTP 200 or 400 means open.
pub async fn check_comms_address_with(
    address: &str,
    opts: &CommsCheckOptions,
) -> Result<CommsAnswer, RegisterError> {
    let parsed = Address::parse(address).map_err(|e| RegisterError::CommsUnreachable {
        detail: e.to_string(),
        address: address.to_owned(),
    })?;
    let (host, port, path, shown) = match &parsed {
        Address::Tcp { host, port } => (
            host.clone(),
            *port,
            "/handshake".to_owned(),
            format!("https://{}/", parsed.describe()),
        ),
        Address::WebSocket(url) => (
            url.host_str()
                .unwrap_or_default()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            url.port_or_known_default().unwrap_or(443),
            url.path().to_owned(),
            url.to_string(),
        ),
    };
    let mut delay = opts.first_delay;
    let mut last = String::new();
    for attempt in 1..=opts.attempts.max(1) {
        match tokio::time::timeout(opts.timeout, once(&host, port, &path, opts)).await {
            Ok(Ok((status, thumbprint))) => {
                tracing::debug!(address = %shown, status, %thumbprint, "communications port answered");
                return Ok(CommsAnswer {
                    address: shown,
                    status,
                    thumbprint,
                });
            }
            Ok(Err(e)) => last = e,
            Err(_) => {
                last = format!("no answer within {} s", opts.timeout.as_secs());
            }
        }
        tracing::debug!(address = %shown, attempt, error = %last, "communications check failed");
        if attempt < opts.attempts {
            tokio::time::sleep(delay).await;
            delay = delay.mul_f64(opts.backoff.max(1.0));
        }
    }
    Err(RegisterError::CommsUnreachable {
        detail: last,
        address: shown,
    })
}

async fn once(
    host: &str,
    port: u16,
    path: &str,
    opts: &CommsCheckOptions,
) -> Result<(u16, Thumbprint), String> {
    let stream = match &opts.proxy {
        None => tcp::connect(host, port, opts.timeout).await,
        Some(p) => connect_via_proxy(p, host, port, opts.timeout).await,
    }
    .map_err(|e| e.to_string())?;
    let mut tls = tls::connect(stream, tls::probe_config(), host, opts.timeout)
        .await
        .map_err(|e| e.to_string())?;
    let thumbprint = tls::peer_thumbprint(tls.get_ref().1)
        .ok_or_else(|| "the server presented no TLS certificate".to_owned())?;
    let authority = crate::halibut::transport::proxy::authority(host, port);
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    tls.write_all(request.as_bytes())
        .await
        .map_err(|e| format!("sending the check failed: {e}"))?;
    tls.flush()
        .await
        .map_err(|e| format!("sending the check failed: {e}"))?;
    let (head, _) = read_head(&mut tls, "answer to POST /handshake", opts.timeout)
        .await
        .map_err(|e| e.to_string())?;
    let response = HttpResponse::parse(&head).map_err(|e| e.to_string())?;
    let _ = tls.shutdown().await;
    match response.status {
        200 | 400 => Ok((response.status, thumbprint)),
        other => Err(format!(
            "it answered HTTP {other} {}, which is not Octopus Server's communications port",
            response.reason
        )),
    }
}

/// The polling address Tentacle registers with (§5 step 0): `--server-comms-address` with its
/// own port unless `--server-comms-port` is given, else `--server`'s host with that port or
/// 10943. The result is `https://host:port/`.
pub fn polling_address(
    server: &url::Url,
    comms_address: Option<&str>,
    comms_port: Option<u16>,
) -> Result<String, RegisterError> {
    match comms_address.map(str::trim).filter(|a| !a.is_empty()) {
        Some(a) => {
            let parsed = Address::parse(a).map_err(|e| {
                RegisterError::Invalid(format!(
                    "--server-comms-address is not usable ({e}); use https://host[:port], e.g. https://polling.example.octopus.app"
                ))
            })?;
            match parsed {
                Address::Tcp { host, port } => {
                    let port = comms_port.unwrap_or(port);
                    let host = if host.contains(':') {
                        format!("[{host}]")
                    } else {
                        host
                    };
                    Ok(trust::polling_address(&host, port)?)
                }
                Address::WebSocket(_) => Err(RegisterError::Invalid(
                    "--server-comms-address takes an https:// address; for a WebSocket use --server-web-socket wss://host:443/OctopusComms".to_owned(),
                )),
            }
        }
        None => {
            let host = match server.host() {
                Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
                Some(h) => h.to_string(),
                None => return Err(RegisterError::NoServer),
            };
            Ok(trust::polling_address(
                &host,
                comms_port.unwrap_or(DEFAULT_POLLING_PORT),
            )?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> url::Url {
        url::Url::parse("https://octopus.example/").unwrap()
    }

    #[test]
    fn addresses_follow_tentacle_rules() {
        assert_eq!(
            polling_address(&server(), None, None).unwrap(),
            "https://octopus.example:10943/"
        );
        assert_eq!(
            polling_address(&server(), None, Some(443)).unwrap(),
            "https://octopus.example:443/"
        );
        assert_eq!(
            polling_address(&server(), Some("https://polling.x.octopus.app"), None).unwrap(),
            "https://polling.x.octopus.app:443/"
        );
        assert_eq!(
            polling_address(&server(), Some("https://polling.x:8443/"), Some(10943)).unwrap(),
            "https://polling.x:10943/"
        );
        assert!(polling_address(&server(), Some("wss://x/OctopusComms"), None).is_err());
    }

    #[tokio::test]
    async fn a_closed_port_is_reported_after_the_retries() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let opts = CommsCheckOptions {
            attempts: 2,
            first_delay: Duration::from_millis(10),
            ..CommsCheckOptions::default()
        };
        let err = check_comms_address_with(&format!("https://127.0.0.1:{port}/"), &opts)
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, RegisterError::CommsUnreachable { .. }));
        assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
        assert!(text.contains("Nothing is listening"), "{text}");
    }
}
