//! `register-with`, `register-worker`, `deregister-from`, `deregister-worker` and `poll-server`: the CLI face of [`crate::register`].

use std::path::PathBuf;
use std::sync::mpsc;

use super::commands::{ApiArgs, InstanceArgs, RegisterArgs};
use super::{CliError, Out, parse, target};
use crate::register::{
    self, Auth, CommsChoice, MachineKind, PollServer, RegisterError, Registration, Secret,
    ServerOptions, TenantedDeploymentParticipation,
};
use crate::trust::CommunicationStyle;

const RESTART_NOTE: &str = "These changes require a restart of the Tentacle.";

/// `register-with`'s target-only options.
pub struct TargetOptions {
    pub environments: Vec<String>,
    pub roles: Vec<String>,
    pub tenants: Vec<String>,
    pub tenant_tags: Vec<String>,
    pub participation: Option<String>,
}

fn invalid(e: RegisterError) -> CliError {
    match e {
        RegisterError::Instance(i) => CliError::Instance(i),
        RegisterError::Trust(t) => CliError::Trust(t),
        other => CliError::Invalid(other.to_string()),
    }
}

/// The server options from the command line, the instance's web proxy (`tentacle proxy`)
/// and the Tentacle version its REST user agent reports.
fn server_options(
    api: &ApiArgs,
    config: &crate::instance::TentacleConfig,
) -> Result<ServerOptions, CliError> {
    let web_proxy = Some(config.proxy.clone());
    let tentacle_version = crate::version::reported(config.reported_version.as_deref());
    let server = api
        .server
        .as_deref()
        .ok_or_else(|| invalid(RegisterError::NoServer))?;
    let server = ServerOptions::parse_server_url(server).map_err(invalid)?;
    let given = [
        api.api_key.is_some(),
        api.bearer_token.is_some(),
        api.username.is_some() || api.password.is_some(),
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(CliError::Usage(
            "Pass only one of --apiKey, --bearerToken, or --username and --password".to_owned(),
        ));
    }
    if let Some(token) = &api.bearer_token {
        let token = Secret::new(token.trim());
        if token.is_blank() {
            return Err(CliError::Invalid("--bearerToken is empty".to_owned()));
        }
        return Ok(ServerOptions {
            server,
            auth: Auth::BearerToken(token),
            space: api.space.clone().filter(|s| !s.trim().is_empty()),
            proxy: web_proxy,
            ignore_ssl_errors: api.ignore_ssl_errors,
            tentacle_version,
        });
    }
    let auth = match (&api.api_key, &api.username, &api.password) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(CliError::Usage(
                "Pass either --apiKey or --username and --password, not both".to_owned(),
            ));
        }
        (Some(key), None, None) => {
            let key = Secret::new(key.trim());
            if key.is_blank() {
                return Err(CliError::Invalid(
                    "--apiKey is empty: copy an API key (API-...) from Profile > My API Keys in the Octopus Web Portal".to_owned(),
                ));
            }
            Auth::ApiKey(key)
        }
        (None, Some(user), Some(pw)) if !user.trim().is_empty() => Auth::UsernamePassword {
            username: user.trim().to_owned(),
            password: Secret::new(pw.as_str()),
        },
        (None, Some(_), None) => {
            return Err(CliError::Usage(
                "--username needs --password as well (or use --apiKey instead)".to_owned(),
            ));
        }
        (None, None, Some(_)) => {
            return Err(CliError::Usage(
                "--password needs --username as well (or use --apiKey instead)".to_owned(),
            ));
        }
        _ => {
            return Err(CliError::Usage(
                "Please specify an API key (--apiKey=API-...), a bearer token (--bearerToken) or a username and password (--username and --password)".to_owned(),
            ));
        }
    };
    Ok(ServerOptions {
        server,
        auth,
        space: api.space.clone().filter(|s| !s.trim().is_empty()),
        proxy: web_proxy,
        ignore_ssl_errors: api.ignore_ssl_errors,
        tentacle_version,
    })
}

