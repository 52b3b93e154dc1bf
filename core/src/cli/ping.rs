//! `tentacle ping HOST [PORT]` and `tentacle pong PORT`: TentaclePing and TentaclePong (product notes §9) rebuilt on TLS 1.2 or newer, printing the peer's thumbprint, timings and counts.
//!
//! Ping fails against the Tentacle but not against Pong: the Tentacle or the server is the
//! problem. Ping fails against Pong too: the network is.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::{CliError, Out};
use crate::certificate::{self, TentacleCertificate};
use crate::checks::probe::{self, TlsFacts};
use crate::halibut::tls;
use crate::halibut::transport::tcp;
use crate::instance::{DEFAULT_LISTEN_PORT, Instances, TentacleConfig};

/// Pong's answer body: 10 KB of `A`, as TentaclePong sends.
const PONG_BODY: usize = 10_240;
/// The most request bytes Pong reads before answering.
const PONG_MAX_REQUEST: usize = 64 * 1024 * 1024;
/// How long Pong waits for a request.
const PONG_READ_TIMEOUT: Duration = Duration::from_secs(30);

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("tentacle-ping")
        .enable_all()
        .build()
        .map_err(|e| CliError::Invalid(format!("Could not start the runtime: {e}")))
}

/// `2026-11-30T11:50:01.123Z`.
fn stamp() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// One ping attempt's outcome.
struct Attempt {
    connected: bool,
    tls: bool,
    took: Duration,
    result: Result<(usize, TlsFacts, Duration, Duration), String>,
}

/// TCP, TLS without a client certificate (any server certificate), `GET /`, read to the end.
async fn attempt(host: &str, port: u16, timeout: Duration) -> Attempt {
    let started = Instant::now();
    let stream = match tcp::connect(host, port, timeout).await {
        Ok(s) => s,
        Err(e) => {
            return Attempt {
                connected: false,
                tls: false,
                took: started.elapsed(),
                result: Err(e.to_string()),
            };
        }
    };
    let tcp_took = started.elapsed();
    let (mut tls, facts) = match probe::tls_probe(stream, host, timeout).await {
        Ok(pair) => pair,
        Err((e, _)) => {
            return Attempt {
                connected: true,
                tls: false,
                took: started.elapsed(),
                result: Err(e.to_string()),
            };
        }
    };
    let tls_took = started.elapsed() - tcp_took;
    let host_header = crate::halibut::transport::proxy::authority(host, port);
    let result = probe::http_get(&mut tls, &host_header, "/", "", timeout)
        .await
        .map(|page| (page.bytes, facts, tcp_took, tls_took))
        .map_err(|e| format!("the TLS connection worked but reading the answer failed: {e}"));
    Attempt {
        connected: true,
        tls: true,
        took: started.elapsed(),
        result,
    }
}

/// Running totals.
#[derive(Default)]
struct Tally {
    ok: u64,
    failed: u64,
    fastest: Option<Duration>,
    slowest: Duration,
    total: Duration,
}

impl Tally {
    fn summary(&self) -> String {
        let mut s = format!(
            "{} successful connections, {} failed connections.",
            self.ok, self.failed
        );
        if self.ok > 0 {
            let avg = self.total / u32::try_from(self.ok).unwrap_or(u32::MAX);
            s.push_str(&format!(
                " Successful ones took min {} / avg {} / max {} ms.",
                ms(self.fastest.unwrap_or_default()),
                ms(avg),
                ms(self.slowest)
            ));
        }
        s
    }
}

