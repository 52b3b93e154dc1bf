//! The wizard's plan: answers in, a list of `tentacle …` steps out (pure); each step prints as a command line with secrets masked and knows how to undo itself.

use std::ffi::OsString;

use tentacle_core::service::Verbs;

use super::answers::{self, Answers, AuthMode, Comms, MachineType, ProxyChoice, Style};

/// What a masked secret looks like in "Show script".
pub const MASK: &str = "***";

/// One command-line argument; secrets print as [`MASK`] and are only real when run.
#[derive(Clone, PartialEq, Eq)]
pub struct Arg {
    /// The real value.
    pub text: String,
    /// True for passwords and API keys.
    pub secret: bool,
}

impl std::fmt::Debug for Arg {
    // A Debug print (logs, test failures) must not leak a secret either.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.secret {
            f.write_str(MASK)
        } else {
            write!(f, "{:?}", self.text)
        }
    }
}

/// How a step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// `tentacle_core::cli::run` in-process.
    Cli,
    /// The service verbs, applied in-process to a service that runs the `tentacle` binary
    /// beside the manager (running `service --install` through the CLI in-process would make
    /// the service start the manager).
    Service(Verbs),
}

/// One `tentacle` command line of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The arguments after `tentacle`.
    pub args: Vec<Arg>,
    /// How it runs.
    pub kind: StepKind,
    /// What undoes it when a later step fails (only for things the plan itself created).
    pub undo: Option<Box<Step>>,
    /// A failure is logged and the plan goes on (stopping a service that is not running).
    pub may_fail: bool,
}

impl Step {
    /// `tentacle <verb> --instance <instance>`, run in-process.
    pub fn cli(verb: &str, instance: &str) -> Step {
        Step {
            args: vec![plain(verb), plain("--instance"), plain(instance)],
            kind: StepKind::Cli,
            undo: None,
            may_fail: false,
        }
    }

    /// The same step, allowed to fail.
    pub fn allowed_to_fail(mut self) -> Step {
        self.may_fail = true;
        self
    }

    /// Adds `flag value`.
    pub fn opt(mut self, flag: &str, value: impl Into<String>) -> Step {
        self.args.push(plain(flag));
        self.args.push(plain(value));
        self
    }

    /// Adds `flag value` with a value that is never shown.
    pub fn secret(mut self, flag: &str, value: &str) -> Step {
        self.args.push(plain(flag));
        self.args.push(Arg {
            text: value.to_owned(),
            secret: true,
        });
        self
    }

    /// Adds a bare flag.
    pub fn flag(mut self, flag: &str) -> Step {
        self.args.push(plain(flag));
        self
    }

    fn undo(mut self, undo: Step) -> Step {
        self.undo = Some(Box::new(undo));
        self
    }

    /// The verb (`create-instance`, `configure`, …).
    pub fn verb(&self) -> &str {
        self.args.first().map_or("", |a| a.text.as_str())
    }

    /// The real arguments, for running. Never log these.
    pub fn argv(&self) -> Vec<OsString> {
        self.args.iter().map(|a| OsString::from(&a.text)).collect()
    }

    /// `tentacle verb --option "value" …`, secrets as `***`: what "Show script" and the log show.
    pub fn script_line(&self) -> String {
        let mut line = String::from("tentacle");
        for arg in &self.args {
            line.push(' ');
            if arg.secret {
                line.push_str(&quote(MASK));
            } else if arg.text.starts_with("--") || arg.text == self.verb() {
                line.push_str(&arg.text);
            } else {
                line.push_str(&quote(&arg.text));
            }
        }
        line
    }

    /// The service verbs of a `service` step.
    pub fn service(instance: &str, verbs: Verbs) -> Step {
        let mut step = Step::cli("service", instance);
        for (on, flag) in [
            (verbs.stop, "--stop"),
            (verbs.uninstall, "--uninstall"),
            (verbs.install, "--install"),
            (verbs.restart, "--restart"),
            (verbs.start, "--start"),
        ] {
            if on {
                step = step.flag(flag);
            }
        }
        step.kind = StepKind::Service(verbs);
        step
    }
}

