//! Registration with Octopus Server over its REST API: `register-with`, `register-worker`, `deregister-*` and `poll-server`.
//!
//! The HTTP traffic follows `shared/reference/tentacle-product.md` §5. The CLI verbs in
//! [`crate::cli`] and the Tentacle Manager's wizard are both built on this module; the manager
//! runs the very same command lines in-process through [`crate::cli::run`].
//!
//! # Layout
//!
//! | file | what it holds |
//! |---|---|
//! | `mod.rs` | [`RegisterError`], [`Auth`] and [`Secret`], [`ServerOptions`] |
//! | [`client`] | [`OctopusClient`]: the root document, API-key or cookie+CSRF login, space resolution, the server thumbprint |
//! | `http.rs` | reqwest on rustls/ring, the web proxy, same-host redirects, transport errors without secrets |
//! | [`documents`] | the REST documents (serde), PascalCase as Octopus writes them |
//! | [`lookup`] | environments, tenants, tags, pools, policies, proxies and machines found by name with filtered queries, never by listing everything |
//! | [`comms_check`] | does the polling address answer (`POST /handshake`), and the certificate it presents |
//! | [`plan`] | what a registration asks for ([`Registration`]) and what it did ([`Registered`]) |
//! | [`apply`] | the registration and deregistration sequences, and the config changes they make |
//!
//! # Choices
//! - **HTTPS certificates of the Octopus Web Portal are verified** against the operating
//!   system's trust store, as Tentacle's .NET `HttpClient` does. A self-signed portal certificate
//!   is refused with a message naming `--ignoreSslErrors`, which (as in Tentacle's .NET Core
//!   builds) turns verification off for the REST calls only. Polling connections never use
//!   this: they are pinned by thumbprint in [`crate::halibut::tls`].
//! - **Secrets**: [`Secret`] never prints its value (`Debug` and `Display` show `***`); the
//!   API key header and session cookies are marked sensitive; error messages are built from
//!   our own words, status codes and the server's error text with every secret removed.

pub mod apply;
pub mod client;
pub mod comms_check;
pub mod documents;
mod http;
pub mod lookup;
pub mod plan;
#[cfg(test)]
mod redirect_tests;

pub use apply::{deregister, poll_server, register};
pub use client::OctopusClient;
pub use comms_check::{
    CommsAnswer, CommsCheckOptions, check_comms_address, check_comms_address_with,
};
pub use plan::{
    CommsChoice, Deregistered, MachineKind, PollServer, Registered, Registration,
    TenantedDeploymentParticipation, host_name,
};

use crate::instance::{InstanceError, ProxySettings};
pub use crate::secret::Secret;

/// The major version Tentacle needs at least (it refuses Octopus 2.x).
pub const MIN_SERVER_MAJOR: u32 = 3;

/// How we prove who we are to Octopus Server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// `X-Octopus-ApiKey: API-…` on every request.
    ApiKey(Secret),
    /// `Authorization: Bearer …` on every request (`--bearerToken`).
    BearerToken(Secret),
    /// `POST /api/users/login`, then the session cookie and the `X-Octopus-Csrf-Token` header.
    UsernamePassword {
        /// The Octopus user name.
        username: String,
        /// Its password.
        password: Secret,
    },
}

impl Auth {
    /// The secret values, so text from elsewhere can be scrubbed of them.
    pub fn secrets(&self) -> Vec<&str> {
        match self {
            Auth::ApiKey(k) | Auth::BearerToken(k) => vec![k.expose()],
            Auth::UsernamePassword { password, .. } => vec![password.expose()],
        }
        .into_iter()
        .filter(|s| !s.trim().is_empty())
        .collect()
    }
}

/// Where the Octopus Server is and how to reach it.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The Octopus Web Portal URL, e.g. `https://octopus.example.com/` (a virtual directory is kept).
    pub server: url::Url,
    /// API key or username and password.
    pub auth: Auth,
    /// The space's name; `None` means the user's default space.
    pub space: Option<String>,
    /// The web proxy for REST calls (`tentacle proxy`); `None` means the system's default.
    pub proxy: Option<ProxySettings>,
    /// Skip verifying the portal's HTTPS certificate (`--ignoreSslErrors`).
    pub ignore_ssl_errors: bool,
    /// The Tentacle version the user agent reports (`crate::version`).
    pub tentacle_version: String,
}

impl ServerOptions {
    /// Options for `server` with `auth`, default space, system proxy, verified HTTPS.
    pub fn new(server: url::Url, auth: Auth) -> ServerOptions {
        ServerOptions {
            server,
            auth,
            space: None,
            proxy: None,
            ignore_ssl_errors: false,
            tentacle_version: crate::version::DEFAULT_REPORTED_VERSION.to_owned(),
        }
    }

