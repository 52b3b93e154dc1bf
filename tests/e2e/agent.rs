//! The built `tentacle agent` against the Octopus Server simulator: listening, polling over TCP, through tinyproxy and over WebSockets, two servers, restarts and untrusted servers.

use std::time::Duration;

use tentacle_core::halibut::client::Endpoint;
use tentacle_core::trust::Thumbprint;
use tentacle_tests::simulator::{Octopus, Target};
use tentacle_tests::{AgentProcess, Sandbox, free_port};

const WAIT: Duration = Duration::from_secs(30);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .expect("step took more than 60 s")
}

/// Configures the default instance to listen on a free port trusting `octopus`, starts the
/// agent, waits until it listens, and returns it with the target the simulator calls.
fn listening_agent(
    s: &Sandbox,
    octopus: &Octopus,
    tentacle: &Thumbprint,
) -> (AgentProcess, Target) {
    let port = free_port();
    s.run([
        "configure",
        "--port",
        &port.to_string(),
        "--trust",
        octopus.cert.thumbprint().as_str(),
    ])
    .ok();
    let agent = AgentProcess::start(s, "Tentacle");
    agent.wait_status(WAIT, |v| v["listening_on"].is_string());
    let target = Target::Listening(Endpoint {
        base_uri: format!("https://127.0.0.1:{port}/"),
        thumbprint: tentacle.clone(),
    });
    (agent, target)
}

fn thumbprint_of(s: &Sandbox, instance: &str) -> Thumbprint {
    s.run(["new-certificate", "--instance", instance, "--if-blank"])
        .ok();
    Thumbprint::parse(
        &s.run(["show-thumbprint", "--instance", instance])
            .ok()
            .stdout,
    )
    .unwrap()
}

