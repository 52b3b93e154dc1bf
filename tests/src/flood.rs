//! A hostile crowd for a listening agent: idle TCP connections and TLS clients without a certificate streaming CR or junk bytes, plus the measurements the flood test and benchmark share.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tentacle_core::halibut::tls;
use tokio::io::AsyncWriteExt;

/// A process's resident memory in KiB (0 when it cannot be read).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("VmRSS:")
                .map(|v| v.trim().trim_end_matches(" kB").trim().parse().unwrap_or(0))
        })
        .unwrap_or(0)
}

/// A flood needs a few thousand descriptors here and in the agent (which inherits the limit):
/// raises this process's soft limit to `want` (within the hard limit) with prlimit(1).
pub fn ensure_fd_limit(want: u64) {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let Some(line) = limits.lines().find(|l| l.starts_with("Max open files")) else {
        return;
    };
    let nums: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let soft = nums.first().copied().unwrap_or(0);
    // "unlimited" does not parse, so a missing hard limit means no ceiling.
    let hard = nums.get(1).copied();
    if soft >= want {
        return;
    }
    let target = hard.map_or(want, |h| h.min(want));
    let hard_text = hard.map_or("unlimited".to_owned(), |h| h.to_string());
    let ok = std::process::Command::new("prlimit")
        .arg("--pid")
        .arg(std::process::id().to_string())
        .arg(format!("--nofile={target}:{hard_text}"))
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "could not raise the open-file limit to {target} (soft limit {soft}); run `ulimit -n {want}` first"
    );
}

/// Connects, finishes TLS without a client certificate, then writes `byte` until the agent
/// hangs up; again and again until `stop`. Adds the bytes written to `sent`.
async fn streamer(port: u16, byte: u8, stop: Arc<AtomicBool>, sent: Arc<AtomicU64>) {
    let chunk = vec![byte; 16 * 1024];
    while !stop.load(Ordering::Relaxed) {
        let Ok(tcp) = connect_from_stranger(port).await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let Ok(mut tls) = tls::connect(
            tcp,
            tls::probe_config(),
            "127.0.0.1",
            Duration::from_secs(5),
        )
        .await
        else {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        while !stop.load(Ordering::Relaxed) {
            match tokio::time::timeout(Duration::from_secs(2), tls.write_all(&chunk)).await {
                Ok(Ok(())) => {
                    sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                }
                _ => break,
            }
        }
    }
}

/// The flooding host's address: another loopback address than the trusted server's 127.0.0.1,
/// as a stranger on the network would be another host than the Octopus Server.
pub const STRANGER: std::net::Ipv4Addr = std::net::Ipv4Addr::new(127, 0, 0, 2);

/// Connects to `127.0.0.1:port` from [`STRANGER`].
async fn connect_from_stranger(port: u16) -> std::io::Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind((STRANGER, 0).into())?;
    socket
        .connect((std::net::Ipv4Addr::LOCALHOST, port).into())
        .await
}

/// A running flood against `127.0.0.1:port`, from [`STRANGER`].
pub struct Flood {
    idle: Vec<tokio::net::TcpStream>,
    stop: Arc<AtomicBool>,
    streamers: Vec<tokio::task::JoinHandle<()>>,
    sent: Arc<AtomicU64>,
}

impl Flood {
    /// Opens `idle` TCP connections that never send a byte, then starts one client streaming
    /// CR and one streaming junk (0xA5) after TLS without a certificate.
    pub async fn start(port: u16, idle: usize) -> Flood {
        let mut held = Vec::with_capacity(idle);
        for _ in 0..idle {
            if let Ok(c) = connect_from_stranger(port).await {
                held.push(c);
            }
        }
        assert!(
            held.len() == idle,
            "only {} of {idle} idle connections could be opened",
            held.len()
        );
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let streamers = [b'\r', 0xA5]
            .into_iter()
            .map(|b| tokio::spawn(streamer(port, b, stop.clone(), sent.clone())))
            .collect();
        Flood {
            idle: held,
            stop,
            streamers,
            sent,
        }
    }

    /// Stops the streamers and closes the idle connections; returns the junk bytes written.
    pub async fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        for h in self.streamers {
            let _ = h.await;
        }
        drop(self.idle);
        self.sent.load(Ordering::Relaxed)
    }
}

/// Samples a process's RSS every 25 ms on a thread of its own; [`RssSampler::stop`] gives the peak.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
}

impl RssSampler {
    /// Starts sampling `pid`.
    pub fn start(pid: u32) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(rss_kib(pid)));
        let thread = {
            let (stop, peak) = (stop.clone(), peak.clone());
            std::thread::Builder::new()
                .name("rss-sampler".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                        std::thread::sleep(Duration::from_millis(25));
                    }
                })
                .expect("start the RSS sampler")
        };
        RssSampler { stop, peak, thread }
    }

    /// The highest RSS seen, in KiB.
    pub fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        self.peak.load(Ordering::Relaxed)
    }
}
