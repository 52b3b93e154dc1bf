//! Octopus Server's "Upgrade Tentacle" task, recognised and refused before it can replace this agent.
//!
//! What the server does (OctopusTentacle's public source and Octopus's docs and issues; the
//! server's own scripts are not public):
//! - It uploads files from the `Octopus.Tentacle.CrossPlatformBundle` package with
//!   `IFileTransferService` and then runs a script.
//! - **Windows:** the script starts `Octopus.Tentacle.Upgrader.exe "OctopusDeploy Tentacle"
//!   <msi> [<x64 msi>]`. The upgrader stops every service named `OctopusDeploy Tentacle` or
//!   `OctopusDeploy Tentacle: *` (our services carry the same names), installs the official
//!   MSI with `msiexec /quiet /norestart`, rewrites each service's binary path to the
//!   official `Tentacle.exe run --instance=…` and starts the services again. Ours would then
//!   start the official Tentacle, which has no such instance: no working agent.
//! - **Linux:** the script installs the bundle's `tentacle` .deb or .rpm with apt-get or yum,
//!   falls back to extracting the `tentacle-…tar.gz` into the Tentacle installation folder,
//!   then restarts the instances' systemd services (with `sudo` when not root).
//!
//! Both are recognised by the bundle's file names in the script, its files or its arguments,
//! and replaced by a script that changes nothing and fails with a message naming the
//! machine-policy setting to change.

use super::AgentContext;
use super::scripts::contracts::ScriptFile;

/// The machine-policy setting that stops the server pushing upgrades, as the UI and API name it.
pub const POLICY_SETTING: &str = "Infrastructure > Machine Policies > (this machine's policy) > Tentacle Updates: choose manual updates (API: MachineUpdatePolicy.TentacleUpdateBehavior = \"NeverUpdate\")";

/// The exit code of a refused upgrade: a plain failure, so the task shows as failed.
pub const REFUSED_EXIT_CODE: i32 = 1;

/// What in a script marks it as a Tentacle upgrade, or `None` for any other script.
pub fn upgrade_marker<'a>(
    script: &'a str,
    files: &'a [ScriptFile],
    arguments: &'a [String],
) -> Option<String> {
    let names = files.iter().filter_map(|f| f.name.as_deref());
    std::iter::once(script)
        .chain(names)
        .chain(arguments.iter().map(String::as_str))
        .flat_map(tokens)
        .find(|t| is_upgrade_artifact(&t.to_ascii_lowercase()))
        .map(str::to_owned)
}

/// Splits text into path-ish words; `${…}` stays inside a word so `tentacle_${V}_amd64.deb` is one.
fn tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| {
        c.is_whitespace()
            || matches!(
                c,
                '"' | '\'' | '`' | '/' | '\\' | '=' | '(' | ')' | ';' | ',' | '|' | '&' | '<' | '>'
            )
    })
    .filter(|t| !t.is_empty())
}

/// The upgrader, the bundle, and the bundle's installers and archives.
fn is_upgrade_artifact(t: &str) -> bool {
    // Our own packages (tentacle-manager_….deb, tentacle-manager-….rpm) are how this agent is
    // upgraded, so a deployment that installs them must run.
    if t.starts_with("tentacle-manager") {
        return false;
    }
    t.contains("octopus.tentacle.upgrader")
        || t.contains("octopus.tentacle.crossplatformbundle")
        || (t.starts_with("octopus.tentacle") && t.ends_with(".msi"))
        || (t.starts_with("tentacle_") && t.ends_with(".deb"))
        || (t.starts_with("tentacle-") && (t.ends_with(".rpm") || t.ends_with(".tar.gz")))
}

/// The lines a refused upgrade prints (to stderr, so the task log shows them as errors).
pub fn refusal_message(ctx: &AgentContext, marker: &str) -> Vec<String> {
    vec![
        format!(
            "This machine runs the Tentacle Manager agent {} (it reports itself as Tentacle {}), not the official Octopus Tentacle.",
            crate::VERSION,
            ctx.tentacle_version
        ),
        format!(
            "This script is Octopus Server's Tentacle upgrade (it uses '{marker}'). It would replace or break this agent's service, so it was not run and nothing on this machine was changed."
        ),
        format!("To stop Octopus Server pushing Tentacle upgrades to this machine: {POLICY_SETTING}."),
        "To stop Octopus suggesting the upgrade, report your server's bundled Tentacle version: tentacle configure --reported-version <version>, then restart the agent.".to_owned(),
        "Upgrade this agent with its own package (tentacle-manager .deb, .rpm or .msi) instead.".to_owned(),
    ]
}

