//! The Tentacle Manager `eframe::App`: its state, constructors and drawing; commands are applied in `app/apply.rs`, background events land in `app/events.rs`.

mod apply;
mod events;
mod fixes;

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::Instant;

use tentacle_core::instance::{self, DEFAULT_INSTANCE, Instances};

use crate::checks_view::{self, ChecksState};
use crate::commands::{Command, ServiceAction};
use crate::dashboard::{self, DashboardModel};
use crate::delete::{self, DeleteState};
use crate::folder_picker::{FolderPicker, NativePicker};
use crate::model::{InstanceSummary, LoadResult, load_instances};
use crate::proxy_view::{self, ProxyState};
use crate::theme;
use crate::tray::{Tray, TrayAction, TrayStatus};
use crate::view::{self, error_text, weak};
use crate::wizard::{self, JobLog, WizardState};
use crate::worker::{self, Event, Live, Sink, WatchTarget};

/// Which screen fills the window.
#[derive(Debug)]
pub enum Screen {
    /// The dashboard (or the welcome panel when the instance does not exist yet).
    Dashboard,
    /// The setup wizard.
    Wizard(Box<WizardState>),
    /// The checks.
    Checks(ChecksState),
    /// Deleting the instance.
    Delete(DeleteState),
    /// Proxy settings.
    Proxy(ProxyState),
    /// The live log.
    Log(crate::log_view::LogViewState),
    /// The trust editor.
    Trust(crate::trust_view::TrustState),
    /// Adopting an Octopus Tentacle instance, or handing one back.
    Adopt(crate::adopt_view::AdoptState),
}

/// Set by `main` at process start, for the first-frame timing (`TENTACLE_MANAGER_TIMING=1`).
pub static PROCESS_START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

/// The manager window.
pub struct TentacleManagerApp {
    /// Where instances are read from; `None` means "this process's" ([`Instances::discover`]).
    source: Option<Instances>,
    sink: Sink,
    events: Receiver<Event>,
    loaded: Option<LoadResult>,
    loading: bool,
    /// The instance shown (its name; `Tentacle` is the default instance).
    selected: String,
    /// Names added with "Add new instance" that do not exist yet.
    added: Vec<String>,
    /// The "Add new instance" box, while open: the name typed.
    add_box: Option<String>,
    screen: Screen,
    live: Option<Live>,
    service_job: Option<(ServiceAction, JobLog)>,
    /// A one-line message under the header (a folder that would not open, …).
    message: Option<String>,
    watch: Sender<Option<WatchTarget>>,
    watching: Option<WatchTarget>,
    picker: Arc<dyn FolderPicker>,
    tray: Option<Tray>,
    tray_events: Option<Receiver<TrayAction>>,
    first_frame_logged: bool,
    /// Octopus Tentacle instances on this machine that ours has not adopted.
    offers: Vec<crate::adopt_view::Offer>,
    /// Our instances that were adopted from Octopus Tentacle (they can be handed back).
    adopted: Vec<String>,
}

impl TentacleManagerApp {
    /// The manager for the instances under `instances`, with `picker` answering folder dialogs.
    pub fn with_picker(
        ctx: &egui::Context,
        instances: Option<Instances>,
        picker: Arc<dyn FolderPicker>,
    ) -> TentacleManagerApp {
        let (tx, events) = mpsc::channel();
        let sink = Sink::new(tx, ctx.clone());
        let (watch, targets) = mpsc::channel();
        let watcher_sink = sink.clone();
        if let Err(e) = worker::spawn("status-watcher", sink.clone(), move |_| {
            worker::watch(targets, watcher_sink)
        }) {
            tracing::error!("{e}");
        }
        let mut app = TentacleManagerApp {
            source: instances,
            sink,
            events,
            loaded: None,
            loading: false,
            selected: DEFAULT_INSTANCE.to_owned(),
            added: Vec::new(),
            add_box: None,
            screen: Screen::Dashboard,
            live: None,
            service_job: None,
            message: None,
            watch,
            watching: None,
            picker,
            tray: None,
            tray_events: None,
            first_frame_logged: false,
            offers: Vec::new(),
            adopted: Vec::new(),
        };
        app.start_loading();
        app
    }

    /// The manager for the instances under `instances` (native folder dialogs, no tray).
    pub fn new(ctx: &egui::Context, instances: Instances) -> TentacleManagerApp {
        Self::with_picker(ctx, Some(instances), Arc::new(NativePicker))
    }

    /// The manager for this process's instances, with the tray where the desktop has one.
    pub fn for_this_machine(ctx: &egui::Context) -> TentacleManagerApp {
        let mut app = Self::with_picker(ctx, None, Arc::new(NativePicker));
        let (tx, rx) = mpsc::channel();
        match Tray::create(ctx, tx) {
            Ok(tray) => {
                app.tray = Some(tray);
                app.tray_events = Some(rx);
            }
            Err(e) => tracing::info!("no tray icon (the manager works without one): {e}"),
        }
        app
    }

    /// True while the instance list is being read.
    pub fn is_loading(&self) -> bool {
        self.loading
    }

