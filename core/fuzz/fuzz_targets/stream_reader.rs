//! Fuzzes the connection reader: a message and its DataStream frames from arbitrary bytes.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tentacle_core::halibut::connection::{Connection, Limits};

fuzz_target!(|data: &[u8]| {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_time().build() {
        Ok(rt) => rt,
        Err(_) => return,
    };
    rt.block_on(async {
        let io = tokio::io::join(data, tokio::io::sink());
        let limits = Limits {
            max_message: 1 << 20,
            max_stream: 1 << 20,
            ..Limits::default()
        };
        let mut conn = Connection::new(io, limits);
        let _ = conn.read_message(Duration::from_secs(1), Duration::from_secs(1)).await;
    });
});
