//! `cargo xtask dist`: the .deb, the .rpm and the Windows MSI, each one built or skipped with the reason.
//!
//! The packagers never build: xtask builds the binaries, copies them stripped into a staging
//! folder laid out like a cargo target dir (`<stage>/release/`), and runs cargo-deb and
//! cargo-generate-rpm with `--no-build` against it, and wixl in the Windows staging folder. The
//! test pipeline does the same with the dev binaries it has already built (fast), `dist` with
//! release ones.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use anyhow::Result;

use crate::workspace::{Workspace, display_command, find_on_path};
use crate::{msi_tests, package_tests};

/// The Rust target the Windows binaries are cross-compiled for, with Debian's mingw.
pub const WINDOWS_TARGET: &str = "x86_64-pc-windows-gnu";

/// The cargo subcommands that make the Linux packages, pinned so every machine packages alike.
const CARGO_DEB: Tool = Tool {
    subcommand: "deb",
    krate: "cargo-deb",
    version: "3.8.0",
};
const CARGO_GENERATE_RPM: Tool = Tool {
    subcommand: "generate-rpm",
    krate: "cargo-generate-rpm",
    version: "0.21.1",
};

/// The binaries every package holds.
pub const BINARIES: [&str; 2] = ["tentacle", "tentacle-manager"];

/// Which cargo profile the packaged binaries come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// `cargo build` (the test pipeline's binaries).
    Dev,
    /// `cargo build --release` (what `dist` ships).
    Release,
}

impl Profile {
    /// The folder cargo puts this profile's binaries in.
    pub fn dir(self) -> &'static str {
        match self {
            Profile::Dev => "debug",
            Profile::Release => "release",
        }
    }

    fn cargo_flags(self) -> &'static [&'static str] {
        match self {
            Profile::Dev => &[],
            Profile::Release => &["--release"],
        }
    }

    /// Where the packages go: `target/dist` for releases, `target/dist-dev` for test builds.
    pub fn out_dir(self, ws: &Workspace) -> PathBuf {
        match self {
            Profile::Dev => target_dir(ws).join("dist-dev"),
            Profile::Release => target_dir(ws).join("dist"),
        }
    }

    /// Where the stripped binaries are staged for packaging (`windows/` holds the MSI's).
    pub fn stage_dir(self, ws: &Workspace) -> PathBuf {
        target_dir(ws).join("dist-stage").join(self.dir())
    }
}

/// A package kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Deb,
    Rpm,
    Msi,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Deb => ".deb",
            Kind::Rpm => ".rpm",
            Kind::Msi => "MSI",
        }
    }
}

/// What became of one package.
#[derive(Debug)]
pub enum Outcome {
    /// Built (and, in the test pipeline, checked) at this path.
    Built(PathBuf),
    /// Not built on this machine, and why, with what would make it build.
    Skipped(String),
    /// Something that should have worked did not.
    Failed(String),
}

/// One package's outcome.
#[derive(Debug)]
pub struct Report {
    pub kind: Kind,
    pub outcome: Outcome,
}

/// How far the built packages are checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checks {
    /// Read back with dpkg-deb, rpm and msiinfo.
    Static,
    /// Also install and remove the .deb with dpkg (as root; the test pipeline).
    WithInstall,
}

/// A cargo subcommand installed from crates.io when missing.
struct Tool {
    subcommand: &'static str,
    krate: &'static str,
    version: &'static str,
}

