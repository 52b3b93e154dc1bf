//! Drawing the one status ([`crate::headline`]): a badge whose shape says the tone without colour, the words, and the buttons that fit.

use egui::{Color32, Pos2, RichText, Stroke, Ui, vec2};

use crate::commands::{Command, ServiceAction};
use crate::headline::{Headline, HeadlineAction, StatusFacts, Tone};
use crate::theme;
use crate::worker::Live;

/// The facts for `live` (the selected instance's, or `None` before the first look).
pub fn facts(live: Option<&Live>, now: u64) -> StatusFacts<'_> {
    StatusFacts {
        service: live.map(|l| &l.service),
        agent: live.map(|l| &l.agent),
        last_error: live.and_then(|l| l.last_error.as_deref()),
        now,
    }
}

/// The command a headline button sends, given whether the service manager says it runs.
pub fn command(action: HeadlineAction, service_running: bool) -> Command {
    match action {
        // Reinstall stops and uninstalls what may be there (allowed to fail), then installs and starts.
        HeadlineAction::InstallService => Command::Service(ServiceAction::Reinstall),
        HeadlineAction::Start => Command::Service(ServiceAction::Start),
        HeadlineAction::Restart if service_running => Command::Service(ServiceAction::Restart),
        HeadlineAction::Restart => Command::Service(ServiceAction::Start),
        HeadlineAction::OpenLog => Command::OpenLog,
        HeadlineAction::RunChecks => Command::OpenChecks,
    }
}

/// The badge with its accessible name ("Status: Attention"), so the state reads without colour or sight.
pub fn status_badge(ui: &mut Ui, tone: Tone) -> egui::Response {
    let colour = theme::tone(ui, tone);
    let response = badge(ui, tone, colour);
    response.widget_info(|| {
        egui::WidgetInfo::labeled(egui::Role::Label, true, format!("Status: {}", tone.word()))
    });
    response
}

/// The words, in the tone's colour, and the buttons that fit (the badge is drawn by the title).
pub fn status_line(
    ui: &mut Ui,
    h: &Headline,
    service_running: bool,
    enabled: bool,
    commands: &mut Vec<Command>,
) {
    let colour = theme::tone(ui, h.tone);
    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new(&h.text).color(colour).strong().size(15.0));
        for action in &h.actions {
            if ui
                .add_enabled(enabled, egui::Button::new(action.label()))
                .clicked()
            {
                commands.push(command(*action, service_running));
            }
        }
    });
}

/// An 18 px badge: disc with a tick (good), triangle with a bar (warn), disc with a cross (bad),
/// square (idle), ring (unknown). Shapes, so the state reads in grey scale too.
pub fn badge(ui: &mut Ui, tone: Tone, colour: Color32) -> egui::Response {
    let (rect, response) = ui.allocate_exact_size(vec2(20.0, 20.0), egui::Sense::hover());
    let p = ui.painter();
    let c = rect.center();
    let r = 8.0;
    let on = if ui.visuals().dark_mode {
        Color32::from_gray(20)
    } else {
        Color32::WHITE
    };
    let ink = Stroke::new(2.0, on);
    match tone {
        Tone::Good => {
            p.circle_filled(c, r, colour);
            p.line_segment([c + vec2(-4.0, 0.0), c + vec2(-1.0, 3.5)], ink);
            p.line_segment([c + vec2(-1.0, 3.5), c + vec2(4.5, -3.5)], ink);
        }
        Tone::Warn => {
            let pts = vec![
                Pos2::new(c.x, c.y - r),
                Pos2::new(c.x + r, c.y + r - 1.0),
                Pos2::new(c.x - r, c.y + r - 1.0),
            ];
            p.add(egui::Shape::convex_polygon(pts, colour, Stroke::NONE));
            p.line_segment([c + vec2(0.0, -3.0), c + vec2(0.0, 2.0)], ink);
            p.circle_filled(c + vec2(0.0, 4.5), 1.1, on);
        }
        Tone::Bad => {
            p.circle_filled(c, r, colour);
            p.line_segment([c + vec2(-3.5, -3.5), c + vec2(3.5, 3.5)], ink);
            p.line_segment([c + vec2(-3.5, 3.5), c + vec2(3.5, -3.5)], ink);
        }
        Tone::Idle => {
            p.rect_filled(
                egui::Rect::from_center_size(c, vec2(13.0, 13.0)),
                2.0,
                colour,
            );
        }
        Tone::Unknown => {
            p.circle_stroke(c, r - 1.0, Stroke::new(2.0, colour));
        }
    }
    response
}
