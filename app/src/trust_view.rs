//! The trust editor: the Octopus Servers this Tentacle trusts (thumbprint, style, address, subscription, and the agent's live link and last contact), with add, remove and update-thumbprint, each shown as the `tentacle` lines it runs and checked as the CLI checks them.

use egui::{Grid, RichText, Ui};
use tentacle_core::status::{LinkStatus, ServerStatus, now_secs};
use tentacle_core::trust::{self, CommunicationStyle, Thumbprint, TrustedServer};

use crate::commands::{Command, ServiceAction};
use crate::dashboard::ago;
use crate::model::InstanceSummary;
use crate::theme;
use crate::view::{error_text, heading, log_box, text_field, weak};
use crate::wizard::JobLog;
use crate::wizard::plan::{Step, script};
use crate::worker::Live;

/// What the form below the list does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustEdit {
    /// Trust another server.
    Add,
    /// Replace this thumbprint (the server's certificate changed).
    Update(String),
    /// Stop trusting this thumbprint.
    Remove(String),
}

/// The editor's state.
#[derive(Debug, Clone)]
pub struct TrustState {
    /// The instance edited.
    pub instance: String,
    /// What the form does; `None`: no form open.
    pub edit: Option<TrustEdit>,
    /// The thumbprint typed (add, update).
    pub thumbprint: String,
    /// Add: listening or polling.
    pub polling: bool,
    /// Add, polling: the server's host.
    pub host: String,
    /// Add, polling: its port.
    pub port: String,
    /// Add, polling: a `wss://` address instead of host and port.
    pub web_socket: String,
    /// The last change's run.
    pub log: JobLog,
}

impl TrustState {
    /// The editor for `instance`, no form open.
    pub fn new(instance: &str) -> TrustState {
        TrustState {
            instance: instance.to_owned(),
            edit: None,
            thumbprint: String::new(),
            polling: false,
            host: String::new(),
            port: "10943".to_owned(),
            web_socket: String::new(),
            log: JobLog::default(),
        }
    }

    /// Opens the form for `edit`, with empty fields.
    pub fn begin(&mut self, edit: TrustEdit) {
        *self = TrustState {
            edit: Some(edit),
            log: std::mem::take(&mut self.log),
            ..TrustState::new(&self.instance)
        };
    }

    /// The steps for the open form against the servers trusted now, or what is wrong, in the
    /// CLI's own words where the CLI's checks apply (thumbprint, port, polling address).
    pub fn plan(&self, trusted: &[TrustedServer]) -> Result<Vec<Step>, String> {
        let x = self.instance.as_str();
        let is_trusted = |t: &Thumbprint| trusted.iter().any(|s| &s.thumbprint == t);
        match &self.edit {
            None => Err("Choose Add, Update thumbprint or Remove first".to_owned()),
            Some(TrustEdit::Remove(old)) => {
                Ok(vec![Step::cli("configure", x).opt("--remove-trust", old)])
            }
            Some(TrustEdit::Update(old)) => {
                let new = Thumbprint::parse(&self.thumbprint).map_err(|e| e.to_string())?;
                if new.as_str().eq_ignore_ascii_case(old) {
                    return Err("The new thumbprint is the one trusted now; paste the server's new certificate thumbprint".to_owned());
                }
                if is_trusted(&new) {
                    return Err(format!(
                        "{new} is trusted already; remove the old entry instead"
                    ));
                }
                Ok(vec![
                    Step::cli("update-trust", x)
                        .opt("--oldThumbprint", old)
                        .opt("--newThumbprint", new.as_str()),
                ])
            }
            Some(TrustEdit::Add) => {
                let t = Thumbprint::parse(&self.thumbprint).map_err(|e| e.to_string())?;
                if is_trusted(&t) {
                    return Err(format!(
                        "The Octopus Server {t} is trusted already; use Update thumbprint or Remove on its row"
                    ));
                }
                let trust = Step::cli("configure", x).opt("--trust", t.as_str());
                if !self.polling {
                    return Ok(vec![trust]);
                }
                let comms = Step::cli("server-comms", x)
                    .opt("--thumbprint", t.as_str())
                    .opt("--style", CommunicationStyle::Polling.tentacle_name());
                let ws = self.web_socket.trim();
                let comms = if !ws.is_empty() {
                    trust::web_socket_address(ws).map_err(|e| e.to_string())?;
                    comms.opt("--web-socket", ws)
                } else {
                    let host = self.host.trim();
                    if host.is_empty() {
                        return Err("Enter the Octopus Server's host name to poll, or a wss:// WebSocket address".to_owned());
                    }
                    let port = self
                        .port
                        .trim()
                        .parse::<u16>()
                        .ok()
                        .filter(|p| *p > 0)
                        .ok_or_else(|| {
                            format!(
                                "The polling port must be a number from 1 to 65535, not \"{}\"",
                                self.port.trim()
                            )
                        })?;
                    trust::polling_address(host, port).map_err(|e| e.to_string())?;
                    comms.opt("--host", host).opt("--port", port.to_string())
                };
                Ok(vec![trust, comms])
            }
        }
    }
}