/// `cargo xtask dist`: release binaries, then every package this machine can build and checks
/// of each. With `dev`, the dev binaries and the test pipeline's checks instead.
pub fn run(dev: bool) -> Result<ExitCode> {
    let started = Instant::now();
    let ws = Workspace::new()?;
    let (profile, checks) = if dev {
        (Profile::Dev, Checks::WithInstall)
    } else {
        (Profile::Release, Checks::Static)
    };
    let mut build = ws.cargo(["build", "--locked"]);
    build.args(profile.cargo_flags()).args(package_flags());
    println!("== dist: {}", display_command(&build));
    if !build.status().is_ok_and(|s| s.success()) {
        eprintln!(
            "== dist: FAILED: `{}` did not succeed; see its errors above",
            display_command(&build)
        );
        return Ok(ExitCode::FAILURE);
    }
    let reports = build_all(&ws, profile, checks);
    let ok = print_summary("dist", &reports);
    println!(
        "== dist: finished in {:.1} s; packages are in {}",
        started.elapsed().as_secs_f64(),
        profile.out_dir(&ws).display()
    );
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `-p tentacle-core -p tentacle-manager --bins`: the two binaries and nothing else.
fn package_flags() -> [&'static str; 5] {
    ["-p", "tentacle-core", "-p", "tentacle-manager", "--bins"]
}

/// Builds every package from `profile`'s Linux binaries (which must exist) and, when the
/// Windows target and wixl are here, cross-builds the Windows binaries and the MSI. Each built
/// package then goes through its checks (`package_tests`, `msi_tests`).
pub fn build_all(ws: &Workspace, profile: Profile, checks: Checks) -> Vec<Report> {
    let out = profile.out_dir(ws);
    if let Err(e) = std::fs::create_dir_all(&out) {
        let why = format!("cannot create the output folder {}: {e}", out.display());
        return [Kind::Deb, Kind::Rpm, Kind::Msi]
            .into_iter()
            .map(|kind| Report {
                kind,
                outcome: Outcome::Failed(why.clone()),
            })
            .collect();
    }
    let started = Instant::now();
    let linux = stage_linux(ws, profile);
    let deb = finish(
        Kind::Deb,
        started,
        linux
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|stage| build_deb(ws, profile, stage, &out)),
        |path| {
            package_tests::check_deb(
                path,
                env!("CARGO_PKG_VERSION"),
                checks == Checks::WithInstall,
            )
        },
    );
    let started = Instant::now();
    let rpm = finish(
        Kind::Rpm,
        started,
        linux
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|stage| build_rpm(ws, profile, stage, &out)),
        |path| package_tests::check_rpm(path, env!("CARGO_PKG_VERSION")),
    );
    let windows_stage = profile.stage_dir(ws).join("windows");
    let started = Instant::now();
    let msi = finish(Kind::Msi, started, build_msi(ws, profile, &out), |path| {
        msi_tests::check_msi(path)?;
        msi_tests::check_payload(path, &windows_stage)
    });
    vec![deb, rpm, msi]
}

/// Why building a package did not give one: it was skipped, or it failed.
#[derive(Clone, Debug)]
enum NotBuilt {
    Skipped(String),
    Failed(String),
}

fn skipped(why: impl Into<String>) -> NotBuilt {
    NotBuilt::Skipped(why.into())
}

fn failed(why: impl Into<String>) -> NotBuilt {
    NotBuilt::Failed(why.into())
}

fn finish(
    kind: Kind,
    started: Instant,
    built: std::result::Result<PathBuf, NotBuilt>,
    test: impl FnOnce(&Path) -> std::result::Result<(), String>,
) -> Report {
    let outcome = match built {
        Err(NotBuilt::Skipped(why)) => {
            println!("== {}: skipped: {why}", kind.label());
            Outcome::Skipped(why)
        }
        Err(NotBuilt::Failed(why)) => {
            println!("== {}: FAILED: {why}", kind.label());
            Outcome::Failed(why)
        }
        Ok(path) => {
            println!("== {}: built {}; checking it", kind.label(), path.display());
            match test(&path) {
                Ok(()) => {
                    println!(
                        "== {}: checks passed ({:.1} s to build and check)",
                        kind.label(),
                        started.elapsed().as_secs_f64()
                    );
                    Outcome::Built(path)
                }
                Err(why) => {
                    println!("== {}: CHECK FAILED: {why}", kind.label());
                    Outcome::Failed(format!("{} ({})", why, path.display()))
                }
            }
        }
    };
    Report { kind, outcome }
}

