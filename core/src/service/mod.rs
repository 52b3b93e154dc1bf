//! The OS service that runs `tentacle agent`: systemd, launchd and the Windows SCM behind one interface.
//!
//! Shared code talks to [`ServiceBackend`]; [`platform_backend`] picks the implementation by `cfg`.
//! [`apply`] runs the verbs of `tentacle service` in a fixed order:
//! stop → uninstall → install → reconfigure → start (restart = stop if running, then start).

pub mod access;
pub mod launchd;
pub mod logon_right;
pub mod systemd;
#[cfg(windows)]
pub mod windows;
#[cfg(windows)]
pub mod windows_dispatch;

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

/// What the service manager says about an instance's service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceStatus {
    /// The agent is running.
    Running,
    /// Installed but not running (stopped, failed or never started).
    Stopped,
    /// No service is installed for this instance.
    NotInstalled,
    /// Starting, stopping or reloading; the text is the manager's own word for it.
    Pending(String),
}

impl fmt::Display for ServiceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceStatus::Running => f.write_str("Running"),
            ServiceStatus::Stopped => f.write_str("Stopped"),
            ServiceStatus::NotInstalled => f.write_str("Is not installed"),
            ServiceStatus::Pending(what) => write!(f, "Pending ({what})"),
        }
    }
}

/// A service operation that failed. Messages name the problem and the fix; paths last.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A machine-wide service location is not writable by this user.
    #[error(
        "Installing a machine-wide service needs root: run sudo tentacle service --install {selector} (or run as your user to install a user service): {}",
        path.display()
    )]
    NeedsRoot {
        /// `--instance "X"` or `--config "path"`.
        selector: String,
        /// The file that could not be written.
        path: PathBuf,
    },
    /// The service manager's command failed.
    #[error("{command} failed: {detail}{hint}")]
    Command {
        /// The command line, for copying.
        command: String,
        /// The first line of its stderr, or its exit status.
        detail: String,
        /// Extra advice (for example "systemd is not running"), starting with "; ".
        hint: String,
    },
    /// The service manager's program could not be run at all.
    #[error("Could not run {program} ({source}){hint}")]
    Spawn {
        /// The program.
        program: String,
        /// The OS error.
        source: std::io::Error,
        /// Extra advice, starting with "; ".
        hint: String,
    },
    /// Reading or writing a service definition failed.
    #[error("Could not {what} ({source}): {}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The verb needs an installed service.
    #[error(
        "The service for {name} is not installed: run tentacle service --install {selector} first"
    )]
    NotInstalled {
        /// The instance.
        name: String,
        /// `--instance "X"` or `--config "path"`.
        selector: String,
    },
    /// The options do not make sense together or on this platform.
    #[error("{0}")]
    Invalid(String),
}

/// What the service runs and as whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// The instance name (or, for a `--config`-only instance, the config file's stem).
    pub name: String,
    /// `--instance "X"` or `--config "path"`, for hints.
    pub selector: String,
    /// The absolute path of the `tentacle` executable.
    pub executable: PathBuf,
    /// The arguments after the executable: `agent --instance X --noninteractive`.
    pub args: Vec<OsString>,
    /// Run as this account (`User=` on systemd, `UserName` on launchd, the log-on account on Windows).
    pub username: Option<String>,
    /// The Windows account's password; never logged, never written anywhere but to the SCM.
    pub password: Option<crate::secret::Secret>,
    /// Where launchd sends stdout and stderr: the instance's `Logs` folder.
    pub logs_dir: PathBuf,
}

impl ServiceSpec {
    /// The agent arguments for an instance chosen by name.
    pub fn agent_args_for_instance(name: &str) -> Vec<OsString> {
        ["agent", "--instance", name, "--noninteractive"]
            .iter()
            .map(OsString::from)
            .collect()
    }

