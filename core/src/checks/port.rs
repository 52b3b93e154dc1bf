//! The local checks: trust list, the agent process, and the listening port (free, ours, or held by another process, found through /proc on Linux).

use std::time::Instant;

use super::plan::{CheckPlan, Sink};
use super::{Outcome, welcome};
use crate::fix::FixAction;
use crate::status::{AgentStatus, now_secs};
use crate::trust::CommunicationStyle;

/// A process that listens on a TCP port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortHolder {
    /// Its process id.
    pub pid: u32,
    /// Its name (`/proc/PID/comm`).
    pub name: String,
}

impl std::fmt::Display for PortHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {} ({})", self.pid, self.name)
    }
}

/// The processes with a listening TCP socket (IPv4 or IPv6) on `port`. Linux only, read
/// from `/proc/net/tcp{,6}` and each process's open file descriptors; processes of other
/// users are invisible unless we are root. Elsewhere an error says what to use instead.
pub fn listeners_on_port(port: u16) -> Result<Vec<PortHolder>, String> {
    #[cfg(target_os = "linux")]
    {
        linux::listeners_on_port(port)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = port;
        Err(if cfg!(windows) {
            "finding the process is implemented on Linux only; run `netstat -o -n -a -b` as Administrator".to_owned()
        } else {
            "finding the process is implemented on Linux only; run `lsof -nP -iTCP -sTCP:LISTEN`"
                .to_owned()
        })
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use super::PortHolder;
    use std::collections::HashSet;

    /// `st` of a listening socket in /proc/net/tcp.
    const LISTEN: &str = "0A";

    /// Inodes of listening sockets on `port` in one /proc/net/tcp-style table.
    pub fn listening_inodes(table: &str, port: u16) -> Vec<u64> {
        table
            .lines()
            .skip(1)
            .filter_map(|line| {
                let cols: Vec<&str> = line.split_whitespace().collect();
                let local = cols.get(1)?;
                let state = cols.get(3)?;
                let inode = cols.get(9)?.parse::<u64>().ok()?;
                let port_hex = local.rsplit_once(':')?.1;
                let p = u16::from_str_radix(port_hex, 16).ok()?;
                (p == port && *state == LISTEN && inode != 0).then_some(inode)
            })
            .collect()
    }

    pub fn listeners_on_port(port: u16) -> Result<Vec<PortHolder>, String> {
        let mut inodes = HashSet::new();
        let mut read_any = false;
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            if let Ok(text) = std::fs::read_to_string(table) {
                read_any = true;
                inodes.extend(listening_inodes(&text, port));
            }
        }
        if !read_any {
            return Err("/proc/net/tcp cannot be read; run `ss -ltnp` instead".to_owned());
        }
        if inodes.is_empty() {
            return Ok(Vec::new());
        }
        let wanted: HashSet<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
        let mut holders = Vec::new();
        let procs = std::fs::read_dir("/proc").map_err(|e| format!("/proc: {e}"))?;
        for entry in procs.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            // Other users' fd folders are unreadable unless we are root: skipped silently.
            let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
                continue;
            };
            let holds = fds.flatten().any(|fd| {
                std::fs::read_link(fd.path())
                    .ok()
                    .and_then(|t| t.to_str().map(|s| wanted.contains(s)))
                    .unwrap_or(false)
            });
            if holds {
                let name = std::fs::read_to_string(entry.path().join("comm"))
                    .map(|s| s.trim().to_owned())
                    .unwrap_or_else(|_| "?".to_owned());
                holders.push(PortHolder { pid, name });
            }
        }
        if holders.is_empty() {
            return Err(
                "a socket listens on it, but its process belongs to another user; run the check as root (or `sudo ss -ltnp`) to see it".to_owned(),
            );
        }
        holders.sort_by_key(|h| h.pid);
        Ok(holders)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn finds_listening_inodes_by_port_and_state() {
            let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000:2A95 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0 100 0 0 10 0\n   1: 0100007F:2A95 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0 100 0 0 10 0\n   2: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4444 1 0 100 0 0 10 0\n";
            assert_eq!(listening_inodes(table, 10901), vec![4242]);
            assert_eq!(listening_inodes(table, 8080), vec![4444]);
            assert!(listening_inodes(table, 1).is_empty());
        }

        #[test]
        fn finds_this_process_listening() {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = l.local_addr().unwrap().port();
            let holders = listeners_on_port(port).unwrap();
            assert!(
                holders.iter().any(|h| h.pid == std::process::id()),
                "{holders:?}"
            );
        }
    }
}

/// What binding the agent's address said about the port.
#[derive(Debug)]
enum Bind {
    Free,
    InUse,
    Refused(std::io::Error),
}

/// Binds exactly as the agent does (the same function) and lets go at once.
fn try_bind(communication: &crate::instance::Communication) -> Bind {
    match communication.bind_listener() {
        Ok(_) => Bind::Free,
        Err(f) if f.in_use() => Bind::InUse,
        Err(f) => Bind::Refused(f.source),
    }
}

