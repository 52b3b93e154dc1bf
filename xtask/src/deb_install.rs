//! The .deb installed for real with dpkg: `tentacle version`, `create-instance`, an upgrade and a
//! removal with and without a running systemd, then a check that the instance data survived.
//!
//! Runs as root on the machine itself (a CI container). The service parts run inside a private
//! mount namespace (`unshare -m`) with tmpfs over /etc/systemd/system and /run, so the host's
//! units are never touched, and with a recording `systemctl` first on PATH: it logs every call
//! and hands enable/disable to the real systemctl in offline mode (`--root=/`), so the
//! wants/ links really appear and disappear. /run/systemd/system is created, or not, to play a
//! machine booted with systemd or a container without it.

use std::path::Path;
use std::process::Command;

use crate::package_tests::stdout_of;

const PACKAGE: &str = "tentacle-manager";
const INSTANCE: &str = "PkgTest";

/// Purges the package when dropped, so a failed check never leaves it installed.
struct PurgeOnDrop;

impl Drop for PurgeOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("dpkg")
            .args(["--purge", PACKAGE])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output();
    }
}

fn installed() -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", PACKAGE])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

fn dpkg(args: &[&str], deb: Option<&Path>) -> Result<String, String> {
    let mut cmd = Command::new("dpkg");
    cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
    if let Some(deb) = deb {
        cmd.arg(deb);
    }
    stdout_of(&mut cmd)
}

/// Install, use, upgrade, remove (twice: systemd running and not), purge; instance data stays.
pub fn install_cycle(deb: &Path, version: &str, tmp: &Path) -> Result<(), String> {
    if installed() {
        return Err(format!(
            "{PACKAGE} is already installed on this machine and this test installs and removes it: remove it first (dpkg -r {PACKAGE})"
        ));
    }
    let _purge = PurgeOnDrop;
    let root = tmp.join("config-root");
    let config = root.join(INSTANCE).join("tentacle.toml");

    dpkg(&["-i"], Some(deb))?;
    println!("== .deb: installed with dpkg -i");
    let said = stdout_of(Command::new("/usr/bin/tentacle").arg("version"))?;
    if !said.contains(&format!("Tentacle Manager agent {version};")) {
        return Err(format!(
            "/usr/bin/tentacle version printed {:?}, expected it to name Tentacle Manager agent {version}",
            said.trim()
        ));
    }
    stdout_of(
        Command::new("/usr/bin/tentacle")
            .args(["create-instance", "--instance", INSTANCE])
            .env("TENTACLE_CONFIG_ROOT", &root),
    )?;
    if !config.is_file() {
        return Err(format!(
            "tentacle create-instance left no configuration at {}",
            config.display()
        ));
    }
    let before =
        std::fs::read(&config).map_err(|e| format!("cannot read {}: {e}", config.display()))?;

    match namespace_support() {
        Err(why) => {
            println!("== .deb: service checks skipped: {why}; removing without them");
            dpkg(&["-r", PACKAGE], None)?;
            check_removed(&config, &before)?;
        }
        Ok(()) => {
            // A machine booted with systemd: upgrade restarts, removal stops and disables.
            let log = removal_in_namespace(deb, &root, tmp, true)?;
            check_systemctl_log(&log, true)?;
            check_removed(&config, &before)?;
            println!(
                "== .deb: with systemd running, an upgrade restarted the instance's service and removal stopped and disabled it"
            );
            // A container without systemd: removal only disables, and must not fail.
            dpkg(&["-i"], Some(deb))?;
            let log = removal_in_namespace(deb, &root, tmp, false)?;
            check_systemctl_log(&log, false)?;
            check_removed(&config, &before)?;
            println!(
                "== .deb: without systemd, removal disabled the service without trying to stop it"
            );
        }
    }
    dpkg(&["--purge", PACKAGE], None)?;
    check_removed(&config, &before)?;
    println!("== .deb: removed and purged; the instance's configuration is untouched");
    Ok(())
}

