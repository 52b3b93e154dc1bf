//! `create-instance`, `delete-instance` and `list-instances`.

use std::path::Path;

use serde_json::json;

use super::commands::{Format, InstanceArgs};
use super::{CliError, Out};
use crate::instance::{DEFAULT_INSTANCE, Instances, TentacleConfig};

pub fn create(
    name: Option<&str>,
    config: Option<&Path>,
    home: Option<&Path>,
    out: &mut Out<'_>,
) -> Result<(), CliError> {
    let instances = Instances::discover()?;
    let name = name.unwrap_or(DEFAULT_INSTANCE);
    let reused = config.is_some_and(Path::exists);
    let record = instances.create(name, config, home)?;
    let cfg = TentacleConfig::load(&record.config)?;
    if reused {
        out.line(format!(
            "Using existing configuration file: {}",
            record.config.display()
        ));
    } else {
        out.line(format!(
            "Created configuration file: {}",
            record.config.display()
        ));
    }
    out.line(format!("Saving instance: {}", record.name));
    out.line(format!(
        "Home directory: {}",
        cfg.home_dir(&record.config).display()
    ));
    Ok(())
}

pub fn delete(args: &InstanceArgs, out: &mut Out<'_>) -> Result<(), CliError> {
    if args.config.is_some() {
        return Err(CliError::Usage(
            "delete-instance needs --instance NAME: an instance chosen by --config has no index entry to delete".to_owned(),
        ));
    }
    let instances = Instances::discover()?;
    let name = args.instance.as_deref().unwrap_or(DEFAULT_INSTANCE);
    let record = instances.delete(name)?;
    out.line(format!("Deleted instance: {}", record.name));
    out.line(format!(
        "Its configuration file and home folder were kept: {}",
        record.config.display()
    ));
    Ok(())
}

pub fn list(format: Format, out: &mut Out<'_>) -> Result<(), CliError> {
    let instances = Instances::discover()?;
    let records = instances.list()?;
    match format {
        Format::Json => {
            let items: Vec<_> = records
                .iter()
                .map(|r| json!({"InstanceName": r.name, "ConfigurationFilePath": r.config}))
                .collect();
            out.line(serde_json::to_string_pretty(&items).unwrap_or_else(|_| "[]".into()));
        }
        Format::Text if records.is_empty() => out.line("No instances installed"),
        Format::Text => {
            for r in &records {
                out.line(format!(
                    "Instance '{}' uses configuration '{}'.",
                    r.name,
                    r.config.display()
                ));
            }
        }
    }
    Ok(())
}
