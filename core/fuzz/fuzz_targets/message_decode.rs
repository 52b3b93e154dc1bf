//! Fuzzes DEFLATE + BSON messages: errors are fine, panics and unbounded memory are not (body in `tentacle_core::fuzzing`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tentacle_core::fuzzing::message_decode(data));
