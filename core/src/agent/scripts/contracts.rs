//! The script services' wire types (tentacle-contracts-wire.md "Wire shapes"): `$type` names, field order, BSON widths, exit codes, and lenient request parsing.

use ::bson::{Bson, Document};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::ScriptError;
use crate::halibut::bson::{from_bson, parse_timespan};

/// `$type` names, as .NET with legacy support sends them (V1 types under `Octopus.Shared`).
pub mod type_names {
    /// V1 StartScript parameter.
    pub const START_SCRIPT_COMMAND: &str =
        "Octopus.Shared.Contracts.StartScriptCommand, Octopus.Shared";
    /// V1 GetStatus parameter.
    pub const SCRIPT_STATUS_REQUEST: &str =
        "Octopus.Shared.Contracts.ScriptStatusRequest, Octopus.Shared";
    /// V1 CancelScript parameter.
    pub const CANCEL_SCRIPT_COMMAND: &str =
        "Octopus.Shared.Contracts.CancelScriptCommand, Octopus.Shared";
    /// V1 CompleteScript parameter.
    pub const COMPLETE_SCRIPT_COMMAND: &str =
        "Octopus.Shared.Contracts.CompleteScriptCommand, Octopus.Shared";
    /// V1 StartScript result.
    pub const SCRIPT_TICKET: &str = "Octopus.Shared.Contracts.ScriptTicket, Octopus.Shared";
    /// V1 status result.
    pub const SCRIPT_STATUS_RESPONSE: &str =
        "Octopus.Shared.Contracts.ScriptStatusResponse, Octopus.Shared";
    /// V2 StartScript parameter.
    pub const START_SCRIPT_COMMAND_V2: &str = "Octopus.Tentacle.Contracts.ScriptServiceV2.StartScriptCommandV2, Octopus.Tentacle.Contracts";
    /// V2 GetStatus parameter.
    pub const SCRIPT_STATUS_REQUEST_V2: &str = "Octopus.Tentacle.Contracts.ScriptServiceV2.ScriptStatusRequestV2, Octopus.Tentacle.Contracts";
    /// V2 CancelScript parameter.
    pub const CANCEL_SCRIPT_COMMAND_V2: &str = "Octopus.Tentacle.Contracts.ScriptServiceV2.CancelScriptCommandV2, Octopus.Tentacle.Contracts";
    /// V2 CompleteScript parameter.
    pub const COMPLETE_SCRIPT_COMMAND_V2: &str = "Octopus.Tentacle.Contracts.ScriptServiceV2.CompleteScriptCommandV2, Octopus.Tentacle.Contracts";
    /// V2 status result.
    pub const SCRIPT_STATUS_RESPONSE_V2: &str = "Octopus.Tentacle.Contracts.ScriptServiceV2.ScriptStatusResponseV2, Octopus.Tentacle.Contracts";
}

/// `ScriptExitCodes` (plain int constants in .NET).
pub mod exit_codes {
    /// While running.
    pub const RUNNING: i32 = 0;
    /// Tentacle itself failed to run the script.
    pub const FATAL: i32 = -41;
    /// PowerShell could not be invoked.
    pub const POWERSHELL_INVOCATION_ERROR: i32 = -42;
    /// Cancelled by the server.
    pub const CANCELED: i32 = -43;
    /// The isolation mutex was not acquired in time.
    pub const TIMEOUT: i32 = -44;
    /// V2: no such ticket and no persisted state.
    pub const UNKNOWN_SCRIPT: i32 = -45;
    /// V2: persisted state says it never finished (the agent restarted mid-script).
    pub const UNKNOWN_RESULT: i32 = -46;
    /// PowerShell never started.
    pub const POWERSHELL_NEVER_STARTED: i32 = -47;
}

/// `ProcessState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProcessState {
    /// Waiting for the isolation lock.
    Pending = 0,
    /// The shell is running.
    Running = 1,
    /// Finished; the exit code is final.
    Complete = 2,
}

/// `ProcessOutputSource`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessOutputSource {
    /// The script's stdout (and Tentacle's own messages).
    StdOut = 0,
    /// The script's stderr.
    StdErr = 1,
    /// Diagnostics.
    Debug = 2,
}

