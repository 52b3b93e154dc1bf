//! Polling registration: the communications port is checked first, the trust entry is what the agent needs, and `poll-server` adds HA nodes.

use std::time::Duration;

use serde_json::Value;
use tentacle_tests::octopus_rest::{ADMIN_KEY, OctopusRest};
use tentacle_tests::simulator::{Octopus, Target};
use tentacle_tests::{AgentProcess, SERVER_THUMBPRINT, Sandbox, free_port};

use super::{WAIT, args, config_text, post_bodies, runtime, tentacle};

#[test]
fn polling_target_checks_the_port_registers_and_then_polls() {
    let s = Sandbox::new();
    let me = tentacle(&s);
    s.run(["configure", "--noListen", "true"]).ok();
    runtime().block_on(async {
        let octopus = Octopus::start().await;
        octopus.trust(me.clone());
        let rest = OctopusRest::start(octopus.cert.thumbprint().as_str()).await;
        let port = octopus.polling_port.to_string();
        let run = s
            .run([
                "register-with",
                "--server",
                &rest.url,
                "--apiKey",
                ADMIN_KEY,
                "--comms-style",
                "TentacleActive",
                "--server-comms-port",
                &port,
                "--environment",
                "Test",
                "--role",
                "web",
            ])
            .ok();
        assert!(run.stdout.contains(&format!(
            "Checking connectivity on the server communications port {port}..."
        )));
        assert!(run.stdout.contains("Connected successfully"));
        assert!(run.stdout.contains("Machine registered successfully"));
        let body = post_bodies(&rest, "/machines").remove(0);
        assert_eq!(body["Endpoint"]["CommunicationStyle"], "TentacleActive");
        assert_eq!(body["Endpoint"]["Thumbprint"], me.as_str());
        assert!(body["Endpoint"].get("ProxyId").is_none_or(Value::is_null));
        let subscription = body["Endpoint"]["Uri"].as_str().unwrap().to_owned();
        assert!(subscription.starts_with("poll://") && subscription.len() == 28);

        let t = s.config_toml(&s.default_config());
        let entry = &t["trusted_servers"].as_array().unwrap()[0];
        assert_eq!(entry["style"].as_str(), Some("polling"));
        assert_eq!(
            entry["thumbprint"].as_str(),
            Some(octopus.cert.thumbprint().as_str())
        );
        assert_eq!(
            entry["address"].as_str().unwrap(),
            format!("https://127.0.0.1:{port}/")
        );
        assert_eq!(
            entry["subscription_id"].as_str(),
            Some(subscription.as_str())
        );
        assert_eq!(
            t["communication"]["polling_connection_count"].as_integer(),
            Some(1)
        );

        // What registration wrote is what the agent needs: the simulator reaches it by queue.
        let agent = AgentProcess::start(&s, "Tentacle");
        agent.wait_status(WAIT, |v| v["servers"][0]["link"] == "connected");
        let caps = tokio::time::timeout(
            Duration::from_secs(60),
            octopus.capabilities(&Target::Polling(subscription.clone())),
        )
        .await
        .unwrap()
        .unwrap();
        assert!(caps.contains(&"IScriptServiceV2".to_owned()), "{caps:?}");
    });
}

#[test]
fn polling_registration_is_refused_when_the_comms_port_is_closed() {
    let s = Sandbox::new();
    tentacle(&s);
    let before = config_text(&s);
    runtime().block_on(async {
        let rest = OctopusRest::start(SERVER_THUMBPRINT).await;
        let closed = free_port().to_string();
        let run = s
            .run([
                "register-with",
                "--server",
                &rest.url,
                "--apiKey",
                ADMIN_KEY,
                "--comms-style",
                "TentacleActive",
                "--server-comms-port",
                &closed,
                "--environment",
                "Test",
                "--role",
                "web",
            ])
            .fails(1, "communications port does not answer");
        assert!(
            run.stderr.contains(&format!("127.0.0.1:{closed}")),
            "{run:#?}"
        );
        assert!(run.stderr.contains("Nothing is listening"), "{run:#?}");
        assert!(run.stdout.contains("Checking connectivity"));
        assert!(rest.world().requests.is_empty(), "nothing was registered");
    });
    assert_eq!(config_text(&s), before, "the config is untouched");
}

#[test]
fn poll_server_adds_a_second_node_with_the_same_subscription() {
    let s = Sandbox::new();
    let me = tentacle(&s);
    s.run(["configure", "--noListen", "true"]).ok();
    runtime().block_on(async {
        let node1 = Octopus::start().await;
        let node2 = Octopus::start_with(node1.cert.clone(), 0).await;
        node1.trust(me.clone());
        node2.trust(me.clone());
        let rest = OctopusRest::start(node1.cert.thumbprint().as_str()).await;
        let api = ["--server", rest.url.as_str(), "--apiKey", ADMIN_KEY];
        let p1 = node1.polling_port.to_string();
        s.run(args(
            &[
                "register-with",
                "--comms-style",
                "TentacleActive",
                "--server-comms-port",
                &p1,
                "--environment",
                "Test",
                "--role",
                "web",
            ],
            &api,
        ))
        .ok();
        let node2_address = format!("https://127.0.0.1:{}", node2.polling_port);
        let r = s
            .run(args(
                &["poll-server", "--server-comms-address", &node2_address],
                &api,
            ))
            .ok();
        assert!(r.stdout.contains("will also poll"));
        // Without API options, --reuse-server-thumbprint copies the first entry.
        let p3 = free_port();
        let node3 = Octopus::start_with(node1.cert.clone(), p3).await;
        node3.trust(me.clone());
        s.run([
            "poll-server",
            "--reuse-server-thumbprint",
            "--server-comms-address",
            &format!("https://127.0.0.1:{p3}/"),
        ])
        .ok();
        let t = s.config_toml(&s.default_config());
        let servers = t["trusted_servers"].as_array().unwrap();
        assert_eq!(servers.len(), 3);
        let subs: Vec<_> = servers
            .iter()
            .map(|e| e["subscription_id"].clone())
            .collect();
        assert!(subs.iter().all(|x| x == &subs[0]));
        assert!(
            servers
                .iter()
                .all(|e| e["thumbprint"].as_str() == Some(node1.cert.thumbprint().as_str()))
        );

        let agent = AgentProcess::start(&s, "Tentacle");
        agent.wait_status(WAIT, |v| {
            v["servers"]
                .as_array()
                .is_some_and(|a| a.len() == 3 && a.iter().all(|x| x["link"] == "connected"))
        });
        let sub = Target::Polling(subs[0].as_str().unwrap().to_owned());
        for node in [&node2, &node3] {
            tokio::time::timeout(Duration::from_secs(60), node.capabilities(&sub))
                .await
                .unwrap()
                .unwrap();
        }
        // A node whose certificate this Tentacle does not poll is refused with instructions.
        let stranger = Octopus::start().await;
        let other_rest = OctopusRest::start(stranger.cert.thumbprint().as_str()).await;
        s.run([
            "poll-server",
            "--server",
            other_rest.url.as_str(),
            "--apiKey",
            ADMIN_KEY,
            "--server-comms-port",
            &stranger.polling_port.to_string(),
        ])
        .fails(1, "is not trusted as a polling server");
    });
}
