//! `configure`, `server-comms`, `update-trust`, `clear-trusted-servers` and `set-polling-connection-count`.

use std::path::PathBuf;

use super::commands::InstanceArgs;
use super::{CliError, Out, parse, target};
use crate::instance::{DEFAULT_POLLING_PORT, TentacleConfig};
use crate::trust::{self, CommunicationStyle, Thumbprint};

const RESTART_NOTE: &str = "These changes require a restart of the Tentacle.";

/// Everything `configure` can change, as typed.
pub struct ConfigureRequest {
    pub home: Option<PathBuf>,
    pub app: Option<PathBuf>,
    pub port: Option<String>,
    pub no_listen: Option<String>,
    pub listen_ip: Option<String>,
    pub polling_connection_count: Option<String>,
    pub trust: Vec<String>,
    pub remove_trust: Vec<String>,
    pub reset_trust: bool,
    pub reported_version: Option<String>,
}

fn thumbprints(values: &[String]) -> Result<Vec<Thumbprint>, CliError> {
    values.iter().map(|v| Ok(Thumbprint::parse(v)?)).collect()
}

fn absolute(p: PathBuf) -> PathBuf {
    std::path::absolute(&p).unwrap_or(p)
}

fn create_dir(what: &'static str, dir: &std::path::Path) -> Result<(), CliError> {
    std::fs::create_dir_all(dir).map_err(|source| CliError::Output {
        what,
        path: dir.to_path_buf(),
        source,
    })
}

pub fn configure(
    args: &InstanceArgs,
    req: ConfigureRequest,
    out: &mut Out<'_>,
) -> Result<(), CliError> {
    // Every value is checked before anything is written, so a bad one changes nothing.
    let trust = thumbprints(&req.trust)?;
    let remove = thumbprints(&req.remove_trust)?;
    let port = req
        .port
        .as_deref()
        .map(|p| parse::port("--port", p))
        .transpose()?;
    let no_listen = req
        .no_listen
        .as_deref()
        .map(|v| parse::boolean("--noListen", v))
        .transpose()?;
    let listen_ip = req.listen_ip.as_deref().map(parse::listen_ip).transpose()?;
    let count = req
        .polling_connection_count
        .as_deref()
        .map(parse::connection_count)
        .transpose()?;
    // Some(None) puts the build's default back.
    let reported_version = req
        .reported_version
        .as_deref()
        .map(|v| match v.trim() {
            d if d.eq_ignore_ascii_case("default") => Ok(None),
            v => crate::version::validate(v)
                .map(Some)
                .map_err(|e| CliError::Invalid(format!("--reported-version: {e}"))),
        })
        .transpose()?;
    let home = req.home.map(absolute);
    let app = req.app.map(absolute);
    let nothing = !req.reset_trust
        && trust.is_empty()
        && remove.is_empty()
        && port.is_none()
        && no_listen.is_none()
        && listen_ip.is_none()
        && count.is_none()
        && home.is_none()
        && app.is_none()
        && reported_version.is_none();
    if nothing {
        return Err(CliError::Usage(
            "Nothing to configure: pass options such as --port, --trust or --reset-trust (see tentacle help configure)".to_owned(),
        ));
    }

    let t = target(args)?;
    let mut said = Vec::new();
    let changed = TentacleConfig::update(&t.config, |c| {
        let before = c.clone();
        if req.reset_trust {
            c.trusted_servers.clear();
            said.push("Removed all trusted Octopus Servers".to_owned());
        }
        for th in &remove {
            match c.remove_trust(th) {
                0 => said.push(format!(
                    "No trusted Octopus Server has thumbprint {th}; nothing to remove"
                )),
                _ => said.push(format!(
                    "Removed trust for the Octopus Server with thumbprint {th}"
                )),
            }
        }
        for th in &trust {
            c.trust_listening(th.clone());
            said.push(format!("Trusting the Octopus Server with thumbprint {th}"));
        }
        if let Some(h) = &home {
            create_dir("the home folder", h)?;
            c.home = h.clone();
            said.push(format!("Home directory set to: {}", h.display()));
        }
        if let Some(a) = &app {
            create_dir("the application folder", a)?;
            c.application_directory = Some(a.clone());
            said.push(format!("Application directory set to: {}", a.display()));
        }
        if let Some(p) = port {
            c.communication.port = p;
            said.push(format!("Listen port set to: {p}"));
        }
        if let Some(n) = no_listen {
            c.communication.no_listen = n;
            said.push(if n {
                "Tentacle will not listen on a port (polling only)".to_owned()
            } else {
                "Tentacle will listen for connections".to_owned()
            });
        }
        if let Some(ip) = &listen_ip {
            c.communication.listen_ip = ip.clone();
            said.push(format!(
                "Listen address set to: {}",
                ip.as_deref().unwrap_or("any")
            ));
        }
        if let Some(n) = count {
            c.communication.polling_connection_count = Some(n);
            said.push(format!("Polling connection count set to: {n}"));
        }
        if let Some(v) = &reported_version {
            c.reported_version = v.clone();
            said.push(format!(
                "Reported Tentacle version set to: {}",
                crate::version::reported(v.as_deref())
            ));
        }
        Ok::<_, CliError>(*c != before)
    })?;
    for line in said {
        out.line(line);
    }
    if changed {
        out.line(RESTART_NOTE);
    }
    Ok(())
}

