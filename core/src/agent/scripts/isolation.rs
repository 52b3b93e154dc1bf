//! Script isolation: one async reader/writer lock per mutex name; FullIsolation writes, NoIsolation reads, with Tentacle's busy, timeout and cancel messages (§6.6, O8, O9).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock, watch};

use super::contracts::Isolation;

/// The lock a null `IsolationMutexName` uses.
pub const DEFAULT_MUTEX_NAME: &str = "RunningScript";
/// How long the first, silent attempt waits before the busy message is logged.
pub const INITIAL_WAIT: Duration = Duration::from_millis(100);

/// `TimeSpan.Zero` means no timeout; .NET maps it to `int.MaxValue` milliseconds.
pub fn effective_timeout(requested: Duration) -> Duration {
    if requested.is_zero() {
        Duration::from_millis(i32::MAX as u64)
    } else {
        requested
    }
}

/// `now + wait`, saturating: a peer's TimeSpan of any size (up to `TimeSpan.MaxValue` and
/// beyond) means "a very long time", never an overflow panic. A century is past any wait.
pub fn deadline_after(now: tokio::time::Instant, wait: Duration) -> tokio::time::Instant {
    const FAR: Duration = Duration::from_secs(100 * 365 * 86_400);
    now.checked_add(wait.min(FAR))
        .or_else(|| now.checked_add(Duration::from_secs(86_400)))
        .unwrap_or(now)
}

#[derive(Default)]
struct Holders {
    writer: Option<String>,
    readers: BTreeMap<String, usize>,
}

impl Holders {
    fn waiting_on_many(&self) -> bool {
        self.writer.is_none() && self.readers.len() > 1
    }

    fn list(&self) -> String {
        if let Some(w) = &self.writer {
            return format!("[{w}](~/app#/tasks/{w}) (RW)");
        }
        let ids: Vec<String> = self
            .readers
            .keys()
            .map(|x| format!("[{x}](~/app#/tasks/{x}) (R)"))
            .collect();
        match ids.as_slice() {
            [] => "(error - task not found)".to_owned(),
            [one] => one.clone(),
            [init @ .., last] => format!("{} and {last}", init.join(", ")),
        }
    }

    fn busy(&self) -> String {
        if self.waiting_on_many() {
            format!(
                "Cannot start this task yet because tasks {} are currently running and this task cannot be run in conjunction with any other tasks. Please wait...",
                self.list()
            )
        } else {
            format!(
                "Cannot start this task yet because task {} is currently running and this task cannot be run in conjunction with any other tasks. Please wait...",
                self.list()
            )
        }
    }

    fn canceled(&self) -> String {
        if self.waiting_on_many() {
            format!(
                "This task was canceled before it could start. Tasks {} are still running.",
                self.list()
            )
        } else {
            format!(
                "This task was canceled before it could start. Task {} is still running.",
                self.list()
            )
        }
    }

    fn timed_out(&self, timeout: Duration) -> String {
        let minutes = with_thousands((timeout.as_secs_f64() / 60.0).round() as u64);
        if self.waiting_on_many() {
            format!(
                "This task waited more than {minutes} minutes and timed out. Tasks {} are still running.",
                self.list()
            )
        } else {
            format!(
                "This task waited more than {minutes} minutes and timed out. Task {} is still running.",
                self.list()
            )
        }
    }
}

/// .NET `N0`: digits grouped by commas.
fn with_thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

struct NamedLock {
    rw: Arc<RwLock<()>>,
    holders: Mutex<Holders>,
}

impl NamedLock {
    fn holders(&self) -> std::sync::MutexGuard<'_, Holders> {
        self.holders.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The isolation locks of one agent, by name.
#[derive(Default)]
pub struct IsolationLocks {
    locks: Mutex<HashMap<String, Arc<NamedLock>>>,
}

enum Guard {
    Read(#[allow(dead_code)] OwnedRwLockReadGuard<()>),
    Write(#[allow(dead_code)] OwnedRwLockWriteGuard<()>),
}

/// A held isolation lock; released (and its holder forgotten) on drop.
pub struct IsolationGuard {
    lock: Arc<NamedLock>,
    task_id: String,
    guard: Option<Guard>,
}

impl Drop for IsolationGuard {
    fn drop(&mut self) {
        let mut h = self.lock.holders();
        match self.guard {
            Some(Guard::Write(_)) if h.writer.as_deref() == Some(self.task_id.as_str()) => {
                h.writer = None;
            }
            Some(Guard::Read(_)) => {
                if let Some(n) = h.readers.get_mut(&self.task_id) {
                    *n -= 1;
                    if *n == 0 {
                        h.readers.remove(&self.task_id);
                    }
                }
            }
            Some(Guard::Write(_)) | None => {}
        }
        drop(h);
        self.guard = None;
    }
}

/// Why the lock was not taken; the text is already in the script's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcquireError {
    /// The timeout passed.
    TimedOut,
    /// The script was cancelled while waiting.
    Canceled,
}

impl IsolationLocks {
    /// No locks yet.
    pub fn new() -> IsolationLocks {
        IsolationLocks::default()
    }

