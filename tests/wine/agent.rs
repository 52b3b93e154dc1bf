//! `tentacle.exe agent` under Wine served to the Linux-side simulator: listening over IPv4 and IPv6, polling over TCP and WebSocket, and scripts through the harness's stand-in powershell.exe (the 15 variables, output, exit codes, cancel killing the tree).

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use bson::doc;
use tentacle_core::halibut::client::Endpoint;
use tentacle_core::trust::Thumbprint;
use tentacle_tests::free_port;
use tentacle_tests::simulator::{Octopus, Target};

use crate::{Wine, run, windows_path};

const STEP: Duration = Duration::from_secs(60);

/// The Windows agent, killed on drop.
struct Agent {
    child: Child,
    home: PathBuf,
}

impl Agent {
    fn start(w: &Wine, root: &Path, record: &Path) -> Agent {
        let home = root.join("Tentacle");
        std::fs::create_dir_all(&home).unwrap();
        let log = std::fs::File::create(home.join("agent.out")).unwrap();
        let mut cmd = w.tentacle(root);
        cmd.args(["agent", "--instance", "Tentacle"])
            .env("TENTACLE_STANDIN_RECORD", windows_path(record))
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        Agent {
            child: cmd.spawn().unwrap(),
            home,
        }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(self.home.join("agent.out")).unwrap_or_default()
    }

