//! Fuzzes the WebSocket upgrade request (our acceptor) and response (our dialler) (body in `tentacle_core::fuzzing`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tentacle_core::fuzzing::websocket_handshake(data));
