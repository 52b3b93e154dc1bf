//! Choosing a folder: a small trait so tests can answer for the user, and the native dialog (rfd: xdg-portal or zenity on Linux) behind it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What a folder dialog came back with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PickOutcome {
    /// The user chose this folder.
    Picked(PathBuf),
    /// The user closed the dialog.
    Cancelled,
    /// No dialog could be shown; the sentence says why and what to do.
    Unavailable(String),
}

/// Shows a folder dialog. Blocking: call it off the UI thread.
pub trait FolderPicker: Send + Sync {
    /// Asks for a folder, starting at `start`.
    fn pick_folder(&self, title: &str, start: &Path) -> PickOutcome;
}

/// rfd's native dialog.
#[derive(Debug, Default, Clone, Copy)]
pub struct NativePicker;

/// rfd answers "no folder" at once when there is neither a desktop portal nor zenity; a person
/// cannot cancel a dialog this fast, so a quicker "no" means there was no dialog.
const NO_DIALOG_WITHIN: Duration = Duration::from_millis(250);

impl FolderPicker for NativePicker {
    fn pick_folder(&self, title: &str, start: &Path) -> PickOutcome {
        let started = Instant::now();
        let mut dialog = rfd::FileDialog::new().set_title(title);
        // Start in the nearest folder that exists; a missing one makes some dialogs fail.
        if let Some(dir) = start.ancestors().find(|p| p.is_dir()) {
            dialog = dialog.set_directory(dir);
        }
        match dialog.pick_folder() {
            Some(path) => PickOutcome::Picked(path),
            None if started.elapsed() < NO_DIALOG_WITHIN => PickOutcome::Unavailable(
                "No folder dialog is available on this desktop (install xdg-desktop-portal-gtk or zenity); type the path instead".to_owned(),
            ),
            None => PickOutcome::Cancelled,
        }
    }
}
