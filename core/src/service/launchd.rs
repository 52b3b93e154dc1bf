//! launchd (macOS): the property list for an instance and the `launchctl` calls.
//!
//! Daemons go to `/Library/LaunchDaemons` when root, agents to `~/Library/LaunchAgents` otherwise.
//! The generator is plain text and compiles everywhere so it is tested on every platform;
//! [`super::platform_backend`] selects this backend only on macOS.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::{
    ServiceBackend, ServiceError, ServiceSpec, ServiceStatus, command_line, failure_detail,
    run_command,
};
use crate::instance::atomic::{FileMode, write_atomic};

const LAUNCHCTL: &str = "launchctl";

/// The launchd backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launchd {
    /// `/Library/LaunchDaemons` or `~/Library/LaunchAgents`.
    pub dir: PathBuf,
}

impl Launchd {
    /// Daemons when root, per-user agents otherwise.
    pub fn detect() -> Result<Launchd, ServiceError> {
        if crate::instance::is_privileged() {
            return Ok(Launchd {
                dir: PathBuf::from("/Library/LaunchDaemons"),
            });
        }
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .ok_or_else(|| {
                ServiceError::Invalid(
                    "HOME is not set: cannot find ~/Library/LaunchAgents".to_owned(),
                )
            })?;
        Ok(Launchd {
            dir: Path::new(&home).join("Library").join("LaunchAgents"),
        })
    }

    /// The plist's path.
    pub fn plist_path(&self, spec: &ServiceSpec) -> PathBuf {
        self.dir.join(format!("{}.plist", label(&spec.name)))
    }

    fn launchctl(&self, args: &[OsString]) -> Result<std::process::Output, ServiceError> {
        run_command(LAUNCHCTL, args, &String::new)
    }

    fn checked(&self, args: &[OsString]) -> Result<(), ServiceError> {
        let output = self.launchctl(args)?;
        if output.status.success() {
            return Ok(());
        }
        Err(ServiceError::Command {
            command: command_line(LAUNCHCTL, args),
            detail: failure_detail(&output),
            hint: String::new(),
        })
    }

    fn write_plist(&self, spec: &ServiceSpec) -> Result<(), ServiceError> {
        let path = self.plist_path(spec);
        write_atomic(&path, plist_text(spec).as_bytes(), FileMode::Public).map_err(|source| {
            if source.kind() == std::io::ErrorKind::PermissionDenied {
                ServiceError::NeedsRoot {
                    selector: spec.selector.clone(),
                    path: path.clone(),
                }
            } else {
                ServiceError::Io {
                    what: "write the launchd property list",
                    path: path.clone(),
                    source,
                }
            }
        })
    }
}

impl ServiceBackend for Launchd {
    fn is_installed(&self, spec: &ServiceSpec) -> bool {
        self.plist_path(spec).is_file()
    }

    fn install(&self, spec: &ServiceSpec) -> Result<(), ServiceError> {
        // RunAtLoad starts the agent at boot; `--start` loads it now.
        self.write_plist(spec)
    }

    fn reconfigure(&self, spec: &ServiceSpec) -> Result<(), ServiceError> {
        self.write_plist(spec)
    }

    fn uninstall(&self, spec: &ServiceSpec) -> Result<(), ServiceError> {
        let path = self.plist_path(spec);
        // Not loaded is fine: there is nothing to unload.
        let _ = self.launchctl(&["unload".into(), "-w".into(), path.clone().into()])?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(ServiceError::Io {
                what: "delete the launchd property list",
                path,
                source,
            }),
        }
    }

    fn start(&self, spec: &ServiceSpec) -> Result<(), ServiceError> {
        self.checked(&["load".into(), "-w".into(), self.plist_path(spec).into()])
    }

    fn stop(&self, spec: &ServiceSpec) -> Result<(), ServiceError> {
        self.checked(&["unload".into(), self.plist_path(spec).into()])
    }

    fn status(&self, spec: &ServiceSpec) -> Result<ServiceStatus, ServiceError> {
        if !self.is_installed(spec) {
            return Ok(ServiceStatus::NotInstalled);
        }
        let output = self.launchctl(&["list".into(), label(&spec.name).into()])?;
        if !output.status.success() {
            return Ok(ServiceStatus::Stopped);
        }
        let text = String::from_utf8_lossy(&output.stdout);
        Ok(if text.contains("\"PID\" =") {
            ServiceStatus::Running
        } else {
            ServiceStatus::Stopped
        })
    }

    fn describe(&self, spec: &ServiceSpec) -> String {
        self.plist_path(spec).display().to_string()
    }
}

