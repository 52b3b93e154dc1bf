//! Tentacle instances: the instance index, each instance's TOML configuration, where they live, and how they are written safely.

pub mod atomic;
mod config;
mod index;
mod listen;
mod name;
pub mod private;
mod root;

use std::io;
use std::path::PathBuf;

pub use config::{
    CONFIG_FORMAT_VERSION, CertificateRef, Communication, DEFAULT_LISTEN_PORT,
    DEFAULT_POLLING_PORT, PreauthSettings, ProxyMode, ProxySettings, TentacleConfig,
};
pub use index::{InstanceRecord, Instances};
pub use listen::BindFailure;
pub use name::{DEFAULT_INSTANCE, display_name, validate as validate_name};
pub use root::{CONFIG_ROOT_ENV, ConfigRoot, Scope, is_privileged};

/// Everything that can go wrong with instances and their configuration.
#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    /// The name has a character or length we cannot use.
    #[error("Instance name '{name}' is not valid: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong with it and what is allowed.
        reason: String,
    },
    /// No instance with that name (case-insensitive).
    #[error(
        "Instance '{name}' of Tentacle has not been configured on this machine. {available} Create it with: tentacle create-instance --instance \"{name}\""
    )]
    NotFound {
        /// The name asked for.
        name: String,
        /// "Available instances: a, b." or "No instances exist yet."
        available: String,
    },
    /// Several instances and no `--instance`.
    #[error(
        "There is more than one instance of Tentacle configured on this machine ({names}). Pass --instance=INSTANCENAME to choose one"
    )]
    Ambiguous {
        /// The instance names.
        names: String,
    },
    /// An instance with that name (case-insensitive) exists.
    #[error(
        "An instance named '{existing}' already exists (names are not case-sensitive). Pick another name, or remove it first with: tentacle delete-instance --instance \"{existing}\""
    )]
    Duplicate {
        /// The existing instance's name.
        existing: String,
    },
    /// The config file is gone.
    #[error(
        "The configuration file does not exist. Recreate the instance with tentacle create-instance, or remove it with tentacle delete-instance: {}",
        path.display()
    )]
    ConfigMissing {
        /// Where it should be.
        path: PathBuf,
    },
    /// `create` found a file already there.
    #[error("A configuration file already exists; refusing to replace it: {}", path.display())]
    ConfigExists {
        /// The existing file.
        path: PathBuf,
    },
    /// The TOML does not parse.
    #[error(
        "The configuration does not parse at line {line}, column {column}: {message}. Fix the file or restore a backup; Tentacle will not overwrite it: {}",
        path.display()
    )]
    ConfigUnparseable {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// The parser's explanation.
        message: String,
    },
    /// Written by a newer build.
    #[error(
        "The configuration uses format {found}, but this Tentacle understands format {supported} at most. Upgrade Tentacle to use it: {}",
        path.display()
    )]
    ConfigTooNew {
        /// The file.
        path: PathBuf,
        /// Its format version.
        found: u32,
        /// Ours.
        supported: u32,
    },
    /// An index record that is not ours or is damaged.
    #[error(
        "The instance index entry is damaged ({message}). Delete it and recreate the instance: {}",
        path.display()
    )]
    IndexDamaged {
        /// The record file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// No per-user config folder on this system.
    #[error(
        "Cannot find this user's configuration folder (is HOME set?). Set TENTACLE_CONFIG_ROOT to the folder Tentacle should use"
    )]
    NoUserConfigDir,
    /// TOML serialisation failed (a bug, not bad input).
    #[error("Could not serialise the configuration: {0}")]
    Serialize(String),
    /// A file system operation failed.
    #[error("Could not {action}: {} ({hint}): {}", source, path.display())]
    Io {
        /// What we were doing.
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
        /// What to do about it.
        hint: &'static str,
    },
}

impl InstanceError {
    pub(crate) fn io(
        action: &'static str,
        path: &std::path::Path,
        source: io::Error,
    ) -> InstanceError {
        let hint = match source.kind() {
            io::ErrorKind::PermissionDenied => {
                "permission denied: run as root or Administrator, or set TENTACLE_CONFIG_ROOT to a folder you own"
            }
            io::ErrorKind::TimedOut => {
                "close the other program or wait for it to finish, then try again"
            }
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => {
                "free some disk space and try again"
            }
            _ => "check the path exists and is writable",
        };
        InstanceError::Io {
            action,
            path: path.to_path_buf(),
            source,
            hint,
        }
    }
}
