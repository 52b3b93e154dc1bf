//! The calling side: a listening client that dials a Tentacle (with a pool of idle connections reused through NEXT/PROCEED), and calls queued for polling Tentacles (§3.2, §3.7, §3.8).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ::bson::Bson;

use super::HalibutError;
use super::connection::{Connection, Limits, OutgoingStream, ReceivedStream, Timeouts};
use super::dial::{Address, ProxySettings, open};
use super::frame::{Control, Identity};
use super::message::{Envelope, RequestMessage, service_endpoint};
use super::queue::PollingQueues;
use super::transport::BoxStream;
use crate::certificate::TentacleCertificate;
use crate::trust::Thumbprint;

/// Idle connections kept per endpoint.
pub const POOL_SIZE: usize = 5;

/// A listening Tentacle to call.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// `https://host:port/`.
    pub base_uri: String,
    /// The Tentacle's certificate thumbprint.
    pub thumbprint: Thumbprint,
}

/// What a call returns: the result value and the DataStreams it referenced.
pub type CallResult = Result<(Option<Bson>, Vec<ReceivedStream>), HalibutError>;

struct Pooled {
    conn: Connection<BoxStream>,
    idle_since: Instant,
}

/// Calls services on listening Tentacles, and on polling ones through [`PollingQueues`].
pub struct HalibutClient {
    own: TentacleCertificate,
    tls: Mutex<HashMap<Thumbprint, Arc<rustls::ClientConfig>>>,
    pool: Mutex<HashMap<Endpoint, Vec<Pooled>>>,
    sequence: AtomicU64,
    /// Step timeouts.
    pub timeouts: Timeouts,
    /// Size limits.
    pub limits: Limits,
    /// Attempts per call when connecting fails (§3.8).
    pub retry_count: u32,
    /// Pause between attempts.
    pub retry_sleep: Duration,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Idle lifetime of a pooled connection.
    pub pooled_lifetime: Duration,
    /// Optional proxy for listening calls.
    pub proxy: Option<ProxySettings>,
}

impl HalibutClient {
    /// A client presenting `own` as its certificate.
    pub fn new(own: TentacleCertificate) -> HalibutClient {
        HalibutClient {
            own,
            tls: Mutex::new(HashMap::new()),
            pool: Mutex::new(HashMap::new()),
            sequence: AtomicU64::new(1),
            timeouts: Timeouts::default(),
            limits: Limits::default(),
            retry_count: 5,
            retry_sleep: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(60),
            pooled_lifetime: Duration::from_secs(9 * 60),
            proxy: None,
        }
    }

    fn tls_for(&self, thumbprint: &Thumbprint) -> Result<Arc<rustls::ClientConfig>, HalibutError> {
        let mut map = self.tls.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = map.get(thumbprint) {
            return Ok(c.clone());
        }
        let c = super::tls::client_config(&self.own, thumbprint)?;
        map.insert(thumbprint.clone(), c.clone());
        Ok(c)
    }

    /// Builds a request the way Halibut's proxies do (id, activity id, endpoint).
    pub fn request(
        &self,
        endpoint_uri: &str,
        thumbprint: Option<&Thumbprint>,
        service: &str,
        method: &str,
        params: Vec<Bson>,
    ) -> RequestMessage {
        let n = self.sequence.fetch_add(1, Ordering::Relaxed);
        let mut r = RequestMessage::new(service, method, params, n);
        r.endpoint = Some(service_endpoint(
            endpoint_uri,
            thumbprint.map(Thumbprint::as_str),
        ));
        r
    }

