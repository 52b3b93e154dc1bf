//! `tentacle agent` (alias `run`): the foreground agent, with logs, signal handling and a graceful stop.

use std::time::Duration;

use super::commands::InstanceArgs;
use super::{CliError, Out, target};
use crate::agent::{AgentContext, logging, run, services};

pub fn run(args: &InstanceArgs, wait: Option<u64>, out: &mut Out<'_>) -> Result<(), CliError> {
    let t = target(args)?;
    let config = t.load()?;
    let ctx = AgentContext::from_config(&config, &t.config);
    let _guard = logging::init(&ctx.home.join("Logs"), true).map_err(|e| {
        CliError::Invalid(format!(
            "Could not open the log folder {} ({e}); check the home folder's permissions",
            ctx.home.join("Logs").display()
        ))
    })?;
    if let Some(ms) = wait.filter(|ms| *ms >= 20) {
        std::thread::sleep(Duration::from_millis(ms));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("tentacle-agent")
        .enable_all()
        .build()
        .map_err(|e| CliError::Invalid(format!("Could not start the agent's runtime: {e}")))?;
    let result = runtime.block_on(async {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            wait_for_stop_signal().await;
            tracing::info!("stop signal received");
            let _ = stop_tx.send(true);
        });
        let (table, running) = services::build(&ctx);
        run::run(
            &t.config,
            table,
            running,
            run::AgentOptions::default(),
            stop_rx,
        )
        .await
    });
    runtime.shutdown_timeout(Duration::from_secs(2));
    result?;
    out.line("Tentacle agent stopped.");
    Ok(())
}

/// Ctrl-C everywhere; SIGTERM (service stop) on Unix.
async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
