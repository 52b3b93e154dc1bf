//! The shell process: command line (bash, or PowerShell on Windows), the §3.6 environment, its own process group, line-by-line output into the log, and killing the whole tree on cancel.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::{mpsc, watch};

use super::contracts::ProcessOutputSource;
use super::log::{MAX_LINE_BYTES, ScriptLog};
use super::workspace::Workspace;
use crate::agent::AgentContext;
use crate::instance::ProxyMode;

/// How long output is still read after the shell exited (background children may hold the pipes).
pub const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(5);
/// The same after a cancel, when the process group has been killed.
pub const DRAIN_AFTER_KILL: Duration = Duration::from_secs(2);

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The shell exited by itself with this code (128 + signal when killed by a signal).
    Exited(i32),
    /// Cancelled; the process group was killed.
    Canceled,
    /// The shell could not be started.
    FailedToStart(String),
}

/// The variables Tentacle exports to scripts (§3.6), from the instance's context.
pub fn script_environment(ctx: &AgentContext) -> Vec<(String, String)> {
    let path = |p: &Path| p.to_string_lossy().into_owned();
    let program_dir = ctx.executable.parent().map(path).unwrap_or_default();
    let proxy = &ctx.proxy;
    let custom = proxy.mode == ProxyMode::Custom;
    vec![
        ("TentacleHome".into(), path(&ctx.home)),
        (
            "TentacleApplications".into(),
            path(&ctx.application_directory),
        ),
        (
            "TentacleJournal".into(),
            path(&ctx.home.join("DeploymentJournal.xml")),
        ),
        (
            "CalamariPackageRetentionJournalPath".into(),
            path(&ctx.home.join("PackageRetentionJournal.json")),
        ),
        ("TentacleInstanceName".into(), ctx.instance.clone()),
        ("TentacleVersion".into(), ctx.tentacle_version.clone()),
        ("TentacleExecutablePath".into(), path(&ctx.executable)),
        ("TentacleProgramDirectoryPath".into(), program_dir.clone()),
        ("AgentProgramDirectoryPath".into(), program_dir),
        // Tentacle's own certificates are always SHA256withRSA.
        (
            "TentacleCertificateSignatureAlgorithm".into(),
            "sha256RSA".into(),
        ),
        (
            "TentacleUseDefaultProxy".into(),
            if proxy.mode == ProxyMode::Default {
                "True"
            } else {
                "False"
            }
            .into(),
        ),
        (
            "TentacleProxyUsername".into(),
            proxy.username.clone().unwrap_or_default(),
        ),
        (
            "TentacleProxyPassword".into(),
            proxy.password.clone().unwrap_or_default(),
        ),
        (
            "TentacleProxyHost".into(),
            if custom {
                proxy.host.clone().unwrap_or_default()
            } else {
                String::new()
            },
        ),
        (
            "TentacleProxyPort".into(),
            proxy.port.unwrap_or(80).to_string(),
        ),
    ]
}

/// The shell command for a prepared workspace.
pub fn shell_command(ws: &Workspace, arguments: &[String], ctx: &AgentContext) -> Command {
    let boot = ws.bootstrap_path();
    #[cfg(windows)]
    let mut cmd = {
        let exe = std::env::var_os("SystemRoot")
            .map(|r| {
                Path::new(&r)
                    .join(r"System32\WindowsPowerShell\v1.0\PowerShell.exe")
                    .into_os_string()
            })
            .unwrap_or_else(|| "powershell.exe".into());
        let mut c = Command::new(exe);
        c.args([
            "-NonInteractive",
            "-NoProfile",
            "-NoLogo",
            "-ExecutionPolicy",
            "Unrestricted",
            "-File",
        ]);
        c.arg(&boot);
        // CREATE_NEW_PROCESS_GROUP | CREATE_NO_WINDOW
        c.creation_flags(0x0000_0200 | 0x0800_0000);
        c
    };
    #[cfg(not(windows))]
    let mut cmd = {
        let bash = if Path::new("/bin/bash").exists() {
            "/bin/bash"
        } else {
            "bash"
        };
        let mut c = Command::new(bash);
        c.arg(&boot);
        // Its own process group, so a cancel can kill everything it started.
        c.process_group(0);
        c
    };
    cmd.args(arguments)
        .current_dir(ws.dir())
        .envs(script_environment(ctx))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(false);
    cmd
}