    fn wait_status(&self, pred: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let deadline = Instant::now() + STEP;
        loop {
            if let Ok(text) = std::fs::read_to_string(self.home.join("status.json"))
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
                && pred(&v)
            {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "status never matched:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tentacle_ok(w: &Wine, root: &Path, args: &[&str]) -> String {
    let mut cmd = w.tentacle(root);
    cmd.args(args).stdin(Stdio::null());
    let r = run(cmd, STEP);
    assert_eq!(r.code, Some(0), "tentacle {args:?} failed: {r:#?}");
    r.stdout
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(STEP, f)
        .await
        .unwrap_or_else(|_| panic!("{what} took more than {} s", STEP.as_secs()))
}

/// A script body for the stand-in, which runs it with cmd.exe.
fn scripts(cmd: &str) -> bson::Document {
    doc! { "PowerShell": cmd, "Bash": "echo this is the bash body; exit 99" }
}

const VARIABLES: [&str; 15] = [
    "TentacleHome",
    "TentacleApplications",
    "TentacleJournal",
    "CalamariPackageRetentionJournalPath",
    "TentacleInstanceName",
    "TentacleVersion",
    "TentacleExecutablePath",
    "TentacleProgramDirectoryPath",
    "AgentProgramDirectoryPath",
    "TentacleCertificateSignatureAlgorithm",
    "TentacleUseDefaultProxy",
    "TentacleProxyUsername",
    "TentacleProxyPassword",
    "TentacleProxyHost",
    "TentacleProxyPort",
];

#[test]
#[ignore = "needs the Wine set-up of `cargo xtask test`"]
fn listening_agent_serves_over_ipv4_and_ipv6_and_runs_scripts() {
    let w = Wine::from_env();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let record = root.join("standin-record.txt");
    tentacle_ok(&w, root, &["create-instance"]);
    tentacle_ok(&w, root, &["new-certificate", "--if-blank"]);
    let tentacle = Thumbprint::parse(&tentacle_ok(&w, root, &["show-thumbprint"])).unwrap();
    let rt = runtime();
    rt.block_on(async {
        let octopus = Octopus::start().await;
        let port = free_port();
        tentacle_ok(
            &w,
            root,
            &["configure", "--port", &port.to_string(), "--trust", octopus.cert.thumbprint().as_str()],
        );
        let agent = Agent::start(&w, root, &record);
        let status = agent.wait_status(|v| v["listening_on"].is_string());
        assert_eq!(status["listening_on"], format!("[::]:{port}"), "{status}");
        let target = |host: &str| {
            Target::Listening(Endpoint {
                base_uri: format!("https://{host}:{port}/"),
                thumbprint: tentacle.clone(),
            })
        };
        for host in ["127.0.0.1", "[::1]"] {
            let t = Instant::now();
            let caps = within(host, octopus.capabilities(&target(host)))
                .await
                .unwrap_or_else(|e| panic!("over {host}: {e}\n{}", agent.output()));
            assert!(caps.iter().any(|c| c == "IScriptServiceV2"), "{caps:?}");
            println!("wine: listening agent served over {host} in {:.1} s", t.elapsed().as_secs_f64());
        }

        let v4 = target("127.0.0.1");
        let t = Instant::now();
        let (ticket, first) = within(
            "start",
            octopus.start_scripts(
                &v4,
                scripts("@echo off\r\necho hello from %TentacleInstanceName%\r\n>&2 echo oops\r\nexit /b 3\r\n"),
                "ServerTasks-1",
            ),
        )
        .await
        .unwrap();
        let done = within("script", octopus.finish_script(&v4, &ticket, first, Vec::new()))
            .await
            .unwrap();
        println!("wine: a script through the stand-in took {:.1} s", t.elapsed().as_secs_f64());
        assert_eq!(done.exit_code, 3, "{done:?}\n{}", agent.output());
        assert!(done.lines.iter().any(|l| l == "hello from Tentacle"), "{done:?}");
        assert!(done.lines.iter().any(|l| l == "oops"), "{done:?}");
        assert!(!done.lines.iter().any(|l| l.contains("bash body")), "{done:?}");

        let seen = std::fs::read_to_string(&record).unwrap();
        let line = |prefix: &str| {
            seen.lines()
                .find(|l| l.trim_start_matches('\u{feff}').starts_with(prefix))
                .unwrap_or_else(|| panic!("no {prefix} in the record:\n{seen}"))
                .to_owned()
        };
        let cmdline = line("cmdline=");
        for flag in ["-NonInteractive", "-NoProfile", "-NoLogo", "-ExecutionPolicy Unrestricted", "-File"] {
            assert!(cmdline.contains(flag), "{cmdline}");
        }
        assert!(cmdline.contains("ServerTasks-1") && cmdline.contains("Bootstrap.ps1"), "{cmdline}");
        assert!(line("cwd=").ends_with("ServerTasks-1"), "{seen}");
        for name in VARIABLES {
            line(&format!("env={name}="));
        }
        assert!(line("env=TentacleInstanceName=").ends_with("=Tentacle"));
        assert!(line("env=TentacleHome=").ends_with(&windows_path(&agent.home)), "{seen}");

        // Cancel: the stand-in's cmd.exe loops writing a file; after the cancel it must stop.
        let ticks = root.join("ticks.txt");
        let body = format!(
            "@echo off\r\n:loop\r\necho tick>>\"{}\"\r\ngoto loop\r\n",
            windows_path(&ticks)
        );
        let (ticket, _) = within("start", octopus.start_scripts(&v4, scripts(&body), "ServerTasks-2"))
            .await
            .unwrap();
        let deadline = Instant::now() + STEP;
        while !ticks.exists() {
            assert!(Instant::now() < deadline, "the looping script never started:\n{}", agent.output());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let t = Instant::now();
        within("cancel", octopus.cancel_script(&v4, &ticket)).await.unwrap();
        let first = within("status", octopus.script_status(&v4, &ticket, 0)).await.unwrap();
        let ended = within("cancelled script", octopus.finish_script(&v4, &ticket, first, Vec::new()))
            .await
            .unwrap();
        assert_eq!(ended.exit_code, -43, "{ended:?}");
        tokio::time::sleep(Duration::from_secs(2)).await;
        let size = std::fs::metadata(&ticks).unwrap().len();
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(
            std::fs::metadata(&ticks).unwrap().len(),
            size,
            "cmd.exe under the cancelled script is still running"
        );
        println!("wine: cancel ended the script tree in {:.1} s", t.elapsed().as_secs_f64());
    });
}

#[test]
#[ignore = "needs the Wine set-up of `cargo xtask test`"]
fn polling_agent_over_tcp_and_websocket() {
    let w = Wine::from_env();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    tentacle_ok(&w, root, &["create-instance"]);
    tentacle_ok(&w, root, &["new-certificate", "--if-blank"]);
    let tentacle = Thumbprint::parse(&tentacle_ok(&w, root, &["show-thumbprint"])).unwrap();
    let rt = runtime();
    rt.block_on(async {
        let tcp = Octopus::start().await;
        let ws = Octopus::start().await;
        tcp.trust(tentacle.clone());
        ws.trust(tentacle.clone());
        tentacle_ok(
            &w,
            root,
            &[
                "configure",
                "--noListen",
                "true",
                "--trust",
                tcp.cert.thumbprint().as_str(),
                "--trust",
                ws.cert.thumbprint().as_str(),
            ],
        );
        tentacle_ok(
            &w,
            root,
            &[
                "server-comms",
                "--thumbprint",
                tcp.cert.thumbprint().as_str(),
                "--style",
                "TentacleActive",
                "--host",
                "127.0.0.1",
                "--port",
                &tcp.polling_port.to_string(),
            ],
        );
        tentacle_ok(
            &w,
            root,
            &[
                "server-comms",
                "--thumbprint",
                ws.cert.thumbprint().as_str(),
                "--web-socket",
                &format!("wss://127.0.0.1:{}/OctopusComms", ws.websocket_port),
            ],
        );
        let doc: serde_json::Value =
            serde_json::from_str(&tentacle_ok(&w, root, &["show-configuration"])).unwrap();
        let subscription = |i: usize| {
            doc["Tentacle"]["Communication"]["TrustedOctopusServers"][i]["SubscriptionId"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let t = Instant::now();
        let agent = Agent::start(&w, root, &root.join("unused.txt"));
        agent.wait_status(|v| {
            v["servers"]
                .as_array()
                .is_some_and(|a| a.len() == 2 && a.iter().all(|s| s["link"] == "connected"))
        });
        println!(
            "wine: polling agent connected over TCP and WebSocket in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        for (octopus, i, how) in [(&tcp, 0, "TCP"), (&ws, 1, "WebSocket")] {
            let caps = within(how, octopus.capabilities(&Target::Polling(subscription(i))))
                .await
                .unwrap_or_else(|e| panic!("polling over {how}: {e}\n{}", agent.output()));
            assert!(caps.iter().any(|c| c == "IScriptServiceV2"), "{caps:?}");
        }
    });
}
