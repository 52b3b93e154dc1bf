//! Where background work lands: events from the worker threads and the tray, applied to the app's state.

use tentacle_core::instance;

use super::{Screen, TentacleManagerApp};
use crate::commands::{Command, ServiceAction};
use crate::folder_picker::PickOutcome;
use crate::tray::TrayAction;
use crate::wizard::JobLog;
use crate::wizard::answers::Field;
use crate::worker::{Event, Job};

impl TentacleManagerApp {
    /// Takes every finished piece of background work.
    pub(super) fn receive(&mut self, ctx: &egui::Context) {
        while let Ok(event) = self.events.try_recv() {
            self.on_event(ctx, event);
        }
        let tray_actions: Vec<TrayAction> = self
            .tray_events
            .as_ref()
            .map(|rx| rx.try_iter().collect())
            .unwrap_or_default();
        for action in tray_actions {
            self.on_tray(ctx, action);
        }
    }

    fn on_event(&mut self, ctx: &egui::Context, event: Event) {
        match event {
            Event::Loaded(result) => {
                self.loading = false;
                if let Ok(list) = &result.instances {
                    let exists = list.iter().any(|s| s.name == self.selected);
                    let was_added = self.added.contains(&self.selected);
                    if !exists
                        && !was_added
                        && !matches!(self.screen, Screen::Wizard(_))
                        && let Some(first) = list.first()
                    {
                        self.selected = first.name.clone();
                    }
                    self.added.retain(|a| !list.iter().any(|s| &s.name == a));
                }
                let ours: Vec<_> = result
                    .instances
                    .as_ref()
                    .map(|l| {
                        l.iter()
                            .map(|s| (s.name.clone(), s.config.clone()))
                            .collect()
                    })
                    .unwrap_or_default();
                self.loaded = Some(result);
                self.update_watch();
                if let Err(e) = crate::adopt_view::spawn_finder(&self.sink, ours) {
                    tracing::warn!("{e}");
                }
            }
            Event::Offers(found) => {
                self.offers = found.offers;
                self.adopted = found.adopted;
            }
            Event::Live(live) => {
                if live.instance == self.selected {
                    self.live = Some(live);
                }
            }
            Event::Line(job, line) => {
                if let Some(log) = self.log_for(job) {
                    log.lines.push(line);
                }
            }
            Event::Done(job, outcome) => self.on_done(ctx, job, outcome),
            Event::Picked(field, outcome) => {
                if let Screen::Wizard(w) = &mut self.screen {
                    match outcome {
                        PickOutcome::Picked(path) => {
                            let text = path.display().to_string();
                            match field {
                                Field::Home => w.answers.home = text,
                                _ => w.answers.app_dir = text,
                            }
                            w.notice = None;
                        }
                        PickOutcome::Cancelled => {}
                        PickOutcome::Unavailable(why) => w.notice = Some(why),
                    }
                }
            }
            Event::Verified(result) => {
                if let Screen::Wizard(w) = &mut self.screen {
                    match result {
                        Ok(v) => {
                            w.verified = Some(v);
                            w.verified_for = Some(w.verify_key());
                            w.verify.finish(Ok(()));
                        }
                        Err(e) => {
                            w.verified = None;
                            w.verify.lines.push(format!("Error: {e}"));
                            w.verify.finish(Err(e));
                        }
                    }
                }
            }
            Event::FirewallFound(found) => {
                if let Screen::Wizard(w) = &mut self.screen {
                    w.answers.firewall_found = found;
                }
            }
            Event::CheckPlan(planned) => {
                if let Screen::Checks(c) = &mut self.screen {
                    c.planned = planned;
                }
            }
            Event::CheckResult(result) => {
                if let Screen::Checks(c) = &mut self.screen {
                    c.results.push(result);
                }
            }
            Event::CheckReport(report) => {
                if let Screen::Checks(c) = &mut self.screen {
                    c.running = false;
                    c.report = Some(report.map(|r| *r));
                }
            }
        }
    }

    fn log_for(&mut self, job: Job) -> Option<&mut JobLog> {
        match (job, &mut self.screen) {
            (Job::Service, _) => self.service_job.as_mut().map(|(_, l)| l),
            (Job::Install, Screen::Wizard(w)) => Some(&mut w.install),
            (Job::Verify, Screen::Wizard(w)) => Some(&mut w.verify),
            (Job::Delete, Screen::Delete(d)) => Some(&mut d.log),
            (Job::Proxy, Screen::Proxy(p)) => Some(&mut p.log),
            (Job::Fix, Screen::Checks(c)) => c.fix.as_mut().map(|f| &mut f.log),
            (Job::Trust, Screen::Trust(t)) => Some(&mut t.log),
            (Job::Adopt, Screen::Adopt(a)) => Some(&mut a.log),
            _ => None,
        }
    }

    fn on_done(&mut self, _ctx: &egui::Context, job: Job, outcome: Result<(), String>) {
        if job == Job::OpenFolder {
            self.message = outcome.err();
            return;
        }
        if job == Job::Fix {
            self.fix_done(outcome);
            return;
        }
        let ok = outcome.is_ok();
        if let Some(log) = self.log_for(job) {
            log.finish(outcome);
        }
        match job {
            Job::Install | Job::Proxy | Job::Service | Job::Trust => self.start_loading(),
            Job::Adopt => {
                if let (true, Screen::Adopt(a)) = (ok, &self.screen) {
                    self.selected = a.name.clone();
                }
                self.start_loading();
            }
            Job::Delete if ok => {
                // Back to the wizard for the name just freed, as the original returns to "Get started".
                let name = self.selected.clone();
                self.added.retain(|a| a != &name);
                self.added.push(name.clone());
                self.live = None;
                let mut w = self.new_wizard(&name);
                w.notice = Some(format!(
                    "The instance {} was deleted; its files were kept. Set up a Tentacle again below, or close the wizard.",
                    instance::display_name(&name)
                ));
                self.screen = Screen::Wizard(Box::new(w));
                self.start_loading();
            }
            _ => {}
        }
    }

    fn on_tray(&mut self, ctx: &egui::Context, action: TrayAction) {
        match action {
            TrayAction::Open => {
                ctx.send_viewport_cmd(egui::ViewportCommand::Visible(true));
                ctx.send_viewport_cmd(egui::ViewportCommand::Minimized(false));
                ctx.send_viewport_cmd(egui::ViewportCommand::Focus);
            }
            TrayAction::StartService => self.apply(ctx, Command::Service(ServiceAction::Start)),
            TrayAction::StopService => self.apply(ctx, Command::Service(ServiceAction::Stop)),
            TrayAction::RunChecks => {
                ctx.send_viewport_cmd(egui::ViewportCommand::Visible(true));
                ctx.send_viewport_cmd(egui::ViewportCommand::Focus);
                self.apply(ctx, Command::OpenChecks);
            }
            TrayAction::Quit => ctx.send_viewport_cmd(egui::ViewportCommand::Close),
        }
    }
}
