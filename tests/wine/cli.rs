//! The seeds' command lines through `tentacle.exe` under Wine: instances, certificates, trust, show-configuration, delete-instance, and the documented errors.

use std::time::Duration;

use tentacle_tests::SERVER_THUMBPRINT;

use crate::{Run, Wine, run, timed, windows_path};

const LIMIT: Duration = Duration::from_secs(60);

fn tentacle(w: &Wine, root: &std::path::Path, args: &[&str]) -> Run {
    let mut cmd = w.tentacle(root);
    cmd.args(args);
    run(cmd, LIMIT)
}

fn ok(r: Run) -> Run {
    assert_eq!(r.code, Some(0), "command failed: {r:#?}");
    r
}

#[test]
#[ignore = "needs the Wine set-up of `cargo xtask test`"]
fn seed_command_lines_and_their_errors() {
    let w = Wine::from_env();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    timed("CLI seed lines", || {
        let v = ok(tentacle(&w, root, &["version"]));
        assert!(!v.stdout.trim().is_empty(), "{v:?}");
        let e = tentacle(
            &w,
            root,
            &["create-instance", "--instance", "MyInstance", "--config"],
        );
        assert_eq!(e.code, Some(2), "{e:#?}");
        assert!(e.stderr.contains("--config"), "{e:#?}");
        let cfg = root
            .join("octopus")
            .join("MyInstance")
            .join("tentacle-MyInstance.config");
        ok(tentacle(
            &w,
            root,
            &[
                "create-instance",
                "--instance",
                "MyInstance",
                "--config",
                &windows_path(&cfg),
            ],
        ));
        let made = ok(tentacle(
            &w,
            root,
            &["new-certificate", "--instance", "MyInstance", "--if-blank"],
        ));
        assert!(
            made.stdout
                .contains("A new certificate has been generated and installed. Thumbprint:"),
            "{made:?}"
        );
        let thumb = made.stdout.lines().last().unwrap().trim().to_owned();
        assert_eq!(thumb.len(), 40, "{made:?}");
        ok(tentacle(
            &w,
            root,
            &[
                "configure",
                "--instance",
                "MyInstance",
                "--port",
                "10933",
                "--noListen",
                "False",
                "--reset-trust",
            ],
        ));
        ok(tentacle(
            &w,
            root,
            &[
                "configure",
                "--instance",
                "MyInstance",
                "--trust",
                SERVER_THUMBPRINT,
            ],
        ));
        let shown = ok(tentacle(
            &w,
            root,
            &["show-thumbprint", "--instance", "MyInstance"],
        ));
        assert_eq!(shown.stdout.trim(), thumb);
        let doc: serde_json::Value = serde_json::from_str(
            &ok(tentacle(
                &w,
                root,
                &["show-configuration", "--instance", "MyInstance"],
            ))
            .stdout,
        )
        .unwrap();
        let servers = doc["Tentacle"]["Communication"]["TrustedOctopusServers"].to_string();
        assert!(servers.contains(SERVER_THUMBPRINT), "{doc}");
        let bad = tentacle(
            &w,
            root,
            &[
                "configure",
                "--instance",
                "MyInstance",
                "--trust",
                "not-a-thumbprint",
            ],
        );
        assert_ne!(bad.code, Some(0), "{bad:#?}");
        ok(tentacle(
            &w,
            root,
            &["delete-instance", "--instance", "MyInstance"],
        ));
        let gone = tentacle(&w, root, &["show-thumbprint", "--instance", "MyInstance"]);
        assert_ne!(gone.code, Some(0), "{gone:#?}");
        assert!(gone.stderr.contains("has not been configured"), "{gone:#?}");
    });
}
