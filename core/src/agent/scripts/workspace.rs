//! `Work/<ticket>/`: ticket validation, the bootstrap script, ScriptFiles from DataStreams (refusing names that escape), `scriptstate.json`, deletion and the old-workspace cleaner.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::ScriptError;
use super::contracts::ProcessState;

/// The output log's file name.
pub const LOG_FILE: &str = "Output.log";
/// V2's persisted state.
pub const STATE_FILE: &str = "scriptstate.json";
/// The bootstrap script's file name on this platform.
pub const BOOTSTRAP_FILE: &str = if cfg!(windows) {
    "Bootstrap.ps1"
} else {
    "Bootstrap.sh"
};

/// Checks that a ticket can safely name a folder.
pub fn validate_ticket(ticket: &str) -> Result<(), ScriptError> {
    let ok = !ticket.is_empty()
        && ticket.len() <= 200
        && !ticket.starts_with('.')
        && ticket
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(ScriptError::BadTicket(ticket.chars().take(100).collect()))
    }
}

/// `scriptstate.json` (§6.5): `{Created, Started?, Completed?, State, ExitCode?, RanToCompletion?}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScriptState {
    /// When the workspace was prepared (RFC 3339).
    #[serde(rename = "Created")]
    pub created: String,
    /// When the shell started.
    #[serde(rename = "Started", default)]
    pub started: Option<String>,
    /// When it finished.
    #[serde(rename = "Completed", default)]
    pub completed: Option<String>,
    /// `ProcessState`.
    #[serde(rename = "State")]
    pub state: ProcessState,
    /// The final exit code.
    #[serde(rename = "ExitCode", default)]
    pub exit_code: Option<i32>,
    /// True when the shell ran and exited by itself.
    #[serde(rename = "RanToCompletion", default)]
    pub ran_to_completion: Option<bool>,
}

/// Now as RFC 3339 text.
pub fn now_text() -> String {
    ::bson::DateTime::now()
        .try_to_rfc3339_string()
        .unwrap_or_default()
}

/// One script's folder.
#[derive(Debug, Clone)]
pub struct Workspace {
    dir: PathBuf,
}

