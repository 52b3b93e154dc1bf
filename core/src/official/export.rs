//! Handing an instance back: its settings written as Tentacle.config (certificate encrypted with this machine's key), the official instance record, and for an adopted instance the official service put back and ours stood down.

use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::json;
use zeroize::Zeroizing;

use super::discovery::{Record, machine_home, record_path};
use super::machine_key::MachineKey;
use super::xml_config::XmlConfig;
use super::{Adoption, OfficialError, service};
use crate::certificate::{self, TentacleCertificate};
use crate::instance::atomic::{FileMode, write_atomic};
use crate::instance::{Instances, ProxyMode, ProxySettings, TentacleConfig};
use crate::trust::CommunicationStyle;

/// What an export did.
#[derive(Debug, Clone)]
pub struct ExportReport {
    /// The Tentacle.config written.
    pub config: PathBuf,
    /// The official instance record written.
    pub record: PathBuf,
    /// One line per step.
    pub steps: Vec<String>,
}

/// Writes instance `name` in the official format. For an adopted instance written back to where it
/// came from (no `to`), it also stands ours down (stops and uninstalls our service, removes our
/// instance from our index; its files stay) and puts the official service back as it was.
pub fn export(
    name: &str,
    to: Option<&Path>,
    progress: &mut dyn FnMut(&str),
) -> Result<ExportReport, OfficialError> {
    let instances = Instances::discover()?;
    let record = instances.find(name)?;
    let config = TentacleConfig::load(&record.config)?;
    let cert_ref = config.certificate.as_ref().ok_or_else(|| OfficialError::BadSetting {
        problem: format!(
            "Instance {} has no certificate, so there is no identity to hand over; create one with tentacle new-certificate",
            record.name
        ),
        path: record.config.clone(),
    })?;
    let cert = certificate::load_from_file(&cert_ref.file)?;
    let adoption = Adoption::load(&record.config);
    let official_name = adoption
        .as_ref()
        .map_or(record.name.clone(), |a| a.official_instance.clone());
    // An official instance of that name that we did not adopt is someone else's: never repoint it.
    if adoption.is_none() && record_path(&official_name).exists() {
        return Err(OfficialError::BadSetting {
            problem: format!(
                "Octopus Tentacle already has an instance named '{official_name}' that this Tentacle did not adopt; export would replace its instance record. Remove that instance with the official Tentacle first, or adopt it instead"
            ),
            path: record_path(&official_name),
        });
    }
    let destination = match (to, &adoption) {
        (Some(p), _) => std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()),
        (None, Some(a)) => a.official_config.clone(),
        (None, None) => machine_home()
            .join(&official_name)
            .join(format!("tentacle-{official_name}.config")),
    };
    let mut steps = Vec::new();
    let mut say = |s: String| {
        progress(&s);
        steps.push(s);
    };

    // Start from the file already there so settings we do not manage (watchdog, cache, …) survive.
    let mut xml = match std::fs::read_to_string(&destination) {
        Ok(text) => XmlConfig::parse(&text).unwrap_or_default(),
        Err(_) => XmlConfig::new(),
    };
    let key = MachineKey::for_encryption()?;
    fill(&mut xml, &config, &record.config, &cert, &key)?;
    write_atomic(&destination, &xml.to_xml(), FileMode::OwnerOnly)
        .map_err(|e| OfficialError::io("write the Octopus Tentacle config", &destination, e))?;
    say(format!(
        "Wrote {} (certificate {} encrypted with {})",
        destination.display(),
        cert.thumbprint(),
        key.describe()
    ));

    let index = record_path(&official_name);
    let body = serde_json::to_string_pretty(&Record {
        name: official_name.clone(),
        configuration_file_path: destination.display().to_string(),
    })
    .map_err(|e| OfficialError::Unparseable {
        problem: format!("Could not serialise the instance record ({e})"),
        path: index.clone(),
    })?;
    write_atomic(&index, body.as_bytes(), FileMode::Public)
        .map_err(|e| OfficialError::io("write the Octopus Tentacle instance record", &index, e))?;
    say(format!(
        "Wrote the Octopus Tentacle instance record {}",
        index.display()
    ));

    if let (Some(adoption), None) = (&adoption, to) {
        hand_back(&instances, &record, adoption, &mut say)?;
    } else {
        say(format!(
            "Instance {} of this Tentacle was left as it is; stop it before starting the Octopus Tentacle service, or both will answer for the same machine",
            record.name
        ));
    }
    Ok(ExportReport {
        config: destination,
        record: index,
        steps,
    })
}

