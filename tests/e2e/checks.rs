//! `tentacle check` on this machine: a healthy listening and polling setup on the simulator passes; a port held by another process, a clock off the server's Date and bad options fail with the right fix. Polling failures are in `checks/polling.rs`.

use std::time::Duration;

use serde_json::Value;
use tentacle_core::instance::TentacleConfig;
use tentacle_core::trust::Thumbprint;
use tentacle_tests::middlebox::{Behaviour, Middlebox};
use tentacle_tests::openssl::SServer;
use tentacle_tests::simulator::Octopus;
use tentacle_tests::{AgentProcess, Run, SERVER_THUMBPRINT, Sandbox, free_port};

mod polling;

const WAIT: Duration = Duration::from_secs(30);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Creates `instance` with a certificate and returns its thumbprint, read from the config.
fn instance_with_certificate(s: &Sandbox, instance: &str) -> Thumbprint {
    s.run(["create-instance", "--instance", instance]).ok();
    s.run(["new-certificate", "--instance", instance]).ok();
    let config = s.root().join(instance).join("tentacle.toml");
    TentacleConfig::load(&config)
        .unwrap()
        .certificate
        .unwrap()
        .thumbprint
}

/// Trusts `thumbprint` and polls it at `host:port`.
fn poll(s: &Sandbox, instance: &str, thumbprint: &str, host: &str, port: u16) {
    s.run(["configure", "--instance", instance, "--trust", thumbprint])
        .ok();
    s.run([
        "server-comms",
        "--instance",
        instance,
        "--thumbprint",
        thumbprint,
        "--style",
        "TentacleActive",
        "--host",
        host,
        "--port",
        &port.to_string(),
    ])
    .ok();
}

/// A polling-only instance.
fn no_listen(s: &Sandbox, instance: &str) {
    s.run(["configure", "--instance", instance, "--noListen", "true"])
        .ok();
}

/// `tentacle check --json` for `instance`: the run and the parsed report.
fn check(s: &Sandbox, instance: &str) -> (Run, Value) {
    let run = s.run(["check", "--instance", instance, "--json"]);
    let report = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("check --json printed no JSON ({e}): {run:#?}"));
    (run, report)
}

/// The result with `id`.
fn result<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no result {id} in {report:#}"))
}

/// Asserts `id` has `verdict` and its `field` contains each of `needles`.
fn expect(report: &Value, id: &str, verdict: &str, field: &str, needles: &[&str]) {
    let r = result(report, id);
    assert_eq!(r["verdict"], verdict, "{id}: {r:#}");
    let text = r[field].as_str().unwrap_or_default();
    for n in needles {
        assert!(text.contains(n), "{id}.{field} lacks {n:?}: {r:#}");
    }
}

