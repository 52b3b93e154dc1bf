//! `tentacle check`: runs the connectivity checks for one instance and prints the report (text or JSON); exits 1 when a check fails.

use std::time::Duration;

use super::commands::InstanceArgs;
use super::{CliError, Out, target};
use crate::checks::{self, CheckOptions, CheckPlan, Verdict};

/// The longest per-step bound accepted; a check run should stay short.
const MAX_TIMEOUT_SECS: u64 = 120;

pub fn run(
    args: &InstanceArgs,
    json: bool,
    timeout: Option<u64>,
    out: &mut Out<'_>,
) -> Result<(), CliError> {
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
    let report =
        checks::run_blocking(&plan, &mut |_| {}).map_err(|e| CliError::Invalid(e.to_string()))?;
    if json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| CliError::Invalid(format!("Could not write the report as JSON: {e}")))?;
        out.line(text);
    } else {
        out.raw(report.to_text());
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
