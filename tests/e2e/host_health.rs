//! `tentacle livez` against the running agent's real heartbeat (fresh, then aged), and the prerequisites check with a PATH that lacks openssl.

use std::time::Duration;

use tentacle_tests::{AgentProcess, Sandbox, free_port};

#[test]
fn livez_follows_the_agents_heartbeat() {
    let s = Sandbox::new();
    s.sh("create-instance").ok();
    s.run(["configure", "--port", &free_port().to_string()])
        .ok();
    // No agent has run: missing, one line, exit 1.
    s.sh("livez").fails(1, "not found");
    let mut agent = AgentProcess::start(&s, "Tentacle");
    agent.wait_status(Duration::from_secs(30), |v| v["listening_on"].is_string());
    let heartbeat = s.root().join("Tentacle").join("livez.heartbeat");
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !heartbeat.exists() {
        assert!(std::time::Instant::now() < deadline, "no heartbeat");
        std::thread::sleep(Duration::from_millis(100));
    }
    let live = s.sh("livez").ok();
    assert!(live.stdout.starts_with("Live:"), "{live:?}");
    assert_eq!(live.stdout.lines().count(), 1);

    // The agent dies without cleaning up (SIGKILL), and its last beat is two minutes old.
    let _ = agent.child.kill();
    let _ = agent.child.wait();
    std::fs::File::options()
        .write(true)
        .open(&heartbeat)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - Duration::from_secs(120))
        .unwrap();
    s.sh("livez")
        .fails(1, "is stale: last written 120s ago (threshold 60s)");
    s.sh("livez --max-age 600").ok();
    s.sh("livez --max-age 0")
        .fails(1, "--max-age must be a positive number");
    s.sh("livez --max-age soon")
        .fails(1, "--max-age must be a positive number");
}

#[test]
fn livez_is_removed_on_a_clean_stop() {
    let s = Sandbox::new();
    s.sh("create-instance").ok();
    s.run(["configure", "--port", &free_port().to_string()])
        .ok();
    let mut agent = AgentProcess::start(&s, "Tentacle");
    agent.wait_status(Duration::from_secs(30), |v| v["listening_on"].is_string());
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while s.sh("livez").code != Some(0) {
        assert!(std::time::Instant::now() < deadline, "never live");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(agent.terminate(Duration::from_secs(40)), Some(0));
    s.sh("livez").fails(1, "may not be running");
}

#[cfg(unix)]
#[test]
fn the_prerequisites_check_names_openssl_when_path_lacks_it() {
    let s = Sandbox::new();
    s.sh("create-instance").ok();
    let bin = tempfile::tempdir().unwrap();
    let path = std::env::var_os("PATH").unwrap();
    for tool in ["bash", "base64", "tar", "grep", "mktemp", "xxd", "sh"] {
        let real = std::env::split_paths(&path)
            .map(|d| d.join(tool))
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("{tool} is not installed"));
        std::os::unix::fs::symlink(real, bin.path().join(tool)).unwrap();
    }
    let run = |p: &std::ffi::OsStr| {
        let out = s
            .command(["check", "--json"])
            .env("PATH", p)
            .output()
            .unwrap();
        let report: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
        report["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == "host.prerequisites")
            .cloned()
            .unwrap()
    };
    let without = run(bin.path().as_os_str());
    assert_eq!(without["verdict"], "fail", "{without}");
    assert!(
        without["seen"]
            .as_str()
            .unwrap()
            .contains("Missing: openssl (package openssl)"),
        "{without}"
    );
    let with = run(&path);
    assert_eq!(with["verdict"], "pass", "{with}");
    assert!(
        with["seen"].as_str().unwrap().contains("GNU bash, version"),
        "{with}"
    );
}
