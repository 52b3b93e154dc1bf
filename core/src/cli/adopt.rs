//! `import-tentacle` and `export-tentacle`: adopt an official Octopus Tentacle instance with its identity, and hand it back.

use std::path::{Path, PathBuf};

use super::{CliError, Out};
use crate::official::{self, ImportRequest, OfficialError};

fn cli(e: OfficialError) -> CliError {
    match e {
        OfficialError::Instance(e) => CliError::Instance(e),
        OfficialError::Certificate(e) => CliError::Certificate(e),
        other => CliError::Invalid(other.to_string()),
    }
}

pub fn import(
    instance: Option<String>,
    from_config: Option<PathBuf>,
    dry_run: bool,
    install_service: bool,
    out: &mut Out<'_>,
) -> Result<(), CliError> {
    let request = ImportRequest {
        instance,
        from_config,
        install_service,
        executable: None,
    };
    let plan = official::plan(&request).map_err(cli)?;
    if dry_run {
        out.line("Dry run: nothing was changed. This would be imported:");
        for line in plan.summary() {
            out.line(format!("  {line}"));
        }
        if install_service {
            out.line("  This Tentacle's service would be installed and started.");
        }
        return Ok(());
    }
    let report = official::import(&plan, &request, &mut |step| out.line(step)).map_err(cli)?;
    for n in &plan.not_carried {
        out.line(format!("Not carried over: {n}"));
    }
    let name = &report.record.name;
    let next = if install_service {
        String::new()
    } else {
        format!(" Start it with: tentacle service --install --start --instance \"{name}\"")
    };
    out.line(format!(
        "Adopted '{name}' with thumbprint {}: Octopus Server sees the same machine.{next}",
        plan.certificate.thumbprint()
    ));
    Ok(())
}

pub fn export(instance: &str, to: Option<&Path>, out: &mut Out<'_>) -> Result<(), CliError> {
    let report = official::export(instance, to, &mut |step| out.line(step)).map_err(cli)?;
    out.line(format!(
        "Octopus Tentacle can take over again: {}",
        report.config.display()
    ));
    Ok(())
}
