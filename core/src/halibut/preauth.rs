//! The pre-authentication phase's limits: a byte budget metered on the raw socket (TLS handshake, preamble, identity, a browser's request) and a short deadline of its own.
//!
//! Until a peer has proved a trusted thumbprint, everything it sends is hostile; the budget
//! caps what it can make us read and the deadline how long it can hold a task.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Limits on connections that have not (yet) proved a trusted thumbprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreauthLimits {
    /// Raw bytes a peer may send before it is trusted (TLS records included).
    pub budget: usize,
    /// How long a peer has to prove a trusted thumbprint (or get its welcome page).
    pub deadline: Duration,
    /// Unauthenticated connections held at once from one address; the oldest is shed beyond.
    pub per_address: usize,
    /// Unauthenticated connections held at once in all; the oldest of the busiest address is shed beyond.
    pub total: usize,
}

/// 64 KiB: a TLS handshake with a certificate chain (a few KiB), the preamble and identity
/// (under 100 bytes) and a browser's request with cookies fit many times over.
pub const DEFAULT_BUDGET: usize = 64 * 1024;
/// Seconds a peer has to authenticate; a trusted server needs milliseconds.
pub const DEFAULT_DEADLINE_SECS: u64 = 10;
/// Unauthenticated connections per source address.
pub const DEFAULT_PER_ADDRESS: usize = 64;
/// Unauthenticated connections in all.
pub const DEFAULT_TOTAL: usize = 256;

impl Default for PreauthLimits {
    fn default() -> Self {
        PreauthLimits {
            budget: DEFAULT_BUDGET,
            deadline: Duration::from_secs(DEFAULT_DEADLINE_SECS),
            per_address: DEFAULT_PER_ADDRESS,
            total: DEFAULT_TOTAL,
        }
    }
}

impl PreauthLimits {
    /// The limits an instance's `[communication.preauth]` asks for (defaults where unset;
    /// zeros are raised to the smallest workable value).
    pub fn from_settings(s: &crate::instance::PreauthSettings) -> PreauthLimits {
        let d = PreauthLimits::default();
        let or = |v: Option<u32>, default: usize, least: usize| {
            v.map_or(default, |v| (v as usize).max(least))
        };
        PreauthLimits {
            // Under ~4 KiB even a trusted server's handshake would not fit.
            budget: or(s.budget_bytes, d.budget, 4096),
            deadline: s
                .deadline_seconds
                .map_or(d.deadline, |v| Duration::from_secs(u64::from(v.max(1)))),
            per_address: or(s.max_per_address, d.per_address, 1),
            total: or(s.max_total, d.total, 1),
        }
    }
}

/// What is left of one connection's budget; shared by its socket and its acceptor task.
#[derive(Debug)]
pub struct Budget {
    left: AtomicUsize,
    lifted: AtomicBool,
    exhausted: AtomicBool,
}

impl Budget {
    /// A fresh budget of `bytes`.
    pub fn new(bytes: usize) -> Arc<Budget> {
        Arc::new(Budget {
            left: AtomicUsize::new(bytes),
            lifted: AtomicBool::new(false),
            exhausted: AtomicBool::new(false),
        })
    }

    /// The peer is trusted: no more metering.
    pub fn lift(&self) {
        self.lifted.store(true, Ordering::Release);
    }

    /// True once a read was refused because the budget was spent.
    pub fn exhausted(&self) -> bool {
        self.exhausted.load(Ordering::Acquire)
    }

    /// Bytes still allowed.
    pub fn left(&self) -> usize {
        self.left.load(Ordering::Acquire)
    }
}

/// The error a read returns once the budget is spent.
pub fn budget_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "the peer sent more than the pre-authentication byte budget without proving a trusted certificate",
    )
}

/// A socket whose reads count against a [`Budget`] until it is lifted. Writes pass through.
#[derive(Debug)]
pub struct Metered<S> {
    inner: S,
    budget: Arc<Budget>,
}

impl<S> Metered<S> {
    /// Meters `inner` against `budget`.
    pub fn new(inner: S, budget: Arc<Budget>) -> Metered<S> {
        Metered { inner, budget }
    }

    /// The socket underneath.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

/// Largest read while metered: small, since only handshakes and short lines are expected.
const METERED_READ: usize = 4096;

impl<S: AsyncRead + Unpin> AsyncRead for Metered<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.budget.lifted.load(Ordering::Acquire) {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let left = this.budget.left();
        if left == 0 {
            this.budget.exhausted.store(true, Ordering::Release);
            return Poll::Ready(Err(budget_error()));
        }
        // Never read past the budget: the bytes go through a small buffer (no unsafe needed to
        // hand a shortened ReadBuf's bytes back), which only costs while unauthenticated.
        let mut tmp = [0u8; METERED_READ];
        let want = left.min(buf.remaining()).min(METERED_READ);
        let mut limited = ReadBuf::new(&mut tmp[..want]);
        match Pin::new(&mut this.inner).poll_read(cx, &mut limited) {
            Poll::Ready(Ok(())) => {
                let n = limited.filled().len();
                this.budget.left.fetch_sub(n, Ordering::AcqRel);
                buf.put_slice(limited.filled());
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Metered<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn reads_stop_at_the_budget_until_lifted() {
        let (a, mut b) = tokio::io::duplex(1 << 20);
        let budget = Budget::new(10_000);
        let mut metered = Metered::new(a, budget.clone());
        b.write_all(&vec![b'\r'; 50_000]).await.unwrap();
        let mut got = Vec::new();
        let err = metered.read_to_end(&mut got).await.unwrap_err();
        assert_eq!(got.len(), 10_000, "exactly the budget is read");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(budget.exhausted());
        budget.lift();
        let mut more = vec![0u8; 40_000];
        metered.read_exact(&mut more).await.unwrap();
    }
}
