//! [`OctopusClient`]: an authenticated session with one Octopus Server and space, over reqwest with rustls on ring.

use std::collections::HashMap;

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::documents::{self, CertificateConfiguration, ErrorBody, RootDocument, Space, User};
use super::http::{build_http, transport_error};
use super::{Auth, MIN_SERVER_MAJOR, RegisterError, ServerOptions, scrub};
use crate::trust::Thumbprint;

/// A session with an Octopus Server, resolved to one space.
#[derive(Debug)]
pub struct OctopusClient {
    http: reqwest::Client,
    base: url::Url,
    root: RootDocument,
    /// Sent on every request: the API key, or the session cookie and CSRF token.
    auth_headers: HeaderMap,
    /// Everything that must be scrubbed from text we pass on.
    secrets: Vec<String>,
    space: Option<Space>,
    /// The space home's links (or the root's, on servers without spaces).
    links: HashMap<String, String>,
}

impl OctopusClient {
    /// Reads the root document, checks the version, signs in (API key or username/password),
    /// proves the credentials with `GET /api/users/me`, and resolves the space (`opts.space`
    /// by name, else the user's default).
    pub async fn connect(opts: &ServerOptions) -> Result<OctopusClient, RegisterError> {
        let mut secrets: Vec<String> = opts.auth.secrets().iter().map(|s| s.to_string()).collect();
        if let Some(pw) = opts.proxy.as_ref().and_then(|p| p.password.clone()) {
            secrets.push(pw);
        }
        let http = build_http(opts)?;
        let mut client = OctopusClient {
            http,
            base: opts.server.clone(),
            root: RootDocument {
                application: String::new(),
                version: String::new(),
                api_version: String::new(),
                installation_id: String::new(),
                links: HashMap::new(),
            },
            auth_headers: HeaderMap::new(),
            secrets,
            space: None,
            links: HashMap::new(),
        };
        let root_url = client.resolve("/api")?;
        client.root = client.get(root_url.clone()).await?;
        tracing::debug!(version = %client.root.version, api = %client.root.api_version, "Octopus root document");
        let major = client
            .root
            .version
            .split('.')
            .next()
            .and_then(|m| m.trim().parse::<u32>().ok());
        match major {
            Some(m) if m >= MIN_SERVER_MAJOR => {}
            Some(_) => {
                return Err(RegisterError::ServerTooOld {
                    version: client.root.version.clone(),
                    url: opts.server.to_string(),
                });
            }
            None => {
                return Err(RegisterError::BadResponse {
                    detail: "the root document has no Version".to_owned(),
                    url: root_url.to_string(),
                });
            }
        }
        client.links = client.root.links.clone();
        client.sign_in(&opts.auth).await?;
        let user = match client.root.links.get("CurrentUser") {
            Some(link) => {
                let url = client.resolve(&documents::expand(link, None))?;
                Some(client.get::<User>(url).await?)
            }
            None => None,
        };
        if client.root.links.contains_key("Spaces") {
            client
                .resolve_space(user.as_ref(), opts.space.as_deref())
                .await?;
        } else if let Some(name) = &opts.space {
            // A server from before spaces: everything is in the one implicit space.
            return Err(RegisterError::Invalid(format!(
                "Octopus Server {} has no spaces; remove --space \"{name}\"",
                client.root.version
            )));
        }
        Ok(client)
    }

    /// The server's version, e.g. `2024.2.1234`.
    pub fn server_version(&self) -> &str {
        &self.root.version
    }

    /// The root document.
    pub fn root(&self) -> &RootDocument {
        &self.root
    }

    /// The space registration works in; `None` on servers without spaces.
    pub fn space(&self) -> Option<&Space> {
        self.space.as_ref()
    }

    /// The space's name for messages ("Default"), or "the server" without spaces.
    pub fn space_name(&self) -> String {
        self.space
            .as_ref()
            .map_or_else(|| "the server".to_owned(), |s| format!("\"{}\"", s.name))
    }

    /// The server URL as given.
    pub fn server_url(&self) -> &url::Url {
        &self.base
    }

