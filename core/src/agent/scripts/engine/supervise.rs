//! The script task's supervisor: a panic inside it completes the script as failed instead of leaving it Pending for ever.

use std::sync::Arc;

use super::{RunParams, Script, ScriptEngine};
use crate::agent::scripts::contracts::{ProcessOutputSource, ProcessState, exit_codes};

/// A StartScript with this task id panics in its task: a test-only way into the panic
/// path, since no peer value reaches a panic any more and the supervisor must still be proven.
#[cfg(test)]
pub(crate) const PANIC_TASK: &str = "ServerTasks-PanicInTheScriptTask";

/// [`PANIC_TASK`], for the service tests.
#[cfg(test)]
pub(crate) fn panic_task() -> &'static str {
    PANIC_TASK
}

/// Runs the script in its own task and watches it. The server polls the ticket until it
/// completes, so a task that dies must still end in Complete.
pub(super) fn spawn(engine: Arc<ScriptEngine>, script: Arc<Script>, run: RunParams) {
    let ticket = run.ticket.clone();
    let watched = script.clone();
    let watcher = engine.clone();
    let inner = tokio::spawn(async move { engine.execute(script, run).await });
    tokio::spawn(async move {
        if let Err(e) = inner.await
            && e.is_panic()
        {
            fail_after_panic(&watcher, &watched, &ticket).await;
        }
    });
}

/// Completes a script whose task panicked, with Tentacle's "fatal" exit code and a log
/// line saying what happened, unless it had already completed.
async fn fail_after_panic(engine: &ScriptEngine, script: &Script, ticket: &str) {
    if script.status.borrow().0 == ProcessState::Complete {
        return;
    }
    tracing::error!(%ticket, "the script's task panicked; reporting the script as failed");
    let _ = script.log.append(
        ProcessOutputSource::StdErr,
        "Tentacle hit an internal error while running this script and stopped it. This is a bug: please report it with the agent's log.",
    );
    let _ = script.log.flush();
    engine
        .persist(
            script,
            ProcessState::Complete,
            Some(exit_codes::FATAL),
            Some(false),
        )
        .await;
    script
        .status
        .send_replace((ProcessState::Complete, exit_codes::FATAL));
    engine.idle.notify_waiters();
}
