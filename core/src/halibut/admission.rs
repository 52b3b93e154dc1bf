//! Admission for connections that have not yet proved a trusted thumbprint: per-address and global limits that shed the oldest instead of refusing the newest, and one rate-limited summary line instead of a line per connection.
//!
//! A flood of idle or junk connections must never keep a trusted server out. New connections
//! are always admitted (a trusted server's is the newest); when a limit is reached the oldest
//! unauthenticated connection of the same address (or, for the global limit, of the address
//! holding the most) is told to go. Connections that prove a trusted thumbprint leave this
//! bookkeeping altogether.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::preauth::PreauthLimits;
use crate::trust::Thumbprint;

/// At most one summary line per this period (the first event after a quiet period logs at once).
pub const SUMMARY_PERIOD: Duration = Duration::from_secs(10);
/// Addresses remembered per summary period (a spoofing flood cannot grow the table beyond this).
const MAX_TRACKED_ADDRESSES: usize = 1024;

/// How an unauthenticated connection ended (or that it proved a trusted thumbprint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Closed to make room for a newer one.
    Shed,
    /// Closed at once: every slot for trusted connections is taken.
    Refused,
    /// Sent more than the byte budget.
    OverBudget,
    /// Did not authenticate within the deadline.
    PastDeadline,
    /// The TLS handshake failed or the peer went away during it.
    TlsFailed,
    /// Spoke Halibut without a client certificate.
    NoCertificate,
    /// Spoke Halibut with a certificate this Tentacle does not trust.
    Untrusted(Thumbprint),
    /// A browser (or anything not speaking Halibut) got the welcome page.
    Welcome,
    /// Completed TLS and closed, or sent something unreadable.
    Closed,
}

#[derive(Debug, Default)]
struct Counts {
    opened: u64,
    shed: u64,
    refused: u64,
    over_budget: u64,
    past_deadline: u64,
    tls_failed: u64,
    no_certificate: u64,
    untrusted: u64,
    last_untrusted: Option<(Thumbprint, IpAddr)>,
    welcome: u64,
    closed: u64,
    by_address: HashMap<IpAddr, u64>,
}

impl Counts {
    fn is_empty(&self) -> bool {
        self.opened == 0
            && self.shed == 0
            && self.refused == 0
            && self.over_budget == 0
            && self.past_deadline == 0
            && self.tls_failed == 0
            && self.no_certificate == 0
            && self.untrusted == 0
            && self.welcome == 0
            && self.closed == 0
    }

    fn troubling(&self) -> bool {
        self.shed + self.refused + self.over_budget + self.untrusted > 0
    }
}

#[derive(Debug)]
struct Entry {
    address: IpAddr,
    shed: Arc<Notify>,
}

#[derive(Debug, Default)]
struct Pending {
    next_id: u64,
    /// By admission order, so the first entry is the oldest.
    entries: BTreeMap<u64, Entry>,
    per_address: HashMap<IpAddr, usize>,
}

impl Pending {
    fn remove(&mut self, id: u64) -> Option<Entry> {
        let entry = self.entries.remove(&id)?;
        if let Some(n) = self.per_address.get_mut(&entry.address) {
            *n -= 1;
            if *n == 0 {
                self.per_address.remove(&entry.address);
            }
        }
        Some(entry)
    }

    fn oldest_of(&self, address: IpAddr) -> Option<u64> {
        self.entries
            .iter()
            .find(|(_, e)| e.address == address)
            .map(|(id, _)| *id)
    }

    fn busiest(&self) -> Option<IpAddr> {
        self.per_address
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(a, _)| *a)
    }
}

/// The admission state of one listening port.
#[derive(Debug)]
pub struct Admission {
    limits: PreauthLimits,
    pending: Mutex<Pending>,
    counts: Mutex<(Counts, Option<Instant>)>,
}

/// One admitted, not yet authenticated connection. Dropping it (or [`Ticket::authenticated`])
/// frees its place.
#[derive(Debug)]
pub struct Ticket {
    admission: Arc<Admission>,
    id: u64,
    address: IpAddr,
    shed: Arc<Notify>,
}

impl Ticket {
    /// Resolves when this connection is shed to make room.
    pub async fn shed(&self) {
        self.shed.notified().await
    }

    /// The peer proved a trusted thumbprint: it no longer counts towards the limits.
    pub fn authenticated(self) {
        // Drop does the work.
    }

    /// Records how this connection ended.
    pub fn finish(self, outcome: Outcome) {
        self.admission.record(self.address, outcome);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Ok(mut p) = self.admission.pending.lock() {
            p.remove(self.id);
        }
    }
}