/// Runs `job` on its own thread with its own runtime (so this works from inside another
/// runtime, as in the manager), printing its progress lines as they come.
fn run_job<T, F>(out: &mut Out<'_>, job: F) -> Result<T, CliError>
where
    T: Send + 'static,
    F: AsyncJob<T> + Send + 'static,
{
    let (tx, rx) = mpsc::channel::<String>();
    let handle = std::thread::Builder::new()
        .name("tentacle-register".to_owned())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| {
                    RegisterError::Invalid(format!("Could not start the network runtime: {e}"))
                })?;
            let mut progress = |line: &str| {
                let _ = tx.send(line.to_owned());
            };
            let quiet = tracing::dispatcher::get_default(|d| Quiet(d.clone()));
            tracing::subscriber::with_default(quiet, || runtime.block_on(job.run(&mut progress)))
        })
        .map_err(|e| CliError::Invalid(format!("Could not start the registration thread: {e}")))?;
    for line in rx {
        out.line(line);
    }
    match handle.join() {
        Ok(result) => result.map_err(invalid),
        Err(_) => Err(CliError::Invalid(
            "The registration thread stopped unexpectedly; this is a bug, please report it"
                .to_owned(),
        )),
    }
}

/// A piece of async work that reports progress.
trait AsyncJob<T> {
    async fn run(self, progress: &mut dyn FnMut(&str)) -> Result<T, RegisterError>;
}

struct RegisterJob {
    opts: ServerOptions,
    reg: Registration,
    config: PathBuf,
    selector: String,
}

impl AsyncJob<register::Registered> for RegisterJob {
    async fn run(
        self,
        progress: &mut dyn FnMut(&str),
    ) -> Result<register::Registered, RegisterError> {
        register::register(
            &self.opts,
            &self.reg,
            &self.config,
            &self.selector,
            progress,
        )
        .await
    }
}

struct DeregisterJob {
    opts: ServerOptions,
    worker: bool,
    multiple: bool,
    config: PathBuf,
    selector: String,
}

impl AsyncJob<register::Deregistered> for DeregisterJob {
    async fn run(
        self,
        progress: &mut dyn FnMut(&str),
    ) -> Result<register::Deregistered, RegisterError> {
        register::deregister(
            &self.opts,
            self.worker,
            self.multiple,
            &self.config,
            &self.selector,
            progress,
        )
        .await
    }
}

struct PollServerJob {
    opts: Option<ServerOptions>,
    req: PollServer,
    config: PathBuf,
    selector: String,
}

impl AsyncJob<crate::trust::TrustedServer> for PollServerJob {
    async fn run(
        self,
        progress: &mut dyn FnMut(&str),
    ) -> Result<crate::trust::TrustedServer, RegisterError> {
        register::poll_server(
            self.opts.as_ref(),
            &self.req,
            &self.config,
            &self.selector,
            progress,
        )
        .await
    }
}

fn comms(r: &RegisterArgs) -> Result<CommsChoice, CliError> {
    let style = match r.comms_style.as_deref() {
        Some(s) => CommunicationStyle::parse(s)?,
        None => CommunicationStyle::Listening,
    };
    let port =
        |name: &str, v: &Option<String>| v.as_deref().map(|p| parse::port(name, p)).transpose();
    match style {
        CommunicationStyle::Listening => {
            for (given, name) in [
                (&r.server_comms_address, "--server-comms-address"),
                (&r.server_comms_port, "--server-comms-port"),
                (&r.server_web_socket, "--server-web-socket"),
                (&r.server_subscription_id, "--server-subscription-id"),
            ] {
                if given.is_some() {
                    return Err(CliError::Usage(format!(
                        "{name} applies to polling Tentacles: add --comms-style TentacleActive, or remove {name}"
                    )));
                }
            }
            Ok(CommsChoice::Listening {
                public_host: r.public_host_name.clone(),
                port: port("--tentacle-comms-port", &r.tentacle_comms_port)?,
                proxy: r.proxy.clone(),
            })
        }
        CommunicationStyle::Polling => {
            for (given, name) in [
                (&r.public_host_name, "--publicHostName"),
                (&r.tentacle_comms_port, "--tentacle-comms-port"),
                (&r.proxy, "--proxy"),
            ] {
                if given.is_some() {
                    return Err(CliError::Usage(format!(
                        "{name} applies to listening Tentacles: remove it, or use --comms-style TentaclePassive"
                    )));
                }
            }
            if r.server_web_socket.is_some() && r.server_comms_port.is_some() {
                return Err(CliError::Usage(
                    "--server-comms-port cannot be combined with --server-web-socket: put the port in the wss:// address".to_owned(),
                ));
            }
            Ok(CommsChoice::Polling {
                comms_address: r.server_comms_address.clone(),
                comms_port: port("--server-comms-port", &r.server_comms_port)?,
                web_socket: r.server_web_socket.clone(),
                subscription_id: r.server_subscription_id.clone(),
            })
        }
    }
}

