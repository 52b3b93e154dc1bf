//! Option values as Tentacle accepts them: ports, booleans, counts, IP addresses; errors that say what is allowed.

use std::net::IpAddr;

use super::CliError;

/// A TCP port from 1 to 65535.
pub fn port(option: &str, value: &str) -> Result<u16, CliError> {
    match value.trim().parse::<u32>() {
        Ok(n) if (1..=65535).contains(&n) => Ok(n as u16),
        Ok(n) => Err(CliError::Invalid(format!(
            "{option} {n} is out of range: a port is a number from 1 to 65535"
        ))),
        Err(_) => Err(CliError::Invalid(format!(
            "{option} '{value}' is not a port number: use a number from 1 to 65535"
        ))),
    }
}

/// true/false in any case (Tentacle scripts write "True"), also yes/no and 1/0.
pub fn boolean(option: &str, value: &str) -> Result<bool, CliError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Ok(true),
        "false" | "no" | "0" => Ok(false),
        _ => Err(CliError::Invalid(format!(
            "{option} '{value}' is not true or false"
        ))),
    }
}

/// A polling connection count: 1 to 512, as Tentacle clamps it.
pub fn connection_count(value: &str) -> Result<u32, CliError> {
    match value.trim().parse::<i64>() {
        Ok(n) if (1..=512).contains(&n) => Ok(n as u32),
        _ => Err(CliError::Invalid(format!(
            "--pollingConnectionCount '{value}' is not valid: use a whole number from 1 to 512"
        ))),
    }
}

/// An IP address to listen on; `any` (or empty) means every address.
pub fn listen_ip(value: &str) -> Result<Option<String>, CliError> {
    let v = value.trim();
    if v.is_empty() || v.eq_ignore_ascii_case("any") {
        return Ok(None);
    }
    let ip: IpAddr = v.trim_matches(['[', ']']).parse().map_err(|_| {
        CliError::Invalid(format!(
            "--listenIpAddress '{value}' is not an IP address: use an IPv4 or IPv6 address such as 0.0.0.0 or ::, or 'any'"
        ))
    })?;
    Ok(Some(ip.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports() {
        assert_eq!(port("--port", "10933").unwrap(), 10933);
        for bad in ["0", "70000", "-1", "abc", ""] {
            let e = port("--port", bad).unwrap_err().to_string();
            assert!(e.contains("1 to 65535"), "{e}");
        }
    }

    #[test]
    fn booleans_and_counts() {
        assert!(boolean("--noListen", "True").unwrap());
        assert!(!boolean("--noListen", "FALSE").unwrap());
        assert!(boolean("--noListen", "maybe").is_err());
        assert_eq!(connection_count("5").unwrap(), 5);
        assert!(connection_count("0").is_err());
        assert!(connection_count("513").is_err());
    }

    #[test]
    fn listen_addresses() {
        assert_eq!(listen_ip("any").unwrap(), None);
        assert_eq!(
            listen_ip("127.0.0.1").unwrap().as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(listen_ip("[::1]").unwrap().as_deref(), Some("::1"));
        assert!(listen_ip("localhost").is_err());
    }
}
