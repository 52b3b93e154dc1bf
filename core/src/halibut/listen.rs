//! The acceptor role: TLS on a TCP port, the welcome page for browsers, trust checks, and serving MX-CLIENT (RPCs) and MX-SUBSCRIBER (queued requests) peers.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use super::HalibutError;
use super::admission::{Admission, Outcome, SUMMARY_PERIOD, Ticket};
use super::connection::{Connection, Limits, Timeouts};
use super::frame::{Control, Identity, Preamble};
use super::message::Envelope;
use super::preauth::{Budget, Metered};
use super::queue::PollingQueues;
use super::rpc::ServiceTable;
use crate::trust::Thumbprint;

/// The thumbprints an acceptor lets in; shared so trust changes apply to new connections at once.
#[derive(Debug, Clone, Default)]
pub struct TrustedPeers(Arc<RwLock<HashSet<Thumbprint>>>);

impl TrustedPeers {
    /// Trusts exactly these.
    pub fn new(thumbprints: impl IntoIterator<Item = Thumbprint>) -> TrustedPeers {
        TrustedPeers(Arc::new(RwLock::new(thumbprints.into_iter().collect())))
    }

    /// Case-insensitive by construction: thumbprints are stored upper-case.
    pub fn contains(&self, t: &Thumbprint) -> bool {
        self.0.read().map(|s| s.contains(t)).unwrap_or(false)
    }

    /// Adds one.
    pub fn add(&self, t: Thumbprint) {
        if let Ok(mut s) = self.0.write() {
            s.insert(t);
        }
    }

    /// Replaces the set.
    pub fn replace(&self, all: impl IntoIterator<Item = Thumbprint>) {
        if let Ok(mut s) = self.0.write() {
            *s = all.into_iter().collect();
        }
    }
}

/// When each trusted peer last sent a request (seconds since the Unix epoch), for status documents.
#[derive(Debug, Clone, Default)]
pub struct ContactLog(Arc<std::sync::Mutex<std::collections::HashMap<Thumbprint, u64>>>);

impl ContactLog {
    /// Records contact from `peer` now.
    pub fn touch(&self, peer: &Thumbprint) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if let Ok(mut m) = self.0.lock() {
            m.insert(peer.clone(), now);
        }
    }

    /// The last contact from `peer`.
    pub fn last(&self, peer: &Thumbprint) -> Option<u64> {
        self.0.lock().ok().and_then(|m| m.get(peer).copied())
    }
}

/// What an accept loop expects on its port.
#[derive(Debug, Clone, Copy)]
enum Transport {
    /// TLS, then the `MX` preamble (or a browser).
    Tcp,
    /// TLS, then an HTTP upgrade to a WebSocket (or a browser).
    WebSocket,
}

/// An accepted TLS stream over the metered socket.
type PreauthTls = tokio_rustls::server::TlsStream<Metered<tokio::net::TcpStream>>;

/// Where the pre-authentication phase left a connection.
enum Phase {
    /// TLS done with a trusted client certificate.
    Trusted(Box<PreauthTls>, Thumbprint),
    /// Finished (welcome page, refusal, failure) without ever being trusted.
    Done(Outcome),
}

/// The outcome for a Halibut peer without a trusted certificate.
fn refused(presented: Option<Thumbprint>) -> Outcome {
    match presented {
        Some(t) => Outcome::Untrusted(t),
        None => Outcome::NoCertificate,
    }
}

/// The WebSocket port's answer to a peer without a trusted certificate: the welcome page for
/// plain HTTPS, nothing for a WebSocket upgrade.
async fn untrusted_websocket(tls: PreauthTls, presented: Option<Thumbprint>) -> Outcome {
    match super::transport::websocket::server_accept(tls).await {
        Ok(super::transport::websocket::ServerAccept::NotWebSocket { stream, .. }) => {
            let _ =
                super::welcome::serve_welcome(stream, super::welcome::AlreadyRead::Headers).await;
            Outcome::Welcome
        }
        Ok(super::transport::websocket::ServerAccept::WebSocket { .. }) => refused(presented),
        Err(_) => Outcome::Closed,
    }
}

