//! The tray: its icon and menu as pure functions of the status ([`tray_icon()`], [`tray_menu()`]), and a thin tray-icon backend (ksni over D-Bus on Linux) that is optional.

use std::sync::mpsc::Sender;

use tentacle_core::service::ServiceStatus;

use crate::headline::{Headline, Tone};

/// What the tray shows, reduced from the dashboard's model.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrayStatus {
    /// The selected instance's display name; `None` when there is none yet.
    pub instance: Option<String>,
    /// The service manager's answer, or why it could not be asked.
    pub service: Option<Result<ServiceStatus, String>>,
    /// The agent's status document is fresh (the agent runs, as a service or in a terminal).
    pub agent_live: bool,
    /// Polling servers configured.
    pub polling_servers: usize,
    /// Polling servers the live agent is connected to.
    pub polling_connected: usize,
    /// The one status the dashboard shows; the icon, tooltip and menu use its words and tone.
    pub headline: Option<Headline>,
}

/// The four tray pictures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrayIconKind {
    /// Running, and every polling server connected.
    Connected,
    /// Running, but a polling server is unreachable (or the agent does not report).
    Disconnected,
    /// Not running, or no instance.
    Stopped,
    /// The service manager could not be asked.
    Error,
}

impl TrayIconKind {
    /// The PNG (32×32 RGBA) from `assets/tray/`.
    pub fn png(self) -> &'static [u8] {
        match self {
            TrayIconKind::Connected => include_bytes!("../../assets/tray/connected.png"),
            TrayIconKind::Disconnected => include_bytes!("../../assets/tray/disconnected.png"),
            TrayIconKind::Stopped => include_bytes!("../../assets/tray/stopped.png"),
            TrayIconKind::Error => include_bytes!("../../assets/tray/error.png"),
        }
    }

    /// One word for tooltips.
    pub fn word(self) -> &'static str {
        match self {
            TrayIconKind::Connected => "Connected",
            TrayIconKind::Disconnected => "Disconnected",
            TrayIconKind::Stopped => "Stopped",
            TrayIconKind::Error => "Error",
        }
    }
}

/// What a tray menu entry does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrayAction {
    /// Show and focus the manager window.
    Open,
    /// Start the service.
    StartService,
    /// Stop the service.
    StopService,
    /// Open the checks screen and run every check.
    RunChecks,
    /// Quit the manager.
    Quit,
}

impl TrayAction {
    const ALL: [TrayAction; 5] = [
        TrayAction::Open,
        TrayAction::StartService,
        TrayAction::StopService,
        TrayAction::RunChecks,
        TrayAction::Quit,
    ];

    /// The menu item id.
    pub fn id(self) -> &'static str {
        match self {
            TrayAction::Open => "open",
            TrayAction::StartService => "start",
            TrayAction::StopService => "stop",
            TrayAction::RunChecks => "checks",
            TrayAction::Quit => "quit",
        }
    }

    /// The action for a menu item id.
    pub fn from_id(id: &str) -> Option<TrayAction> {
        TrayAction::ALL.into_iter().find(|a| a.id() == id)
    }
}

/// One line of the tray menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrayMenuEntry {
    /// A greyed-out line saying how things are.
    Status(String),
    /// Something to click.
    Action {
        /// What it does.
        action: TrayAction,
        /// Its text.
        label: String,
        /// False when it cannot be done now.
        enabled: bool,
    },
    /// A line between groups.
    Separator,
}

/// The picture for `status`: the headline's tone (the dashboard's colour and shape), as a tray picture.
pub fn tray_icon(status: &TrayStatus) -> TrayIconKind {
    if status.instance.is_none() {
        return TrayIconKind::Stopped;
    }
    match status.headline.as_ref().map(|h| h.tone) {
        Some(Tone::Good) => TrayIconKind::Connected,
        Some(Tone::Warn) => TrayIconKind::Disconnected,
        Some(Tone::Bad) => TrayIconKind::Error,
        Some(Tone::Idle | Tone::Unknown) | None => TrayIconKind::Stopped,
    }
}

/// Tooltips stay short; the window has the whole sentence.
const TOOLTIP_MAX: usize = 100;