/// Prints one line per package; true when none failed.
pub fn print_summary(what: &str, reports: &[Report]) -> bool {
    println!("== {what}: packages");
    let mut ok = true;
    for r in reports {
        let text = match &r.outcome {
            Outcome::Built(path) => format!("built    {}", path.display()),
            Outcome::Skipped(why) => format!("skipped  ({why})"),
            Outcome::Failed(why) => {
                ok = false;
                format!("FAILED   {why}")
            }
        };
        println!("   {:<5} {text}", r.kind.label());
    }
    ok
}

/// The cargo target dir: `CARGO_TARGET_DIR` (relative to the workspace) or `<root>/target`.
pub fn target_dir(ws: &Workspace) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => ws.root.join(dir),
        None => ws.root.join("target"),
    }
}

/// Copies the Linux binaries, stripped, to `<stage>/release/`, the layout the packagers read.
fn stage_linux(ws: &Workspace, profile: Profile) -> std::result::Result<PathBuf, NotBuilt> {
    if !cfg!(target_os = "linux") {
        return Err(skipped(
            "Linux packages are built on Linux (cargo xtask dist on a Linux machine)",
        ));
    }
    let from = target_dir(ws).join(profile.dir());
    let stage = profile.stage_dir(ws).join("linux");
    let bin_dir = stage.join("release");
    fresh_dir(&bin_dir).map_err(failed)?;
    for name in BINARIES {
        strip_into(&from.join(name), &bin_dir.join(name), "strip")?;
    }
    Ok(stage)
}

/// A new empty folder at `dir`, removing what was there.
fn fresh_dir(dir: &Path) -> std::result::Result<(), String> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot empty {}: {e}", dir.display())),
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

/// `strip -o to from`, or a plain copy when that strip is not installed (the package is then
/// just bigger). Fails when `from` is missing: the binaries must be built first.
fn strip_into(from: &Path, to: &Path, strip: &str) -> std::result::Result<(), NotBuilt> {
    if !from.is_file() {
        return Err(failed(format!(
            "{} is missing: build the binaries first (cargo build -p tentacle-core -p tentacle-manager --bins)",
            from.display()
        )));
    }
    if find_on_path(strip).is_some() {
        let mut cmd = Command::new(strip);
        cmd.arg("-o").arg(to).arg(from);
        let out = cmd.output().map_err(|e| {
            failed(format!(
                "{} could not be started: {e}",
                display_command(&cmd)
            ))
        })?;
        if out.status.success() {
            return Ok(());
        }
        return Err(failed(format!(
            "`{}` failed: {}",
            display_command(&cmd),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    println!("xtask: {strip} is not installed, so the packaged binaries keep their debug symbols");
    std::fs::copy(from, to).map(|_| ()).map_err(|e| {
        failed(format!(
            "cannot copy {} to {}: {e}",
            from.display(),
            to.display()
        ))
    })
}

/// Installs a pinned cargo subcommand from crates.io when `cargo SUBCOMMAND --version` fails.
fn ensure_tool(ws: &Workspace, tool: &Tool) -> std::result::Result<(), NotBuilt> {
    let have = ws
        .cargo([tool.subcommand, "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if have {
        return Ok(());
    }
    let mut install = ws.cargo(["install", "--locked", tool.krate, "--version", tool.version]);
    println!(
        "xtask: installing {} {} from crates.io (once per machine): {}",
        tool.krate,
        tool.version,
        display_command(&install)
    );
    match install.status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(failed(format!(
            "`{}` failed ({s}); install it yourself and rerun",
            display_command(&install)
        ))),
        Err(e) => Err(failed(format!(
            "`{}` could not be started: {e}",
            display_command(&install)
        ))),
    }
}

/// Runs `cmd`, its output shown, and fails with `what` when it does not succeed.
fn run_checked(mut cmd: Command, what: &str) -> std::result::Result<(), NotBuilt> {
    let line = display_command(&cmd);
    println!("xtask: $ {line}");
    match cmd.status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(failed(format!("{what}: `{line}` failed ({s})"))),
        Err(e) => Err(failed(format!(
            "{what}: `{line}` could not be started: {e}"
        ))),
    }
}

/// The only file in `dir` whose name ends with `ext`.
fn single_output(dir: &Path, ext: &str) -> std::result::Result<PathBuf, NotBuilt> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| failed(format!("cannot list {}: {e}", dir.display())))?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension() == Some(OsStr::new(ext)))
        .collect();
    match found.len() {
        1 => Ok(found.remove(0)),
        n => Err(failed(format!(
            "expected one .{ext} in {}, found {n}",
            dir.display()
        ))),
    }
}

