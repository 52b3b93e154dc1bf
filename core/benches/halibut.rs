//! `cargo bench -p tentacle-core --bench halibut`: Halibut over loopback, each figure next to a baseline measured in the same run.
//!
//! Prints: warm RPC round trip (p50/p90/p99), a new connection including the TLS handshake
//! and identity exchange, DataStream upload throughput as a ratio to raw rustls throughput,
//! and the acceptor's memory per idle polling connection with 1,000 connections held.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bson::Bson;
use tentacle_core::certificate::{TentacleCertificate, generate};
use tentacle_core::halibut::client::{Endpoint, HalibutClient};
use tentacle_core::halibut::connection::{
    Connection, Limits, OutgoingStream, ReceivedStream, Timeouts,
};
use tentacle_core::halibut::dial::{Address, dial};
use tentacle_core::halibut::frame::Identity;
use tentacle_core::halibut::listen::{Acceptor, TrustedPeers};
use tentacle_core::halibut::poll::{Backoff, LinkState, Subscriber};
use tentacle_core::halibut::queue::PollingQueues;
use tentacle_core::halibut::rpc::{BoxFuture, Reply, Service, ServiceError, ServiceTable};
use tentacle_core::halibut::{tls, welcome};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

const SUBSCRIBER_ROLE: &str = "TENTACLE_BENCH_SUBSCRIBERS";
const IDLE_CONNECTIONS: usize = 1000;
const UPLOAD_BYTES: usize = 128 * 1024 * 1024;

struct Bench;

impl Service for Bench {
    fn name(&self) -> &str {
        "IBench"
    }
    fn call<'a>(
        &'a self,
        method: &'a str,
        params: Vec<Bson>,
        streams: Vec<ReceivedStream>,
    ) -> BoxFuture<'a, Result<Reply, ServiceError>> {
        Box::pin(async move {
            match method {
                "Echo" => Ok(Reply::value(
                    params.into_iter().next().unwrap_or(Bson::Null),
                )),
                "Sink" => Ok(Reply::value(Bson::Int64(
                    streams.iter().map(|s| s.length as i64).sum(),
                ))),
                _ => Err(ServiceError::MethodNotFound),
            }
        })
    }
}

fn table() -> Arc<ServiceTable> {
    let mut t = ServiceTable::new();
    t.register(Arc::new(Bench));
    Arc::new(t)
}

