//! The checks of one polling server, step by step as a connection is made: proxy, DNS, TCP to each address, TLS, thumbprint, certificate signature, WebSocket page, Halibut identity.
//!
//! A step that cannot run because an earlier one failed is `Skipped` with that reason, so
//! the first failure is the one to read.

use std::time::{Duration, Instant};

use super::certificate::{certificate_check, subject, validity};
use super::identity::identity_check;
use super::plan::{CheckPlan, PollTarget, Sink, TimeEvidence};
use super::probe::{self, TlsFacts, http_first_line, parse_page, printable_start};
use super::reach::{connect_each, open_tcp, proxy_check, resolve};
use super::{Outcome, legacy};
use crate::halibut::dial::Address;
use crate::halibut::tls::TlsError;
use crate::halibut::transport::proxy::{self, ProxySettings};

pub(crate) async fn run_target(plan: &CheckPlan, t: &PollTarget, sink: &Sink) -> TimeEvidence {
    let mut evidence = TimeEvidence::default();
    let address = match &t.address {
        Ok(a) => a.clone(),
        Err(why) => {
            sink.put(
                &t.step("address"),
                Outcome::fail(
                    format!(
                        "Server {} ({}): {why}{}",
                        t.number,
                        t.thumbprint,
                        if t.address_text.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", t.address_text)
                        }
                    ),
                    "The trusted polling server's address is missing or not a URL, so the agent cannot poll it",
                    format!(
                        "Set it: tentacle server-comms --instance \"{}\" --thumbprint {} --style TentacleActive --host HOST --port 10943 (or --web-socket wss://HOST/OctopusComms)",
                        plan.instance, t.thumbprint
                    ),
                ),
                Instant::now(),
            );
            return evidence;
        }
    };
    let (host, port) = address.endpoint();
    let opts = &plan.options;
    let proxy = t.proxy.as_ref();
    let mut blocked: Option<String> = None;

    if let Some(p) = proxy {
        let started = Instant::now();
        let outcome = proxy_check(p, &host, port, opts.connect_timeout).await;
        if !sink.put(&t.step("proxy"), outcome, started) {
            blocked = Some("the polling proxy check failed".to_owned());
        }
    }

    // DNS and TCP from here only mean something without a proxy: with one, the proxy resolves and connects.
    let started = Instant::now();
    let addresses = if proxy.is_some() {
        let why = "The proxy resolves the server's name and connects to it";
        sink.put(&t.step("dns"), Outcome::skipped(why), started);
        sink.put(&t.step("tcp"), Outcome::skipped(why), Instant::now());
        None
    } else {
        let (outcome, addrs) = resolve(&host, port, opts.connect_timeout).await;
        if !sink.put(&t.step("dns"), outcome.clone(), started)
            && outcome.verdict != super::Verdict::Skipped
        {
            blocked = Some(format!("{host} did not resolve"));
        }
        Some(addrs)
    };
    if let Some(addrs) = addresses {
        let started = Instant::now();
        let outcome = match &blocked {
            Some(why) => Outcome::skipped(format!("Not tried: {why}")),
            None => connect_each(&host, port, &addrs, opts.connect_timeout).await,
        };
        if outcome.verdict == super::Verdict::Fail {
            blocked = Some(format!("no TCP connection to {host}:{port}"));
        }
        sink.put(&t.step("tcp"), outcome, started);
    }

    let started = Instant::now();
    let facts = match &blocked {
        Some(why) => {
            sink.put(
                &t.step("tls"),
                Outcome::skipped(format!("Not tried: {why}")),
                started,
            );
            None
        }
        None => {
            let (outcome, facts) =
                tls_check(&host, port, proxy, opts.connect_timeout, opts.io_timeout).await;
            sink.put(&t.step("tls"), outcome, started);
            if facts.is_none() {
                blocked = Some("the TLS handshake failed".to_owned());
            }
            facts
        }
    };

    let started = Instant::now();
    let thumbprint_ok = match &facts {
        None => {
            let why = blocked.clone().unwrap_or_default();
            sink.put(
                &t.step("thumbprint"),
                Outcome::skipped(format!("Not checked: {why}")),
                started,
            );
            sink.put(
                &t.step("certificate"),
                Outcome::skipped(format!("Not checked: {why}")),
                Instant::now(),
            );
            false
        }
        Some(f) => {
            let ok = sink.put(&t.step("thumbprint"), thumbprint_check(plan, t, f), started);
            let started = Instant::now();
            let der = f.certificate.as_deref().unwrap_or_default();
            if let Some((nb, na)) = validity(der) {
                evidence.validity.push((address.describe(), nb, na));
            }
            sink.put(&t.step("certificate"), certificate_check(der), started);
            ok
        }
    };

    if let Address::WebSocket(url) = &address {
        let started = Instant::now();
        let outcome = match &blocked {
            Some(why) => Outcome::skipped(format!("Not tried: {why}")),
            None => {
                let (outcome, date) = super::websocket::page_check(url, proxy, opts).await;
                if let Some(d) = date {
                    evidence.http_dates.push(d);
                }
                outcome
            }
        };
        sink.put(&t.step("websocket"), outcome, started);
    }

    let started = Instant::now();
    let outcome = match (&blocked, thumbprint_ok, &plan.own) {
        (Some(why), _, _) => Outcome::skipped(format!("Not tried: {why}")),
        (None, false, _) => Outcome::skipped(
            "Not tried: the server's thumbprint is not the trusted one, so this Tentacle would refuse the connection",
        ),
        (None, true, Err(why)) => Outcome::skipped(format!(
            "Not tried, it needs this Tentacle's certificate: {why}"
        )),
        (None, true, Ok(own)) => identity_check(plan, t, &address, own).await,
    };
    sink.put(&t.step("identity"), outcome, started);
    evidence
}

