//! The operator documentation's command sequences, run verbatim (program name aside).

use tentacle_tests::{SERVER_THUMBPRINT, Sandbox};

#[test]
fn listening_setup_as_configure_tentacle_sh_runs_it() {
    let s = Sandbox::new();
    let cfg = s
        .root()
        .join("octopus/MyInstance/tentacle-MyInstance.config");
    let app = s.root().join("Applications");
    s.run(["create-instance", "--instance", "MyInstance", "--config"])
        .fails(2, "--config");
    s.run([
        "create-instance",
        "--instance",
        "MyInstance",
        "--config",
        cfg.to_str().unwrap(),
    ])
    .ok();
    let created = s
        .run(["new-certificate", "--instance", "MyInstance", "--if-blank"])
        .ok();
    assert!(
        created
            .stdout
            .contains("A new certificate has been generated and installed. Thumbprint:")
    );
    let thumb = created.stdout.lines().last().unwrap().trim().to_owned();
    assert_eq!(thumb.len(), 40);
    s.run([
        "configure",
        "--instance",
        "MyInstance",
        "--app",
        app.to_str().unwrap(),
        "--port",
        "10933",
        "--noListen",
        "False",
        "--reset-trust",
    ])
    .ok();
    s.run([
        "configure",
        "--instance",
        "MyInstance",
        "--trust",
        SERVER_THUMBPRINT,
    ])
    .ok();
    let shown = s.run(["show-thumbprint", "--instance", "MyInstance"]).ok();
    assert_eq!(
        shown.stdout, thumb,
        "bare thumbprint, no newline when piped"
    );

    let doc: serde_json::Value = serde_json::from_str(
        &s.run(["show-configuration", "--instance", "MyInstance"])
            .ok()
            .stdout,
    )
    .unwrap();
    assert_eq!(doc["Tentacle"]["CertificateThumbprint"], thumb.as_str());
    assert_eq!(doc["Tentacle"]["Services"]["PortNumber"], 10933);
    assert_eq!(doc["Tentacle"]["Services"]["NoListen"], false);
    let servers = doc["Tentacle"]["Communication"]["TrustedOctopusServers"]
        .as_array()
        .unwrap();
    assert_eq!(servers.len(), 1);
    assert_eq!(servers[0]["Thumbprint"], SERVER_THUMBPRINT);
    assert_eq!(servers[0]["CommunicationStyle"], 1, "TentaclePassive");
    assert!(app.is_dir(), "--app creates the folder");
    assert!(cfg.is_file());
}

#[test]
fn polling_reconfiguration_seed_lines_without_instance() {
    // Seeds 000 and 003: `configure --reset-trust` with no --instance works on the default instance.
    let s = Sandbox::new();
    s.sh("create-instance").ok();
    s.sh("new-certificate --if-blank").ok();
    s.run(["configure", "--trust", SERVER_THUMBPRINT]).ok();
    s.run(["configure", "--noListen", "True", "--reset-trust"])
        .ok();
    let t = s.config_toml(&s.default_config());
    assert!(
        t.get("trusted_servers").is_none(),
        "reset-trust removed every server: {t:?}"
    );
    assert_eq!(t["communication"]["no_listen"].as_bool(), Some(true));
}

#[test]
fn if_blank_keeps_the_existing_certificate() {
    let s = Sandbox::new();
    s.sh("create-instance --instance Tentacle").ok();
    s.sh("new-certificate").ok();
    let first = s.sh("show-thumbprint").ok().stdout;
    let again = s.sh("new-certificate --if-blank").ok();
    assert!(
        again
            .stdout
            .contains("A certificate already exists, no changes will be applied.")
    );
    assert_eq!(s.sh("show-thumbprint").ok().stdout, first);
    s.sh("new-certificate").ok();
    assert_ne!(
        s.sh("show-thumbprint").ok().stdout,
        first,
        "without --if-blank a new one replaces it"
    );
}

// ---- Registration seeds (000 WebSockets, 003 polling over 443) ----
//
// Their command lines name real hosts (example.com, <yoururl>.octopus.app). They run here
// unchanged through `tentacle proxy` / `tentacle polling-proxy` pointing at CONNECT forwarders
// that deliver every tunnel to a loopback simulator, and the portal's HTTPS certificate comes
// from a test CA handed to the process with SSL_CERT_FILE, the standard way to add a root.

use std::time::Duration;

use tentacle_tests::octopus_rest::{ConnectForwarder, OctopusRest, TestCa};
use tentacle_tests::simulator::{Octopus, Target};
use tentacle_tests::{AgentProcess, Run};

