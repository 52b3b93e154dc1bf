//! The `tentacle` binary: the configuration CLI and the agent (`tentacle agent`).

use std::io::Write;
use std::process::ExitCode;

use tentacle_core::cli::{self, Out};

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    let mut out = Out::new(&mut lock);
    match cli::run(args, &mut out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = lock.flush();
            // One line, so scripts and the manager can show it as is.
            let msg = e.to_string().replace(['\r', '\n'], " ");
            let _ = writeln!(std::io::stderr(), "Error: {msg}");
            ExitCode::from(e.exit_code())
        }
    }
}