/// Moving to the first free port after `port` (within 100), when there is one.
fn move_port(plan: &CheckPlan, port: u16) -> Vec<FixAction> {
    (port.saturating_add(1)..=port.saturating_add(100))
        .find(|p| {
            let mut c = plan.config.communication.clone();
            c.port = *p;
            matches!(try_bind(&c), Bind::Free)
        })
        .map(|to| FixAction::MovePort { from: port, to })
        .into_iter()
        .collect()
}

/// Config, agent, port and welcome page, in that order.
pub(crate) async fn run_local(plan: &CheckPlan, sink: &Sink) {
    for step in &plan.local {
        let started = Instant::now();
        let outcome = match step.id.as_str() {
            "config.trust" => trust(plan),
            "agent.status" => agent(plan),
            "listen.port" => listening_port(plan),
            "listen.welcome" => welcome::check(plan).await,
            "listen.firewall" => super::firewall::check(plan).await,
            _ => continue,
        };
        sink.put(step, outcome, started);
    }
}

fn selector(plan: &CheckPlan) -> String {
    format!("--instance \"{}\"", plan.instance)
}

fn trust(plan: &CheckPlan) -> Outcome {
    let servers = &plan.config.trusted_servers;
    let own = match &plan.own {
        Ok(c) => format!("This Tentacle's thumbprint is {}", c.thumbprint()),
        Err(why) => why.clone(),
    };
    if servers.is_empty() {
        return Outcome::fail(
            format!("{own}; it trusts no Octopus Server"),
            "No Octopus Server thumbprint is trusted, so every connection from or to Octopus is refused",
            format!(
                "Register with your server (tentacle register-with {0} ...), or trust its thumbprint from Configuration > Thumbprints in the Octopus Web Portal: tentacle configure {0} --trust THUMBPRINT",
                selector(plan)
            ),
        );
    }
    let list: Vec<String> = servers
        .iter()
        .map(|s| match (s.style, &s.address) {
            (CommunicationStyle::Polling, Some(a)) => format!("{} (polling {a})", s.thumbprint),
            (CommunicationStyle::Polling, None) => {
                format!("{} (polling, no address)", s.thumbprint)
            }
            (CommunicationStyle::Listening, _) => format!("{} (listening)", s.thumbprint),
        })
        .collect();
    let seen = format!("{own}; it trusts {}", list.join(", "));
    if plan.own.is_err() {
        return Outcome::warn(
            seen,
            "Without a certificate the agent cannot prove who it is to Octopus Server",
            format!(
                "Start the agent once (it creates one) or run tentacle new-certificate {}, then give Octopus the new thumbprint",
                selector(plan)
            ),
        );
    }
    Outcome::pass(format!(
        "{seen}. Compare these with Configuration > Thumbprints in the Octopus Web Portal"
    ))
}

/// The agent's status document, if its agent is alive.
pub(crate) fn live_agent(plan: &CheckPlan) -> Option<AgentStatus> {
    AgentStatus::read(&plan.home)
        .ok()
        .flatten()
        .filter(|s| s.is_live(now_secs()))
}

fn agent(plan: &CheckPlan) -> Outcome {
    let start_fix = format!(
        "Start it: tentacle service {0} --start (or run it in the foreground: tentacle agent {0})",
        selector(plan)
    );
    match AgentStatus::read(&plan.home) {
        Err(e) => Outcome::warn(
            e.to_string(),
            "The agent's status document cannot be read, so it is unknown whether the agent runs",
            "Check the home folder's permissions (see the home folder check); the agent rewrites the document every few seconds while it runs",
        ),
        Ok(None) => Outcome::warn(
            "The agent has never run for this home folder (no status.json)",
            "The agent is not running",
            start_fix,
        )
        .offering(crate::fix::offer::start_agent(plan)),
        Ok(Some(s)) if s.is_live(now_secs()) => {
            let mut seen = format!("Running as pid {}, {}", s.pid, s.mode);
            if let Some(on) = &s.listening_on {
                seen.push_str(&format!(", listening on {on}"));
            }
            let down: Vec<String> = s
                .servers
                .iter()
                .filter(|v| v.link == Some(crate::status::LinkStatus::Disconnected))
                .map(|v| {
                    format!(
                        "{} ({})",
                        v.address.as_deref().unwrap_or(&v.thumbprint),
                        v.last_error.as_deref().unwrap_or("no error recorded")
                    )
                })
                .collect();
            if down.is_empty() {
                Outcome::pass(seen)
            } else {
                Outcome::warn(
                    format!("{seen}; polling link down to {}", down.join("; ")),
                    "The agent runs but cannot keep a polling connection to the server",
                    "Read the polling checks below: they show which step (DNS, TCP, proxy, TLS, thumbprint, identity) fails",
                )
            }
        }
        Ok(Some(s)) => Outcome::warn(
            format!(
                "Not running: the status document was last written {} s ago by pid {}",
                now_secs().saturating_sub(s.updated_at),
                s.pid
            ),
            "The agent stopped or crashed; its log says why",
            format!(
                "{start_fix}. If it stops again, read the latest file in {}",
                plan.config.logs_dir(&plan.config_path).display()
            ),
        )
        .offering(crate::fix::offer::start_agent(plan)),
    }
}

