//! `show-configuration` (Tentacle's JSON shape, secrets left out) and `version`.

use std::path::PathBuf;

use serde_json::{Value, json};

use super::commands::{Format, InstanceArgs};
use super::{CliError, Out, target};
use crate::instance::atomic::{FileMode, write_atomic};
use crate::instance::{ProxyMode, ProxySettings, TentacleConfig};

fn proxy_json(p: &ProxySettings) -> Value {
    // Tentacle's keys; the password is never shown.
    json!({
        "UseDefaultProxy": p.mode == ProxyMode::Default,
        "ProxyHost": if p.mode == ProxyMode::Custom { p.host.clone() } else { None },
        "ProxyPort": p.port.unwrap_or(80),
        "ProxyUsername": p.username,
        "ProxyEnabled": p.mode != ProxyMode::None,
    })
}

/// The configuration as Tentacle's `show-configuration` lays it out, so scripts that read
/// `Tentacle.Communication.TrustedOctopusServers` keep working.
pub fn configuration_json(cfg: &TentacleConfig, config_path: &std::path::Path) -> Value {
    let servers: Vec<Value> = cfg
        .trusted_servers
        .iter()
        .map(|s| {
            json!({
                "Thumbprint": s.thumbprint.as_str(),
                "CommunicationStyle": s.style.tentacle_number(),
                "Address": s.address,
                "Squid": null,
                "SubscriptionId": s.subscription_id,
            })
        })
        .collect();
    json!({
        "Octopus": {
            "Home": cfg.home_dir(config_path),
            "Proxy": proxy_json(&cfg.proxy),
            "Server": { "Proxy": proxy_json(&cfg.polling_proxy) },
        },
        "Tentacle": {
            "CertificateThumbprint": cfg.certificate.as_ref().map(|c| c.thumbprint.as_str()),
            "Communication": {
                "TrustedOctopusServers": servers,
                "PollingConnectionCount": cfg.communication.polling_connection_count,
            },
            "Deployment": { "ApplicationDirectory": cfg.application_directory },
            "Services": {
                "ListenIP": cfg.communication.listen_ip,
                "NoListen": cfg.communication.no_listen,
                "PortNumber": cfg.communication.port,
            },
        },
    })
}

pub fn configuration(
    args: &InstanceArgs,
    file: Option<PathBuf>,
    out: &mut Out<'_>,
) -> Result<(), CliError> {
    let t = target(args)?;
    let cfg = t.load()?;
    let text =
        serde_json::to_string_pretty(&configuration_json(&cfg, &t.config)).unwrap_or_default();
    match file {
        Some(path) => {
            write_atomic(&path, text.as_bytes(), FileMode::Public).map_err(|source| {
                CliError::Output {
                    what: "the configuration",
                    path: path.clone(),
                    source,
                }
            })?;
            out.line(format!("Configuration written to {}", path.display()));
        }
        None => out.line(text),
    }
    Ok(())
}

pub fn version(format: Format, out: &mut Out<'_>) {
    let v = crate::VERSION;
    match format {
        Format::Text => out.line(v),
        Format::Json => {
            let mmp: String = v.split(['-', '+']).next().unwrap_or(v).to_owned();
            out.line(json!({
                "InformationalVersion": v,
                "MajorMinorPatch": mmp,
                "NuGetVersion": v,
                "SourceBranchName": "main",
                "IsPrerelease": v.contains('-'),
            }));
        }
    }
}
