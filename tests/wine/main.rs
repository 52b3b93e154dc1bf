//! The Windows build under Wine, driven from Linux: `cargo xtask test`'s `wine` step sets up a WINEPREFIX (with the harness-only shim DLL and stand-in powershell.exe) and `wineserver -p`, then runs these tests with `--ignored`. They are ignored in a plain `cargo test` because they need that set-up.

// Fixtures are written directly on purpose, and a failed unwrap in a test is a test failure.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

mod agent;
mod cli;
mod msi;
mod service;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// What the xtask step hands over.
pub struct Wine {
    /// WINEPREFIX.
    pub prefix: PathBuf,
    /// The folder holding the cross-built tentacle.exe.
    pub bin: PathBuf,
}

impl Wine {
    /// From TENTACLE_WINE_PREFIX and TENTACLE_WINE_BIN; panics with the command that sets them.
    pub fn from_env() -> Wine {
        let var = |name: &str| {
            std::env::var_os(name).map(PathBuf::from).unwrap_or_else(|| {
                panic!("{name} is not set: these tests run under `cargo xtask test` (its wine step)")
            })
        };
        Wine {
            prefix: var("TENTACLE_WINE_PREFIX"),
            bin: var("TENTACLE_WINE_BIN"),
        }
    }

    /// `wine PROGRAM` with the prefix's environment.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("wine");
        cmd.arg(program)
            .env("WINEPREFIX", &self.prefix)
            .env("WINEDEBUG", "-all")
            .env(
                "WINEDLLOVERRIDES",
                "mscoree,mshtml=;powershell.exe,taskkill.exe=n",
            )
            .env_remove("DISPLAY")
            .stdin(Stdio::null());
        cmd
    }

    /// `wine tentacle.exe ARGS` in `root` (its TENTACLE_CONFIG_ROOT, as a Windows path).
    pub fn tentacle(&self, root: &Path) -> Command {
        let mut cmd = self.command(self.bin.join("tentacle.exe"));
        cmd.env("TENTACLE_CONFIG_ROOT", windows_path(root))
            .env_remove("TENTACLE_LOG")
            .current_dir(root);
        cmd
    }
}

/// A Linux path as Wine's Z: drive shows it.
pub fn windows_path(p: &Path) -> String {
    format!("Z:{}", p.display()).replace('/', "\\")
}

/// One finished run.
#[derive(Debug)]
pub struct Run {
    /// Exit code.
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `cmd` for at most `limit` (killed then) and returns what it did.
pub fn run(mut cmd: Command, limit: Duration) -> Run {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start wine");
    let id = child.id();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = done.clone();
    let watchdog = std::thread::Builder::new()
        .name("wine-watchdog".into())
        .spawn(move || {
            let deadline = Instant::now() + limit;
            while Instant::now() < deadline {
                if flag.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(id.to_string())
                .status();
        })
        .unwrap();
    let out: Output = child.wait_with_output().expect("wait for wine");
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = watchdog.join();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Prints how long a part took, for the suite's timing notes.
pub fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let r = f();
    println!("wine: {what} took {:.1} s", t.elapsed().as_secs_f64());
    r
}
