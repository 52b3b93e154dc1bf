//! The service table: registered services by contract name, dispatch of a request to a method, and ServerErrors as .NET sends them (§4.5, §4.7).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use ::bson::Bson;

use super::connection::{OutgoingStream, ReceivedStream};
use super::message::{RequestMessage, ResponseMessage, ServerError};

/// A boxed future, so services can be stored as trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a method returns: the result value and any DataStreams it references.
#[derive(Debug, Default)]
pub struct Reply {
    /// The return value; `None` for void methods.
    pub result: Option<Bson>,
    /// DataStreams referenced from `result`.
    pub streams: Vec<OutgoingStream>,
}

impl Reply {
    /// A value with no DataStreams.
    pub fn value(result: Bson) -> Reply {
        Reply {
            result: Some(result),
            streams: Vec::new(),
        }
    }

    /// A void method's answer.
    pub fn void() -> Reply {
        Reply::default()
    }
}

/// Why a method call failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No such method on this service.
    #[error("method not found")]
    MethodNotFound,
    /// The arguments do not fit the method.
    #[error("the arguments do not match: {0}")]
    BadArguments(String),
    /// The method ran and failed.
    #[error("{0}")]
    Failed(String),
}

/// The name services match a request's `method` on: case-insensitive, with an optional
/// `Async` suffix, as Halibut's invoker looks for `<method>Async` (§4.5). Lower-case result.
pub fn method_key(method: &str) -> String {
    let lower = method.to_ascii_lowercase();
    match lower.strip_suffix("async") {
        Some(base) if !base.is_empty() => base.to_owned(),
        _ => lower,
    }
}

/// One contract, such as `IScriptServiceV2`.
pub trait Service: Send + Sync {
    /// The contract's short interface name, as the request's `service` says it.
    fn name(&self) -> &str;

    /// The implementing type's full name, used in "method not found" texts.
    fn type_name(&self) -> &str {
        self.name()
    }

    /// Runs `method` with positional `params`.
    fn call<'a>(
        &'a self,
        method: &'a str,
        params: Vec<Bson>,
        streams: Vec<ReceivedStream>,
    ) -> BoxFuture<'a, Result<Reply, ServiceError>>;
}

/// The services a Halibut endpoint offers.
#[derive(Default, Clone)]
pub struct ServiceTable {
    services: HashMap<String, Arc<dyn Service>>,
}

impl std::fmt::Debug for ServiceTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.services.keys()).finish()
    }
}

impl ServiceTable {
    /// An empty table.
    pub fn new() -> ServiceTable {
        ServiceTable::default()
    }

    /// Adds a service under its contract name.
    pub fn register(&mut self, service: Arc<dyn Service>) {
        self.services.insert(service.name().to_owned(), service);
    }

    /// The registered contract names.
    pub fn names(&self) -> Vec<String> {
        let mut n: Vec<_> = self.services.keys().cloned().collect();
        n.sort();
        n
    }

    /// Runs a request and builds the response; failures become ServerErrors, never a dropped connection.
    pub async fn dispatch(
        &self,
        request: RequestMessage,
        streams: Vec<ReceivedStream>,
    ) -> (ResponseMessage, Vec<OutgoingStream>) {
        // Tentacle's service factory matches the interface name exactly (contract O15).
        let service = self.services.get(&request.service);
        let Some(service) = service else {
            tracing::warn!(service = %request.service, "request for an unknown service");
            return (
                ResponseMessage::failed(
                    &request.id,
                    ServerError::service_not_found(&request.service),
                ),
                Vec::new(),
            );
        };
        match service.call(&request.method, request.params, streams).await {
            Ok(reply) => (
                ResponseMessage::ok(&request.id, reply.result),
                reply.streams,
            ),
            Err(ServiceError::MethodNotFound) => (
                ResponseMessage::failed(
                    &request.id,
                    ServerError::method_not_found(service.type_name(), &request.method),
                ),
                Vec::new(),
            ),
            Err(ServiceError::BadArguments(detail)) => (
                ResponseMessage::failed(
                    &request.id,
                    ServerError::no_matching_overload(
                        service.type_name(),
                        &request.method,
                        &detail,
                    ),
                ),
                Vec::new(),
            ),
            Err(ServiceError::Failed(message)) => (
                ResponseMessage::failed(&request.id, ServerError::invocation_failed(&message)),
                Vec::new(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo;
    impl Service for Echo {
        fn name(&self) -> &str {
            "IEchoService"
        }
        fn call<'a>(
            &'a self,
            method: &'a str,
            params: Vec<Bson>,
            _s: Vec<ReceivedStream>,
        ) -> BoxFuture<'a, Result<Reply, ServiceError>> {
            Box::pin(async move {
                match (method, params.as_slice()) {
                    ("SayHello", [Bson::String(s)]) => {
                        Ok(Reply::value(Bson::String(format!("{s}..."))))
                    }
                    ("SayHello", _) => {
                        Err(ServiceError::BadArguments("expected one string".into()))
                    }
                    ("Crash", _) => Err(ServiceError::Failed("boom".into())),
                    _ => Err(ServiceError::MethodNotFound),
                }
            })
        }
    }

    fn table() -> ServiceTable {
        let mut t = ServiceTable::new();
        t.register(Arc::new(Echo));
        t
    }

    #[test]
    fn method_keys_ignore_case_and_the_async_suffix() {
        assert_eq!(method_key("StartScript"), "startscript");
        assert_eq!(method_key("startScriptAsync"), "startscript");
        assert_eq!(method_key("Async"), "async");
    }

    #[tokio::test]
    async fn dispatches_and_maps_errors_like_dotnet() {
        let t = table();
        let (r, _) = t
            .dispatch(
                RequestMessage::new(
                    "IEchoService",
                    "SayHello",
                    vec![Bson::String("World".into())],
                    1,
                ),
                vec![],
            )
            .await;
        assert_eq!(r.result, Some(Bson::String("World...".into())));
        let (r, _) = t
            .dispatch(RequestMessage::new("INope", "X", vec![], 1), vec![])
            .await;
        let e = r.error.unwrap();
        assert_eq!(e.message, "Service not found: INope");
        assert_eq!(
            e.halibut_error_type.as_deref(),
            Some(crate::halibut::message::error_types::SERVICE_NOT_FOUND)
        );
        let (r, _) = t
            .dispatch(
                RequestMessage::new("IEchoService", "Nope", vec![], 1),
                vec![],
            )
            .await;
        assert_eq!(
            r.error.unwrap().message,
            "Method IEchoService::NopeAsync not found"
        );
        let (r, _) = t
            .dispatch(
                RequestMessage::new("IEchoService", "Crash", vec![], 1),
                vec![],
            )
            .await;
        let e = r.error.unwrap();
        assert_eq!(e.message, "boom");
        assert!(e.details.unwrap().starts_with("System.Reflection.TargetInvocationException: Exception has been thrown by the target of an invocation."));
        let (r, _) = t
            .dispatch(
                RequestMessage::new("IEchoService", "SayHello", vec![], 7),
                vec![],
            )
            .await;
        assert!(
            r.error
                .unwrap()
                .halibut_error_type
                .unwrap()
                .ends_with("AmbiguousMethodMatchHalibutClientException")
        );
    }
}