/// The tooltip: the dashboard's headline, "Tentacle (Default): Running as a service".
pub fn tray_tooltip(status: &TrayStatus) -> String {
    match (&status.instance, &status.headline) {
        (Some(name), Some(h)) => {
            let mut text: String = h.text.chars().take(TOOLTIP_MAX).collect();
            if h.text.chars().count() > TOOLTIP_MAX {
                text.push('…');
            }
            format!("Tentacle {name}: {text}")
        }
        (Some(name), None) => format!("Tentacle {name}: {}", tray_icon(status).word()),
        (None, _) => "Tentacle: no instance yet".to_owned(),
    }
}

/// The menu for `status`: a status line, open, start/stop, checks, quit.
pub fn tray_menu(status: &TrayStatus) -> Vec<TrayMenuEntry> {
    let action = |action, label: &str, enabled| TrayMenuEntry::Action {
        action,
        label: label.to_owned(),
        enabled,
    };
    let service_line = match &status.service {
        None => "Service: checking…".to_owned(),
        Some(Ok(s)) => format!("Service: {s}"),
        Some(Err(_)) => "Service: unknown (open the manager for details)".to_owned(),
    };
    let has_instance = status.instance.is_some();
    let stopped = matches!(status.service, Some(Ok(ServiceStatus::Stopped)));
    let running = matches!(status.service, Some(Ok(ServiceStatus::Running)));
    vec![
        TrayMenuEntry::Status(tray_tooltip(status)),
        TrayMenuEntry::Status(service_line),
        TrayMenuEntry::Separator,
        action(TrayAction::Open, "Open Tentacle Manager", true),
        action(
            TrayAction::StartService,
            "Start service",
            has_instance && stopped,
        ),
        action(
            TrayAction::StopService,
            "Stop service",
            has_instance && running,
        ),
        action(TrayAction::RunChecks, "Run checks", has_instance),
        TrayMenuEntry::Separator,
        action(TrayAction::Quit, "Quit", true),
    ]
}

/// Decodes one of the tray PNGs to RGBA.
pub fn decode_rgba(png_bytes: &[u8]) -> Result<(Vec<u8>, u32, u32), String> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::ALPHA);
    let mut reader = decoder.read_info().map_err(|e| e.to_string())?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| "the tray icon is too large".to_owned())?;
    let mut buf = vec![0; size];
    let info = reader.next_frame(&mut buf).map_err(|e| e.to_string())?;
    buf.truncate(info.buffer_size());
    if info.color_type != png::ColorType::Rgba || info.bit_depth != png::BitDepth::Eight {
        return Err(format!(
            "the tray icon is {:?}/{:?}, not 8-bit RGBA",
            info.color_type, info.bit_depth
        ));
    }
    Ok((buf, info.width, info.height))
}

/// The live tray icon. Dropping it removes the icon.
pub struct Tray {
    icon: tray_icon::TrayIcon,
    shown: Option<TrayStatus>,
}

impl Tray {
    /// Creates the tray icon; menu clicks arrive on `events` (and wake the window). Fails,
    /// with a reason for the log, where the desktop has no tray (the manager works without one).
    pub fn create(ctx: &egui::Context, events: Sender<TrayAction>) -> Result<Tray, String> {
        let ctx = ctx.clone();
        tray_icon::menu::MenuEvent::set_event_handler(Some(
            move |event: tray_icon::menu::MenuEvent| {
                if let Some(action) = TrayAction::from_id(&event.id().0)
                    && events.send(action).is_ok()
                {
                    // `logic` runs even while the window is hidden; wake it.
                    ctx.request_repaint();
                }
            },
        ));
        let status = TrayStatus::default();
        let icon = tray_icon::TrayIconBuilder::new()
            .with_id("tentacle-manager")
            .with_tooltip(tray_tooltip(&status))
            .with_icon(icon_for(tray_icon(&status))?)
            .with_menu(Box::new(menu_for(&status)?))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Tray {
            icon,
            shown: Some(status),
        })
    }

    /// Shows `status` (does nothing when it is what is shown already).
    pub fn show(&mut self, status: &TrayStatus) {
        if self.shown.as_ref() == Some(status) {
            return;
        }
        let result = icon_for(tray_icon(status)).and_then(|icon| {
            self.icon.set_icon(Some(icon)).map_err(|e| e.to_string())?;
            self.icon
                .set_tooltip(Some(tray_tooltip(status)))
                .map_err(|e| e.to_string())?;
            self.icon.set_menu(Some(Box::new(menu_for(status)?)));
            Ok(())
        });
        if let Err(e) = result {
            tracing::warn!("could not update the tray icon: {e}");
        }
        self.shown = Some(status.clone());
    }
}