    /// The service of an instance chosen by name, running `executable` (the `tentacle`
    /// binary; the manager passes the one installed beside it). For the manager's status
    /// query and buttons: the same spec `tentacle service --instance X` builds.
    pub fn for_instance(
        record: &crate::instance::InstanceRecord,
        executable: PathBuf,
    ) -> Result<ServiceSpec, ServiceError> {
        let config = crate::instance::TentacleConfig::load(&record.config)
            .map_err(|e| ServiceError::Invalid(e.to_string()))?;
        Ok(ServiceSpec {
            name: record.name.clone(),
            selector: format!("--instance \"{}\"", record.name),
            executable,
            args: ServiceSpec::agent_args_for_instance_here(&record.name),
            username: None,
            password: None,
            logs_dir: config.logs_dir(&record.config),
        })
    }

    /// The agent arguments for an instance chosen by name in the config root `root`: the
    /// service then finds it whichever account runs it and whatever its environment.
    pub fn agent_args_in_root(name: &str, root: &std::path::Path) -> Vec<OsString> {
        vec![
            OsString::from("agent"),
            OsString::from("--instance"),
            OsString::from(name),
            OsString::from("--config-root"),
            root.as_os_str().to_owned(),
            OsString::from("--noninteractive"),
        ]
    }

    /// [`ServiceSpec::agent_args_in_root`] with the root this process uses
    /// (`TENTACLE_CONFIG_ROOT`, else machine-wide or this user's), as an absolute path.
    pub fn agent_args_for_instance_here(name: &str) -> Vec<OsString> {
        match crate::instance::ConfigRoot::discover() {
            Ok(root) => {
                let dir = std::path::absolute(root.dir()).unwrap_or_else(|_| root.dir().to_owned());
                ServiceSpec::agent_args_in_root(name, &dir)
            }
            Err(_) => ServiceSpec::agent_args_for_instance(name),
        }
    }

    /// The agent arguments for an instance chosen by its config file.
    pub fn agent_args_for_config(config: &std::path::Path) -> Vec<OsString> {
        vec![
            OsString::from("agent"),
            OsString::from("--config"),
            config.as_os_str().to_owned(),
            OsString::from("--noninteractive"),
        ]
    }
}

/// One platform's service manager.
pub trait ServiceBackend {
    /// True when a service definition exists for this instance (cheap: no manager call where possible).
    fn is_installed(&self, spec: &ServiceSpec) -> bool;
    /// Writes the definition and registers it to start at boot; on an installed service it rewrites it.
    fn install(&self, spec: &ServiceSpec) -> Result<(), ServiceError>;
    /// Rewrites the definition of an installed service and tells the manager to reload it.
    fn reconfigure(&self, spec: &ServiceSpec) -> Result<(), ServiceError>;
    /// Stops (ignoring "not loaded"), unregisters and deletes the definition.
    fn uninstall(&self, spec: &ServiceSpec) -> Result<(), ServiceError>;
    /// Starts the service.
    fn start(&self, spec: &ServiceSpec) -> Result<(), ServiceError>;
    /// Stops the service.
    fn stop(&self, spec: &ServiceSpec) -> Result<(), ServiceError>;
    /// The service's state.
    fn status(&self, spec: &ServiceSpec) -> Result<ServiceStatus, ServiceError>;
    /// Where the definition lives, for messages.
    fn describe(&self, spec: &ServiceSpec) -> String;
}

/// The verbs of `tentacle service`; any combination is allowed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Verbs {
    /// `--install`
    pub install: bool,
    /// `--uninstall`
    pub uninstall: bool,
    /// `--start`
    pub start: bool,
    /// `--stop`
    pub stop: bool,
    /// `--restart`
    pub restart: bool,
    /// `--reconfigure`
    pub reconfigure: bool,
    /// `--status`
    pub status: bool,
}

impl Verbs {
    /// True when no verb was given.
    pub fn is_empty(&self) -> bool {
        *self == Verbs::default()
    }
}

