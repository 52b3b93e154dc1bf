//! Script services against hostile or broken values: TimeSpans of any size, a panic in the script's task, and workspaces other local users must not read.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_largest_mutex_timeouts_still_run_the_script() {
    tokio::time::timeout(LIMIT, async {
        let h = harness();
        // TimeSpan.MaxValue as .NET prints it, and more days than any TimeSpan holds: both
        // once overflowed `Instant + timeout` in the script's task, which left it Pending.
        for (t, timeout) in [
            ("MaxTimeSpan", "10675199.02:48:05.4775807"),
            ("HugeTimeSpan", "99999999999999999.23:59:59"),
        ] {
            let mut cmd = v2_cmd(t, "echo ran");
            cmd.isolation = 1;
            cmd.script_isolation_mutex_timeout = Some(timeout.into());
            let (logs, exit) = v2_run(&h, &cmd).await;
            assert_eq!((texts(&logs), exit), (vec!["ran"], 0), "{timeout}");
        }
    })
    .await
    .expect("a script with a huge mutex timeout never completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_the_script_task_completes_the_script_as_failed() {
    tokio::time::timeout(LIMIT, async {
        let h = harness();
        let mut cmd = v2_cmd("Panics", "echo never");
        cmd.task_id = Some(crate::agent::scripts::engine::panic_task().into());
        let (logs, exit) = v2_run(&h, &cmd).await;
        assert_eq!(exit, super::super::exit_codes::FATAL);
        let all = texts(&logs).join("\n");
        assert!(all.contains("internal error"), "{all}");
        assert!(!all.contains("never"), "{all}");
        assert_eq!(h.engine.running(), 0);
        // The persisted state agrees, so a restarted agent does not report it unknown.
        let state = std::fs::read_to_string(h.home().join("Work/Panics/scriptstate.json")).unwrap();
        assert!(state.contains("-41"), "{state}");
        // The isolation lock was released: the next script runs.
        let (logs, exit) = v2_run(&h, &v2_cmd("After", "echo next")).await;
        assert_eq!((texts(&logs), exit), (vec!["next"], 0));
    })
    .await
    .expect("a script whose task panicked stayed Pending");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspaces_logs_and_sensitive_files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    tokio::time::timeout(LIMIT, async {
        let h = harness();
        let (s1, p1) = OutgoingStream::bytes(b"password=hunter2\n".to_vec());
        let (s2, p2) = OutgoingStream::bytes(b"plain\n".to_vec());
        let mut cmd = v2_cmd("Private", "echo secret-output");
        cmd.files = Some(vec![
            ScriptFile {
                name: Some("sub/Variables.secret".into()),
                contents: Some(p1.to_bson().as_document().unwrap().clone()),
                encryption_password: Some("pass phrase".into()),
            },
            ScriptFile {
                name: Some("data.txt".into()),
                contents: Some(p2.to_bson().as_document().unwrap().clone()),
                encryption_password: None,
            },
        ]);
        let temp = h.home().join("Temp");
        let (req, streams) =
            over_the_wire(&temp, "StartScript", v2_start(&cmd), vec![s1, s2]).await;
        let r = h.v2.call(&req.method, req.params, streams).await.unwrap();
        status(r.result, tn::SCRIPT_STATUS_RESPONSE_V2);
        let (_, exit) = v2_collect(&h, "Private").await;
        assert_eq!(exit, 0);
        let ws = h.home().join("Work/Private");
        for (path, want) in [
            (ws.clone(), 0o700),
            (ws.join("sub"), 0o700),
            (ws.join(super::super::workspace::BOOTSTRAP_FILE), 0o600),
            (ws.join("Output.log"), 0o600),
            (ws.join("sub/Variables.secret"), 0o600),
            (ws.join("data.txt"), 0o600),
        ] {
            assert_eq!(mode(&path), want, "{}", path.display());
        }
    })
    .await
    .unwrap();
}
