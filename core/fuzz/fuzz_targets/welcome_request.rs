//! Fuzzes a browser's request on the Halibut port, answered with the welcome page (body in `tentacle_core::fuzzing`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tentacle_core::fuzzing::welcome_request(data));
