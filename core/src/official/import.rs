//! Adopting an official instance: read and validate everything first ([`plan`], no writes), then create ours, stop and disable theirs, and roll back on any failure ([`import`]).

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::OfficialError;
use super::discovery::{OfficialInstance, find_instance};
use super::machine_key::MachineKey;
use super::service::{self, ServiceState};
use super::xml_config::XmlConfig;
use crate::certificate::TentacleCertificate;
use crate::instance::{
    Communication, DEFAULT_INSTANCE, DEFAULT_LISTEN_PORT, ProxyMode, ProxySettings,
};
use crate::trust::{CommunicationStyle, Thumbprint, TrustedServer};

/// What to adopt.
#[derive(Debug, Clone, Default)]
pub struct ImportRequest {
    /// The instance name: which official instance to adopt, and ours gets the same name.
    pub instance: Option<String>,
    /// Read this Tentacle.config instead of looking the instance up.
    pub from_config: Option<PathBuf>,
    /// Also install (and start) our service.
    pub install_service: bool,
    /// The `tentacle` executable our service would run.
    pub executable: Option<PathBuf>,
}

/// Everything an import would do, read and validated, nothing written yet.
#[derive(Debug, Clone)]
pub struct ImportPlan {
    /// Our instance's name.
    pub name: String,
    /// The official instance, when found through the index.
    pub official: Option<OfficialInstance>,
    /// The Tentacle.config that was read.
    pub source_config: PathBuf,
    /// The decrypted certificate (thumbprint checked).
    pub certificate: TentacleCertificate,
    /// Which machine key decrypted it.
    pub key_source: String,
    /// Octopus.Home.
    pub home: PathBuf,
    /// Tentacle.Deployment.ApplicationDirectory (Tentacle's default when unset).
    pub application_directory: PathBuf,
    /// Port, listen IP, no-listen, polling connection count.
    pub communication: Communication,
    /// The trusted servers, in file order.
    pub trusted_servers: Vec<TrustedServer>,
    /// Octopus.Proxy.*.
    pub proxy: ProxySettings,
    /// Octopus.Server.Proxy.*.
    pub polling_proxy: ProxySettings,
    /// The official service now.
    pub service: ServiceState,
    /// What cannot be carried over, each with why.
    pub not_carried: Vec<String>,
}

impl ImportPlan {
    /// Listening or polling, as a sentence fragment: "listening on port 10933", "polling 2 servers".
    pub fn mode_text(&self) -> String {
        let polling = self
            .trusted_servers
            .iter()
            .filter(|s| s.style == CommunicationStyle::Polling)
            .count();
        let mut parts = Vec::new();
        if !self.communication.no_listen {
            let ip = self
                .communication
                .listen_ip
                .as_deref()
                .unwrap_or("all addresses");
            parts.push(format!(
                "listening on port {} ({ip})",
                self.communication.port
            ));
        }
        if polling > 0 {
            parts.push(format!(
                "polling {polling} server{}",
                if polling == 1 { "" } else { "s" }
            ));
        }
        if parts.is_empty() {
            "neither listening nor polling".to_owned()
        } else {
            parts.join(" and ")
        }
    }

    /// What happens to the official service, in one sentence.
    pub fn service_text(&self) -> String {
        if !self.service.installed {
            return format!(
                "The Octopus Tentacle service {} is not installed; nothing to stop.",
                self.service.name
            );
        }
        format!(
            "The Octopus Tentacle service {} ({}) will be stopped and disabled, not removed; its config stays as it is, so it can be handed back.",
            self.service.name,
            if self.service.active {
                "running"
            } else {
                "stopped"
            }
        )
    }

    /// The summary `--dry-run` prints and the manager shows; secrets are masked.
    pub fn summary(&self) -> Vec<String> {
        let mut lines = vec![
            format!("Instance: {}", self.name),
            format!("From: {}", self.source_config.display()),
            format!(
                "Certificate thumbprint: {} (private key decrypted with {})",
                self.certificate.thumbprint(),
                self.key_source
            ),
            format!("Mode: {}", self.mode_text()),
            format!("Home: {}", self.home.display()),
            format!("Applications: {}", self.application_directory.display()),
        ];
        if let Some(n) = self.communication.polling_connection_count {
            lines.push(format!("Polling connections per server: {n}"));
        }
        for s in &self.trusted_servers {
            let mut line = format!(
                "Trusted server {} ({})",
                s.thumbprint,
                s.style.tentacle_name()
            );
            if let Some(a) = &s.address {
                line.push_str(&format!(" at {a}"));
            }
            if let Some(id) = &s.subscription_id {
                line.push_str(&format!(", subscription {id}"));
            }
            lines.push(line);
        }
        for (label, p) in [
            ("Web proxy", &self.proxy),
            ("Polling proxy", &self.polling_proxy),
        ] {
            let mut line = format!("{label}: {}", p.describe());
            if let Some(h) = &p.host {
                line.push_str(&format!(" ({h}:{})", p.port.unwrap_or(80)));
            }
            if p.password.is_some() {
                line.push_str(", password ********");
            }
            lines.push(line);
        }
        lines.push(self.service_text());
        for n in &self.not_carried {
            lines.push(format!("Not carried over: {n}"));
        }
        lines
    }
}

