//! Help, version, case-insensitive options, instance listing and the errors for a bad command line.

use tentacle_tests::{SERVER_THUMBPRINT, Sandbox};

#[test]
fn help_lists_commands_and_describes_one() {
    let s = Sandbox::new();
    let out = s.sh("help").ok().stdout;
    assert!(
        out.starts_with("Usage: tentacle <command> [<options>]"),
        "{out}"
    );
    for verb in [
        "create-instance",
        "delete-instance",
        "list-instances",
        "new-certificate",
        "import-certificate",
        "export-certificate",
        "show-thumbprint",
        "configure",
        "server-comms",
        "update-trust",
        "clear-trusted-servers",
        "set-polling-connection-count",
        "proxy",
        "polling-proxy",
        "show-configuration",
        "version",
    ] {
        assert!(out.contains(verb), "help lacks {verb}: {out}");
    }
    let configure = s.sh("help configure").ok().stdout;
    assert!(
        configure.contains("--reset-trust") && configure.contains("--noListen"),
        "{configure}"
    );
    assert!(
        s.sh("configure --help")
            .ok()
            .stdout
            .contains("--reset-trust")
    );
    let json: serde_json::Value =
        serde_json::from_str(&s.sh("help --format json").ok().stdout).unwrap();
    assert!(
        json["Commands"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["Name"] == "configure")
    );
    assert!(!s.sh("version").ok().stdout.trim().is_empty());
    let v: serde_json::Value =
        serde_json::from_str(&s.sh("version --format json").ok().stdout).unwrap();
    assert!(v["MajorMinorPatch"].is_string());
}

#[test]
fn options_are_case_insensitive_and_take_equals() {
    let s = Sandbox::new();
    s.sh("create-instance --INSTANCE=Web").ok();
    s.run([
        "Configure",
        "--Instance",
        "web",
        "--PORT=10999",
        "--NoListen",
        "FALSE",
    ])
    .ok();
    s.run([
        "configure",
        "--instance=WEB",
        "--Trust=76:f1:e5:f2:b1:b2:c3:d4:e5:f6:07:18:29:3a:4b:5c:6d:7e:8f:90",
    ])
    .ok();
    let cfg = s.root().join("Web/tentacle.toml");
    let t = s.config_toml(&cfg);
    assert_eq!(t["communication"]["port"].as_integer(), Some(10999));
    assert_eq!(
        t["trusted_servers"][0]["thumbprint"].as_str(),
        Some(SERVER_THUMBPRINT)
    );
    // Tentacle's deprecated common switches are accepted.
    s.sh("list-instances --console --nologo --noninteractive")
        .ok();
}

#[test]
fn list_instances_text_and_json() {
    let s = Sandbox::new();
    assert_eq!(
        s.sh("list-instances").ok().stdout.trim(),
        "No instances installed"
    );
    s.sh("create-instance --instance Web").ok();
    s.sh("create-instance").ok();
    let text = s.sh("list-instances").ok().stdout;
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(
        lines[0].starts_with("Instance 'Tentacle' uses configuration '"),
        "default first: {text}"
    );
    assert!(
        lines[1].starts_with("Instance 'Web' uses configuration '"),
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&s.sh("list-instances --format json").ok().stdout).unwrap();
    assert_eq!(json[1]["InstanceName"], "Web");
    assert!(
        json[1]["ConfigurationFilePath"]
            .as_str()
            .unwrap()
            .ends_with("tentacle.toml")
    );
}

#[test]
fn bad_command_lines_get_one_line_errors() {
    let s = Sandbox::new();
    s.sh("frobnicate").fails(2, "Unknown command 'frobnicate'");
    s.sh("configure --frobnicate")
        .fails(2, "tentacle help configure");
    s.sh("show-thumbprint").fails(1, "has not been configured");
    s.sh("create-instance --instance bad/name").fails(1, "'/'");
    s.run(["create-instance", "--instance", "a$b"])
        .fails(1, "'$'");
    s.sh("create-instance").ok();
    s.sh("configure").fails(2, "Nothing to configure");
    s.sh("show-thumbprint").fails(1, "tentacle new-certificate");
}

#[test]
fn delete_instance_keeps_configuration_and_recreate_reuses_it() {
    let s = Sandbox::new();
    s.sh("create-instance --instance Web").ok();
    s.sh("configure --instance Web --port 12345").ok();
    let out = s.sh("delete-instance --instance web").ok().stdout;
    assert!(out.contains("Deleted instance: Web"), "{out}");
    s.sh("show-thumbprint --instance Web")
        .fails(1, "has not been configured");
    let cfg = s.root().join("Web/tentacle.toml");
    assert!(cfg.is_file(), "configuration kept");
    s.run([
        "create-instance",
        "--instance",
        "Web",
        "--config",
        cfg.to_str().unwrap(),
    ])
    .ok();
    assert_eq!(
        s.config_toml(&cfg)["communication"]["port"].as_integer(),
        Some(12345)
    );
}

#[test]
fn more_than_one_instance_needs_a_name() {
    let s = Sandbox::new();
    s.sh("create-instance --instance A").ok();
    s.sh("configure --port 2000").ok(); // the only instance is used
    s.sh("create-instance --instance B").ok();
    s.sh("configure --port 2001")
        .fails(1, "more than one instance");
}
