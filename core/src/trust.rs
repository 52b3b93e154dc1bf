//! Trusted Octopus Servers: thumbprints (normalised and validated), communication styles, addresses and polling subscription ids.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a thumbprint, style or address was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TrustError {
    /// An Octopus API key was pasted where a thumbprint belongs.
    #[error(
        "This is an API key, not an Octopus Server certificate thumbprint. Copy the thumbprint from Configuration > Thumbprints in the Octopus Web Portal"
    )]
    ApiKeyNotThumbprint,
    /// Empty input.
    #[error(
        "No thumbprint was given. Copy the Octopus Server thumbprint (40 hexadecimal characters) from Configuration > Thumbprints in the Octopus Web Portal"
    )]
    EmptyThumbprint,
    /// A character outside 0-9 and A-F.
    #[error(
        "The thumbprint contains '{character}', which is not a hexadecimal digit; a thumbprint is 40 characters 0-9 and A-F: {input}"
    )]
    NotHex {
        /// The first offending character.
        character: char,
        /// What the user typed.
        input: String,
    },
    /// Hex, but the wrong length.
    #[error(
        "The thumbprint has {length} hexadecimal characters; a SHA-1 thumbprint has exactly 40. Check it was copied whole: {input}"
    )]
    WrongLength {
        /// How many characters remained after normalising.
        length: usize,
        /// What the user typed.
        input: String,
    },
    /// Neither TentacleActive nor TentaclePassive.
    #[error(
        "Unknown communication style '{0}'; use TentaclePassive (listening) or TentacleActive (polling)"
    )]
    UnknownStyle(String),
    /// A polling address that cannot be used.
    #[error("{problem}: {address}")]
    BadAddress {
        /// What is wrong and how to fix it.
        problem: String,
        /// The address as given.
        address: String,
    },
}

/// A certificate thumbprint: 40 uppercase hexadecimal characters (SHA-1 of the DER certificate).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Thumbprint(String);

impl Thumbprint {
    /// Normalises user input (spaces, tabs and colons removed, upper-cased) and validates it.
    pub fn parse(input: &str) -> Result<Thumbprint, TrustError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(TrustError::EmptyThumbprint);
        }
        // `get`, not `[..4]`: pasted text may put a multi-byte character across byte 4.
        if trimmed
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("API-"))
        {
            return Err(TrustError::ApiKeyNotThumbprint);
        }
        let cleaned: String = trimmed
            .chars()
            .filter(|c| !c.is_whitespace() && *c != ':')
            .collect::<String>()
            .to_ascii_uppercase();
        if let Some(character) = cleaned.chars().find(|c| !c.is_ascii_hexdigit()) {
            return Err(TrustError::NotHex {
                character,
                input: trimmed.to_owned(),
            });
        }
        if cleaned.len() != 40 {
            return Err(TrustError::WrongLength {
                length: cleaned.len(),
                input: trimmed.to_owned(),
            });
        }
        Ok(Thumbprint(cleaned))
    }

    /// The thumbprint of a DER certificate.
    pub fn of_der(der: &[u8]) -> Thumbprint {
        use sha1::{Digest, Sha1};
        Thumbprint(hex::encode_upper(Sha1::digest(der)))
    }

    /// The 40 uppercase characters.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Thumbprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Thumbprint {
    type Error = TrustError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Thumbprint::parse(&value)
    }
}

impl From<Thumbprint> for String {
    fn from(value: Thumbprint) -> Self {
        value.0
    }
}

/// Who opens the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CommunicationStyle {
    /// TentaclePassive: the server connects to this Tentacle's port.
    Listening,
    /// TentacleActive: this Tentacle connects out to the server and asks for work.
    Polling,
}

impl CommunicationStyle {
    /// Accepts Tentacle's names (`TentaclePassive`, `TentacleActive`), their numbers (1, 2) and plain words.
    pub fn parse(input: &str) -> Result<CommunicationStyle, TrustError> {
        match input.trim().to_ascii_lowercase().as_str() {
            "tentaclepassive" | "passive" | "listening" | "1" => Ok(CommunicationStyle::Listening),
            "tentacleactive" | "active" | "polling" | "2" => Ok(CommunicationStyle::Polling),
            _ => Err(TrustError::UnknownStyle(input.to_owned())),
        }
    }

    /// Tentacle's name for the style.
    pub fn tentacle_name(self) -> &'static str {
        match self {
            CommunicationStyle::Listening => "TentaclePassive",
            CommunicationStyle::Polling => "TentacleActive",
        }
    }

    /// The number Tentacle writes in `TrustedOctopusServers`.
    pub fn tentacle_number(self) -> u8 {
        match self {
            CommunicationStyle::Listening => 1,
            CommunicationStyle::Polling => 2,
        }
    }
}

/// One Octopus Server this Tentacle trusts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustedServer {
    /// The server's certificate thumbprint (for WebSockets: the SSL certificate's).
    pub thumbprint: Thumbprint,
    /// Listening or polling.
    pub style: CommunicationStyle,
    /// For polling: `https://host:port/` or `wss://host:port/path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// For polling: `poll://<20 characters>/`, how the server knows this Tentacle's queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
}

impl TrustedServer {
    /// A listening entry: the server connects to us; no address.
    pub fn listening(thumbprint: Thumbprint) -> TrustedServer {
        TrustedServer {
            thumbprint,
            style: CommunicationStyle::Listening,
            address: None,
            subscription_id: None,
        }
    }
}