/// Splits a `TlsError` hint ("Problem: detail. Fix") into cause and fix.
fn split_hint(hint: &str) -> (String, String) {
    match hint.rfind(". ") {
        Some(i) => (hint[..=i].to_owned(), hint[i + 2..].to_owned()),
        None => (
            hint.to_owned(),
            "Check that the server offers TLS 1.2 or 1.3 with ECDHE and AES-GCM".to_owned(),
        ),
    }
}

async fn tls_check(
    host: &str,
    port: u16,
    proxy: Option<&ProxySettings>,
    connect_timeout: Duration,
    io_timeout: Duration,
) -> (Outcome, Option<TlsFacts>) {
    let stream = match open_tcp(host, port, proxy, connect_timeout).await {
        Ok(s) => s,
        Err(e) => {
            return (
                Outcome::fail(
                    format!("Could not connect again for the TLS handshake: {e}"),
                    "The connection worked a moment ago; the server or the path is unstable",
                    "Run tentacle check again; if it comes and goes, run `tentacle ping` for a while to see how often",
                ),
                None,
            );
        }
    };
    match probe::tls_probe(stream, host, io_timeout).await {
        Ok((tls, facts)) => {
            drop(tls);
            let subject = facts
                .certificate
                .as_deref()
                .map(subject)
                .unwrap_or_else(|| "no certificate".to_owned());
            let seen = format!(
                "{} with {}; the server presented {} ({subject})",
                facts.version,
                facts.cipher,
                facts
                    .thumbprint
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_else(|| "no certificate".into())
            );
            (Outcome::pass(seen), Some(facts))
        }
        Err((e, bytes)) => {
            let outcome = tls_failure(host, port, proxy, &e, &bytes);
            let tls_spoken = bytes.first().is_none_or(|b| matches!(b, 0x14..=0x17));
            if !matches!(e, TlsError::Handshake { .. }) || !tls_spoken {
                return (outcome, None);
            }
            // Name the version or suite the server wanted, which rustls' alert does not say.
            match legacy::probe(host, port, proxy, connect_timeout)
                .await
                .as_ref()
                .and_then(legacy::explain)
            {
                Some((seen, cause, fix)) => (
                    Outcome::fail(format!("{}. {seen}", outcome.seen), cause, fix),
                    None,
                ),
                None => (outcome, None),
            }
        }
    }
}

