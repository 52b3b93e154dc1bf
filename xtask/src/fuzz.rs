//! `cargo xtask fuzz`: long cargo-fuzz campaigns over every target in core/fuzz, one at a time and at low priority, outside CI; prints the executions per target.
//!
//! CI runs the same bodies under proptest (`tentacle_core::fuzzing`), so it needs no
//! sanitizer toolchain; this command is for the hours a release deserves.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::workspace::{Workspace, display_command};

/// Options for `cargo xtask fuzz`.
#[derive(Debug, PartialEq, Eq)]
pub struct FuzzOptions {
    /// Wall-clock budget per target.
    pub minutes: u64,
    /// Stop a target after this many executions (libFuzzer's `-runs`), if set.
    pub runs: Option<u64>,
    /// Only these targets (all when empty).
    pub targets: Vec<String>,
}

impl Default for FuzzOptions {
    fn default() -> Self {
        FuzzOptions {
            minutes: 10,
            runs: None,
            targets: Vec::new(),
        }
    }
}

/// Parses `[--minutes N] [--runs N] [TARGET...]`.
pub fn parse(args: &[OsString]) -> Result<FuzzOptions> {
    let mut opts = FuzzOptions::default();
    let mut iter = args.iter();
    let number = |flag: &str, value: Option<&OsString>| -> Result<u64> {
        let text = value
            .and_then(|v| v.to_str())
            .with_context(|| format!("{flag} needs a number"))?;
        match text.parse::<u64>() {
            Ok(n) if n > 0 => Ok(n),
            _ => bail!("{flag} needs a whole number above 0, not {text:?}"),
        }
    };
    while let Some(arg) = iter.next() {
        match arg.to_str() {
            Some("--minutes") => opts.minutes = number("--minutes", iter.next())?,
            Some("--runs") => opts.runs = Some(number("--runs", iter.next())?),
            Some(t) if !t.starts_with('-') => opts.targets.push(t.to_owned()),
            _ => bail!("unknown option for `fuzz`: {arg:?}"),
        }
    }
    Ok(opts)
}

/// What one campaign did.
struct Campaign {
    target: String,
    executions: Option<u64>,
    per_second: Option<u64>,
    seconds: u64,
    crashed: bool,
}

/// Builds the targets once, then fuzzes each in turn and prints a table.
pub fn run(opts: &FuzzOptions) -> Result<ExitCode> {
    let ws = Workspace::new()?;
    let dir = ws.root.join("core").join("fuzz");
    ensure_cargo_fuzz(&ws)?;
    let all = list_targets(&ws, &dir)?;
    let targets: Vec<String> = if opts.targets.is_empty() {
        all
    } else {
        for t in &opts.targets {
            if !all.contains(t) {
                bail!("no fuzz target {t:?}; the targets are: {}", all.join(", "));
            }
        }
        opts.targets.clone()
    };

    // Debug assertions bring overflow checks, which is what catches `days * 86_400`. No
    // sanitizer: tentacle-core forbids unsafe code, and ASan would halve the executions.
    let build = ["fuzz", "build", "--debug-assertions", "--sanitizer", "none"];
    let mut cmd = fuzz_cargo(&ws, &dir, &build);
    println!("== fuzz: {}", display_command(&cmd));
    let status = cmd.status().context("could not start cargo fuzz build")?;
    if !status.success() {
        bail!("`cargo fuzz build` failed ({status})");
    }

    let triple = host_triple()?;
    let mut results = Vec::new();
    for target in &targets {
        results.push(campaign(&dir, &triple, target, opts)?);
    }

    println!();
    println!("== fuzz: summary ({} min per target at most)", opts.minutes);
    println!(
        "   {:<22} {:>14} {:>10} {:>8}  result",
        "target", "executions", "exec/s", "seconds"
    );
    let show = |n: Option<u64>| n.map_or_else(|| "?".to_owned(), |n| n.to_string());
    for r in &results {
        println!(
            "   {:<22} {:>14} {:>10} {:>8}  {}",
            r.target,
            show(r.executions),
            show(r.per_second),
            r.seconds,
            if r.crashed {
                format!("CRASH: input in core/fuzz/artifacts/{}/", r.target)
            } else {
                "no crash".to_owned()
            }
        );
    }
    if results.iter().any(|r| r.crashed) {
        Ok(ExitCode::FAILURE)
    } else {
        Ok(ExitCode::SUCCESS)
    }
}

/// `cargo ARGS` in core/fuzz with the flags cargo-fuzz needs, at the lowest CPU priority
/// when `nice` exists, so a campaign never slows the machine's real work.
fn fuzz_cargo(ws: &Workspace, dir: &Path, args: &[&str]) -> Command {
    let base = ws.cargo(args);
    let mut cmd = if Command::new("nice")
        .arg("true")
        .status()
        .is_ok_and(|s| s.success())
    {
        let mut nice = Command::new("nice");
        nice.args(["-n", "19"]).arg(base.get_program());
        nice.args(base.get_args());
        for (k, v) in base.get_envs() {
            match v {
                Some(v) => nice.env(k, v),
                None => nice.env_remove(k),
            };
        }
        nice
    } else {
        base
    };
    // cargo-fuzz passes `-Z` flags; RUSTC_BOOTSTRAP lets the stable toolchain accept them.
    cmd.current_dir(dir).env("RUSTC_BOOTSTRAP", "1");
    cmd
}