/// The binaries are gone and the instance's configuration is byte for byte what it was.
fn check_removed(config: &Path, before: &[u8]) -> Result<(), String> {
    for bin in ["/usr/bin/tentacle", "/usr/bin/tentacle-manager"] {
        if Path::new(bin).exists() {
            return Err(format!("{bin} is still there after dpkg -r"));
        }
    }
    match std::fs::read(config) {
        Ok(now) if now == before => Ok(()),
        Ok(_) => Err(format!("removing the package changed {}", config.display())),
        Err(e) => Err(format!(
            "removing the package removed the instance's configuration {}: {e}",
            config.display()
        )),
    }
}

/// Whether this process may make a mount namespace and mount tmpfs in it (root with
/// CAP_SYS_ADMIN; not in every container), and the real systemctl is there to do the offline
/// enable/disable.
fn namespace_support() -> Result<(), String> {
    if !Path::new("/usr/bin/systemctl").is_file() && !Path::new("/bin/systemctl").is_file() {
        return Err("systemctl is not installed (apt-get install systemd)".to_owned());
    }
    let probe = Command::new("unshare")
        .args(["-m", "sh", "-c", "mount -t tmpfs tmpfs /mnt"])
        .output()
        .map_err(|e| format!("unshare could not be started: {e}"))?;
    if probe.status.success() {
        Ok(())
    } else {
        Err(format!(
            "cannot make a private mount namespace here ({})",
            String::from_utf8_lossy(&probe.stderr).trim()
        ))
    }
}

/// The recording systemctl: logs its arguments, does enable/disable offline, says yes to the rest.
const FAKE_SYSTEMCTL: &str = r#"#!/bin/sh
echo "$*" >> "$SYSTEMCTL_LOG"
case "$1" in
    enable|disable) exec "$REAL_SYSTEMCTL" --root=/ "$@" ;;
esac
exit 0
"#;

/// In the namespace: install the instance's service, reinstall the package (an upgrade), remove
/// it, and check the unit file stayed and its wants/ link went. Returns the systemctl log.
const SCENARIO: &str = r#"set -eu
mount -t tmpfs tmpfs /etc/systemd/system
mount -t tmpfs tmpfs /run
if [ "$BOOTED" = 1 ]; then mkdir -p /run/systemd/system; fi
link=/etc/systemd/system/multi-user.target.wants/$INSTANCE.service
TENTACLE_CONFIG_ROOT="$CONFIG_ROOT" /usr/bin/tentacle service --install --instance "$INSTANCE"
test -L "$link" || { echo "tentacle service --install did not enable the unit" >&2; exit 1; }
grep -q '^ExecStart=/usr/bin/tentacle agent' "/etc/systemd/system/$INSTANCE.service" ||
    { echo "the unit does not run /usr/bin/tentacle" >&2; exit 1; }
echo "== upgrade" >> "$SYSTEMCTL_LOG"
DEBIAN_FRONTEND=noninteractive dpkg -i "$DEB"
echo "== remove" >> "$SYSTEMCTL_LOG"
DEBIAN_FRONTEND=noninteractive dpkg -r tentacle-manager
test -f "/etc/systemd/system/$INSTANCE.service" || { echo "removal deleted the unit file" >&2; exit 1; }
if [ -e "$link" ]; then echo "removal left the unit enabled" >&2; exit 1; fi
"#;

fn removal_in_namespace(
    deb: &Path,
    root: &Path,
    tmp: &Path,
    booted: bool,
) -> Result<String, String> {
    let bin = tmp.join(if booted { "bin-booted" } else { "bin-plain" });
    std::fs::create_dir_all(&bin).map_err(|e| format!("cannot create {}: {e}", bin.display()))?;
    let fake = bin.join("systemctl");
    write_executable(&fake, FAKE_SYSTEMCTL)?;
    let log = tmp.join(if booted {
        "systemctl-booted.log"
    } else {
        "systemctl-plain.log"
    });
    let _ = std::fs::remove_file(&log);
    let real = if Path::new("/usr/bin/systemctl").is_file() {
        "/usr/bin/systemctl"
    } else {
        "/bin/systemctl"
    };
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".to_owned())
    );
    let run = Command::new("unshare")
        .args(["-m", "sh", "-c", SCENARIO])
        .env("PATH", path)
        .env("SYSTEMCTL_LOG", &log)
        .env("REAL_SYSTEMCTL", real)
        .env("BOOTED", if booted { "1" } else { "0" })
        .env("INSTANCE", INSTANCE)
        .env("CONFIG_ROOT", root)
        .env("DEB", deb)
        .output()
        .map_err(|e| format!("unshare could not be started: {e}"))?;
    if !run.status.success() {
        // The scenario's own message comes first on stderr (the script stops at it).
        return Err(format!(
            "service install, upgrade and removal with systemd {}: {}",
            if booted { "running" } else { "not running" },
            crate::package_tests::failure_text(&run)
        ));
    }
    std::fs::read_to_string(&log).map_err(|e| format!("cannot read {}: {e}", log.display()))
}

