//! `cargo xtask test`: system packages, then fmt, clippy, build and test, stopping at the first failure.

use std::ffi::OsString;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::deps::{self, Need};
use crate::workspace::{Workspace, display_command};

/// Options for `cargo xtask test`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TestOptions {
    /// Skip fmt and clippy.
    pub quick: bool,
    /// Extra arguments for `cargo test` (everything after `--`).
    pub test_args: Vec<OsString>,
}

/// What one step is and does.
enum Action {
    /// Install missing system packages.
    Deps,
    /// Run `cargo ARGS` in the workspace root.
    Cargo(Vec<OsString>),
    /// Clippy of the core crate for Windows, when that target and mingw are installed.
    Windows,
    /// The .deb, .rpm and MSI built from the dev binaries and checked (see `dist`).
    Packages,
    /// The Windows build under Wine (see `wine`).
    Wine,
}

use crate::dist::WINDOWS_TARGET;

struct Step {
    name: &'static str,
    action: Action,
    /// Why the step is skipped, if it is.
    skip: Option<&'static str>,
}

enum Outcome {
    Ok(Duration),
    Failed(Duration),
    Skipped(&'static str),
    NotRun,
}

/// The steps in order. `--locked` goes to clippy only when Cargo.lock exists.
fn steps(opts: &TestOptions, locked: bool) -> Vec<Step> {
    let quick = opts.quick.then_some("--quick");
    let os = |args: &[&str]| args.iter().map(OsString::from).collect::<Vec<_>>();

    let mut clippy = os(&["clippy", "--workspace", "--all-targets"]);
    if locked {
        clippy.push("--locked".into());
    }
    clippy.extend(os(&["--", "-D", "warnings"]));

    let mut test = os(&["test", "--workspace", "--no-fail-fast"]);
    test.extend(opts.test_args.iter().cloned());

    vec![
        Step {
            name: "deps",
            action: Action::Deps,
            skip: None,
        },
        Step {
            name: "fmt",
            action: Action::Cargo(os(&["fmt", "--all", "--", "--check"])),
            skip: quick,
        },
        Step {
            name: "clippy",
            action: Action::Cargo(clippy),
            skip: quick,
        },
        // The end-to-end tests drive target/debug/tentacle and target/debug/tentacle-manager,
        // so the binaries must exist before `cargo test` runs them.
        Step {
            name: "build",
            action: Action::Cargo(os(&["build", "--workspace", "--bins"])),
            skip: None,
        },
        Step {
            name: "test",
            action: Action::Cargo(test),
            skip: None,
        },
        Step {
            name: "windows",
            action: Action::Windows,
            skip: quick,
        },
        // After `build`: packages the dev binaries it made, so no release build in CI.
        Step {
            name: "packages",
            action: Action::Packages,
            skip: quick,
        },
        // After `packages`, whose Windows cross build it reuses.
        Step {
            name: "wine",
            action: Action::Wine,
            skip: quick,
        },
    ]
}

/// Runs every step, prints a timing line per step and a summary. Non-zero exit on failure.
pub fn run(opts: &TestOptions) -> Result<ExitCode> {
    let started = Instant::now();
    let ws = Workspace::new()?;
    let locked = ws.root.join("Cargo.lock").is_file();
    let steps = steps(opts, locked);

    let mut outcomes: Vec<Outcome> = Vec::with_capacity(steps.len());
    let mut failure: Option<(&'static str, String)> = None;

    for step in &steps {
        if failure.is_some() {
            outcomes.push(Outcome::NotRun);
            continue;
        }
        if let Some(why) = step.skip {
            println!("== {}: skipped ({why})", step.name);
            outcomes.push(Outcome::Skipped(why));
            continue;
        }
        let t = Instant::now();
        let result = match &step.action {
            Action::Deps => {
                println!("== {}: checking system packages", step.name);
                deps::ensure(Need::Test).map_err(|e| format!("{e:#}"))
            }
            Action::Windows => windows_check(&ws),
            Action::Packages => packages(&ws),
            Action::Wine => crate::wine::run(&ws),
            Action::Cargo(args) => {
                let mut cmd = ws.cargo(args);
                let line = display_command(&cmd);
                println!("== {}: {line}", step.name);
                match cmd.status() {
                    Ok(s) if s.success() => Ok(()),
                    Ok(s) => Err(format!("`{line}` failed ({s})")),
                    Err(e) => Err(format!("`{line}` could not be started: {e}")),
                }
            }
        };
        let took = t.elapsed();
        match result {
            Ok(()) => {
                println!("== {}: ok in {}", step.name, secs(took));
                outcomes.push(Outcome::Ok(took));
            }
            Err(why) => {
                println!("== {}: FAILED in {}", step.name, secs(took));
                outcomes.push(Outcome::Failed(took));
                failure = Some((step.name, why));
            }
        }
    }

    println!();
    println!("== summary");
    for (step, outcome) in steps.iter().zip(&outcomes) {
        let text = match outcome {
            Outcome::Ok(d) => format!("ok      {:>9}", secs(*d)),
            Outcome::Failed(d) => format!("FAILED  {:>9}", secs(*d)),
            Outcome::Skipped(why) => format!("skipped ({why})"),
            Outcome::NotRun => "not run (an earlier step failed)".to_string(),
        };
        println!("   {:<8} {text}", step.name);
    }
    let total = secs(started.elapsed());
    match failure {
        None => {
            println!("== xtask test: all steps passed in {total}");
            Ok(ExitCode::SUCCESS)
        }
        Some((name, why)) => {
            eprintln!("== xtask test: FAILED at step `{name}` after {total}: {why}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Checks that the Windows-only code in core compiles, with clippy, for the GNU target. Says
/// plainly when it cannot, since the target is not part of a default Rust install.
fn windows_check(ws: &Workspace) -> std::result::Result<(), String> {
    if let Err(why) = crate::wine::prefix::ensure_rust_target() {
        println!("== windows: could not install the Rust target: {why}");
    }
    if let Some(why) = crate::dist::windows_toolchain_missing() {
        println!("== windows: SKIPPED: {why}");
        return Ok(());
    }
    let args = [
        "clippy",
        "--target",
        WINDOWS_TARGET,
        "-p",
        "tentacle-core",
        "--lib",
        "--bins",
        "--",
        "-D",
        "warnings",
    ];
    let mut cmd = ws.cargo(args);
    println!("== windows: {}", display_command(&cmd));
    match cmd.status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!(
            "the Windows build of tentacle-core has errors or warnings ({s})"
        )),
        Err(e) => Err(format!("cargo could not be started: {e}")),
    }
}

/// Builds every package this machine can from the dev binaries and checks each; skipped ones
/// are reported with the reason and do not fail the step.
fn packages(ws: &Workspace) -> std::result::Result<(), String> {
    let reports = crate::dist::build_all(
        ws,
        crate::dist::Profile::Dev,
        crate::dist::Checks::WithInstall,
    );
    if crate::dist::print_summary("packages", &reports) {
        Ok(())
    } else {
        Err("a package failed to build or failed its checks (see above)".to_owned())
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(steps: &[Step]) -> Vec<String> {
        steps
            .iter()
            .map(|s| {
                let what = match &s.action {
                    Action::Deps => "deps".to_string(),
                    Action::Windows => "windows".to_string(),
                    Action::Packages => "packages".to_string(),
                    Action::Wine => "wine".to_string(),
                    Action::Cargo(args) => args
                        .iter()
                        .map(|a| a.to_string_lossy().into_owned())
                        .collect::<Vec<_>>()
                        .join(" "),
                };
                match s.skip {
                    Some(why) => format!("{}: {what} [skip: {why}]", s.name),
                    None => format!("{}: {what}", s.name),
                }
            })
            .collect()
    }

    #[test]
    fn full_run_in_order() {
        let got = lines(&steps(&TestOptions::default(), true));
        assert_eq!(
            got,
            [
                "deps: deps",
                "fmt: fmt --all -- --check",
                "clippy: clippy --workspace --all-targets --locked -- -D warnings",
                "build: build --workspace --bins",
                "test: test --workspace --no-fail-fast",
                "windows: windows",
                "packages: packages",
                "wine: wine",
            ]
        );
    }

    #[test]
    fn quick_skips_fmt_and_clippy_and_passes_test_args() {
        let opts = TestOptions {
            quick: true,
            test_args: vec!["roundtrip".into(), "--".into(), "--nocapture".into()],
        };
        let got = lines(&steps(&opts, false));
        assert_eq!(
            got,
            [
                "deps: deps",
                "fmt: fmt --all -- --check [skip: --quick]",
                "clippy: clippy --workspace --all-targets -- -D warnings [skip: --quick]",
                "build: build --workspace --bins",
                "test: test --workspace --no-fail-fast roundtrip -- --nocapture",
                "windows: windows [skip: --quick]",
                "packages: packages [skip: --quick]",
                "wine: wine [skip: --quick]",
            ]
        );
    }
}