    /// Calls a listening Tentacle. Connection failures before the request is written are
    /// retried; once the request is on the wire the call is never repeated.
    pub async fn call(
        &self,
        endpoint: &Endpoint,
        service: &str,
        method: &str,
        params: Vec<Bson>,
        streams: Vec<OutgoingStream>,
    ) -> CallResult {
        let request = self.request(
            &endpoint.base_uri,
            Some(&endpoint.thumbprint),
            service,
            method,
            params,
        );
        let started = Instant::now();
        let mut attempt = 0;
        let mut conn = loop {
            attempt += 1;
            match self.acquire(endpoint).await {
                Ok(c) => break c,
                Err(e)
                    if !retryable(&e)
                        || attempt >= self.retry_count
                        || started.elapsed() > Duration::from_secs(300) =>
                {
                    return Err(e);
                }
                Err(e) => {
                    tracing::info!(endpoint = %endpoint.base_uri, error = %e, attempt, "connecting failed; retrying");
                    if attempt >= 2 {
                        self.pool
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .remove(endpoint);
                    }
                    tokio::time::sleep(self.retry_sleep).await;
                }
            }
        };
        let id = request.id.clone();
        conn.send_message(&Envelope::Request(request), streams)
            .await?;
        let answer = conn
            .read_message(self.timeouts.response, self.timeouts.io)
            .await?;
        let (response, received) = match answer {
            Some((Envelope::Response(r), s)) if r.id == id => (r, s),
            Some(_) => {
                return Err(HalibutError::DataStream(
                    "the Tentacle answered with a message that does not match the request".into(),
                ));
            }
            None => return Err(HalibutError::Closed("waiting for the response")),
        };
        self.release(endpoint, conn);
        match response.error {
            Some(e) => Err(HalibutError::Remote(e)),
            None => Ok((response.result, received)),
        }
    }

    async fn acquire(&self, endpoint: &Endpoint) -> Result<Connection<BoxStream>, HalibutError> {
        loop {
            let pooled = {
                let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
                pool.get_mut(endpoint).and_then(Vec::pop)
            };
            let Some(mut p) = pooled else { break };
            if p.idle_since.elapsed() > self.pooled_lifetime {
                p.conn.close().await;
                continue;
            }
            // A pooled connection may have died while idle: NEXT/PROCEED proves it is alive.
            let alive = async {
                p.conn.send_control(Control::Next).await?;
                p.conn.read_control("PROCEED", self.timeouts.control).await
            }
            .await;
            match alive {
                Ok(Some(Control::Proceed)) => return Ok(p.conn),
                _ => {
                    p.conn.abort().await;
                    continue;
                }
            }
        }
        let address = Address::parse(&endpoint.base_uri)?;
        let tls = self.tls_for(&endpoint.thumbprint)?;
        let opened = open(
            &address,
            tls,
            self.proxy.as_ref(),
            self.connect_timeout,
            &self.timeouts,
            &self.limits,
            &Identity::Client,
        )
        .await;
        match opened {
            Ok(conn) => Ok(conn),
            // Untrusted clients are closed without a word (§1.4).
            Err(HalibutError::Closed(_)) => Err(HalibutError::Connect(format!(
                "An error occurred when sending a request to '{}', before the request could begin: the Tentacle closed the connection. It probably does not trust this server's certificate thumbprint",
                endpoint.base_uri
            ))),
            Err(e) => Err(e),
        }
    }

    fn release(&self, endpoint: &Endpoint, conn: Connection<BoxStream>) {
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        let idle = pool.entry(endpoint.clone()).or_default();
        if idle.len() < POOL_SIZE {
            idle.push(Pooled {
                conn,
                idle_since: Instant::now(),
            });
        }
        // Beyond the pool size the connection is dropped; the service sees EOF and closes.
    }

    /// Calls a polling Tentacle: the request waits in its subscription's queue until one of
    /// its connections collects it.
    pub async fn call_polling(
        &self,
        queues: &PollingQueues,
        subscription: &str,
        service: &str,
        method: &str,
        params: Vec<Bson>,
        streams: Vec<OutgoingStream>,
    ) -> CallResult {
        let request = self.request(subscription, None, service, method, params);
        let (response, received) = queues
            .call(
                subscription,
                request,
                streams,
                self.timeouts.polling_request_queue,
            )
            .await?;
        match response.error {
            Some(e) => Err(HalibutError::Remote(e)),
            None => Ok((response.result, received)),
        }
    }

    /// Closes every pooled connection with END.
    pub async fn close_all(&self) {
        let all: Vec<Pooled> = {
            let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
            pool.drain().flat_map(|(_, v)| v).collect()
        };
        for p in all {
            p.conn.close().await;
        }
    }
}

fn retryable(e: &HalibutError) -> bool {
    // Certificate problems and bad addresses will not fix themselves (§3.8).
    !matches!(
        e,
        HalibutError::Tls(super::tls::TlsError::UnexpectedServerCertificate { .. })
    ) && !matches!(e, HalibutError::Connect(m) if m.contains("is not a usable address"))
}
