//! What the user typed into the setup wizard, and the checks each page runs before Next (pure: no I/O).

use std::path::Path;

use tentacle_core::trust::{self, Thumbprint};

/// Listening or polling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// The server connects to this Tentacle's port.
    Listening,
    /// This Tentacle connects out to the server.
    Polling,
}

/// How the polling Tentacle reaches the server's polling endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comms {
    /// The server's host on a TCP port (10943 by default): `--server-comms-port`.
    Port,
    /// A separate polling address on port 443 (Octopus Cloud): `--server-comms-address`.
    Address443,
    /// A WebSocket: `--server-web-socket wss://…`.
    WebSocket,
}

/// API key or user name and password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// `--apiKey`.
    ApiKey,
    /// `--username` and `--password`.
    UsernamePassword,
}

/// Deployment target or worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MachineType {
    /// `register-with`.
    DeploymentTarget,
    /// `register-worker`.
    Worker,
}

/// The proxy a polling Tentacle dials the server through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyChoice {
    /// Connect directly.
    NoProxy,
    /// The system's proxy.
    Default,
    /// The system's proxy with a user name and password.
    DefaultWithCredentials,
    /// A host and port.
    Custom,
}

/// Every answer, as typed (strings stay strings until the plan is made, so a half-typed port is not lost).
/// `Debug` leaves the API key and the passwords out.
#[derive(Clone, PartialEq, Eq)]
pub struct Answers {
    /// The instance name (`Tentacle` for the default instance).
    pub instance: String,
    /// Listening or polling.
    pub style: Style,
    /// Home folder: configuration, logs, work.
    pub home: String,
    /// Where packages are deployed.
    pub app_dir: String,
    /// Listening: the port.
    pub listen_port: String,
    /// Listening: the Octopus Server thumbprint to trust (may be left empty and added later).
    pub server_thumbprint: String,
    /// Polling: the proxy for polling connections.
    pub proxy: ProxyChoice,
    /// Proxy host (custom proxy).
    pub proxy_host: String,
    /// Proxy port (custom proxy).
    pub proxy_port: String,
    /// Proxy user name.
    pub proxy_username: String,
    /// Proxy password (never shown in a script).
    pub proxy_password: String,
    /// Polling: the Octopus Server's web address.
    pub server_url: String,
    /// API key or user name and password.
    pub auth: AuthMode,
    /// The API key (never shown in a script).
    pub api_key: String,
    /// The user name.
    pub username: String,
    /// The password (never shown in a script).
    pub password: String,
    /// How polling connections reach the server.
    pub comms: Comms,
    /// The polling port (Comms::Port).
    pub comms_port: String,
    /// The polling address (Comms::Address443), such as `https://polling.example.octopus.app`.
    pub comms_address: String,
    /// The WebSocket address (Comms::WebSocket).
    pub web_socket: String,
    /// Deployment target or worker.
    pub machine_type: MachineType,
    /// The space (empty: the default space).
    pub space: String,
    /// Comma-separated environments (targets).
    pub environments: String,
    /// Comma-separated roles (targets).
    pub roles: String,
    /// Comma-separated tenants (targets).
    pub tenants: String,
    /// Comma-separated tenant tags `Set/Tag` (targets).
    pub tenant_tags: String,
    /// Comma-separated worker pools (workers).
    pub worker_pools: String,
    /// Machine policy (empty: the server's default).
    pub policy: String,
    /// The name shown in Octopus.
    pub display_name: String,
    /// Overwrite a machine with the same name (`--force`).
    pub overwrite: bool,
    /// Install and start the background service at the end.
    pub install_service: bool,
    /// Listening: add a firewall exception for the port (the original's checkbox, on by default).
    pub firewall: bool,
    /// The active firewall the exception would go into: Windows Firewall on Windows; on Linux
    /// ufw or firewalld once found active (`None`: the checkbox is not offered).
    pub firewall_found: Option<tentacle_core::firewall::Firewall>,
}

impl std::fmt::Debug for Answers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answers")
            .field("instance", &self.instance)
            .field("style", &self.style)
            .field("home", &self.home)
            .field("server_url", &self.server_url)
            .field("auth", &self.auth)
            .field("username", &self.username)
            .field("comms", &self.comms)
            .field("machine_type", &self.machine_type)
            .finish_non_exhaustive()
    }
}

