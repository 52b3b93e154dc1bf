//! Repairs the checks can offer: a typed [`FixAction`] per repairable finding, with what it says, the exact commands it runs ("Show script"), how to apply it and what undoes it.
//!
//! A check attaches the actions that would repair what it found to its result
//! ([`crate::checks::CheckResult::actions`]). `tentacle check --fix` asks before applying each;
//! the manager shows a button per action. Both call [`FixAction::apply`], so the CLI and the
//! GUI run the same steps, and both print [`FixAction::script`] first. `tentacle …` lines run
//! in-process through the CLI; service verbs run through [`crate::service`] with the
//! `tentacle` executable from [`FixContext`]; firewall and process commands run as shown.

mod apply;
pub(crate) mod offer;

use std::path::PathBuf;

use serde::Serialize;

use crate::firewall::{self, Firewall};

/// Which instance the actions act on, as the CLI selects it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// `--instance NAME`.
    Instance(String),
    /// `--config PATH`.
    Config(PathBuf),
}

impl Selector {
    /// The CLI arguments that select the instance.
    pub fn args(&self) -> Vec<String> {
        match self {
            Selector::Instance(name) => vec!["--instance".to_owned(), name.clone()],
            Selector::Config(path) => vec!["--config".to_owned(), path.display().to_string()],
        }
    }

    /// The service name: the instance name, or the config file's stem.
    pub fn service_name(&self) -> String {
        match self {
            Selector::Instance(name) => name.clone(),
            Selector::Config(path) => path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "tentacle".to_owned()),
        }
    }
}

/// Everything an action needs besides itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixContext {
    /// The instance.
    pub selector: Selector,
    /// Its configuration file.
    pub config: PathBuf,
    /// The `tentacle` executable an installed service runs (the CLI: itself; the manager: the one beside it).
    pub tentacle_exe: PathBuf,
}

/// A service verb a fix runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceFix {
    /// `service --start`.
    Start,
    /// `service --stop`.
    Stop,
    /// `service --restart`.
    Restart,
    /// `service --install --start`.
    Install,
    /// `service --stop --uninstall` (the undo of Install).
    Uninstall,
}

impl ServiceFix {
    fn flags(self) -> &'static [&'static str] {
        match self {
            ServiceFix::Start => &["--start"],
            ServiceFix::Stop => &["--stop"],
            ServiceFix::Restart => &["--restart"],
            ServiceFix::Install => &["--install", "--start"],
            ServiceFix::Uninstall => &["--stop", "--uninstall"],
        }
    }

    /// The verbs for [`crate::service::apply`].
    pub fn verbs(self) -> crate::service::Verbs {
        let mut v = crate::service::Verbs::default();
        match self {
            ServiceFix::Start => v.start = true,
            ServiceFix::Stop => v.stop = true,
            ServiceFix::Restart => v.restart = true,
            ServiceFix::Install => {
                v.install = true;
                v.start = true;
            }
            ServiceFix::Uninstall => {
                v.stop = true;
                v.uninstall = true;
            }
        }
        v
    }
}

/// One repair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FixAction {
    /// Stop a process that holds this Tentacle's listening port.
    StopProcess {
        /// Its process id.
        pid: u32,
        /// Its name.
        name: String,
        /// Its command line, as far as it could be read.
        command: String,
        /// The port it holds.
        port: u16,
    },
    /// Move this Tentacle to another (free) port.
    MovePort {
        /// The port now configured.
        from: u16,
        /// The port to use.
        to: u16,
    },
    /// Open the listening port in the firewall.
    AllowPort {
        /// The active firewall.
        firewall: Firewall,
        /// The port.
        port: u16,
    },
    /// Remove the rule [`FixAction::AllowPort`] added.
    RemovePortRule {
        /// The firewall.
        firewall: Firewall,
        /// The port.
        port: u16,
    },
    /// Replace this Tentacle's certificate with a new SHA-256 one. The old one's file stays
    /// (certificate files are named by thumbprint and never overwritten), so it can be restored.
    RegenerateCertificate {
        /// The thumbprint Octopus Server trusts today.
        thumbprint: String,
        /// The file that holds the old certificate and key.
        backup: PathBuf,
    },
    /// Put the old certificate back (the undo of regenerating).
    RestoreCertificate {
        /// Its thumbprint.
        thumbprint: String,
        /// The file that holds it.
        backup: PathBuf,
    },
    /// Start, install or restart the background service.
    Service {
        /// What to do.
        verb: ServiceFix,
    },
    /// Give the home folder (recursively) to the service account.
    ChownHome {
        /// The folder.
        home: PathBuf,
        /// The account's name.
        account: String,
        /// Its user id.
        uid: u32,
        /// Its primary group id.
        gid: u32,
        /// The folder's owner now, for the undo: (name, uid, gid).
        previous: Option<(String, u32, u32)>,
    },
    /// Change the home folder's mode bits (e.g. take away write access from others).
    ChmodHome {
        /// The folder.
        home: PathBuf,
        /// Its mode now.
        from: u32,
        /// The mode to set.
        to: u32,
    },
}