/// The agent's report for `thumbprint`, if it gave one.
fn live_for<'a>(live: Option<&'a Live>, thumbprint: &str) -> Option<&'a ServerStatus> {
    let agent = live?.agent.as_ref().ok()?.as_ref()?;
    if !agent.is_live(now_secs()) {
        return None;
    }
    agent
        .servers
        .iter()
        .find(|s| s.thumbprint.eq_ignore_ascii_case(thumbprint))
}

/// The trust editor screen.
pub fn trust(
    ui: &mut Ui,
    t: &mut TrustState,
    summary: Option<&InstanceSummary>,
    live: Option<&Live>,
    commands: &mut Vec<Command>,
) {
    ui.horizontal(|ui| {
        if ui
            .add_enabled(!t.log.running, egui::Button::new("Back"))
            .clicked()
        {
            commands.push(Command::ToDashboard);
        }
        heading(ui, "Trusted Octopus Servers");
    });
    let trusted: &[TrustedServer] = match summary.map(|s| &s.details) {
        Some(Ok(d)) => &d.trusted_servers,
        Some(Err(e)) => {
            error_text(ui, e);
            return;
        }
        None => {
            ui.spinner();
            return;
        }
    };
    weak(
        ui,
        "This Tentacle accepts requests only from these certificates. The agent reads this list when it starts.",
    );
    ui.add_space(6.0);
    let now = now_secs();
    let busy = t.log.running;
    if trusted.is_empty() {
        weak(ui, "No Octopus Server is trusted yet.");
    } else {
        // One card per server (a wide grid would not fit a small window with 40-character thumbprints).
        for s in trusted {
            let th = s.thumbprint.as_str();
            egui::Frame::group(ui.style())
                .inner_margin(8.0)
                .show(ui, |ui| {
                    ui.set_width(ui.available_width());
                    ui.horizontal_wrapped(|ui| {
                        ui.label(RichText::new(th).monospace().strong());
                        if ui
                            .add_enabled(!busy, egui::Button::new("Update thumbprint"))
                            .on_hover_text(format!("Replace {th} with the server's new thumbprint"))
                            .clicked()
                        {
                            t.begin(TrustEdit::Update(th.to_owned()));
                        }
                        if ui
                            .add_enabled(!busy, egui::Button::new("Remove"))
                            .on_hover_text(format!("Stop trusting {th}"))
                            .clicked()
                        {
                            t.begin(TrustEdit::Remove(th.to_owned()));
                        }
                    });
                    Grid::new(("trust-server", th))
                        .num_columns(2)
                        .spacing([12.0, 4.0])
                        .show(ui, |ui| {
                            ui.label(RichText::new("Style").weak());
                            ui.label(match s.style {
                                CommunicationStyle::Listening => "Listening",
                                CommunicationStyle::Polling => "Polling",
                            });
                            ui.end_row();
                            if let Some(address) = &s.address {
                                ui.label(RichText::new("Address").weak());
                                ui.label(address);
                                ui.end_row();
                            }
                            if let Some(id) = &s.subscription_id {
                                ui.label(RichText::new("Subscription").weak());
                                ui.label(id);
                                ui.end_row();
                            }
                            ui.label(RichText::new("Link").weak());
                            link_cell(ui, live_for(live, th), now);
                            ui.end_row();
                        });
                });
            ui.add_space(4.0);
        }
    }
    ui.add_space(8.0);
    if t.edit.is_none()
        && ui
            .add_enabled(!busy, egui::Button::new("Add a trusted server"))
            .clicked()
    {
        t.begin(TrustEdit::Add);
    }
    if t.edit.is_some() {
        form(ui, t, trusted, commands);
    }
    if !t.log.lines.is_empty() || t.log.running {
        ui.add_space(8.0);
        log_box(ui, "trust-log", &t.log.lines, t.log.running);
        match &t.log.outcome {
            Some(Ok(())) => {
                ui.horizontal_wrapped(|ui| {
                    ui.label(
                        RichText::new("Saved. The agent reads trust when it starts: restart it to use the change.")
                            .color(theme::good_text(ui)),
                    );
                    let running = live.is_some_and(|l| {
                        matches!(l.service, Ok(tentacle_core::service::ServiceStatus::Running))
                    });
                    if running && ui.button("Restart service").clicked() {
                        commands.push(Command::Service(ServiceAction::Restart));
                    }
                });
            }
            Some(Err(e)) => error_text(ui, e),
            None => {}
        }
    }
}

fn link_cell(ui: &mut Ui, report: Option<&ServerStatus>, now: u64) {
    let Some(r) = report else {
        ui.label(RichText::new("No report (agent not running)").weak());
        return;
    };
    let contact = r.last_contact.map_or_else(
        || "no contact yet".to_owned(),
        |c| format!("last contact {}", ago(now, c)),
    );
    let (word, colour) = match r.link {
        Some(LinkStatus::Connected) => ("Connected", theme::good_text(ui)),
        Some(LinkStatus::Connecting) => ("Connecting", theme::warn_text(ui)),
        Some(LinkStatus::Disconnected) => ("Disconnected", theme::error(ui)),
        None => ("Listening", ui.visuals().text_color()),
    };
    ui.label(RichText::new(format!("{word}, {contact}")).color(colour));
}

