//! Network devices that break Halibut the way real ones do, on loopback: one that answers every connection with an HTTP block page, a proxy that accepts CONNECT and then sends its own page, and a TLS terminator that answers Halibut with a page.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tentacle_core::certificate::TentacleCertificate;
use tentacle_core::halibut::tls;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The page the devices send.
pub const BLOCK_PAGE: &str = "<html><head><title>Access denied</title></head><body><h1>Access denied by policy</h1><p>This site is blocked.</p></body></html>";

/// How the device misbehaves.
#[derive(Clone)]
pub enum Behaviour {
    /// Answers any connection at once with `HTTP/1.0 200 OK` and the page (a filtering firewall).
    PageAtOnce,
    /// Reads a CONNECT request, answers 200, then sends the page instead of tunnelling.
    ConnectThenPage,
    /// Completes TLS with this certificate, then answers with the page (SSL offloading in front of a web server).
    TlsThenPage(TentacleCertificate),
    /// An HTTPS web server with this certificate whose answers carry this `Date` header.
    HttpsWithDate(TentacleCertificate, String),
}

/// A running device; stops on drop.
pub struct Middlebox {
    /// Its loopback port.
    pub port: u16,
    /// Connections it has handled.
    pub connections: Arc<AtomicUsize>,
    stop: watch::Sender<bool>,
}

impl Drop for Middlebox {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

fn page() -> Vec<u8> {
    page_with("")
}

/// The page with `extra` header lines (each ending in CRLF).
fn page_with(extra: &str) -> Vec<u8> {
    format!(
        "HTTP/1.0 200 OK\r\n{extra}Content-Type: text/html\r\nContent-Length: {}\r\n\r\n{BLOCK_PAGE}",
        BLOCK_PAGE.len()
    )
    .into_bytes()
}

/// Reads until a blank line (CRs ignored), EOF, 16 KiB or 2 s.
async fn read_head<S: AsyncRead + Unpin>(s: &mut S) {
    let work = async {
        let mut last = Vec::new();
        let mut byte = [0u8; 1];
        for _ in 0..16 * 1024 {
            match s.read(&mut byte).await {
                Ok(1) => {}
                _ => return,
            }
            if byte[0] == b'\r' {
                continue;
            }
            last.push(byte[0]);
            if last.ends_with(b"\n\n") {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), work).await;
}

/// Sends the page, then reads whatever the client still sends (so closing does not reset
/// the connection before the client has read the page) for up to 2 s.
async fn answer_and_close<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) {
    send_and_close(s, &page()).await;
}

/// Sends `answer`, then drains as [`answer_and_close`] does.
async fn send_and_close<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, answer: &[u8]) {
    let _ = s.write_all(answer).await;
    let _ = s.flush().await;
    let _ = s.shutdown().await;
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Ok(n) = s.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

impl Middlebox {
    /// Starts the device on a free loopback port (inside the current tokio runtime).
    pub async fn start(behaviour: Behaviour) -> Middlebox {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let connections = Arc::new(AtomicUsize::new(0));
        let (stop, mut stopped) = watch::channel(false);
        let config = match &behaviour {
            Behaviour::TlsThenPage(cert) | Behaviour::HttpsWithDate(cert, _) => {
                Some(tls::server_config(cert).expect("TLS config"))
            }
            _ => None,
        };
        let count = connections.clone();
        tokio::spawn(async move {
            loop {
                let (mut stream, peer) = tokio::select! {
                    r = listener.accept() => match r { Ok(p) => p, Err(_) => continue },
                    _ = stopped.changed() => return,
                };
                count.fetch_add(1, Ordering::SeqCst);
                let behaviour = behaviour.clone();
                let config = config.clone();
                tokio::spawn(async move {
                    match behaviour {
                        Behaviour::PageAtOnce => answer_and_close(&mut stream).await,
                        Behaviour::ConnectThenPage => {
                            read_head(&mut stream).await;
                            let _ = stream
                                .write_all(b"HTTP/1.0 200 Connection established\r\n\r\n")
                                .await;
                            answer_and_close(&mut stream).await;
                        }
                        Behaviour::HttpsWithDate(_, date) => {
                            let Some(config) = config else { return };
                            let peer = peer.to_string();
                            let timeout = Duration::from_secs(5);
                            if let Ok(mut tls) = tls::accept(stream, config, &peer, timeout).await {
                                read_head(&mut tls).await;
                                let answer = page_with(&format!("Date: {date}\r\n"));
                                send_and_close(&mut tls, &answer).await;
                            }
                        }
                        Behaviour::TlsThenPage(_) => {
                            let Some(config) = config else { return };
                            if let Ok(mut tls) = tls::accept(
                                stream,
                                config,
                                &peer.to_string(),
                                Duration::from_secs(5),
                            )
                            .await
                            {
                                // The preamble (`MX`, blank line) ends the "request".
                                read_head(&mut tls).await;
                                answer_and_close(&mut tls).await;
                            }
                        }
                    }
                });
            }
        });
        Middlebox {
            port,
            connections,
            stop,
        }
    }
}