    /// The last completed load.
    pub fn loaded(&self) -> Option<&LoadResult> {
        self.loaded.as_ref()
    }

    /// The screen shown.
    pub fn screen(&self) -> &Screen {
        &self.screen
    }

    /// The selected instance's name.
    pub fn selected(&self) -> &str {
        &self.selected
    }

    /// The live state shown for the selected instance.
    pub fn live(&self) -> Option<&Live> {
        self.live.as_ref()
    }

    /// True while any background job runs (load, service action, install, verify, checks, delete).
    pub fn is_busy(&self) -> bool {
        self.loading
            || self.service_job.as_ref().is_some_and(|(_, l)| l.running)
            || match &self.screen {
                Screen::Dashboard => false,
                Screen::Wizard(w) => w.install.running || w.verify.running,
                Screen::Checks(c) => c.running || c.fix.as_ref().is_some_and(|f| f.running()),
                Screen::Delete(d) => d.log.running,
                Screen::Proxy(p) => p.log.running,
                Screen::Log(_) => false,
                Screen::Trust(t) => t.log.running,
                Screen::Adopt(a) => a.log.running,
            }
    }

    /// What the tray shows now.
    pub fn tray_status(&self) -> TrayStatus {
        let summary = self.selected_summary();
        let Some(summary) = summary else {
            return TrayStatus::default();
        };
        let mut status = TrayStatus {
            instance: Some(summary.display_name().to_owned()),
            ..TrayStatus::default()
        };
        let live = self.live.as_ref().filter(|l| l.instance == self.selected);
        let now = tentacle_core::status::now_secs();
        status.headline = Some(crate::headline::headline(&crate::status_line::facts(
            live, now,
        )));
        if let Some(live) = live {
            status.service = Some(live.service.clone());
            if let Ok(Some(agent)) = &live.agent {
                status.agent_live = agent.is_live(tentacle_core::status::now_secs());
                let polling = agent.servers.iter().filter(|s| s.link.is_some());
                status.polling_servers = polling.clone().count();
                status.polling_connected = polling
                    .filter(|s| s.link == Some(tentacle_core::status::LinkStatus::Connected))
                    .count();
            }
        }
        status
    }

    fn instances(&self) -> Result<Instances, String> {
        match &self.source {
            Some(i) => Ok(i.clone()),
            None => Instances::discover().map_err(|e| e.to_string()),
        }
    }

    fn list(&self) -> &[InstanceSummary] {
        self.loaded
            .as_ref()
            .and_then(|l| l.instances.as_ref().ok())
            .map_or(&[], Vec::as_slice)
    }

    fn selected_summary(&self) -> Option<&InstanceSummary> {
        self.list().iter().find(|s| s.name == self.selected)
    }

    /// (name, display name) for the selector: existing instances (default first), then added ones.
    fn selector_names(&self) -> Vec<(String, String)> {
        let mut names: Vec<String> = self.list().iter().map(|s| s.name.clone()).collect();
        for extra in self.added.iter().chain(std::iter::once(&self.selected)) {
            if !names.iter().any(|n| n.eq_ignore_ascii_case(extra)) {
                names.push(extra.clone());
            }
        }
        if names.is_empty() {
            names.push(DEFAULT_INSTANCE.to_owned());
        }
        names
            .into_iter()
            .map(|n| {
                let display = instance::display_name(&n).to_owned();
                (n, display)
            })
            .collect()
    }

    fn start_loading(&mut self) {
        if self.loading {
            return;
        }
        let source = self.source.clone();
        let started = worker::spawn("instance-loader", self.sink.clone(), move |sink| {
            let result = match source {
                Some(instances) => load_instances(&instances),
                None => match Instances::discover() {
                    Ok(instances) => load_instances(&instances),
                    Err(e) => LoadResult::failed(e.to_string()),
                },
            };
            sink.send(Event::Loaded(result));
        });
        match started {
            Ok(()) => self.loading = true,
            Err(e) => self.loaded = Some(LoadResult::failed(e)),
        }
    }

    /// Points the watcher at the selected instance when that changed.
    fn update_watch(&mut self) {
        let target = self.selected_summary().and_then(|s| {
            s.details.as_ref().ok().map(|d| WatchTarget {
                instance: s.name.clone(),
                home: d.home.clone(),
                logs: d.logs.clone(),
            })
        });
        if target != self.watching {
            if target.as_ref().map(|t| &t.instance) != self.live.as_ref().map(|l| &l.instance) {
                self.live = None;
            }
            self.watching = target.clone();
            let _ = self.watch.send(target);
        }
    }