    fn named(&self, name: &str) -> Arc<NamedLock> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        locks
            .entry(name.to_owned())
            .or_insert_with(|| {
                Arc::new(NamedLock {
                    rw: Arc::new(RwLock::new(())),
                    holders: Mutex::new(Holders::default()),
                })
            })
            .clone()
    }

    /// Takes lock `name` for `task_id`: exclusively for FullIsolation, shared otherwise.
    /// Waits up to `timeout` (zero: no timeout), logging through `log` as Tentacle does,
    /// and gives up when `cancel` turns true.
    pub async fn acquire(
        &self,
        name: &str,
        level: Isolation,
        timeout: Duration,
        task_id: &str,
        log: &(dyn Fn(String) + Send + Sync),
        cancel: &mut watch::Receiver<bool>,
    ) -> Result<IsolationGuard, AcquireError> {
        let lock = self.named(name);
        let timeout = effective_timeout(timeout);
        let attempt = |rw: Arc<RwLock<()>>| async move {
            match level {
                Isolation::FullIsolation => Guard::Write(rw.write_owned().await),
                Isolation::NoIsolation => Guard::Read(rw.read_owned().await),
            }
        };
        let fut = attempt(lock.rw.clone());
        tokio::pin!(fut);
        let mut logged_busy = false;
        let now = tokio::time::Instant::now();
        let deadline = deadline_after(now, INITIAL_WAIT.saturating_add(timeout));
        let first = deadline_after(now, INITIAL_WAIT);
        let guard = loop {
            if *cancel.borrow() {
                log(lock.holders().canceled());
                return Err(AcquireError::Canceled);
            }
            let wake = if logged_busy { deadline } else { first };
            tokio::select! {
                g = &mut fut => break g,
                _ = tokio::time::sleep_until(wake) => {
                    if logged_busy {
                        log(lock.holders().timed_out(timeout));
                        return Err(AcquireError::TimedOut);
                    }
                    logged_busy = true;
                    log(lock.holders().busy());
                }
                changed = cancel.changed() => {
                    if changed.is_err() {
                        // The sender is gone: nobody can cancel any more; wait on.
                        let g = tokio::select! {
                            g = &mut fut => g,
                            _ = tokio::time::sleep_until(deadline) => {
                                log(lock.holders().timed_out(timeout));
                                return Err(AcquireError::TimedOut);
                            }
                        };
                        break g;
                    }
                }
            }
        };
        {
            let mut h = lock.holders();
            match guard {
                Guard::Write(_) => h.writer = Some(task_id.to_owned()),
                Guard::Read(_) => *h.readers.entry(task_id.to_owned()).or_default() += 1,
            }
        }
        Ok(IsolationGuard {
            lock,
            task_id: task_id.to_owned(),
            guard: Some(guard),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_match_tentacle() {
        let mut h = Holders {
            writer: Some("ServerTask-1".into()),
            ..Holders::default()
        };
        assert_eq!(
            h.busy(),
            "Cannot start this task yet because task [ServerTask-1](~/app#/tasks/ServerTask-1) (RW) is currently running and this task cannot be run in conjunction with any other tasks. Please wait..."
        );
        assert_eq!(
            h.timed_out(Duration::from_secs(15 * 60)),
            "This task waited more than 15 minutes and timed out. Task [ServerTask-1](~/app#/tasks/ServerTask-1) (RW) is still running."
        );
        h.writer = None;
        h.readers.insert("A".into(), 1);
        h.readers.insert("B".into(), 1);
        h.readers.insert("C".into(), 1);
        assert_eq!(
            h.canceled(),
            "This task was canceled before it could start. Tasks [A](~/app#/tasks/A) (R), [B](~/app#/tasks/B) (R) and [C](~/app#/tasks/C) (R) are still running."
        );
        assert_eq!(with_thousands(35_791), "35,791");
        assert_eq!(with_thousands(999), "999");
    }
}
