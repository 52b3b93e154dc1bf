//! The server role's request queues for polling Tentacles: FIFO per subscription, collected by any of that subscriber's connections (§3.3).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, oneshot};

use super::HalibutError;
use super::connection::{OutgoingStream, ReceivedStream};
use super::message::{RequestMessage, ResponseMessage};

/// What a caller gets back: the response and its DataStreams.
pub type Answer = Result<(ResponseMessage, Vec<ReceivedStream>), HalibutError>;

/// A request waiting to be collected.
pub struct Pending {
    /// The call.
    pub request: RequestMessage,
    /// DataStreams to send with it.
    pub streams: Vec<OutgoingStream>,
    /// Where the answer goes.
    pub reply: oneshot::Sender<Answer>,
}

#[derive(Default)]
struct Queue {
    items: VecDeque<(u64, Pending)>,
    notify: Arc<Notify>,
}

/// All subscriptions' queues.
#[derive(Default)]
pub struct PollingQueues {
    queues: Mutex<HashMap<String, Queue>>,
    next: std::sync::atomic::AtomicU64,
}

impl PollingQueues {
    /// No queues yet.
    pub fn new() -> Arc<PollingQueues> {
        Arc::new(PollingQueues::default())
    }

    fn with<R>(&self, subscription: &str, f: impl FnOnce(&mut Queue) -> R) -> R {
        // A poisoned lock only means another task panicked mid-push; the queue itself is intact.
        let mut map = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        f(map.entry(subscription.to_owned()).or_default())
    }

    /// Queues a request for `subscription` and waits for its answer. Fails with
    /// [`HalibutError::NotCollected`] if no connection collects it within `collect_within`;
    /// once collected, waits as long as the call takes.
    pub async fn call(
        &self,
        subscription: &str,
        request: RequestMessage,
        streams: Vec<OutgoingStream>,
        collect_within: Duration,
    ) -> Answer {
        let (tx, mut rx) = oneshot::channel();
        let ticket = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let notify = self.with(subscription, |q| {
            q.items.push_back((
                ticket,
                Pending {
                    request,
                    streams,
                    reply: tx,
                },
            ));
            q.notify.clone()
        });
        notify.notify_one();
        match tokio::time::timeout(collect_within, &mut rx).await {
            Ok(answer) => answer.unwrap_or(Err(HalibutError::ShuttingDown)),
            Err(_) => {
                let removed = self.with(subscription, |q| {
                    let before = q.items.len();
                    q.items.retain(|(t, _)| *t != ticket);
                    before != q.items.len()
                });
                if removed {
                    Err(HalibutError::NotCollected(collect_within))
                } else {
                    // Collected just as the timer fired: the call is running, so wait for it.
                    rx.await.unwrap_or(Err(HalibutError::ShuttingDown))
                }
            }
        }
    }

    /// Takes the oldest request for `subscription`, waiting up to `wait`; `None` means send
    /// the null keep-alive.
    pub async fn collect(&self, subscription: &str, wait: Duration) -> Option<Pending> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let (item, notify) =
                self.with(subscription, |q| (q.items.pop_front(), q.notify.clone()));
            if let Some((_, p)) = item {
                if p.reply.is_closed() {
                    // The caller gave up; never run a request nobody waits for.
                    continue;
                }
                return Some(p);
            }
            let notified = notify.notified();
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }

    /// How many requests wait for `subscription`.
    pub fn len(&self, subscription: &str) -> usize {
        self.with(subscription, |q| q.items.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn uncollected_requests_time_out_and_are_removed() {
        let q = PollingQueues::new();
        let r = q
            .call(
                "poll://a/",
                RequestMessage::new("S", "M", vec![], 1),
                vec![],
                Duration::from_secs(120),
            )
            .await;
        assert!(matches!(r, Err(HalibutError::NotCollected(_))));
        assert_eq!(q.len("poll://a/"), 0);
        assert!(
            q.collect("poll://a/", Duration::from_secs(30))
                .await
                .is_none()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn fifo_per_subscription() {
        let q = PollingQueues::new();
        let q2 = q.clone();
        let caller = tokio::spawn(async move {
            let a = q2.call(
                "poll://a/",
                RequestMessage::new("S", "First", vec![], 1),
                vec![],
                Duration::from_secs(5),
            );
            let q3 = q2.clone();
            let b = async move {
                tokio::time::sleep(Duration::from_millis(1)).await;
                q3.call(
                    "poll://a/",
                    RequestMessage::new("S", "Second", vec![], 2),
                    vec![],
                    Duration::from_secs(5),
                )
                .await
            };
            tokio::join!(a, b)
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        let first = q
            .collect("poll://a/", Duration::from_secs(1))
            .await
            .unwrap();
        let second = q
            .collect("poll://a/", Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(first.request.method, "First");
        assert_eq!(second.request.method, "Second");
        assert!(
            q.collect("poll://b/", Duration::from_millis(5))
                .await
                .is_none()
        );
        let _ = first
            .reply
            .send(Ok((ResponseMessage::ok("1", None), vec![])));
        let _ = second
            .reply
            .send(Ok((ResponseMessage::ok("2", None), vec![])));
        let (a, b) = caller.await.unwrap();
        assert_eq!(a.unwrap().0.id, "1");
        assert_eq!(b.unwrap().0.id, "2");
    }
}