impl Workspace {
    /// The workspace of `ticket` under `work_dir` (the ticket must be valid).
    pub fn for_ticket(work_dir: &Path, ticket: &str) -> Result<Workspace, ScriptError> {
        validate_ticket(ticket)?;
        Ok(Workspace {
            dir: work_dir.join(ticket),
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `Output.log`.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join(LOG_FILE)
    }

    /// The bootstrap script.
    pub fn bootstrap_path(&self) -> PathBuf {
        self.dir.join(BOOTSTRAP_FILE)
    }

    /// Whether the folder exists.
    pub fn exists(&self) -> bool {
        self.dir.is_dir()
    }

    /// Where ScriptFile `name` goes, or an error when it would leave the workspace.
    pub fn resolve_file(&self, name: &str) -> Result<PathBuf, ScriptError> {
        let unsafe_name = || ScriptError::UnsafeFileName(name.chars().take(200).collect());
        // Windows separators in names the server built on Windows.
        let normalised = name.replace('\\', "/");
        let rel = Path::new(&normalised);
        if normalised.is_empty() || name.contains('\0') {
            return Err(unsafe_name());
        }
        let mut out = self.dir.clone();
        let mut parts = 0;
        for c in rel.components() {
            match c {
                Component::Normal(p) => {
                    out.push(p);
                    parts += 1;
                }
                Component::CurDir => {}
                Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                    return Err(unsafe_name());
                }
            }
        }
        if parts == 0 || out == self.log_path() || out == self.dir.join(STATE_FILE) {
            return Err(unsafe_name());
        }
        Ok(out)
    }

    /// Creates the folder, writes the bootstrap script and moves received files into place
    /// (blocking I/O).
    pub fn prepare(
        &self,
        script: &str,
        files: Vec<super::engine::ScriptFileIn>,
    ) -> Result<(), ScriptError> {
        super::private::create_dir_all(&self.dir).map_err(ScriptError::io(
            "Could not create the script workspace",
            &self.dir,
        ))?;
        let boot = self.bootstrap_path();
        let mut f = super::private::create_file(&boot).map_err(ScriptError::io(
            "Could not write the bootstrap script",
            &boot,
        ))?;
        let bytes: Vec<u8> = if cfg!(windows) {
            // UTF-8 with a BOM, as PowerShell 5 needs to read non-ASCII correctly.
            let mut b = vec![0xEF, 0xBB, 0xBF];
            b.extend_from_slice(script.as_bytes());
            b
        } else {
            script.replace("\r\n", "\n").into_bytes()
        };
        f.write_all(&bytes)
            .and_then(|()| f.flush())
            .map_err(ScriptError::io(
                "Could not write the bootstrap script",
                &boot,
            ))?;
        for file in files {
            let dest = file.dest;
            if let Some(parent) = dest.parent() {
                super::private::create_dir_all(parent)
                    .map_err(ScriptError::io("Could not create the folder", parent))?;
            }
            match file.encryption_password {
                None => file
                    .stream
                    .persist(&dest)
                    .map_err(ScriptError::io("Could not write the script file", &dest))?,
                Some(password) => {
                    let plain = file
                        .stream
                        .read_to_vec(super::encryption::MAX_ENCRYPTED_FILE)
                        .map_err(ScriptError::io("Could not read the script file", &dest))?;
                    let sealed = super::encryption::encrypt(
                        &password,
                        &super::encryption::as_utf8_text(&plain),
                    );
                    super::private::create_file(&dest)
                        .and_then(|mut f| f.write_all(&sealed).and_then(|()| f.flush()))
                        .map_err(ScriptError::io("Could not write the script file", &dest))?;
                }
            }
        }
        Ok(())
    }

    /// Reads `scriptstate.json`, if any.
    pub fn read_state(&self) -> Option<ScriptState> {
        let text = std::fs::read(self.dir.join(STATE_FILE)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Writes `scriptstate.json` through the shared atomic writer (blocking I/O): the file
    /// and the folder are fsynced, so after a power loss the state that said "Pending" is
    /// there and a retried V2 StartScript for the ticket is answered, not run twice.
    pub fn write_state(&self, state: &ScriptState) -> Result<(), ScriptError> {
        let path = self.dir.join(STATE_FILE);
        let json = serde_json::to_vec(state).map_err(|e| ScriptError::Internal(e.to_string()))?;
        crate::instance::atomic::write_atomic(
            &path,
            &json,
            // The folder is owner-only already; OwnerOnly would run icacls on every write on Windows.
            crate::instance::atomic::FileMode::Public,
        )
        .map_err(ScriptError::io("Could not write the script state", &path))
    }

    /// Removes the folder and everything in it; a missing folder is fine (blocking I/O).
    pub fn delete(&self) -> Result<(), ScriptError> {
        match std::fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ScriptError::io(
                "Could not delete the script workspace",
                &self.dir,
            )(e)),
        }
    }
}

/// The newest modification time of a workspace folder and its log.
fn last_activity(dir: &Path) -> Option<SystemTime> {
    let own = std::fs::metadata(dir).and_then(|m| m.modified()).ok()?;
    let log = std::fs::metadata(dir.join(LOG_FILE))
        .and_then(|m| m.modified())
        .ok();
    Some(log.map_or(own, |l| l.max(own)))
}

/// Deletes folders under `work_dir` untouched for longer than `older_than`, except those whose
/// names (case-insensitively) are in `keep`. Returns the names removed (blocking I/O).
pub fn clean(work_dir: &Path, older_than: Duration, keep: &HashSet<String>) -> Vec<String> {
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(work_dir) else {
        return removed;
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if keep.contains(&name.to_lowercase()) {
            continue;
        }
        let path = entry.path();
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let old = last_activity(&path)
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > older_than);
        if old {
            match std::fs::remove_dir_all(&path) {
                Ok(()) => removed.push(name),
                Err(e) => tracing::warn!(
                    workspace = %path.display(),
                    error = %e,
                    "could not delete an old script workspace"
                ),
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_and_file_names_cannot_escape() {
        for bad in ["", "..", ".hidden", "a/b", "a\\b", "x y", &"a".repeat(201)] {
            assert!(validate_ticket(bad).is_err(), "{bad:?}");
        }
        validate_ticket("20260817010203-123-7").unwrap();
        validate_ticket("q3vOAbc123").unwrap();
        let ws = Workspace::for_ticket(Path::new("/w"), "T1").unwrap();
        assert_eq!(
            ws.resolve_file("sub\\dir/file.txt").unwrap(),
            Path::new("/w/T1/sub/dir/file.txt")
        );
        assert_eq!(ws.resolve_file("./a").unwrap(), Path::new("/w/T1/a"));
        for bad in [
            "../x",
            "a/../../x",
            "/etc/passwd",
            "..\\x",
            "",
            ".",
            "Output.log",
        ] {
            assert!(ws.resolve_file(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn state_round_trips_and_cleaner_spares_kept_and_recent() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::for_ticket(dir.path(), "A").unwrap();
        ws.prepare("echo hi\r\n", Vec::new()).unwrap();
        assert_eq!(std::fs::read(ws.bootstrap_path()).unwrap(), b"echo hi\n");
        let st = ScriptState {
            created: now_text(),
            started: None,
            completed: None,
            state: ProcessState::Running,
            exit_code: None,
            ran_to_completion: None,
        };
        ws.write_state(&st).unwrap();
        assert_eq!(ws.read_state().unwrap().state, ProcessState::Running);
        Workspace::for_ticket(dir.path(), "B")
            .unwrap()
            .prepare("", Vec::new())
            .unwrap();
        let keep: HashSet<String> = ["a".to_owned()].into();
        assert!(clean(dir.path(), Duration::from_secs(3600), &keep).is_empty());
        std::thread::sleep(Duration::from_millis(20));
        let removed = clean(dir.path(), Duration::from_millis(1), &keep);
        assert_eq!(removed, ["B"]);
        assert!(ws.exists());
        ws.delete().unwrap();
        ws.delete().unwrap();
        assert!(!ws.exists());
    }
}
