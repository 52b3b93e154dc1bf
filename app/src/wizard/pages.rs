//! Drawing the wizard's pages: fields edit the answers in place; buttons become [`WizardCommand`]s.

use egui::{Align, Button, Layout, RichText, ScrollArea, Ui};

use super::answers::{AuthMode, Comms, Field, MachineType, ProxyChoice, Style};
use super::plan::{plan, script};
use super::{Page, WizardState};
use crate::commands::{Command, WizardCommand};
use crate::theme;
use crate::view::{error_text, heading, hinted_field, log_box, secret_field, text_field, weak};

/// The whole wizard: tabs on the left, the page, Back and Next at the bottom.
pub fn wizard(ui: &mut Ui, w: &mut WizardState, commands: &mut Vec<Command>) {
    let busy = w.install.running || w.verify.running;
    let installed = w.install.succeeded();
    // Enter is Next, as the original's default button.
    let ready = w.page != Page::Verify || w.is_verified();
    if !busy
        && !installed
        && w.page != Page::Review
        && ready
        && ui.input(|i| i.key_pressed(egui::Key::Enter))
    {
        commands.push(Command::Wizard(WizardCommand::Next));
    }
    egui::Panel::bottom("wizard-buttons").show(ui, |ui| {
        ui.add_space(6.0);
        ui.horizontal(|ui| {
            if !w.is_first() && !installed && ui.add_enabled(!busy, Button::new("Back")).clicked() {
                commands.push(Command::Wizard(WizardCommand::Back));
            }
            if !installed && ui.add_enabled(!busy, Button::new("Cancel")).clicked() {
                commands.push(Command::ToDashboard);
            }
            ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                if installed {
                    if ui
                        .add(Button::new(RichText::new("Finish").strong()).fill(theme::GOOD))
                        .clicked()
                    {
                        commands.push(Command::Wizard(WizardCommand::Close));
                    }
                } else if w.page != Page::Review {
                    let ready = w.page != Page::Verify || w.is_verified();
                    if ui
                        .add_enabled(
                            !busy && ready,
                            Button::new(RichText::new("Next").strong()).fill(theme::GOOD),
                        )
                        .clicked()
                    {
                        commands.push(Command::Wizard(WizardCommand::Next));
                    }
                }
            });
        });
        ui.add_space(6.0);
    });
    egui::Panel::left("wizard-tabs")
        .resizable(false)
        .exact_size(170.0)
        .show(ui, |ui| {
            ui.add_space(8.0);
            ui.label(RichText::new("Tentacle Setup Wizard").strong());
            ui.add_space(8.0);
            for page in w.pages() {
                let text = RichText::new(page.title());
                let text = if *page == w.page {
                    text.strong().color(theme::HEADER)
                } else {
                    text.weak()
                };
                ui.label(text);
                ui.add_space(2.0);
            }
        });
    let before = w.answers.clone();
    egui::CentralPanel::default().show(ui, |ui| {
        ScrollArea::vertical()
            .auto_shrink([false, false])
            .show(ui, |ui| {
                if let Some(notice) = &w.notice {
                    ui.label(RichText::new(notice).color(theme::warn_text(ui)));
                    ui.add_space(6.0);
                }
                match w.page {
                    Page::Communication => communication(ui, w),
                    Page::Storage => storage(ui, w, commands),
                    Page::Proxy => proxy(ui, w),
                    Page::Server => server(ui, w),
                    Page::Verify => verify(ui, w, commands),
                    Page::MachineType => machine_type(ui, w),
                    Page::Registration => registration(ui, w),
                    Page::Listening => listening(ui, w),
                    Page::Review => review(ui, w, commands),
                }
            });
    });
    // Errors clear as the user types and come back when a touched field loses focus.
    let focus = ui.memory(|m| m.focused());
    w.after_frame(&before, focus);
}

fn communication(ui: &mut Ui, w: &mut WizardState) {
    heading(ui, "Communication style");
    ui.label(
        RichText::new("How would you like the Octopus Server and Tentacle to communicate?")
            .strong(),
    );
    weak(
        ui,
        "There are two ways the Octopus Server and Tentacle can communicate, your choice will depend on your network topology.",
    );
    ui.add_space(8.0);
    ui.radio_value(&mut w.answers.style, Style::Listening, "Listening Tentacle");
    weak(
        ui,
        "A Listening tentacle will passively listen for tasks to perform from the Octopus Server.",
    );
    ui.add_space(6.0);
    ui.radio_value(&mut w.answers.style, Style::Polling, "Polling Tentacle");
    weak(
        ui,
        "A Polling target will actively poll the Octopus Server for tasks to perform.",
    );
}