fn plain(text: impl Into<String>) -> Arg {
    Arg {
        text: text.into(),
        secret: false,
    }
}

/// A value in double quotes, safe to paste into a POSIX shell.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if matches!(c, '"' | '\\' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// The whole script, one command per line, secrets masked.
pub fn script(steps: &[Step]) -> String {
    steps
        .iter()
        .map(Step::script_line)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The steps that set up the instance the answers describe. The answers must have passed
/// every page's checks; a value that still does not parse is passed through for the CLI to refuse.
pub fn plan(a: &Answers) -> Vec<Step> {
    let x = a.instance.as_str();
    let mut steps = vec![
        Step::cli("create-instance", x)
            .opt("--config", a.config_path())
            .opt("--home", a.home.trim())
            .undo(Step::cli("delete-instance", x)),
        Step::cli("new-certificate", x).flag("--if-blank"),
        Step::cli("configure", x).flag("--reset-trust"),
    ];
    match a.style {
        Style::Listening => {
            steps.push(
                Step::cli("configure", x)
                    .opt("--app", a.app_dir.trim())
                    .opt("--port", a.listen_port.trim())
                    .opt("--noListen", "false"),
            );
            if !a.server_thumbprint.trim().is_empty() {
                let thumbprint = a
                    .thumbprint()
                    .ok()
                    .flatten()
                    .map_or_else(|| a.server_thumbprint.trim().to_owned(), |t| t.to_string());
                steps.push(Step::cli("configure", x).opt("--trust", thumbprint));
            }
            // The original adds the Windows Firewall exception here, before the service starts.
            if a.firewall && a.firewall_found.is_some() {
                steps.push(
                    Step::cli("firewall", x)
                        .flag("--add")
                        .undo(Step::cli("firewall", x).flag("--remove")),
                );
            }
        }
        Style::Polling => {
            steps.push(
                Step::cli("configure", x)
                    .opt("--app", a.app_dir.trim())
                    .opt("--noListen", "true"),
            );
            steps.push(polling_proxy(a));
            steps.push(registration(a));
        }
    }
    if a.install_service {
        let install = Verbs {
            install: true,
            stop: true,
            start: true,
            ..Verbs::default()
        };
        let uninstall = Verbs {
            uninstall: true,
            stop: true,
            ..Verbs::default()
        };
        steps.push(Step::service(x, install).undo(Step::service(x, uninstall)));
    }
    steps
}

fn polling_proxy(a: &Answers) -> Step {
    proxy_step(
        "polling-proxy",
        &a.instance,
        &ProxyForm {
            choice: a.proxy,
            host: a.proxy_host.clone(),
            port: a.proxy_port.clone(),
            username: a.proxy_username.clone(),
            password: a.proxy_password.clone(),
        },
    )
}

/// A proxy as typed: the choice and its fields (`Debug` leaves the password out).
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyForm {
    /// No proxy, default, default with credentials, custom.
    pub choice: ProxyChoice,
    /// Custom proxy host.
    pub host: String,
    /// Custom proxy port.
    pub port: String,
    /// User name.
    pub username: String,
    /// Password (masked in scripts).
    pub password: String,
}

impl std::fmt::Debug for ProxyForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyForm")
            .field("choice", &self.choice)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// `proxy …` or `polling-proxy …` for a proxy form, with only the options its choice needs.
pub fn proxy_step(verb: &str, instance: &str, p: &ProxyForm) -> Step {
    let step = Step::cli(verb, instance);
    match p.choice {
        ProxyChoice::NoProxy => step.opt("--proxyEnable", "false"),
        ProxyChoice::Default => step.opt("--proxyEnable", "true").opt("--proxyHost", ""),
        ProxyChoice::DefaultWithCredentials => step
            .opt("--proxyEnable", "true")
            .opt("--proxyHost", "")
            .opt("--proxyUsername", p.username.trim())
            .secret("--proxyPassword", &p.password),
        ProxyChoice::Custom => {
            let step = step
                .opt("--proxyEnable", "true")
                .opt("--proxyHost", answers::proxy_host(&p.host))
                .opt("--proxyPort", p.port.trim());
            if p.username.trim().is_empty() {
                step
            } else {
                step.opt("--proxyUsername", p.username.trim())
                    .secret("--proxyPassword", &p.password)
            }
        }
    }
}

/// `register-with` or `register-worker`, in the original's argument order.
fn registration(a: &Answers) -> Step {
    let verb = match a.machine_type {
        MachineType::DeploymentTarget => "register-with",
        MachineType::Worker => "register-worker",
    };
    let mut step = Step::cli(verb, &a.instance)
        .opt("--server", a.server_url.trim())
        .opt("--name", a.display_name.trim())
        .opt("--comms-style", "TentacleActive");
    if a.overwrite {
        step = step.flag("--force");
    }
    step = match a.comms {
        Comms::Port => step.opt("--server-comms-port", a.comms_port.trim()),
        Comms::Address443 => step.opt(
            "--server-comms-address",
            answers::comms_address(&a.comms_address)
                .unwrap_or_else(|_| a.comms_address.trim().to_owned()),
        ),
        Comms::WebSocket => step.opt("--server-web-socket", a.web_socket.trim()),
    };
    step = match a.auth {
        AuthMode::ApiKey => step.secret("--apiKey", a.api_key.trim()),
        AuthMode::UsernamePassword => step
            .opt("--username", a.username.trim())
            .secret("--password", &a.password),
    };
    if !a.space.trim().is_empty() {
        step = step.opt("--space", a.space.trim());
    }
    let repeat = |mut step: Step, flag: &str, values: &str| {
        for v in answers::list(values) {
            step = step.opt(flag, v);
        }
        step
    };
    step = match a.machine_type {
        MachineType::DeploymentTarget => {
            let step = repeat(step, "--environment", &a.environments);
            let step = repeat(step, "--tenanttag", &a.tenant_tags);
            let step = repeat(step, "--tenant", &a.tenants);
            repeat(step, "--role", &a.roles)
        }
        MachineType::Worker => repeat(step, "--workerpool", &a.worker_pools),
    };
    if !a.policy.trim().is_empty() {
        step = step.opt("--policy", a.policy.trim());
    }
    step
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn listening() -> Answers {
        let mut a = Answers::new("Tentacle", Path::new("/etc/tentacle/Tentacle"), "web01");
        a.server_thumbprint = "0123456789abcdef0123456789abcdef01234567".into();
        // The same script on every OS (Windows would offer its firewall).
        a.firewall_found = None;
        a
    }

    fn polling() -> Answers {
        let mut a = Answers::new("Web", Path::new("/srv/tentacle/Web"), "web01");
        a.style = Style::Polling;
        a.server_url = "https://octopus.example".into();
        a.api_key = "API-SECRETKEY".into();
        a.environments = "Test, Prod".into();
        a.roles = "web".into();
        a.tenant_tags = "Region/EU".into();
        a.space = "Default".into();
        a
    }

    #[test]
    fn listening_plan_reads_like_tentacles_script() {
        let steps = plan(&listening());
        assert_eq!(
            script(&steps),
            [
                r#"tentacle create-instance --instance "Tentacle" --config "/etc/tentacle/Tentacle/tentacle.toml" --home "/etc/tentacle/Tentacle""#,
                r#"tentacle new-certificate --instance "Tentacle" --if-blank"#,
                r#"tentacle configure --instance "Tentacle" --reset-trust"#,
                r#"tentacle configure --instance "Tentacle" --app "/etc/tentacle/Tentacle/Applications" --port "10933" --noListen "false""#,
                r#"tentacle configure --instance "Tentacle" --trust "0123456789ABCDEF0123456789ABCDEF01234567""#,
                r#"tentacle service --instance "Tentacle" --stop --install --start"#,
            ]
            .join("\n")
        );
        assert_eq!(
            steps[0].undo.as_deref().map(Step::script_line).as_deref(),
            Some(r#"tentacle delete-instance --instance "Tentacle""#)
        );
        assert_eq!(
            steps[5].undo.as_deref().map(Step::script_line).as_deref(),
            Some(r#"tentacle service --instance "Tentacle" --stop --uninstall"#)
        );
        assert!(matches!(steps[5].kind, StepKind::Service(v) if v.install && v.start));
    }

    #[test]
    fn no_thumbprint_and_no_service_leave_those_steps_out() {
        let mut a = listening();
        a.server_thumbprint.clear();
        a.install_service = false;
        let steps = plan(&a);
        assert_eq!(steps.len(), 4);
        assert!(steps.iter().all(|s| s.kind == StepKind::Cli));
    }

    #[test]
    fn polling_plan_registers_and_masks_the_key() {
        let steps = plan(&polling());
        let text = script(&steps);
        assert!(!text.contains("API-SECRETKEY"), "{text}");
        assert!(text.contains(r#"--noListen "true""#), "{text}");
        assert!(text.contains(r#"tentacle polling-proxy --instance "Web" --proxyEnable "false""#));
        let register = steps.iter().find(|s| s.verb() == "register-with").unwrap();
        assert_eq!(
            register.script_line(),
            r#"tentacle register-with --instance "Web" --server "https://octopus.example" --name "web01" --comms-style "TentacleActive" --server-comms-port "10943" --apiKey "***" --space "Default" --environment "Test" --environment "Prod" --tenanttag "Region/EU" --role "web""#
        );
        // The real key is only in what runs.
        assert!(register.argv().contains(&OsString::from("API-SECRETKEY")));
        assert!(!format!("{register:?}").contains("API-SECRETKEY"));
    }

    #[test]
    fn polling_variants_443_websocket_worker_and_password() {
        let mut a = polling();
        a.comms = Comms::Address443;
        a.comms_address = "polling.example.octopus.app".into();
        a.machine_type = MachineType::Worker;
        a.worker_pools = "Pool A".into();
        a.auth = AuthMode::UsernamePassword;
        a.username = "admin".into();
        a.password = "hunter2".into();
        a.overwrite = true;
        a.proxy = ProxyChoice::Custom;
        a.proxy_host = "proxy.local".into();
        a.proxy_port = "3128".into();
        a.proxy_username = "pu".into();
        a.proxy_password = "pp".into();
        let text = script(&plan(&a));
        assert!(
            text.contains(r#"tentacle register-worker --instance "Web""#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"--force --server-comms-address "https://polling.example.octopus.app""#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"--username "admin" --password "***""#),
            "{text}"
        );
        assert!(text.contains(r#"--workerpool "Pool A""#), "{text}");
        assert!(text.contains(r#"--proxyHost "proxy.local" --proxyPort "3128" --proxyUsername "pu" --proxyPassword "***""#), "{text}");
        assert!(
            !text.contains("hunter2") && !text.contains("\"pp\""),
            "{text}"
        );

        a.comms = Comms::WebSocket;
        a.web_socket = "wss://octopus.example:443/OctopusComms".into();
        assert!(
            script(&plan(&a))
                .contains(r#"--server-web-socket "wss://octopus.example:443/OctopusComms""#)
        );
    }

    #[test]
    fn a_found_firewall_adds_the_exception_step_with_its_undo() {
        let mut a = listening();
        a.firewall_found = Some(tentacle_core::firewall::Firewall::Ufw);
        let steps = plan(&a);
        let fw = steps.iter().position(|s| s.verb() == "firewall").unwrap();
        assert_eq!(
            steps[fw].script_line(),
            r#"tentacle firewall --instance "Tentacle" --add"#
        );
        assert_eq!(
            steps[fw].undo.as_deref().map(Step::script_line).as_deref(),
            Some(r#"tentacle firewall --instance "Tentacle" --remove"#)
        );
        assert_eq!(steps[fw + 1].verb(), "service", "before the service starts");
        a.firewall = false;
        assert!(plan(&a).iter().all(|s| s.verb() != "firewall"));
        a.firewall = true;
        a.firewall_found = None;
        assert!(plan(&a).iter().all(|s| s.verb() != "firewall"));
        let mut p = polling();
        p.firewall_found = Some(tentacle_core::firewall::Firewall::Ufw);
        assert!(
            plan(&p).iter().all(|s| s.verb() != "firewall"),
            "polling opens no port"
        );
    }

    #[test]
    fn quoting_is_shell_safe() {
        assert_eq!(quote(r#"a "b" $c\"#), r#""a \"b\" \$c\\""#);
    }
}
