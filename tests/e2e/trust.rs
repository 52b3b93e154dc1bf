//! Trusting servers: validation, bad input leaving the config untouched, server-comms, update-trust, proxies.

use tentacle_tests::{OTHER_THUMBPRINT, SERVER_THUMBPRINT, Sandbox};

fn sandbox_with_instance() -> Sandbox {
    let s = Sandbox::new();
    s.sh("create-instance").ok();
    s.sh("new-certificate").ok();
    s.run(["configure", "--trust", SERVER_THUMBPRINT]).ok();
    s
}

#[test]
fn bad_input_leaves_the_config_byte_for_byte_unchanged() {
    let s = sandbox_with_instance();
    let cfg = s.default_config();
    let before = std::fs::read(&cfg).unwrap();
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["configure", "--trust", "API-CS0SW5SQJNLUBQCUBPK8LZY3KYO"],
            1,
            "This is an API key, not an Octopus Server certificate thumbprint",
        ),
        (
            &["configure", "--trust", "76F1E5F2B1B2C3D4E5F6"],
            1,
            "exactly 40",
        ),
        (
            &[
                "configure",
                "--trust",
                "76F1E5F2B1B2C3D4E5F60718293A4B5C6D7E8FZZ",
            ],
            1,
            "'Z'",
        ),
        // A good change in the same command is not applied either.
        (
            &["configure", "--port", "10999", "--trust", "nope"],
            1,
            "hexadecimal",
        ),
        (&["configure", "--port", "0"], 1, "1 to 65535"),
        (&["configure", "--port", "70000"], 1, "1 to 65535"),
        (&["configure", "--port", "ten"], 1, "1 to 65535"),
        (&["configure", "--noListen", "maybe"], 1, "true or false"),
        (
            &["configure", "--listenIpAddress", "localhost"],
            1,
            "not an IP address",
        ),
        (
            &[
                "set-polling-connection-count",
                "--pollingConnectionCount",
                "0",
            ],
            1,
            "1 to 512",
        ),
        (
            &["configure", "--instance", "Missing", "--port", "1000"],
            1,
            "Instance 'Missing' of Tentacle has not been configured",
        ),
        (
            &["create-instance", "--instance", "TENTACLE"],
            1,
            "already exists",
        ),
        (
            &[
                "server-comms",
                "--thumbprint",
                OTHER_THUMBPRINT,
                "--host",
                "octopus.example",
            ],
            1,
            "trust must be established",
        ),
        (
            &[
                "server-comms",
                "--web-socket",
                "http://example.com/OctopusComms",
            ],
            1,
            "wss://",
        ),
        (
            &["proxy", "--proxyEnable", "true", "--proxyPort", "99999"],
            1,
            "1 to 65535",
        ),
    ];
    for (args, code, needle) in cases {
        s.run(*args).fails(*code, needle);
        assert_eq!(
            std::fs::read(&cfg).unwrap(),
            before,
            "{args:?} changed the config"
        );
    }
}

#[test]
fn unreadable_config_is_reported_with_path_and_line_and_never_overwritten() {
    let s = sandbox_with_instance();
    let cfg = s.default_config();
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("\n[communication\nbroken = \n");
    std::fs::write(&cfg, &text).unwrap();
    let lines = text.lines().count();
    let r = s.sh("configure --port 10999").fails(1, "does not parse");
    assert!(r.stderr.contains(cfg.to_str().unwrap()), "{r:#?}");
    assert!(r.stderr.contains(&format!("line {}", lines - 1)), "{r:#?}");
    s.sh("show-thumbprint").fails(1, "does not parse");
    s.sh("new-certificate").fails(1, "does not parse");
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), text);
}

#[test]
fn trust_is_added_removed_and_reset() {
    let s = sandbox_with_instance();
    s.run([
        "configure",
        "--trust",
        OTHER_THUMBPRINT,
        "--trust",
        SERVER_THUMBPRINT,
    ])
    .ok();
    let t = s.config_toml(&s.default_config());
    assert_eq!(
        t["trusted_servers"].as_array().unwrap().len(),
        2,
        "no duplicate entry: {t:?}"
    );
    s.run([
        "configure",
        "--remove-trust",
        &SERVER_THUMBPRINT.to_lowercase(),
    ])
    .ok();
    let t = s.config_toml(&s.default_config());
    assert_eq!(t["trusted_servers"].as_array().unwrap().len(), 1);
    assert_eq!(
        t["trusted_servers"][0]["thumbprint"].as_str(),
        Some(OTHER_THUMBPRINT)
    );
    // Order: reset, then remove, then trust.
    s.run(["configure", "--trust", SERVER_THUMBPRINT, "--reset-trust"])
        .ok();
    let t = s.config_toml(&s.default_config());
    assert_eq!(t["trusted_servers"].as_array().unwrap().len(), 1);
    assert_eq!(
        t["trusted_servers"][0]["thumbprint"].as_str(),
        Some(SERVER_THUMBPRINT)
    );
}

