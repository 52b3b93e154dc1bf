//! Connectivity checks (troubleshooting guide, seed 004): each check is a typed result with what was seen, the likely cause and the fix.
//!
//! A [`CheckPlan`] is built from one instance's configuration (pure: nothing is dialled);
//! [`run`] executes it. Every network step is bounded by [`CheckOptions`] (5 s by default),
//! checks of different polling servers run concurrently, and checks that depend on an
//! earlier failure say `Skipped` with the reason instead of failing twice.
//!
//! The manager uses this API in-process; `tentacle check` prints [`CheckReport::to_text`]
//! or its JSON.

#[cfg(unix)]
mod account;
mod certificate;
mod firewall;
mod host;
mod identity;
mod legacy;
mod own_certificate;
mod plan;
mod polling;
pub mod port;
mod prerequisites;
pub mod probe;
mod reach;
mod startup;
mod text;
mod upgrades;
mod websocket;
mod welcome;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

pub use plan::{CheckOptions, CheckPlan};
pub use port::{PortHolder, listeners_on_port};

use crate::instance::InstanceError;

/// How a check came out. Ordered from best to worst for [`CheckReport::worst`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Works as it should.
    Pass,
    /// Works, but something is off and worth fixing.
    Warn,
    /// Broken: this is (or will be) a reason Octopus cannot talk to this Tentacle.
    Fail,
    /// Not run; `seen` says why (nothing to check, or an earlier check failed).
    Skipped,
}

impl Verdict {
    /// `PASS`, `WARN`, `FAIL`, `SKIP`: four letters, for aligned text.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
            Verdict::Skipped => "SKIP",
        }
    }

    /// Badness for [`CheckReport::worst`]: skipped < pass < warn < fail.
    fn rank(self) -> u8 {
        match self {
            Verdict::Skipped => 0,
            Verdict::Pass => 1,
            Verdict::Warn => 2,
            Verdict::Fail => 3,
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    /// Stable identifier, e.g. `listen.port`, `poll.1.thumbprint`, `host.disk`.
    pub id: String,
    /// What was checked, for people: "Listening port 10933".
    pub title: String,
    /// Pass, warn, fail or skipped.
    pub verdict: Verdict,
    /// What was observed (for skipped checks: why it did not run).
    pub seen: String,
    /// The likely cause, when not a pass.
    pub cause: Option<String>,
    /// What to do about it, when not a pass.
    pub fix: Option<String>,
    /// Repairs that can be applied for the user (`tentacle check --fix`, the manager's buttons).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<crate::fix::FixAction>,
    /// How long the check took.
    #[serde(rename = "elapsed_ms", serialize_with = "millis")]
    pub elapsed: Duration,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Every result of one run, in plan order.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// The instance checked.
    pub instance: String,
    /// The configuration file it was read from.
    pub config: PathBuf,
    /// One result per planned check, in the order of [`CheckPlan::titles`].
    pub results: Vec<CheckResult>,
    /// Wall-clock time of the whole run.
    #[serde(rename = "elapsed_ms", serialize_with = "millis")]
    pub elapsed: Duration,
}

impl CheckReport {
    /// The report as text: one block per check, then a one-line summary.
    pub fn to_text(&self) -> String {
        text::render(self)
    }

    /// The worst verdict: fail over warn over pass; skipped only when nothing ran.
    pub fn worst(&self) -> Verdict {
        self.results
            .iter()
            .map(|r| r.verdict)
            .max_by_key(|v| v.rank())
            .unwrap_or(Verdict::Skipped)
    }

    /// How many results have `verdict`.
    pub fn count(&self, verdict: Verdict) -> usize {
        self.results.iter().filter(|r| r.verdict == verdict).count()
    }

    /// The result with this id.
    pub fn get(&self, id: &str) -> Option<&CheckResult> {
        self.results.iter().find(|r| r.id == id)
    }
}

/// Why checks could not even be planned.
#[derive(Debug, thiserror::Error)]
pub enum ChecksError {
    /// The instance's configuration could not be read.
    #[error(transparent)]
    Instance(#[from] InstanceError),
    /// The tokio runtime for a blocking caller could not start.
    #[error(
        "Could not start the runtime for the checks ({0}); free some memory or threads and try again"
    )]
    Runtime(String),
}

/// What a check function decides; the runner adds id, title and time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub verdict: Verdict,
    pub seen: String,
    pub cause: Option<String>,
    pub fix: Option<String>,
    pub actions: Vec<crate::fix::FixAction>,
}

impl Outcome {
    pub fn pass(seen: impl Into<String>) -> Outcome {
        Outcome {
            verdict: Verdict::Pass,
            seen: seen.into(),
            cause: None,
            fix: None,
            actions: Vec::new(),
        }
    }

