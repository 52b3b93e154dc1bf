//! The check `host.upgrades`: the Tentacle version Octopus Server is shown, and whether its "Upgrade Tentacle" can reach this agent.

use std::path::PathBuf;

use super::Outcome;
use super::plan::CheckPlan;
use crate::agent::upgrade_guard::POLICY_SETTING;
use crate::version;

/// Where the official Tentacle installs its agent, whose upgrades the server also pushes.
fn official_tentacle() -> Option<PathBuf> {
    let path = if cfg!(windows) {
        let program_files = std::env::var_os("ProgramFiles")?;
        PathBuf::from(program_files).join(r"Octopus Deploy\Tentacle\Tentacle.exe")
    } else {
        PathBuf::from("/opt/octopus/tentacle/Tentacle")
    };
    path.exists().then_some(path)
}

pub(crate) fn check(plan: &CheckPlan) -> Outcome {
    check_with(plan.config.reported_version.as_deref(), official_tentacle())
}

fn check_with(configured: Option<&str>, official: Option<PathBuf>) -> Outcome {
    let reported = version::reported(configured);
    let shown = format!(
        "Octopus Server is shown Tentacle {reported} (this agent is Tentacle Manager {})",
        crate::VERSION
    );
    if let Some(bad) = configured.and_then(|c| version::validate(c).err()) {
        return Outcome::warn(
            format!("{shown}; the configured reported_version is not used: {bad}"),
            "the instance's reported_version was edited by hand to a value that is not a Tentacle version",
            "set it with tentacle configure --reported-version <version> (or 'default')",
        );
    }
    if let Some(path) = official {
        let why = if cfg!(windows) {
            "when Octopus Server upgrades that Tentacle, its upgrader stops every 'OctopusDeploy Tentacle' service, this agent's included, and points them at the official Tentacle.exe, which has no such instance"
        } else {
            "when Octopus Server upgrades that Tentacle, its script reinstalls the official package and restarts Tentacle services by name, which this agent's services share"
        };
        return Outcome::warn(
            format!(
                "{shown}; the official Octopus Tentacle is also installed at {}",
                path.display()
            ),
            why,
            format!(
                "remove the official Tentacle, or stop server-pushed upgrades for this machine: {POLICY_SETTING}"
            ),
        );
    }
    Outcome::pass(format!(
        "{shown}. A server-pushed Tentacle upgrade is refused before it runs, with a task-log error naming the machine policy's Tentacle Updates setting, so it cannot replace this agent"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Verdict;

    #[test]
    fn passes_with_the_default_and_says_what_the_server_sees() {
        let o = check_with(None, None);
        assert_eq!(o.verdict, Verdict::Pass);
        assert!(
            o.seen.contains(version::DEFAULT_REPORTED_VERSION),
            "{}",
            o.seen
        );
        assert!(o.seen.contains("refused"), "{}", o.seen);
    }

    #[test]
    fn warns_on_a_hand_edited_version_and_on_an_official_tentacle() {
        let o = check_with(Some("0.1.0"), None);
        assert_eq!(o.verdict, Verdict::Warn);
        assert!(o.fix.unwrap().contains("--reported-version"));
        let o = check_with(
            Some("8.3.3407"),
            Some(PathBuf::from("/opt/octopus/tentacle/Tentacle")),
        );
        assert_eq!(o.verdict, Verdict::Warn);
        assert!(o.seen.contains("Tentacle 8.3.3407"), "{}", o.seen);
        assert!(o.fix.unwrap().contains("NeverUpdate"));
    }
}