#[test]
fn server_comms_sets_polling_and_reuses_the_subscription_id() {
    let s = sandbox_with_instance();
    s.run([
        "server-comms",
        "--style",
        "TentacleActive",
        "--host",
        "octopus.example",
    ])
    .ok();
    let t = s.config_toml(&s.default_config());
    let entry = &t["trusted_servers"][0];
    assert_eq!(entry["style"].as_str(), Some("polling"));
    assert_eq!(
        entry["address"].as_str(),
        Some("https://octopus.example:10943/")
    );
    let id = entry["subscription_id"].as_str().unwrap().to_owned();
    assert!(
        id.starts_with("poll://") && id.ends_with('/') && id.len() == 28,
        "{id}"
    );
    // Same address again: the subscription id is reused.
    s.run([
        "server-comms",
        "--thumbprint",
        SERVER_THUMBPRINT,
        "--style",
        "TentacleActive",
        "--host",
        "octopus.example",
    ])
    .ok();
    let t = s.config_toml(&s.default_config());
    assert_eq!(
        t["trusted_servers"][0]["subscription_id"].as_str(),
        Some(id.as_str())
    );
    // Over 443 and over WebSockets.
    s.run([
        "server-comms",
        "--style",
        "TentacleActive",
        "--host",
        "polling.example",
        "--port",
        "443",
    ])
    .ok();
    let t = s.config_toml(&s.default_config());
    assert_eq!(
        t["trusted_servers"][0]["address"].as_str(),
        Some("https://polling.example:443/")
    );
    s.run([
        "server-comms",
        "--web-socket",
        "https://example.com:443/OctopusComms",
    ])
    .ok();
    let t = s.config_toml(&s.default_config());
    assert_eq!(
        t["trusted_servers"][0]["address"].as_str(),
        Some("wss://example.com/OctopusComms")
    );
    let doc: serde_json::Value =
        serde_json::from_str(&s.sh("show-configuration").ok().stdout).unwrap();
    assert_eq!(
        doc["Tentacle"]["Communication"]["TrustedOctopusServers"][0]["CommunicationStyle"],
        2
    );
    // Back to listening.
    s.run(["server-comms", "--style", "TentaclePassive"]).ok();
    let t = s.config_toml(&s.default_config());
    assert_eq!(t["trusted_servers"][0]["style"].as_str(), Some("listening"));
    assert!(t["trusted_servers"][0].get("address").is_none());
}

#[test]
fn update_trust_and_clear_trusted_servers() {
    let s = sandbox_with_instance();
    s.run([
        "update-trust",
        "--oldThumbprint",
        SERVER_THUMBPRINT,
        "--newThumbprint",
        OTHER_THUMBPRINT,
    ])
    .ok();
    let t = s.config_toml(&s.default_config());
    assert_eq!(
        t["trusted_servers"][0]["thumbprint"].as_str(),
        Some(OTHER_THUMBPRINT)
    );
    s.run([
        "server-comms",
        "--style",
        "TentacleActive",
        "--host",
        "keep.example",
    ])
    .ok();
    s.run(["configure", "--trust", SERVER_THUMBPRINT]).ok();
    s.run([
        "clear-trusted-servers",
        "--keep",
        "http://keep.example:10943",
    ])
    .ok();
    let t = s.config_toml(&s.default_config());
    let servers = t["trusted_servers"].as_array().unwrap();
    assert_eq!(servers.len(), 1, "{t:?}");
    assert_eq!(
        servers[0]["address"].as_str(),
        Some("https://keep.example:10943/")
    );
}

#[test]
fn proxies_are_configured_and_the_password_never_shown() {
    let s = sandbox_with_instance();
    let r = s
        .run([
            "polling-proxy",
            "--proxyEnable",
            "true",
            "--proxyHost",
            "http://proxy.local:3128/",
            "--proxyUsername",
            "svc",
            "--proxyPassword",
            "hunter2-secret",
        ])
        .ok();
    assert!(r.stdout.contains("proxy.local:3128"), "{r:#?}");
    assert!(!r.stdout.contains("hunter2-secret") && !r.stderr.contains("hunter2-secret"));
    let shown = s.sh("show-configuration").ok().stdout;
    assert!(!shown.contains("hunter2-secret"), "{shown}");
    let doc: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(
        doc["Octopus"]["Server"]["Proxy"]["ProxyHost"],
        "proxy.local"
    );
    assert_eq!(doc["Octopus"]["Server"]["Proxy"]["ProxyPort"], 3128);
    s.run(["proxy", "--proxyEnable", "false"]).ok();
    let doc: serde_json::Value =
        serde_json::from_str(&s.sh("show-configuration").ok().stdout).unwrap();
    assert_eq!(doc["Octopus"]["Proxy"]["ProxyEnabled"], false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(s.default_config())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "the config holds a proxy password: owner-only");
    }
}
