//! Liveness for container health checks and watchdogs: `<home>/livez.heartbeat`, touched every 10 s by a healthy agent, and `tentacle livez`'s verdict on it (Tentacle's names and defaults).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The heartbeat file in the instance's home, as Tentacle names it.
pub const HEARTBEAT_FILE: &str = "livez.heartbeat";
/// How often a healthy agent touches it.
pub const INTERVAL: Duration = Duration::from_secs(10);
/// `tentacle livez`'s default threshold, as Tentacle's.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(60);

/// The heartbeat path of a home folder.
pub fn heartbeat_path(home: &Path) -> PathBuf {
    home.join(HEARTBEAT_FILE)
}

/// Touches the heartbeat from the agent's main loop: at most once per [`INTERVAL`], so the
/// file only stays fresh while that loop (and the runtime under it) keeps turning.
#[derive(Debug)]
pub struct Heartbeat {
    path: PathBuf,
    last: Option<std::time::Instant>,
}

impl Heartbeat {
    /// The heartbeat of the agent whose home is `home`.
    pub fn new(home: &Path) -> Heartbeat {
        Heartbeat {
            path: heartbeat_path(home),
            last: None,
        }
    }

    /// Touches the file when the interval has passed (off the async workers).
    pub async fn tick(&mut self) {
        if self.last.is_some_and(|t| t.elapsed() < INTERVAL) {
            return;
        }
        self.last = Some(std::time::Instant::now());
        let path = self.path.clone();
        let touched = tokio::task::spawn_blocking(move || touch(&path)).await;
        if let Ok(Err(e)) = touched {
            tracing::warn!(path = %self.path.display(), error = %e, "could not update the liveness heartbeat");
        }
    }

    /// Removes the file on a clean stop, so `tentacle livez` fails at once rather than after
    /// the threshold.
    pub async fn stopped(self) {
        let path = self.path;
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_file(path)).await;
    }
}

fn touch(path: &Path) -> std::io::Result<()> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    file.set_modified(SystemTime::now())
}

/// Why the agent is not live.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LivezError {
    /// No heartbeat file.
    #[error(
        "Liveness heartbeat file not found at {0}; the Tentacle agent may not be running (start it with tentacle agent or tentacle service --start)"
    )]
    Missing(String),
    /// Older than the threshold.
    #[error(
        "Liveness heartbeat at {path} is stale: last written {age_s}s ago (threshold {max_s}s); the agent is stopped or hung: see its log in the home folder's Logs"
    )]
    Stale {
        /// The file.
        path: String,
        /// Its age.
        age_s: u64,
        /// The threshold.
        max_s: u64,
    },
    /// The file could not be examined.
    #[error("Could not read the liveness heartbeat at {path} ({message})")]
    Unreadable {
        /// The file.
        path: String,
        /// The OS error.
        message: String,
    },
}

/// The verdict on `home`'s heartbeat: its age when it is fresh.
pub fn check(home: &Path, max_age: Duration) -> Result<Duration, LivezError> {
    let path = heartbeat_path(home);
    let shown = path.display().to_string();
    let modified = match std::fs::metadata(&path).and_then(|m| m.modified()) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(LivezError::Missing(shown));
        }
        Err(e) => {
            return Err(LivezError::Unreadable {
                path: shown,
                message: e.to_string(),
            });
        }
    };
    // A heartbeat from the future (clock stepped back) counts as fresh.
    let age = SystemTime::now()
        .duration_since(modified)
        .unwrap_or(Duration::ZERO);
    if age > max_age {
        return Err(LivezError::Stale {
            path: shown,
            age_s: age.as_secs(),
            max_s: max_age.as_secs(),
        });
    }
    Ok(age)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_touched_heartbeat_is_live_until_it_ages() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            check(dir.path(), DEFAULT_MAX_AGE),
            Err(LivezError::Missing(_))
        ));
        let mut hb = Heartbeat::new(dir.path());
        hb.tick().await;
        assert!(check(dir.path(), DEFAULT_MAX_AGE).is_ok());
        let old = SystemTime::now() - Duration::from_secs(120);
        std::fs::File::options()
            .write(true)
            .open(heartbeat_path(dir.path()))
            .unwrap()
            .set_modified(old)
            .unwrap();
        let e = check(dir.path(), DEFAULT_MAX_AGE).unwrap_err();
        assert!(e.to_string().contains("stale"), "{e}");
        // Within the interval a second tick does not touch it again.
        hb.tick().await;
        assert!(check(dir.path(), DEFAULT_MAX_AGE).is_err());
        hb.stopped().await;
        assert!(!heartbeat_path(dir.path()).exists());
    }
}
