//! Every role pair over loopback: listening client ↔ acceptor, polling subscriber ↔ acceptor with queues, over TCP, a real HTTP proxy and WebSockets; wrong certificates refused; hostile peers contained.

#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use bson::Bson;
use support::*;
use tentacle_core::halibut::HalibutError;
use tentacle_core::halibut::client::{Endpoint, HalibutClient};
use tentacle_core::halibut::connection::OutgoingStream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn listening_call_pooling_and_errors() {
    let ids = identities();
    let tentacle = start_acceptor(&ids.tentacle, [ids.server.thumbprint()], None).await;
    let client = quick_client(&ids.server);
    let ep = Endpoint {
        base_uri: format!("https://127.0.0.1:{}/", tentacle.port),
        thumbprint: ids.tentacle.thumbprint(),
    };
    for i in 0..3 {
        let (r, _) = within(client.call(
            &ep,
            "IEchoService",
            "SayHello",
            vec![Bson::String(format!("World{i}"))],
            vec![],
        ))
        .await
        .unwrap();
        assert_eq!(r, Some(Bson::String(format!("World{i}..."))));
    }
    assert_eq!(
        tentacle.accepted(),
        1,
        "the pooled connection was reused through NEXT/PROCEED"
    );
    let e = within(client.call(&ep, "IEchoService", "Crash", vec![], vec![]))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, HalibutError::Remote(se) if se.message == "boom"),
        "{e}"
    );
    let e = within(client.call(&ep, "INothing", "X", vec![], vec![]))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("Service not found: INothing"), "{e}");
    // The connection survives service errors.
    within(client.call(
        &ep,
        "IEchoService",
        "SayHello",
        vec![Bson::String("again".into())],
        vec![],
    ))
    .await
    .unwrap();
    assert_eq!(tentacle.accepted(), 1);
}

#[tokio::test]
async fn listening_refuses_wrong_certificates_both_ways() {
    let ids = identities();
    // The Tentacle trusts someone else: it closes without a word.
    let tentacle = start_acceptor(&ids.tentacle, [ids.other.thumbprint()], None).await;
    let client = quick_client(&ids.server);
    let ep = Endpoint {
        base_uri: format!("https://127.0.0.1:{}/", tentacle.port),
        thumbprint: ids.tentacle.thumbprint(),
    };
    let e = within(client.call(
        &ep,
        "IEchoService",
        "SayHello",
        vec![Bson::String("x".into())],
        vec![],
    ))
    .await
    .unwrap_err();
    assert!(e.to_string().contains("does not trust"), "{e}");
    // The server expects another Tentacle certificate: the pin names both thumbprints.
    let trusting = start_acceptor(&ids.tentacle, [ids.server.thumbprint()], None).await;
    let wrong = Endpoint {
        base_uri: format!("https://127.0.0.1:{}/", trusting.port),
        thumbprint: ids.other.thumbprint(),
    };
    let e = within(client.call(&wrong, "IEchoService", "SayHello", vec![], vec![]))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(ids.other.thumbprint().as_str())
            && e.contains(ids.tentacle.thumbprint().as_str()),
        "{e}"
    );
    assert!(e.contains("unexpected security certificate"), "{e}");
}

#[tokio::test]
async fn data_streams_up_and_down_through_files() {
    let ids = identities();
    let tentacle = start_acceptor(&ids.tentacle, [ids.server.thumbprint()], None).await;
    let client = quick_client(&ids.server);
    let ep = Endpoint {
        base_uri: format!("https://127.0.0.1:{}/", tentacle.port),
        thumbprint: ids.tentacle.thumbprint(),
    };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("upload.bin");
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&src, &data).unwrap();
    let (stream, placeholder) = OutgoingStream::file(&src).unwrap();
    let (r, _) = within(client.call(
        &ep,
        "IEchoService",
        "Upload",
        vec![placeholder.to_bson_typed()],
        vec![stream],
    ))
    .await
    .unwrap();
    assert_eq!(
        r,
        Some(Bson::String(format!("{} {}", data.len(), checksum(&data))))
    );
    let (r, streams) = within(client.call(
        &ep,
        "IEchoService",
        "Download",
        vec![Bson::Int64(1_000_000)],
        vec![],
    ))
    .await
    .unwrap();
    assert!(r.is_some());
    assert_eq!(streams.len(), 1);
    let got = std::fs::read(streams[0].path()).unwrap();
    assert_eq!(got.len(), 1_000_000);
    assert_eq!(checksum(&got), checksum(&download_bytes(1_000_000)));
}

