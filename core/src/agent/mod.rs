//! The agent: the services Octopus Server calls (capabilities, scripts V1 and V2, file transfer) and the run loop that serves them.

use std::path::PathBuf;

use crate::instance::{ProxySettings, TentacleConfig};

/// What every service needs to know about the instance it runs for.
#[derive(Debug, Clone)]
pub struct AgentContext {
    /// The instance name (`TentacleInstanceName` for scripts).
    pub instance: String,
    /// The instance's configuration file.
    pub config_path: PathBuf,
    /// Home folder (`TentacleHome`).
    pub home: PathBuf,
    /// Where packages are deployed (`TentacleApplications`).
    pub application_directory: PathBuf,
    /// `<home>/Work`: one folder per script ticket.
    pub work_dir: PathBuf,
    /// `<home>/Temp`: DataStreams received from the server are spooled here.
    pub temp_dir: PathBuf,
    /// This executable (`TentacleExecutablePath`).
    pub executable: PathBuf,
    /// The web proxy, exported to scripts as `TentacleProxy*`.
    pub proxy: ProxySettings,
    /// The Tentacle version scripts see as `TentacleVersion` (see `crate::version`).
    pub tentacle_version: String,
}

impl AgentContext {
    /// The context for an instance's configuration, with the platform's default application folder.
    pub fn from_config(config: &TentacleConfig, config_path: &std::path::Path) -> AgentContext {
        let home = config.home_dir(config_path);
        let application_directory = config
            .application_directory
            .clone()
            .unwrap_or_else(default_application_directory);
        AgentContext {
            instance: config.instance.clone(),
            config_path: config_path.to_path_buf(),
            work_dir: home.join("Work"),
            temp_dir: home.join("Temp"),
            home,
            application_directory,
            executable: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("tentacle")),
            proxy: config.proxy.clone(),
            tentacle_version: crate::version::reported(config.reported_version.as_deref()),
        }
    }
}

/// `C:\Octopus\Applications` on Windows, `/home/Octopus/Applications` elsewhere, as Tentacle.
pub fn default_application_directory() -> PathBuf {
    if cfg!(windows) {
        PathBuf::from(r"C:\Octopus\Applications")
    } else {
        PathBuf::from("/home/Octopus/Applications")
    }
}

pub mod capabilities;
pub mod files;
pub mod livez;
pub mod logging;
pub mod run;
pub mod scripts;
pub mod services;
pub mod upgrade_guard;
