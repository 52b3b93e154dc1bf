//! Applying a [`FixAction`]: `tentacle …` lines in-process, service verbs through the service backend, firewall and process commands as printed, and owner/mode changes on the home folder.

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use super::{FixAction, FixContext, FixError, Selector};
use crate::firewall;
use crate::service::{self, ServiceSpec};

/// How long a stopped process may take to let go of its port.
const STOP_WAIT: Duration = Duration::from_secs(5);

pub(super) fn apply(
    action: &FixAction,
    ctx: &FixContext,
    progress: &mut dyn FnMut(String),
) -> Result<(), FixError> {
    match action {
        FixAction::StopProcess { pid, port, .. } => stop_process(*pid, *port, progress),
        FixAction::MovePort { to, .. } => {
            tentacle(ctx, &["configure", "--port", &to.to_string()], progress)
        }
        FixAction::AllowPort { firewall, port } => Ok(firewall::allow(*firewall, *port, progress)?),
        FixAction::RemovePortRule { firewall, port } => {
            Ok(firewall::remove(*firewall, *port, progress)?)
        }
        FixAction::RegenerateCertificate { backup, .. } => {
            // Only go on when the old certificate can be put back.
            if !backup.is_file() {
                return Err(FixError::Changed(format!(
                    "The current certificate's file is missing, so it could not be restored after a new one is made; export it first with tentacle export-certificate: {}",
                    backup.display()
                )));
            }
            tentacle(ctx, &["new-certificate"], progress)
        }
        FixAction::RestoreCertificate { backup, .. } => tentacle(
            ctx,
            &[
                "import-certificate",
                "--from-file",
                &backup.display().to_string(),
            ],
            progress,
        ),
        FixAction::Service { verb } => {
            let line = action.script(ctx).join(" ");
            progress(format!("> {line}"));
            let spec = service_spec(ctx)?;
            let backend = service::platform_backend()?;
            service::apply(backend.as_ref(), &spec, verb.verbs(), progress)?;
            Ok(())
        }
        FixAction::ChownHome { home, uid, gid, .. } => {
            progress(format!("> {}", action.script(ctx).join(" ")));
            chown_recursive(home, *uid, *gid)
        }
        FixAction::ChmodHome { home, to, .. } => {
            progress(format!("> {}", action.script(ctx).join(" ")));
            chmod(home, *to)
        }
    }
}

/// Runs `tentacle <verb> <selector> <rest…>` in-process, printing it and its output.
fn tentacle(
    ctx: &FixContext,
    verb_and_rest: &[&str],
    progress: &mut dyn FnMut(String),
) -> Result<(), FixError> {
    let (verb, rest) = verb_and_rest.split_first().unwrap_or((&"help", &[]));
    let mut argv = vec![(*verb).to_owned()];
    argv.extend(ctx.selector.args());
    argv.extend(rest.iter().map(|s| (*s).to_owned()));
    let mut shown = vec!["tentacle".to_owned()];
    shown.extend(argv.iter().cloned());
    let line = firewall::command_line(&shown);
    progress(format!("> {line}"));
    let mut lines = Lines {
        progress,
        pending: Vec::new(),
    };
    let result = {
        let mut out = crate::cli::Out::new(&mut lines);
        crate::cli::run(argv.into_iter().map(OsString::from).collect(), &mut out)
    };
    lines.flush_pending();
    result.map_err(|e| FixError::Tentacle {
        line,
        message: e.to_string(),
    })
}

/// The service as `tentacle service` builds it for this selector.
fn service_spec(ctx: &FixContext) -> Result<ServiceSpec, FixError> {
    let config = crate::instance::TentacleConfig::load(&ctx.config)
        .map_err(|e| FixError::Changed(e.to_string()))?;
    let args = match &ctx.selector {
        Selector::Instance(name) => ServiceSpec::agent_args_for_instance_here(name),
        Selector::Config(path) => ServiceSpec::agent_args_for_config(path),
    };
    Ok(ServiceSpec {
        name: ctx.selector.service_name(),
        selector: firewall::command_line(&ctx.selector.args()),
        executable: ctx.tentacle_exe.clone(),
        args,
        username: None,
        password: None,
        logs_dir: config.logs_dir(&ctx.config),
    })
}