impl Answers {
    /// The wizard's defaults for `instance` whose instances live under `root_dir`
    /// (home `<root>/<instance>`, applications `<home>/Applications`).
    pub fn new(instance: &str, default_home: &Path, machine_name: &str) -> Answers {
        let home = default_home.display().to_string();
        let app_dir = default_home.join("Applications").display().to_string();
        Answers {
            instance: instance.to_owned(),
            style: Style::Listening,
            home,
            app_dir,
            listen_port: "10933".to_owned(),
            server_thumbprint: String::new(),
            proxy: ProxyChoice::NoProxy,
            proxy_host: String::new(),
            proxy_port: "80".to_owned(),
            proxy_username: String::new(),
            proxy_password: String::new(),
            server_url: "https://".to_owned(),
            auth: AuthMode::ApiKey,
            api_key: String::new(),
            username: String::new(),
            password: String::new(),
            comms: Comms::Port,
            comms_port: "10943".to_owned(),
            comms_address: String::new(),
            web_socket: String::new(),
            machine_type: MachineType::DeploymentTarget,
            space: String::new(),
            environments: String::new(),
            roles: String::new(),
            tenants: String::new(),
            tenant_tags: String::new(),
            worker_pools: String::new(),
            policy: String::new(),
            display_name: machine_name.to_owned(),
            overwrite: false,
            install_service: true,
            firewall: true,
            firewall_found: cfg!(windows)
                .then_some(tentacle_core::firewall::Firewall::WindowsFirewall),
        }
    }

    /// The configuration file the wizard creates: `<home>/tentacle.toml`.
    pub fn config_path(&self) -> String {
        Path::new(self.home.trim())
            .join("tentacle.toml")
            .display()
            .to_string()
    }

    /// The listening port, once valid.
    pub fn port(&self) -> Result<u16, String> {
        parse_port(
            &self.listen_port,
            "Please enter a TCP port for Tentacle to listen on (1-65535)",
        )
    }

    /// The thumbprint to trust, when one was entered and is valid.
    pub fn thumbprint(&self) -> Result<Option<Thumbprint>, String> {
        if self.server_thumbprint.trim().is_empty() {
            return Ok(None);
        }
        Thumbprint::parse(&self.server_thumbprint)
            .map(Some)
            .map_err(|e| e.to_string())
    }

    /// The server URL, once it is an absolute http(s) URL.
    pub fn server(&self) -> Result<url::Url, String> {
        let bad = || {
            "Please enter a valid Octopus Server URL, such as https://octopus.example.com"
                .to_owned()
        };
        let url = url::Url::parse(self.server_url.trim()).map_err(|_| bad())?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
            return Err(bad());
        }
        Ok(url)
    }
}

/// A field the user can fix, for inline errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// Home folder.
    Home,
    /// Application folder.
    AppDir,
    /// Listening port.
    ListenPort,
    /// Server thumbprint.
    Thumbprint,
    /// Proxy host.
    ProxyHost,
    /// Proxy port.
    ProxyPort,
    /// Proxy user name or password.
    ProxyCredentials,
    /// Server URL.
    ServerUrl,
    /// API key.
    ApiKey,
    /// User name.
    Username,
    /// Password.
    Password,
    /// Polling port, address or WebSocket.
    Comms,
    /// Environments.
    Environments,
    /// Roles.
    Roles,
    /// Worker pools.
    WorkerPools,
    /// Display name.
    DisplayName,
}

/// One problem on a page: which field, and the sentence to show under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field.
    pub field: Field,
    /// What is wrong and how to fix it.
    pub message: String,
}

fn err(field: Field, message: impl Into<String>) -> FieldError {
    FieldError {
        field,
        message: message.into(),
    }
}

/// The storage page: both folders absolute (the wizard never guesses what a relative path is relative to).
pub fn check_storage(a: &Answers) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (field, value, what) in [
        (Field::Home, &a.home, "Tentacle home folder"),
        (Field::AppDir, &a.app_dir, "application folder"),
    ] {
        let value = value.trim();
        if value.is_empty() {
            errors.push(err(field, format!("Please enter the {what}")));
        } else if !Path::new(value).is_absolute() {
            errors.push(err(
                field,
                format!("The {what} must be a full path, such as /etc/tentacle/Tentacle: {value}"),
            ));
        }
    }
    errors
}

