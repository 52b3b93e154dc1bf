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

/// `version`: the Tentacle version Octopus Server is shown (first line, where Tentacle prints
/// its own), then this agent's own version. An instance named with `--instance`/`--config`
/// must exist; otherwise the default instance's setting is used when there is one.
pub fn version(args: &InstanceArgs, format: Format, out: &mut Out<'_>) -> Result<(), CliError> {
    let explicit = args.instance.is_some() || args.config.is_some();
    let configured = match target(args).and_then(|t| Ok((t.label(), t.load()?))) {
        Ok((label, cfg)) => Some((label, cfg.reported_version)),
        Err(e) if explicit => return Err(e),
        Err(_) => None,
    };
    let (instance, setting) = configured.unzip();
    let setting = setting.flatten();
    let reported = crate::version::reported(setting.as_deref());
    let source = match (&instance, &setting) {
        (Some(i), Some(_)) => format!("set for instance '{i}' with configure --reported-version"),
        _ => "this build's default, the current Tentacle release".to_owned(),
    };
    let ours = crate::VERSION;
    match format {
        Format::Text => {
            out.line(&reported);
            out.line(format!(
                "Tentacle Manager agent {ours}; Octopus Server is shown Tentacle {reported} ({source})"
            ));
        }
        Format::Json => {
            let mmp: String = reported
                .split(['-', '+'])
                .next()
                .unwrap_or(&reported)
                .to_owned();
            out.line(json!({
                "InformationalVersion": reported,
                "MajorMinorPatch": mmp,
                "NuGetVersion": reported,
                "SourceBranchName": "main",
                "IsPrerelease": reported.contains('-'),
                "AgentVersion": ours,
                "ReportedVersionSource": source,
            }));
        }
    }
    Ok(())
}
