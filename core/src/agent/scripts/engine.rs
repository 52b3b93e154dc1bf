//! [`ScriptEngine`]: the scripts of one agent by ticket, shared by the V1 and V2 services — start (idempotent per ticket), status pages, cancel, complete, the workspace cleaner and the idle wait for a graceful stop.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, watch};

use super::ScriptError;
use super::contracts::{
    Isolation, ProcessOutput, ProcessOutputSource, ProcessState, ScriptFile, ScriptStatusResponse,
    ScriptTicket, exit_codes,
};
use super::isolation::{AcquireError, IsolationLocks};
use super::log::{LogPage, ScriptLog};
use super::runner::{self, Outcome};
use super::workspace::{self, ScriptState, Workspace, now_text};
use crate::agent::AgentContext;

mod supervise;
use crate::halibut::connection::ReceivedStream;
use crate::halibut::message::DataStreamRef;
#[cfg(test)]
pub(crate) use supervise::panic_task;

/// What an unknown ticket reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownPolicy {
    /// V1 (state in memory only): Complete with exit code 0 and whatever `Output.log` holds.
    V1,
    /// V2: the persisted `scriptstate.json` (an unfinished one becomes −46), else −45.
    V2,
}

/// A script to start.
#[derive(Debug)]
pub struct StartRequest {
    /// The ticket (validated by the engine).
    pub ticket: String,
    /// The server task, named in isolation messages.
    pub task_id: String,
    /// The bootstrap script's text.
    pub script: String,
    /// Script arguments.
    pub arguments: Vec<String>,
    /// Lock mode.
    pub isolation: Isolation,
    /// How long to wait for the lock; zero means no timeout.
    pub mutex_timeout: Duration,
    /// Lock name.
    pub mutex_name: String,
    /// Files for the workspace, their contents as DataStream placeholders.
    pub files: Vec<ScriptFile>,
    /// The DataStreams that came with the request.
    pub streams: Vec<ReceivedStream>,
}

/// A script's status with one page of its log.
#[derive(Debug, Clone)]
pub struct StatusSnapshot {
    /// The ticket as the caller gave it.
    pub ticket: String,
    /// Log entries after the caller's sequence.
    pub logs: Vec<ProcessOutput>,
    /// The caller's next sequence.
    pub next_log_sequence: i64,
    /// Pending, Running or Complete.
    pub state: ProcessState,
    /// The exit code (0 until Complete).
    pub exit_code: i32,
}

impl StatusSnapshot {
    /// As the wire's ScriptStatusResponse(V2).
    pub fn into_response(self) -> ScriptStatusResponse {
        ScriptStatusResponse {
            ticket: ScriptTicket {
                task_id: Some(self.ticket),
            },
            logs: self.logs,
            next_log_sequence: self.next_log_sequence,
            state: self.state as i32,
            exit_code: self.exit_code,
        }
    }
}

/// What StartScript did.
#[derive(Debug)]
pub enum Started {
    /// A new run began.
    New,
    /// The ticket was already known (running, finished, or persisted on disk); nothing ran.
    Existing,
}

struct Script {
    workspace: Workspace,
    log: Arc<ScriptLog>,
    status: watch::Sender<(ProcessState, i32)>,
    cancel: watch::Sender<bool>,
}

/// The agent's script runner; hold it in an `Arc` and share it between the services.
pub struct ScriptEngine {
    ctx: AgentContext,
    scripts: Mutex<HashMap<String, Arc<Script>>>,
    start_lock: tokio::sync::Mutex<()>,
    locks: IsolationLocks,
    counter: AtomicU64,
    idle: Notify,
}

impl std::fmt::Debug for ScriptEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptEngine")
            .field("work_dir", &self.ctx.work_dir)
            .field("running", &self.running())
            .finish()
    }
}

/// `TENTACLE_WORKSPACE_CLEANER_DELETE_OLDER_THAN` (a TimeSpan such as `1.00:00:00`, or seconds), default 1 day.
pub fn workspace_retention_from_env() -> Duration {
    std::env::var("TENTACLE_WORKSPACE_CLEANER_DELETE_OLDER_THAN")
        .ok()
        .and_then(|v| {
            let v = v.trim();
            crate::halibut::bson::parse_timespan(v)
                .or_else(|| v.parse::<u64>().ok().map(Duration::from_secs))
        })
        .unwrap_or(Duration::from_secs(86_400))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ScriptError> + Send + 'static,
) -> Result<T, ScriptError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ScriptError::Internal(e.to_string()))?
}

fn key(ticket: &str) -> String {
    ticket.to_ascii_lowercase()
}

