//! After adoption nothing on the wire changes: the built agent answers the simulator, which knows only the official instance's thumbprint, port and subscription ids, with no re-registration.

use std::time::Duration;

use tentacle_core::halibut::client::Endpoint;
use tentacle_core::trust::Thumbprint;
use tentacle_tests::simulator::{Octopus, Target};
use tentacle_tests::{AgentProcess, free_port};

use super::fixture::{KeySource, Official, make_pfx};

const WAIT: Duration = Duration::from_secs(30);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn capabilities(octopus: &Octopus, target: &Target) -> Vec<String> {
    tokio::time::timeout(Duration::from_secs(60), octopus.capabilities(target))
        .await
        .expect("health check took more than 60 s")
        .unwrap()
}

fn start_agent(o: &Official, name: &str) -> AgentProcess {
    let home = o.home(name);
    let log = std::fs::File::create(o.s.root().join("agent.out")).unwrap();
    let child = o
        .command(["agent", "--instance", name])
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    AgentProcess { child, home }
}

#[test]
fn adopted_listening_tentacle_answers_with_its_old_thumbprint_and_port() {
    let o = Official::new(KeySource::MachineId);
    let pfx = make_pfx(o.s.root(), "tentacle");
    let port = free_port();
    let rt = runtime();
    rt.block_on(async {
        let octopus = Octopus::start().await;
        let servers = format!(
            "[{{\"Thumbprint\":\"{}\",\"CommunicationStyle\":1,\"Address\":null,\"Squid\":null,\"SubscriptionId\":null}}]",
            octopus.cert.thumbprint()
        );
        o.install(
            "Tentacle",
            &pfx,
            &[
                ("Tentacle.Communication.TrustedOctopusServers", servers),
                ("Tentacle.Services.PortNumber", port.to_string()),
                ("Tentacle.Services.ListenIP", "127.0.0.1".into()),
            ],
        );
        o.run(&["import-tentacle"]).ok();
        let agent = start_agent(&o, "Tentacle");
        agent.wait_status(WAIT, |v| v["listening_on"].is_string());
        // The server still has only what it knew about the official Tentacle.
        let target = Target::Listening(Endpoint {
            base_uri: format!("https://127.0.0.1:{port}/"),
            thumbprint: Thumbprint::parse(&pfx.thumbprint).unwrap(),
        });
        let caps = capabilities(&octopus, &target).await;
        assert!(caps.contains(&"IScriptServiceV2".to_owned()), "{caps:?}");
    });
}

#[test]
fn adopted_polling_tentacle_polls_two_servers_over_tcp_and_websocket_with_its_subscription_ids() {
    let o = Official::new(KeySource::MachineKeyFile);
    let pfx = make_pfx(o.s.root(), "tentacle");
    let thumbprint = Thumbprint::parse(&pfx.thumbprint).unwrap();
    let rt = runtime();
    rt.block_on(async {
        let tcp = Octopus::start().await;
        let ws = Octopus::start().await;
        tcp.trust(thumbprint.clone());
        ws.trust(thumbprint.clone());
        let servers = format!(
            "[{{\"Thumbprint\":\"{}\",\"CommunicationStyle\":2,\"Address\":\"https://127.0.0.1:{}\",\"Squid\":null,\"SubscriptionId\":\"poll://yzqmnt2r8v4hk6wcdp3e/\"}},{{\"Thumbprint\":\"{}\",\"CommunicationStyle\":2,\"Address\":\"wss://127.0.0.1:{}/OctopusComms\",\"Squid\":null,\"SubscriptionId\":\"poll://abcdefghjkmnpqrstuvw/\"}}]",
            tcp.cert.thumbprint(),
            tcp.polling_port,
            ws.cert.thumbprint(),
            ws.websocket_port
        );
        o.install(
            "Polling",
            &pfx,
            &[
                ("Tentacle.Communication.TrustedOctopusServers", servers),
                ("Tentacle.Services.NoListen", "true".into()),
            ],
        );
        o.run(&["import-tentacle"]).ok();
        let agent = start_agent(&o, "Polling");
        agent.wait_status(WAIT, |v| {
            v["servers"]
                .as_array()
                .is_some_and(|a| a.len() == 2 && a.iter().all(|s| s["link"] == "connected"))
        });
        for (octopus, sub) in [
            (&tcp, "poll://yzqmnt2r8v4hk6wcdp3e/"),
            (&ws, "poll://abcdefghjkmnpqrstuvw/"),
        ] {
            let caps = capabilities(octopus, &Target::Polling(sub.to_owned())).await;
            assert!(caps.contains(&"IScriptService".to_owned()), "{caps:?}");
        }
    });
}
