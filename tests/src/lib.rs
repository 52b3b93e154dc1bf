//! Test support: run the built `tentacle` binary against a private config root and look at what it did.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace's `target/<profile>` folder, found from this test executable's location
/// (`target/<profile>/deps/e2e-…`), or `TENTACLE_TARGET_DIR` when set.
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TENTACLE_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .expect("test executable lives in target/<profile>/deps")
}

/// Path of a binary built from this workspace, with a clear message when it is missing.
pub fn binary(name: &str) -> PathBuf {
    let path = target_dir().join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is not built; run `cargo xtask test` (or `cargo build --workspace --bins`) first",
        path.display()
    );
    path
}

/// One private, temporary Tentacle world: a config root that nothing else uses.
pub struct Sandbox {
    /// Removed on drop.
    pub dir: tempfile::TempDir,
}

/// What one run of `tentacle` did.
#[derive(Debug)]
pub struct Run {
    /// Exit code (None when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Panics with the whole output unless the command succeeded.
    pub fn ok(self) -> Run {
        assert_eq!(self.code, Some(0), "command failed: {self:#?}");
        self
    }

    /// Panics unless the command failed with `code` and a one-line error containing `needle`.
    pub fn fails(self, code: i32, needle: &str) -> Run {
        assert_eq!(self.code, Some(code), "wrong exit code: {self:#?}");
        let lines: Vec<_> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "errors are one line: {self:#?}");
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}: {self:#?}"
        );
        self
    }
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    /// A fresh, empty config root.
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// The config root folder.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// A `tentacle` command in this sandbox (env var set, working dir inside the sandbox).
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(binary("tentacle"));
        cmd.args(args)
            .env("TENTACLE_CONFIG_ROOT", self.root())
            .env_remove("TENTACLE_LOG")
            .current_dir(self.root());
        cmd
    }

    /// Runs `tentacle` with these arguments.
    pub fn run<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Run::from(self.command(args).output().expect("start tentacle"))
    }

    /// Runs a whitespace-separated command line (no quoting needed for the tests' values).
    pub fn sh(&self, line: &str) -> Run {
        self.run(line.split_whitespace())
    }

    /// The config file of the default instance `Tentacle`.
    pub fn default_config(&self) -> PathBuf {
        self.root().join("Tentacle").join("tentacle.toml")
    }

    /// Reads and parses a config file as TOML.
    pub fn config_toml(&self, path: &Path) -> toml::Table {
        let text = std::fs::read_to_string(path).expect("read config");
        toml::from_str(&text).unwrap_or_else(|e| panic!("config does not parse: {e}\n{text}"))
    }
}

/// True when `program` is on PATH.
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program} >/dev/null 2>&1"))
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// A made-up but well-formed Octopus Server thumbprint.
pub const SERVER_THUMBPRINT: &str = "76F1E5F2B1B2C3D4E5F60718293A4B5C6D7E8F90";
/// Another one.
pub const OTHER_THUMBPRINT: &str = "0123456789ABCDEF0123456789ABCDEF01234567";

pub mod simulator;

pub mod flood;

pub mod middlebox;
pub mod openssl;

pub mod octopus_rest;

/// A `tentacle agent` child process, killed (SIGKILL) on drop if still running.
pub struct AgentProcess {
    /// The child.
    pub child: std::process::Child,
    /// Its home folder (where status.json and Logs/ are).
    pub home: PathBuf,
}

impl AgentProcess {
    /// Starts `tentacle agent --instance NAME` in the sandbox; output goes to `<home>/agent.out`.
    pub fn start(sandbox: &Sandbox, instance: &str) -> AgentProcess {
        let home = sandbox.root().join(instance);
        std::fs::create_dir_all(&home).expect("home");
        let log = std::fs::File::create(home.join("agent.out")).expect("agent.out");
        let err = log.try_clone().expect("clone");
        let child = sandbox
            .command(["agent", "--instance", instance])
            .stdout(log)
            .stderr(err)
            .spawn()
            .expect("start tentacle agent");
        AgentProcess { child, home }
    }

    /// Waits (up to `within`) until the status document satisfies `pred`; returns it.
    pub fn wait_status(
        &self,
        within: std::time::Duration,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Ok(text) = std::fs::read_to_string(self.home.join("status.json"))
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
                && pred(&v)
            {
                return v;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "status never matched; agent output:\n{}",
                self.output()
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// What the agent printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(self.home.join("agent.out")).unwrap_or_default()
    }

    /// Sends SIGTERM (Unix) and waits up to `within` for a clean exit; returns the exit code.
    #[cfg(unix)]
    pub fn terminate(&mut self, within: std::time::Duration) -> Option<i32> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            if std::time::Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

mod tinyproxy;
pub use tinyproxy::Tinyproxy;

mod nginx;
pub use nginx::Nginx;
