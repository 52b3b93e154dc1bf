//! systemd: the unit file for an instance (quoted per systemd.service(5)) and the `systemctl` calls.
//!
//! System units go to `/etc/systemd/system` when root, user units to
//! `$XDG_CONFIG_HOME/systemd/user` (driven with `systemctl --user`) otherwise.
//! `TENTACLE_SYSTEMD_UNIT_DIR` overrides the folder; `systemctl` is found on `PATH`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::{
    ServiceBackend, ServiceError, ServiceSpec, ServiceStatus, command_line, failure_detail,
    run_command,
};
use crate::instance::atomic::{FileMode, write_atomic};

/// Overrides the folder units are written to (tests, packaging).
pub const UNIT_DIR_ENV: &str = "TENTACLE_SYSTEMD_UNIT_DIR";

const SYSTEMCTL: &str = "systemctl";

/// The systemd backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Systemd {
    /// Where unit files are written.
    pub unit_dir: PathBuf,
    /// A user unit (`systemctl --user`, `WantedBy=default.target`).
    pub user: bool,
}

impl Systemd {
    /// System units when root, user units otherwise; the folder may be overridden by [`UNIT_DIR_ENV`].
    pub fn detect() -> Result<Systemd, ServiceError> {
        let user = !crate::instance::is_privileged();
        let unit_dir = match std::env::var_os(UNIT_DIR_ENV).filter(|v| !v.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None if !user => PathBuf::from("/etc/systemd/system"),
            None => user_unit_dir().ok_or_else(|| {
                ServiceError::Invalid(
                    "Cannot find this user's configuration folder (is HOME set?): set XDG_CONFIG_HOME or run as root".to_owned(),
                )
            })?,
        };
        Ok(Systemd { unit_dir, user })
    }

    /// The unit file's path.
    pub fn unit_path(&self, spec: &ServiceSpec) -> PathBuf {
        self.unit_dir.join(unit_name(&spec.name))
    }

    fn argv(&self, args: &[&str], unit: Option<&str>) -> Vec<OsString> {
        let mut all: Vec<OsString> = Vec::new();
        if self.user {
            all.push("--user".into());
        }
        all.extend(args.iter().map(OsString::from));
        all.extend(unit.map(OsString::from));
        all
    }

    fn systemctl(
        &self,
        args: &[&str],
        unit: Option<&str>,
    ) -> Result<std::process::Output, ServiceError> {
        run_command(SYSTEMCTL, &self.argv(args, unit), &systemd_hint)
    }

    /// Runs systemctl and fails on a non-zero exit.
    fn checked(&self, args: &[&str], unit: Option<&str>) -> Result<(), ServiceError> {
        let output = self.systemctl(args, unit)?;
        if output.status.success() {
            return Ok(());
        }
        Err(ServiceError::Command {
            command: command_line(SYSTEMCTL, &self.argv(args, unit)),
            detail: failure_detail(&output),
            hint: systemd_hint(),
        })
    }

    fn write_unit(&self, spec: &ServiceSpec) -> Result<(), ServiceError> {
        if self.user && spec.username.is_some() {
            return Err(ServiceError::Invalid(format!(
                "--username needs a machine-wide service: run sudo tentacle service --install {} --username {}",
                spec.selector,
                spec.username.as_deref().unwrap_or_default()
            )));
        }
        let path = self.unit_path(spec);
        write_atomic(
            &path,
            unit_text(spec, self.user).as_bytes(),
            FileMode::Public,
        )
        .map_err(|source| {
            if source.kind() == std::io::ErrorKind::PermissionDenied {
                ServiceError::NeedsRoot {
                    selector: spec.selector.clone(),
                    path: path.clone(),
                }
            } else {
                ServiceError::Io {
                    what: "write the unit file",
                    path: path.clone(),
                    source,
                }
            }
        })
    }
}

impl ServiceBackend for Systemd {
    fn is_installed(&self, spec: &ServiceSpec) -> bool {
        self.unit_path(spec).is_file()
    }

    fn install(&self, spec: &ServiceSpec) -> Result<(), ServiceError> {
        let path = self.unit_path(spec);
        let existed = path.exists();
        self.write_unit(spec)?;
        let registered = self
            .checked(&["daemon-reload"], None)
            .and_then(|()| self.checked(&["enable"], Some(&unit_name(&spec.name))));
        if registered.is_err() && !existed {
            // A failed install leaves the machine as it was: no unit file systemd never took.
            let _ = std::fs::remove_file(&path);
        }
        registered
    }

    fn reconfigure(&self, spec: &ServiceSpec) -> Result<(), ServiceError> {
        self.write_unit(spec)?;
        self.checked(&["daemon-reload"], None)
    }

