//! The dashboard: the trust sentence variants, the proxy summary, service buttons (their errors, plainly), copy, add instance, delete.

use egui_kittest::kittest::{NodeT, Queryable};
use tentacle_core::instance::ProxyMode;
use tentacle_core::trust::{CommunicationStyle, Thumbprint, TrustedServer};
use tentacle_manager::Screen;

use super::{Fixture, in_child, screen_text, settle, text_of, wait_for};

fn thumb(c: char) -> Thumbprint {
    Thumbprint::parse(&c.to_string().repeat(40)).expect("a valid thumbprint")
}

fn polling(c: char, address: &str) -> TrustedServer {
    TrustedServer {
        style: CommunicationStyle::Polling,
        address: Some(address.to_owned()),
        subscription_id: Some("poll://abcdefghijklmnopqrst/".to_owned()),
        ..TrustedServer::listening(thumb(c))
    }
}

#[test]
fn trust_sentence_for_no_one_several_listening_and_polling_servers() {
    let fixture = Fixture::new();
    let record = fixture.create("Tentacle");
    let mut harness = fixture.open();

    harness.get_by_label("(Default)");
    harness.get_by_label(
        "This Tentacle isn't configured to communicate with any Octopus Deploy servers.",
    );
    harness.get_by_label("Listening");
    harness.get_by_label("Tentacle is using the default proxy server for web requests.");
    harness.get_by_label_contains(
        "No certificate yet. Create one with: tentacle new-certificate --instance Tentacle",
    );

    let a = "A".repeat(40);
    let b = "B".repeat(40);
    let c = "C".repeat(40);
    let refresh =
        |harness: &mut egui_kittest::Harness<'_, tentacle_manager::TentacleManagerApp>| {
            let ctx = harness.ctx.clone();
            harness
                .state_mut()
                .apply(&ctx, tentacle_manager::Command::Refresh);
            settle(harness);
        };

    fixture.edit(&record, |c| {
        c.trust_listening(thumb('A'));
        c.communication.port = 12000;
    });
    refresh(&mut harness);
    harness.get_by_label(&format!(
        "The Tentacle listens for connections on port 12000. Incoming requests are accepted from the Octopus Server with thumbprint {a}."
    ));

    fixture.edit(&record, |c| {
        c.trust_listening(thumb('B'));
        c.trust_listening(thumb('C'));
    });
    refresh(&mut harness);
    harness.get_by_label(&format!(
        "The Tentacle listens for connections on port 12000. Incoming requests are accepted from Octopus Servers with thumbprints {a}, {b} and {c}."
    ));

    fixture.edit(&record, |cfg| {
        cfg.trusted_servers = vec![
            polling('D', "https://octopus:10943/"),
            polling('E', "wss://ws.example:443/OctopusComms"),
        ];
        cfg.polling_proxy.mode = ProxyMode::None;
    });
    refresh(&mut harness);
    let d = "D".repeat(40);
    let e = "E".repeat(40);
    harness.get_by_label(&format!(
        "The Tentacle polls the Octopus Servers with thumbprints {d} at https://octopus:10943/ and {e} at wss://ws.example:443/OctopusComms."
    ));
    harness.get_by_label("Polling");
    harness.get_by_label(
        "Tentacle is using the default proxy server for web requests, and is not using a proxy server to poll the Octopus Server.",
    );

    fixture.edit(&record, |cfg| {
        cfg.trusted_servers = vec![polling('D', "https://octopus:10943/")]
    });
    refresh(&mut harness);
    harness.get_by_label(&format!(
        "The Tentacle polls the Octopus Server with thumbprint {d} at https://octopus:10943/."
    ));
}

#[test]
fn live_agent_status_shows_each_servers_link_and_last_contact() {
    use tentacle_core::status::{AgentStatus, LinkStatus, ServerStatus, now_secs};
    let fixture = Fixture::new();
    let record = fixture.create("Tentacle");
    let home = tentacle_core::instance::TentacleConfig::load(&record.config)
        .unwrap()
        .home_dir(&record.config);
    let now = now_secs();
    AgentStatus {
        format_version: 1,
        instance: "Tentacle".into(),
        pid: 1,
        started_at: now - 100,
        updated_at: now,
        mode: "polling".into(),
        listening_on: None,
        servers: vec![ServerStatus {
            thumbprint: "D".repeat(40),
            style: "polling".into(),
            address: Some("https://octopus:10943/".into()),
            link: Some(LinkStatus::Disconnected),
            connections_up: 0,
            connections: 1,
            last_contact: Some(now - 30),
            last_error: Some(
                "Could not connect to https://octopus:10943/: connection refused".into(),
            ),
        }],
        running_scripts: 0,
        running: true,
    }
    .write(&home)
    .unwrap();

    let harness = fixture.open();
    harness.get_by_label("Running (polling)");
    let line = text_of(harness.get_by_label_contains("https://octopus:10943/: Disconnected"));
    assert!(line.starts_with("DDDDDDDD… "), "{line}");
    assert!(line.contains("last contact 3"), "{line}");
    harness.get_by_label("Could not connect to https://octopus:10943/: connection refused");
    assert_eq!(
        harness.state().tray_status().polling_connected,
        0,
        "the tray sees the same disconnected link"
    );
    assert_eq!(
        tentacle_manager::tray::tray_icon(&harness.state().tray_status()),
        tentacle_manager::tray::TrayIconKind::Disconnected
    );
}

