//! What will be checked for one instance (a pure function of its configuration) and the runner that executes the plan, servers in parallel.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::{CheckReport, CheckResult, ChecksError, Outcome, Step, host, polling, port, startup};
use crate::certificate::{self, TentacleCertificate};
use crate::halibut::dial::Address;
use crate::halibut::transport::proxy::ProxySettings as TunnelProxy;
use crate::instance::{InstanceRecord, TentacleConfig};
use crate::trust::{CommunicationStyle, Thumbprint};

/// Bounds and knobs for one run. The defaults keep a whole run to a few seconds.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Longest wait for a DNS answer or a TCP connection.
    pub connect_timeout: Duration,
    /// Longest wait for a TLS handshake, a proxy reply, an identity line or a page.
    pub io_timeout: Duration,
    /// `tentacle help` slower than this is a warning (the troubleshooting guide's "< 1s").
    pub startup_limit: Duration,
    /// The `tentacle` executable to time; `None` finds it (this executable, or `tentacle` beside it).
    pub tentacle_exe: Option<PathBuf>,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            connect_timeout: Duration::from_secs(5),
            io_timeout: Duration::from_secs(5),
            startup_limit: Duration::from_secs(1),
            tentacle_exe: None,
        }
    }
}

/// One polling server to check.
#[derive(Debug, Clone)]
pub(crate) struct PollTarget {
    /// 1-based position among the polling servers, used in ids.
    pub number: usize,
    /// The address as configured.
    pub address_text: String,
    /// The parsed address, or why it cannot be used.
    pub address: Result<Address, String>,
    /// The thumbprint this Tentacle trusts for it.
    pub thumbprint: Thumbprint,
    /// The polling proxy, when a custom one is configured.
    pub proxy: Option<TunnelProxy>,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

impl PollTarget {
    /// The step with this suffix (`dns`, `tcp`, …).
    pub fn step(&self, what: &str) -> Step {
        let id = format!("poll.{}.{what}", self.number);
        self.steps
            .iter()
            .find(|s| s.id == id)
            .cloned()
            .unwrap_or_else(|| Step::new(id, what))
    }
}

/// Everything the checks of one instance need, decided before anything runs.
#[derive(Debug, Clone)]
pub struct CheckPlan {
    pub(crate) instance: String,
    pub(crate) config_path: PathBuf,
    pub(crate) config: TentacleConfig,
    pub(crate) home: PathBuf,
    /// This Tentacle's certificate, or why it could not be loaded.
    pub(crate) own: Result<TentacleCertificate, String>,
    pub(crate) options: CheckOptions,
    pub(crate) local: Vec<Step>,
    pub(crate) targets: Vec<PollTarget>,
    pub(crate) host: Vec<Step>,
}

impl CheckPlan {
    /// The plan for an instance from the index: reads its configuration and certificate
    /// (never writes). A missing certificate is not an error here; the checks that need it
    /// say so.
    pub fn for_instance(record: &InstanceRecord) -> Result<CheckPlan, ChecksError> {
        let config = TentacleConfig::load(&record.config)?;
        Ok(CheckPlan::from_config(&record.name, &record.config, config))
    }

