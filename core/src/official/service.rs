//! The official Tentacle's OS service: its name as Tentacle gives it, whether it is installed, enabled and running, and stopping/disabling it (never removing it) and bringing it back.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::service::{ServiceError, command_line, failure_detail, run_command};

/// The official service's name: `<instance with "/" removed, whitespace runs as ->.service` on
/// systemd (Tentacle's `SanitizeString`), `OctopusDeploy Tentacle[: <instance>]` on Windows.
pub fn official_service_name(instance: &str) -> String {
    if cfg!(windows) {
        return if instance == crate::instance::DEFAULT_INSTANCE {
            "OctopusDeploy Tentacle".to_owned()
        } else {
            format!("OctopusDeploy Tentacle: {instance}")
        };
    }
    let mut out = String::new();
    let mut in_space = false;
    for c in instance.chars().filter(|c| *c != '/') {
        if c.is_whitespace() {
            if !in_space {
                out.push('-');
            }
            in_space = true;
        } else {
            out.push(c);
            in_space = false;
        }
    }
    format!("{out}.service")
}

/// What the service manager says about the official service.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServiceState {
    /// The service (unit) name.
    pub name: String,
    /// The unit file (systemd only).
    pub unit_file: Option<PathBuf>,
    /// A definition exists.
    pub installed: bool,
    /// It starts at boot.
    pub enabled: bool,
    /// It is running now.
    pub active: bool,
}

/// The folder official units live in: `TENTACLE_SYSTEMD_UNIT_DIR` (tests) or `/etc/systemd/system`.
fn unit_dir() -> PathBuf {
    std::env::var_os(crate::service::systemd::UNIT_DIR_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/systemd/system"))
}

fn no_hint() -> String {
    String::new()
}

fn manager() -> &'static str {
    if cfg!(windows) { "sc.exe" } else { "systemctl" }
}

fn run(args: &[&str]) -> Result<std::process::Output, ServiceError> {
    let args: Vec<OsString> = args.iter().map(OsString::from).collect();
    run_command(manager(), &args, &no_hint)
}

fn checked(args: &[&str]) -> Result<(), ServiceError> {
    let output = run(args)?;
    if output.status.success() {
        return Ok(());
    }
    let argv: Vec<OsString> = args.iter().map(OsString::from).collect();
    Err(ServiceError::Command {
        command: command_line(manager(), &argv),
        detail: failure_detail(&output),
        hint: "; the Octopus Tentacle service was left as it was".to_owned(),
    })
}

/// Looks at the official instance's service without changing it.
pub fn inspect(instance: &str) -> ServiceState {
    let name = official_service_name(instance);
    if cfg!(windows) {
        let installed = run(&["query", &name]).is_ok_and(|o| o.status.success());
        let config = run(&["qc", &name]).map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
        let query = run(&["query", &name]).map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
        return ServiceState {
            installed,
            enabled: installed && config.is_ok_and(|t| t.contains("AUTO_START")),
            active: installed && query.is_ok_and(|t| t.contains("RUNNING")),
            unit_file: None,
            name,
        };
    }
    let unit_file = unit_dir().join(&name);
    let installed = unit_file.is_file();
    let yes = |verb: &str| installed && run(&[verb, &name]).is_ok_and(|o| o.status.success());
    ServiceState {
        enabled: yes("is-enabled"),
        active: yes("is-active"),
        installed,
        unit_file: Some(unit_file),
        name,
    }
}

/// Stops the official service and keeps it from starting at boot. Its definition stays.
pub fn stop_and_disable(state: &ServiceState) -> Result<(), ServiceError> {
    if !state.installed {
        return Ok(());
    }
    if cfg!(windows) {
        if state.active {
            checked(&["stop", &state.name])?;
        }
        return checked(&["config", &state.name, "start=", "disabled"]);
    }
    checked(&["stop", &state.name])?;
    checked(&["disable", &state.name])
}

/// Puts the official service back as `before` found it: enabled if it was, started if it was running.
pub fn restore(before: &ServiceState) -> Result<(), ServiceError> {
    if !before.installed {
        return Ok(());
    }
    if cfg!(windows) {
        if before.enabled {
            checked(&["config", &before.name, "start=", "auto"])?;
        }
        if before.active {
            checked(&["start", &before.name])?;
        }
        return Ok(());
    }
    if before.enabled {
        checked(&["enable", &before.name])?;
    }
    if before.active {
        checked(&["start", &before.name])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(not(windows))]
    fn unit_names_follow_tentacle() {
        assert_eq!(official_service_name("Tentacle"), "Tentacle.service");
        assert_eq!(official_service_name("My  Web/1"), "My-Web1.service");
    }
}
