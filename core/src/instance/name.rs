//! Instance names: the default, validation with an error that names the bad character, and the case-folded key.

use super::InstanceError;

/// The instance every command uses when `--instance` is not given, as in Tentacle.
pub const DEFAULT_INSTANCE: &str = "Tentacle";

const MAX_LEN: usize = 64;

/// Checks an instance name and returns it trimmed. Names become folder, file and
/// service names on every platform, so only characters that are safe everywhere pass.
pub fn validate(name: &str) -> Result<String, InstanceError> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(InstanceError::InvalidName {
            name: name.to_owned(),
            reason: "it is empty".to_owned(),
        });
    }
    if trimmed.chars().count() > MAX_LEN {
        return Err(InstanceError::InvalidName {
            name: name.to_owned(),
            reason: format!("it is longer than {MAX_LEN} characters"),
        });
    }
    if let Some(bad) = trimmed
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.')))
    {
        let shown = if bad.is_control() {
            format!("the control character U+{:04X}", bad as u32)
        } else {
            format!("'{bad}'")
        };
        return Err(InstanceError::InvalidName {
            name: name.to_owned(),
            reason: format!("it contains {shown}; use letters, digits, spaces, '-', '_' or '.'"),
        });
    }
    if trimmed.starts_with('.') || trimmed.ends_with('.') {
        return Err(InstanceError::InvalidName {
            name: name.to_owned(),
            reason: "it starts or ends with '.'".to_owned(),
        });
    }
    Ok(trimmed.to_owned())
}

/// The key under which the index stores a name: names are unique case-insensitively.
pub fn index_key(name: &str) -> String {
    name.to_lowercase()
}

/// How the manager and the service name an instance: "(Default)" for the default one.
pub fn display_name(name: &str) -> &str {
    if name.eq_ignore_ascii_case(DEFAULT_INSTANCE) {
        "(Default)"
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for ok in ["Tentacle", "Web 01", "prod-east_2", "Ünïcode"] {
            assert_eq!(validate(ok).unwrap(), ok);
        }
        assert_eq!(validate("  Spaced  ").unwrap(), "Spaced");
    }

    #[test]
    fn names_the_bad_character() {
        let err = validate("web/01").unwrap_err().to_string();
        assert!(err.contains("'/'"), "{err}");
        let err = validate("a$b").unwrap_err().to_string();
        assert!(err.contains("'$'"), "{err}");
        let err = validate("tab\there").unwrap_err().to_string();
        assert!(err.contains("U+0009"), "{err}");
        assert!(validate("").is_err());
        assert!(validate("..").is_err());
        assert!(validate(&"x".repeat(65)).is_err());
    }

    #[test]
    fn default_instance_displays_as_default() {
        assert_eq!(display_name("tentacle"), "(Default)");
        assert_eq!(display_name("Web"), "Web");
    }
}
