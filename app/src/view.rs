//! Drawing the instance list: functions of the model that do no I/O and return what the user asked for as [`Intent`]s.

use egui::text::{LayoutJob, TextFormat};
use egui::{Align, Button, Frame, Layout, RichText, ScrollArea, TextStyle, Ui};

use crate::model::{InstanceDetails, InstanceSummary, LoadResult, trusted_server_text};

/// The window's heading (also its title).
pub const TITLE: &str = "Tentacle Manager";
/// The command the empty state suggests.
pub const CREATE_INSTANCE_COMMAND: &str = "tentacle create-instance --instance Tentacle";

/// Something the user asked for; the app applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// Read the instance list again.
    Refresh,
    /// Put this text (a thumbprint) on the clipboard.
    Copy(String),
}

/// What the view needs to know about loading.
#[derive(Debug, Clone, Copy)]
pub struct ViewModel<'a> {
    /// The last completed load, if any.
    pub loaded: Option<&'a LoadResult>,
    /// A load is running in the background.
    pub loading: bool,
}

/// The whole window: heading, where instances live, one card per instance.
pub fn main_view(ui: &mut Ui, model: ViewModel<'_>) -> Vec<Intent> {
    let mut intents = Vec::new();
    ui.horizontal(|ui| {
        ui.label(RichText::new(TITLE).heading().strong());
        ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
            let refresh = ui
                .add_enabled(!model.loading, Button::new("Refresh"))
                .on_hover_text("Read the instance list again");
            if refresh.clicked() {
                intents.push(Intent::Refresh);
            }
            if model.loading && model.loaded.is_some() {
                ui.spinner();
            }
        });
    });

    let Some(loaded) = model.loaded else {
        ui.add_space(12.0);
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label("Loading instances…");
        });
        return intents;
    };

    if let Some(scope) = &loaded.scope {
        ui.label(RichText::new(scope).weak());
    }
    ui.add_space(12.0);
    match &loaded.instances {
        Err(message) => error_label(ui, message),
        Ok(list) if list.is_empty() => welcome(ui),
        Ok(list) => {
            ScrollArea::vertical()
                .auto_shrink([false, false])
                .show(ui, |ui| {
                    for summary in list {
                        instance_card(ui, summary, &mut intents);
                        ui.add_space(8.0);
                    }
                });
        }
    }
    intents
}

/// The empty state: what to do when there is nothing to show.
fn welcome(ui: &mut Ui) {
    ui.label(RichText::new("Welcome!").size(20.0).strong());
    ui.add_space(4.0);
    ui.label("No Tentacle instances are configured on this machine yet. Create one with:");
    ui.add_space(4.0);
    ui.label(RichText::new(CREATE_INSTANCE_COMMAND).code());
    ui.add_space(4.0);
    ui.label("Then press Refresh.");
}

/// One instance: its name, thumbprint, mode and trusted servers, or why its config cannot be read.
fn instance_card(ui: &mut Ui, summary: &InstanceSummary, intents: &mut Vec<Intent>) {
    Frame::group(ui.style())
        .inner_margin(12.0)
        .corner_radius(6.0)
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.label(RichText::new(summary.display_name()).size(18.0).strong());
            ui.add_space(4.0);
            match &summary.details {
                Ok(details) => instance_details(ui, summary, details, intents),
                Err(message) => error_label(ui, message),
            }
        });
}

fn instance_details(
    ui: &mut Ui,
    summary: &InstanceSummary,
    details: &InstanceDetails,
    intents: &mut Vec<Intent>,
) {
    match &details.thumbprint {
        Some(thumbprint) => {
            ui.horizontal(|ui| {
                ui.label(RichText::new("Thumbprint").weak());
                ui.label(RichText::new(thumbprint.as_str()).monospace().strong());
                let copy = ui
                    .button("Copy")
                    .on_hover_text("Copy the thumbprint to the clipboard");
                if copy.clicked() {
                    intents.push(Intent::Copy(thumbprint.to_string()));
                }
            });
        }
        None => weak_with_command(
            ui,
            "No certificate yet. Create one with: ",
            &summary.new_certificate_command(),
        ),
    }
    ui.label(RichText::new(details.mode_text()).weak());
    for server in &details.trusted_servers {
        ui.label(RichText::new(trusted_server_text(server)).weak());
    }
}

/// Grey prose followed by a command in monospace, as one label so it reads as one sentence.
fn weak_with_command(ui: &mut Ui, prose: &str, command: &str) {
    let color = ui.visuals().weak_text_color();
    let mut job = LayoutJob::default();
    job.append(
        prose,
        0.0,
        TextFormat::simple(TextStyle::Body.resolve(ui.style()), color),
    );
    job.append(
        command,
        0.0,
        TextFormat::simple(TextStyle::Monospace.resolve(ui.style()), color),
    );
    ui.label(job);
}

fn error_label(ui: &mut Ui, message: &str) {
    let color = ui.visuals().error_fg_color;
    ui.label(RichText::new(message).color(color));
}
