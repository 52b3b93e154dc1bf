//! `tentacle service`: install, start, stop, restart, reconfigure, remove or query the background service.

use std::path::PathBuf;

use super::commands::InstanceArgs;
use super::{CliError, Out, target};
use crate::service::{self, ServiceSpec, Verbs};

pub fn run(
    args: &InstanceArgs,
    verbs: Verbs,
    username: Option<String>,
    password: Option<String>,
    out: &mut Out<'_>,
) -> Result<(), CliError> {
    let t = target(args)?;
    let config = t.load()?;
    let (name, agent_args) = match &t.record {
        Some(r) => (
            r.name.clone(),
            ServiceSpec::agent_args_for_instance_here(&r.name),
        ),
        None => (
            t.config
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| config.instance.clone()),
            ServiceSpec::agent_args_for_config(&t.config),
        ),
    };
    if password.is_some() && !cfg!(windows) {
        return Err(CliError::Usage(
            "--password is for a Windows service account; on Linux and macOS the service runs as --username without a password (leave --password out)".to_owned(),
        ));
    }
    if password.is_some() && username.as_deref().is_none_or(str::is_empty) {
        return Err(CliError::Usage(
            "--password needs --username: pass the account the service should log on as".to_owned(),
        ));
    }
    let spec = ServiceSpec {
        name,
        selector: t.selector(),
        executable: current_executable()?,
        args: agent_args,
        username: username.filter(|u| !u.is_empty()),
        password: password.map(crate::secret::Secret::new),
        logs_dir: config.logs_dir(&t.config),
    };
    // The account must be able to read its configuration and key before the service starts.
    if let Some(user) = spec.username.as_deref()
        && (verbs.install || verbs.reconfigure)
    {
        let files = service::access::InstanceFiles {
            config: t.config.clone(),
            home: config.home_dir(&t.config),
            certificate: config.certificate.as_ref().map(|c| {
                t.config
                    .parent()
                    .map(|d| d.join(&c.file))
                    .unwrap_or_else(|| c.file.clone())
            }),
        };
        for line in service::access::grant(user, &files).map_err(invalid)? {
            out.line(line);
        }
    }
    let backend = service::platform_backend().map_err(invalid)?;
    let status = service::apply(backend.as_ref(), &spec, verbs, &mut |line| out.line(line))
        .map_err(invalid)?;
    if let Some(status) = status {
        out.line(status);
    }
    Ok(())
}

fn invalid(e: service::ServiceError) -> CliError {
    CliError::Invalid(e.to_string())
}

/// The real absolute path of this `tentacle` (symlinks resolved), for `ExecStart`.
fn current_executable() -> Result<PathBuf, CliError> {
    let exe = std::env::current_exe().map_err(|e| {
        CliError::Invalid(format!(
            "Could not find the path of this tentacle executable: {e}"
        ))
    })?;
    Ok(std::fs::canonicalize(&exe).unwrap_or(exe))
}