/// A script that prints the refusal and fails, in the platform's script language.
pub fn refusal_script(lines: &[String]) -> String {
    if cfg!(windows) {
        let mut s = String::new();
        for l in lines {
            s.push_str(&format!(
                "[Console]::Error.WriteLine('{}')\r\n",
                l.replace('\'', "''")
            ));
        }
        s.push_str(&format!("exit {REFUSED_EXIT_CODE}\r\n"));
        s
    } else {
        let mut s = String::from("#!/bin/bash\n");
        for l in lines {
            s.push_str(&format!(
                "printf '%s\\n' '{}' >&2\n",
                l.replace('\'', "'\\''")
            ));
        }
        s.push_str(&format!("exit {REFUSED_EXIT_CODE}\n"));
        s
    }
}

/// The script to run instead, when this one is a Tentacle upgrade.
pub fn screen(
    ctx: &AgentContext,
    script: &str,
    files: &[ScriptFile],
    arguments: &[String],
) -> Option<String> {
    let marker = upgrade_marker(script, files, arguments)?;
    tracing::warn!(%marker, "refused Octopus Server's Tentacle upgrade: it would replace this agent; set the machine policy's Tentacle updates to manual");
    Some(refusal_script(&refusal_message(ctx, &marker)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str) -> ScriptFile {
        ScriptFile {
            name: Some(name.to_owned()),
            ..ScriptFile::default()
        }
    }

    #[test]
    fn recognises_the_upgrade_on_each_os() {
        let windows = r#"& "$PSScriptRoot\Octopus.Tentacle.Upgrader.exe" "OctopusDeploy Tentacle" "C:\Octopus\Upgrade\Octopus.Tentacle.msi""#;
        assert_eq!(
            upgrade_marker(windows, &[], &[]).as_deref(),
            Some("Octopus.Tentacle.Upgrader.exe")
        );
        let linux = "apt-get install -y ./tentacle_${VERSION}_amd64.deb || tar xzf tentacle-net8.0-linux-x64.tar.gz -C \"$dir\"";
        assert_eq!(
            upgrade_marker(linux, &[], &[]).as_deref(),
            Some("tentacle_${VERSION}_amd64.deb")
        );
        assert!(
            upgrade_marker("yum install -y tentacle-9.2.4285-1.x86_64.rpm", &[], &[]).is_some()
        );
        assert!(
            upgrade_marker("echo", &[file("Octopus.Tentacle-net8.0-win-x64.msi")], &[]).is_some()
        );
        assert!(
            upgrade_marker(
                "run",
                &[],
                &["Octopus.Tentacle.CrossPlatformBundle.9.2.4285.nupkg".into()]
            )
            .is_some()
        );
    }

    #[test]
    fn leaves_ordinary_scripts_alone() {
        for s in [
            "echo $TentacleVersion; df -h /opt/octopus/tentacle",
            "tentacle version; dpkg -i ./myapp_1.0_amd64.deb",
            "tar xzf package.tar.gz; Write-Host Octopus.Tentacle",
            "Get-Service 'OctopusDeploy Tentacle'",
            "dnf install -y ./tentacle-manager-0.2.0-1.x86_64.rpm",
            "apt-get install -y ./tentacle-manager_0.2.0-1_amd64.deb",
        ] {
            assert_eq!(upgrade_marker(s, &[], &[]), None, "{s}");
        }
    }

    #[test]
    fn refusal_names_the_policy_setting_and_survives_quotes() {
        let lines = vec!["it's 'quoted'".to_owned(), POLICY_SETTING.to_owned()];
        let script = refusal_script(&lines);
        #[cfg(unix)]
        {
            let out = std::process::Command::new("bash")
                .arg("-c")
                .arg(&script)
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(REFUSED_EXIT_CODE));
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("it's 'quoted'"), "{err}");
            assert!(
                err.contains("TentacleUpdateBehavior = \"NeverUpdate\""),
                "{err}"
            );
        }
        assert!(script.contains("exit 1"));
    }
}
