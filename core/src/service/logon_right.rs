//! The Windows "Log on as a service" right (`SeServiceLogonRight`) for a `--username` account.
//!
//! The SCM accepts any account with a valid password, but the service then fails to start with
//! error 1069 unless the account holds this right (services.msc grants it silently; the API does
//! not). We grant it the way an administrator's script would, with the `secedit` tool that ships
//! with every Windows: export the user-rights policy, add the account, import the result. The
//! policy text editing is plain string work, kept here apart from the tool so it is tested on
//! every platform.

/// The privilege constant in a security template.
pub const PRIVILEGE: &str = "SeServiceLogonRight";

/// The account as the SCM wants it: `DOMAIN\user`, `user@domain`, or `.\user` for a local one.
pub fn scm_account_name(username: &str) -> String {
    let trimmed = username.trim();
    if trimmed.contains('\\') || trimmed.contains('@') {
        trimmed.to_owned()
    } else {
        format!(".\\{trimmed}")
    }
}

/// The account as a security template names it: `.\user` becomes `user` (secedit resolves
/// unqualified names against the local machine first).
pub fn template_account_name(username: &str) -> String {
    let account = scm_account_name(username);
    account
        .strip_prefix(".\\")
        .map(str::to_owned)
        .unwrap_or(account)
}

/// True when the account is one of the built-in service accounts, which hold the right already.
pub fn is_builtin_service_account(username: &str) -> bool {
    let lower = username.trim().to_ascii_lowercase();
    let bare = lower.rsplit('\\').next().unwrap_or(&lower);
    matches!(
        bare,
        "localsystem"
            | "system"
            | "localservice"
            | "local service"
            | "networkservice"
            | "network service"
    ) || lower.starts_with("nt service\\")
        || lower.ends_with('$')
}

/// Given an exported security template, the template to import so that `account` holds the
/// right; `None` when it holds it already. The result carries only the privilege section, so
/// importing it changes nothing else.
pub fn grant_template(exported: &str, account: &str) -> Option<String> {
    let holders = current_holders(exported);
    if holders.iter().any(|h| same_account(h, account)) {
        return None;
    }
    let mut all = holders;
    all.push(account.to_owned());
    Some(format!(
        "[Unicode]\r\nUnicode=yes\r\n[Version]\r\nsignature=\"$CHICAGO$\"\r\nRevision=1\r\n[Privilege Rights]\r\n{PRIVILEGE} = {}\r\n",
        all.join(",")
    ))
}

/// The accounts (names or `*SID`s) listed for the privilege in `[Privilege Rights]`.
fn current_holders(exported: &str) -> Vec<String> {
    let mut in_rights = false;
    for line in exported.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_rights = line.eq_ignore_ascii_case("[Privilege Rights]");
            continue;
        }
        if !in_rights {
            continue;
        }
        if let Some((key, value)) = line.split_once('=')
            && key.trim().eq_ignore_ascii_case(PRIVILEGE)
        {
            return value
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .collect();
        }
    }
    Vec::new()
}

/// Names compare without case and without a `.\` qualifier. `HOST\user` and `user` are not
/// taken as the same account (the bare name may be a domain account); listing an account twice
/// is harmless, missing it is not.
fn same_account(listed: &str, account: &str) -> bool {
    let unqualified = |s: &str| s.trim().trim_start_matches(".\\").to_ascii_lowercase();
    unqualified(listed) == unqualified(account)
}

/// A security template as secedit writes and reads it: UTF-16 little-endian with a BOM.
pub fn encode_template(text: &str) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xFE];
    for unit in text.encode_utf16() {
        bytes.extend_from_slice(&unit.to_le_bytes());
    }
    bytes
}

