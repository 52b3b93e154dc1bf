//! An Octopus Server simulator built on the comms engine: it calls a listening Tentacle, queues work for polling ones (TCP and WebSocket), and speaks the Tentacle contracts as the real server does.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use bson::{Bson, doc};
use tentacle_core::certificate::{TentacleCertificate, generate};
use tentacle_core::halibut::HalibutError;
use tentacle_core::halibut::client::{CallResult, Endpoint, HalibutClient};
use tentacle_core::halibut::connection::{Limits, OutgoingStream, Timeouts};
use tentacle_core::halibut::listen::{Acceptor, TrustedPeers};
use tentacle_core::halibut::queue::PollingQueues;
use tentacle_core::halibut::rpc::ServiceTable;
use tentacle_core::halibut::{tls, welcome};
use tentacle_core::trust::Thumbprint;
use tokio::sync::watch;

/// Which Tentacle to call.
#[derive(Debug, Clone)]
pub enum Target {
    /// A listening Tentacle at this endpoint.
    Listening(Endpoint),
    /// A polling Tentacle with this subscription id.
    Polling(String),
}

/// What a script run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptRun {
    /// The exit code.
    pub exit_code: i64,
    /// Output lines in order.
    pub lines: Vec<String>,
}

fn as_document(v: Option<Bson>) -> Result<bson::Document, HalibutError> {
    match v {
        Some(Bson::Document(d)) => Ok(d),
        other => Err(HalibutError::DataStream(format!(
            "expected a status document, got {other:?}"
        ))),
    }
}

/// One simulated Octopus Server with a TCP polling port and a WebSocket polling port.
pub struct Octopus {
    /// The server's Halibut certificate.
    pub cert: TentacleCertificate,
    /// Calls Tentacles.
    pub client: HalibutClient,
    /// Requests waiting for polling Tentacles.
    pub queues: Arc<PollingQueues>,
    /// Polling over TCP.
    pub polling_port: u16,
    /// Polling over WebSockets (`wss://127.0.0.1:PORT/OctopusComms`).
    pub websocket_port: u16,
    /// Tentacles allowed to poll.
    pub trusted: TrustedPeers,
    stop: watch::Sender<bool>,
}

impl Drop for Octopus {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

fn bind_port(port: u16) -> std::io::Result<std::net::TcpListener> {
    let l = std::net::TcpListener::bind(("127.0.0.1", port))?;
    l.set_nonblocking(true)?;
    Ok(l)
}

impl Octopus {
    /// Starts a server with a fresh certificate.
    pub async fn start() -> Octopus {
        Octopus::start_with(generate().expect("generate the server certificate"), 0).await
    }

