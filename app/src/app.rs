//! The Tentacle Manager `eframe::App`: its state, the background loader, and the one place view intents are applied.

use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::Instant;

use tentacle_core::instance::Instances;

use crate::model::{LoadResult, load_instances};
use crate::view::{self, Intent, ViewModel};

/// The name of the thread that reads instances from disk.
const LOADER_THREAD: &str = "instance-loader";

/// The manager window.
pub struct TentacleManagerApp {
    /// Where instances are read from; `None` means "this process's" ([`Instances::discover`]),
    /// worked out on the loader thread each time.
    source: Option<Instances>,
    /// The last completed load.
    loaded: Option<LoadResult>,
    /// The running load, if any.
    pending: Option<Receiver<LoadResult>>,
}

impl TentacleManagerApp {
    /// The manager for the instances under `instances`; starts loading them at once.
    pub fn new(ctx: &egui::Context, instances: Instances) -> TentacleManagerApp {
        Self::start(ctx, Some(instances))
    }

    /// The manager for this process's instances (`TENTACLE_CONFIG_ROOT`, machine-wide
    /// when privileged, else this user's); starts loading them at once.
    pub fn for_this_machine(ctx: &egui::Context) -> TentacleManagerApp {
        Self::start(ctx, None)
    }

    fn start(ctx: &egui::Context, source: Option<Instances>) -> TentacleManagerApp {
        let mut app = TentacleManagerApp {
            source,
            loaded: None,
            pending: None,
        };
        app.start_loading(ctx);
        app
    }

    /// True while a load runs in the background.
    pub fn is_loading(&self) -> bool {
        self.pending.is_some()
    }

    /// The last completed load.
    pub fn loaded(&self) -> Option<&LoadResult> {
        self.loaded.as_ref()
    }

    /// Reads the instances on a named thread; the result arrives through a channel and the
    /// worker wakes the UI. Does nothing if a load is already running.
    fn start_loading(&mut self, ctx: &egui::Context) {
        if self.pending.is_some() {
            return;
        }
        let (tx, rx) = mpsc::channel();
        let source = self.source.clone();
        let ctx = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name(LOADER_THREAD.to_owned())
            .spawn(move || {
                let started = Instant::now();
                let result = match source {
                    Some(instances) => load_instances(&instances),
                    None => match Instances::discover() {
                        Ok(instances) => load_instances(&instances),
                        Err(e) => LoadResult::failed(e.to_string()),
                    },
                };
                tracing::debug!(
                    elapsed_ms = started.elapsed().as_millis(),
                    count = result.instances.as_ref().map_or(0, Vec::len),
                    "loaded instances"
                );
                // The window may have closed meanwhile; then nobody needs waking.
                if tx.send(result).is_ok() {
                    ctx.request_repaint();
                }
            });
        match spawned {
            Ok(_) => self.pending = Some(rx),
            Err(e) => {
                tracing::error!("could not start the {LOADER_THREAD} thread: {e}");
                self.loaded = Some(LoadResult::failed(format!(
                    "Could not start reading the instances ({e}). Close some programs and press Refresh."
                )));
            }
        }
    }

    /// Takes a finished load off the channel, if there is one.
    fn receive(&mut self) {
        let Some(rx) = &self.pending else { return };
        match rx.try_recv() {
            Ok(result) => {
                self.loaded = Some(result);
                self.pending = None;
            }
            Err(TryRecvError::Empty) => {}
            Err(TryRecvError::Disconnected) => {
                tracing::error!("the {LOADER_THREAD} thread ended without a result");
                self.loaded = Some(LoadResult::failed(
                    "Reading the instances stopped unexpectedly. Press Refresh to try again; the log has details.",
                ));
                self.pending = None;
            }
        }
    }

    /// The one place user intents turn into effects.
    fn apply(&mut self, ctx: &egui::Context, intent: Intent) {
        match intent {
            Intent::Refresh => self.start_loading(ctx),
            Intent::Copy(text) => ctx.copy_text(text),
        }
    }
}

impl eframe::App for TentacleManagerApp {
    fn logic(&mut self, _ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.receive();
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let intents = egui::CentralPanel::default()
            .show(ui, |ui| {
                view::main_view(
                    ui,
                    ViewModel {
                        loaded: self.loaded.as_ref(),
                        loading: self.is_loading(),
                    },
                )
            })
            .inner;
        for intent in intents {
            self.apply(ui.ctx(), intent);
        }
    }
}