impl Admission {
    /// Admission with these limits (zero limits are taken as one).
    pub fn new(limits: PreauthLimits) -> Arc<Admission> {
        Arc::new(Admission {
            limits,
            pending: Mutex::new(Pending::default()),
            counts: Mutex::new((Counts::default(), None)),
        })
    }

    /// The limits in force.
    pub fn limits(&self) -> &PreauthLimits {
        &self.limits
    }

    /// Admits a new connection from `address`, shedding the oldest if a limit is reached.
    pub fn admit(self: &Arc<Self>, address: IpAddr) -> Ticket {
        let shed = Arc::new(Notify::new());
        let mut victims = Vec::new();
        let id = match self.pending.lock() {
            Ok(mut p) => {
                let per_address = self.limits.per_address.max(1);
                while p.per_address.get(&address).copied().unwrap_or(0) >= per_address {
                    let Some(old) = p.oldest_of(address) else {
                        break;
                    };
                    victims.extend(p.remove(old));
                }
                let total = self.limits.total.max(1);
                while p.entries.len() >= total {
                    let Some(old) = p.busiest().and_then(|a| p.oldest_of(a)) else {
                        break;
                    };
                    victims.extend(p.remove(old));
                }
                let id = p.next_id;
                p.next_id += 1;
                p.entries.insert(
                    id,
                    Entry {
                        address,
                        shed: shed.clone(),
                    },
                );
                *p.per_address.entry(address).or_default() += 1;
                id
            }
            Err(_) => u64::MAX,
        };
        for v in &victims {
            // notify_one keeps a permit, so a task not yet waiting still sees it.
            v.shed.notify_one();
        }
        self.count(|c| {
            c.opened += 1;
            c.shed += victims.len() as u64;
            for v in &victims {
                bump(&mut c.by_address, v.address);
            }
        });
        Ticket {
            admission: self.clone(),
            id,
            address,
            shed,
        }
    }

    /// Unauthenticated connections held now.
    pub fn pending(&self) -> usize {
        self.pending.lock().map(|p| p.entries.len()).unwrap_or(0)
    }

    /// Records a connection refused before admission.
    pub fn refused(&self, address: IpAddr) {
        self.record(address, Outcome::Refused);
    }

    fn record(&self, address: IpAddr, outcome: Outcome) {
        self.count(|c| {
            match outcome {
                // Counted when it was shed, in admit.
                Outcome::Shed => return,
                Outcome::Refused => c.refused += 1,
                Outcome::OverBudget => c.over_budget += 1,
                Outcome::PastDeadline => c.past_deadline += 1,
                Outcome::TlsFailed => c.tls_failed += 1,
                Outcome::NoCertificate => c.no_certificate += 1,
                Outcome::Untrusted(t) => {
                    c.untrusted += 1;
                    c.last_untrusted = Some((t, address));
                }
                Outcome::Welcome => {
                    c.welcome += 1;
                    return;
                }
                Outcome::Closed => c.closed += 1,
            }
            bump(&mut c.by_address, address);
        });
    }

    fn count(&self, f: impl FnOnce(&mut Counts)) {
        let Ok(mut guard) = self.counts.lock() else {
            return;
        };
        f(&mut guard.0);
        let due = guard.1.is_none_or(|t| t.elapsed() >= SUMMARY_PERIOD);
        if due && guard.0.troubling() {
            emit(&self.limits, &mut guard);
        }
    }

    /// Logs what happened since the last summary, if anything did; called every
    /// [`SUMMARY_PERIOD`] by the accept loop and when it stops.
    pub fn flush(&self) {
        if let Ok(mut guard) = self.counts.lock() {
            let due = guard.1.is_none_or(|t| t.elapsed() >= SUMMARY_PERIOD);
            if due && !guard.0.is_empty() {
                emit(&self.limits, &mut guard);
            }
        }
    }
}

fn bump(map: &mut HashMap<IpAddr, u64>, address: IpAddr) {
    if map.len() < MAX_TRACKED_ADDRESSES || map.contains_key(&address) {
        *map.entry(address).or_default() += 1;
    }
}

fn emit(limits: &PreauthLimits, guard: &mut (Counts, Option<Instant>)) {
    let since = guard.1.map(|t| t.elapsed());
    let c = std::mem::take(&mut guard.0);
    guard.1 = Some(Instant::now());
    let text = summary(limits, &c, since);
    if c.troubling() {
        tracing::warn!("{text}");
    } else {
        tracing::info!("{text}");
    }
}

