//! The setup wizard: its pages and how Next and Back move between them; answers in [`answers`], the plan in [`plan`], drawing in [`pages`](mod@pages).

pub mod answers;
pub mod live_check;
pub mod pages;
pub mod plan;
pub mod verify;

use answers::{Answers, FieldError, Style};

/// A page of the wizard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// Listening or polling.
    Communication,
    /// Home and application folders.
    Storage,
    /// Polling: the proxy for polling connections.
    Proxy,
    /// Polling: server URL, credentials, how to reach the polling endpoint.
    Server,
    /// Polling: the connection check and its log.
    Verify,
    /// Polling: deployment target or worker.
    MachineType,
    /// Polling: space, environments, roles, …
    Registration,
    /// Listening: port and server thumbprint.
    Listening,
    /// The plan as command lines, and Install.
    Review,
}

impl Page {
    /// The tab title.
    pub fn title(self) -> &'static str {
        match self {
            Page::Communication => "Communication",
            Page::Storage => "Storage",
            Page::Proxy => "Polling Proxy",
            Page::Server => "Octopus Server",
            Page::Verify => "Connection",
            Page::MachineType => "Machine Type",
            Page::Registration => "Registration",
            Page::Listening => "Listening",
            Page::Review => "Review",
        }
    }
}

/// The pages for a communication style, in order.
pub fn pages(style: Style) -> &'static [Page] {
    match style {
        Style::Listening => &[
            Page::Communication,
            Page::Storage,
            Page::Listening,
            Page::Review,
        ],
        Style::Polling => &[
            Page::Communication,
            Page::Storage,
            Page::Proxy,
            Page::Server,
            Page::Verify,
            Page::MachineType,
            Page::Registration,
            Page::Review,
        ],
    }
}

/// The checks a page runs before Next.
pub fn check_page(page: Page, a: &Answers) -> Vec<FieldError> {
    match page {
        Page::Storage => answers::check_storage(a),
        Page::Proxy => answers::check_proxy(a),
        Page::Server => answers::check_server(a),
        Page::Registration => answers::check_registration(a),
        Page::Listening => answers::check_listening(a),
        Page::Communication | Page::Verify | Page::MachineType | Page::Review => Vec::new(),
    }
}

/// What the connection check learnt about the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The server's version.
    pub version: String,
    /// Its certificate thumbprint (what this Tentacle will trust).
    pub thumbprint: String,
    /// The space registration goes to.
    pub space: String,
}

/// A long job's log and how it ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobLog {
    /// Output, one line each.
    pub lines: Vec<String>,
    /// True while it runs.
    pub running: bool,
    /// How it ended; `None` before it ends.
    pub outcome: Option<Result<(), String>>,
}

impl JobLog {
    /// A fresh, running log.
    pub fn started() -> JobLog {
        JobLog {
            lines: Vec::new(),
            running: true,
            outcome: None,
        }
    }

    /// Marks it ended.
    pub fn finish(&mut self, outcome: Result<(), String>) {
        self.running = false;
        self.outcome = Some(outcome);
    }

    /// True when it ended well.
    pub fn succeeded(&self) -> bool {
        matches!(self.outcome, Some(Ok(())))
    }
}

/// Everything the wizard holds.
#[derive(Debug, Clone)]
pub struct WizardState {
    /// What the user typed.
    pub answers: Answers,
    /// The page shown.
    pub page: Page,
    /// The current page's problems, shown under the fields after Next.
    pub errors: Vec<FieldError>,
    /// "Show script" is open.
    pub show_script: bool,
    /// The connection check.
    pub verify: JobLog,
    /// What it found, once it passed; reset when the URL or credentials change.
    pub verified: Option<Verified>,
    /// A hash of the answers the last verification was for (no copy of the secrets).
    pub verified_for: Option<u64>,
    /// The install run.
    pub install: JobLog,
    /// A sentence above the page (a folder dialog that could not open, an instance just deleted).
    pub notice: Option<String>,
    /// Fields edited on this page (checked when they lose focus; see `live_check`).
    pub touched: Vec<answers::Field>,
    /// The widget that had focus after the last frame.
    pub focus: Option<egui::Id>,
}

