//! Checks of this machine: the home folder's owner and permissions for the service account, free disk space, and the clock against a time the server told us.

use std::path::Path;
use std::time::Instant;

use super::Outcome;
use super::plan::{CheckPlan, Sink, TimeEvidence};

/// Below this much free space, scripts and package uploads fail.
#[cfg(unix)]
const FAIL_BELOW: u64 = 100 * 1024 * 1024;
/// Below this, warn: one large package can fill it.
#[cfg(unix)]
const WARN_BELOW: u64 = 1024 * 1024 * 1024;
/// Clock differences up to this are normal (network delay, HTTP dates have 1 s resolution).
const CLOCK_OK_SECS: i64 = 120;
/// Beyond this the clock is badly wrong.
const CLOCK_FAIL_SECS: i64 = 3600;

pub(crate) fn run_home_and_disk(plan: &CheckPlan, sink: &Sink) {
    for step in &plan.host {
        let started = Instant::now();
        let outcome = match step.id.as_str() {
            "host.home" => home(plan),
            "host.disk" => disk(&plan.home),
            "config.certificate" => super::own_certificate::check(plan),
            "host.upgrades" => super::upgrades::check(plan),
            "host.prerequisites" => super::prerequisites::check(),
            _ => continue,
        };
        sink.put(step, outcome, started);
    }
}

/// The nearest folder of `path` that exists (itself when it does).
#[cfg(unix)]
fn existing_ancestor(path: &Path) -> Option<std::path::PathBuf> {
    path.ancestors().find(|p| p.exists()).map(Path::to_path_buf)
}

/// Bytes as "1.5 GiB".
#[cfg(unix)]
pub(crate) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(unix)]
fn disk(home: &Path) -> Outcome {
    let Some(dir) = existing_ancestor(home) else {
        return Outcome::skipped(format!(
            "Neither the home folder nor any folder above it exists: {}",
            home.display()
        ));
    };
    let stats = match rustix::fs::statvfs(&dir) {
        Ok(s) => s,
        Err(e) => {
            return Outcome::skipped(format!(
                "The free space of {} could not be read: {e}",
                dir.display()
            ));
        }
    };
    let free = stats.f_bavail.saturating_mul(stats.f_frsize);
    let total = stats.f_blocks.saturating_mul(stats.f_frsize);
    let seen = format!(
        "{} free of {} on the file system of {}",
        human_bytes(free),
        human_bytes(total),
        dir.display()
    );
    let fix = "Free space on that disk (old packages under the Tentacle's Files and Work folders can go), or move the home folder: tentacle configure --home PATH";
    if free < FAIL_BELOW {
        Outcome::fail(
            seen,
            "Scripts, logs and package uploads need space; with so little, deployments to this Tentacle fail",
            fix,
        )
    } else if free < WARN_BELOW {
        Outcome::warn(
            seen,
            "Less than 1 GiB free: one large package upload can fill the disk",
            fix,
        )
    } else {
        Outcome::pass(seen)
    }
}

#[cfg(not(unix))]
fn disk(home: &Path) -> Outcome {
    Outcome::skipped(format!(
        "Free space is not measured on this operating system; check the drive of {} in Explorer",
        home.display()
    ))
}

/// `chown -R` to the service account, offered when this process may do it (root) and the
/// folder's current owner is known (for the undo).
#[cfg(unix)]
fn chown_fix(
    home: &Path,
    service: &super::account::Account,
    meta: &std::fs::Metadata,
) -> Vec<crate::fix::FixAction> {
    use std::os::unix::fs::MetadataExt;
    if !rustix::process::geteuid().is_root() {
        return Vec::new();
    }
    let owner = super::account::by_uid(meta.uid());
    vec![crate::fix::FixAction::ChownHome {
        home: home.to_path_buf(),
        account: service.name.clone(),
        uid: service.uid,
        gid: service.gid,
        previous: Some((owner.name, meta.uid(), meta.gid())),
    }]
}

/// The name of `uid` from /etc/passwd.
#[cfg(unix)]
fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut cols = line.split(':');
        let name = cols.next()?;
        let id = cols.nth(1)?.parse::<u32>().ok()?;
        (id == uid).then(|| name.to_owned())
    })
}

