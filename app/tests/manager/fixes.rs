//! The checks screen's repairs, driven by their buttons: a real python3 holding the port is stopped, and a SHA-1 certificate made by openssl is regenerated and then restored with Undo.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use egui_kittest::kittest::Queryable;
use tentacle_core::instance::TentacleConfig;
use tentacle_manager::Screen;

use super::{Fixture, in_child, screen_text, settle, wait_for};

/// python3's web server on 127.0.0.1:`port`, once it accepts connections; killed on drop.
struct Holder(Child);

impl Holder {
    fn start(port: u16) -> Holder {
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs (apt-get install python3)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "python3 never listened on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Holder(child)
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn open_checks(
    fixture: &Fixture,
) -> egui_kittest::Harness<'static, tentacle_manager::TentacleManagerApp> {
    let mut harness = fixture.open();
    harness.get_by_label("Run checks").click();
    harness.step();
    assert!(matches!(harness.state().screen(), Screen::Checks(_)));
    wait_for(&mut harness, "the checks to finish", |h| {
        !h.state().is_busy()
    });
    harness.run();
    harness
}

#[test]
fn a_port_held_by_a_real_process_is_freed_by_its_fix_button() {
    in_child(
        "fixes::a_port_held_by_a_real_process_is_freed_by_its_fix_button",
        |root| {
            let fixture = Fixture::at(root);
            let record = fixture.create("Tentacle");
            let port = free_port();
            fixture.edit(&record, |c| c.communication.port = port);
            let mut holder = Holder::start(port);
            let pid = holder.0.id();
            let mut harness = open_checks(&fixture);
            let shown = screen_text(&harness);
            assert!(
                shown.contains(&format!(
                    "Port {port} is held by another process: pid {pid} (python3)"
                )),
                "{shown}"
            );

            harness
                .get_by_label(&format!("Fix: Stop pid {pid} (python3)…"))
                .click();
            harness.run();
            // The panel says exactly what will run before anything runs.
            harness.get_by_label(&format!("kill {pid}"));
            harness.get_by_label("This cannot be undone.");
            assert!(holder.0.try_wait().unwrap().is_none(), "stopped before Run");
            harness.get_by_label("Run").click();
            wait_for(&mut harness, "the repair and the checks after it", |h| {
                !h.state().is_busy()
                    && matches!(h.state().screen(), Screen::Checks(c) if c.fix.as_ref().is_some_and(|f| f.log.outcome.is_some()) && c.report.is_some())
            });
            harness.run();
            let deadline = Instant::now() + Duration::from_secs(5);
            while holder.0.try_wait().unwrap().is_none() {
                assert!(Instant::now() < deadline, "python3 still runs");
                std::thread::sleep(Duration::from_millis(50));
            }
            let shown = screen_text(&harness);
            assert!(shown.contains(&format!("> kill {pid}")), "{shown}");
            assert!(
                shown.contains("Done. The checks ran again below."),
                "{shown}"
            );
            assert!(
                shown.contains(&format!("Port {port} is free")),
                "the check ran again: {shown}"
            );
            harness.get_by_label("Close").click();
            harness.run();
            assert!(!screen_text(&harness).contains("Done. The checks ran again"));
            settle(&mut harness);
        },
    );
}

#[test]
fn a_sha1_certificate_is_regenerated_by_its_fix_button_and_undo_restores_it() {
    in_child(
        "fixes::a_sha1_certificate_is_regenerated_by_its_fix_button_and_undo_restores_it",
        |root| {
            let fixture = Fixture::at(root);
            let record = fixture.create("Tentacle");
            fixture.edit(&record, |c| c.communication.no_listen = true);
            let dir = tempfile::tempdir().unwrap();
            let out = Command::new("openssl")
                .args([
                    "req", "-x509", "-sha1", "-newkey", "rsa:2048", "-nodes", "-days", "30",
                ])
                .args(["-subj", "/CN=Octopus Tentacle", "-keyout"])
                .arg(dir.path().join("key.pem"))
                .arg("-out")
                .arg(dir.path().join("cert.pem"))
                .output()
                .expect("openssl runs (apt-get install openssl)");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let mut pem = std::fs::read(dir.path().join("cert.pem")).unwrap();
            pem.extend(std::fs::read(dir.path().join("key.pem")).unwrap());
            let cert = tentacle_core::certificate::TentacleCertificate::from_pem(&pem).unwrap();
            let file = tentacle_core::certificate::save_to_dir(&cert, &root.join("certs")).unwrap();
            let old = cert.thumbprint();
            fixture.edit(&record, |c| {
                c.certificate = Some(tentacle_core::instance::CertificateRef {
                    thumbprint: old.clone(),
                    file: file.clone(),
                })
            });
            let thumbprint = || {
                TentacleConfig::load(&record.config)
                    .unwrap()
                    .certificate
                    .unwrap()
                    .thumbprint
            };
            let mut harness = open_checks(&fixture);
            let shown = screen_text(&harness);
            assert!(shown.contains("sha1WithRSAEncryption"), "{shown}");
            harness
                .get_by_label("Fix: Regenerate this Tentacle's certificate…")
                .click();
            harness.run();
            harness.get_by_label("tentacle new-certificate --instance Tentacle");
            harness.get_by_label_contains("must trust the new one");
            harness.get_by_label("Run").click();
            wait_for(
                &mut harness,
                "the new certificate and the checks after it",
                |h| {
                    !h.state().is_busy()
                        && matches!(h.state().screen(), Screen::Checks(c) if c.fix.as_ref().is_some_and(|f| f.log.outcome.is_some()) && c.report.is_some())
                },
            );
            harness.run();
            assert_ne!(thumbprint(), old, "{}", screen_text(&harness));
            assert!(screen_text(&harness).contains("sha256WithRSAEncryption"));

            harness.get_by_label("Undo").click();
            wait_for(&mut harness, "the undo and the checks after it", |h| {
                !h.state().is_busy()
                    && matches!(h.state().screen(), Screen::Checks(c) if c.fix.as_ref().is_some_and(|f| f.is_undo && f.log.outcome.is_some()) && c.report.is_some())
            });
            harness.run();
            assert_eq!(thumbprint(), old, "{}", screen_text(&harness));
            let shown = screen_text(&harness);
            assert!(
                shown.contains("Undo: Restore the previous certificate"),
                "{shown}"
            );
            assert!(shown.contains("sha1WithRSAEncryption"), "{shown}");
        },
    );
}

// The fake tools are scratch scripts in a temporary folder: a plain write is right here.
#[allow(clippy::disallowed_methods)]
/// Re-runs `test` in a child with its own config root, unit folder and a recording
/// `firewall-cmd` (firewalld "running") and an inactive `ufw` first on `PATH`; returns the
/// child's firewall calls log path to the body.
fn in_child_with_firewalld(test: &str, body: impl FnOnce(&std::path::Path, &std::path::Path)) {
    const ROOT: &str = "TENTACLE_MANAGER_TEST_ROOT";
    const LOG: &str = "TENTACLE_MANAGER_TEST_FIREWALL_LOG";
    if let (Some(root), Some(log)) = (std::env::var_os(ROOT), std::env::var_os(LOG)) {
        body(std::path::Path::new(&root), std::path::Path::new(&log));
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    let units = dir.path().join("units");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&units).unwrap();
    let log = dir.path().join("firewall.log");
    let write = |name: &str, body: String| {
        let p = bin.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    write("ufw", "echo 'Status: inactive'".to_owned());
    write(
        "firewall-cmd",
        format!(
            "echo \"firewall-cmd $*\" >> '{0}'\nP='{0}.ports'\ncase \"$1\" in\n --state) echo running;;\n --query-port=*) grep -qx \"${{1#--query-port=}}\" \"$P\" 2>/dev/null && {{ echo yes; exit 0; }}; echo no; exit 1;;\n --add-port=*) echo \"${{1#--add-port=}}\" >> \"$P\"; echo success;;\n --remove-port=*) : > \"$P\"; echo success;;\n *) echo success;;\nesac",
            log.display()
        ),
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let root = dir.path().join("root");
    let output = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(ROOT, &root)
        .env(LOG, &log)
        .env("TENTACLE_CONFIG_ROOT", &root)
        .env("TENTACLE_SYSTEMD_UNIT_DIR", &units)
        .env("PATH", path)
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "the child run of {test} failed:\n{text}"
    );
    assert!(
        text.contains("1 passed"),
        "the child did not run {test}:\n{text}"
    );
}

#[test]
fn the_wizard_adds_the_firewall_exception_and_rolls_it_back() {
    in_child_with_firewalld(
        "fixes::the_wizard_adds_the_firewall_exception_and_rolls_it_back",
        |root, log| {
            let calls = || std::fs::read_to_string(log).unwrap_or_default();
            let fixture = Fixture::at(root);
            let mut harness = fixture.open();
            harness.get_by_label("Get started").click();
            harness.run();
            harness.get_by_label("Next").click();
            harness.run();
            harness.get_by_label("Next").click();
            harness.run();
            // The box appears once the look for a firewall found firewalld, checked.
            wait_for(&mut harness, "the firewall box", |h| {
                screen_text(h).contains("Add a firewall exception for port 10933")
            });
            harness.run();
            super::fill(&mut harness, "Listen port", "10950");
            let shown = screen_text(&harness);
            assert!(
                shown.contains("Add a firewall exception for port 10950"),
                "{shown}"
            );
            assert!(
                shown.contains("firewalld is active on this machine"),
                "{shown}"
            );
            harness.get_by_label("Next").click();
            harness.run();
            harness.get_by_label("Show script").click();
            harness.run();
            let script = super::text_of(harness.get_by_label_contains("tentacle create-instance"));
            assert!(
                script
                    .contains("tentacle firewall --instance \"Tentacle\" --add\ntentacle service"),
                "{script}"
            );
            // With the service: systemd is not PID 1 here, so that step fails and the
            // exception is taken away again.
            harness.get_by_label("Install").click();
            wait_for(&mut harness, "the install to end", |h| !h.state().is_busy());
            harness.run();
            let shown = screen_text(&harness);
            assert!(
                shown.contains("> tentacle firewall --instance \"Tentacle\" --remove"),
                "{shown}"
            );
            let recorded = calls();
            assert!(
                recorded.contains("firewall-cmd --add-port=10950/tcp\n"),
                "{recorded}"
            );
            assert!(
                recorded.contains("firewall-cmd --permanent --remove-port=10950/tcp\n"),
                "{recorded}"
            );
            // Unticked, the step leaves the script (no second install: each one makes an RSA key).
            harness.get_by_label("Back").click();
            harness.run();
            harness
                .get_by_label("Add a firewall exception for port 10950")
                .click();
            harness.run();
            harness.get_by_label("Next").click();
            harness.run();
            if harness.query_by_label("Hide script").is_none() {
                harness.get_by_label("Show script").click();
                harness.run();
            }
            let script = harness
                .query_all_by_label_contains("tentacle create-instance")
                .map(super::text_of)
                .find(|t| t.starts_with("tentacle create-instance"))
                .expect("the script is shown");
            assert!(!script.contains("tentacle firewall"), "{script}");
        },
    );
}
