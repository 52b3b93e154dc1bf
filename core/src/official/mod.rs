//! The official Octopus Tentacle on this machine: find its instances, read and write its XML config and machine-key secrets, adopt an instance (import) and hand it back (export).
//!
//! Facts matched from OctopusTentacle's public source:
//! - the instance index is `<base>/Tentacle/Instances/<name lower-cased, spaces as ->.config`, indented JSON
//!   `{"Name", "ConfigurationFilePath"}`; `<base>` is `$TentacleMachineConfigurationHomeDirectory`, else
//!   `%ProgramData%\Octopus` or `/etc/octopus`; older Windows installs also list instances under
//!   `HKLM\SOFTWARE\Octopus\Tentacle\<name>` (value `ConfigurationFilePath`);
//! - the config is `<octopus-settings><set key="…">value</set>…</octopus-settings>`, keys sorted on save;
//! - `Tentacle.Certificate` is the machine-key encryption of base64(PFX with no password): AES (CBC, PKCS7)
//!   keyed by `/etc/machine-id` (IV `743677397A244326`) or `/etc/octopus/machinekey` on Linux, DPAPI
//!   LocalMachine on Windows;
//! - its service is `<name with "/" removed, whitespace as ->.service` (systemd) or `OctopusDeploy Tentacle[: <name>]`.
//!
//! Test hooks (environment variables): [`MACHINE_ID_ENV`] and [`MACHINE_KEY_ENV`] move the two Linux key
//! files, `TentacleMachineConfigurationHomeDirectory` moves the index (as it does for Tentacle itself).

mod adoption;
mod apply;
mod discovery;
mod export;
mod import;
mod machine_key;
mod service;
mod xml_config;

use std::path::PathBuf;

pub use adoption::{ADOPTION_FILE, Adoption};
pub use discovery::{
    MACHINE_HOME_ENV, OfficialInstance, find_instance, index_dir, list_instances, machine_home,
    record_path,
};
pub use export::{ExportReport, export};
pub use import::{ImportPlan, ImportReport, ImportRequest, import, plan};
pub use machine_key::{KeySourceKind, MACHINE_ID_ENV, MACHINE_KEY_ENV, MachineKey};
pub use service::official_service_name;
pub use xml_config::XmlConfig;

/// Why an official Tentacle instance could not be adopted or handed back. Each names the problem and the fix.
#[derive(Debug, thiserror::Error)]
pub enum OfficialError {
    /// No official instances were found.
    #[error(
        "No Octopus Tentacle instances were found on this machine (looked in {}). Pass the config file with --from-config PATH",
        dir.display()
    )]
    NoInstances {
        /// The index folder that was read.
        dir: PathBuf,
    },
    /// The named official instance does not exist.
    #[error("Octopus Tentacle has no instance named '{name}'. {available}")]
    NotFound {
        /// The name asked for.
        name: String,
        /// "Available instances: a, b." or similar.
        available: String,
    },
    /// Several official instances and no `--instance`.
    #[error(
        "Octopus Tentacle has more than one instance on this machine ({names}). Pass --instance NAME to choose one"
    )]
    Ambiguous {
        /// Their names.
        names: String,
    },
    /// A file could not be read or written.
    #[error("Could not {action} ({source}): {}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// An index record or config file that does not parse.
    #[error("{problem}. Fix or restore the file; nothing was changed: {}", path.display())]
    Unparseable {
        /// What is wrong.
        problem: String,
        /// The file.
        path: PathBuf,
    },
    /// A required setting is missing or unusable.
    #[error("{problem}; nothing was changed: {}", path.display())]
    BadSetting {
        /// What is wrong and what to do.
        problem: String,
        /// The config file.
        path: PathBuf,
    },
    /// No key source could decrypt the certificate into the configured certificate.
    #[error(
        "The certificate in this config cannot be decrypted with this machine's key ({tried}). The config was probably copied from another machine or its machine key changed; run the import on the machine the Tentacle was set up on; nothing was changed: {}",
        path.display()
    )]
    Undecryptable {
        /// Each key source tried and why it failed.
        tried: String,
        /// The config file.
        path: PathBuf,
    },
    /// The certificate decrypted, but it is not the one the thumbprint names.
    #[error(
        "The certificate in the config has thumbprint {found}, but Tentacle.CertificateThumbprint says {expected}. The config has been edited or damaged; fix it with the official Tentacle first; nothing was changed: {}",
        path.display()
    )]
    ThumbprintMismatch {
        /// Tentacle.CertificateThumbprint.
        expected: String,
        /// The decrypted certificate's thumbprint.
        found: String,
        /// The config file.
        path: PathBuf,
    },
    /// No key to encrypt with (export).
    #[error("No machine key is available to encrypt the certificate: {0}")]
    NoMachineKey(String),
    /// Our instances or configuration.
    #[error(transparent)]
    Instance(#[from] crate::instance::InstanceError),
    /// The certificate.
    #[error(transparent)]
    Certificate(#[from] crate::certificate::CertificateError),
    /// The official or our service.
    #[error(transparent)]
    Service(#[from] crate::service::ServiceError),
}

impl OfficialError {
    pub(crate) fn io(action: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        OfficialError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}
