//! Small drawing helpers shared by the screens: labelled fields (every input has an accessible name), inline errors, logs, the header bar.

use egui::{Align, Button, Layout, RichText, ScrollArea, TextEdit, Ui};

use crate::commands::Command;
use crate::theme;

/// The window's title.
pub const TITLE: &str = "Tentacle Manager";

/// A labelled one-line text field; the label is its accessible name. Shows `error` under it.
pub fn text_field(
    ui: &mut Ui,
    label: &str,
    value: &mut String,
    error: Option<&str>,
) -> egui::Response {
    field(ui, label, value, error, false, "")
}

/// A labelled password field: the text is drawn as dots and never shown.
pub fn secret_field(
    ui: &mut Ui,
    label: &str,
    value: &mut String,
    error: Option<&str>,
) -> egui::Response {
    field(ui, label, value, error, true, "")
}

/// A labelled text field with a grey hint inside it.
pub fn hinted_field(
    ui: &mut Ui,
    label: &str,
    value: &mut String,
    error: Option<&str>,
    hint: &str,
) -> egui::Response {
    field(ui, label, value, error, false, hint)
}

fn field(
    ui: &mut Ui,
    label: &str,
    value: &mut String,
    error: Option<&str>,
    secret: bool,
    hint: &str,
) -> egui::Response {
    let label_response = ui.label(RichText::new(label).strong());
    let response = ui
        .add(
            TextEdit::singleline(value)
                .password(secret)
                .hint_text(hint)
                .desired_width(f32::min(ui.available_width(), 520.0)),
        )
        .labelled_by(label_response.id);
    if let Some(error) = error {
        error_text(ui, error);
    }
    ui.add_space(6.0);
    response
}

/// A sentence in the error colour.
pub fn error_text(ui: &mut Ui, message: &str) {
    ui.label(RichText::new(message).color(theme::error(ui)));
}

/// Grey prose.
pub fn weak(ui: &mut Ui, text: &str) {
    ui.label(RichText::new(text).weak());
}

/// A page heading.
pub fn heading(ui: &mut Ui, text: &str) {
    ui.label(RichText::new(text).size(20.0).strong());
    ui.add_space(4.0);
}

/// A monospace log that follows its end; a spinner while `running`.
pub fn log_box(ui: &mut Ui, id: &str, lines: &[String], running: bool) {
    if running {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label("Working…");
        });
    }
    if lines.is_empty() {
        return;
    }
    egui::Frame::group(ui.style()).show(ui, |ui| {
        ScrollArea::vertical()
            .id_salt(id)
            .max_height(220.0)
            .stick_to_bottom(true)
            .auto_shrink([false, true])
            .show(ui, |ui| {
                for line in lines {
                    let text = RichText::new(line).monospace();
                    let text = if line.starts_with("Error: ") {
                        text.color(theme::error(ui))
                    } else if line.starts_with("Warning: ") {
                        text.color(theme::warn_text(ui))
                    } else {
                        text
                    };
                    ui.label(text);
                }
            });
    });
}

/// The blue bar: title on the left; instance selector, "Add new instance" and the theme switch on the right.
pub fn header(
    ui: &mut Ui,
    names: &[(String, String)],
    selected: &str,
    selector_enabled: bool,
    commands: &mut Vec<Command>,
) {
    egui::Frame::new()
        .fill(theme::HEADER)
        .inner_margin(egui::Margin::symmetric(12, 10))
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.horizontal(|ui| {
                ui.label(
                    RichText::new(TITLE)
                        .size(20.0)
                        .strong()
                        .color(theme::ON_HEADER),
                );
                ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                    let dark = ui.visuals().dark_mode;
                    let theme_label = if dark { "Light theme" } else { "Dark theme" };
                    if ui
                        .button(theme_label)
                        .on_hover_text("Switch between light and dark")
                        .clicked()
                    {
                        commands.push(Command::ToggleTheme);
                    }
                    if ui
                        .add_enabled(selector_enabled, Button::new("Add new instance"))
                        .clicked()
                    {
                        commands.push(Command::ShowAddInstance);
                    }
                    let shown = names
                        .iter()
                        .find(|(name, _)| name == selected)
                        .map_or(selected, |(_, display)| display.as_str());
                    ui.add_enabled_ui(selector_enabled, |ui| {
                        let combo = egui::ComboBox::from_id_salt("instance-selector")
                            .selected_text(shown)
                            .width(180.0)
                            .show_ui(ui, |ui| {
                                for (name, display) in names {
                                    if ui.selectable_label(name == selected, display).clicked()
                                        && name != selected
                                    {
                                        commands.push(Command::Select(name.clone()));
                                    }
                                }
                            });
                        combo.response.widget_info(|| {
                            egui::WidgetInfo::labeled(egui::Role::ComboBox, true, "Instance")
                        });
                    });
                    ui.label(RichText::new("Instance").color(theme::ON_HEADER));
                });
            });
        });
}