/// The polling proxy page.
pub fn check_proxy(a: &Answers) -> Vec<FieldError> {
    let mut errors = Vec::new();
    match a.proxy {
        ProxyChoice::NoProxy | ProxyChoice::Default => {}
        ProxyChoice::DefaultWithCredentials => {
            if a.proxy_username.trim().is_empty() || a.proxy_password.is_empty() {
                errors.push(err(
                    Field::ProxyCredentials,
                    "Please enter a username/password for the proxy server",
                ));
            }
        }
        ProxyChoice::Custom => {
            if proxy_host(&a.proxy_host).is_empty() {
                errors.push(err(
                    Field::ProxyHost,
                    "Please enter a host name for the proxy server",
                ));
            }
            if let Err(e) = parse_port(
                &a.proxy_port,
                "The proxy port must be a number from 1 to 65535",
            ) {
                errors.push(err(Field::ProxyPort, e));
            }
        }
    }
    errors
}

/// The Octopus Server page: URL, credentials, and how polling reaches the server.
pub fn check_server(a: &Answers) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Err(e) = a.server() {
        errors.push(err(Field::ServerUrl, e));
    }
    match a.auth {
        AuthMode::ApiKey => {
            let key = a.api_key.trim();
            if key.is_empty() {
                errors.push(err(Field::ApiKey, "Please enter your API key"));
            } else if !key.starts_with("API-") {
                errors.push(err(
                    Field::ApiKey,
                    "The API key you provided doesn't start with \"API-\" as expected. It's possible you've copied the wrong thing from the Octopus Portal.",
                ));
            }
        }
        AuthMode::UsernamePassword => {
            if a.username.trim().is_empty() {
                errors.push(err(Field::Username, "Please enter your username"));
            }
            if a.password.is_empty() {
                errors.push(err(Field::Password, "Please enter your password"));
            }
        }
    }
    match a.comms {
        Comms::Port => {
            if let Err(e) = parse_port(
                &a.comms_port,
                "Please enter a TCP port for Tentacle to communicate with the Octopus Server",
            ) {
                errors.push(err(Field::Comms, e));
            }
        }
        Comms::Address443 => {
            if let Err(e) = comms_address(&a.comms_address) {
                errors.push(err(Field::Comms, e));
            }
        }
        Comms::WebSocket => {
            if let Err(e) = trust::web_socket_address(&a.web_socket) {
                errors.push(err(Field::Comms, e.to_string()));
            }
        }
    }
    errors
}

/// The registration page.
pub fn check_registration(a: &Answers) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if a.display_name.trim().is_empty() {
        errors.push(err(Field::DisplayName, "Please enter a machine name"));
    }
    match a.machine_type {
        MachineType::DeploymentTarget => {
            if list(&a.environments).is_empty() {
                errors.push(err(Field::Environments, "Please select an environment"));
            }
            if list(&a.roles).is_empty() {
                errors.push(err(
                    Field::Roles,
                    "Please select or enter at least one role",
                ));
            }
        }
        MachineType::Worker => {
            if list(&a.worker_pools).is_empty() {
                errors.push(err(
                    Field::WorkerPools,
                    "Please select at least one worker pool",
                ));
            }
        }
    }
    errors
}

/// The listening page: a port, and a thumbprint when one is entered.
pub fn check_listening(a: &Answers) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Err(e) = a.port() {
        errors.push(err(Field::ListenPort, e));
    }
    if let Err(e) = a.thumbprint() {
        errors.push(err(Field::Thumbprint, e));
    }
    errors
}

/// A polling address on port 443: `https://polling.host` (the scheme is added when missing).
pub fn comms_address(input: &str) -> Result<String, String> {
    let input = input.trim();
    let with_scheme = if input.contains("://") {
        input.to_owned()
    } else {
        format!("https://{input}")
    };
    match url::Url::parse(&with_scheme) {
        Ok(url) if url.scheme() == "https" && url.host_str().is_some_and(|h| !h.is_empty()) => {
            Ok(with_scheme.trim_end_matches('/').to_owned())
        }
        _ => Err(format!(
            "Please enter the polling address, such as https://polling.example.octopus.app: {input}"
        )),
    }
}

/// Only the host part of what was typed into the proxy host field (as the original keeps it).
pub fn proxy_host(input: &str) -> String {
    let input = input.trim();
    let rest = input.split_once("://").map_or(input, |(_, rest)| rest);
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // Strip a port unless the host is a bracketed IPv6 address.
    match host.rsplit_once(':') {
        Some((h, port)) if !h.contains(':') && port.chars().all(|c| c.is_ascii_digit()) => {
            h.to_owned()
        }
        _ => host.to_owned(),
    }
}