fn storage(ui: &mut Ui, w: &mut WizardState, commands: &mut Vec<Command>) {
    heading(ui, "Storage");
    ui.label(
        RichText::new("Select where you would like Tentacle to store logs and applications.")
            .strong(),
    );
    ui.add_space(8.0);
    for (field, label) in [
        (Field::Home, "Tentacle configuration and logs directory"),
        (
            Field::AppDir,
            "Tentacle will install applications to (by default)",
        ),
    ] {
        let error = w.error(field).map(str::to_owned);
        let value = match field {
            Field::Home => &mut w.answers.home,
            _ => &mut w.answers.app_dir,
        };
        text_field(ui, label, value, error.as_deref());
        let browse = if field == Field::Home {
            "Browse for the home directory"
        } else {
            "Browse for the application directory"
        };
        if ui.button(browse).clicked() {
            commands.push(Command::Wizard(WizardCommand::Browse(field)));
        }
        ui.add_space(8.0);
    }
    weak(
        ui,
        &format!("The configuration file will be {}", w.answers.config_path()),
    );
}

fn proxy_choice(ui: &mut Ui, choice: &mut ProxyChoice) {
    ui.radio_value(choice, ProxyChoice::NoProxy, "No Proxy");
    ui.radio_value(choice, ProxyChoice::Default, "Default Proxy");
    ui.radio_value(
        choice,
        ProxyChoice::DefaultWithCredentials,
        "Default Proxy With Custom Credentials",
    );
    ui.radio_value(choice, ProxyChoice::Custom, "Custom Proxy");
}

/// The proxy fields for a choice (shared with the proxy settings screen).
pub fn proxy_fields(
    ui: &mut Ui,
    choice: &mut ProxyChoice,
    host: &mut String,
    port: &mut String,
    username: &mut String,
    password: &mut String,
    error: &dyn Fn(Field) -> Option<String>,
) {
    proxy_choice(ui, choice);
    ui.add_space(6.0);
    if *choice == ProxyChoice::Custom {
        hinted_field(
            ui,
            "Proxy host",
            host,
            error(Field::ProxyHost).as_deref(),
            "10.0.0.1, web01.local",
        );
        text_field(ui, "Proxy port", port, error(Field::ProxyPort).as_deref());
    }
    if matches!(
        *choice,
        ProxyChoice::Custom | ProxyChoice::DefaultWithCredentials
    ) {
        text_field(
            ui,
            "Proxy username",
            username,
            error(Field::ProxyCredentials).as_deref(),
        );
        secret_field(ui, "Proxy password", password, None);
    }
}

fn proxy(ui: &mut Ui, w: &mut WizardState) {
    heading(ui, "Polling Tentacle Proxy Settings");
    ui.label(
        RichText::new(
            "Select the proxy mode for the Tentacle to use to connect to the Octopus Server.",
        )
        .strong(),
    );
    ui.add_space(8.0);
    let errors = w.errors.clone();
    let error = move |f: Field| {
        errors
            .iter()
            .find(|e| e.field == f)
            .map(|e| e.message.clone())
    };
    let a = &mut w.answers;
    proxy_fields(
        ui,
        &mut a.proxy,
        &mut a.proxy_host,
        &mut a.proxy_port,
        &mut a.proxy_username,
        &mut a.proxy_password,
        &error,
    );
}

