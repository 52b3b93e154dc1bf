//! Collection reads with Octopus's filters and paging, and machine/worker writes validated as Octopus validates them.

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::world::{SimUser, World};
use super::{bad_request, forbidden, not_found};

pub(crate) fn list(
    w: &World,
    space: &str,
    collection: &str,
    q: &HashMap<String, String>,
) -> Response {
    let all = w.slice(space, collection);
    let lower = |s: &str| s.to_ascii_lowercase();
    let filtered: Vec<Value> = all
        .iter()
        .filter(|d| {
            let name = lower(d["Name"].as_str().unwrap_or(""));
            q.get("name").is_none_or(|n| lower(n.trim()) == name)
                && q.get("partialName")
                    .is_none_or(|n| name.contains(&lower(n.trim())))
                && q.get("thumbprint").is_none_or(|t| {
                    d["Endpoint"]["Thumbprint"]
                        .as_str()
                        .is_some_and(|x| x.eq_ignore_ascii_case(t))
                })
                && q.get("ids")
                    .is_none_or(|ids| ids.split(',').any(|i| Some(i) == d["Id"].as_str()))
        })
        .cloned()
        .collect();
    let take: usize = q.get("take").and_then(|t| t.parse().ok()).unwrap_or(30);
    let skip: usize = q.get("skip").and_then(|t| t.parse().ok()).unwrap_or(0);
    let total = filtered.len();
    let page: Vec<Value> = filtered.into_iter().skip(skip).take(take).collect();
    let mut links = json!({ "Self": format!("/api/{space}/{collection}") });
    if skip + take < total {
        let mut next: Vec<String> = q
            .iter()
            .filter(|(k, _)| k.as_str() != "skip")
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
                )
            })
            .collect();
        next.push(format!("skip={}", skip + take));
        links["Page.Next"] = json!(format!("/api/{space}/{collection}?{}", next.join("&")));
    }
    axum::Json(json!({
        "ItemType": collection,
        "TotalResults": total,
        "ItemsPerPage": take,
        "NumberOfPages": total.div_ceil(take.max(1)),
        "LastPageNumber": total.div_ceil(take.max(1)).saturating_sub(1),
        "Items": page,
        "Links": links,
    }))
    .into_response()
}

fn exists(w: &World, space: &str, collection: &str, id: &str) -> bool {
    w.slice(space, collection)
        .iter()
        .any(|d| d["Id"].as_str() == Some(id))
}