#[tokio::test]
async fn polling_over_tcp_with_keepalives() {
    let ids = identities();
    let server = start_acceptor(
        &ids.server,
        [ids.tentacle.thumbprint()],
        Some(Duration::from_millis(150)),
    )
    .await;
    let address = format!("https://127.0.0.1:{}/", server.port);
    let (state, _sub) = start_subscriber(ids, &address, ids.server.thumbprint(), None);
    wait_connected(&state).await;
    // Several keep-alive null messages pass before the first request.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let client = quick_client(&ids.server);
    let queues = server.queues.clone().unwrap();
    for i in 0..3 {
        let (r, _) = within(client.call_polling(
            &queues,
            SUBSCRIPTION,
            "IEchoService",
            "SayHello",
            vec![Bson::String(format!("p{i}"))],
            vec![],
        ))
        .await
        .unwrap();
        assert_eq!(r, Some(Bson::String(format!("p{i}..."))));
    }
    assert_eq!(
        server.accepted(),
        1,
        "one polling connection carried everything"
    );
}

#[tokio::test]
async fn polling_refuses_wrong_certificates_both_ways() {
    let ids = identities();
    // The subscriber pins a thumbprint the server does not have.
    let server = start_acceptor(&ids.server, [ids.tentacle.thumbprint()], None).await;
    let address = format!("https://127.0.0.1:{}/", server.port);
    let (state, _sub) = start_subscriber(ids, &address, ids.other.thumbprint(), None);
    let error = wait_disconnected(&state).await;
    assert!(error.contains("unexpected security certificate"), "{error}");
    // The server does not trust this Tentacle.
    let strict = start_acceptor(&ids.server, [ids.other.thumbprint()], None).await;
    let (state, _sub) = start_subscriber(
        ids,
        &format!("https://127.0.0.1:{}/", strict.port),
        ids.server.thumbprint(),
        None,
    );
    let error = wait_disconnected(&state).await;
    assert!(!error.is_empty());
    let client = quick_client(&ids.server);
    let queues = strict.queues.clone().unwrap();
    let mut quick = client;
    quick.timeouts.polling_request_queue = Duration::from_millis(300);
    let e = within(quick.call_polling(
        &queues,
        SUBSCRIPTION,
        "IEchoService",
        "SayHello",
        vec![],
        vec![],
    ))
    .await
    .unwrap_err();
    assert!(e.to_string().contains("did not collect the request"), "{e}");
}

#[tokio::test]
async fn polling_through_a_real_tinyproxy() {
    let ids = identities();
    let server = start_acceptor(&ids.server, [ids.tentacle.thumbprint()], None).await;
    let proxy = Tinyproxy::start(server.port);
    let address = format!("https://127.0.0.1:{}/", server.port);
    let (state, _sub) = start_subscriber(
        ids,
        &address,
        ids.server.thumbprint(),
        Some(proxy.settings()),
    );
    wait_connected(&state).await;
    let client = quick_client(&ids.server);
    let (r, _) = within(client.call_polling(
        server.queues.as_ref().unwrap(),
        SUBSCRIPTION,
        "IEchoService",
        "SayHello",
        vec![Bson::String("via proxy".into())],
        vec![],
    ))
    .await
    .unwrap();
    assert_eq!(r, Some(Bson::String("via proxy...".into())));
    assert!(
        proxy.log().contains("CONNECT"),
        "tinyproxy saw the tunnel: {}",
        proxy.log()
    );
}

