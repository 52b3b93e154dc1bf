//! The host firewall and the listening port: Windows Firewall (`netsh advfirewall`), or `ufw` or firewalld on Linux when one is active; finding it, asking whether the port is open, opening it as the original wizard did, and closing it again.
//!
//! Every command is a plain argv run with a time bound, never through a shell, and
//! [`command_line`] prints it the way a person would type it ("Show script"). The programs
//! are found on `PATH`, so tests can put a recording `firewall-cmd` or `ufw` first.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

/// The rule name the original Tentacle wizard gives its Windows Firewall exception.
pub const RULE_NAME: &str = "Octopus Deploy Tentacle";

/// How long one firewall command may take (`ufw` is a Python program and can be slow to start).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

/// A firewall this module can drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Firewall {
    /// Windows Firewall, through `netsh advfirewall firewall`.
    WindowsFirewall,
    /// Uncomplicated Firewall (Debian, Ubuntu).
    Ufw,
    /// firewalld (Fedora, RHEL), through `firewall-cmd`.
    Firewalld,
}

impl Firewall {
    /// Its name for people.
    pub fn name(self) -> &'static str {
        match self {
            Firewall::WindowsFirewall => "Windows Firewall",
            Firewall::Ufw => "ufw",
            Firewall::Firewalld => "firewalld",
        }
    }

    /// The commands that open TCP `port` for incoming connections, in order.
    pub fn allow_commands(self, port: u16) -> Vec<Vec<String>> {
        match self {
            Firewall::WindowsFirewall => vec![argv(&[
                "netsh",
                "advfirewall",
                "firewall",
                "add",
                "rule",
                &format!("name={RULE_NAME}"),
                "dir=in",
                "action=allow",
                "protocol=TCP",
                &format!("localport={port}"),
            ])],
            Firewall::Ufw => vec![argv(&[
                "ufw",
                "allow",
                &format!("{port}/tcp"),
                "comment",
                RULE_NAME,
            ])],
            // The running firewall now, and the saved one for the next boot.
            Firewall::Firewalld => vec![
                argv(&["firewall-cmd", &format!("--add-port={port}/tcp")]),
                argv(&[
                    "firewall-cmd",
                    "--permanent",
                    &format!("--add-port={port}/tcp"),
                ]),
            ],
        }
    }

    /// The commands that remove what [`Firewall::allow_commands`] added.
    pub fn remove_commands(self, port: u16) -> Vec<Vec<String>> {
        match self {
            Firewall::WindowsFirewall => vec![argv(&[
                "netsh",
                "advfirewall",
                "firewall",
                "delete",
                "rule",
                &format!("name={RULE_NAME}"),
                "protocol=TCP",
                &format!("localport={port}"),
            ])],
            Firewall::Ufw => vec![argv(&["ufw", "delete", "allow", &format!("{port}/tcp")])],
            Firewall::Firewalld => vec![
                argv(&["firewall-cmd", &format!("--remove-port={port}/tcp")]),
                argv(&[
                    "firewall-cmd",
                    "--permanent",
                    &format!("--remove-port={port}/tcp"),
                ]),
            ],
        }
    }
}

impl std::fmt::Display for Firewall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

fn argv(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| (*s).to_owned()).collect()
}

/// A firewall command that failed. Messages name the command and what to do.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    /// The command ran and failed.
    #[error("{command} failed: {detail}{hint}")]
    Command {
        /// The command line, for copying.
        command: String,
        /// The first line of its error output, or its exit status.
        detail: String,
        /// Advice, starting with "; " (or empty).
        hint: String,
    },
    /// The program could not be started.
    #[error("Could not run {command} ({source}); is {program} installed and on PATH?")]
    Spawn {
        /// The command line.
        command: String,
        /// The program.
        program: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The command did not finish in time and was killed.
    #[error("{command} did not finish within {} s and was stopped; run it yourself to see why", .after.as_secs())]
    Timeout {
        /// The command line.
        command: String,
        /// The bound.
        after: Duration,
    },
    /// There is no active firewall to change.
    #[error(
        "No active firewall was found on this machine ({looked}), so there is no rule to {what}"
    )]
    NoFirewall {
        /// What was looked at.
        looked: String,
        /// "add", "remove".
        what: &'static str,
    },
}