impl ScriptEngine {
    /// An engine running scripts under `ctx.work_dir`.
    pub fn new(ctx: AgentContext) -> Arc<ScriptEngine> {
        Arc::new(ScriptEngine {
            ctx,
            scripts: Mutex::new(HashMap::new()),
            start_lock: tokio::sync::Mutex::new(()),
            locks: IsolationLocks::new(),
            counter: AtomicU64::new(0),
            idle: Notify::new(),
        })
    }

    /// The instance context.
    pub fn context(&self) -> &AgentContext {
        &self.ctx
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Script>>> {
        self.scripts.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, ticket: &str) -> Option<Arc<Script>> {
        self.table().get(&key(ticket)).cloned()
    }

    /// A V1 ticket: `yyyyMMddHHmmss-<task id without "ServerTasks-">-<counter>`, UTC.
    pub fn mint_v1_ticket(&self, task_id: Option<&str>) -> String {
        let now = time::OffsetDateTime::now_utc();
        let task: String = task_id
            .unwrap_or_default()
            .replace("ServerTasks-", "")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(100)
            .collect();
        let n = self.counter.fetch_add(1, Ordering::Relaxed) + 1;
        format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}-{task}-{n}",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second()
        )
    }

    /// Prepares the workspace and starts the script in the background; a ticket that is
    /// already known (in memory or persisted) is not run again.
    pub async fn start(self: &Arc<Self>, req: StartRequest) -> Result<Started, ScriptError> {
        let ws = Workspace::for_ticket(&self.ctx.work_dir, &req.ticket)?;
        let _serial = self.start_lock.lock().await;
        if self.get(&req.ticket).is_some() || ws.read_state().is_some() {
            return Ok(Started::Existing);
        }
        // Octopus Server's "Upgrade Tentacle" would replace this agent: run a refusal instead.
        let refusal =
            crate::agent::upgrade_guard::screen(&self.ctx, &req.script, &req.files, &req.arguments);
        let files = match_files(&ws, req.files, req.streams)?;
        let (script_text, files) = match refusal {
            Some(refusal) => (refusal, Vec::new()),
            None => (req.script, files),
        };
        let prep_ws = ws.clone();
        let log = blocking(move || {
            prep_ws.prepare(&script_text, files)?;
            prep_ws.write_state(&ScriptState {
                created: now_text(),
                started: None,
                completed: None,
                state: ProcessState::Pending,
                exit_code: None,
                ran_to_completion: None,
            })?;
            let path = prep_ws.log_path();
            ScriptLog::open(&path).map_err(ScriptError::io("Could not open the script log", path))
        })
        .await?;
        let script = Arc::new(Script {
            workspace: ws,
            log: Arc::new(log),
            status: watch::channel((ProcessState::Pending, exit_codes::RUNNING)).0,
            cancel: watch::channel(false).0,
        });
        self.table().insert(key(&req.ticket), script.clone());
        tracing::info!(ticket = %req.ticket, task = %req.task_id, isolation = ?req.isolation, "starting script");
        let engine = self.clone();
        let run = RunParams {
            ticket: req.ticket,
            task_id: req.task_id,
            arguments: req.arguments,
            isolation: req.isolation,
            mutex_timeout: req.mutex_timeout,
            mutex_name: req.mutex_name,
        };
        supervise::spawn(engine, script, run);
        Ok(Started::New)
    }

    async fn execute(self: Arc<Self>, script: Arc<Script>, p: RunParams) {
        #[cfg(test)]
        if p.task_id == supervise::PANIC_TASK {
            panic!("injected by a test: the script task panics");
        }
        let mut cancel = script.cancel.subscribe();
        let log = script.log.clone();
        let say = move |source: ProcessOutputSource, text: &str| {
            let _ = log.append(source, text);
            let _ = log.flush();
        };
        let say_out = {
            let say = say.clone();
            move |text: String| say(ProcessOutputSource::StdOut, &text)
        };
        let (code, ran) = match self
            .locks
            .acquire(
                &p.mutex_name,
                p.isolation,
                p.mutex_timeout,
                &p.task_id,
                &say_out,
                &mut cancel,
            )
            .await
        {
            Err(AcquireError::TimedOut) => {
                say(ProcessOutputSource::StdOut, "Script execution timed out.");
                (exit_codes::TIMEOUT, false)
            }
            Err(AcquireError::Canceled) => {
                say(ProcessOutputSource::StdOut, "Script execution canceled.");
                (exit_codes::CANCELED, false)
            }
            Ok(_guard) => {
                script
                    .status
                    .send_replace((ProcessState::Running, exit_codes::RUNNING));
                self.persist(&script, ProcessState::Running, None, None)
                    .await;
                let cmd = runner::shell_command(&script.workspace, &p.arguments, &self.ctx);
                let ticket = p.ticket.clone();
                let outcome = runner::run(cmd, script.log.clone(), &mut cancel, |pid| {
                    tracing::debug!(%ticket, pid, "script process started");
                })
                .await;
                match outcome {
                    Outcome::Exited(code) => (code, true),
                    Outcome::Canceled => {
                        say(ProcessOutputSource::StdOut, "Script execution canceled.");
                        (exit_codes::CANCELED, false)
                    }
                    Outcome::FailedToStart(e) => {
                        say(
                            ProcessOutputSource::StdErr,
                            &format!("An exception was thrown when invoking the shell: {e}"),
                        );
                        (exit_codes::POWERSHELL_INVOCATION_ERROR, false)
                    }
                }
            }
        };
        let _ = script.log.flush();
        self.persist(&script, ProcessState::Complete, Some(code), Some(ran))
            .await;
        script.status.send_replace((ProcessState::Complete, code));
        tracing::info!(ticket = %p.ticket, exit_code = code, "script finished");
        self.idle.notify_waiters();
    }

    async fn persist(
        &self,
        script: &Script,
        state: ProcessState,
        exit_code: Option<i32>,
        ran: Option<bool>,
    ) {
        let ws = script.workspace.clone();
        let r = blocking(move || {
            let mut s = ws.read_state().unwrap_or(ScriptState {
                created: now_text(),
                started: None,
                completed: None,
                state,
                exit_code: None,
                ran_to_completion: None,
            });
            s.state = state;
            match state {
                ProcessState::Running => s.started = Some(now_text()),
                ProcessState::Complete => s.completed = Some(now_text()),
                ProcessState::Pending => {}
            }
            s.exit_code = exit_code;
            s.ran_to_completion = ran;
            ws.write_state(&s)
        })
        .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "could not persist the script state");
        }
    }

    /// The status of `ticket` with the log entries after `after`.
    pub async fn status(
        &self,
        ticket: &str,
        after: i64,
        unknown: UnknownPolicy,
    ) -> Result<StatusSnapshot, ScriptError> {
        let ws = Workspace::for_ticket(&self.ctx.work_dir, ticket)?;
        let Some(script) = self.get(ticket) else {
            return self.unknown_status(ws, ticket, after, unknown).await;
        };
        // State first: once Complete, every line is already in the file.
        let (mut state, mut code) = *script.status.borrow();
        let log = script.log.clone();
        let page = read_log(log.clone(), after).await?;
        if state == ProcessState::Complete && (page.next as u64) < log.count() {
            // More pages to fetch: the client must keep polling before it sees Complete.
            (state, code) = (ProcessState::Running, exit_codes::RUNNING);
        }
        Ok(StatusSnapshot {
            ticket: ticket.to_owned(),
            logs: page.logs,
            next_log_sequence: page.next,
            state,
            exit_code: code,
        })
    }

    async fn unknown_status(
        &self,
        ws: Workspace,
        ticket: &str,
        after: i64,
        unknown: UnknownPolicy,
    ) -> Result<StatusSnapshot, ScriptError> {
        let (state, code, has_log) = blocking(move || {
            let persisted = ws.read_state();
            let result = match (unknown, persisted) {
                (UnknownPolicy::V1, _) => (ProcessState::Complete, 0, ws.exists()),
                (UnknownPolicy::V2, None) => {
                    (ProcessState::Complete, exit_codes::UNKNOWN_SCRIPT, false)
                }
                (UnknownPolicy::V2, Some(mut s)) => {
                    if s.state != ProcessState::Complete {
                        s.state = ProcessState::Complete;
                        s.exit_code = Some(exit_codes::UNKNOWN_RESULT);
                        s.completed = Some(now_text());
                        ws.write_state(&s)?;
                    }
                    let code = s.exit_code.unwrap_or(exit_codes::UNKNOWN_RESULT);
                    (ProcessState::Complete, code, true)
                }
            };
            Ok((result.0, result.1, result.2.then(|| ws.log_path())))
        })
        .await?;
        let page = match has_log.filter(|p| p.is_file()) {
            Some(path) => {
                let log = blocking(move || {
                    ScriptLog::open(&path)
                        .map_err(ScriptError::io("Could not read the script log", path))
                })
                .await?;
                read_log(Arc::new(log), after).await?
            }
            None => LogPage {
                logs: Vec::new(),
                next: after,
            },
        };
        Ok(StatusSnapshot {
            ticket: ticket.to_owned(),
            logs: page.logs,
            next_log_sequence: page.next,
            state,
            exit_code: code,
        })
    }

    /// Asks `ticket` to stop (killing its process tree) and returns its current status.
    pub async fn cancel(
        &self,
        ticket: &str,
        after: i64,
        unknown: UnknownPolicy,
    ) -> Result<StatusSnapshot, ScriptError> {
        if let Some(script) = self.get(ticket) {
            script.cancel.send_replace(true);
            tracing::info!(%ticket, "cancelling script");
        }
        self.status(ticket, after, unknown).await
    }

    /// Waits up to `limit` for `ticket` to complete; true if it did (or is unknown).
    pub async fn wait_for_completion(&self, ticket: &str, limit: Duration) -> bool {
        let Some(script) = self.get(ticket) else {
            return true;
        };
        let mut rx = script.status.subscribe();
        tokio::time::timeout(limit, rx.wait_for(|s| s.0 == ProcessState::Complete))
            .await
            .is_ok()
    }

    /// Forgets `ticket` and deletes its workspace, first stopping it if it still runs.
    /// Returns the final status (log entries after `after`).
    pub async fn complete(
        &self,
        ticket: &str,
        after: i64,
        unknown: UnknownPolicy,
    ) -> Result<StatusSnapshot, ScriptError> {
        let ws = Workspace::for_ticket(&self.ctx.work_dir, ticket)?;
        if let Some(script) = self.get(ticket)
            && script.status.borrow().0 != ProcessState::Complete
        {
            script.cancel.send_replace(true);
            self.wait_for_completion(ticket, Duration::from_secs(30))
                .await;
        }
        let snapshot = self.status(ticket, after, unknown).await;
        if let Some(script) = self.table().remove(&key(ticket)) {
            script.log.close();
        }
        blocking(move || ws.delete()).await?;
        tracing::debug!(%ticket, "script completed and its workspace deleted");
        snapshot
    }

    /// Scripts not yet Complete.
    pub fn running(&self) -> usize {
        self.table()
            .values()
            .filter(|s| s.status.borrow().0 != ProcessState::Complete)
            .count()
    }

    /// Waits up to `grace` for every script to finish; true when none is left running.
    pub async fn wait_idle(&self, grace: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let notified = self.idle.notified();
            if self.running() == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.running() == 0;
            }
        }
    }

    /// Deletes workspaces untouched for longer than `older_than` whose scripts are not
    /// running, and forgets those scripts. Returns the tickets removed.
    pub async fn clean_workspaces(&self, older_than: Duration) -> Vec<String> {
        let keep: HashSet<String> = self
            .table()
            .iter()
            .filter(|(_, s)| s.status.borrow().0 != ProcessState::Complete)
            .map(|(k, _)| k.clone())
            .collect();
        let work_dir: PathBuf = self.ctx.work_dir.clone();
        let removed = blocking(move || Ok(workspace::clean(&work_dir, older_than, &keep)))
            .await
            .unwrap_or_default();
        let mut table = self.table();
        for name in &removed {
            if let Some(s) = table.remove(&key(name)) {
                s.log.close();
            }
            tracing::info!(ticket = %name, "deleted an old script workspace");
        }
        removed
    }
}

