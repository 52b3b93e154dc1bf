//! What views ask for: typed commands that the app applies in one place ([`crate::app`]).

use std::path::PathBuf;

use crate::wizard::answers::Field;

/// A dashboard service button.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceAction {
    /// `service --start`.
    Start,
    /// `service --stop`.
    Stop,
    /// `service --stop --start`.
    Restart,
    /// `service --stop --uninstall`, then `service --install --start`.
    Reinstall,
}

impl ServiceAction {
    /// The run-process title, as the original words it.
    pub fn title(self) -> &'static str {
        match self {
            ServiceAction::Start => "Starting the Tentacle service…",
            ServiceAction::Stop => "Stopping the Tentacle service…",
            ServiceAction::Restart => "Restarting the Tentacle service…",
            ServiceAction::Reinstall => "Reinstalling the Tentacle service…",
        }
    }
}

/// A wizard button.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WizardCommand {
    /// Check this page and go on.
    Next,
    /// Go back a page.
    Back,
    /// Open the folder dialog for a folder field.
    Browse(Field),
    /// Verify the connection to the Octopus Server (again).
    Verify,
    /// Run the plan.
    Install,
    /// Leave the wizard (after a successful install: show the new instance).
    Close,
}

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Read the instance list again.
    Refresh,
    /// Put text on the clipboard.
    Copy(String),
    /// Show this instance.
    Select(String),
    /// Open the "Add new instance" box.
    ShowAddInstance,
    /// Close it.
    CancelAddInstance,
    /// Add a name to the selector and select it (nothing is written until the wizard runs).
    AddInstance(String),
    /// Open a folder in the file manager.
    OpenFolder(PathBuf),
    /// A service button.
    Service(ServiceAction),
    /// Close the finished service log.
    DismissJob,
    /// Open the setup wizard for the selected (not yet created) instance.
    StartWizard,
    /// A wizard button.
    Wizard(WizardCommand),
    /// Open the checks screen and run the checks.
    OpenChecks,
    /// Run the checks (again).
    RunChecks,
    /// Open the proxy settings screen.
    OpenProxy,
    /// Save the proxy settings and restart the service.
    ApplyProxy,
    /// Open "Delete this instance".
    OpenDelete,
    /// Delete the instance.
    Delete,
    /// Back to the dashboard.
    ToDashboard,
    /// Light or dark.
    ToggleTheme,
    /// Open the repair panel for the check with this id, its action at this index.
    ShowFix(String, usize),
    /// Run the open repair.
    RunFix,
    /// Close the repair panel.
    CancelFix,
    /// Run the undo of the repair just applied.
    UndoFix,
    /// Open the live log screen for the selected instance.
    OpenLog,
    /// Open a script's output (its `Output.log`) in the log screen.
    OpenScriptOutput(PathBuf),
    /// Open the trust editor.
    OpenTrust,
    /// Run the trust editor's change.
    ApplyTrust,
    /// Open "Adopt '<name>' from Octopus Tentacle".
    OpenAdopt(String),
    /// Run the adoption.
    RunAdopt,
    /// Undo the adoption just made (hand the instance back).
    UndoAdopt,
    /// Open "Hand back to Octopus Tentacle" for the selected instance.
    OpenHandBack,
    /// Run the hand-back.
    RunHandBack,
}