/// The summary line's text.
fn summary(limits: &PreauthLimits, c: &Counts, since: Option<Duration>) -> String {
    let mut s = match since {
        Some(d) => format!(
            "Unauthenticated connections in the last {} s: {} opened",
            d.as_secs().max(1),
            c.opened
        ),
        None => format!("Unauthenticated connections: {} opened", c.opened),
    };
    let mut part = |n: u64, what: String| {
        if n > 0 {
            let _ = write!(s, ", {n} {what}");
        }
    };
    part(
        c.shed,
        format!(
            "shed to make room (oldest first; limits {} per address, {} in all)",
            limits.per_address, limits.total
        ),
    );
    part(
        c.refused,
        "refused because every slot for trusted servers was in use".into(),
    );
    part(
        c.over_budget,
        format!(
            "cut off after {} bytes without authenticating",
            limits.budget
        ),
    );
    part(
        c.past_deadline,
        format!(
            "closed after {} s without authenticating",
            limits.deadline.as_secs_f32()
        ),
    );
    part(c.tls_failed, "failed or abandoned the TLS handshake".into());
    part(
        c.no_certificate,
        "spoke Halibut without a client certificate".into(),
    );
    part(
        c.untrusted,
        match &c.last_untrusted {
            Some((t, a)) => format!(
                "presented an untrusted certificate (last {t} from {a}; if that is your Octopus Server, trust it with tentacle configure --trust {t})"
            ),
            None => "presented an untrusted certificate".into(),
        },
    );
    part(c.welcome, "got the welcome page".into());
    part(c.closed, "closed or sent something else".into());
    let mut top: Vec<(&IpAddr, &u64)> = c.by_address.iter().collect();
    top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    if !top.is_empty() {
        let list: Vec<String> = top
            .iter()
            .take(3)
            .map(|(a, n)| format!("{a} ({n})"))
            .collect();
        let _ = write!(s, ". Most from {}", list.join(", "));
    }
    s.push_str(". Trusted servers are not held up by these.");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_address: usize, total: usize) -> PreauthLimits {
        PreauthLimits {
            per_address,
            total,
            ..PreauthLimits::default()
        }
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    async fn was_shed(t: &Ticket) -> bool {
        tokio::time::timeout(Duration::from_millis(20), t.shed())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn the_oldest_of_an_address_is_shed_never_the_newest() {
        let a = Admission::new(limits(3, 100));
        let first = a.admit(ip(1));
        let second = a.admit(ip(1));
        let third = a.admit(ip(1));
        let other = a.admit(ip(2));
        let fourth = a.admit(ip(1));
        assert!(was_shed(&first).await, "the oldest from 10.0.0.1 goes");
        for t in [&second, &third, &other, &fourth] {
            assert!(!was_shed(t).await);
        }
        assert_eq!(a.pending(), 4);
    }

    #[tokio::test]
    async fn the_global_limit_sheds_from_the_busiest_address() {
        let a = Admission::new(limits(100, 4));
        let server = a.admit(ip(9));
        let flood: Vec<Ticket> = (0..3).map(|_| a.admit(ip(1))).collect();
        let newest = a.admit(ip(1));
        assert!(was_shed(&flood[0]).await);
        assert!(
            !was_shed(&server).await,
            "the quiet address keeps its connection"
        );
        assert!(!was_shed(&newest).await);
        assert_eq!(a.pending(), 4);
    }

    #[tokio::test]
    async fn authenticated_connections_stop_counting() {
        let a = Admission::new(limits(2, 2));
        let trusted = a.admit(ip(1));
        trusted.authenticated();
        let x = a.admit(ip(1));
        let y = a.admit(ip(1));
        assert!(!was_shed(&x).await && !was_shed(&y).await);
        assert_eq!(a.pending(), 2);
        x.finish(Outcome::PastDeadline);
        assert_eq!(a.pending(), 1);
    }

    #[test]
    fn the_summary_names_counts_limits_and_the_top_address() {
        let mut c = Counts {
            opened: 600,
            shed: 536,
            over_budget: 2,
            ..Counts::default()
        };
        c.by_address.insert(ip(1), 538);
        let s = summary(&limits(64, 256), &c, Some(Duration::from_secs(10)));
        assert!(
            s.starts_with("Unauthenticated connections in the last 10 s: 600 opened, 536 shed"),
            "{s}"
        );
        assert!(s.contains("64 per address, 256 in all"), "{s}");
        assert!(s.contains("2 cut off after 65536 bytes"), "{s}");
        assert!(s.contains("Most from 10.0.0.1 (538)"), "{s}");
        assert!(!s.contains("welcome"), "{s}");
    }
}
