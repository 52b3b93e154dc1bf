//! Halibut messages: the `{"Message": …}` envelope, RequestMessage, ResponseMessage, ServerError and DataStream placeholders (§4.4-§4.9).

use std::time::Duration;

use ::bson::{Bson, Document};

use super::bson::{BsonError, Guid, format_timespan, type_of, with_type};

/// `$type` of a request.
pub const REQUEST_TYPE: &str = "Halibut.Transport.Protocol.RequestMessage, Halibut";
/// `$type` of a response.
pub const RESPONSE_TYPE: &str = "Halibut.Transport.Protocol.ResponseMessage, Halibut";
/// `$type` of a DataStream placeholder in an `object` slot.
pub const DATA_STREAM_TYPE: &str = "Halibut.DataStream, Halibut";

/// Error types .NET clients map to specific exceptions (§4.7).
pub mod error_types {
    /// The service name is not registered.
    pub const SERVICE_NOT_FOUND: &str = "Halibut.Exceptions.ServiceNotFoundHalibutClientException";
    /// The method does not exist on the service.
    pub const METHOD_NOT_FOUND: &str = "Halibut.Exceptions.MethodNotFoundHalibutClientException";
    /// Several or no overloads match the arguments.
    pub const AMBIGUOUS_METHOD: &str =
        "Halibut.Exceptions.AmbiguousMethodMatchHalibutClientException";
}

/// What one message on the wire carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Envelope {
    /// A call.
    Request(RequestMessage),
    /// A call's answer.
    Response(ResponseMessage),
    /// `{"Message": null}`: the polling keep-alive, or "close" on a listening connection.
    Null,
}

/// An RPC call (§4.5).
#[derive(Debug, Clone, PartialEq)]
pub struct RequestMessage {
    /// Correlation id, echoed in the response.
    pub id: String,
    /// A GUID per call.
    pub activity_id: Guid,
    /// The endpoint the caller addressed (informational for the service).
    pub endpoint: Option<Document>,
    /// Contract name, e.g. `IScriptServiceV2`.
    pub service: String,
    /// Sync method name, e.g. `StartScript`.
    pub method: String,
    /// Positional arguments.
    pub params: Vec<Bson>,
}

/// An RPC answer (§4.6).
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseMessage {
    /// The request's id.
    pub id: String,
    /// Set when the call failed.
    pub error: Option<ServerError>,
    /// The return value; `None` (BSON null) for void methods and errors.
    pub result: Option<Bson>,
}

/// A failure reported by the service (§4.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    /// Human message.
    pub message: String,
    /// Details (a .NET peer puts `Exception.ToString()` here).
    pub details: Option<String>,
    /// Full .NET type name for Halibut's own exception kinds.
    pub halibut_error_type: Option<String>,
}

impl ServerError {
    /// The service the caller named is not registered.
    pub fn service_not_found(service: &str) -> ServerError {
        ServerError {
            message: format!("Service not found: {service}"),
            details: Some(format!(
                "Halibut.Exceptions.ServiceNotFoundHalibutClientException: Service not found: {service}"
            )),
            halibut_error_type: Some(error_types::SERVICE_NOT_FOUND.to_owned()),
        }
    }

    /// The method does not exist on a registered service.
    pub fn method_not_found(service_type: &str, method: &str) -> ServerError {
        let message = format!("Method {service_type}::{method}Async not found");
        ServerError {
            details: Some(format!(
                "Halibut.Exceptions.MethodNotFoundHalibutClientException: {message}"
            )),
            message,
            halibut_error_type: Some(error_types::METHOD_NOT_FOUND.to_owned()),
        }
    }

    /// The arguments fit no overload.
    pub fn no_matching_overload(service: &str, method: &str, detail: &str) -> ServerError {
        let message = format!(
            "Could not decide which candidate to call out of the following methods: {service}::{method}Async ({detail})"
        );
        ServerError {
            details: Some(format!(
                "Halibut.Exceptions.AmbiguousMethodMatchHalibutClientException: {message}"
            )),
            message,
            halibut_error_type: Some(error_types::AMBIGUOUS_METHOD.to_owned()),
        }
    }

    /// The service method itself failed; .NET clients recognise the details prefix (rule 5).
    pub fn invocation_failed(message: &str) -> ServerError {
        ServerError {
            message: message.to_owned(),
            details: Some(format!(
                "System.Reflection.TargetInvocationException: Exception has been thrown by the target of an invocation.\n ---> {message}"
            )),
            halibut_error_type: None,
        }
    }

    fn to_document(&self) -> Document {
        let mut d = Document::new();
        d.insert("message", self.message.clone());
        d.insert("details", opt_string(&self.details));
        d.insert("HalibutErrorType", opt_string(&self.halibut_error_type));
        d
    }

