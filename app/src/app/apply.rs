//! The one place commands turn into effects: background jobs for the service, the wizard, checks, delete and proxy settings.

use tentacle_core::service::Verbs;

use super::{Screen, TentacleManagerApp};
use crate::checks_view::ChecksState;
use crate::commands::{Command, ServiceAction, WizardCommand};
use crate::delete::DeleteState;
use crate::proxy_view::ProxyState;
use crate::runner;
use crate::theme;
use crate::wizard::answers::{Answers, Field};
use crate::wizard::plan::{Step, plan};
use crate::wizard::{self, JobLog, Page, WizardState};
use crate::worker::{self, Event, Job};

impl TentacleManagerApp {
    pub(super) fn new_wizard(&self, name: &str) -> WizardState {
        let home = match self.instances() {
            Ok(i) => i.root().default_instance_dir(name),
            Err(_) => std::path::PathBuf::from(name),
        };
        WizardState::new(Answers::new(
            name,
            &home,
            &tentacle_core::register::plan::host_name(),
        ))
    }

    /// Runs `steps` as `job` on a worker thread, after checking the CLI acts on the instances shown.
    fn run_job(&mut self, job: Job, steps: Vec<Step>) -> Result<(), String> {
        let instances = self.instances()?;
        runner::check_same_root(&instances)?;
        worker::spawn("tentacle-steps", self.sink.clone(), move |sink| {
            let outcome = runner::run_steps(&steps, job, sink);
            sink.send(Event::Done(job, outcome));
        })
    }

    /// The one place commands turn into effects.
    pub fn apply(&mut self, ctx: &egui::Context, command: Command) {
        match command {
            Command::Refresh => self.start_loading(),
            Command::Copy(text) => ctx.copy_text(text),
            Command::Select(name) => {
                self.selected = name;
                self.service_job = None;
                self.screen = Screen::Dashboard;
                self.update_watch();
            }
            Command::ShowAddInstance => self.add_box = Some(String::new()),
            Command::CancelAddInstance => self.add_box = None,
            Command::AddInstance(name) => {
                let name = name.trim().to_owned();
                if !name.is_empty()
                    && !self
                        .selector_names()
                        .iter()
                        .any(|(n, _)| n.eq_ignore_ascii_case(&name))
                {
                    self.added.push(name.clone());
                    self.add_box = None;
                    self.apply(ctx, Command::Select(name));
                }
            }
            Command::OpenFolder(path) => {
                let spawned = worker::spawn("open-folder", self.sink.clone(), move |sink| {
                    sink.send(Event::Done(Job::OpenFolder, worker::open_folder(&path)));
                });
                if let Err(e) = spawned {
                    self.message = Some(e);
                }
            }
            Command::Service(action) => self.service_action(action),
            Command::DismissJob => self.service_job = None,
            Command::StartWizard => {
                let w = self.new_wizard(&self.selected.clone());
                self.screen = Screen::Wizard(Box::new(w));
                self.look_for_firewall();
            }
            Command::Wizard(c) => self.wizard_command(c),
            Command::OpenChecks | Command::RunChecks => self.run_checks(),
            Command::OpenProxy => {
                if let Some(Ok(d)) = self.selected_summary().map(|s| &s.details) {
                    let polls =
                        crate::sentences::communication_mode(&d.trusted_servers) == "Polling";
                    let state = ProxyState::new(
                        &self.selected,
                        &d.proxy,
                        polls.then_some(&d.polling_proxy),
                    );
                    self.screen = Screen::Proxy(state);
                }
            }
            Command::ApplyProxy => {
                let Screen::Proxy(p) = &self.screen else {
                    return;
                };
                let checked = p.check();
                let steps = p.plan();
                let started = checked.and_then(|()| self.run_job(Job::Proxy, steps));
                if let Screen::Proxy(p) = &mut self.screen {
                    match started {
                        Ok(()) => {
                            p.error = None;
                            p.log = JobLog::started();
                        }
                        Err(e) => p.error = Some(e),
                    }
                }
            }
            Command::OpenDelete => self.screen = Screen::Delete(DeleteState::new(&self.selected)),
            Command::Delete => {
                let Screen::Delete(d) = &self.screen else {
                    return;
                };
                let checked = d.check();
                let steps = d.plan();
                let started = checked.and_then(|()| self.run_job(Job::Delete, steps));
                if let Screen::Delete(d) = &mut self.screen {
                    match started {
                        Ok(()) => {
                            d.error = None;
                            d.log = JobLog::started();
                        }
                        Err(e) => d.error = Some(e),
                    }
                }
            }
            Command::ToDashboard => {
                self.screen = Screen::Dashboard;
                self.start_loading();
            }
            Command::ToggleTheme => theme::toggle(ctx),
            Command::ShowFix(..) | Command::RunFix | Command::CancelFix | Command::UndoFix => {
                self.fix_command(&command);
            }
            Command::OpenLog => self.open_log(ctx, None),
            Command::OpenScriptOutput(path) => self.open_log(ctx, Some(path)),
            Command::OpenTrust => {
                self.screen = Screen::Trust(crate::trust_view::TrustState::new(&self.selected));
            }
            Command::OpenAdopt(name) => {
                if let Some(offer) = self.offers.iter().find(|o| o.name == name) {
                    self.screen = Screen::Adopt(crate::adopt_view::AdoptState::adopt(offer));
                }
            }
            Command::OpenHandBack => {
                let state = crate::adopt_view::AdoptState::hand_back(&self.selected);
                self.screen = Screen::Adopt(state);
            }
            Command::RunAdopt | Command::RunHandBack | Command::UndoAdopt => {
                self.run_adopt(matches!(command, Command::UndoAdopt));
            }
            Command::ApplyTrust => {
                let Screen::Trust(t) = &self.screen else {
                    return;
                };
                let trusted = match self.selected_summary().map(|s| &s.details) {
                    Some(Ok(d)) => d.trusted_servers.clone(),
                    _ => Vec::new(),
                };
                let started = t
                    .plan(&trusted)
                    .and_then(|steps| self.run_job(Job::Trust, steps));
                if let Screen::Trust(t) = &mut self.screen {
                    t.log = JobLog::started();
                    match started {
                        Ok(()) => t.edit = None,
                        Err(e) => {
                            t.log.lines.push(format!("Error: {e}"));
                            t.log.finish(Err(e));
                        }
                    }
                }
            }
        }
    }

