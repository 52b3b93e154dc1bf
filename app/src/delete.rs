//! "Delete this instance": confirm, stop and uninstall the service, optionally deregister from the Octopus Server, remove the instance (its files stay, as Tentacle does).

use egui::{Button, RichText, Ui};
use tentacle_core::service::Verbs;

use crate::commands::Command;
use crate::theme;
use crate::view::{error_text, heading, log_box, secret_field, text_field, weak};
use crate::wizard::JobLog;
use crate::wizard::plan::Step;

/// The delete screen's state (`Debug` leaves the API key out).
#[derive(Clone, Default)]
pub struct DeleteState {
    /// The instance to delete.
    pub instance: String,
    /// Also remove the machine from the Octopus Server.
    pub deregister: bool,
    /// It is a worker (`deregister-worker`), not a deployment target.
    pub worker: bool,
    /// The Octopus Server's web address, for deregistering.
    pub server_url: String,
    /// An API key, for deregistering (never shown, never stored).
    pub api_key: String,
    /// Why Delete was refused.
    pub error: Option<String>,
    /// The run.
    pub log: JobLog,
}

impl std::fmt::Debug for DeleteState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeleteState")
            .field("instance", &self.instance)
            .field("deregister", &self.deregister)
            .field("server_url", &self.server_url)
            .field("log", &self.log)
            .finish_non_exhaustive()
    }
}

impl DeleteState {
    /// The screen for `instance`.
    pub fn new(instance: &str) -> DeleteState {
        DeleteState {
            instance: instance.to_owned(),
            server_url: "https://".to_owned(),
            ..DeleteState::default()
        }
    }

    /// Checks the deregistration fields.
    pub fn check(&self) -> Result<(), String> {
        if !self.deregister {
            return Ok(());
        }
        let url = url::Url::parse(self.server_url.trim()).ok().filter(|u| {
            matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty())
        });
        if url.is_none() {
            return Err(
                "Please enter a valid Octopus Server URL, such as https://octopus.example.com"
                    .to_owned(),
            );
        }
        if !self.api_key.trim().starts_with("API-") {
            return Err(
                "Please enter an API key (it starts with \"API-\") to deregister with".to_owned(),
            );
        }
        Ok(())
    }

    /// The steps: stop and uninstall the service (may fail), deregister, delete the instance.
    pub fn plan(&self) -> Vec<Step> {
        let x = self.instance.as_str();
        let mut steps = vec![
            Step::service(
                x,
                Verbs {
                    stop: true,
                    uninstall: true,
                    ..Verbs::default()
                },
            )
            .allowed_to_fail(),
        ];
        if self.deregister {
            let verb = if self.worker {
                "deregister-worker"
            } else {
                "deregister-from"
            };
            steps.push(
                Step::cli(verb, x)
                    .opt("--server", self.server_url.trim())
                    .secret("--apiKey", self.api_key.trim()),
            );
        }
        steps.push(Step::cli("delete-instance", x));
        steps
    }
}

/// Draws the screen.
pub fn delete(ui: &mut Ui, s: &mut DeleteState, commands: &mut Vec<Command>) {
    let name = tentacle_core::instance::display_name(&s.instance).to_owned();
    heading(ui, &format!("Delete the {name} instance"));
    ui.label(
        RichText::new("Are you sure you want to delete your Tentacle instance?")
            .strong()
            .color(theme::warn_text(ui)),
    );
    weak(
        ui,
        "Deleting this instance will stop and uninstall the Tentacle service, and remove the instance from the list of instances. Files in the home directory will not be changed.",
    );
    ui.add_space(8.0);
    let busy = s.log.running;
    ui.add_enabled_ui(!busy, |ui| {
        ui.checkbox(
            &mut s.deregister,
            "Also deregister this machine from the Octopus Server",
        );
        if s.deregister {
            ui.indent("deregister", |ui| {
                ui.checkbox(&mut s.worker, "This Tentacle is a worker");
                text_field(ui, "Octopus Server URL", &mut s.server_url, None);
                secret_field(ui, "API Key", &mut s.api_key, None);
            });
        }
    });
    if let Some(e) = &s.error {
        error_text(ui, e);
    }
    ui.add_space(8.0);
    ui.horizontal(|ui| {
        if ui.add_enabled(!busy, Button::new("Cancel")).clicked() {
            commands.push(Command::ToDashboard);
        }
        let delete = Button::new(RichText::new("Delete").strong().color(egui::Color32::WHITE))
            .fill(theme::BAD);
        if ui.add_enabled(!busy, delete).clicked() {
            commands.push(Command::Delete);
        }
    });
    ui.add_space(8.0);
    log_box(ui, "delete-log", &s.log.lines, s.log.running);
    if let Some(Err(e)) = &s.log.outcome {
        error_text(ui, &format!("The instance was not deleted: {e}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wizard::plan::script;

    #[test]
    fn plan_stops_the_service_then_deletes_and_masks_the_key() {
        let mut s = DeleteState::new("Web");
        assert_eq!(
            script(&s.plan()),
            "tentacle service --instance \"Web\" --stop --uninstall\ntentacle delete-instance --instance \"Web\""
        );
        assert!(s.plan()[0].may_fail);
        s.deregister = true;
        assert!(s.check().is_err());
        s.server_url = "https://octopus.example".into();
        s.api_key = "API-XYZ".into();
        assert_eq!(s.check(), Ok(()));
        let text = script(&s.plan());
        assert!(text.contains("tentacle deregister-from --instance \"Web\" --server \"https://octopus.example\" --apiKey \"***\""), "{text}");
        assert!(!text.contains("API-XYZ"));
    }
}
