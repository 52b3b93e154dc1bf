//! Shared pieces for the Halibut loopback tests: certificates, an echo service, acceptors, subscribers, raw clients and a real tinyproxy.

#![allow(dead_code, clippy::unwrap_used, clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bson::Bson;
use tentacle_core::certificate::{TentacleCertificate, generate};
use tentacle_core::halibut::connection::{Limits, OutgoingStream, ReceivedStream, Timeouts};
use tentacle_core::halibut::dial::Address;
use tentacle_core::halibut::listen::{Acceptor, TrustedPeers};
use tentacle_core::halibut::poll::{Backoff, LinkState, Subscriber};
use tentacle_core::halibut::queue::PollingQueues;
use tentacle_core::halibut::rpc::{BoxFuture, Reply, Service, ServiceError, ServiceTable};
use tentacle_core::halibut::transport::proxy::ProxySettings;
use tentacle_core::halibut::{tls, welcome};
use tentacle_core::trust::Thumbprint;
use tokio::sync::watch;

pub const SUBSCRIPTION: &str = "poll://testsubscription1234/";

pub struct Identities {
    pub server: TentacleCertificate,
    pub tentacle: TentacleCertificate,
    pub other: TentacleCertificate,
}

/// Three certificates, generated once per test binary (RSA generation takes a moment).
pub fn identities() -> &'static Identities {
    static IDS: OnceLock<Identities> = OnceLock::new();
    IDS.get_or_init(|| Identities {
        server: generate().unwrap(),
        tentacle: generate().unwrap(),
        other: generate().unwrap(),
    })
}

/// Bounds every awaited step of a test.
pub async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .expect("test step took more than 20 s")
}

pub fn checksum(data: &[u8]) -> String {
    use sha1::Digest;
    hex::encode(sha1::Sha1::digest(data))
}

pub fn download_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 256) as u8).collect()
}

/// IEchoService: SayHello, Crash, Upload (a DataStream → "len sha1"), Download(n) → DataStream, Count.
pub struct Echo {
    pub count: AtomicI64,
}

impl Service for Echo {
    fn name(&self) -> &str {
        "IEchoService"
    }
    fn call<'a>(
        &'a self,
        method: &'a str,
        params: Vec<Bson>,
        streams: Vec<ReceivedStream>,
    ) -> BoxFuture<'a, Result<Reply, ServiceError>> {
        Box::pin(async move {
            match method {
                "SayHello" => match params.as_slice() {
                    [Bson::String(s)] => Ok(Reply::value(Bson::String(format!("{s}...")))),
                    _ => Err(ServiceError::BadArguments(
                        "SayHello takes one string".into(),
                    )),
                },
                "Crash" => Err(ServiceError::Failed("boom".into())),
                "Count" => Ok(Reply::value(Bson::Int64(
                    self.count.fetch_add(1, Ordering::SeqCst) + 1,
                ))),
                "Upload" => {
                    let s = streams
                        .first()
                        .ok_or(ServiceError::BadArguments("no stream".into()))?;
                    let data =
                        std::fs::read(s.path()).map_err(|e| ServiceError::Failed(e.to_string()))?;
                    Ok(Reply::value(Bson::String(format!(
                        "{} {}",
                        data.len(),
                        checksum(&data)
                    ))))
                }
                "Download" => {
                    let n = match params.as_slice() {
                        [Bson::Int64(n)] => *n as usize,
                        _ => {
                            return Err(ServiceError::BadArguments(
                                "Download takes a length".into(),
                            ));
                        }
                    };
                    let (stream, placeholder) = OutgoingStream::bytes(download_bytes(n));
                    Ok(Reply {
                        result: Some(placeholder.to_bson_typed()),
                        streams: vec![stream],
                    })
                }
                _ => Err(ServiceError::MethodNotFound),
            }
        })
    }
}

pub fn echo_table() -> Arc<ServiceTable> {
    let mut t = ServiceTable::new();
    t.register(Arc::new(Echo {
        count: AtomicI64::new(0),
    }));
    Arc::new(t)
}

/// Short timeouts so failure tests finish quickly.
pub fn test_timeouts(queue_wait: Option<Duration>) -> Timeouts {
    Timeouts {
        io: Duration::from_millis(1500),
        control: Duration::from_secs(5),
        listening_idle: Duration::from_secs(10),
        polling_receive: Duration::from_secs(5),
        response: Duration::from_secs(10),
        polling_queue_wait: queue_wait.unwrap_or(Duration::from_secs(1)),
        polling_request_queue: Duration::from_secs(5),
    }
}

pub struct Running {
    pub port: u16,
    pub queues: Option<Arc<PollingQueues>>,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    accepted: Arc<AtomicUsize>,
}