/// Stops `pid` after checking it still holds `port` (a pid can be reused), then waits for the
/// port to be let go.
fn stop_process(pid: u32, port: u16, progress: &mut dyn FnMut(String)) -> Result<(), FixError> {
    let holds = |pid: u32| {
        crate::checks::listeners_on_port(port)
            .map(|list| list.iter().any(|h| h.pid == pid))
            .unwrap_or(false)
    };
    if !holds(pid) {
        return Err(FixError::Changed(format!(
            "Process {pid} no longer listens on port {port}; run the checks again to see what holds it now"
        )));
    }
    if pid == std::process::id() {
        return Err(FixError::Changed(format!(
            "Process {pid} is this program; stop it some other way"
        )));
    }
    let argv: Vec<String> = if cfg!(windows) {
        vec!["taskkill".into(), "/PID".into(), pid.to_string()]
    } else {
        vec!["kill".into(), pid.to_string()]
    };
    progress(format!("> {}", firewall::command_line(&argv)));
    let out = firewall::run_bounded(&argv, Duration::from_secs(10))?;
    if !out.status.success() {
        let detail = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        return Err(FixError::Changed(format!(
            "{} failed: {detail}; stop process {pid} yourself (as its owner or root)",
            firewall::command_line(&argv)
        )));
    }
    let deadline = Instant::now() + STOP_WAIT;
    while holds(pid) {
        if Instant::now() >= deadline {
            return Err(FixError::Changed(format!(
                "Process {pid} still holds port {port} {} s after being asked to stop; force it: kill -9 {pid}",
                STOP_WAIT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    progress(format!("Process {pid} stopped; port {port} is free"));
    Ok(())
}

#[cfg(unix)]
fn chown_recursive(home: &Path, uid: u32, gid: u32) -> Result<(), FixError> {
    let io = |what, path: &Path| {
        let path = path.to_path_buf();
        move |source| FixError::Io { what, path, source }
    };
    // Symbolic links are changed themselves (lchown) and never followed, so a link inside the
    // home folder cannot hand a file elsewhere to the service account.
    let mut pending = vec![home.to_path_buf()];
    while let Some(path) = pending.pop() {
        std::os::unix::fs::lchown(&path, Some(uid), Some(gid))
            .map_err(io("change the owner of", &path))?;
        let meta = std::fs::symlink_metadata(&path).map_err(io("examine", &path))?;
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).map_err(io("list", &path))? {
                pending.push(entry.map_err(io("list", &path))?.path());
            }
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn chown_recursive(home: &Path, _uid: u32, _gid: u32) -> Result<(), FixError> {
    Err(FixError::Unsupported(format!(
        "Changing the owner is done in Explorer on this operating system (Properties > Security): {}",
        home.display()
    )))
}

#[cfg(unix)]
fn chmod(home: &Path, mode: u32) -> Result<(), FixError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(home, std::fs::Permissions::from_mode(mode)).map_err(|source| {
        FixError::Io {
            what: "change the mode of",
            path: home.to_path_buf(),
            source,
        }
    })
}

#[cfg(not(unix))]
fn chmod(home: &Path, _mode: u32) -> Result<(), FixError> {
    Err(FixError::Unsupported(format!(
        "Mode bits do not exist on this operating system: {}",
        home.display()
    )))
}

/// Splits CLI output into lines for `progress`.
struct Lines<'a> {
    progress: &'a mut dyn FnMut(String),
    pending: Vec<u8>,
}

impl Lines<'_> {
    fn flush_pending(&mut self) {
        if !self.pending.is_empty() {
            let line = String::from_utf8_lossy(&self.pending).into_owned();
            (self.progress)(line);
            self.pending.clear();
        }
    }
}

impl Write for Lines<'_> {
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

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn chmod_and_its_undo_change_the_mode() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir(&home).unwrap();
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o777)).unwrap();
        let ctx = FixContext {
            selector: Selector::Instance("T".into()),
            config: dir.path().join("t.toml"),
            tentacle_exe: "/bin/true".into(),
        };
        let fix = FixAction::ChmodHome {
            home: home.clone(),
            from: 0o777,
            to: 0o775,
        };
        let mut lines = Vec::new();
        fix.apply(&ctx, &mut |l| lines.push(l)).unwrap();
        assert_eq!(std::fs::metadata(&home).unwrap().mode() & 0o7777, 0o775);
        assert_eq!(lines[0], format!("> chmod 0775 {}", home.display()));
        fix.undo().unwrap().apply(&ctx, &mut |_| {}).unwrap();
        assert_eq!(std::fs::metadata(&home).unwrap().mode() & 0o7777, 0o777);
    }

    #[test]
    fn stopping_a_process_that_no_longer_holds_the_port_says_so() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let e = stop_process(1, port, &mut |_| {}).unwrap_err();
        assert!(e.to_string().contains("no longer listens on port"), "{e}");
    }
}
