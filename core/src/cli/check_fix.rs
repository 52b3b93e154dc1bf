//! `tentacle check --fix`: each repair the checks offer is shown (what it does, a warning, the exact commands and its undo), asked about (y/N on stdin, or `--yes`), applied, and the checks run again.

use std::io::{BufRead, IsTerminal};

use super::{CliError, Out, Target};
use crate::checks::{self, CheckPlan, CheckReport, Verdict};
use crate::fix::{FixAction, FixContext, Selector};

/// The answer to one question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Yes,
    No,
    /// stdin is closed: nobody can answer.
    Closed,
}

fn ask(input: &mut dyn BufRead) -> Answer {
    let mut line = String::new();
    match input.read_line(&mut line) {
        Ok(0) | Err(_) => Answer::Closed,
        Ok(_) => match line.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" => Answer::Yes,
            _ => Answer::No,
        },
    }
}

/// The context the CLI applies repairs in: its own executable is what a service runs.
fn context(t: &Target) -> Result<FixContext, CliError> {
    let exe = std::env::current_exe().map_err(|e| {
        CliError::Invalid(format!(
            "Could not find the path of this tentacle executable: {e}"
        ))
    })?;
    Ok(FixContext {
        selector: match &t.record {
            Some(r) => Selector::Instance(r.name.clone()),
            None => Selector::Config(t.config.clone()),
        },
        config: t.config.clone(),
        tentacle_exe: std::fs::canonicalize(&exe).unwrap_or(exe),
    })
}

/// Offers every repair of `report`; returns the report of the checks run again when any
/// repair was applied.
pub(super) fn offer(
    t: &Target,
    plan: &CheckPlan,
    report: &CheckReport,
    yes: bool,
    input: &mut dyn BufRead,
    out: &mut Out<'_>,
) -> Result<Option<CheckReport>, CliError> {
    let ctx = context(t)?;
    let mut seen: Vec<&FixAction> = Vec::new();
    let offered: Vec<_> = report
        .results
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Warn | Verdict::Fail))
        .filter(|r| !r.actions.is_empty())
        .collect();
    if offered.is_empty() {
        out.line("Nothing to repair: no check found something this tool can fix.");
        return Ok(None);
    }
    // Piped answers are not echoed by a terminal: print them so the transcript reads right.
    let echo = !std::io::stdin().is_terminal();
    let mut closed = false;
    let mut applied_ids: Vec<String> = Vec::new();
    for result in offered {
        // The repairs of one check are alternatives (stop the holder, or move the port);
        // stopping several processes that share the port is the exception.
        let mut done_one = false;
        for action in &result.actions {
            if seen.contains(&action) {
                continue;
            }
            seen.push(action);
            if done_one && !matches!(action, FixAction::StopProcess { .. }) {
                out.line(format!(
                    "Not offering \"{}\": another repair of this check was applied.",
                    action.title()
                ));
                continue;
            }
            out.line("");
            out.line(format!(
                "Repair for {} {}: {}",
                result.verdict.label(),
                result.title,
                action.title()
            ));
            out.line(format!("  {}", action.description()));
            if let Some(w) = action.warning() {
                out.line(format!("  Warning: {w}"));
            }
            out.line("  Runs:");
            for line in action.script(&ctx) {
                out.line(format!("    {line}"));
            }
            match action.undo() {
                Some(u) => out.line(format!("  Undo with: {}", u.script(&ctx).join(" && "))),
                None => out.line("  This cannot be undone."),
            }
            let go = if yes {
                out.line("  Applying (--yes).");
                true
            } else if closed {
                out.line("  Not applied: nobody can answer (stdin is closed); run tentacle check --fix at a terminal, or add --yes.");
                false
            } else {
                out.raw(format!("Apply \"{}\"? [y/N] ", action.title()));
                match ask(input) {
                    Answer::Yes => {
                        if echo {
                            out.line("y");
                        }
                        true
                    }
                    Answer::No => {
                        if echo {
                            out.line("n");
                        }
                        out.line("  Not applied.");
                        false
                    }
                    Answer::Closed => {
                        closed = true;
                        out.line("");
                        out.line("  Not applied: nobody can answer (stdin is closed); run tentacle check --fix at a terminal, or add --yes.");
                        false
                    }
                }
            };
            if !go {
                continue;
            }
            let outcome = action.apply(&ctx, &mut |line| out.line(format!("    {line}")));
            match outcome {
                Ok(()) => {
                    out.line(format!("  Done: {}", action.title()));
                    done_one = true;
                    if !applied_ids.contains(&result.id) {
                        applied_ids.push(result.id.clone());
                    }
                }
                Err(e) => out.line(format!("  Failed: {e}")),
            }
        }
    }
    if applied_ids.is_empty() {
        return Ok(None);
    }
    // The configuration may have changed (port, certificate): plan again from the file.
    let config = t.load()?;
    let again = CheckPlan::from_config(&plan.instance, &t.config, config)
        .with_options(plan.options.clone());
    let after =
        checks::run_blocking(&again, &mut |_| {}).map_err(|e| CliError::Invalid(e.to_string()))?;
    out.line("");
    out.line("The repaired checks, run again:");
    for id in &applied_ids {
        if let Some(r) = after.get(id) {
            out.line(format!("{}  {}: {}", r.verdict.label(), r.title, r.seen));
        }
    }
    out.line(after.summary());
    Ok(Some(after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_yes_only_when_said() {
        let mut input: &[u8] = b"y\nno\n\nYES\n";
        assert_eq!(ask(&mut input), Answer::Yes);
        assert_eq!(ask(&mut input), Answer::No);
        assert_eq!(ask(&mut input), Answer::No);
        assert_eq!(ask(&mut input), Answer::Yes);
        assert_eq!(ask(&mut input), Answer::Closed);
    }
}