async fn acceptor(
    own: &TentacleCertificate,
    trusted: &TentacleCertificate,
) -> (u16, Arc<Acceptor>, watch::Sender<bool>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let a = Arc::new(Acceptor {
        tls: tls::server_config(own).unwrap(),
        trusted: TrustedPeers::new([trusted.thumbprint()]),
        services: table(),
        queues: Some(PollingQueues::new()),
        timeouts: Timeouts::default(),
        limits: Limits::default(),
        max_connections: IDLE_CONNECTIONS + 100,
        welcome: Arc::new(welcome::response()),
        accepted: Arc::new(AtomicUsize::new(0)),
        contacts: Default::default(),
    });
    let (stop, rx) = watch::channel(false);
    tokio::spawn(a.clone().run(listener, rx));
    (port, a, stop)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn micros(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

async fn rpc_round_trip(server: &TentacleCertificate, tentacle: &TentacleCertificate) {
    let (port, _a, _stop) = acceptor(tentacle, server).await;
    let client = HalibutClient::new(server.clone());
    let ep = Endpoint {
        base_uri: format!("https://127.0.0.1:{port}/"),
        thumbprint: tentacle.thumbprint(),
    };
    for _ in 0..300 {
        client
            .call(
                &ep,
                "IBench",
                "Echo",
                vec![Bson::String("warm".into())],
                vec![],
            )
            .await
            .unwrap();
    }
    let mut samples = Vec::with_capacity(5000);
    for i in 0..5000 {
        let t = Instant::now();
        client
            .call(&ep, "IBench", "Echo", vec![Bson::Int64(i)], vec![])
            .await
            .unwrap();
        samples.push(t.elapsed());
    }
    samples.sort();
    println!(
        "warm RPC round trip (listening, pooled connection, 5000 calls): p50 {}  p90 {}  p99 {}  (target p50 < 200 µs)",
        micros(percentile(&samples, 0.5)),
        micros(percentile(&samples, 0.9)),
        micros(percentile(&samples, 0.99))
    );
}

async fn new_connection(server: &TentacleCertificate, tentacle: &TentacleCertificate) {
    let (port, _a, _stop) = acceptor(tentacle, server).await;
    let address = Address::parse(&format!("https://127.0.0.1:{port}/")).unwrap();
    let cfg = tls::client_config(server, &tentacle.thumbprint()).unwrap();
    let mut samples = Vec::new();
    for _ in 0..300 {
        let t = Instant::now();
        let (stream, _) = dial(
            &address,
            cfg.clone(),
            None,
            Duration::from_secs(5),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        let mut conn = Connection::new(stream, Limits::default());
        conn.send_preamble().await.unwrap();
        conn.send_identity(&Identity::Client).await.unwrap();
        assert_eq!(
            conn.read_identity(Duration::from_secs(5)).await.unwrap(),
            Identity::Server
        );
        samples.push(t.elapsed());
        conn.close().await;
    }
    samples.sort();
    println!(
        "new connection (TCP + TLS 1.3 mutual handshake + MX identity exchange, 300 runs): p50 {}  p90 {}  (target < 5 ms)",
        micros(percentile(&samples, 0.5)),
        micros(percentile(&samples, 0.9))
    );
}

/// Raw rustls over loopback, same certificates and chunking: the baseline for throughput.
async fn raw_tls_throughput(server: &TentacleCertificate, tentacle: &TentacleCertificate) -> f64 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server_cfg = tls::server_config(tentacle).unwrap();
    let reader = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut s = tls::accept(tcp, server_cfg, "bench", Duration::from_secs(5))
            .await
            .unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0;
        // Spool to a temp file, as the Halibut receiver does, so both sides do the same work.
        let mut file = tempfile::tempfile().unwrap();
        while total < UPLOAD_BYTES {
            let n = s.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            std::io::Write::write_all(&mut file, &buf[..n]).unwrap();
            total += n;
        }
        s.write_all(b"k").await.unwrap();
        total
    });
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let mut c = tls::connect(
        tcp,
        tls::client_config(server, &tentacle.thumbprint()).unwrap(),
        "127.0.0.1",
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let chunk = vec![7u8; 64 * 1024];
    let t = Instant::now();
    let mut sent = 0;
    while sent < UPLOAD_BYTES {
        c.write_all(&chunk).await.unwrap();
        sent += chunk.len();
    }
    c.flush().await.unwrap();
    let mut ack = [0u8; 1];
    c.read_exact(&mut ack).await.unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(reader.await.unwrap(), UPLOAD_BYTES);
    UPLOAD_BYTES as f64 / secs
}

async fn datastream_throughput(
    server: &TentacleCertificate,
    tentacle: &TentacleCertificate,
) -> f64 {
    let (port, _a, _stop) = acceptor(tentacle, server).await;
    let client = HalibutClient::new(server.clone());
    let ep = Endpoint {
        base_uri: format!("https://127.0.0.1:{port}/"),
        thumbprint: tentacle.thumbprint(),
    };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("upload.bin");
    std::fs::write(&src, vec![7u8; UPLOAD_BYTES]).unwrap();
    client
        .call(&ep, "IBench", "Echo", vec![], vec![])
        .await
        .unwrap();
    let (stream, placeholder) = OutgoingStream::file(&src).unwrap();
    let t = Instant::now();
    let (r, _) = client
        .call(
            &ep,
            "IBench",
            "Sink",
            vec![placeholder.to_bson_typed()],
            vec![stream],
        )
        .await
        .unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(r, Some(Bson::Int64(UPLOAD_BYTES as i64)));
    UPLOAD_BYTES as f64 / secs
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn raise_fd_limit() {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{Resource, getrlimit, setrlimit};
        let mut l = getrlimit(Resource::Nofile);
        l.current = l.maximum;
        let _ = setrlimit(Resource::Nofile, l);
    }
}

async fn idle_polling_memory(server: &TentacleCertificate, tentacle: &TentacleCertificate) {
    raise_fd_limit();
    let (port, a, _stop) = acceptor(server, tentacle).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("server.pem"), server.to_pem().as_bytes()).unwrap();
    std::fs::write(
        dir.path().join("tentacle.pem"),
        tentacle.to_pem().as_bytes(),
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = rss_bytes();
    // The subscribers live in a child process so only the acceptor's memory is counted here.
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .env(SUBSCRIBER_ROLE, format!("{port}:{}", dir.path().display()))
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut line = [0u8; 5];
    tokio::time::timeout(Duration::from_secs(120), out.read_exact(&mut line))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&line, b"READY");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = rss_bytes();
    let accepted = a.accepted.load(Ordering::Relaxed);
    println!(
        "idle polling connections: {accepted} held by the acceptor; its RSS grew {:.1} MiB → {:.1} KiB per connection (TLS state, buffers, task)",
        (after.saturating_sub(before)) as f64 / 1048576.0,
        (after.saturating_sub(before)) as f64 / accepted.max(1) as f64 / 1024.0
    );
    let _ = child.kill().await;
}

