//! The real manager window driven headless by egui_kittest (by accessible labels) against temporary config roots.
//!
//! Tests that run `tentacle` commands in-process need `TENTACLE_CONFIG_ROOT` (and a systemd unit
//! folder) of their own, and the environment is process-wide; those re-run this binary for one
//! test with the variables set ([`in_child`]), so tests stay parallel and isolated.

// Helpers outside #[test] functions: a failed unwrap is a failed test here too.
#![allow(clippy::unwrap_used)]

mod adopt;
mod daily;
mod dashboard;
mod fixes;
mod screens;
mod snapshots;
mod tray;
mod wizard;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::NodeT;
use tentacle_core::instance::{
    ConfigRoot, InstanceError, InstanceRecord, Instances, TentacleConfig,
};
use tentacle_manager::TentacleManagerApp;
use tentacle_manager::folder_picker::{FolderPicker, PickOutcome};

/// Set in a re-run child: the config root it must use.
const CHILD_ROOT: &str = "TENTACLE_MANAGER_TEST_ROOT";

/// Runs `body` with `TENTACLE_CONFIG_ROOT` and `TENTACLE_SYSTEMD_UNIT_DIR` set to fresh temporary
/// folders: in a child process running only `test` (the full name, e.g. `wizard::listening`).
pub fn in_child(test: &str, body: impl FnOnce(&Path)) {
    if let Some(root) = std::env::var_os(CHILD_ROOT) {
        body(Path::new(&root));
        return;
    }
    let dir = tempfile::tempdir().expect("a temporary folder");
    let root = dir.path().join("root");
    let units = dir.path().join("units");
    std::fs::create_dir_all(&units).unwrap();
    let exe = std::env::current_exe().unwrap();
    let output = std::process::Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ROOT, &root)
        .env("TENTACLE_CONFIG_ROOT", &root)
        .env("TENTACLE_SYSTEMD_UNIT_DIR", &units)
        .output()
        .expect("re-run the test binary");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "the child run of {test} failed:\n{text}"
    );
    assert!(
        text.contains("1 passed"),
        "the child did not run {test}:\n{text}"
    );
}

/// Folder dialogs answered by the test.
pub struct Answering(pub PickOutcome);

impl FolderPicker for Answering {
    fn pick_folder(&self, _title: &str, _start: &Path) -> PickOutcome {
        self.0.clone()
    }
}

/// A config root and the manager pointed at it.
pub struct Fixture {
    pub root: PathBuf,
    pub instances: Instances,
    _dir: Option<tempfile::TempDir>,
}

impl Default for Fixture {
    fn default() -> Self {
        Fixture::new()
    }
}

impl Fixture {
    /// A fresh temporary root.
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("a temporary config root");
        let root = dir.path().to_path_buf();
        Fixture {
            instances: Instances::new(ConfigRoot::at(&root)),
            root,
            _dir: Some(dir),
        }
    }

    /// The root this (child) process's `tentacle` commands use.
    pub fn at(root: &Path) -> Fixture {
        std::fs::create_dir_all(root).unwrap();
        Fixture {
            root: root.to_path_buf(),
            instances: Instances::new(ConfigRoot::at(root)),
            _dir: None,
        }
    }

    pub fn create(&self, name: &str) -> InstanceRecord {
        self.instances
            .create(name, None, None)
            .expect("create the instance")
    }

    pub fn edit(&self, record: &InstanceRecord, f: impl FnOnce(&mut TentacleConfig)) {
        TentacleConfig::update(&record.config, |c| {
            f(c);
            Ok::<_, InstanceError>(())
        })
        .expect("update the config");
    }

    /// The window, run until the instance list and the selected instance's service state arrived.
    pub fn open(&self) -> Harness<'static, TentacleManagerApp> {
        self.open_with(PickOutcome::Cancelled)
    }

    pub fn open_with(&self, pick: PickOutcome) -> Harness<'static, TentacleManagerApp> {
        let instances = self.instances.clone();
        let picker = Arc::new(Answering(pick));
        let mut harness = Harness::builder()
            .with_size([960.0, 720.0])
            .with_theme(egui::Theme::Light)
            // Background look-ups (official instances, the firewall) finish at any frame and
            // repaint once; a window that never stops repainting still fails `run`.
            .with_max_steps(16)
            .build_eframe(move |cc| {
                TentacleManagerApp::with_picker(&cc.egui_ctx, Some(instances), picker)
            });
        settle(&mut harness);
        harness
    }
}

/// Steps frames until the app has no background work left and the dashboard's live state
/// (when there is an instance) arrived; at most 20 s. Then runs to idle, which also proves an
/// idle window does not repaint continuously (`run` panics if it keeps asking).
pub fn settle(harness: &mut Harness<'_, TentacleManagerApp>) {
    wait_for(harness, "the window to settle", |h| {
        let app = h.state();
        let needs_live = matches!(app.screen(), tentacle_manager::Screen::Dashboard)
            && app
                .loaded()
                .and_then(|l| l.instances.as_ref().ok())
                .is_some_and(|list| {
                    list.iter()
                        .any(|s| s.name == app.selected() && s.details.is_ok())
                });
        !app.is_busy() && app.loaded().is_some() && (!needs_live || app.live().is_some())
    });
    harness.run();
}

/// Steps frames until `done` (at most 20 s).
pub fn wait_for(
    harness: &mut Harness<'_, TentacleManagerApp>,
    what: &str,
    done: impl Fn(&Harness<'_, TentacleManagerApp>) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        harness.step();
        if done(harness) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A label's whole text (AccessKit keeps a `Label`'s text in its value).
pub fn text_of(node: egui_kittest::Node<'_>) -> String {
    node.accesskit_node()
        .value()
        .or_else(|| node.accesskit_node().label())
        .unwrap_or_default()
}

/// Every label's text on screen, joined, for failure messages.
pub fn screen_text(harness: &Harness<'_, TentacleManagerApp>) -> String {
    let mut out = Vec::new();
    collect(harness.root(), &mut out);
    out.join(" | ")
}

fn collect(node: egui_kittest::Node<'_>, out: &mut Vec<String>) {
    let text = text_of(node);
    if !text.is_empty() {
        out.push(text);
    }
    for child in node.children() {
        collect(child, out);
    }
}

/// Focuses the field labelled `label`, selects what is in it, and types `text` over it.
pub fn fill(harness: &mut Harness<'_, TentacleManagerApp>, label: &str, text: &str) {
    use egui_kittest::kittest::Queryable;
    harness.get_by_label(label).focus();
    harness.step();
    harness.key_combination_modifiers(egui::Modifiers::COMMAND, &[egui::Key::A]);
    harness.step();
    harness.get_by_label(label).type_text(text);
    harness.run();
}