#[cfg(unix)]
fn home(plan: &CheckPlan) -> Outcome {
    use std::os::unix::fs::MetadataExt;
    let home = &plan.home;
    let service = super::account::service_account(plan);
    let (uid, account) = (service.uid, service.name.clone());
    let meta = match std::fs::metadata(home) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let parent = existing_ancestor(home);
            let creatable = parent
                .as_deref()
                .is_some_and(|p| rustix::fs::access(p, rustix::fs::Access::WRITE_OK).is_ok());
            return if creatable {
                Outcome::warn(
                    format!("{} does not exist yet", home.display()),
                    "The agent creates it on its first start",
                    "Nothing to do unless the agent fails to start; then create it and give it to the service account",
                )
            } else {
                Outcome::fail(
                    format!(
                        "{} does not exist, and {account} cannot create it in {}",
                        home.display(),
                        parent.as_deref().unwrap_or(Path::new("/")).display()
                    ),
                    "The agent cannot create its home folder, so it cannot start",
                    format!(
                        "Create it and give it to the service account: mkdir -p {0} && chown {account} {0}",
                        home.display()
                    ),
                )
            };
        }
        Err(e) => {
            return Outcome::fail(
                format!("{} cannot be examined: {e}", home.display()),
                "The service account cannot reach its home folder",
                "Check the permissions of the folders above it",
            );
        }
    };
    if !meta.is_dir() {
        return Outcome::fail(
            format!("{} is a file, not a folder", home.display()),
            "The agent keeps logs, scripts and status in its home folder",
            "Move the file away, or choose another home: tentacle configure --home PATH",
        );
    }
    let owner = meta.uid();
    let owner_name = user_name(owner).unwrap_or_else(|| format!("uid {owner}"));
    let writable = rustix::fs::access(home, rustix::fs::Access::WRITE_OK).is_ok();
    let mode = meta.mode() & 0o7777;
    let unwritable = unwritable_entries(home, uid);
    let seen = format!(
        "{} is owned by {owner_name}, mode {mode:04o}; the service account is {account}",
        home.display()
    );
    let chown = format!("chown -R {account} {}", home.display());
    if !writable || (owner != uid && uid != 0) {
        return Outcome::fail(
            seen,
            format!(
                "The service account {account} does not own the home folder and cannot write to it, so logs, scripts and status cannot be written"
            ),
            format!("Give the folder to the service account: {chown}"),
        )
        .offering(chown_fix(home, &service, &meta));
    }
    if !unwritable.is_empty() {
        return Outcome::fail(
            format!(
                "{seen}; not writable by {account}: {}",
                unwritable.join(", ")
            ),
            "Files inside the home folder belong to another account (an agent once ran as a different user)",
            format!("Apply ownership recursively: {chown}"),
        )
        .offering(chown_fix(home, &service, &meta));
    }
    if mode & 0o002 != 0 {
        return Outcome::warn(
            seen,
            "The home folder is world-writable: any local user can change the scripts and files Octopus runs",
            format!("Restrict it: chmod o-w {}", home.display()),
        )
        .offering(vec![crate::fix::FixAction::ChmodHome {
            home: home.clone(),
            from: mode,
            to: mode & !0o002,
        }]);
    }
    Outcome::pass(seen)
}

/// Entries directly in `home` that `uid` may not write (root may write anything).
#[cfg(unix)]
fn unwritable_entries(home: &Path, uid: u32) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    if uid == 0 {
        return Vec::new();
    }
    let Ok(entries) = std::fs::read_dir(home) else {
        return Vec::new();
    };
    entries
        .flatten()
        .take(500)
        .filter(|e| {
            e.metadata().is_ok_and(|m| m.uid() != uid)
                && rustix::fs::access(e.path(), rustix::fs::Access::WRITE_OK).is_err()
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .take(5)
        .collect()
}

#[cfg(not(unix))]
fn home(plan: &CheckPlan) -> Outcome {
    let home = &plan.home;
    if !home.is_dir() {
        return Outcome::warn(
            format!("{} does not exist yet", home.display()),
            "The agent creates it on its first start",
            "Nothing to do unless the agent fails to start",
        );
    }
    match tempfile::NamedTempFile::new_in(home) {
        Ok(_) => Outcome::pass(format!(
            "{} is writable by this account (ownership is not examined on this operating system; the service account needs Full control)",
            home.display()
        )),
        Err(e) => Outcome::fail(
            format!("{} is not writable by this account: {e}", home.display()),
            "The account the Tentacle runs as needs full control of its home folder",
            "Grant the service account Full control of the folder, applied recursively",
        ),
    }
}

/// "2026-11-30 11:34:44 UTC" for Unix seconds.
pub(crate) fn utc(secs: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(secs) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => format!("{secs} s after 1970"),
    }
}