fn subscription_of(s: &Sandbox, instance: &str, index: usize) -> String {
    let doc: serde_json::Value = serde_json::from_str(
        &s.run(["show-configuration", "--instance", instance])
            .ok()
            .stdout,
    )
    .unwrap();
    doc["Tentacle"]["Communication"]["TrustedOctopusServers"][index]["SubscriptionId"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Health check, a script, an upload and a download, as Octopus would do them.
async fn exercise(octopus: &Octopus, target: &Target, home: &std::path::Path) {
    let caps = within(octopus.capabilities(target)).await.unwrap();
    assert_eq!(
        caps,
        ["IScriptService", "IFileTransferService", "IScriptServiceV2"]
    );
    let run = within(octopus.run_script(
        target,
        "echo hello from $TentacleInstanceName; echo oops >&2; exit 3",
        &format!("ServerTasks-{}", rand::random::<u32>()),
    ))
    .await
    .unwrap();
    assert_eq!(run.exit_code, 3, "{run:?}");
    assert!(
        run.lines.iter().any(|l| l == "hello from Tentacle"),
        "{run:?}"
    );
    assert!(run.lines.iter().any(|l| l == "oops"), "{run:?}");
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    let target_path = home.join("Files").join("upload.bin");
    let result = within(octopus.upload(target, target_path.to_str().unwrap(), data.clone()))
        .await
        .unwrap();
    assert_eq!(result.get_i64("Length").unwrap(), data.len() as i64);
    let back = within(octopus.download(target, target_path.to_str().unwrap()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back, data);
    assert_eq!(
        within(octopus.download(target, home.join("missing.bin").to_str().unwrap()))
            .await
            .unwrap(),
        None
    );
}

#[test]
fn listening_agent_serves_the_simulator_and_refuses_strangers() {
    let s = Sandbox::new();
    s.sh("create-instance").ok();
    let tentacle = thumbprint_of(&s, "Tentacle");
    let rt = runtime();
    rt.block_on(async {
        let octopus = Octopus::start().await;
        let stranger = Octopus::start().await;
        let (agent, target) = listening_agent(&s, &octopus, &tentacle);
        exercise(&octopus, &target, &agent.home).await;
        // An untrusted server is closed on before anything runs.
        let marker = agent.home.join("should-not-exist");
        let e = within(stranger.run_script(
            &target,
            &format!("touch {}", marker.display()),
            "ServerTasks-9",
        ))
        .await
        .unwrap_err();
        assert!(e.to_string().contains("does not trust"), "{e}");
        assert!(!marker.exists());
        let status = agent.wait_status(WAIT, |v| v["servers"][0]["last_contact"].is_u64());
        assert_eq!(status["mode"], "listening");
    });
}

#[test]
fn polling_agent_over_tcp_and_websocket_and_two_servers() {
    let s = Sandbox::new();
    s.sh("create-instance").ok();
    let tentacle = thumbprint_of(&s, "Tentacle");
    let rt = runtime();
    rt.block_on(async {
        let tcp = Octopus::start().await;
        let ws = Octopus::start().await;
        tcp.trust(tentacle.clone());
        ws.trust(tentacle.clone());
        s.run([
            "configure",
            "--noListen",
            "true",
            "--trust",
            tcp.cert.thumbprint().as_str(),
            "--trust",
            ws.cert.thumbprint().as_str(),
        ])
        .ok();
        s.run([
            "server-comms",
            "--thumbprint",
            tcp.cert.thumbprint().as_str(),
            "--style",
            "TentacleActive",
            "--host",
            "127.0.0.1",
            "--port",
            &tcp.polling_port.to_string(),
        ])
        .ok();
        s.run([
            "server-comms",
            "--thumbprint",
            ws.cert.thumbprint().as_str(),
            "--web-socket",
            &format!("wss://127.0.0.1:{}/OctopusComms", ws.websocket_port),
        ])
        .ok();
        let agent = AgentProcess::start(&s, "Tentacle");
        let status = agent.wait_status(WAIT, |v| {
            v["servers"]
                .as_array()
                .is_some_and(|a| a.len() == 2 && a.iter().all(|s| s["link"] == "connected"))
        });
        assert_eq!(status["mode"], "polling");
        exercise(
            &tcp,
            &Target::Polling(subscription_of(&s, "Tentacle", 0)),
            &agent.home,
        )
        .await;
        exercise(
            &ws,
            &Target::Polling(subscription_of(&s, "Tentacle", 1)),
            &agent.home,
        )
        .await;
    });
}

#[test]
fn polling_through_tinyproxy() {
    let s = Sandbox::new();
    s.sh("create-instance").ok();
    let tentacle = thumbprint_of(&s, "Tentacle");
    let rt = runtime();
    rt.block_on(async {
        let octopus = Octopus::start().await;
        octopus.trust(tentacle.clone());
        let proxy = tentacle_tests::Tinyproxy::start(octopus.polling_port);
        s.run([
            "configure",
            "--noListen",
            "true",
            "--trust",
            octopus.cert.thumbprint().as_str(),
        ])
        .ok();
        s.run([
            "server-comms",
            "--style",
            "TentacleActive",
            "--host",
            "127.0.0.1",
            "--port",
            &octopus.polling_port.to_string(),
        ])
        .ok();
        s.run([
            "polling-proxy",
            "--proxyEnable",
            "true",
            "--proxyHost",
            "127.0.0.1",
            "--proxyPort",
            &proxy.port.to_string(),
        ])
        .ok();
        let agent = AgentProcess::start(&s, "Tentacle");
        agent.wait_status(WAIT, |v| v["servers"][0]["link"] == "connected");
        exercise(
            &octopus,
            &Target::Polling(subscription_of(&s, "Tentacle", 0)),
            &agent.home,
        )
        .await;
        assert!(proxy.log().contains("CONNECT"), "{}", proxy.log());
    });
}

#[test]
fn agent_reconnects_after_the_server_restarts_and_runs_each_request_once() {
    let s = Sandbox::new();
    s.sh("create-instance").ok();
    let tentacle = thumbprint_of(&s, "Tentacle");
    let rt = runtime();
    rt.block_on(async {
        let octopus = Octopus::start().await;
        octopus.trust(tentacle.clone());
        let port = octopus.polling_port;
        let cert = octopus.cert.clone();
        s.run([
            "configure",
            "--noListen",
            "true",
            "--trust",
            cert.thumbprint().as_str(),
        ])
        .ok();
        s.run([
            "server-comms",
            "--style",
            "TentacleActive",
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
        ])
        .ok();
        let agent = AgentProcess::start(&s, "Tentacle");
        agent.wait_status(WAIT, |v| v["servers"][0]["link"] == "connected");
        let sub = Target::Polling(subscription_of(&s, "Tentacle", 0));
        let counter = agent.home.join("count.txt");
        let script = format!("echo run >> {}", counter.display());
        within(octopus.run_script(&sub, &script, "ServerTasks-1"))
            .await
            .unwrap();
        octopus.stop();
        drop(octopus);
        agent.wait_status(WAIT, |v| v["servers"][0]["link"] != "connected");
        let restarted = Octopus::start_with(cert, port).await;
        restarted.trust(tentacle.clone());
        let t = std::time::Instant::now();
        agent.wait_status(WAIT, |v| v["servers"][0]["link"] == "connected");
        // The first retry comes after 5 s plus up to 50 % jitter.
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "reconnected after {:?}",
            t.elapsed()
        );
        within(restarted.run_script(&sub, &script, "ServerTasks-2"))
            .await
            .unwrap();
        let runs = std::fs::read_to_string(&counter).unwrap();
        assert_eq!(
            runs.lines().count(),
            2,
            "each request ran exactly once: {runs}"
        );
    });
}

#[test]
fn polling_through_an_nginx_stream_proxy_survives_a_cut_mid_script() {
    let s = Sandbox::new();
    s.sh("create-instance").ok();
    let tentacle = thumbprint_of(&s, "Tentacle");
    let rt = runtime();
    rt.block_on(async {
        let octopus = Octopus::start().await;
        octopus.trust(tentacle.clone());
        let mut nginx = tentacle_tests::Nginx::start(0, octopus.polling_port);
        // As seed 003: the comms address is a host name on a 443-style port in front of the server.
        s.run([
            "configure",
            "--noListen",
            "true",
            "--trust",
            octopus.cert.thumbprint().as_str(),
        ])
        .ok();
        s.run([
            "server-comms",
            "--style",
            "TentacleActive",
            "--host",
            "localhost",
            "--port",
            &nginx.port.to_string(),
        ])
        .ok();
        let agent = AgentProcess::start(&s, "Tentacle");
        agent.wait_status(WAIT, |v| v["servers"][0]["link"] == "connected");
        let sub = Target::Polling(subscription_of(&s, "Tentacle", 0));
        exercise(&octopus, &sub, &agent.home).await;

        // A script that outlives the connection: start it, cut every connection, reconnect, collect.
        let script = "for i in 1 2 3 4 5 6; do echo line $i; sleep 0.5; done; exit 7";
        let (ticket, first) = within(octopus.start_script(&sub, script, "ServerTasks-cut"))
            .await
            .unwrap();
        nginx.stop();
        agent.wait_status(WAIT, |v| v["servers"][0]["link"] != "connected");
        nginx.restart();
        agent.wait_status(WAIT, |v| v["servers"][0]["link"] == "connected");
        let run = within(octopus.finish_script(&sub, &ticket, first, Vec::new()))
            .await
            .unwrap();
        assert_eq!(run.exit_code, 7, "{run:?}");
        let expected: Vec<String> = (1..=6).map(|i| format!("line {i}")).collect();
        let got: Vec<String> = run
            .lines
            .iter()
            .filter(|l| l.starts_with("line "))
            .cloned()
            .collect();
        assert_eq!(got, expected, "every line, once, in order");
    });
}

#[test]
fn transfers_reach_any_folder_as_tentacle_but_never_the_private_key() {
    let s = Sandbox::new();
    s.sh("create-instance").ok();
    let tentacle = thumbprint_of(&s, "Tentacle");
    let rt = runtime();
    rt.block_on(async {
        let octopus = Octopus::start().await;
        let (agent, target) = listening_agent(&s, &octopus, &tentacle);
        // An operator's folder outside the home, reached directly and through `..`.
        let outside = tempfile::tempdir().unwrap();
        let artifact = outside.path().join("drop").join("package.zip");
        let data = b"a package sent to an operator-chosen folder".to_vec();
        let result = within(octopus.upload(&target, artifact.to_str().unwrap(), data.clone()))
            .await
            .unwrap();
        assert_eq!(
            result.get_str("FullPath").unwrap(),
            artifact.to_str().unwrap()
        );
        assert_eq!(std::fs::read(&artifact).unwrap(), data);
        let traversal = format!("{}/../beside-home.txt", agent.home.display());
        within(octopus.upload(&target, &traversal, b"beside".to_vec()))
            .await
            .unwrap();
        assert!(s.root().join("beside-home.txt").is_file());
        // Collecting an artifact a script left in another folder.
        let report = outside.path().join("report.txt");
        std::fs::write(&report, b"collected").unwrap();
        let back = within(octopus.download(&target, report.to_str().unwrap()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(back, b"collected");
        // The private key is neither downloadable nor replaceable, and the error says why.
        let key = std::fs::read_dir(s.root().join("Tentacle/certificates"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let before = std::fs::read(&key).unwrap();
        let e = within(octopus.download(&target, key.to_str().unwrap()))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("private key"), "{e}");
        let e = within(octopus.upload(&target, key.to_str().unwrap(), b"evil".to_vec()))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("private key"), "{e}");
        assert_eq!(std::fs::read(&key).unwrap(), before);
        let config = s.root().join("Tentacle/tentacle.toml");
        assert!(
            within(octopus.download(&target, config.to_str().unwrap()))
                .await
                .is_err()
        );
    });
}

#[cfg(unix)]
#[test]
fn sigterm_lets_a_running_script_finish_then_exits_cleanly() {
    let s = Sandbox::new();
    s.sh("create-instance").ok();
    let tentacle = thumbprint_of(&s, "Tentacle");
    let rt = runtime();
    rt.block_on(async {
        let octopus = Octopus::start().await;
        let (mut agent, target) = listening_agent(&s, &octopus, &tentacle);
        let marker = agent.home.join("finished.txt");
        within(octopus.start_script(
            &target,
            &format!("sleep 2; echo done > {}", marker.display()),
            "ServerTasks-term",
        ))
        .await
        .unwrap();
        agent.wait_status(WAIT, |v| v["running_scripts"] == 1);
        let code = agent.terminate(Duration::from_secs(20));
        assert_eq!(code, Some(0), "clean exit: {}", agent.output());
        assert!(
            marker.exists(),
            "the script finished within the grace period"
        );
        let status: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(agent.home.join("status.json")).unwrap())
                .unwrap();
        assert_eq!(status["running"], false);
        assert!(
            agent.output().contains("waiting for running scripts"),
            "{}",
            agent.output()
        );
    });
}

/// Unmounts on drop, so a failing test never leaves a mount behind.
struct Tmpfs(std::path::PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[cfg(target_os = "linux")]
#[test]
fn upload_onto_a_full_disk_fails_clearly_and_leaves_nothing() {
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    if !root {
        eprintln!(
            "skipped: mounting a small tmpfs needs root (cargo xtask test runs as root in CI)"
        );
        return;
    }
    let s = Sandbox::new();
    s.sh("create-instance").ok();
    let tentacle = thumbprint_of(&s, "Tentacle");
    let small = s.root().join("Tentacle").join("Small");
    std::fs::create_dir_all(&small).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&small)
        .status()
        .unwrap();
    assert!(mounted.success(), "mount a 2 MiB tmpfs");
    let _guard = Tmpfs(small.clone());
    let rt = runtime();
    rt.block_on(async {
        let octopus = Octopus::start().await;
        let (_agent, target) = listening_agent(&s, &octopus, &tentacle);
        let dest = small.join("big.bin");
        let e = within(octopus.upload(&target, dest.to_str().unwrap(), vec![1u8; 4 * 1024 * 1024]))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("space") || e.contains("disk"), "{e}");
        let left: Vec<_> = std::fs::read_dir(&small)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(left.is_empty(), "no partial or temp file: {left:?}");
        // A file that fits still goes through.
        let ok = within(octopus.upload(
            &target,
            small.join("fits.bin").to_str().unwrap(),
            vec![2u8; 100_000],
        ))
        .await
        .unwrap();
        assert_eq!(ok.get_i64("Length").unwrap(), 100_000);
    });
}