/// Kills the process tree rooted at `pid` (its process group on Unix).
pub async fn kill_tree(pid: u32) {
    #[cfg(unix)]
    {
        if let Some(p) = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
            && let Err(e) = rustix::process::kill_process_group(p, rustix::process::Signal::KILL)
            && e != rustix::io::Errno::SRCH
        {
            tracing::warn!(pid, error = %e, "could not kill a script's process group");
        }
    }
    #[cfg(windows)]
    {
        let r = Command::new("taskkill")
            .args(["/T", "/F", "/PID", &pid.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
        if let Err(e) = r {
            tracing::warn!(pid, error = %e, "could not run taskkill for a script");
        }
    }
}

type Line = (ProcessOutputSource, String, ::bson::DateTime);

fn piece(source: ProcessOutputSource, bytes: &[u8]) -> Line {
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    (
        source,
        String::from_utf8_lossy(bytes).into_owned(),
        ::bson::DateTime::now(),
    )
}

/// Reads `r` line by line (splitting lines longer than [`MAX_LINE_BYTES`]) into `tx`.
async fn pump<R: AsyncRead + Unpin>(r: R, source: ProcessOutputSource, tx: mpsc::Sender<Line>) {
    let mut reader = BufReader::with_capacity(64 * 1024, r);
    let mut line: Vec<u8> = Vec::new();
    loop {
        let (consumed, complete) = match reader.fill_buf().await {
            Err(_) => break,
            Ok([]) => break,
            Ok(buf) => {
                let room = MAX_LINE_BYTES.saturating_sub(line.len());
                match buf.iter().position(|&b| b == b'\n') {
                    Some(i) if i <= room => {
                        line.extend_from_slice(&buf[..i]);
                        (i + 1, true)
                    }
                    _ => {
                        let take = room.min(buf.len());
                        line.extend_from_slice(&buf[..take]);
                        (take, line.len() >= MAX_LINE_BYTES)
                    }
                }
            }
        };
        reader.consume(consumed);
        if complete {
            if tx.send(piece(source, &line)).await.is_err() {
                return;
            }
            line.clear();
        }
    }
    if !line.is_empty() {
        let _ = tx.send(piece(source, &line)).await;
    }
}

async fn cancelled(cancel: &mut watch::Receiver<bool>) {
    loop {
        if *cancel.borrow_and_update() {
            return;
        }
        if cancel.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Runs `cmd`, writing its output to `log`, until it exits or `cancel` turns true.
/// `on_started` runs once the process exists.
pub async fn run(
    mut cmd: Command,
    log: Arc<ScriptLog>,
    cancel: &mut watch::Receiver<bool>,
    on_started: impl FnOnce(u32),
) -> Outcome {
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let program = cmd.as_std().get_program().to_string_lossy().into_owned();
            // The engine writes this to the script's log with a non-zero exit code.
            return Outcome::FailedToStart(super::interpreter::start_failure(&program, &e));
        }
    };
    let pid = child.id().unwrap_or(0);
    on_started(pid);
    let (tx, mut rx) = mpsc::channel::<Line>(4096);
    let mut readers = Vec::new();
    if let Some(out) = child.stdout.take() {
        readers.push(tokio::spawn(pump(
            out,
            ProcessOutputSource::StdOut,
            tx.clone(),
        )));
    }
    if let Some(err) = child.stderr.take() {
        readers.push(tokio::spawn(pump(
            err,
            ProcessOutputSource::StdErr,
            tx.clone(),
        )));
    }
    drop(tx);
    let writer_log = log.clone();
    // File writes block; on a blocking-pool thread a chatty script never stalls the two
    // runtime workers that serve every connection.
    let writer = tokio::task::spawn_blocking(move || {
        while let Some((source, text, at)) = rx.blocking_recv() {
            let _ = writer_log.append_at(source, &text, at);
            // Batch whatever else is already waiting, then make it visible to readers.
            for _ in 0..1024 {
                match rx.try_recv() {
                    Ok((s, t, a)) => {
                        let _ = writer_log.append_at(s, &t, a);
                    }
                    Err(_) => break,
                }
            }
            let _ = writer_log.flush();
        }
    });
    let status = tokio::select! {
        s = child.wait() => Some(s),
        () = cancelled(cancel) => None,
    };
    let (outcome, drain) = match status {
        Some(Ok(s)) => (Outcome::Exited(exit_code(s)), DRAIN_AFTER_EXIT),
        Some(Err(e)) => (
            Outcome::FailedToStart(format!("lost track of the script process: {e}")),
            DRAIN_AFTER_EXIT,
        ),
        None => {
            if pid != 0 {
                kill_tree(pid).await;
            }
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
            (Outcome::Canceled, DRAIN_AFTER_KILL)
        }
    };
    let deadline = tokio::time::Instant::now() + drain;
    for r in &mut readers {
        if tokio::time::timeout_at(deadline, &mut *r).await.is_err() {
            r.abort();
        }
    }
    let _ = writer.await;
    let _ = log.flush();
    outcome
}

#[cfg(unix)]
fn exit_code(s: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    s.code()
        .or_else(|| s.signal().map(|sig| 128 + sig))
        .unwrap_or(-1)
}

#[cfg(not(unix))]
fn exit_code(s: std::process::ExitStatus) -> i32 {
    s.code().unwrap_or(-1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_are_split_on_newlines_and_at_the_length_cap() {
        tokio::time::timeout(Duration::from_secs(10), async {
            let mut input = b"one\r\ntwo\n".to_vec();
            input.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + 10));
            input.extend(b"\nlast without newline");
            let (tx, mut rx) = mpsc::channel(16);
            pump(&input[..], ProcessOutputSource::StdErr, tx).await;
            let mut lines = Vec::new();
            while let Some((src, text, _)) = rx.recv().await {
                assert_eq!(src, ProcessOutputSource::StdErr);
                lines.push(text);
            }
            assert_eq!(lines.len(), 5);
            assert_eq!(lines[0], "one");
            assert_eq!(lines[1], "two");
            assert_eq!(lines[2].len(), MAX_LINE_BYTES);
            assert_eq!(lines[3], "x".repeat(10));
            assert_eq!(lines[4], "last without newline");
        })
        .await
        .unwrap();
    }
}
