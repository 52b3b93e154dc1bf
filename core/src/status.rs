//! The agent's live status: a small JSON document in the home folder, written atomically by the agent and read by the manager, the tray and `tentacle check`.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::instance::atomic::{FileMode, write_atomic};

/// The agent rewrites the document at least this often, so a reader can tell a live agent from a dead one.
pub const REFRESH: Duration = Duration::from_secs(5);
/// A document older than this belongs to an agent that is no longer running.
pub const STALE_AFTER: Duration = Duration::from_secs(20);
/// The file name inside the home folder.
pub const FILE_NAME: &str = "status.json";

/// Why the status could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// File system trouble.
    #[error("Could not {action} the agent status ({source}): {}", path.display())]
    Io {
        /// read or write.
        action: &'static str,
        /// The OS error.
        source: std::io::Error,
        /// The status file.
        path: PathBuf,
    },
    /// Not a status document (written by something else, or damaged).
    #[error("The agent status file is not valid ({message}); it is rewritten while the agent runs: {}", path.display())]
    Invalid {
        /// The parser's message.
        message: String,
        /// The status file.
        path: PathBuf,
    },
}

/// One polling server's link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkStatus {
    /// At least one connection is identified and serving.
    Connected,
    /// Dialling.
    Connecting,
    /// Every connection is down; retrying.
    Disconnected,
}

/// What the agent knows about one trusted server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerStatus {
    /// The server's thumbprint.
    pub thumbprint: String,
    /// `listening` or `polling`.
    pub style: String,
    /// The polling address, if any.
    pub address: Option<String>,
    /// For polling servers: the link state.
    pub link: Option<LinkStatus>,
    /// Polling connections currently up.
    pub connections_up: usize,
    /// Polling connections configured.
    pub connections: usize,
    /// Last time a request or keep-alive was exchanged with this server (seconds since the Unix epoch).
    pub last_contact: Option<u64>,
    /// The last connection error, when disconnected.
    pub last_error: Option<String>,
}

/// The whole document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentStatus {
    /// Document format.
    pub format_version: u32,
    /// Instance name.
    pub instance: String,
    /// The agent's process id.
    pub pid: u32,
    /// When the agent started (seconds since the Unix epoch).
    pub started_at: u64,
    /// When this document was written (seconds since the Unix epoch).
    pub updated_at: u64,
    /// `listening`, `polling`, or `listening and polling`.
    pub mode: String,
    /// The listening address and port, when listening.
    pub listening_on: Option<String>,
    /// Each trusted server.
    pub servers: Vec<ServerStatus>,
    /// Scripts running now.
    pub running_scripts: usize,
    /// False once the agent has begun shutting down.
    pub running: bool,
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `<home>/status.json`.
pub fn path_in(home: &Path) -> PathBuf {
    home.join(FILE_NAME)
}

impl AgentStatus {
    /// Writes the document atomically.
    pub fn write(&self, home: &Path) -> Result<(), StatusError> {
        let path = path_in(home);
        let text = serde_json::to_vec_pretty(self).map_err(|e| StatusError::Invalid {
            message: e.to_string(),
            path: path.clone(),
        })?;
        write_atomic(&path, &text, FileMode::Public).map_err(|source| StatusError::Io {
            action: "write",
            source,
            path,
        })
    }

    /// [`AgentStatus::write`] on the blocking pool: its fsyncs of the file and the folder
    /// can take long on a busy disk and must not hold one of the agent's runtime workers.
    pub async fn write_off_runtime(self, home: PathBuf) -> Result<(), StatusError> {
        let path = path_in(&home);
        tokio::task::spawn_blocking(move || self.write(&home))
            .await
            .unwrap_or_else(|e| {
                Err(StatusError::Io {
                    action: "write",
                    source: std::io::Error::other(e),
                    path,
                })
            })
    }

    /// Reads the document; `None` when the agent has never run for this home folder.
    pub fn read(home: &Path) -> Result<Option<AgentStatus>, StatusError> {
        let path = path_in(home);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StatusError::Io {
                    action: "read",
                    source,
                    path,
                });
            }
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StatusError::Invalid {
                message: e.to_string(),
                path,
            })
    }

    /// True when the agent that wrote this is alive: running, and written recently.
    pub fn is_live(&self, now: u64) -> bool {
        self.running && now.saturating_sub(self.updated_at) <= STALE_AFTER.as_secs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> AgentStatus {
        AgentStatus {
            format_version: 1,
            instance: "Tentacle".into(),
            pid: 42,
            started_at: 100,
            updated_at: 200,
            mode: "polling".into(),
            listening_on: None,
            servers: vec![ServerStatus {
                thumbprint: "76F1E5F2B1B2C3D4E5F60718293A4B5C6D7E8F90".into(),
                style: "polling".into(),
                address: Some("https://octopus.example:10943/".into()),
                link: Some(LinkStatus::Connected),
                connections_up: 1,
                connections: 1,
                last_contact: Some(199),
                last_error: None,
            }],
            running_scripts: 0,
            running: true,
        }
    }

    #[test]
    fn round_trips_and_tells_live_from_stale() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(AgentStatus::read(dir.path()).unwrap(), None);
        sample().write(dir.path()).unwrap();
        let back = AgentStatus::read(dir.path()).unwrap().unwrap();
        assert_eq!(back, sample());
        assert!(back.is_live(205));
        assert!(!back.is_live(200 + STALE_AFTER.as_secs() + 1));
        let mut stopped = back;
        stopped.running = false;
        assert!(!stopped.is_live(200));
    }

    #[test]
    fn damaged_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        write_atomic(&path_in(dir.path()), b"{not json", FileMode::Public).unwrap();
        let e = AgentStatus::read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("not valid"), "{e}");
    }
}
