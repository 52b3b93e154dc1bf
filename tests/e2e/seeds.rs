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
