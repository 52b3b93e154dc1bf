//! What the window knows about each instance: plain data built from core types, and the loader that reads it (off the UI thread).

use std::path::PathBuf;

use tentacle_core::instance::{self, InstanceRecord, Instances, ProxySettings, TentacleConfig};
use tentacle_core::trust::{CommunicationStyle, Thumbprint, TrustedServer};

/// Everything one load produced: where instances live and what was found there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadResult {
    /// One sentence about whose instances these are (see `ConfigRoot::describe`); `None`
    /// when even the location could not be worked out.
    pub scope: Option<String>,
    /// The instances, default first, or the user-facing reason the list could not be read.
    pub instances: Result<Vec<InstanceSummary>, String>,
}

impl LoadResult {
    /// A load that failed before any instance could be listed.
    pub fn failed(message: impl Into<String>) -> LoadResult {
        LoadResult {
            scope: None,
            instances: Err(message.into()),
        }
    }
}

/// One instance as the window shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceSummary {
    /// The instance name as created (`Tentacle` for the default one).
    pub name: String,
    /// Its configuration file.
    pub config: PathBuf,
    /// What the configuration says, or why it could not be read (a message for the user).
    pub details: Result<InstanceDetails, String>,
}

/// What an instance's configuration says, reduced to what the window shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceDetails {
    /// This Tentacle's certificate thumbprint, once it has one.
    pub thumbprint: Option<Thumbprint>,
    /// Listening or polling, as the config decides it.
    pub mode: CommunicationStyle,
    /// The listening port.
    pub port: u16,
    /// The Octopus Servers it trusts.
    pub trusted_servers: Vec<TrustedServer>,
    /// Home folder (absolute).
    pub home: PathBuf,
    /// Logs folder (absolute).
    pub logs: PathBuf,
    /// The web proxy.
    pub proxy: ProxySettings,
    /// The proxy for polling connections.
    pub polling_proxy: ProxySettings,
    /// The Tentacle version Octopus Server is shown (`tentacle_core::version`).
    pub reported_version: String,
}

impl InstanceSummary {
    /// Reads one instance's configuration; a broken file becomes a message, never a panic.
    pub fn load(record: InstanceRecord) -> InstanceSummary {
        let details = TentacleConfig::load(&record.config)
            .map(|config| InstanceDetails::from_config(&config, &record.config))
            .map_err(|e| e.to_string());
        InstanceSummary {
            name: record.name,
            config: record.config,
            details,
        }
    }

    /// "(Default)" for the default instance, the name otherwise.
    pub fn display_name(&self) -> &str {
        instance::display_name(&self.name)
    }

    /// The command that gives this instance a certificate, quoted when the name needs it.
    pub fn new_certificate_command(&self) -> String {
        format!(
            "tentacle new-certificate --instance {}",
            shell_word(&self.name)
        )
    }
}

impl InstanceDetails {
    /// The parts of `config` (read from `path`) the window shows.
    pub fn from_config(config: &TentacleConfig, path: &std::path::Path) -> InstanceDetails {
        InstanceDetails {
            thumbprint: config.certificate.as_ref().map(|c| c.thumbprint.clone()),
            mode: config.mode(),
            port: config.communication.port,
            trusted_servers: config.trusted_servers.clone(),
            home: config.home_dir(path),
            logs: config.logs_dir(path),
            proxy: config.proxy.clone(),
            polling_proxy: config.polling_proxy.clone(),
            reported_version: tentacle_core::version::reported(config.reported_version.as_deref()),
        }
    }

    /// "Listening on port 10933" or "Polling".
    pub fn mode_text(&self) -> String {
        match self.mode {
            CommunicationStyle::Listening => format!("Listening on port {}", self.port),
            CommunicationStyle::Polling => "Polling".to_owned(),
        }
    }
}

/// One trusted server in a line: "Trusts Octopus Server THUMBPRINT (polling https://host:10943/)".
pub fn trusted_server_text(server: &TrustedServer) -> String {
    let how = match (&server.style, &server.address) {
        (CommunicationStyle::Listening, _) => "listening".to_owned(),
        (CommunicationStyle::Polling, Some(address)) => format!("polling {address}"),
        (CommunicationStyle::Polling, None) => "polling".to_owned(),
    };
    format!("Trusts Octopus Server {} ({how})", server.thumbprint)
}