#[test]
fn copy_puts_the_thumbprint_on_the_clipboard() {
    let fixture = Fixture::new();
    let record = fixture.create("Tentacle");
    let cert = tentacle_core::certificate::generate().expect("generate a certificate");
    let file = tentacle_core::certificate::save_to_dir(&cert, &fixture.root).expect("save it");
    let thumbprint = cert.thumbprint();
    fixture.edit(&record, |c| {
        c.certificate = Some(tentacle_core::instance::CertificateRef {
            thumbprint: thumbprint.clone(),
            file,
        });
    });
    let mut harness = fixture.open();
    harness.get_by_label(thumbprint.as_str());
    harness.get_by_label("Copy").click();
    harness.step();
    let copied =
        harness.output().platform_output.commands.iter().any(
            |c| matches!(c, egui::OutputCommand::CopyText(text) if text == thumbprint.as_str()),
        );
    assert!(copied, "Copy did not copy {thumbprint}");
    harness.run();
}

#[test]
#[allow(clippy::disallowed_methods)]
fn a_broken_config_is_shown_instead_of_the_details() {
    let fixture = Fixture::new();
    let broken = fixture.create("Tentacle");
    std::fs::write(
        &broken.config,
        "format_version = 1\ninstance = \"Tentacle\"\nhome = [oops\n",
    )
    .unwrap();
    let harness = fixture.open();
    let message = text_of(harness.get_by_label_contains("does not parse at line 3"));
    assert!(
        message.contains(&broken.config.display().to_string()),
        "{message}"
    );
}

#[test]
fn no_instances_welcomes_and_add_new_instance_selects_the_new_name() {
    let fixture = Fixture::new();
    fixture.create("Web");
    let mut harness = fixture.open();
    // The only instance is selected, as the original falls back to the first.
    harness.get_by_label("Web");
    harness.get_by_label("Add new instance").click();
    harness.run();
    harness.get_by_label("Instance name is required.");
    super::fill(&mut harness, "Instance name", "web");
    assert!(
        harness
            .query_by_label("An instance with this name already exists.")
            .is_some(),
        "{}",
        super::screen_text(&harness)
    );
    super::fill(&mut harness, "Instance name", "web-02");
    harness.get_by_label("Create").click();
    harness.run();
    assert_eq!(harness.state().selected(), "web-02");
    harness.get_by_label("Welcome!");
    harness.get_by_label("Get started").click();
    harness.run();
    assert!(matches!(harness.state().screen(), Screen::Wizard(_)));
    harness.get_by_label("Communication style");
}

#[test]
fn service_buttons_report_what_the_service_manager_said() {
    in_child(
        "dashboard::service_buttons_report_what_the_service_manager_said",
        |root| {
            let fixture = Fixture::at(root);
            fixture.create("Tentacle");
            let mut harness = fixture.open();
            harness.get_by_label("Is not installed");
            // Stop and Restart need a running service.
            assert!(
                harness
                    .get_by_label("Stop service")
                    .accesskit_node()
                    .is_disabled()
            );
            assert!(
                harness
                    .get_by_label("Restart")
                    .accesskit_node()
                    .is_disabled()
            );

            harness.get_by_label("Start service").click();
            settle(&mut harness);
            harness.get_by_label("Starting the Tentacle service…");
            let error = "The service for Tentacle is not installed: run tentacle service --install --instance \"Tentacle\" first";
            harness.get_by_label(&format!("Error: {error}"));
            harness.get_by_label(error);
            harness.get_by_label("Open logs directory");

            // Reinstall really tries: the unit is written, systemd (not PID 1 here) refuses, and the
            // user reads why; the failed install leaves no unit behind.
            harness.get_by_label("Close log").click();
            harness.run();
            harness.get_by_label("Reinstall").click();
            settle(&mut harness);
            let shown = screen_text(&harness);
            assert!(
                shown.contains("Reinstalling the Tentacle service…"),
                "{shown}"
            );
            assert!(shown.contains("systemctl"), "{shown}");
            let units = std::env::var_os("TENTACLE_SYSTEMD_UNIT_DIR").unwrap();
            assert_eq!(
                std::fs::read_dir(units).unwrap().count(),
                0,
                "a refused install left its unit file"
            );
        },
    );
}