impl ProcessOutputSource {
    /// The word `Output.log` uses.
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessOutputSource::StdOut => "stdout",
            ProcessOutputSource::StdErr => "stderr",
            ProcessOutputSource::Debug => "debug",
        }
    }

    /// From the `Output.log` word.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "stdout" => Some(ProcessOutputSource::StdOut),
            "stderr" => Some(ProcessOutputSource::StdErr),
            "debug" => Some(ProcessOutputSource::Debug),
            _ => None,
        }
    }
}

/// `ScriptIsolationLevel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Shared (read) lock.
    NoIsolation,
    /// Exclusive (write) lock.
    FullIsolation,
}

/// `ScriptTicket`, a nested document `{TaskId}` (never `$type`d except as V1's StartScript result).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptTicket {
    /// The ticket text (compared case-insensitively).
    #[serde(rename = "TaskId")]
    pub task_id: Option<String>,
}

/// `ScriptFile`: a file to put in the workspace, its bytes in a DataStream.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ScriptFile {
    /// Path relative to the workspace.
    #[serde(rename = "Name")]
    pub name: Option<String>,
    /// The DataStream placeholder `{id, length}`.
    #[serde(rename = "Contents")]
    pub contents: Option<Document>,
    /// Set when the file must be written AES-encrypted.
    #[serde(rename = "EncryptionPassword")]
    pub encryption_password: Option<String>,
}

/// `StartScriptCommand` (V1), fields in wire order.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StartScriptCommand {
    /// Bootstrap body (used on Linux when `Scripts` has no `Bash`).
    #[serde(rename = "ScriptBody")]
    pub script_body: Option<String>,
    /// 0 NoIsolation, 1 FullIsolation.
    #[serde(rename = "Isolation")]
    pub isolation: i32,
    /// Keyed `PowerShell` / `Bash`.
    #[serde(rename = "Scripts")]
    pub scripts: Option<Document>,
    /// Extra files.
    #[serde(rename = "Files")]
    pub files: Option<Vec<ScriptFile>>,
    /// Script arguments.
    #[serde(rename = "Arguments")]
    pub arguments: Option<Vec<String>>,
    /// Server task id, e.g. `ServerTasks-123`.
    #[serde(rename = "TaskId")]
    pub task_id: Option<String>,
    /// TimeSpan text; `00:00:00` means no timeout.
    #[serde(rename = "ScriptIsolationMutexTimeout")]
    pub script_isolation_mutex_timeout: Option<String>,
    /// Null means `RunningScript`.
    #[serde(rename = "IsolationMutexName")]
    pub isolation_mutex_name: Option<String>,
}

/// `StartScriptCommandV2`, fields in wire order.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StartScriptCommandV2 {
    /// Client-minted ticket.
    #[serde(rename = "ScriptTicket")]
    pub script_ticket: Option<ScriptTicket>,
    /// Bootstrap body.
    #[serde(rename = "ScriptBody")]
    pub script_body: Option<String>,
    /// Server task id.
    #[serde(rename = "TaskId")]
    pub task_id: Option<String>,
    /// If set, StartScript waits up to this long for the script to finish.
    #[serde(rename = "DurationToWaitForScriptToFinish")]
    pub duration_to_wait_for_script_to_finish: Option<String>,
    /// 0 NoIsolation, 1 FullIsolation.
    #[serde(rename = "Isolation")]
    pub isolation: i32,
    /// TimeSpan text; `00:00:00` means no timeout.
    #[serde(rename = "ScriptIsolationMutexTimeout")]
    pub script_isolation_mutex_timeout: Option<String>,
    /// Null means `RunningScript`.
    #[serde(rename = "IsolationMutexName")]
    pub isolation_mutex_name: Option<String>,
    /// Keyed `PowerShell` / `Bash`.
    #[serde(rename = "Scripts")]
    pub scripts: Option<Document>,
    /// Extra files.
    #[serde(rename = "Files")]
    pub files: Option<Vec<ScriptFile>>,
    /// Script arguments.
    #[serde(rename = "Arguments")]
    pub arguments: Option<Vec<String>>,
}

