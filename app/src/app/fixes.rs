//! The checks screen's repairs applied: open a repair's panel, run it (or its undo) on a worker thread, and run the checks again when it ends.

use tentacle_core::fix::{FixContext, Selector};

use super::{Screen, TentacleManagerApp};
use crate::check_fix::FixPanel;
use crate::commands::Command;
use crate::runner;
use crate::wizard::JobLog;
use crate::worker::{self, Event, Job};

impl TentacleManagerApp {
    /// The context repairs of the selected instance run in.
    pub(super) fn fix_context(&self) -> Option<FixContext> {
        let summary = self.selected_summary()?;
        Some(FixContext {
            selector: Selector::Instance(summary.name.clone()),
            config: summary.config.clone(),
            // A service installed by a repair runs the `tentacle` beside the manager.
            tentacle_exe: runner::tentacle_exe()
                .unwrap_or_else(|_| std::path::PathBuf::from("tentacle")),
        })
    }

    /// Applies a repair command; false when `command` is not one.
    pub(super) fn fix_command(&mut self, command: &Command) -> bool {
        match command {
            Command::ShowFix(id, index) => {
                if let Screen::Checks(c) = &mut self.screen {
                    let found =
                        c.results.iter().find(|r| &r.id == id).and_then(|r| {
                            r.actions.get(*index).map(|a| FixPanel::new(r, a.clone()))
                        });
                    if found.is_some() {
                        c.fix = found;
                    }
                }
            }
            Command::CancelFix => {
                if let Screen::Checks(c) = &mut self.screen
                    && !c.fix.as_ref().is_some_and(FixPanel::running)
                {
                    c.fix = None;
                }
            }
            Command::RunFix => self.run_fix(false),
            Command::UndoFix => self.run_fix(true),
            _ => return false,
        }
        true
    }

    /// Runs the open repair (or, with `undo`, the undo of the one just applied).
    fn run_fix(&mut self, undo: bool) {
        let checked = self.instances().and_then(|i| runner::check_same_root(&i));
        let sink = self.sink.clone();
        let Screen::Checks(c) = &mut self.screen else {
            return;
        };
        let Some(panel) = c.fix.as_mut() else {
            return;
        };
        if panel.running() {
            return;
        }
        if undo {
            let Some(back) = panel.action.undo() else {
                return;
            };
            panel.action = back;
            panel.is_undo = true;
        }
        panel.started = true;
        panel.log = JobLog::started();
        let Some(ctx) = c.fix_context.clone() else {
            panel.log.finish(Err(
                "This instance's configuration could not be read".to_owned()
            ));
            return;
        };
        if let Err(e) = checked {
            panel.log.lines.push(format!("Error: {e}"));
            panel.log.finish(Err(e));
            return;
        }
        let action = panel.action.clone();
        let spawned = worker::spawn("check-fix", sink, move |sink| {
            let outcome = action
                .apply(&ctx, &mut |line| sink.line(Job::Fix, line))
                .map_err(|e| e.to_string());
            sink.send(Event::Done(Job::Fix, outcome));
        });
        if let Err(e) = spawned {
            panel.log.finish(Err(e));
        }
    }

    /// Looks for an active firewall off the UI thread, for the wizard's "Add a firewall
    /// exception" box (Windows always has one; elsewhere `ufw`/`firewall-cmd` are asked).
    pub(super) fn look_for_firewall(&self) {
        if cfg!(windows) {
            return;
        }
        let spawned = worker::spawn("firewall-look", self.sink.clone(), |sink| {
            let found = match tentacle_core::firewall::detect() {
                Ok(tentacle_core::firewall::Detected::Active(fw)) => Some(fw),
                Ok(_) => None,
                Err(e) => {
                    tracing::info!("no firewall exception offered: {e}");
                    None
                }
            };
            sink.send(Event::FirewallFound(found));
        });
        if let Err(e) = spawned {
            tracing::warn!("{e}");
        }
    }

    /// A repair ended: keep its panel and run the checks again under it.
    pub(super) fn fix_done(&mut self, outcome: Result<(), String>) {
        let Screen::Checks(c) = &mut self.screen else {
            return;
        };
        let Some(mut panel) = c.fix.take() else {
            return;
        };
        panel.log.finish(outcome);
        self.run_checks();
        self.start_loading();
        if let Screen::Checks(c) = &mut self.screen {
            c.fix = Some(panel);
        }
    }
}