/// Explains a failed handshake, first by what the peer actually sent.
fn tls_failure(
    host: &str,
    port: u16,
    proxy: Option<&ProxySettings>,
    e: &TlsError,
    bytes: &[u8],
) -> Outcome {
    if let Some(line) = http_first_line(bytes) {
        let page = parse_page(bytes);
        let heading = page
            .heading()
            .map(|h| format!(", page \"{h}\""))
            .unwrap_or_default();
        let seen =
            format!("Instead of TLS, the peer answered with an HTTP page: {line:?}{heading}");
        return match proxy {
            Some(p) => Outcome::fail(
                seen,
                format!(
                    "The proxy {} accepted CONNECT but then sent its own web page (a block, login or error page) instead of connecting to the server. Octopus reports this as: Unable to process remote identity; unknown identity 'HTTP/1.0'",
                    proxy::authority(&p.host, p.port)
                ),
                format!(
                    "Ask the proxy's administrator to let CONNECT to {host}:{port} through unchanged, or connect without it: tentacle polling-proxy --proxyEnable false"
                ),
            ),
            None => Outcome::fail(
                seen,
                "A firewall, proxy or other network device on the path inserts a web page into the connection. Octopus reports this as: Unable to process remote identity; unknown identity 'HTTP/1.0'",
                format!(
                    "Let TCP to {host}:{port} through unchanged (no web filtering, SSL inspection or transparent proxy for it), or configure the proxy your network requires: tentacle polling-proxy --proxyHost HOST --proxyPort PORT"
                ),
            ),
        };
    }
    if let Some(first) = bytes.first()
        && !matches!(first, 0x14..=0x17)
    {
        return Outcome::fail(
            format!(
                "The peer answered something that is not TLS: {:?}",
                printable_start(bytes)
            ),
            format!("Another service, not Octopus Server, listens on {host}:{port}"),
            "Check the server's polling port (default 10943) and the address",
        );
    }
    match e {
        TlsError::Handshake { hint, source, .. } => {
            let (cause, fix) = split_hint(hint);
            Outcome::fail(format!("The TLS handshake failed: {source}"), cause, fix)
        }
        other => Outcome::fail(
            other.to_string(),
            "The server did not complete the TLS handshake",
            "Check that the address is the Octopus Server's polling port and that nothing in between terminates TLS",
        ),
    }
}

fn thumbprint_check(plan: &CheckPlan, t: &PollTarget, f: &TlsFacts) -> Outcome {
    let Some(actual) = &f.thumbprint else {
        return Outcome::fail(
            "The server presented no certificate",
            "Octopus Server always presents its certificate; this is not an Octopus Server",
            "Check the polling address",
        );
    };
    if actual == &t.thumbprint {
        return Outcome::pass(format!("{actual}, the thumbprint this Tentacle trusts"));
    }
    let subject = f.certificate.as_deref().map(subject).unwrap_or_default();
    Outcome::fail(
        format!(
            "The server presented {actual} ({subject}), but this Tentacle trusts {}",
            t.thumbprint
        ),
        "A different server answers at this address, the server's certificate was regenerated, or a proxy or SSL-inspection device in between replaces the certificate (SSL offloading is not supported)",
        format!(
            "Compare with Configuration > Thumbprints in the Octopus Web Portal. If the server's certificate really changed, trust the new one: tentacle update-trust --instance \"{}\" --oldThumbprint {} --newThumbprint {actual}",
            plan.instance, t.thumbprint
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_split_into_cause_and_fix() {
        let (c, f) = split_hint(
            "The peer does not offer TLS 1.2 or 1.3, the only versions we support. Enable TLS 1.2 on the peer",
        );
        assert_eq!(
            c,
            "The peer does not offer TLS 1.2 or 1.3, the only versions we support."
        );
        assert_eq!(f, "Enable TLS 1.2 on the peer");
    }

    #[test]
    fn an_http_page_instead_of_tls_is_the_unknown_identity_case() {
        let e = TlsError::HandshakeTimeout {
            peer: "x".into(),
            secs: 5,
        };
        let o = tls_failure(
            "octopus.example",
            10943,
            None,
            &e,
            b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<h1>Access denied</h1>",
        );
        assert_eq!(o.verdict, super::super::Verdict::Fail);
        assert!(o.seen.contains("\"HTTP/1.0 200 OK\""), "{o:?}");
        assert!(o.seen.contains("Access denied"), "{o:?}");
        assert!(o.cause.unwrap().contains("unknown identity 'HTTP/1.0'"));
        let o = tls_failure("h", 1, None, &e, b"SSH-2.0-OpenSSH_9.2\r\n");
        assert!(o.seen.contains("SSH-2.0"), "{o:?}");
    }
}
