//! The proxy settings screen (from "Change" on the dashboard): the web proxy and, for a polling Tentacle, the polling proxy; applying them restarts the service.

use egui::{Button, RichText, Ui};
use tentacle_core::instance::{ProxyMode, ProxySettings};
use tentacle_core::service::Verbs;

use crate::commands::Command;
use crate::theme;
use crate::view::{error_text, heading, log_box, weak};
use crate::wizard::JobLog;
use crate::wizard::answers::{self, Answers, ProxyChoice};
use crate::wizard::pages::proxy_fields;
use crate::wizard::plan::{ProxyForm, Step, proxy_step};

/// The screen's state.
#[derive(Debug, Clone)]
pub struct ProxyState {
    /// The instance.
    pub instance: String,
    /// The web proxy.
    pub web: ProxyForm,
    /// The polling proxy, when the Tentacle polls.
    pub polling: Option<ProxyForm>,
    /// Why Apply was refused.
    pub error: Option<String>,
    /// The run.
    pub log: JobLog,
}

/// The form for what is configured now. Passwords are never filled in: re-enter them.
pub fn form_of(settings: &ProxySettings) -> ProxyForm {
    let has_user = settings.username.as_deref().is_some_and(|u| !u.is_empty());
    let choice = match settings.mode {
        ProxyMode::None => ProxyChoice::NoProxy,
        ProxyMode::Default if has_user => ProxyChoice::DefaultWithCredentials,
        ProxyMode::Default => ProxyChoice::Default,
        ProxyMode::Custom => ProxyChoice::Custom,
    };
    ProxyForm {
        choice,
        host: settings.host.clone().unwrap_or_default(),
        port: settings.port.unwrap_or(80).to_string(),
        username: settings.username.clone().unwrap_or_default(),
        password: String::new(),
    }
}

impl ProxyState {
    /// The screen for an instance's current settings.
    pub fn new(instance: &str, web: &ProxySettings, polling: Option<&ProxySettings>) -> ProxyState {
        ProxyState {
            instance: instance.to_owned(),
            web: form_of(web),
            polling: polling.map(form_of),
            error: None,
            log: JobLog::default(),
        }
    }

    /// The same checks as the wizard's proxy page, for each form.
    pub fn check(&self) -> Result<(), String> {
        for form in std::iter::once(&self.web).chain(self.polling.as_ref()) {
            let mut a = Answers::new(&self.instance, std::path::Path::new("/"), "");
            a.proxy = form.choice;
            a.proxy_host = form.host.clone();
            a.proxy_port = form.port.clone();
            a.proxy_username = form.username.clone();
            a.proxy_password = form.password.clone();
            if let Some(e) = answers::check_proxy(&a).into_iter().next() {
                return Err(e.message);
            }
        }
        Ok(())
    }

    /// Stop the service (may fail), set the proxies, start it again (may fail).
    pub fn plan(&self) -> Vec<Step> {
        let x = self.instance.as_str();
        let mut steps = vec![
            Step::service(
                x,
                Verbs {
                    stop: true,
                    ..Verbs::default()
                },
            )
            .allowed_to_fail(),
        ];
        steps.push(proxy_step("proxy", x, &self.web));
        if let Some(polling) = &self.polling {
            steps.push(proxy_step("polling-proxy", x, polling));
        }
        steps.push(
            Step::service(
                x,
                Verbs {
                    start: true,
                    ..Verbs::default()
                },
            )
            .allowed_to_fail(),
        );
        steps
    }
}

/// Draws the screen.
pub fn proxy(ui: &mut Ui, s: &mut ProxyState, commands: &mut Vec<Command>) {
    heading(ui, "Proxy settings");
    let busy = s.log.running;
    ui.add_enabled_ui(!busy, |ui| {
        ui.label(RichText::new("Web Request Proxy Settings").strong());
        weak(
            ui,
            "Settings for the proxy that Tentacle will use to make web requests.",
        );
        let none = |_| None;
        let w = &mut s.web;
        ui.push_id("web-proxy", |ui| {
            proxy_fields(
                ui,
                &mut w.choice,
                &mut w.host,
                &mut w.port,
                &mut w.username,
                &mut w.password,
                &none,
            );
        });
        if let Some(p) = &mut s.polling {
            ui.add_space(8.0);
            ui.label(RichText::new("Polling Tentacle Proxy Settings").strong());
            ui.push_id("polling-proxy", |ui| {
                proxy_fields(
                    ui,
                    &mut p.choice,
                    &mut p.host,
                    &mut p.port,
                    &mut p.username,
                    &mut p.password,
                    &none,
                );
            });
        }
    });
    ui.add_space(8.0);
    weak(
        ui,
        "When you click Apply, your proxy settings will be saved and the service will be restarted.",
    );
    if let Some(e) = &s.error {
        error_text(ui, e);
    }
    ui.horizontal(|ui| {
        if ui
            .add_enabled(!busy, Button::new("Back to the dashboard"))
            .clicked()
        {
            commands.push(Command::ToDashboard);
        }
        if ui
            .add_enabled(
                !busy,
                Button::new(RichText::new("Apply").strong()).fill(theme::GOOD),
            )
            .clicked()
        {
            commands.push(Command::ApplyProxy);
        }
    });
    log_box(ui, "proxy-log", &s.log.lines, s.log.running);
    match &s.log.outcome {
        Some(Ok(())) => {
            ui.label(RichText::new("Happy deployments!").color(theme::good_text(ui)));
        }
        Some(Err(e)) => error_text(ui, e),
        None => {}
    }
}