    fn draw(&mut self, ui: &mut egui::Ui) -> Vec<Command> {
        let mut commands = Vec::new();
        let names = self.selector_names();
        let selector_enabled = matches!(self.screen, Screen::Dashboard) && !self.is_busy();
        view::header(ui, &names, &self.selected, selector_enabled, &mut commands);
        if let Some(name) = &mut self.add_box {
            add_instance_box(ui, name, &names, &mut commands);
        }
        egui::Frame::new().inner_margin(12.0).show(ui, |ui| {
            if let Some(m) = &self.message {
                error_text(ui, m);
            }
            match &mut self.screen {
                Screen::Wizard(w) => wizard::pages::wizard(ui, w, &mut commands),
                Screen::Checks(c) => checks_view::checks(ui, c, &mut commands),
                Screen::Delete(d) => delete::delete(ui, d, &mut commands),
                Screen::Proxy(p) => proxy_view::proxy(ui, p, &mut commands),
                Screen::Log(l) => crate::log_view::log_view(ui, l, &mut commands),
                Screen::Trust(t) => {
                    let summary = self
                        .loaded
                        .as_ref()
                        .and_then(|l| l.instances.as_ref().ok())
                        .and_then(|list| list.iter().find(|s| s.name == self.selected));
                    let live = self.live.as_ref().filter(|l| l.instance == self.selected);
                    crate::trust_view::trust(ui, t, summary, live, &mut commands);
                }
                Screen::Adopt(a) => crate::adopt_view::adopt(ui, a, &mut commands),
                Screen::Dashboard => {
                    crate::adopt_view::offers(ui, &self.offers, &mut commands);
                    if self.adopted.contains(&self.selected) {
                        crate::adopt_view::hand_back_bar(ui, &mut commands);
                    }
                    let live = self.live.as_ref().filter(|l| l.instance == self.selected);
                    let loaded = self.loaded.as_ref();
                    main_panel(
                        ui,
                        loaded,
                        &self.selected,
                        live,
                        self.service_job.as_ref(),
                        &mut commands,
                    );
                }
            }
        });
        commands
    }
}

fn add_instance_box(
    ui: &mut egui::Ui,
    name: &mut String,
    names: &[(String, String)],
    commands: &mut Vec<Command>,
) {
    egui::Frame::group(ui.style())
        .inner_margin(10.0)
        .show(ui, |ui| {
            ui.label(egui::RichText::new("Add New Instance").strong());
            view::text_field(ui, "Instance name", name, None);
            let trimmed = name.trim();
            let taken = names.iter().any(|(n, _)| n.eq_ignore_ascii_case(trimmed));
            let invalid = instance::validate_name(trimmed)
                .err()
                .map(|e| e.to_string());
            if trimmed.is_empty() {
                weak(ui, "Instance name is required.");
            } else if taken {
                error_text(ui, "An instance with this name already exists.");
            } else if let Some(e) = &invalid {
                error_text(ui, e);
            }
            ui.horizontal(|ui| {
                if ui.button("Cancel").clicked() {
                    commands.push(Command::CancelAddInstance);
                }
                let ok = !trimmed.is_empty() && !taken && invalid.is_none();
                if ui.add_enabled(ok, egui::Button::new("Create")).clicked() {
                    commands.push(Command::AddInstance(trimmed.to_owned()));
                }
            });
        });
}

fn main_panel(
    ui: &mut egui::Ui,
    loaded: Option<&LoadResult>,
    selected: &str,
    live: Option<&Live>,
    job: Option<&(ServiceAction, JobLog)>,
    commands: &mut Vec<Command>,
) {
    let Some(loaded) = loaded else {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label("Searching for Tentacle instances…");
        });
        return;
    };
    if let Some(scope) = &loaded.scope {
        weak(ui, scope);
        ui.add_space(6.0);
    }
    let list = match &loaded.instances {
        Err(message) => {
            error_text(ui, message);
            if ui.button("Refresh").clicked() {
                commands.push(Command::Refresh);
            }
            return;
        }
        Ok(list) => list,
    };
    match list.iter().find(|s| s.name == selected) {
        Some(summary) => {
            let model = DashboardModel {
                summary,
                live,
                job,
                now: tentacle_core::status::now_secs(),
            };
            egui::ScrollArea::vertical()
                .auto_shrink([false, false])
                .show(ui, |ui| {
                    dashboard::dashboard(ui, &model, commands);
                });
        }
        None => {
            ui.add_space(20.0);
            ui.label(egui::RichText::new("Welcome!").size(22.0).strong());
            ui.add_space(4.0);
            ui.label("Our getting started wizard will guide you through configuring your Tentacle deployment agent.");
            ui.add_space(10.0);
            let start = egui::Button::new(egui::RichText::new("Get started").strong().size(16.0))
                .fill(theme::GOOD);
            if ui.add(start).clicked() {
                commands.push(Command::StartWizard);
            }
        }
    }
}

impl eframe::App for TentacleManagerApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.receive(ctx);
        let status = self.tray_status();
        if let Some(tray) = &mut self.tray {
            tray.show(&status);
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        if !self.first_frame_logged {
            self.first_frame_logged = true;
            if std::env::var_os("TENTACLE_MANAGER_TIMING").is_some()
                && let Some(start) = PROCESS_START.get()
            {
                eprintln!("first frame after {} ms", start.elapsed().as_millis());
            }
        }
        let commands = self.draw(ui);
        for command in commands {
            self.apply(ui.ctx(), command);
        }
    }
}