pub fn ping(
    host: &str,
    port: Option<u16>,
    count: Option<u64>,
    interval: Option<u64>,
    timeout: Option<u64>,
    out: &mut Out<'_>,
) -> Result<(), CliError> {
    let host = host.trim();
    if host.is_empty() || host.contains(['/', ' ']) {
        return Err(CliError::Invalid(format!(
            "'{host}' is not a host name or IP address; use: tentacle ping HOST [PORT], e.g. tentacle ping my-tentacle 10933"
        )));
    }
    let port = port.unwrap_or(DEFAULT_LISTEN_PORT);
    if port == 0 {
        return Err(CliError::Invalid(
            "Port 0 cannot be pinged; give the Tentacle's port (default 10933) or the server's polling port (default 10943)".to_owned(),
        ));
    }
    if count == Some(0) {
        return Err(CliError::Invalid("--count must be 1 or more".to_owned()));
    }
    let interval = Duration::from_millis(interval.unwrap_or(500));
    let timeout = Duration::from_secs(timeout.unwrap_or(30).clamp(1, 3600));
    let rt = runtime()?;
    out.line("Using TLS 1.2 or 1.3; no client certificate is sent and any server certificate is accepted (its thumbprint is shown)");
    out.line(format!("Pinging {host} on port {port}"));
    let mut tally = Tally::default();
    let mut last_thumbprint = None;
    let stopped = rt.block_on(async {
        let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
        let mut n = 0u64;
        loop {
            n += 1;
            let a = tokio::select! {
                a = attempt(host, port, timeout) => a,
                _ = &mut ctrl_c => return true,
            };
            let prefix = format!("{} Connect: ", stamp());
            match a.result {
                Ok((bytes, facts, tcp_took, tls_took)) => {
                    tally.ok += 1;
                    tally.total += a.took;
                    tally.slowest = tally.slowest.max(a.took);
                    tally.fastest = Some(tally.fastest.map_or(a.took, |f| f.min(a.took)));
                    let thumb = facts
                        .thumbprint
                        .map(|t| t.to_string())
                        .unwrap_or_else(|| "none".to_owned());
                    if last_thumbprint.as_ref().is_some_and(|l| l != &thumb) {
                        out.line(format!("The server's certificate changed: it was {}, now {thumb}", last_thumbprint.as_deref().unwrap_or_default()));
                    }
                    last_thumbprint = Some(thumb.clone());
                    out.line(format!(
                        "{prefix}Success! {} ms (TCP {} ms, TLS {} ms), {bytes} bytes read, {} {}, thumbprint {thumb}",
                        ms(a.took),
                        ms(tcp_took),
                        ms(tls_took),
                        facts.version,
                        facts.cipher
                    ));
                }
                Err(e) => {
                    tally.failed += 1;
                    out.line(format!(
                        "{prefix}Failed! {} ms; connected: {}; TLS: {}; {e}",
                        ms(a.took),
                        a.connected,
                        a.tls
                    ));
                }
            }
            if count.is_some_and(|c| n >= c) {
                return false;
            }
            if n.is_multiple_of(10) {
                out.line(format!("{} Hit Ctrl+C to quit any time.", tally.summary()));
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = &mut ctrl_c => return true,
            }
        }
    });
    rt.shutdown_timeout(Duration::from_millis(200));
    out.line(format!(
        "{}Done: {}",
        if stopped { "Stopped. " } else { "" },
        tally.summary()
    ));
    if tally.failed > 0 {
        return Err(CliError::Invalid(format!(
            "{} of {} connections to {host}:{port} failed; the Failed! lines say at which step",
            tally.failed,
            tally.failed + tally.ok
        )));
    }
    Ok(())
}

/// The certificate Pong presents: the instance's, or a new one for this run.
fn pong_certificate(instance: Option<&str>) -> Result<TentacleCertificate, CliError> {
    let Some(name) = instance else {
        return Ok(certificate::generate()?);
    };
    let record = Instances::discover()?.find(name)?;
    let config = TentacleConfig::load(&record.config)?;
    let Some(r) = config.certificate else {
        return Err(CliError::Invalid(format!(
            "Instance '{name}' has no certificate yet; create one with tentacle new-certificate --instance \"{name}\", or run pong without --instance"
        )));
    };
    Ok(certificate::load_from_file(&r.file)?)
}

