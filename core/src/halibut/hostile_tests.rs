//! Hostile peers against a real acceptor and connection on loopback: idle crowds, CR streams, byte floods, silent TLS clients and peers that stop reading.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::timeout;

use super::HalibutError;
use super::client::{Endpoint, HalibutClient};
use super::connection::{Connection, Limits, OutgoingStream, Timeouts};
use super::frame::Preamble;
use super::listen::{Acceptor, TrustedPeers};
use super::message::{Envelope, RequestMessage};
use super::preauth::PreauthLimits;
use super::rpc::ServiceTable;
use super::{tls, welcome};
use crate::certificate::{TentacleCertificate, generate};

/// (the Tentacle's, the trusted server's)
static CERTS: LazyLock<(TentacleCertificate, TentacleCertificate)> =
    LazyLock::new(|| (generate().unwrap(), generate().unwrap()));

struct Running {
    port: u16,
    _stop: watch::Sender<bool>,
}

async fn acceptor(preauth: PreauthLimits) -> Running {
    let (tentacle, octopus) = &*CERTS;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = Arc::new(Acceptor {
        tls: tls::server_config(tentacle).unwrap(),
        trusted: TrustedPeers::new([octopus.thumbprint()]),
        services: Arc::new(ServiceTable::new()),
        queues: None,
        timeouts: Timeouts::default(),
        limits: Limits {
            preauth,
            ..Limits::default()
        },
        max_connections: 8,
        welcome: Arc::new(welcome::response()),
        accepted: Default::default(),
        contacts: Default::default(),
    });
    let (stop, rx) = watch::channel(false);
    tokio::spawn(acceptor.run(listener, rx));
    Running { port, _stop: stop }
}

fn small_limits() -> PreauthLimits {
    PreauthLimits {
        budget: 16 * 1024,
        deadline: Duration::from_secs(1),
        per_address: 4,
        total: 8,
    }
}

async fn untrusted_tls(port: u16) -> tokio_rustls::client::TlsStream<TcpStream> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    tls::connect(
        tcp,
        tls::probe_config(),
        "127.0.0.1",
        Duration::from_secs(5),
    )
    .await
    .unwrap()
}

/// What the acceptor sends before closing (errors such as a reset end the read).
async fn read_until_closed<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> Vec<u8> {
    let mut got = Vec::new();
    let _ = timeout(Duration::from_secs(5), s.read_to_end(&mut got))
        .await
        .expect("the acceptor should have closed the connection");
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_server_gets_through_a_crowd_and_the_oldest_stranger_is_shed() {
    let running = acceptor(PreauthLimits {
        deadline: Duration::from_secs(30),
        ..small_limits()
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(
            TcpStream::connect(("127.0.0.1", running.port))
                .await
                .unwrap(),
        );
    }
    let mut byte = [0u8; 1];
    let oldest = timeout(Duration::from_secs(2), idle[0].read(&mut byte)).await;
    assert!(
        matches!(oldest, Ok(Ok(0) | Err(_))),
        "the oldest idle connection should be shed: {oldest:?}"
    );
    let (tentacle, octopus) = &*CERTS;
    let client = HalibutClient::new(octopus.clone());
    let ep = Endpoint {
        base_uri: format!("https://127.0.0.1:{}/", running.port),
        thumbprint: tentacle.thumbprint(),
    };
    let r = timeout(
        Duration::from_secs(5),
        client.call(&ep, "IEchoService", "SayHello", vec![], vec![]),
    )
    .await
    .expect("the trusted call hung");
    // An empty service table answers with a service error: the request got all the way in.
    assert!(matches!(r, Err(HalibutError::Remote(_))), "{r:?}");
    let newest = timeout(Duration::from_millis(300), idle[19].read(&mut byte)).await;
    assert!(
        newest.is_err(),
        "the newest stranger is not shed: {newest:?}"
    );
}

#[tokio::test]
async fn a_silent_tls_client_is_closed_at_the_preauth_deadline() {
    let running = acceptor(small_limits()).await;
    let mut tls = untrusted_tls(running.port).await;
    let t = std::time::Instant::now();
    let got = read_until_closed(&mut tls).await;
    assert!(got.is_empty());
    // The I/O timeout is 60 s; the pre-authentication deadline is 1 s.
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
}

#[tokio::test]
async fn bytes_past_the_budget_end_the_connection_without_an_answer() {
    let running = acceptor(small_limits()).await;
    let mut tls = untrusted_tls(running.port).await;
    // More than the 16 KiB budget, and more than the 20,000-character preamble cap after which
    // the welcome page would be served.
    let _ = tls.write_all(&[b'A'; 24 * 1024]).await;
    let _ = tls.flush().await;
    let got = read_until_closed(&mut tls).await;
    assert!(
        !String::from_utf8_lossy(&got).contains("HTTP/"),
        "no welcome page past the budget"
    );
    // A browser within the budget still gets its page.
    let mut browser = untrusted_tls(running.port).await;
    browser
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let page = read_until_closed(&mut browser).await;
    assert!(String::from_utf8_lossy(&page).starts_with("HTTP/1.0 200 OK"));
}

#[tokio::test]
async fn a_stream_of_carriage_returns_ends_the_preamble() {
    let (a, mut b) = tokio::io::duplex(64 * 1024);
    let feeder = tokio::spawn(async move {
        let crs = vec![b'\r'; 16 * 1024];
        // Until the reader is gone; today's reader never finished and kept every byte.
        while b.write_all(&crs).await.is_ok() {}
    });
    let mut conn = Connection::new(a, Limits::default());
    let p = timeout(
        Duration::from_secs(5),
        conn.read_preamble(Duration::from_secs(3)),
    )
    .await
    .expect("the preamble reader hung");
    assert_eq!(p.unwrap(), Preamble::Empty);
    drop(conn);
    feeder.await.unwrap();
}

#[tokio::test]
async fn a_peer_that_stops_reading_is_dropped_after_the_write_timeout() {
    // A 1 KiB pipe whose far end never reads: a zero TCP window.
    let (a, _never_read) = tokio::io::duplex(1024);
    let mut conn = Connection::new(a, Limits::default());
    conn.set_write_timeout(Duration::from_millis(200));
    let (out, placeholder) = OutgoingStream::bytes(vec![7u8; 1 << 20]);
    let req = RequestMessage::new(
        "IFileTransferService",
        "UploadFile",
        vec![placeholder.to_bson_typed()],
        1,
    );
    let r = timeout(
        Duration::from_secs(5),
        conn.send_message(&Envelope::Request(req), vec![out]),
    )
    .await
    .expect("a write to a peer that never reads must time out");
    assert!(matches!(r, Err(HalibutError::Timeout { .. })), "{r:?}");
}