/// The host triple cargo-fuzz builds for (its output folder under core/fuzz/target).
fn host_triple() -> Result<String> {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .context("could not run rustc -vV")?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .context("rustc -vV did not name the host triple")
}

/// Runs the built target binary itself, not `cargo fuzz run`: the sources may change while
/// a long campaign runs (other work goes on), and each target must test the same build.
fn campaign(dir: &Path, triple: &str, target: &str, opts: &FuzzOptions) -> Result<Campaign> {
    let seconds = opts.minutes.saturating_mul(60);
    let binary = dir.join("target").join(triple).join("release").join(target);
    let corpus = dir.join("corpus").join(target);
    let artifacts = dir.join("artifacts").join(target);
    std::fs::create_dir_all(&corpus).with_context(|| format!("creating {}", corpus.display()))?;
    std::fs::create_dir_all(&artifacts)
        .with_context(|| format!("creating {}", artifacts.display()))?;
    let mut args: Vec<OsString> = vec![
        corpus.into_os_string(),
        format!("-artifact_prefix={}/", artifacts.display()).into(),
        format!("-max_total_time={seconds}").into(),
        "-print_final_stats=1".into(),
        "-timeout=10".into(),
        "-rss_limit_mb=1024".into(),
    ];
    if let Some(runs) = opts.runs {
        args.push(format!("-runs={runs}").into());
    }
    let mut cmd = Command::new("nice");
    cmd.args(["-n", "19"]).arg(&binary).args(&args);
    if !Command::new("nice")
        .arg("true")
        .status()
        .is_ok_and(|s| s.success())
    {
        cmd = Command::new(&binary);
        cmd.args(&args);
    }
    println!("== fuzz: {target}: {}", display_command(&cmd));
    let started = Instant::now();
    let mut child = cmd
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("could not start {}", binary.display()))?;
    let mut executions = None;
    let mut per_second = None;
    let mut last_progress: Option<Instant> = None;
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
            if let Some(n) = stat(&line, "stat::number_of_executed_units:") {
                executions = Some(n);
            } else if let Some(n) = stat(&line, "stat::average_exec_per_sec:") {
                per_second = Some(n);
            }
            if line.starts_with('#') {
                // libFuzzer's progress lines: one a minute is plenty.
                if last_progress.is_some_and(|t| t.elapsed().as_secs() < 60) {
                    continue;
                }
                last_progress = Some(Instant::now());
            }
            eprintln!("   {target}: {line}");
        }
    }
    let status = child.wait().context("the fuzz target did not finish")?;
    let seconds = started.elapsed().as_secs();
    // libFuzzer rounds a short run's rate down to 0; the wall clock is close enough then.
    if per_second.is_none_or(|r| r == 0) {
        per_second = executions.map(|n| n / seconds.max(1));
    }
    Ok(Campaign {
        target: target.to_owned(),
        executions,
        per_second,
        seconds,
        crashed: !status.success(),
    })
}

/// `stat::name: 123` → 123.
fn stat(line: &str, prefix: &str) -> Option<u64> {
    line.trim().strip_prefix(prefix)?.trim().parse().ok()
}

fn list_targets(ws: &Workspace, dir: &Path) -> Result<Vec<String>> {
    let out = fuzz_cargo(ws, dir, &["fuzz", "list"])
        .output()
        .context("could not run cargo fuzz list")?;
    if !out.status.success() {
        bail!(
            "`cargo fuzz list` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Installs cargo-fuzz from crates.io when it is missing (once per machine).
fn ensure_cargo_fuzz(ws: &Workspace) -> Result<()> {
    let have = ws
        .cargo(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if have {
        return Ok(());
    }
    println!("== fuzz: installing cargo-fuzz from crates.io (once per machine)");
    let status = ws
        .cargo(["install", "--locked", "cargo-fuzz"])
        .status()
        .context("could not start cargo install")?;
    if !status.success() {
        bail!("`cargo install --locked cargo-fuzz` failed ({status})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn parses_minutes_runs_and_targets() {
        assert_eq!(parse(&[]).unwrap(), FuzzOptions::default());
        let got = parse(&args(&[
            "--minutes",
            "30",
            "--runs",
            "10000000",
            "frame_lines",
        ]))
        .unwrap();
        assert_eq!(
            got,
            FuzzOptions {
                minutes: 30,
                runs: Some(10_000_000),
                targets: vec!["frame_lines".into()],
            }
        );
    }

    #[test]
    fn refuses_bad_numbers_and_options() {
        let e = parse(&args(&["--minutes", "soon"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("whole number"), "{e}");
        assert!(parse(&args(&["--minutes"])).is_err());
        assert!(parse(&args(&["--minutes", "0"])).is_err());
        let e = parse(&args(&["--forever"])).unwrap_err().to_string();
        assert!(e.contains("unknown option"), "{e}");
    }

    #[test]
    fn reads_libfuzzer_final_stats() {
        assert_eq!(
            stat(
                "stat::number_of_executed_units: 10000001",
                "stat::number_of_executed_units:"
            ),
            Some(10_000_001)
        );
        assert_eq!(stat("#1024 pulse", "stat::average_exec_per_sec:"), None);
    }
}