pub fn server_comms(
    args: &InstanceArgs,
    thumbprint: Option<String>,
    style: Option<String>,
    host: Option<String>,
    port: Option<String>,
    web_socket: Option<String>,
    out: &mut Out<'_>,
) -> Result<(), CliError> {
    let thumbprint = thumbprint.as_deref().map(Thumbprint::parse).transpose()?;
    let style = match (style, &host, &web_socket) {
        (Some(s), _, _) => CommunicationStyle::parse(&s)?,
        (None, Some(_), _) | (None, _, Some(_)) => CommunicationStyle::Polling,
        (None, None, None) => {
            return Err(CliError::Usage(
                "--style is required: TentacleActive (polling) or TentaclePassive (listening)"
                    .to_owned(),
            ));
        }
    };
    let port = port
        .as_deref()
        .map(|p| parse::port("--port", p))
        .transpose()?;
    let address = match style {
        CommunicationStyle::Listening => None,
        CommunicationStyle::Polling => Some(match (&host, &web_socket) {
            (Some(_), Some(_)) => {
                return Err(CliError::Usage(
                    "Use either --host (TCP polling) or --web-socket (WebSocket polling), not both"
                        .to_owned(),
                ));
            }
            (Some(h), None) => trust::polling_address(h, port.unwrap_or(DEFAULT_POLLING_PORT))?,
            (None, Some(ws)) => trust::web_socket_address(ws)?,
            (None, None) => {
                return Err(CliError::Usage(
                    "Polling needs the server's address: pass --host HOST (and --port, default 10943) or --web-socket wss://host:443/OctopusComms".to_owned(),
                ));
            }
        }),
    };

    let t = target(args)?;
    let selector = t.selector();
    let summary = TentacleConfig::update(&t.config, |c| {
        let chosen = match &thumbprint {
            Some(th) => th.clone(),
            None => match c.trusted_servers.as_slice() {
                [only] => only.thumbprint.clone(),
                [] => return Err(no_trust(&selector)),
                _ => {
                    return Err(CliError::Usage(
                        "More than one Octopus Server is trusted: pass --thumbprint to say which one to change".to_owned(),
                    ));
                }
            },
        };
        let wanted = address.as_deref().map(trust::comparable_address);
        let index = c
            .trusted_servers
            .iter()
            .position(|s| {
                s.thumbprint == chosen
                    && s.address.as_deref().map(trust::comparable_address) == wanted
            })
            .or_else(|| {
                c.trusted_servers
                    .iter()
                    .position(|s| s.thumbprint == chosen)
            })
            .ok_or_else(|| no_trust(&selector))?;
        let entry = &mut c.trusted_servers[index];
        entry.style = style;
        match &address {
            None => {
                entry.address = None;
                entry.subscription_id = None;
                Ok(format!(
                    "The Octopus Server with thumbprint {chosen} will connect to this Tentacle (listening)"
                ))
            }
            Some(a) => {
                entry.address = Some(a.clone());
                let id = entry
                    .subscription_id
                    .get_or_insert_with(trust::generate_subscription_id)
                    .clone();
                Ok(format!(
                    "This Tentacle will poll the Octopus Server with thumbprint {chosen} at {a} as {id}"
                ))
            }
        }
    })?;
    out.line(summary);
    out.line(RESTART_NOTE);
    Ok(())
}

