//! `proxy` and `polling-proxy`: the web proxy and the proxy for polling connections.

use super::commands::{InstanceArgs, ProxyArgs};
use super::{CliError, Out, parse, target};
use crate::instance::{ProxyMode, ProxySettings, TentacleConfig};

/// Which of the two proxies.
#[derive(Debug, Clone, Copy)]
pub enum Which {
    /// Web requests (registration, scripts).
    Web,
    /// Polling connections to Octopus Server.
    Polling,
}

/// Keeps only the host of `http://host:port/path`, and the port if the URL had one.
fn split_host(input: &str) -> Result<(String, Option<u16>), CliError> {
    let t = input.trim();
    let no_scheme = t.split_once("://").map_or(t, |(_, rest)| rest);
    let authority = no_scheme.split('/').next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if authority.is_empty() {
        return Ok((String::new(), None));
    }
    let parsed = url::Url::parse(&format!("http://{authority}/")).map_err(|e| {
        CliError::Invalid(format!(
            "--proxyHost '{input}' is not a host name or address ({e})"
        ))
    })?;
    let host = parsed.host_str().unwrap_or_default().to_owned();
    Ok((host, parsed.port()))
}

pub fn configure(
    args: &InstanceArgs,
    p: &ProxyArgs,
    which: Which,
    out: &mut Out<'_>,
) -> Result<(), CliError> {
    let enable = p
        .enable
        .as_deref()
        .map(|v| parse::boolean("--proxyEnable", v))
        .transpose()?;
    let (host, url_port) = match p.host.as_deref() {
        Some(h) => {
            let (host, port) = split_host(h)?;
            (Some(host), port)
        }
        None => (None, None),
    };
    let port = match p.port.as_deref().map(str::trim) {
        Some("") => Some(80),
        Some(v) => Some(parse::port("--proxyPort", v)?),
        None => url_port,
    };
    if enable.is_none()
        && host.is_none()
        && port.is_none()
        && p.username.is_none()
        && p.password.is_none()
    {
        return Err(CliError::Usage(
            "Nothing to configure: pass --proxyEnable true|false and, for a custom proxy, --proxyHost and --proxyPort".to_owned(),
        ));
    }

    let t = target(args)?;
    let settings = TentacleConfig::update(&t.config, |c| {
        let s: &mut ProxySettings = match which {
            Which::Web => &mut c.proxy,
            Which::Polling => &mut c.polling_proxy,
        };
        if let Some(h) = &host {
            s.host = Some(h.clone()).filter(|h| !h.is_empty());
        }
        if let Some(port) = port {
            s.port = Some(port);
        }
        if let Some(u) = &p.username {
            s.username = Some(u.clone()).filter(|u| !u.is_empty());
        }
        if let Some(pw) = &p.password {
            s.password = Some(pw.clone()).filter(|p| !p.is_empty());
        }
        s.mode = match enable {
            Some(false) => ProxyMode::None,
            Some(true) | None if s.host.is_some() => ProxyMode::Custom,
            Some(true) => ProxyMode::Default,
            None => s.mode,
        };
        Ok::<_, CliError>(s.clone())
    })?;
    let subject = match which {
        Which::Web => "web requests",
        Which::Polling => "polling the Octopus Server",
    };
    match settings.mode {
        ProxyMode::None => out.line(format!("Proxy use is disabled for {subject}")),
        ProxyMode::Default => out.line(format!("Using the system's default proxy for {subject}")),
        ProxyMode::Custom => out.line(format!(
            "Using custom proxy at: {}:{} for {subject}{}",
            settings.host.as_deref().unwrap_or_default(),
            settings.port.unwrap_or(80),
            if settings.username.is_some() {
                " with credentials"
            } else {
                ""
            }
        )),
    }
    out.line("These changes require a restart of the Tentacle.");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_part_of_a_url_is_kept() {
        assert_eq!(
            split_host("http://proxy.local:3128/path").unwrap(),
            ("proxy.local".into(), Some(3128))
        );
        assert_eq!(
            split_host("proxy.local").unwrap(),
            ("proxy.local".into(), None)
        );
        assert_eq!(split_host("").unwrap(), (String::new(), None));
        assert!(split_host("bad host!").is_err());
    }
}
