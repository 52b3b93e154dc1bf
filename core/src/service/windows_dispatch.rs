//! Running the agent *under* the Windows Service Control Manager: the service dispatcher, the
//! control handler (Stop, Shutdown, Interrogate) and the status reports the SCM waits for.
//!
//! The SCM starts `tentacle.exe agent --instance X --noninteractive` and expects the process to
//! connect back through `StartServiceCtrlDispatcher` within 30 s (else error 1053). `tentacle
//! agent` therefore always tries the dispatcher first; from a console the call fails at once with
//! `ERROR_FAILED_SERVICE_CONTROLLER_CONNECT` and the agent runs in the foreground instead.

use std::ffi::OsString;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::watch;
use windows_service::service::{
    ServiceControl, ServiceControlAccept, ServiceExitCode, ServiceState,
    ServiceStatus as ScmStatus, ServiceType,
};
use windows_service::service_control_handler::{
    self, ServiceControlHandlerResult, ServiceStatusHandle,
};
use windows_service::{define_windows_service, service_dispatcher};

/// The agent as the service runs it: takes the stop signal, returns true on a clean exit.
pub type AgentMain = Box<dyn FnOnce(watch::Receiver<bool>) -> bool + Send>;

/// How the dispatcher attempt ended.
pub enum Dispatched {
    /// The SCM ran the agent as a service and it has stopped.
    Ran,
    /// Not started by the SCM (a console, a scheduled task): run in the foreground.
    NotAService,
    /// The SCM connection failed for another reason.
    Failed(String),
}

/// `StartServiceCtrlDispatcher` from a process the SCM did not start.
const ERROR_FAILED_SERVICE_CONTROLLER_CONNECT: i32 = 1063;

/// How long the SCM should wait for a stop before it calls the service hung: the agent's
/// script grace period plus time to write its status and close its sockets.
const STOP_WAIT_HINT: Duration = Duration::from_secs(40);

/// The dispatcher calls a plain `fn` on its own thread, so what it runs is handed over here.
static PENDING: Mutex<Option<(String, AgentMain)>> = Mutex::new(None);

define_windows_service!(ffi_service_main, service_main);

/// Runs `agent` as the service `name` when the SCM started this process.
pub fn run_as_service(name: &str, agent: AgentMain) -> Dispatched {
    if let Ok(mut slot) = PENDING.lock() {
        *slot = Some((name.to_owned(), agent));
    }
    let outcome = service_dispatcher::start(name, ffi_service_main);
    // Whatever happened, nothing may stay behind for a later call.
    let leftover = PENDING.lock().ok().and_then(|mut slot| slot.take());
    match outcome {
        Ok(()) => Dispatched::Ran,
        Err(windows_service::Error::Winapi(io))
            if io.raw_os_error() == Some(ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) =>
        {
            drop(leftover);
            Dispatched::NotAService
        }
        Err(e) => Dispatched::Failed(format!(
            "Could not connect to the Windows Service Control Manager as \"{name}\": {e}"
        )),
    }
}

/// The service's main function, on the dispatcher's thread.
fn service_main(_arguments: Vec<OsString>) {
    let Some((name, agent)) = PENDING.lock().ok().and_then(|mut slot| slot.take()) else {
        tracing::error!("the service started without an agent to run");
        return;
    };
    if let Err(e) = serve(&name, agent) {
        tracing::error!(service = %name, "the Windows service could not report to the SCM: {e}");
    }
}

/// Registers the control handler, reports Running, runs the agent, reports Stopped.
fn serve(name: &str, agent: AgentMain) -> windows_service::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    // The handler needs the status handle that registering it returns.
    let handle: Arc<OnceLock<ServiceStatusHandle>> = Arc::new(OnceLock::new());
    let handler_handle = Arc::clone(&handle);
    let handler = move |control| match control {
        ServiceControl::Stop | ServiceControl::Shutdown => {
            tracing::info!("stop requested by the Service Control Manager");
            // StopPending at once, with room for running scripts to finish, so the SCM does
            // not call the service hung during the grace period.
            if let Some(status) = handler_handle.get() {
                let _ = status.set_service_status(report(
                    ServiceState::StopPending,
                    ServiceControlAccept::empty(),
                    1,
                    STOP_WAIT_HINT,
                    0,
                ));
            }
            let _ = stop_tx.send(true);
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    };
    let status = service_control_handler::register(name, handler)?;
    let _ = handle.set(status);
    status.set_service_status(report(
        ServiceState::Running,
        ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN,
        0,
        Duration::ZERO,
        0,
    ))?;
    let clean = agent(stop_rx);
    status.set_service_status(report(
        ServiceState::Stopped,
        ServiceControlAccept::empty(),
        0,
        Duration::ZERO,
        if clean { 0 } else { 1 },
    ))
}

/// One status report for the SCM; a non-zero `exit` is service-specific, so the recovery
/// actions (restart after a minute) fire for an agent that failed.
fn report(
    state: ServiceState,
    accepts: ServiceControlAccept,
    checkpoint: u32,
    wait_hint: Duration,
    exit: u32,
) -> ScmStatus {
    ScmStatus {
        service_type: ServiceType::OWN_PROCESS,
        current_state: state,
        controls_accepted: accepts,
        exit_code: if exit == 0 {
            ServiceExitCode::Win32(0)
        } else {
            ServiceExitCode::ServiceSpecific(exit)
        },
        checkpoint,
        wait_hint,
        process_id: None,
    }
}
