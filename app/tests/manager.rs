//! The real manager window driven headless by egui_kittest against a temporary config root.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use tentacle_core::certificate;
use tentacle_core::instance::{
    CertificateRef, ConfigRoot, InstanceError, InstanceRecord, Instances, TentacleConfig,
};
use tentacle_core::trust::Thumbprint;
use tentacle_manager::TentacleManagerApp;

/// A temporary config root with the manager pointed at it.
struct Fixture {
    dir: tempfile::TempDir,
    instances: Instances,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("a temporary config root");
        let instances = Instances::new(ConfigRoot::at(dir.path()));
        Fixture { dir, instances }
    }

    fn create(&self, name: &str) -> InstanceRecord {
        self.instances
            .create(name, None, None)
            .expect("create the instance")
    }

    /// Gives `record` a fresh certificate (RSA-2048: takes a moment) and returns its thumbprint.
    fn give_certificate(&self, record: &InstanceRecord) -> Thumbprint {
        let cert = certificate::generate().expect("generate a certificate");
        let file = certificate::save_to_dir(&cert, self.dir.path()).expect("save the certificate");
        let thumbprint = cert.thumbprint();
        TentacleConfig::update(&record.config, |c| {
            c.certificate = Some(CertificateRef {
                thumbprint: thumbprint.clone(),
                file,
            });
            Ok::<_, InstanceError>(())
        })
        .expect("point the config at the certificate");
        thumbprint
    }

    /// The manager window, run until its background load has arrived and it is idle.
    fn open(&self) -> Harness<'static, TentacleManagerApp> {
        let instances = self.instances.clone();
        let mut harness = Harness::builder()
            .with_size([900.0, 600.0])
            .build_eframe(move |cc| TentacleManagerApp::new(&cc.egui_ctx, instances));
        wait_until_loaded(&mut harness);
        harness
    }
}

/// Steps frames until the load has been applied (at most 5 s), then runs to idle. `run()`
/// itself panics if the window keeps repainting, so every caller also checks that an idle
/// window does not redraw continuously.
fn wait_until_loaded(harness: &mut Harness<'_, TentacleManagerApp>) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while harness.state().is_loading() {
        assert!(
            Instant::now() < deadline,
            "the instance list did not load within 5 s"
        );
        std::thread::sleep(Duration::from_millis(10));
        harness.step();
    }
    harness.run();
}

/// A label's whole text (AccessKit keeps a `Label`'s text in its value).
fn text_of(node: egui_kittest::Node<'_>) -> String {
    node.accesskit_node().value().unwrap_or_default()
}

fn write_file(path: &Path, text: &str) {
    let mut file = std::fs::File::create(path).expect("create the file");
    file.write_all(text.as_bytes()).expect("write the file");
}

#[test]
fn shows_each_instance_with_its_thumbprint_or_how_to_get_one() {
    let fixture = Fixture::new();
    let default = fixture.create("Tentacle");
    fixture.create("Web Server");
    let thumbprint = fixture.give_certificate(&default);

    let mut harness = fixture.open();

    harness.get_by_label("Tentacle Manager");
    let scope =
        text_of(harness.get_by_label_contains("Instances are read from TENTACLE_CONFIG_ROOT"));
    assert!(
        scope.contains(&fixture.dir.path().display().to_string()),
        "{scope}"
    );
    harness.get_by_label("(Default)");
    harness.get_by_label(thumbprint.as_str());
    harness.get_by_label("Web Server");
    harness.get_by_label(
        "No certificate yet. Create one with: tentacle new-certificate --instance \"Web Server\"",
    );
    assert_eq!(
        harness
            .query_all_by_label("Listening on port 10933")
            .count(),
        2
    );
    assert!(harness.query_by_label("Welcome!").is_none());

    // Copy puts the thumbprint on the clipboard.
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
fn a_broken_config_is_shown_in_red_for_that_instance_only() {
    let fixture = Fixture::new();
    fixture.create("Tentacle");
    let broken = fixture.create("Broken");
    write_file(
        &broken.config,
        "format_version = 1\ninstance = \"Broken\"\nhome = [oops\n",
    );

    let harness = fixture.open();

    harness.get_by_label("(Default)");
    harness.get_by_label("Broken");
    let message = text_of(harness.get_by_label_contains("does not parse at line 3"));
    assert!(
        message.contains(&broken.config.display().to_string()),
        "{message}"
    );
    // Colour is not in the AccessKit tree: look at how the message was painted.
    let red = harness.ctx.global_style().visuals.error_fg_color;
    let colours = painted_colours(&harness, "does not parse at line 3");
    assert!(
        !colours.is_empty() && colours.iter().all(|c| *c == red),
        "the error was painted in {colours:?}, not the error colour {red:?}"
    );
    // The healthy instance still shows its details.
    harness.get_by_label("Listening on port 10933");
}

/// The colours of the painted text runs whose text contains `needle`.
fn painted_colours(harness: &Harness<'_, TentacleManagerApp>, needle: &str) -> Vec<egui::Color32> {
    fn collect(shape: &egui::Shape, needle: &str, out: &mut Vec<egui::Color32>) {
        match shape {
            egui::Shape::Text(text) if text.galley.job.text.contains(needle) => {
                out.extend(text.galley.job.sections.iter().map(|s| s.format.color));
            }
            egui::Shape::Vec(shapes) => shapes.iter().for_each(|s| collect(s, needle, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for clipped in &harness.output().shapes {
        collect(&clipped.shape, needle, &mut out);
    }
    out
}

#[test]
fn no_instances_shows_the_welcome_and_refresh_picks_up_new_ones() {
    let fixture = Fixture::new();
    let mut harness = fixture.open();

    harness.get_by_label("Welcome!");
    harness.get_by_label_contains("No Tentacle instances are configured");
    harness.get_by_label("tentacle create-instance --instance Tentacle");

    fixture.create("Tentacle");
    harness.get_by_label("Refresh").click();
    harness.step();
    assert!(harness.state().is_loading(), "Refresh did not start a load");
    wait_until_loaded(&mut harness);

    harness.get_by_label("(Default)");
    harness.get_by_label(
        "No certificate yet. Create one with: tentacle new-certificate --instance Tentacle",
    );
    assert!(harness.query_by_label("Welcome!").is_none());
}

#[test]
fn an_unreadable_index_is_reported_instead_of_an_empty_list() {
    let fixture = Fixture::new();
    fixture.create("Tentacle");
    // A damaged index record (not TOML) next to the good one.
    write_file(
        &fixture.dir.path().join("instances").join("web.toml"),
        "name = ",
    );

    let harness = fixture.open();
    harness.get_by_label_contains("The instance index entry is damaged");
    assert!(harness.query_by_label("Welcome!").is_none());
}
