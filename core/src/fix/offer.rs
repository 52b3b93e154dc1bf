//! What the checks ask when they decide which repairs to offer: the service's state, a process's command line, a free port, where an old certificate is kept.

use std::path::{Path, PathBuf};

use super::{FixAction, Selector, ServiceFix};
use crate::checks::CheckPlan;
use crate::service::{self, ServiceSpec, ServiceStatus};

/// How the plan's instance is selected on the command line: by name, or (for `tentacle check
/// --config PATH`, whose label is the path) by its config file.
pub(crate) fn selector(plan: &CheckPlan) -> Selector {
    if plan.instance == plan.config_path.display().to_string() {
        Selector::Config(plan.config_path.clone())
    } else {
        Selector::Instance(plan.instance.clone())
    }
}

/// The service state for the plan's instance, or `None` when it cannot be asked (no service
/// manager here). Only reads: `is_installed` looks at a file, `status` asks the manager.
pub(crate) fn service_status(plan: &CheckPlan) -> Option<ServiceStatus> {
    let s = selector(plan);
    let spec = ServiceSpec {
        name: s.service_name(),
        selector: crate::firewall::command_line(&s.args()),
        executable: PathBuf::from("tentacle"),
        args: Vec::new(),
        username: None,
        password: None,
        logs_dir: plan.config.logs_dir(&plan.config_path),
    };
    let backend = service::platform_backend().ok()?;
    backend.status(&spec).ok()
}

/// What gets the agent running: start an installed service, install one that is missing.
pub(crate) fn start_agent(plan: &CheckPlan) -> Vec<FixAction> {
    match service_status(plan) {
        Some(ServiceStatus::NotInstalled) => vec![FixAction::Service {
            verb: ServiceFix::Install,
        }],
        Some(ServiceStatus::Stopped) => vec![FixAction::Service {
            verb: ServiceFix::Start,
        }],
        // A service that runs while the agent's status is stale is hung or crash-looping.
        Some(ServiceStatus::Running) => vec![FixAction::Service {
            verb: ServiceFix::Restart,
        }],
        Some(ServiceStatus::Pending(_)) | None => Vec::new(),
    }
}

/// A restart, when an installed service runs the agent.
pub(crate) fn restart_agent(plan: &CheckPlan) -> Vec<FixAction> {
    match service_status(plan) {
        Some(ServiceStatus::Running | ServiceStatus::Stopped) => vec![FixAction::Service {
            verb: ServiceFix::Restart,
        }],
        _ => Vec::new(),
    }
}

/// A process's command line (`/proc/PID/cmdline`, NULs as spaces), or its name when unreadable.
pub(crate) fn process_command(pid: u32, name: &str) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .ok()
        .map(|raw| {
            raw.split(|b| *b == 0)
                .filter(|p| !p.is_empty())
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|c| !c.is_empty())
        .map(|c| c.chars().take(400).collect())
        .unwrap_or_else(|| name.to_owned())
}

/// The file that keeps the plan's current certificate (it stays when a new one is made).
pub(crate) fn certificate_file(plan: &CheckPlan, thumbprint: &str) -> PathBuf {
    match &plan.config.certificate {
        Some(c) if c.file.is_absolute() => c.file.clone(),
        Some(c) => plan
            .config_path
            .parent()
            .unwrap_or(Path::new("."))
            .join(&c.file),
        None => plan
            .config_path
            .parent()
            .unwrap_or(Path::new("."))
            .join("certificates")
            .join(format!("{thumbprint}.pem")),
    }
}
