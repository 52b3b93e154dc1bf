//! Fuzzes V1/V2 StartScript and ticket commands and their TimeSpans (body in `tentacle_core::fuzzing`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tentacle_core::fuzzing::script_commands(data));
