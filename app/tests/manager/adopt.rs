//! Adopting an Octopus Tentacle instance from the dashboard and handing it back, against an official install made with openssl (machine-id key, JSON index, systemd unit, a recording systemctl).
//!
//! With `TENTACLE_SCREENSHOTS=<folder>` the adopt and hand-back screens are also written there as PNGs.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};

use egui_kittest::kittest::Queryable;
use tentacle_manager::Screen;

use super::{Fixture, screen_text, settle, wait_for};

const MACHINE_ID: &str = "4f1c8e2a9b7d46e3a05c1d2e3f4a5b6c";
const CHILD: &str = "TENTACLE_ADOPT_TEST_CHILD";

fn openssl(args: &[&str], stdin: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = Process::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl is not installed; run cargo xtask test");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// An official instance `Tentacle` (listening, one trusted server) under `dir`; returns its thumbprint.
#[allow(clippy::disallowed_methods)] // throwaway fixtures of the official Tentacle's files
fn official_install(dir: &Path) -> String {
    let p = |n: &str| dir.join(n).display().to_string();
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=Octopus Tentacle",
            "-keyout",
            &p("k.pem"),
            "-out",
            &p("c.pem"),
        ],
        b"",
    );
    openssl(
        &[
            "pkcs12",
            "-export",
            "-passout",
            "pass:",
            "-in",
            &p("c.pem"),
            "-inkey",
            &p("k.pem"),
            "-out",
            &p("t.pfx"),
        ],
        b"",
    );
    let fp = String::from_utf8(openssl(
        &[
            "x509",
            "-noout",
            "-fingerprint",
            "-sha1",
            "-in",
            &p("c.pem"),
        ],
        b"",
    ))
    .unwrap();
    let thumbprint = fp.trim().rsplit('=').next().unwrap().replace(':', "");
    let pfx_b64 = openssl(&["base64", "-A", "-in", &p("t.pfx")], b"");
    let sealed = openssl(
        &[
            "enc",
            "-aes-256-cbc",
            "-K",
            &hex(MACHINE_ID),
            "-iv",
            &hex("743677397A244326"),
        ],
        &pfx_b64,
    );
    let protected = String::from_utf8(openssl(&["base64", "-A"], &sealed)).unwrap();
    std::fs::write(dir.join("machine-id"), format!("{MACHINE_ID}\n")).unwrap();
    let home = dir.join("official-home");
    std::fs::create_dir_all(&home).unwrap();
    let config = dir
        .join("etc-octopus")
        .join("Tentacle")
        .join("tentacle-Tentacle.config");
    std::fs::create_dir_all(config.parent().unwrap().join("Instances")).unwrap();
    std::fs::write(
        &config,
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<octopus-settings>\n  <set key=\"Octopus.Home\">{}</set>\n  <set key=\"Tentacle.Certificate\">{protected}</set>\n  <set key=\"Tentacle.CertificateThumbprint\">{thumbprint}</set>\n  <set key=\"Tentacle.Communication.TrustedOctopusServers\">[{{\"Thumbprint\":\"{}\",\"CommunicationStyle\":1,\"Address\":null,\"Squid\":null,\"SubscriptionId\":null}}]</set>\n  <set key=\"Tentacle.Services.PortNumber\">10933</set>\n</octopus-settings>",
            home.display(),
            "76F1E5F2B1B2C3D4E5F60718293A4B5C6D7E8F90"
        ),
    )
    .unwrap();
    std::fs::write(
        config
            .parent()
            .unwrap()
            .join("Instances")
            .join("tentacle.config"),
        format!(
            "{{\n  \"Name\": \"Tentacle\",\n  \"ConfigurationFilePath\": \"{}\"\n}}",
            config.display()
        ),
    )
    .unwrap();
    let units = dir.join("units");
    std::fs::create_dir_all(&units).unwrap();
    std::fs::write(units.join("Tentacle.service"), "[Service]\nExecStart=/opt/octopus/tentacle/Tentacle run --instance=Tentacle --noninteractive\n").unwrap();
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(
        bin.join("systemctl"),
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexit 0\n",
            dir.join("systemctl.log").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        bin.join("systemctl"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    thumbprint
}

/// Runs `body` in a child process of this test binary whose environment points at a fresh official install.
#[allow(clippy::disallowed_methods)] // a throwaway note for the child process
fn with_official(test: &str, body: impl FnOnce(&Path, &str)) {
    if let Some(dir) = std::env::var_os(CHILD) {
        let dir = PathBuf::from(dir);
        let thumbprint = std::fs::read_to_string(dir.join("thumbprint")).unwrap();
        body(&dir, &thumbprint);
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let thumbprint = official_install(dir);
    std::fs::write(dir.join("thumbprint"), &thumbprint).unwrap();
    let mut path = OsString::from(dir.join("bin"));
    path.push(":");
    path.push(std::env::var_os("PATH").unwrap_or_default());
    let output = Process::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, dir)
        .env("TENTACLE_MANAGER_TEST_ROOT", dir.join("ours"))
        .env("TENTACLE_CONFIG_ROOT", dir.join("ours"))
        .env("TENTACLE_SYSTEMD_UNIT_DIR", dir.join("units"))
        .env(
            "TentacleMachineConfigurationHomeDirectory",
            dir.join("etc-octopus"),
        )
        .env("TENTACLE_OFFICIAL_MACHINE_ID", dir.join("machine-id"))
        .env("TENTACLE_OFFICIAL_MACHINEKEY", dir.join("no-machinekey"))
        .env("PATH", path)
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && text.contains("1 passed"),
        "the child run of {test} failed:\n{text}"
    );
}