/// What [`detect`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detected {
    /// This firewall filters incoming connections.
    Active(Firewall),
    /// None is active; the text says what was looked at ("ufw is inactive, firewalld is not installed").
    NoneActive(String),
}

/// The command as a person would type it: words with spaces or quotes are double-quoted.
pub fn command_line(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c))
            {
                a.clone()
            } else {
                let mut quoted = String::from("\"");
                for c in a.chars() {
                    if matches!(c, '"' | '\\' | '$' | '`') {
                        quoted.push('\\');
                    }
                    quoted.push(c);
                }
                quoted.push('"');
                quoted
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `argv` with stdin closed, killing it after `timeout`. A missing program is
/// [`FirewallError::Spawn`]; a non-zero exit is returned as output for the caller to read.
pub(crate) fn run_bounded(argv: &[String], timeout: Duration) -> Result<Output, FirewallError> {
    let command = command_line(argv);
    let (program, args) = argv.split_first().ok_or_else(|| FirewallError::Command {
        command: String::new(),
        detail: "empty command".to_owned(),
        hint: String::new(),
    })?;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| FirewallError::Spawn {
            command: command.clone(),
            program: program.clone(),
            source,
        })?;
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(FirewallError::Timeout {
                    command,
                    after: timeout,
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                return Err(FirewallError::Spawn {
                    command,
                    program: program.clone(),
                    source: e,
                });
            }
        }
    }
    // The child has exited: reading its (small) pipes cannot block for long.
    child
        .wait_with_output()
        .map_err(|source| FirewallError::Spawn {
            command,
            program: program.clone(),
            source,
        })
}

