//! Service-level tests of the script services: requests built as Octopus sends them (legacy `$type`s, int32/int64 widths, TimeSpan strings), driven through `Service::call`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ::bson::{Bson, doc};

use super::contracts::{
    ProcessOutput, ScriptFile, ScriptStatusResponse, ScriptTicket, StartScriptCommand,
    StartScriptCommandV2, TicketRequest, type_names as tn,
};
use super::log::MAX_PAGE_LINES;
use super::{ScriptEngine, ScriptServiceV1, ScriptServiceV2};
use crate::agent::AgentContext;
use crate::halibut::bson::{from_bson, to_typed, type_of};
use crate::halibut::connection::{Connection, Limits, OutgoingStream, ReceivedStream};
use crate::halibut::message::{Envelope, RequestMessage};
use crate::halibut::rpc::{Service, ServiceError};
use crate::instance::{ProxyMode, ProxySettings};

mod hostile;
mod lifecycle;

pub(super) const LIMIT: Duration = Duration::from_secs(90);

pub(super) struct H {
    pub(super) dir: tempfile::TempDir,
    pub(super) engine: Arc<ScriptEngine>,
    pub(super) v1: ScriptServiceV1,
    pub(super) v2: ScriptServiceV2,
}

pub(super) fn context(home: &Path) -> AgentContext {
    AgentContext {
        instance: "Test Instance".into(),
        config_path: home.join("tentacle.config"),
        home: home.to_path_buf(),
        application_directory: home.join("Applications"),
        work_dir: home.join("Work"),
        temp_dir: home.join("Temp"),
        executable: PathBuf::from("/opt/octopus/tentacle/tentacle"),
        proxy: ProxySettings {
            mode: ProxyMode::Custom,
            host: Some("proxy.example".into()),
            port: Some(3128),
            username: Some("puser".into()),
            password: Some("ppass".into()),
        },
        tentacle_version: "8.3.3407".into(),
    }
}

pub(super) fn harness() -> H {
    let dir = tempfile::tempdir().unwrap();
    let engine = ScriptEngine::new(context(dir.path()));
    H {
        v1: ScriptServiceV1::new(engine.clone()),
        v2: ScriptServiceV2::new(engine.clone()),
        engine,
        dir,
    }
}

impl H {
    pub(super) fn home(&self) -> &Path {
        self.dir.path()
    }
}

pub(super) fn ticket(t: &str) -> Option<ScriptTicket> {
    Some(ScriptTicket {
        task_id: Some(t.into()),
    })
}

pub(super) fn v1_start(bash: &str, args: &[&str]) -> Bson {
    to_typed(
        tn::START_SCRIPT_COMMAND,
        &StartScriptCommand {
            script_body: Some("Write-Host 'windows'".into()),
            isolation: 1,
            scripts: Some(doc! {"PowerShell": "Write-Host 'windows'", "Bash": bash}),
            files: Some(Vec::new()),
            arguments: Some(args.iter().map(|s| s.to_string()).collect()),
            task_id: Some("ServerTasks-123".into()),
            script_isolation_mutex_timeout: Some("00:00:00".into()),
            isolation_mutex_name: None,
        },
    )
    .unwrap()
}

pub(super) fn v2_cmd(t: &str, bash: &str) -> StartScriptCommandV2 {
    StartScriptCommandV2 {
        script_ticket: ticket(t),
        script_body: Some(bash.into()),
        task_id: Some(format!("ServerTasks-{t}")),
        duration_to_wait_for_script_to_finish: None,
        isolation: 0,
        script_isolation_mutex_timeout: Some("00:00:00".into()),
        isolation_mutex_name: None,
        scripts: Some(doc! {}),
        files: Some(Vec::new()),
        arguments: None,
    }
}

pub(super) fn v2_start(cmd: &StartScriptCommandV2) -> Bson {
    to_typed(tn::START_SCRIPT_COMMAND_V2, cmd).unwrap()
}