/// Keys this import reads, or knowingly leaves behind without loss.
const HANDLED: &[&str] = &[
    "Octopus.Home",
    "Tentacle.Certificate",
    "Tentacle.CertificateThumbprint",
    "Tentacle.Services.PortNumber",
    "Tentacle.Services.ListenIP",
    "Tentacle.Services.NoListen",
    "Tentacle.Services.IsRegistered",
    "Tentacle.Deployment.ApplicationDirectory",
    "Tentacle.Communication.TrustedOctopusServers",
    "Tentacle.Communication.PollingConnectionCount",
    "Tentacle.Communication.LastReceivedHandshake",
    "Octopus.Node.Cache",
    "Octopus.Proxy.UseDefaultProxy",
    "Octopus.Proxy.ProxyHost",
    "Octopus.Proxy.ProxyPort",
    "Octopus.Proxy.ProxyUsername",
    "Octopus.Proxy.ProxyPassword",
    "Octopus.Server.Proxy.UseDefaultProxy",
    "Octopus.Server.Proxy.ProxyHost",
    "Octopus.Server.Proxy.ProxyPort",
    "Octopus.Server.Proxy.ProxyUsername",
    "Octopus.Server.Proxy.ProxyPassword",
];

/// Reads the official instance and checks everything an import needs, changing nothing.
pub fn plan(request: &ImportRequest) -> Result<ImportPlan, OfficialError> {
    let (official, source_config, name) = match &request.from_config {
        Some(path) => {
            let path = std::path::absolute(path).unwrap_or_else(|_| path.clone());
            let name = request
                .instance
                .clone()
                .unwrap_or_else(|| DEFAULT_INSTANCE.to_owned());
            (None, path, name)
        }
        None => {
            let found = find_instance(request.instance.as_deref())?;
            let name = found.name.clone();
            (Some(found.clone()), found.config, name)
        }
    };
    crate::instance::validate_name(&name)?;
    let text = std::fs::read_to_string(&source_config)
        .map_err(|e| OfficialError::io("read the Octopus Tentacle config", &source_config, e))?;
    let xml = XmlConfig::parse(&text).map_err(|problem| OfficialError::Unparseable {
        problem,
        path: source_config.clone(),
    })?;
    let bad = |problem: String| OfficialError::BadSetting {
        problem,
        path: source_config.clone(),
    };

    let expected = xml.get("Tentacle.CertificateThumbprint").ok_or_else(|| {
        bad("The config has no Tentacle.CertificateThumbprint: this Tentacle has no certificate yet, so there is no identity to adopt; configure it with the official Tentacle or set ours up from scratch".to_owned())
    })?;
    let expected = Thumbprint::parse(expected).map_err(|e| {
        bad(format!(
            "Tentacle.CertificateThumbprint is not a thumbprint ({e})"
        ))
    })?;
    let protected = xml.get("Tentacle.Certificate").ok_or_else(|| {
        bad("The config has a thumbprint but no Tentacle.Certificate, so the private key is not there to adopt".to_owned())
    })?;
    let (certificate, key) = decrypt_certificate(protected, &expected, &source_config)?;
    let key_source = key.describe();

    let mut not_carried = Vec::new();
    let home = match xml.get("Octopus.Home") {
        Some(h) if Path::new(h).is_absolute() => PathBuf::from(h),
        Some(h) => source_config
            .parent()
            .map(|p| p.join(h))
            .unwrap_or_else(|| PathBuf::from(h)),
        None => source_config
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
    };
    let application_directory = xml
        .get("Tentacle.Deployment.ApplicationDirectory")
        .map(PathBuf::from)
        .unwrap_or_else(default_application_directory);
    let port = match xml.get("Tentacle.Services.PortNumber") {
        None => DEFAULT_LISTEN_PORT,
        Some(p) => p
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| {
                bad(format!(
                    "Tentacle.Services.PortNumber '{p}' is not a port (1-65535)"
                ))
            })?,
    };
    let no_listen = parse_bool(&xml, "Tentacle.Services.NoListen", false).map_err(bad)?;
    let listen_ip = xml
        .get("Tentacle.Services.ListenIP")
        .map(|s| s.trim().to_owned());
    let polling_connection_count = match xml.get("Tentacle.Communication.PollingConnectionCount") {
        None => None,
        Some(v) if v.trim() == "null" => None,
        Some(v) => Some(v.trim().parse::<u32>().map_err(|_| {
            bad(format!(
                "Tentacle.Communication.PollingConnectionCount '{v}' is not a number"
            ))
        })?),
    };
    let trusted_servers = trusted_servers(&xml, no_listen, &mut not_carried).map_err(bad)?;
    let web_proxy = read_proxy(&xml, "Octopus.Proxy.", &key, &mut not_carried).map_err(bad)?;
    let polling_proxy =
        read_proxy(&xml, "Octopus.Server.Proxy.", &key, &mut not_carried).map_err(bad)?;
    for k in xml.keys() {
        if !HANDLED.iter().any(|h| h.eq_ignore_ascii_case(k))
            && !not_carried.iter().any(|n| n.starts_with(k))
        {
            not_carried.push(format!("{k}: this Tentacle does not use this setting"));
        }
    }
    not_carried.push("the Watchdog scheduled task and the service's log-on account: set them up for this Tentacle if you used them".to_owned());
    let service = service::inspect(official.as_ref().map_or(name.as_str(), |o| o.name.as_str()));
    if request.install_service && cfg!(windows) && service.installed {
        return Err(bad(format!(
            "Our service would take the name of the Octopus Tentacle service '{}'. Import without --install-service and install ours later, or import under another name with --instance NAME --from-config PATH",
            service.name
        )));
    }
    Ok(ImportPlan {
        name,
        official,
        source_config,
        certificate,
        key_source,
        home,
        application_directory,
        communication: Communication {
            port,
            no_listen,
            listen_ip,
            polling_connection_count,
            ..Communication::default()
        },
        trusted_servers,
        proxy: web_proxy,
        polling_proxy,
        service,
        not_carried,
    })
}

