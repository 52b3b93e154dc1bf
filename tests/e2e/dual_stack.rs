//! The listening agent accepts IPv4 and IPv6 even where the OS makes `[::]` IPv6-only: in a
//! network namespace this test creates, with `net.ipv6.bindv6only=1`, the built agent serves
//! the simulator over both 127.0.0.1 and [::1].

use std::time::Duration;

use tentacle_core::halibut::client::Endpoint;
use tentacle_tests::simulator::{Octopus, Target};
use tentacle_tests::{AgentProcess, Sandbox, free_port, have};

use crate::namespaces;

const NAME: &str = "dual_stack::listening_agent_accepts_ipv4_and_ipv6_with_bindv6only";

#[test]
fn listening_agent_accepts_ipv4_and_ipv6_with_bindv6only() {
    if namespaces::inside() {
        inside_namespace();
        return;
    }
    if !have("ip") || !have("sysctl") {
        println!(
            "SKIPPED: ip or sysctl is missing; install them with: apt-get install iproute2 procps"
        );
        return;
    }
    let setup = "ip link set lo up\nsysctl -q -w net.ipv6.bindv6only=1";
    if let Some(text) = namespaces::rerun_inside("n", setup, NAME) {
        assert!(text.contains("served over 127.0.0.1 and [::1]"), "{text}");
    }
}

fn inside_namespace() {
    let sysctl = std::fs::read_to_string("/proc/sys/net/ipv6/bindv6only").unwrap();
    assert_eq!(sysctl.trim(), "1", "the namespace did not get bindv6only=1");
    // Proves the setting bites here: a plain `[::]` socket takes no IPv4.
    let plain = std::net::TcpListener::bind("[::]:0").unwrap();
    let plain_port = plain.local_addr().unwrap().port();
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", plain_port)).is_err(),
        "with bindv6only=1 a plain [::] listener should refuse IPv4"
    );
    drop(plain);

    let s = Sandbox::new();
    s.sh("create-instance").ok();
    s.run(["new-certificate", "--if-blank"]).ok();
    let tentacle =
        tentacle_core::trust::Thumbprint::parse(&s.sh("show-thumbprint").ok().stdout).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let octopus = Octopus::start().await;
        let port = free_port();
        s.run([
            "configure",
            "--port",
            &port.to_string(),
            "--trust",
            octopus.cert.thumbprint().as_str(),
        ])
        .ok();
        let agent = AgentProcess::start(&s, "Tentacle");
        let status = agent.wait_status(Duration::from_secs(30), |v| v["listening_on"].is_string());
        assert_eq!(status["listening_on"], format!("[::]:{port}"));
        for host in ["127.0.0.1", "[::1]"] {
            let target = Target::Listening(Endpoint {
                base_uri: format!("https://{host}:{port}/"),
                thumbprint: tentacle.clone(),
            });
            let caps = tokio::time::timeout(Duration::from_secs(30), octopus.capabilities(&target))
                .await
                .unwrap_or_else(|_| panic!("no answer over {host} in 30 s"))
                .unwrap_or_else(|e| panic!("over {host}: {e}\n{}", agent.output()));
            assert!(caps.iter().any(|c| c == "IScriptServiceV2"), "{caps:?}");
        }
    });
    println!("served over 127.0.0.1 and [::1]");
}