/// Everything an acceptor needs.
pub struct Acceptor {
    /// Our TLS identity (requests, never requires, a client certificate).
    pub tls: Arc<rustls::ServerConfig>,
    /// Who may connect.
    pub trusted: TrustedPeers,
    /// Services offered to MX-CLIENT peers.
    pub services: Arc<ServiceTable>,
    /// Queues served to MX-SUBSCRIBER peers (the Octopus Server role); `None` refuses subscribers.
    pub queues: Option<Arc<PollingQueues>>,
    /// Step timeouts.
    pub timeouts: Timeouts,
    /// Size limits.
    pub limits: Limits,
    /// Most trusted connections served at once; while all are in use, new connections are
    /// closed straight away. Unauthenticated ones are bounded by `limits.preauth` instead.
    pub max_connections: usize,
    /// The HTTP response for browsers.
    pub welcome: Arc<Vec<u8>>,
    /// Connections accepted so far (tests and status).
    pub accepted: Arc<std::sync::atomic::AtomicUsize>,
    /// Last request time per peer thumbprint.
    pub contacts: ContactLog,
}

impl Acceptor {
    /// Accepts until `shutdown` turns true, then stops accepting and lets live connections
    /// finish their current exchange.
    pub async fn run(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: watch::Receiver<bool>,
    ) -> std::io::Result<()> {
        self.accept_loop(listener, shutdown, Transport::Tcp).await
    }

    /// Accepts WebSocket polling connections (`wss://host/OctopusComms`, §7.1) until `shutdown`:
    /// TLS, the HTTP upgrade with the `Octopus` sub-protocol, the `MX` text message, then the
    /// same protocol as over TCP. Plain HTTPS requests get the welcome page.
    pub async fn run_websocket(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: watch::Receiver<bool>,
    ) -> std::io::Result<()> {
        self.accept_loop(listener, shutdown, Transport::WebSocket)
            .await
    }

