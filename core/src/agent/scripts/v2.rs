//! `IScriptServiceV2`: the client mints the ticket, StartScript is idempotent and may wait for short scripts, state is persisted in `scriptstate.json`, CompleteScript returns null.

use std::sync::Arc;

use ::bson::Bson;

use super::ScriptError;
use super::contracts::{
    StartScriptCommandV2, TicketRequest, isolation, platform_script, require_ticket, single_param,
    timespan, type_names,
};
use super::engine::{ScriptEngine, StartRequest, UnknownPolicy};
use super::isolation::DEFAULT_MUTEX_NAME;
use super::v1::typed;
use crate::halibut::connection::ReceivedStream;
use crate::halibut::rpc::{BoxFuture, Reply, Service, ServiceError};

/// The V2 script service.
#[derive(Debug, Clone)]
pub struct ScriptServiceV2 {
    engine: Arc<ScriptEngine>,
}

impl ScriptServiceV2 {
    /// The service over a shared engine.
    pub fn new(engine: Arc<ScriptEngine>) -> ScriptServiceV2 {
        ScriptServiceV2 { engine }
    }

    async fn start(
        &self,
        params: Vec<Bson>,
        streams: Vec<ReceivedStream>,
    ) -> Result<Bson, ScriptError> {
        let cmd: StartScriptCommandV2 = single_param(params, "StartScriptCommandV2")?;
        let ticket = require_ticket(cmd.script_ticket, "StartScriptCommandV2")?;
        let wait = match cmd.duration_to_wait_for_script_to_finish.as_deref() {
            None => None,
            Some(s) => Some(timespan(Some(s), "DurationToWaitForScriptToFinish")?),
        };
        let script = platform_script(cmd.scripts.as_ref(), cmd.script_body.as_deref())
            .ok_or_else(|| {
                ScriptError::BadRequest(
                    "the StartScriptCommandV2 has neither a script for this platform in Scripts nor a ScriptBody".into(),
                )
            })?;
        let req = StartRequest {
            task_id: cmd
                .task_id
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| ticket.clone()),
            ticket: ticket.clone(),
            script,
            arguments: cmd.arguments.unwrap_or_default(),
            isolation: isolation(cmd.isolation)?,
            mutex_timeout: timespan(
                cmd.script_isolation_mutex_timeout.as_deref(),
                "ScriptIsolationMutexTimeout",
            )?,
            mutex_name: cmd
                .isolation_mutex_name
                .unwrap_or_else(|| DEFAULT_MUTEX_NAME.to_owned()),
            files: cmd.files.unwrap_or_default(),
            streams,
        };
        // A retried StartScript for a known ticket just reports (O13: logs from 0).
        self.engine.start(req).await?;
        if let Some(limit) = wait {
            self.engine.wait_for_completion(&ticket, limit).await;
        }
        let snapshot = self.engine.status(&ticket, 0, UnknownPolicy::V2).await?;
        typed(
            type_names::SCRIPT_STATUS_RESPONSE_V2,
            &snapshot.into_response(),
        )
    }

    async fn status_or_cancel(&self, cancel: bool, params: Vec<Bson>) -> Result<Bson, ScriptError> {
        let what = if cancel {
            "CancelScriptCommandV2"
        } else {
            "ScriptStatusRequestV2"
        };
        let req: TicketRequest = single_param(params, what)?;
        let ticket = require_ticket(req.ticket, what)?;
        let after = req.last_log_sequence.unwrap_or(0);
        let snapshot = if cancel {
            self.engine
                .cancel(&ticket, after, UnknownPolicy::V2)
                .await?
        } else {
            self.engine
                .status(&ticket, after, UnknownPolicy::V2)
                .await?
        };
        typed(
            type_names::SCRIPT_STATUS_RESPONSE_V2,
            &snapshot.into_response(),
        )
    }

    async fn complete(&self, params: Vec<Bson>) -> Result<(), ScriptError> {
        let req: TicketRequest = single_param(params, "CompleteScriptCommandV2")?;
        let ticket = require_ticket(req.ticket, "CompleteScriptCommandV2")?;
        self.engine
            .complete(&ticket, i64::MAX, UnknownPolicy::V2)
            .await?;
        Ok(())
    }
}

impl Service for ScriptServiceV2 {
    fn name(&self) -> &str {
        "IScriptServiceV2"
    }

    fn type_name(&self) -> &str {
        "Octopus.Tentacle.Services.Scripts.ScriptServiceV2"
    }

    fn call<'a>(
        &'a self,
        method: &'a str,
        params: Vec<Bson>,
        streams: Vec<ReceivedStream>,
    ) -> BoxFuture<'a, Result<Reply, ServiceError>> {
        Box::pin(async move {
            let r = match crate::halibut::rpc::method_key(method).as_str() {
                "startscript" => self.start(params, streams).await.map(Reply::value),
                "getstatus" => self.status_or_cancel(false, params).await.map(Reply::value),
                "cancelscript" => self.status_or_cancel(true, params).await.map(Reply::value),
                "completescript" => self.complete(params).await.map(|()| Reply::void()),
                _ => return Err(ServiceError::MethodNotFound),
            };
            r.map_err(ServiceError::from)
        })
    }
}