fn no_trust(selector: &str) -> CliError {
    CliError::Invalid(format!(
        "Before server communications can be modified, trust must be established with the configure command: tentacle configure {selector} --trust THUMBPRINT"
    ))
}

pub fn update_trust(
    args: &InstanceArgs,
    old: Option<String>,
    new: Option<String>,
    out: &mut Out<'_>,
) -> Result<(), CliError> {
    let (Some(old), Some(new)) = (old, new) else {
        return Err(CliError::Usage(
            "update-trust needs both --oldThumbprint and --newThumbprint".to_owned(),
        ));
    };
    let old = Thumbprint::parse(&old)?;
    let new = Thumbprint::parse(&new)?;
    let t = target(args)?;
    let updated = TentacleConfig::update(&t.config, |c| {
        let mut n = 0;
        for s in c.trusted_servers.iter_mut().filter(|s| s.thumbprint == old) {
            s.thumbprint = new.clone();
            n += 1;
        }
        Ok::<_, CliError>(n)
    })?;
    if updated == 0 {
        out.line(format!(
            "No trusted Octopus Server has thumbprint {old}; nothing was changed"
        ));
    } else {
        out.line(format!(
            "Updated {updated} trusted Octopus Server entr{} from {old} to {new}",
            if updated == 1 { "y" } else { "ies" }
        ));
        out.line(RESTART_NOTE);
    }
    Ok(())
}

pub fn clear_trusted_servers(
    args: &InstanceArgs,
    keep: Option<String>,
    out: &mut Out<'_>,
) -> Result<(), CliError> {
    let keep: Vec<String> = keep
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(trust::comparable_address)
        .collect();
    let t = target(args)?;
    let removed = TentacleConfig::update(&t.config, |c| {
        let before = c.trusted_servers.len();
        c.trusted_servers.retain(|s| {
            s.address
                .as_deref()
                .is_some_and(|a| keep.contains(&trust::comparable_address(a)))
        });
        Ok::<_, CliError>(before - c.trusted_servers.len())
    })?;
    out.line(format!(
        "Removed {removed} trusted Octopus Server entr{}",
        if removed == 1 { "y" } else { "ies" }
    ));
    if removed > 0 {
        out.line(RESTART_NOTE);
    }
    Ok(())
}

pub fn set_polling_connection_count(
    args: &InstanceArgs,
    count: Option<String>,
    out: &mut Out<'_>,
) -> Result<(), CliError> {
    let Some(count) = count else {
        return Err(CliError::Usage(
            "--pollingConnectionCount is required: a whole number from 1 to 512".to_owned(),
        ));
    };
    let n = parse::connection_count(&count)?;
    let t = target(args)?;
    TentacleConfig::update(&t.config, |c| {
        c.communication.polling_connection_count = Some(n);
        Ok::<_, CliError>(())
    })?;
    out.line(format!("Polling connection count set to: {n}"));
    out.line(RESTART_NOTE);
    Ok(())
}
