//! `tentacle check`: runs the connectivity checks for one instance and prints the report (text or JSON); exits 1 when a check fails. With `--fix` it then offers the repairs the checks found.

use std::time::Duration;

use super::commands::InstanceArgs;
use super::{CliError, Out, target};
use crate::checks::{self, CheckOptions, CheckPlan, Verdict};

/// The longest per-step bound accepted; a check run should stay short.
const MAX_TIMEOUT_SECS: u64 = 120;

/// `--fix` and `--yes`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Repair {
    /// Offer the repairs.
    pub fix: bool,
    /// Apply them without asking.
    pub yes: bool,
}

pub fn run(
    args: &InstanceArgs,
    json: bool,
    timeout: Option<u64>,
    repair: Repair,
    out: &mut Out<'_>,
) -> Result<(), CliError> {
    if repair.yes && !repair.fix {
        return Err(CliError::Usage(
            "--yes answers the questions of --fix: pass --fix --yes".to_owned(),
        ));
    }
    if repair.fix && json {
        return Err(CliError::Usage(
            "--fix asks before each repair and cannot be combined with --json; the JSON report lists the repairs under \"actions\"".to_owned(),
        ));
    }
    let mut options = CheckOptions::default();
    if let Some(secs) = timeout {
        if secs == 0 || secs > MAX_TIMEOUT_SECS {
            return Err(CliError::Invalid(format!(
                "--timeout must be between 1 and {MAX_TIMEOUT_SECS} seconds, not {secs}"
            )));
        }
        options.connect_timeout = Duration::from_secs(secs);
        options.io_timeout = Duration::from_secs(secs);
    }
    let t = target(args)?;
    let config = t.load()?;
    let plan = CheckPlan::from_config(&t.label(), &t.config, config).with_options(options);
    let mut report =
        checks::run_blocking(&plan, &mut |_| {}).map_err(|e| CliError::Invalid(e.to_string()))?;
    if json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| CliError::Invalid(format!("Could not write the report as JSON: {e}")))?;
        out.line(text);
    } else {
        out.raw(report.to_text());
    }
    if repair.fix {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        if let Some(after) =
            super::check_fix::offer(&t, &plan, &report, repair.yes, &mut input, out)?
        {
            report = after;
        }
    }
    let failed = report.count(Verdict::Fail);
    if failed > 0 {
        return Err(CliError::Invalid(format!(
            "{failed} of {} checks failed; the fix line under each FAIL says what to do",
            report.results.len()
        )));
    }
    Ok(())
}
