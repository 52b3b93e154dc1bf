//! Adopting an Octopus Tentacle instance on this machine, and handing it back: the dashboard's offer, the summary screen, and the `tentacle import-tentacle` / `export-tentacle` steps it runs.

use std::path::{Path, PathBuf};

use egui::{Button, RichText, Ui};
use tentacle_core::official::{self, Adoption, ImportRequest};

use crate::commands::Command;
use crate::theme;
use crate::view::{error_text, heading, log_box, weak};
use crate::wizard::JobLog;
use crate::wizard::plan::Step;
use crate::worker::{self, Event, Sink};

/// An official instance that ours has not adopted, with what adopting it would bring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// The official instance's name (ours would get the same).
    pub name: String,
    /// The summary lines (secrets masked), or why it cannot be adopted.
    pub summary: Result<Vec<String>, String>,
}

/// What the finder found: offers, and which of ours were adopted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    /// Official instances ours has not adopted.
    pub offers: Vec<Offer>,
    /// Names of our instances that were adopted.
    pub adopted: Vec<String>,
}

/// Looks for offers and adopted instances on a worker thread; the answer comes as [`Event::Offers`].
pub fn spawn_finder(sink: &Sink, ours: Vec<(String, PathBuf)>) -> Result<(), String> {
    worker::spawn("official-tentacle-finder", sink.clone(), move |sink| {
        let names: Vec<String> = ours.iter().map(|(n, _)| n.clone()).collect();
        let adopted = ours
            .iter()
            .filter(|(_, config)| is_adopted(config))
            .map(|(n, _)| n.clone())
            .collect();
        sink.send(Event::Offers(Found {
            offers: find_offers(&names),
            adopted,
        }));
    })
}

/// Reads the official instances whose names ours does not use, and plans each (nothing is written).
pub fn find_offers(ours: &[String]) -> Vec<Offer> {
    let Ok(found) = official::list_instances() else {
        return Vec::new();
    };
    found
        .into_iter()
        .filter(|o| !ours.iter().any(|n| n.eq_ignore_ascii_case(&o.name)))
        .map(|o| {
            let request = ImportRequest {
                instance: Some(o.name.clone()),
                ..ImportRequest::default()
            };
            Offer {
                summary: official::plan(&request)
                    .map(|p| p.summary())
                    .map_err(|e| e.to_string()),
                name: o.name,
            }
        })
        .collect()
}

/// True when the instance whose config is `config` was adopted from Octopus Tentacle.
pub fn is_adopted(config: &Path) -> bool {
    Adoption::load(config).is_some()
}

/// Adopting or handing back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Octopus Tentacle → this Tentacle.
    Adopt,
    /// This Tentacle → Octopus Tentacle.
    HandBack,
}

/// The adopt / hand-back screen.
#[derive(Debug, Clone)]
pub struct AdoptState {
    /// The instance.
    pub name: String,
    /// Which way.
    pub direction: Direction,
    /// The offer's summary (adopting only).
    pub summary: Vec<String>,
    /// Also install and start this Tentacle's service.
    pub install_service: bool,
    /// The run.
    pub log: JobLog,
    /// The adoption ran and was then undone.
    pub undone: bool,
}

impl AdoptState {
    /// The screen for adopting `offer`.
    pub fn adopt(offer: &Offer) -> AdoptState {
        AdoptState {
            name: offer.name.clone(),
            direction: Direction::Adopt,
            summary: offer.summary.clone().unwrap_or_default(),
            install_service: true,
            log: JobLog::default(),
            undone: false,
        }
    }

    /// The screen for handing `name` back.
    pub fn hand_back(name: &str) -> AdoptState {
        AdoptState {
            name: name.to_owned(),
            direction: Direction::HandBack,
            summary: Vec::new(),
            install_service: false,
            log: JobLog::default(),
            undone: false,
        }
    }

    /// The steps: `import-tentacle` (undone by `export-tentacle` if a later step fails), or `export-tentacle`.
    pub fn plan(&self) -> Vec<Step> {
        match self.direction {
            Direction::Adopt => {
                let mut step = Step::cli("import-tentacle", &self.name);
                if self.install_service {
                    step = step.flag("--install-service");
                }
                step.undo = Some(Box::new(Step::cli("export-tentacle", &self.name)));
                vec![step]
            }
            Direction::HandBack => vec![Step::cli("export-tentacle", &self.name)],
        }
    }
}