#[cfg(unix)]
fn write_executable(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o755)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(not(unix))]
fn write_executable(path: &Path, _text: &str) -> Result<(), String> {
    Err(format!(
        "{}: the dpkg test runs on Linux only",
        path.display()
    ))
}

/// What the maintainer scripts asked systemctl, section by section: nothing but a restart on
/// upgrade; on removal a stop (only when systemd runs) and a disable of the instance's unit.
pub fn check_systemctl_log(log: &str, booted: bool) -> Result<(), String> {
    let unit = format!("{INSTANCE}.service");
    let section = |name: &str| -> Vec<&str> {
        log.lines()
            .skip_while(|l| *l != format!("== {name}"))
            .skip(1)
            .take_while(|l| !l.starts_with("== "))
            .collect()
    };
    let upgrade = section("upgrade");
    let remove = section("remove");
    let mut problems = Vec::new();
    let restart = format!("try-restart {unit}");
    if booted && !upgrade.contains(&restart.as_str()) {
        problems.push(format!(
            "the upgrade did not `systemctl {restart}` (it ran {upgrade:?})"
        ));
    }
    if !booted && upgrade.iter().any(|l| l.starts_with("try-restart")) {
        problems.push(format!(
            "the upgrade restarted a service with no systemd running ({upgrade:?})"
        ));
    }
    if upgrade
        .iter()
        .any(|l| l.starts_with("stop") || l.starts_with("disable"))
    {
        problems.push(format!(
            "the upgrade stopped or disabled a service ({upgrade:?})"
        ));
    }
    let stop = format!("stop {unit}");
    let disable = format!("disable {unit}");
    if booted && !remove.contains(&stop.as_str()) {
        problems.push(format!(
            "removal did not `systemctl {stop}` (it ran {remove:?})"
        ));
    }
    if !booted && remove.iter().any(|l| l.starts_with("stop")) {
        problems.push(format!(
            "removal tried to stop a service with no systemd running ({remove:?})"
        ));
    }
    if !remove.contains(&disable.as_str()) {
        problems.push(format!(
            "removal did not `systemctl {disable}` (it ran {remove:?})"
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(".deb services: {}", problems.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemctl_logs_are_judged_per_section() {
        let booted = "daemon-reload\nenable PkgTest.service\n== upgrade\ntry-restart PkgTest.service\n== remove\nstop PkgTest.service\ndisable PkgTest.service\n";
        check_systemctl_log(booted, true).unwrap();
        let plain = "daemon-reload\nenable PkgTest.service\n== upgrade\n== remove\ndisable PkgTest.service\n";
        check_systemctl_log(plain, false).unwrap();

        let e = check_systemctl_log(plain, true).unwrap_err();
        assert!(e.contains("did not `systemctl try-restart"), "{e}");
        assert!(e.contains("did not `systemctl stop"), "{e}");
        let e = check_systemctl_log(booted, false).unwrap_err();
        assert!(e.contains("no systemd running"), "{e}");
        let e = check_systemctl_log(&booted.replace("disable PkgTest.service\n", ""), true)
            .unwrap_err();
        assert!(e.contains("did not `systemctl disable"), "{e}");
        let e = check_systemctl_log(
            &booted.replace("== remove", "stop PkgTest.service\n== remove"),
            true,
        )
        .unwrap_err();
        assert!(e.contains("upgrade stopped"), "{e}");
    }
}
