//! The fuzz bodies under proptest, so `cargo test` covers every peer parser without the sanitizer toolchain; plus arbitrary strings for the parsers of operator text.

use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::halibut::bson::{format_timespan, parse_timespan};
use crate::trust::{
    CommunicationStyle, Thumbprint, comparable_address, polling_address, web_socket_address,
};

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..1536)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn frame_lines_never_panics(data in bytes()) { frame_lines(&data); }

    #[test]
    fn message_decode_never_panics(data in bytes()) { message_decode(&data); }

    #[test]
    fn stream_reader_never_panics(data in bytes()) { stream_reader(&data); }

    #[test]
    fn websocket_frames_never_panic(data in bytes()) { websocket_frames(&data); }

    #[test]
    fn websocket_handshake_never_panics(data in bytes()) { websocket_handshake(&data); }

    #[test]
    fn proxy_reply_never_panics(data in bytes()) { proxy_reply(&data); }

    #[test]
    fn welcome_request_never_panics(data in bytes()) { welcome_request(&data); }

    #[test]
    fn script_commands_never_panic(data in bytes()) { script_commands(&data); }

    /// Text shaped like the real thing reaches deeper than random bytes.
    #[test]
    fn lines_shaped_like_halibut_never_panic(
        pre in "(MX|GET / HTTP/1.1|\r|\n){0,6}",
        id in "(MX-CLIENT|MX-SERVER|MX-SUBSCRIBER|\\PC){0,3} ?[0-9.]{0,6} ?(poll://[a-zA-Z0-9]{0,22}/?)?\\PC{0,4}",
        controls in "((NEXT|PROCEED|END|\\PC{0,3})\r?\n){0,4}",
        step in any::<u8>(),
    ) {
        let mut data = vec![step];
        data.extend_from_slice(format!("{pre}\n\n{id}\r\n\r\n{controls}").as_bytes());
        frame_lines(&data);
    }

    #[test]
    fn http_heads_never_panic(
        line in "(GET|CONNECT|HTTP/1\\.[01]|\\PC{0,5}) ?\\PC{0,12} ?(HTTP/1\\.1|[0-9]{3})? ?\\PC{0,8}",
        headers in prop::collection::vec("(Upgrade|Connection|Sec-WebSocket-[A-Za-z]{0,8}|\\PC{0,6}): ?\\PC{0,24}", 0..6),
        step in any::<u8>(),
    ) {
        let mut data = vec![step];
        data.extend_from_slice(format!("{line}\r\n{}\r\n\r\n", headers.join("\r\n")).as_bytes());
        websocket_handshake(&data);
        proxy_reply(&data);
        welcome_request(&data);
    }

    #[test]
    fn timespans_of_any_text_never_panic(text in "\\PC{0,40}", shaped in "[0-9]{1,25}(\\.[0-9]{1,3}:[0-9]{1,3}:[0-9]{1,3}(\\.[0-9]{0,9})?)?") {
        for t in [&text, &shaped] {
            if let Some(d) = parse_timespan(t) {
                prop_assert_eq!(parse_timespan(&format_timespan(d)), Some(d));
                let _ = deadline_after(tokio::time::Instant::now(), effective_timeout(d));
            }
        }
    }

    #[test]
    fn operator_text_parsers_never_panic(text in "\\PC{0,60}", port in any::<u16>()) {
        if let Ok(t) = Thumbprint::parse(&text) {
            prop_assert_eq!(t.as_str().len(), 40);
        }
        let _ = CommunicationStyle::parse(&text);
        let _ = polling_address(&text, port);
        let _ = web_socket_address(&text);
        let _ = comparable_address(&text);
        let _ = crate::halibut::dial::Address::parse(&text);
        let _ = crate::halibut::tls::server_name(&text);
        let _ = crate::register::ServerOptions::parse_server_url(&text);
        let _ = crate::register::TenantedDeploymentParticipation::parse(&text);
        let _ = crate::checks::probe::parse_http_date(&text);
        let _ = crate::version::validate(&text);
        let _ = crate::instance::TentacleConfig::parse(&text, std::path::Path::new("t.toml"));
    }

    /// A thumbprint box gets pasted text of every kind; multi-byte characters anywhere
    /// in the first four bytes once split a character and panicked.
    #[test]
    fn thumbprints_with_any_characters_never_panic(prefix in "\\PC{0,3}", rest in "\\PC{0,44}") {
        let _ = Thumbprint::parse(&format!("{prefix}{rest}"));
    }
}

#[test]
fn every_target_has_a_fuzz_binary() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/fuzz_targets");
    for (name, _) in TARGETS {
        assert!(
            dir.join(format!("{name}.rs")).is_file(),
            "core/fuzz/fuzz_targets/{name}.rs is missing"
        );
    }
}

#[test]
fn thumbprint_with_a_multibyte_character_is_refused_not_a_panic() {
    // 'é' is two bytes: byte index 4 falls inside it.
    let err = Thumbprint::parse("abcé0123").unwrap_err().to_string();
    assert!(err.contains("not a hexadecimal digit"), "{err}");
    let err = Thumbprint::parse("€€").unwrap_err().to_string();
    assert!(err.contains("'€'"), "{err}");
}

#[test]
fn huge_timespans_saturate_instead_of_overflowing() {
    let most = parse_timespan("99999999999999999.23:59:59.9999999").unwrap();
    assert!(most >= Duration::from_secs(u64::MAX / 2), "{most:?}");
    // TimeSpan.MaxValue as .NET prints it.
    let max = parse_timespan("10675199.02:48:05.4775807").unwrap();
    assert_eq!(max.as_secs(), 10_675_199 * 86_400 + 2 * 3600 + 48 * 60 + 5);
}

#[tokio::test]
async fn a_mutex_timeout_of_any_size_does_not_panic() {
    use crate::agent::scripts::contracts::Isolation;
    use crate::agent::scripts::isolation::IsolationLocks;
    let locks = IsolationLocks::new();
    let (_tx, mut cancel) = tokio::sync::watch::channel(false);
    let guard = locks
        .acquire(
            "RunningScript",
            Isolation::FullIsolation,
            Duration::MAX,
            "ServerTasks-1",
            &|_| {},
            &mut cancel,
        )
        .await;
    assert!(guard.is_ok());
}

/// Found by `cargo xtask fuzz` (message_decode): a DEFLATE stream that inflates past the
/// limit exactly when the buffer is full made the inflater double its buffer (`reserve(1)`)
/// and inflate up to twice the limit before refusing the message.
#[test]
fn inflater_never_buffers_past_its_limit() {
    let data = include_bytes!("regressions/inflater_over_limit.bin");
    let mut inflater = frame::Inflater::new(1 << 16);
    let mut refused = false;
    for piece in data.chunks(7) {
        match inflater.feed(piece) {
            Ok((_, true)) => break,
            Ok(_) => {}
            Err(e) => {
                assert!(e.to_string().contains("65536"), "{e}");
                refused = true;
                break;
            }
        }
    }
    assert!(refused, "the oversized message was accepted");
    assert!(
        inflater.inflated() <= (1 << 16) + 1,
        "{}",
        inflater.inflated()
    );
    message_decode(data);
}