#[test]
fn healthy_listening_and_polling_setup_passes_against_the_simulator() {
    let s = Sandbox::new();
    let tentacle = instance_with_certificate(&s, "Tentacle");
    runtime().block_on(async {
        let tcp = Octopus::start().await;
        let ws = Octopus::start().await;
        tcp.trust(tentacle.clone());
        ws.trust(tentacle.clone());
        let port = free_port();
        s.run([
            "configure",
            "--port",
            &port.to_string(),
            "--trust",
            ws.cert.thumbprint().as_str(),
        ])
        .ok();
        // By name, so DNS is exercised too.
        poll(
            &s,
            "Tentacle",
            tcp.cert.thumbprint().as_str(),
            "localhost",
            tcp.polling_port,
        );
        s.run([
            "server-comms",
            "--thumbprint",
            ws.cert.thumbprint().as_str(),
            "--web-socket",
            &format!("wss://localhost:{}/OctopusComms", ws.websocket_port),
        ])
        .ok();
        let agent = AgentProcess::start(&s, "Tentacle");
        agent.wait_status(WAIT, |v| {
            v["listening_on"].is_string()
                && v["servers"]
                    .as_array()
                    .is_some_and(|a| a.iter().filter(|s| s["link"] == "connected").count() == 2)
        });
        let (run, report) = check(&s, "Tentacle");
        assert_eq!(run.code, Some(0), "{run:#?}");
        for id in [
            "config.trust",
            "agent.status",
            "listen.port",
            "listen.welcome",
            "host.home",
            "host.disk",
            "host.startup",
        ] {
            expect(&report, id, "pass", "seen", &[]);
        }
        for n in ["1", "2"] {
            for step in ["dns", "tcp", "tls", "thumbprint", "certificate", "identity"] {
                expect(&report, &format!("poll.{n}.{step}"), "pass", "seen", &[]);
            }
        }
        let ws_step = ["poll.1.websocket", "poll.2.websocket"]
            .into_iter()
            .find(|id| report.to_string().contains(&format!("\"{id}\"")))
            .expect("one WebSocket server");
        expect(
            &report,
            ws_step,
            "pass",
            "seen",
            &["200 OK", "/OctopusComms"],
        );
        expect(
            &report,
            "listen.port",
            "pass",
            "seen",
            &[&format!("pid {}", agent.child.id())],
        );
        expect(
            &report,
            "listen.welcome",
            "pass",
            "seen",
            &[tentacle.as_str(), "200 OK"],
        );
        expect(&report, "poll.1.identity", "pass", "seen", &["MX-SERVER"]);
        expect(
            &report,
            "poll.1.dns",
            "pass",
            "seen",
            &["localhost resolves to", "127.0.0.1"],
        );
        // The simulator sends no Date header: the clock has no reference and says so.
        expect(&report, "host.clock", "skipped", "seen", &["validity"]);
        let statuses: Vec<&str> = report["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["verdict"].as_str().unwrap())
            .collect();
        assert!(
            statuses.iter().all(|v| *v == "pass" || *v == "skipped"),
            "{report:#}"
        );
        // The text form is what a person reads.
        let started = std::time::Instant::now();
        let text = s.run(["check"]).ok().stdout;
        // Shown with --nocapture: what a person reads, and how long a healthy run takes.
        println!(
            "{text}(tentacle check took {} ms)",
            started.elapsed().as_millis()
        );
        assert!(
            text.contains("PASS  Halibut identity at localhost:"),
            "{text}"
        );
        assert!(text.contains(" 0 failed, "), "{text}");
    });
}

#[test]
fn a_port_held_by_another_process_names_its_pid_and_program() {
    let s = Sandbox::new();
    instance_with_certificate(&s, "Tentacle");
    let dir = tempfile::tempdir().unwrap();
    let other = tentacle_core::certificate::generate().unwrap();
    let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    std::fs::write(&cert, other.cert_pem()).unwrap();
    std::fs::write(&key, other.to_pem().as_bytes()).unwrap();
    let holder = SServer::start(&cert, &key, &[]);
    s.run([
        "configure",
        "--port",
        &holder.port.to_string(),
        "--trust",
        SERVER_THUMBPRINT,
    ])
    .ok();
    let (run, report) = check(&s, "Tentacle");
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(run.stderr.contains("checks failed"), "{run:#?}");
    expect(
        &report,
        "listen.port",
        "fail",
        "seen",
        &[&format!("pid {} (openssl)", holder.pid())],
    );
    expect(&report, "listen.port", "fail", "cause", &["already in use"]);
    expect(
        &report,
        "listen.port",
        "fail",
        "fix",
        &[&format!("kill {}", holder.pid()), "--port"],
    );
    // The program answers the welcome-page request itself, with a certificate that is not ours.
    expect(
        &report,
        "listen.welcome",
        "fail",
        "seen",
        &[other.thumbprint().as_str()],
    );
    expect(
        &report,
        "listen.welcome",
        "fail",
        "cause",
        &["another program"],
    );
}

#[test]
fn check_refuses_bad_options_in_one_line() {
    let s = Sandbox::new();
    s.sh("create-instance").ok();
    s.run(["check", "--timeout", "0"])
        .fails(1, "--timeout must be between 1 and 120 seconds");
    s.run(["check", "--instance", "Nope"])
        .fails(1, "Instance 'Nope' of Tentacle has not been configured");
    // A config that is not TOML is a one-line error, not a report.
    let config = s.default_config();
    std::fs::write(&config, "this is [not toml").unwrap();
    s.run(["check"]).fails(1, "does not parse");
}

#[test]
fn a_clock_two_hours_off_the_servers_date_fails() {
    let s = Sandbox::new();
    instance_with_certificate(&s, "Tentacle");
    no_listen(&s, "Tentacle");
    // The date command makes the header, as a web server would, two hours behind us.
    let date = std::process::Command::new("date")
        .env("LC_ALL", "C")
        .args(["-u", "-d", "-2 hours", "+%a, %d %b %Y %H:%M:%S GMT"])
        .output()
        .unwrap();
    let date = String::from_utf8(date.stdout).unwrap().trim().to_owned();
    runtime().block_on(async {
        let cert = tentacle_core::certificate::generate().unwrap();
        let web = Middlebox::start(Behaviour::HttpsWithDate(cert.clone(), date.clone())).await;
        s.run(["configure", "--trust", cert.thumbprint().as_str()])
            .ok();
        s.run([
            "server-comms",
            "--thumbprint",
            cert.thumbprint().as_str(),
            "--web-socket",
            &format!("wss://127.0.0.1:{}/OctopusComms", web.port),
        ])
        .ok();
        let (run, report) = check(&s, "Tentacle");
        assert_eq!(run.code, Some(1), "{run:#?}");
        expect(
            &report,
            "poll.1.websocket",
            "pass",
            "seen",
            &["200 OK", "Access denied"],
        );
        expect(
            &report,
            "host.clock",
            "fail",
            "seen",
            &["(difference +7", "/OctopusComms said"],
        );
        expect(&report, "host.clock", "fail", "cause", &["badly wrong"]);
        expect(
            &report,
            "host.clock",
            "fail",
            "fix",
            &["timedatectl set-ntp true"],
        );
        // The page is no WebSocket endpoint: the upgrade is refused, and the check says so.
        expect(
            &report,
            "poll.1.identity",
            "fail",
            "seen",
            &["refused the WebSocket upgrade with HTTP 200"],
        );
        expect(
            &report,
            "poll.1.identity",
            "fail",
            "cause",
            &["not the Octopus Server's WebSocket listen prefix"],
        );
    });
}
