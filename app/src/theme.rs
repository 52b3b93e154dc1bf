//! Colours and the light/dark choice: the only place the manager names a colour.

use egui::Color32;

/// Running, passed, connected (Tentacle Manager's green).
pub const GOOD: Color32 = Color32::from_rgb(0x53, 0xB9, 0x53);
/// Stopped, failed (Tentacle Manager's red).
pub const BAD: Color32 = Color32::from_rgb(0xDB, 0x44, 0x37);
/// Warnings.
pub const WARN: Color32 = Color32::from_rgb(0xE8, 0xA3, 0x3D);
/// The header bar (Tentacle Manager's blue).
pub const HEADER: Color32 = Color32::from_rgb(0x2F, 0x93, 0xE0);
/// Text on the header bar.
pub const ON_HEADER: Color32 = Color32::WHITE;

/// The error colour of the current theme (readable on light and dark backgrounds).
pub fn error(ui: &egui::Ui) -> Color32 {
    ui.visuals().error_fg_color
}

/// The green used for text, darker on light backgrounds so it stays readable.
pub fn good_text(ui: &egui::Ui) -> Color32 {
    if ui.visuals().dark_mode {
        GOOD
    } else {
        Color32::from_rgb(0x2E, 0x7D, 0x32)
    }
}

/// The warning colour for text.
pub fn warn_text(ui: &egui::Ui) -> Color32 {
    if ui.visuals().dark_mode {
        WARN
    } else {
        Color32::from_rgb(0xA8, 0x62, 0x00)
    }
}

/// Light or dark, flipped by the header's theme button.
pub fn toggle(ctx: &egui::Context) {
    let next = if ctx.global_style().visuals.dark_mode {
        egui::ThemePreference::Light
    } else {
        egui::ThemePreference::Dark
    };
    ctx.set_theme(next);
}

/// The colour of a status tone (text and badge), readable on light and dark backgrounds.
pub fn tone(ui: &egui::Ui, tone: crate::headline::Tone) -> Color32 {
    use crate::headline::Tone;
    match tone {
        Tone::Good => good_text(ui),
        Tone::Warn => warn_text(ui),
        Tone::Bad => error(ui),
        Tone::Idle | Tone::Unknown => ui.visuals().weak_text_color(),
    }
}