fn failed(argv: &[String], output: &Output) -> FirewallError {
    let detail = [&output.stderr, &output.stdout]
        .iter()
        .flat_map(|b| {
            String::from_utf8_lossy(b)
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .map(|l| l.trim().to_owned())
        .find(|l| !l.is_empty())
        .unwrap_or_else(|| format!("exit status {}", output.status));
    let hint = if detail.contains("root")
        || detail.contains("ermission")
        || detail.contains("elevation")
    {
        if cfg!(windows) {
            "; run it as Administrator".to_owned()
        } else {
            "; run it as root (sudo)".to_owned()
        }
    } else {
        String::new()
    };
    FirewallError::Command {
        command: command_line(argv),
        detail,
        hint,
    }
}

/// True when `program` is a file in one of `PATH`'s folders.
fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

/// The active firewall. Windows always has Windows Firewall; on Linux `ufw` is asked first,
/// then `firewall-cmd`; elsewhere none is driven. An installed firewall whose state cannot be
/// read (ufw needs root) is an error only when no other firewall is active.
pub fn detect() -> Result<Detected, FirewallError> {
    if cfg!(windows) {
        return Ok(Detected::Active(Firewall::WindowsFirewall));
    }
    if !cfg!(target_os = "linux") {
        return Ok(Detected::NoneActive(
            "only Windows Firewall, ufw and firewalld are driven; use your system's firewall settings".to_owned(),
        ));
    }
    let mut looked = Vec::new();
    let mut unreadable = None;
    if on_path("ufw") {
        let status = argv(&["ufw", "status"]);
        match run_bounded(&status, COMMAND_TIMEOUT) {
            Ok(out) if out.status.success() => {
                if ufw_active(&String::from_utf8_lossy(&out.stdout)) {
                    return Ok(Detected::Active(Firewall::Ufw));
                }
                looked.push("ufw is inactive");
            }
            Ok(out) => unreadable = Some(failed(&status, &out)),
            Err(e) => unreadable = Some(e),
        }
    } else {
        looked.push("ufw is not installed");
    }
    if on_path("firewall-cmd") {
        let state = argv(&["firewall-cmd", "--state"]);
        let out = run_bounded(&state, COMMAND_TIMEOUT)?;
        if out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "running" {
            return Ok(Detected::Active(Firewall::Firewalld));
        }
        looked.push("firewalld is not running");
    } else {
        looked.push("firewalld is not installed");
    }
    if let Some(e) = unreadable {
        return Err(e);
    }
    Ok(Detected::NoneActive(looked.join(", ")))
}

/// `ufw status` begins with `Status: active` when it filters.
fn ufw_active(status: &str) -> bool {
    status
        .lines()
        .any(|l| l.trim().eq_ignore_ascii_case("Status: active"))
}

/// True when `firewall` lets incoming TCP connections reach `port`.
pub fn is_allowed(firewall: Firewall, port: u16) -> Result<bool, FirewallError> {
    match firewall {
        Firewall::Ufw => {
            let cmd = argv(&["ufw", "status", "verbose"]);
            let out = run_bounded(&cmd, COMMAND_TIMEOUT)?;
            if !out.status.success() {
                return Err(failed(&cmd, &out));
            }
            Ok(ufw_allows(&String::from_utf8_lossy(&out.stdout), port))
        }
        Firewall::Firewalld => {
            let cmd = argv(&["firewall-cmd", &format!("--query-port={port}/tcp")]);
            let out = run_bounded(&cmd, COMMAND_TIMEOUT)?;
            // 0 "yes", 1 "no"; anything else is a failure (not running, no permission).
            match out.status.code() {
                Some(0) => Ok(true),
                Some(1) => Ok(false),
                _ => Err(failed(&cmd, &out)),
            }
        }
        Firewall::WindowsFirewall => {
            let cmd = argv(&[
                "netsh",
                "advfirewall",
                "firewall",
                "show",
                "rule",
                &format!("name={RULE_NAME}"),
            ]);
            let out = run_bounded(&cmd, COMMAND_TIMEOUT)?;
            // netsh exits 1 with "No rules match the specified criteria." when there is none.
            Ok(out.status.success() && netsh_allows(&String::from_utf8_lossy(&out.stdout), port))
        }
    }
}

/// Whether `ufw status verbose` output lets TCP `port` in: an allowing rule for the port
/// (alone, `/tcp`, or a range), or an incoming default of allow.
pub fn ufw_allows(status: &str, port: u16) -> bool {
    if status.lines().any(|l| {
        let l = l.trim();
        l.starts_with("Default:") && l.contains("allow (incoming)")
    }) {
        return true;
    }
    status.lines().any(|line| {
        let mut words = line.split_whitespace();
        let Some(to) = words.next() else {
            return false;
        };
        let rest: Vec<&str> = words.collect();
        let allows = rest
            .iter()
            .position(|w| *w == "ALLOW" || *w == "LIMIT")
            .is_some_and(|i| rest.get(i + 1) != Some(&"OUT"));
        allows && ufw_port_matches(to, port)
    })
}

/// `10933`, `10933/tcp`, `10000:11000/tcp` (not `/udp`, not an application profile).
fn ufw_port_matches(to: &str, port: u16) -> bool {
    let (ports, proto) = to.split_once('/').unwrap_or((to, "tcp"));
    if proto != "tcp" {
        return false;
    }
    ports.split(',').any(|part| match part.split_once(':') {
        Some((a, b)) => match (a.parse::<u16>(), b.parse::<u16>()) {
            (Ok(a), Ok(b)) => (a..=b).contains(&port),
            _ => false,
        },
        None => part.parse::<u16>() == Ok(port),
    })
}

/// Whether `netsh advfirewall firewall show rule` output has an enabled inbound allow rule for `port`.
fn netsh_allows(text: &str, port: u16) -> bool {
    // One block per rule, separated by blank lines; fields are "Name:   value".
    text.split("\n\r\n")
        .flat_map(|b| b.split("\n\n"))
        .any(|block| {
            let field = |key: &str| {
                block.lines().find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    (k.trim().eq_ignore_ascii_case(key)).then(|| v.trim().to_owned())
                })
            };
            let local = field("LocalPort").unwrap_or_default();
            field("Enabled").is_none_or(|v| v.eq_ignore_ascii_case("yes"))
                && field("Direction").is_none_or(|v| v.eq_ignore_ascii_case("in"))
                && field("Action").is_none_or(|v| v.eq_ignore_ascii_case("allow"))
                && local
                    .split(',')
                    .any(|p| p.trim() == port.to_string() || p.trim().eq_ignore_ascii_case("any"))
        })
}

