//! One instance's settings as TOML: the document, its defaults, and locked, atomic load-modify-save.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::InstanceError;
use super::atomic::{FileLock, FileMode, remove_stale_temps, write_atomic};
use crate::trust::{CommunicationStyle, Thumbprint, TrustedServer};

/// The format this build writes; older files are read, newer ones are refused.
pub const CONFIG_FORMAT_VERSION: u32 = 1;
/// The port a listening Tentacle accepts on unless configured otherwise.
pub const DEFAULT_LISTEN_PORT: u16 = 10933;
/// The port a polling Tentacle dials unless told otherwise.
pub const DEFAULT_POLLING_PORT: u16 = 10943;
/// How long a writer waits for another one to finish.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(15);

/// Everything Tentacle knows about one instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TentacleConfig {
    /// Written first so a newer file is recognised before anything else is read.
    pub format_version: u32,
    /// The instance name this file was created for.
    pub instance: String,
    /// Home folder: logs, script workspaces, status. Relative paths are taken from the config's folder.
    pub home: PathBuf,
    /// Where packages are deployed to; unset means the platform default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_directory: Option<PathBuf>,
    /// How this Tentacle listens or polls.
    #[serde(default)]
    pub communication: Communication,
    /// This Tentacle's own certificate, once generated or imported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertificateRef>,
    /// The proxy for web requests (registration and scripts).
    #[serde(default)]
    pub proxy: ProxySettings,
    /// The proxy for polling connections to Octopus Server.
    #[serde(default)]
    pub polling_proxy: ProxySettings,
    /// Servers this Tentacle trusts, listening or polling.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_servers: Vec<TrustedServer>,
    /// The Tentacle version Octopus Server is shown (`TentacleVersion`, the REST user agent);
    /// unset means this build's default (see `crate::version`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported_version: Option<String>,
}

/// Listening and polling settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Communication {
    /// The listening port.
    pub port: u16,
    /// True for a polling-only Tentacle that opens no port.
    pub no_listen: bool,
    /// The address to listen on; unset means every address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen_ip: Option<String>,
    /// Connections kept open to each polling server; unset means 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub polling_connection_count: Option<u32>,
    /// What a peer may cost on the listening port before it proves a trusted thumbprint.
    #[serde(default, skip_serializing_if = "PreauthSettings::is_unset")]
    pub preauth: PreauthSettings,
}

/// `[communication.preauth]`: limits for connections not yet trusted; unset keys take the
/// defaults in `halibut::preauth` (10 s, 65536 bytes, 64 per address, 256 in all).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreauthSettings {
    /// Seconds a peer has to present a trusted certificate (or get its welcome page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_seconds: Option<u32>,
    /// Bytes a peer may send before it is trusted, the TLS handshake included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_bytes: Option<u32>,
    /// Untrusted connections held at once from one address; the oldest is closed beyond.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_address: Option<u32>,
    /// Untrusted connections held at once in all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_total: Option<u32>,
}

impl PreauthSettings {
    /// True when nothing is set (then the section is not written).
    pub fn is_unset(&self) -> bool {
        *self == PreauthSettings::default()
    }
}

impl Communication {
    /// Where the agent listens, in the order it tries: the configured listen IP, else
    /// dual-stack `[::]` (when the machine has IPv6), else `0.0.0.0`, as Tentacle does. A
    /// listen IP that does not parse was refused by `configure`, so it falls back to the same.
    pub fn listen_addresses(&self) -> Vec<std::net::SocketAddr> {
        use std::net::{IpAddr, Ipv6Addr, SocketAddr};
        match self
            .listen_ip
            .as_deref()
            .and_then(|ip| ip.trim().parse::<IpAddr>().ok())
        {
            Some(ip) => vec![SocketAddr::new(ip, self.port)],
            None => vec![
                SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), self.port),
                SocketAddr::from(([0, 0, 0, 0], self.port)),
            ],
        }
    }
}

impl Default for Communication {
    fn default() -> Self {
        Communication {
            port: DEFAULT_LISTEN_PORT,
            no_listen: false,
            listen_ip: None,
            polling_connection_count: None,
            preauth: PreauthSettings::default(),
        }
    }
}