    fn uninstall(&self, spec: &ServiceSpec) -> Result<(), ServiceError> {
        let unit = unit_name(&spec.name);
        // A unit that systemd never loaded cannot be stopped; that is not a failure here.
        let _ = self.systemctl(&["stop"], Some(&unit))?;
        self.checked(&["disable"], Some(&unit))?;
        let path = self.unit_path(spec);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                return Err(ServiceError::NeedsRoot {
                    selector: spec.selector.clone(),
                    path,
                });
            }
            Err(source) => {
                return Err(ServiceError::Io {
                    what: "delete the unit file",
                    path,
                    source,
                });
            }
        }
        self.checked(&["daemon-reload"], None)
    }

    fn start(&self, spec: &ServiceSpec) -> Result<(), ServiceError> {
        self.checked(&["start"], Some(&unit_name(&spec.name)))
    }

    fn stop(&self, spec: &ServiceSpec) -> Result<(), ServiceError> {
        self.checked(&["stop"], Some(&unit_name(&spec.name)))
    }

    fn status(&self, spec: &ServiceSpec) -> Result<ServiceStatus, ServiceError> {
        if !self.is_installed(spec) {
            return Ok(ServiceStatus::NotInstalled);
        }
        let unit = unit_name(&spec.name);
        let output = self.systemctl(
            &["show", "-p", "ActiveState,SubState,LoadState"],
            Some(&unit),
        )?;
        if output.status.success() {
            let text = String::from_utf8_lossy(&output.stdout);
            if let Some(status) = parse_show(&text) {
                return Ok(status);
            }
        }
        // Older systemctl or an unparseable answer: is-active's exit code (0 active, 3 inactive).
        let output = self.systemctl(&["is-active"], Some(&unit))?;
        let word = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        Ok(match (output.status.code(), word.as_str()) {
            (Some(0), _) => ServiceStatus::Running,
            (_, "activating" | "deactivating" | "reloading") => ServiceStatus::Pending(word),
            (Some(3), _) => ServiceStatus::Stopped,
            _ => {
                return Err(ServiceError::Command {
                    command: command_line(SYSTEMCTL, &self.argv(&["is-active"], Some(&unit))),
                    detail: failure_detail(&output),
                    hint: systemd_hint(),
                });
            }
        })
    }

    fn describe(&self, spec: &ServiceSpec) -> String {
        self.unit_path(spec).display().to_string()
    }
}

/// `$XDG_CONFIG_HOME/systemd/user`, default `~/.config/systemd/user`.
fn user_unit_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".config")))?;
    Some(base.join("systemd").join("user"))
}

/// Advice when systemd is not the init system (containers, WSL1, other inits).
fn systemd_hint() -> String {
    if Path::new("/run/systemd/system").exists() {
        String::new()
    } else {
        "; systemd is not running on this machine (PID 1 is not systemd): start the agent with tentacle agent, or use your init system".to_owned()
    }
}

/// `<instance with "/" removed and whitespace → "-">.service`, as Tentacle names it. Characters a
/// unit name cannot hold (non-ASCII letters, `%`, `@`, …) are escaped as `\xNN` per UTF-8 byte, as
/// `systemd-escape` does, so every instance gets a valid, distinct unit.
pub fn unit_name(instance: &str) -> String {
    let mut base = String::new();
    for c in instance.chars().filter(|c| *c != '/') {
        if c.is_whitespace() {
            base.push('-');
        } else if c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '.' | '-') {
            base.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                base.push_str(&format!("\\x{b:02x}"));
            }
        }
    }
    format!("{base}.service")
}

/// Maps `systemctl show -p ActiveState,SubState,LoadState` output to a status.
pub fn parse_show(text: &str) -> Option<ServiceStatus> {
    let get = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(str::trim)
    };
    if get("LoadState") == Some("not-found") {
        return Some(ServiceStatus::NotInstalled);
    }
    let sub = get("SubState").unwrap_or_default();
    Some(match get("ActiveState")? {
        "active" => ServiceStatus::Running,
        "inactive" | "failed" => ServiceStatus::Stopped,
        other if sub.is_empty() => ServiceStatus::Pending(other.to_owned()),
        other => ServiceStatus::Pending(format!("{other}, {sub}")),
    })
}

/// Escapes specifiers (`%` → `%%`) for a value that is not a command line.
fn escape_specifiers(value: &str) -> String {
    value.replace('%', "%%")
}

/// Quotes one `ExecStart=` word per systemd.service(5): `%` → `%%` (specifiers) and `$` → `$$`
/// (variable expansion) always; wrapped in double quotes with `\` and `"` escaped (C-style, so
/// newlines and tabs become `\n` and `\t`) when it is empty or holds whitespace, quotes,
/// backslashes or `;`.
pub fn quote_exec_arg(arg: &str) -> String {
    let escaped = arg.replace('%', "%%").replace('$', "$$");
    let needs_quotes = escaped.is_empty()
        || escaped
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '\\' | ';'));
    if !needs_quotes {
        return escaped;
    }
    let mut out = String::with_capacity(escaped.len() + 2);
    out.push('"');
    for c in escaped.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The unit file for an instance.
