//! The live log screen: the agent's log (or a script's output) followed by a named thread into a bounded ring ([`LogTail`]), with a level filter, search, follow, "Open log folder", and the running scripts' outputs.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use egui::{RichText, ScrollArea, TextEdit, Ui};
use tentacle_core::agent::scripts::ProcessState;
use tentacle_core::agent::scripts::workspace::Workspace;

use crate::commands::Command;
use crate::log_tail::{Level, LogLine, LogTail};
use crate::theme;
use crate::view::{error_text, heading, weak};

/// How often the follower looks at the file (a log is read by people; two looks a second is live enough).
pub const FOLLOW_EVERY: Duration = Duration::from_millis(500);
/// At most this many script workspaces are listed.
const MAX_SCRIPTS: usize = 20;

/// One script workspace whose output can be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptEntry {
    /// The ticket (the workspace folder's name).
    pub ticket: String,
    /// Its `Output.log`.
    pub output: PathBuf,
    /// "Running", "Pending", "Complete (exit 0)", or "Running or finished" when no state is kept (V1).
    pub state: String,
}

/// What the log screen holds. Dropping it stops its follower thread.
#[derive(Debug)]
pub struct LogViewState {
    /// "Agent log" or "Script output: <ticket>".
    pub title: String,
    /// The lines (shared with the follower).
    pub tail: Arc<Mutex<LogTail>>,
    stop: Arc<AtomicBool>,
    /// Lowest level shown.
    pub level: Level,
    /// Case-insensitive text filter.
    pub search: String,
    /// Stick to the end as lines arrive.
    pub follow: bool,
    /// The logs folder (for "Open log folder" and going back from a script).
    pub logs: PathBuf,
    /// The instance's script workspaces (read once when the screen opens).
    pub scripts: Vec<ScriptEntry>,
    /// Why the follower could not start or read, if it could not.
    pub error: Option<String>,
}

impl Drop for LogViewState {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl LogViewState {
    /// Follows the newest log in `logs` (or `file`, a script's output), waking `ctx` when lines arrive.
    pub fn open(
        ctx: &egui::Context,
        title: &str,
        logs: &Path,
        file: Option<&Path>,
        scripts: Vec<ScriptEntry>,
    ) -> LogViewState {
        let tail = match file {
            Some(f) => LogTail::file(f),
            None => LogTail::new(logs),
        };
        let tail = Arc::new(Mutex::new(tail));
        let stop = Arc::new(AtomicBool::new(false));
        let mut error = None;
        // The first read happens here so the screen opens with its lines.
        if let Err(e) = lock(&tail).poll() {
            error = Some(format!("Could not read the log ({e})"));
        }
        let (t, s, c) = (tail.clone(), stop.clone(), ctx.clone());
        let started = std::thread::Builder::new()
            .name("log-follower".into())
            .spawn(move || follow(&t, &s, &c));
        if let Err(e) = started {
            error = Some(format!(
                "Could not start following the log ({e}); reopen the screen to see new lines"
            ));
        }
        LogViewState {
            title: title.to_owned(),
            tail,
            stop,
            level: Level::Info,
            search: String::new(),
            follow: true,
            logs: logs.to_path_buf(),
            scripts,
            error,
        }
    }
}

fn lock(tail: &Mutex<LogTail>) -> std::sync::MutexGuard<'_, LogTail> {
    tail.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The follower: a look every [`FOLLOW_EVERY`]; a repaint only when lines arrived, so an idle
/// log costs nothing on screen and a busy one at most two frames a second.
fn follow(tail: &Mutex<LogTail>, stop: &AtomicBool, ctx: &egui::Context) {
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(FOLLOW_EVERY);
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let added = lock(tail).poll().unwrap_or(false);
        if added {
            ctx.request_repaint();
        }
    }
}

/// The script workspaces under `<home>/Work`, newest first (at most 20); file I/O, call it off the
/// drawing path (it runs once when the screen opens).
pub fn scripts_in(home: &Path) -> Vec<ScriptEntry> {
    let Ok(entries) = std::fs::read_dir(home.join("Work")) else {
        return Vec::new();
    };
    let mut found: Vec<(std::time::SystemTime, ScriptEntry)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let ticket = e.file_name().to_string_lossy().into_owned();
            // A folder that is not a valid ticket is not a script workspace.
            let ws = Workspace::for_ticket(&home.join("Work"), &ticket).ok()?;
            let output = ws.log_path();
            let modified = std::fs::metadata(&output).and_then(|m| m.modified()).ok()?;
            let state = ws.read_state().map_or_else(
                || "Running or finished".to_owned(),
                |s| match s.state {
                    ProcessState::Pending => "Pending".to_owned(),
                    ProcessState::Running => "Running".to_owned(),
                    ProcessState::Complete => match s.exit_code {
                        Some(code) => format!("Complete (exit {code})"),
                        None => "Complete".to_owned(),
                    },
                },
            );
            Some((
                modified,
                ScriptEntry {
                    ticket,
                    output,
                    state,
                },
            ))
        })
        .collect();
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    found
        .into_iter()
        .take(MAX_SCRIPTS)
        .map(|(_, s)| s)
        .collect()
}

/// True when `line` passes the level filter and the search (a line without a level, such as a
/// backtrace or a script's output, always passes the level filter).
pub fn shown(line: &LogLine, level: Level, search: &str) -> bool {
    line.level.is_none_or(|l| l >= level)
        && (search.is_empty() || line.text.to_lowercase().contains(&search.to_lowercase()))
}

