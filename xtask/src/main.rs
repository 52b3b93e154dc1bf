//! `cargo xtask`: the README's commands. `run` starts the desktop manager, `test` runs every check CI runs.
//!
//! Both install the Debian/Ubuntu packages they need first (see `deps`). The hidden
//! `cargo xtask deps run|test` does only that step, which is handy for preparing a machine.

mod deb_install;
mod deps;
mod dist;
mod fuzz;
mod msi_tests;
mod package_tests;
mod pipeline;
mod wine;
mod workspace;

use std::ffi::OsString;
use std::process::ExitCode;

use anyhow::{Result, bail};

use crate::deps::Need;
use crate::pipeline::TestOptions;
use crate::workspace::{Workspace, display_command};

const HELP: &str = "\
cargo xtask: build, run and check Tentacle Manager

USAGE:
    cargo xtask run [ARGS...]
    cargo xtask test [--quick] [-- CARGO_TEST_ARGS...]
    cargo xtask dist [--dev]
    cargo xtask fuzz [--minutes N] [--runs N] [TARGET...]
    cargo xtask help

COMMANDS:
    run     Install the runtime libraries the GUI loads (Debian/Ubuntu, via apt),
            then `cargo run -p tentacle-manager -- ARGS...`.
    test    Install what the tests need (Debian/Ubuntu, via apt), then run in order,
            stopping at the first failure:
                cargo fmt --all -- --check
                cargo clippy --workspace --all-targets --locked -- -D warnings
                cargo build --workspace --bins
                cargo test --workspace --no-fail-fast [CARGO_TEST_ARGS...]
            then the Windows clippy check, and the packages built from the dev binaries
            and checked (as `dist --dev`). The fuzz bodies run as proptests in `cargo test`.
            --quick   skip fmt, clippy, and the Windows and packages steps
            --        pass the rest to `cargo test`, for example
                      `cargo xtask test -- thumbprint` or `cargo xtask test -- -- --nocapture`
    dist    Build the release binaries, then every package this machine can build, into
            target/dist/: the .deb (cargo-deb) and .rpm (cargo-generate-rpm), installed
            from crates.io when missing, and the Windows MSI (wixl), cross-compiled for
            x86_64-pc-windows-gnu when that Rust target and mingw-w64 are installed. Each
            package is checked; a summary says which were built and why others were skipped.
            --dev     package dev binaries into target/dist-dev/ instead (quick; what the
                      `packages` step of `test` does, including, as root, installing and
                      removing the .deb with dpkg)
    fuzz    Long cargo-fuzz campaigns (not part of `test`): builds core/fuzz once, then runs
            each target in turn under `nice -n 19` and prints its executions and exec/s.
            Installs cargo-fuzz from crates.io when missing. Crashes land in
            core/fuzz/artifacts/TARGET/ and make the exit code non-zero.
            --minutes N   wall-clock budget per target (default 10)
            --runs N      also stop a target after N executions
            TARGET...     only these targets (default: all, as `cargo fuzz list`)
    help    Show this text.

Missing packages are installed with apt-get (through sudo when not root).
Set XTASK_SKIP_APT=1 to skip the package check.
";

/// A parsed command line.
#[derive(Debug, PartialEq, Eq)]
enum Cmd {
    Help,
    Run(Vec<OsString>),
    Test(TestOptions),
    /// Build the packages (`true`: from dev binaries, as the test pipeline does).
    Dist(bool),
    /// Long fuzz campaigns.
    Fuzz(fuzz::FuzzOptions),
    /// Hidden: only the package step of `run` or `test`.
    Deps(Need),
}

fn parse(args: &[OsString]) -> Result<Cmd> {
    let Some((first, rest)) = args.split_first() else {
        return Ok(Cmd::Help);
    };
    let Some(first) = first.to_str() else {
        bail!("unknown command {first:?}");
    };
    match first {
        "help" | "-h" | "--help" => Ok(Cmd::Help),
        "run" => {
            // `cargo xtask run -- --flag` and `cargo xtask run --flag` mean the same.
            let rest = match rest.split_first() {
                Some((dashes, tail)) if dashes == "--" => tail,
                _ => rest,
            };
            Ok(Cmd::Run(rest.to_vec()))
        }
        "test" => parse_test(rest),
        "fuzz" => Ok(Cmd::Fuzz(fuzz::parse(rest)?)),
        "dist" => match rest.first().and_then(|a| a.to_str()) {
            None => Ok(Cmd::Dist(false)),
            Some("--dev") if rest.len() == 1 => Ok(Cmd::Dist(true)),
            _ => bail!("usage: cargo xtask dist [--dev]"),
        },
        "deps" => match rest.first().and_then(|a| a.to_str()) {
            Some("run") if rest.len() == 1 => Ok(Cmd::Deps(Need::Run)),
            Some("test") if rest.len() == 1 => Ok(Cmd::Deps(Need::Test)),
            _ => bail!("usage: cargo xtask deps run|test"),
        },
        other => bail!("unknown command `{other}`"),
    }
}

