//! `tentacle agent`: load the instance, listen and/or poll every trusted server, keep the status document current, and stop gracefully.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use tokio::net::TcpListener;
use tokio::sync::watch;

use super::AgentContext;
use crate::certificate::{self, CertificateError, TentacleCertificate};
use crate::halibut::connection::{Limits, Timeouts};
use crate::halibut::dial::Address;
use crate::halibut::listen::{Acceptor, ContactLog, TrustedPeers};
use crate::halibut::poll::{Backoff, LinkState, Subscriber};
use crate::halibut::rpc::ServiceTable;
use crate::halibut::transport::proxy::ProxySettings as TunnelProxy;
use crate::halibut::{HalibutError, tls, welcome};
use crate::instance::{CertificateRef, InstanceError, TentacleConfig};
use crate::status::{AgentStatus, LinkStatus, ServerStatus, now_secs};
use crate::trust::CommunicationStyle;

/// Why the agent could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The configuration could not be read or updated.
    #[error(transparent)]
    Instance(#[from] InstanceError),
    /// The certificate could not be made or loaded.
    #[error(transparent)]
    Certificate(#[from] CertificateError),
    /// TLS configuration.
    #[error(transparent)]
    Halibut(#[from] HalibutError),
    /// The listening port is taken.
    #[error(
        "A required communications port is already in use: {port}. Another Tentacle instance or program is listening on it; find it with `ss -ltnp 'sport = :{port}'` (Windows: netstat -o -n -a -b), stop it, or choose another port with tentacle configure --port"
    )]
    PortInUse {
        /// The port.
        port: u16,
    },
    /// Binding failed for another reason.
    #[error(
        "Could not listen on {address}: {source}. Check --listenIpAddress and that this user may bind the port"
    )]
    Bind {
        /// The address.
        address: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// A polling entry that cannot be used.
    #[error(
        "The trusted server {thumbprint} is set to polling but {problem}. Fix it with tentacle server-comms or register again"
    )]
    BadPollingEntry {
        /// Which server.
        thumbprint: String,
        /// What is missing.
        problem: String,
    },
    /// Folders under home.
    #[error("Could not create {}: {source}", path.display())]
    Folder {
        /// The folder.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// How the agent runs.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// How long running scripts may take to finish after a stop is requested.
    pub grace: Duration,
    /// Step timeouts (Tentacle's recommended values by default).
    pub timeouts: Timeouts,
    /// Reconnect delays for polling.
    pub backoff: Backoff,
}

impl Default for AgentOptions {
    fn default() -> Self {
        AgentOptions {
            grace: Duration::from_secs(30),
            timeouts: Timeouts::default(),
            backoff: Backoff::default(),
        }
    }
}

/// Makes sure the instance has a certificate (the agent creates one if missing, as Tentacle
/// does) and loads it.
pub fn ensure_certificate(config_path: &Path) -> Result<TentacleCertificate, AgentError> {
    let dir = config_path
        .parent()
        .map(|p| p.join("certificates"))
        .unwrap_or_else(|| PathBuf::from("certificates"));
    let reference = TentacleConfig::update(config_path, |c| {
        if let Some(r) = &c.certificate {
            return Ok::<_, AgentError>(r.clone());
        }
        let cert = certificate::generate()?;
        let file = certificate::save_to_dir(&cert, &dir)?;
        tracing::info!(thumbprint = %cert.thumbprint(), "generated a certificate for this Tentacle");
        let r = CertificateRef {
            thumbprint: cert.thumbprint(),
            file,
        };
        c.certificate = Some(r.clone());
        Ok(r)
    })?;
    Ok(certificate::load_from_file(&reference.file)?)
}

struct Poller {
    thumbprint: String,
    address: String,
    states: Vec<watch::Receiver<LinkState>>,
}

