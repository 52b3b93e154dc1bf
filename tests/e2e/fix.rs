//! `tentacle check --fix` and `tentacle firewall` against real peers: a port held by a real process (python3's http.server), a SHA-1 certificate made by openssl, the service through a recording `systemctl`, firewalld through a recording `firewall-cmd`, and the real ufw inside a network and mount namespace.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tentacle_core::instance::TentacleConfig;
use tentacle_tests::{Run, Sandbox, free_port, have};

use crate::namespaces;

/// A sandbox whose service commands and firewall tools are recording fakes first on `PATH`.
struct Fixture {
    s: Sandbox,
    bin: PathBuf,
    units: PathBuf,
    log: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let s = Sandbox::new();
        let bin = s.root().join("fake-bin");
        let units = s.root().join("units");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&units).unwrap();
        let log = s.root().join("calls.log");
        let f = Fixture { s, bin, units, log };
        // is-active exits 3 (inactive): an installed unit reads as Stopped.
        f.fake(
            "systemctl",
            "echo \"systemctl $*\" >> \"$LOG\"\ncase \" $* \" in *\" is-active \"*) echo inactive; exit 3;; esac\nexit 0",
        );
        f
    }

    /// Writes an executable `name` into the fake bin folder; `$LOG` is the calls log.
    fn fake(&self, name: &str, body: &str) {
        let path = self.bin.join(name);
        std::fs::write(
            &path,
            format!("#!/bin/sh\nLOG='{}'\n{body}\n", self.log.display()),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn command<I: IntoIterator<Item = S>, S: AsRef<std::ffi::OsStr>>(&self, args: I) -> Command {
        let mut cmd = self.s.command(args);
        let path = format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        cmd.env("PATH", path)
            .env("TENTACLE_SYSTEMD_UNIT_DIR", &self.units);
        cmd
    }

    fn run<I: IntoIterator<Item = S>, S: AsRef<std::ffi::OsStr>>(&self, args: I) -> Run {
        run_with(self.command(args), None)
    }

    /// `tentacle check --fix …` answering with `answers` on stdin (None: stdin closed).
    fn fix(&self, instance: &str, extra: &[&str], answers: Option<&str>) -> Run {
        let mut args = vec!["check", "--instance", instance, "--fix"];
        args.extend_from_slice(extra);
        run_with(self.command(args), answers)
    }

    /// The recorded calls since the last look.
    fn calls(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let _ = std::fs::remove_file(&self.log);
        text.lines().map(|l| l.replace("--user ", "")).collect()
    }

    fn config(&self, instance: &str) -> TentacleConfig {
        TentacleConfig::load(&self.s.root().join(instance).join("tentacle.toml")).unwrap()
    }
}

fn run_with(mut cmd: Command, answers: Option<&str>) -> Run {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    if let Some(a) = answers {
        stdin.write_all(a.as_bytes()).unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A listening instance with a certificate on `port`.
fn listening(f: &Fixture, instance: &str, port: u16) {
    f.run(["create-instance", "--instance", instance]).ok();
    f.run(["new-certificate", "--instance", instance]).ok();
    f.run([
        "configure",
        "--instance",
        instance,
        "--port",
        &port.to_string(),
        "--trust",
        tentacle_tests::SERVER_THUMBPRINT,
    ])
    .ok();
}

/// python3's web server on 127.0.0.1:`port`, once it accepts connections.
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

    fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Whether it exited within a few seconds.
    fn exited(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.0.try_wait().unwrap().is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn check_fix_stops_a_real_process_that_holds_the_port() {
    let f = Fixture::new();
    let port = free_port();
    listening(&f, "Web", port);
    let mut holder = Holder::start(port);
    let pid = holder.pid();

    // Nobody can answer: nothing is applied, the would-be commands are shown.
    let closed = f.fix("Web", &[], None);
    assert_eq!(closed.code, Some(1), "{closed:#?}");
    assert!(
        closed.stdout.contains(&format!(
            "Repair for FAIL Listening port {port}: Stop pid {pid} (python3)"
        )),
        "{closed:#?}"
    );
    assert!(
        closed.stdout.contains(&format!("    kill {pid}\n")),
        "{closed:#?}"
    );
    assert!(
        closed.stdout.contains("http.server"),
        "the command line is shown: {closed:#?}"
    );
    assert!(
        closed.stdout.contains("Not applied: nobody can answer"),
        "{closed:#?}"
    );
    assert!(
        holder.0.try_wait().unwrap().is_none(),
        "the holder was stopped without a yes"
    );

    // No to installing the service, yes to stopping the holder.
    let run = f.fix("Web", &[], Some("n\ny\n"));
    assert!(
        run.stdout.contains(&format!(
            "Apply \"Stop pid {pid} (python3)\"? [y/N] y\n    > kill {pid}"
        )),
        "{run:#?}"
    );
    assert!(holder.exited(), "python3 still runs: {run:#?}");
    assert!(
        run.stdout
            .contains("Not offering \"Move this Tentacle to port"),
        "the alternative is not applied too: {run:#?}"
    );
    assert!(
        run.stdout
            .contains(&format!("WARN  Listening port {port}: Port {port} is free")),
        "the check was run again: {run:#?}"
    );
    assert!(
        f.calls().iter().all(|c| !c.contains("enable")),
        "the service was installed after a no"
    );
}

#[test]
fn check_fix_moves_the_port_away_from_a_holder_and_prints_the_undo() {
    let f = Fixture::new();
    let port = free_port();
    listening(&f, "Web", port);
    let mut holder = Holder::start(port);
    // No to the service, no to stopping python3, yes to moving.
    let run = f.fix("Web", &[], Some("n\nn\ny\n"));
    let moved = f.config("Web").communication.port;
    assert_ne!(moved, port, "{run:#?}");
    assert!(
        run.stdout.contains(&format!(
            "    tentacle configure --instance Web --port {moved}\n"
        )),
        "{run:#?}"
    );
    assert!(
        run.stdout.contains(&format!(
            "  Undo with: tentacle configure --instance Web --port {port}\n"
        )),
        "{run:#?}"
    );
    assert!(
        holder.0.try_wait().unwrap().is_none(),
        "python3 was stopped after a no"
    );
    assert!(
        run.stdout.contains(&format!(
            "WARN  Listening port {moved}: Port {moved} is free"
        )),
        "{run:#?}"
    );
    // The undo line, run as printed, puts the port back.
    f.run([
        "configure",
        "--instance",
        "Web",
        "--port",
        &port.to_string(),
    ])
    .ok();
    assert_eq!(f.config("Web").communication.port, port);
}

#[test]
fn check_fix_regenerates_a_sha1_certificate_made_by_openssl_and_the_undo_restores_it() {
    assert!(
        have("openssl"),
        "openssl is missing: run cargo xtask test (it installs it)"
    );
    let f = Fixture::new();
    f.run(["create-instance", "--instance", "Old"]).ok();
    f.run([
        "configure",
        "--instance",
        "Old",
        "--noListen",
        "true",
        "--trust",
        tentacle_tests::SERVER_THUMBPRINT,
    ])
    .ok();
    let dir = f.s.root();
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-sha1", "-newkey", "rsa:2048", "-nodes", "-days", "30",
        ])
        .args(["-subj", "/CN=Octopus Tentacle", "-keyout"])
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut pem = std::fs::read(dir.join("cert.pem")).unwrap();
    pem.extend(std::fs::read(dir.join("key.pem")).unwrap());
    std::fs::write(dir.join("sha1.pem"), pem).unwrap();
    f.run([
        "import-certificate",
        "--instance",
        "Old",
        "--from-file",
        "sha1.pem",
    ])
    .ok();
    let old = f.config("Old").certificate.unwrap();

    let json = f.run(["check", "--instance", "Old", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let cert = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "config.certificate")
        .unwrap();
    assert_eq!(cert["verdict"], "warn", "{cert:#}");
    assert!(
        cert["seen"]
            .as_str()
            .unwrap()
            .contains("sha1WithRSAEncryption"),
        "{cert:#}"
    );
    assert_eq!(
        cert["actions"][0]["kind"], "regenerate-certificate",
        "{cert:#}"
    );

    let run = f.fix("Old", &[], Some("n\ny\n"));
    assert!(
        run.stdout.contains("must trust the new one"),
        "the warning is shown: {run:#?}"
    );
    let new = f.config("Old").certificate.unwrap();
    assert_ne!(new.thumbprint, old.thumbprint, "{run:#?}");
    assert!(
        run.stdout
            .contains("PASS  This Tentacle's certificate: Signed with sha256WithRSAEncryption"),
        "{run:#?}"
    );
    let undo = format!(
        "tentacle import-certificate --instance Old --from-file {}",
        old.file.display()
    );
    assert!(
        run.stdout.contains(&format!("  Undo with: {undo}\n")),
        "{run:#?}"
    );
    f.run([
        "import-certificate",
        "--instance",
        "Old",
        "--from-file",
        &old.file.display().to_string(),
    ])
    .ok();
    assert_eq!(
        f.config("Old").certificate.unwrap().thumbprint,
        old.thumbprint
    );
}

#[test]
fn check_fix_installs_then_starts_the_service_through_systemctl() {
    let f = Fixture::new();
    f.run(["create-instance", "--instance", "Svc"]).ok();
    f.run(["new-certificate", "--instance", "Svc"]).ok();
    f.run([
        "configure",
        "--instance",
        "Svc",
        "--noListen",
        "true",
        "--trust",
        tentacle_tests::SERVER_THUMBPRINT,
    ])
    .ok();
    let _ = f.calls();
    let run = f.fix("Svc", &["--yes"], None);
    assert!(
        run.stdout
            .contains("    tentacle service --instance Svc --install --start\n"),
        "{run:#?}"
    );
    assert!(
        run.stdout.contains("Done: Install and start the service"),
        "{run:#?}"
    );
    let calls = f.calls();
    assert!(
        calls.ends_with(&[
            "systemctl daemon-reload".to_owned(),
            "systemctl enable Svc.service".to_owned(),
            "systemctl start Svc.service".to_owned(),
        ]) || calls.windows(3).any(|w| w
            == [
                "systemctl daemon-reload",
                "systemctl enable Svc.service",
                "systemctl start Svc.service"
            ]),
        "{calls:?}"
    );
    assert!(f.units.join("Svc.service").is_file());
    // Installed but stopped now (the fake says inactive): the repair is a start.
    let run = f.fix("Svc", &[], Some("y\n"));
    assert!(
        run.stdout
            .contains("Repair for WARN Tentacle agent process: Start the service"),
        "{run:#?}"
    );
    assert!(
        run.stdout
            .contains("  Undo with: tentacle service --instance Svc --stop\n"),
        "{run:#?}"
    );
    assert!(
        f.calls()
            .contains(&"systemctl start Svc.service".to_owned())
    );
}

#[test]
fn firewall_add_status_and_remove_drive_a_recording_firewall_cmd() {
    let f = Fixture::new();
    let port = free_port();
    listening(&f, "Web", port);
    // A recording firewalld that keeps its open ports in a file; ufw says it is off.
    let ports = f.s.root().join("firewalld-ports");
    std::fs::write(&ports, "").unwrap();
    f.fake(
        "ufw",
        "echo \"ufw $*\" >> \"$LOG\"\necho 'Status: inactive'",
    );
    f.fake(
        "firewall-cmd",
        &format!(
            "P='{}'\necho \"firewall-cmd $*\" >> \"$LOG\"\nfor a in \"$@\"; do case \"$a\" in\n --state) echo running; exit 0;;\n --query-port=*) grep -qx \"${{a#--query-port=}}\" \"$P\" && {{ echo yes; exit 0; }}; echo no; exit 1;;\n --add-port=*) [ \"$1\" = --permanent ] || echo \"${{a#--add-port=}}\" >> \"$P\"; echo success;;\n --remove-port=*) [ \"$1\" = --permanent ] || {{ grep -vx \"${{a#--remove-port=}}\" \"$P\" > \"$P.new\"; mv \"$P.new\" \"$P\"; }}; echo success;;\n esac; done",
            ports.display()
        ),
    );
    let status = f.run(["firewall", "--instance", "Web", "--status"]).ok();
    assert!(
        status.stdout.contains(&format!(
            "firewalld is active and does not allow TCP port {port}"
        )),
        "{status:#?}"
    );
    let json = f.run(["check", "--instance", "Web", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let fw = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "listen.firewall")
        .unwrap();
    assert_eq!(fw["verdict"], "fail", "{fw:#}");
    assert_eq!(fw["actions"][0]["kind"], "allow-port", "{fw:#}");
    assert_eq!(fw["actions"][0]["firewall"], "firewalld", "{fw:#}");
    let _ = f.calls();

    f.run(["firewall", "--instance", "Web", "--add"]).ok();
    let calls = f.calls();
    assert!(
        calls.contains(&format!("firewall-cmd --add-port={port}/tcp")),
        "{calls:?}"
    );
    assert!(
        calls.contains(&format!("firewall-cmd --permanent --add-port={port}/tcp")),
        "{calls:?}"
    );
    let status = f.run(["firewall", "--instance", "Web", "--status"]).ok();
    assert!(
        status
            .stdout
            .contains(&format!("firewalld is active and allows TCP port {port}")),
        "{status:#?}"
    );
    let again = f.run(["firewall", "--instance", "Web", "--add"]).ok();
    assert!(again.stdout.contains("already allows"), "{again:#?}");

    f.run(["firewall", "--instance", "Web", "--remove"]).ok();
    let calls = f.calls();
    assert!(
        calls.contains(&format!(
            "firewall-cmd --permanent --remove-port={port}/tcp"
        )),
        "{calls:?}"
    );
    assert_eq!(std::fs::read_to_string(&ports).unwrap().trim(), "");

    // Bad input: no verb, two verbs, port 0.
    f.run(["firewall", "--instance", "Web"])
        .fails(2, "Pass exactly one of --add, --remove or --status");
    f.run(["firewall", "--instance", "Web", "--add", "--remove"])
        .fails(2, "Pass exactly one of");
    f.run(["firewall", "--instance", "Web", "--add", "--port", "0"])
        .fails(1, "--port must be between 1 and 65535");
    f.run(["check", "--instance", "Web", "--yes"])
        .fails(2, "pass --fix --yes");
    f.run(["check", "--instance", "Web", "--fix", "--json"])
        .fails(2, "cannot be combined with --json");
}

const UFW_TEST: &str = "fix::firewall_and_check_fix_with_the_real_ufw_in_a_namespace";

#[test]
fn firewall_and_check_fix_with_the_real_ufw_in_a_namespace() {
    if namespaces::inside() {
        return inside_ufw_namespace();
    }
    if !have("ufw") {
        println!(
            "SKIPPED: ufw is missing; install it with: apt-get install ufw (the recording firewall-cmd test still runs)"
        );
        return;
    }
    // ufw keeps its rules in /etc/ufw: a private copy is mounted over it, so the machine's
    // own firewall and files are never touched; the rules live in the new network namespace.
    let setup = "d=/tmp/tentacle-ufw-test\nmkdir -p $d\nmount -t tmpfs tentacle-ufw $d\ncp -a /etc/ufw/. $d/\nmount --bind $d /etc/ufw\nufw --force enable >/dev/null";
    if let Some(text) = namespaces::rerun_inside("nm", setup, UFW_TEST) {
        assert!(text.contains("ufw allowed the port"), "{text}");
    }
}

fn inside_ufw_namespace() {
    let f = Fixture::new();
    let port = free_port();
    listening(&f, "Web", port);
    let status = f.run(["firewall", "--instance", "Web", "--status"]).ok();
    assert!(
        status
            .stdout
            .contains(&format!("ufw is active and does not allow TCP port {port}")),
        "{status:#?}"
    );
    // No to the service, yes to the firewall rule.
    let run = f.fix("Web", &[], Some("n\ny\n"));
    assert!(
        run.stdout.contains(&format!(
            "    ufw allow {port}/tcp comment \"Octopus Deploy Tentacle\"\n"
        )),
        "{run:#?}"
    );
    assert!(
        run.stdout.contains(&format!("PASS  Firewall on this machine allows TCP port {port}: ufw is active and allows TCP port {port}")),
        "{run:#?}"
    );
    let ufw = Command::new("ufw").arg("status").output().unwrap();
    let text = String::from_utf8_lossy(&ufw.stdout);
    assert!(
        text.contains(&format!("{port}/tcp")) && text.contains("Octopus Deploy Tentacle"),
        "{text}"
    );
    f.run(["firewall", "--instance", "Web", "--remove"]).ok();
    let ufw = Command::new("ufw").arg("status").output().unwrap();
    assert!(!String::from_utf8_lossy(&ufw.stdout).contains(&format!("{port}/tcp")));
    println!("ufw allowed the port and the rule was removed");
}

#[test]
fn check_fix_gives_the_home_folder_to_the_service_account_of_the_unit() {
    if !rustix_is_root() {
        println!("SKIPPED: changing a folder's owner needs root; run the tests as root");
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let f = Fixture::new();
    f.run(["create-instance", "--instance", "Home"]).ok();
    f.run(["new-certificate", "--instance", "Home"]).ok();
    f.run([
        "configure",
        "--instance",
        "Home",
        "--noListen",
        "true",
        "--trust",
        tentacle_tests::SERVER_THUMBPRINT,
    ])
    .ok();
    let home = f.s.root().join("Home");
    std::fs::create_dir_all(home.join("Logs")).unwrap();
    std::fs::write(home.join("Logs").join("old.log"), "x").unwrap();
    // The installed service runs as nobody; the folder belongs to root.
    std::fs::write(
        f.units.join("Home.service"),
        "[Service]\nUser=nobody\nExecStart=/usr/bin/tentacle agent --instance Home\n",
    )
    .unwrap();
    let run = f.fix("Home", &[], Some("n\ny\n"));
    assert!(
        run.stdout.contains(
            "Repair for FAIL Home folder ownership and permissions: Give the home folder to nobody"
        ),
        "{run:#?}"
    );
    assert!(
        run.stdout
            .contains(&format!("    chown -R nobody: {}\n", home.display())),
        "{run:#?}"
    );
    assert!(
        run.stdout
            .contains(&format!("  Undo with: chown -R root: {}\n", home.display())),
        "{run:#?}"
    );
    let nobody = std::fs::metadata(home.join("Logs").join("old.log"))
        .unwrap()
        .uid();
    assert_eq!(nobody, 65534, "{run:#?}");
    assert!(
        run.stdout
            .contains("PASS  Home folder ownership and permissions"),
        "{run:#?}"
    );
}

fn rustix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