    /// The thumbprint of the server's Halibut certificate, which Tentacle trusts
    /// (`GET /api/configuration/certificates/certificate-global`; older servers: `Certificates`).
    pub async fn server_thumbprint(&self) -> Result<Thumbprint, RegisterError> {
        let template = self
            .root
            .links
            .get("CertificateConfiguration")
            .or_else(|| self.root.links.get("Certificates"))
            .cloned()
            .unwrap_or_else(|| "/api/configuration/certificates{/id}".to_owned());
        let url = self.resolve(&documents::expand(&template, Some("certificate-global")))?;
        let doc: CertificateConfiguration = self.get(url.clone()).await?;
        Thumbprint::parse(&doc.thumbprint).map_err(|e| RegisterError::BadResponse {
            detail: format!("the certificate thumbprint is not usable: {e}"),
            url: url.to_string(),
        })
    }

    /// A link of the space (or of the root), e.g. `Environments`.
    pub fn link(&self, name: &str) -> Result<&str, RegisterError> {
        self.links
            .get(name)
            .or_else(|| self.root.links.get(name))
            .map(String::as_str)
            .ok_or_else(|| RegisterError::BadResponse {
                detail: format!(
                    "the server offers no '{name}' link (is it Octopus Server {MIN_SERVER_MAJOR}.0 or later?)"
                ),
                url: self.base.to_string(),
            })
    }

    /// Turns a server link (`/api/...`, `~/api/...`) into a URL under the server's base,
    /// keeping a virtual directory (`https://host/octopus/`).
    pub fn resolve(&self, link: &str) -> Result<url::Url, RegisterError> {
        let base_path = self.base.path().trim_end_matches('/');
        let link = link.strip_prefix('~').unwrap_or(link);
        let path = if !base_path.is_empty() && link.starts_with(&format!("{base_path}/")) {
            link.to_owned()
        } else {
            format!("{base_path}/{}", link.trim_start_matches('/'))
        };
        self.base
            .join(&path)
            .map_err(|e| RegisterError::BadResponse {
                detail: format!("the link '{link}' is not a path ({e})"),
                url: self.base.to_string(),
            })
    }

    /// `GET` and parse JSON.
    pub async fn get<T: DeserializeOwned>(&self, url: url::Url) -> Result<T, RegisterError> {
        self.call(Method::GET, url, None::<&()>).await
    }

    /// `GET` that treats 404 as `None`.
    pub async fn get_optional<T: DeserializeOwned>(
        &self,
        url: url::Url,
    ) -> Result<Option<T>, RegisterError> {
        match self.call(Method::GET, url, None::<&()>).await {
            Ok(v) => Ok(Some(v)),
            Err(RegisterError::Server { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `POST`/`PUT` a JSON body and parse the JSON answer.
    pub async fn send<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        url: url::Url,
        body: &B,
    ) -> Result<T, RegisterError> {
        self.call(method, url, Some(body)).await
    }

    /// `DELETE`; the answer (a task document on some servers) is ignored.
    pub async fn delete(&self, url: url::Url) -> Result<(), RegisterError> {
        let _: serde_json::Value = self.call(Method::DELETE, url, None::<&()>).await?;
        Ok(())
    }

    async fn call<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        url: url::Url,
        body: Option<&B>,
    ) -> Result<T, RegisterError> {
        let (status, headers, bytes) = self.exchange(method.clone(), url.clone(), body).await?;
        let _ = headers;
        if !status.is_success() {
            return Err(self.status_error(&method, &url, status, &bytes));
        }
        let bytes = if bytes.is_empty() {
            &b"null"[..]
        } else {
            &bytes[..]
        };
        serde_json::from_slice(bytes).map_err(|e| RegisterError::BadResponse {
            detail: format!("{method} answered with JSON that does not fit ({e})"),
            url: url.to_string(),
        })
    }

    /// One request with our auth headers; returns status, headers and body.
    async fn exchange<B: Serialize + ?Sized>(
        &self,
        method: Method,
        url: url::Url,
        body: Option<&B>,
    ) -> Result<(StatusCode, HeaderMap, Vec<u8>), RegisterError> {
        tracing::debug!(%method, %url, "Octopus REST request");
        let mut req = self
            .http
            .request(method.clone(), url.clone())
            .headers(self.auth_headers.clone())
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| self.transport_error(&e, &url))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| self.transport_error(&e, &url))?;
        tracing::debug!(%method, %url, status = status.as_u16(), "Octopus REST response");
        Ok((status, headers, bytes.to_vec()))
    }

