//! Fuzzes DEFLATE + BSON message decoding: errors are fine, panics and unbounded memory are not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tentacle_core::halibut::{bson, frame};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((_, used))) = frame::decode_message(data, 1 << 20) {
        assert!(used <= data.len());
    }
    let _ = bson::decode(data);
});
