//! A listening agent under a connection flood (issue 12): hundreds of idle TCP connections and TLS clients without a certificate streaming CR or junk, while the simulator as a trusted server still gets a health check and a script through, memory stays bounded and the log holds a few summary lines.

use std::time::{Duration, Instant};

use tentacle_core::halibut::client::Endpoint;
use tentacle_core::trust::Thumbprint;
use tentacle_tests::flood::{Flood, RssSampler, ensure_fd_limit};
use tentacle_tests::simulator::{Octopus, Target};
use tentacle_tests::{AgentProcess, Sandbox, free_port};

const IDLE: usize = 600;
const RSS_CAP_KIB: u64 = 64 * 1024;

#[test]
fn a_flood_of_strangers_cannot_lock_out_the_trusted_server() {
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
        s.run([
            "configure",
            "--port",
            &port.to_string(),
            "--trust",
            octopus.cert.thumbprint().as_str(),
        ])
        .ok();
        let agent = AgentProcess::start(&s, "Tentacle");
        agent.wait_status(Duration::from_secs(30), |v| v["listening_on"].is_string());
        let target = Target::Listening(Endpoint {
            base_uri: format!("https://127.0.0.1:{port}/"),
            thumbprint: tentacle,
        });

        let rss = RssSampler::start(agent.child.id());
        let flood = Flood::start(port, IDLE).await;
        // Let the CR and junk streamers get going before the trusted server arrives.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let t = Instant::now();
        let trusted = tokio::time::timeout(Duration::from_secs(5), async {
            let caps = octopus.capabilities(&target).await.unwrap();
            assert!(caps.iter().any(|c| c == "IScriptServiceV2"), "{caps:?}");
            let run = octopus
                .run_script(&target, "echo still here", "ServerTasks-flood")
                .await
                .unwrap();
            assert_eq!(run.exit_code, 0, "{run:?}");
            assert!(run.lines.iter().any(|l| l == "still here"), "{run:?}");
        })
        .await;
        let took = t.elapsed();
        // Keep the flood up a little longer, so memory is watched past the trusted calls.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let streamed = flood.stop().await;
        let peak = rss.stop();
        assert!(
            trusted.is_ok(),
            "the trusted server's health check and script did not finish within 5 s of the flood ({took:?}); agent output:\n{}",
            agent.output()
        );
        assert!(
            peak < RSS_CAP_KIB,
            "the agent's RSS reached {peak} KiB under the flood (cap {RSS_CAP_KIB} KiB)"
        );
        assert!(
            streamed > 0,
            "the CR/junk streamers never got a byte in, so the flood tested nothing"
        );

        // The log: a handful of summary lines, not one per connection. The first is written at
        // once; the next (what became of the rest) within the 10 s summary period.
        let logs = agent.home.join("Logs");
        let deadline = Instant::now() + Duration::from_secs(15);
        let summary = |l: &&str| l.contains("Unauthenticated connections");
        let text = loop {
            let mut text = String::new();
            for e in std::fs::read_dir(&logs).unwrap().flatten() {
                text.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
            }
            if text.lines().filter(summary).count() >= 2 || Instant::now() > deadline {
                break text;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let summaries = text.lines().filter(summary).count();
        assert!(
            (2..=5).contains(&summaries),
            "{summaries} summary lines:\n{text}"
        );
        assert!(text.contains("shed to make room"), "{text}");
        assert!(
            text.lines().count() < 40,
            "the flood wrote {} log lines:\n{text}",
            text.lines().count()
        );
        println!(
            "flood: trusted health check + script in {took:?}, peak RSS {peak} KiB, {streamed} junk bytes written\n{text}"
        );
    });
}
