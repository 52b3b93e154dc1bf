//! Fuzzes the preamble, identity and control-line parsers: no input may panic or over-consume.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tentacle_core::halibut::frame;

fuzz_target!(|data: &[u8]| {
    if let Some((_, used)) = frame::take_preamble(data, true) {
        assert!(used <= data.len());
    }
    if let Ok(Some((_, used))) = frame::parse_identity(data) {
        assert!(used <= data.len());
    }
    if let Ok(Some((_, used))) = frame::parse_control(data, "NEXT or END") {
        assert!(used <= data.len());
    }
});