/// Our clock against the best reference the server checks found.
pub(crate) fn clock(evidence: &TimeEvidence) -> Outcome {
    let now = crate::status::now_secs() as i64;
    let fix = "Turn on time synchronisation (timedatectl set-ntp true, or point chrony/ntpd at your network's time server); on Windows: w32tm /resync";
    if let Some((source, peer, ours)) = evidence.http_dates.first() {
        let skew = ours - peer;
        let seen = format!(
            "This machine said {} when {source} said {} (difference {skew:+} s)",
            utc(*ours),
            utc(*peer)
        );
        return if skew.abs() <= CLOCK_OK_SECS {
            Outcome::pass(seen)
        } else if skew.abs() <= CLOCK_FAIL_SECS {
            Outcome::warn(
                seen,
                "The clock is off by minutes: logs no longer line up with the server's, and HTTPS to the Octopus portal can fail",
                fix,
            )
        } else {
            Outcome::fail(
                seen,
                "The clock is badly wrong: certificates look not yet valid or expired to HTTPS clients, and task logs carry wrong times",
                fix,
            )
        };
    }
    if let Some((source, not_before, _)) = evidence.validity.iter().find(|(_, nb, _)| now < *nb) {
        return Outcome::fail(
            format!(
                "This machine says {}, before the certificate of {source} was issued ({})",
                utc(now),
                utc(*not_before)
            ),
            "The clock is behind",
            fix,
        );
    }
    match evidence.validity.first() {
        Some((source, nb, na)) => Outcome::skipped(format!(
            "No server sent the time; the clock ({}) is within the validity of the certificate of {source} ({} to {}), which only bounds it",
            utc(now),
            utc(*nb),
            utc(*na)
        )),
        None => Outcome::skipped(format!(
            "No time reference without internet access: no server answered with a Date header or a certificate; the clock says {}",
            utc(now)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn bytes_read_like_people_write_them() {
        assert_eq!(human_bytes(512), "512 bytes");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024 / 2), "1.5 GiB");
    }

    #[test]
    fn clock_compares_with_http_date_and_bounds_with_certificates() {
        let now = crate::status::now_secs() as i64;
        let mut e = TimeEvidence::default();
        assert_eq!(clock(&e).verdict, super::super::Verdict::Skipped);
        e.validity
            .push(("s".into(), now + 86_400, now + 10 * 86_400));
        let behind = clock(&e);
        assert_eq!(behind.verdict, super::super::Verdict::Fail);
        assert!(behind.seen.contains("before the certificate"), "{behind:?}");
        e.http_dates.push(("https://x/".into(), now - 30, now));
        assert_eq!(clock(&e).verdict, super::super::Verdict::Pass);
        e.http_dates[0] = ("https://x/".into(), now - 600, now);
        assert_eq!(clock(&e).verdict, super::super::Verdict::Warn);
        e.http_dates[0] = ("https://x/".into(), now - 7200, now);
        let bad = clock(&e);
        assert_eq!(bad.verdict, super::super::Verdict::Fail);
        assert!(bad.seen.contains("+7200 s"), "{bad:?}");
    }

    #[cfg(unix)]
    #[test]
    fn world_writable_home_is_a_warning() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("t.toml");
        let c = crate::instance::TentacleConfig::new("T", dir.path().join("home"));
        std::fs::create_dir(dir.path().join("home")).unwrap();
        let plan = CheckPlan::from_config("T", &config, c);
        assert_eq!(home(&plan).verdict, super::super::Verdict::Pass);
        std::fs::set_permissions(
            dir.path().join("home"),
            std::fs::Permissions::from_mode(0o777),
        )
        .unwrap();
        let w = home(&plan);
        assert_eq!(w.verdict, super::super::Verdict::Warn);
        assert!(w.fix.unwrap().contains("chmod o-w"));
    }
}