/// The dashboard's offers: one box per official instance not yet adopted.
pub fn offers(ui: &mut Ui, offers: &[Offer], commands: &mut Vec<Command>) {
    for offer in offers {
        egui::Frame::group(ui.style())
            .inner_margin(10.0)
            .show(ui, |ui| {
                ui.label(
                    RichText::new(format!(
                        "Octopus Tentacle instance '{}' is on this machine",
                        offer.name
                    ))
                    .strong(),
                );
                match &offer.summary {
                    Ok(lines) => {
                        for line in lines.iter().filter(|l| keep_on_dashboard(l)) {
                            ui.label(line);
                        }
                        let label = format!("Adopt '{}' from Octopus Tentacle", offer.name);
                        if ui
                            .add(Button::new(RichText::new(label).strong()).fill(theme::GOOD))
                            .clicked()
                        {
                            commands.push(Command::OpenAdopt(offer.name.clone()));
                        }
                    }
                    Err(e) => {
                        error_text(ui, &format!("It cannot be adopted: {e}"));
                    }
                }
            });
        ui.add_space(8.0);
    }
}

/// The dashboard shows the gist; the adopt screen shows every line.
fn keep_on_dashboard(line: &str) -> bool {
    [
        "Certificate thumbprint",
        "Mode",
        "Trusted server",
        "The Octopus Tentacle service",
    ]
    .iter()
    .any(|p| line.starts_with(p))
}

/// The dashboard's hand-back bar for an adopted instance.
pub fn hand_back_bar(ui: &mut Ui, commands: &mut Vec<Command>) {
    ui.horizontal(|ui| {
        weak(ui, "This instance was adopted from Octopus Tentacle.");
        if ui.button("Hand back to Octopus Tentacle").clicked() {
            commands.push(Command::OpenHandBack);
        }
    });
    ui.add_space(6.0);
}

/// The screen.
pub fn adopt(ui: &mut Ui, state: &mut AdoptState, commands: &mut Vec<Command>) {
    let busy = state.log.running;
    let ran = state.log.outcome.is_some();
    match state.direction {
        Direction::Adopt => {
            heading(ui, &format!("Adopt '{}' from Octopus Tentacle", state.name));
            weak(
                ui,
                "This Tentacle takes over the instance with its certificate, trusted servers, port and folders, so Octopus Server sees the same machine. Nothing is re-registered.",
            );
            ui.add_space(6.0);
            for line in &state.summary {
                ui.label(line);
            }
            ui.add_space(6.0);
            ui.add_enabled_ui(!busy && !ran, |ui| {
                ui.checkbox(
                    &mut state.install_service,
                    "Install and start this Tentacle's service",
                );
            });
        }
        Direction::HandBack => {
            heading(
                ui,
                &format!("Hand '{}' back to Octopus Tentacle", state.name),
            );
            weak(
                ui,
                "Writes this instance's settings and certificate back into the Octopus Tentacle config, stops and removes this Tentacle's service, puts the Octopus Tentacle service back as it was, and removes the instance from this Tentacle (its files stay).",
            );
        }
    }
    ui.add_space(8.0);
    ui.horizontal(|ui| {
        if ui
            .add_enabled(!busy, Button::new("Back to dashboard"))
            .clicked()
        {
            commands.push(Command::ToDashboard);
        }
        let (label, command) = match state.direction {
            Direction::Adopt => ("Adopt", Command::RunAdopt),
            Direction::HandBack => ("Hand back", Command::RunHandBack),
        };
        if !ran
            && ui
                .add_enabled(
                    !busy,
                    Button::new(RichText::new(label).strong()).fill(theme::GOOD),
                )
                .clicked()
        {
            commands.push(command);
        }
        if state.direction == Direction::Adopt
            && state.log.succeeded()
            && !state.undone
            && ui
                .add_enabled(!busy, Button::new("Undo: hand back to Octopus Tentacle"))
                .clicked()
        {
            commands.push(Command::UndoAdopt);
        }
    });
    if ran || busy {
        ui.add_space(8.0);
        log_box(ui, "adopt-log", &state.log.lines, busy);
        match &state.log.outcome {
            Some(Ok(())) if state.undone => {
                weak(ui, "Handed back: Octopus Tentacle has the instance again.")
            }
            Some(Ok(())) if state.direction == Direction::Adopt => {
                weak(ui, "Adopted. The dashboard shows it now.")
            }
            Some(Ok(())) => weak(ui, "Handed back: Octopus Tentacle has the instance again."),
            Some(Err(e)) => error_text(ui, e),
            None => {}
        }
    }
}
