//! The systemd backend against systemd's own tools (`systemd-analyze verify`, `systemctl --root`)
//! and the `tentacle service` verbs against a recording fake `systemctl` first on `PATH`.

// Test fixtures (units, the fake systemctl) are scratch files in temp dirs: plain writes are fine.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tentacle_core::service::ServiceSpec;
use tentacle_core::service::systemd::{unit_name, unit_text};

const TENTACLE: &str = env!("CARGO_BIN_EXE_tentacle");

fn require(tool: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "{tool} is missing: run cargo xtask test (it installs systemd)"
    );
}

fn spec(name: &str, exe: &Path) -> ServiceSpec {
    ServiceSpec {
        name: name.to_owned(),
        selector: format!("--instance \"{name}\""),
        executable: exe.to_owned(),
        args: ServiceSpec::agent_args_for_instance(name),
        username: None,
        password: None,
        logs_dir: PathBuf::from("/tmp"),
    }
}

/// A copy of the built binary's path with spaces in it (a symlink), so quoting is exercised.
fn spaced_executable(dir: &Path) -> PathBuf {
    let folder = dir.join("my tools");
    std::fs::create_dir_all(&folder).unwrap();
    let exe = folder.join("tentacle agent");
    std::os::unix::fs::symlink(std::fs::canonicalize(TENTACLE).unwrap(), &exe).unwrap();
    exe
}

#[test]
fn service_unit_passes_systemd_analyze_verify() {
    require("systemd-analyze");
    let dir = tempfile::tempdir().unwrap();
    for (name, exe) in [
        ("Tentacle", PathBuf::from(TENTACLE)),
        ("My Instance 100%", spaced_executable(dir.path())),
    ] {
        let unit = dir.path().join(unit_name(name));
        std::fs::write(&unit, unit_text(&spec(name, &exe), false)).unwrap();
        let out = Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(&unit)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "verify failed for {name}: {stderr}");
        assert!(
            stderr.trim().is_empty(),
            "verify warned for {name}: {stderr}"
        );
    }
}

