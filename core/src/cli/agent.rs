//! `tentacle agent` (alias `run`): the agent in the foreground or under the Windows SCM, with
//! logs, signal handling and a graceful stop.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::watch;

use super::commands::InstanceArgs;
use super::{CliError, Out, target};
use crate::agent::{AgentContext, logging, run, services};

pub fn run(
    args: &InstanceArgs,
    wait: Option<u64>,
    config_root: Option<&Path>,
    out: &mut Out<'_>,
) -> Result<(), CliError> {
    let t = match config_root {
        // The service names the root it was installed from, so the account it runs as (or a
        // clean environment) looks where the instance is, not in its own default root.
        Some(dir) if args.config.is_none() => {
            let instances = crate::instance::Instances::new(crate::instance::ConfigRoot::at(dir));
            let record = instances.select(args.instance.as_deref())?;
            super::Target {
                config: record.config.clone(),
                record: Some(record),
            }
        }
        _ => target(args)?,
    };
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
    #[cfg(windows)]
    {
        let name = crate::service::windows::service_name_for(
            &t.record
                .as_ref()
                .map(|r| r.name.clone())
                .unwrap_or_default(),
            t.record.is_none(),
        );
        if let Some(result) = run_under_scm(&name, &t.config, &ctx) {
            return result;
        }
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    serve(&t.config, &ctx, stop_rx, Some(stop_tx))?;
    out.line("Tentacle agent stopped.");
    Ok(())
}

/// Runs the agent as the Windows service `name` when the SCM started this process; `None` from
/// a console, where the agent runs in the foreground instead.
#[cfg(windows)]
fn run_under_scm(
    name: &str,
    config_path: &Path,
    ctx: &AgentContext,
) -> Option<Result<(), CliError>> {
    use crate::service::windows_dispatch::{Dispatched, run_as_service};
    use std::sync::{Arc, Mutex};

    let outcome: Arc<Mutex<Option<Result<(), CliError>>>> = Arc::new(Mutex::new(None));
    let slot = Arc::clone(&outcome);
    let (config_path, ctx) = (config_path.to_path_buf(), ctx.clone());
    let agent = Box::new(move |stop_rx: watch::Receiver<bool>| {
        let result = serve(&config_path, &ctx, stop_rx, None);
        if let Err(e) = &result {
            tracing::error!("the agent stopped with an error: {e}");
        }
        let clean = result.is_ok();
        if let Ok(mut slot) = slot.lock() {
            *slot = Some(result);
        }
        clean
    });
    match run_as_service(name, agent) {
        Dispatched::NotAService => None,
        Dispatched::Failed(message) => Some(Err(CliError::Invalid(message))),
        Dispatched::Ran => Some(
            outcome
                .lock()
                .ok()
                .and_then(|mut slot| slot.take())
                .unwrap_or(Ok(())),
        ),
    }
}

/// Runs the agent until `stop_rx` says stop. With `signals`, Ctrl-C (and SIGTERM on Unix) send
/// the stop; under the SCM the control handler does.
fn serve(
    config_path: &Path,
    ctx: &AgentContext,
    stop_rx: watch::Receiver<bool>,
    signals: Option<watch::Sender<bool>>,
) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("tentacle-agent")
        .enable_all()
        .build()
        .map_err(|e| CliError::Invalid(format!("Could not start the agent's runtime: {e}")))?;
    let config_path: PathBuf = config_path.to_path_buf();
    let result = runtime.block_on(async {
        if let Some(stop_tx) = signals {
            tokio::spawn(async move {
                wait_for_stop_signal().await;
                tracing::info!("stop signal received");
                let _ = stop_tx.send(true);
            });
        }
        let (table, running) = services::build(ctx);
        run::run(
            &config_path,
            table,
            running,
            run::AgentOptions::default(),
            stop_rx,
        )
        .await
    });
    runtime.shutdown_timeout(Duration::from_secs(2));
    result.map_err(CliError::from)
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