/// Runs the verbs in order (stop → uninstall → install → reconfigure → start), reporting each
/// step through `progress`. Returns the status when `--status` was asked for.
pub fn apply(
    backend: &dyn ServiceBackend,
    spec: &ServiceSpec,
    verbs: Verbs,
    progress: &mut dyn FnMut(String),
) -> Result<Option<ServiceStatus>, ServiceError> {
    if verbs.is_empty() {
        return Err(ServiceError::Invalid(
            "Pass at least one of --install, --uninstall, --start, --stop, --restart, --reconfigure or --status".to_owned(),
        ));
    }
    if verbs.install && verbs.uninstall {
        return Err(ServiceError::Invalid(
            "Pass --install or --uninstall, not both (use --reconfigure to rewrite an installed service)".to_owned(),
        ));
    }
    let not_installed = || ServiceError::NotInstalled {
        name: spec.name.clone(),
        selector: spec.selector.clone(),
    };
    let installed = backend.is_installed(spec);
    let running_before_restart = if verbs.restart && installed {
        backend.status(spec)? == ServiceStatus::Running
    } else {
        false
    };

    if verbs.stop || running_before_restart {
        if installed {
            backend.stop(spec)?;
            progress(format!("Service stopped: {}", spec.name));
        } else if !verbs.install {
            progress(format!(
                "Service is not installed, nothing to stop: {}",
                spec.name
            ));
        }
    }
    if verbs.uninstall {
        if installed {
            backend.uninstall(spec)?;
            progress(format!("Service uninstalled: {}", backend.describe(spec)));
        } else {
            progress(format!(
                "Service is not installed: {}",
                backend.describe(spec)
            ));
        }
    }
    if verbs.install {
        backend.install(spec)?;
        progress(format!("Service installed: {}", backend.describe(spec)));
    }
    if verbs.reconfigure && !verbs.install {
        if !backend.is_installed(spec) {
            return Err(not_installed());
        }
        backend.reconfigure(spec)?;
        progress(format!("Service reconfigured: {}", backend.describe(spec)));
    }
    if verbs.start || verbs.restart {
        if !backend.is_installed(spec) {
            return Err(not_installed());
        }
        backend.start(spec)?;
        progress(format!(
            "Service {}: {}",
            if verbs.restart {
                "restarted"
            } else {
                "started"
            },
            spec.name
        ));
    }
    if verbs.status {
        return backend.status(spec).map(Some);
    }
    Ok(None)
}

/// This platform's service manager.
pub fn platform_backend() -> Result<Box<dyn ServiceBackend>, ServiceError> {
    #[cfg(target_os = "macos")]
    {
        Ok(Box::new(launchd::Launchd::detect()?))
    }
    #[cfg(all(unix, not(target_os = "macos")))]
    {
        Ok(Box::new(systemd::Systemd::detect()?))
    }
    #[cfg(windows)]
    {
        Ok(Box::new(windows::WindowsScm::detect()?))
    }
    #[cfg(not(any(unix, windows)))]
    {
        Err(ServiceError::Invalid(
            "Installing a service is not supported on this platform yet: run tentacle agent instead".to_owned(),
        ))
    }
}

/// Runs a manager command, returning its stdout; failures carry the command line and stderr's first line.
pub(crate) fn run_command(
    program: &str,
    args: &[OsString],
    hint: &dyn Fn() -> String,
) -> Result<std::process::Output, ServiceError> {
    let output = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|source| ServiceError::Spawn {
            program: program.to_owned(),
            source,
            hint: hint(),
        })?;
    Ok(output)
}

/// The command line as text, for messages.
pub(crate) fn command_line(program: &str, args: &[OsString]) -> String {
    let mut line = program.to_owned();
    for a in args {
        line.push(' ');
        line.push_str(&a.to_string_lossy());
    }
    line
}

