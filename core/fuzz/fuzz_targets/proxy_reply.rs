//! Fuzzes an HTTP proxy's answer to CONNECT (body in `tentacle_core::fuzzing`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tentacle_core::fuzzing::proxy_reply(data));
