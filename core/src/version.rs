//! The Tentacle version Octopus Server is shown, beside this build's own version.
//!
//! Octopus Server learns a Tentacle's version from the `TentacleVersion` variable every
//! script sees (the health check prints it) and stores it with the machine; a version older
//! than the Tentacle bundled with the server marks the machine "upgrade suggested" or
//! "upgrade required", and a machine policy that keeps Tentacles up to date then pushes the
//! official Tentacle. Our own version (0.x) would always look ancient, so everywhere a server
//! sees a version we report a Tentacle-compatible one instead, and keep ours for people.

use thiserror::Error;

/// The Tentacle release this build reports unless the instance says otherwise.
///
/// The newest non-prerelease tag of `OctopusDeploy/OctopusTentacle` when this was written
/// (9.2.4285, tagged 2026-08-17; the tags after it are `-main-nightly` builds). A release
/// build may pin another with `TENTACLE_REPORTED_VERSION=9.x.y cargo build`.
pub const DEFAULT_REPORTED_VERSION: &str = match option_env!("TENTACLE_REPORTED_VERSION") {
    Some(v) => v,
    None => "9.2.4285",
};

/// The oldest major version an operator may configure: Tentacle 3.0 is the first Tentacle
/// that speaks Halibut, the protocol this agent implements.
pub const MIN_REPORTED_MAJOR: u64 = 3;

/// A configured reported version that cannot be used.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum VersionError {
    /// Not `MAJOR.MINOR.PATCH` with an optional `-prerelease`.
    #[error(
        "'{0}' is not a Tentacle version: use MAJOR.MINOR.PATCH such as {DEFAULT_REPORTED_VERSION} (optionally with a -prerelease tag)"
    )]
    Syntax(String),
    /// Older than any Tentacle that speaks Halibut.
    #[error(
        "'{0}' is older than Tentacle {MIN_REPORTED_MAJOR}.0, the first that speaks the protocol this agent implements; use a current Tentacle version such as {DEFAULT_REPORTED_VERSION}"
    )]
    TooOld(String),
}

/// Checks an operator's reported version and returns it trimmed.
pub fn validate(text: &str) -> Result<String, VersionError> {
    let v = text.trim();
    let (core, pre) = match v.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (v, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    let numeric = |s: &&str| !s.is_empty() && s.len() <= 9 && s.bytes().all(|b| b.is_ascii_digit());
    let pre_ok = pre.is_none_or(|p| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    });
    if !(3..=4).contains(&parts.len()) || !parts.iter().all(numeric) || !pre_ok {
        return Err(VersionError::Syntax(v.to_owned()));
    }
    let major: u64 = parts[0]
        .parse()
        .map_err(|_| VersionError::Syntax(v.to_owned()))?;
    if major < MIN_REPORTED_MAJOR {
        return Err(VersionError::TooOld(v.to_owned()));
    }
    Ok(v.to_owned())
}

/// The version to report for an instance: its configured one when valid, else the default.
/// An invalid configured value (edited by hand) falls back rather than stopping the agent;
/// `tentacle check` names it.
pub fn reported(configured: Option<&str>) -> String {
    configured
        .and_then(|v| validate(v).ok())
        .unwrap_or_else(|| DEFAULT_REPORTED_VERSION.to_owned())
}

/// The major version of a version string, when it has one.
pub fn major(version: &str) -> Option<u64> {
    version.split(['.', '-']).next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_a_current_tentacle() {
        assert!(major(DEFAULT_REPORTED_VERSION).is_some_and(|m| m >= 8));
        assert_eq!(
            validate(DEFAULT_REPORTED_VERSION).as_deref(),
            Ok(DEFAULT_REPORTED_VERSION)
        );
    }

    #[test]
    fn operator_versions_are_checked() {
        assert_eq!(validate(" 8.3.3407 ").as_deref(), Ok("8.3.3407"));
        assert_eq!(
            validate("9.2.4304-main-nightly").as_deref(),
            Ok("9.2.4304-main-nightly")
        );
        assert_eq!(validate("6.3.417.0").as_deref(), Ok("6.3.417.0"));
        for bad in [
            "",
            "9",
            "9.2",
            "9.x.1",
            "latest",
            "9.2.1-",
            "9.2.1 beta",
            "1.2.3.4.5",
        ] {
            assert!(
                matches!(validate(bad), Err(VersionError::Syntax(_))),
                "{bad}"
            );
        }
        assert!(matches!(validate("2.6.0"), Err(VersionError::TooOld(_))));
        assert!(
            validate("0.1.0")
                .unwrap_err()
                .to_string()
                .contains("Tentacle 3.0")
        );
    }

    #[test]
    fn reported_falls_back_on_bad_configuration() {
        assert_eq!(reported(None), DEFAULT_REPORTED_VERSION);
        assert_eq!(reported(Some("8.1.1518")), "8.1.1518");
        assert_eq!(reported(Some("0.1.0")), DEFAULT_REPORTED_VERSION);
    }
}