impl WizardState {
    /// A wizard on its first page.
    pub fn new(answers: Answers) -> WizardState {
        WizardState {
            answers,
            page: Page::Communication,
            errors: Vec::new(),
            show_script: false,
            verify: JobLog::default(),
            verified: None,
            verified_for: None,
            install: JobLog::default(),
            notice: None,
            touched: Vec::new(),
            focus: None,
        }
    }

    /// The visible pages.
    pub fn pages(&self) -> &'static [Page] {
        pages(self.answers.style)
    }

    fn index(&self) -> usize {
        self.pages()
            .iter()
            .position(|p| *p == self.page)
            .unwrap_or(0)
    }

    /// True on the first page (no Back).
    pub fn is_first(&self) -> bool {
        self.index() == 0
    }

    /// Checks the page; moves on when it passes. Returns the page moved to.
    pub fn go_next(&mut self) -> Option<Page> {
        self.errors = check_page(self.page, &self.answers);
        if !self.errors.is_empty() {
            return None;
        }
        if self.page == Page::Verify && !self.is_verified() {
            return None;
        }
        let next = *self.pages().get(self.index() + 1)?;
        self.page = next;
        self.touched.clear();
        Some(next)
    }

    /// Back one page (errors cleared).
    pub fn back(&mut self) {
        self.errors.clear();
        self.touched.clear();
        let i = self.index();
        if i > 0 {
            self.page = self.pages()[i - 1];
        }
    }

    /// A hash of what verification depends on: URL, credentials, space, how polling reaches the server.
    pub fn verify_key(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let a = &self.answers;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (
            &a.server_url,
            format!("{:?}", a.auth),
            &a.api_key,
            &a.username,
            &a.password,
            &a.space,
        )
            .hash(&mut h);
        (
            format!("{:?}", a.comms),
            &a.comms_port,
            &a.comms_address,
            &a.web_socket,
        )
            .hash(&mut h);
        h.finish()
    }

    /// True when the connection was verified for the current URL and credentials.
    pub fn is_verified(&self) -> bool {
        self.verified.is_some() && self.verified_for.as_ref() == Some(&self.verify_key())
    }

    /// The error for a field, if any.
    pub fn error(&self, field: answers::Field) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn next_refuses_a_bad_page_and_back_returns() {
        let mut w = WizardState::new(Answers::new("Tentacle", Path::new("/t"), "m"));
        assert_eq!(w.go_next(), Some(Page::Storage));
        w.answers.home = "relative".into();
        assert_eq!(w.go_next(), None);
        assert_eq!(w.errors.len(), 1);
        w.answers.home = "/t".into();
        assert_eq!(w.go_next(), Some(Page::Listening));
        assert_eq!(w.go_next(), Some(Page::Review));
        assert_eq!(w.go_next(), None, "Review is the last page");
        w.back();
        assert_eq!(w.page, Page::Listening);
    }

    #[test]
    fn polling_needs_a_verified_connection_for_the_current_answers() {
        let mut w = WizardState::new(Answers::new("Tentacle", Path::new("/t"), "m"));
        w.answers.style = Style::Polling;
        w.page = Page::Verify;
        assert_eq!(w.go_next(), None);
        w.verified = Some(Verified {
            version: "2025.1".into(),
            thumbprint: "A".repeat(40),
            space: "Default".into(),
        });
        w.verified_for = Some(w.verify_key());
        assert_eq!(w.go_next(), Some(Page::MachineType));
        w.answers.api_key = "API-OTHER".into();
        assert!(!w.is_verified(), "changing the key resets the verification");
    }
}
