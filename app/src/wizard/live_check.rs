//! Validation that follows the typing: an error clears (or changes) as soon as its field is fixed, and a field the user edited is checked again when it loses focus; Next still checks the whole page.

use super::WizardState;
use super::answers::{Answers, Field};
use super::check_page;

/// True when `f` reads the same in `a` and `b` (compares the secrets in memory; nothing is kept).
fn same(a: &Answers, b: &Answers, f: Field) -> bool {
    match f {
        Field::Home => a.home == b.home,
        Field::AppDir => a.app_dir == b.app_dir,
        Field::ListenPort => a.listen_port == b.listen_port,
        Field::Thumbprint => a.server_thumbprint == b.server_thumbprint,
        Field::ProxyHost => a.proxy_host == b.proxy_host,
        Field::ProxyPort => a.proxy_port == b.proxy_port,
        Field::ProxyCredentials => {
            a.proxy_username == b.proxy_username && a.proxy_password == b.proxy_password
        }
        Field::ServerUrl => a.server_url == b.server_url,
        Field::ApiKey => a.api_key == b.api_key,
        Field::Username => a.username == b.username,
        Field::Password => a.password == b.password,
        Field::Comms => {
            a.comms == b.comms
                && a.comms_port == b.comms_port
                && a.comms_address == b.comms_address
                && a.web_socket == b.web_socket
        }
        Field::Environments => a.environments == b.environments,
        Field::Roles => a.roles == b.roles,
        Field::WorkerPools => a.worker_pools == b.worker_pools,
        Field::DisplayName => a.display_name == b.display_name,
    }
}

const FIELDS: [Field; 16] = [
    Field::Home,
    Field::AppDir,
    Field::ListenPort,
    Field::Thumbprint,
    Field::ProxyHost,
    Field::ProxyPort,
    Field::ProxyCredentials,
    Field::ServerUrl,
    Field::ApiKey,
    Field::Username,
    Field::Password,
    Field::Comms,
    Field::Environments,
    Field::Roles,
    Field::WorkerPools,
    Field::DisplayName,
];

impl WizardState {
    /// After a frame in which the answers changed from `before`: remember which fields were
    /// touched, and drop (or update) the shown errors of fields that now pass. Never adds an
    /// error while the user types.
    pub fn edited(&mut self, before: &Answers) {
        for f in FIELDS {
            if !same(before, &self.answers, f) && !self.touched.contains(&f) {
                self.touched.push(f);
            }
        }
        if self.errors.is_empty() {
            return;
        }
        let now = check_page(self.page, &self.answers);
        self.errors = self
            .errors
            .iter()
            .filter_map(|shown| now.iter().find(|e| e.field == shown.field).cloned())
            .collect();
    }

    /// When focus left a field: check the page again and show the errors of the fields the user
    /// touched (untouched fields wait for Next, so a new page does not open in red).
    pub fn blurred(&mut self) {
        let now = check_page(self.page, &self.answers);
        let shown: Vec<Field> = self.errors.iter().map(|e| e.field).collect();
        self.errors = now
            .into_iter()
            .filter(|e| shown.contains(&e.field) || self.touched.contains(&e.field))
            .collect();
    }

    /// Called once per frame after the page was drawn, with the answers before it and the
    /// widget that has focus now.
    pub fn after_frame(&mut self, before: &Answers, focus: Option<egui::Id>) {
        if &self.answers != before {
            self.edited(before);
        }
        if self.focus.is_some() && self.focus != focus {
            self.blurred();
        }
        self.focus = focus;
    }
}

#[cfg(test)]
mod tests {
    use super::super::answers::{Answers, Field, Style};
    use super::super::{Page, WizardState};
    use std::path::Path;

    fn server_page() -> WizardState {
        let mut w = WizardState::new(Answers::new("Tentacle", Path::new("/t"), "m"));
        w.answers.style = Style::Polling;
        w.page = Page::Server;
        w
    }

    #[test]
    fn an_error_clears_as_the_field_is_fixed_and_typing_adds_none() {
        let mut w = server_page();
        w.answers.server_url = "nonsense".into();
        assert_eq!(w.go_next(), None);
        assert!(w.error(Field::ServerUrl).is_some());
        let errors_before = w.errors.len();

        let before = w.answers.clone();
        w.answers.server_url = "https://octopus.example".into();
        w.answers.api_key = "A".into(); // typing in another field: no new error yet
        w.edited(&before);
        assert_eq!(w.error(Field::ServerUrl), None, "fixed: cleared at once");
        assert!(w.errors.len() < errors_before);
    }

    #[test]
    fn leaving_a_touched_field_checks_it_and_only_it() {
        let mut w = server_page();
        let id = egui::Id::NULL.with("url");
        w.after_frame(&w.answers.clone(), Some(id));
        let before = w.answers.clone();
        w.answers.server_url = "ftp://octopus".into();
        w.after_frame(&before, Some(id));
        assert!(w.errors.is_empty(), "no error while typing");
        w.after_frame(&w.answers.clone(), None);
        assert!(w.error(Field::ServerUrl).is_some(), "checked on blur");
        assert_eq!(
            w.error(Field::ApiKey),
            None,
            "an untouched field waits for Next"
        );
    }
}
