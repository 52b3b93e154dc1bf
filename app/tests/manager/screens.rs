//! The README's screenshots of the daily screens (one status, trust editor, live log, wizard), light and dark, rendered by the same wgpu renderer on the CPU. Ignored in CI (it writes into docs/): `cargo test -p tentacle-manager --test manager screens -- --ignored`.

use std::io::Write;
use std::path::Path;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use tentacle_core::status::{AgentStatus, LinkStatus, ServerStatus, now_secs};
use tentacle_core::trust::{CommunicationStyle, Thumbprint, TrustedServer};
use tentacle_manager::TentacleManagerApp;

use super::{Fixture, fill, settle};

fn save(harness: &mut Harness<'_, TentacleManagerApp>, name: &str) {
    let image = harness.render().expect("render the window");
    let out = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/screenshots")
        .join(format!("{name}.png"));
    let file = std::fs::File::create(&out).expect("create the screenshot");
    let mut encoder =
        png::Encoder::new(std::io::BufWriter::new(file), image.width(), image.height());
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(image.as_raw()).unwrap();
}

fn theme(harness: &mut Harness<'_, TentacleManagerApp>, dark: bool) {
    harness.ctx.set_theme(if dark {
        egui::ThemePreference::Dark
    } else {
        egui::ThemePreference::Light
    });
    harness.run();
}

/// Light only: under kittest the window background stays light in the dark theme (the renderer
/// clears with the harness theme), so dark images would misrepresent the app.
const THEMES: &[bool] = &[false];

#[test]
#[ignore = "writes docs/screenshots; run by hand"]
fn every_daily_screen_in_light_and_dark() {
    let root = std::env::temp_dir().join("tentacle-manager-screens");
    let _ = std::fs::remove_dir_all(&root);
    let fixture = Fixture::at(&root);
    let record = fixture.create("Tentacle");
    let a = "6E2B9C4D1F0A3B5C7D9E1F2A3B4C5D6E7F8091A2";
    fixture.edit(&record, |c| {
        c.trust_listening(Thumbprint::parse(a).unwrap());
        c.trusted_servers.push(TrustedServer {
            style: CommunicationStyle::Polling,
            address: Some("https://octopus.example.com:10943/".into()),
            subscription_id: Some("poll://k2x8q4m7v1c9z3b5n6d0/".into()),
            ..TrustedServer::listening(Thumbprint::parse(&"B".repeat(40)).unwrap())
        });
    });
    let home = tentacle_core::instance::TentacleConfig::load(&record.config)
        .unwrap()
        .home_dir(&record.config);
    let now = now_secs();
    AgentStatus {
        format_version: 1,
        instance: "Tentacle".into(),
        pid: 31337,
        started_at: now - 3600,
        updated_at: now,
        mode: "listening and polling".into(),
        listening_on: Some("0.0.0.0:10933".into()),
        servers: vec![
            ServerStatus {
                thumbprint: a.into(),
                style: "listening".into(),
                address: None,
                link: None,
                connections_up: 0,
                connections: 0,
                last_contact: Some(now - 40),
                last_error: None,
            },
            ServerStatus {
                thumbprint: "B".repeat(40),
                style: "polling".into(),
                address: Some("https://octopus.example.com:10943/".into()),
                link: Some(LinkStatus::Connected),
                connections_up: 1,
                connections: 1,
                last_contact: Some(now - 3),
                last_error: None,
            },
        ],
        running_scripts: 1,
        running: true,
    }
    .write(&home)
    .unwrap();
    let logs = home.join("Logs");
    std::fs::create_dir_all(&logs).unwrap();
    let mut log = std::fs::File::create(logs.join("OctopusTentacle.txt.2026-12-01")).unwrap();
    for i in 0..60 {
        let line = match i % 9 {
            4 => format!(
                "2026-12-01T10:{:02}:00.000001Z  WARN polling https://octopus.example.com:10943/: connection reset; reconnecting\n",
                i % 60
            ),
            8 => format!(
                "2026-12-01T10:{:02}:00.000001Z DEBUG keep-alive from {a}\n",
                i % 60
            ),
            _ => format!(
                "2026-12-01T10:{:02}:00.000001Z  INFO script ServerTasks-{} finished with exit code 0\n",
                i % 60,
                1000 + i
            ),
        };
        log.write_all(line.as_bytes()).unwrap();
    }
    log.write_all(
        b"2026-12-01T11:00:00.000001Z ERROR Could not extract package Acme.Web.1.2.3: disk full\n",
    )
    .unwrap();
    let ws = home.join("Work").join("ServerTasks-1061");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::File::create(ws.join("Output.log"))
        .unwrap()
        .write_all(b"Deploying Acme.Web 1.2.3\n")
        .unwrap();

    let mut harness = fixture.open();
    // Light only: under kittest the window background stays light in the dark theme (the
    // renderer clears with the harness theme), so dark images would misrepresent the app.
    for &dark in THEMES {
        let suffix = if dark { "-dark" } else { "" };
        theme(&mut harness, dark);
        harness.get_by_label("(Default)");
        save(&mut harness, &format!("status{suffix}"));

        harness.get_by_label("Trusted servers…").click();
        harness.run();
        harness.get_by_label("Add a trusted server").click();
        harness.run();
        fill(
            &mut harness,
            "Octopus Server thumbprint",
            "not-a-thumbprint",
        );
        save(&mut harness, &format!("trust{suffix}"));
        harness.get_by_label("Back").click();
        settle(&mut harness);

        harness.get_by_label("View log").click();
        harness.run();
        save(&mut harness, &format!("log{suffix}"));
        harness.get_by_label("Back").click();
        settle(&mut harness);
    }

    // The wizard's listening page, an error being corrected (it clears as the user types).
    let fresh = Fixture::at(&root.join("fresh"));
    let mut harness = fresh.open();
    harness.get_by_label("Get started").click();
    harness.run();
    for _ in 0..2 {
        harness.get_by_label("Next").click();
        harness.run();
    }
    fill(&mut harness, "Listen port", "99999");
    harness.get_by_label("Next").click();
    harness.run();
    // Light only: under kittest the window background stays light in the dark theme (the
    // renderer clears with the harness theme), so dark images would misrepresent the app.
    for &dark in THEMES {
        theme(&mut harness, dark);
        save(
            &mut harness,
            if dark { "wizard-dark" } else { "wizard-light" },
        );
    }
}