/// Where this Tentacle's certificate and private key are kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateRef {
    /// SHA-1 of the DER certificate, uppercase.
    pub thumbprint: Thumbprint,
    /// A PEM file holding the certificate and its PKCS#8 private key, owner-only.
    pub file: PathBuf,
}

/// How a proxy is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProxyMode {
    /// The system's proxy settings (Tentacle's default).
    #[default]
    Default,
    /// Connect directly.
    None,
    /// The host and port below.
    Custom,
}

/// One proxy configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ProxySettings {
    /// Default, none or custom.
    pub mode: ProxyMode,
    /// Host for a custom proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Port for a custom proxy; unset means 80.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// User name for proxy authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Password for proxy authentication. The agent needs it at run time, so it is kept,
    /// in a config file that only its owner can read; it is never logged or shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

impl ProxySettings {
    /// One phrase for summaries: "not using a proxy server", "using a custom proxy server with custom credentials", ...
    pub fn describe(&self) -> String {
        let base = match self.mode {
            ProxyMode::None => return "not using a proxy server".to_owned(),
            ProxyMode::Default => "using the default proxy server",
            ProxyMode::Custom => "using a custom proxy server",
        };
        if self.username.as_deref().is_some_and(|u| !u.is_empty()) {
            format!("{base} with custom credentials")
        } else {
            base.to_owned()
        }
    }
}

impl TentacleConfig {
    /// A new, empty configuration for `instance` with its home folder.
    pub fn new(instance: &str, home: PathBuf) -> TentacleConfig {
        TentacleConfig {
            format_version: CONFIG_FORMAT_VERSION,
            instance: instance.to_owned(),
            home,
            application_directory: None,
            communication: Communication::default(),
            certificate: None,
            proxy: ProxySettings::default(),
            polling_proxy: ProxySettings::default(),
            trusted_servers: Vec::new(),
            reported_version: None,
        }
    }

    /// Reads and parses a config file; never writes.
    pub fn load(path: &Path) -> Result<TentacleConfig, InstanceError> {
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(InstanceError::ConfigMissing {
                    path: path.to_path_buf(),
                });
            }
            Err(e) => return Err(InstanceError::io("read the configuration", path, e)),
        };
        Self::parse(&text, path)
    }

    /// Parses TOML text; `path` is only for the error message.
    pub fn parse(text: &str, path: &Path) -> Result<TentacleConfig, InstanceError> {
        let config: TentacleConfig = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|s| line_and_column(text, s.start))
                .unwrap_or((1, 1));
            InstanceError::ConfigUnparseable {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().trim().to_owned(),
            }
        })?;
        if config.format_version > CONFIG_FORMAT_VERSION {
            return Err(InstanceError::ConfigTooNew {
                path: path.to_path_buf(),
                found: config.format_version,
                supported: CONFIG_FORMAT_VERSION,
            });
        }
        Ok(config)
    }

    /// Writes a brand-new config; refuses to replace an existing file.
    pub fn create(&self, path: &Path) -> Result<(), InstanceError> {
        let _lock = lock(path)?;
        if path.exists() {
            return Err(InstanceError::ConfigExists {
                path: path.to_path_buf(),
            });
        }
        self.save_unlocked(path)
    }

    /// Loads the config under the lock, lets `change` modify it, and saves it atomically
    /// only if `change` succeeded and changed something. A failed change, or a file that
    /// does not parse, leaves the file exactly as it was.
    pub fn update<T, E>(
        path: &Path,
        change: impl FnOnce(&mut TentacleConfig) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<InstanceError>,
    {
        let _lock = lock(path)?;
        let original = TentacleConfig::load(path)?;
        let mut edited = original.clone();
        let out = change(&mut edited)?;
        if edited != original {
            edited.save_unlocked(path)?;
        }
        Ok(out)
    }

    fn save_unlocked(&self, path: &Path) -> Result<(), InstanceError> {
        let text = toml::to_string(self).map_err(|e| InstanceError::Serialize(e.to_string()))?;
        let body = format!(
            "# Tentacle instance configuration. Change it with the tentacle CLI or Tentacle Manager.\n{text}"
        );
        remove_stale_temps(path);
        // Owner-only: a proxy password may live here.
        write_atomic(path, body.as_bytes(), FileMode::OwnerOnly)
            .map_err(|e| InstanceError::io("write the configuration", path, e))
    }

    /// The home folder as an absolute path (relative homes are taken from the config's folder).
    pub fn home_dir(&self, config_path: &Path) -> PathBuf {
        if self.home.is_absolute() {
            self.home.clone()
        } else {
            config_path
                .parent()
                .map(|p| p.join(&self.home))
                .unwrap_or_else(|| self.home.clone())
        }
    }

    /// `<home>/Logs`.
    pub fn logs_dir(&self, config_path: &Path) -> PathBuf {
        self.home_dir(config_path).join("Logs")
    }

    /// Polling when any trusted server is polled, listening otherwise (as the Windows manager decides).
    pub fn mode(&self) -> CommunicationStyle {
        if self
            .trusted_servers
            .iter()
            .any(|s| s.style == CommunicationStyle::Polling)
        {
            CommunicationStyle::Polling
        } else {
            CommunicationStyle::Listening
        }
    }

    /// Adds a listening trust entry, or leaves an identical one in place.
    pub fn trust_listening(&mut self, thumbprint: Thumbprint) {
        let exists = self
            .trusted_servers
            .iter()
            .any(|s| s.thumbprint == thumbprint && s.address.is_none());
        if !exists {
            self.trusted_servers
                .push(TrustedServer::listening(thumbprint));
        }
    }

    /// Removes every entry with this thumbprint; returns how many went.
    pub fn remove_trust(&mut self, thumbprint: &Thumbprint) -> usize {
        let before = self.trusted_servers.len();
        self.trusted_servers.retain(|s| &s.thumbprint != thumbprint);
        before - self.trusted_servers.len()
    }
}

