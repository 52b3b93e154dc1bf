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
//! | [`fix`] | repairs the checks offer (`tentacle check --fix`, the manager's buttons): typed actions with their script, apply and undo |
//! | [`firewall`] | Windows Firewall, ufw or firewalld: is the listening port open, open it, close it |
//! | [`official`] | the official Octopus Tentacle on this machine: its instances, XML config and machine key; adopt (import) and hand back (export) |
//! | [`cli`] | the `tentacle` command line: Tentacle-compatible verbs and case-insensitive options |
//! | [`version`] | the Tentacle-compatible version Octopus Server is shown, beside ours |

pub mod agent;
pub mod certificate;
pub mod checks;
pub mod cli;
pub mod firewall;
pub mod fix;
#[doc(hidden)]
pub mod fuzzing;
pub mod halibut;
pub mod instance;
pub mod official;
pub mod register;
pub mod secret;
pub mod service;
pub mod status;
pub mod trust;
pub mod version;

/// This build's own version (`tentacle version` prints it beside the reported Tentacle version).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