fn listening_port(plan: &CheckPlan) -> Outcome {
    let port = plan.config.communication.port;
    let agent = live_agent(plan);
    let holders = listeners_on_port(port);
    match try_bind(&plan.config.communication) {
        Bind::Free => match &agent {
            Some(a) => Outcome::warn(
                format!("Port {port} is free, but the agent (pid {}) runs", a.pid),
                format!(
                    "The running agent does not listen on {port}: it was started before the port was changed, or it listens on {}",
                    a.listening_on.as_deref().unwrap_or("no port")
                ),
                format!("Restart it: tentacle service {} --restart", selector(plan)),
            )
            .offering(crate::fix::offer::restart_agent(plan)),
            None => Outcome::warn(
                format!("Port {port} is free: nothing listens on it"),
                "The agent is not running, so Octopus Server cannot connect to this listening Tentacle",
                format!(
                    "Start it: tentacle service {0} --start (or tentacle agent {0})",
                    selector(plan)
                ),
            )
            .offering(crate::fix::offer::start_agent(plan)),
        },
        Bind::Refused(e) => Outcome::fail(
            format!("Port {port} cannot be bound by this user: {e}"),
            if port < 1024 {
                "Ports below 1024 need root (or CAP_NET_BIND_SERVICE)"
            } else {
                "The listen address is not on this machine, or the system refuses the bind"
            },
            format!(
                "Choose a port of 1024 or above, or a local address: tentacle configure {} --port 10933 [--listenIpAddress IP]",
                selector(plan)
            ),
        ),
        Bind::InUse => in_use(plan, port, agent.as_ref(), holders),
    }
}

fn in_use(
    plan: &CheckPlan,
    port: u16,
    agent: Option<&AgentStatus>,
    holders: Result<Vec<PortHolder>, String>,
) -> Outcome {
    let other_fix = |stop: &str| {
        format!(
            "{stop}; it may be a leftover script or Calamari process of an old Tentacle. Or move this Tentacle to another port: tentacle configure {} --port OTHER_PORT, then update the port in Octopus",
            selector(plan)
        )
    };
    let cause = "A required communications port is already in use: another program, another Tentacle instance, or a zombie child process of a Tentacle holds it, so the agent cannot listen";
    match holders {
        Ok(list) if !list.is_empty() => {
            let names: Vec<String> = list.iter().map(ToString::to_string).collect();
            if let Some(a) = agent
                && list.iter().any(|h| h.pid == a.pid)
            {
                return Outcome::pass(format!(
                    "Held by this instance's agent: {}",
                    names.join(", ")
                ));
            }
            let tentacle = list
                .iter()
                .any(|h| h.name.to_ascii_lowercase().contains("tentacle"));
            let mut actions: Vec<FixAction> = list
                .iter()
                .filter(|h| h.pid != std::process::id())
                .map(|h| FixAction::StopProcess {
                    pid: h.pid,
                    name: h.name.clone(),
                    command: crate::fix::offer::process_command(h.pid, &h.name),
                    port,
                })
                .collect();
            actions.extend(move_port(plan, port));
            Outcome::fail(
                format!(
                    "Port {port} is held by another process: {}",
                    names.join(", ")
                ),
                if tentacle {
                    "A required communications port is already in use by another Tentacle (another instance, or an agent started by hand), so this instance's agent cannot listen"
                } else {
                    cause
                },
                other_fix(&format!(
                    "Stop {}: on Linux, kill {}",
                    names.join(", "),
                    list.iter()
                        .map(|h| h.pid.to_string())
                        .collect::<Vec<_>>()
                        .join(" ")
                )),
            )
            .offering(actions)
        }
        Ok(_) | Err(_) => {
            let why = holders.err().unwrap_or_else(|| {
                "the socket vanished while looking (it may be closing)".to_owned()
            });
            if let Some(a) = agent
                && a.listening_on
                    .as_deref()
                    .is_some_and(|on| on.ends_with(&format!(":{port}")))
            {
                return Outcome::pass(format!(
                    "In use, and this instance's agent (pid {}) reports listening on {} (the holder could not be confirmed: {why})",
                    a.pid,
                    a.listening_on.as_deref().unwrap_or_default()
                ));
            }
            Outcome::fail(
                format!("Port {port} is in use by a process that could not be identified: {why}"),
                cause,
                other_fix(
                    "Stop the process listening on it (find it with `ss -ltnp` or `netstat -o -n -a -b`)",
                ),
            )
            .offering(move_port(plan, port))
        }
    }
}