    pub fn skipped(why: impl Into<String>) -> Outcome {
        Outcome {
            verdict: Verdict::Skipped,
            seen: why.into(),
            cause: None,
            fix: None,
            actions: Vec::new(),
        }
    }

    pub fn warn(
        seen: impl Into<String>,
        cause: impl Into<String>,
        fix: impl Into<String>,
    ) -> Outcome {
        Outcome {
            verdict: Verdict::Warn,
            seen: seen.into(),
            cause: Some(cause.into()),
            fix: Some(fix.into()),
            actions: Vec::new(),
        }
    }

    pub fn fail(
        seen: impl Into<String>,
        cause: impl Into<String>,
        fix: impl Into<String>,
    ) -> Outcome {
        Outcome {
            verdict: Verdict::Fail,
            seen: seen.into(),
            cause: Some(cause.into()),
            fix: Some(fix.into()),
            actions: Vec::new(),
        }
    }

    pub fn is_pass(&self) -> bool {
        self.verdict == Verdict::Pass
    }

    /// The same outcome, offering these repairs.
    pub fn offering(mut self, actions: Vec<crate::fix::FixAction>) -> Outcome {
        self.actions.extend(actions);
        self
    }
}

/// One planned check: its id and title, fixed before anything runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Step {
    pub id: String,
    pub title: String,
}

impl Step {
    pub fn new(id: impl Into<String>, title: impl Into<String>) -> Step {
        Step {
            id: id.into(),
            title: title.into(),
        }
    }

    /// Turns an outcome into this step's result.
    pub fn finish(&self, outcome: Outcome, started: Instant) -> CheckResult {
        CheckResult {
            id: self.id.clone(),
            title: self.title.clone(),
            verdict: outcome.verdict,
            seen: outcome.seen,
            cause: outcome.cause,
            fix: outcome.fix,
            actions: outcome.actions,
            elapsed: started.elapsed(),
        }
    }
}

/// Runs every check of `plan`, calling `progress` once per check as it finishes. Checks of
/// different servers run at the same time, so `progress` sees results in completion order
/// (match them to [`CheckPlan::titles`] by `id`, see [`CheckPlan::ids`]); the report lists
/// them in plan order. Never fails: problems are results. Call it inside a tokio runtime with
/// I/O, time and process support enabled (`enable_all`), as the manager's and the CLI's are.
pub async fn run(plan: &CheckPlan, progress: &mut (dyn FnMut(&CheckResult) + Send)) -> CheckReport {
    plan::execute(plan, progress).await
}

/// [`run`] for callers without a runtime (the CLI): builds a small one and blocks.
pub fn run_blocking(
    plan: &CheckPlan,
    progress: &mut (dyn FnMut(&CheckResult) + Send),
) -> Result<CheckReport, ChecksError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("tentacle-check")
        .enable_all()
        .build()
        .map_err(|e| ChecksError::Runtime(e.to_string()))?;
    let report = runtime.block_on(run(plan, progress));
    // A check that overran its bound may still hold a socket; do not wait for it.
    runtime.shutdown_timeout(Duration::from_millis(200));
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(id: &str, verdict: Verdict) -> CheckResult {
        CheckResult {
            id: id.into(),
            title: id.into(),
            verdict,
            seen: String::new(),
            cause: None,
            fix: None,
            actions: Vec::new(),
            elapsed: Duration::from_millis(3),
        }
    }

    fn report(verdicts: &[Verdict]) -> CheckReport {
        CheckReport {
            instance: "T".into(),
            config: PathBuf::from("/x"),
            results: verdicts
                .iter()
                .enumerate()
                .map(|(i, v)| result(&format!("c{i}"), *v))
                .collect(),
            elapsed: Duration::from_millis(9),
        }
    }

    #[test]
    fn worst_prefers_fail_then_warn_and_ignores_skipped() {
        use Verdict::*;
        assert_eq!(report(&[Pass, Skipped, Pass]).worst(), Pass);
        assert_eq!(report(&[Pass, Warn, Skipped]).worst(), Warn);
        assert_eq!(report(&[Fail, Warn, Pass]).worst(), Fail);
        assert_eq!(report(&[Skipped]).worst(), Skipped);
        assert_eq!(report(&[]).worst(), Skipped);
    }

    #[test]
    fn json_uses_lowercase_verdicts_and_milliseconds() {
        let json = serde_json::to_value(report(&[Verdict::Warn])).unwrap();
        assert_eq!(json["results"][0]["verdict"], "warn");
        assert_eq!(json["results"][0]["elapsed_ms"], 3);
        assert_eq!(json["elapsed_ms"], 9);
    }
}
