//! Finding environments, tenants, tags, worker pools, policies, proxies and machines by name with the server's filters (`?name=`, `?partialName=`, `?thumbprint=`), never by listing everything.
//!
//! Operators with thousands of environments waited minutes while Tentacle paged through all
//! of them; here each name costs one filtered request (a few more only if the filter matches
//! many similar names), plus one item request when the value is an Id or slug.

use super::RegisterError;
use super::client::OctopusClient;
use super::documents::{self, Collection, MachineSummary, Named, TagSet};

/// Items per filtered page.
const PAGE_SIZE: usize = 100;
/// Filtered pages read at most per name; a filter matching more than this many names is
/// narrowed by the exact comparison long before it matters.
const MAX_PAGES: usize = 10;

/// The filtered collection URL for `value` on `template`: `?name=` when the link declares
/// it, else `?partialName=`.
fn filtered_url(
    client: &OctopusClient,
    template: &str,
    value: &str,
) -> Result<url::Url, RegisterError> {
    let vars = documents::query_variables(template);
    let param = if vars.iter().any(|v| v == "name") {
        "name"
    } else {
        "partialName"
    };
    let mut url = client.resolve(&documents::expand(template, None))?;
    url.query_pairs_mut()
        .append_pair(param, value)
        .append_pair("take", &PAGE_SIZE.to_string());
    Ok(url)
}

/// Reads filtered pages (at most [`MAX_PAGES`]) until `pick` returns something.
async fn scan<T>(
    client: &OctopusClient,
    first: url::Url,
    mut pick: impl FnMut(&serde_json::Value) -> Option<T>,
) -> Result<Option<T>, RegisterError> {
    let mut url = first;
    for _ in 0..MAX_PAGES {
        let page: Collection<serde_json::Value> = client.get(url).await?;
        if let Some(found) = page.items.iter().find_map(&mut pick) {
            return Ok(Some(found));
        }
        match page.links.get("Page.Next") {
            Some(next) => url = client.resolve(&documents::expand(next, None))?,
            None => break,
        }
    }
    Ok(None)
}

/// One resource behind `link` by name (case-insensitive, trimmed), then by Id or slug.
pub async fn find_named(
    client: &OctopusClient,
    link: &str,
    value: &str,
) -> Result<Option<Named>, RegisterError> {
    let wanted = value.trim();
    if wanted.is_empty() {
        return Ok(None);
    }
    let template = client.link(link)?.to_owned();
    let url = filtered_url(client, &template, wanted)?;
    let by_name = scan(client, url, |item| {
        serde_json::from_value::<Named>(item.clone())
            .ok()
            .filter(|n| n.name.trim().eq_ignore_ascii_case(wanted))
    })
    .await?;
    if by_name.is_some() {
        return Ok(by_name);
    }
    // An Id (`Environments-12`) or a slug: the item URL answers both on servers with slugs.
    let item_url = client.resolve(&documents::expand(&template, Some(wanted)))?;
    let by_id: Option<Named> = client.get_optional(item_url).await?;
    Ok(by_id.filter(|n| {
        n.id.eq_ignore_ascii_case(wanted)
            || n.slug
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case(wanted))
            || n.name.trim().eq_ignore_ascii_case(wanted)
    }))
}

/// Every value found, or [`RegisterError::NotFound`] naming all the missing ones.
pub async fn find_all_named(
    client: &OctopusClient,
    link: &str,
    values: &[String],
    what: &'static str,
) -> Result<Vec<Named>, RegisterError> {
    let mut found: Vec<Named> = Vec::new();
    let mut missing = Vec::new();
    for v in values.iter().map(|v| v.trim()).filter(|v| !v.is_empty()) {
        match find_named(client, link, v).await? {
            Some(n) => {
                if !found.iter().any(|f| f.id == n.id) {
                    found.push(n);
                }
            }
            None => missing.push(v.to_owned()),
        }
    }
    if missing.is_empty() {
        Ok(found)
    } else {
        Err(RegisterError::NotFound {
            what,
            names: missing.join(", "),
            space: client.space_name(),
        })
    }
}

