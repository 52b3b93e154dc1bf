//! `new-certificate`, `import-certificate`, `export-certificate` and `show-thumbprint`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use super::commands::{Format, InstanceArgs};
use super::{CliError, Out, Target, target};
use crate::certificate::{self, TentacleCertificate};
use crate::instance::atomic::{FileMode, write_atomic};
use crate::instance::{CertificateRef, TentacleConfig};

/// Certificates live beside the config, in a folder only the owner can list.
fn certificate_dir(config: &Path) -> PathBuf {
    config
        .parent()
        .map(|p| p.join("certificates"))
        .unwrap_or_else(|| PathBuf::from("certificates"))
}

fn install(t: &Target, cert: &TentacleCertificate) -> Result<(), CliError> {
    let file = certificate::save_to_dir(cert, &certificate_dir(&t.config))?;
    let thumbprint = cert.thumbprint();
    TentacleConfig::update(&t.config, |c| {
        c.certificate = Some(CertificateRef { thumbprint, file });
        Ok::<_, CliError>(())
    })
}

fn write_file(
    what: &'static str,
    path: &Path,
    bytes: &[u8],
    mode: FileMode,
) -> Result<(), CliError> {
    write_atomic(path, bytes, mode).map_err(|source| CliError::Output {
        what,
        path: path.to_path_buf(),
        source,
    })
}

pub fn new(
    args: &InstanceArgs,
    if_blank: bool,
    export_pfx: Option<PathBuf>,
    pfx_password: Option<String>,
    out: &mut Out<'_>,
) -> Result<(), CliError> {
    if let Some(path) = export_pfx {
        let password = pfx_password.unwrap_or_default();
        let cert = certificate::generate()?;
        let pfx = cert.to_pfx(&password)?;
        write_file("the PFX file", &path, &pfx, FileMode::OwnerOnly)?;
        out.line(format!(
            "A new certificate has been generated and written to {}. It was not installed. Thumbprint:",
            path.display()
        ));
        out.line(cert.thumbprint());
        return Ok(());
    }
    let t = target(args)?;
    // Generate under the config lock so two `--if-blank` runs cannot both install one.
    let outcome = TentacleConfig::update(&t.config, |c| {
        if if_blank && c.certificate.is_some() {
            return Ok::<_, CliError>(None);
        }
        let cert = certificate::generate()?;
        let file = certificate::save_to_dir(&cert, &certificate_dir(&t.config))?;
        let thumbprint = cert.thumbprint();
        c.certificate = Some(CertificateRef {
            thumbprint: thumbprint.clone(),
            file,
        });
        Ok(Some(thumbprint))
    })?;
    match outcome {
        None => out.line("A certificate already exists, no changes will be applied."),
        Some(thumbprint) => {
            out.line("A new certificate has been generated and installed. Thumbprint:");
            out.line(thumbprint);
        }
    }
    Ok(())
}

pub fn import(
    args: &InstanceArgs,
    from_file: Option<PathBuf>,
    from_base64: Option<String>,
    password: Option<String>,
    out: &mut Out<'_>,
) -> Result<(), CliError> {
    let password = password.unwrap_or_default();
    let cert = match (from_file, from_base64) {
        (Some(path), None) => {
            let bytes = std::fs::read(&path).map_err(|source| {
                CliError::Invalid(format!(
                    "Could not read the certificate file ({source}); check the path: {}",
                    path.display()
                ))
            })?;
            TentacleCertificate::from_any(&bytes, &password)?
        }
        (None, Some(b64)) => {
            use base64::Engine;
            let compact: String = b64.chars().filter(|c| !c.is_whitespace()).collect();
            let raw = base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map_err(|e| {
                    CliError::Invalid(format!("--from-base64 is not valid base64 ({e})"))
                })?;
            TentacleCertificate::from_pfx(&raw, &password)?
        }
        _ => {
            return Err(CliError::Usage(
                "Give exactly one certificate source: --from-file PATH or --from-base64 TEXT"
                    .to_owned(),
            ));
        }
    };
    let t = target(args)?;
    install(&t, &cert)?;
    out.line(format!(
        "Certificate '{}' imported; this Tentacle now uses thumbprint:",
        cert.subject()
    ));
    out.line(cert.thumbprint());
    Ok(())
}

fn current(t: &Target) -> Result<TentacleCertificate, CliError> {
    let cfg = t.load()?;
    let Some(c) = cfg.certificate else {
        return Err(no_certificate(t));
    };
    Ok(certificate::load_from_file(&c.file)?)
}

fn no_certificate(t: &Target) -> CliError {
    CliError::Invalid(format!(
        "Instance '{}' has no certificate yet. Create one with: tentacle new-certificate {}",
        t.label(),
        t.selector()
    ))
}

pub fn export(
    args: &InstanceArgs,
    export_pfx: Option<PathBuf>,
    password: Option<String>,
    export_pem: Option<PathBuf>,
    out: &mut Out<'_>,
) -> Result<(), CliError> {
    if export_pfx.is_none() && export_pem.is_none() {
        return Err(CliError::Usage(
            "Say where to export: --export-pfx PATH --pfx-password PASSWORD (with the private key) or --export-pem PATH (certificate only)".to_owned(),
        ));
    }
    let t = target(args)?;
    let cert = current(&t)?;
    if let Some(path) = export_pfx {
        let pfx = cert.to_pfx(password.as_deref().unwrap_or(""))?;
        write_file("the PFX file", &path, &pfx, FileMode::OwnerOnly)?;
        out.line(format!(
            "Certificate and private key exported to {}",
            path.display()
        ));
    }
    if let Some(path) = export_pem {
        write_file(
            "the certificate",
            &path,
            cert.cert_pem().as_bytes(),
            FileMode::Public,
        )?;
        out.line(format!(
            "Certificate (without private key) exported to {}",
            path.display()
        ));
    }
    Ok(())
}

pub fn show_thumbprint(
    args: &InstanceArgs,
    export_file: Option<PathBuf>,
    format: Format,
    out: &mut Out<'_>,
) -> Result<(), CliError> {
    let t = target(args)?;
    let cfg = t.load()?;
    let Some(c) = cfg.certificate else {
        return Err(no_certificate(&t));
    };
    let thumb = c.thumbprint.to_string();
    if let Some(path) = export_file {
        write_file("the thumbprint", &path, thumb.as_bytes(), FileMode::Public)?;
    }
    match format {
        Format::Json => out.line(serde_json::json!({ "Thumbprint": thumb })),
        // Bare, as Tentacle prints it, so `$(tentacle show-thumbprint)` is exactly the value;
        // a newline only for a person at a terminal.
        Format::Text if std::io::stdout().is_terminal() => out.line(thumb),
        Format::Text => out.raw(thumb),
    }
    Ok(())
}