fn screenshot(
    harness: &mut egui_kittest::Harness<'_, tentacle_manager::TentacleManagerApp>,
    name: &str,
) {
    if let Some(dir) = std::env::var_os("TENTACLE_SCREENSHOTS") {
        harness.run();
        let image = harness.render().expect("render the window");
        image
            .save(Path::new(&dir).join(format!("{name}.png")))
            .expect("write the screenshot");
    }
}

fn log_done(h: &egui_kittest::Harness<'_, tentacle_manager::TentacleManagerApp>) -> bool {
    matches!(h.state().screen(), Screen::Adopt(a) if a.log.outcome.is_some())
}

#[test]
fn dashboard_offers_adoption_shows_the_summary_adopts_and_undoes() {
    with_official(
        "adopt::dashboard_offers_adoption_shows_the_summary_adopts_and_undoes",
        |dir, thumbprint| {
            let fixture = Fixture::at(&dir.join("ours"));
            let mut harness = fixture.open();
            let offer = "Adopt 'Tentacle' from Octopus Tentacle";
            wait_for(&mut harness, "the adoption offer", |h| {
                h.query_by_label(offer).is_some()
            });
            harness.run();
            harness.get_by_label_contains(&format!("Certificate thumbprint: {thumbprint}"));
            harness.get_by_label_contains("will be stopped and disabled, not removed");
            screenshot(&mut harness, "adopt-offer");
            harness.get_by_label(offer).click();
            harness.run();
            harness.get_by_label_contains("Mode: listening on port 10933");
            harness
                .get_by_label("Install and start this Tentacle's service")
                .click();
            harness.run();
            screenshot(&mut harness, "adopt");
            harness.get_by_label("Adopt").click();
            wait_for(&mut harness, "the adoption to finish", log_done);
            harness.run();
            let text = screen_text(&harness);
            assert!(text.contains("Adopted."), "{text}");
            screenshot(&mut harness, "adopt-done");
            let record = fixture.instances.find("Tentacle").expect("adopted");
            let config = tentacle_core::instance::TentacleConfig::load(&record.config).unwrap();
            assert_eq!(config.certificate.unwrap().thumbprint.as_str(), thumbprint);
            let calls = std::fs::read_to_string(dir.join("systemctl.log")).unwrap();
            assert!(calls.contains("disable Tentacle.service"), "{calls}");
            assert!(
                dir.join("units").join("Tentacle.service").is_file(),
                "the official unit stays"
            );

            harness
                .get_by_label("Undo: hand back to Octopus Tentacle")
                .click();
            wait_for(&mut harness, "the undo to finish", log_done);
            harness.run();
            let text = screen_text(&harness);
            assert!(text.contains("Handed back"), "{text}");
            screenshot(&mut harness, "adopt-undone");
            assert!(
                fixture.instances.list().unwrap().is_empty(),
                "ours stood down"
            );
            let calls = std::fs::read_to_string(dir.join("systemctl.log")).unwrap();
            assert!(
                calls.trim_end().ends_with("start Tentacle.service"),
                "{calls}"
            );
        },
    );
}

#[test]
fn an_adopted_instance_can_be_handed_back_from_the_dashboard() {
    with_official(
        "adopt::an_adopted_instance_can_be_handed_back_from_the_dashboard",
        |dir, thumbprint| {
            let fixture = Fixture::at(&dir.join("ours"));
            let mut out = Vec::new();
            tentacle_core::cli::run(
                vec!["import-tentacle".into()],
                &mut tentacle_core::cli::Out::new(&mut out),
            )
            .unwrap();
            let mut harness = fixture.open();
            let button = "Hand back to Octopus Tentacle";
            wait_for(&mut harness, "the hand-back button", |h| {
                h.query_by_label(button).is_some()
            });
            settle(&mut harness);
            harness.get_by_label_contains("This instance was adopted from Octopus Tentacle.");
            harness.get_by_label(button).click();
            harness.run();
            harness.get_by_label_contains("Writes this instance's settings and certificate back");
            screenshot(&mut harness, "adopt-hand-back");
            harness.get_by_label("Hand back").click();
            wait_for(&mut harness, "the hand-back to finish", log_done);
            harness.run();
            let text = screen_text(&harness);
            assert!(text.contains("Handed back"), "{text}");
            screenshot(&mut harness, "adopt-handed-back");
            let official = dir
                .join("etc-octopus")
                .join("Tentacle")
                .join("tentacle-Tentacle.config");
            let xml = std::fs::read_to_string(official).unwrap();
            assert!(xml.contains(&format!(">{thumbprint}<")), "{xml}");
            assert!(fixture.instances.list().unwrap().is_empty());
            let unit = std::fs::read_to_string(dir.join("units").join("Tentacle.service")).unwrap();
            assert!(
                unit.contains("/opt/octopus/tentacle/Tentacle"),
                "the official unit stays: {unit}"
            );
            harness.get_by_label("Back to dashboard").click();
            wait_for(&mut harness, "the offer again", |h| {
                h.query_by_label("Adopt 'Tentacle' from Octopus Tentacle")
                    .is_some()
            });
        },
    );
}
