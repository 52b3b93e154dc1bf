//! The adoption record kept beside an adopted instance's config: where it came from and what was done to the official service, so hand-back can undo it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::OfficialError;
use crate::instance::atomic::{FileMode, write_atomic};

/// The record's file name, in the adopted instance's config folder.
pub const ADOPTION_FILE: &str = "adopted-from-octopus-tentacle.json";

/// Where an adopted instance came from and what adoption changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adoption {
    /// The official instance's name (or ours, for `--from-config`).
    pub official_instance: String,
    /// The official Tentacle.config that was read (never changed by import).
    pub official_config: PathBuf,
    /// The official service's name.
    pub service: String,
    /// The official service existed.
    pub service_installed: bool,
    /// It was enabled at boot before adoption.
    pub service_was_enabled: bool,
    /// It was running before adoption.
    pub service_was_active: bool,
    /// A copy of the official unit file, kept when ours was installed under the same name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_backup: Option<PathBuf>,
    /// Ours was installed as a service by the import.
    #[serde(default)]
    pub installed_our_service: bool,
}

impl Adoption {
    /// The record's path for an instance whose config is `config`.
    pub fn path_for(config: &Path) -> PathBuf {
        config
            .parent()
            .map(|p| p.join(ADOPTION_FILE))
            .unwrap_or_else(|| PathBuf::from(ADOPTION_FILE))
    }

    /// The record of the instance with config `config`, if it was adopted.
    pub fn load(config: &Path) -> Option<Adoption> {
        let text = std::fs::read_to_string(Adoption::path_for(config)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Writes the record beside `config`.
    pub fn save(&self, config: &Path) -> Result<(), OfficialError> {
        let path = Adoption::path_for(config);
        let text = serde_json::to_string_pretty(self).map_err(|e| OfficialError::Unparseable {
            problem: format!("Could not serialise the adoption record ({e})"),
            path: path.clone(),
        })?;
        write_atomic(&path, text.as_bytes(), FileMode::OwnerOnly)
            .map_err(|e| OfficialError::io("write the adoption record", &path, e))
    }

    /// The official service as it was before adoption.
    pub fn service_before(&self) -> super::service::ServiceState {
        super::service::ServiceState {
            name: self.service.clone(),
            unit_file: None,
            installed: self.service_installed,
            enabled: self.service_was_enabled,
            active: self.service_was_active,
        }
    }
}
