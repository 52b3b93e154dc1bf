//! Tentacle core: the library behind the `tentacle` agent and CLI and the Tentacle Manager.
//!
//! # Layout
//!
//! | module | what it holds |
//! |---|---|
//! | [`agent`] | the services Octopus Server calls and the run loop that serves them |
//! | [`instance`] | instance index, per-instance TOML config, paths and defaults, atomic writes, locking |
//! | [`certificate`] | generate, import and export this Tentacle's certificate; thumbprints |
//! | [`trust`] | trusted servers: thumbprint, style (listening/polling), address, subscription id |
//! | [`halibut`] | the Halibut wire protocol: TLS pinning, framing, BSON messages, data streams, transports and roles |
//! | [`register`] | Octopus REST API: register-with, register-worker, deregister, poll-server |
//! | [`secret`] | API keys and passwords that never print, wiped on drop |
//! | [`service`] | the OS service that runs the agent: systemd, launchd, Windows SCM behind one interface |
//! | [`status`] | the agent's live status document, written by the agent, read by manager and tray |
//! | [`checks`] | connectivity checks (seed 004): each a typed result with what was seen, the cause and the fix |
//! | [`cli`] | the `tentacle` command line: Tentacle-compatible verbs and case-insensitive options |

pub mod agent;
pub mod certificate;
pub mod checks;
pub mod cli;
pub mod halibut;
pub mod instance;
pub mod register;
pub mod secret;
pub mod service;
pub mod status;
pub mod trust;

/// This build's version, as `tentacle version` prints it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