fn lock(path: &Path) -> Result<FileLock, InstanceError> {
    FileLock::acquire(path, LOCK_TIMEOUT)
        .map_err(|e| InstanceError::io("lock the configuration", path, e))
}

fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let upto = &text[..offset.min(text.len())];
    let line = upto.matches('\n').count() + 1;
    let column = upto.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // broken fixtures are written directly on purpose
mod tests {
    use super::*;

    fn sample(dir: &Path) -> PathBuf {
        let path = dir.join("tentacle.toml");
        TentacleConfig::new("Tentacle", dir.to_path_buf())
            .create(&path)
            .unwrap();
        path
    }

    #[test]
    fn round_trips_and_carries_a_format_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = sample(dir.path());
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("format_version = 1"), "{text}");
        let loaded = TentacleConfig::load(&path).unwrap();
        assert_eq!(loaded.communication.port, DEFAULT_LISTEN_PORT);
    }

    #[test]
    fn unparseable_file_reports_line_and_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tentacle.toml");
        let broken =
            "format_version = 1\ninstance = \"T\"\nhome = \"/x\"\n[communication\nport = 1\n";
        fs::write(&path, broken).unwrap();
        let err = TentacleConfig::update(&path, |c| {
            c.communication.port = 2;
            Ok::<_, InstanceError>(())
        })
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("line 4"), "{msg}");
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert_eq!(fs::read_to_string(&path).unwrap(), broken);
    }

    #[test]
    fn newer_format_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tentacle.toml");
        fs::write(
            &path,
            "format_version = 99\ninstance = \"T\"\nhome = \"/x\"\n",
        )
        .unwrap();
        let err = TentacleConfig::load(&path).unwrap_err().to_string();
        assert!(err.contains("99"), "{err}");
    }

    #[test]
    fn failed_change_leaves_file_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = sample(dir.path());
        let before = fs::read(&path).unwrap();
        let r: Result<(), InstanceError> = TentacleConfig::update(&path, |c| {
            c.communication.port = 1;
            Err(InstanceError::Serialize("refused".into()))
        });
        assert!(r.is_err());
        assert_eq!(fs::read(&path).unwrap(), before);
    }

    #[test]
    fn proxy_descriptions() {
        let mut p = ProxySettings::default();
        assert_eq!(p.describe(), "using the default proxy server");
        p.mode = ProxyMode::Custom;
        p.username = Some("u".into());
        assert_eq!(
            p.describe(),
            "using a custom proxy server with custom credentials"
        );
        p.mode = ProxyMode::None;
        assert_eq!(p.describe(), "not using a proxy server");
    }
}
