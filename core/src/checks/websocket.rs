//! WebSocket polling's endpoint fetched as an HTTPS page (what Tentacle checks before it upgrades): the server's page, its certificate and its `Date`.

use super::Outcome;
use super::plan::{CheckOptions, https_of};
use super::probe;
use super::reach::open_tcp;
use crate::halibut::transport::proxy::ProxySettings;

/// The page check, and `(source, peer date, our date)` when the server sent a `Date` header.
pub(crate) async fn page_check(
    url: &url::Url,
    proxy: Option<&ProxySettings>,
    opts: &CheckOptions,
) -> (Outcome, Option<(String, i64, i64)>) {
    let https = https_of(url);
    let (host, port) = crate::halibut::dial::url_endpoint(url);
    let stream = match open_tcp(&host, port, proxy, opts.connect_timeout).await {
        Ok(s) => s,
        Err(e) => {
            return (
                Outcome::fail(
                    format!("Could not connect to {https}: {e}"),
                    "The connection worked a moment ago; the server or the path is unstable",
                    "Run tentacle check again",
                ),
                None,
            );
        }
    };
    let (mut tls, facts) = match probe::tls_probe(stream, &host, opts.io_timeout).await {
        Ok(pair) => pair,
        Err((e, _)) => {
            return (
                Outcome::fail(
                    format!("The TLS handshake with {https} failed: {e}"),
                    "The HTTPS binding on that port is missing or refuses this client",
                    "On the Octopus Server, check the SSL certificate bound to the port (netsh http show sslcert)",
                ),
                None,
            );
        }
    };
    let host_header = match url.port() {
        Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    };
    let mut path = url.path().to_owned();
    if path.is_empty() {
        path.push('/');
    }
    let page = match probe::http_get(&mut tls, &host_header, &path, "", opts.io_timeout).await {
        Ok(p) => p,
        Err(e) => {
            return (
                Outcome::fail(
                    format!(
                        "{https} accepted TLS ({}) but sent no page: {e}",
                        facts.version
                    ),
                    "The server on that port does not answer HTTPS requests",
                    "Check that the address is the Octopus Server's WebSocket listen prefix",
                ),
                None,
            );
        }
    };
    let date = page
        .head
        .as_ref()
        .and_then(|h| h.header("date"))
        .and_then(probe::parse_http_date)
        .map(|d| (https.clone(), d, crate::status::now_secs() as i64));
    let thumb = facts
        .thumbprint
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_else(|| "none".to_owned());
    let heading = page
        .heading()
        .map(|h| format!(" (\"{h}\")"))
        .unwrap_or_default();
    let seen = format!(
        "{https} answered {:?}{heading} over {}, certificate {thumb}",
        page.status_line, facts.version
    );
    let outcome = match page.status() {
        200 => Outcome::pass(seen),
        404 | 400 => Outcome::fail(
            seen,
            "Nothing answers at this path on that port: the path is not the prefix the Octopus Server listens on",
            "Use the server's exact WebSocket listen prefix, e.g. wss://HOST:443/OctopusComms: tentacle server-comms --web-socket URL",
        ),
        503 => Outcome::fail(
            seen,
            "http.sys holds the prefix but no program serves it: the Octopus Server is stopped, or listens on another prefix",
            "Start the Octopus Server and check its commsListenWebSocket prefix",
        ),
        0 => Outcome::fail(
            format!(
                "{https} answered something that is not HTTP: {:?}",
                page.status_line
            ),
            "Another service listens on that port",
            "Check the WebSocket address",
        ),
        _ => Outcome::fail(
            seen,
            "The WebSocket endpoint does not answer with the server's page",
            "Check the WebSocket address and the web server or proxy in front of it",
        ),
    };
    (outcome, date)
}