fn default_application_directory() -> PathBuf {
    if cfg!(windows) {
        PathBuf::from(r"C:\Octopus\Applications")
    } else {
        PathBuf::from("/home/Octopus/Applications")
    }
}

fn parse_bool(xml: &XmlConfig, key: &str, default: bool) -> Result<bool, String> {
    match xml
        .get(key)
        .map(|v| v.trim().trim_matches('"').to_ascii_lowercase())
    {
        None => Ok(default),
        Some(v) if v == "true" => Ok(true),
        Some(v) if v == "false" => Ok(false),
        Some(v) => Err(format!("{key} '{v}' is neither true nor false")),
    }
}

/// Tries each machine key in Tentacle's order; a key counts only if the result opens as a PFX
/// whose thumbprint is the configured one (a wrong key can pass the padding check by chance).
fn decrypt_certificate(
    protected: &str,
    expected: &Thumbprint,
    path: &Path,
) -> Result<(TentacleCertificate, MachineKey), OfficialError> {
    use base64::Engine;
    let mut tried = Vec::new();
    let mut mismatch = None;
    for candidate in MachineKey::candidates() {
        let key = match candidate {
            Ok(k) => k,
            Err(why) => {
                tried.push(why);
                continue;
            }
        };
        let text = match key.decrypt(protected) {
            Ok(t) => t,
            Err(why) => {
                tried.push(format!("{}: {why}", key.describe()));
                continue;
            }
        };
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let pfx = match base64::engine::general_purpose::STANDARD.decode(compact) {
            Ok(b) => Zeroizing::new(b),
            Err(_) => {
                tried.push(format!(
                    "{}: the result is not a base64 PFX (wrong key)",
                    key.describe()
                ));
                continue;
            }
        };
        match TentacleCertificate::from_pfx(&pfx, "") {
            Ok(cert) if &cert.thumbprint() == expected => return Ok((cert, key)),
            Ok(cert) => mismatch = Some(cert.thumbprint()),
            Err(e) => tried.push(format!(
                "{}: the result is not a usable PFX ({e})",
                key.describe()
            )),
        }
    }
    if let Some(found) = mismatch {
        return Err(OfficialError::ThumbprintMismatch {
            expected: expected.to_string(),
            found: found.to_string(),
            path: path.to_path_buf(),
        });
    }
    Err(OfficialError::Undecryptable {
        tried: tried.join("; "),
        path: path.to_path_buf(),
    })
}