    /// Starts a server with `cert`, polling on `port` (0 = any free port).
    pub async fn start_with(cert: TentacleCertificate, port: u16) -> Octopus {
        let queues = PollingQueues::new();
        let trusted = TrustedPeers::default();
        let make = || {
            Arc::new(Acceptor {
                tls: tls::server_config(&cert).expect("server TLS config"),
                trusted: trusted.clone(),
                services: Arc::new(ServiceTable::new()),
                queues: Some(queues.clone()),
                timeouts: Timeouts {
                    polling_queue_wait: Duration::from_secs(2),
                    ..Timeouts::default()
                },
                limits: Limits::default(),
                max_connections: 64,
                welcome: Arc::new(welcome::response()),
                accepted: Arc::new(AtomicUsize::new(0)),
                contacts: Default::default(),
            })
        };
        let mut tcp = None;
        for _ in 0..100 {
            match bind_port(port) {
                Ok(l) => {
                    tcp = Some(l);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let tcp = tokio::net::TcpListener::from_std(tcp.expect("bind the polling port"))
            .expect("tokio listener");
        let ws = tokio::net::TcpListener::from_std(bind_port(0).expect("bind the WebSocket port"))
            .expect("tokio listener");
        let polling_port = tcp.local_addr().expect("addr").port();
        let websocket_port = ws.local_addr().expect("addr").port();
        let (stop, rx) = watch::channel(false);
        tokio::spawn(make().run(tcp, rx.clone()));
        tokio::spawn(make().run_websocket(ws, rx));
        let mut client = HalibutClient::new(cert.clone());
        client.retry_sleep = Duration::from_millis(200);
        client.timeouts.polling_request_queue = Duration::from_secs(30);
        Octopus {
            cert,
            client,
            queues,
            polling_port,
            websocket_port,
            trusted,
            stop,
        }
    }

    /// Lets a Tentacle with this thumbprint poll.
    pub fn trust(&self, tentacle: Thumbprint) {
        self.trusted.add(tentacle);
    }

    /// Stops accepting and drops live polling connections' acceptor loops.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    async fn call(
        &self,
        target: &Target,
        service: &str,
        method: &str,
        params: Vec<Bson>,
        streams: Vec<OutgoingStream>,
    ) -> CallResult {
        match target {
            Target::Listening(ep) => self.client.call(ep, service, method, params, streams).await,
            Target::Polling(sub) => {
                self.client
                    .call_polling(&self.queues, sub, service, method, params, streams)
                    .await
            }
        }
    }

    /// The health check's first call.
    pub async fn capabilities(&self, target: &Target) -> Result<Vec<String>, HalibutError> {
        let (r, _) = self
            .call(
                target,
                "ICapabilitiesServiceV2",
                "GetCapabilities",
                vec![],
                vec![],
            )
            .await?;
        let doc = match r {
            Some(Bson::Document(d)) => d,
            other => {
                return Err(HalibutError::DataStream(format!(
                    "unexpected capabilities result {other:?}"
                )));
            }
        };
        Ok(doc
            .get_array("SupportedCapabilities")
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Starts a bash script through IScriptServiceV2; returns the ticket and the first status.
    pub async fn start_script(
        &self,
        target: &Target,
        bash: &str,
        task: &str,
    ) -> Result<(bson::Document, bson::Document), HalibutError> {
        self.start_scripts(target, doc! { "Bash": bash }, task)
            .await
    }

    /// Starts a script with these `Scripts` bodies (`{"PowerShell": ..., "Bash": ...}`).
    pub async fn start_scripts(
        &self,
        target: &Target,
        scripts: bson::Document,
        task: &str,
    ) -> Result<(bson::Document, bson::Document), HalibutError> {
        let ticket = doc! { "TaskId": task };
        let start = doc! {
            "$type": "Octopus.Tentacle.Contracts.ScriptServiceV2.StartScriptCommandV2, Octopus.Tentacle.Contracts",
            "ScriptTicket": ticket.clone(),
            "ScriptBody": "",
            "TaskId": task,
            "DurationToWaitForScriptToFinish": Bson::Null,
            "Isolation": 0i32,
            "ScriptIsolationMutexTimeout": "00:10:00",
            "IsolationMutexName": Bson::Null,
            "Scripts": scripts,
            "Files": [],
            "Arguments": [],
        };
        let (status, _) = self
            .call(
                target,
                "IScriptServiceV2",
                "StartScript",
                vec![Bson::Document(start)],
                vec![],
            )
            .await?;
        Ok((ticket, as_document(status)?))
    }

    /// One CancelScript call; returns the status it answered.
    pub async fn cancel_script(
        &self,
        target: &Target,
        ticket: &bson::Document,
    ) -> Result<bson::Document, HalibutError> {
        let req = doc! {
            "$type": "Octopus.Tentacle.Contracts.ScriptServiceV2.CancelScriptCommandV2, Octopus.Tentacle.Contracts",
            "Ticket": ticket.clone(),
            "LastLogSequence": 0i64,
        };
        as_document(
            self.call(
                target,
                "IScriptServiceV2",
                "CancelScript",
                vec![Bson::Document(req)],
                vec![],
            )
            .await?
            .0,
        )
    }

    /// One GetStatus call.
    pub async fn script_status(
        &self,
        target: &Target,
        ticket: &bson::Document,
        last: i64,
    ) -> Result<bson::Document, HalibutError> {
        let req = doc! {
            "$type": "Octopus.Tentacle.Contracts.ScriptServiceV2.ScriptStatusRequestV2, Octopus.Tentacle.Contracts",
            "Ticket": ticket.clone(),
            "LastLogSequence": last,
        };
        as_document(
            self.call(
                target,
                "IScriptServiceV2",
                "GetStatus",
                vec![Bson::Document(req)],
                vec![],
            )
            .await?
            .0,
        )
    }

    /// Polls a started script to completion (collecting its log lines), then completes it.
    pub async fn finish_script(
        &self,
        target: &Target,
        ticket: &bson::Document,
        first: bson::Document,
        mut lines: Vec<String>,
    ) -> Result<ScriptRun, HalibutError> {
        let mut status = first;
        let mut next = 0i64;
        for _ in 0..600 {
            if let Ok(logs) = status.get_array("Logs") {
                for l in logs {
                    if let Some(text) = l.as_document().and_then(|e| e.get_str("Text").ok()) {
                        lines.push(text.to_owned());
                    }
                }
            }
            next = status.get_i64("NextLogSequence").unwrap_or(next);
            // ProcessState: 0 Pending, 1 Running, 2 Complete.
            if status.get_i32("State").unwrap_or(0) == 2 {
                let exit_code = status.get_i32("ExitCode").map(i64::from).unwrap_or(-1);
                let complete = doc! {
                    "$type": "Octopus.Tentacle.Contracts.ScriptServiceV2.CompleteScriptCommandV2, Octopus.Tentacle.Contracts",
                    "Ticket": ticket.clone(),
                };
                self.call(
                    target,
                    "IScriptServiceV2",
                    "CompleteScript",
                    vec![Bson::Document(complete)],
                    vec![],
                )
                .await?;
                return Ok(ScriptRun { exit_code, lines });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            status = self.script_status(target, ticket, next).await?;
        }
        Err(HalibutError::DataStream(
            "the script did not complete within 60 s".into(),
        ))
    }

    /// Runs a bash script through IScriptServiceV2 as Octopus does: start, poll status, complete.
    pub async fn run_script(
        &self,
        target: &Target,
        bash: &str,
        task: &str,
    ) -> Result<ScriptRun, HalibutError> {
        let (ticket, first) = self.start_script(target, bash, task).await?;
        self.finish_script(target, &ticket, first, Vec::new()).await
    }

    /// Uploads bytes; returns the UploadResult document.
    pub async fn upload(
        &self,
        target: &Target,
        remote_path: &str,
        data: Vec<u8>,
    ) -> Result<bson::Document, HalibutError> {
        let (stream, placeholder) = OutgoingStream::bytes(data);
        let (r, _) = self
            .call(
                target,
                "IFileTransferService",
                "UploadFile",
                vec![
                    Bson::String(remote_path.into()),
                    placeholder.to_bson_typed(),
                ],
                vec![stream],
            )
            .await?;
        match r {
            Some(Bson::Document(d)) => Ok(d),
            other => Err(HalibutError::DataStream(format!(
                "unexpected upload result {other:?}"
            ))),
        }
    }

    /// Downloads a file; `None` when it does not exist.
    pub async fn download(
        &self,
        target: &Target,
        remote_path: &str,
    ) -> Result<Option<Vec<u8>>, HalibutError> {
        let (r, streams) = self
            .call(
                target,
                "IFileTransferService",
                "DownloadFile",
                vec![Bson::String(remote_path.into())],
                vec![],
            )
            .await?;
        match (r, streams.first()) {
            (None, _) => Ok(None),
            (Some(_), Some(s)) => std::fs::read(s.path())
                .map(Some)
                .map_err(|e| HalibutError::DataStream(e.to_string())),
            (Some(_), None) => Err(HalibutError::DataStream(
                "a download result without its DataStream".into(),
            )),
        }
    }
}