fn server(ui: &mut Ui, w: &mut WizardState) {
    heading(ui, "Octopus Credentials");
    ui.label(RichText::new("Enter your Octopus Server details").strong());
    weak(
        ui,
        "In this mode, Tentacle will periodically poll your Octopus Deploy server for commands. The machine will be automatically registered with your Octopus Server.",
    );
    ui.add_space(8.0);
    let url_error = w.error(Field::ServerUrl).map(str::to_owned);
    text_field(
        ui,
        "Octopus Server URL",
        &mut w.answers.server_url,
        url_error.as_deref(),
    );
    ui.label(RichText::new("Authentication Mode").strong());
    ui.horizontal(|ui| {
        ui.radio_value(&mut w.answers.auth, AuthMode::ApiKey, "Use an API key");
        ui.radio_value(
            &mut w.answers.auth,
            AuthMode::UsernamePassword,
            "Use a username and password",
        );
    });
    ui.add_space(4.0);
    match w.answers.auth {
        AuthMode::ApiKey => {
            let e = w.error(Field::ApiKey).map(str::to_owned);
            secret_field(ui, "API Key", &mut w.answers.api_key, e.as_deref());
            weak(
                ui,
                "This API key is only used for registering the Tentacle and is never used again (nor stored).",
            );
        }
        AuthMode::UsernamePassword => {
            let e = w.error(Field::Username).map(str::to_owned);
            text_field(ui, "Username", &mut w.answers.username, e.as_deref());
            let e = w.error(Field::Password).map(str::to_owned);
            secret_field(ui, "Password", &mut w.answers.password, e.as_deref());
            weak(
                ui,
                "This account is only used for registering the Tentacle and is never used again (nor stored). Alternatively you may use an API key.",
            );
        }
    }
    text_field(
        ui,
        "Space (empty for the default space)",
        &mut w.answers.space,
        None,
    );
    ui.add_space(4.0);
    ui.label(RichText::new("How the Tentacle reaches the Octopus Server").strong());
    ui.radio_value(
        &mut w.answers.comms,
        Comms::Port,
        "TCP port on the server's host (10943 by default)",
    );
    ui.radio_value(
        &mut w.answers.comms,
        Comms::Address443,
        "A separate polling address on port 443 (Octopus Cloud)",
    );
    ui.radio_value(&mut w.answers.comms, Comms::WebSocket, "WebSocket (wss://)");
    ui.add_space(4.0);
    // Octopus Cloud polls on a separate host: https://polling.<host> (PR #1199's fix).
    if w.answers.comms == Comms::Address443
        && w.answers.comms_address.trim().is_empty()
        && let Ok(url) = w.answers.server()
        && let Some(host) = url.host_str().filter(|h| h.ends_with(".octopus.app"))
    {
        w.answers.comms_address = format!("https://polling.{host}");
    }
    let e = w.error(Field::Comms).map(str::to_owned);
    match w.answers.comms {
        Comms::Port => {
            text_field(
                ui,
                "Server Communications Port",
                &mut w.answers.comms_port,
                e.as_deref(),
            );
        }
        Comms::Address443 => {
            hinted_field(
                ui,
                "Polling address",
                &mut w.answers.comms_address,
                e.as_deref(),
                "https://polling.example.octopus.app",
            );
        }
        Comms::WebSocket => {
            hinted_field(
                ui,
                "WebSocket address",
                &mut w.answers.web_socket,
                e.as_deref(),
                "wss://octopus.example.com:443/OctopusComms",
            );
        }
    }
}

fn verify(ui: &mut Ui, w: &mut WizardState, commands: &mut Vec<Command>) {
    heading(ui, "Establishing connection with your Octopus Server");
    log_box(ui, "verify-log", &w.verify.lines, w.verify.running);
    match (&w.verify.outcome, &w.verified) {
        (Some(Err(e)), _) => {
            error_text(ui, e);
            if ui.button("Try again").clicked() {
                commands.push(Command::Wizard(WizardCommand::Verify));
            }
        }
        (Some(Ok(())), Some(v)) if w.is_verified() => {
            ui.label(
                RichText::new(format!(
                    "Connected to Octopus Server {} (space {}).",
                    v.version, v.space
                ))
                .color(theme::good_text(ui)),
            );
            weak(
                ui,
                &format!(
                    "This Tentacle will trust the server's certificate {}.",
                    v.thumbprint
                ),
            );
        }
        _ if !w.verify.running && ui.button("Verify the connection").clicked() => {
            commands.push(Command::Wizard(WizardCommand::Verify));
        }
        _ => {}
    }
}

fn machine_type(ui: &mut Ui, w: &mut WizardState) {
    heading(ui, "Machine Type");
    ui.label(
        RichText::new(
            "Would you like to configure your Tentacle as a Deployment Target or a Worker.",
        )
        .strong(),
    );
    ui.add_space(8.0);
    ui.radio_value(
        &mut w.answers.machine_type,
        MachineType::DeploymentTarget,
        "Deployment Target",
    );
    weak(
        ui,
        "Deployment Targets are the machines and services you deploy software to.",
    );
    ui.radio_value(&mut w.answers.machine_type, MachineType::Worker, "Worker");
    weak(
        ui,
        "Workers are used to run scripts and tasks on a machine other than the Octopus Server or a deployment target.",
    );
}

