//! The agent as a Windows service under Wine's Service Control Manager: install, start, served to the simulator, stop with the drain, restart, uninstall. Wine's SCM keeps services only while `wineserver -p` runs (the xtask step starts it).

use std::path::Path;
use std::time::{Duration, Instant};

use tentacle_core::halibut::client::Endpoint;
use tentacle_core::trust::Thumbprint;
use tentacle_tests::free_port;
use tentacle_tests::simulator::{Octopus, Target};

use crate::{Run, Wine, run};

const STEP: Duration = Duration::from_secs(60);
const SERVICE: &str = "OctopusDeploy Tentacle: Svc";

fn tentacle(w: &Wine, args: &[&str]) -> Run {
    let mut cmd = w.command(w.bin.join("tentacle.exe"));
    cmd.args(args).env_remove("TENTACLE_CONFIG_ROOT");
    run(cmd, STEP)
}

fn ok(r: Run) -> Run {
    assert_eq!(r.code, Some(0), "command failed: {r:#?}");
    r
}

/// Waits until `sc query` shows `state` (RUNNING, STOPPED).
fn wait_for(w: &Wine, state: &str) {
    let deadline = Instant::now() + STEP;
    loop {
        let mut sc = w.command("sc");
        sc.args(["query", SERVICE]);
        let r = run(sc, Duration::from_secs(30));
        if r.stdout.contains(state) || r.stderr.contains(state) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the service never showed {state}: {r:#?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Every agent log line of the instance, from its Logs folder.
fn logs(home: &Path) -> String {
    let mut all = String::new();
    if let Ok(entries) = std::fs::read_dir(home.join("Logs")) {
        for e in entries.flatten() {
            all.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
        }
    }
    all
}

#[test]
#[ignore = "needs the Wine set-up of `cargo xtask test`"]
fn service_installs_starts_serves_stops_restarts_and_uninstalls() {
    let w = Wine::from_env();
    // Left over only when an earlier run in the same prefix failed half-way.
    let _ = tentacle(&w, &["service", "--instance", "Svc", "--uninstall"]);
    let _ = tentacle(&w, &["delete-instance", "--instance", "Svc"]);
    ok(tentacle(&w, &["create-instance", "--instance", "Svc"]));
    ok(tentacle(
        &w,
        &["new-certificate", "--instance", "Svc", "--if-blank"],
    ));
    let thumb =
        Thumbprint::parse(&ok(tentacle(&w, &["show-thumbprint", "--instance", "Svc"])).stdout)
            .unwrap();
    let doc: serde_json::Value = serde_json::from_str(
        &ok(tentacle(&w, &["show-configuration", "--instance", "Svc"])).stdout,
    )
    .unwrap();
    let home = doc["Octopus"]["Home"].as_str().map(str::to_owned);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let octopus = Octopus::start().await;
        let port = free_port();
        ok(tentacle(
            &w,
            &[
                "configure",
                "--instance",
                "Svc",
                "--port",
                &port.to_string(),
                "--trust",
                octopus.cert.thumbprint().as_str(),
            ],
        ));
        let target = Target::Listening(Endpoint {
            base_uri: format!("https://127.0.0.1:{port}/"),
            thumbprint: thumb.clone(),
        });
        let served = |when: &'static str| {
            let octopus = &octopus;
            let target = &target;
            async move {
                let deadline = Instant::now() + STEP;
                loop {
                    match tokio::time::timeout(
                        Duration::from_secs(20),
                        octopus.capabilities(target),
                    )
                    .await
                    {
                        Ok(Ok(caps)) => {
                            assert!(caps.iter().any(|c| c == "IScriptServiceV2"), "{caps:?}");
                            return;
                        }
                        other => assert!(Instant::now() < deadline, "not served {when}: {other:?}"),
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        };
        let t = Instant::now();
        ok(tentacle(
            &w,
            &["service", "--instance", "Svc", "--install", "--start"],
        ));
        wait_for(&w, "RUNNING");
        served("after --install --start").await;
        println!(
            "wine: service installed, started and served in {:.1} s",
            t.elapsed().as_secs_f64()
        );

        let t = Instant::now();
        ok(tentacle(&w, &["service", "--instance", "Svc", "--stop"]));
        wait_for(&w, "STOPPED");
        println!(
            "wine: service stopped in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        assert!(
            tokio::time::timeout(Duration::from_secs(10), octopus.capabilities(&target))
                .await
                .is_ok_and(|r| r.is_err()),
            "a stopped service still answers"
        );

        let t = Instant::now();
        ok(tentacle(&w, &["service", "--instance", "Svc", "--restart"]));
        wait_for(&w, "RUNNING");
        served("after --restart").await;
        println!(
            "wine: service restarted and served in {:.1} s",
            t.elapsed().as_secs_f64()
        );

        ok(tentacle(
            &w,
            &["service", "--instance", "Svc", "--uninstall"],
        ));
        // Wine's `sc query` prints nothing for a missing service; ask the product instead.
        let deadline = Instant::now() + STEP;
        loop {
            let status = tentacle(&w, &["service", "--instance", "Svc", "--status"]);
            if status.stdout.contains("not installed") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "still installed after --uninstall: {status:#?}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    });
    if let Some(home) = home {
        let linux = home.replace('\\', "/");
        let drive_c = w.prefix.join("drive_c");
        let local = linux
            .strip_prefix("C:/")
            .map(|rest| drive_c.join(rest))
            .unwrap_or_else(|| std::path::PathBuf::from(linux.trim_start_matches("Z:")));
        let text = logs(&local);
        assert!(
            text.contains("stop requested by the Service Control Manager"),
            "the stop was not logged as coming from the SCM (logs in {}):\n{}",
            local.display(),
            text.lines().rev().take(20).collect::<Vec<_>>().join("\n")
        );
    }
}