fn trusted_servers(
    xml: &XmlConfig,
    no_listen: bool,
    not_carried: &mut Vec<String>,
) -> Result<Vec<TrustedServer>, String> {
    let key = "Tentacle.Communication.TrustedOctopusServers";
    let Some(text) = xml.get(key) else {
        return Ok(Vec::new());
    };
    let list: Vec<serde_json::Value> =
        serde_json::from_str(text).map_err(|e| format!("{key} is not a JSON array ({e})"))?;
    let mut out = Vec::new();
    for entry in list {
        let field = |name: &str| entry.get(name).filter(|v| !v.is_null());
        let thumb = field("Thumbprint")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        let thumbprint = Thumbprint::parse(thumb)
            .map_err(|e| format!("{key} has an entry with a bad thumbprint ({e})"))?;
        let style_text = match field("CommunicationStyle") {
            None => "0".to_owned(),
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
        };
        let style = match style_text.trim().to_ascii_lowercase().as_str() {
            // Tentacle rewrites style None to TentaclePassive at start unless NoListen is set.
            "0" | "none" if !no_listen => CommunicationStyle::Listening,
            "1" | "tentaclepassive" => CommunicationStyle::Listening,
            "2" | "tentacleactive" => CommunicationStyle::Polling,
            other => {
                not_carried.push(format!(
                    "trusted server {thumbprint} with communication style {other}: this Tentacle only listens or polls"
                ));
                continue;
            }
        };
        let address = field("Address").and_then(|v| v.as_str()).map(str::to_owned);
        let subscription_id = field("SubscriptionId")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        if style == CommunicationStyle::Polling && (address.is_none() || subscription_id.is_none())
        {
            not_carried.push(format!(
                "polling server {thumbprint}: it has no address or subscription id, so it cannot be polled; register again with tentacle poll-server"
            ));
            continue;
        }
        out.push(TrustedServer {
            thumbprint,
            style,
            address: if style == CommunicationStyle::Polling {
                address
            } else {
                None
            },
            subscription_id: if style == CommunicationStyle::Polling {
                subscription_id
            } else {
                None
            },
        });
    }
    Ok(out)
}

fn read_proxy(
    xml: &XmlConfig,
    prefix: &str,
    key: &MachineKey,
    not_carried: &mut Vec<String>,
) -> Result<ProxySettings, String> {
    let get = |k: &str| {
        xml.get(&format!("{prefix}{k}"))
            .map(|v| v.trim().to_owned())
    };
    let use_default = parse_bool(xml, &format!("{prefix}UseDefaultProxy"), true)?;
    let host = get("ProxyHost");
    let port = match get("ProxyPort") {
        None => None,
        Some(p) => Some(
            p.parse::<u16>()
                .map_err(|_| format!("{prefix}ProxyPort '{p}' is not a port"))?,
        ),
    };
    let password = match get("ProxyPassword") {
        None => None,
        Some(p) => match key.decrypt(&p) {
            Ok(text) => Some(text.to_string()),
            Err(why) => {
                not_carried.push(format!(
                    "{prefix}ProxyPassword: it could not be decrypted ({why}); set it again with tentacle {}proxy --proxyPassword",
                    if prefix.contains("Server") { "polling-" } else { "" }
                ));
                None
            }
        },
    };
    let mode = if use_default {
        ProxyMode::Default
    } else if host.is_some() {
        ProxyMode::Custom
    } else {
        ProxyMode::None
    };
    Ok(ProxySettings {
        mode,
        host,
        port,
        username: get("ProxyUsername"),
        password,
    })
}

/// What an import did.
#[derive(Debug, Clone)]
pub struct ImportReport {
    /// Our new instance's record.
    pub record: crate::instance::InstanceRecord,
    /// One line per step, for the CLI and the manager's progress.
    pub steps: Vec<String>,
}

/// Adopts the planned instance. Any failure undoes what was done, so both installs stay as they were.
pub fn import(
    plan: &ImportPlan,
    request: &ImportRequest,
    progress: &mut dyn FnMut(&str),
) -> Result<ImportReport, OfficialError> {
    super::apply::run(plan, request, progress)
}