fn ids(body: &Value, field: &str) -> Vec<String> {
    body[field]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Validates a machine or worker document as Octopus does, then stores it.
pub(crate) fn save(
    w: &mut World,
    user: &SimUser,
    space: &str,
    kind: &str,
    id: Option<&str>,
    body: Option<Value>,
) -> Response {
    if !user.can_create {
        return forbidden(if kind == "workers" {
            "WorkerEdit"
        } else {
            "MachineCreate"
        });
    }
    let Some(mut body) = body else {
        return bad_request(vec!["A request body is required.".into()]);
    };
    let mut errors = Vec::new();
    let name = body["Name"].as_str().unwrap_or("").trim().to_owned();
    if name.is_empty() {
        errors.push("Please provide a name.".to_owned());
    }
    let ep = &body["Endpoint"];
    let style = ep["CommunicationStyle"].as_str().unwrap_or("");
    let uri = ep["Uri"].as_str().unwrap_or("");
    let thumb = ep["Thumbprint"].as_str().unwrap_or("");
    match style {
        "TentaclePassive" => {
            let ok = url::Url::parse(uri)
                .ok()
                .is_some_and(|u| u.scheme() == "https" && u.port().is_some());
            if !ok {
                errors.push(format!(
                    "A listening Tentacle's Uri must be https://host:port/, not '{uri}'."
                ));
            }
            if let Some(p) = ep["ProxyId"].as_str()
                && !exists(w, space, "proxies", p)
            {
                errors.push(format!("The proxy '{p}' does not exist."));
            }
        }
        "TentacleActive" => {
            let ok = uri.starts_with("poll://") && uri.ends_with('/') && uri.len() == 28;
            if !ok {
                errors.push(format!(
                    "A polling Tentacle's Uri must be poll://<20 characters>/, not '{uri}'."
                ));
            }
            if !ep["ProxyId"].is_null() {
                errors.push("Polling Tentacles cannot use a proxy from Octopus.".to_owned());
            }
        }
        other => errors.push(format!("Unknown CommunicationStyle '{other}'.")),
    }
    if thumb.len() != 40 || !thumb.bytes().all(|b| b.is_ascii_hexdigit()) {
        errors.push(format!("The Tentacle thumbprint '{thumb}' is not valid."));
    }
    if let Some(p) = body["MachinePolicyId"].as_str()
        && !exists(w, space, "machinepolicies", p)
    {
        errors.push(format!("The machine policy '{p}' does not exist."));
    }
    if kind == "machines" {
        let envs = ids(&body, "EnvironmentIds");
        if envs.is_empty() {
            errors.push("Please specify at least one environment.".to_owned());
        }
        for e in envs.iter().filter(|e| !exists(w, space, "environments", e)) {
            errors.push(format!("The environment '{e}' does not exist in {space}."));
        }
        if ids(&body, "Roles").is_empty() {
            errors.push("Please specify at least one role.".to_owned());
        }
        let tenants = ids(&body, "TenantIds");
        for t in tenants.iter().filter(|t| !exists(w, space, "tenants", t)) {
            errors.push(format!("The tenant '{t}' does not exist."));
        }
        let participation = body["TenantedDeploymentParticipation"]
            .as_str()
            .unwrap_or("");
        if !["Untenanted", "TenantedOrUntenanted", "Tenanted"].contains(&participation) {
            errors.push(format!(
                "'{participation}' is not a TenantedDeploymentParticipation."
            ));
        }
        if participation == "Untenanted"
            && (!tenants.is_empty() || !ids(&body, "TenantTags").is_empty())
        {
            errors
                .push("An untenanted deployment target cannot be connected to tenants.".to_owned());
        }
    } else {
        let pools = ids(&body, "WorkerPoolIds");
        if pools.is_empty() {
            errors.push("Please specify at least one worker pool.".to_owned());
        }
        for p in pools.iter().filter(|p| !exists(w, space, "workerpools", p)) {
            errors.push(format!("The worker pool '{p}' does not exist in {space}."));
        }
    }
    let same_name = w.registered(space, kind).into_iter().find(|d| {
        d["Name"]
            .as_str()
            .is_some_and(|n| n.eq_ignore_ascii_case(&name))
    });
    if let Some(other) = &same_name
        && other["Id"].as_str() != id
    {
        errors.push(format!(
            "A {} with this name already exists. Names must be unique.",
            if kind == "workers" {
                "worker"
            } else {
                "machine"
            }
        ));
    }
    if !errors.is_empty() {
        return bad_request(errors);
    }
    let list_key = (space.to_owned(), kind.to_owned());
    let (status, new_id) = match id {
        Some(id) => {
            if !exists(w, space, kind, id) {
                return not_found();
            }
            (StatusCode::OK, id.to_owned())
        }
        None => {
            let n = w.next_id;
            w.next_id += 1;
            (
                StatusCode::CREATED,
                format!(
                    "{}-{n}",
                    if kind == "workers" {
                        "Workers"
                    } else {
                        "Machines"
                    }
                ),
            )
        }
    };
    body["Id"] = json!(new_id);
    body["SpaceId"] = json!(space);
    body["Links"] = json!({ "Self": format!("/api/{space}/{kind}/{new_id}") });
    let list = w.items.entry(list_key).or_default();
    list.retain(|d| d["Id"].as_str() != Some(new_id.as_str()));
    list.push(body.clone());
    (status, axum::Json(body)).into_response()
}