/// `ScriptStatusRequest`, `CancelScriptCommand`, `CompleteScriptCommand` (V1) and the V2
/// status and cancel requests: `{Ticket, LastLogSequence}`. V2 Complete has only `Ticket`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TicketRequest {
    /// Which script.
    #[serde(rename = "Ticket")]
    pub ticket: Option<ScriptTicket>,
    /// How many log entries the caller has already seen.
    #[serde(rename = "LastLogSequence", skip_serializing_if = "Option::is_none")]
    pub last_log_sequence: Option<i64>,
}

/// `ProcessOutput`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessOutput {
    /// 0 StdOut, 1 StdErr, 2 Debug.
    #[serde(rename = "Source")]
    pub source: i32,
    /// When the line was captured (UTC, ms precision on the wire).
    #[serde(rename = "Occurred")]
    pub occurred: ::bson::DateTime,
    /// The line without its terminator.
    #[serde(rename = "Text")]
    pub text: String,
}

/// `ScriptStatusResponse` / `ScriptStatusResponseV2`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScriptStatusResponse {
    /// Which script.
    #[serde(rename = "Ticket")]
    pub ticket: ScriptTicket,
    /// Log entries after the caller's sequence (one page).
    #[serde(rename = "Logs")]
    pub logs: Vec<ProcessOutput>,
    /// The caller's next `LastLogSequence`.
    #[serde(rename = "NextLogSequence")]
    pub next_log_sequence: i64,
    /// `ProcessState` as int32.
    #[serde(rename = "State")]
    pub state: i32,
    /// The exit code (0 while running).
    #[serde(rename = "ExitCode")]
    pub exit_code: i32,
}

/// The single document parameter of a method, read into `T`.
pub fn single_param<T: DeserializeOwned>(params: Vec<Bson>, what: &str) -> Result<T, ScriptError> {
    let mut params = params.into_iter();
    let (Some(first), None) = (params.next(), params.next()) else {
        return Err(ScriptError::BadRequest(format!(
            "expected exactly one {what} parameter"
        )));
    };
    if !matches!(first, Bson::Document(_)) {
        return Err(ScriptError::BadRequest(format!(
            "the {what} parameter must be a document, not {:?}",
            first.element_type()
        )));
    }
    from_bson(first).map_err(|e| ScriptError::BadRequest(format!("cannot read the {what}: {e}")))
}

/// The ticket text of a request, or a clear error.
pub fn require_ticket(ticket: Option<ScriptTicket>, what: &str) -> Result<String, ScriptError> {
    match ticket.and_then(|t| t.task_id) {
        Some(t) if !t.is_empty() => Ok(t),
        _ => Err(ScriptError::BadRequest(format!(
            "the {what} has no Ticket.TaskId"
        ))),
    }
}

/// `Isolation` int32 to the enum.
pub fn isolation(value: i32) -> Result<Isolation, ScriptError> {
    match value {
        0 => Ok(Isolation::NoIsolation),
        1 => Ok(Isolation::FullIsolation),
        n => Err(ScriptError::BadRequest(format!(
            "unknown Isolation level {n}; expected 0 (NoIsolation) or 1 (FullIsolation)"
        ))),
    }
}

/// Reads a TimeSpan string; null or missing means zero.
pub fn timespan(value: Option<&str>, field: &str) -> Result<std::time::Duration, ScriptError> {
    match value {
        None => Ok(std::time::Duration::ZERO),
        Some(s) => parse_timespan(s).ok_or_else(|| {
            ScriptError::BadRequest(format!("{field} '{s}' is not a TimeSpan such as 00:05:00"))
        }),
    }
}

/// The script for this platform from `Scripts` (keys by name, or numeric strings as .NET
/// also accepts), else `ScriptBody`.
pub fn platform_script(scripts: Option<&Document>, body: Option<&str>) -> Option<String> {
    let (name, number) = if cfg!(windows) {
        ("PowerShell", "0")
    } else {
        ("Bash", "1")
    };
    let from_dict = scripts.and_then(|d| {
        d.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name) || k.as_str() == number)
            .and_then(|(_, v)| match v {
                Bson::String(s) => Some(s.clone()),
                _ => None,
            })
    });
    from_dict.or_else(|| body.map(str::to_owned))
}
