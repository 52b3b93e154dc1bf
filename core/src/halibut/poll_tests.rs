//! Graceful stop of a polling Tentacle against a real acceptor with queues on loopback: a request already being served is answered before the connection closes.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use bson::Bson;
use tokio::sync::{Notify, watch};

use super::{Backoff, LinkState, Subscriber};
use crate::certificate::generate;
use crate::halibut::connection::{Limits, ReceivedStream, Timeouts};
use crate::halibut::dial::Address;
use crate::halibut::listen::{Acceptor, TrustedPeers};
use crate::halibut::message::RequestMessage;
use crate::halibut::queue::PollingQueues;
use crate::halibut::rpc::{BoxFuture, Reply, Service, ServiceError, ServiceTable};
use crate::halibut::{tls, welcome};

/// A call that says it has started, takes a moment, then answers "done".
struct Slow {
    started: Arc<Notify>,
}

impl Service for Slow {
    fn name(&self) -> &str {
        "ISlow"
    }
    fn call<'a>(
        &'a self,
        _method: &'a str,
        _params: Vec<Bson>,
        _streams: Vec<ReceivedStream>,
    ) -> BoxFuture<'a, Result<Reply, ServiceError>> {
        Box::pin(async move {
            self.started.notify_one();
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok(Reply::value(Bson::String("done".into())))
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_mid_request_still_answers_it_before_closing() {
    let server = generate().unwrap();
    let tentacle = generate().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let queues = PollingQueues::new();
    let acceptor = Arc::new(Acceptor {
        tls: tls::server_config(&server).unwrap(),
        trusted: TrustedPeers::new([tentacle.thumbprint()]),
        services: Arc::new(ServiceTable::new()),
        queues: Some(queues.clone()),
        timeouts: Timeouts::default(),
        limits: Limits::default(),
        max_connections: 16,
        welcome: Arc::new(welcome::response()),
        accepted: Arc::new(AtomicUsize::new(0)),
        contacts: Default::default(),
    });
    let (_server_stop, server_rx) = watch::channel(false);
    tokio::spawn(acceptor.run(listener, server_rx));

    let started = Arc::new(Notify::new());
    let mut services = ServiceTable::new();
    services.register(Arc::new(Slow {
        started: started.clone(),
    }));
    let subscriber = Arc::new(Subscriber {
        address: Address::parse(&format!("https://127.0.0.1:{port}/")).unwrap(),
        subscription: "poll://graceful/".into(),
        tls: tls::client_config(&tentacle, &server.thumbprint()).unwrap(),
        proxy: None,
        services: Arc::new(services),
        timeouts: Timeouts::default(),
        limits: Limits::default(),
        backoff: Backoff::default(),
        connect_timeout: Duration::from_secs(10),
    });
    let (stop, stop_rx) = watch::channel(false);
    let mut states = subscriber.spawn(1, &stop_rx);
    let mut link = states.remove(0);
    tokio::time::timeout(
        Duration::from_secs(20),
        link.wait_for(|s| matches!(s, LinkState::Connected { .. })),
    )
    .await
    .expect("the polling connection never came up")
    .unwrap();

    let call = {
        let queues = queues.clone();
        tokio::spawn(async move {
            let request = RequestMessage::new("ISlow", "Run", Vec::new(), 1);
            queues
                .call(
                    "poll://graceful/",
                    request,
                    Vec::new(),
                    Duration::from_secs(20),
                )
                .await
        })
    };
    tokio::time::timeout(Duration::from_secs(20), started.notified())
        .await
        .expect("the request never reached the service");
    stop.send_replace(true);

    let answer = tokio::time::timeout(Duration::from_secs(20), call)
        .await
        .expect("no answer after the stop")
        .unwrap();
    let (response, _) = answer.expect("the request was dropped by the stop");
    assert_eq!(response.result, Some(Bson::String("done".into())));
    assert!(response.error.is_none(), "{:?}", response.error);
    // And the connection then closes: the link task ends.
    tokio::time::timeout(Duration::from_secs(20), async {
        while link.changed().await.is_ok() {}
    })
    .await
    .expect("the polling connection stayed open after the stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_stops_at_once() {
    let server = generate().unwrap();
    let tentacle = generate().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = Arc::new(Acceptor {
        tls: tls::server_config(&server).unwrap(),
        trusted: TrustedPeers::new([tentacle.thumbprint()]),
        services: Arc::new(ServiceTable::new()),
        queues: Some(PollingQueues::new()),
        timeouts: Timeouts::default(),
        limits: Limits::default(),
        max_connections: 16,
        welcome: Arc::new(welcome::response()),
        accepted: Arc::new(AtomicUsize::new(0)),
        contacts: Default::default(),
    });
    let (_server_stop, server_rx) = watch::channel(false);
    tokio::spawn(acceptor.run(listener, server_rx));
    let subscriber = Arc::new(Subscriber {
        address: Address::parse(&format!("https://127.0.0.1:{port}/")).unwrap(),
        subscription: "poll://idle/".into(),
        tls: tls::client_config(&tentacle, &server.thumbprint()).unwrap(),
        proxy: None,
        services: Arc::new(ServiceTable::new()),
        timeouts: Timeouts::default(),
        limits: Limits::default(),
        backoff: Backoff::default(),
        connect_timeout: Duration::from_secs(10),
    });
    let (stop, stop_rx) = watch::channel(false);
    let mut link = subscriber.spawn(1, &stop_rx).remove(0);
    tokio::time::timeout(
        Duration::from_secs(20),
        link.wait_for(|s| matches!(s, LinkState::Connected { .. })),
    )
    .await
    .unwrap()
    .unwrap();
    stop.send_replace(true);
    // Well inside the 60 s polling receive wait: the stop does not wait for traffic.
    tokio::time::timeout(Duration::from_secs(10), async {
        while link.changed().await.is_ok() {}
    })
    .await
    .expect("an idle polling connection did not stop");
}
