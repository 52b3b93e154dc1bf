//! Registration failures: every server and input error is one line that names the fix, and secrets never reach output, logs or files.

use tentacle_tests::octopus_rest::{
    ADMIN_KEY, ADMIN_PASSWORD, ADMIN_USER, OctopusRest, VIEWER_KEY, self_signed_config,
};
use tentacle_tests::{SERVER_THUMBPRINT, Sandbox, free_port};

use super::{all_files_text, args, assert_no_secret, runtime, tentacle};

#[test]
fn server_and_input_errors_are_one_clear_line_without_secrets() {
    let s = Sandbox::new();
    tentacle(&s);
    runtime().block_on(async {
        let rest = OctopusRest::start(SERVER_THUMBPRINT).await;
        let url = rest.url.clone();
        let reg = |extra: &[&str]| {
            let mut a = vec!["register-with", "--server", url.as_str()];
            a.extend_from_slice(extra);
            s.run(a)
        };
        let bad_key = "API-WRONGKEY0000000000000000";
        let r = reg(&[
            "--apiKey",
            bad_key,
            "--environment",
            "Test",
            "--role",
            "web",
        ])
        .fails(1, "rejected the credentials (HTTP 401");
        assert_no_secret(&r, bad_key);
        let r = reg(&[
            "--apiKey",
            VIEWER_KEY,
            "--environment",
            "Test",
            "--role",
            "web",
        ])
        .fails(1, "HTTP 403");
        assert!(
            r.stderr.contains("Missing permission: MachineCreate"),
            "{r:#?}"
        );
        assert_no_secret(&r, VIEWER_KEY);
        reg(&[
            "--apiKey",
            ADMIN_KEY,
            "--environment",
            "Nowhere",
            "--environment",
            "Test",
            "--role",
            "web",
        ])
        .fails(1, "Could not find the environment(s) named: Nowhere");
        reg(&[
            "--apiKey",
            ADMIN_KEY,
            "--space",
            "Mars",
            "--environment",
            "Test",
            "--role",
            "web",
        ])
        .fails(1, "A space with name \"Mars\" could not be found");
        reg(&[
            "--apiKey",
            ADMIN_KEY,
            "--environment",
            "Test",
            "--role",
            "web",
            "--tenanttag",
            "Europe",
        ])
        .fails(1, "TagSet/Tag");
        reg(&[
            "--apiKey",
            ADMIN_KEY,
            "--environment",
            "Test",
            "--role",
            "web",
            "--tenanttag",
            "Region/Mars",
        ])
        .fails(1, "Could not find the tenant tag(s) named: Region/Mars");
        reg(&["--apiKey", ADMIN_KEY, "--environment", "Test"]).fails(1, "Please specify a role");
        reg(&["--apiKey", ADMIN_KEY, "--role", "web"]).fails(1, "Please specify an environment");
        let r = reg(&[
            "--username",
            ADMIN_USER,
            "--password",
            "wrong-pass-123",
            "--environment",
            "Test",
            "--role",
            "web",
        ])
        .fails(1, "Invalid username or password");
        assert_no_secret(&r, "wrong-pass-123");
        reg(&["--environment", "Test", "--role", "web"]).fails(2, "Please specify an API key");
        reg(&[
            "--apiKey",
            ADMIN_KEY,
            "--username",
            "x",
            "--environment",
            "Test",
            "--role",
            "web",
        ])
        .fails(2, "Pass only one of --apiKey, --bearerToken");
        reg(&[
            "--apiKey",
            ADMIN_KEY,
            "--comms-style",
            "Ssh",
            "--environment",
            "Test",
            "--role",
            "web",
        ])
        .fails(1, "Unknown communication style 'Ssh'");
        reg(&[
            "--apiKey",
            ADMIN_KEY,
            "--server-comms-port",
            "10943",
            "--environment",
            "Test",
            "--role",
            "web",
        ])
        .fails(2, "add --comms-style TentacleActive");
        s.run([
            "register-worker",
            "--server",
            url.as_str(),
            "--apiKey",
            ADMIN_KEY,
            "--workerpool",
            "Nope",
        ])
        .fails(1, "Could not find the worker pool(s) named: Nope");
        s.run([
            "register-with",
            "--apiKey",
            ADMIN_KEY,
            "--environment",
            "Test",
            "--role",
            "web",
        ])
        .fails(1, "Please specify an Octopus Server");
        let r = s
            .run([
                "register-with",
                "--server",
                "https://admin:pw-in-url@example.invalid/",
                "--apiKey",
                ADMIN_KEY,
                "--environment",
                "Test",
                "--role",
                "web",
            ])
            .fails(1, "contains a user name or password");
        assert_no_secret(&r, "pw-in-url");
        let closed = format!("http://127.0.0.1:{}/", free_port());
        s.run([
            "register-with",
            "--server",
            closed.as_str(),
            "--apiKey",
            ADMIN_KEY,
            "--environment",
            "Test",
            "--role",
            "web",
        ])
        .fails(1, "Could not reach the Octopus Server");
        rest.world().version = "2.6.5".into();
        reg(&[
            "--apiKey",
            ADMIN_KEY,
            "--environment",
            "Test",
            "--role",
            "web",
        ])
        .fails(1, "Octopus Server 2.6.5 is too old");
        assert!(rest.world().registered("Spaces-1", "machines").is_empty());
    });
    let fresh = Sandbox::new();
    fresh.sh("create-instance").ok();
    fresh
        .run([
            "register-with",
            "--server",
            "http://127.0.0.1:1/",
            "--apiKey",
            ADMIN_KEY,
            "--environment",
            "Test",
            "--role",
            "web",
        ])
        .fails(1, "No certificate has been generated for this Tentacle");
    assert!(!all_files_text(&s).contains(ADMIN_KEY));
    assert!(
        s.config_toml(&s.default_config())
            .get("trusted_servers")
            .is_none()
    );
}