pub fn unit_text(spec: &ServiceSpec, user: bool) -> String {
    let mut exec = quote_exec_arg(&spec.executable.to_string_lossy());
    for a in &spec.args {
        exec.push(' ');
        exec.push_str(&quote_exec_arg(&a.to_string_lossy()));
    }
    let mut text = String::new();
    text.push_str("[Unit]\n");
    text.push_str(&format!(
        "Description=Octopus Deploy: Tentacle deployment agent ({})\n",
        escape_specifiers(&spec.name)
    ));
    text.push_str("After=network-online.target\nWants=network-online.target\n\n");
    text.push_str("[Service]\nType=simple\n");
    text.push_str(&format!("ExecStart={exec}\n"));
    if let Some(user) = &spec.username {
        text.push_str(&format!("User={}\n", escape_specifiers(user)));
    }
    text.push_str("Restart=on-failure\nRestartSec=5\n");
    text.push_str(concat!(
        "# On stop the agent gets SIGTERM alone and waits up to 30 s for running deployment\n",
        "# scripts; the default (control-group) would signal the scripts at once. \"mixed\" still\n",
        "# kills whatever is left when the agent exits, so no stray scripts outlive the service.\n",
        "KillMode=mixed\n",
        "TimeoutStopSec=45\n",
        "# Deployment scripts use sudo, /tmp and the whole file system: no NoNewPrivileges,\n",
        "# ProtectSystem or PrivateTmp here.\n",
        "PrivateTmp=false\n",
    ));
    text.push_str("\n[Install]\n");
    text.push_str(if user {
        "WantedBy=default.target\n"
    } else {
        "WantedBy=multi-user.target\n"
    });
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, exe: &str) -> ServiceSpec {
        ServiceSpec {
            name: name.into(),
            selector: format!("--instance \"{name}\""),
            executable: exe.into(),
            args: ServiceSpec::agent_args_for_instance(name),
            username: None,
            password: None,
            logs_dir: "/tmp/logs".into(),
        }
    }

    #[test]
    fn service_quoting_follows_systemd_rules() {
        assert_eq!(quote_exec_arg("/usr/bin/tentacle"), "/usr/bin/tentacle");
        assert_eq!(quote_exec_arg("My Instance"), "\"My Instance\"");
        assert_eq!(quote_exec_arg(""), "\"\"");
        assert_eq!(quote_exec_arg("50%"), "50%%");
        assert_eq!(quote_exec_arg("$HOME"), "$$HOME");
        assert_eq!(quote_exec_arg("a\"b"), "\"a\\\"b\"");
        assert_eq!(quote_exec_arg("a\\b"), "\"a\\\\b\"");
        assert_eq!(quote_exec_arg("it's"), "\"it's\"");
        assert_eq!(quote_exec_arg("a b%$"), "\"a b%%$$\"");
        assert_eq!(quote_exec_arg(";"), "\";\"");
        assert_eq!(quote_exec_arg("a\nb"), "\"a\\nb\"");
    }

    #[test]
    fn service_unit_name_follows_tentacle() {
        assert_eq!(unit_name("Tentacle"), "Tentacle.service");
        assert_eq!(unit_name("My Web/01\tx"), "My-Web01-x.service");
        assert_eq!(unit_name("Café 100%"), "Caf\\xc3\\xa9-100\\x25.service");
    }

    #[test]
    fn service_unit_text_quotes_spaces() {
        let text = unit_text(&spec("My Instance", "/opt/my tools/tentacle"), false);
        assert!(text.contains(
            "ExecStart=\"/opt/my tools/tentacle\" agent --instance \"My Instance\" --noninteractive\n"
        ));
        assert!(
            text.contains("Description=Octopus Deploy: Tentacle deployment agent (My Instance)\n")
        );
        assert!(text.contains("After=network-online.target\nWants=network-online.target\n"));
        assert!(text.contains("Type=simple\n"));
        assert!(text.contains("Restart=on-failure\nRestartSec=5\n"));
        assert!(text.contains("KillMode=mixed\nTimeoutStopSec=45\n"));
        assert!(text.contains("WantedBy=multi-user.target\n"));
        assert!(!text.contains("\nUser="));
        assert!(!text.contains("\nNoNewPrivileges="));

        let mut with_user = spec("100%", "/usr/bin/tentacle");
        with_user.username = Some("octo".into());
        let text = unit_text(&with_user, true);
        assert!(text.contains("(100%%)"));
        assert!(text.contains("--instance 100%% --noninteractive"));
        assert!(text.contains("User=octo\n"));
        assert!(text.contains("WantedBy=default.target\n"));
    }

    #[test]
    fn service_show_output_maps_to_status() {
        let s = |t| parse_show(t);
        assert_eq!(
            s("ActiveState=active\nSubState=running\nLoadState=loaded\n"),
            Some(ServiceStatus::Running)
        );
        assert_eq!(
            s("ActiveState=failed\nSubState=failed\nLoadState=loaded"),
            Some(ServiceStatus::Stopped)
        );
        assert_eq!(
            s("ActiveState=inactive\nSubState=dead\nLoadState=not-found"),
            Some(ServiceStatus::NotInstalled)
        );
        assert_eq!(
            s("ActiveState=activating\nSubState=auto-restart\nLoadState=loaded"),
            Some(ServiceStatus::Pending("activating, auto-restart".into()))
        );
        assert_eq!(s(""), None);
    }
}
