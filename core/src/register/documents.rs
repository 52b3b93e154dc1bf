//! The Octopus REST documents registration reads and writes, with Octopus's PascalCase names; unknown fields are ignored.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// `GET /api`: what the server is and where everything lives.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RootDocument {
    /// "Octopus Deploy".
    #[serde(default)]
    pub application: String,
    /// e.g. `2024.2.1234`.
    #[serde(default)]
    pub version: String,
    /// e.g. `3.0.0`.
    #[serde(default)]
    pub api_version: String,
    /// Identifies the installation; it suffixes the login cookie names.
    #[serde(default)]
    pub installation_id: String,
    /// Link templates (RFC 6570 style).
    #[serde(default)]
    pub links: HashMap<String, String>,
}

/// A page of results: `Items` plus paging links such as `Page.Next`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Collection<T> {
    /// This page's items.
    #[serde(default = "Vec::new")]
    pub items: Vec<T>,
    /// How many match in total.
    #[serde(default)]
    pub total_results: u64,
    /// Paging links.
    #[serde(default)]
    pub links: HashMap<String, String>,
}

/// A space the user can see.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Space {
    /// `Spaces-1`.
    pub id: String,
    /// "Default".
    pub name: String,
    /// The user's (and server's) default space.
    #[serde(default)]
    pub is_default: bool,
    /// Links, including `SpaceHome`.
    #[serde(default)]
    pub links: HashMap<String, String>,
}

/// `GET /api/users/me`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct User {
    /// `Users-1`.
    pub id: String,
    /// The login name.
    #[serde(default)]
    pub username: String,
    /// Links, including `Spaces`.
    #[serde(default)]
    pub links: HashMap<String, String>,
}

/// Anything with an Id and a Name: environments, tenants, worker pools, policies, proxies.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Named {
    /// `Environments-1`, `Tenants-3`, ...
    pub id: String,
    /// The display name.
    pub name: String,
    /// The URL-friendly name, on servers that have slugs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
}

/// A tag set, whose tags are named `Set/Tag` canonically.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagSet {
    /// `TagSets-1`.
    pub id: String,
    /// "Region".
    pub name: String,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// One tag.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    /// `TagSets-1-2`.
    #[serde(default)]
    pub id: String,
    /// "Europe".
    pub name: String,
    /// "Region/Europe".
    pub canonical_tag_name: String,
}

/// `GET /api/configuration/certificates/certificate-global`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CertificateConfiguration {
    /// The server's Halibut certificate thumbprint.
    pub thumbprint: String,
}

/// A machine or worker as registration sees it (the full document is kept as JSON for updates).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MachineSummary {
    /// `Machines-1` or `Workers-1`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The Tentacle thumbprint on its endpoint, when shown at the top level.
    #[serde(default)]
    pub thumbprint: Option<String>,
    /// Links, including `Self`.
    #[serde(default)]
    pub links: HashMap<String, String>,
}

/// The endpoint a Tentacle is registered with.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Endpoint {
    /// `TentaclePassive` or `TentacleActive`.
    pub communication_style: String,
    /// `https://host:10933/` (listening) or `poll://subscription/` (polling).
    pub uri: String,
    /// This Tentacle's certificate thumbprint.
    pub thumbprint: String,
    /// The Octopus proxy the server uses to reach a listening Tentacle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_id: Option<String>,
}

/// Octopus's error body: `{"ErrorMessage": "...", "Errors": ["..."]}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ErrorBody {
    /// The summary.
    #[serde(default)]
    pub error_message: String,
    /// Details.
    #[serde(default)]
    pub errors: Vec<String>,
}

impl ErrorBody {
    /// One line: the message, then the details that add to it.
    pub fn text(&self) -> String {
        let mut parts = vec![self.error_message.trim().to_owned()];
        for e in &self.errors {
            let e = e.trim();
            if !e.is_empty() && !parts.iter().any(|p| p == e) {
                parts.push(e.to_owned());
            }
        }
        parts.retain(|p| !p.is_empty());
        parts.join(" ").replace(['\r', '\n'], " ")
    }
}

/// Expands a link template such as `/api/Spaces-1/environments{/id}{?name,skip,take}`:
/// `{/id}` becomes `/<id>` (percent-encoded) when `id` is given, and every other `{...}`
/// part is removed; query parameters are added separately.
pub fn expand(template: &str, id: Option<&str>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            rest = "";
            break;
        };
        let expr = &rest[start + 1..start + end];
        if let (Some(stripped), Some(id)) = (expr.strip_prefix('/'), id)
            && stripped.split(',').next() == Some("id")
        {
            out.push('/');
            out.push_str(&encode_segment(id));
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
}

/// The query variables a template declares: `{?name,skip}` gives `["name", "skip"]`.
pub fn query_variables(template: &str) -> Vec<String> {
    let mut vars = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{?").or_else(|| rest.find("{&")) {
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        vars.extend(
            rest[start + 2..start + end]
                .split(',')
                .map(|v| v.trim().to_owned()),
        );
        rest = &rest[start + end + 1..];
    }
    vars
}

fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_expand() {
        let t = "/api/Spaces-1/environments{/id}{?name,skip,ids,take,partialName}";
        assert_eq!(expand(t, None), "/api/Spaces-1/environments");
        assert_eq!(
            expand(t, Some("Environments-1")),
            "/api/Spaces-1/environments/Environments-1"
        );
        assert_eq!(
            expand(t, Some("a b/c")),
            "/api/Spaces-1/environments/a%20b%2Fc"
        );
        assert_eq!(
            query_variables(t),
            ["name", "skip", "ids", "take", "partialName"]
        );
        assert_eq!(
            expand("/api/users/login{?returnUrl}", None),
            "/api/users/login"
        );
    }

    #[test]
    fn error_bodies_read_as_one_line() {
        let e: ErrorBody = serde_json::from_str(
            r#"{"ErrorMessage":"There was a problem with your request.","Errors":["Name is required.\nReally."]}"#,
        )
        .unwrap();
        assert_eq!(
            e.text(),
            "There was a problem with your request. Name is required. Really."
        );
    }
}
