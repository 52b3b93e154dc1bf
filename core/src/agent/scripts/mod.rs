//! Script execution: `IScriptService` (V1) and `IScriptServiceV2` over one shared [`ScriptEngine`].
//!
//! | file | what it holds |
//! |---|---|
//! | `contracts` | the wire types, `$type` names, exit codes and request parsing |
//! | `engine` | [`ScriptEngine`]: running scripts by ticket, status, cancel, complete, cleaning, idle wait |
//! | `interpreter` | what to say when bash or PowerShell cannot be started, and how to fix it |
//! | `runner` | the shell process: command line, exported environment, process group, output pump, kill |
//! | `log` | the per-script `Output.log` file and paged reads by log sequence |
//! | `isolation` | named reader/writer isolation locks with Tentacle's wait, timeout and cancel messages |
//! | `workspace` | `Work/<ticket>`: ticket checks, bootstrap script, ScriptFiles, `scriptstate.json`, cleaning |
//! | `v1`, `v2` | the two Halibut services |
//!
//! Scripts run on their own tokio tasks, so they keep running when the Halibut connection that
//! started them goes away; their output and state live in the workspace.

pub mod contracts;
pub mod encryption;
pub mod engine;
pub mod interpreter;
pub mod isolation;
pub mod log;
pub mod private;
pub mod runner;
pub mod v1;
pub mod v2;
pub mod workspace;

#[cfg(test)]
#[cfg(unix)]
mod tests;

use std::path::PathBuf;

use crate::halibut::rpc::ServiceError;

pub use contracts::{ProcessOutputSource, ProcessState, exit_codes};
pub use engine::{ScriptEngine, StartRequest, StatusSnapshot, workspace_retention_from_env};
pub use v1::ScriptServiceV1;
pub use v2::ScriptServiceV2;

/// Why a script request could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// The request lacks something it must carry, or carries it in the wrong shape.
    #[error("{0}")]
    BadRequest(String),
    /// The ticket cannot name a workspace folder.
    #[error(
        "The script ticket '{0}' is not valid: it must be 1-200 characters of letters, digits, '-', '_' or '.', and not start with '.'"
    )]
    BadTicket(String),
    /// A ScriptFile name would land outside the workspace.
    #[error(
        "The script file name '{0}' is not allowed: it must be a relative path inside the script's workspace, without '..'"
    )]
    UnsafeFileName(String),
    /// A ScriptFile references a DataStream that did not arrive with the request.
    #[error("The script file '{0}' references a DataStream that was not received with the request")]
    MissingStream(String),
    /// Encrypted ScriptFiles need AES support this build does not have.
    /// The workspace could not be prepared, read or removed.
    #[error("{action} '{}': {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// Where.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A background task failed unexpectedly.
    #[error("internal error while handling the script: {0}")]
    Internal(String),
}

impl ScriptError {
    /// An I/O failure on `path`.
    pub fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| ScriptError::Io {
            action,
            path,
            source,
        }
    }
}

impl From<ScriptError> for ServiceError {
    fn from(e: ScriptError) -> ServiceError {
        match e {
            ScriptError::BadRequest(_)
            | ScriptError::BadTicket(_)
            | ScriptError::UnsafeFileName(_)
            | ScriptError::MissingStream(_) => ServiceError::BadArguments(e.to_string()),
            ScriptError::Io { .. } | ScriptError::Internal(_) => {
                ServiceError::Failed(e.to_string())
            }
        }
    }
}
