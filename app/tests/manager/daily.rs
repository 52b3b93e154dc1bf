//! The manager as a daily tool: one status with its action, the live log (level, search, follow, scripts), the trust editor, and wizard errors that clear as the user types.

use std::io::Write;
use std::path::{Path, PathBuf};

use egui_kittest::kittest::{NodeT, Queryable};
use tentacle_core::instance::TentacleConfig;
use tentacle_core::status::{AgentStatus, now_secs};
use tentacle_manager::Screen;

use super::{Fixture, fill, in_child, screen_text, settle, wait_for};

fn home_of(record: &tentacle_core::instance::InstanceRecord) -> PathBuf {
    TentacleConfig::load(&record.config)
        .unwrap()
        .home_dir(&record.config)
}

fn agent_doc(pid: u32, updated_ago: u64, running: bool) -> AgentStatus {
    let now = now_secs();
    AgentStatus {
        format_version: 1,
        instance: "Tentacle".into(),
        pid,
        started_at: now - 600,
        updated_at: now - updated_ago,
        mode: "listening".into(),
        listening_on: Some("0.0.0.0:10933".into()),
        servers: Vec::new(),
        running_scripts: 0,
        running,
    }
}

fn append(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// Empties the field labelled `label`.
fn clear(
    harness: &mut egui_kittest::Harness<'_, tentacle_manager::TentacleManagerApp>,
    label: &str,
) {
    harness.get_by_label(label).focus();
    harness.step();
    harness.key_combination_modifiers(egui::Modifiers::COMMAND, &[egui::Key::A]);
    harness.key_press(egui::Key::Backspace);
    harness.run();
}

#[test]
fn an_agent_run_by_hand_is_one_status_with_install_service_and_the_tray_agrees() {
    let fixture = Fixture::new();
    let record = fixture.create("Tentacle");
    agent_doc(4242, 1, true).write(&home_of(&record)).unwrap();
    let harness = fixture.open();
    let words = "Running in a terminal (pid 4242), not as a service";
    harness.get_by_label(words);
    harness.get_by_label("Install service");
    // The badge's shape has a name for screen readers: the state reads without colour.
    harness.get_by_label("Status: Attention");
    assert_eq!(
        tentacle_manager::tray::tray_tooltip(&harness.state().tray_status()),
        format!("Tentacle (Default): {words}")
    );
    assert_eq!(
        tentacle_manager::tray::tray_icon(&harness.state().tray_status()),
        tentacle_manager::tray::TrayIconKind::Disconnected
    );
}

#[test]
fn a_crash_names_the_last_error_and_open_log_follows_the_log() {
    let fixture = Fixture::new();
    let record = fixture.create("Tentacle");
    let home = home_of(&record);
    agent_doc(77, 150, true).write(&home).unwrap();
    let log = home.join("Logs").join("OctopusTentacle.txt.2026-12-01");
    append(
        &log,
        "2026-12-01T10:00:00.000001Z  INFO Agent started\n\
         2026-12-01T10:00:01.000001Z  WARN Polling https://octopus:10943/ refused\n\
         2026-12-01T10:00:02.000001Z ERROR Could not listen on 0.0.0.0:10933: address in use\n",
    );
    let mut harness = fixture.open();
    harness.get_by_label("Crashed 2 min ago: Could not listen on 0.0.0.0:10933: address in use");
    harness.get_by_label("Status: Problem");
    // No service is installed here (the agent ran by hand): the fitting action is to install one.
    harness.get_by_label("Install service");
    harness.get_by_label("Open log").click();
    harness.run();
    assert!(matches!(harness.state().screen(), Screen::Log(_)));
    harness.get_by_label("Agent log");
    harness.get_by_label_contains("INFO Agent started");
    harness.get_by_label_contains("address in use");

    // Search narrows, and the level filter hides what is below it.
    fill(&mut harness, "Search", "refused");
    assert!(harness.query_by_label_contains("Agent started").is_none());
    harness.get_by_label_contains("WARN Polling");
    clear(&mut harness, "Search");
    harness.get_by_label("Level").click();
    harness.run();
    harness.get_by_label("Error and above").click();
    harness.run();
    assert!(harness.query_by_label_contains("Agent started").is_none());
    harness.get_by_label_contains("address in use");
    harness.get_by_label("Level").click();
    harness.run();
    harness.get_by_label("Trace and above").click();
    harness.run();

    // Follow: a line written now appears without any input (the follower wakes the window).
    append(
        &log,
        "2026-12-01T10:00:03.000001Z  INFO a line written after the view opened\n",
    );
    wait_for(&mut harness, "the new line", |h| {
        h.query_by_label_contains("a line written after the view opened")
            .is_some()
    });
    harness.get_by_label("Open log folder");
    harness.get_by_label("Back").click();
    harness.run();
    assert!(matches!(harness.state().screen(), Screen::Dashboard));
}

#[test]
fn a_scripts_output_opens_from_the_log_screen() {
    let fixture = Fixture::new();
    let record = fixture.create("Tentacle");
    let home = home_of(&record);
    append(
        &home.join("Work").join("ticket-42").join("Output.log"),
        "Deploying package 1.2.3\n",
    );
    let mut harness = fixture.open();
    harness.get_by_label("View log").click();
    harness.run();
    harness.get_by_label_contains("No log yet in");
    harness.get_by_label("Running or finished");
    harness.get_by_label("ticket-42").click();
    harness.run();
    harness.get_by_label("Script output: ticket-42");
    harness.get_by_label("Deploying package 1.2.3");
}

#[test]
fn trust_editor_adds_updates_and_removes_with_the_cli_and_says_what_it_runs() {
    in_child(
        "daily::trust_editor_adds_updates_and_removes_with_the_cli_and_says_what_it_runs",
        |root| {
            let fixture = Fixture::at(root);
            let record = fixture.create("Tentacle");
            let mut harness = fixture.open();
            harness.get_by_label("Trusted servers…").click();
            harness.run();
            harness.get_by_label("No Octopus Server is trusted yet.");
            harness.get_by_label("Add a trusted server").click();
            harness.run();

            // Bad input: the Add button stays disabled and the reason is on screen.
            fill(
                &mut harness,
                "Octopus Server thumbprint",
                "API-NOTATHUMBPRINT",
            );
            assert!(
                harness
                    .get_by_label("Add server")
                    .accesskit_node()
                    .is_disabled()
            );
            let shown = screen_text(&harness);
            assert!(shown.to_lowercase().contains("thumbprint"), "{shown}");

            let a = "A".repeat(40);
            fill(&mut harness, "Octopus Server thumbprint", &a.to_lowercase());
            harness.get_by_label(&format!(
                "tentacle configure --instance \"Tentacle\" --trust \"{a}\""
            ));
            harness
                .get_by_label("Polling (this Tentacle connects out)")
                .click();
            harness.run();
            fill(&mut harness, "Server host", "octopus.example");
            fill(&mut harness, "Polling port", "99999");
            assert!(
                harness
                    .get_by_label("Add server")
                    .accesskit_node()
                    .is_disabled()
            );
            fill(&mut harness, "Polling port", "10943");
            harness.get_by_label("Add server").click();
            settle(&mut harness);
            let shown = screen_text(&harness);
            assert!(shown.contains("restart it to use the change"), "{shown}");
            let config = TentacleConfig::load(&record.config).unwrap();
            assert_eq!(config.trusted_servers.len(), 1, "{shown}");
            let server = &config.trusted_servers[0];
            assert_eq!(server.thumbprint.as_str(), a);
            assert_eq!(
                server.style,
                tentacle_core::trust::CommunicationStyle::Polling
            );
            // The list shows it with its address and subscription id.
            harness.get_by_label(&a);
            harness.get_by_label("Polling");
            harness.get_by_label("https://octopus.example:10943/");
            harness.get_by_label("No report (agent not running)");

            // Update the thumbprint.
            let b = "B".repeat(40);
            harness.get_by_label("Update thumbprint").click();
            harness.run();
            fill(&mut harness, "New thumbprint", &b);
            harness.get_by_label_contains("update-trust --instance");
            harness.get_by_label("Save new thumbprint").click();
            settle(&mut harness);
            let config = TentacleConfig::load(&record.config).unwrap();
            assert_eq!(config.trusted_servers[0].thumbprint.as_str(), b);
            harness.get_by_label(&b);

            // Remove it.
            harness.get_by_label("Remove").click();
            harness.run();
            harness.get_by_label(&format!(
                "tentacle configure --instance \"Tentacle\" --remove-trust \"{b}\""
            ));
            harness.get_by_label("Remove trust").click();
            settle(&mut harness);
            let config = TentacleConfig::load(&record.config).unwrap();
            assert!(config.trusted_servers.is_empty());
            harness.get_by_label("No Octopus Server is trusted yet.");
        },
    );
}

#[test]
fn a_wizard_error_clears_as_the_field_is_corrected() {
    let fixture = Fixture::new();
    let mut harness = fixture.open();
    harness.get_by_label("Get started").click();
    harness.run();
    harness.get_by_label("Next").click();
    harness.run();
    harness.get_by_label("Next").click();
    harness.run();
    // The listening page: a bad port, Next, the error; then the right port, and it is gone
    // before Next is pressed again.
    fill(&mut harness, "Listen port", "99999");
    harness.get_by_label("Next").click();
    harness.run();
    let before = screen_text(&harness);
    assert!(before.contains("65535"), "{before}");
    fill(&mut harness, "Listen port", "10933");
    let after = screen_text(&harness);
    assert!(!after.contains("65535"), "the error stayed: {after}");
    // Leaving a field it broke again brings the error back without Next.
    fill(&mut harness, "Listen port", "port");
    assert!(
        !screen_text(&harness).contains("65535"),
        "no error while typing"
    );
    harness.key_press(egui::Key::Tab);
    harness.run();
    harness.run();
    assert!(
        screen_text(&harness).contains("65535"),
        "{}",
        screen_text(&harness)
    );
}