/// The log screen.
pub fn log_view(ui: &mut Ui, s: &mut LogViewState, commands: &mut Vec<Command>) {
    ui.horizontal(|ui| {
        if ui.button("Back").clicked() {
            commands.push(Command::ToDashboard);
        }
        heading(ui, &s.title);
    });
    ui.horizontal_wrapped(|ui| {
        let label = ui.label("Level");
        egui::ComboBox::from_id_salt("log-level")
            .selected_text(format!("{} and above", s.level.word()))
            .show_ui(ui, |ui| {
                for l in [
                    Level::Error,
                    Level::Warn,
                    Level::Info,
                    Level::Debug,
                    Level::Trace,
                ] {
                    ui.selectable_value(&mut s.level, l, format!("{} and above", l.word()));
                }
            })
            .response
            .labelled_by(label.id);
        let label = ui.label("Search");
        ui.add(
            TextEdit::singleline(&mut s.search)
                .hint_text("text in the line")
                .desired_width(200.0),
        )
        .labelled_by(label.id);
        ui.checkbox(&mut s.follow, "Follow");
        if ui.button("Open log folder").clicked() {
            commands.push(Command::OpenFolder(s.logs.clone()));
        }
    });
    if let Some(e) = &s.error {
        error_text(ui, e);
    }
    let tail = s.tail.clone();
    let tail = lock(&tail);
    let (level, search) = (s.level, s.search.trim().to_owned());
    let rows: Vec<&LogLine> = tail
        .lines
        .iter()
        .filter(|l| shown(l, level, &search))
        .collect();
    let where_ = tail.path().map_or_else(
        || format!("No log yet in {}", tail.dir().display()),
        |p| p.display().to_string(),
    );
    let mut note = format!(
        "{where_}: {} of the last {} lines",
        rows.len(),
        tail.lines.len()
    );
    if tail.skipped > 0 {
        note.push_str(&format!(
            "; {} KiB skipped because the log grew faster than it was read",
            tail.skipped / 1024
        ));
    }
    weak(ui, &note);
    let row_height = ui.text_style_height(&egui::TextStyle::Monospace) + 2.0;
    let scripts_height = if s.scripts.is_empty() { 0.0 } else { 150.0 };
    egui::Frame::group(ui.style()).show(ui, |ui| {
        ScrollArea::both()
            .id_salt("log-lines")
            .max_height((ui.available_height() - scripts_height).max(120.0))
            .auto_shrink([false, false])
            .stick_to_bottom(s.follow)
            .show_rows(ui, row_height, rows.len(), |ui, range| {
                for line in &rows[range] {
                    let text = RichText::new(&line.text).monospace();
                    let text = match line.level {
                        Some(Level::Error) => text.color(theme::error(ui)),
                        Some(Level::Warn) => text.color(theme::warn_text(ui)),
                        Some(Level::Debug | Level::Trace) => text.weak(),
                        _ => text,
                    };
                    ui.add(egui::Label::new(text).extend());
                }
            });
    });
    drop(tail);
    if !s.scripts.is_empty() {
        ui.add_space(6.0);
        ui.label(RichText::new("Scripts").strong());
        ScrollArea::vertical()
            .id_salt("log-scripts")
            .max_height(120.0)
            .show(ui, |ui| {
                for script in &s.scripts {
                    ui.horizontal(|ui| {
                        if ui
                            .link(&script.ticket)
                            .on_hover_text("Open this script's output")
                            .clicked()
                        {
                            commands.push(Command::OpenScriptOutput(script.output.clone()));
                        }
                        weak(ui, &script.state);
                    });
                }
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tentacle_core::agent::scripts::workspace::{LOG_FILE as SCRIPT_LOG, STATE_FILE};

    #[test]
    fn filter_by_level_and_text() {
        let warn = LogLine::parse("2026-12-01T10:00:00Z  WARN Polling refused".into());
        let info = LogLine::parse("2026-12-01T10:00:00Z  INFO listening".into());
        let plain = LogLine::parse("   at frame 3".into());
        assert!(shown(&warn, Level::Warn, ""));
        assert!(!shown(&info, Level::Warn, ""));
        assert!(shown(&plain, Level::Error, ""));
        assert!(shown(&warn, Level::Info, "polling"));
        assert!(!shown(&warn, Level::Info, "listening"));
    }

    #[test]
    fn lists_script_workspaces_with_their_state() {
        let home = tempfile::tempdir().unwrap();
        let ws = home.path().join("Work").join("ticket-1");
        std::fs::create_dir_all(&ws).unwrap();
        assert!(scripts_in(home.path()).is_empty(), "no output yet");
        let mut f = std::fs::File::create(ws.join(SCRIPT_LOG)).unwrap();
        std::io::Write::write_all(&mut f, b"hello\n").unwrap();
        let s = scripts_in(home.path());
        assert_eq!(s[0].ticket, "ticket-1");
        assert_eq!(s[0].state, "Running or finished");
        let mut f = std::fs::File::create(ws.join(STATE_FILE)).unwrap();
        std::io::Write::write_all(
            &mut f,
            br#"{"Created":"x","State":"Complete","ExitCode":3}"#,
        )
        .unwrap();
        assert_eq!(scripts_in(home.path())[0].state, "Complete (exit 3)");
    }
}