#[tokio::test]
async fn polling_over_websockets_and_the_welcome_page_on_the_same_port() {
    let ids = identities();
    let server = start_ws_acceptor(&ids.server, [ids.tentacle.thumbprint()]).await;
    let url = format!("wss://127.0.0.1:{}/OctopusComms", server.port);
    let (state, _sub) = start_subscriber(ids, &url, ids.server.thumbprint(), None);
    wait_connected(&state).await;
    let client = quick_client(&ids.server);
    let (r, streams) = within(client.call_polling(
        server.queues.as_ref().unwrap(),
        SUBSCRIPTION,
        "IEchoService",
        "Download",
        vec![Bson::Int64(300_000)],
        vec![],
    ))
    .await
    .unwrap();
    assert!(r.is_some());
    assert_eq!(
        std::fs::read(streams[0].path()).unwrap(),
        download_bytes(300_000)
    );
    // A browser (no client certificate) asking the same port gets the page.
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let mut tls = tentacle_core::halibut::tls::connect(
        tcp,
        tentacle_core::halibut::tls::probe_config(),
        "127.0.0.1",
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    tls.write_all(b"GET /OctopusComms HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut page = Vec::new();
    let _ = within(tls.read_to_end(&mut page)).await;
    let page = String::from_utf8_lossy(&page);
    assert!(page.starts_with("HTTP/1.0 200 OK"), "{page}");
}

#[tokio::test]
async fn the_subscriber_reconnects_after_the_server_restarts() {
    let ids = identities();
    let server = start_acceptor(
        &ids.server,
        [ids.tentacle.thumbprint()],
        Some(Duration::from_millis(100)),
    )
    .await;
    let port = server.port;
    let (state, _sub) = start_subscriber(
        ids,
        &format!("https://127.0.0.1:{port}/"),
        ids.server.thumbprint(),
        None,
    );
    wait_connected(&state).await;
    server.stop().await;
    wait_disconnected(&state).await;
    let again = start_acceptor_on(
        &ids.server,
        [ids.tentacle.thumbprint()],
        Some(Duration::from_millis(100)),
        port,
    )
    .await;
    let started = std::time::Instant::now();
    wait_connected(&state).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "reconnected within the backoff bound"
    );
    let client = quick_client(&ids.server);
    let (r, _) = within(client.call_polling(
        again.queues.as_ref().unwrap(),
        SUBSCRIPTION,
        "IEchoService",
        "Count",
        vec![],
        vec![],
    ))
    .await
    .unwrap();
    assert_eq!(r, Some(Bson::Int64(1)), "the request ran exactly once");
}

#[tokio::test]
async fn hostile_peers_lose_their_connection_and_nobody_else_does() {
    let ids = identities();
    let tentacle = start_acceptor(&ids.tentacle, [ids.server.thumbprint()], None).await;
    let ep = Endpoint {
        base_uri: format!("https://127.0.0.1:{}/", tentacle.port),
        thumbprint: ids.tentacle.thumbprint(),
    };
    // Malformed BSON inside valid DEFLATE after a proper identity.
    let mut bad = raw_client(ids, tentacle.port).await;
    bad.write_all(b"MX\r\n\r\nMX-CLIENT 1.0\r\n\r\n")
        .await
        .unwrap();
    let mut header = vec![0u8; 17];
    bad.read_exact(&mut header).await.unwrap();
    assert_eq!(&header, b"MX-SERVER 1.0\r\n\r\n");
    let garbage = tentacle_core::halibut::frame::compress(&[0x20, 0, 0, 0, 0x99, 1, 2, 3]);
    bad.write_all(&garbage).await.unwrap();
    assert_closed(&mut bad).await;
    // One byte every so often: the I/O timeout (300 ms here) ends it.
    let mut slow = raw_client(ids, tentacle.port).await;
    slow.write_all(b"MX\r\n\r\nMX-CLIENT 1.0\r\n\r\n")
        .await
        .unwrap();
    let mut header = vec![0u8; 17];
    slow.read_exact(&mut header).await.unwrap();
    let message = tentacle_core::halibut::frame::encode_message(
        &tentacle_core::halibut::message::Envelope::Null,
    )
    .unwrap();
    let started = std::time::Instant::now();
    for b in &message[..message.len() - 1] {
        if slow.write_all(&[*b]).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        if started.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    assert_closed(&mut slow).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "cut off by the timeout, not by us"
    );
    // Meanwhile a well-behaved Octopus Server is served normally.
    let client = quick_client(&ids.server);
    let (r, _) = within(client.call(
        &ep,
        "IEchoService",
        "SayHello",
        vec![Bson::String("fine".into())],
        vec![],
    ))
    .await
    .unwrap();
    assert_eq!(r, Some(Bson::String("fine...".into())));
}

#[tokio::test]
async fn connection_cap_and_graceful_shutdown() {
    let ids = identities();
    let tentacle = start_acceptor_with_cap(&ids.tentacle, [ids.server.thumbprint()], 2).await;
    let _a = raw_client(ids, tentacle.port).await;
    let _b = raw_client(ids, tentacle.port).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The third is closed at once (TLS never completes).
    let third = tokio::net::TcpStream::connect(("127.0.0.1", tentacle.port))
        .await
        .unwrap();
    let mut buf = [0u8; 1];
    let mut third = third;
    let r = tokio::time::timeout(Duration::from_secs(2), third.read(&mut buf))
        .await
        .unwrap();
    assert!(matches!(r, Ok(0) | Err(_)), "{r:?}");
    let port = tentacle.port;
    tentacle.stop().await;
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err(),
        "no longer accepting"
    );
}