fn parse_test(args: &[OsString]) -> Result<Cmd> {
    let mut opts = TestOptions::default();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.to_str() {
            Some("--quick") => opts.quick = true,
            Some("--") => {
                opts.test_args = iter.cloned().collect();
                break;
            }
            Some("-h" | "--help") => return Ok(Cmd::Help),
            _ => bail!(
                "unknown option for `test`: {arg:?} (put arguments for `cargo test` after `--`)"
            ),
        }
    }
    Ok(Cmd::Test(opts))
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let cmd = match parse(&args) {
        Ok(cmd) => cmd,
        Err(e) => {
            eprintln!("xtask: {e:#}\n");
            eprint!("{HELP}");
            return ExitCode::from(2);
        }
    };
    match dispatch(cmd) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cmd: Cmd) -> Result<ExitCode> {
    match cmd {
        Cmd::Help => {
            print!("{HELP}");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Deps(need) => {
            deps::ensure(need)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Test(opts) => pipeline::run(&opts),
        Cmd::Dist(dev) => dist::run(dev),
        Cmd::Fuzz(opts) => fuzz::run(&opts),
        Cmd::Run(args) => run_gui(&args),
    }
}

/// `cargo xtask run`: packages, a display check, then `cargo run -p tentacle-manager -- ARGS`.
fn run_gui(args: &[OsString]) -> Result<ExitCode> {
    deps::ensure(Need::Run)?;
    warn_if_no_display();
    let ws = Workspace::new()?;
    let mut cmd = ws.cargo(["run", "-p", "tentacle-manager", "--"]);
    cmd.args(args);
    println!("xtask: $ {}", display_command(&cmd));
    let status = cmd
        .status()
        .map_err(|e| anyhow::anyhow!("could not start `{}`: {e}", display_command(&cmd)))?;
    Ok(exit_code(status))
}

/// On Linux and the BSDs a GUI needs X11 or Wayland; say so before winit fails obscurely.
fn warn_if_no_display() {
    if cfg!(any(windows, target_os = "macos")) {
        return;
    }
    let set = |v: &str| std::env::var_os(v).is_some_and(|x| !x.is_empty());
    if !set("DISPLAY") && !set("WAYLAND_DISPLAY") {
        eprintln!(
            "xtask: neither DISPLAY nor WAYLAND_DISPLAY is set, so there is no screen to open the window on."
        );
        eprintln!(
            "xtask: on a headless machine try a virtual display: xvfb-run -a cargo xtask run"
        );
        eprintln!("xtask: trying anyway.");
    }
}

/// The child's exit code, or 1 when it has none (killed by a signal) or it doesn't fit.
fn exit_code(status: std::process::ExitStatus) -> ExitCode {
    match status.code().map(u8::try_from) {
        Some(Ok(code)) => ExitCode::from(code),
        _ if status.success() => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn parses_commands() {
        assert_eq!(parse(&args(&[])).unwrap(), Cmd::Help);
        assert_eq!(parse(&args(&["help"])).unwrap(), Cmd::Help);
        assert_eq!(parse(&args(&["--help"])).unwrap(), Cmd::Help);
        assert_eq!(parse(&args(&["run"])).unwrap(), Cmd::Run(vec![]));
        assert_eq!(
            parse(&args(&["run", "--", "--instance", "X"])).unwrap(),
            Cmd::Run(args(&["--instance", "X"]))
        );
        assert_eq!(
            parse(&args(&["run", "--instance", "X"])).unwrap(),
            Cmd::Run(args(&["--instance", "X"]))
        );
        assert_eq!(
            parse(&args(&["deps", "test"])).unwrap(),
            Cmd::Deps(Need::Test)
        );
        assert!(parse(&args(&["deps"])).is_err());
        assert_eq!(parse(&args(&["dist"])).unwrap(), Cmd::Dist(false));
        assert_eq!(parse(&args(&["dist", "--dev"])).unwrap(), Cmd::Dist(true));
        assert!(parse(&args(&["dist", "--release"])).is_err());
    }

    #[test]
    fn parses_test_options() {
        assert_eq!(
            parse(&args(&["test"])).unwrap(),
            Cmd::Test(TestOptions::default())
        );
        assert_eq!(
            parse(&args(&["test", "--quick", "--", "x", "--", "--nocapture"])).unwrap(),
            Cmd::Test(TestOptions {
                quick: true,
                test_args: args(&["x", "--", "--nocapture"]),
            })
        );
        assert!(parse(&args(&["test", "--quik"])).is_err());
        assert!(parse(&args(&["test", "thumbprint"])).is_err());
    }
}
