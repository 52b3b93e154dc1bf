//! The checks screen's repairs: a button per repair a FAIL or WARN offers, and the panel that shows exactly what will run, runs it (on a worker thread), and offers the undo.

use egui::{Button, RichText, Ui};
use tentacle_core::checks::{CheckResult, Verdict};
use tentacle_core::fix::{FixAction, FixContext};

use crate::commands::Command;
use crate::theme;
use crate::view::{error_text, log_box, weak};
use crate::wizard::JobLog;

/// A repair the user opened: what it is, and its run once started.
#[derive(Debug, Clone)]
pub struct FixPanel {
    /// The check it repairs.
    pub check_id: String,
    /// That check's title.
    pub check_title: String,
    /// The repair.
    pub action: FixAction,
    /// True once "Run" was pressed (the log below is this run's).
    pub started: bool,
    /// True when this panel runs the undo of an earlier repair.
    pub is_undo: bool,
    /// The run's output and outcome.
    pub log: JobLog,
}

impl FixPanel {
    /// A panel for `action` of the check `r`, not yet run.
    pub fn new(r: &CheckResult, action: FixAction) -> FixPanel {
        FixPanel {
            check_id: r.id.clone(),
            check_title: r.title.clone(),
            action,
            started: false,
            is_undo: false,
            log: JobLog::default(),
        }
    }

    /// True while it runs.
    pub fn running(&self) -> bool {
        self.started && self.log.running
    }
}

/// The repair buttons under a FAIL or WARN result: "Fix: <title>…".
pub fn fix_buttons(ui: &mut Ui, r: &CheckResult, enabled: bool, commands: &mut Vec<Command>) {
    if !matches!(r.verdict, Verdict::Warn | Verdict::Fail) || r.actions.is_empty() {
        return;
    }
    ui.horizontal_wrapped(|ui| {
        for (i, action) in r.actions.iter().enumerate() {
            let label = format!("Fix: {}…", action.title());
            if ui.add_enabled(enabled, Button::new(label)).clicked() {
                commands.push(Command::ShowFix(r.id.clone(), i));
            }
        }
    });
}

/// The open repair: what it does, the warning, the exact commands, Run/Cancel, then the log
/// and the undo.
pub fn fix_panel(
    ui: &mut Ui,
    panel: &FixPanel,
    ctx: Option<&FixContext>,
    commands: &mut Vec<Command>,
) {
    egui::Frame::group(ui.style())
        .inner_margin(10.0)
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            let heading = if panel.is_undo {
                format!("Undo: {}", panel.action.title())
            } else {
                format!("Repair \"{}\": {}", panel.check_title, panel.action.title())
            };
            ui.label(RichText::new(heading).strong().size(16.0));
            ui.label(panel.action.description());
            if let Some(w) = panel.action.warning() {
                ui.label(
                    RichText::new(format!("Warning: {w}"))
                        .color(theme::warn_text(ui))
                        .strong(),
                );
            }
            let script = ctx.map(|c| panel.action.script(c)).unwrap_or_default();
            ui.label(RichText::new("This will run:").strong());
            egui::Frame::new()
                .fill(ui.visuals().extreme_bg_color)
                .inner_margin(6.0)
                .show(ui, |ui| {
                    ui.set_width(ui.available_width());
                    ui.label(RichText::new(script.join("\n")).monospace());
                });
            match (panel.action.undo(), ctx) {
                (Some(u), Some(c)) => weak(ui, &format!("Undo: {}", u.script(c).join(" && "))),
                _ => weak(ui, "This cannot be undone."),
            }
            ui.add_space(4.0);
            if !panel.started {
                ui.horizontal(|ui| {
                    let run = Button::new(RichText::new("Run").strong()).fill(theme::GOOD);
                    if ui.add_enabled(ctx.is_some(), run).clicked() {
                        commands.push(Command::RunFix);
                    }
                    if ui.button("Cancel").clicked() {
                        commands.push(Command::CancelFix);
                    }
                    if ui.button("Copy script").clicked() {
                        commands.push(Command::Copy(script.join("\n")));
                    }
                });
                return;
            }
            log_box(ui, "fix-log", &panel.log.lines, panel.log.running);
            match &panel.log.outcome {
                Some(Ok(())) => {
                    ui.label(
                        RichText::new("Done. The checks ran again below.")
                            .color(theme::good_text(ui)),
                    );
                    ui.horizontal(|ui| {
                        if !panel.is_undo
                            && panel.action.undo().is_some()
                            && ui.button("Undo").clicked()
                        {
                            commands.push(Command::UndoFix);
                        }
                        if ui.button("Close").clicked() {
                            commands.push(Command::CancelFix);
                        }
                    });
                }
                Some(Err(e)) => {
                    error_text(ui, &format!("The repair failed: {e}"));
                    if ui.button("Close").clicked() {
                        commands.push(Command::CancelFix);
                    }
                }
                None => {}
            }
        });
    ui.add_space(6.0);
}
