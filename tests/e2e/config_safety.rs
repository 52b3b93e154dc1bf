//! Config writes survive SIGKILL at any instant and concurrent writers lose no update.

use std::time::{Duration, Instant};

use tentacle_tests::{SERVER_THUMBPRINT, Sandbox};

/// A thumbprint made from a number, so each writer trusts a different server.
fn thumb(n: u32) -> String {
    format!("{n:040X}")
}

#[cfg(unix)]
#[test]
fn config_always_parses_after_sigkill_mid_write() {
    use rand::Rng;
    let s = Sandbox::new();
    s.sh("create-instance").ok();
    // A large config makes each write take long enough to be hit mid-way.
    let mut args = vec!["configure".to_owned()];
    for n in 0..400 {
        args.push("--trust".into());
        args.push(thumb(n));
    }
    s.run(&args).ok();
    let cfg = s.default_config();
    let mut rng = rand::rng();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut killed_mid_run = 0;
    for i in 0..150 {
        if Instant::now() > deadline {
            break;
        }
        let port = 2000 + i;
        let mut child = s
            .command([
                "configure",
                "--port",
                &port.to_string(),
                "--trust",
                SERVER_THUMBPRINT,
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(rng.random_range(0..12_000)));
        // Child::kill is SIGKILL on Unix: no destructor, no cleanup runs.
        let _ = child.kill();
        let status = child.wait().unwrap();
        if status.code().is_none() {
            killed_mid_run += 1;
        }
        let t = s.config_toml(&cfg);
        let servers = t["trusted_servers"].as_array().unwrap().len();
        assert!(
            servers == 400 || servers == 401,
            "after kill {i}: {servers} servers"
        );
    }
    assert!(
        killed_mid_run > 10,
        "only {killed_mid_run} runs were killed before they finished"
    );
    // The next writer clears any temp file a killed writer left behind.
    s.sh("configure --port 3000").ok();
    let leftovers: Vec<_> = std::fs::read_dir(cfg.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(
        s.config_toml(&cfg)["communication"]["port"].as_integer(),
        Some(3000)
    );
}

#[test]
fn concurrent_writers_lose_no_update() {
    let s = Sandbox::new();
    s.sh("create-instance").ok();
    let children: Vec<_> = (0..12u32)
        .map(|n| {
            s.command(["configure", "--trust", &thumb(1000 + n)])
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let t = s.config_toml(&s.default_config());
    assert_eq!(
        t["trusted_servers"].as_array().unwrap().len(),
        12,
        "every writer's trust survived"
    );
}