impl Running {
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

pub async fn start_acceptor(
    own: &TentacleCertificate,
    trusted: impl IntoIterator<Item = Thumbprint>,
    queue_wait: Option<Duration>,
) -> Running {
    start(own, trusted, queue_wait, 0, 64).await
}

pub async fn start_acceptor_on(
    own: &TentacleCertificate,
    trusted: impl IntoIterator<Item = Thumbprint>,
    queue_wait: Option<Duration>,
    port: u16,
) -> Running {
    start(own, trusted, queue_wait, port, 64).await
}

pub async fn start_acceptor_with_cap(
    own: &TentacleCertificate,
    trusted: impl IntoIterator<Item = Thumbprint>,
    cap: usize,
) -> Running {
    start(own, trusted, None, 0, cap).await
}

pub async fn start_ws_acceptor(
    own: &TentacleCertificate,
    trusted: impl IntoIterator<Item = Thumbprint>,
) -> Running {
    start_kind(own, trusted, None, 0, 64, true).await
}

async fn start(
    own: &TentacleCertificate,
    trusted: impl IntoIterator<Item = Thumbprint>,
    queue_wait: Option<Duration>,
    port: u16,
    cap: usize,
) -> Running {
    start_kind(own, trusted, queue_wait, port, cap, false).await
}

async fn start_kind(
    own: &TentacleCertificate,
    trusted: impl IntoIterator<Item = Thumbprint>,
    queue_wait: Option<Duration>,
    port: u16,
    cap: usize,
    websocket: bool,
) -> Running {
    let mut listener = None;
    for _ in 0..50 {
        match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
            Ok(l) => {
                listener = Some(l);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let listener = listener.expect("bind 127.0.0.1");
    let port = listener.local_addr().unwrap().port();
    let queues = PollingQueues::new();
    let accepted = Arc::new(AtomicUsize::new(0));
    let acceptor = Arc::new(Acceptor {
        tls: tls::server_config(own).unwrap(),
        trusted: TrustedPeers::new(trusted),
        services: echo_table(),
        queues: Some(queues.clone()),
        timeouts: test_timeouts(queue_wait),
        limits: Limits::default(),
        max_connections: cap,
        welcome: Arc::new(welcome::response()),
        accepted: accepted.clone(),
        contacts: Default::default(),
    });
    let (stop, rx) = watch::channel(false);
    let task = if websocket {
        tokio::spawn(acceptor.run_websocket(listener, rx))
    } else {
        tokio::spawn(acceptor.run(listener, rx))
    };
    Running {
        port,
        queues: Some(queues),
        stop,
        task: Some(task),
        accepted,
    }
}

pub struct RunningSubscriber {
    stop: watch::Sender<bool>,
}

impl Drop for RunningSubscriber {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

pub fn subscriber(
    ids: &Identities,
    address: &str,
    pin: Thumbprint,
    proxy: Option<ProxySettings>,
) -> Subscriber {
    Subscriber {
        address: Address::parse(address).unwrap(),
        subscription: SUBSCRIPTION.into(),
        tls: tls::client_config(&ids.tentacle, &pin).unwrap(),
        proxy,
        services: echo_table(),
        timeouts: test_timeouts(None),
        limits: Limits::default(),
        backoff: Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(800),
        },
        connect_timeout: Duration::from_secs(5),
    }
}

pub fn start_subscriber(
    ids: &Identities,
    address: &str,
    pin: Thumbprint,
    proxy: Option<ProxySettings>,
) -> (watch::Receiver<LinkState>, RunningSubscriber) {
    let sub = Arc::new(subscriber(ids, address, pin, proxy));
    let (state_tx, state_rx) = watch::channel(LinkState::Connecting);
    let (stop, stop_rx) = watch::channel(false);
    tokio::spawn(sub.run(state_tx, stop_rx));
    (state_rx, RunningSubscriber { stop })
}

pub async fn wait_connected(state: &watch::Receiver<LinkState>) {
    let mut s = state.clone();
    within(s.wait_for(|v| matches!(v, LinkState::Connected { .. })))
        .await
        .unwrap();
}

pub async fn wait_disconnected(state: &watch::Receiver<LinkState>) -> String {
    let mut s = state.clone();
    let v = within(s.wait_for(|v| matches!(v, LinkState::Disconnected { .. })))
        .await
        .unwrap()
        .clone();
    match v {
        LinkState::Disconnected { error, .. } => error,
        _ => unreachable!(),
    }
}

/// A TLS connection presenting the server's certificate, pinned to the Tentacle.
pub async fn raw_client(
    ids: &Identities,
    port: u16,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let cfg = tls::client_config(&ids.server, &ids.tentacle.thumbprint()).unwrap();
    tls::connect(tcp, cfg, "127.0.0.1", Duration::from_secs(5))
        .await
        .unwrap()
}

pub async fn assert_closed<S: tokio::io::AsyncRead + Unpin>(s: &mut S) {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 64];
    let r = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("the peer should have closed the connection");
    assert!(matches!(r, Ok(0) | Err(_)), "expected EOF, got {r:?}");
}

/// A real tinyproxy on loopback with a private config, killed on drop.
pub struct Tinyproxy {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Tinyproxy {
    pub fn start(allowed_port: u16) -> Tinyproxy {
        let bin = ["/usr/bin/tinyproxy", "/usr/sbin/tinyproxy"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists());
        let bin = bin.expect(
            "tinyproxy is not installed; run `cargo xtask test`, which installs tinyproxy-bin",
        );
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("tinyproxy.log");
        let conf = dir.path().join("tinyproxy.conf");
        std::fs::write(
            &conf,
            format!(
                "Port {port}\nListen 127.0.0.1\nAllow 127.0.0.1\nConnectPort {allowed_port}\nTimeout 30\nLogLevel Info\nLogFile \"{}\"\nMaxClients 20\n",
                log.display()
            ),
        )
        .unwrap();
        let child = Command::new(bin)
            .arg("-d")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // From here the guard owns the child, so every path below kills and reaps it.
        let proxy = Tinyproxy { child, port, dir };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return proxy;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("tinyproxy did not start listening on {port}");
    }

    pub fn settings(&self) -> ProxySettings {
        ProxySettings {
            host: "127.0.0.1".into(),
            port: self.port,
            username: None,
            password: None,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("tinyproxy.log")).unwrap_or_default()
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

pub fn localhost(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}
