//! Fuzzes WebSocket frame headers and the stream reading a peer's frames (body in `tentacle_core::fuzzing`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tentacle_core::fuzzing::websocket_frames(data));