pub(super) fn ticket_req(type_name: &str, t: &str, seq: Option<i64>) -> Bson {
    to_typed(
        type_name,
        &TicketRequest {
            ticket: ticket(t),
            last_log_sequence: seq,
        },
    )
    .unwrap()
}

pub(super) async fn call(
    svc: &dyn Service,
    method: &str,
    param: Bson,
) -> Result<Option<Bson>, ServiceError> {
    svc.call(method, vec![param], Vec::new())
        .await
        .map(|r| r.result)
}

pub(super) fn status(b: Option<Bson>, expected_type: &str) -> ScriptStatusResponse {
    let b = b.expect("a result");
    assert_eq!(type_of(b.as_document().unwrap()), Some(expected_type));
    from_bson(b).unwrap()
}

pub(super) async fn v2_status(h: &H, t: &str, seq: i64) -> ScriptStatusResponse {
    let r = call(
        &h.v2,
        "GetStatus",
        ticket_req(tn::SCRIPT_STATUS_REQUEST_V2, t, Some(seq)),
    )
    .await
    .unwrap();
    status(r, tn::SCRIPT_STATUS_RESPONSE_V2)
}

/// Polls V2 GetStatus to Complete; returns every log entry and the exit code.
pub(super) async fn v2_collect(h: &H, t: &str) -> (Vec<ProcessOutput>, i32) {
    let mut seq = 0;
    let mut logs = Vec::new();
    loop {
        let r = v2_status(h, t, seq).await;
        assert!(r.logs.len() <= MAX_PAGE_LINES);
        assert_eq!(r.next_log_sequence, seq + r.logs.len() as i64);
        seq = r.next_log_sequence;
        logs.extend(r.logs);
        if r.state == 2 {
            return (logs, r.exit_code);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(super) async fn v2_run(h: &H, cmd: &StartScriptCommandV2) -> (Vec<ProcessOutput>, i32) {
    let t = cmd.script_ticket.clone().unwrap().task_id.unwrap();
    let r = call(&h.v2, "StartScript", v2_start(cmd)).await.unwrap();
    status(r, tn::SCRIPT_STATUS_RESPONSE_V2);
    v2_collect(h, &t).await
}

pub(super) fn texts(logs: &[ProcessOutput]) -> Vec<&str> {
    logs.iter().map(|l| l.text.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_runs_bash_with_arguments_and_reports_output_sources_and_exit_code() {
    tokio::time::timeout(LIMIT, async {
        let h = harness();
        let r = call(
            &h.v1,
            "StartScript",
            v1_start(
                "echo \"out:$1:$2\"\necho oops >&2\r\nexit 3\n",
                &["a b", "c"],
            ),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(type_of(r.as_document().unwrap()), Some(tn::SCRIPT_TICKET));
        let t: ScriptTicket = from_bson(r).unwrap();
        let t = t.task_id.unwrap();
        let parts: Vec<&str> = t.split('-').collect();
        assert_eq!(parts.len(), 3, "{t}");
        assert_eq!(parts[0].len(), 14);
        assert_eq!(parts[1], "123");
        let mut seq = 0;
        let mut logs = Vec::new();
        let exit = loop {
            let r = call(
                &h.v1,
                "GetStatus",
                ticket_req(tn::SCRIPT_STATUS_REQUEST, &t, Some(seq)),
            )
            .await
            .unwrap();
            let r = status(r, tn::SCRIPT_STATUS_RESPONSE);
            seq = r.next_log_sequence;
            logs.extend(r.logs);
            if r.state == 2 {
                break r.exit_code;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(exit, 3);
        let out = logs.iter().find(|l| l.text == "out:a b:c").unwrap();
        assert_eq!(out.source, 0);
        let err = logs.iter().find(|l| l.text == "oops").unwrap();
        assert_eq!(err.source, 1);
        let age = ::bson::DateTime::now().timestamp_millis() - out.occurred.timestamp_millis();
        assert!((0..60_000).contains(&age));
        let ws = h.home().join("Work").join(&t);
        assert!(ws.join("Bootstrap.sh").is_file());
        let r = call(
            &h.v1,
            "CompleteScript",
            ticket_req(tn::COMPLETE_SCRIPT_COMMAND, &t, Some(0)),
        )
        .await
        .unwrap();
        let fin = status(r, tn::SCRIPT_STATUS_RESPONSE);
        assert_eq!((fin.state, fin.exit_code), (2, 3));
        assert_eq!(
            fin.logs.len(),
            logs.len(),
            "final logs from the caller's sequence"
        );
        assert!(!ws.exists(), "CompleteScript deletes the workspace");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_see_the_exported_environment() {
    tokio::time::timeout(LIMIT, async {
        let h = harness();
        let vars = [
            "TentacleHome",
            "TentacleApplications",
            "TentacleInstanceName",
            "TentacleVersion",
            "TentacleExecutablePath",
            "TentacleProgramDirectoryPath",
            "AgentProgramDirectoryPath",
            "TentacleJournal",
            "CalamariPackageRetentionJournalPath",
            "TentacleCertificateSignatureAlgorithm",
            "TentacleUseDefaultProxy",
            "TentacleProxyUsername",
            "TentacleProxyPassword",
            "TentacleProxyHost",
            "TentacleProxyPort",
        ];
        let script: String = vars
            .iter()
            .map(|v| format!("echo \"{v}=${v}\"\n"))
            .collect();
        let (logs, exit) = v2_run(&h, &v2_cmd("EnvTicket", &script)).await;
        assert_eq!(exit, 0);
        let home = h.home().display().to_string();
        let expected = [
            format!("TentacleHome={home}"),
            format!("TentacleApplications={home}/Applications"),
            "TentacleInstanceName=Test Instance".into(),
            "TentacleVersion=8.3.3407".into(),
            "TentacleExecutablePath=/opt/octopus/tentacle/tentacle".into(),
            "TentacleProgramDirectoryPath=/opt/octopus/tentacle".into(),
            "AgentProgramDirectoryPath=/opt/octopus/tentacle".into(),
            format!("TentacleJournal={home}/DeploymentJournal.xml"),
            format!("CalamariPackageRetentionJournalPath={home}/PackageRetentionJournal.json"),
            "TentacleCertificateSignatureAlgorithm=sha256RSA".into(),
            "TentacleUseDefaultProxy=False".into(),
            "TentacleProxyUsername=puser".into(),
            "TentacleProxyPassword=ppass".into(),
            "TentacleProxyHost=proxy.example".into(),
            "TentacleProxyPort=3128".into(),
        ];
        assert_eq!(texts(&logs), expected);
    })
    .await
    .unwrap();
}

/// Sends `param` as a real Halibut request with `streams` and reads it back, so the
/// DataStreams arrive as spooled `ReceivedStream`s matched by placeholder id.
pub(super) async fn over_the_wire(
    temp: &Path,
    method: &str,
    param: Bson,
    streams: Vec<OutgoingStream>,
) -> (RequestMessage, Vec<ReceivedStream>) {
    std::fs::create_dir_all(temp).unwrap();
    let limits = Limits {
        temp_dir: temp.to_path_buf(),
        ..Limits::default()
    };
    let (a, b) = tokio::io::duplex(1 << 16);
    let mut tx = Connection::new(a, limits.clone());
    let mut rx = Connection::new(b, limits);
    let req = RequestMessage::new("IScriptServiceV2", method, vec![param], 1);
    let send = tokio::spawn(async move {
        tx.send_message(&Envelope::Request(req), streams)
            .await
            .unwrap();
        tx
    });
    let (env, received) = rx
        .read_message(Duration::from_secs(10), Duration::from_secs(10))
        .await
        .unwrap()
        .unwrap();
    drop(send.await.unwrap());
    let Envelope::Request(req) = env else {
        panic!("not a request")
    };
    (req, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn script_files_arrive_through_data_streams_and_cannot_escape() {
    tokio::time::timeout(LIMIT, async {
        let h = harness();
        let (s1, p1) = OutgoingStream::bytes(b"first file\n".to_vec());
        let (s2, p2) = OutgoingStream::bytes(b"second\n".to_vec());
        let mut cmd = v2_cmd("FilesTicket", "cat data.txt sub/more.txt");
        cmd.files = Some(vec![
            ScriptFile {
                name: Some("data.txt".into()),
                contents: Some(p1.to_bson().as_document().unwrap().clone()),
                encryption_password: None,
            },
            ScriptFile {
                name: Some("sub\\more.txt".into()),
                contents: Some(p2.to_bson().as_document().unwrap().clone()),
                encryption_password: None,
            },
        ]);
        let temp = h.home().join("Temp");
        let (req, streams) =
            over_the_wire(&temp, "StartScript", v2_start(&cmd), vec![s2, s1]).await;
        assert_eq!(streams.len(), 2);
        let r = h.v2.call(&req.method, req.params, streams).await.unwrap();
        status(r.result, tn::SCRIPT_STATUS_RESPONSE_V2);
        let (logs, exit) = v2_collect(&h, "FilesTicket").await;
        assert_eq!((texts(&logs), exit), (vec!["first file", "second"], 0));
        assert_eq!(
            std::fs::read_dir(&temp).unwrap().count(),
            0,
            "spool files moved"
        );

        for bad in ["../escape.txt", "/etc/evil", "a/../../b"] {
            let (s, p) = OutgoingStream::bytes(b"x".to_vec());
            let mut cmd = v2_cmd("EscapeTicket", "true");
            cmd.files = Some(vec![ScriptFile {
                name: Some(bad.into()),
                contents: Some(p.to_bson().as_document().unwrap().clone()),
                encryption_password: None,
            }]);
            let (req, streams) = over_the_wire(&temp, "StartScript", v2_start(&cmd), vec![s]).await;
            let e =
                h.v2.call(&req.method, req.params, streams)
                    .await
                    .unwrap_err();
            assert!(
                matches!(&e, ServiceError::BadArguments(m) if m.contains("not allowed")),
                "{e:?}"
            );
        }
        assert!(!h.home().join("Work").join("EscapeTicket").exists());
        assert!(!h.home().join("escape.txt").exists());
        // A placeholder with no stream behind it.
        let mut cmd = v2_cmd("NoStream", "true");
        cmd.files = Some(vec![ScriptFile {
            name: Some("x".into()),
            contents: Some(
                OutgoingStream::bytes(vec![1])
                    .1
                    .to_bson()
                    .as_document()
                    .unwrap()
                    .clone(),
            ),
            encryption_password: None,
        }]);
        let e = call(&h.v2, "StartScript", v2_start(&cmd))
            .await
            .unwrap_err();
        assert!(matches!(e, ServiceError::BadArguments(_)), "{e:?}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_output_is_paged_in_order_without_gaps() {
    tokio::time::timeout(LIMIT, async {
        let h = harness();
        let mut cmd = v2_cmd("Flood", "seq 1 200000");
        cmd.duration_to_wait_for_script_to_finish = Some("00:00:30".into());
        let r = call(&h.v2, "StartScript", v2_start(&cmd)).await.unwrap();
        let first = status(r, tn::SCRIPT_STATUS_RESPONSE_V2);
        // Finished, but the first page cannot hold everything: not reported Complete yet.
        assert_eq!(first.logs.len(), MAX_PAGE_LINES);
        assert_eq!((first.state, first.exit_code), (1, 0));
        let (logs, exit) = v2_collect(&h, "Flood").await;
        assert_eq!(exit, 0);
        assert_eq!(logs.len(), 200_000);
        for (i, l) in logs.iter().enumerate() {
            assert_eq!(l.text, (i + 1).to_string());
        }
        // The log lives on disk.
        let size = std::fs::metadata(h.home().join("Work/Flood/Output.log"))
            .unwrap()
            .len();
        assert!(size > 200_000 * 20, "{size}");
    })
    .await
    .unwrap();
}