fn quick_client(own: &tentacle_core::certificate::TentacleCertificate) -> HalibutClient {
    let mut c = HalibutClient::new(own.clone());
    c.retry_sleep = Duration::from_millis(50);
    c.retry_count = 2;
    c.connect_timeout = Duration::from_secs(5);
    c.timeouts.io = Duration::from_secs(5);
    c
}

#[tokio::test]
async fn no_client_certificate_gets_nothing_but_the_welcome_page() {
    let ids = identities();
    let tentacle = start_acceptor(&ids.tentacle, [ids.server.thumbprint()], None).await;
    let connect = || async {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", tentacle.port))
            .await
            .unwrap();
        tentacle_core::halibut::tls::connect(
            tcp,
            tentacle_core::halibut::tls::probe_config(),
            "127.0.0.1",
            Duration::from_secs(5),
        )
        .await
        .unwrap()
    };
    // Speaking Halibut without a certificate: closed, nothing sent.
    let mut anonymous = connect().await;
    anonymous
        .write_all(b"MX\r\n\r\nMX-CLIENT 1.0\r\n\r\n")
        .await
        .unwrap();
    assert_closed(&mut anonymous).await;
    // A browser: the page.
    let mut browser = connect().await;
    browser
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut page = Vec::new();
    let _ = within(browser.read_to_end(&mut page)).await;
    assert!(String::from_utf8_lossy(&page).starts_with("HTTP/1.0 200 OK"));
}

#[tokio::test]
async fn websocket_polling_refuses_an_untrusted_tentacle() {
    let ids = identities();
    let server = start_ws_acceptor(&ids.server, [ids.other.thumbprint()]).await;
    let url = format!("wss://127.0.0.1:{}/OctopusComms", server.port);
    let (state, _sub) = start_subscriber(ids, &url, ids.server.thumbprint(), None);
    let error = wait_disconnected(&state).await;
    assert!(!error.is_empty());
    // And a Tentacle pinning the wrong server certificate refuses the server.
    let trusting = start_ws_acceptor(&ids.server, [ids.tentacle.thumbprint()]).await;
    let url = format!("wss://127.0.0.1:{}/OctopusComms", trusting.port);
    let (state, _sub) = start_subscriber(ids, &url, ids.other.thumbprint(), None);
    let error = wait_disconnected(&state).await;
    assert!(error.contains("unexpected security certificate"), "{error}");
}

#[tokio::test]
async fn several_polling_connections_share_one_queue() {
    let ids = identities();
    let server = start_acceptor(
        &ids.server,
        [ids.tentacle.thumbprint()],
        Some(Duration::from_millis(200)),
    )
    .await;
    let sub = Arc::new(subscriber(
        ids,
        &format!("https://127.0.0.1:{}/", server.port),
        ids.server.thumbprint(),
        None,
    ));
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let states = sub.spawn(3, &stop_rx);
    for s in &states {
        wait_connected(s).await;
    }
    assert_eq!(server.accepted(), 3);
    let client = Arc::new(quick_client(&ids.server));
    let queues = server.queues.clone().unwrap();
    let calls: Vec<_> = (0..9)
        .map(|i| {
            let (client, queues) = (client.clone(), queues.clone());
            tokio::spawn(async move {
                client
                    .call_polling(
                        &queues,
                        SUBSCRIPTION,
                        "IEchoService",
                        "SayHello",
                        vec![Bson::String(format!("c{i}"))],
                        vec![],
                    )
                    .await
            })
        })
        .collect();
    for (i, c) in calls.into_iter().enumerate() {
        let (r, _) = within(c).await.unwrap().unwrap();
        assert_eq!(r, Some(Bson::String(format!("c{i}..."))));
    }
    let _ = stop.send(true);
}