/// Reads a template secedit exported (UTF-16 LE with a BOM; plain UTF-8 accepted too).
pub fn decode_template(bytes: &[u8]) -> String {
    match bytes {
        [0xFF, 0xFE, rest @ ..] => {
            let units: Vec<u16> = rest
                .chunks_exact(2)
                .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Grants the right with `secedit`; a failure names the manual fix.
#[cfg(windows)]
pub fn grant(username: &str) -> Result<bool, super::ServiceError> {
    use std::ffi::OsString;

    if is_builtin_service_account(username) {
        return Ok(false);
    }
    let account = template_account_name(username);
    let manual = || {
        format!(
            "; grant it by hand: secpol.msc > Local Policies > User Rights Assignment > Log on as a service > add {account}"
        )
    };
    let dir = tempfile::tempdir().map_err(|e| {
        super::ServiceError::Invalid(format!(
            "Could not create a temporary folder for secedit: {e}{}",
            manual()
        ))
    })?;
    let exported = dir.path().join("rights.inf");
    super::run_command(
        "secedit",
        &[
            OsString::from("/export"),
            OsString::from("/cfg"),
            exported.clone().into_os_string(),
            OsString::from("/areas"),
            OsString::from("USER_RIGHTS"),
            OsString::from("/quiet"),
        ],
        &manual,
    )?;
    let bytes = std::fs::read(&exported).map_err(|e| {
        super::ServiceError::Invalid(format!(
            "secedit exported no user-rights policy ({e}){}",
            manual()
        ))
    })?;
    let Some(template) = grant_template(&decode_template(&bytes), &account) else {
        return Ok(false);
    };
    let import = dir.path().join("grant.inf");
    crate::instance::atomic::write_atomic(
        &import,
        &encode_template(&template),
        crate::instance::atomic::FileMode::OwnerOnly,
    )
    .map_err(|e| {
        super::ServiceError::Invalid(format!(
            "Could not write {}: {e}{}",
            import.display(),
            manual()
        ))
    })?;
    super::run_command(
        "secedit",
        &[
            OsString::from("/configure"),
            OsString::from("/db"),
            dir.path().join("grant.sdb").into_os_string(),
            OsString::from("/cfg"),
            import.into_os_string(),
            OsString::from("/areas"),
            OsString::from("USER_RIGHTS"),
            OsString::from("/quiet"),
        ],
        &manual,
    )?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPORTED: &str = "[Unicode]\r\nUnicode=yes\r\n[System Access]\r\nSeServiceLogonRight = nope\r\n[Privilege Rights]\r\nSeNetworkLogonRight = *S-1-1-0,*S-1-5-32-544\r\nSeServiceLogonRight = *S-1-5-80-0,builder\r\n[Version]\r\nsignature=\"$CHICAGO$\"\r\n";

    #[test]
    fn local_accounts_get_a_dot_qualifier_for_the_scm() {
        assert_eq!(scm_account_name("deploy"), ".\\deploy");
        assert_eq!(scm_account_name("CORP\\deploy"), "CORP\\deploy");
        assert_eq!(
            scm_account_name("deploy@corp.example"),
            "deploy@corp.example"
        );
        assert_eq!(template_account_name(".\\deploy"), "deploy");
        assert_eq!(template_account_name("CORP\\deploy"), "CORP\\deploy");
    }

    #[test]
    fn granting_adds_the_account_and_keeps_the_others() {
        let template = grant_template(EXPORTED, "deploy").expect("not held yet");
        assert!(template.contains("SeServiceLogonRight = *S-1-5-80-0,builder,deploy\r\n"));
        assert!(template.contains("[Privilege Rights]"));
        // Only the one privilege is imported: nothing else in the policy changes.
        assert!(!template.contains("SeNetworkLogonRight"));
    }

    #[test]
    fn an_account_that_holds_the_right_is_left_alone() {
        assert_eq!(grant_template(EXPORTED, "Builder"), None);
        assert_eq!(grant_template(EXPORTED, ".\\builder"), None);
        assert!(grant_template(EXPORTED, "HOST\\builder").is_some());
    }

    #[test]
    fn a_policy_without_the_right_gets_a_new_line() {
        let template = grant_template("[Privilege Rights]\r\n", "CORP\\svc").expect("added");
        assert!(template.contains("SeServiceLogonRight = CORP\\svc\r\n"));
    }

    #[test]
    fn templates_round_trip_as_utf16_with_a_bom() {
        let bytes = encode_template("[Unicode]\r\nÜ");
        assert_eq!(&bytes[..2], &[0xFF, 0xFE]);
        assert_eq!(decode_template(&bytes), "[Unicode]\r\nÜ");
        assert_eq!(decode_template(b"plain"), "plain");
    }

    #[test]
    fn builtin_service_accounts_need_no_grant() {
        for account in [
            "LocalSystem",
            "NT AUTHORITY\\NetworkService",
            "NT SERVICE\\Tentacle",
            "CORP\\gmsa$",
        ] {
            assert!(is_builtin_service_account(account), "{account}");
        }
        assert!(!is_builtin_service_account("deploy"));
    }
}
