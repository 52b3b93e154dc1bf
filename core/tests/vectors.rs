//! Golden vectors: the real .NET-produced Halibut message and the reference's worked examples, byte for byte.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use base64::Engine;
use bson::{Bson, doc};
use tentacle_core::halibut::bson::{Guid, decode, encode, to_typed};
use tentacle_core::halibut::frame::{Inflater, decode_message};
use tentacle_core::halibut::message::{
    Envelope, RequestMessage, ResponseMessage, ServerError, service_endpoint,
};

fn shared_vector(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/vectors")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{} is missing ({e}); CI keeps ../shared beside the checkout",
            path.display()
        )
    });
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .unwrap()
}

fn local_hex(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name);
    hex::decode(std::fs::read_to_string(path).unwrap().trim()).unwrap()
}

#[test]
fn dotnet_server_error_decodes_and_re_encodes_to_the_same_bson() {
    let wire = shared_vector("halibut-dotnet-server-error.b64");
    assert_eq!(wire.len(), 198);
    // Followed by a control line that the message reader must leave alone.
    let mut with_next = wire.clone();
    with_next.extend_from_slice(b"NEXT\r\n");
    let mut inf = Inflater::new(1 << 20);
    let (used, done) = inf.feed(&with_next).unwrap();
    assert!(done);
    assert_eq!(used, 198);
    assert_eq!(&with_next[used..], b"NEXT\r\n");
    let bson_bytes = inf.into_inner();
    assert_eq!(bson_bytes.len(), 339);

    let root = decode(&bson_bytes).unwrap();
    assert_eq!(root.keys().collect::<Vec<_>>(), ["Message"]);
    let message = root.get_document("Message").unwrap();
    assert_eq!(
        message.keys().collect::<Vec<_>>(),
        ["$type", "id", "error", "result"]
    );
    let error = message.get_document("error").unwrap();
    assert_eq!(
        error.keys().collect::<Vec<_>>(),
        ["message", "details", "HalibutErrorType", "BlahBlahBlah"]
    );
    // Re-encoding the decoded document, same order, gives the same bytes.
    assert_eq!(encode(&root).unwrap(), bson_bytes);

    let (envelope, used) = decode_message(&with_next, 1 << 20).unwrap().unwrap();
    assert_eq!(used, 198);
    let Envelope::Response(r) = envelope else {
        panic!("not a response")
    };
    assert_eq!(r.id, "sdsd");
    assert_eq!(r.result, None);
    assert_eq!(
        r.error,
        Some(ServerError {
            message: "foo".into(),
            details: Some("Halibut.Exceptions.MethodNotFoundHalibutClientException: foo".into()),
            halibut_error_type: Some(
                "Halibut.Exceptions.MethodNotFoundHalibutClientException".into()
            ),
        })
    );
}

fn sayhello_request() -> RequestMessage {
    let activity = Guid(uuid::Uuid::parse_str("3f2504e0-4f89-11d3-9a0c-0305e82c3301").unwrap());
    RequestMessage {
        id: "IEchoService::SayHelloAsync[1] / 3f2504e0-4f89-11d3-9a0c-0305e82c3301".into(),
        activity_id: activity,
        endpoint: Some(service_endpoint(
            "https://localhost:10933/",
            Some("76225C0717A16C1D0BA4A7FFA76519D286D8A248"),
        )),
        service: "IEchoService".into(),
        method: "SayHello".into(),
        params: vec![Bson::String("World".into())],
    }
}

#[test]
fn worked_example_1_request_encodes_byte_for_byte() {
    let ours = encode(&Envelope::Request(sayhello_request()).to_document()).unwrap();
    let golden = local_hex("request-sayhello.bson.hex");
    assert_eq!(ours.len(), 612);
    assert_eq!(hex::encode(&ours), hex::encode(&golden));
    let back = Envelope::from_document(&decode(&golden).unwrap()).unwrap();
    assert_eq!(back, Envelope::Request(sayhello_request()));
}

#[test]
fn worked_example_2_response_encodes_byte_for_byte() {
    let response = ResponseMessage::ok(
        "IEchoService::SayHelloAsync[1] / 3f2504e0-4f89-11d3-9a0c-0305e82c3301",
        Some(Bson::String("World...".into())),
    );
    let ours = encode(&Envelope::Response(response.clone()).to_document()).unwrap();
    let golden = local_hex("response-sayhello.bson.hex");
    assert_eq!(hex::encode(&ours), hex::encode(&golden));
    assert_eq!(
        Envelope::from_document(&decode(&golden).unwrap()).unwrap(),
        Envelope::Response(response)
    );
}

#[test]
fn worked_example_3_capabilities_result() {
    #[derive(serde::Serialize)]
    struct CapabilitiesResponseV2 {
        #[serde(rename = "SupportedCapabilities")]
        supported: Vec<String>,
    }
    let result = to_typed(
        "Octopus.Tentacle.Contracts.Capabilities.CapabilitiesResponseV2, Octopus.Tentacle.Contracts",
        &CapabilitiesResponseV2 {
            supported: vec!["IScriptService".into(), "IFileTransferService".into(), "IScriptServiceV2".into()],
        },
    )
    .unwrap();
    let expected = doc! {
        "$type": "Octopus.Tentacle.Contracts.Capabilities.CapabilitiesResponseV2, Octopus.Tentacle.Contracts",
        "SupportedCapabilities": ["IScriptService", "IFileTransferService", "IScriptServiceV2"],
    };
    assert_eq!(
        encode(result.as_document().unwrap()).unwrap(),
        encode(&expected).unwrap()
    );
    // The empty params array of GetCapabilities() is `05 00 00 00 00`.
    let req = RequestMessage::new("ICapabilitiesServiceV2", "GetCapabilities", vec![], 1);
    let bytes = encode(&Envelope::Request(req).to_document()).unwrap();
    let needle = [b"params\0".as_slice(), &[5, 0, 0, 0, 0]].concat();
    assert!(bytes.windows(needle.len()).any(|w| w == needle.as_slice()));
}