fn run_registration(
    args: &InstanceArgs,
    api: &ApiArgs,
    r: &RegisterArgs,
    kind: MachineKind,
    out: &mut Out<'_>,
) -> Result<(), CliError> {
    let comms = comms(r)?;
    let t = target(args)?;
    let config = t.load()?;
    let opts = server_options(api, &config)?;
    let job = RegisterJob {
        opts,
        reg: Registration {
            name: r.name.clone(),
            kind,
            comms,
            policy: r.policy.clone(),
            force: r.force,
        },
        config: t.config.clone(),
        selector: t.selector(),
    };
    let done = run_job(out, job)?;
    if let Some(space) = &done.space {
        out.line(format!(
            "'{}' is {} in space \"{space}\" as {}",
            done.name,
            if done.updated {
                "updated"
            } else {
                "registered"
            },
            done.id
        ));
    }
    match (&done.trusted.address, &done.trusted.subscription_id) {
        (Some(address), Some(sub)) => out.line(format!(
            "This Tentacle will poll {address} as {sub}, trusting the server certificate {}",
            done.trusted.thumbprint
        )),
        _ => out.line(format!(
            "This Tentacle trusts the Octopus Server with thumbprint {}",
            done.trusted.thumbprint
        )),
    }
    out.line(RESTART_NOTE);
    Ok(())
}

pub fn register_with(
    args: &InstanceArgs,
    api: &ApiArgs,
    r: &RegisterArgs,
    target_options: TargetOptions,
    out: &mut Out<'_>,
) -> Result<(), CliError> {
    let participation = target_options
        .participation
        .as_deref()
        .map(TenantedDeploymentParticipation::parse)
        .transpose()
        .map_err(invalid)?;
    let kind = MachineKind::Target {
        environments: target_options.environments,
        roles: target_options.roles,
        tenants: target_options.tenants,
        tenant_tags: target_options.tenant_tags,
        participation,
    };
    run_registration(args, api, r, kind, out)
}

pub fn register_worker(
    args: &InstanceArgs,
    api: &ApiArgs,
    r: &RegisterArgs,
    pools: Vec<String>,
    out: &mut Out<'_>,
) -> Result<(), CliError> {
    run_registration(args, api, r, MachineKind::Worker { pools }, out)
}

pub fn deregister(
    args: &InstanceArgs,
    api: &ApiArgs,
    worker: bool,
    multiple: bool,
    out: &mut Out<'_>,
) -> Result<(), CliError> {
    let t = target(args)?;
    let config = t.load()?;
    let opts = server_options(api, &config)?;
    let selector = t.selector();
    let job = DeregisterJob {
        opts,
        worker,
        multiple,
        config: t.config.clone(),
        selector: selector.clone(),
    };
    let done = run_job(out, job)?;
    if let Some(th) = &done.server_thumbprint {
        out.line(format!(
            "The Octopus Server is still trusted. To stop trusting it, run: tentacle configure {selector} --remove-trust={th}"
        ));
    }
    out.line(if worker {
        "Worker deregistered successfully"
    } else {
        "Machine deregistered successfully"
    });
    Ok(())
}

pub fn poll_server(
    args: &InstanceArgs,
    api: &ApiArgs,
    comms_address: Option<String>,
    comms_port: Option<String>,
    web_socket: Option<String>,
    reuse_server_thumbprint: bool,
    out: &mut Out<'_>,
) -> Result<(), CliError> {
    let comms_port = comms_port
        .as_deref()
        .map(|p| parse::port("--server-comms-port", p))
        .transpose()?;
    if web_socket.is_some() && comms_port.is_some() {
        return Err(CliError::Usage(
            "--server-comms-port cannot be combined with --server-web-socket: put the port in the wss:// address".to_owned(),
        ));
    }
    let t = target(args)?;
    let config = t.load()?;
    let api_given = api.server.is_some()
        || api.api_key.is_some()
        || api.bearer_token.is_some()
        || api.username.is_some()
        || api.password.is_some();
    // With --reuse-server-thumbprint the API options are optional (Tentacle validates them
    // only without it); the server URL still supplies the host when no address is given.
    let opts = if reuse_server_thumbprint && !api_given {
        None
    } else if reuse_server_thumbprint
        && api.api_key.is_none()
        && api.bearer_token.is_none()
        && api.username.is_none()
    {
        let server = api.server.as_deref().unwrap_or_default();
        Some(ServerOptions::new(
            ServerOptions::parse_server_url(server).map_err(invalid)?,
            Auth::ApiKey(Secret::new("")),
        ))
    } else {
        Some(server_options(api, &config)?)
    };
    if opts.is_none() && comms_address.is_none() && web_socket.is_none() {
        return Err(CliError::Usage(
            "poll-server needs the node's address: --server-comms-address https://node2:10943, --server-web-socket wss://node2:443/OctopusComms, or --server URL".to_owned(),
        ));
    }
    let job = PollServerJob {
        opts,
        req: PollServer {
            comms_address,
            comms_port,
            web_socket,
            reuse_server_thumbprint,
        },
        config: t.config.clone(),
        selector: t.selector(),
    };
    let entry = run_job(out, job)?;
    out.line(format!(
        "This Tentacle will also poll {} as {}, trusting the server certificate {}",
        entry.address.as_deref().unwrap_or_default(),
        entry.subscription_id.as_deref().unwrap_or_default(),
        entry.thumbprint
    ));
    out.line(RESTART_NOTE);
    Ok(())
}

