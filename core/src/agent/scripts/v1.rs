//! `IScriptService` (V1): the Tentacle mints the ticket, state lives in memory, Complete returns the final logs and deletes the workspace; results carry the legacy `Octopus.Shared` `$type`s.

use std::sync::Arc;

use ::bson::Bson;

use super::ScriptError;
use super::contracts::{
    ScriptTicket, StartScriptCommand, TicketRequest, isolation, platform_script, require_ticket,
    single_param, timespan, type_names,
};
use super::engine::{ScriptEngine, StartRequest, UnknownPolicy};
use super::isolation::DEFAULT_MUTEX_NAME;
use crate::halibut::bson::to_typed;
use crate::halibut::connection::ReceivedStream;
use crate::halibut::rpc::{BoxFuture, Reply, Service, ServiceError};

/// The V1 script service.
#[derive(Debug, Clone)]
pub struct ScriptServiceV1 {
    engine: Arc<ScriptEngine>,
}

impl ScriptServiceV1 {
    /// The service over a shared engine.
    pub fn new(engine: Arc<ScriptEngine>) -> ScriptServiceV1 {
        ScriptServiceV1 { engine }
    }

    async fn start(
        &self,
        params: Vec<Bson>,
        streams: Vec<ReceivedStream>,
    ) -> Result<Bson, ScriptError> {
        let cmd: StartScriptCommand = single_param(params, "StartScriptCommand")?;
        let script = platform_script(cmd.scripts.as_ref(), cmd.script_body.as_deref())
            .ok_or_else(|| {
                ScriptError::BadRequest(
                    "the StartScriptCommand has neither a script for this platform in Scripts nor a ScriptBody".into(),
                )
            })?;
        let ticket = self.engine.mint_v1_ticket(cmd.task_id.as_deref());
        let req = StartRequest {
            task_id: cmd.task_id.clone().unwrap_or_else(|| ticket.clone()),
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
        self.engine.start(req).await?;
        typed(
            type_names::SCRIPT_TICKET,
            &ScriptTicket {
                task_id: Some(ticket),
            },
        )
    }

    async fn ticket_call(&self, method: Method, params: Vec<Bson>) -> Result<Bson, ScriptError> {
        let what = match method {
            Method::GetStatus => "ScriptStatusRequest",
            Method::Cancel => "CancelScriptCommand",
            Method::Complete => "CompleteScriptCommand",
        };
        let req: TicketRequest = single_param(params, what)?;
        let ticket = require_ticket(req.ticket, what)?;
        let after = req.last_log_sequence.unwrap_or(0);
        let e = &self.engine;
        let snapshot = match method {
            Method::GetStatus => e.status(&ticket, after, UnknownPolicy::V1).await?,
            Method::Cancel => e.cancel(&ticket, after, UnknownPolicy::V1).await?,
            Method::Complete => e.complete(&ticket, after, UnknownPolicy::V1).await?,
        };
        typed(
            type_names::SCRIPT_STATUS_RESPONSE,
            &snapshot.into_response(),
        )
    }
}

#[derive(Clone, Copy)]
enum Method {
    GetStatus,
    Cancel,
    Complete,
}

pub(super) fn typed(type_name: &str, value: &impl serde::Serialize) -> Result<Bson, ScriptError> {
    to_typed(type_name, value).map_err(|e| ScriptError::Internal(e.to_string()))
}

impl Service for ScriptServiceV1 {
    fn name(&self) -> &str {
        "IScriptService"
    }

    fn type_name(&self) -> &str {
        "Octopus.Tentacle.Services.Scripts.ScriptService"
    }

    fn call<'a>(
        &'a self,
        method: &'a str,
        params: Vec<Bson>,
        streams: Vec<ReceivedStream>,
    ) -> BoxFuture<'a, Result<Reply, ServiceError>> {
        Box::pin(async move {
            let r = match crate::halibut::rpc::method_key(method).as_str() {
                "startscript" => self.start(params, streams).await,
                "getstatus" => self.ticket_call(Method::GetStatus, params).await,
                "cancelscript" => self.ticket_call(Method::Cancel, params).await,
                "completescript" => self.ticket_call(Method::Complete, params).await,
                _ => return Err(ServiceError::MethodNotFound),
            };
            r.map(Reply::value).map_err(ServiceError::from)
        })
    }
}
