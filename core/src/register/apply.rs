//! The registration, deregistration and `poll-server` sequences (§5), and the trust entries they write through the locked config updater.

use std::path::Path;

use reqwest::Method;
use serde_json::{Value, json};

use super::client::OctopusClient;
use super::comms_check::{self, CommsAnswer, CommsCheckOptions};
use super::documents::{self, Endpoint};
use super::lookup::{self, Existing};
use super::plan::{
    CommsChoice, Deregistered, MachineKind, PollServer, Registered, Registration,
    TenantedDeploymentParticipation, host_name,
};
use super::{RegisterError, ServerOptions};
use crate::halibut::transport::proxy::ProxySettings as TunnelProxy;
use crate::instance::TentacleConfig;
use crate::trust::{self, CommunicationStyle, Thumbprint, TrustedServer};

fn own_thumbprint(config: &TentacleConfig, selector: &str) -> Result<Thumbprint, RegisterError> {
    config
        .certificate
        .as_ref()
        .map(|c| c.thumbprint.clone())
        .ok_or_else(|| RegisterError::NoCertificate {
            selector: selector.to_owned(),
        })
}

/// Where to poll: the WebSocket URL or `https://host:port/`.
fn polling_target(
    server: Option<&url::Url>,
    comms_address: Option<&str>,
    comms_port: Option<u16>,
    web_socket: Option<&str>,
) -> Result<String, RegisterError> {
    match web_socket.map(str::trim).filter(|w| !w.is_empty()) {
        Some(ws) => {
            if comms_address.is_some_and(|a| !a.trim().is_empty()) {
                return Err(RegisterError::Invalid(
                    "--server-web-socket cannot be combined with --server-comms-address: pass one of them".to_owned(),
                ));
            }
            Ok(trust::web_socket_address(ws)?)
        }
        None => match server {
            Some(s) => comms_check::polling_address(s, comms_address, comms_port),
            None => {
                let a = comms_address.ok_or(RegisterError::NoServer)?;
                let placeholder = url::Url::parse("https://localhost/")
                    .map_err(|e| RegisterError::Invalid(format!("internal URL error ({e})")))?;
                comms_check::polling_address(&placeholder, Some(a), comms_port)
            }
        },
    }
}

async fn check_polling(
    address: &str,
    config: &TentacleConfig,
    progress: &mut dyn FnMut(&str),
) -> Result<CommsAnswer, RegisterError> {
    let port = crate::halibut::dial::Address::parse(address)
        .ok()
        .map(|a| match a {
            crate::halibut::dial::Address::Tcp { port, .. } => port,
            crate::halibut::dial::Address::WebSocket(u) => u.port_or_known_default().unwrap_or(443),
        })
        .unwrap_or(crate::instance::DEFAULT_POLLING_PORT);
    progress(&format!(
        "Checking connectivity on the server communications port {port}..."
    ));
    let opts = CommsCheckOptions {
        proxy: TunnelProxy::for_polling(config),
        ..CommsCheckOptions::default()
    };
    let answer = comms_check::check_comms_address_with(address, &opts).await?;
    progress("Connected successfully");
    Ok(answer)
}

