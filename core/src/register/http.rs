//! The HTTPS client under [`super::OctopusClient`]: reqwest on rustls with ring, the web proxy, redirects only within the given https host, and transport errors in words without secrets.

use std::time::Duration;

use super::{RegisterError, ServerOptions, scrub};
use crate::instance::ProxyMode;

/// How long a TCP connect to the server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one request may take in all (Octopus.Client's default).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(100);

/// A redirect the policy would not follow; [`transport_error`] turns it into
/// [`RegisterError::UnsafeRedirect`].
#[derive(Debug, thiserror::Error)]
#[error("refused a redirect to {target}: it {why}")]
pub(crate) struct RedirectRefused {
    target: String,
    why: &'static str,
}

/// Why the redirect from `from` to `to` must not be followed, if it must not. The request
/// carries the API key (or the session cookie), so it may only move within the server we
/// were given: same host and, once on https, https only. The one upgrade allowed is
/// http to https on the same host.
pub(crate) fn redirect_refusal(
    origin: &url::Url,
    from: &url::Url,
    to: &url::Url,
) -> Option<RedirectRefused> {
    let target = match (to.host_str(), to.port_or_known_default()) {
        (Some(h), Some(p)) => format!("{}://{h}:{p}", to.scheme()),
        _ => to.scheme().to_owned(),
    };
    let same_host = |a: &url::Url, b: &url::Url| {
        a.host_str()
            .zip(b.host_str())
            .is_some_and(|(x, y)| x.eq_ignore_ascii_case(y))
    };
    let why = if to.scheme() != "https" && (from.scheme() == "https" || to.scheme() != "http") {
        "leaves https"
    } else if !same_host(origin, to) {
        "is another host"
    } else if to.scheme() == from.scheme()
        && to.port_or_known_default() != from.port_or_known_default()
    {
        "is another port"
    } else {
        return None;
    };
    Some(RedirectRefused { target, why })
}

/// reqwest's error, turned into words without URLs or secrets, and classified.
pub(crate) fn transport_error(
    e: &reqwest::Error,
    url: &url::Url,
    secrets: &[&str],
) -> RegisterError {
    let mut parts = Vec::new();
    let mut untrusted = false;
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<RedirectRefused>() {
            return RegisterError::UnsafeRedirect {
                target: r.target.clone(),
                why: r.why,
                url: url.to_string(),
            };
        }
        // rustls' error often travels inside an io::Error, whose source() skips it.
        let inner = s
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|e| e.downcast_ref::<rustls::Error>());
        if let Some(rustls::Error::InvalidCertificate(_)) =
            s.downcast_ref::<rustls::Error>().or(inner)
        {
            untrusted = true;
        }
        let text = s.to_string();
        // Some layers carry the rustls error only as text.
        untrusted |= text.starts_with("invalid peer certificate");
        if !parts.iter().any(|p: &String| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    if parts.is_empty() {
        parts.push(if e.is_timeout() {
            "timed out".to_owned()
        } else {
            "the request failed".to_owned()
        });
    }
    let detail = scrub(&parts.join(": "), secrets);
    if untrusted {
        RegisterError::UntrustedCertificate {
            detail,
            url: url.to_string(),
        }
    } else {
        RegisterError::Unreachable {
            detail,
            url: url.to_string(),
        }
    }
}

pub(crate) fn build_http(opts: &ServerOptions) -> Result<reqwest::Client, RegisterError> {
    // reqwest's rustls backend uses the process default provider; ours is ring (no aws-lc).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let origin = opts.server.clone();
    let redirects = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= 5 {
            return attempt.error("too many redirects");
        }
        let from = attempt.previous().last().unwrap_or(&origin);
        match redirect_refusal(&origin, from, attempt.url()) {
            Some(refused) => attempt.error(refused),
            None => attempt.follow(),
        }
    });
    let mut builder = reqwest::Client::builder()
        .user_agent(format!(
            "OctopusClient-dotnet (compatible) Tentacle/{} tentacle-manager/{}",
            opts.tentacle_version,
            crate::VERSION
        ))
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .redirect(redirects)
        .tls_danger_accept_invalid_certs(opts.ignore_ssl_errors);
    if let Some(p) = &opts.proxy {
        match (p.mode, p.host.as_deref()) {
            (ProxyMode::None, _) => builder = builder.no_proxy(),
            (ProxyMode::Custom, Some(host)) => {
                let proxy_url = format!(
                    "http://{}/",
                    crate::halibut::transport::proxy::authority(host, p.port.unwrap_or(80))
                );
                let mut proxy = reqwest::Proxy::all(&proxy_url).map_err(|e| {
                    RegisterError::Invalid(format!(
                        "The web proxy {proxy_url} cannot be used ({e}); fix it with tentacle proxy --proxyHost"
                    ))
                })?;
                if let Some(user) = p.username.as_deref().filter(|u| !u.trim().is_empty()) {
                    proxy = proxy.basic_auth(user, p.password.as_deref().unwrap_or(""));
                }
                builder = builder.proxy(proxy);
            }
            // The system's proxy: reqwest reads HTTPS_PROXY/HTTP_PROXY (and the OS settings
            // on Windows and macOS) by default.
            _ => {}
        }
    }
    builder.build().map_err(|e| {
        RegisterError::Invalid(format!(
            "Could not set up the HTTPS client ({e}); this is a bug, please report it"
        ))
    })
}
