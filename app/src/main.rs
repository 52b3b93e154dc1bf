//! Tentacle Manager's entry point: logging, the native window, and a one-line error when no window can open.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use std::process::ExitCode;

use tentacle_manager::{TITLE, TentacleManagerApp};

fn main() -> ExitCode {
    let _ = tentacle_manager::app::PROCESS_START.set(std::time::Instant::now());
    init_tracing();
    if let Some(message) = missing_display() {
        eprintln!("{message}");
        return ExitCode::FAILURE;
    }
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title(TITLE)
            .with_app_id("tentacle-manager")
            .with_inner_size([960.0, 680.0])
            .with_min_inner_size([480.0, 320.0]),
        ..Default::default()
    };
    let started = eframe::run_native(
        TITLE,
        options,
        Box::new(|cc| Ok(Box::new(TentacleManagerApp::for_this_machine(&cc.egui_ctx)))),
    );
    match started {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::debug!("eframe failed: {e:?}");
            eprintln!("{}", start_error(&e));
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr; `RUST_LOG` overrides the default: warnings, our own info, no winit
/// chatter about the X server, and no second copy of a start-up error (main prints it).
const DEFAULT_LOG_FILTER: &str = "warn,winit=error,eframe::native::run=off,tentacle_manager=info";

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// On X11/Wayland desktops, the reason no window can open before we try.
fn missing_display() -> Option<&'static str> {
    if !cfg!(all(unix, not(target_os = "macos"))) {
        return None;
    }
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if set("DISPLAY") || set("WAYLAND_DISPLAY") || set("WAYLAND_SOCKET") {
        None
    } else {
        Some(
            "Tentacle Manager needs a graphical display (DISPLAY or WAYLAND_DISPLAY is unset); on a server run it under xvfb-run or use the tentacle CLI",
        )
    }
}

/// One line for stderr: what failed, and what to do about it.
fn start_error(error: &eframe::Error) -> String {
    let detail = without_source_location(&error.to_string())
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let advice = match error {
        eframe::Error::Wgpu(_) => {
            "install a graphics driver (on Linux without a GPU: mesa-vulkan-drivers or libgl1-mesa-dri), or use the tentacle CLI"
        }
        eframe::Error::AppCreation(_) => "see the log above",
        _ => {
            "check that the display (DISPLAY or WAYLAND_DISPLAY) is reachable, or use the tentacle CLI"
        }
    };
    format!("Tentacle Manager could not open its window: {detail}; {advice}")
}

/// winit's OS errors read "os error at /path/to/winit/src/file.rs:788: what happened";
/// the user needs only what happened.
fn without_source_location(message: &str) -> String {
    let Some(start) = message.find("os error at ") else {
        return message.to_owned();
    };
    let rest = &message[start..];
    match rest
        .find(".rs:")
        .and_then(|i| rest[i..].find(": ").map(|j| i + j + 2))
    {
        Some(end) => format!("{}{}", &message[..start], &rest[end..]),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_errors_are_one_line() {
        let error = eframe::Error::AppCreation("bad\nthing".into());
        let line = start_error(&error);
        assert!(!line.contains('\n'), "{line}");
        assert!(
            line.starts_with("Tentacle Manager could not open its window"),
            "{line}"
        );
    }

    #[test]
    fn winit_source_locations_are_dropped() {
        assert_eq!(
            without_source_location(
                "winit EventLoopError: os error at /root/.cargo/winit/src/linux/mod.rs:788: Failed to open connection to X server"
            ),
            "winit EventLoopError: Failed to open connection to X server"
        );
        assert_eq!(without_source_location("no location"), "no location");
    }
}