/// Why an action could not be applied. Messages name the problem and the fix.
#[derive(Debug, thiserror::Error)]
pub enum FixError {
    /// A `tentacle` command run in-process failed.
    #[error("{line} failed: {message}")]
    Tentacle {
        /// The command line.
        line: String,
        /// Its error.
        message: String,
    },
    /// A firewall command failed.
    #[error(transparent)]
    Firewall(#[from] firewall::FirewallError),
    /// A service verb failed.
    #[error(transparent)]
    Service(#[from] crate::service::ServiceError),
    /// The situation changed since the check ran (the process is gone, the pid was reused).
    #[error("{0}")]
    Changed(String),
    /// A file system change failed.
    #[error("Could not {what} ({source}): {}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// Where.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The action cannot run on this operating system.
    #[error("{0}")]
    Unsupported(String),
}

/// `"value"` quoted for a POSIX shell when it needs it.
pub(crate) fn quoted(value: &str) -> String {
    firewall::command_line(&[value.to_owned()])
}

impl FixAction {
    /// A short label for a button: "Stop pid 4242 (python3)".
    pub fn title(&self) -> String {
        match self {
            FixAction::StopProcess { pid, name, .. } => format!("Stop pid {pid} ({name})"),
            FixAction::MovePort { to, .. } => format!("Move this Tentacle to port {to}"),
            FixAction::AllowPort { firewall, port } => {
                format!("Allow port {port} in {}", firewall.name())
            }
            FixAction::RemovePortRule { firewall, port } => {
                format!("Remove the {} rule for port {port}", firewall.name())
            }
            FixAction::RegenerateCertificate { .. } => {
                "Regenerate this Tentacle's certificate".to_owned()
            }
            FixAction::RestoreCertificate { .. } => "Restore the previous certificate".to_owned(),
            FixAction::Service { verb } => match verb {
                ServiceFix::Start => "Start the service",
                ServiceFix::Stop => "Stop the service",
                ServiceFix::Restart => "Restart the service",
                ServiceFix::Install => "Install and start the service",
                ServiceFix::Uninstall => "Stop and remove the service",
            }
            .to_owned(),
            FixAction::ChownHome { account, .. } => {
                format!("Give the home folder to {account}")
            }
            FixAction::ChmodHome { to, .. } => format!("Set the home folder's mode to {to:04o}"),
        }
    }

    /// What it does, in a sentence or two.
    pub fn description(&self) -> String {
        match self {
            FixAction::StopProcess {
                pid,
                name,
                command,
                port,
            } => format!(
                "Stops process {pid} ({name}), which listens on port {port} so this Tentacle cannot. Its command line: {command}"
            ),
            FixAction::MovePort { from, to } => format!(
                "Configures this Tentacle to listen on port {to} instead of {from} (port {to} is free now)."
            ),
            FixAction::AllowPort { firewall, port } => format!(
                "Adds a {} rule that lets Octopus Server connect to TCP port {port}.",
                firewall.name()
            ),
            FixAction::RemovePortRule { firewall, port } => format!(
                "Removes the {} rule for TCP port {port}.",
                firewall.name()
            ),
            FixAction::RegenerateCertificate { thumbprint, backup } => format!(
                "Gives this Tentacle a new RSA-2048 certificate signed with SHA-256. The current one ({thumbprint}) stays in {}, so it can be put back.",
                backup.display()
            ),
            FixAction::RestoreCertificate { thumbprint, backup } => format!(
                "Makes the certificate {thumbprint} kept in {} this Tentacle's certificate again.",
                backup.display()
            ),
            FixAction::Service { verb } => match verb {
                ServiceFix::Start => "Starts the installed background service that runs the agent.",
                ServiceFix::Stop => "Stops the background service.",
                ServiceFix::Restart => "Restarts the background service so the agent reads its configuration again.",
                ServiceFix::Install => "Installs the background service that runs the agent (it starts at boot) and starts it.",
                ServiceFix::Uninstall => "Stops the background service and removes it.",
            }
            .to_owned(),
            FixAction::ChownHome { home, account, .. } => format!(
                "Makes {account} the owner of {} and everything in it, so the agent running as {account} can write its logs, scripts and status.",
                home.display()
            ),
            FixAction::ChmodHome { home, from, to } => format!(
                "Changes the mode of {} from {from:04o} to {to:04o}.",
                home.display()
            ),
        }
    }

    /// What the user must know before saying yes, when there is something.
    pub fn warning(&self) -> Option<String> {
        match self {
            FixAction::StopProcess { name, .. } => Some(format!(
                "Whatever {name} was doing stops too; it is not started again."
            )),
            FixAction::MovePort { to, .. } => Some(format!(
                "Octopus Server must then connect to port {to}: change the port of this target in the Octopus Web Portal, and open it in any firewall on the way. Restart the agent to use it."
            )),
            FixAction::RegenerateCertificate { thumbprint, .. } => Some(format!(
                "Octopus Server trusts this Tentacle by its thumbprint {thumbprint}. After this the Tentacle has a new thumbprint, and every Octopus Server it talks to must trust the new one (update it in the Octopus Web Portal or register again); until then they refuse to talk to it. Restart the agent to use the new certificate."
            )),
            FixAction::RestoreCertificate { .. } => Some(
                "Octopus Server must trust the restored thumbprint again. Restart the agent to use it.".to_owned(),
            ),
            _ => None,
        }
    }

    /// The exact commands it runs, one per line, as a person would type them.
    pub fn script(&self, ctx: &FixContext) -> Vec<String> {
        let tentacle = |verb: &str, rest: &[&str]| {
            let mut argv = vec!["tentacle".to_owned(), verb.to_owned()];
            argv.extend(ctx.selector.args());
            argv.extend(rest.iter().map(|s| (*s).to_owned()));
            firewall::command_line(&argv)
        };
        match self {
            FixAction::StopProcess { pid, .. } => vec![if cfg!(windows) {
                format!("taskkill /PID {pid}")
            } else {
                format!("kill {pid}")
            }],
            FixAction::MovePort { to, .. } => {
                vec![tentacle("configure", &["--port", &to.to_string()])]
            }
            FixAction::AllowPort { firewall, port } => firewall
                .allow_commands(*port)
                .iter()
                .map(|c| firewall::command_line(c))
                .collect(),
            FixAction::RemovePortRule { firewall, port } => firewall
                .remove_commands(*port)
                .iter()
                .map(|c| firewall::command_line(c))
                .collect(),
            FixAction::RegenerateCertificate { .. } => vec![tentacle("new-certificate", &[])],
            FixAction::RestoreCertificate { backup, .. } => vec![tentacle(
                "import-certificate",
                &["--from-file", &backup.display().to_string()],
            )],
            FixAction::Service { verb } => vec![tentacle("service", verb.flags())],
            FixAction::ChownHome { home, account, .. } => vec![format!(
                "chown -R {account}: {}",
                quoted(&home.display().to_string())
            )],
            FixAction::ChmodHome { home, to, .. } => vec![format!(
                "chmod {to:04o} {}",
                quoted(&home.display().to_string())
            )],
        }
    }

    /// The action that undoes this one, where there is one.
    pub fn undo(&self) -> Option<FixAction> {
        match self {
            FixAction::StopProcess { .. } => None,
            FixAction::MovePort { from, to } => Some(FixAction::MovePort {
                from: *to,
                to: *from,
            }),
            FixAction::AllowPort { firewall, port } => Some(FixAction::RemovePortRule {
                firewall: *firewall,
                port: *port,
            }),
            FixAction::RemovePortRule { firewall, port } => Some(FixAction::AllowPort {
                firewall: *firewall,
                port: *port,
            }),
            FixAction::RegenerateCertificate { thumbprint, backup } => {
                Some(FixAction::RestoreCertificate {
                    thumbprint: thumbprint.clone(),
                    backup: backup.clone(),
                })
            }
            FixAction::RestoreCertificate { .. } => None,
            FixAction::Service { verb } => match verb {
                ServiceFix::Start => Some(ServiceFix::Stop),
                ServiceFix::Stop => Some(ServiceFix::Start),
                ServiceFix::Install => Some(ServiceFix::Uninstall),
                ServiceFix::Uninstall | ServiceFix::Restart => None,
            }
            .map(|verb| FixAction::Service { verb }),
            FixAction::ChownHome {
                home,
                account,
                uid,
                gid,
                previous,
            } => previous
                .as_ref()
                .map(|(name, puid, pgid)| FixAction::ChownHome {
                    home: home.clone(),
                    account: name.clone(),
                    uid: *puid,
                    gid: *pgid,
                    previous: Some((account.clone(), *uid, *gid)),
                }),
            FixAction::ChmodHome { home, from, to } => Some(FixAction::ChmodHome {
                home: home.clone(),
                from: *to,
                to: *from,
            }),
        }
    }

    /// Applies it, sending each command line (prefixed `> `) and its output to `progress`.
    pub fn apply(
        &self,
        ctx: &FixContext,
        progress: &mut dyn FnMut(String),
    ) -> Result<(), FixError> {
        apply::apply(self, ctx, progress)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> FixContext {
        FixContext {
            selector: Selector::Instance("My Web".into()),
            config: PathBuf::from("/etc/octopus/My Web/tentacle.toml"),
            tentacle_exe: PathBuf::from("/usr/bin/tentacle"),
        }
    }

    #[test]
    fn scripts_are_the_exact_command_lines() {
        let c = ctx();
        assert_eq!(
            FixAction::MovePort {
                from: 10933,
                to: 10934
            }
            .script(&c),
            ["tentacle configure --instance \"My Web\" --port 10934"]
        );
        assert_eq!(
            FixAction::Service {
                verb: ServiceFix::Install
            }
            .script(&c),
            ["tentacle service --instance \"My Web\" --install --start"]
        );
        let regen = FixAction::RegenerateCertificate {
            thumbprint: "AB".into(),
            backup: PathBuf::from("/etc/octopus/My Web/certificates/old.pfx"),
        };
        assert_eq!(
            regen.script(&c),
            ["tentacle new-certificate --instance \"My Web\""]
        );
        assert!(regen.warning().unwrap().contains("must trust the new one"));
        assert_eq!(
            regen.undo().unwrap().script(&c),
            [
                "tentacle import-certificate --instance \"My Web\" --from-file \"/etc/octopus/My Web/certificates/old.pfx\""
            ]
        );
        let chmod = FixAction::ChmodHome {
            home: PathBuf::from("/srv/t"),
            from: 0o777,
            to: 0o775,
        };
        assert_eq!(chmod.script(&c), ["chmod 0775 /srv/t"]);
        assert_eq!(chmod.undo().unwrap().script(&c), ["chmod 0777 /srv/t"]);
    }

    #[test]
    fn undo_pairs_and_what_has_none() {
        let allow = FixAction::AllowPort {
            firewall: Firewall::Ufw,
            port: 1,
        };
        assert_eq!(allow.undo().unwrap().undo().unwrap(), allow);
        let stop = FixAction::StopProcess {
            pid: 1,
            name: "x".into(),
            command: "x".into(),
            port: 1,
        };
        assert_eq!(stop.undo(), None);
        let start = FixAction::Service {
            verb: ServiceFix::Start,
        };
        assert_eq!(
            start.undo(),
            Some(FixAction::Service {
                verb: ServiceFix::Stop
            })
        );
        let json = serde_json::to_value(&allow).unwrap();
        assert_eq!(json["kind"], "allow-port");
        assert_eq!(json["firewall"], "ufw");
    }
}
