//! The Windows Service Control Manager: the `OctopusDeploy Tentacle[: <instance>]` service and its
//! start, stop and status, through the `windows-service` crate (no `sc.exe`).
//!
//! Service name = display name: `OctopusDeploy Tentacle` for the default instance (`Tentacle`, or a
//! `--config`-only instance), `OctopusDeploy Tentacle: <instance>` otherwise. The service starts at
//! boot, depends on `Tcpip` and restarts one minute after its first and second failure. Every call
//! needs an elevated (Administrator) process.
//!
//! Running the agent *under* the SCM (the dispatcher and control handler) is in
//! [`super::windows_dispatch`]; a `--username` account is granted "Log on as a service" through
//! [`super::logon_right`].

use std::ffi::OsString;
use std::time::{Duration, Instant};

use windows_service::service::{
    ServiceAccess, ServiceAction, ServiceActionType, ServiceDependency, ServiceErrorControl,
    ServiceFailureActions, ServiceFailureResetPeriod, ServiceInfo, ServiceStartType, ServiceState,
    ServiceType,
};
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};

use super::{ServiceBackend, ServiceError, ServiceSpec, ServiceStatus};

/// The name of the default instance.
pub const DEFAULT_INSTANCE: &str = "Tentacle";

/// The service's description, as Tentacle sets it.
pub const DESCRIPTION: &str = "Octopus Deploy: Tentacle deployment agent";

/// The service the agent's service depends on.
pub const DEPENDENCY: &str = "Tcpip";

/// How often start and stop look at the service's state.
const POLL_INTERVAL: Duration = Duration::from_millis(300);

/// How long start and stop wait for the state to change.
const WAIT_LIMIT: Duration = Duration::from_secs(45);

/// How long after a failure the SCM restarts the service.
const RESTART_DELAY: Duration = Duration::from_secs(60);

/// After a day without failures the SCM counts from the first failure again.
const FAILURE_RESET: Duration = Duration::from_secs(24 * 60 * 60);

const ERROR_ACCESS_DENIED: i32 = 5;
const ERROR_SERVICE_ALREADY_RUNNING: i32 = 1056;
const ERROR_SERVICE_DOES_NOT_EXIST: i32 = 1060;
const ERROR_SERVICE_NOT_ACTIVE: i32 = 1062;
const ERROR_SERVICE_MARKED_FOR_DELETE: i32 = 1072;

/// The Windows SCM backend.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowsScm;

impl WindowsScm {
    /// The SCM is always there; access is checked on each call.
    pub fn detect() -> Result<WindowsScm, ServiceError> {
        Ok(WindowsScm)
    }

    fn manager(
        &self,
        access: ServiceManagerAccess,
        spec: &ServiceSpec,
    ) -> Result<ServiceManager, ServiceError> {
        ServiceManager::local_computer(None::<&str>, access)
            .map_err(|e| scm_error("Connect to the Service Control Manager", spec, e))
    }

    /// Opens the service; `Ok(None)` when it does not exist.
    fn open(
        &self,
        spec: &ServiceSpec,
        manager_access: ServiceManagerAccess,
        access: ServiceAccess,
    ) -> Result<Option<windows_service::service::Service>, ServiceError> {
        let manager = self.manager(manager_access, spec)?;
        match manager.open_service(service_name(spec), access) {
            Ok(service) => Ok(Some(service)),
            Err(e) if os_code(&e) == Some(ERROR_SERVICE_DOES_NOT_EXIST) => Ok(None),
            Err(e) => Err(scm_error("Open the service", spec, e)),
        }
    }

    /// Opens an installed service, failing with "install it first" when it does not exist.
    fn open_installed(
        &self,
        spec: &ServiceSpec,
        access: ServiceAccess,
    ) -> Result<windows_service::service::Service, ServiceError> {
        self.open(spec, ServiceManagerAccess::CONNECT, access)?
            .ok_or_else(|| not_installed(spec))
    }

    /// Description and recovery actions, after a create or a change.
    fn finish_config(
        &self,
        service: &windows_service::service::Service,
        spec: &ServiceSpec,
    ) -> Result<(), ServiceError> {
        service
            .set_description(DESCRIPTION)
            .map_err(|e| scm_error("Set the service description", spec, e))?;
        service
            .update_failure_actions(failure_actions())
            .map_err(|e| scm_error("Set the service recovery actions", spec, e))
    }

