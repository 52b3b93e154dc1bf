//! The status dashboard for an existing instance: service state and buttons, thumbprint and trust sentence, folders, proxy, each server's live link.

use egui::{Align, Button, Grid, Layout, RichText, Ui};
use tentacle_core::service::ServiceStatus;
use tentacle_core::status::{AgentStatus, LinkStatus};

use crate::commands::{Command, ServiceAction};
use crate::model::{InstanceDetails, InstanceSummary};
use crate::sentences::{communication_mode, proxy_sentence, trust_sentence};
use crate::theme;
use crate::view::{error_text, log_box, weak};
use crate::wizard::JobLog;
use crate::worker::Live;

/// What the dashboard draws.
pub struct DashboardModel<'a> {
    /// The instance.
    pub summary: &'a InstanceSummary,
    /// Its live state, once the watcher has looked.
    pub live: Option<&'a Live>,
    /// The last service action and its log.
    pub job: Option<&'a (ServiceAction, JobLog)>,
    /// Seconds since the Unix epoch, for "last contact 5 s ago".
    pub now: u64,
}

/// The dashboard.
pub fn dashboard(ui: &mut Ui, m: &DashboardModel<'_>, commands: &mut Vec<Command>) {
    let service = m.live.map(|l| &l.service);
    let running = matches!(service, Some(Ok(ServiceStatus::Running)));
    let busy = m.job.is_some_and(|(_, log)| log.running);
    // One status: the service and the agent's own report merged (crate::headline).
    let headline = crate::headline::headline(&crate::status_line::facts(m.live, m.now));

    ui.horizontal(|ui| {
        crate::status_line::status_badge(ui, headline.tone);
        ui.label(RichText::new(m.summary.display_name()).size(24.0).strong());
        ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
            if ui
                .add_enabled(!busy, Button::new("Reinstall"))
                .on_hover_text("Stop, uninstall, install and start the service")
                .clicked()
            {
                commands.push(Command::Service(ServiceAction::Reinstall));
            }
            if ui
                .add_enabled(!busy && running, Button::new("Restart"))
                .clicked()
            {
                commands.push(Command::Service(ServiceAction::Restart));
            }
            if ui
                .add_enabled(
                    !busy
                        && !matches!(
                            service,
                            Some(Ok(ServiceStatus::Running)) | Some(Ok(ServiceStatus::Pending(_)))
                        ),
                    Button::new("Start service"),
                )
                .clicked()
            {
                commands.push(Command::Service(ServiceAction::Start));
            }
            if ui
                .add_enabled(!busy && running, Button::new("Stop service"))
                .clicked()
            {
                commands.push(Command::Service(ServiceAction::Stop));
            }
        });
    });
    if m.summary.details.is_ok() {
        crate::status_line::status_line(ui, &headline, running, !busy, commands);
    }
    ui.add_space(8.0);

    match &m.summary.details {
        Ok(details) => details_grid(ui, m, details, commands),
        Err(message) => error_text(ui, message),
    }

    if let Some((action, log)) = m.job {
        ui.add_space(8.0);
        ui.separator();
        ui.label(RichText::new(action.title()).strong());
        log_box(ui, "service-log", &log.lines, log.running);
        match &log.outcome {
            Some(Err(e)) => {
                error_text(ui, e);
                if let Ok(d) = &m.summary.details
                    && ui.link("Open logs directory").clicked()
                {
                    commands.push(Command::OpenFolder(d.logs.clone()));
                }
            }
            Some(Ok(())) => {
                ui.label(RichText::new("Done.").color(theme::good_text(ui)));
            }
            None => {}
        }
        if !log.running && ui.button("Close log").clicked() {
            commands.push(Command::DismissJob);
        }
    }

    ui.add_space(12.0);
    ui.horizontal(|ui| {
        if ui
            .add_enabled(!busy, Button::new("Run checks"))
            .on_hover_text("Check every connection this Tentacle needs")
            .clicked()
        {
            commands.push(Command::OpenChecks);
        }
        if ui
            .add_enabled(!busy, Button::new("Trusted servers…"))
            .on_hover_text("See, add, remove and update the Octopus Servers this Tentacle trusts")
            .clicked()
        {
            commands.push(Command::OpenTrust);
        }
        if ui
            .add_enabled(!busy, Button::new("View log"))
            .on_hover_text("Follow the agent's log")
            .clicked()
        {
            commands.push(Command::OpenLog);
        }
        if ui
            .add_enabled(!busy, Button::new("Delete this instance…"))
            .clicked()
        {
            commands.push(Command::OpenDelete);
        }
    });
}

