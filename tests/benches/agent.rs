//! `cargo build --release -p tentacle-core --bin tentacle && cargo bench -p tentacle-tests --bench agent`:
//! the built agent measured as an operator would notice it.
//!
//! Prints: start until the listening port accepts, idle RSS, an echo script's round trip in
//! listening mode over loopback (median of 30), and a 100 MB upload's throughput.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use tentacle_core::halibut::client::Endpoint;
use tentacle_core::trust::Thumbprint;
use tentacle_tests::simulator::{Octopus, Target};
use tentacle_tests::{Sandbox, free_port};

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("VmRSS:")
                .map(|v| v.trim().trim_end_matches(" kB").trim().parse().unwrap_or(0))
        })
        .unwrap_or(0)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("agent bench: run with `cargo bench -p tentacle-tests --bench agent`");
        return;
    }
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

        let mut starts = Vec::new();
        for _ in 0..10 {
            let t = Instant::now();
            let mut child = s.command(["agent"]).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                std::thread::sleep(Duration::from_micros(200));
                assert!(t.elapsed() < Duration::from_secs(10), "the agent did not start listening");
            }
            starts.push(t.elapsed());
            let _ = child.kill();
            let _ = child.wait();
        }
        starts.sort();
        println!("start until listening (10 runs): median {:.1} ms (target < 50 ms)", starts[5].as_secs_f64() * 1e3);

        let mut agent = s.command(["agent"]).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            std::thread::sleep(Duration::from_millis(5));
        }
        let target = Target::Listening(Endpoint {
            base_uri: format!("https://127.0.0.1:{port}/"),
            thumbprint: tentacle,
        });
        octopus.capabilities(&target).await.unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        println!("idle agent RSS after a health check: {:.1} MB (target ≤ 15 MB)", rss_kib(agent.id()) as f64 / 1024.0);

        let mut rounds = Vec::new();
        for i in 0..30 {
            let t = Instant::now();
            let run = octopus.run_script(&target, "echo hello", &format!("ServerTasks-{i}")).await.unwrap();
            rounds.push(t.elapsed());
            assert_eq!(run.lines.iter().filter(|l| *l == "hello").count(), 1);
        }
        rounds.sort();
        println!(
            "echo script round trip, listening, loopback (StartScript, GetStatus until complete, CompleteScript; 30 runs): median {:.1} ms, p90 {:.1} ms",
            rounds[15].as_secs_f64() * 1e3,
            rounds[27].as_secs_f64() * 1e3
        );

        let data = vec![0x5au8; 100 * 1024 * 1024];
        let dest = s.root().join("Tentacle").join("Files").join("big.bin");
        let t = Instant::now();
        let r = octopus.upload(&target, dest.to_str().unwrap(), data).await.unwrap();
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(r.get_i64("Length").unwrap(), 100 * 1024 * 1024);
        println!("100 MB upload to the listening agent: {:.0} MB/s ({:.2} s, hashed and placed atomically)", 100.0 / secs, secs);
        println!("agent RSS after the upload: {:.1} MB", rss_kib(agent.id()) as f64 / 1024.0);
        let _ = agent.kill();
        let _ = agent.wait();
    });
}
