//! Where instances live: `TENTACLE_CONFIG_ROOT`, else machine-wide when privileged, else per user.

use std::path::{Path, PathBuf};

use super::InstanceError;

/// Overrides every other location; tests and outside checks use it.
pub const CONFIG_ROOT_ENV: &str = "TENTACLE_CONFIG_ROOT";

/// Why the root is where it is; the manager tells the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Set by `TENTACLE_CONFIG_ROOT`.
    Override,
    /// Running as root or Administrator: instances are machine-wide.
    Machine,
    /// Running as an ordinary user: instances belong to this user only.
    User,
}

/// The folder that holds the instance index and, by default, each instance's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigRoot {
    dir: PathBuf,
    scope: Scope,
}

impl ConfigRoot {
    /// Picks the root for this process: the override, the machine-wide folder when
    /// privileged, or this user's config folder.
    pub fn discover() -> Result<ConfigRoot, InstanceError> {
        if let Some(dir) = std::env::var_os(CONFIG_ROOT_ENV).filter(|v| !v.is_empty()) {
            return Ok(ConfigRoot {
                dir: PathBuf::from(dir),
                scope: Scope::Override,
            });
        }
        if is_privileged() {
            return Ok(ConfigRoot {
                dir: machine_dir(),
                scope: Scope::Machine,
            });
        }
        let dirs = directories::ProjectDirs::from("", "", "tentacle")
            .ok_or(InstanceError::NoUserConfigDir)?;
        Ok(ConfigRoot {
            dir: dirs.config_dir().to_path_buf(),
            scope: Scope::User,
        })
    }

    /// A root at an explicit folder (tests, `--config-root` style callers).
    pub fn at(dir: impl Into<PathBuf>) -> ConfigRoot {
        ConfigRoot {
            dir: dir.into(),
            scope: Scope::Override,
        }
    }

    /// The root folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Why this root was chosen.
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// The folder of index records, one small TOML file per instance.
    pub fn index_dir(&self) -> PathBuf {
        self.dir.join("instances")
    }

    /// Where an instance's files go when `create-instance` is given no `--config`.
    pub fn default_instance_dir(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// One sentence for the manager and `list-instances` about whose instances these are.
    pub fn describe(&self) -> String {
        match self.scope {
            Scope::Override => format!(
                "Instances are read from {CONFIG_ROOT_ENV}: {}",
                self.dir.display()
            ),
            Scope::Machine => format!("Machine-wide instances: {}", self.dir.display()),
            Scope::User => format!(
                "Not running as {}: showing this user's instances only. Run as {} to manage machine-wide instances: {}",
                admin_word(),
                admin_word(),
                self.dir.display()
            ),
        }
    }
}

fn admin_word() -> &'static str {
    if cfg!(windows) {
        "Administrator"
    } else {
        "root"
    }
}

#[cfg(unix)]
fn machine_dir() -> PathBuf {
    PathBuf::from("/etc/tentacle")
}

#[cfg(windows)]
fn machine_dir() -> PathBuf {
    let base = std::env::var_os("ProgramData")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(r"C:\ProgramData"));
    base.join("Tentacle")
}

#[cfg(not(any(unix, windows)))]
fn machine_dir() -> PathBuf {
    PathBuf::from("tentacle")
}

/// True when running as root (Unix) or elevated (Windows).
#[cfg(unix)]
pub fn is_privileged() -> bool {
    rustix::process::geteuid().is_root()
}

/// True when running as root (Unix) or elevated (Windows).
#[cfg(windows)]
pub fn is_privileged() -> bool {
    // The High Mandatory Level SID appears in the token only when elevated; whoami is on
    // every Windows and keeps this crate free of unsafe FFI.
    std::process::Command::new("whoami")
        .arg("/groups")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("S-1-16-12288"))
        .unwrap_or(false)
}

/// True when running as root (Unix) or elevated (Windows).
#[cfg(not(any(unix, windows)))]
pub fn is_privileged() -> bool {
    false
}
