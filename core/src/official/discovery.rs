//! Finding the official Tentacle's instances: the JSON index under the machine configuration home, and on Windows the legacy registry keys.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::OfficialError;

/// Tentacle's own override of the machine configuration home (replaces `/etc/octopus` or `%ProgramData%\Octopus`).
pub const MACHINE_HOME_ENV: &str = "TentacleMachineConfigurationHomeDirectory";

/// One official instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficialInstance {
    /// The instance name.
    pub name: String,
    /// Its Tentacle.config.
    pub config: PathBuf,
    /// Listed only in the legacy Windows registry, not in the file index.
    pub from_registry: bool,
}

/// The index record as Tentacle serialises it (Json.NET, indented).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Record {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "ConfigurationFilePath")]
    pub configuration_file_path: String,
}

/// `$TentacleMachineConfigurationHomeDirectory`, else `%ProgramData%\Octopus`, else `/etc/octopus`.
pub fn machine_home() -> PathBuf {
    if let Some(dir) =
        std::env::var_os(MACHINE_HOME_ENV).filter(|v| !v.to_string_lossy().trim().is_empty())
    {
        return PathBuf::from(dir);
    }
    if cfg!(windows) {
        let data = std::env::var_os("ProgramData")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(r"C:\ProgramData"));
        return data.join("Octopus");
    }
    PathBuf::from("/etc/octopus")
}

/// `<machine home>/Tentacle/Instances` (capital I, as Tentacle spells it).
pub fn index_dir() -> PathBuf {
    machine_home().join("Tentacle").join("Instances")
}

/// The record file of `name`: lower-cased, spaces as `-`, `.config`.
pub fn record_path(name: &str) -> PathBuf {
    index_dir().join(format!("{}.config", name.replace(' ', "-").to_lowercase()))
}

/// Every official instance: the file index, plus registry-only ones on Windows, by name.
pub fn list_instances() -> Result<Vec<OfficialInstance>, OfficialError> {
    let dir = index_dir();
    let mut found = Vec::new();
    match std::fs::read_dir(&dir) {
        Ok(entries) => {
            for entry in entries {
                let entry = entry.map_err(|e| {
                    OfficialError::io("read the Octopus Tentacle instance index", &dir, e)
                })?;
                let path = entry.path();
                if path.is_file() {
                    found.push(read_record(&path)?);
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(OfficialError::io(
                "read the Octopus Tentacle instance index",
                &dir,
                e,
            ));
        }
    }
    for legacy in registry_instances() {
        if !found
            .iter()
            .any(|f: &OfficialInstance| f.name == legacy.name)
        {
            found.push(legacy);
        }
    }
    found.sort_by_key(|a| a.name.to_lowercase());
    Ok(found)
}

/// Tentacle's selection: the named instance (case-insensitive), else `Tentacle`, else the only one.
pub fn find_instance(name: Option<&str>) -> Result<OfficialInstance, OfficialError> {
    let all = list_instances()?;
    if all.is_empty() {
        return Err(OfficialError::NoInstances { dir: index_dir() });
    }
    let names = || {
        all.iter()
            .map(|i| i.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(name) = name {
        let name = name.trim();
        return all
            .iter()
            .find(|i| i.name == name)
            .or_else(|| all.iter().find(|i| i.name.eq_ignore_ascii_case(name)))
            .cloned()
            .ok_or_else(|| OfficialError::NotFound {
                name: name.to_owned(),
                available: format!("Available instances: {}.", names()),
            });
    }
    if let Some(default) = all
        .iter()
        .find(|i| i.name == crate::instance::DEFAULT_INSTANCE)
    {
        return Ok(default.clone());
    }
    if all.len() == 1 {
        return Ok(all[0].clone());
    }
    Err(OfficialError::Ambiguous { names: names() })
}

fn read_record(path: &Path) -> Result<OfficialInstance, OfficialError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| OfficialError::io("read the Octopus Tentacle instance record", path, e))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let record: Record = serde_json::from_str(text).map_err(|e| OfficialError::Unparseable {
        problem: format!(
            "The Octopus Tentacle instance record is not the JSON Tentacle writes ({e})"
        ),
        path: path.to_path_buf(),
    })?;
    Ok(OfficialInstance {
        name: record.name,
        config: PathBuf::from(record.configuration_file_path),
        from_registry: false,
    })
}

/// Instances under `HKLM\SOFTWARE\Octopus\Tentacle` (64-bit view), read with `reg.exe` so no FFI is needed.
fn registry_instances() -> Vec<OfficialInstance> {
    if !cfg!(windows) {
        return Vec::new();
    }
    let output = std::process::Command::new("reg")
        .args(["query", r"HKLM\SOFTWARE\Octopus\Tentacle", "/s", "/reg:64"])
        .stdin(std::process::Stdio::null())
        .output();
    match output {
        Ok(o) if o.status.success() => parse_reg_query(&String::from_utf8_lossy(&o.stdout)),
        // No key (Tentacle never ran from the registry era) or no reg.exe: nothing to add.
        _ => Vec::new(),
    }
}

/// Parses `reg query … /s`: each `…\Octopus\Tentacle\<name>` key with a `ConfigurationFilePath` value.
pub(crate) fn parse_reg_query(text: &str) -> Vec<OfficialInstance> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.starts_with("HKEY_") {
            let lower = line.to_ascii_lowercase();
            current = lower
                .find(r"\octopus\tentacle\")
                .map(|at| line[at + r"\octopus\tentacle\".len()..].trim().to_owned())
                .filter(|n| !n.is_empty() && !n.contains('\\'));
            continue;
        }
        let Some(name) = &current else { continue };
        let fields: Vec<&str> = line.trim().splitn(3, "    ").collect();
        if fields.len() == 3 && fields[0].eq_ignore_ascii_case("ConfigurationFilePath") {
            out.push(OfficialInstance {
                name: name.clone(),
                config: PathBuf::from(fields[2].trim()),
                from_registry: true,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_listing_is_parsed() {
        let text = "\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\Octopus\\Tentacle\r\n    InstallLocation    REG_SZ    C:\\Program Files\\Octopus Deploy\\Tentacle\\\r\n\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\Octopus\\Tentacle\\Tentacle\r\n    ConfigurationFilePath    REG_SZ    C:\\Octopus\\Tentacle.config\r\n\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\Octopus\\Tentacle\\My Web\r\n    ConfigurationFilePath    REG_SZ    C:\\Octopus\\My Web\\Tentacle.config\r\n";
        let found = parse_reg_query(text);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].name, "Tentacle");
        assert_eq!(found[1].name, "My Web");
        assert_eq!(
            found[1].config,
            PathBuf::from("C:\\Octopus\\My Web\\Tentacle.config")
        );
        assert!(found.iter().all(|f| f.from_registry));
    }
}
