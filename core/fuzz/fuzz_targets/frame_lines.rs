//! Fuzzes the MX preamble, identity and control lines, pure and through the connection reader (body in `tentacle_core::fuzzing`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tentacle_core::fuzzing::frame_lines(data));