fn form(ui: &mut Ui, t: &mut TrustState, trusted: &[TrustedServer], commands: &mut Vec<Command>) {
    egui::Frame::group(ui.style()).inner_margin(10.0).show(ui, |ui| {
        match t.edit.clone() {
            Some(TrustEdit::Add) => {
                ui.label(RichText::new("Add a trusted Octopus Server").strong());
                text_field(ui, "Octopus Server thumbprint", &mut t.thumbprint, None);
                ui.horizontal(|ui| {
                    ui.radio_value(&mut t.polling, false, "Listening (the server connects here)");
                    ui.radio_value(&mut t.polling, true, "Polling (this Tentacle connects out)");
                });
                if t.polling {
                    text_field(ui, "Server host", &mut t.host, None);
                    text_field(ui, "Polling port", &mut t.port, None);
                    text_field(ui, "Or a WebSocket address (wss://…)", &mut t.web_socket, None);
                }
            }
            Some(TrustEdit::Update(old)) => {
                ui.label(RichText::new(format!("Update the thumbprint {old}")).strong());
                weak(ui, "After the Octopus Server's certificate changed: paste its new thumbprint.");
                text_field(ui, "New thumbprint", &mut t.thumbprint, None);
            }
            Some(TrustEdit::Remove(old)) => {
                ui.label(RichText::new(format!("Stop trusting {old}?")).strong());
                weak(ui, "That server can no longer talk to this Tentacle until it is trusted again.");
            }
            None => return,
        }
        let planned = t.plan(trusted);
        match &planned {
            Ok(steps) => {
                weak(ui, "This runs:");
                ui.label(RichText::new(script(steps)).monospace());
            }
            Err(e) => error_text(ui, e),
        }
        ui.horizontal(|ui| {
            if ui.add_enabled(!t.log.running, egui::Button::new("Cancel")).clicked() {
                t.edit = None;
            }
            let label = match t.edit {
                Some(TrustEdit::Remove(_)) => "Remove trust",
                Some(TrustEdit::Update(_)) => "Save new thumbprint",
                _ => "Add server",
            };
            if ui
                .add_enabled(planned.is_ok() && !t.log.running, egui::Button::new(label))
                .clicked()
            {
                commands.push(Command::ApplyTrust);
            }
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thumb(c: char) -> String {
        c.to_string().repeat(40)
    }

    fn trusted() -> Vec<TrustedServer> {
        vec![TrustedServer::listening(
            Thumbprint::parse(&thumb('A')).unwrap(),
        )]
    }

    /// The script, without the quotes `script` puts around values.
    fn lines(t: &TrustState) -> Result<String, String> {
        t.plan(&trusted()).map(|s| script(&s).replace('"', ""))
    }

    #[test]
    fn each_change_is_the_cli_line_it_runs() {
        let mut t = TrustState::new("Web 1");
        t.begin(TrustEdit::Add);
        t.thumbprint = thumb('b');
        assert_eq!(
            lines(&t).unwrap(),
            format!("tentacle configure --instance Web 1 --trust {}", thumb('B'))
        );
        t.polling = true;
        t.host = "octopus.example".into();
        let script = lines(&t).unwrap();
        assert!(
            script.ends_with("--style TentacleActive --host octopus.example --port 10943"),
            "{script}"
        );
        t.begin(TrustEdit::Remove(thumb('A')));
        assert_eq!(
            lines(&t).unwrap(),
            format!(
                "tentacle configure --instance Web 1 --remove-trust {}",
                thumb('A')
            )
        );
        t.begin(TrustEdit::Update(thumb('A')));
        t.thumbprint = thumb('C');
        assert!(lines(&t).unwrap().contains(&format!(
            "update-trust --instance Web 1 --oldThumbprint {} --newThumbprint {}",
            thumb('A'),
            thumb('C')
        )));
    }

    #[test]
    fn bad_input_is_refused_in_the_clis_words() {
        let mut t = TrustState::new("Tentacle");
        t.begin(TrustEdit::Add);
        t.thumbprint = "API-ABC".into();
        assert!(lines(&t).is_err());
        t.thumbprint = thumb('A');
        assert!(lines(&t).unwrap_err().contains("trusted already"));
        t.thumbprint = thumb('D');
        t.polling = true;
        assert!(lines(&t).unwrap_err().contains("host name"));
        t.host = "octopus".into();
        t.port = "70000".into();
        assert!(lines(&t).unwrap_err().contains("70000"));
        t.web_socket = "http://not-wss".into();
        assert!(lines(&t).is_err());
        t.begin(TrustEdit::Update(thumb('A')));
        t.thumbprint = thumb('a');
        assert!(lines(&t).unwrap_err().contains("trusted now"));
    }
}