/// `com.octopus.tentacle.<instance>`, with characters launchd labels avoid replaced by `-`.
pub fn label(instance: &str) -> String {
    let name: String = instance
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("com.octopus.tentacle.{name}")
}

/// Escapes text for an XML element.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// The property list for an instance.
pub fn plist_text(spec: &ServiceSpec) -> String {
    let string = |s: &str| format!("<string>{}</string>", xml_escape(s));
    let mut out = String::new();
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str("<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n");
    out.push_str("<plist version=\"1.0\">\n<dict>\n");
    out.push_str(&format!(
        "\t<key>Label</key>\n\t{}\n",
        string(&label(&spec.name))
    ));
    out.push_str("\t<key>ProgramArguments</key>\n\t<array>\n");
    out.push_str(&format!(
        "\t\t{}\n",
        string(&spec.executable.to_string_lossy())
    ));
    for a in &spec.args {
        out.push_str(&format!("\t\t{}\n", string(&a.to_string_lossy())));
    }
    out.push_str("\t</array>\n");
    out.push_str("\t<key>RunAtLoad</key>\n\t<true/>\n");
    out.push_str("\t<key>KeepAlive</key>\n\t<dict>\n\t\t<key>SuccessfulExit</key>\n\t\t<false/>\n\t</dict>\n");
    if let Some(user) = &spec.username {
        out.push_str(&format!("\t<key>UserName</key>\n\t{}\n", string(user)));
    }
    // The agent drains scripts for up to 30 s after SIGTERM.
    out.push_str("\t<key>ExitTimeOut</key>\n\t<integer>45</integer>\n");
    let logs = &spec.logs_dir;
    out.push_str(&format!(
        "\t<key>StandardOutPath</key>\n\t{}\n",
        string(&logs.join("launchd-stdout.log").to_string_lossy())
    ));
    out.push_str(&format!(
        "\t<key>StandardErrorPath</key>\n\t{}\n",
        string(&logs.join("launchd-stderr.log").to_string_lossy())
    ));
    out.push_str("</dict>\n</plist>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text of every `<string>` inside the `<array>` after `ProgramArguments`, unescaped.
    fn program_arguments(xml: &str) -> Vec<String> {
        let start = xml.find("<key>ProgramArguments</key>").unwrap();
        let array = &xml[start..];
        let array = &array[array.find("<array>").unwrap()..array.find("</array>").unwrap()];
        array
            .split("<string>")
            .skip(1)
            .map(|s| {
                s.split("</string>")
                    .next()
                    .unwrap()
                    .replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&quot;", "\"")
                    .replace("&apos;", "'")
                    .replace("&amp;", "&")
            })
            .collect()
    }

    #[test]
    fn service_plist_has_program_arguments() {
        let spec = ServiceSpec {
            name: "R&D <west> \"1\"".into(),
            selector: String::new(),
            executable: "/Applications/Octopus Tentacle/tentacle".into(),
            args: ServiceSpec::agent_args_for_instance("R&D <west> \"1\""),
            username: Some("octo".into()),
            password: None,
            logs_dir: "/var/tentacle/R&D/Logs".into(),
        };
        let xml = plist_text(&spec);
        assert_eq!(
            program_arguments(&xml),
            [
                "/Applications/Octopus Tentacle/tentacle",
                "agent",
                "--instance",
                "R&D <west> \"1\"",
                "--noninteractive"
            ]
        );
        assert!(xml.contains("<string>com.octopus.tentacle.R-D--west---1-</string>"));
        assert!(xml.contains("<key>RunAtLoad</key>\n\t<true/>"));
        assert!(xml.contains("<key>SuccessfulExit</key>\n\t\t<false/>"));
        assert!(xml.contains("<string>/var/tentacle/R&amp;D/Logs/launchd-stderr.log</string>"));
        // Well-formed enough: no raw ampersand or angle bracket outside markup.
        for piece in xml.split('<').skip(1) {
            let text = piece.split_once('>').unwrap().1;
            assert!(!text.contains('>'), "stray > in {text:?}");
            assert!(
                text.split('&')
                    .skip(1)
                    .all(|e| ["amp;", "lt;", "gt;", "quot;", "apos;"]
                        .iter()
                        .any(|k| e.starts_with(k))),
                "bad entity in {text:?}"
            );
        }
        let opens = xml.matches("<dict>").count() + xml.matches("<array>").count();
        let closes = xml.matches("</dict>").count() + xml.matches("</array>").count();
        assert_eq!(opens, closes);
        let backend = Launchd {
            dir: "/Library/LaunchDaemons".into(),
        };
        assert_eq!(
            backend.plist_path(&spec),
            Path::new("/Library/LaunchDaemons/com.octopus.tentacle.R-D--west---1-.plist")
        );
    }
}
