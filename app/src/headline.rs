//! One status for an instance: the service manager's answer and the agent's own report (`status.json`) merged into one headline, its tone and the action that fits, as a pure function shared by the dashboard and the tray.

use tentacle_core::service::ServiceStatus;
use tentacle_core::status::{AgentStatus, LinkStatus};

use crate::dashboard::ago;

/// What the headline is made from.
#[derive(Debug, Clone, Copy)]
pub struct StatusFacts<'a> {
    /// The service manager's answer; `None` before the first look.
    pub service: Option<&'a Result<ServiceStatus, String>>,
    /// The agent's status document (`Ok(None)`: the agent never ran); `None` before the first look.
    pub agent: Option<&'a Result<Option<AgentStatus>, String>>,
    /// The last error in the agent's log, when it was read (after a crash).
    pub last_error: Option<&'a str>,
    /// Seconds since the Unix epoch.
    pub now: u64,
}

/// How the headline reads; each tone has a colour, a shape (drawn by `status_line`) and a word, so it reads without colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Running and connected: a green disc with a tick.
    Good,
    /// Running, but something needs a look: an amber triangle.
    Warn,
    /// Crashed, not responding, or the service manager failed: a red disc with a cross.
    Bad,
    /// Stopped or not installed, on purpose as far as anyone knows: a grey square.
    Idle,
    /// Not known yet: a grey ring.
    Unknown,
}

impl Tone {
    /// One word for screen readers and the tray tooltip.
    pub fn word(self) -> &'static str {
        match self {
            Tone::Good => "OK",
            Tone::Warn => "Attention",
            Tone::Bad => "Problem",
            Tone::Idle => "Stopped",
            Tone::Unknown => "Checking",
        }
    }
}

/// A button the headline offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadlineAction {
    /// Install (and start) the service.
    InstallService,
    /// Start the service.
    Start,
    /// Start it again after a crash (the service is stopped: this starts it).
    Restart,
    /// Open the agent's log.
    OpenLog,
    /// Run the checks.
    RunChecks,
}

impl HeadlineAction {
    /// The button's words.
    pub fn label(self) -> &'static str {
        match self {
            HeadlineAction::InstallService => "Install service",
            HeadlineAction::Start => "Start",
            HeadlineAction::Restart => "Restart",
            HeadlineAction::OpenLog => "Open log",
            HeadlineAction::RunChecks => "Run checks",
        }
    }
}

/// The one status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headline {
    /// "Running as a service", "Stopped", "Crashed 2 min ago: …".
    pub text: String,
    /// How it reads.
    pub tone: Tone,
    /// What fits, most useful first.
    pub actions: Vec<HeadlineAction>,
}

impl Headline {
    fn new(text: impl Into<String>, tone: Tone, actions: &[HeadlineAction]) -> Headline {
        Headline {
            text: text.into(),
            tone,
            actions: actions.to_vec(),
        }
    }

    /// "Stopped: Start", as the issue writes it: the text and its actions' words.
    pub fn sentence(&self) -> String {
        let words: Vec<&str> = self.actions.iter().map(|a| a.label()).collect();
        if words.is_empty() {
            self.text.clone()
        } else {
            format!("{}: {}", self.text, words.join(", "))
        }
    }
}

/// The agent's state as its document tells it.
enum Agent<'a> {
    /// Writing fresh documents.
    Live(&'a AgentStatus),
    /// Stopped cleanly (it wrote `running: false`), or never ran.
    Stopped,
    /// Its last document says running but is stale: it died without saying so.
    Died(&'a AgentStatus),
}

fn agent<'a>(facts: &StatusFacts<'a>) -> Agent<'a> {
    match facts.agent {
        Some(Ok(Some(a))) if a.is_live(facts.now) => Agent::Live(a),
        Some(Ok(Some(a))) if a.running => Agent::Died(a),
        _ => Agent::Stopped,
    }
}

/// How many polling servers are not connected, of how many.
fn polling_gap(a: &AgentStatus) -> (usize, usize) {
    let polling = a.servers.iter().filter(|s| s.link.is_some());
    let total = polling.clone().count();
    let down = polling
        .filter(|s| s.link != Some(LinkStatus::Connected))
        .count();
    (down, total)
}

fn crash_text(a: &AgentStatus, facts: &StatusFacts<'_>, verb: &str) -> String {
    let mut text = format!("{verb} {}", ago(facts.now, a.updated_at));
    let server_error = a.servers.iter().find_map(|s| s.last_error.as_deref());
    if let Some(e) = facts.last_error.or(server_error) {
        text.push_str(": ");
        text.push_str(e);
    }
    text
}

