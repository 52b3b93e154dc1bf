//! Background work: named threads that do the I/O, send their results as [`Event`]s and wake the window; the status watcher.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use tentacle_core::service::{self, ServiceSpec, ServiceStatus};
use tentacle_core::status::AgentStatus;

use crate::folder_picker::PickOutcome;
use crate::model::LoadResult;
use crate::wizard::answers::Field;

/// Which long job a log line or result belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// The wizard's install.
    Install,
    /// A dashboard service button.
    Service,
    /// Deleting an instance.
    Delete,
    /// The wizard's "verify the connection".
    Verify,
    /// The checks screen.
    Checks,
    /// Opening a folder in the file manager.
    OpenFolder,
    /// Saving proxy settings.
    Proxy,
    /// A repair from the checks screen.
    Fix,
    /// A trust editor change.
    Trust,
    /// Adopting an Octopus Tentacle instance, or handing one back.
    Adopt,
}

/// The live state of one instance, read by the watcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Live {
    /// The instance it is about.
    pub instance: String,
    /// What the service manager says, or why it could not be asked.
    pub service: Result<ServiceStatus, String>,
    /// The agent's status document (`None`: the agent never ran here), or why it is unreadable.
    pub agent: Result<Option<AgentStatus>, String>,
    /// The last error in the agent's log, read only when the agent died without saying so.
    pub last_error: Option<String>,
}

/// Something background work finished or reports.
#[derive(Debug)]
pub enum Event {
    /// The instance list.
    Loaded(LoadResult),
    /// A fresh live state for the selected instance.
    Live(Live),
    /// A line of a job's log.
    Line(Job, String),
    /// A job ended.
    Done(Job, Result<(), String>),
    /// A folder dialog answered.
    Picked(Field, PickOutcome),
    /// The connection check of the wizard finished: server version and thumbprint, or the error.
    Verified(Result<crate::wizard::Verified, String>),
    /// The wizard's look for an active firewall (None: none is active, or it could not be read).
    FirewallFound(Option<tentacle_core::firewall::Firewall>),
    /// The checks about to run: (id, title) in plan order.
    CheckPlan(Vec<(String, String)>),
    /// One check finished.
    CheckResult(tentacle_core::checks::CheckResult),
    /// Every check finished.
    CheckReport(Result<Box<tentacle_core::checks::CheckReport>, String>),
    /// Octopus Tentacle instances that could be adopted.
    Offers(crate::adopt_view::Found),
}

/// Sends events to the window and wakes it.
#[derive(Clone)]
pub struct Sink {
    tx: Sender<Event>,
    ctx: egui::Context,
}

impl Sink {
    /// A sink into `tx` that repaints `ctx`.
    pub fn new(tx: Sender<Event>, ctx: egui::Context) -> Sink {
        Sink { tx, ctx }
    }

    /// Sends one event; false when the window has gone.
    pub fn send(&self, event: Event) -> bool {
        let sent = self.tx.send(event).is_ok();
        if sent {
            self.ctx.request_repaint();
        }
        sent
    }

    /// A log line for `job`.
    pub fn line(&self, job: Job, line: impl Into<String>) {
        self.send(Event::Line(job, line.into()));
    }
}

/// Runs `work` on a named thread. Fails (with a sentence) only when no thread can start.
pub fn spawn(
    name: &str,
    sink: Sink,
    work: impl FnOnce(&Sink) + Send + 'static,
) -> Result<(), String> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || work(&sink))
        .map(|_| ())
        .map_err(|e| {
            format!("Could not start the {name} thread ({e}); close some programs and try again")
        })
}

/// What the watcher looks at: an instance's name and home folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchTarget {
    /// The instance name.
    pub instance: String,
    /// Its home folder (where `status.json` is).
    pub home: PathBuf,
    /// Its logs folder.
    pub logs: PathBuf,
}

/// How often the watcher looks again (the original polls every 500 ms; a service rarely changes
/// faster than a person reads, and each look runs `systemctl`).
pub const WATCH_EVERY: Duration = Duration::from_secs(2);

/// Watches the selected instance: every [`WATCH_EVERY`], and at once when the target changes,
/// reads the service state and the agent's status document, and sends them only when they
/// changed, so an idle window is not woken. Ends when the window goes (`targets` closes).
pub fn watch(targets: Receiver<Option<WatchTarget>>, sink: Sink) {
    let mut target: Option<WatchTarget> = None;
    let mut last: Option<Live> = None;
    loop {
        match targets.recv_timeout(WATCH_EVERY) {
            Ok(next) => {
                target = next;
                last = None;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let Some(t) = &target else { continue };
        let live = read_live(t);
        if last.as_ref() != Some(&live) {
            if !sink.send(Event::Live(live.clone())) {
                return;
            }
            last = Some(live);
        }
    }
}

/// One look at an instance: its service and its agent's status document.
pub fn read_live(target: &WatchTarget) -> Live {
    let spec = ServiceSpec {
        name: target.instance.clone(),
        selector: format!("--instance \"{}\"", target.instance),
        executable: crate::runner::tentacle_exe().unwrap_or_else(|_| PathBuf::from("tentacle")),
        args: ServiceSpec::agent_args_for_instance(&target.instance),
        username: None,
        password: None,
        logs_dir: target.logs.clone(),
    };
    let service = service::platform_backend()
        .and_then(|backend| backend.status(&spec))
        .map_err(|e| e.to_string());
    let agent = AgentStatus::read(&target.home).map_err(|e| e.to_string());
    // A document that says running but is stale: the agent died; its log says why (a bounded read).
    let died =
        matches!(&agent, Ok(Some(a)) if a.running && !a.is_live(tentacle_core::status::now_secs()));
    let last_error = died
        .then(|| crate::log_tail::last_error(&target.logs))
        .flatten();
    Live {
        instance: target.instance.clone(),
        service,
        agent,
        last_error,
    }
}

/// Opens `path` in the file manager (xdg-open, explorer, open).
pub fn open_folder(path: &std::path::Path) -> Result<(), String> {
    let program = if cfg!(windows) {
        "explorer"
    } else if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let status = std::process::Command::new(program)
        .arg(path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map_err(|e| {
            format!(
                "Could not open the folder: {program} could not be run ({e}); open it yourself: {}",
                path.display()
            )
        })?;
    // explorer.exe exits 1 even when it opened the folder.
    if status.success() || cfg!(windows) {
        Ok(())
    } else {
        Err(format!(
            "Could not open the folder: {program} exited with {status}; open it yourself: {}",
            path.display()
        ))
    }
}