fn icon_for(kind: TrayIconKind) -> Result<tray_icon::Icon, String> {
    let (rgba, w, h) = decode_rgba(kind.png())?;
    tray_icon::Icon::from_rgba(rgba, w, h).map_err(|e| e.to_string())
}

fn menu_for(status: &TrayStatus) -> Result<tray_icon::menu::Menu, String> {
    use tray_icon::menu::{Menu, MenuItem, PredefinedMenuItem};
    let menu = Menu::new();
    for (i, entry) in tray_menu(status).into_iter().enumerate() {
        let appended = match entry {
            TrayMenuEntry::Status(text) => {
                menu.append(&MenuItem::with_id(format!("status-{i}"), text, false, None))
            }
            TrayMenuEntry::Action {
                action,
                label,
                enabled,
            } => menu.append(&MenuItem::with_id(action.id(), label, enabled, None)),
            TrayMenuEntry::Separator => menu.append(&PredefinedMenuItem::separator()),
        };
        appended.map_err(|e| e.to_string())?;
    }
    Ok(menu)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::headline::{StatusFacts, headline};
    use tentacle_core::status::{AgentStatus, LinkStatus, ServerStatus};

    const NOW: u64 = 50_000;

    /// An agent document: fresh (`live`) or a clean stop, with these polling links.
    fn doc(live: bool, links: &[LinkStatus]) -> AgentStatus {
        AgentStatus {
            format_version: 1,
            instance: "Tentacle".into(),
            pid: 7,
            started_at: NOW - 100,
            updated_at: if live { NOW - 1 } else { NOW - 100 },
            mode: "polling".into(),
            listening_on: None,
            servers: links
                .iter()
                .map(|l| ServerStatus {
                    thumbprint: "A".repeat(40),
                    style: "polling".into(),
                    address: Some("https://octopus:10943/".into()),
                    link: Some(l.clone()),
                    connections_up: 0,
                    connections: 1,
                    last_contact: None,
                    last_error: None,
                })
                .collect(),
            running_scripts: 0,
            running: live,
        }
    }

    /// The tray status the app builds: the same headline as the dashboard.
    fn with_doc(
        service: Option<Result<ServiceStatus, String>>,
        agent: Option<AgentStatus>,
    ) -> TrayStatus {
        let agent = Ok(agent);
        let h = headline(&StatusFacts {
            service: service.as_ref(),
            agent: Some(&agent),
            last_error: None,
            now: NOW,
        });
        TrayStatus {
            instance: Some("(Default)".into()),
            service,
            headline: Some(h),
            ..TrayStatus::default()
        }
    }

    fn status(service: Option<Result<ServiceStatus, String>>, live: bool) -> TrayStatus {
        with_doc(service, Some(doc(live, &[])))
    }

    #[test]
    fn icon_and_tooltip_follow_the_dashboard_headline() {
        assert_eq!(tray_icon(&TrayStatus::default()), TrayIconKind::Stopped);
        let stopped = status(Some(Ok(ServiceStatus::Stopped)), false);
        assert_eq!(tray_icon(&stopped), TrayIconKind::Stopped);
        assert_eq!(tray_tooltip(&stopped), "Tentacle (Default): Stopped");
        assert_eq!(
            tray_icon(&status(Some(Ok(ServiceStatus::NotInstalled)), false)),
            TrayIconKind::Stopped
        );
        assert_eq!(
            tray_icon(&status(Some(Err("systemctl failed".into())), false)),
            TrayIconKind::Error
        );
        let running = status(Some(Ok(ServiceStatus::Running)), true);
        assert_eq!(tray_icon(&running), TrayIconKind::Connected);
        assert_eq!(
            tray_tooltip(&running),
            "Tentacle (Default): Running as a service"
        );
        // Running as a service but not reporting: not trusted to be connected.
        assert_eq!(
            tray_icon(&with_doc(Some(Ok(ServiceStatus::Running)), None)),
            TrayIconKind::Disconnected
        );
        // An agent run by hand (no service): running, but not as it should; the tooltip says so.
        let by_hand = status(Some(Ok(ServiceStatus::NotInstalled)), true);
        assert_eq!(tray_icon(&by_hand), TrayIconKind::Disconnected);
        assert_eq!(
            tray_tooltip(&by_hand),
            "Tentacle (Default): Running in a terminal (pid 7), not as a service"
        );
        let polling = with_doc(
            Some(Ok(ServiceStatus::Running)),
            Some(doc(true, &[LinkStatus::Connected, LinkStatus::Connecting])),
        );
        assert_eq!(tray_icon(&polling), TrayIconKind::Disconnected);
        let connected = with_doc(
            Some(Ok(ServiceStatus::Running)),
            Some(doc(true, &[LinkStatus::Connected, LinkStatus::Connected])),
        );
        assert_eq!(tray_icon(&connected), TrayIconKind::Connected);
        // A crash: the document says running but is old.
        let mut died = doc(true, &[]);
        died.updated_at = NOW - 180;
        let crashed = with_doc(Some(Ok(ServiceStatus::Stopped)), Some(died));
        assert_eq!(tray_icon(&crashed), TrayIconKind::Error);
        assert_eq!(
            tray_tooltip(&crashed),
            "Tentacle (Default): Crashed 3 min ago"
        );
    }

    fn enabled(menu: &[TrayMenuEntry], which: TrayAction) -> bool {
        menu.iter()
            .find_map(|e| match e {
                TrayMenuEntry::Action {
                    action, enabled, ..
                } if *action == which => Some(*enabled),
                _ => None,
            })
            .unwrap()
    }

    #[test]
    fn menu_offers_start_only_when_stopped_and_stop_only_when_running() {
        let stopped = tray_menu(&status(Some(Ok(ServiceStatus::Stopped)), false));
        assert!(enabled(&stopped, TrayAction::StartService));
        assert!(!enabled(&stopped, TrayAction::StopService));
        assert_eq!(stopped[1], TrayMenuEntry::Status("Service: Stopped".into()));

        let running = tray_menu(&status(Some(Ok(ServiceStatus::Running)), true));
        assert!(!enabled(&running, TrayAction::StartService));
        assert!(enabled(&running, TrayAction::StopService));
        assert!(enabled(&running, TrayAction::RunChecks));
        assert!(enabled(&running, TrayAction::Quit));

        let error = tray_menu(&status(Some(Err("secret detail".into())), false));
        assert!(!enabled(&error, TrayAction::StartService));
        assert!(!format!("{error:?}").contains("secret detail"));

        let none = tray_menu(&TrayStatus::default());
        assert_eq!(
            none[0],
            TrayMenuEntry::Status("Tentacle: no instance yet".into())
        );
        assert!(!enabled(&none, TrayAction::RunChecks));
        assert!(enabled(&none, TrayAction::Open));
    }

    #[test]
    fn ids_round_trip_and_every_icon_decodes() {
        for action in TrayAction::ALL {
            assert_eq!(TrayAction::from_id(action.id()), Some(action));
        }
        assert_eq!(TrayAction::from_id("status-0"), None);
        for kind in [
            TrayIconKind::Connected,
            TrayIconKind::Disconnected,
            TrayIconKind::Stopped,
            TrayIconKind::Error,
        ] {
            let (rgba, w, h) = decode_rgba(kind.png()).unwrap();
            assert_eq!((w, h), (32, 32));
            assert_eq!(rgba.len(), 32 * 32 * 4);
            // Transparent corner, opaque centre.
            assert_eq!(rgba[3], 0);
            assert_eq!(rgba[(16 * 32 + 4) * 4 + 3], 255);
        }
    }
}
