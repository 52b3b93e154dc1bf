//! Agent logs: `<home>/Logs/OctopusTentacle.txt` rolled daily with seven kept, plus the console when run in the foreground.

use std::path::Path;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{Builder, Rotation};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, fmt};

/// The log file's name prefix, as Tentacle names it.
pub const LOG_FILE: &str = "OctopusTentacle.txt";

/// Starts logging to `logs_dir` (and stderr when `console`). Keep the guard alive for all of
/// `main`: dropping it flushes and stops the file writer. `TENTACLE_LOG` sets the level (info).
pub fn init(logs_dir: &Path, console: bool) -> std::io::Result<WorkerGuard> {
    std::fs::create_dir_all(logs_dir)?;
    let appender = Builder::new()
        .rotation(Rotation::DAILY)
        .filename_prefix(LOG_FILE)
        .max_log_files(7)
        .build(logs_dir)
        .map_err(std::io::Error::other)?;
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter =
        || EnvFilter::try_from_env("TENTACLE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let file_layer = fmt::layer()
        .with_writer(writer)
        .with_ansi(false)
        .with_target(false)
        .with_filter(filter());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let console_layer = console.then(|| {
        fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(ansi)
            .with_target(false)
            .with_filter(filter())
    });
    // A second initialisation (tests starting two agents in one process) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(file_layer)
        .with(console_layer)
        .try_init();
    Ok(guard)
}
