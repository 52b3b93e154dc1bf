//! `tentacle firewall --add|--remove|--status`: the firewall rule for an instance's listening port (Windows Firewall, ufw or firewalld; none when no firewall is active).

use super::commands::InstanceArgs;
use super::{CliError, Out, target};
use crate::firewall::{self, Detected};

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// Open the port.
    Add,
    /// Remove the rule.
    Remove,
    /// Say whether the port is open.
    Status,
}

impl Verb {
    /// Exactly one of the three flags.
    pub fn from_flags(add: bool, remove: bool, status: bool) -> Result<Verb, CliError> {
        match (add, remove, status) {
            (true, false, false) => Ok(Verb::Add),
            (false, true, false) => Ok(Verb::Remove),
            (false, false, true) => Ok(Verb::Status),
            _ => Err(CliError::Usage(
                "Pass exactly one of --add, --remove or --status".to_owned(),
            )),
        }
    }
}

pub fn run(
    args: &InstanceArgs,
    verb: Verb,
    port: Option<u16>,
    out: &mut Out<'_>,
) -> Result<(), CliError> {
    let t = target(args)?;
    let config = t.load()?;
    if port == Some(0) {
        return Err(CliError::Invalid(
            "--port must be between 1 and 65535, not 0".to_owned(),
        ));
    }
    if config.communication.no_listen && port.is_none() && verb == Verb::Add {
        return Err(CliError::Invalid(format!(
            "Instance {} polls and does not listen, so Octopus Server needs no opening into this machine; pass --port PORT to open one anyway",
            t.label()
        )));
    }
    let port = port.unwrap_or(config.communication.port);
    let invalid = |e: firewall::FirewallError| CliError::Invalid(e.to_string());
    let fw = match firewall::detect().map_err(invalid)? {
        Detected::NoneActive(looked) => {
            out.line(format!(
                "No active firewall was found on this machine ({looked}); nothing here blocks TCP port {port}, so there is no rule to {}",
                match verb {
                    Verb::Add => "add",
                    Verb::Remove => "remove",
                    Verb::Status => "show",
                }
            ));
            return Ok(());
        }
        Detected::Active(fw) => fw,
    };
    let allowed = firewall::is_allowed(fw, port).map_err(invalid)?;
    match verb {
        Verb::Status => out.line(if allowed {
            format!("{fw} is active and allows TCP port {port}")
        } else {
            format!(
                "{fw} is active and does not allow TCP port {port}; open it with: tentacle firewall {} --add",
                t.selector()
            )
        }),
        Verb::Add if allowed => {
            out.line(format!("{fw} already allows TCP port {port}; nothing to add"))
        }
        Verb::Add => {
            firewall::allow(fw, port, &mut |l| out.line(l)).map_err(invalid)?;
            out.line(format!("{fw} now allows TCP port {port}"));
        }
        Verb::Remove if !allowed => out.line(format!(
            "{fw} does not allow TCP port {port}; there is no rule to remove"
        )),
        Verb::Remove => {
            firewall::remove(fw, port, &mut |l| out.line(l)).map_err(invalid)?;
            out.line(format!("The {fw} rule for TCP port {port} was removed"));
        }
    }
    Ok(())
}