/// Serves one TentaclePing connection; returns the line to print.
async fn serve(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    config: Arc<rustls::ServerConfig>,
) -> Result<String, String> {
    let mut tls = tls::accept(stream, config, &peer.to_string(), PONG_READ_TIMEOUT)
        .await
        .map_err(|e| format!("Client {peer} failed authentication: {e}"))?;
    let facts = TlsFacts::of(tls.get_ref().1);
    let client = facts
        .thumbprint
        .map(|t| format!("client certificate {t}"))
        .unwrap_or_else(|| "no client certificate".to_owned());
    let read = tokio::time::timeout(PONG_READ_TIMEOUT, read_request(&mut tls))
        .await
        .map_err(|_| {
            format!(
                "Client {peer} sent no complete request within {} s",
                PONG_READ_TIMEOUT.as_secs()
            )
        })?
        .map_err(|e| format!("Unhandled error when processing request from {peer}: {e}"))?;
    let mut answer = format!("HTTP/1.0 200 OK\r\nContent-Length: {PONG_BODY}\r\n\r\n").into_bytes();
    answer.extend(std::iter::repeat_n(b'A', PONG_BODY));
    tls.write_all(&answer)
        .await
        .map_err(|e| format!("Unhandled error when answering {peer}: {e}"))?;
    let _ = tls.shutdown().await;
    Ok(format!(
        "{} {} {} with {}, {client}; {read} bytes read, {} bytes sent",
        stamp(),
        peer,
        facts.version,
        facts.cipher,
        answer.len()
    ))
}

/// Reads until an empty line (CRs ignored), EOF or the cap; returns the bytes read.
async fn read_request<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> std::io::Result<usize> {
    let mut total = 0usize;
    let mut line_len = 0usize;
    let mut chunk = [0u8; 8192];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(total);
        }
        for (i, b) in chunk[..n].iter().enumerate() {
            match b {
                b'\r' => {}
                b'\n' if line_len == 0 => return Ok(total + i + 1),
                b'\n' => line_len = 0,
                _ => line_len += 1,
            }
        }
        total += n;
        if total >= PONG_MAX_REQUEST {
            return Ok(total);
        }
    }
}

async fn bind(port: u16) -> std::io::Result<tokio::net::TcpListener> {
    match tokio::net::TcpListener::bind(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port))
        .await
    {
        Ok(l) => Ok(l),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(e),
        Err(_) => tokio::net::TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], port))).await,
    }
}

pub fn pong(
    port: u16,
    count: Option<u64>,
    instance: Option<&str>,
    out: &mut Out<'_>,
) -> Result<(), CliError> {
    if count == Some(0) {
        return Err(CliError::Invalid("--count must be 1 or more".to_owned()));
    }
    let own = pong_certificate(instance)?;
    let config = tls::server_config(&own).map_err(|e| CliError::Invalid(e.to_string()))?;
    let rt = runtime()?;
    let (ok, failed, stopped) = rt.block_on(async {
        let listener = bind(port).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::AddrInUse {
                CliError::Invalid(format!(
                    "Port {port} is already in use; stop the program on it (tentacle check shows which) or pick another port"
                ))
            } else {
                CliError::Invalid(format!("Could not listen on port {port}: {e}"))
            }
        })?;
        let local = listener.local_addr().map(|a| a.port()).unwrap_or(port);
        out.line(format!(
            "Listening on port {local} with certificate {} (TLS 1.2 and 1.3)",
            own.thumbprint()
        ));
        out.line("Listening, hit Ctrl+C to exit...");
        let (tx, mut rx) = mpsc::unbounded_channel::<Result<String, String>>();
        let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
        let (mut accepted, mut done, mut ok, mut failed) = (0u64, 0u64, 0u64, 0u64);
        let stopped = loop {
            if count.is_some_and(|c| done >= c) {
                break false;
            }
            let accepting = count.is_none_or(|c| accepted < c);
            tokio::select! {
                conn = listener.accept(), if accepting => match conn {
                    Ok((stream, peer)) => {
                        accepted += 1;
                        out.line(format!("{} Accepted TCP client {peer}", stamp()));
                        let (tx, config) = (tx.clone(), config.clone());
                        tokio::spawn(async move {
                            let _ = tx.send(serve(stream, peer, config).await);
                        });
                    }
                    Err(e) => {
                        out.line(format!("{} Accept failed: {e}", stamp()));
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(line) = rx.recv() => {
                    done += 1;
                    match line {
                        Ok(l) => { ok += 1; out.line(l); }
                        Err(l) => { failed += 1; out.line(format!("{} {l}", stamp())); }
                    }
                }
                _ = &mut ctrl_c => break true,
            }
        };
        Ok::<_, CliError>((ok, failed, stopped))
    })?;
    rt.shutdown_timeout(Duration::from_millis(200));
    out.line(format!(
        "{}Done: {ok} connections answered, {failed} failed.",
        if stopped { "Stopped. " } else { "" }
    ));
    Ok(())
}