    fn from_document(d: &Document) -> ServerError {
        ServerError {
            message: string_at(d, "message").unwrap_or_default(),
            details: string_at(d, "details"),
            halibut_error_type: string_at(d, "HalibutErrorType"),
        }
    }
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn opt_string(v: &Option<String>) -> Bson {
    v.as_ref().map_or(Bson::Null, |s| Bson::String(s.clone()))
}

/// A member looked up as .NET does: exact name first, then case-insensitively.
fn get<'a>(d: &'a Document, key: &str) -> Option<&'a Bson> {
    d.get(key).or_else(|| {
        d.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn string_at(d: &Document, key: &str) -> Option<String> {
    match get(d, key) {
        Some(Bson::String(s)) => Some(s.clone()),
        _ => None,
    }
}

impl RequestMessage {
    /// A request with a fresh activity id and an id in Halibut's format.
    pub fn new(service: &str, method: &str, params: Vec<Bson>, sequence: u64) -> RequestMessage {
        let activity_id = Guid::new_random();
        RequestMessage {
            id: format!("{service}::{method}Async[{sequence}] / {activity_id}"),
            activity_id,
            endpoint: None,
            service: service.to_owned(),
            method: method.to_owned(),
            params,
        }
    }

    /// The BSON document in .NET's member order.
    pub fn to_document(&self) -> Document {
        let mut d = Document::new();
        d.insert("id", self.id.clone());
        d.insert("activityId", self.activity_id.to_bson());
        d.insert(
            "endpoint",
            self.endpoint.clone().map_or(Bson::Null, Bson::Document),
        );
        d.insert("service", self.service.clone());
        d.insert("method", self.method.clone());
        d.insert("params", Bson::Array(self.params.clone()));
        with_type(REQUEST_TYPE, d)
    }

    fn from_document(d: &Document) -> Result<RequestMessage, BsonError> {
        let service = string_at(d, "service")
            .ok_or_else(|| BsonError::Shape("a request without 'service'".into()))?;
        let method = string_at(d, "method")
            .ok_or_else(|| BsonError::Shape("a request without 'method'".into()))?;
        let params = match get(d, "params") {
            Some(Bson::Array(a)) => a.clone(),
            None | Some(Bson::Null) => Vec::new(),
            Some(_) => return Err(BsonError::Shape("'params' is not an array".into())),
        };
        Ok(RequestMessage {
            id: string_at(d, "id").unwrap_or_default(),
            activity_id: get(d, "activityId")
                .and_then(Guid::from_bson)
                .unwrap_or(Guid(uuid::Uuid::nil())),
            endpoint: match get(d, "endpoint") {
                Some(Bson::Document(e)) => Some(e.clone()),
                _ => None,
            },
            service,
            method,
            params,
        })
    }
}

impl ResponseMessage {
    /// A successful answer.
    pub fn ok(id: &str, result: Option<Bson>) -> ResponseMessage {
        ResponseMessage {
            id: id.to_owned(),
            error: None,
            result,
        }
    }

    /// A failed answer.
    pub fn failed(id: &str, error: ServerError) -> ResponseMessage {
        ResponseMessage {
            id: id.to_owned(),
            error: Some(error),
            result: None,
        }
    }

    /// The BSON document: both `error` and `result` always present (E11).
    pub fn to_document(&self) -> Document {
        let mut d = Document::new();
        d.insert("id", self.id.clone());
        d.insert(
            "error",
            self.error
                .as_ref()
                .map_or(Bson::Null, |e| Bson::Document(e.to_document())),
        );
        d.insert("result", self.result.clone().unwrap_or(Bson::Null));
        with_type(RESPONSE_TYPE, d)
    }

    fn from_document(d: &Document) -> ResponseMessage {
        ResponseMessage {
            id: string_at(d, "id").unwrap_or_default(),
            error: match get(d, "error") {
                Some(Bson::Document(e)) => Some(ServerError::from_document(e)),
                _ => None,
            },
            result: match get(d, "result") {
                None | Some(Bson::Null) => None,
                Some(v) => Some(v.clone()),
            },
        }
    }
}

impl Envelope {
    /// `{"Message": …}`.
    pub fn to_document(&self) -> Document {
        let mut root = Document::new();
        let message = match self {
            Envelope::Request(r) => Bson::Document(r.to_document()),
            Envelope::Response(r) => Bson::Document(r.to_document()),
            Envelope::Null => Bson::Null,
        };
        root.insert("Message", message);
        root
    }

    /// Reads an envelope. `$type` decides when present; otherwise the members do, since current
    /// .NET senders may omit it.
    pub fn from_document(root: &Document) -> Result<Envelope, BsonError> {
        let message = match get(root, "Message") {
            None => {
                return Err(BsonError::Shape(
                    "no 'Message' element in the envelope".into(),
                ));
            }
            Some(Bson::Null) => return Ok(Envelope::Null),
            Some(Bson::Document(d)) => d,
            Some(_) => {
                return Err(BsonError::Shape(
                    "'Message' is neither a document nor null".into(),
                ));
            }
        };
        match type_of(message) {
            Some(REQUEST_TYPE) => Ok(Envelope::Request(RequestMessage::from_document(message)?)),
            Some(RESPONSE_TYPE) => Ok(Envelope::Response(ResponseMessage::from_document(message))),
            Some(other) => Err(BsonError::Shape(format!(
                "unexpected message type '{other}'"
            ))),
            None if get(message, "service").is_some() => {
                Ok(Envelope::Request(RequestMessage::from_document(message)?))
            }
            None => Ok(Envelope::Response(ResponseMessage::from_document(message))),
        }
    }
}

/// A DataStream placeholder (§4.9): the id of a frame that follows the message, and its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataStreamRef {
    /// Frame id.
    pub id: Guid,
    /// Payload length.
    pub length: i64,
}

impl DataStreamRef {
    /// In an `object` slot (a parameter or a result): with `$type`.
    pub fn to_bson_typed(self) -> Bson {
        Bson::Document(with_type(DATA_STREAM_TYPE, self.to_document()))
    }

    /// As a typed member (declared `DataStream`): no `$type`.
    pub fn to_bson(self) -> Bson {
        Bson::Document(self.to_document())
    }

    fn to_document(self) -> Document {
        let mut d = Document::new();
        d.insert("id", self.id.to_bson());
        d.insert("length", Bson::Int64(self.length));
        d
    }

    /// Recognises a placeholder: `$type` DataStream, or exactly `id` (16-byte binary) and `length`.
    pub fn from_document(d: &Document) -> Option<DataStreamRef> {
        let typed = type_of(d) == Some(DATA_STREAM_TYPE);
        let keys = d.keys().filter(|k| *k != "$type").count();
        if !typed && keys != 2 {
            return None;
        }
        let id = get(d, "id").and_then(Guid::from_bson)?;
        let length = match get(d, "length")? {
            Bson::Int64(n) => *n,
            Bson::Int32(n) => i64::from(*n),
            _ => return None,
        };
        Some(DataStreamRef { id, length })
    }
}

/// Every DataStream placeholder in a message, depth-first in document order (§5.1).
pub fn data_streams(envelope: &Envelope) -> Vec<DataStreamRef> {
    let mut found = Vec::new();
    let mut stack: Vec<&Bson> = Vec::new();
    let roots: Vec<Bson> = match envelope {
        Envelope::Request(r) => r.params.clone(),
        Envelope::Response(r) => r.result.clone().into_iter().collect(),
        Envelope::Null => Vec::new(),
    };
    stack.extend(roots.iter().rev());
    while let Some(v) = stack.pop() {
        match v {
            Bson::Document(d) => {
                if let Some(s) = DataStreamRef::from_document(d) {
                    found.push(s);
                } else {
                    stack.extend(d.values().collect::<Vec<_>>().into_iter().rev());
                }
            }
            Bson::Array(a) => stack.extend(a.iter().rev()),
            _ => {}
        }
    }
    found
}

/// The endpoint a caller addressed, with Halibut's default timeouts (§4.8).
pub fn service_endpoint(base_uri: &str, remote_thumbprint: Option<&str>) -> Document {
    let mut d = Document::new();
    d.insert(
        "PollingRequestQueueTimeout",
        format_timespan(Duration::from_secs(120)),
    );
    d.insert(
        "RetryListeningSleepInterval",
        format_timespan(Duration::from_secs(1)),
    );
    d.insert("RetryCountLimit", 5i32);
    d.insert(
        "ConnectionErrorRetryTimeout",
        format_timespan(Duration::from_secs(300)),
    );
    d.insert(
        "TcpClientConnectTimeout",
        format_timespan(Duration::from_secs(60)),
    );
    d.insert("BaseUri", base_uri);
    d.insert(
        "RemoteThumbprint",
        remote_thumbprint.map_or(Bson::Null, |t| Bson::String(t.to_owned())),
    );
    d.insert("Proxy", Bson::Null);
    d.insert("ForceResolveHost", Bson::Null);
    d.insert("IsWebSocketEndpoint", base_uri.starts_with("wss:"));
    d
}
