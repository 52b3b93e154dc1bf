//! The check report as text for a terminal: one block per check (verdict, title, time, then what was seen, the cause and the fix), then a summary line.

use super::{CheckReport, CheckResult, Verdict};

/// Indentation of the detail lines under a check's title.
const INDENT: &str = "      ";

/// Renders the whole report.
pub(crate) fn render(report: &CheckReport) -> String {
    let mut out = format!(
        "Connectivity checks for Tentacle instance \"{}\" ({})\n\n",
        report.instance,
        report.config.display()
    );
    for r in &report.results {
        out.push_str(&block(r));
        out.push('\n');
    }
    let took = if report.elapsed.as_millis() < 1000 {
        format!("{} ms", report.elapsed.as_millis())
    } else {
        format!("{:.1} s", report.elapsed.as_secs_f64())
    };
    out.push_str(&format!("{} in {took}\n", report.summary()));
    out
}

impl CheckReport {
    /// `3 passed, 1 warning, 0 failed, 2 skipped`: the counts, as the CLI and the manager show them.
    pub fn summary(&self) -> String {
        let warnings = self.count(Verdict::Warn);
        format!(
            "{} passed, {warnings} {}, {} failed, {} skipped",
            self.count(Verdict::Pass),
            if warnings == 1 { "warning" } else { "warnings" },
            self.count(Verdict::Fail),
            self.count(Verdict::Skipped),
        )
    }
}

/// One check: `PASS  Title  (12 ms)` and its indented details.
pub(crate) fn block(r: &CheckResult) -> String {
    let mut out = format!(
        "{}  {}  ({} ms)\n",
        r.verdict.label(),
        r.title,
        r.elapsed.as_millis()
    );
    out.push_str(&format!("{INDENT}{}\n", one_line(&r.seen)));
    if let Some(cause) = &r.cause {
        out.push_str(&format!("{INDENT}cause: {}\n", one_line(cause)));
    }
    if let Some(fix) = &r.fix {
        out.push_str(&format!("{INDENT}fix:   {}\n", one_line(fix)));
    }
    for action in &r.actions {
        out.push_str(&format!(
            "{INDENT}can fix: {} (tentacle check --fix)\n",
            action.title()
        ));
    }
    out
}

/// Collapses line breaks a peer may have put into a message.
fn one_line(text: &str) -> String {
    text.split(['\r', '\n'])
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::time::Duration;

    #[test]
    fn renders_details_and_summary() {
        let report = CheckReport {
            instance: "Tentacle".into(),
            config: PathBuf::from("/etc/tentacle/Tentacle/tentacle.toml"),
            results: vec![
                CheckResult {
                    id: "listen.port".into(),
                    title: "Listening port 10933".into(),
                    verdict: Verdict::Fail,
                    seen: "Port 10933 is held by another process: pid 7 (python3)".into(),
                    cause: Some("in use".into()),
                    fix: Some("stop it\nnow".into()),
                    actions: Vec::new(),
                    elapsed: Duration::from_millis(4),
                },
                CheckResult {
                    id: "host.disk".into(),
                    title: "Free disk space".into(),
                    verdict: Verdict::Pass,
                    seen: "12 GiB free".into(),
                    cause: None,
                    fix: None,
                    actions: Vec::new(),
                    elapsed: Duration::from_millis(0),
                },
            ],
            elapsed: Duration::from_millis(1500),
        };
        let text = render(&report);
        assert!(text.starts_with("Connectivity checks for Tentacle instance \"Tentacle\""));
        assert!(text.contains("FAIL  Listening port 10933  (4 ms)\n      Port 10933 is held by another process: pid 7 (python3)\n      cause: in use\n      fix:   stop it now\n\n"), "{text}");
        assert!(text.contains("PASS  Free disk space  (0 ms)\n      12 GiB free\n"));
        assert!(text.ends_with("1 passed, 0 warnings, 1 failed, 0 skipped in 1.5 s\n"));
        let quick = CheckReport {
            elapsed: Duration::from_millis(42),
            results: vec![CheckResult {
                verdict: Verdict::Warn,
                ..report.results[0].clone()
            }],
            ..report
        };
        assert!(render(&quick).ends_with("0 passed, 1 warning, 0 failed, 0 skipped in 42 ms\n"));
    }
}
