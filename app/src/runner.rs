//! Runs a plan's steps in-process, one after another, streaming their output; on a failure it undoes, newest first, what the plan had done.

use std::io::Write;
use std::path::PathBuf;

use tentacle_core::cli;
use tentacle_core::instance::Instances;
use tentacle_core::service::{self, ServiceSpec, Verbs};

use crate::wizard::plan::{Step, StepKind};
use crate::worker::{Job, Sink};

/// Runs `steps` for `job`, each printed (masked) before it runs. Stops at the first failure
/// that is not allowed, then runs the undo of every step that had succeeded, newest first.
/// Returns the failure's message.
pub fn run_steps(steps: &[Step], job: Job, sink: &Sink) -> Result<(), String> {
    let mut done: Vec<&Step> = Vec::new();
    for step in steps {
        sink.line(job, format!("> {}", step.script_line()));
        match run_step(step, job, sink) {
            Ok(()) => done.push(step),
            Err(e) if step.may_fail => {
                sink.line(job, format!("Warning: {e}"));
                sink.line(job, "This step may fail; continuing.");
            }
            Err(e) => {
                sink.line(job, format!("Error: {e}"));
                let undo: Vec<&Step> = done
                    .iter()
                    .rev()
                    .filter_map(|s| s.undo.as_deref())
                    .collect();
                if !undo.is_empty() {
                    sink.line(job, "Rolling back what this run did:");
                }
                for u in undo {
                    sink.line(job, format!("> {}", u.script_line()));
                    if let Err(undo_error) = run_step(u, job, sink) {
                        sink.line(job, format!("Error: {undo_error}"));
                    }
                }
                return Err(e);
            }
        }
    }
    Ok(())
}

/// One step: the CLI in-process, or the service verbs for the `tentacle` beside the manager.
pub fn run_step(step: &Step, job: Job, sink: &Sink) -> Result<(), String> {
    match step.kind {
        StepKind::Cli => {
            let mut lines = LineSink {
                sink,
                job,
                pending: Vec::new(),
            };
            let result = {
                let mut out = cli::Out::new(&mut lines);
                cli::run(step.argv(), &mut out)
            };
            lines.flush_pending();
            result.map_err(|e| e.to_string())
        }
        StepKind::Service(verbs) => {
            let instance = step
                .args
                .iter()
                .position(|a| a.text == "--instance")
                .and_then(|i| step.args.get(i + 1))
                .map(|a| a.text.clone())
                .unwrap_or_default();
            run_service(&instance, verbs, &mut |line| sink.line(job, line))
        }
    }
}

/// `tentacle service --instance X <verbs>` in-process, with `tentacle` beside the manager as
/// the program the service runs.
pub fn run_service(
    instance: &str,
    verbs: Verbs,
    progress: &mut dyn FnMut(String),
) -> Result<(), String> {
    let instances = Instances::discover().map_err(|e| e.to_string())?;
    let record = instances.find(instance).map_err(|e| e.to_string())?;
    // Only a service being written needs the program it runs; stop, start and status do not.
    let executable = if verbs.install || verbs.reconfigure {
        tentacle_exe()?
    } else {
        tentacle_exe().unwrap_or_else(|_| PathBuf::from("tentacle"))
    };
    let spec = ServiceSpec::for_instance(&record, executable).map_err(|e| e.to_string())?;
    let backend = service::platform_backend().map_err(|e| e.to_string())?;
    let status =
        service::apply(backend.as_ref(), &spec, verbs, progress).map_err(|e| e.to_string())?;
    if let Some(status) = status {
        progress(status.to_string());
    }
    Ok(())
}

/// The `tentacle` executable the service runs: beside the manager (or, for test binaries in
/// `target/*/deps`, one folder up).
pub fn tentacle_exe() -> Result<PathBuf, String> {
    let name = format!("tentacle{}", std::env::consts::EXE_SUFFIX);
    let exe = std::env::current_exe()
        .map_err(|e| format!("Could not find the path of Tentacle Manager ({e})"))?;
    let exe = std::fs::canonicalize(&exe).unwrap_or(exe);
    let candidates: Vec<PathBuf> = exe
        .ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join(&name))
        .collect();
    candidates.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        format!(
            "The tentacle executable was not found at any of the following paths: {}; reinstall Tentacle Manager",
            candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// The instances the CLI acts on must be the ones this window shows; says so plainly when not.
pub fn check_same_root(shown: &Instances) -> Result<(), String> {
    let cli_root = Instances::discover().map_err(|e| e.to_string())?;
    if cli_root.root().dir() == shown.root().dir() {
        Ok(())
    } else {
        Err(format!(
            "The tentacle commands would change the instances in {}, but this window shows those in {}; set TENTACLE_CONFIG_ROOT to the folder you mean and start the manager again",
            cli_root.root().dir().display(),
            shown.root().dir().display()
        ))
    }
}

/// Splits CLI output into lines for the log.
struct LineSink<'a> {
    sink: &'a Sink,
    job: Job,
    pending: Vec<u8>,
}

impl LineSink<'_> {
    fn flush_pending(&mut self) {
        if !self.pending.is_empty() {
            let line = String::from_utf8_lossy(&self.pending).into_owned();
            self.sink.line(self.job, line);
            self.pending.clear();
        }
    }
}

impl Write for LineSink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for &b in buf {
            if b == b'\n' {
                self.flush_pending();
            } else if b != b'\r' {
                self.pending.push(b);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