    /// Parses `--server`: adds `https://` when no scheme is given, refuses credentials in the URL.
    pub fn parse_server_url(input: &str) -> Result<url::Url, RegisterError> {
        let t = input.trim();
        if t.is_empty() {
            return Err(RegisterError::NoServer);
        }
        let with_scheme = if t.contains("://") {
            t.to_owned()
        } else {
            format!("https://{t}")
        };
        let bad = |problem: &str| RegisterError::BadServerUrl {
            problem: problem.to_owned(),
            url: t.to_owned(),
        };
        let mut url = url::Url::parse(&with_scheme).map_err(|e| bad(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("it must start with http:// or https://"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("it has no host name"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            // Never echo the URL back: it holds a password.
            return Err(RegisterError::CredentialsInUrl);
        }
        url.set_query(None);
        url.set_fragment(None);
        if !url.path().ends_with('/') {
            let p = format!("{}/", url.path());
            url.set_path(&p);
        }
        Ok(url)
    }
}

/// Why registration, deregistration or a server check failed. Messages name the problem and
/// the fix, and never contain an API key, password or session token.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// `--server` missing.
    #[error("Please specify an Octopus Server, e.g., --server=https://your-octopus-server")]
    NoServer,
    /// `--server` is not a usable URL.
    #[error(
        "The Octopus Server URL is not valid: {problem}. Use the address of the Octopus Web Portal, e.g. https://octopus.example.com: {url}"
    )]
    BadServerUrl {
        /// What is wrong.
        problem: String,
        /// The URL as given.
        url: String,
    },
    /// `https://user:pass@host`.
    #[error(
        "The Octopus Server URL contains a user name or password. Remove it from the URL and pass --apiKey, or --username and --password, instead"
    )]
    CredentialsInUrl,
    /// No API key or username/password, or both.
    #[error("{0}")]
    Auth(String),
    /// TCP, DNS, proxy or timeout failure reaching the REST API.
    #[error(
        "Could not reach the Octopus Server ({detail}). Check the URL, that the server is running, and the proxy settings (tentacle proxy): {url}"
    )]
    Unreachable {
        /// What went wrong, without secrets.
        detail: String,
        /// The request URL.
        url: String,
    },
    /// The portal's HTTPS certificate is not trusted by this machine.
    #[error(
        "The Octopus Server's HTTPS certificate is not trusted by this machine ({detail}). Install its CA certificate in the system trust store, or pass --ignoreSslErrors if you trust this server: {url}"
    )]
    UntrustedCertificate {
        /// What the TLS layer said.
        detail: String,
        /// The request URL.
        url: String,
    },
    /// A redirect to plain http or to another host: not followed, so the API key stays here.
    #[error(
        "The Octopus Server redirected the request to {target}, which {why}; it was not followed, so the API key or password was not sent there. Pass the server's real address with --server (the one the Octopus Web Portal shows in the browser): {url}"
    )]
    UnsafeRedirect {
        /// Where the redirect pointed (scheme, host and port only).
        target: String,
        /// `leaves https` or `is another host`.
        why: &'static str,
        /// The request URL.
        url: String,
    },
    /// 401.
    #[error(
        "The Octopus Server rejected the credentials (HTTP 401: {message}). Check the API key (Profile > My API Keys in the Octopus Web Portal) or the username and password: {url}"
    )]
    Unauthorized {
        /// The server's own explanation, secrets removed.
        message: String,
        /// The request URL.
        url: String,
    },
    /// 403.
    #[error(
        "The Octopus user is not allowed to do this (HTTP 403: {message}). Ask an Octopus administrator for the permission named, or use an API key of a user who has it: {url}"
    )]
    Forbidden {
        /// The server's explanation, usually naming the missing permission.
        message: String,
        /// The request URL.
        url: String,
    },
    /// Any other non-success answer.
    #[error(
        "The Octopus Server refused the request (HTTP {status}: {message}). Fix what the server names and try again: {method} {url}"
    )]
    Server {
        /// HTTP status.
        status: u16,
        /// The server's `ErrorMessage` and `Errors`, secrets removed.
        message: String,
        /// GET, POST, ...
        method: String,
        /// The request URL.
        url: String,
    },
    /// A body we could not understand.
    #[error(
        "The Octopus Server sent a response this Tentacle cannot read ({detail}). Check that the URL is the Octopus Web Portal and not another site: {url}"
    )]
    BadResponse {
        /// What was wrong with it.
        detail: String,
        /// The request URL.
        url: String,
    },
    /// Version major below 3.
    #[error(
        "Octopus Server {version} is too old: Tentacle needs Octopus Server 3.0 or later. Upgrade the server: {url}"
    )]
    ServerTooOld {
        /// The server's version.
        version: String,
        /// The server URL.
        url: String,
    },
    /// `--space X` not among the user's spaces.
    #[error(
        "A space with name \"{name}\" could not be found. Check the name, or that this user is a member of a team in that space. Spaces this user can see: {available}"
    )]
    UnknownSpace {
        /// The name asked for.
        name: String,
        /// The spaces the user can see.
        available: String,
    },
    /// No `--space` and no default space.
    #[error(
        "No \"space\" was specified, and the default space is disabled or inaccessible to this user. Pass --space with one of: {available}"
    )]
    NoDefaultSpace {
        /// The spaces the user can see.
        available: String,
    },
    /// Names that matched nothing.
    #[error(
        "Could not find the {what} named: {names}. Check the spelling (names are not case-sensitive; Ids and slugs work too) in space {space}"
    )]
    NotFound {
        /// "environment(s)", "worker pool(s)", ...
        what: &'static str,
        /// The missing names, comma-separated.
        names: String,
        /// The space searched.
        space: String,
    },
    /// A machine or worker with that name exists and `--force` was not given.
    #[error(
        "A {kind} named '{name}' already exists in the {place}. Use the 'force' parameter (--force) if you intend to update the existing {kind}"
    )]
    Duplicate {
        /// "machine" or "worker".
        kind: &'static str,
        /// The name.
        name: String,
        /// "environment" or "worker pool" as Tentacle says.
        place: &'static str,
    },
    /// The polling address does not answer.
    #[error(
        "The Octopus Server's communications port does not answer ({detail}). A Tentacle set up to poll it now could never connect; check the server's polling port is open in every firewall, or pass the right --server-comms-address, --server-comms-port or --server-web-socket: {address}"
    )]
    CommsUnreachable {
        /// Why, from the last attempt.
        detail: String,
        /// The address checked.
        address: String,
    },
    /// No certificate yet.
    #[error(
        "No certificate has been generated for this Tentacle. Please run the new-certificate command first: tentacle new-certificate {selector}"
    )]
    NoCertificate {
        /// `--instance "X"` or `--config "path"`.
        selector: String,
    },
    /// Deregistration found nothing with this Tentacle's thumbprint.
    #[error(
        "No {kind} with this Tentacle's thumbprint is registered in space {space}; nothing to deregister. Thumbprint: {thumbprint}"
    )]
    NotRegistered {
        /// "machine" or "worker".
        kind: &'static str,
        /// The space searched.
        space: String,
        /// Our thumbprint.
        thumbprint: String,
    },
    /// Several matches without `--multiple`.
    #[error(
        "{count} {kind}s are registered with this Tentacle's thumbprint ({names}). Pass --multiple to deregister all of them"
    )]
    Multiple {
        /// "machine" or "worker".
        kind: &'static str,
        /// How many.
        count: usize,
        /// Their names.
        names: String,
    },
    /// `poll-server` without a matching polling trust entry.
    #[error("{0}")]
    NotTrusted(String),
    /// Options that cannot go together, or a bad value.
    #[error("{0}")]
    Invalid(String),
    /// The local configuration.
    #[error(transparent)]
    Instance(#[from] InstanceError),
    /// Thumbprints, addresses.
    #[error(transparent)]
    Trust(#[from] crate::trust::TrustError),
}

/// Removes every secret from text that came from elsewhere (a server message, a library error).
pub fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for s in secrets.iter().filter(|s| s.len() >= 3) {
        out = out.replace(s, "***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let auth = Auth::ApiKey(Secret::new("API-ABCDEFGHIJKLMNOP"));
        assert!(!format!("{auth:?}").contains("ABCDEF"));
        let pw = Auth::UsernamePassword {
            username: "admin".into(),
            password: Secret::new("hunter22"),
        };
        assert!(!format!("{pw:?}").contains("hunter22"));
        assert_eq!(
            scrub("key API-ABCDEFGHIJKLMNOP is bad", &auth.secrets()),
            "key *** is bad"
        );
    }

    #[test]
    fn server_urls() {
        let u = ServerOptions::parse_server_url("octopus.example").unwrap();
        assert_eq!(u.as_str(), "https://octopus.example/");
        let u = ServerOptions::parse_server_url("http://x:8080/octo?q=1").unwrap();
        assert_eq!(u.as_str(), "http://x:8080/octo/");
        assert!(matches!(
            ServerOptions::parse_server_url(""),
            Err(RegisterError::NoServer)
        ));
        let e = ServerOptions::parse_server_url("https://u:secretpw@x/").unwrap_err();
        assert!(!e.to_string().contains("secretpw"));
        assert!(ServerOptions::parse_server_url("ftp://x/").is_err());
    }
}
