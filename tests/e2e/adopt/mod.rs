//! `import-tentacle` / `export-tentacle` against official-format fixtures made with openssl: what is carried over, what is refused, the official service left disabled (not removed), and the hand-back round trip.

mod agent;
mod fixture;

use fixture::{KeySource, Official, make_pfx, pfx_identity};
use tentacle_tests::SERVER_THUMBPRINT;

const OTHER_SERVER: &str = "0123456789ABCDEF0123456789ABCDEF01234567";

fn polling_servers() -> String {
    format!(
        "[{{\"Thumbprint\":\"{SERVER_THUMBPRINT}\",\"CommunicationStyle\":2,\"Address\":\"https://octopus.example:10943\",\"Squid\":null,\"SubscriptionId\":\"poll://yzqmnt2r8v4hk6wcdp3e/\"}},{{\"Thumbprint\":\"{OTHER_SERVER}\",\"CommunicationStyle\":\"TentacleActive\",\"Address\":\"wss://octopus.example/OctopusComms\",\"Squid\":null,\"SubscriptionId\":\"poll://abcdefghjkmnpqrstuvw/\"}}]"
    )
}

fn our_config(o: &Official, name: &str) -> toml::Table {
    o.s.config_toml(&o.s.root().join(name).join("tentacle.toml"))
}

#[test]
fn adopt_with_a_proxy_carries_every_setting_and_dry_run_masks_secrets() {
    let o = Official::new(KeySource::MachineId);
    let pfx = make_pfx(o.s.root(), "tentacle");
    let config = o.install(
        "Web Server",
        &pfx,
        &[
            (
                "Tentacle.Communication.TrustedOctopusServers",
                polling_servers(),
            ),
            ("Tentacle.Services.NoListen", "true".into()),
            ("Tentacle.Services.PortNumber", "10999".into()),
            ("Tentacle.Communication.PollingConnectionCount", "3".into()),
            (
                "Tentacle.Deployment.ApplicationDirectory",
                "/srv/apps".into(),
            ),
            ("Octopus.Server.Proxy.UseDefaultProxy", "false".into()),
            ("Octopus.Server.Proxy.ProxyHost", "proxy.example".into()),
            ("Octopus.Server.Proxy.ProxyPort", "3128".into()),
            ("Octopus.Server.Proxy.ProxyUsername", "squid".into()),
            (
                "Octopus.Server.Proxy.ProxyPassword",
                o.protect("pr0xy-s3cret"),
            ),
            ("Octopus.Proxy.UseDefaultProxy", "false".into()),
            ("Tentacle.Watchdog.Mystery", "x".into()),
        ],
    );
    let before = std::fs::read(&config).unwrap();

    let dry = o
        .run(&["import-tentacle", "--instance", "web server", "--dry-run"])
        .ok();
    assert!(dry.stdout.contains(&pfx.thumbprint), "{}", dry.stdout);
    assert!(
        dry.stdout.contains("poll://yzqmnt2r8v4hk6wcdp3e/"),
        "{}",
        dry.stdout
    );
    assert!(dry.stdout.contains("password ********"), "{}", dry.stdout);
    assert!(!dry.stdout.contains("pr0xy-s3cret"), "{}", dry.stdout);
    assert!(
        dry.stdout
            .contains("Not carried over: Tentacle.Watchdog.Mystery"),
        "{}",
        dry.stdout
    );
    assert!(
        !o.s.root().join("Web Server").exists(),
        "dry run wrote nothing"
    );
    assert!(
        o.calls().iter().all(|c| c.starts_with("is-")),
        "dry run only looks"
    );

    let run = o.run(&["import-tentacle", "--instance", "Web Server"]).ok();
    assert!(
        run.stdout.contains("Stopped and disabled"),
        "{}",
        run.stdout
    );
    let c = our_config(&o, "Web Server");
    assert_eq!(c["instance"].as_str(), Some("Web Server"));
    assert_eq!(
        c["home"].as_str(),
        Some(o.home("Web Server").to_str().unwrap())
    );
    assert_eq!(c["application_directory"].as_str(), Some("/srv/apps"));
    let comm = c["communication"].as_table().unwrap();
    assert_eq!(comm["port"].as_integer(), Some(10999));
    assert_eq!(comm["no_listen"].as_bool(), Some(true));
    assert_eq!(comm["polling_connection_count"].as_integer(), Some(3));
    assert_eq!(
        c["certificate"]["thumbprint"].as_str(),
        Some(pfx.thumbprint.as_str())
    );
    let servers = c["trusted_servers"].as_array().unwrap();
    assert_eq!(servers.len(), 2);
    assert_eq!(
        servers[0]["subscription_id"].as_str(),
        Some("poll://yzqmnt2r8v4hk6wcdp3e/")
    );
    assert_eq!(
        servers[1]["address"].as_str(),
        Some("wss://octopus.example/OctopusComms")
    );
    assert_eq!(servers[1]["style"].as_str(), Some("polling"));
    let pp = c["polling_proxy"].as_table().unwrap();
    assert_eq!(pp["mode"].as_str(), Some("custom"));
    assert_eq!(pp["host"].as_str(), Some("proxy.example"));
    assert_eq!(pp["port"].as_integer(), Some(3128));
    assert_eq!(pp["username"].as_str(), Some("squid"));
    assert_eq!(pp["password"].as_str(), Some("pr0xy-s3cret"));
    assert_eq!(c["proxy"]["mode"].as_str(), Some("none"));
    // The private key is owner-only; the official install is untouched except its service.
    let key_file = c["certificate"]["file"].as_str().unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::read(&config).unwrap(),
        before,
        "the official config is never changed"
    );
    assert!(
        o.units.join("Web-Server.service").is_file(),
        "the official unit is not removed"
    );
    let calls = o.calls();
    assert!(
        calls.contains(&"stop Web-Server.service".to_owned()),
        "{calls:?}"
    );
    assert!(
        calls.contains(&"disable Web-Server.service".to_owned()),
        "{calls:?}"
    );
    assert!(
        !calls
            .iter()
            .any(|c| c.starts_with("enable") || c.starts_with("start")),
        "{calls:?}"
    );
}

