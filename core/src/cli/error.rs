//! What a `tentacle` command can fail with, and the exit code each failure gets.

use crate::certificate::CertificateError;
use crate::instance::InstanceError;
use crate::trust::TrustError;

/// A failed command. Every message is one line that names the problem and the fix.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line itself is wrong (exit code 2).
    #[error("{0}")]
    Usage(String),
    /// An option value is wrong (exit code 1).
    #[error("{0}")]
    Invalid(String),
    /// Instances and configuration.
    #[error(transparent)]
    Instance(#[from] InstanceError),
    /// Certificates.
    #[error(transparent)]
    Certificate(#[from] CertificateError),
    /// Thumbprints, styles and addresses.
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// The agent could not start or stopped with an error.
    #[error(transparent)]
    Agent(#[from] crate::agent::run::AgentError),
    /// Writing output.
    #[error("Could not write {what}: {source}: {}", path.display())]
    Output {
        /// What was being written.
        what: &'static str,
        /// Where.
        path: std::path::PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

impl CliError {
    /// Tentacle's exit codes: 2 for a command line it could not understand, 1 for a controlled failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            _ => 1,
        }
    }
}
