//! Tentacle Manager: the egui desktop manager for the Tentacle instances on this machine.
//!
//! # Layout
//!
//! | module | what it holds |
//! |---|---|
//! | [`app`] | the `eframe::App`: state, the background loader, where view intents are applied |
//! | [`model`] | plain data about each instance, and the loader that reads it from `tentacle-core` |
//! | [`view`] | drawing functions over the model that return [`view::Intent`]s and do no I/O |
//!
//! `main.rs` only sets up logging and opens the window.

pub mod app;
pub mod model;
pub mod view;

pub use app::TentacleManagerApp;
pub use model::{InstanceDetails, InstanceSummary, LoadResult, load_instances};
pub use view::{Intent, TITLE};
