//! The setup wizard end to end: listening (a real instance in a temporary root, rollback on a failing step), folder dialogs, and the script.

use egui_kittest::kittest::{NodeT, Queryable};
use tentacle_core::instance::TentacleConfig;
use tentacle_manager::Screen;
use tentacle_manager::folder_picker::PickOutcome;

use super::{Fixture, in_child, screen_text, settle, wait_for};

#[test]
fn listening_wizard_creates_a_real_instance_and_rolls_back_a_failure() {
    in_child(
        "wizard::listening_wizard_creates_a_real_instance_and_rolls_back_a_failure",
        |root| {
            let fixture = Fixture::at(root);
            let mut harness = fixture.open();
            harness.get_by_label("Welcome!");
            harness.get_by_label("Get started").click();
            harness.run();

            // Communication: listening is the default.
            harness.get_by_label("Listening Tentacle");
            harness.get_by_label("Next").click();
            harness.run();
            // Storage: defaults under the root.
            harness.get_by_label(
                "Select where you would like Tentacle to store logs and applications.",
            );
            let home = root.join("Tentacle");
            harness.get_by_label_contains(&format!(
                "The configuration file will be {}",
                home.join("tentacle.toml").display()
            ));
            harness.get_by_label("Next").click();
            harness.run();

            // Listening: a pasted API key is refused with the original's words.
            super::fill(&mut harness, "Octopus thumbprint", "API-ABCDEFGH");
            harness.get_by_label("Next").click();
            harness.run();
            harness.get_by_label_contains(
                "This is an API key, not an Octopus Server certificate thumbprint",
            );
            harness.get_by_label("Back").click();
            harness.run();
            harness.get_by_label("Next").click();
            harness.run();
            // The field kept what was typed; clear it and type a real thumbprint.
            assert!(
                super::screen_text(&harness).contains("API-ABCDEFGH"),
                "the typed thumbprint was lost"
            );
            super::fill(
                &mut harness,
                "Octopus thumbprint",
                "0123456789abcdef0123456789abcdef01234567",
            );
            harness.get_by_label("Next").click();
            harness.run();

            // Review: the script, masked and copyable.
            harness.get_by_label("You're ready to install an Octopus Tentacle.");
            harness.get_by_label("Show script").click();
            harness.run();
            let script = super::text_of(harness.get_by_label_contains("tentacle create-instance"));
            assert!(script.contains(r#"tentacle configure --instance "Tentacle" --trust "0123456789ABCDEF0123456789ABCDEF01234567""#), "{script}");
            assert!(
                script.ends_with(
                    r#"tentacle service --instance "Tentacle" --stop --install --start"#
                ),
                "{script}"
            );

            // First with the service: systemd is not PID 1 here, so that step fails for real and
            // what the run created is undone.
            harness.get_by_label("Install").click();
            wait_for(&mut harness, "the install to end", |h| !h.state().is_busy());
            harness.run();
            let shown = screen_text(&harness);
            assert!(shown.contains("The installation failed:"), "{shown}");
            assert!(shown.contains("Rolling back what this run did:"), "{shown}");
            assert!(
                shown.contains(r#"> tentacle delete-instance --instance "Tentacle""#),
                "{shown}"
            );
            assert!(
                fixture.instances.list().unwrap().is_empty(),
                "the rollback left the instance in the index"
            );

            // Then without the service step: the instance is created.
            harness
                .get_by_label("Install and start the Tentacle service")
                .click();
            harness.run();
            harness.get_by_label("Install").click();
            wait_for(&mut harness, "the install to end", |h| !h.state().is_busy());
            harness.run();
            harness.get_by_label("Installation complete!");
            let record = fixture
                .instances
                .find("Tentacle")
                .expect("the instance exists");
            let config = TentacleConfig::load(&record.config).unwrap();
            assert!(config.certificate.is_some(), "no certificate was made");
            assert_eq!(config.trusted_servers.len(), 1);
            assert_eq!(
                config.trusted_servers[0].thumbprint.as_str(),
                "0123456789ABCDEF0123456789ABCDEF01234567"
            );
            assert_eq!(
                config.application_directory.as_deref(),
                Some(home.join("Applications").as_path())
            );

            harness.get_by_label("Finish").click();
            settle(&mut harness);
            assert!(matches!(harness.state().screen(), Screen::Dashboard));
            harness.get_by_label_contains("Incoming requests are accepted from the Octopus Server with thumbprint 0123456789ABCDEF0123456789ABCDEF01234567.");
            harness.get_by_label(config.certificate.unwrap().thumbprint.as_str());
        },
    );
}

#[test]
fn browse_fills_the_folder_or_says_why_no_dialog_opened() {
    let fixture = Fixture::new();
    let picked = fixture.root.join("Picked Home");
    let mut harness = fixture.open_with(PickOutcome::Picked(picked.clone()));
    harness.get_by_label("Get started").click();
    harness.run();
    harness.get_by_label("Next").click();
    harness.run();
    harness
        .get_by_label("Browse for the home directory")
        .click();
    wait_for(
        &mut harness,
        "the folder",
        |h| matches!(h.state().screen(), Screen::Wizard(w) if w.answers.home == picked.display().to_string()),
    );
    harness.run();
    harness.get_by_label_contains(&format!(
        "The configuration file will be {}",
        picked.join("tentacle.toml").display()
    ));

    let mut harness = fixture.open_with(PickOutcome::Unavailable("No folder dialog is available on this desktop (install xdg-desktop-portal-gtk or zenity); type the path instead".into()));
    harness.get_by_label("Get started").click();
    harness.run();
    harness.get_by_label("Next").click();
    harness.run();
    harness
        .get_by_label("Browse for the application directory")
        .click();
    wait_for(
        &mut harness,
        "the notice",
        |h| matches!(h.state().screen(), Screen::Wizard(w) if w.notice.is_some()),
    );
    harness.run();
    harness.get_by_label_contains("No folder dialog is available on this desktop");
}

#[test]
fn polling_server_page_refuses_bad_answers_with_the_originals_words() {
    let fixture = Fixture::new();
    let mut harness = fixture.open();
    harness.get_by_label("Get started").click();
    harness.run();
    harness.get_by_label("Polling Tentacle").click();
    harness.run();
    for _ in 0..2 {
        harness.get_by_label("Next").click();
        harness.run();
    }
    harness.get_by_label("Polling Tentacle Proxy Settings");
    harness.get_by_label("Custom Proxy").click();
    harness.run();
    harness.get_by_label("Next").click();
    harness.run();
    harness.get_by_label("Please enter a host name for the proxy server");
    harness.get_by_label("No Proxy").click();
    harness.run();
    harness.get_by_label("Next").click();
    harness.run();
    harness.get_by_label("Octopus Credentials");
    super::fill(&mut harness, "API Key", "0123");
    harness.get_by_label("Next").click();
    harness.run();
    harness.get_by_label(
        "Please enter a valid Octopus Server URL, such as https://octopus.example.com",
    );
    harness.get_by_label_contains("doesn't start with \"API-\" as expected");

    // Octopus Cloud on port 443 polls a separate host, filled in for the user.
    super::fill(
        &mut harness,
        "Octopus Server URL",
        "https://acme.octopus.app",
    );
    harness
        .get_by_label("A separate polling address on port 443 (Octopus Cloud)")
        .click();
    harness.run();
    assert!(
        matches!(harness.state().screen(), Screen::Wizard(w) if w.answers.comms_address == "https://polling.acme.octopus.app"),
        "{}",
        screen_text(&harness)
    );
}

#[test]
fn enter_is_next_and_tab_reaches_the_fields() {
    let fixture = Fixture::new();
    let mut harness = fixture.open();
    harness.get_by_label("Get started").click();
    harness.run();
    harness.key_press(egui::Key::Enter);
    harness.run();
    harness.get_by_label("Select where you would like Tentacle to store logs and applications.");
    // Tab moves keyboard focus onto a widget of the page.
    harness.key_press(egui::Key::Tab);
    harness.run();
    let focused = harness
        .root()
        .children_recursive()
        .any(|n| n.accesskit_node().is_focused());
    assert!(focused, "Tab focused nothing");
}

#[test]
fn polling_wizard_verifies_and_registers_with_the_simulated_octopus_server() {
    in_child(
        "wizard::polling_wizard_verifies_and_registers_with_the_simulated_octopus_server",
        |root| {
            use tentacle_tests::octopus_rest::{ADMIN_KEY, OctopusRest};
            use tentacle_tests::simulator::Octopus;

            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let octopus = runtime.block_on(Octopus::start());
            let server_thumbprint = octopus.cert.thumbprint().to_string();
            let rest = runtime.block_on(OctopusRest::start(&server_thumbprint));

            let fixture = Fixture::at(root);
            let mut harness = fixture.open();
            harness.get_by_label("Get started").click();
            harness.run();
            harness.get_by_label("Polling Tentacle").click();
            harness.run();
            for _ in 0..3 {
                harness.get_by_label("Next").click();
                harness.run();
            }
            harness.get_by_label("Octopus Credentials");
            super::fill(&mut harness, "Octopus Server URL", &rest.url);
            super::fill(&mut harness, "API Key", ADMIN_KEY);
            super::fill(
                &mut harness,
                "Server Communications Port",
                &octopus.polling_port.to_string(),
            );
            harness.get_by_label("Next").click();
            wait_for(
                &mut harness,
                "the connection check",
                |h| matches!(h.state().screen(), Screen::Wizard(w) if w.verify.outcome.is_some()),
            );
            harness.run();
            let shown = screen_text(&harness);
            assert!(
                shown.contains("Connected successfully, Octopus Server version: 2024.2.9331"),
                "{shown}"
            );
            assert!(shown.contains("Credentials verified"), "{shown}");
            assert!(shown.contains(&server_thumbprint), "{shown}");
            assert!(!shown.contains(ADMIN_KEY), "the API key is on screen");

            harness.get_by_label("Next").click();
            harness.run();
            harness.get_by_label("Deployment Target");
            harness.get_by_label("Next").click();
            harness.run();
            harness.get_by_label("Next").click();
            harness.run();
            harness.get_by_label("Please select an environment");
            super::fill(&mut harness, "Environments", "Test");
            super::fill(&mut harness, "Roles", "web-server");
            harness.get_by_label("Next").click();
            harness.run();

            harness
                .get_by_label("Install and start the Tentacle service")
                .click();
            harness.get_by_label("Show script").click();
            harness.run();
            let script = super::text_of(harness.get_by_label_contains("tentacle create-instance"));
            assert!(script.contains(r#"--apiKey "***""#), "{script}");
            assert!(!script.contains(ADMIN_KEY), "{script}");
            harness.get_by_label("Install").click();
            wait_for(&mut harness, "the install to end", |h| !h.state().is_busy());
            harness.run();
            let shown = screen_text(&harness);
            assert!(shown.contains("Installation complete!"), "{shown}");
            assert!(!shown.contains(ADMIN_KEY), "the API key is on screen");

            let machines = rest.world().registered("Spaces-1", "machines");
            assert_eq!(machines.len(), 1, "{machines:?}");
            let record = fixture.instances.find("Tentacle").unwrap();
            let config = TentacleConfig::load(&record.config).unwrap();
            assert_eq!(config.trusted_servers.len(), 1);
            assert_eq!(
                config.trusted_servers[0].thumbprint.as_str(),
                server_thumbprint
            );
            assert_eq!(
                config.trusted_servers[0].address.as_deref(),
                Some(format!("https://127.0.0.1:{}/", octopus.polling_port).as_str())
            );
            assert!(config.communication.no_listen);

            harness.get_by_label("Finish").click();
            settle(&mut harness);
            harness.get_by_label_contains(&format!(
                "The Tentacle polls the Octopus Server with thumbprint {server_thumbprint}"
            ));
            drop(rest);
            drop(octopus);
        },
    );
}