#[test]
fn machinekey_file_is_used_when_there_is_no_machine_id() {
    let o = Official::new(KeySource::MachineKeyFile);
    assert!(!o.machine_id.exists());
    let pfx = make_pfx(o.s.root(), "tentacle");
    let config = o.install("Tentacle", &pfx, &[]);
    let run = o.run(&["import-tentacle", "--dry-run"]).ok();
    assert!(
        run.stdout
            .contains(&format!("decrypted with {}", o.machine_key.display())),
        "{}",
        run.stdout
    );
    o.run(&["import-tentacle"]).ok();
    assert_eq!(
        our_config(&o, "Tentacle")["certificate"]["thumbprint"].as_str(),
        Some(pfx.thumbprint.as_str())
    );
    // Handed back without our service ever installed: the official unit of the same name stays,
    // and the certificate is encrypted with the machinekey file openssl can open.
    let unit = std::fs::read(o.units.join("Tentacle.service")).unwrap();
    o.run(&["export-tentacle", "--instance", "Tentacle"]).ok();
    assert_eq!(
        std::fs::read(o.units.join("Tentacle.service")).unwrap(),
        unit
    );
    let protected = Official::setting(&config, "Tentacle.Certificate").unwrap();
    let back = fixture::openssl(["base64", "-d", "-A"], Some(&o.unprotect(&protected)));
    assert_eq!(pfx_identity(&back, config).thumbprint, pfx.thumbprint);
}

#[test]
fn bad_input_is_refused_and_leaves_both_installs_alone() {
    // A config copied from another machine: the key does not fit.
    let o = Official::new(KeySource::Foreign);
    let pfx = make_pfx(o.s.root(), "tentacle");
    let config = o.install("Tentacle", &pfx, &[]);
    let before = std::fs::read(&config).unwrap();
    o.run(&["import-tentacle"])
        .fails(1, "cannot be decrypted with this machine's key");
    assert!(!o.s.root().join("Tentacle").exists());
    assert_eq!(std::fs::read(&config).unwrap(), before);
    assert!(
        !o.calls()
            .iter()
            .any(|c| c.starts_with("stop") || c.starts_with("disable"))
    );

    // A thumbprint that names another certificate.
    let o = Official::new(KeySource::MachineId);
    let pfx = make_pfx(o.s.root(), "tentacle");
    let mut other = make_pfx(o.s.root(), "other");
    other.file = pfx.file.clone();
    o.install("Tentacle", &other, &[]);
    o.run(&["import-tentacle"])
        .fails(1, &format!("has thumbprint {}", pfx.thumbprint));
    assert!(!o.s.root().join("Tentacle").exists());

    // A config that does not parse.
    let o = Official::new(KeySource::MachineId);
    let pfx = make_pfx(o.s.root(), "tentacle");
    let config = o.install("Tentacle", &pfx, &[]);
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("</octopus-settings>", "");
    std::fs::write(&config, &text).unwrap();
    o.run(&["import-tentacle"])
        .fails(1, "not valid Tentacle XML");
    assert!(!o.s.root().join("Tentacle").exists());

    // A name we already use: nothing of ours or theirs changes.
    let o = Official::new(KeySource::MachineId);
    let pfx = make_pfx(o.s.root(), "tentacle");
    o.install("Tentacle", &pfx, &[]);
    o.run(&["create-instance"]).ok();
    let ours = std::fs::read(o.s.default_config()).unwrap();
    o.calls();
    o.run(&["import-tentacle"]).fails(1, "already exists");
    assert_eq!(std::fs::read(o.s.default_config()).unwrap(), ours);
    assert!(
        !o.calls()
            .iter()
            .any(|c| c.starts_with("stop") || c.starts_with("disable"))
    );
    o.run(&["import-tentacle", "--instance", "Nope"])
        .fails(1, "Available instances: Tentacle");
}

