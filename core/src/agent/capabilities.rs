//! `ICapabilitiesServiceV2`: tells Octopus Server which script and file services this agent offers (product §6.2).

use ::bson::Bson;
use serde::{Deserialize, Serialize};

use crate::halibut::bson::to_typed;
use crate::halibut::connection::ReceivedStream;
use crate::halibut::rpc::{BoxFuture, Reply, Service, ServiceError};

/// The contract name, as a request's `service` says it.
pub const SERVICE_NAME: &str = "ICapabilitiesServiceV2";

/// The `$type` of the result (contracts-wire "`$type` strings").
pub const CAPABILITIES_RESPONSE_TYPE: &str =
    "Octopus.Tentacle.Contracts.Capabilities.CapabilitiesResponseV2, Octopus.Tentacle.Contracts";

/// What a normal (non-Kubernetes) Tentacle returns, in .NET's order.
pub const NORMAL_AGENT_CAPABILITIES: [&str; 3] =
    ["IScriptService", "IFileTransferService", "IScriptServiceV2"];

/// `CapabilitiesResponseV2 { SupportedCapabilities: List<string> }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapabilitiesResponseV2 {
    /// The contract names the agent serves.
    #[serde(rename = "SupportedCapabilities", default)]
    pub supported_capabilities: Vec<String>,
}

/// `ICapabilitiesServiceV2` with its single method `GetCapabilities()`.
#[derive(Debug, Clone)]
pub struct CapabilitiesService {
    response: CapabilitiesResponseV2,
}

impl Default for CapabilitiesService {
    fn default() -> Self {
        CapabilitiesService::new()
    }
}

impl CapabilitiesService {
    /// A normal agent: `["IScriptService","IFileTransferService","IScriptServiceV2"]`.
    pub fn new() -> CapabilitiesService {
        CapabilitiesService::with_capabilities(
            NORMAL_AGENT_CAPABILITIES
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        )
    }

    /// An agent that serves a different set (the Kubernetes agent's, for instance).
    pub fn with_capabilities(capabilities: Vec<String>) -> CapabilitiesService {
        CapabilitiesService {
            response: CapabilitiesResponseV2 {
                supported_capabilities: capabilities,
            },
        }
    }

    /// The response `GetCapabilities` returns.
    pub fn response(&self) -> &CapabilitiesResponseV2 {
        &self.response
    }

    /// The result as it goes on the wire: the typed document with `$type` first.
    pub fn result_bson(&self) -> Result<Bson, ServiceError> {
        to_typed(CAPABILITIES_RESPONSE_TYPE, &self.response)
            .map_err(|e| ServiceError::Failed(format!("cannot encode the capabilities: {e}")))
    }
}

impl Service for CapabilitiesService {
    fn name(&self) -> &str {
        SERVICE_NAME
    }

    fn call<'a>(
        &'a self,
        method: &'a str,
        params: Vec<Bson>,
        _streams: Vec<ReceivedStream>,
    ) -> BoxFuture<'a, Result<Reply, ServiceError>> {
        Box::pin(async move {
            // Halibut compares `<method>Async` with the .NET method name, ignoring case (O15).
            if !method.eq_ignore_ascii_case("GetCapabilities") {
                return Err(ServiceError::MethodNotFound);
            }
            if !params.is_empty() {
                return Err(ServiceError::BadArguments(format!(
                    "GetCapabilities takes no arguments, but {} were sent",
                    params.len()
                )));
            }
            tracing::debug!("capabilities requested");
            Ok(Reply::value(self.result_bson()?))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ::bson::{Bson, doc};

    use super::*;
    use crate::halibut::bson::{encode, from_bson};

    async fn get(method: &str, params: Vec<Bson>) -> Result<Reply, ServiceError> {
        tokio::time::timeout(
            Duration::from_secs(10),
            CapabilitiesService::new().call(method, params, Vec::new()),
        )
        .await
        .expect("GetCapabilities should answer at once")
    }

    #[tokio::test]
    async fn result_is_the_exact_bson_of_worked_example_3() {
        let reply = get("GetCapabilities", Vec::new()).await.unwrap();
        assert!(reply.streams.is_empty());
        let expected = doc! {
            "$type": "Octopus.Tentacle.Contracts.Capabilities.CapabilitiesResponseV2, Octopus.Tentacle.Contracts",
            "SupportedCapabilities": ["IScriptService", "IFileTransferService", "IScriptServiceV2"],
        };
        let Some(Bson::Document(actual)) = reply.result else {
            panic!("expected a document result, got {:?}", reply.result);
        };
        // Same elements in the same order, and byte-identical once encoded.
        assert_eq!(actual, expected);
        assert_eq!(encode(&actual).unwrap(), encode(&expected).unwrap());
        assert_eq!(actual.keys().next().map(String::as_str), Some("$type"));
    }

    #[tokio::test]
    async fn result_reads_back_as_the_contract_type() {
        let reply = get("getcapabilities", Vec::new()).await.unwrap();
        let back: CapabilitiesResponseV2 = from_bson(reply.result.unwrap()).unwrap();
        assert_eq!(back, *CapabilitiesService::new().response());
    }

    #[tokio::test]
    async fn wrong_method_or_arguments_are_refused() {
        assert!(matches!(
            get("GetCapabilitiesAsync", Vec::new()).await,
            Err(ServiceError::MethodNotFound)
        ));
        assert!(matches!(
            get("GetCapabilities", vec![Bson::Int32(1)]).await,
            Err(ServiceError::BadArguments(_))
        ));
    }

    #[test]
    fn other_agents_can_announce_their_own_set() {
        let s = CapabilitiesService::with_capabilities(vec![
            "IFileTransferService".into(),
            "IKubernetesScriptServiceV1".into(),
        ]);
        let Bson::Document(d) = s.result_bson().unwrap() else {
            panic!("not a document");
        };
        assert_eq!(
            d.get_array("SupportedCapabilities").unwrap(),
            &vec![
                Bson::String("IFileTransferService".into()),
                Bson::String("IKubernetesScriptServiceV1".into())
            ]
        );
    }
}