/// Runs the agent for the instance at `config_path` until `shutdown` turns true. `services`
/// builds the service table; `running_scripts` reports how many scripts are running (for the
/// status document and the stop grace period).
pub async fn run(
    config_path: &Path,
    services: Arc<ServiceTable>,
    running_scripts: Arc<dyn Fn() -> usize + Send + Sync>,
    options: AgentOptions,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), AgentError> {
    let own = ensure_certificate(config_path)?;
    let config = TentacleConfig::load(config_path)?;
    let ctx = AgentContext::from_config(&config, config_path);
    // Work (scripts, their output) and Temp (spooled DataStreams) are the owner's alone
    // before the first file lands in them.
    for (dir, private) in [
        (&ctx.home, false),
        (&ctx.work_dir, true),
        (&ctx.temp_dir, true),
    ] {
        let made = if private {
            crate::instance::private::create_private_dir(dir)
        } else {
            std::fs::create_dir_all(dir)
        };
        made.map_err(|source| AgentError::Folder {
            path: dir.clone(),
            source,
        })?;
    }
    let limits = Limits {
        temp_dir: ctx.temp_dir.clone(),
        preauth: crate::halibut::preauth::PreauthLimits::from_settings(
            &config.communication.preauth,
        ),
        ..Limits::default()
    };
    tracing::info!(instance = %ctx.instance, thumbprint = %own.thumbprint(), home = %ctx.home.display(), "Tentacle agent starting");

    let contacts = ContactLog::default();
    let mut listening_on = None;
    if !config.communication.no_listen {
        let listener = bind(&config).await?;
        let local = listener.local_addr().map_err(|source| AgentError::Bind {
            address: SocketAddr::from(([0, 0, 0, 0], config.communication.port)),
            source,
        })?;
        listening_on = Some(local.to_string());
        let acceptor = Arc::new(Acceptor {
            tls: tls::server_config(&own).map_err(HalibutError::from)?,
            trusted: TrustedPeers::new(config.trusted_servers.iter().map(|s| s.thumbprint.clone())),
            services: services.clone(),
            queues: None,
            timeouts: options.timeouts.clone(),
            limits: limits.clone(),
            max_connections: 256,
            welcome: Arc::new(welcome::response()),
            accepted: Default::default(),
            contacts: contacts.clone(),
        });
        tracing::info!(address = %local, "listening for Octopus Server");
        tokio::spawn(acceptor.run(listener, shutdown.clone()));
    }

    let count = polling_connection_count(&config);
    let mut pollers = Vec::new();
    for server in config
        .trusted_servers
        .iter()
        .filter(|s| s.style == CommunicationStyle::Polling)
    {
        let bad = |problem: &str| AgentError::BadPollingEntry {
            thumbprint: server.thumbprint.to_string(),
            problem: problem.to_owned(),
        };
        let address = server
            .address
            .clone()
            .ok_or_else(|| bad("it has no address"))?;
        let subscription = server
            .subscription_id
            .clone()
            .ok_or_else(|| bad("it has no subscription id"))?;
        let subscriber = Arc::new(Subscriber {
            address: Address::parse(&address).map_err(|e| bad(&e.to_string()))?,
            subscription,
            tls: tls::client_config(&own, &server.thumbprint).map_err(HalibutError::from)?,
            proxy: TunnelProxy::for_polling(&config),
            services: services.clone(),
            timeouts: options.timeouts.clone(),
            limits: limits.clone(),
            backoff: options.backoff,
            connect_timeout: Duration::from_secs(60),
        });
        tracing::info!(server = %address, thumbprint = %server.thumbprint, connections = count, "polling Octopus Server");
        pollers.push(Poller {
            thumbprint: server.thumbprint.to_string(),
            address,
            states: subscriber.spawn(count, &shutdown),
        });
    }

    let started_at = now_secs();
    let snapshot = |running: bool| AgentStatus {
        format_version: 1,
        instance: ctx.instance.clone(),
        pid: std::process::id(),
        started_at,
        updated_at: now_secs(),
        mode: mode_text(listening_on.is_some(), !pollers.is_empty()),
        listening_on: listening_on.clone(),
        servers: server_statuses(&config, &pollers, &contacts),
        running_scripts: running_scripts(),
        running,
    };
    let mut last_written: Option<AgentStatus> = None;
    let mut last_time = 0u64;
    // The main loop is the agent's pulse: while it turns, the liveness heartbeat stays fresh.
    let mut heartbeat = super::livez::Heartbeat::new(&ctx.home);
    loop {
        heartbeat.tick().await;
        let current = snapshot(true);
        let mut comparable = current.clone();
        comparable.updated_at = 0;
        let changed = last_written.as_ref() != Some(&comparable);
        if changed || now_secs().saturating_sub(last_time) >= crate::status::REFRESH.as_secs() {
            if let Err(e) = current.write_off_runtime(ctx.home.clone()).await {
                tracing::warn!(error = %e, "could not write the status document");
            }
            last_written = Some(comparable);
            last_time = now_secs();
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = shutdown.changed() => break,
        }
    }

    tracing::info!("stop requested: no new connections; waiting for running scripts");
    let deadline = tokio::time::Instant::now() + options.grace;
    // Each polling connection first finishes and answers the request it is serving; its
    // state channel closes when it has. Bounded by the same grace period as the scripts.
    let mut links: Vec<_> = pollers.iter().flat_map(|p| p.states.clone()).collect();
    let _ = tokio::time::timeout_at(deadline, async {
        for link in &mut links {
            while link.changed().await.is_ok() {}
        }
    })
    .await;
    while running_scripts() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let left = running_scripts();
    if left > 0 {
        tracing::warn!(
            scripts = left,
            grace_s = options.grace.as_secs(),
            "stopping with scripts still running after the grace period"
        );
    }
    let _ = snapshot(false).write_off_runtime(ctx.home.clone()).await;
    heartbeat.stopped().await;
    tracing::info!("Tentacle agent stopped");
    Ok(())
}

