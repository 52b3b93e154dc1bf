//! End-to-end tests: each drives the built `tentacle` binary in a private config root.

// Fixtures are written directly on purpose (broken configs, foreign certificates), and a
// failed unwrap in a test is a test failure with its location.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

mod adopt;
mod agent;
mod certificates;
mod checks;
mod cli_basics;
mod config_safety;
mod dual_stack;
mod fix;
mod flood;
mod host_health;
mod namespaces;
mod no_interpreter;
mod ping;
mod registration;
mod seeds;
mod server_view;
#[cfg(unix)]
mod service_account;
mod trust;