/// Runs `commands` one after another, printing each first.
fn run_all(
    commands: &[Vec<String>],
    progress: &mut dyn FnMut(String),
) -> Result<(), FirewallError> {
    for cmd in commands {
        progress(format!("> {}", command_line(cmd)));
        let out = run_bounded(cmd, COMMAND_TIMEOUT)?;
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if !line.trim().is_empty() {
                progress(line.trim_end().to_owned());
            }
        }
        if !out.status.success() {
            return Err(failed(cmd, &out));
        }
    }
    Ok(())
}

/// Opens TCP `port` in `firewall`.
pub fn allow(
    firewall: Firewall,
    port: u16,
    progress: &mut dyn FnMut(String),
) -> Result<(), FirewallError> {
    run_all(&firewall.allow_commands(port), progress)
}

/// Removes the rule [`allow`] added.
pub fn remove(
    firewall: Firewall,
    port: u16,
    progress: &mut dyn FnMut(String),
) -> Result<(), FirewallError> {
    run_all(&firewall.remove_commands(port), progress)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_read_like_the_original_and_the_linux_tools() {
        let line = |c: Vec<Vec<String>>| c.iter().map(|a| command_line(a)).collect::<Vec<_>>();
        assert_eq!(
            line(Firewall::WindowsFirewall.allow_commands(10933)),
            [
                "netsh advfirewall firewall add rule \"name=Octopus Deploy Tentacle\" dir=in action=allow protocol=TCP localport=10933"
            ]
        );
        assert_eq!(
            line(Firewall::Ufw.allow_commands(10933)),
            ["ufw allow 10933/tcp comment \"Octopus Deploy Tentacle\""]
        );
        assert_eq!(
            line(Firewall::Firewalld.remove_commands(10933)),
            [
                "firewall-cmd --remove-port=10933/tcp",
                "firewall-cmd --permanent --remove-port=10933/tcp"
            ]
        );
        assert_eq!(command_line(&argv(&["a$b", ""])), "\"a\\$b\" \"\"");
    }

    #[test]
    fn ufw_status_is_read_rule_by_rule() {
        let status = "Status: active\nLogging: on (low)\nDefault: deny (incoming), allow (outgoing), disabled (routed)\nNew profiles: skip\n\nTo                         Action      From\n--                         ------      ----\n22/tcp                     ALLOW IN    Anywhere\n10933/tcp                  ALLOW IN    Anywhere                   # Octopus Deploy Tentacle\n5000:5100/tcp              ALLOW IN    Anywhere\n8080/udp                   ALLOW IN    Anywhere\n9000                       DENY IN     Anywhere\n7000/tcp                   ALLOW OUT   Anywhere\n10933/tcp (v6)             ALLOW IN    Anywhere (v6)\n";
        assert!(ufw_active(status));
        assert!(ufw_allows(status, 10933));
        assert!(ufw_allows(status, 5050));
        assert!(!ufw_allows(status, 8080));
        assert!(!ufw_allows(status, 9000));
        assert!(!ufw_allows(status, 7000));
        assert!(!ufw_allows(status, 10934));
        let open = "Status: active\nDefault: allow (incoming), allow (outgoing)\n";
        assert!(ufw_allows(open, 1));
        assert!(!ufw_active("Status: inactive\n"));
    }

    #[test]
    fn netsh_rules_match_port_direction_and_action() {
        let text = "\r\nRule Name:                            Octopus Deploy Tentacle\r\n----------------------------------------------------------------------\r\nEnabled:                              Yes\r\nDirection:                            In\r\nProfiles:                             Domain,Private,Public\r\nLocalPort:                            10933\r\nAction:                               Allow\r\nOk.\r\n";
        let text = text.replace("\r\n", "\n");
        assert!(netsh_allows(&text, 10933));
        assert!(!netsh_allows(&text, 10934));
        assert!(!netsh_allows(&text.replace("Allow", "Block"), 10933));
    }

    #[test]
    fn a_missing_program_is_a_clear_error() {
        let e = run_bounded(&argv(&["/nonexistent/ufw", "status"]), COMMAND_TIMEOUT).unwrap_err();
        assert!(
            e.to_string()
                .contains("Could not run /nonexistent/ufw status"),
            "{e}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_command_that_hangs_is_stopped() {
        let started = Instant::now();
        let e = run_bounded(&argv(&["sleep", "30"]), Duration::from_millis(200)).unwrap_err();
        assert!(matches!(e, FirewallError::Timeout { .. }), "{e}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
