//! `tentacle ping` and `tentacle pong` as TentaclePing and TentaclePong: ping against pong, against a listening agent, and against a closed port.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tentacle_tests::{AgentProcess, SERVER_THUMBPRINT, Sandbox, free_port};

/// Waits until `path` contains `needle`; returns the text.
fn wait_for_text(path: &std::path::Path, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{needle:?} never appeared: {text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The 40-character thumbprint after `marker` in `text`.
fn thumbprint_after<'a>(text: &'a str, marker: &str) -> &'a str {
    let at = text
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker:?} in {text}"))
        + marker.len();
    &text[at..at + 40]
}

#[test]
fn ping_against_pong_prints_the_thumbprint_timings_and_counts() {
    let s = Sandbox::new();
    let port = free_port();
    let out_path = s.root().join("pong.out");
    let out = std::fs::File::create(&out_path).unwrap();
    let mut pong = s
        .command(["pong", &port.to_string(), "--count", "3"])
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let listening = wait_for_text(&out_path, "Listening, hit Ctrl+C");
    let pong_thumbprint = thumbprint_after(&listening, "with certificate ").to_owned();

    let ping = s
        .run([
            "ping",
            "127.0.0.1",
            &port.to_string(),
            "--count",
            "3",
            "--interval",
            "20",
        ])
        .ok();
    assert!(
        ping.stdout
            .contains(&format!("Pinging 127.0.0.1 on port {port}")),
        "{ping:#?}"
    );
    let successes: Vec<&str> = ping
        .stdout
        .lines()
        .filter(|l| l.contains("Connect: Success!"))
        .collect();
    assert_eq!(successes.len(), 3, "{ping:#?}");
    for line in &successes {
        // Pong answers a 10 KB body; TLS 1.3 by default; timings in ms.
        assert!(line.contains("bytes read, TLSv1.3"), "{line}");
        assert!(line.contains(" ms (TCP "), "{line}");
        assert!(
            line.ends_with(&format!("thumbprint {pong_thumbprint}")),
            "{line}"
        );
        let bytes: usize = line
            .split(", ")
            .find_map(|p| p.strip_suffix(" bytes read"))
            .unwrap()
            .parse()
            .unwrap();
        assert!(bytes > 10_240, "{line}");
    }
    assert!(
        ping.stdout
            .contains("Done: 3 successful connections, 0 failed connections."),
        "{ping:#?}"
    );

    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = pong.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "pong did not stop after 3 connections"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());
    let text = std::fs::read_to_string(&out_path).unwrap();
    assert_eq!(
        text.matches("Accepted TCP client 127.0.0.1:").count()
            + text
                .matches("Accepted TCP client [::ffff:127.0.0.1]:")
                .count(),
        3,
        "{text}"
    );
    assert_eq!(text.matches("no client certificate;").count(), 3, "{text}");
    assert!(
        text.contains("Done: 3 connections answered, 0 failed."),
        "{text}"
    );
}

#[test]
fn ping_shows_a_listening_agents_own_thumbprint() {
    let s = Sandbox::new();
    s.sh("create-instance").ok();
    s.sh("new-certificate").ok();
    let own = s.sh("show-thumbprint").ok().stdout.trim().to_owned();
    let port = free_port();
    s.run([
        "configure",
        "--port",
        &port.to_string(),
        "--trust",
        SERVER_THUMBPRINT,
    ])
    .ok();
    let agent = AgentProcess::start(&s, "Tentacle");
    agent.wait_status(Duration::from_secs(30), |v| v["listening_on"].is_string());
    let ping = s
        .run([
            "ping",
            "localhost",
            &port.to_string(),
            "--count",
            "2",
            "--interval",
            "10",
        ])
        .ok();
    assert_eq!(
        ping.stdout.matches(&format!("thumbprint {own}")).count(),
        2,
        "{ping:#?}"
    );
}

#[test]
fn ping_of_a_closed_port_counts_failures_and_exits_1() {
    let s = Sandbox::new();
    let port = free_port();
    let run = s.run([
        "ping",
        "127.0.0.1",
        &port.to_string(),
        "--count",
        "2",
        "--interval",
        "10",
    ]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert_eq!(
        run.stdout.matches("Connect: Failed!").count(),
        2,
        "{run:#?}"
    );
    assert!(
        run.stdout
            .contains("connected: false; TLS: false; Nothing is listening on 127.0.0.1"),
        "{run:#?}"
    );
    assert!(
        run.stdout
            .contains("0 successful connections, 2 failed connections."),
        "{run:#?}"
    );
    assert!(
        run.stderr.contains("2 of 2 connections to 127.0.0.1"),
        "{run:#?}"
    );
}

#[test]
fn ping_and_pong_refuse_bad_input_in_one_line() {
    let s = Sandbox::new();
    s.run(["ping", "http://x/", "10933"])
        .fails(1, "is not a host name or IP address");
    s.run(["ping"])
        .fails(2, "required arguments were not provided: <HOST>");
    s.run(["ping", "127.0.0.1", "0"])
        .fails(1, "Port 0 cannot be pinged");
    s.run(["ping", "127.0.0.1", "--count", "0"])
        .fails(1, "--count must be 1 or more");
    let held = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = held.local_addr().unwrap().port();
    s.run(["pong", &port.to_string(), "--count", "1"])
        .fails(1, &format!("Port {port} is already in use"));
    s.run(["pong", "10933", "--instance", "Missing"])
        .fails(1, "Instance 'Missing'");
}