fn build_deb(
    ws: &Workspace,
    profile: Profile,
    stage: &Path,
    out: &Path,
) -> std::result::Result<PathBuf, NotBuilt> {
    ensure_tool(ws, &CARGO_DEB)?;
    let dir = out.join("deb");
    fresh_dir(&dir).map_err(failed)?;
    // CARGO_TARGET_DIR points cargo-deb's `target/release/` at the staged, stripped binaries.
    let mut cmd = ws.cargo([
        "deb",
        "-p",
        "tentacle-manager",
        "--no-build",
        "--no-strip",
        "--locked",
    ]);
    if profile == Profile::Dev {
        // Quicker compression: the test package is installed once and thrown away.
        cmd.arg("--fast");
    }
    cmd.arg("-o").arg(&dir).env("CARGO_TARGET_DIR", stage);
    run_checked(cmd, "cargo-deb")?;
    single_output(&dir, "deb")
}

fn build_rpm(
    ws: &Workspace,
    profile: Profile,
    stage: &Path,
    out: &Path,
) -> std::result::Result<PathBuf, NotBuilt> {
    ensure_tool(ws, &CARGO_GENERATE_RPM)?;
    let dir = out.join("rpm");
    fresh_dir(&dir).map_err(failed)?;
    // --target-dir: `target/release/X` in the asset list means `<stage>/release/X`.
    let mut cmd = ws.cargo(["generate-rpm", "-p", "app"]);
    cmd.arg("--target-dir").arg(stage).arg("-o").arg(&dir);
    if profile == Profile::Dev {
        // The test package is read back once and thrown away: skip compressing 100+ MB.
        cmd.args(["--payload-compress", "none"]);
    }
    run_checked(cmd, "cargo-generate-rpm")?;
    single_output(&dir, "rpm")
}

/// Why the Windows cross build cannot run here, or `None` when the target and mingw are installed.
pub fn windows_toolchain_missing() -> Option<String> {
    let target = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == WINDOWS_TARGET)
        })
        .unwrap_or(false);
    let mingw = find_on_path("x86_64-w64-mingw32-gcc").is_some();
    match (target, mingw) {
        (true, true) => None,
        (false, true) => Some(format!(
            "the Rust target {WINDOWS_TARGET} is not installed (rustup target add {WINDOWS_TARGET})"
        )),
        (true, false) => Some(
            "the mingw-w64 cross compiler is not installed (apt-get install gcc-mingw-w64-x86-64)"
                .to_owned(),
        ),
        (false, false) => Some(format!(
            "the Rust target {WINDOWS_TARGET} and mingw-w64 are not installed (rustup target add {WINDOWS_TARGET} && apt-get install gcc-mingw-w64-x86-64)"
        )),
    }
}

