//! How long `tentacle help` takes to start (the troubleshooting guide's load-time check: more than a second points at certificate revocation lookups or antivirus scanning).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::Outcome;
use super::plan::{CheckPlan, Sink};

/// The longest one `tentacle help` may run before it is stopped.
const RUN_LIMIT: Duration = Duration::from_secs(10);

/// The `tentacle` binary: `explicit`, else this executable when it is `tentacle`, else a
/// `tentacle` beside it (the manager ships next to it).
pub(crate) fn find_tentacle(explicit: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    let me =
        std::env::current_exe().map_err(|e| format!("this program's own path is unknown ({e})"))?;
    if me.file_stem().and_then(|s| s.to_str()) == Some("tentacle") {
        return Ok(me);
    }
    let name = format!("tentacle{}", std::env::consts::EXE_SUFFIX);
    let beside = me.parent().map(|d| d.join(&name));
    match beside {
        Some(p) if p.is_file() => Ok(p),
        _ => Err(format!(
            "no {name} was found beside {}; the start-up time can only be measured on the tentacle program",
            me.display()
        )),
    }
}

/// Runs `exe help` once; its wall time or why it failed.
async fn time_help(exe: &Path) -> Result<Duration, String> {
    let started = Instant::now();
    let child = tokio::process::Command::new(exe)
        .arg("help")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{} could not be started: {e}", exe.display()))?;
    match tokio::time::timeout(RUN_LIMIT, child.wait_with_output()).await {
        Err(_) => Err(format!(
            "`{} help` did not finish within {} s and was stopped",
            exe.display(),
            RUN_LIMIT.as_secs()
        )),
        Ok(Err(e)) => Err(format!("waiting for `{} help` failed: {e}", exe.display())),
        Ok(Ok(out)) if !out.status.success() => Err(format!(
            "`{} help` exited with {}",
            exe.display(),
            out.status
        )),
        Ok(Ok(_)) => Ok(started.elapsed()),
    }
}

pub(crate) async fn run(plan: &CheckPlan, sink: &Sink) {
    let Some(step) = plan.host.iter().find(|s| s.id == "host.startup") else {
        return;
    };
    let started = Instant::now();
    let outcome = match find_tentacle(plan.options.tentacle_exe.as_deref()) {
        Err(why) => Outcome::skipped(why),
        Ok(exe) => measure(&exe, plan.options.startup_limit).await,
    };
    sink.put(step, outcome, started);
}

/// Two runs (the first may pay for a cold disk cache); the verdict goes by the faster.
async fn measure(exe: &Path, limit: Duration) -> Outcome {
    let first = match time_help(exe).await {
        Ok(d) => d,
        Err(why) => {
            return Outcome::fail(
                why,
                "The tentacle program does not start properly",
                "Reinstall Tentacle; if it hangs, check antivirus exclusions for its folder",
            );
        }
    };
    let second = time_help(exe).await.unwrap_or(first);
    let best = first.min(second);
    let seen = format!(
        "`{} help` took {} ms, then {} ms",
        exe.display(),
        first.as_millis(),
        second.as_millis()
    );
    if best < limit {
        Outcome::pass(seen)
    } else {
        Outcome::warn(
            seen,
            format!(
                "Starting takes over {} ms: usually a certificate revocation list lookup that cannot reach the internet (DMZ), or antivirus scanning the program",
                limit.as_millis()
            ),
            "On Windows, untick Control Panel > Internet Options > Advanced > \"Check for publisher's certificate revocation\"; elsewhere exclude the Tentacle folder from on-access scanning",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explicit_path_wins_and_a_test_binary_finds_no_tentacle_beside_it() {
        assert_eq!(
            find_tentacle(Some(Path::new("/x/tentacle"))).unwrap(),
            PathBuf::from("/x/tentacle")
        );
        // The unit-test binary lives in target/*/deps, where no `tentacle` is built.
        let e = find_tentacle(None).unwrap_err();
        assert!(e.contains("no tentacle"), "{e}");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_slow_program_is_a_warning_and_a_failing_one_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let slow = dir.path().join("slow");
        let script = "#!/bin/sh\nsleep 0.3\n";
        crate::instance::atomic::write_atomic(
            &slow,
            script.as_bytes(),
            crate::instance::atomic::FileMode::Public,
        )
        .unwrap();
        std::process::Command::new("chmod")
            .arg("+x")
            .arg(&slow)
            .status()
            .unwrap();
        let o = measure(&slow, Duration::from_millis(100)).await;
        assert_eq!(o.verdict, super::super::Verdict::Warn, "{o:?}");
        assert!(o.fix.unwrap().contains("revocation"));
        let o = measure(Path::new("/bin/false"), Duration::from_secs(1)).await;
        assert_eq!(o.verdict, super::super::Verdict::Fail, "{o:?}");
    }
}