fn registration(ui: &mut Ui, w: &mut WizardState) {
    heading(ui, "Registration");
    ui.label(
        RichText::new("Enter the machine details to be registered with your Octopus Server.")
            .strong(),
    );
    weak(ui, "Separate several values with commas.");
    ui.add_space(8.0);
    let e = w.error(Field::DisplayName).map(str::to_owned);
    text_field(
        ui,
        "Display name",
        &mut w.answers.display_name,
        e.as_deref(),
    );
    ui.checkbox(
        &mut w.answers.overwrite,
        "Overwrite existing machine with same name",
    );
    ui.add_space(4.0);
    match w.answers.machine_type {
        MachineType::DeploymentTarget => {
            let e = w.error(Field::Environments).map(str::to_owned);
            hinted_field(
                ui,
                "Environments",
                &mut w.answers.environments,
                e.as_deref(),
                "Test, Production",
            );
            let e = w.error(Field::Roles).map(str::to_owned);
            hinted_field(
                ui,
                "Roles",
                &mut w.answers.roles,
                e.as_deref(),
                "web-server",
            );
            text_field(ui, "Tenants", &mut w.answers.tenants, None);
            hinted_field(
                ui,
                "Tenant tags",
                &mut w.answers.tenant_tags,
                None,
                "Set/Tag",
            );
        }
        MachineType::Worker => {
            let e = w.error(Field::WorkerPools).map(str::to_owned);
            hinted_field(
                ui,
                "Worker pools",
                &mut w.answers.worker_pools,
                e.as_deref(),
                "Default Worker Pool",
            );
        }
    }
    text_field(
        ui,
        "Machine policy (empty for the default)",
        &mut w.answers.policy,
        None,
    );
}

fn listening(ui: &mut Ui, w: &mut WizardState) {
    heading(ui, "Listening Tentacle");
    ui.label(RichText::new("Enter the port and thumbprint of this listening Tentacle.").strong());
    weak(
        ui,
        "The Tentacle service will listen on the TCP port that you select below. You will need to ensure this port is open in the firewall on this machine (ufw, firewalld or Windows Firewall) and any intermediate firewalls.",
    );
    ui.add_space(8.0);
    let e = w.error(Field::ListenPort).map(str::to_owned);
    text_field(ui, "Listen port", &mut w.answers.listen_port, e.as_deref());
    if let Some(found) = w.answers.firewall_found {
        let port = w
            .answers
            .port()
            .map_or_else(|_| "N".to_owned(), |p| p.to_string());
        ui.checkbox(
            &mut w.answers.firewall,
            format!("Add a firewall exception for port {port}"),
        );
        weak(
            ui,
            &format!(
                "{} is active on this machine; the exception lets Octopus Server connect to this port (tentacle firewall --add).",
                found.name()
            ),
        );
    }
    let e = w.error(Field::Thumbprint).map(str::to_owned);
    text_field(
        ui,
        "Octopus thumbprint",
        &mut w.answers.server_thumbprint,
        e.as_deref(),
    );
    weak(
        ui,
        "The Tentacle will only accept connections from an Octopus Server that identifies with the thumbprint above. The thumbprint can be found in the Listening Tentacle set up within your Octopus Instance. Leave it empty to add it later with tentacle configure --trust.",
    );
}

fn review(ui: &mut Ui, w: &mut WizardState, commands: &mut Vec<Command>) {
    heading(ui, "Review and install");
    let steps = plan(&w.answers);
    let text = script(&steps);
    if w.install.succeeded() {
        ui.label(
            RichText::new("Installation complete!")
                .size(18.0)
                .color(theme::good_text(ui)),
        );
    } else {
        ui.label(RichText::new("You're ready to install an Octopus Tentacle.").strong());
        ui.add_space(6.0);
        ui.add_enabled(
            !w.install.running,
            egui::Checkbox::new(
                &mut w.answers.install_service,
                "Install and start the Tentacle service",
            ),
        );
        ui.add_space(6.0);
        let install = Button::new(RichText::new("Install").strong().size(16.0)).fill(theme::GOOD);
        if ui.add_enabled(!w.install.running, install).clicked() {
            commands.push(Command::Wizard(WizardCommand::Install));
        }
    }
    ui.add_space(6.0);
    ui.horizontal(|ui| {
        let label = if w.show_script {
            "Hide script"
        } else {
            "Show script"
        };
        if ui.link(label).clicked() {
            w.show_script = !w.show_script;
        }
        if w.show_script && ui.button("Copy script").clicked() {
            commands.push(Command::Copy(text.clone()));
        }
    });
    if w.show_script {
        egui::Frame::group(ui.style()).show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.label(RichText::new(&text).monospace());
        });
    }
    ui.add_space(6.0);
    log_box(ui, "install-log", &w.install.lines, w.install.running);
    if let Some(Err(e)) = &w.install.outcome {
        error_text(ui, &format!("The installation failed: {e}"));
        weak(
            ui,
            "What the installation had done was undone (see the log). Fix the problem and press Install again.",
        );
    }
}
