//! The Wine world the Windows suite runs in: the Rust target, a WINEPREFIX under target/, the harness-only `bcryptprimitives.dll` shim and stand-ins for `powershell.exe` and `taskkill.exe` (built with mingw from xtask/wine/*.c), and `wineserver -p` kept alive for the suite (Wine ends services when its last process exits).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::dist::WINDOWS_TARGET;
use crate::workspace::{Workspace, find_on_path};

/// Where the suite's Wine files live.
pub struct Prefix {
    /// The WINEPREFIX.
    pub dir: PathBuf,
    /// The harness binaries (shim DLL, stand-in).
    pub harness: PathBuf,
}

/// Installs the Rust Windows target with rustup when it is missing; Err says why it could not.
pub fn ensure_rust_target() -> Result<(), String> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map_err(|e| format!("rustup could not be started ({e}); install rustup, then: rustup target add {WINDOWS_TARGET}"))?;
    if String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|l| l.trim() == WINDOWS_TARGET)
    {
        return Ok(());
    }
    println!(
        "xtask: installing the Rust target {WINDOWS_TARGET} (rustup target add {WINDOWS_TARGET})"
    );
    let status = Command::new("rustup")
        .args(["target", "add", WINDOWS_TARGET])
        .status()
        .map_err(|e| format!("rustup target add {WINDOWS_TARGET} could not be started: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "rustup target add {WINDOWS_TARGET} failed ({status}); run it by hand to see why"
        ))
    }
}

/// Why the Wine suite cannot run on this machine, with the one command that fixes it.
pub fn wine_missing() -> Option<String> {
    if !cfg!(target_os = "linux") {
        return Some("the Wine suite runs on Linux (Debian or Ubuntu)".to_owned());
    }
    for (tool, package) in [
        ("wine", "wine wine64"),
        ("wineserver", "wine wine64"),
        ("x86_64-w64-mingw32-gcc", "gcc-mingw-w64-x86-64"),
        ("wixl", "wixl msitools"),
    ] {
        if find_on_path(tool).is_none() {
            return Some(format!(
                "{tool} is not installed (apt-get install {package})"
            ));
        }
    }
    None
}

impl Prefix {
    /// The prefix and harness folders under `<target>/wine/`.
    pub fn new(ws: &Workspace) -> Prefix {
        let base = crate::dist::target_dir(ws).join("wine");
        Prefix {
            dir: base.join("prefix"),
            harness: base.join("harness"),
        }
    }

    /// A command run with this prefix's environment (no debug chatter, no Mono/Gecko
    /// install prompts, the stand-in preferred over Wine's built-in powershell stub).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("WINEPREFIX", &self.dir)
            .env("WINEDEBUG", "-all")
            .env(
                "WINEDLLOVERRIDES",
                "mscoree,mshtml=;powershell.exe,taskkill.exe=n",
            )
            .env_remove("DISPLAY");
        cmd
    }

    /// Creates the prefix afresh and installs the harness binaries into it.
    pub fn prepare(&self, ws: &Workspace) -> Result<(), String> {
        let t = Instant::now();
        // A new prefix every run: installs, services and instances from an earlier run
        // would change what the tests see.
        if self.dir.exists() {
            let mut kill = self.command("wineserver");
            kill.arg("-k");
            let _ = run_bounded(kill, Duration::from_secs(30), "wineserver -k");
            std::fs::remove_dir_all(&self.dir)
                .map_err(|e| format!("cannot remove the old prefix {}: {e}", self.dir.display()))?;
        }
        // Wine's commands start in the prefix folder, so it must exist before wineboot makes it a prefix.
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| format!("cannot create the prefix {}: {e}", self.dir.display()))?;
        let mut boot = self.command("wineboot");
        boot.arg("-i");
        run_bounded(boot, Duration::from_secs(300), "wineboot -i")?;
        println!(
            "xtask: wine: prefix created in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        std::fs::create_dir_all(&self.harness)
            .map_err(|e| format!("cannot create {}: {e}", self.harness.display()))?;
        let sources = ws.root.join("xtask").join("wine");
        let dll = self.harness.join("bcryptprimitives.dll");
        let mut cc = Command::new("x86_64-w64-mingw32-gcc");
        cc.args(["-O2", "-shared", "-o"])
            .arg(&dll)
            .arg(sources.join("bcryptprimitives.c"))
            .arg(sources.join("bcryptprimitives.def"))
            .arg("-ladvapi32");
        run_bounded(
            cc,
            Duration::from_secs(120),
            "building the bcryptprimitives shim",
        )?;
        let standin = self.harness.join("powershell.exe");
        let mut cc = Command::new("x86_64-w64-mingw32-gcc");
        cc.args(["-O2", "-municode", "-o"])
            .arg(&standin)
            .arg(sources.join("powershell.c"));
        run_bounded(
            cc,
            Duration::from_secs(120),
            "building the stand-in powershell.exe",
        )?;
        let taskkill = self.harness.join("taskkill.exe");
        let mut cc = Command::new("x86_64-w64-mingw32-gcc");
        cc.args(["-O2", "-municode", "-o"])
            .arg(&taskkill)
            .arg(sources.join("taskkill.c"));
        run_bounded(
            cc,
            Duration::from_secs(120),
            "building the stand-in taskkill.exe",
        )?;
        let system32 = self.dir.join("drive_c").join("windows").join("system32");
        // Wine 8's taskkill has no /T; the agent's cancel needs it to end a script's tree.
        copy(&taskkill, &system32.join("taskkill.exe"))?;
        copy(&dll, &system32.join("bcryptprimitives.dll"))?;
        let ps_dir = system32.join("WindowsPowerShell").join("v1.0");
        std::fs::create_dir_all(&ps_dir)
            .map_err(|e| format!("cannot create {}: {e}", ps_dir.display()))?;
        copy(&standin, &ps_dir.join("powershell.exe"))?;
        println!(
            "xtask: wine: prefix ready with the shim and stand-in in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        Ok(())
    }
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))
}

/// Runs `cmd` and fails if it does not finish within `limit`, killing it then.
pub fn run_bounded(mut cmd: Command, limit: Duration, what: &str) -> Result<(), String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("{what} could not be started: {e}"))?;
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(s)) if s.success() => return Ok(()),
            Ok(Some(s)) => return Err(format!("{what} failed ({s})")),
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{what} did not finish within {} s",
                    limit.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(format!("{what}: {e}")),
        }
    }
}

/// `wineserver -p` for as long as this lives; `wineserver -k` on drop ends it and every
/// Windows process of the prefix, services included.
pub struct Server<'a> {
    prefix: &'a Prefix,
}

impl<'a> Server<'a> {
    /// Starts the persistent wineserver (it returns at once when one already runs).
    pub fn start(prefix: &'a Prefix) -> Result<Server<'a>, String> {
        let mut cmd = prefix.command("wineserver");
        cmd.arg("-p");
        run_bounded(cmd, Duration::from_secs(30), "wineserver -p")?;
        Ok(Server { prefix })
    }
}

impl Drop for Server<'_> {
    fn drop(&mut self) {
        let mut cmd = self.prefix.command("wineserver");
        cmd.arg("-k");
        let _ = run_bounded(cmd, Duration::from_secs(30), "wineserver -k");
    }
}