#[test]
fn service_unit_enables_and_disables_offline() {
    require("systemctl");
    let root = tempfile::tempdir().unwrap();
    let units = root.path().join("etc/systemd/system");
    std::fs::create_dir_all(&units).unwrap();
    let name = unit_name("My Instance");
    std::fs::write(
        units.join(&name),
        unit_text(&spec("My Instance", Path::new(TENTACLE)), false),
    )
    .unwrap();
    let wants = units.join("multi-user.target.wants").join(&name);
    let systemctl = |verb: &str| {
        let out = Command::new("systemctl")
            .arg(format!("--root={}", root.path().display()))
            .args([verb, &name])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "systemctl {verb}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    systemctl("enable");
    assert!(
        wants.symlink_metadata().is_ok(),
        "no symlink at {}",
        wants.display()
    );
    systemctl("disable");
    assert!(
        wants.symlink_metadata().is_err(),
        "symlink left at {}",
        wants.display()
    );
}

struct Env {
    _dir: tempfile::TempDir,
    config_root: PathBuf,
    unit_dir: PathBuf,
    fake_bin: PathBuf,
    log: PathBuf,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let fake_bin = dir.path().join("bin");
        std::fs::create_dir_all(&fake_bin).unwrap();
        let log = dir.path().join("systemctl.log");
        let script = fake_bin.join("systemctl");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"$*\" >> '{}'\ncase \" $* \" in *\" is-active \"*) exit 3;; esac\nexit 0\n",
                log.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        Env {
            config_root: dir.path().join("config"),
            unit_dir: dir.path().join("units"),
            fake_bin,
            log,
            _dir: dir,
        }
    }

    fn tentacle(&self, args: &[&str], fake: bool) -> Output {
        let mut path = OsString::new();
        if fake {
            path.push(&self.fake_bin);
            path.push(":");
        }
        path.push(std::env::var_os("PATH").unwrap_or_default());
        Command::new(TENTACLE)
            .args(args)
            .env("TENTACLE_CONFIG_ROOT", &self.config_root)
            .env("TENTACLE_SYSTEMD_UNIT_DIR", &self.unit_dir)
            .env("PATH", path)
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.tentacle(args, true);
        assert!(
            out.status.success(),
            "tentacle {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The systemctl calls since the last look, without `--user` (added when not root).
    fn calls(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let _ = std::fs::remove_file(&self.log);
        text.lines()
            .map(|l| l.strip_prefix("--user ").unwrap_or(l).to_owned())
            .collect()
    }
}

#[test]
fn service_verbs_call_systemctl_in_order() {
    let env = Env::new();
    env.ok(&["create-instance", "--instance", "My Web"]);
    let unit = env.unit_dir.join("My-Web.service");

    let out = env.ok(&[
        "service",
        "--install",
        "--stop",
        "--start",
        "--instance",
        "My Web",
    ]);
    assert!(out.contains("Service installed"), "{out}");
    assert_eq!(
        env.calls(),
        [
            "daemon-reload",
            "enable My-Web.service",
            "start My-Web.service"
        ]
    );
    let text = std::fs::read_to_string(&unit).unwrap();
    let exe = std::fs::canonicalize(TENTACLE).unwrap();
    assert!(
        text.contains(&format!(
            "ExecStart={} agent --instance \"My Web\" --config-root {} --noninteractive\n",
            exe.display(),
            env.config_root.display()
        )),
        "{text}"
    );
    assert_eq!(
        std::fs::metadata(&unit).unwrap().permissions().mode() & 0o777,
        0o644
    );

    // Installed and stopped (the fake's is-active exits 3): stop, status, restart, reconfigure.
    let out = env.ok(&["service", "--status", "--instance", "My Web"]);
    assert_eq!(out.trim(), "Stopped");
    assert_eq!(
        env.calls(),
        [
            "show -p ActiveState,SubState,LoadState My-Web.service",
            "is-active My-Web.service"
        ]
    );
    env.ok(&["service", "--stop", "--instance", "My Web"]);
    assert_eq!(env.calls(), ["stop My-Web.service"]);
    env.ok(&["service", "--restart", "--instance", "My Web"]);
    assert_eq!(
        env.calls(),
        [
            "show -p ActiveState,SubState,LoadState My-Web.service",
            "is-active My-Web.service",
            "start My-Web.service"
        ]
    );
    env.ok(&["service", "--reconfigure", "--instance", "My Web"]);
    assert_eq!(env.calls(), ["daemon-reload"]);

    env.ok(&["service", "--uninstall", "--instance", "My Web"]);
    assert_eq!(
        env.calls(),
        [
            "stop My-Web.service",
            "disable My-Web.service",
            "daemon-reload"
        ]
    );
    assert!(!unit.exists());
    let out = env.ok(&["service", "--status", "--instance", "My Web"]);
    assert_eq!(out.trim(), "Is not installed");
    assert!(env.calls().is_empty());

    // Starting what is not installed names the fix.
    let out = env.tentacle(&["service", "--start", "--instance", "My Web"], true);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("tentacle service --install --instance \"My Web\""),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn service_without_systemd_says_so() {
    if Path::new("/run/systemd/system").exists() {
        // systemd runs here: do not drive the host's real service manager from a test.
        return;
    }
    require("systemctl");
    let env = Env::new();
    env.ok(&["create-instance", "--instance", "Plain"]);
    env.ok(&["service", "--install", "--instance", "Plain"]);
    let out = env.tentacle(&["service", "--start", "--instance", "Plain"], false);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("systemctl"), "{stderr}");
    assert!(stderr.contains("start Plain.service failed"), "{stderr}");
    assert!(
        stderr.contains("systemd is not running on this machine (PID 1 is not systemd)"),
        "{stderr}"
    );
    // An install that systemd refuses leaves no unit file behind.
    env.ok(&["create-instance", "--instance", "Refused"]);
    let out = env.tentacle(&["service", "--install", "--instance", "Refused"], false);
    assert!(!out.status.success());
    assert!(
        !env.unit_dir.join("Refused.service").exists(),
        "the failed install was rolled back"
    );
}

#[test]
fn launchd_plist_parses_as_a_property_list_with_the_right_program() {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_tentacle"));
    let text = tentacle_core::service::launchd::plist_text(&spec("Web & <Ops>", &exe));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("com.octopus.tentacle.plist");
    std::fs::write(&file, &text).unwrap();
    // Python's plistlib is a strict, independent property-list parser.
    let out = Command::new("python3")
        .arg("-c")
        .arg("import json,plistlib,sys; d=plistlib.load(open(sys.argv[1],'rb')); print(json.dumps([d['Label'], d['ProgramArguments'], d['RunAtLoad']]))")
        .arg(&file)
        .output()
        .expect("python3 is needed to parse the plist");
    assert!(
        out.status.success(),
        "plistlib refused it: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(parsed[1][0], exe.to_str().unwrap());
    assert_eq!(
        parsed[1].as_array().unwrap()[1..],
        ["agent", "--instance", "Web & <Ops>", "--noninteractive"]
    );
    assert_eq!(parsed[2], true);
    assert!(
        parsed[0]
            .as_str()
            .unwrap()
            .starts_with("com.octopus.tentacle.")
    );
}

#[test]
fn a_windows_password_is_refused_off_windows_without_echoing_it() {
    let env = Env::new();
    env.ok(&["create-instance", "--instance", "Pw"]);
    let secret = "Sup3r-s3cret-pw";
    let out = env.tentacle(
        &[
            "service",
            "--install",
            "--instance",
            "Pw",
            "--username",
            "deploy",
            "--password",
            secret,
        ],
        true,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--password is for a Windows service account"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(secret),
        "the password was echoed: {stderr}"
    );
    assert!(env.calls().is_empty(), "nothing was installed");
    assert!(!env.unit_dir.join("Pw.service").exists());
}