/// Cross-builds the two Windows binaries and packs them with wixl.
fn build_msi(
    ws: &Workspace,
    profile: Profile,
    out: &Path,
) -> std::result::Result<PathBuf, NotBuilt> {
    if let Some(why) = windows_toolchain_missing() {
        return Err(skipped(format!("no Windows cross build: {why}")));
    }
    if find_on_path("wixl").is_none() {
        return Err(skipped(
            "wixl is not installed (apt-get install wixl msitools)",
        ));
    }
    let mut build = ws.cargo(["build", "--target", WINDOWS_TARGET]);
    build.args(profile.cargo_flags()).args(package_flags());
    let t = Instant::now();
    run_checked(build, "the Windows cross build")?;
    println!(
        "xtask: Windows binaries built in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let from = target_dir(ws).join(WINDOWS_TARGET).join(profile.dir());
    let stage = profile.stage_dir(ws).join("windows");
    // Emptied first: the payload check compares the MSI with what is staged here.
    fresh_dir(&stage).map_err(failed)?;
    for name in BINARIES {
        let exe = format!("{name}.exe");
        strip_into(
            &from.join(&exe),
            &stage.join(&exe),
            "x86_64-w64-mingw32-strip",
        )?;
    }
    let icon = ws
        .root
        .join("assets")
        .join("icons")
        .join("tentacle-manager.ico");
    std::fs::copy(&icon, stage.join("tentacle-manager.ico"))
        .map_err(|e| failed(format!("cannot copy the icon {}: {e}", icon.display())))?;
    let dir = out.join("msi");
    fresh_dir(&dir).map_err(failed)?;
    let msi = dir.join(format!(
        "tentacle-manager-{}-x64.msi",
        env!("CARGO_PKG_VERSION")
    ));
    run_checked(wixl_command(ws, &stage, &msi), "wixl")?;
    Ok(msi)
}

/// `wixl` building wix/tentacle.wxs from the files in `stage` (tentacle.exe,
/// tentacle-manager.exe, tentacle-manager.ico) into `msi`. It runs in `stage` because wixl
/// takes source paths relative to the current directory only.
pub fn wixl_command(ws: &Workspace, stage: &Path, msi: &Path) -> Command {
    wixl_command_for(ws, stage, msi, env!("CARGO_PKG_VERSION"))
}

/// [`wixl_command`] with another product version (the Wine suite's upgrade test builds a
/// lower one).
pub fn wixl_command_for(ws: &Workspace, stage: &Path, msi: &Path, version: &str) -> Command {
    let mut cmd = Command::new("wixl");
    cmd.current_dir(stage)
        .args(["-a", "x64"])
        .arg("-D")
        .arg(format!("Version={version}"))
        .args(["-D", "BinDir=.", "-D", "IconDir=.", "-o"])
        .arg(msi)
        .arg(ws.root.join("wix").join("tentacle.wxs"));
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_map_to_cargo_folders_and_flags() {
        assert_eq!(Profile::Dev.dir(), "debug");
        assert_eq!(Profile::Release.dir(), "release");
        assert!(Profile::Dev.cargo_flags().is_empty());
        assert_eq!(Profile::Release.cargo_flags(), ["--release"]);
    }

    #[test]
    fn summary_fails_only_on_a_failure() {
        let reports = vec![
            Report {
                kind: Kind::Deb,
                outcome: Outcome::Built(PathBuf::from("x.deb")),
            },
            Report {
                kind: Kind::Msi,
                outcome: Outcome::Skipped("no wixl".into()),
            },
        ];
        assert!(print_summary("t", &reports));
        let reports = vec![Report {
            kind: Kind::Rpm,
            outcome: Outcome::Failed("broken".into()),
        }];
        assert!(!print_summary("t", &reports));
    }

    #[test]
    fn stripping_a_missing_binary_names_the_build_command() {
        let err = strip_into(
            Path::new("/nonexistent/tentacle"),
            Path::new("/nonexistent/out"),
            "strip",
        )
        .unwrap_err();
        match err {
            NotBuilt::Failed(why) => {
                assert!(why.contains("/nonexistent/tentacle is missing"), "{why}");
                assert!(why.contains("cargo build"), "{why}");
            }
            NotBuilt::Skipped(why) => panic!("skipped: {why}"),
        }
    }
}
