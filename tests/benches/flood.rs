//! `cargo build --release -p tentacle-core --bin tentacle && cargo bench -p tentacle-tests --bench flood`:
//! the built agent under a hostile network, each figure a ratio to the same measurement idle, in one run.
//!
//! Prints: a trusted server's new connection (TCP, TLS, identity and one call) under a flood of
//! 600 idle connections plus CR/junk streamers against idle; the agent's RSS under that flood
//! against idle; and a warm connection's round trip while a 1 GiB upload spools against idle.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bson::Bson;
use tentacle_core::halibut::client::{Endpoint, HalibutClient};
use tentacle_core::halibut::connection::OutgoingStream;
use tentacle_core::trust::Thumbprint;
use tentacle_tests::flood::{Flood, RssSampler, ensure_fd_limit, rss_kib};
use tentacle_tests::simulator::{Octopus, Target};
use tentacle_tests::{Sandbox, free_port};

const IDLE: usize = 600;
const UPLOAD: usize = 1 << 30;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Median of `n` new connections (pool closed before each call).
async fn new_connections(octopus: &Octopus, target: &Target, n: usize) -> Duration {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        octopus.client.close_all().await;
        let t = Instant::now();
        octopus.capabilities(target).await.unwrap();
        times.push(t.elapsed());
    }
    median(times)
}

/// Median round trip of a call on a warm pooled connection, sampled until `done` (at least `min` samples).
async fn round_trips(
    client: &HalibutClient,
    ep: &Endpoint,
    min: usize,
    done: &AtomicBool,
) -> (Duration, usize) {
    let mut times = Vec::new();
    while times.len() < min || !done.load(Ordering::Relaxed) {
        let t = Instant::now();
        client
            .call(
                ep,
                "ICapabilitiesServiceV2",
                "GetCapabilities",
                vec![],
                vec![],
            )
            .await
            .unwrap();
        times.push(t.elapsed());
        if done.load(Ordering::Relaxed) && times.len() >= min {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let n = times.len();
    (median(times), n)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("flood bench: run with `cargo bench -p tentacle-tests --bench flood`");
        return;
    }
    ensure_fd_limit(4096);
    let s = Sandbox::new();
    s.sh("create-instance").ok();
    s.sh("new-certificate").ok();
    let tentacle = Thumbprint::parse(&s.sh("show-thumbprint").ok().stdout).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let octopus = Octopus::start().await;
        let port = free_port();
        s.run(["configure", "--port", &port.to_string(), "--trust", octopus.cert.thumbprint().as_str()]).ok();
        let mut agent = s
            .command(["agent"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let pid = agent.id();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            std::thread::sleep(Duration::from_millis(5));
        }
        let ep = Endpoint {
            base_uri: format!("https://127.0.0.1:{port}/"),
            thumbprint: tentacle,
        };
        let target = Target::Listening(ep.clone());
        octopus.capabilities(&target).await.unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;

        // 1. New connections, idle then under the flood.
        let idle_connect = new_connections(&octopus, &target, 30).await;
        let idle_rss = rss_kib(pid);
        let sampler = RssSampler::start(pid);
        let flood = Flood::start(port, IDLE).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let flood_connect = new_connections(&octopus, &target, 30).await;
        let flood_rss = sampler.stop();
        let junk = flood.stop().await;
        println!(
            "trusted server's new connection (TCP + TLS + identity + one call, median of 30): idle {:.2} ms, under a flood of {IDLE} idle connections + 2 CR/junk streamers {:.2} ms; ratio {:.2}",
            idle_connect.as_secs_f64() * 1e3,
            flood_connect.as_secs_f64() * 1e3,
            flood_connect.as_secs_f64() / idle_connect.as_secs_f64()
        );
        println!(
            "agent RSS: idle {:.1} MB, peak under the flood {:.1} MB; ratio {:.2} (cap 64 MB; {:.0} MB of junk written at it)",
            idle_rss as f64 / 1024.0,
            flood_rss as f64 / 1024.0,
            flood_rss as f64 / idle_rss.max(1) as f64,
            junk as f64 / 1048576.0
        );
        // Let the shed and timed-out connections drain before the next measurement.
        tokio::time::sleep(Duration::from_secs(2)).await;

        // 2. A warm connection's round trip, idle then while a 1 GiB upload spools.
        let pinger = HalibutClient::new(octopus.cert.clone());
        let never = AtomicBool::new(true);
        let (idle_rtt, _) = round_trips(&pinger, &ep, 50, &never).await;
        let uploader = Arc::new(HalibutClient::new(octopus.cert.clone()));
        let dest = s.root().join("Tentacle").join("Files").join("big.bin");
        let done = Arc::new(AtomicBool::new(false));
        let upload = {
            let (uploader, ep, done) = (uploader.clone(), ep.clone(), done.clone());
            let dest = dest.to_str().unwrap().to_owned();
            tokio::spawn(async move {
                let (stream, placeholder) = OutgoingStream::bytes(vec![0x5a; UPLOAD]);
                let t = Instant::now();
                let r = uploader
                    .call(&ep, "IFileTransferService", "UploadFile", vec![Bson::String(dest), placeholder.to_bson_typed()], vec![stream])
                    .await;
                done.store(true, Ordering::Relaxed);
                (r.map(|_| ()), t.elapsed())
            })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (busy_rtt, samples) = round_trips(&pinger, &ep, 20, &done).await;
        let (result, upload_took) = upload.await.unwrap();
        result.unwrap();
        println!(
            "warm connection round trip (GetCapabilities): idle {:.2} ms, while a 1 GiB upload spools {:.2} ms ({samples} samples over {:.1} s); ratio {:.2}",
            idle_rtt.as_secs_f64() * 1e3,
            busy_rtt.as_secs_f64() * 1e3,
            upload_took.as_secs_f64(),
            busy_rtt.as_secs_f64() / idle_rtt.as_secs_f64()
        );
        let _ = std::fs::remove_file(&dest);
        let _ = agent.kill();
        let _ = agent.wait();
    });
}
