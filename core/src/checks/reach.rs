//! Reaching a polling server: the polling proxy and its answer to CONNECT, DNS, and TCP to each resolved address (only some working points at DNS).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use super::Outcome;
use crate::halibut::transport::proxy::{self, ProxySettings};
use crate::halibut::transport::{TransportError, tcp};

/// How many resolved addresses are tried one by one.
const MAX_ADDRESSES: usize = 4;

/// TCP to `host:port`, through `proxy` when set, within `timeout` overall.
pub(crate) async fn open_tcp(
    host: &str,
    port: u16,
    proxy: Option<&ProxySettings>,
    timeout: Duration,
) -> Result<TcpStream, TransportError> {
    let work = async {
        match proxy {
            None => tcp::connect(host, port, timeout).await,
            Some(p) => proxy::connect_via_proxy(p, host, port, timeout).await,
        }
    };
    tokio::time::timeout(timeout * 2, work)
        .await
        .unwrap_or(Err(TransportError::Timeout {
            what: "connection through the proxy",
            secs: (timeout * 2).as_secs(),
        }))
}

pub(crate) async fn proxy_check(
    p: &ProxySettings,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Outcome {
    let at = proxy::authority(&p.host, p.port);
    let target = proxy::authority(host, port);
    let mut stream = match tcp::connect(&p.host, p.port, timeout).await {
        Ok(s) => s,
        Err(e) => {
            return Outcome::fail(
                format!("The proxy {at} cannot be reached: {e}"),
                "The polling proxy's host or port is wrong, or it is down",
                "Check the proxy settings: tentacle polling-proxy --proxyHost HOST --proxyPort PORT (or --proxyEnable false to connect directly)",
            );
        }
    };
    let answer = tokio::time::timeout(timeout, proxy::tunnel(&mut stream, p, host, port)).await;
    match answer {
        Err(_) => Outcome::fail(
            format!(
                "The proxy {at} did not answer CONNECT {target} within {} s",
                timeout.as_secs()
            ),
            "The address is not an HTTP proxy, or the proxy cannot reach the server",
            "Check the proxy address and ask its administrator whether it can reach the server",
        ),
        Ok(Ok(())) => Outcome::pass(format!(
            "The proxy {at} answered 200 to CONNECT {target}{}",
            if p.username.as_deref().is_some_and(|u| !u.trim().is_empty()) {
                " (with credentials)"
            } else {
                ""
            }
        )),
        Ok(Err(TransportError::ProxyRefused {
            status,
            reason,
            hint,
            ..
        })) => Outcome::fail(
            format!("The proxy {at} answered CONNECT {target} with {status} {reason}"),
            "The proxy refuses to open a tunnel to the Octopus Server",
            capitalise(hint),
        ),
        Ok(Err(e)) => Outcome::fail(
            format!("The proxy {at} failed the CONNECT request: {e}"),
            "The address may not be an HTTP proxy",
            "Check the proxy settings: tentacle polling-proxy --proxyHost HOST --proxyPort PORT",
        ),
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
        .unwrap_or_default()
}

/// DNS outcome and the addresses to try.
pub(crate) async fn resolve(
    host: &str,
    port: u16,
    timeout: Duration,
) -> (Outcome, Vec<SocketAddr>) {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return (
            Outcome::skipped(format!(
                "{host} is an IP address; there is nothing to resolve"
            )),
            vec![SocketAddr::new(ip, port)],
        );
    }
    let fix = format!(
        "Check the name in the polling address (tentacle show-configuration). If you know the server's IP, run `tentacle ping IP {port}`: if the IP works but the name does not, fix DNS for {host} (or add it to /etc/hosts), or poll the IP instead"
    );
    match tokio::time::timeout(timeout, tokio::net::lookup_host((host, port))).await {
        Err(_) => (
            Outcome::fail(
                format!("No DNS answer for {host} within {} s", timeout.as_secs()),
                "The DNS server does not answer",
                fix,
            ),
            Vec::new(),
        ),
        Ok(Err(e)) => (
            Outcome::fail(
                format!("{host} does not resolve: {e}"),
                "DNS has no address for this name: a typo, a missing DNS record, or this machine asks a DNS server that does not know internal names",
                fix,
            ),
            Vec::new(),
        ),
        Ok(Ok(addrs)) => {
            let mut list: Vec<SocketAddr> = addrs.collect();
            list.dedup();
            let shown: Vec<String> = list.iter().map(|a| a.ip().to_string()).collect();
            (
                Outcome::pass(format!("{host} resolves to {}", shown.join(", "))),
                list,
            )
        }
    }
}

/// TCP to each resolved address on its own: a name whose addresses only partly work is a DNS problem.
pub(crate) async fn connect_each(
    host: &str,
    port: u16,
    addrs: &[SocketAddr],
    timeout: Duration,
) -> Outcome {
    let mut set = tokio::task::JoinSet::new();
    for (i, addr) in addrs.iter().take(MAX_ADDRESSES).enumerate() {
        let addr = *addr;
        set.spawn(async move {
            let started = Instant::now();
            let r = tokio::time::timeout(timeout, TcpStream::connect(addr)).await;
            (i, addr, r.map(|r| r.map(|_| started.elapsed())))
        });
    }
    let mut tried = Vec::new();
    while let Some(Ok(r)) = set.join_next().await {
        tried.push(r);
    }
    tried.sort_by_key(|(i, _, _)| *i);
    let mut good = Vec::new();
    let mut bad = Vec::new();
    let mut first_error: Option<std::io::ErrorKind> = None;
    let mut refused = 0usize;
    for (_, addr, r) in tried {
        match r {
            Ok(Ok(took)) => good.push(format!(
                "{addr} connected in {:.1} ms",
                took.as_secs_f64() * 1000.0
            )),
            Ok(Err(e)) => {
                if e.kind() == std::io::ErrorKind::ConnectionRefused {
                    refused += 1;
                }
                first_error.get_or_insert(e.kind());
                bad.push(format!("{addr}: {e}"));
            }
            Err(_) => {
                first_error.get_or_insert(std::io::ErrorKind::TimedOut);
                bad.push(format!("{addr}: no answer within {} s", timeout.as_secs()));
            }
        }
    }
    let seen = good
        .iter()
        .chain(bad.iter())
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if bad.is_empty() && !good.is_empty() {
        return Outcome::pass(seen);
    }
    // A refusal costs a round trip and the next address is tried (the agent does the same);
    // an address that swallows packets costs the whole connect timeout.
    let slow = bad.len() > refused;
    if !good.is_empty() && !slow {
        return Outcome::pass(format!(
            "{seen} (the refused address is skipped quickly; the agent then uses the next one)"
        ));
    }
    if !good.is_empty() {
        return Outcome::warn(
            seen,
            format!(
                "{host} resolves to addresses where the server does not answer; depending on the order they are tried, connections are slow or fail"
            ),
            format!(
                "Make DNS return only the server's reachable addresses, or make the server listen on all of them (port {port})"
            ),
        );
    }
    let (cause, fix) = match first_error {
        Some(std::io::ErrorKind::ConnectionRefused) => (
            format!(
                "Nothing is listening on {host}:{port}: the Octopus Server is not running, it polls on another port, or a firewall rejects the connection"
            ),
            format!(
                "Check the server's polling port (default 10943; tentacle show-configuration shows ours) and that firewalls allow outbound TCP to {host}:{port}"
            ),
        ),
        Some(std::io::ErrorKind::TimedOut) => (
            "No answer at all: a firewall drops the packets, or the address is wrong".to_owned(),
            format!(
                "Allow outbound TCP from this machine to {host}:{port} in every firewall on the way (cloud security groups included)"
            ),
        ),
        _ => (
            "The network cannot reach the server from here".to_owned(),
            "Check routes, VPN and the address".to_owned(),
        ),
    };
    Outcome::fail(seen, cause, fix)
}
