//! What Octopus Server sees of the agent: the Tentacle version scripts report, and its "Upgrade Tentacle" refused without touching the agent.

use std::time::Duration;

use tentacle_core::halibut::client::Endpoint;
use tentacle_core::trust::Thumbprint;
use tentacle_tests::simulator::{Octopus, ScriptRun, Target};
use tentacle_tests::{AgentProcess, Sandbox, free_port};

const WAIT: Duration = Duration::from_secs(30);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A listening default instance trusting `octopus`, running; and the target to call it.
fn listening(s: &Sandbox, octopus: &Octopus) -> (AgentProcess, Target) {
    s.sh("new-certificate --if-blank").ok();
    let tentacle = Thumbprint::parse(&s.sh("show-thumbprint").ok().stdout).unwrap();
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
        thumbprint: tentacle,
    });
    (agent, target)
}

async fn run(octopus: &Octopus, target: &Target, script: &str) -> ScriptRun {
    tokio::time::timeout(
        Duration::from_secs(60),
        octopus.run_script(
            target,
            script,
            &format!("ServerTasks-{}", rand::random::<u32>()),
        ),
    )
    .await
    .expect("script within 60 s")
    .unwrap()
}

fn major(v: &str) -> u64 {
    v.split('.').next().unwrap().parse().unwrap()
}

#[test]
fn a_trusted_servers_script_sees_a_current_tentacle_version_and_the_override() {
    let s = Sandbox::new();
    s.sh("create-instance").ok();
    let rt = runtime();
    rt.block_on(async {
        let octopus = Octopus::start().await;
        let (mut agent, target) = listening(&s, &octopus);
        let r = run(&octopus, &target, "echo \"v=$TentacleVersion\"").await;
        assert_eq!(r.exit_code, 0, "{r:?}");
        let seen = r
            .lines
            .iter()
            .find_map(|l| l.strip_prefix("v="))
            .unwrap()
            .to_owned();
        assert!(major(&seen) >= 8, "the server saw TentacleVersion={seen}");
        assert_eq!(seen, tentacle_core::version::DEFAULT_REPORTED_VERSION);
        // `tentacle version` shows it first and our own beside it.
        let v = s.sh("version").ok().stdout;
        assert_eq!(v.lines().next(), Some(seen.as_str()), "{v}");
        assert!(v.contains(tentacle_core::VERSION), "{v}");

        // An operator matches their server's bundled Tentacle; bad values change nothing.
        s.sh("configure --reported-version 0.1.0")
            .fails(1, "older than Tentacle 3.0");
        s.sh("configure --reported-version latest")
            .fails(1, "is not a Tentacle version");
        s.sh("configure --reported-version 8.3.3407").ok();
        agent.terminate(WAIT);
        let (_agent, target) = listening(&s, &octopus);
        let r = run(&octopus, &target, "echo \"v=$TentacleVersion\"").await;
        assert!(r.lines.iter().any(|l| l == "v=8.3.3407"), "{r:?}");
        let v = s.sh("version --format json").ok().stdout;
        let j: serde_json::Value = serde_json::from_str(&v).unwrap();
        assert_eq!(j["InformationalVersion"], "8.3.3407");
        assert_eq!(j["AgentVersion"], tentacle_core::VERSION);
        s.sh("configure --reported-version default").ok();
        let v = s.sh("version").ok().stdout;
        assert_eq!(
            v.lines().next(),
            Some(tentacle_core::version::DEFAULT_REPORTED_VERSION)
        );
    });
}

#[test]
fn the_servers_tentacle_upgrade_is_refused_and_the_agent_keeps_serving() {
    let s = Sandbox::new();
    s.sh("create-instance").ok();
    let rt = runtime();
    rt.block_on(async {
        let octopus = Octopus::start().await;
        let (agent, target) = listening(&s, &octopus);
        let marker = s.root().join("upgrade-ran");
        // The shape of the server's Linux upgrade: install the bundle's package, else the archive.
        let upgrade = format!(
            "touch '{}'\napt-get install -y ./tentacle_9.9.9999_amd64.deb || tar xzf tentacle-net8.0-linux-x64.tar.gz -C /opt/octopus/tentacle\nsystemctl restart Tentacle",
            marker.display()
        );
        let r = run(&octopus, &target, &upgrade).await;
        assert_eq!(r.exit_code, 1, "{r:?}");
        assert!(!marker.exists(), "the upgrade script ran");
        let text = r.lines.join("\n");
        assert!(text.contains("TentacleUpdateBehavior"), "{text}");
        assert!(text.contains("Tentacle Updates"), "{text}");
        assert!(text.contains("nothing on this machine was changed"), "{text}");
        // The agent still serves ordinary scripts.
        let r = run(&octopus, &target, "echo still here").await;
        assert_eq!(r.exit_code, 0);
        assert!(r.lines.iter().any(|l| l == "still here"), "{r:?}");
        assert!(agent.output().contains("refused Octopus Server's Tentacle upgrade"));
    });
}