#[test]
fn secrets_stay_out_of_trace_logs_and_files() {
    let s = Sandbox::new();
    tentacle(&s);
    runtime().block_on(async {
        let rest = OctopusRest::start(SERVER_THUMBPRINT).await;
        for auth in [
            vec!["--apiKey", ADMIN_KEY],
            vec!["--username", ADMIN_USER, "--password", ADMIN_PASSWORD],
        ] {
            let mut cmd = s.command(
                [
                    vec![
                        "register-with",
                        "--server",
                        rest.url.as_str(),
                        "--environment",
                        "Test",
                        "--role",
                        "web",
                        "--force",
                    ],
                    auth,
                ]
                .concat(),
            );
            cmd.env("TENTACLE_LOG", "trace");
            let out = cmd.output().unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(out.status.success(), "{text}");
            assert!(
                text.contains("Octopus REST request"),
                "debug logs are on: {text}"
            );
            for secret in [ADMIN_KEY, ADMIN_PASSWORD] {
                assert!(
                    !text.contains(secret),
                    "{secret} leaked into the log:\n{text}"
                );
            }
            // The simulator's session and CSRF values are `session-<digits>` and `csrf-<digits>`.
            for prefix in ["session-", "csrf-"] {
                let leaked = text.match_indices(prefix).any(|(i, _)| {
                    text[i + prefix.len()..].starts_with(|c: char| c.is_ascii_digit())
                });
                assert!(!leaked, "a {prefix} value leaked into the log:\n{text}");
            }
        }
    });
    let files = all_files_text(&s);
    assert!(!files.contains(ADMIN_KEY) && !files.contains(ADMIN_PASSWORD));
}

#[test]
fn a_self_signed_portal_is_refused_unless_ignore_ssl_errors() {
    let s = Sandbox::new();
    tentacle(&s);
    runtime().block_on(async {
        let rest = OctopusRest::start_https(SERVER_THUMBPRINT, self_signed_config()).await;
        let base = [
            "register-with",
            "--server",
            rest.url.as_str(),
            "--apiKey",
            ADMIN_KEY,
            "--environment",
            "Test",
            "--role",
            "web",
        ];
        let r = s
            .run(base)
            .fails(1, "HTTPS certificate is not trusted by this machine");
        assert!(r.stderr.contains("--ignoreSslErrors"), "{r:#?}");
        s.run(args(&base, &["--ignoreSslErrors"])).ok();
        assert_eq!(rest.world().registered("Spaces-1", "machines").len(), 1);
    });
}