/// Characters Tentacle draws subscription ids from (no 0/O, 1/I to survive being read aloud).
pub const SUBSCRIPTION_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// A fresh `poll://<20 lowercase characters>/` subscription id from the OS random source.
pub fn generate_subscription_id() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    let id: String = (0..20)
        .map(|_| {
            let i = rng.random_range(0..SUBSCRIPTION_ALPHABET.len());
            char::from(SUBSCRIPTION_ALPHABET[i]).to_ascii_lowercase()
        })
        .collect();
    format!("poll://{id}/")
}

/// The polling address for a host and port: `https://host:port/`.
pub fn polling_address(host: &str, port: u16) -> Result<String, TrustError> {
    let host = host.trim();
    let bare = host
        .strip_prefix("https://")
        .or_else(|| host.strip_prefix("http://"))
        .unwrap_or(host)
        .trim_end_matches('/');
    if bare.is_empty() || bare.contains(['/', ' ', '?', '#']) {
        return Err(TrustError::BadAddress {
            problem:
                "The polling host must be a host name or IP address, such as octopus.example.com"
                    .to_owned(),
            address: host.to_owned(),
        });
    }
    let candidate = format!("https://{bare}:{port}/");
    let parsed = url::Url::parse(&candidate).map_err(|e| TrustError::BadAddress {
        problem: format!("The polling host is not valid ({e})"),
        address: host.to_owned(),
    })?;
    let host_part = parsed.host_str().unwrap_or(bare);
    Ok(format!("https://{host_part}:{port}/"))
}

/// Validates a WebSocket polling address; `https://` is turned into `wss://` as Tentacle does.
pub fn web_socket_address(input: &str) -> Result<String, TrustError> {
    let input = input.trim();
    let converted = match input.get(..8) {
        Some(p) if p.eq_ignore_ascii_case("https://") => format!("wss://{}", &input[8..]),
        _ => input.to_owned(),
    };
    let parsed = url::Url::parse(&converted).map_err(|e| TrustError::BadAddress {
        problem: format!(
            "The WebSocket address is not a URL ({e}); use wss://host:443/OctopusComms"
        ),
        address: input.to_owned(),
    })?;
    if parsed.scheme() != "wss" {
        return Err(TrustError::BadAddress {
            problem: "The WebSocket address must start with wss:// (or https://), such as wss://octopus.example.com:443/OctopusComms".to_owned(),
            address: input.to_owned(),
        });
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(TrustError::BadAddress {
            problem: "The WebSocket address has no host; use wss://host:443/OctopusComms"
                .to_owned(),
            address: input.to_owned(),
        });
    }
    Ok(parsed.to_string())
}

/// Normalises an address for comparison (`http` → `https`, no trailing slash, lower-case).
pub fn comparable_address(address: &str) -> String {
    let a = address.trim().to_ascii_lowercase();
    let a = match a.strip_prefix("http://") {
        Some(rest) => format!("https://{rest}"),
        None => a,
    };
    a.trim_end_matches('/').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "76F1E5F2B1B2C3D4E5F60718293A4B5C6D7E8F90";

    #[test]
    fn normalises_spaces_colons_and_case() {
        let spaced = "76 f1 e5 f2 b1 b2 c3 d4 e5 f6 07 18 29 3a 4b 5c 6d 7e 8f 90";
        assert_eq!(Thumbprint::parse(spaced).unwrap().as_str(), T);
        let colons = "76:F1:E5:F2:B1:B2:C3:D4:E5:F6:07:18:29:3A:4B:5C:6D:7E:8F:90";
        assert_eq!(Thumbprint::parse(colons).unwrap().as_str(), T);
    }

    #[test]
    fn api_key_gets_its_own_message() {
        let err = Thumbprint::parse("API-CS0SW5SQJNLUBQCUBPK8LZY3KYO").unwrap_err();
        assert_eq!(err, TrustError::ApiKeyNotThumbprint);
        assert!(
            err.to_string()
                .starts_with("This is an API key, not an Octopus Server certificate thumbprint")
        );
    }

    #[test]
    fn wrong_length_and_non_hex_are_named() {
        let err = Thumbprint::parse(&T[..38]).unwrap_err().to_string();
        assert!(err.contains("38"), "{err}");
        let err = Thumbprint::parse(&format!("{}ZZ", &T[..38]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("'Z'"), "{err}");
    }

    #[test]
    fn subscription_ids_use_the_tentacle_alphabet() {
        let id = generate_subscription_id();
        assert!(id.starts_with("poll://") && id.ends_with('/'));
        let body = &id[7..27];
        assert_eq!(body.len(), 20);
        assert!(
            body.bytes()
                .all(|b| SUBSCRIPTION_ALPHABET.contains(&b.to_ascii_uppercase()))
        );
        assert!(!body.contains(['0', '1', 'o', 'i']));
        assert_ne!(id, generate_subscription_id());
    }

    #[test]
    fn addresses() {
        assert_eq!(
            polling_address("octopus.example", 10943).unwrap(),
            "https://octopus.example:10943/"
        );
        assert_eq!(
            polling_address("https://Octopus.Example/", 443).unwrap(),
            "https://octopus.example:443/"
        );
        assert!(polling_address("", 1).is_err());
        assert_eq!(
            web_socket_address("https://example.com:443/OctopusComms").unwrap(),
            "wss://example.com/OctopusComms"
        );
        assert!(web_socket_address("http://example.com/").is_err());
        assert_eq!(
            comparable_address("http://A:1/"),
            comparable_address("https://a:1")
        );
    }

    #[test]
    fn styles_parse_tentacle_names() {
        assert_eq!(
            CommunicationStyle::parse("TentacleActive").unwrap(),
            CommunicationStyle::Polling
        );
        assert_eq!(
            CommunicationStyle::parse("tentaclepassive").unwrap(),
            CommunicationStyle::Listening
        );
        assert!(CommunicationStyle::parse("Ssh").is_err());
    }
}