#[test]
fn export_hands_back_and_reimport_gives_the_same_identity() {
    let o = Official::new(KeySource::MachineId);
    let pfx = make_pfx(o.s.root(), "tentacle");
    let config = o.install(
        "Tentacle",
        &pfx,
        &[
            (
                "Tentacle.Communication.TrustedOctopusServers",
                polling_servers(),
            ),
            ("Tentacle.Services.ListenIP", "127.0.0.1".into()),
        ],
    );
    let official_unit = std::fs::read(o.units.join("Tentacle.service")).unwrap();
    o.run(&["import-tentacle", "--install-service"]).ok();
    let calls = o.calls();
    assert!(
        calls.contains(&"disable Tentacle.service".to_owned()),
        "{calls:?}"
    );
    assert!(
        calls.contains(&"start Tentacle.service".to_owned()),
        "ours started: {calls:?}"
    );
    // Ours took the unit name; theirs is kept byte for byte for the hand-back.
    let ours_unit = std::fs::read_to_string(o.units.join("Tentacle.service")).unwrap();
    assert!(ours_unit.contains("agent --instance"), "{ours_unit}");
    let c = our_config(&o, "Tentacle");
    let first_key = std::fs::read(c["certificate"]["file"].as_str().unwrap()).unwrap();

    let run = o.run(&["export-tentacle", "--instance", "Tentacle"]).ok();
    assert!(
        run.stdout.contains("Octopus Tentacle can take over again"),
        "{}",
        run.stdout
    );
    assert_eq!(
        std::fs::read(o.units.join("Tentacle.service")).unwrap(),
        official_unit
    );
    let calls = o.calls();
    assert!(
        calls.contains(&"enable Tentacle.service".to_owned()),
        "{calls:?}"
    );
    assert!(
        calls.last().is_some_and(|c| c == "start Tentacle.service"),
        "{calls:?}"
    );
    assert!(
        o.run(&["list-instances"])
            .ok()
            .stdout
            .contains("No instances")
    );

    // openssl alone recovers the same certificate and key from what we wrote.
    let protected = Official::setting(&config, "Tentacle.Certificate").unwrap();
    let pfx_b64 = o.unprotect(&protected);
    let back = fixture::openssl(["base64", "-d", "-A"], Some(&pfx_b64));
    let id = pfx_identity(&back, config.clone());
    assert_eq!(id.thumbprint, pfx.thumbprint);
    assert_eq!(id.modulus, pfx.modulus);
    assert_eq!(
        Official::setting(&config, "Tentacle.CertificateThumbprint").unwrap(),
        pfx.thumbprint
    );
    assert_eq!(
        Official::setting(&config, "Tentacle.Services.ListenIP").unwrap(),
        "127.0.0.1"
    );
    let servers: serde_json::Value = serde_json::from_str(
        &Official::setting(&config, "Tentacle.Communication.TrustedOctopusServers").unwrap(),
    )
    .unwrap();
    assert_eq!(servers[0]["CommunicationStyle"], 2);
    assert_eq!(servers[1]["SubscriptionId"], "poll://abcdefghjkmnpqrstuvw/");
    assert_eq!(servers[1]["Address"], "wss://octopus.example/OctopusComms");

    // And importing it again yields the identical identity.
    o.run(&["import-tentacle"]).ok();
    let c = our_config(&o, "Tentacle");
    assert_eq!(
        std::fs::read(c["certificate"]["file"].as_str().unwrap()).unwrap(),
        first_key
    );
}
