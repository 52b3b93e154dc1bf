//! The dashboard's sentences, built as Tentacle Manager builds them: who this Tentacle trusts, and which proxies it uses.

use tentacle_core::instance::ProxySettings;
use tentacle_core::trust::{CommunicationStyle, TrustedServer};

/// The grey sentence under the thumbprint: which Octopus Servers this Tentacle talks to, and how.
///
/// "The Tentacle listens for connections on port 10933. Incoming requests are accepted from the
/// Octopus Server with thumbprint A." / "… from Octopus Servers with thumbprints A and B." /
/// "The Tentacle polls the Octopus Server with thumbprint C at https://host:10943/." /
/// "This Tentacle isn't configured to communicate with any Octopus Deploy servers."
pub fn trust_sentence(port: u16, servers: &[TrustedServer]) -> String {
    if servers.is_empty() {
        return "This Tentacle isn't configured to communicate with any Octopus Deploy servers."
            .to_owned();
    }
    let listening: Vec<String> = servers
        .iter()
        .filter(|s| s.style == CommunicationStyle::Listening)
        .map(|s| s.thumbprint.to_string())
        .collect();
    let polling: Vec<String> = servers
        .iter()
        .filter(|s| s.style == CommunicationStyle::Polling)
        .map(|s| match &s.address {
            Some(address) => format!("{} at {address}", s.thumbprint),
            None => s.thumbprint.to_string(),
        })
        .collect();
    let mut sentences = Vec::new();
    if !listening.is_empty() {
        sentences.push(format!(
            "The Tentacle listens for connections on port {port}."
        ));
        sentences.push(if listening.len() == 1 {
            format!(
                "Incoming requests are accepted from the Octopus Server with thumbprint {}.",
                listening[0]
            )
        } else {
            format!(
                "Incoming requests are accepted from Octopus Servers with thumbprints {}.",
                join_list(&listening)
            )
        });
    }
    if !polling.is_empty() {
        sentences.push(if polling.len() == 1 {
            format!(
                "The Tentacle polls the Octopus Server with thumbprint {}.",
                polling[0]
            )
        } else {
            format!(
                "The Tentacle polls the Octopus Servers with thumbprints {}.",
                join_list(&polling)
            )
        });
    }
    sentences.join(" ")
}

/// "Polling" when any trusted server is polling, else "Listening" (as the original decides).
pub fn communication_mode(servers: &[TrustedServer]) -> &'static str {
    if servers
        .iter()
        .any(|s| s.style == CommunicationStyle::Polling)
    {
        "Polling"
    } else {
        "Listening"
    }
}

/// "Tentacle is using the default proxy server for web requests, and is not using a proxy
/// server to poll the Octopus Server." The polling half only when this Tentacle polls.
pub fn proxy_sentence(web: &ProxySettings, polling: &ProxySettings, polls: bool) -> String {
    let mut sentence = format!("Tentacle is {} for web requests", web.describe());
    if polls {
        sentence.push_str(&format!(
            ", and is {} to poll the Octopus Server",
            polling.describe()
        ));
    }
    sentence.push('.');
    sentence
}

/// "a", "a and b", "a, b and c".
pub fn join_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tentacle_core::instance::ProxyMode;
    use tentacle_core::trust::Thumbprint;

    fn thumb(c: char) -> Thumbprint {
        Thumbprint::parse(&c.to_string().repeat(40)).unwrap()
    }

    fn polling(c: char, address: &str) -> TrustedServer {
        TrustedServer {
            style: CommunicationStyle::Polling,
            address: Some(address.to_owned()),
            subscription_id: Some("poll://abcdefghijklmnopqrst/".to_owned()),
            ..TrustedServer::listening(thumb(c))
        }
    }

    #[test]
    fn lists_join_with_commas_and_and() {
        let s = |v: &[&str]| join_list(&v.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        assert_eq!(s(&[]), "");
        assert_eq!(s(&["a"]), "a");
        assert_eq!(s(&["a", "b"]), "a and b");
        assert_eq!(s(&["a", "b", "c"]), "a, b and c");
    }

    #[test]
    fn no_servers() {
        assert_eq!(
            trust_sentence(10933, &[]),
            "This Tentacle isn't configured to communicate with any Octopus Deploy servers."
        );
    }

    #[test]
    fn one_and_several_listening_servers() {
        let a = "A".repeat(40);
        let b = "B".repeat(40);
        let c = "C".repeat(40);
        assert_eq!(
            trust_sentence(10933, &[TrustedServer::listening(thumb('A'))]),
            format!(
                "The Tentacle listens for connections on port 10933. Incoming requests are accepted from the Octopus Server with thumbprint {a}."
            )
        );
        let three: Vec<_> = ['A', 'B', 'C']
            .into_iter()
            .map(|c| TrustedServer::listening(thumb(c)))
            .collect();
        assert_eq!(
            trust_sentence(12000, &three),
            format!(
                "The Tentacle listens for connections on port 12000. Incoming requests are accepted from Octopus Servers with thumbprints {a}, {b} and {c}."
            )
        );
    }

    #[test]
    fn polling_servers_name_their_address() {
        let d = "D".repeat(40);
        let e = "E".repeat(40);
        assert_eq!(
            trust_sentence(10933, &[polling('D', "https://octopus:10943/")]),
            format!(
                "The Tentacle polls the Octopus Server with thumbprint {d} at https://octopus:10943/."
            )
        );
        let both = [
            polling('D', "https://a:10943/"),
            polling('E', "wss://b:443/OctopusComms"),
        ];
        assert_eq!(
            trust_sentence(10933, &both),
            format!(
                "The Tentacle polls the Octopus Servers with thumbprints {d} at https://a:10943/ and {e} at wss://b:443/OctopusComms."
            )
        );
        assert_eq!(communication_mode(&both), "Polling");
        assert_eq!(communication_mode(&[]), "Listening");
    }

    #[test]
    fn proxy_sentences() {
        let default = ProxySettings::default();
        let none = ProxySettings {
            mode: ProxyMode::None,
            ..ProxySettings::default()
        };
        let custom = ProxySettings {
            mode: ProxyMode::Custom,
            host: Some("proxy".into()),
            port: Some(3128),
            username: Some("u".into()),
            password: Some("secret".into()),
        };
        assert_eq!(
            proxy_sentence(&default, &none, false),
            "Tentacle is using the default proxy server for web requests."
        );
        let polling = proxy_sentence(&none, &custom, true);
        assert_eq!(
            polling,
            "Tentacle is not using a proxy server for web requests, and is using a custom proxy server with custom credentials to poll the Octopus Server."
        );
        assert!(!polling.contains("secret"));
    }
}
