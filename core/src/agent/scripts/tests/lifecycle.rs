//! Lifecycle tests of the script services: cancel kills the tree, isolation, mutex timeouts, V2 idempotency and waiting, unknown tickets, restart and cleaning.

use std::time::{Duration, Instant};

use ::bson::{Bson, doc};

use super::*;
use crate::agent::scripts::contracts::{
    ProcessOutput, TicketRequest, exit_codes, type_names as tn,
};
use crate::agent::scripts::{ScriptEngine, ScriptServiceV2};
use crate::halibut::bson::to_typed;
use crate::halibut::rpc::{Service, ServiceError};

fn process_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // A zombie waiting for a reaper that is not us has still been killed.
        Ok(s) => s
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_kills_the_script_and_its_children() {
    tokio::time::timeout(LIMIT, async {
        let h = harness();
        let cmd = v2_cmd(
            "Cancel",
            "echo started\nsleep 600 &\necho $! > child.pid\nwait\n",
        );
        call(&h.v2, "StartScript", v2_start(&cmd)).await.unwrap();
        let pid_file = h.home().join("Work/Cancel/child.pid");
        let pid: i32 = loop {
            if let Some(p) = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                break p;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(!process_gone(pid));
        assert_eq!(h.engine.running(), 1);
        let r = call(
            &h.v2,
            "CancelScript",
            ticket_req(tn::CANCEL_SCRIPT_COMMAND_V2, "Cancel", Some(0)),
        )
        .await
        .unwrap();
        status(r, tn::SCRIPT_STATUS_RESPONSE_V2);
        let (logs, exit) = v2_collect(&h, "Cancel").await;
        assert_eq!(exit, exit_codes::CANCELED);
        assert_eq!(
            texts(&logs),
            ["started", "Script execution canceled."],
            "{logs:?}"
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        while !process_gone(pid) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(process_gone(pid), "the background child survived");
        assert!(h.engine.wait_idle(Duration::from_secs(1)).await);
    })
    .await
    .unwrap();
}

fn interval(logs: &[ProcessOutput]) -> (u128, u128) {
    let find = |p: &str| -> u128 {
        logs.iter()
            .find_map(|l| l.text.strip_prefix(p))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    (find("start "), find("end "))
}

async fn run_pair(h: &H, isolation: i32, name: &str) -> ((u128, u128), (u128, u128)) {
    let body = "echo \"start $(date +%s%N)\"\nsleep 0.4\necho \"end $(date +%s%N)\"\n";
    let mut a = v2_cmd(&format!("{name}A"), body);
    let mut b = v2_cmd(&format!("{name}B"), body);
    a.isolation = isolation;
    b.isolation = isolation;
    call(&h.v2, "StartScript", v2_start(&a)).await.unwrap();
    call(&h.v2, "StartScript", v2_start(&b)).await.unwrap();
    let (la, ea) = v2_collect(h, &format!("{name}A")).await;
    let (lb, eb) = v2_collect(h, &format!("{name}B")).await;
    assert_eq!((ea, eb), (0, 0));
    (interval(&la), interval(&lb))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_isolation_serialises_and_no_isolation_overlaps() {
    tokio::time::timeout(LIMIT, async {
        let h = harness();
        let (a, b) = run_pair(&h, 1, "Full").await;
        assert!(
            a.1 <= b.0 || b.1 <= a.0,
            "full isolation overlapped: {a:?} {b:?}"
        );
        let (a, b) = run_pair(&h, 0, "None").await;
        assert!(
            a.0 < b.1 && b.0 < a.1,
            "no isolation did not overlap: {a:?} {b:?}"
        );
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutex_timeout_gives_the_timeout_exit_code_and_zero_waits_forever() {
    tokio::time::timeout(LIMIT, async {
        let h = harness();
        let mut holder = v2_cmd("Holder", "sleep 1.5\necho done");
        holder.isolation = 1;
        holder.isolation_mutex_name = Some("Shared".into());
        call(&h.v2, "StartScript", v2_start(&holder)).await.unwrap();
        while v2_status(&h, "Holder", 0).await.state != 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut late = v2_cmd("Late", "echo ran");
        late.isolation = 0;
        late.isolation_mutex_name = Some("Shared".into());
        late.script_isolation_mutex_timeout = Some("00:00:00.3000000".into());
        let mut patient = v2_cmd("Patient", "echo ran");
        patient.isolation = 1;
        patient.isolation_mutex_name = Some("Shared".into());
        let mut other = v2_cmd("OtherMutex", "echo ran");
        other.isolation = 1;
        other.script_isolation_mutex_timeout = Some("00:00:00.3000000".into());
        call(&h.v2, "StartScript", v2_start(&late)).await.unwrap();
        call(&h.v2, "StartScript", v2_start(&patient))
            .await
            .unwrap();
        call(&h.v2, "StartScript", v2_start(&other)).await.unwrap();
        let (logs, exit) = v2_collect(&h, "Late").await;
        assert_eq!(exit, exit_codes::TIMEOUT);
        let t = texts(&logs);
        assert!(
            t[0].starts_with("Cannot start this task yet because task [ServerTasks-Holder]"),
            "{t:?}"
        );
        assert!(
            t[1].starts_with("This task waited more than 0 minutes and timed out."),
            "{t:?}"
        );
        assert_eq!(t[2], "Script execution timed out.");
        assert!(!t.contains(&"ran"));
        // A different mutex name is not blocked.
        let (logs, exit) = v2_collect(&h, "OtherMutex").await;
        assert_eq!((texts(&logs), exit), (vec!["ran"], 0));
        // Timeout zero: waits as long as it takes.
        let (logs, exit) = v2_collect(&h, "Patient").await;
        assert_eq!(exit, 0);
        assert_eq!(texts(&logs).last(), Some(&"ran"));
        assert!(logs[0].text.starts_with("Cannot start this task yet"));
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_start_is_idempotent_and_can_wait_for_short_scripts() {
    tokio::time::timeout(LIMIT, async {
        let h = harness();
        let counter = h.home().join("runs.txt");
        let body = format!("echo run >> '{}'\necho hello\n", counter.display());
        let mut cmd = v2_cmd("Once", &body);
        cmd.duration_to_wait_for_script_to_finish = Some("00:00:20".into());
        let r = call(&h.v2, "StartScript", v2_start(&cmd)).await.unwrap();
        let first = status(r, tn::SCRIPT_STATUS_RESPONSE_V2);
        assert_eq!(
            (first.state, first.exit_code),
            (2, 0),
            "waited for completion"
        );
        assert_eq!(texts(&first.logs), ["hello"]);
        assert_eq!(first.ticket.task_id.as_deref(), Some("Once"));
        // Again, with another case: the same ticket, nothing runs, logs from 0 (O13).
        let mut again = v2_cmd("ONCE", &body);
        again.duration_to_wait_for_script_to_finish = Some("00:00:20".into());
        let r = call(&h.v2, "StartScript", v2_start(&again)).await.unwrap();
        let second = status(r, tn::SCRIPT_STATUS_RESPONSE_V2);
        assert_eq!((second.state, texts(&second.logs)), (2, vec!["hello"]));
        assert_eq!(std::fs::read_to_string(&counter).unwrap(), "run\n");

        // The wait is bounded by the duration.
        let mut slow = v2_cmd("Slow", "sleep 30");
        slow.duration_to_wait_for_script_to_finish = Some("00:00:00.3000000".into());
        let t0 = Instant::now();
        let r = call(&h.v2, "StartScript", v2_start(&slow)).await.unwrap();
        let s = status(r, tn::SCRIPT_STATUS_RESPONSE_V2);
        assert!(t0.elapsed() >= Duration::from_millis(250));
        assert!(t0.elapsed() < Duration::from_secs(10));
        assert_eq!((s.state, s.exit_code), (1, 0));
        // CompleteScript returns null and removes the workspace (stopping a running script).
        let r = call(
            &h.v2,
            "CompleteScript",
            to_typed(
                tn::COMPLETE_SCRIPT_COMMAND_V2,
                &TicketRequest {
                    ticket: ticket("Slow"),
                    last_log_sequence: None,
                },
            )
            .unwrap(),
        )
        .await
        .unwrap();
        assert_eq!(r, None);
        assert!(!h.home().join("Work/Slow").exists());
        assert_eq!(h.engine.running(), 0);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_tickets_and_bad_requests() {
    tokio::time::timeout(LIMIT, async {
        let h = harness();
        let s = v2_status(&h, "NeverHeardOf", 5).await;
        assert_eq!(
            (s.state, s.exit_code, s.next_log_sequence),
            (2, exit_codes::UNKNOWN_SCRIPT, 5)
        );
        assert!(s.logs.is_empty());
        let r = call(
            &h.v2,
            "CancelScript",
            ticket_req(tn::CANCEL_SCRIPT_COMMAND_V2, "NeverHeardOf", Some(0)),
        )
        .await
        .unwrap();
        assert_eq!(
            status(r, tn::SCRIPT_STATUS_RESPONSE_V2).exit_code,
            exit_codes::UNKNOWN_SCRIPT
        );
        // V1 keeps state in memory only: an unknown ticket is Complete with 0 (contract §6.4).
        let r = call(
            &h.v1,
            "GetStatus",
            ticket_req(tn::SCRIPT_STATUS_REQUEST, "NeverHeardOf", Some(0)),
        )
        .await
        .unwrap();
        let s = status(r, tn::SCRIPT_STATUS_RESPONSE);
        assert_eq!((s.state, s.exit_code), (2, 0));

        let bad = [
            (
                ticket_req(tn::SCRIPT_STATUS_REQUEST_V2, "../etc", Some(0)),
                "not valid",
            ),
            (
                ticket_req(tn::SCRIPT_STATUS_REQUEST_V2, "", Some(0)),
                "no Ticket",
            ),
            (Bson::String("x".into()), "must be a document"),
            (doc! {"Ticket": "oops"}.into(), "cannot read"),
        ];
        for (param, text) in bad {
            let e = call(&h.v2, "GetStatus", param).await.unwrap_err();
            assert!(
                matches!(&e, ServiceError::BadArguments(m) if m.contains(text)),
                "{e:?}"
            );
        }
        let e =
            h.v2.call("GetStatus", Vec::new(), Vec::new())
                .await
                .unwrap_err();
        assert!(matches!(e, ServiceError::BadArguments(_)));
        let e = h.v1.call("Nope", Vec::new(), Vec::new()).await.unwrap_err();
        assert!(matches!(e, ServiceError::MethodNotFound));
        let mut cmd = v2_cmd("Iso", "true");
        cmd.isolation = 7;
        let e = call(&h.v2, "StartScript", v2_start(&cmd))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, ServiceError::BadArguments(m) if m.contains("Isolation")),
            "{e:?}"
        );
        let mut cmd = v2_cmd("Span", "true");
        cmd.script_isolation_mutex_timeout = Some("soon".into());
        let e = call(&h.v2, "StartScript", v2_start(&cmd))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, ServiceError::BadArguments(m) if m.contains("TimeSpan")),
            "{e:?}"
        );
        let mut cmd = v2_cmd("NoBody", "true");
        cmd.script_body = None;
        let e = call(&h.v2, "StartScript", v2_start(&cmd))
            .await
            .unwrap_err();
        assert!(matches!(e, ServiceError::BadArguments(_)));
        // Nothing was created for the rejected requests.
        assert!(!h.home().join("Work/Iso").exists());
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_a_restart_and_old_workspaces_are_cleaned() {
    tokio::time::timeout(LIMIT, async {
        let h = harness();
        let (_, exit) = v2_run(&h, &v2_cmd("Done", "echo finished; exit 4")).await;
        assert_eq!(exit, 4);
        call(&h.v2, "StartScript", v2_start(&v2_cmd("Busy", "sleep 30")))
            .await
            .unwrap();
        while v2_status(&h, "Busy", 0).await.state != 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(h.engine.running(), 1);
        assert!(!h.engine.wait_idle(Duration::from_millis(200)).await);

        // A new engine on the same home: as after an agent restart.
        let fresh = ScriptEngine::new(context(h.home()));
        let v2 = ScriptServiceV2::new(fresh.clone());
        let get = |t: &'static str| {
            let v2 = v2.clone();
            async move {
                let r = call(
                    &v2,
                    "GetStatus",
                    ticket_req(tn::SCRIPT_STATUS_REQUEST_V2, t, Some(0)),
                )
                .await
                .unwrap();
                status(r, tn::SCRIPT_STATUS_RESPONSE_V2)
            }
        };
        let done = get("Done").await;
        assert_eq!(
            (done.state, done.exit_code, texts(&done.logs)),
            (2, 4, vec!["finished"])
        );
        let busy = get("Busy").await;
        assert_eq!(
            (busy.state, busy.exit_code),
            (2, exit_codes::UNKNOWN_RESULT)
        );
        // StartScript for a persisted ticket does not run it again.
        let r = call(&v2, "StartScript", v2_start(&v2_cmd("Done", "echo again")))
            .await
            .unwrap();
        assert_eq!(
            texts(&status(r, tn::SCRIPT_STATUS_RESPONSE_V2).logs),
            ["finished"]
        );

        // The cleaner spares the running script's workspace.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut removed = h.engine.clean_workspaces(Duration::from_millis(1)).await;
        removed.sort();
        assert_eq!(removed, ["Done"]);
        assert!(h.home().join("Work/Busy").exists());
        call(
            &h.v2,
            "CancelScript",
            ticket_req(tn::CANCEL_SCRIPT_COMMAND_V2, "Busy", Some(0)),
        )
        .await
        .unwrap();
        assert!(h.engine.wait_idle(Duration::from_secs(20)).await);
        assert_eq!(h.engine.running(), 0);
    })
    .await
    .unwrap();
}
