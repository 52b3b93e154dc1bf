//! The account the agent of an instance runs as (Unix): the `User=` of its installed systemd unit, else the account running the check; names and ids from /etc/passwd.

use super::plan::CheckPlan;

/// A local account: name, user id, primary group id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// Each /etc/passwd entry as (name, uid, gid).
fn passwd() -> Vec<(String, u32, u32)> {
    let text = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let mut cols = line.split(':');
            let name = cols.next()?;
            let uid = cols.nth(1)?.parse::<u32>().ok()?;
            let gid = cols.next()?.parse::<u32>().ok()?;
            Some((name.to_owned(), uid, gid))
        })
        .collect()
}

/// The account with this user id (the name is "uid N" when /etc/passwd has none).
pub(crate) fn by_uid(uid: u32) -> Account {
    passwd()
        .into_iter()
        .find(|(_, u, _)| *u == uid)
        .map(|(name, uid, gid)| Account { name, uid, gid })
        .unwrap_or_else(|| Account {
            name: format!("uid {uid}"),
            uid,
            gid: rustix::process::getegid().as_raw(),
        })
}

/// The account named `name`, if it exists.
pub(crate) fn by_name(name: &str) -> Option<Account> {
    passwd()
        .into_iter()
        .find(|(n, _, _)| n == name)
        .map(|(name, uid, gid)| Account { name, uid, gid })
}

/// `User=` of a unit file's text (systemd doubles `%` in it).
pub(crate) fn unit_user(unit: &str) -> Option<String> {
    unit.lines()
        .find_map(|l| l.trim().strip_prefix("User="))
        .map(|u| u.trim().replace("%%", "%"))
        .filter(|u| !u.is_empty())
}

/// The account the instance's service runs as: its systemd unit's `User=` when the unit is
/// installed and names one that exists, else the account running this check (the account a
/// unit without `User=` runs as when this account installs it).
pub(crate) fn service_account(plan: &CheckPlan) -> Account {
    let me = by_uid(rustix::process::geteuid().as_raw());
    #[cfg(target_os = "linux")]
    {
        let name = crate::fix::offer::selector(plan).service_name();
        let user = crate::service::systemd::Systemd::detect()
            .ok()
            .and_then(|s| {
                std::fs::read_to_string(s.unit_dir.join(crate::service::systemd::unit_name(&name)))
                    .ok()
            })
            .and_then(|text| unit_user(&text));
        if let Some(account) = user.as_deref().and_then(by_name) {
            return account;
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = plan;
    me
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_user_reads_the_user_line() {
        assert_eq!(
            unit_user("[Service]\nUser=tent%%acle\nExecStart=/x\n").as_deref(),
            Some("tent%acle")
        );
        assert_eq!(unit_user("[Service]\nExecStart=/x\n"), None);
        assert_eq!(by_name("root").map(|a| a.uid), Some(0));
        assert_eq!(by_uid(0).name, "root");
    }
}
