//! The polling subscriber: a Tentacle dialling its Octopus Server, identifying as `MX-SUBSCRIBER`, and running the requests it is sent, with reconnect backoff (§3.3, §3.8).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use super::HalibutError;
use super::connection::{Connection, Limits, Timeouts};
use super::dial::{Address, ProxySettings, open};
use super::frame::{Control, Identity};
use super::message::Envelope;
use super::rpc::ServiceTable;

/// Reconnect delays: exponential from `initial`, capped at `max`, with up to 50 % random jitter.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// First delay after a failure.
    pub initial: Duration,
    /// Longest delay.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        // Halibut waits about 5 s after a healthy connection drops and at most 2 minutes.
        Backoff {
            initial: Duration::from_secs(5),
            max: Duration::from_secs(120),
        }
    }
}

impl Backoff {
    /// The delay after `failures` consecutive failures (1 = first), jitter included; never above `max`.
    pub fn delay(&self, failures: u32, jitter: f64) -> Duration {
        let exp = 2f64.powi(failures.saturating_sub(1).min(20) as i32);
        let base = self.initial.as_secs_f64() * exp;
        let with_jitter = base * (1.0 + 0.5 * jitter.clamp(0.0, 1.0));
        Duration::from_secs_f64(with_jitter.min(self.max.as_secs_f64()))
    }
}

/// How one polling connection is doing, for status documents and the manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    /// Dialling.
    Connecting,
    /// Identified and waiting for or running requests.
    Connected {
        /// When the connection was established.
        since: SystemTime,
        /// When the last request or keep-alive arrived.
        last_contact: SystemTime,
    },
    /// Failed; the next attempt is after a delay.
    Disconnected {
        /// Why.
        error: String,
        /// When we try again.
        retry_at: SystemTime,
    },
}

/// One Octopus Server to poll.
#[derive(Clone)]
pub struct Subscriber {
    /// `https://host:port/` or `wss://…`.
    pub address: Address,
    /// `poll://…/`: which queue on the server is ours.
    pub subscription: String,
    /// Client TLS config pinned to the server's thumbprint, carrying our certificate.
    pub tls: Arc<rustls::ClientConfig>,
    /// Optional HTTP CONNECT proxy.
    pub proxy: Option<ProxySettings>,
    /// What we serve.
    pub services: Arc<ServiceTable>,
    /// Step timeouts.
    pub timeouts: Timeouts,
    /// Size limits.
    pub limits: Limits,
    /// Reconnect delays.
    pub backoff: Backoff,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
}

impl Subscriber {
    /// Opens `count` polling connections to the same server and subscription (Tentacle's
    /// polling connection count, 1 to 512); each reconnects on its own. Returns their states.
    pub fn spawn(
        self: Arc<Self>,
        count: usize,
        shutdown: &watch::Receiver<bool>,
    ) -> Vec<watch::Receiver<LinkState>> {
        (0..count.clamp(1, 512))
            .map(|_| {
                let (tx, rx) = watch::channel(LinkState::Connecting);
                tokio::spawn(self.clone().run(tx, shutdown.clone()));
                rx
            })
            .collect()
    }

    /// Polls until `shutdown` turns true, reconnecting after every failure. `state` is updated
    /// on each change.
    pub async fn run(
        self: Arc<Self>,
        state: watch::Sender<LinkState>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let jitter: f64 = rand::random();
        let mut failures = 0u32;
        loop {
            if *shutdown.borrow() {
                return;
            }
            let _ = state.send(LinkState::Connecting);
            // Not raced against `shutdown`: poll_once stops at the next safe point itself, so
            // a request already received is still run and answered (a V1 StartScript's
            // ticket exists only in that answer).
            let outcome = self
                .poll_once(&state, &mut failures, shutdown.clone())
                .await;
            // A dropped sender means nobody can ask us to stop any more: the agent is gone.
            if *shutdown.borrow() || shutdown.has_changed().is_err() {
                return;
            }
            let error = match outcome {
                Ok(()) => "the server closed the connection".to_owned(),
                Err(e) => e.to_string(),
            };
            failures = failures.saturating_add(1);
            let delay = self.backoff.delay(failures, jitter);
            tracing::warn!(server = %self.address.describe(), %error, retry_in_s = delay.as_secs_f32(), "polling connection lost");
            let _ = state.send(LinkState::Disconnected {
                error,
                retry_at: SystemTime::now() + delay,
            });
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    async fn poll_once(
        &self,
        state: &watch::Sender<LinkState>,
        failures: &mut u32,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), HalibutError> {
        let identity = Identity::Subscriber(self.subscription.clone());
        let dial = open(
            &self.address,
            self.tls.clone(),
            self.proxy.as_ref(),
            self.connect_timeout,
            &self.timeouts,
            &self.limits,
            &identity,
        );
        let mut conn = tokio::select! {
            c = dial => c?,
            _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
        };
        // A healthy connection resets the streak, so the next drop retries quickly.
        *failures = 0;
        tracing::info!(server = %self.address.describe(), subscription = %self.subscription, "polling connection established");
        let since = SystemTime::now();
        let _ = state.send(LinkState::Connected {
            since,
            last_contact: since,
        });
        let result = self.exchange(&mut conn, state, since, shutdown).await;
        match &result {
            Ok(()) => conn.close().await,
            Err(_) => conn.close().await,
        }
        result
    }

    async fn exchange<S>(
        &self,
        conn: &mut Connection<S>,
        state: &watch::Sender<LinkState>,
        since: SystemTime,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), HalibutError>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
    {
        loop {
            // Idle, a stop ends the connection now; once a message has begun, it is read,
            // run and answered first.
            let started = tokio::select! {
                biased;
                s = conn.wait_for_message(self.timeouts.polling_receive) => s?,
                _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
            };
            if !started {
                return Err(HalibutError::Closed("waiting for the next request"));
            }
            let Some((envelope, streams)) = conn
                .read_message(self.timeouts.polling_receive, self.timeouts.io)
                .await?
            else {
                return Err(HalibutError::Closed("waiting for the next request"));
            };
            let _ = state.send(LinkState::Connected {
                since,
                last_contact: SystemTime::now(),
            });
            match envelope {
                Envelope::Null => {}
                Envelope::Request(request) => {
                    tracing::debug!(service = %request.service, method = %request.method, "request from the server");
                    let (response, out) = self.services.dispatch(request, streams).await;
                    conn.send_message(&Envelope::Response(response), out)
                        .await?;
                }
                Envelope::Response(_) => {
                    return Err(HalibutError::UnexpectedIdentity {
                        expected: "server sending requests",
                        got: "a response".into(),
                    });
                }
            }
            if *shutdown.borrow() {
                return Ok(());
            }
            conn.send_control(Control::Next).await?;
            match conn.read_control("PROCEED", self.timeouts.control).await? {
                Some(Control::Proceed) => {}
                Some(Control::End) | None => return Ok(()),
                Some(Control::Next) => {
                    return Err(HalibutError::Frame(
                        super::frame::FrameError::UnexpectedControl {
                            expected: "PROCEED",
                            got: "NEXT".into(),
                        },
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "poll_tests.rs"]
mod graceful_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let b = Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(10),
        };
        assert_eq!(b.delay(1, 0.0), Duration::from_secs(1));
        assert_eq!(b.delay(2, 0.0), Duration::from_secs(2));
        assert_eq!(b.delay(3, 1.0), Duration::from_secs(6));
        assert_eq!(b.delay(30, 1.0), Duration::from_secs(10));
        for f in 1..40 {
            assert!(b.delay(f, 0.99) <= b.max);
        }
    }
}