    /// The plan for a configuration already loaded from `config_path`.
    pub fn from_config(instance: &str, config_path: &Path, config: TentacleConfig) -> CheckPlan {
        let own = match &config.certificate {
            None => Err("This Tentacle has no certificate yet".to_owned()),
            Some(r) => certificate::load_from_file(&r.file)
                .map_err(|e| format!("This Tentacle's certificate cannot be loaded: {e}")),
        };
        let home = config.home_dir(config_path);
        let mut local = vec![
            Step::new("config.trust", "Trusted Octopus Servers"),
            Step::new("agent.status", "Tentacle agent process"),
        ];
        if !config.communication.no_listen {
            let p = config.communication.port;
            local.push(Step::new("listen.port", format!("Listening port {p}")));
            local.push(Step::new(
                "listen.welcome",
                format!("Welcome page at https://localhost:{p}/"),
            ));
            local.push(Step::new(
                "listen.firewall",
                format!("Firewall on this machine allows TCP port {p}"),
            ));
        }
        let proxy = TunnelProxy::for_polling(&config);
        let targets = config
            .trusted_servers
            .iter()
            .filter(|s| s.style == CommunicationStyle::Polling)
            .enumerate()
            .map(|(i, s)| target(i + 1, s.address.as_deref(), &s.thumbprint, proxy.clone()))
            .collect();
        let host = vec![
            Step::new("host.home", "Home folder ownership and permissions"),
            Step::new("config.certificate", "This Tentacle's certificate"),
            Step::new("host.disk", "Free disk space for the home folder"),
            Step::new("host.startup", "`tentacle help` start-up time"),
            Step::new("host.clock", "System clock"),
            Step::new(
                "host.upgrades",
                "Tentacle version and server-pushed upgrades",
            ),
            Step::new(
                "host.prerequisites",
                "Programs scripts and Calamari need on this machine",
            ),
        ];
        CheckPlan {
            instance: instance.to_owned(),
            config_path: config_path.to_path_buf(),
            config,
            home,
            own,
            options: CheckOptions::default(),
            local,
            targets,
            host,
        }
    }

    /// The same plan with other bounds.
    pub fn with_options(mut self, options: CheckOptions) -> CheckPlan {
        self.options = options;
        self
    }

    /// The instance name.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Every step in report order.
    fn steps(&self) -> Vec<&Step> {
        self.local
            .iter()
            .chain(self.targets.iter().flat_map(|t| t.steps.iter()))
            .chain(self.host.iter())
            .collect()
    }

    /// The titles of the checks that will run, in report order (for a progress list).
    pub fn titles(&self) -> Vec<String> {
        self.steps().into_iter().map(|s| s.title.clone()).collect()
    }