fn details_grid(
    ui: &mut Ui,
    m: &DashboardModel<'_>,
    d: &InstanceDetails,
    commands: &mut Vec<Command>,
) {
    Grid::new("dashboard-grid").num_columns(2).spacing([16.0, 10.0]).show(ui, |ui| {
        ui.label(RichText::new("Service:").strong());
        match m.live.map(|l| &l.service) {
            None => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("Checking the service…");
                });
            }
            Some(Ok(status)) => {
                let running = *status == ServiceStatus::Running;
                // Not running is a fact here, not an alarm: the headline above says whether it matters.
                let colour = if running { theme::good_text(ui) } else { ui.visuals().weak_text_color() };
                ui.horizontal(|ui| {
                    dot(ui, 6.0, colour);
                    ui.label(RichText::new(status.to_string()).color(colour));
                });
            }
            Some(Err(e)) => {
                ui.horizontal_wrapped(|ui| {
                    dot(ui, 6.0, theme::error(ui));
                    ui.label(RichText::new(e).color(theme::error(ui)));
                });
            }
        }
        ui.end_row();

        ui.label(RichText::new("Communication Mode:").strong());
        ui.label(communication_mode(&d.trusted_servers));
        ui.end_row();

        ui.label(RichText::new("Home Directory:").strong());
        if ui.link(d.home.display().to_string()).on_hover_text("Open in the file manager").clicked() {
            commands.push(Command::OpenFolder(d.home.clone()));
        }
        ui.end_row();

        ui.label(RichText::new("Logs Directory:").strong());
        if ui.link(d.logs.display().to_string()).on_hover_text("Open in the file manager").clicked() {
            commands.push(Command::OpenFolder(d.logs.clone()));
        }
        ui.end_row();

        ui.label(RichText::new("Thumbprint:").strong());
        ui.vertical(|ui| {
            match &d.thumbprint {
                Some(t) => {
                    ui.horizontal(|ui| {
                        ui.label(RichText::new(t.as_str()).monospace().strong());
                        if ui.button("Copy").on_hover_text("Copy to clipboard").clicked() {
                            commands.push(Command::Copy(t.to_string()));
                        }
                    });
                }
                None => weak(ui, &format!("No certificate yet. Create one with: {}", m.summary.new_certificate_command())),
            }
            weak(ui, &trust_sentence(d.port, &d.trusted_servers));
            weak(ui, "This should match the value shown on the Machine configuration page in the Octopus web portal.");
        });
        ui.end_row();

        ui.label(RichText::new("Proxy Server Settings:").strong());
        ui.horizontal_wrapped(|ui| {
            let polls = communication_mode(&d.trusted_servers) == "Polling";
            ui.label(proxy_sentence(&d.proxy, &d.polling_proxy, polls));
            if ui.button("Change").clicked() {
                commands.push(Command::OpenProxy);
            }
        });
        ui.end_row();

        ui.label(RichText::new("Agent:").strong());
        ui.vertical(|ui| agent_lines(ui, m));
        ui.end_row();

        // Octopus flags old Tentacles for upgrade, so the agent reports a current one; ours is beside it.
        ui.label(RichText::new("Version:").strong());
        ui.label(format!(
            "Tentacle Manager {}, reported to Octopus Server as Tentacle {}",
            tentacle_core::VERSION,
            d.reported_version
        ))
        .on_hover_text("Change the reported version with: tentacle configure --reported-version <version>");
        ui.end_row();
    });
}

/// The agent's own report: running or not, and each server's link and last contact.
fn agent_lines(ui: &mut Ui, m: &DashboardModel<'_>) {
    let Some(live) = m.live else {
        ui.spinner();
        return;
    };
    match &live.agent {
        Err(e) => error_text(ui, e),
        Ok(None) => weak(ui, "The agent has not run yet for this instance."),
        Ok(Some(status)) if !status.is_live(m.now) => {
            weak(
                ui,
                &format!(
                    "The agent is not running (last report {}).",
                    ago(m.now, status.updated_at)
                ),
            );
        }
        Ok(Some(status)) => live_agent(ui, status, m.now),
    }
}

fn live_agent(ui: &mut Ui, status: &AgentStatus, now: u64) {
    let mut head = format!("Running ({})", status.mode);
    if let Some(on) = &status.listening_on {
        head.push_str(&format!(", listening on {on}"));
    }
    if status.running_scripts > 0 {
        head.push_str(&format!(", {} scripts running", status.running_scripts));
    }
    ui.label(RichText::new(head).color(theme::good_text(ui)));
    for server in &status.servers {
        let contact = server.last_contact.map_or_else(
            || "no contact yet".to_owned(),
            |t| format!("last contact {}", ago(now, t)),
        );
        let (state, colour) = match &server.link {
            Some(LinkStatus::Connected) => (
                format!(
                    "Connected ({}/{})",
                    server.connections_up, server.connections
                ),
                theme::good_text(ui),
            ),
            Some(LinkStatus::Connecting) => ("Connecting".to_owned(), theme::warn_text(ui)),
            Some(LinkStatus::Disconnected) => ("Disconnected".to_owned(), theme::error(ui)),
            None => ("Listening".to_owned(), ui.visuals().text_color()),
        };
        let short = server.thumbprint.get(..8).unwrap_or(&server.thumbprint);
        let place = server.address.as_deref().unwrap_or("incoming");
        ui.label(RichText::new(format!("{short}… {place}: {state}, {contact}")).color(colour));
        if let Some(e) = &server.last_error {
            error_text(ui, e);
        }
    }
}

/// A filled circle (the default fonts have no reliable status glyphs).
fn dot(ui: &mut Ui, radius: f32, colour: egui::Color32) {
    let (rect, _) = ui.allocate_exact_size(
        egui::vec2(radius * 2.0 + 4.0, radius * 2.0 + 4.0),
        egui::Sense::hover(),
    );
    ui.painter().circle_filled(rect.center(), radius, colour);
}

/// "just now", "12 s ago", "5 min ago", "3 h ago".
pub fn ago(now: u64, then: u64) -> String {
    let s = now.saturating_sub(then);
    match s {
        0..=1 => "just now".to_owned(),
        2..=119 => format!("{s} s ago"),
        120..=7199 => format!("{} min ago", s / 60),
        _ => format!("{} h ago", s / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::ago;

    #[test]
    fn ages_read_naturally() {
        assert_eq!(ago(100, 100), "just now");
        assert_eq!(ago(112, 100), "12 s ago");
        assert_eq!(ago(400, 100), "5 min ago");
        assert_eq!(ago(100 + 3 * 3600, 100), "3 h ago");
        assert_eq!(ago(5, 100), "just now", "a clock step back is not negative");
    }
}