/// The caller's subscriber minus rustls-platform-verifier's own ERROR line for a refused
/// certificate, which would repeat our one-line error (kept when `TENTACLE_LOG` asks for logs).
/// Only the registration thread uses it, so the manager's logging is otherwise untouched.
struct Quiet(tracing::Dispatch);

impl Quiet {
    fn noisy(meta: &tracing::Metadata<'_>) -> bool {
        meta.target().starts_with("rustls_platform_verifier")
            && std::env::var_os("TENTACLE_LOG").is_none()
    }
}

impl tracing::Subscriber for Quiet {
    fn register_callsite(
        &self,
        meta: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        if Self::noisy(meta) {
            tracing::subscriber::Interest::sometimes()
        } else {
            self.0.register_callsite(meta)
        }
    }
    fn enabled(&self, meta: &tracing::Metadata<'_>) -> bool {
        !Self::noisy(meta) && self.0.enabled(meta)
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        self.0.new_span(span)
    }
    fn record(&self, span: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        self.0.record(span, values)
    }
    fn record_follows_from(&self, span: &tracing::span::Id, follows: &tracing::span::Id) {
        self.0.record_follows_from(span, follows)
    }
    fn event_enabled(&self, event: &tracing::Event<'_>) -> bool {
        !Self::noisy(event.metadata())
    }
    fn event(&self, event: &tracing::Event<'_>) {
        if !Self::noisy(event.metadata()) {
            self.0.event(event)
        }
    }
    fn enter(&self, span: &tracing::span::Id) {
        self.0.enter(span)
    }
    fn exit(&self, span: &tracing::span::Id) {
        self.0.exit(span)
    }
    fn clone_span(&self, id: &tracing::span::Id) -> tracing::span::Id {
        self.0.clone_span(id)
    }
    fn try_close(&self, id: tracing::span::Id) -> bool {
        self.0.try_close(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instance::TentacleConfig;

    /// The manager runs these verbs through `cli::run` from inside its own runtime; the work
    /// must not try to block on a second runtime on that thread.
    #[tokio::test]
    async fn runs_inside_another_runtime_and_fails_with_one_clear_line() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("tentacle.toml");
        TentacleConfig::new("T", dir.path().to_path_buf())
            .create(&config)
            .unwrap();
        let args: Vec<std::ffi::OsString> = [
            "register-with",
            "--config",
            config.to_str().unwrap(),
            "--server",
            "http://127.0.0.1:1/",
            "--apiKey",
            "API-SHOULDNOTAPPEAR",
            "--environment",
            "Test",
            "--role",
            "web",
        ]
        .iter()
        .map(Into::into)
        .collect();
        let mut buf = Vec::new();
        let err = crate::cli::run(args, &mut Out::new(&mut buf)).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("No certificate has been generated for this Tentacle"),
            "{text}"
        );
        assert!(!text.contains("SHOULDNOTAPPEAR") && !text.contains('\n'));
    }

    #[test]
    fn style_specific_options_are_refused_for_the_other_style() {
        let polling_only = RegisterArgs {
            server_comms_port: Some("10943".into()),
            ..RegisterArgs::default()
        };
        let e = comms(&polling_only).unwrap_err().to_string();
        assert!(e.contains("add --comms-style TentacleActive"), "{e}");
        let listening_only = RegisterArgs {
            comms_style: Some("TentacleActive".into()),
            public_host_name: Some("web01".into()),
            ..RegisterArgs::default()
        };
        let e = comms(&listening_only).unwrap_err().to_string();
        assert!(e.contains("--publicHostName applies to listening"), "{e}");
    }
}