    /// Runs the adopt screen's plan (or, for `undo`, hands the just-adopted instance back).
    fn run_adopt(&mut self, undo: bool) {
        let Screen::Adopt(a) = &self.screen else {
            return;
        };
        let steps = if undo {
            crate::adopt_view::AdoptState::hand_back(&a.name).plan()
        } else {
            a.plan()
        };
        let started = self.run_job(Job::Adopt, steps);
        if let Screen::Adopt(a) = &mut self.screen {
            a.undone = undo;
            a.log = JobLog::started();
            if let Err(e) = started {
                a.log.lines.push(format!("Error: {e}"));
                a.log.finish(Err(e));
            }
        }
    }

    /// The log screen for the selected instance: its agent log, or one script's output.
    fn open_log(&mut self, ctx: &egui::Context, script: Option<std::path::PathBuf>) {
        let Some(Ok(d)) = self.selected_summary().map(|s| &s.details) else {
            return;
        };
        let (logs, home) = (d.logs.clone(), d.home.clone());
        let title = match &script {
            Some(p) => format!(
                "Script output: {}",
                p.parent()
                    .and_then(|t| t.file_name())
                    .map_or_else(String::new, |t| t.to_string_lossy().into_owned())
            ),
            None => "Agent log".to_owned(),
        };
        let scripts = crate::log_view::scripts_in(&home);
        // Replacing the screen drops the previous log view, which stops its follower.
        self.screen = Screen::Log(crate::log_view::LogViewState::open(
            ctx,
            &title,
            &logs,
            script.as_deref(),
            scripts,
        ));
    }

