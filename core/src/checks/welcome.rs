//! The welcome page over HTTPS on the listening port, fetched as a browser would (troubleshooting step "browse to https://localhost:10933").

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::Outcome;
use super::plan::CheckPlan;
use super::port::live_agent;
use super::probe::{self, http_first_line, printable_start};
use crate::halibut::transport::tcp;
use crate::halibut::welcome::HEADING;

/// Where to dial the local listener: its listen IP when it is a specific one, else loopback.
fn local_host(listen_ip: Option<&str>) -> String {
    match listen_ip.and_then(|ip| ip.parse::<IpAddr>().ok()) {
        Some(IpAddr::V4(v4)) if v4 != Ipv4Addr::UNSPECIFIED => v4.to_string(),
        Some(IpAddr::V6(v6)) if v6 != Ipv6Addr::UNSPECIFIED => v6.to_string(),
        Some(IpAddr::V6(_)) => "::1".to_owned(),
        _ => "127.0.0.1".to_owned(),
    }
}

pub(crate) async fn check(plan: &CheckPlan) -> Outcome {
    let port = plan.config.communication.port;
    let opts = &plan.options;
    let host = local_host(plan.config.communication.listen_ip.as_deref());
    let url = format!("https://localhost:{port}/");
    let stream = match tcp::connect(&host, port, opts.connect_timeout).await {
        Ok(s) => s,
        Err(e) => {
            if live_agent(plan).is_none() {
                return Outcome::skipped(format!(
                    "Nothing answers on port {port} ({e}); the agent is not running"
                ));
            }
            return Outcome::fail(
                format!("Could not connect to {host}:{port}: {e}"),
                "The agent runs but does not accept connections on its port: it may be listening on another address, or a local firewall blocks it",
                "Check `tentacle show-configuration` for the listen address, and the agent's log for errors while binding",
            );
        }
    };
    let (mut tls, facts) = match probe::tls_probe(stream, "localhost", opts.io_timeout).await {
        Ok(pair) => pair,
        Err((e, bytes)) => {
            let seen = match http_first_line(&bytes) {
                Some(line) => format!("Port {port} answered in plain HTTP ({line:?}), not TLS"),
                None if !bytes.is_empty() => format!(
                    "Port {port} answered something that is not TLS: {:?}",
                    printable_start(&bytes)
                ),
                None => format!("The TLS handshake on port {port} failed: {e}"),
            };
            return Outcome::fail(
                seen,
                "Whatever listens on this port is not this Tentacle's agent (Tentacle always speaks TLS first)",
                "Find the program with the listening port check above, stop it or move the Tentacle to another port",
            );
        }
    };
    let page = match probe::http_get(
        &mut tls,
        &format!("localhost:{port}"),
        "/",
        "",
        opts.io_timeout,
    )
    .await
    {
        Ok(p) => p,
        Err(e) => {
            return Outcome::fail(
                format!("TLS worked ({}), but no page came back: {e}", facts.version),
                "The listener accepted TLS and then did not answer an HTTP request as Tentacle does",
                "Restart the agent; if this stays, read its log",
            );
        }
    };
    let thumb = facts
        .thumbprint
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_else(|| "none".to_owned());
    let mine = plan.own.as_ref().ok().map(|c| c.thumbprint());
    if let Some(mine) = &mine
        && facts.thumbprint.as_ref() != Some(mine)
    {
        return Outcome::fail(
            format!(
                "{url} answered {:?} with certificate {thumb}, but this instance's certificate is {mine}",
                page.status_line
            ),
            "Another Tentacle instance or another program answers on this port",
            "Stop the other program, or give this instance its own port: tentacle configure --port OTHER_PORT",
        );
    }
    let heading = page.heading().unwrap_or_else(|| "no heading".to_owned());
    let seen = format!(
        "{url} answered {:?} ({} bytes, \"{heading}\") over {} with {}, certificate {thumb}",
        page.status_line, page.bytes, facts.version, facts.cipher
    );
    if page.status() == 200 && page.body.contains(HEADING) {
        Outcome::pass(match mine {
            Some(_) => format!("{seen}, this instance's"),
            None => seen,
        })
    } else {
        Outcome::warn(
            seen,
            "The page is not the one this Tentacle serves: an older or foreign Tentacle build answers",
            "Make sure the agent running on this port is this installation's (see the agent check)",
        )
    }
}