/// The headline for `facts`.
pub fn headline(facts: &StatusFacts<'_>) -> Headline {
    use HeadlineAction::*;
    let Some(service) = facts.service else {
        return Headline::new("Checking the service…", Tone::Unknown, &[]);
    };
    let agent = agent(facts);
    match (service, agent) {
        (Ok(ServiceStatus::Running), Agent::Live(a)) => {
            let (down, total) = polling_gap(a);
            if down > 0 {
                let text = if total == 1 {
                    "Running as a service; the Octopus Server it polls is not connected".to_owned()
                } else {
                    format!(
                        "Running as a service; {down} of the {total} Octopus Servers it polls are not connected"
                    )
                };
                Headline::new(text, Tone::Warn, &[RunChecks, OpenLog])
            } else {
                Headline::new("Running as a service", Tone::Good, &[])
            }
        }
        (Ok(ServiceStatus::Running), Agent::Died(a)) => Headline::new(
            crash_text(a, facts, "Not responding since"),
            Tone::Bad,
            &[Restart, OpenLog],
        ),
        (Ok(ServiceStatus::Running), Agent::Stopped) => Headline::new(
            "Running as a service; the agent has not reported yet",
            Tone::Warn,
            &[OpenLog],
        ),
        (Ok(ServiceStatus::Pending(what)), _) => {
            Headline::new(format!("Service pending ({what})"), Tone::Unknown, &[])
        }
        (Ok(other), Agent::Live(a)) => {
            let actions: &[HeadlineAction] = if *other == ServiceStatus::NotInstalled {
                &[InstallService]
            } else {
                &[]
            };
            let tail = if *other == ServiceStatus::NotInstalled {
                "not as a service"
            } else {
                "not as the installed service (which is stopped)"
            };
            Headline::new(
                format!("Running in a terminal (pid {}), {tail}", a.pid),
                Tone::Warn,
                actions,
            )
        }
        (Ok(ServiceStatus::Stopped), Agent::Died(a)) => Headline::new(
            crash_text(a, facts, "Crashed"),
            Tone::Bad,
            &[Restart, OpenLog],
        ),
        (Ok(ServiceStatus::NotInstalled), Agent::Died(a)) => Headline::new(
            crash_text(a, facts, "Crashed"),
            Tone::Bad,
            &[InstallService, OpenLog],
        ),
        (Ok(ServiceStatus::Stopped), Agent::Stopped) => {
            Headline::new("Stopped", Tone::Idle, &[Start])
        }
        (Ok(ServiceStatus::NotInstalled), Agent::Stopped) => {
            Headline::new("Not installed as a service", Tone::Idle, &[InstallService])
        }
        // The service manager's own words are on the Service row; the headline (and the tray) stay short.
        (Err(_), Agent::Live(a)) => Headline::new(
            format!(
                "Running (pid {}); the service manager could not be asked",
                a.pid
            ),
            Tone::Warn,
            &[],
        ),
        (Err(_), _) => Headline::new(
            "The service manager could not be asked",
            Tone::Bad,
            &[OpenLog],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tentacle_core::status::ServerStatus;

    const NOW: u64 = 10_000;

    fn doc(updated_ago: u64, running: bool, links: &[LinkStatus]) -> AgentStatus {
        AgentStatus {
            format_version: 1,
            instance: "Tentacle".into(),
            pid: 4242,
            started_at: NOW - 500,
            updated_at: NOW - updated_ago,
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
            running,
        }
    }

    fn line(
        service: Result<ServiceStatus, String>,
        agent: Option<AgentStatus>,
        last_error: Option<&str>,
    ) -> Headline {
        let agent = Ok(agent);
        headline(&StatusFacts {
            service: Some(&service),
            agent: Some(&agent),
            last_error,
            now: NOW,
        })
    }

    #[test]
    fn the_four_cases_of_the_issue() {
        let h = line(Ok(ServiceStatus::Running), Some(doc(2, true, &[])), None);
        assert_eq!(h.sentence(), "Running as a service");
        assert_eq!(h.tone, Tone::Good);

        let h = line(
            Ok(ServiceStatus::NotInstalled),
            Some(doc(2, true, &[])),
            None,
        );
        assert_eq!(
            h.sentence(),
            "Running in a terminal (pid 4242), not as a service: Install service"
        );
        assert_eq!(h.tone, Tone::Warn);

        let h = line(Ok(ServiceStatus::Stopped), Some(doc(60, false, &[])), None);
        assert_eq!(h.sentence(), "Stopped: Start");
        assert_eq!(h.tone, Tone::Idle);
        assert_eq!(
            line(Ok(ServiceStatus::Stopped), None, None).sentence(),
            "Stopped: Start"
        );

        let h = line(
            Ok(ServiceStatus::Stopped),
            Some(doc(120, true, &[])),
            Some("Could not bind port 10933: address in use"),
        );
        assert_eq!(
            h.sentence(),
            "Crashed 2 min ago: Could not bind port 10933: address in use: Restart, Open log"
        );
        assert_eq!(h.tone, Tone::Bad);
    }

    #[test]
    fn polling_links_services_that_hang_and_unknowns() {
        let h = line(
            Ok(ServiceStatus::Running),
            Some(doc(
                1,
                true,
                &[LinkStatus::Connected, LinkStatus::Disconnected],
            )),
            None,
        );
        assert_eq!(
            h.text,
            "Running as a service; 1 of the 2 Octopus Servers it polls are not connected"
        );
        assert_eq!(h.tone, Tone::Warn);
        assert_eq!(
            h.actions,
            [HeadlineAction::RunChecks, HeadlineAction::OpenLog]
        );

        let h = line(Ok(ServiceStatus::Running), Some(doc(300, true, &[])), None);
        assert_eq!(
            h.sentence(),
            "Not responding since 5 min ago: Restart, Open log"
        );

        let h = line(Ok(ServiceStatus::Running), None, None);
        assert_eq!(h.tone, Tone::Warn);

        let h = line(Ok(ServiceStatus::NotInstalled), None, None);
        assert_eq!(h.sentence(), "Not installed as a service: Install service");

        let h = line(Err("systemctl: not found".into()), None, None);
        assert_eq!(h.tone, Tone::Bad);
        assert_eq!(h.text, "The service manager could not be asked");

        let h = line(Ok(ServiceStatus::Stopped), Some(doc(2, true, &[])), None);
        assert_eq!(
            h.sentence(),
            "Running in a terminal (pid 4242), not as the installed service (which is stopped)"
        );

        let unknown = headline(&StatusFacts {
            service: None,
            agent: None,
            last_error: None,
            now: NOW,
        });
        assert_eq!(unknown.tone, Tone::Unknown);
    }
}