    fn service_action(&mut self, action: ServiceAction) {
        let x = self.selected.clone();
        let verbs = |f: fn(&mut Verbs)| {
            let mut v = Verbs::default();
            f(&mut v);
            v
        };
        let steps = match action {
            ServiceAction::Start => vec![Step::service(&x, verbs(|v| v.start = true))],
            ServiceAction::Stop => vec![Step::service(&x, verbs(|v| v.stop = true))],
            ServiceAction::Restart => vec![Step::service(&x, verbs(|v| v.restart = true))],
            ServiceAction::Reinstall => vec![
                Step::service(
                    &x,
                    verbs(|v| {
                        v.stop = true;
                        v.uninstall = true;
                    }),
                )
                .allowed_to_fail(),
                Step::service(
                    &x,
                    verbs(|v| {
                        v.install = true;
                        v.start = true;
                    }),
                ),
            ],
        };
        self.screen = Screen::Dashboard;
        let mut log = JobLog::started();
        if let Err(e) = self.run_job(Job::Service, steps) {
            log.lines.push(format!("Error: {e}"));
            log.finish(Err(e));
        }
        self.service_job = Some((action, log));
    }

    fn wizard_command(&mut self, command: WizardCommand) {
        let picker = self.picker.clone();
        let sink = self.sink.clone();
        let Screen::Wizard(w) = &mut self.screen else {
            return;
        };
        match command {
            WizardCommand::Next => {
                if w.go_next() == Some(Page::Verify) && !w.is_verified() {
                    self.wizard_command(WizardCommand::Verify);
                }
            }
            WizardCommand::Back => w.back(),
            WizardCommand::Browse(field) => {
                let (title, start) = match field {
                    Field::Home => ("Select a Tentacle home directory", w.answers.home.clone()),
                    _ => (
                        "Select where Tentacle should install applications",
                        w.answers.app_dir.clone(),
                    ),
                };
                let spawned = worker::spawn("folder-dialog", sink, move |sink| {
                    let outcome = picker.pick_folder(title, std::path::Path::new(&start));
                    sink.send(Event::Picked(field, outcome));
                });
                if let Err(e) = spawned {
                    w.notice = Some(e);
                }
            }
            WizardCommand::Verify => {
                w.verify = JobLog::started();
                w.verified = None;
                let answers = w.answers.clone();
                let spawned = worker::spawn("verify-connection", sink, move |sink| {
                    let result = wizard::verify::verify(&answers, sink);
                    sink.send(Event::Verified(result));
                });
                if let Err(e) = spawned {
                    w.verify.finish(Err(e));
                }
            }
            WizardCommand::Install => {
                let steps = plan(&w.answers);
                w.install = JobLog::started();
                if let Err(e) = self.run_job(Job::Install, steps)
                    && let Screen::Wizard(w) = &mut self.screen
                {
                    w.install.lines.push(format!("Error: {e}"));
                    w.install.finish(Err(e));
                }
            }
            WizardCommand::Close => {
                let name = w.answers.instance.clone();
                self.selected = name;
                self.screen = Screen::Dashboard;
                self.start_loading();
            }
        }
    }

    pub(super) fn run_checks(&mut self) {
        let mut state = ChecksState::started(&self.selected);
        state.fix_context = self.fix_context();
        let name = self.selected.clone();
        let instances = self.instances();
        let spawned = worker::spawn("checks", self.sink.clone(), move |sink| {
            let report = (|| {
                let instances = instances?;
                let record = instances.find(&name).map_err(|e| e.to_string())?;
                let options = tentacle_core::checks::CheckOptions {
                    tentacle_exe: runner::tentacle_exe().ok(),
                    ..Default::default()
                };
                let plan = tentacle_core::checks::CheckPlan::for_instance(&record)
                    .map_err(|e| e.to_string())?
                    .with_options(options);
                let planned = plan.ids().into_iter().zip(plan.titles()).collect();
                sink.send(Event::CheckPlan(planned));
                let progress_sink = sink.clone();
                tentacle_core::checks::run_blocking(&plan, &mut |r| {
                    progress_sink.send(Event::CheckResult(r.clone()));
                })
                .map(Box::new)
                .map_err(|e| e.to_string())
            })();
            sink.send(Event::CheckReport(report));
        });
        if let Err(e) = spawned {
            state.running = false;
            state.report = Some(Err(e));
        }
        self.screen = Screen::Checks(state);
    }
}
