//! Carrying out an import plan: our instance, its certificate and settings, the adoption record, the official service stopped and disabled, ours optionally installed; every step undone if a later one fails.

use std::path::{Path, PathBuf};

use super::import::{ImportPlan, ImportReport, ImportRequest};
use super::{Adoption, OfficialError, service};
use crate::certificate;
use crate::instance::atomic::{FileMode, write_atomic};
use crate::instance::{CertificateRef, InstanceError, Instances, TentacleConfig};
use crate::service::{ServiceSpec, Verbs};

/// What has been done so far, so a failure can put everything back.
#[derive(Default)]
struct Undo {
    record_created: bool,
    config_before: Option<Option<Vec<u8>>>,
    cert_file: Option<PathBuf>,
    adoption_file: Option<PathBuf>,
    official_stopped: bool,
    our_service: Option<ServiceSpec>,
    unit_restore: Option<(PathBuf, Vec<u8>)>,
}

pub(super) fn run(
    plan: &ImportPlan,
    request: &ImportRequest,
    progress: &mut dyn FnMut(&str),
) -> Result<ImportReport, OfficialError> {
    let instances = Instances::discover()?;
    if let Ok(existing) = instances.find(&plan.name) {
        return Err(InstanceError::Duplicate {
            existing: existing.name,
        }
        .into());
    }
    let config_path = instances
        .root()
        .default_instance_dir(&plan.name)
        .join("tentacle.toml");
    let mut undo = Undo::default();
    let mut steps = Vec::new();
    let mut say = |s: String, steps: &mut Vec<String>| {
        progress(&s);
        steps.push(s);
    };
    let result = (|| {
        undo.config_before = Some(std::fs::read(&config_path).ok());
        let record = instances.create(&plan.name, Some(&config_path), Some(&plan.home))?;
        undo.record_created = true;
        say(
            format!(
                "Created instance {} ({})",
                record.name,
                config_path.display()
            ),
            &mut steps,
        );

        let cert_dir = config_path
            .parent()
            .map(|p| p.join("certificates"))
            .unwrap_or_else(|| PathBuf::from("certificates"));
        let cert_target = cert_dir.join(format!("{}.pem", plan.certificate.thumbprint()));
        let cert_existed = cert_target.exists();
        let file = certificate::save_to_dir(&plan.certificate, &cert_dir)?;
        if !cert_existed {
            undo.cert_file = Some(file.clone());
        }
        let thumbprint = plan.certificate.thumbprint();
        TentacleConfig::update(&config_path, |c| {
            c.home = plan.home.clone();
            c.application_directory = Some(plan.application_directory.clone());
            // Field by field: settings Tentacle has no key for (preauth limits) keep ours.
            c.communication.port = plan.communication.port;
            c.communication.no_listen = plan.communication.no_listen;
            c.communication.listen_ip = plan.communication.listen_ip.clone();
            c.communication.polling_connection_count = plan.communication.polling_connection_count;
            c.certificate = Some(CertificateRef {
                thumbprint: thumbprint.clone(),
                file,
            });
            c.proxy = plan.proxy.clone();
            c.polling_proxy = plan.polling_proxy.clone();
            c.trusted_servers = plan.trusted_servers.clone();
            Ok::<_, OfficialError>(())
        })?;
        say(
            format!(
                "Imported certificate {thumbprint} (owner-only), {} trusted server(s) and the listening, home and proxy settings",
                plan.trusted_servers.len()
            ),
            &mut steps,
        );

        let mut adoption = Adoption {
            official_instance: plan
                .official
                .as_ref()
                .map_or(plan.name.clone(), |o| o.name.clone()),
            official_config: plan.source_config.clone(),
            service: plan.service.name.clone(),
            service_installed: plan.service.installed,
            service_was_enabled: plan.service.enabled,
            service_was_active: plan.service.active,
            unit_backup: None,
            installed_our_service: false,
        };
        adoption.save(&config_path)?;
        undo.adoption_file = Some(Adoption::path_for(&config_path));

        if plan.service.installed {
            service::stop_and_disable(&plan.service)?;
            undo.official_stopped = true;
            say(
                format!(
                    "Stopped and disabled the Octopus Tentacle service {} (not removed)",
                    plan.service.name
                ),
                &mut steps,
            );
        }

        if request.install_service {
            let exe = match &request.executable {
                Some(e) => e.clone(),
                None => tentacle_executable()?,
            };
            let spec = ServiceSpec::for_instance(&record, exe)?;
            let backend = crate::service::platform_backend()?;
            if let Some(official_unit) = plan
                .service
                .unit_file
                .as_ref()
                .filter(|_| plan.service.installed)
                && our_unit_path(&spec).as_deref() == Some(official_unit.as_path())
            {
                // Ours takes the same unit file name: keep theirs byte for byte, to put back on hand-back.
                let bytes = std::fs::read(official_unit).map_err(|e| {
                    OfficialError::io("keep a copy of the Octopus Tentacle unit", official_unit, e)
                })?;
                let backup = Adoption::path_for(&config_path)
                    .with_file_name(format!("octopus-tentacle-{}", plan.service.name));
                write_atomic(&backup, &bytes, FileMode::OwnerOnly).map_err(|e| {
                    OfficialError::io("keep a copy of the Octopus Tentacle unit", &backup, e)
                })?;
                undo.unit_restore = Some((official_unit.clone(), bytes));
                adoption.unit_backup = Some(backup);
            }
            undo.our_service = Some(spec.clone());
            let verbs = Verbs {
                install: true,
                start: true,
                ..Verbs::default()
            };
            crate::service::apply(backend.as_ref(), &spec, verbs, &mut |m| say(m, &mut steps))?;
            adoption.installed_our_service = true;
            adoption.save(&config_path)?;
        }
        Ok(record)
    })();
    match result {
        Ok(record) => Ok(ImportReport { record, steps }),
        Err(e) => {
            undo.run(&instances, &plan.name, &config_path, plan);
            Err(e)
        }
    }
}