async fn bind(config: &TentacleConfig) -> Result<TcpListener, AgentError> {
    let port = config.communication.port;
    let bound = config.communication.bind_listener().map_err(|f| {
        if f.in_use() {
            AgentError::PortInUse { port }
        } else {
            AgentError::Bind {
                address: f.address,
                source: f.source,
            }
        }
    })?;
    let address = bound
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], port)));
    bound
        .set_nonblocking(true)
        .and_then(|()| TcpListener::from_std(bound))
        .map_err(|source| AgentError::Bind { address, source })
}

/// `TentaclePollingConnectionCount` wins over the config; 1 to 512; 1 when unset.
fn polling_connection_count(config: &TentacleConfig) -> usize {
    std::env::var("TentaclePollingConnectionCount")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .or(config
            .communication
            .polling_connection_count
            .map(|n| n as usize))
        .unwrap_or(1)
        .clamp(1, 512)
}

fn mode_text(listening: bool, polling: bool) -> String {
    match (listening, polling) {
        (true, true) => "listening and polling",
        (false, true) => "polling",
        (true, false) => "listening",
        (false, false) => "idle",
    }
    .to_owned()
}

fn secs(t: std::time::SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn server_statuses(
    config: &TentacleConfig,
    pollers: &[Poller],
    contacts: &ContactLog,
) -> Vec<ServerStatus> {
    let mut out = Vec::new();
    for s in config
        .trusted_servers
        .iter()
        .filter(|s| s.style == CommunicationStyle::Listening)
    {
        out.push(ServerStatus {
            thumbprint: s.thumbprint.to_string(),
            style: "listening".into(),
            address: None,
            link: None,
            connections_up: 0,
            connections: 0,
            last_contact: contacts.last(&s.thumbprint),
            last_error: None,
        });
    }
    for p in pollers {
        let states: Vec<LinkState> = p.states.iter().map(|r| r.borrow().clone()).collect();
        let up = states
            .iter()
            .filter(|s| matches!(s, LinkState::Connected { .. }))
            .count();
        let last_contact = states
            .iter()
            .filter_map(|s| match s {
                LinkState::Connected { last_contact, .. } => Some(secs(*last_contact)),
                _ => None,
            })
            .max();
        let last_error = states.iter().find_map(|s| match s {
            LinkState::Disconnected { error, .. } => Some(error.clone()),
            _ => None,
        });
        let link = if up > 0 {
            LinkStatus::Connected
        } else if states.iter().any(|s| matches!(s, LinkState::Connecting)) {
            LinkStatus::Connecting
        } else {
            LinkStatus::Disconnected
        };
        out.push(ServerStatus {
            thumbprint: p.thumbprint.clone(),
            style: "polling".into(),
            address: Some(p.address.clone()),
            link: Some(link),
            connections_up: up,
            connections: states.len(),
            last_contact,
            last_error,
        });
    }
    out
}