/// Comma-separated values, trimmed, empties dropped.
pub fn list(input: &str) -> Vec<String> {
    input
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn parse_port(input: &str, message: &str) -> Result<u16, String> {
    match input.trim().parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(format!("{message}: {}", input.trim())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers() -> Answers {
        Answers::new("Tentacle", Path::new("/etc/tentacle/Tentacle"), "web01")
    }

    #[test]
    fn debug_leaves_secrets_out() {
        let mut a = answers();
        a.api_key = "API-SECRET".into();
        a.password = "hunter2".into();
        a.proxy_password = "pp-secret".into();
        let text = format!("{a:?}");
        assert!(
            !text.contains("API-SECRET")
                && !text.contains("hunter2")
                && !text.contains("pp-secret"),
            "{text}"
        );
    }

    #[test]
    fn defaults_are_the_originals() {
        let a = answers();
        assert_eq!(a.listen_port, "10933");
        assert_eq!(a.comms_port, "10943");
        assert_eq!(a.app_dir, "/etc/tentacle/Tentacle/Applications");
        assert_eq!(a.config_path(), "/etc/tentacle/Tentacle/tentacle.toml");
        assert!(check_storage(&a).is_empty());
        assert!(
            check_listening(&a).is_empty(),
            "an empty thumbprint may be added later"
        );
    }

    #[test]
    fn storage_needs_full_paths() {
        let mut a = answers();
        a.home = "relative/dir".into();
        a.app_dir = " ".into();
        let errors = check_storage(&a);
        assert_eq!(errors.len(), 2);
        assert!(
            errors[0].message.contains("must be a full path"),
            "{errors:?}"
        );
        assert_eq!(errors[1].message, "Please enter the application folder");
    }

    #[test]
    fn listening_checks_port_and_thumbprint() {
        let mut a = answers();
        a.listen_port = "70000".into();
        a.server_thumbprint = "API-ABCDEF".into();
        let errors = check_listening(&a);
        assert_eq!(errors[0].field, Field::ListenPort);
        assert!(
            errors[1].message.starts_with("This is an API key"),
            "{errors:?}"
        );
        a.listen_port = "10933".into();
        a.server_thumbprint = "ab:cd".into();
        assert!(check_listening(&a)[0].message.contains("exactly 40"));
    }

    #[test]
    fn server_page_checks_url_key_and_comms() {
        let mut a = answers();
        a.style = Style::Polling;
        let errors = check_server(&a);
        let fields: Vec<_> = errors.iter().map(|e| e.field).collect();
        assert_eq!(fields, [Field::ServerUrl, Field::ApiKey]);
        a.server_url = "https://octopus.example".into();
        a.api_key = "0123".into();
        assert!(
            check_server(&a)[0]
                .message
                .contains("doesn't start with \"API-\"")
        );
        a.api_key = "API-KEY".into();
        a.comms = Comms::WebSocket;
        a.web_socket = "ftp://x".into();
        assert!(check_server(&a)[0].message.contains("wss://"));
        a.comms = Comms::Address443;
        a.comms_address = "polling.example.octopus.app".into();
        assert!(check_server(&a).is_empty());
        a.auth = AuthMode::UsernamePassword;
        assert_eq!(check_server(&a).len(), 2);
    }

    #[test]
    fn proxy_and_registration_pages() {
        let mut a = answers();
        a.proxy = ProxyChoice::Custom;
        a.proxy_host = "http://proxy.local:3128/path".into();
        assert_eq!(proxy_host(&a.proxy_host), "proxy.local");
        assert!(check_proxy(&a).is_empty());
        a.proxy_port = "x".into();
        assert_eq!(check_proxy(&a)[0].field, Field::ProxyPort);
        a.proxy = ProxyChoice::DefaultWithCredentials;
        assert_eq!(check_proxy(&a)[0].field, Field::ProxyCredentials);

        let errors = check_registration(&a);
        assert_eq!(errors.len(), 2, "{errors:?}");
        a.environments = "Test, ,Prod".into();
        a.roles = "web".into();
        assert!(check_registration(&a).is_empty());
        assert_eq!(list(&a.environments), ["Test", "Prod"]);
        a.machine_type = MachineType::Worker;
        assert_eq!(check_registration(&a)[0].field, Field::WorkerPools);
    }
}