/// Registers this Tentacle (the config at `config_path`) as a target or worker, then trusts
/// the server. `selector` (`--instance "X"`) goes into hints; `progress` gets Tentacle's
/// progress lines. Nothing is written locally unless the server accepted the registration.
pub async fn register(
    opts: &ServerOptions,
    reg: &Registration,
    config_path: &Path,
    selector: &str,
    progress: &mut dyn FnMut(&str),
) -> Result<Registered, RegisterError> {
    match &reg.kind {
        MachineKind::Target {
            environments,
            roles,
            ..
        } => {
            if environments.iter().all(|e| e.trim().is_empty()) {
                return Err(RegisterError::Invalid(
                    "Please specify an environment name, slug or Id, e.g. --environment=Development".to_owned(),
                ));
            }
            if roles.iter().all(|r| r.trim().is_empty()) {
                return Err(RegisterError::Invalid(
                    "Please specify a role, e.g. --role=web-server".to_owned(),
                ));
            }
        }
        MachineKind::Worker { pools } => {
            if pools.iter().all(|p| p.trim().is_empty()) {
                return Err(RegisterError::Invalid(
                    "Please specify a worker pool name, slug or Id, e.g. --workerpool=\"Default Worker Pool\"".to_owned(),
                ));
            }
        }
    }
    let config = TentacleConfig::load(config_path)?;
    let tentacle_thumbprint = own_thumbprint(&config, selector)?;

    // Pre-flight for polling: a registration whose comms port is unreachable can never work.
    let polling = match &reg.comms {
        CommsChoice::Polling {
            comms_address,
            comms_port,
            web_socket,
            subscription_id,
        } => {
            let address = polling_target(
                Some(&opts.server),
                comms_address.as_deref(),
                *comms_port,
                web_socket.as_deref(),
            )?;
            if let Some(id) = subscription_id {
                validate_subscription(id)?;
            }
            let answer = check_polling(&address, &config, progress).await?;
            Some((address, answer, web_socket.is_some()))
        }
        CommsChoice::Listening { .. } => None,
    };

    progress(&format!(
        "Registering the tentacle with the server at {}",
        opts.server
    ));
    let client = OctopusClient::connect(opts).await?;
    let server_thumbprint = match &polling {
        // Seed 000: over WebSockets the certificate to trust is the SSL one on that port.
        Some((_, answer, true)) => answer.thumbprint.clone(),
        _ => client.server_thumbprint().await?,
    };

    let policy = match reg.policy.as_deref().filter(|p| !p.trim().is_empty()) {
        Some(p) => Some(
            lookup::find_all_named(
                &client,
                "MachinePolicies",
                &[p.to_owned()],
                "machine policy",
            )
            .await?
            .remove(0),
        ),
        None => None,
    };
    let name = reg
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(host_name);
    let name = name.trim().to_owned();

    let (link, mut body) = match &reg.kind {
        MachineKind::Target {
            environments,
            roles,
            tenants,
            tenant_tags,
            participation,
        } => {
            let envs =
                lookup::find_all_named(&client, "Environments", environments, "environment(s)")
                    .await?;
            let tenants = if tenants.is_empty() {
                Vec::new()
            } else {
                lookup::find_all_named(&client, "Tenants", tenants, "tenant(s)").await?
            };
            let tags = if tenant_tags.is_empty() {
                Vec::new()
            } else {
                lookup::find_tenant_tags(&client, tenant_tags).await?
            };
            let participation = participation.unwrap_or(if tenants.is_empty() && tags.is_empty() {
                TenantedDeploymentParticipation::Untenanted
            } else {
                TenantedDeploymentParticipation::Tenanted
            });
            let roles: Vec<String> = roles
                .iter()
                .map(|r| r.trim().to_owned())
                .filter(|r| !r.is_empty())
                .collect();
            (
                "Machines",
                json!({
                    "EnvironmentIds": envs.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
                    "Roles": roles,
                    "TenantIds": tenants.iter().map(|t| t.id.clone()).collect::<Vec<_>>(),
                    "TenantTags": tags,
                    "TenantedDeploymentParticipation": participation.as_str(),
                }),
            )
        }
        MachineKind::Worker { pools } => {
            let pools =
                lookup::find_all_named(&client, "WorkerPools", pools, "worker pool(s)").await?;
            (
                "Workers",
                json!({ "WorkerPoolIds": pools.iter().map(|p| p.id.clone()).collect::<Vec<_>>() }),
            )
        }
    };

    let existing = lookup::find_machine_by_name(&client, link, &name).await?;
    if existing.is_some() && !reg.force {
        return Err(RegisterError::Duplicate {
            kind: reg.kind.noun(),
            name,
            place: match reg.kind {
                MachineKind::Target { .. } => "environment",
                MachineKind::Worker { .. } => "worker pool",
            },
        });
    }

    let (endpoint, trusted) = match (&reg.comms, &polling) {
        (
            CommsChoice::Listening {
                public_host,
                port,
                proxy,
            },
            _,
        ) => {
            let host = public_host
                .clone()
                .filter(|h| !h.trim().is_empty())
                .unwrap_or_else(host_name)
                .trim()
                .to_ascii_lowercase();
            let port = port.unwrap_or(config.communication.port);
            let proxy_id = match proxy.as_deref().filter(|p| !p.trim().is_empty()) {
                Some(p) => Some(
                    lookup::find_all_named(&client, "Proxies", &[p.to_owned()], "proxy")
                        .await?
                        .remove(0)
                        .id,
                ),
                None => None,
            };
            let uri = url::Url::parse(&format!("https://{host}:{port}/")).map_err(|e| {
                RegisterError::Invalid(format!(
                    "--publicHostName '{host}' is not a host name or address ({e})"
                ))
            })?;
            (
                Endpoint {
                    communication_style: "TentaclePassive".to_owned(),
                    uri: uri.to_string(),
                    thumbprint: tentacle_thumbprint.to_string(),
                    proxy_id,
                },
                TrustedServer::listening(server_thumbprint.clone()),
            )
        }
        (
            CommsChoice::Polling {
                subscription_id, ..
            },
            Some((address, _, _)),
        ) => {
            let subscription = subscription_id
                .clone()
                .or_else(|| reuse_subscription(&config, &server_thumbprint))
                .unwrap_or_else(trust::generate_subscription_id);
            (
                Endpoint {
                    communication_style: "TentacleActive".to_owned(),
                    uri: subscription.clone(),
                    thumbprint: tentacle_thumbprint.to_string(),
                    proxy_id: None,
                },
                TrustedServer {
                    thumbprint: server_thumbprint.clone(),
                    style: CommunicationStyle::Polling,
                    address: Some(address.clone()),
                    subscription_id: Some(subscription),
                },
            )
        }
        (CommsChoice::Polling { .. }, None) => {
            return Err(RegisterError::Invalid(
                "internal error: polling without a checked address".to_owned(),
            ));
        }
    };

    if let Value::Object(map) = &mut body {
        map.insert("Name".into(), Value::String(name.clone()));
        // Without --policy the server's default applies to a new machine, and a --force
        // update keeps the policy it had, as Tentacle does.
        if let Some(p) = policy {
            map.insert("MachinePolicyId".into(), Value::String(p.id));
        }
        map.insert(
            "Endpoint".into(),
            serde_json::to_value(&endpoint).unwrap_or(Value::Null),
        );
    }
    let saved: Value = match &existing {
        Some(e) => {
            progress(&format!(
                "Updating the existing {} '{}' ({}) because --force was given",
                reg.kind.noun(),
                e.summary.name,
                e.summary.id
            ));
            let url = item_url(&client, link, e)?;
            let mut doc = e.document.clone();
            if let (Value::Object(target), Value::Object(fields)) = (&mut doc, body) {
                for (k, v) in fields {
                    target.insert(k, v);
                }
            }
            client.send(Method::PUT, url, &doc).await?
        }
        None => {
            let url = client.resolve(&documents::expand(client.link(link)?, None))?;
            client.send(Method::POST, url, &body).await?
        }
    };
    let id = saved
        .get("Id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();

    let is_worker = matches!(reg.kind, MachineKind::Worker { .. });
    let entry = trusted.clone();
    TentacleConfig::update(config_path, |c| {
        add_or_update_trust(c, entry);
        if entry_is_polling(&trusted) && c.communication.polling_connection_count.is_none() {
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
            c.communication.polling_connection_count =
                Some(if is_worker { cpus.max(5) } else { 1 });
        }
        Ok::<_, RegisterError>(())
    })?;
    progress(if is_worker {
        "Worker registered successfully"
    } else {
        "Machine registered successfully"
    });
    Ok(Registered {
        id,
        name,
        updated: existing.is_some(),
        trusted,
        space: client.space().map(|s| s.name.clone()),
    })
}

fn entry_is_polling(s: &TrustedServer) -> bool {
    s.style == CommunicationStyle::Polling
}

fn validate_subscription(id: &str) -> Result<(), RegisterError> {
    let ok = url::Url::parse(id.trim())
        .ok()
        .is_some_and(|u| u.scheme() == "poll" && u.host_str().is_some_and(|h| !h.is_empty()));
    if ok {
        Ok(())
    } else {
        Err(RegisterError::Invalid(format!(
            "--server-subscription-id must use the poll scheme, e.g. poll://abcdefghijklmnopqrst/: {id}"
        )))
    }
}

/// A subscription id this Tentacle already uses with this server, so re-registering keeps its queue.
fn reuse_subscription(config: &TentacleConfig, server: &Thumbprint) -> Option<String> {
    config
        .trusted_servers
        .iter()
        .find(|s| &s.thumbprint == server && s.style == CommunicationStyle::Polling)
        .and_then(|s| s.subscription_id.clone())
}

/// Adds the entry, replacing one with the same thumbprint and address (Tentacle's AddOrUpdate).
fn add_or_update_trust(c: &mut TentacleConfig, entry: TrustedServer) {
    let wanted = entry.address.as_deref().map(trust::comparable_address);
    match c.trusted_servers.iter_mut().find(|s| {
        s.thumbprint == entry.thumbprint
            && s.address.as_deref().map(trust::comparable_address) == wanted
    }) {
        Some(s) => *s = entry,
        None => c.trusted_servers.push(entry),
    }
}

fn item_url(client: &OctopusClient, link: &str, e: &Existing) -> Result<url::Url, RegisterError> {
    match e.summary.links.get("Self") {
        Some(own) => client.resolve(&documents::expand(own, None)),
        None => client.resolve(&documents::expand(client.link(link)?, Some(&e.summary.id))),
    }
}

/// Deletes the targets (`worker == false`) or workers registered with this Tentacle's
/// thumbprint. Trust stays in place, as in Tentacle.
pub async fn deregister(
    opts: &ServerOptions,
    worker: bool,
    multiple: bool,
    config_path: &Path,
    selector: &str,
    progress: &mut dyn FnMut(&str),
) -> Result<Deregistered, RegisterError> {
    let config = TentacleConfig::load(config_path)?;
    let thumbprint = own_thumbprint(&config, selector)?;
    let kind = if worker { "worker" } else { "machine" };
    progress(&format!(
        "Deregistering this Tentacle from the server at {}",
        opts.server
    ));
    let client = OctopusClient::connect(opts).await?;
    let link = if worker { "Workers" } else { "Machines" };
    let found = lookup::find_machines_by_thumbprint(&client, link, thumbprint.as_str()).await?;
    if found.is_empty() {
        return Err(RegisterError::NotRegistered {
            kind,
            space: client.space_name(),
            thumbprint: thumbprint.to_string(),
        });
    }
    if found.len() > 1 && !multiple {
        return Err(RegisterError::Multiple {
            kind,
            count: found.len(),
            names: found
                .iter()
                .map(|f| f.summary.name.clone())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let mut names = Vec::new();
    for e in &found {
        progress(&format!(
            "Deleting {kind} '{}' ({})",
            e.summary.name, e.summary.id
        ));
        client.delete(item_url(&client, link, e)?).await?;
        names.push(e.summary.name.clone());
    }
    let server_thumbprint = client.server_thumbprint().await.ok();
    Ok(Deregistered {
        names,
        server_thumbprint,
    })
}

/// Adds another polling address for a server this Tentacle already polls (an HA node).
/// With `reuse_server_thumbprint` no API call is made and `opts` may be `None`.
pub async fn poll_server(
    opts: Option<&ServerOptions>,
    req: &PollServer,
    config_path: &Path,
    selector: &str,
    progress: &mut dyn FnMut(&str),
) -> Result<TrustedServer, RegisterError> {
    let config = TentacleConfig::load(config_path)?;
    let address = polling_target(
        opts.map(|o| &o.server),
        req.comms_address.as_deref(),
        req.comms_port,
        req.web_socket.as_deref(),
    )?;
    let answer = check_polling(&address, &config, progress).await?;
    let polling_entries: Vec<&TrustedServer> = config
        .trusted_servers
        .iter()
        .filter(|s| s.style == CommunicationStyle::Polling && s.subscription_id.is_some())
        .collect();
    let first_polling = || {
        RegisterError::NotTrusted(format!(
            "This Tentacle does not poll any Octopus Server yet. Register it first with: tentacle register-with {selector} --server URL --apiKey KEY --comms-style TentacleActive ... (or set up trust with tentacle configure --trust and tentacle server-comms)"
        ))
    };
    let (thumbprint, subscription) = if req.reuse_server_thumbprint {
        let first = polling_entries.first().ok_or_else(first_polling)?;
        (
            first.thumbprint.clone(),
            first.subscription_id.clone().unwrap_or_default(),
        )
    } else {
        let opts = opts.ok_or(RegisterError::NoServer)?;
        let client = OctopusClient::connect(opts).await?;
        let thumbprint = if req.web_socket.is_some() {
            answer.thumbprint.clone()
        } else {
            client.server_thumbprint().await?
        };
        let entry = polling_entries
            .iter()
            .find(|s| s.thumbprint == thumbprint)
            .ok_or_else(|| {
                RegisterError::NotTrusted(format!(
                    "The Octopus Server's thumbprint {thumbprint} is not trusted as a polling server by this Tentacle. Register first (tentacle register-with {selector} ... --comms-style TentacleActive), or trust it with tentacle configure {selector} --trust {thumbprint} and tentacle server-comms {selector} --style TentacleActive --host HOST"
                ))
            })?;
        (
            thumbprint,
            entry.subscription_id.clone().unwrap_or_default(),
        )
    };
    let entry = TrustedServer {
        thumbprint,
        style: CommunicationStyle::Polling,
        address: Some(address),
        subscription_id: Some(subscription),
    };
    let written = entry.clone();
    TentacleConfig::update(config_path, |c| {
        add_or_update_trust(c, written);
        Ok::<_, RegisterError>(())
    })?;
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_ids_must_be_poll_urls() {
        assert!(validate_subscription("poll://abcdefghijklmnopqrst/").is_ok());
        assert!(validate_subscription("https://x/").is_err());
        assert!(validate_subscription("poll://").is_err());
    }

    #[test]
    fn web_socket_and_comms_address_conflict() {
        let server = url::Url::parse("https://example.com/").unwrap();
        assert!(
            polling_target(
                Some(&server),
                Some("https://polling.example.com"),
                None,
                Some("wss://example.com:443/OctopusComms")
            )
            .is_err()
        );
        assert_eq!(
            polling_target(
                Some(&server),
                None,
                None,
                Some("wss://example.com:443/OctopusComms")
            )
            .unwrap(),
            "wss://example.com/OctopusComms"
        );
    }

    #[test]
    fn trust_entries_are_added_or_updated() {
        let th = Thumbprint::parse(&"A".repeat(40)).unwrap();
        let mut c = TentacleConfig::new("T", "/tmp".into());
        let e = TrustedServer {
            thumbprint: th.clone(),
            style: CommunicationStyle::Polling,
            address: Some("https://x:10943/".into()),
            subscription_id: Some("poll://aaaaaaaaaaaaaaaaaaaa/".into()),
        };
        add_or_update_trust(&mut c, e.clone());
        add_or_update_trust(&mut c, e.clone());
        assert_eq!(c.trusted_servers.len(), 1);
        assert_eq!(
            reuse_subscription(&c, &th).as_deref(),
            Some("poll://aaaaaaaaaaaaaaaaaaaa/")
        );
    }
}