    async fn accept_loop(
        self: Arc<Self>,
        listener: TcpListener,
        mut shutdown: watch::Receiver<bool>,
        transport: Transport,
    ) -> std::io::Result<()> {
        // Slots for trusted connections only; unauthenticated ones are bounded by admission.
        let slots = Arc::new(Semaphore::new(self.max_connections));
        let admission = Admission::new(self.limits.preauth.clone());
        // Checked every second; a summary is written at most once per SUMMARY_PERIOD.
        let mut summary = tokio::time::interval(SUMMARY_PERIOD / 10);
        summary.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut backoff = Duration::from_millis(10);
        loop {
            let accepted = tokio::select! {
                r = listener.accept() => r,
                _ = summary.tick() => {
                    admission.flush();
                    continue;
                }
                _ = shutdown.changed() => break,
            };
            let (tcp, peer) = match accepted {
                Ok(x) => {
                    backoff = Duration::from_millis(10);
                    x
                }
                Err(e) => {
                    // EMFILE and friends pass; back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            };
            self.accepted
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // An IPv4 peer on a dual-stack socket shows as ::ffff:a.b.c.d; count it as a.b.c.d.
            let address = peer.ip().to_canonical();
            if slots.available_permits() == 0 {
                // Every slot is held by a trusted connection: a newcomer could not be served.
                admission.refused(address);
                drop(tcp);
                continue;
            }
            let ticket = admission.admit(address);
            let this = self.clone();
            let stop = shutdown.clone();
            let slots = slots.clone();
            tokio::spawn(async move {
                let result = this.handle(tcp, peer, ticket, slots, transport, stop).await;
                if let Err(e) = result {
                    tracing::info!(%peer, error = %e, "connection ended");
                }
            });
        }
        admission.flush();
        Ok(())
    }

    /// One accepted connection: the pre-authentication phase under its budget, deadline and
    /// admission ticket, then (for a trusted thumbprint) the protocol with a trusted slot.
    /// Errors are returned only for trusted connections; the rest end in the summary.
    async fn handle(
        &self,
        tcp: tokio::net::TcpStream,
        peer: SocketAddr,
        ticket: Ticket,
        slots: Arc<Semaphore>,
        transport: Transport,
        shutdown: watch::Receiver<bool>,
    ) -> Result<(), HalibutError> {
        super::transport::tcp::configure_accepted(&tcp);
        let budget = Budget::new(self.limits.preauth.budget);
        let tcp = Metered::new(tcp, budget.clone());
        let phase = tokio::select! {
            r = tokio::time::timeout(self.limits.preauth.deadline, self.preauth(tcp, peer, transport)) => {
                r.unwrap_or(Phase::Done(Outcome::PastDeadline))
            }
            _ = ticket.shed() => Phase::Done(Outcome::Shed),
        };
        let (tls, presented) = match phase {
            Phase::Trusted(tls, presented) => (*tls, presented),
            Phase::Done(outcome) => {
                let outcome = if budget.exhausted() {
                    Outcome::OverBudget
                } else {
                    outcome
                };
                ticket.finish(outcome);
                return Ok(());
            }
        };
        let Ok(_slot) = slots.try_acquire_owned() else {
            ticket.finish(Outcome::Refused);
            return Ok(());
        };
        ticket.authenticated();
        budget.lift();
        match transport {
            Transport::Tcp => self.serve(tls, peer, Some(presented), shutdown).await,
            Transport::WebSocket => self.serve_websocket(tls, peer, presented, shutdown).await,
        }
    }

    /// TLS, then either a trusted thumbprint or, for anyone else, the welcome page or nothing.
    async fn preauth(
        &self,
        tcp: Metered<tokio::net::TcpStream>,
        peer: SocketAddr,
        transport: Transport,
    ) -> Phase {
        let tls =
            match super::tls::accept(tcp, self.tls.clone(), &peer.to_string(), self.timeouts.io)
                .await
            {
                Ok(tls) => tls,
                Err(_) => return Phase::Done(Outcome::TlsFailed),
            };
        let presented = super::tls::peer_thumbprint(tls.get_ref().1);
        if let Some(t) = presented.as_ref().filter(|t| self.trusted.contains(t)) {
            return Phase::Trusted(Box::new(tls), t.clone());
        }
        Phase::Done(match transport {
            Transport::Tcp => self.untrusted_tcp(tls, presented).await,
            Transport::WebSocket => untrusted_websocket(tls, presented).await,
        })
    }

    /// A peer without a trusted certificate on the TCP port: browsers get the welcome page,
    /// Halibut peers nothing at all (§1.4).
    async fn untrusted_tcp(&self, tls: PreauthTls, presented: Option<Thumbprint>) -> Outcome {
        let mut conn = Connection::new(tls, self.limits.clone());
        match conn.read_preamble(self.limits.preauth.deadline).await {
            Ok(Preamble::Halibut) => refused(presented),
            Ok(Preamble::Other(_)) => {
                let (mut s, _) = conn.into_parts();
                if s.write_all(&self.welcome).await.is_ok() {
                    let _ = s.flush().await;
                    let _ = s.shutdown().await;
                }
                Outcome::Welcome
            }
            Ok(Preamble::Empty) | Err(_) => Outcome::Closed,
        }
    }

    /// A trusted peer on the WebSocket port: the upgrade, then the protocol (or the welcome page).
    async fn serve_websocket(
        &self,
        tls: PreauthTls,
        peer: SocketAddr,
        presented: Thumbprint,
        shutdown: watch::Receiver<bool>,
    ) -> Result<(), HalibutError> {
        match super::transport::websocket::server_accept(tls).await? {
            super::transport::websocket::ServerAccept::NotWebSocket { stream, .. } => {
                let page =
                    super::welcome::serve_welcome(stream, super::welcome::AlreadyRead::Headers);
                tokio::time::timeout(self.timeouts.io, page)
                    .await
                    .map_err(|_| HalibutError::Timeout {
                        what: "the peer to read the welcome page",
                        after: self.timeouts.io,
                    })?
                    .map_err(HalibutError::io("sending the welcome page"))
            }
            super::transport::websocket::ServerAccept::WebSocket { stream, .. } => {
                let mut conn = Connection::new(stream, self.limits.clone());
                conn.set_write_timeout(self.timeouts.io);
                self.serve_identified(conn, peer, Some(presented), shutdown)
                    .await
            }
        }
    }

    /// Runs the protocol on an accepted, TLS-wrapped (or WebSocket) stream whose client
    /// certificate thumbprint is `presented`.
    pub async fn serve<S>(
        &self,
        stream: S,
        peer: SocketAddr,
        presented: Option<Thumbprint>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<(), HalibutError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let mut conn = Connection::new(stream, self.limits.clone());
        conn.set_write_timeout(self.timeouts.io);
        match conn.read_preamble(self.timeouts.io).await? {
            Preamble::Empty => return Ok(()),
            Preamble::Other(first) => {
                tracing::debug!(%peer, request = %first.lines().next().unwrap_or_default(), "serving the welcome page");
                let (mut s, _) = conn.into_parts();
                tokio::time::timeout(self.timeouts.io, s.write_all(&self.welcome))
                    .await
                    .map_err(|_| HalibutError::Timeout {
                        what: "the peer to read the welcome page",
                        after: self.timeouts.io,
                    })?
                    .map_err(HalibutError::io("sending the welcome page"))?;
                let _ = s.flush().await;
                let _ = s.shutdown().await;
                return Ok(());
            }
            Preamble::Halibut => {}
        }
        self.authorise(peer, presented.as_ref())?;
        self.serve_identified(conn, peer, presented, shutdown).await
    }

    /// After the preamble (or the WebSocket `MX` text message): trust is checked by the caller.
    pub(crate) async fn serve_identified<S>(
        &self,
        mut conn: Connection<S>,
        peer: SocketAddr,
        presented: Option<Thumbprint>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<(), HalibutError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let identity = conn.read_identity(self.timeouts.io).await?;
        let thumb = presented
            .as_ref()
            .map(|t| t.to_string())
            .unwrap_or_default();
        match identity {
            Identity::Client => {
                tracing::info!(%peer, thumbprint = %thumb, "Octopus Server connected (listening)");
                conn.send_identity(&Identity::Server).await?;
                self.serve_client(conn, presented.as_ref(), shutdown).await
            }
            Identity::Subscriber(subscription) => {
                let Some(queues) = &self.queues else {
                    conn.abort().await;
                    return Err(HalibutError::UnexpectedIdentity {
                        expected: "client (this endpoint does not accept polling subscribers)",
                        got: format!("subscriber {subscription}"),
                    });
                };
                tracing::info!(%peer, thumbprint = %thumb, %subscription, "polling Tentacle connected");
                conn.send_identity(&Identity::Server).await?;
                self.serve_subscriber(conn, queues, &subscription, shutdown)
                    .await
            }
            Identity::Server => Err(HalibutError::UnexpectedIdentity {
                expected: "client or subscriber",
                got: "server".into(),
            }),
        }
    }

    /// Rejects peers without a trusted certificate; nothing is sent to them (§1.4).
    pub(crate) fn authorise(
        &self,
        peer: SocketAddr,
        presented: Option<&Thumbprint>,
    ) -> Result<(), HalibutError> {
        match presented {
            Some(t) if self.trusted.contains(t) => Ok(()),
            Some(t) => {
                tracing::warn!(%peer, thumbprint = %t, "refused a client certificate that is not trusted");
                Err(HalibutError::Untrusted {
                    peer: peer.to_string(),
                    presented: format!("a client certificate with the thumbprint {t}"),
                })
            }
            None => {
                tracing::warn!(%peer, "refused a message exchange without a client certificate");
                Err(HalibutError::Untrusted {
                    peer: peer.to_string(),
                    presented: "no client certificate".into(),
                })
            }
        }
    }

    async fn serve_client<S>(
        &self,
        mut conn: Connection<S>,
        peer: Option<&Thumbprint>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<(), HalibutError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        loop {
            let Some((envelope, streams)) = conn
                .read_message(self.timeouts.listening_idle, self.timeouts.io)
                .await?
            else {
                return Ok(());
            };
            let request = match envelope {
                Envelope::Request(r) => r,
                // A null message on a listening connection means "close" (§3.2).
                Envelope::Null => return Ok(()),
                Envelope::Response(_) => {
                    conn.abort().await;
                    return Err(HalibutError::UnexpectedIdentity {
                        expected: "client sending requests",
                        got: "a peer sending responses".into(),
                    });
                }
            };
            if let Some(p) = peer {
                self.contacts.touch(p);
            }
            tracing::debug!(service = %request.service, method = %request.method, "request");
            let (response, out) = self.services.dispatch(request, streams).await;
            conn.send_message(&Envelope::Response(response), out)
                .await?;
            match conn
                .read_control("NEXT or END", self.timeouts.control)
                .await
            {
                Ok(Some(Control::Next)) if !*shutdown.borrow() => {
                    conn.send_control(Control::Proceed).await?
                }
                Ok(Some(Control::Next)) => {
                    conn.close().await;
                    return Ok(());
                }
                Ok(Some(Control::End)) | Ok(None) => return Ok(()),
                // An idle client that goes quiet after a response is normal.
                Err(HalibutError::Timeout { .. }) => return Ok(()),
                Ok(Some(Control::Proceed)) => {
                    return Err(HalibutError::Frame(
                        super::frame::FrameError::UnexpectedControl {
                            expected: "NEXT or END",
                            got: "PROCEED".into(),
                        },
                    ));
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn serve_subscriber<S>(
        &self,
        mut conn: Connection<S>,
        queues: &PollingQueues,
        subscription: &str,
        shutdown: watch::Receiver<bool>,
    ) -> Result<(), HalibutError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        loop {
            if *shutdown.borrow() {
                conn.close().await;
                return Ok(());
            }
            match queues
                .collect(subscription, self.timeouts.polling_queue_wait)
                .await
            {
                Some(pending) => {
                    let id = pending.request.id.clone();
                    let sent = conn
                        .send_message(&Envelope::Request(pending.request), pending.streams)
                        .await;
                    if let Err(e) = sent {
                        let _ = pending.reply.send(Err(HalibutError::Closed(
                            "sending the request to the polling Tentacle",
                        )));
                        return Err(e);
                    }
                    match conn
                        .read_message(self.timeouts.response, self.timeouts.io)
                        .await
                    {
                        Ok(Some((Envelope::Response(r), streams))) if r.id == id => {
                            let _ = pending.reply.send(Ok((r, streams)));
                        }
                        Ok(Some(_)) => {
                            let _ = pending
                                .reply
                                .send(Err(HalibutError::Closed("waiting for the response")));
                            return Err(HalibutError::UnexpectedIdentity {
                                expected: "response to the request just sent",
                                got: "another message".into(),
                            });
                        }
                        Ok(None) => {
                            let _ = pending
                                .reply
                                .send(Err(HalibutError::Closed("waiting for the response")));
                            return Err(HalibutError::Closed("waiting for the response"));
                        }
                        Err(e) => {
                            let _ = pending
                                .reply
                                .send(Err(HalibutError::Closed("waiting for the response")));
                            return Err(e);
                        }
                    }
                }
                None => conn.send_message(&Envelope::Null, Vec::new()).await?,
            }
            match conn
                .read_control("NEXT or END", self.timeouts.control)
                .await?
            {
                Some(Control::Next) => conn.send_control(Control::Proceed).await?,
                Some(Control::End) | None => return Ok(()),
                Some(Control::Proceed) => {
                    return Err(HalibutError::Frame(
                        super::frame::FrameError::UnexpectedControl {
                            expected: "NEXT or END",
                            got: "PROCEED".into(),
                        },
                    ));
                }
            }
        }
    }
}
