//! The unit `tentacle service --install --username nobody` writes, run as written: as that account, with a clean environment, it finds its instance (machine-wide and under TENTACLE_CONFIG_ROOT) and serves the simulator, and the key stays closed to other accounts.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tentacle_core::halibut::client::Endpoint;
use tentacle_core::trust::Thumbprint;
use tentacle_tests::simulator::{Octopus, Target};
use tentacle_tests::{binary, free_port};

const ACCOUNT: &str = "nobody";

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `tentacle` with a recording systemctl first on PATH, the unit folder redirected, and
/// TENTACLE_CONFIG_ROOT set only when `root` is given.
struct Installer {
    dir: tempfile::TempDir,
    root: Option<PathBuf>,
}

impl Installer {
    fn new(root: Option<PathBuf>) -> Installer {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let fake = bin.join("systemctl");
        std::fs::write(
            &fake,
            format!(
                "#!/bin/sh\necho \"$*\" >> '{}'\ncase \" $* \" in *\" is-active \"*) exit 3;; esac\nexit 0\n",
                dir.path().join("systemctl.log").display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        Installer { dir, root }
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut path = self.dir.path().join("bin").into_os_string();
        path.push(":");
        path.push(std::env::var_os("PATH").unwrap_or_default());
        let mut cmd = Command::new(binary("tentacle"));
        cmd.args(args)
            .env("PATH", path)
            .env("TENTACLE_SYSTEMD_UNIT_DIR", self.dir.path().join("units"))
            .env_remove("TENTACLE_CONFIG_ROOT");
        if let Some(r) = &self.root {
            cmd.env("TENTACLE_CONFIG_ROOT", r);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "tentacle {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn unit(&self, name: &str) -> String {
        std::fs::read_to_string(
            self.dir
                .path()
                .join("units")
                .join(tentacle_core::service::systemd::unit_name(name)),
        )
        .unwrap()
    }
}

/// ExecStart's words, unquoting systemd's double quotes (the test's paths have no escapes).
fn exec_start(unit: &str) -> Vec<String> {
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("an ExecStart line");
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// Kills the agent even when an assertion fails first.
struct Agent(std::process::Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Removes what the machine-wide case created in /etc/tentacle (only this instance's files).
struct MachineCleanup(String);

impl Drop for MachineCleanup {
    fn drop(&mut self) {
        let root = Path::new("/etc/tentacle");
        let _ = std::fs::remove_dir_all(root.join(&self.0));
        let _ = std::fs::remove_file(root.join("instances").join(format!("{}.toml", self.0)));
        let _ = std::fs::remove_dir(root.join("instances"));
        let _ = std::fs::remove_dir(root);
    }
}

/// Installs the service for `instance` as `nobody`, runs its ExecStart as written, and checks
/// that the simulator is served, scripts run as that account, and the key is closed.
fn install_and_serve(installer: &Installer, instance: &str) {
    let octopus_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let octopus = octopus_rt.block_on(Octopus::start());
    let port = free_port();
    installer.run(&["create-instance", "--instance", instance]);
    installer.run(&["new-certificate", "--instance", instance, "--if-blank"]);
    installer.run(&[
        "configure",
        "--instance",
        instance,
        "--port",
        &port.to_string(),
        "--trust",
        octopus.cert.thumbprint().as_str(),
    ]);
    let thumbprint = Thumbprint::parse(&String::from_utf8_lossy(
        &installer
            .run(&["show-thumbprint", "--instance", instance])
            .stdout,
    ))
    .unwrap();
    let out = installer.run(&[
        "service",
        "--install",
        "--instance",
        instance,
        "--username",
        ACCOUNT,
    ]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.contains(&format!("Gave {ACCOUNT}")), "{said}");
    let unit = installer.unit(instance);
    assert!(unit.contains(&format!("User={ACCOUNT}\n")), "{unit}");
    let words = exec_start(&unit);
    assert!(words.iter().any(|w| w == "--config-root"), "{unit}");

    // The key: owned by the account, mode 600, and another account cannot read it.
    let config_dir = match &installer.root {
        Some(r) => r.join(instance),
        None => Path::new("/etc/tentacle").join(instance),
    };
    let key = std::fs::read_dir(config_dir.join("certificates"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let meta = std::fs::metadata(&key).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o600);
    let other = Command::new("runuser")
        .args(["-u", "daemon", "--", "cat"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(!other.status.success(), "another account read the key");

    // ExecStart as the unit's account, with nothing from our environment.
    // setpriv and env exec (no fork), so the child is the agent itself and kill() stops it.
    let gid = String::from_utf8_lossy(
        &Command::new("id")
            .args(["-g", ACCOUNT])
            .output()
            .unwrap()
            .stdout,
    )
    .trim()
    .to_owned();
    let child = Command::new("setpriv")
        .args([
            &format!("--reuid={ACCOUNT}"),
            &format!("--regid={gid}"),
            "--clear-groups",
            "--",
            "env",
            "-i",
        ])
        .args(&words)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Agent(child);
    let home = config_dir.clone();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listening = std::fs::read_to_string(home.join("status.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .is_some_and(|v| v["listening_on"].is_string());
        if listening {
            break;
        }
        if let Ok(Some(status)) = child.0.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = child.0.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            panic!("the service's agent exited ({status}): {err}");
        }
        assert!(Instant::now() < deadline, "the agent never listened");
        std::thread::sleep(Duration::from_millis(100));
    }
    let target = Target::Listening(Endpoint {
        base_uri: format!("https://127.0.0.1:{port}/"),
        thumbprint,
    });
    let run = octopus_rt
        .block_on(async {
            tokio::time::timeout(
                Duration::from_secs(60),
                octopus.run_script(
                    &target,
                    "id -un; echo \"home=$TentacleHome\"",
                    "ServerTasks-1",
                ),
            )
            .await
        })
        .unwrap()
        .unwrap();
    drop(child);
    assert_eq!(run.exit_code, 0, "{run:?}");
    assert!(run.lines.iter().any(|l| l == ACCOUNT), "{run:?}");
    // Root edits the configuration afterwards: the account keeps it.
    installer.run(&[
        "configure",
        "--instance",
        instance,
        "--port",
        &free_port().to_string(),
    ]);
    let config = config_dir.join("tentacle.toml");
    let owner = std::fs::metadata(&config).unwrap().uid();
    let nobody: u32 = 65534;
    assert_eq!(
        owner, nobody,
        "root's edit took the config away from {ACCOUNT}"
    );
}

#[test]
fn the_installed_unit_serves_as_its_account_from_a_clean_environment() {
    if !is_root() {
        eprintln!("skipped: needs root to install for another account and run as it");
        return;
    }
    // Under TENTACLE_CONFIG_ROOT (a private temp folder, mode 700 like any tempdir).
    let root = tempfile::tempdir().unwrap();
    let installer = Installer::new(Some(root.path().join("tentacle root")));
    install_and_serve(&installer, "Svc Env");

    // Machine-wide (/etc/tentacle), with a name no one else uses; removed afterwards.
    let name = format!("svc-test-{:08x}", rand::random::<u32>());
    let _cleanup = MachineCleanup(name.clone());
    let installer = Installer::new(None);
    install_and_serve(&installer, &name);
}