/// Reads the instance index and every instance's configuration. Does file I/O: call it on
/// a background thread, never from a view.
pub fn load_instances(instances: &Instances) -> LoadResult {
    let scope = Some(instances.root().describe());
    let instances = instances
        .list()
        .map(|records| records.into_iter().map(InstanceSummary::load).collect())
        .map_err(|e| e.to_string());
    LoadResult { scope, instances }
}

/// `name` as one shell word: bare when it is plain, double-quoted when it has spaces.
fn shell_word(name: &str) -> String {
    if name
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        name.to_owned()
    } else {
        format!("\"{name}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tentacle_core::instance::{ConfigRoot, InstanceError};

    fn thumbprint(c: char) -> Thumbprint {
        Thumbprint::parse(&c.to_string().repeat(40)).unwrap()
    }

    #[test]
    fn mode_text_names_the_port_only_when_listening() {
        let mut details = InstanceDetails {
            thumbprint: None,
            mode: CommunicationStyle::Listening,
            port: 10933,
            trusted_servers: Vec::new(),
            home: PathBuf::new(),
            logs: PathBuf::new(),
            proxy: ProxySettings::default(),
            polling_proxy: ProxySettings::default(),
            reported_version: "9.2.4285".into(),
        };
        assert_eq!(details.mode_text(), "Listening on port 10933");
        details.mode = CommunicationStyle::Polling;
        assert_eq!(details.mode_text(), "Polling");
    }

    #[test]
    fn trusted_server_lines() {
        let listening = TrustedServer::listening(thumbprint('A'));
        assert_eq!(
            trusted_server_text(&listening),
            format!("Trusts Octopus Server {} (listening)", "A".repeat(40))
        );
        let polling = TrustedServer {
            style: CommunicationStyle::Polling,
            address: Some("https://octopus:10943/".to_owned()),
            ..TrustedServer::listening(thumbprint('B'))
        };
        assert!(trusted_server_text(&polling).ends_with("(polling https://octopus:10943/)"));
    }

    #[test]
    fn certificate_command_quotes_names_with_spaces() {
        let summary = |name: &str| InstanceSummary {
            name: name.to_owned(),
            config: PathBuf::new(),
            details: Err(String::new()),
        };
        assert_eq!(
            summary("Web-01").new_certificate_command(),
            "tentacle new-certificate --instance Web-01"
        );
        assert_eq!(
            summary("My Web").new_certificate_command(),
            "tentacle new-certificate --instance \"My Web\""
        );
    }

    #[test]
    fn loads_instances_and_reports_a_broken_config_per_instance() {
        let dir = tempfile::tempdir().unwrap();
        let instances = Instances::new(ConfigRoot::at(dir.path()));
        assert_eq!(load_instances(&instances).instances, Ok(Vec::new()));

        let web = instances.create("Web", None, None).unwrap();
        instances.create("Tentacle", None, None).unwrap();
        TentacleConfig::update(&web.config, |c| {
            c.trust_listening(thumbprint('C'));
            c.communication.port = 12000;
            Ok::<_, InstanceError>(())
        })
        .unwrap();

        let result = load_instances(&instances);
        assert!(
            result
                .scope
                .unwrap()
                .contains(&dir.path().display().to_string())
        );
        let list = result.instances.unwrap();
        assert_eq!(list[0].display_name(), "(Default)");
        let web = list[1].details.as_ref().unwrap();
        assert_eq!(web.mode_text(), "Listening on port 12000");
        assert_eq!(web.trusted_servers.len(), 1);
        assert_eq!(web.thumbprint, None);

        std::fs::remove_file(&list[1].config).unwrap();
        let again = load_instances(&instances).instances.unwrap();
        assert!(again[0].details.is_ok());
        let err = again[1].details.as_ref().unwrap_err();
        assert!(err.contains("does not exist"), "{err}");
    }
}
