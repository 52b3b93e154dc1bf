//! What a registration asks for and what it did: targets or workers, listening or polling, and the results the CLI and the manager show.

use super::RegisterError;
use crate::trust::{Thumbprint, TrustedServer};

/// How a deployment target takes part in tenanted deployments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantedDeploymentParticipation {
    /// Only untenanted deployments.
    Untenanted,
    /// Both.
    TenantedOrUntenanted,
    /// Only tenanted deployments.
    Tenanted,
}

impl TenantedDeploymentParticipation {
    /// Tentacle's names, any case.
    pub fn parse(input: &str) -> Result<Self, RegisterError> {
        match input.trim().to_ascii_lowercase().as_str() {
            "untenanted" => Ok(Self::Untenanted),
            "tenantedoruntenanted" => Ok(Self::TenantedOrUntenanted),
            "tenanted" => Ok(Self::Tenanted),
            _ => Err(RegisterError::Invalid(format!(
                "--tenanted-deployment-participation '{input}' is not valid: use Untenanted, TenantedOrUntenanted or Tenanted"
            ))),
        }
    }

    /// The name the REST API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Untenanted => "Untenanted",
            Self::TenantedOrUntenanted => "TenantedOrUntenanted",
            Self::Tenanted => "Tenanted",
        }
    }
}

/// A deployment target or a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MachineKind {
    /// `register-with`.
    Target {
        /// Environment names, slugs or Ids (at least one).
        environments: Vec<String>,
        /// Target roles (tags), free text (at least one).
        roles: Vec<String>,
        /// Tenant names or Ids.
        tenants: Vec<String>,
        /// `TagSet/Tag` canonical names.
        tenant_tags: Vec<String>,
        /// Unset: Tenanted when tenants or tags are given, else Untenanted.
        participation: Option<TenantedDeploymentParticipation>,
    },
    /// `register-worker`.
    Worker {
        /// Worker pool names, slugs or Ids (at least one).
        pools: Vec<String>,
    },
}

impl MachineKind {
    pub(crate) fn noun(&self) -> &'static str {
        match self {
            MachineKind::Target { .. } => "machine",
            MachineKind::Worker { .. } => "worker",
        }
    }
}

/// Listening or polling, with each style's options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommsChoice {
    /// TentaclePassive: the server connects to us.
    Listening {
        /// The name the server uses to reach us (`--publicHostName`); default this host's name.
        public_host: Option<String>,
        /// `--tentacle-comms-port`; default the configured listen port.
        port: Option<u16>,
        /// The name of an Octopus proxy the server uses to reach us (`--proxy`).
        proxy: Option<String>,
    },
    /// TentacleActive: we poll the server.
    Polling {
        /// `--server-comms-address`.
        comms_address: Option<String>,
        /// `--server-comms-port` (default 10943).
        comms_port: Option<u16>,
        /// `--server-web-socket wss://host:443/OctopusComms`.
        web_socket: Option<String>,
        /// `--server-subscription-id poll://…/`; default: reused from the config, else new.
        subscription_id: Option<String>,
    },
}

/// Everything `register-with` / `register-worker` need besides the server options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// Display name in Octopus (`--name`); default this host's name.
    pub name: Option<String>,
    /// Target or worker.
    pub kind: MachineKind,
    /// Listening or polling.
    pub comms: CommsChoice,
    /// Machine policy name or Id (`--policy`); default the server's.
    pub policy: Option<String>,
    /// Overwrite a machine with the same name (`--force`).
    pub force: bool,
}

/// What a successful registration did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// `Machines-12` or `Workers-3`.
    pub id: String,
    /// The name it is registered under.
    pub name: String,
    /// True when an existing machine was updated (`--force`).
    pub updated: bool,
    /// The trust entry written to the config.
    pub trusted: TrustedServer,
    /// The space's name, on servers with spaces.
    pub space: Option<String>,
}

/// What deregistration removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deregistered {
    /// Names of the machines or workers deleted.
    pub names: Vec<String>,
    /// The server's thumbprint (still trusted), when the server told us.
    pub server_thumbprint: Option<Thumbprint>,
}

/// `poll-server`: another address to poll (an HA node) with the same identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollServer {
    /// `--server-comms-address`.
    pub comms_address: Option<String>,
    /// `--server-comms-port`.
    pub comms_port: Option<u16>,
    /// `--server-web-socket`.
    pub web_socket: Option<String>,
    /// `--reuse-server-thumbprint`: copy thumbprint and subscription from the first polling entry.
    pub reuse_server_thumbprint: bool,
}

/// This machine's host name (the default `--name` and `--publicHostName`).
pub fn host_name() -> String {
    #[cfg(unix)]
    {
        let uts = rustix::system::uname();
        let name = uts.nodename().to_string_lossy().trim().to_owned();
        if !name.is_empty() {
            return name;
        }
    }
    ["COMPUTERNAME", "HOSTNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()))
        .unwrap_or_else(|| "localhost".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn participation_names() {
        assert_eq!(
            TenantedDeploymentParticipation::parse("tenantedoruntenanted").unwrap(),
            TenantedDeploymentParticipation::TenantedOrUntenanted
        );
        assert!(TenantedDeploymentParticipation::parse("sometimes").is_err());
        assert!(!host_name().is_empty());
    }
}
