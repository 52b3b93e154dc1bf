//! A script whose interpreter is missing fails loudly: in a mount namespace this test creates, with bash hidden and a PATH without it, the built agent answers a script with a non-zero exit code and a log line naming bash and the fix, never exit 0 with no output.

use std::time::Duration;

use tentacle_core::halibut::client::Endpoint;
use tentacle_tests::simulator::{Octopus, Target};
use tentacle_tests::{AgentProcess, Sandbox, free_port};

use crate::namespaces;

const NAME: &str = "no_interpreter::a_script_without_bash_fails_with_the_interpreter_named";

#[test]
fn a_script_without_bash_fails_with_the_interpreter_named() {
    if namespaces::inside() {
        inside_namespace();
        return;
    }
    // An empty tmpfs over the folders that hold bash (/bin is a link to /usr/bin on
    // merged-/usr systems), and a PATH that has none. `mount` itself lives there, so a copy
    // on a private tmpfs does the hiding.
    // Its own network namespace too, so the agent's port cannot collide with a parallel test.
    let setup = "ip link set lo up\nmount -t tmpfs none /mnt\ncp \"$(command -v mount)\" /mnt/mount\nfor d in /usr/local/bin /bin /usr/bin /usr/local/sbin /sbin /usr/sbin; do [ -L $d ] || [ ! -d $d ] || /mnt/mount -t tmpfs none $d; done\nexport PATH=/no-such-folder";
    if let Some(text) = namespaces::rerun_inside("mn", setup, NAME) {
        assert!(
            text.contains("bash is hidden and the script failed"),
            "{text}"
        );
    }
}

fn inside_namespace() {
    assert!(
        !std::path::Path::new("/bin/bash").exists(),
        "/bin/bash is still visible"
    );
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
        agent.wait_status(Duration::from_secs(30), |v| v["listening_on"].is_string());
        let target = Target::Listening(Endpoint {
            base_uri: format!("https://127.0.0.1:{port}/"),
            thumbprint: tentacle.clone(),
        });
        let run = tokio::time::timeout(
            Duration::from_secs(60),
            octopus.run_script(&target, "echo should never print", "ServerTasks-1"),
        )
        .await
        .expect("no answer in 60 s")
        .unwrap();
        assert_ne!(run.exit_code, 0, "{run:?}");
        assert!(
            !run.lines.iter().any(|l| l.contains("should never print")),
            "{run:?}"
        );
        let line = run
            .lines
            .iter()
            .find(|l| l.contains("bash was not found"))
            .unwrap_or_else(|| panic!("no line names bash: {run:?}"));
        assert!(line.contains("apt-get install bash"), "{line}");
    });
    println!("bash is hidden and the script failed");
}