    /// Polls until the service reaches `target`; `give_up` ends the wait early with an error.
    fn wait_for(
        &self,
        service: &windows_service::service::Service,
        spec: &ServiceSpec,
        target: ServiceState,
        what: &str,
        give_up: &dyn Fn(ServiceState) -> bool,
    ) -> Result<(), ServiceError> {
        let deadline = Instant::now() + WAIT_LIMIT;
        loop {
            let state = service
                .query_status()
                .map_err(|e| scm_error("Query the service status", spec, e))?
                .current_state;
            if state == target {
                return Ok(());
            }
            if give_up(state) || Instant::now() >= deadline {
                return Err(ServiceError::Command {
                    command: format!("{what} \"{}\"", service_name(spec)),
                    detail: format!(
                        "the service is {} after waiting up to {} s",
                        state_word(state),
                        WAIT_LIMIT.as_secs()
                    ),
                    hint: "; see the instance's Logs folder and the Windows Event Log (Application) for why".to_owned(),
                });
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }
}

impl ServiceBackend for WindowsScm {
    fn is_installed(&self, spec: &ServiceSpec) -> bool {
        matches!(
            self.open(
                spec,
                ServiceManagerAccess::CONNECT,
                ServiceAccess::QUERY_STATUS
            ),
            Ok(Some(_))
        )
    }

    fn install(&self, spec: &ServiceSpec) -> Result<(), ServiceError> {
        grant_logon_right(spec)?;
        let access = ServiceAccess::QUERY_STATUS
            | ServiceAccess::CHANGE_CONFIG
            // SC_ACTION_RESTART recovery actions need SERVICE_START on the handle.
            | ServiceAccess::START;
        let manager = self.manager(
            ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE,
            spec,
        )?;
        let info = service_info(spec);
        let service = match manager.open_service(service_name(spec), access) {
            Ok(service) => {
                // Already there: install is a reconfigure, as Tentacle does it.
                service
                    .change_config(&info)
                    .map_err(|e| scm_error("Change the service", spec, e))?;
                service
            }
            Err(e) if os_code(&e) == Some(ERROR_SERVICE_DOES_NOT_EXIST) => manager
                .create_service(&info, access)
                .map_err(|e| scm_error("Create the service", spec, e))?,
            Err(e) => return Err(scm_error("Open the service", spec, e)),
        };
        self.finish_config(&service, spec)
    }

    fn reconfigure(&self, spec: &ServiceSpec) -> Result<(), ServiceError> {
        grant_logon_right(spec)?;
        let service = self.open_installed(
            spec,
            ServiceAccess::QUERY_STATUS | ServiceAccess::CHANGE_CONFIG | ServiceAccess::START,
        )?;
        service
            .change_config(&service_info(spec))
            .map_err(|e| scm_error("Change the service", spec, e))?;
        self.finish_config(&service, spec)
    }

    fn uninstall(&self, spec: &ServiceSpec) -> Result<(), ServiceError> {
        let Some(service) = self.open(
            spec,
            ServiceManagerAccess::CONNECT,
            ServiceAccess::QUERY_STATUS | ServiceAccess::STOP | ServiceAccess::DELETE,
        )?
        else {
            return Ok(());
        };
        stop_service(self, &service, spec)?;
        match service.delete() {
            Ok(()) => Ok(()),
            Err(e) if os_code(&e) == Some(ERROR_SERVICE_MARKED_FOR_DELETE) => Ok(()),
            Err(e) => Err(scm_error("Delete the service", spec, e)),
        }
    }

    fn start(&self, spec: &ServiceSpec) -> Result<(), ServiceError> {
        let service =
            self.open_installed(spec, ServiceAccess::QUERY_STATUS | ServiceAccess::START)?;
        let state = service
            .query_status()
            .map_err(|e| scm_error("Query the service status", spec, e))?
            .current_state;
        if state == ServiceState::Running {
            return Ok(());
        }
        if state == ServiceState::StopPending {
            // A service that is still stopping cannot be started yet.
            self.wait_for(&service, spec, ServiceState::Stopped, "Stop", &|_| false)?;
        }
        if state != ServiceState::StartPending {
            match service.start::<&str>(&[]) {
                Ok(()) => {}
                Err(e) if os_code(&e) == Some(ERROR_SERVICE_ALREADY_RUNNING) => {}
                Err(e) => return Err(scm_error("Start the service", spec, e)),
            }
        }
        // A service that falls back to Stopped exited during start-up: no point waiting 45 s.
        self.wait_for(&service, spec, ServiceState::Running, "Start", &|s| {
            s == ServiceState::Stopped
        })
    }

    fn stop(&self, spec: &ServiceSpec) -> Result<(), ServiceError> {
        let service =
            self.open_installed(spec, ServiceAccess::QUERY_STATUS | ServiceAccess::STOP)?;
        stop_service(self, &service, spec)
    }

    fn status(&self, spec: &ServiceSpec) -> Result<ServiceStatus, ServiceError> {
        let Some(service) = self.open(
            spec,
            ServiceManagerAccess::CONNECT,
            ServiceAccess::QUERY_STATUS,
        )?
        else {
            return Ok(ServiceStatus::NotInstalled);
        };
        let state = service
            .query_status()
            .map_err(|e| scm_error("Query the service status", spec, e))?
            .current_state;
        Ok(status_of(state))
    }

    fn describe(&self, spec: &ServiceSpec) -> String {
        format!("Windows service \"{}\"", service_name(spec))
    }
}

/// An account with a password must hold "Log on as a service", or every start fails with 1069.
fn grant_logon_right(spec: &ServiceSpec) -> Result<(), ServiceError> {
    if let (Some(username), Some(_)) = (&spec.username, &spec.password)
        && super::logon_right::grant(username)?
    {
        tracing::info!(account = %username, "granted the Log on as a service right");
    }
    Ok(())
}

/// Stops the service (a stopped service is fine) and waits until it is Stopped.
fn stop_service(
    scm: &WindowsScm,
    service: &windows_service::service::Service,
    spec: &ServiceSpec,
) -> Result<(), ServiceError> {
    let state = service
        .query_status()
        .map_err(|e| scm_error("Query the service status", spec, e))?
        .current_state;
    if state == ServiceState::Stopped {
        return Ok(());
    }
    if state == ServiceState::StartPending {
        // A service cannot take a stop request before it has started.
        scm.wait_for(service, spec, ServiceState::Running, "Start", &|s| {
            s == ServiceState::Stopped
        })
        .or_else(|e| match service.query_status() {
            Ok(s) if s.current_state == ServiceState::Stopped => Ok(()),
            _ => Err(e),
        })?;
    }
    match service.stop() {
        Ok(_) => {}
        Err(e) if os_code(&e) == Some(ERROR_SERVICE_NOT_ACTIVE) => return Ok(()),
        Err(e) => return Err(scm_error("Stop the service", spec, e)),
    }
    scm.wait_for(service, spec, ServiceState::Stopped, "Stop", &|_| false)
}

/// `OctopusDeploy Tentacle` for the default instance (`Tentacle` or a `--config`-only instance),
/// else `OctopusDeploy Tentacle: <instance>`; used as both service name and display name.
pub fn service_name(spec: &ServiceSpec) -> String {
    service_name_for(&spec.name, spec.selector.starts_with("--config"))
}

/// The service name for an instance name; `config_only` for an instance chosen by `--config`.
pub fn service_name_for(instance: &str, config_only: bool) -> String {
    if config_only || instance.eq_ignore_ascii_case(DEFAULT_INSTANCE) {
        "OctopusDeploy Tentacle".to_owned()
    } else {
        format!("OctopusDeploy Tentacle: {instance}")
    }
}

/// What the SCM is told: auto start, `Tcpip` dependency, the spec's executable, arguments and
/// account. Without a username the account is left to the SCM (LocalSystem on create, unchanged
/// on a change); with one and no password, none is passed (gMSA and virtual accounts need none).
fn service_info(spec: &ServiceSpec) -> ServiceInfo {
    let name = OsString::from(service_name(spec));
    ServiceInfo {
        display_name: name.clone(),
        name,
        service_type: ServiceType::OWN_PROCESS,
        start_type: ServiceStartType::AutoStart,
        error_control: ServiceErrorControl::Normal,
        executable_path: spec.executable.clone(),
        launch_arguments: spec.args.clone(),
        dependencies: vec![ServiceDependency::Service(OsString::from(DEPENDENCY))],
        account_name: spec
            .username
            .as_deref()
            .map(|u| OsString::from(super::logon_right::scm_account_name(u))),
        account_password: spec.password.as_ref().map(|p| OsString::from(p.expose())),
    }
}

/// Restart one minute after the first and the second failure; nothing after that.
fn failure_actions() -> ServiceFailureActions {
    let restart = ServiceAction {
        action_type: ServiceActionType::Restart,
        delay: RESTART_DELAY,
    };
    ServiceFailureActions {
        reset_period: ServiceFailureResetPeriod::After(FAILURE_RESET),
        reboot_msg: None,
        command: None,
        actions: Some(vec![
            restart.clone(),
            restart,
            ServiceAction {
                action_type: ServiceActionType::None,
                delay: Duration::ZERO,
            },
        ]),
    }
}

/// Maps the SCM's state to a status.
fn status_of(state: ServiceState) -> ServiceStatus {
    match state {
        ServiceState::Running => ServiceStatus::Running,
        ServiceState::Stopped => ServiceStatus::Stopped,
        other => ServiceStatus::Pending(state_word(other).to_owned()),
    }
}

/// The SCM's word for a state, as the Tentacle Manager shows it.
fn state_word(state: ServiceState) -> &'static str {
    match state {
        ServiceState::Stopped => "stopped",
        ServiceState::StartPending => "start",
        ServiceState::StopPending => "stop",
        ServiceState::Running => "running",
        ServiceState::ContinuePending => "continuation",
        ServiceState::PausePending => "pause",
        ServiceState::Paused => "paused",
    }
}

/// The Win32 error code behind a `windows-service` error.
fn os_code(e: &windows_service::Error) -> Option<i32> {
    match e {
        windows_service::Error::Winapi(io) => io.raw_os_error(),
        _ => None,
    }
}

fn not_installed(spec: &ServiceSpec) -> ServiceError {
    ServiceError::NotInstalled {
        name: spec.name.clone(),
        selector: spec.selector.clone(),
    }
}

/// A failed SCM call: access denied names the fix (an elevated prompt); anything else carries
/// the operation, the service and the OS error.
fn scm_error(what: &str, spec: &ServiceSpec, e: windows_service::Error) -> ServiceError {
    let name = service_name(spec);
    if os_code(&e) == Some(ERROR_ACCESS_DENIED) {
        return ServiceError::Invalid(format!(
            "Managing Windows services needs an elevated (Administrator) prompt: run tentacle service {} again as Administrator ({what} \"{name}\": access is denied)",
            spec.selector
        ));
    }
    let detail = match e {
        windows_service::Error::Winapi(io) => io.to_string(),
        other => other.to_string(),
    };
    ServiceError::Command {
        command: format!("{what} \"{name}\""),
        detail,
        hint: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_service_names_follow_tentacle() {
        assert_eq!(
            service_name_for("Tentacle", false),
            "OctopusDeploy Tentacle"
        );
        assert_eq!(
            service_name_for("tentacle", false),
            "OctopusDeploy Tentacle"
        );
        assert_eq!(service_name_for("anything", true), "OctopusDeploy Tentacle");
        assert_eq!(
            service_name_for("Web 1", false),
            "OctopusDeploy Tentacle: Web 1"
        );
    }

    #[test]
    fn windows_states_map_to_statuses() {
        assert_eq!(status_of(ServiceState::Running), ServiceStatus::Running);
        assert_eq!(status_of(ServiceState::Stopped), ServiceStatus::Stopped);
        assert_eq!(
            status_of(ServiceState::StartPending).to_string(),
            "Pending (start)"
        );
    }

    #[test]
    fn windows_recovery_restarts_twice() {
        let actions = failure_actions().actions.unwrap_or_default();
        assert_eq!(actions.len(), 3);
        assert!(
            actions[..2]
                .iter()
                .all(|a| a.action_type == ServiceActionType::Restart && a.delay == RESTART_DELAY)
        );
    }
}