/// Splits a documented command line like a shell: spaces separate, double quotes group.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut any) = (false, false);
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

/// Runs a seed line (program name dropped) with the test CA trusted.
fn seed(s: &Sandbox, ca_file: &std::path::Path, line: &str) -> Run {
    let mut w = words(line);
    assert!(w[0].ends_with("Tentacle.exe") || w[0].ends_with("Tentacle"));
    w.remove(0);
    let out = s
        .command(&w)
        .env("SSL_CERT_FILE", ca_file)
        .output()
        .unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn seed_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// MyInstance with a certificate, web and polling proxies set; returns its thumbprint.
fn my_instance(
    s: &Sandbox,
    web_proxy: u16,
    polling_proxy: u16,
) -> tentacle_core::trust::Thumbprint {
    s.sh("create-instance --instance MyInstance").ok();
    s.sh("new-certificate --instance MyInstance").ok();
    for (verb, port) in [("proxy", web_proxy), ("polling-proxy", polling_proxy)] {
        s.run([
            verb,
            "--instance",
            "MyInstance",
            "--proxyEnable",
            "true",
            "--proxyHost",
            "127.0.0.1",
            "--proxyPort",
            &port.to_string(),
        ])
        .ok();
    }
    tentacle_core::trust::Thumbprint::parse(
        &s.sh("show-thumbprint --instance MyInstance").ok().stdout,
    )
    .unwrap()
}

#[test]
fn seed_000_websocket_registration_and_poll_server_run_verbatim() {
    let s = Sandbox::new();
    let ca = TestCa::new();
    let ca_file = s.root().join("test-ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    seed_runtime().block_on(async {
        // The wss endpoint's SSL certificate (octopus.cert) differs from certificate-global.
        let octopus = Octopus::start().await;
        let rest = OctopusRest::start_https(SERVER_THUMBPRINT, ca.server_config(&["example.com"])).await;
        let web = ConnectForwarder::start(rest.port).await;
        let polling = ConnectForwarder::start(octopus.websocket_port).await;
        let me = my_instance(&s, web.port, polling.port);
        octopus.trust(me);

        let register = r#".\Tentacle.exe register-with --instance MyInstance --server "https://example.com/"  --server-web-socket "wss://example.com:443/OctopusComms" --comms-style TentacleActive --apikey "API-CS0SW5SQJNLUBQCUBPK8LZY3KYO" --environment "Test" --role "Web""#;
        let run = seed(&s, &ca_file, register).ok();
        assert!(run.stdout.contains("Checking connectivity on the server communications port 443..."));
        assert!(run.stdout.contains("Machine registered successfully"));
        let cfg = s.root().join("MyInstance").join("tentacle.toml");
        let entry = s.config_toml(&cfg)["trusted_servers"][0].clone();
        assert_eq!(entry["address"].as_str(), Some("wss://example.com/OctopusComms"));
        assert_eq!(
            entry["thumbprint"].as_str(),
            Some(octopus.cert.thumbprint().as_str()),
            "WebSockets trust the SSL certificate of the wss endpoint, not certificate-global"
        );
        assert!(web.targets.lock().unwrap().iter().all(|t| t == "example.com:443"));
        assert!(polling.targets.lock().unwrap().iter().any(|t| t == "example.com:443"));

        // "Changing an existing Tentacle": as in Tentacle, the same name needs --force unless
        // the old target is gone, so the operator has deleted it in the portal first.
        rest.world().items.remove(&("Spaces-1".to_owned(), "machines".to_owned()));
        seed(&s, &ca_file, r#".\Tentacle.exe configure --reset-trust"#).ok();
        seed(&s, &ca_file, r#".\Tentacle.exe register-with --instance MyInstance --server "https://example.com/" --server-web-socket "wss://example.com:443/OctopusComms" --comms-style TentacleActive --apikey "API-CS0SW5SQJNLUBQCUBPK8LZY3KYO" --environment "Test" --role "Web""#).ok();
        seed(&s, &ca_file, r#"poll-server --instance MyInstance --server "https://example.com/"  --server-web-socket "wss://example.com:443/OctopusComms" --apikey "API-CS0SW5SQJNLUBQCUBPK8LZY3KYO""#
            .replace("poll-server", ".\\Tentacle.exe poll-server")
            .as_str())
        .ok();
        let servers = s.config_toml(&cfg)["trusted_servers"].as_array().unwrap().clone();
        assert_eq!(servers.len(), 1, "the same node is updated, not added twice");
        let sub = servers[0]["subscription_id"].as_str().unwrap().to_owned();

        // The agent polls example.com over the WebSocket through the polling proxy (and
        // opens no listening port, as a polling Tentacle set up by configure-tentacle.sh).
        s.sh("configure --instance MyInstance --noListen True").ok();
        let agent = AgentProcess::start(&s, "MyInstance");
        agent.wait_status(Duration::from_secs(30), |v| v["servers"][0]["link"] == "connected");
        tokio::time::timeout(Duration::from_secs(60), octopus.capabilities(&Target::Polling(sub)))
            .await
            .unwrap()
            .unwrap();
    });
}

#[test]
fn seed_003_polling_over_443_targets_and_workers_run_verbatim() {
    let ca = TestCa::new();
    seed_runtime().block_on(async {
        let octopus = Octopus::start().await;
        let names = ["example.octopus.app", "octopus.example.com"];
        let rest = OctopusRest::start_https(octopus.cert.thumbprint().as_str(), ca.server_config(&names)).await;
        rest.world().accept_api_key("API-YOURKEY");
        let web = ConnectForwarder::start(rest.port).await;
        let polling = ConnectForwarder::start(octopus.polling_port).await;
        // The documentation's placeholders, filled in.
        let fill = |l: &str| {
            l.replace("<yoururl>", "example")
                .replace("<your-octopus-url>", "octopus.example.com")
                .replace("<your-polling-url>", "polling.example.com")
        };
        let lines = [
            r#".\Tentacle register-with --instance MyInstance --server "https://<yoururl>.octopus.app" --server-comms-address "https://polling.<yoururl>.octopus.app" --comms-style TentacleActive --apiKey "API-YOURKEY" --environment "Test" --role "Web""#,
            r#".\Tentacle register-worker --instance MyInstance --server "https://<yoururl>.octopus.app" --server-comms-address "https://polling.<yoururl>.octopus.app" --comms-style TentacleActive --apiKey "API-YOURKEY" --workerpool MyWorkerPool"#,
            r#".\Tentacle register-with --instance MyInstance --server "https://<your-octopus-url>" --server-comms-address "https://<your-polling-url>" --comms-style TentacleActive --apiKey "API-YOURKEY" --environment "Test" --role "Web""#,
            r#".\Tentacle register-worker --instance MyInstance --server "https://<your-octopus-url>" --server-comms-address "https://<your-polling-url>" --comms-style TentacleActive --apiKey "API-YOURKEY" --workerpool MyWorkerPool"#,
        ];
        for line in lines {
            // Each "register" section starts from a fresh instance and an empty server list,
            // then runs its "changing an existing" variant (reset-trust, register again).
            let s = Sandbox::new();
            let ca_file = s.root().join("test-ca.pem");
            std::fs::write(&ca_file, &ca.pem).unwrap();
            let me = my_instance(&s, web.port, polling.port);
            octopus.trust(me);
            for key in ["machines", "workers"] {
                rest.world().items.remove(&("Spaces-1".to_owned(), key.to_owned()));
            }
            let run = seed(&s, &ca_file, &fill(line)).ok();
            assert!(run.stdout.contains("Checking connectivity on the server communications port 443..."), "{run:#?}");
            let cfg = s.root().join("MyInstance").join("tentacle.toml");
            let t = s.config_toml(&cfg);
            let entry = &t["trusted_servers"][0];
            let host = if line.contains("<yoururl>") { "polling.example.octopus.app" } else { "polling.example.com" };
            assert_eq!(entry["address"].as_str().unwrap(), format!("https://{host}:443/"));
            assert_eq!(entry["thumbprint"].as_str(), Some(octopus.cert.thumbprint().as_str()));
            if line.contains("register-worker") {
                let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as i64;
                assert_eq!(t["communication"]["polling_connection_count"].as_integer(), Some(cpus.max(5)));
                assert!(run.stdout.contains("Worker registered successfully"));
            } else {
                assert!(run.stdout.contains("Machine registered successfully"));
            }
            assert!(polling.targets.lock().unwrap().iter().any(|t| t == &format!("{host}:443")));
            for key in ["machines", "workers"] {
                rest.world().items.remove(&("Spaces-1".to_owned(), key.to_owned()));
            }
            seed(&s, &ca_file, r#".\Tentacle configure --reset-trust"#).ok();
            seed(&s, &ca_file, &fill(line)).ok();
            let t = s.config_toml(&cfg);
            assert_eq!(t["trusted_servers"].as_array().unwrap().len(), 1);
        }
    });
}