/// The `tentacle` binary our service runs: this process when it is `tentacle`, else the one
/// beside it (the manager runs the CLI in-process; test binaries live one folder down).
fn tentacle_executable() -> Result<PathBuf, OfficialError> {
    let exe = std::env::current_exe()
        .map_err(|e| OfficialError::io("find the tentacle executable", Path::new("tentacle"), e))?;
    let exe = std::fs::canonicalize(&exe).unwrap_or(exe);
    if exe.file_stem().is_some_and(|s| s == "tentacle") {
        return Ok(exe);
    }
    let name = format!("tentacle{}", std::env::consts::EXE_SUFFIX);
    exe.ancestors()
        .skip(1)
        .take(2)
        .map(|d| d.join(&name))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            OfficialError::io(
                "find the tentacle executable beside this program",
                &exe,
                std::io::ErrorKind::NotFound.into(),
            )
        })
}

/// Where our systemd unit for `spec` would be written (None on other service managers).
fn our_unit_path(spec: &ServiceSpec) -> Option<PathBuf> {
    #[cfg(all(unix, not(target_os = "macos")))]
    {
        crate::service::systemd::Systemd::detect()
            .ok()
            .map(|s| s.unit_path(spec))
    }
    #[cfg(not(all(unix, not(target_os = "macos"))))]
    {
        let _ = spec;
        None
    }
}

impl Undo {
    /// Best effort, newest first: each step is independent, so one failing does not stop the rest.
    fn run(self, instances: &Instances, name: &str, config: &Path, plan: &ImportPlan) {
        if let Some(spec) = &self.our_service
            && let Ok(backend) = crate::service::platform_backend()
            && backend.is_installed(spec)
        {
            let _ = backend.uninstall(spec);
        }
        if let Some((path, bytes)) = &self.unit_restore {
            let _ = write_atomic(path, bytes, FileMode::Public);
        }
        if self.official_stopped {
            let _ = service::restore(&plan.service);
        }
        if let Some(path) = &self.adoption_file {
            let _ = std::fs::remove_file(path);
            let _ = std::fs::remove_file(
                path.with_file_name(format!("octopus-tentacle-{}", plan.service.name)),
            );
        }
        if let Some(path) = &self.cert_file {
            let _ = std::fs::remove_file(path);
        }
        if self.record_created {
            let _ = instances.delete(name);
        }
        match self.config_before {
            Some(Some(bytes)) => {
                let _ = write_atomic(config, &bytes, FileMode::OwnerOnly);
            }
            Some(None) => {
                let _ = std::fs::remove_file(config);
                if let Some(dir) = config.parent() {
                    let _ = std::fs::remove_dir(dir.join("certificates"));
                    let _ = std::fs::remove_dir(dir);
                }
            }
            None => {}
        }
    }
}
