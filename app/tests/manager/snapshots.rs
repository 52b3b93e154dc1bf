//! A few small images that guard the main screens' look (light theme, fixed content).

use egui_kittest::kittest::Queryable;

use super::{Fixture, settle};

/// A root at a fixed path, so the paths drawn on screen are the same every run.
fn fixed_root(name: &str) -> Fixture {
    let root = std::env::temp_dir().join(format!("tentacle-manager-snapshot-{name}"));
    let _ = std::fs::remove_dir_all(&root);
    Fixture::at(&root)
}

#[test]
fn dashboard_looks_right() {
    let fixture = fixed_root("dashboard");
    let record = fixture.create("Tentacle");
    fixture.edit(&record, |c| {
        c.trust_listening(tentacle_core::trust::Thumbprint::parse(&"A".repeat(40)).unwrap());
    });
    let mut harness = fixture.open();
    harness.set_size(egui::vec2(780.0, 440.0));
    harness.run();
    harness.snapshot("dashboard");
}

#[test]
fn wizard_storage_page_looks_right() {
    let fixture = fixed_root("wizard");
    let mut harness = fixture.open();
    harness.get_by_label("Get started").click();
    settle(&mut harness);
    harness.get_by_label("Next").click();
    harness.run();
    harness.set_size(egui::vec2(780.0, 440.0));
    harness.run();
    harness.snapshot("wizard_storage");
}
