//! Tentacle Manager: the egui desktop manager for the Tentacle instances on this machine, and its tray.
//!
//! # Layout
//!
//! | module | what it holds |
//! |---|---|
//! | [`app`] | the `eframe::App`: state and drawing; `app/apply.rs` is the one place [`commands::Command`]s are applied, `app/events.rs` where background events land |
//! | [`adopt_view`] | adopting an Octopus Tentacle instance (`import-tentacle`) and handing it back (`export-tentacle`): the offer, the summary, the run, undo |
//! | [`commands`] | what views ask for, as typed commands |
//! | [`model`] | plain data about each instance, and the loader that reads it from `tentacle-core` |
//! | [`sentences`] | the dashboard's trust and proxy sentences, as the original builds them |
//! | [`view`], [`dashboard`], [`checks_view`], [`check_fix`], [`delete`], [`proxy_view`], [`wizard::pages`](mod@wizard::pages) | drawing: functions of state that return commands and do no I/O |
//! | [`wizard`] | the setup wizard: pages, answers and their checks, the plan (`tentacle …` steps), the connection check |
//! | [`runner`] | runs a plan's steps in-process (`tentacle_core::cli::run`), streaming output, rolling back on failure |
//! | [`worker`] | named background threads, their events, the status watcher |
//! | [`tray`] | `tray_menu` and `tray_icon` (pure) and the thin tray-icon backend |
//! | [`folder_picker`] | the folder dialog behind a trait |
//! | [`theme`] | colours and light/dark |
//! | [`headline`], [`status_line`] | one status from the service and the agent's report (pure), and its badge and buttons |
//! | [`trust_view`] | the trust editor: trusted servers with their live link; add, remove, update thumbprint as `tentacle` lines |
//! | [`log_tail`], [`log_view`] | the agent's log and scripts' output, followed in bounded memory, and their screen |
//!
//! `main.rs` only sets up logging and opens the window.

pub mod adopt_view;
pub mod app;
pub mod check_fix;
pub mod checks_view;
pub mod commands;
pub mod dashboard;
pub mod delete;
pub mod folder_picker;
pub mod headline;
pub mod log_tail;
pub mod log_view;
pub mod model;
pub mod proxy_view;
pub mod runner;
pub mod sentences;
pub mod status_line;
pub mod theme;
pub mod tray;
pub mod trust_view;
pub mod view;
pub mod wizard;
pub mod worker;

pub use app::{Screen, TentacleManagerApp};
pub use commands::{Command, ServiceAction};
pub use model::{InstanceDetails, InstanceSummary, LoadResult, load_instances};
pub use view::TITLE;
