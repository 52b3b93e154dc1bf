//! The checks screen: every connectivity check of `tentacle_core::checks` with progress, each result's cause and fix, and the report to copy.

use egui::{Button, RichText, ScrollArea, Ui};
use tentacle_core::checks::{CheckReport, CheckResult, Verdict};

use crate::commands::Command;
use crate::theme;
use crate::view::{error_text, heading, weak};

/// The screen's state.
#[derive(Debug, Clone, Default)]
pub struct ChecksState {
    /// The instance checked.
    pub instance: String,
    /// The planned checks: (id, title).
    pub planned: Vec<(String, String)>,
    /// Results so far, in completion order.
    pub results: Vec<CheckResult>,
    /// True while they run.
    pub running: bool,
    /// The finished report, or why the checks could not run.
    pub report: Option<Result<CheckReport, String>>,
    /// The repair the user opened, if any.
    pub fix: Option<crate::check_fix::FixPanel>,
    /// The instance the repairs act on (its selector, config and the `tentacle` a service runs).
    pub fix_context: Option<tentacle_core::fix::FixContext>,
}

impl ChecksState {
    /// A run that is starting.
    pub fn started(instance: &str) -> ChecksState {
        ChecksState {
            instance: instance.to_owned(),
            running: true,
            ..ChecksState::default()
        }
    }

    fn result(&self, id: &str) -> Option<&CheckResult> {
        self.results.iter().find(|r| r.id == id)
    }
}

fn verdict_colour(ui: &Ui, v: Verdict) -> egui::Color32 {
    match v {
        Verdict::Pass => theme::good_text(ui),
        Verdict::Warn => theme::warn_text(ui),
        Verdict::Fail => theme::error(ui),
        Verdict::Skipped => ui.visuals().weak_text_color(),
    }
}

/// Draws the screen.
pub fn checks(ui: &mut Ui, s: &ChecksState, commands: &mut Vec<Command>) {
    ui.horizontal(|ui| {
        if ui.button("Back to the dashboard").clicked() {
            commands.push(Command::ToDashboard);
        }
        if ui
            .add_enabled(!s.running, Button::new("Run the checks again"))
            .clicked()
        {
            commands.push(Command::RunChecks);
        }
        if let Some(Ok(report)) = &s.report
            && ui.button("Copy the report").clicked()
        {
            commands.push(Command::Copy(report.to_text()));
        }
    });
    ui.add_space(6.0);
    heading(
        ui,
        &format!(
            "Checks for {}",
            tentacle_core::instance::display_name(&s.instance)
        ),
    );
    if s.running {
        let total = s.planned.len().max(1);
        let done = s.results.len();
        ui.add(
            egui::ProgressBar::new(done as f32 / total as f32)
                .text(format!("{done} of {} checks done", s.planned.len()))
                .animate(true),
        );
    }
    match &s.report {
        Some(Err(e)) => error_text(ui, e),
        Some(Ok(report)) => {
            let worst = report.worst();
            let summary = report.summary();
            ui.label(
                RichText::new(summary)
                    .strong()
                    .color(verdict_colour(ui, worst)),
            );
        }
        None => {}
    }
    ui.add_space(6.0);
    if let Some(panel) = &s.fix {
        crate::check_fix::fix_panel(ui, panel, s.fix_context.as_ref(), commands);
    }
    let can_fix = !s.running && !s.fix.as_ref().is_some_and(|f| f.running());
    ScrollArea::vertical()
        .auto_shrink([false, false])
        .show(ui, |ui| {
            for (id, title) in &s.planned {
                egui::Frame::group(ui.style()).show(ui, |ui| {
                    ui.set_width(ui.available_width());
                    match s.result(id) {
                        None => {
                            ui.horizontal(|ui| {
                                if s.running {
                                    ui.spinner();
                                }
                                ui.label(title);
                            });
                        }
                        Some(r) => {
                            result_block(ui, r);
                            crate::check_fix::fix_buttons(ui, r, can_fix, commands);
                        }
                    }
                });
            }
        });
}

fn result_block(ui: &mut Ui, r: &CheckResult) {
    ui.horizontal(|ui| {
        ui.label(
            RichText::new(r.verdict.label())
                .monospace()
                .strong()
                .color(verdict_colour(ui, r.verdict)),
        );
        ui.label(RichText::new(&r.title).strong());
        ui.label(RichText::new(format!("{} ms", r.elapsed.as_millis())).weak());
    });
    weak(ui, &r.seen);
    if let Some(cause) = &r.cause {
        ui.label(format!("Cause: {cause}"));
    }
    if let Some(fix) = &r.fix {
        ui.label(format!("Fix: {fix}"));
    }
}
