//! The fuzz targets' bodies under proptest, so every `cargo test` throws random and mutated bytes at the parsers.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bson::Bson;
use proptest::prelude::*;
use tentacle_core::halibut::connection::{Connection, Limits, OutgoingStream};
use tentacle_core::halibut::frame::{self, Control, Identity};
use tentacle_core::halibut::message::{Envelope, RequestMessage, ResponseMessage, ServerError};

fn limits() -> Limits {
    Limits {
        max_message: 1 << 20,
        max_stream: 1 << 20,
        ..Limits::default()
    }
}

/// A valid request with one DataStream, as the bytes a peer would send.
fn valid_wire(payload: &[u8]) -> Vec<u8> {
    let (out, placeholder) = OutgoingStream::bytes(payload.to_vec());
    let req = RequestMessage::new(
        "IFileTransferService",
        "UploadFile",
        vec![Bson::String("x".into()), placeholder.to_bson_typed()],
        1,
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (a, mut b) = tokio::io::duplex(1 << 20);
        let mut conn = Connection::new(a, limits());
        conn.send_message(&Envelope::Request(req), vec![out])
            .await
            .unwrap();
        drop(conn);
        let mut buf = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut b, &mut buf)
            .await
            .unwrap();
        buf
    })
}

fn read_one(bytes: &[u8]) -> Result<bool, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let io = tokio::io::join(bytes, tokio::io::sink());
        let mut conn = Connection::new(io, limits());
        conn.read_message(Duration::from_secs(1), Duration::from_secs(1))
            .await
            .map(|m| m.is_some())
            .map_err(|e| e.to_string())
    })
}

#[test]
fn a_valid_message_with_a_stream_reads_back() {
    let wire = valid_wire(b"hello world");
    assert_eq!(read_one(&wire), Ok(true));
}

#[test]
fn truncations_and_lying_lengths_are_typed_errors() {
    let wire = valid_wire(&[7u8; 1000]);
    for cut in [1, 10, wire.len() / 2, wire.len() - 9, wire.len() - 1] {
        let r = read_one(&wire[..cut]);
        assert!(r.is_err(), "cut at {cut}: {r:?}");
    }
    // Trailer says something else than the header.
    let mut lying = wire.clone();
    let n = lying.len();
    lying[n - 8] ^= 0x01;
    let e = read_one(&lying).unwrap_err();
    assert!(e.contains("size mismatch"), "{e}");
    // A frame header claiming more than the limit.
    let mut huge = wire.clone();
    let header_at = n - 8 - 1000 - 8;
    huge[header_at..header_at + 8].copy_from_slice(&(1i64 << 40).to_le_bytes());
    let e = read_one(&huge).unwrap_err();
    assert!(e.contains("not acceptable"), "{e}");
}

#[test]
fn a_message_over_the_limit_is_refused() {
    let big = Envelope::Response(ResponseMessage::ok(
        "x",
        Some(Bson::String("a".repeat(2 << 20))),
    ));
    let wire = frame::encode_message(&big).unwrap();
    let e = read_one(&wire).unwrap_err();
    assert!(e.contains("more than"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = frame::take_preamble(&data, true);
        let _ = frame::parse_identity(&data);
        let _ = frame::parse_control(&data, "NEXT or END");
        let _ = frame::decode_message(&data, 1 << 20);
        let _ = read_one(&data);
    }

    #[test]
    fn mutated_messages_never_panic(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let mut wire = valid_wire(b"payload bytes");
        for (at, byte) in flips {
            let i = at % wire.len();
            wire[i] ^= byte | 1;
        }
        let _ = read_one(&wire);
    }

    #[test]
    fn envelopes_round_trip(id in "[ -~]{0,40}", service in "[A-Za-z]{1,20}", method in "[A-Za-z]{1,20}",
                            s in "\\PC{0,50}", n in any::<i64>(), err in proptest::option::of("\\PC{1,30}")) {
        let req = RequestMessage {
            id: id.clone(),
            activity_id: tentacle_core::halibut::bson::Guid::new_random(),
            endpoint: None,
            service,
            method,
            params: vec![Bson::String(s.clone()), Bson::Int64(n), Bson::Null, Bson::Boolean(true)],
        };
        let resp = match err {
            Some(m) => ResponseMessage::failed(&id, ServerError::invocation_failed(&m)),
            None => ResponseMessage::ok(&id, Some(Bson::String(s))),
        };
        for env in [Envelope::Request(req), Envelope::Response(resp), Envelope::Null] {
            let wire = frame::encode_message(&env).unwrap();
            let (back, used) = frame::decode_message(&wire, 1 << 20).unwrap().unwrap();
            prop_assert_eq!(used, wire.len());
            prop_assert_eq!(back, env);
        }
    }

    #[test]
    fn lines_round_trip(sub in "[a-z0-9]{1,20}", c in 0u8..3) {
        let id = Identity::Subscriber(format!("poll://{sub}/"));
        let bytes = frame::encode_identity(&id);
        prop_assert_eq!(frame::parse_identity(&bytes).unwrap(), Some((id, bytes.len())));
        let control = [Control::Next, Control::Proceed, Control::End][c as usize];
        let b = frame::encode_control(control);
        prop_assert_eq!(frame::parse_control(b, "x").unwrap(), Some((control, b.len())));
    }
}