#[test]
fn delete_removes_the_instance_keeps_its_files_and_returns_to_the_wizard() {
    in_child(
        "dashboard::delete_removes_the_instance_keeps_its_files_and_returns_to_the_wizard",
        |root| {
            let fixture = Fixture::at(root);
            let record = fixture.create("Tentacle");
            let mut harness = fixture.open();
            harness.get_by_label("Delete this instance…").click();
            harness.run();
            harness.get_by_label("Are you sure you want to delete your Tentacle instance?");
            // Deregistering needs a URL and key: refused plainly until given.
            harness
                .get_by_label("Also deregister this machine from the Octopus Server")
                .click();
            harness.run();
            harness.get_by_label("Delete").click();
            harness.run();
            harness.get_by_label(
                "Please enter a valid Octopus Server URL, such as https://octopus.example.com",
            );
            harness
                .get_by_label("Also deregister this machine from the Octopus Server")
                .click();
            harness.run();
            harness.get_by_label("Delete").click();
            wait_for(&mut harness, "the wizard after deleting", |h| {
                matches!(h.state().screen(), Screen::Wizard(_))
            });
            settle(&mut harness);
            harness
                .get_by_label_contains("The instance (Default) was deleted; its files were kept.");
            harness.get_by_label("Communication style");
            assert!(
                fixture.instances.list().unwrap().is_empty(),
                "the instance is still in the index"
            );
            assert!(record.config.exists(), "the configuration file was removed");
        },
    );
}

#[test]
fn run_checks_shows_each_result_with_cause_and_fix_and_copies_the_report() {
    let fixture = Fixture::new();
    let record = fixture.create("Tentacle");
    fixture.edit(&record, |c| {
        // A polling server where nothing listens: the checks must fail it, with a cause and a fix.
        c.trusted_servers = vec![polling('D', "https://127.0.0.1:9/")];
    });
    let mut harness = fixture.open();
    harness.get_by_label("Run checks").click();
    harness.step();
    assert!(matches!(harness.state().screen(), Screen::Checks(_)));
    wait_for(&mut harness, "the checks to finish", |h| {
        !h.state().is_busy()
    });
    harness.run();
    let shown = screen_text(&harness);
    assert!(shown.contains("Checks for (Default)"), "{shown}");
    assert!(shown.contains("FAIL"), "{shown}");
    assert!(shown.contains("Cause: "), "{shown}");
    assert!(shown.contains("Fix: "), "{shown}");
    let summary = text_of(harness.get_by_label_contains(" passed, "));
    assert!(summary.contains("failed"), "{summary}");
    harness.get_by_label("Copy the report").click();
    harness.step();
    let copied = harness.output().platform_output.commands.iter().any(|c| {
        matches!(c, egui::OutputCommand::CopyText(text) if text.contains("FAIL") && text.contains("127.0.0.1:9"))
    });
    assert!(copied, "the report was not copied");
    harness.run();
    harness.get_by_label("Back to the dashboard").click();
    settle(&mut harness);
    assert!(matches!(harness.state().screen(), Screen::Dashboard));
}

#[test]
fn change_proxy_saves_the_settings_and_says_what_the_service_did() {
    in_child(
        "dashboard::change_proxy_saves_the_settings_and_says_what_the_service_did",
        |root| {
            let fixture = Fixture::at(root);
            let record = fixture.create("Tentacle");
            let mut harness = fixture.open();
            harness.get_by_label("Change").click();
            harness.run();
            harness.get_by_label("Web Request Proxy Settings");
            harness.get_by_label("Custom Proxy").click();
            harness.run();
            harness.get_by_label("Apply").click();
            harness.run();
            harness.get_by_label("Please enter a host name for the proxy server");
            super::fill(&mut harness, "Proxy host", "http://proxy.local:3128/");
            super::fill(&mut harness, "Proxy port", "3128");
            harness.get_by_label("Apply").click();
            wait_for(&mut harness, "the proxy settings to be saved", |h| {
                !h.state().is_busy()
            });
            harness.run();
            let shown = screen_text(&harness);
            assert!(shown.contains("Happy deployments!"), "{shown}");
            // No service here: starting it again is allowed to fail, and says why.
            assert!(
                shown.contains("Warning: The service for Tentacle is not installed"),
                "{shown}"
            );
            let config = tentacle_core::instance::TentacleConfig::load(&record.config).unwrap();
            assert_eq!(config.proxy.mode, ProxyMode::Custom);
            assert_eq!(config.proxy.host.as_deref(), Some("proxy.local"));
            assert_eq!(config.proxy.port, Some(3128));
            harness.get_by_label("Back to the dashboard").click();
            settle(&mut harness);
            harness.get_by_label("Tentacle is using a custom proxy server for web requests.");
        },
    );
}
