//! The `tentacle` command line: Tentacle's verbs and options, case-insensitive, with one-line errors.

mod adopt;
mod agent;
mod args;
mod certificates;
mod check;
mod check_fix;
mod commands;
mod configure;
mod error;
mod firewall;
mod help;
mod instances;
mod parse;
mod ping;
mod proxy;
mod register;
mod service;
mod show;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use clap::Parser;

pub use commands::{Cli, Command, Format};
pub use error::CliError;

use crate::instance::{InstanceRecord, Instances, TentacleConfig};
use commands::InstanceArgs;

/// Where command output goes; write errors (a closed pipe) are ignored so
/// `tentacle list-instances | head -1` never panics.
pub struct Out<'a> {
    inner: &'a mut dyn Write,
}

impl<'a> Out<'a> {
    /// Output into any writer.
    pub fn new(inner: &'a mut dyn Write) -> Out<'a> {
        Out { inner }
    }

    /// One line.
    pub fn line(&mut self, text: impl std::fmt::Display) {
        let _ = writeln!(self.inner, "{text}");
    }

    /// Text with no newline added.
    pub fn raw(&mut self, text: impl std::fmt::Display) {
        let _ = write!(self.inner, "{text}");
        let _ = self.inner.flush();
    }
}

/// Parses and runs one command line (without the program name).
pub fn run(args: Vec<OsString>, out: &mut Out<'_>) -> Result<(), CliError> {
    let args = args::normalise(args);
    let verb = args
        .iter()
        .filter_map(|a| a.to_str())
        .find(|a| !a.starts_with('-'))
        .map(str::to_owned);
    let mut full = vec![OsString::from("tentacle")];
    full.extend(args);
    let cli = match Cli::try_parse_from(full) {
        Ok(cli) => cli,
        Err(e) => return help::from_clap(e, verb.as_deref(), out),
    };
    let Some(command) = cli.command else {
        help::overview(Format::Text, out);
        return Ok(());
    };
    if !matches!(command, Command::Agent { .. }) {
        init_console_logging();
    }
    dispatch(command, out)
}

/// Configuration commands log warnings and errors to stderr only; `TENTACLE_LOG=debug` for more.
fn init_console_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TENTACLE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

fn dispatch(command: Command, out: &mut Out<'_>) -> Result<(), CliError> {
    match command {
        Command::Agent {
            instance,
            wait,
            config_root,
        } => agent::run(&instance, wait, config_root.as_deref(), out),
        Command::CreateInstance {
            instance,
            config,
            home,
        } => instances::create(instance.as_deref(), config.as_deref(), home.as_deref(), out),
        Command::DeleteInstance(i) => instances::delete(&i, out),
        Command::ListInstances { format } => instances::list(format, out),
        Command::NewCertificate {
            instance,
            if_blank,
            export_pfx,
            pfx_password,
        } => certificates::new(&instance, if_blank, export_pfx, pfx_password, out),
        Command::ImportCertificate {
            instance,
            from_file,
            from_base64,
            pfx_password,
        } => certificates::import(&instance, from_file, from_base64, pfx_password, out),
        Command::ExportCertificate {
            instance,
            export_pfx,
            pfx_password,
            export_pem,
        } => certificates::export(&instance, export_pfx, pfx_password, export_pem, out),
        Command::ShowThumbprint {
            instance,
            export_file,
            format,
            thumbprint_only: _,
        } => certificates::show_thumbprint(&instance, export_file, format, out),
        Command::Configure {
            instance,
            home,
            app,
            port,
            no_listen,
            listen_ip,
            polling_connection_count,
            trust,
            remove_trust,
            reset_trust,
            reported_version,
        } => configure::configure(
            &instance,
            configure::ConfigureRequest {
                home,
                app,
                port,
                no_listen,
                listen_ip,
                polling_connection_count,
                trust,
                remove_trust,
                reset_trust,
                reported_version,
            },
            out,
        ),
        Command::ServerComms {
            instance,
            thumbprint,
            style,
            host,
            port,
            web_socket,
        } => configure::server_comms(&instance, thumbprint, style, host, port, web_socket, out),
        Command::UpdateTrust {
            instance,
            old_thumbprint,
            new_thumbprint,
        } => configure::update_trust(&instance, old_thumbprint, new_thumbprint, out),
        Command::ClearTrustedServers { instance, keep } => {
            configure::clear_trusted_servers(&instance, keep, out)
        }
        Command::SetPollingConnectionCount {
            instance,
            polling_connection_count,
        } => configure::set_polling_connection_count(&instance, polling_connection_count, out),
        Command::Proxy { instance, proxy } => {
            proxy::configure(&instance, &proxy, proxy::Which::Web, out)
        }
        Command::PollingProxy { instance, proxy } => {
            proxy::configure(&instance, &proxy, proxy::Which::Polling, out)
        }
        Command::RegisterWith {
            instance,
            api,
            register,
            environment,
            role,
            tenant,
            tenanttag,
            tenanted_deployment_participation,
        } => register::register_with(
            &instance,
            &api,
            &register,
            register::TargetOptions {
                environments: environment,
                roles: role,
                tenants: tenant,
                tenant_tags: tenanttag,
                participation: tenanted_deployment_participation,
            },
            out,
        ),
        Command::RegisterWorker {
            instance,
            api,
            register,
            workerpool,
        } => register::register_worker(&instance, &api, &register, workerpool, out),
        Command::DeregisterFrom {
            instance,
            api,
            multiple,
        } => register::deregister(&instance, &api, false, multiple, out),
        Command::DeregisterWorker {
            instance,
            api,
            multiple,
        } => register::deregister(&instance, &api, true, multiple, out),
        Command::PollServer {
            instance,
            api,
            server_comms_address,
            server_comms_port,
            server_web_socket,
            reuse_server_thumbprint,
        } => register::poll_server(
            &instance,
            &api,
            server_comms_address,
            server_comms_port,
            server_web_socket,
            reuse_server_thumbprint,
            out,
        ),
        Command::ShowConfiguration { instance, file } => show::configuration(&instance, file, out),
        Command::ImportTentacle {
            instance,
            from_config,
            dry_run,
            install_service,
        } => adopt::import(instance, from_config, dry_run, install_service, out),
        Command::ExportTentacle { instance, to } => adopt::export(&instance, to.as_deref(), out),
        Command::Service {
            instance,
            install,
            uninstall,
            start,
            stop,
            restart,
            reconfigure,
            status,
            username,
            password,
        } => service::run(
            &instance,
            crate::service::Verbs {
                install,
                uninstall,
                start,
                stop,
                restart,
                reconfigure,
                status,
            },
            username,
            password,
            out,
        ),
        Command::Check {
            instance,
            json,
            timeout,
            fix,
            yes,
        } => check::run(&instance, json, timeout, check::Repair { fix, yes }, out),
        Command::Firewall {
            instance,
            add,
            remove,
            status,
            port,
        } => firewall::run(
            &instance,
            firewall::Verb::from_flags(add, remove, status)?,
            port,
            out,
        ),
        Command::Ping {
            host,
            port,
            count,
            interval,
            timeout,
        } => ping::ping(&host, port, count, interval, timeout, out),
        Command::Pong {
            port,
            count,
            instance,
        } => ping::pong(port, count, instance.as_deref(), out),
        Command::Version { format, instance } => show::version(&instance, format, out),
        Command::Livez { instance, max_age } => livez(&instance, max_age.as_deref(), out),
        Command::Help { command, format } => help::help(command.as_deref(), format, out),
    }
}

/// `livez`: one line, exit 0 when the heartbeat is fresh, 1 when not.
fn livez(args: &InstanceArgs, max_age: Option<&str>, out: &mut Out<'_>) -> Result<(), CliError> {
    use crate::agent::livez;
    let max = match max_age.map(str::trim) {
        None => livez::DEFAULT_MAX_AGE,
        Some(v) => match v.parse::<u64>() {
            Ok(s) if s > 0 => std::time::Duration::from_secs(s),
            _ => {
                return Err(CliError::Invalid(format!(
                    "--max-age must be a positive number of seconds, not '{v}'"
                )));
            }
        },
    };
    let t = target(args)?;
    let home = t.load()?.home_dir(&t.config);
    let age = livez::check(&home, max).map_err(|e| CliError::Invalid(e.to_string()))?;
    out.line(format!(
        "Live: the heartbeat at {} is {}s old (threshold {}s)",
        livez::heartbeat_path(&home).display(),
        age.as_secs(),
        max.as_secs()
    ));
    Ok(())
}

/// The instance a command works on: `--config` directly, else by name through the index.
pub(crate) struct Target {
    /// The index record, when chosen by name.
    pub record: Option<InstanceRecord>,
    /// The config file.
    pub config: PathBuf,
}

impl Target {
    /// A name for messages: the instance name or the config path.
    pub fn label(&self) -> String {
        match &self.record {
            Some(r) => r.name.clone(),
            None => self.config.display().to_string(),
        }
    }

    /// `--instance "X"` for hints, or `--config "path"`.
    pub fn selector(&self) -> String {
        match &self.record {
            Some(r) => format!("--instance \"{}\"", r.name),
            None => format!("--config \"{}\"", self.config.display()),
        }
    }

    /// Loads the config (read-only).
    pub fn load(&self) -> Result<TentacleConfig, CliError> {
        Ok(TentacleConfig::load(&self.config)?)
    }
}

pub(crate) fn target(args: &InstanceArgs) -> Result<Target, CliError> {
    if let Some(config) = &args.config {
        if args.instance.is_some() {
            return Err(CliError::Usage(
                "Pass either --instance or --config, not both".to_owned(),
            ));
        }
        let config = std::path::absolute(config).unwrap_or_else(|_| config.clone());
        return Ok(Target {
            record: None,
            config,
        });
    }
    let instances = Instances::discover()?;
    let record = instances.select(args.instance.as_deref())?;
    Ok(Target {
        config: record.config.clone(),
        record: Some(record),
    })
}