    /// The ids of the checks, in the same order as [`CheckPlan::titles`].
    pub fn ids(&self) -> Vec<String> {
        self.steps().into_iter().map(|s| s.id.clone()).collect()
    }
}

fn target(
    number: usize,
    address: Option<&str>,
    thumbprint: &Thumbprint,
    proxy: Option<TunnelProxy>,
) -> PollTarget {
    let address_text = address.unwrap_or_default().to_owned();
    let parsed = match address {
        None => Err("the entry has no polling address".to_owned()),
        Some(a) => Address::parse(a).map_err(|e| e.to_string()),
    };
    let id = |what: &str| format!("poll.{number}.{what}");
    let steps = match &parsed {
        Err(_) => vec![Step::new(
            id("address"),
            format!("Polling address of server {number}"),
        )],
        Ok(a) => {
            let (host, endpoint) = match a {
                Address::Tcp { host, .. } => (host.clone(), a.describe()),
                Address::WebSocket(u) => (
                    u.host_str().unwrap_or_default().to_owned(),
                    format!(
                        "{}:{}",
                        u.host_str().unwrap_or_default(),
                        u.port_or_known_default().unwrap_or(443)
                    ),
                ),
            };
            let mut steps = Vec::new();
            if let Some(p) = &proxy {
                steps.push(Step::new(
                    id("proxy"),
                    format!(
                        "Polling proxy {} to {endpoint}",
                        crate::halibut::transport::proxy::authority(&p.host, p.port)
                    ),
                ));
            }
            steps.push(Step::new(id("dns"), format!("DNS resolution of {host}")));
            steps.push(Step::new(
                id("tcp"),
                format!("TCP connection to {endpoint}"),
            ));
            steps.push(Step::new(
                id("tls"),
                format!("TLS handshake with {endpoint}"),
            ));
            steps.push(Step::new(
                id("thumbprint"),
                format!("Server thumbprint at {endpoint}"),
            ));
            steps.push(Step::new(
                id("certificate"),
                format!("Server certificate signature at {endpoint}"),
            ));
            if let Address::WebSocket(u) = a {
                steps.push(Step::new(
                    id("websocket"),
                    format!("WebSocket endpoint answers HTTPS at {}", https_of(u)),
                ));
            }
            steps.push(Step::new(
                id("identity"),
                format!("Halibut identity at {}", a.describe()),
            ));
            steps
        }
    };
    PollTarget {
        number,
        address_text,
        address: parsed,
        thumbprint: thumbprint.clone(),
        proxy,
        steps,
    }
}

/// `wss://h/p` as the `https://h/p` a browser would open.
pub(crate) fn https_of(url: &url::Url) -> String {
    let s = url.as_str();
    s.strip_prefix("wss://")
        .map(|rest| format!("https://{rest}"))
        .unwrap_or_else(|| s.to_owned())
}

/// Evidence about the time gathered by server checks, for the clock check.
#[derive(Debug, Clone, Default)]
pub(crate) struct TimeEvidence {
    /// `(source, the peer's HTTP Date in Unix seconds, our clock when it arrived)`.
    pub http_dates: Vec<(String, i64, i64)>,
    /// `(source, not_before, not_after)` of server certificates, Unix seconds.
    pub validity: Vec<(String, i64, i64)>,
}

impl TimeEvidence {
    fn merge(&mut self, other: TimeEvidence) {
        self.http_dates.extend(other.http_dates);
        self.validity.extend(other.validity);
    }
}

/// Sends results to the runner as they finish.
#[derive(Clone)]
pub(crate) struct Sink(mpsc::UnboundedSender<CheckResult>);

impl Sink {
    /// Records `outcome` for `step`, timed from `started`; returns whether it passed.
    pub fn put(&self, step: &Step, outcome: Outcome, started: Instant) -> bool {
        let passed = outcome.is_pass();
        let _ = self.0.send(step.finish(outcome, started));
        passed
    }
}

pub(crate) async fn execute(
    plan: &CheckPlan,
    progress: &mut (dyn FnMut(&CheckResult) + Send),
) -> CheckReport {
    let started = Instant::now();
    let plan_arc = Arc::new(plan.clone());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut tasks = tokio::task::JoinSet::new();
    {
        let (p, sink) = (plan_arc.clone(), Sink(tx.clone()));
        tasks.spawn(async move {
            port::run_local(&p, &sink).await;
            TimeEvidence::default()
        });
    }
    for t in &plan.targets {
        let (p, sink, t) = (plan_arc.clone(), Sink(tx.clone()), t.clone());
        tasks.spawn(async move { polling::run_target(&p, &t, &sink).await });
    }
    {
        let (p, sink) = (plan_arc.clone(), Sink(tx.clone()));
        tasks.spawn(async move {
            host::run_home_and_disk(&p, &sink);
            startup::run(&p, &sink).await;
            TimeEvidence::default()
        });
    }
    drop(tx);
    let mut results = Vec::new();
    while let Some(r) = rx.recv().await {
        progress(&r);
        results.push(r);
    }
    let mut evidence = TimeEvidence::default();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(e) => evidence.merge(e),
            Err(e) => tracing::error!(error = %e, "a check task stopped unexpectedly"),
        }
    }
    // The clock needs what the server checks saw, so it runs last.
    let clock_started = Instant::now();
    if let Some(step) = plan.host.iter().find(|s| s.id == "host.clock") {
        let r = step.finish(host::clock(&evidence), clock_started);
        progress(&r);
        results.push(r);
    }
    let order = plan.ids();
    let mut ordered = Vec::with_capacity(order.len());
    for (i, id) in order.iter().enumerate() {
        match results.iter().position(|r| &r.id == id) {
            Some(at) => ordered.push(results.swap_remove(at)),
            None => {
                // A task that panicked leaves holes; say so rather than drop the line.
                let step = plan.steps()[i].clone();
                let r = step.finish(
                    Outcome::fail(
                        "this check stopped before giving a result",
                        "an internal error in the check (see the log)",
                        "run tentacle check again with TENTACLE_LOG=debug and report the output",
                    ),
                    clock_started,
                );
                progress(&r);
                ordered.push(r);
            }
        }
    }
    CheckReport {
        instance: plan.instance.clone(),
        config: plan.config_path.clone(),
        results: ordered,
        elapsed: started.elapsed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instance::ProxyMode;
    use crate::trust::TrustedServer;

    const T: &str = "76F1E5F2B1B2C3D4E5F60718293A4B5C6D7E8F90";

    fn config() -> TentacleConfig {
        let mut c = TentacleConfig::new("T", PathBuf::from("/tmp/t-home"));
        c.trusted_servers.push(TrustedServer {
            thumbprint: Thumbprint::parse(T).unwrap(),
            style: CommunicationStyle::Polling,
            address: Some("https://octopus.example:10943/".into()),
            subscription_id: Some("poll://abc/".into()),
        });
        c.trusted_servers.push(TrustedServer {
            thumbprint: Thumbprint::parse(T).unwrap(),
            style: CommunicationStyle::Polling,
            address: Some("wss://octopus.example/OctopusComms".into()),
            subscription_id: Some("poll://abc/".into()),
        });
        c
    }

    #[test]
    fn plan_lists_local_server_and_host_checks_in_order() {
        let plan = CheckPlan::from_config("T", Path::new("/tmp/t.toml"), config());
        let ids = plan.ids();
        assert_eq!(
            &ids[..4],
            [
                "config.trust",
                "agent.status",
                "listen.port",
                "listen.welcome"
            ]
        );
        assert!(ids.contains(&"poll.1.identity".to_owned()));
        assert!(!ids.contains(&"poll.1.websocket".to_owned()));
        assert!(ids.contains(&"poll.2.websocket".to_owned()));
        assert!(!ids.contains(&"poll.1.proxy".to_owned()));
        let host: Vec<&str> = ids
            .iter()
            .map(String::as_str)
            .skip_while(|id| !id.starts_with("host."))
            .filter(|id| id.starts_with("host."))
            .collect();
        assert_eq!(
            host,
            [
                "host.home",
                "host.disk",
                "host.startup",
                "host.clock",
                "host.upgrades",
                "host.prerequisites"
            ]
        );
        assert_eq!(ids.last().map(String::as_str), Some("host.prerequisites"));
        let titles = plan.titles();
        assert_eq!(titles.len(), ids.len());
        assert!(titles.contains(&"DNS resolution of octopus.example".to_owned()));
        assert!(titles.contains(
            &"WebSocket endpoint answers HTTPS at https://octopus.example/OctopusComms".to_owned()
        ));
        assert!(plan.own.is_err());
    }

    #[test]
    fn custom_polling_proxy_adds_a_proxy_check_and_no_listen_drops_port_checks() {
        let mut c = config();
        c.communication.no_listen = true;
        c.polling_proxy.mode = ProxyMode::Custom;
        c.polling_proxy.host = Some("proxy.example".into());
        c.polling_proxy.port = Some(3128);
        let plan = CheckPlan::from_config("T", Path::new("/tmp/t.toml"), c);
        let ids = plan.ids();
        assert!(!ids.contains(&"listen.port".to_owned()));
        assert_eq!(ids[2], "poll.1.proxy");
        assert!(plan.titles()[2].contains("proxy.example:3128"));
    }

    #[test]
    fn a_polling_entry_without_address_is_one_failing_step() {
        let mut c = TentacleConfig::new("T", PathBuf::from("/tmp/x"));
        c.trusted_servers.push(TrustedServer {
            thumbprint: Thumbprint::parse(T).unwrap(),
            style: CommunicationStyle::Polling,
            address: None,
            subscription_id: None,
        });
        let plan = CheckPlan::from_config("T", Path::new("/tmp/t.toml"), c);
        assert!(plan.ids().contains(&"poll.1.address".to_owned()));
        assert!(plan.targets[0].address.is_err());
    }
}