/// Tenant tags as `Set/Tag` canonical names, checked to exist (case-insensitive; the
/// server's spelling is returned).
pub async fn find_tenant_tags(
    client: &OctopusClient,
    tags: &[String],
) -> Result<Vec<String>, RegisterError> {
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for tag in tags.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
        let Some((set, _)) = tag.split_once('/') else {
            return Err(RegisterError::Invalid(format!(
                "--tenanttag '{tag}' is not a canonical tag name: write it as TagSet/Tag, e.g. --tenanttag \"Region/Europe\""
            )));
        };
        let template = client.link("TagSets")?.to_owned();
        let url = filtered_url(client, &template, set.trim())?;
        let found = scan(client, url, |item| {
            let set_doc: TagSet = serde_json::from_value(item.clone()).ok()?;
            if !set_doc.name.trim().eq_ignore_ascii_case(set.trim()) {
                return None;
            }
            set_doc
                .tags
                .iter()
                .find(|t| t.canonical_tag_name.eq_ignore_ascii_case(tag))
                .map(|t| t.canonical_tag_name.clone())
        })
        .await?;
        match found {
            Some(c) => out.push(c),
            None => missing.push(tag.to_owned()),
        }
    }
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(RegisterError::NotFound {
            what: "tenant tag(s)",
            names: missing.join(", "),
            space: client.space_name(),
        })
    }
}

/// A machine or worker document as the server holds it, with the summary fields parsed.
#[derive(Debug, Clone)]
pub struct Existing {
    /// Id, name, links.
    pub summary: MachineSummary,
    /// The whole document, for a `--force` update that keeps what we do not set.
    pub document: serde_json::Value,
}

fn existing(item: &serde_json::Value) -> Option<Existing> {
    Some(Existing {
        summary: serde_json::from_value(item.clone()).ok()?,
        document: item.clone(),
    })
}

/// The machine (`Machines`) or worker (`Workers`) with this exact name, if any.
pub async fn find_machine_by_name(
    client: &OctopusClient,
    link: &str,
    name: &str,
) -> Result<Option<Existing>, RegisterError> {
    let template = client.link(link)?.to_owned();
    let url = filtered_url(client, &template, name)?;
    scan(client, url, |item| {
        existing(item).filter(|e| e.summary.name.eq_ignore_ascii_case(name.trim()))
    })
    .await
}

/// Every machine or worker registered with this Tentacle thumbprint (`?thumbprint=`).
pub async fn find_machines_by_thumbprint(
    client: &OctopusClient,
    link: &str,
    thumbprint: &str,
) -> Result<Vec<Existing>, RegisterError> {
    let template = client.link(link)?.to_owned();
    let mut url = client.resolve(&documents::expand(&template, None))?;
    url.query_pairs_mut()
        .append_pair("thumbprint", thumbprint)
        .append_pair("take", &PAGE_SIZE.to_string());
    let mut out = Vec::new();
    for _ in 0..MAX_PAGES {
        let page: Collection<serde_json::Value> = client.get(url).await?;
        for item in &page.items {
            let endpoint_thumb = item
                .get("Endpoint")
                .and_then(|e| e.get("Thumbprint"))
                .or_else(|| item.get("Thumbprint"))
                .and_then(|t| t.as_str());
            // The filter is the server's; the comparison guards against one that ignores it.
            if endpoint_thumb.is_some_and(|t| t.eq_ignore_ascii_case(thumbprint))
                && let Some(e) = existing(item)
            {
                out.push(e);
            }
        }
        match page.links.get("Page.Next") {
            Some(next) => url = client.resolve(&documents::expand(next, None))?,
            None => break,
        }
    }
    Ok(out)
}
