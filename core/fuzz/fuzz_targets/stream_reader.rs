//! Fuzzes a message announcing DataStreams followed by the peer's frames (body in `tentacle_core::fuzzing`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tentacle_core::fuzzing::stream_reader(data));