fn hand_back(
    instances: &Instances,
    record: &crate::instance::InstanceRecord,
    adoption: &Adoption,
    say: &mut dyn FnMut(String),
) -> Result<(), OfficialError> {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("tentacle"));
    let spec = crate::service::ServiceSpec::for_instance(record, exe)?;
    // Only a service the import installed is ours to remove: when ours was never installed, a unit
    // of the same name is the official one.
    if adoption.installed_our_service
        && let Ok(backend) = crate::service::platform_backend()
        && backend.is_installed(&spec)
    {
        backend.uninstall(&spec)?;
        say(format!(
            "Stopped and removed this Tentacle's service for {}",
            record.name
        ));
    }
    if let Some(backup) = &adoption.unit_backup {
        let before = service::inspect(&adoption.official_instance);
        if let Some(unit) = before.unit_file {
            let bytes = std::fs::read(backup)
                .map_err(|e| OfficialError::io("read the kept Octopus Tentacle unit", backup, e))?;
            write_atomic(&unit, &bytes, FileMode::Public)
                .map_err(|e| OfficialError::io("put back the Octopus Tentacle unit", &unit, e))?;
            let _ = std::fs::remove_file(backup);
            say(format!(
                "Put back the Octopus Tentacle unit {}",
                unit.display()
            ));
        }
    }
    let before = adoption.service_before();
    service::restore(&before)?;
    if before.installed {
        say(format!(
            "Octopus Tentacle service {} is {}",
            before.name,
            match (before.enabled, before.active) {
                (true, true) => "enabled and started again",
                (true, false) => "enabled again",
                (false, true) => "started again",
                (false, false) => "left disabled and stopped, as it was before adoption",
            }
        ));
    }
    instances.delete(&record.name)?;
    let _ = std::fs::remove_file(Adoption::path_for(&record.config));
    say(format!(
        "Removed {} from this Tentacle's instances (its files stay in {})",
        record.name,
        record.config.parent().unwrap_or(Path::new(".")).display()
    ));
    Ok(())
}

/// Sets every key we manage, as Tentacle would write them.
fn fill(
    xml: &mut XmlConfig,
    config: &TentacleConfig,
    config_path: &Path,
    cert: &TentacleCertificate,
    key: &MachineKey,
) -> Result<(), OfficialError> {
    let seal = |plain: &str| {
        key.encrypt(plain)
            .map_err(|e| OfficialError::NoMachineKey(format!("{} ({e})", key.describe())))
    };
    let pfx = unprotected_pfx(cert)?;
    let pfx_b64 = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(&*pfx));
    let s = |v: &str| Some(v.to_owned());
    xml.set(
        "Octopus.Home",
        s(&config.home_dir(config_path).display().to_string()),
    );
    xml.set(
        "Tentacle.CertificateThumbprint",
        s(cert.thumbprint().as_str()),
    );
    xml.set("Tentacle.Certificate", Some(seal(&pfx_b64)?));
    let c = &config.communication;
    xml.set("Tentacle.Services.PortNumber", s(&c.port.to_string()));
    xml.set(
        "Tentacle.Services.ListenIP",
        c.listen_ip.clone().filter(|v| !v.is_empty()),
    );
    xml.set(
        "Tentacle.Services.NoListen",
        s(if c.no_listen { "true" } else { "false" }),
    );
    xml.set(
        "Tentacle.Communication.PollingConnectionCount",
        c.polling_connection_count.map(|n| n.to_string()),
    );
    if let Some(dir) = &config.application_directory {
        xml.set(
            "Tentacle.Deployment.ApplicationDirectory",
            s(&dir.display().to_string()),
        );
    }
    let servers: Vec<_> = config
        .trusted_servers
        .iter()
        .map(|t| {
            json!({
                "Thumbprint": t.thumbprint.as_str(),
                "CommunicationStyle": t.style.tentacle_number(),
                "Address": if t.style == CommunicationStyle::Polling { t.address.clone() } else { None },
                "Squid": null,
                "SubscriptionId": if t.style == CommunicationStyle::Polling { t.subscription_id.clone() } else { None },
            })
        })
        .collect();
    xml.set(
        "Tentacle.Communication.TrustedOctopusServers",
        s(&serde_json::Value::Array(servers).to_string()),
    );
    for (prefix, p) in [
        ("Octopus.Proxy.", &config.proxy),
        ("Octopus.Server.Proxy.", &config.polling_proxy),
    ] {
        set_proxy(xml, prefix, p, &seal)?;
    }
    Ok(())
}

fn set_proxy(
    xml: &mut XmlConfig,
    prefix: &str,
    p: &ProxySettings,
    seal: &dyn Fn(&str) -> Result<String, OfficialError>,
) -> Result<(), OfficialError> {
    let k = |name: &str| format!("{prefix}{name}");
    xml.set(
        &k("UseDefaultProxy"),
        Some((p.mode == ProxyMode::Default).to_string()),
    );
    xml.set(
        &k("ProxyHost"),
        if p.mode == ProxyMode::None {
            None
        } else {
            p.host.clone()
        },
    );
    xml.set(&k("ProxyPort"), p.port.map(|n| n.to_string()));
    xml.set(&k("ProxyUsername"), p.username.clone());
    let password = match &p.password {
        Some(pw) if !pw.is_empty() => Some(seal(pw)?),
        _ => None,
    };
    xml.set(&k("ProxyPassword"), password);
    Ok(())
}

/// A PFX with no password, as .NET's `Export(X509ContentType.Pfx)` makes for Tentacle.Certificate.
fn unprotected_pfx(cert: &TentacleCertificate) -> Result<Zeroizing<Vec<u8>>, OfficialError> {
    use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
    let err = |e: String| OfficialError::Certificate(crate::certificate::CertificateError::Pfx(e));
    let key = PrivateKey::from_der(cert.key_pkcs8_der()).map_err(|e| err(e.to_string()))?;
    let c = Certificate::from_der(cert.cert_der()).map_err(|e| err(e.to_string()))?;
    let local_key_id = hex::decode(cert.thumbprint().as_str()).unwrap_or_default();
    let mut store = KeyStore::new();
    store.add_entry(
        "octopus tentacle",
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(local_key_id, key, [c])),
    );
    store
        .writer("")
        .write()
        .map(Zeroizing::new)
        .map_err(|e| err(e.to_string()))
}