    async fn sign_in(&mut self, auth: &Auth) -> Result<(), RegisterError> {
        match auth {
            Auth::ApiKey(key) => {
                let mut value = HeaderValue::from_str(key.expose().trim()).map_err(|_| {
                    RegisterError::Auth(
                        "The API key contains characters that cannot be sent; copy it again from Profile > My API Keys".to_owned(),
                    )
                })?;
                value.set_sensitive(true);
                self.auth_headers.insert("X-Octopus-ApiKey", value);
                Ok(())
            }
            Auth::BearerToken(token) => {
                let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose().trim()))
                    .map_err(|_| {
                        RegisterError::Auth(
                            "The bearer token contains characters that cannot be sent; copy it again".to_owned(),
                        )
                    })?;
                value.set_sensitive(true);
                self.auth_headers
                    .insert(reqwest::header::AUTHORIZATION, value);
                Ok(())
            }
            Auth::UsernamePassword { username, password } => {
                let template = self
                    .root
                    .links
                    .get("SignIn")
                    .cloned()
                    .unwrap_or_else(|| "/api/users/login{?returnUrl}".to_owned());
                let url = self.resolve(&documents::expand(&template, None))?;
                let body = serde_json::json!({
                    "Username": username,
                    "Password": password.expose(),
                    "RememberMe": false,
                });
                let (status, headers, bytes) = self
                    .exchange(Method::POST, url.clone(), Some(&body))
                    .await?;
                if !status.is_success() {
                    return Err(self.status_error(&Method::POST, &url, status, &bytes));
                }
                let mut cookies = Vec::new();
                let mut csrf = None;
                for v in headers.get_all(reqwest::header::SET_COOKIE) {
                    let Ok(text) = v.to_str() else { continue };
                    let Some((name, value)) =
                        text.split(';').next().and_then(|p| p.split_once('='))
                    else {
                        continue;
                    };
                    let (name, value) = (name.trim(), value.trim());
                    if name.starts_with("Octopus-Csrf-Token") {
                        csrf = Some(value.to_owned());
                    }
                    self.secrets.push(value.to_owned());
                    cookies.push(format!("{name}={value}"));
                }
                let no_session = || {
                    RegisterError::Auth(
                        "The Octopus Server accepted the login but sent no session cookie. Use an API key instead (--apiKey)".to_owned(),
                    )
                };
                if !cookies
                    .iter()
                    .any(|c| c.starts_with("OctopusIdentificationToken"))
                {
                    return Err(no_session());
                }
                let mut cookie =
                    HeaderValue::from_str(&cookies.join("; ")).map_err(|_| no_session())?;
                cookie.set_sensitive(true);
                self.auth_headers.insert(reqwest::header::COOKIE, cookie);
                if let Some(token) = csrf {
                    let mut v = HeaderValue::from_str(&token).map_err(|_| no_session())?;
                    v.set_sensitive(true);
                    self.auth_headers.insert("X-Octopus-Csrf-Token", v);
                }
                tracing::debug!(user = %username, "signed in to Octopus Server");
                Ok(())
            }
        }
    }

    async fn resolve_space(
        &mut self,
        user: Option<&User>,
        wanted: Option<&str>,
    ) -> Result<(), RegisterError> {
        let spaces_link = user
            .and_then(|u| u.links.get("Spaces"))
            .cloned()
            .ok_or_else(|| RegisterError::BadResponse {
                detail: "the current user document has no Spaces link".to_owned(),
                url: self.base.to_string(),
            })?;
        let url = self.resolve(&documents::expand(&spaces_link, None))?;
        let value: serde_json::Value = self.get(url.clone()).await?;
        let items = match value {
            serde_json::Value::Array(a) => a,
            serde_json::Value::Object(mut o) => match o.remove("Items") {
                Some(serde_json::Value::Array(a)) => a,
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        let spaces: Vec<Space> = items
            .into_iter()
            .filter_map(|v| serde_json::from_value(v).ok())
            .collect();
        let available = || {
            let names: Vec<_> = spaces.iter().map(|s| format!("\"{}\"", s.name)).collect();
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        };
        let chosen = match wanted.map(str::trim) {
            Some(name) => spaces
                .iter()
                .find(|s| {
                    s.name.trim().eq_ignore_ascii_case(name) || s.id.eq_ignore_ascii_case(name)
                })
                .cloned()
                .ok_or_else(|| RegisterError::UnknownSpace {
                    name: name.to_owned(),
                    available: available(),
                })?,
            None => spaces
                .iter()
                .find(|s| s.is_default)
                .cloned()
                .ok_or_else(|| RegisterError::NoDefaultSpace {
                    available: available(),
                })?,
        };
        let home = chosen
            .links
            .get("SpaceHome")
            .cloned()
            .or_else(|| {
                self.root
                    .links
                    .get("SpaceHome")
                    .map(|t| t.replace("{spaceId}", &chosen.id))
            })
            .unwrap_or_else(|| format!("/api/{}", chosen.id));
        let home_url = self.resolve(&documents::expand(&home, None))?;
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct SpaceHome {
            #[serde(default)]
            links: HashMap<String, String>,
        }
        let doc: SpaceHome = self.get(home_url).await?;
        tracing::debug!(space = %chosen.name, id = %chosen.id, "space resolved");
        self.links = doc.links;
        self.space = Some(chosen);
        Ok(())
    }

    fn status_error(
        &self,
        method: &Method,
        url: &url::Url,
        status: StatusCode,
        body: &[u8],
    ) -> RegisterError {
        let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
        let mut message = parsed.text();
        if message.is_empty() {
            message = status
                .canonical_reason()
                .unwrap_or("no explanation")
                .to_owned();
        }
        let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        let message = scrub(&message, &secrets);
        let url = url.to_string();
        match status {
            StatusCode::UNAUTHORIZED => RegisterError::Unauthorized { message, url },
            StatusCode::FORBIDDEN => RegisterError::Forbidden { message, url },
            _ => RegisterError::Server {
                status: status.as_u16(),
                message,
                method: method.to_string(),
                url,
            },
        }
    }

    fn transport_error(&self, e: &reqwest::Error, url: &url::Url) -> RegisterError {
        let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        transport_error(e, url, &secrets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(base: &str) -> OctopusClient {
        OctopusClient {
            http: reqwest::Client::new(),
            base: url::Url::parse(base).unwrap(),
            root: RootDocument {
                application: String::new(),
                version: "2024.1".into(),
                api_version: "3.0.0".into(),
                installation_id: String::new(),
                links: HashMap::new(),
            },
            auth_headers: HeaderMap::new(),
            secrets: vec!["API-SECRETSECRET".into()],
            space: None,
            links: HashMap::new(),
        }
    }

    #[test]
    fn links_resolve_under_a_virtual_directory() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let c = client("https://host/octopus/");
        assert_eq!(
            c.resolve("/api/Spaces-1").unwrap().as_str(),
            "https://host/octopus/api/Spaces-1"
        );
        assert_eq!(
            c.resolve("/octopus/api/x").unwrap().as_str(),
            "https://host/octopus/api/x"
        );
        assert_eq!(
            c.resolve("~/api/x").unwrap().as_str(),
            "https://host/octopus/api/x"
        );
        let c = client("https://host/");
        assert_eq!(c.resolve("/api").unwrap().as_str(), "https://host/api");
    }

    #[test]
    fn status_errors_scrub_secrets_and_classify() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let c = client("https://host/");
        let url = url::Url::parse("https://host/api/users/me").unwrap();
        let e = c.status_error(
            &Method::GET,
            &url,
            StatusCode::UNAUTHORIZED,
            br#"{"ErrorMessage":"Key API-SECRETSECRET is not valid"}"#,
        );
        let text = e.to_string();
        assert!(matches!(e, RegisterError::Unauthorized { .. }));
        assert!(!text.contains("SECRETSECRET"), "{text}");
        let e = c.status_error(&Method::POST, &url, StatusCode::FORBIDDEN, b"");
        assert!(e.to_string().contains("Forbidden"), "{e}");
    }
}