/// The child side of [`idle_polling_memory`]: opens the subscribers and says READY once all are connected.
async fn run_subscribers(spec: String) {
    raise_fd_limit();
    let (port, dir) = spec.split_once(':').unwrap();
    let server =
        TentacleCertificate::from_pem(&std::fs::read(format!("{dir}/server.pem")).unwrap())
            .unwrap();
    let tentacle =
        TentacleCertificate::from_pem(&std::fs::read(format!("{dir}/tentacle.pem")).unwrap())
            .unwrap();
    let cfg = tls::client_config(&tentacle, &server.thumbprint()).unwrap();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut states = Vec::new();
    for i in 0..IDLE_CONNECTIONS {
        let sub = Arc::new(Subscriber {
            address: Address::parse(&format!("https://127.0.0.1:{port}/")).unwrap(),
            subscription: format!("poll://bench{i}/"),
            tls: cfg.clone(),
            proxy: None,
            services: table(),
            timeouts: Timeouts::default(),
            limits: Limits::default(),
            backoff: Backoff::default(),
            connect_timeout: Duration::from_secs(30),
        });
        let (tx, rx) = watch::channel(LinkState::Connecting);
        tokio::spawn(sub.run(tx, stop_rx.clone()));
        states.push(rx);
        if i % 50 == 49 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    for s in &mut states {
        let _ = s
            .wait_for(|v| matches!(v, LinkState::Connected { .. }))
            .await;
    }
    let mut stdout = tokio::io::stdout();
    stdout.write_all(b"READY").await.unwrap();
    stdout.flush().await.unwrap();
    tokio::time::sleep(Duration::from_secs(600)).await;
    drop(stop_tx);
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if let Ok(spec) = std::env::var(SUBSCRIBER_ROLE) {
        rt.block_on(run_subscribers(spec));
        return;
    }
    // `cargo test --benches` runs bench targets with --bench absent; only measure under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        println!("halibut bench: run with `cargo bench -p tentacle-core --bench halibut`");
        return;
    }
    rt.block_on(async {
        let server = generate().unwrap();
        let tentacle = generate().unwrap();
        rpc_round_trip(&server, &tentacle).await;
        new_connection(&server, &tentacle).await;
        let raw = raw_tls_throughput(&server, &tentacle).await;
        let ours = datastream_throughput(&server, &tentacle).await;
        println!(
            "DataStream upload, {} MiB file → temp file: {:.0} MiB/s; raw rustls over loopback, same bytes: {:.0} MiB/s; ratio {:.2} (target ≥ 0.7)",
            UPLOAD_BYTES >> 20,
            ours / 1048576.0,
            raw / 1048576.0,
            ours / raw
        );
        idle_polling_memory(&server, &tentacle).await;
    });
}