struct RunParams {
    ticket: String,
    task_id: String,
    arguments: Vec<String>,
    isolation: Isolation,
    mutex_timeout: Duration,
    mutex_name: String,
}

async fn read_log(log: Arc<ScriptLog>, after: i64) -> Result<LogPage, ScriptError> {
    let path = log.path().to_path_buf();
    blocking(move || {
        log.read(after)
            .map_err(ScriptError::io("Could not read the script log", path))
    })
    .await
}

/// A ScriptFile ready to be placed in the workspace.
pub struct ScriptFileIn {
    /// Where it goes, inside the workspace.
    pub dest: PathBuf,
    /// Its bytes.
    pub stream: ReceivedStream,
    /// Set for sensitive files: written AES-encrypted with this password (contract O10).
    pub encryption_password: Option<String>,
}

/// Pairs each ScriptFile with its received DataStream and checks its name.
fn match_files(
    ws: &Workspace,
    files: Vec<ScriptFile>,
    streams: Vec<ReceivedStream>,
) -> Result<Vec<ScriptFileIn>, ScriptError> {
    let mut streams: Vec<Option<ReceivedStream>> = streams.into_iter().map(Some).collect();
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        let name = f
            .name
            .ok_or_else(|| ScriptError::BadRequest("a ScriptFile has no Name".into()))?;
        let dest = ws.resolve_file(&name)?;
        let placeholder = f
            .contents
            .as_ref()
            .and_then(DataStreamRef::from_document)
            .ok_or_else(|| ScriptError::MissingStream(name.clone()))?;
        let stream = streams
            .iter_mut()
            .find(|s| s.as_ref().is_some_and(|s| s.id == placeholder.id))
            .and_then(Option::take)
            .ok_or_else(|| ScriptError::MissingStream(name.clone()))?;
        out.push(ScriptFileIn {
            dest,
            stream,
            encryption_password: f.encryption_password.filter(|p| !p.is_empty()),
        });
    }
    Ok(out)
}