/// The first non-empty line of stderr, else the exit status.
pub(crate) fn failure_detail(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| format!("exit status {}", output.status))
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    struct Fake {
        installed: RefCell<bool>,
        running: RefCell<bool>,
        calls: RefCell<Vec<&'static str>>,
    }

    impl ServiceBackend for Fake {
        fn is_installed(&self, _: &ServiceSpec) -> bool {
            *self.installed.borrow()
        }
        fn install(&self, _: &ServiceSpec) -> Result<(), ServiceError> {
            self.calls.borrow_mut().push("install");
            *self.installed.borrow_mut() = true;
            Ok(())
        }
        fn reconfigure(&self, _: &ServiceSpec) -> Result<(), ServiceError> {
            self.calls.borrow_mut().push("reconfigure");
            Ok(())
        }
        fn uninstall(&self, _: &ServiceSpec) -> Result<(), ServiceError> {
            self.calls.borrow_mut().push("uninstall");
            *self.installed.borrow_mut() = false;
            Ok(())
        }
        fn start(&self, _: &ServiceSpec) -> Result<(), ServiceError> {
            self.calls.borrow_mut().push("start");
            *self.running.borrow_mut() = true;
            Ok(())
        }
        fn stop(&self, _: &ServiceSpec) -> Result<(), ServiceError> {
            self.calls.borrow_mut().push("stop");
            *self.running.borrow_mut() = false;
            Ok(())
        }
        fn status(&self, _: &ServiceSpec) -> Result<ServiceStatus, ServiceError> {
            Ok(if !*self.installed.borrow() {
                ServiceStatus::NotInstalled
            } else if *self.running.borrow() {
                ServiceStatus::Running
            } else {
                ServiceStatus::Stopped
            })
        }
        fn describe(&self, _: &ServiceSpec) -> String {
            "fake".to_owned()
        }
    }

    fn fake(installed: bool, running: bool) -> Fake {
        Fake {
            installed: RefCell::new(installed),
            running: RefCell::new(running),
            calls: RefCell::new(Vec::new()),
        }
    }

    fn spec() -> ServiceSpec {
        ServiceSpec {
            name: "X".into(),
            selector: "--instance \"X\"".into(),
            executable: "/usr/bin/tentacle".into(),
            args: ServiceSpec::agent_args_for_instance("X"),
            username: None,
            password: None,
            logs_dir: "/tmp/logs".into(),
        }
    }

    #[test]
    fn service_verbs_run_in_order() {
        let f = fake(true, true);
        let verbs = Verbs {
            install: true,
            stop: true,
            start: true,
            reconfigure: true,
            ..Verbs::default()
        };
        apply(&f, &spec(), verbs, &mut |_| {}).unwrap();
        assert_eq!(*f.calls.borrow(), ["stop", "install", "start"]);

        let f = fake(true, true);
        let verbs = Verbs {
            uninstall: true,
            stop: true,
            ..Verbs::default()
        };
        apply(&f, &spec(), verbs, &mut |_| {}).unwrap();
        assert_eq!(*f.calls.borrow(), ["stop", "uninstall"]);
    }

    #[test]
    fn service_install_stop_start_on_a_fresh_machine() {
        let f = fake(false, false);
        let verbs = Verbs {
            install: true,
            stop: true,
            start: true,
            ..Verbs::default()
        };
        apply(&f, &spec(), verbs, &mut |_| {}).unwrap();
        assert_eq!(*f.calls.borrow(), ["install", "start"]);
    }

    #[test]
    fn service_restart_stops_only_when_running() {
        let verbs = Verbs {
            restart: true,
            ..Verbs::default()
        };
        let f = fake(true, true);
        apply(&f, &spec(), verbs, &mut |_| {}).unwrap();
        assert_eq!(*f.calls.borrow(), ["stop", "start"]);
        let f = fake(true, false);
        apply(&f, &spec(), verbs, &mut |_| {}).unwrap();
        assert_eq!(*f.calls.borrow(), ["start"]);
    }

    #[test]
    fn service_errors_name_the_fix() {
        let f = fake(false, false);
        let start = Verbs {
            start: true,
            ..Verbs::default()
        };
        let e = apply(&f, &spec(), start, &mut |_| {}).unwrap_err();
        assert!(
            e.to_string()
                .contains("tentacle service --install --instance \"X\"")
        );
        assert!(apply(&f, &spec(), Verbs::default(), &mut |_| {}).is_err());
        let status = Verbs {
            status: true,
            ..Verbs::default()
        };
        let s = apply(&f, &spec(), status, &mut |_| {}).unwrap();
        assert_eq!(s.unwrap().to_string(), "Is not installed");
    }
}
