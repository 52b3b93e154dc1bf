//! An Octopus Server REST API simulator (axum) for registration tests: root document, API-key and cookie+CSRF login, spaces, filtered lookups, machines and workers, with Octopus's documents and errors; plus a CONNECT forwarder and a private CA for HTTPS.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

mod machines;
mod tls_proxy;
mod world;

pub use tls_proxy::{ConnectForwarder, TestCa, self_signed_config};
pub use world::World;
use world::{COLLECTIONS, SimUser};

/// The API key of the administrator (the one in seed 000).
pub const ADMIN_KEY: &str = "API-CS0SW5SQJNLUBQCUBPK8LZY3KYO";
/// The API key of a user who may look but not create machines.
pub const VIEWER_KEY: &str = "API-VIEWERKEY00000000000000000";
/// A bearer token of the administrator.
pub const ADMIN_BEARER: &str = "eyJhbGciOiJub25lIn0.test-bearer-token";
/// The administrator's login.
pub const ADMIN_USER: &str = "admin";
/// The administrator's password.
pub const ADMIN_PASSWORD: &str = "Correct-Horse-42";

/// One request as the simulator saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// GET, POST, ...
    pub method: String,
    /// The path without the query.
    pub path: String,
    /// The raw query string.
    pub query: String,
    /// Every header, lower-cased names (values of secrets included: tests look for leaks).
    pub headers: Vec<(String, String)>,
    /// The JSON body, if any.
    pub body: Option<Value>,
}

/// A running REST simulator; stops when dropped.
pub struct OctopusRest {
    /// `http://127.0.0.1:PORT/` (or `https://…` for [`OctopusRest::start_https`]).
    pub url: String,
    /// The port.
    pub port: u16,
    /// The shared state.
    pub world: Arc<Mutex<World>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for OctopusRest {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Shared = Arc<Mutex<World>>;

fn lock(world: &Shared) -> MutexGuard<'_, World> {
    world.lock().unwrap_or_else(|p| p.into_inner())
}

impl OctopusRest {
    /// Plain HTTP on 127.0.0.1; `certificate-global` answers `thumbprint`.
    pub async fn start(thumbprint: &str) -> OctopusRest {
        let world = Arc::new(Mutex::new(World::new(thumbprint)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the REST port");
        let port = listener.local_addr().expect("addr").port();
        let app = router(world.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        OctopusRest {
            url: format!("http://127.0.0.1:{port}/"),
            port,
            world,
            task,
        }
    }

    /// HTTPS on 127.0.0.1 with `tls` (see [`TestCa`]).
    pub async fn start_https(thumbprint: &str, tls: Arc<rustls::ServerConfig>) -> OctopusRest {
        let world = Arc::new(Mutex::new(World::new(thumbprint)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the REST port");
        let port = listener.local_addr().expect("addr").port();
        let app = router(world.clone());
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    break;
                };
                let acceptor = acceptor.clone();
                let app = app.clone();
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let service = hyper_util::service::TowerToHyperService::new(app);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
        OctopusRest {
            url: format!("https://127.0.0.1:{port}/"),
            port,
            world,
            task,
        }
    }

    /// The state, locked.
    pub fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.world)
    }
}

fn router(world: Shared) -> Router {
    Router::new().fallback(handle).with_state(world)
}

pub(crate) fn error(status: StatusCode, message: &str, errors: &[String]) -> Response {
    (
        status,
        axum::Json(json!({ "ErrorMessage": message, "Errors": errors })),
    )
        .into_response()
}

pub(crate) fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "The resource you requested was not found.",
        &[],
    )
}

pub(crate) fn bad_request(errors: Vec<String>) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "There was a problem with your request.",
        &errors,
    )
}

async fn handle(
    State(world): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body_json: Option<Value> = if body.is_empty() {
        None
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => Some(v),
            Err(e) => return bad_request(vec![format!("The request body is not JSON: {e}")]),
        }
    };
    let mut w = lock(&world);
    w.requests.push(Recorded {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or("").to_owned(),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    v.to_str().unwrap_or("").to_owned(),
                )
            })
            .collect(),
        body: body_json.clone(),
    });
    let path = uri.path().trim_end_matches('/').to_owned();
    let query: HashMap<String, String> = uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    if path == "/api" && method == Method::GET {
        return root(&w);
    }
    if path == "/api/users/login" && method == Method::POST {
        return login(&mut w, body_json.as_ref());
    }
    let user = match authenticate(&w, &headers) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    let segs: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(str::to_owned)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match (method.clone(), segs.as_slice()) {
        (Method::GET, ["api", "users", "me"]) => axum::Json(json!({
            "Id": user.id,
            "Username": user.username,
            "Links": { "Self": format!("/api/users/{}", user.id), "Spaces": format!("/api/users/{}/spaces", user.id) }
        }))
        .into_response(),
        (Method::GET, ["api", "users", id, "spaces"]) if *id == user.id => {
            let spaces: Vec<Value> = w
                .spaces
                .iter()
                .map(|(id, name, default)| {
                    json!({ "Id": id, "Name": name, "IsDefault": default, "TaskQueueStopped": false,
                            "Links": { "Self": format!("/api/spaces/{id}"), "SpaceHome": format!("/api/{id}") } })
                })
                .collect();
            axum::Json(Value::Array(spaces)).into_response()
        }
        (Method::GET, ["api", "configuration", "certificates", "certificate-global"]) => {
            axum::Json(json!({
                "Id": "certificate-global",
                "Name": "Octopus Server",
                "Thumbprint": w.certificate_thumbprint,
                "Links": {}
            }))
            .into_response()
        }
        (Method::GET, ["api", space]) if w.spaces.iter().any(|s| s.0 == *space) => {
            space_home(space)
        }
        (Method::GET, ["api", space, collection]) if COLLECTIONS.contains(collection) => {
            machines::list(&w, space, collection, &query)
        }
        (Method::GET, ["api", space, collection, "all"]) if COLLECTIONS.contains(collection) => {
            axum::Json(Value::Array(w.registered(space, collection))).into_response()
        }
        (Method::GET, ["api", space, collection, id]) if COLLECTIONS.contains(collection) => {
            match w
                .slice(space, collection)
                .iter()
                .find(|d| d["Id"].as_str() == Some(*id) || d["Slug"].as_str() == Some(*id))
                .cloned()
            {
                Some(d) => axum::Json(d).into_response(),
                None => not_found(),
            }
        }
        (Method::POST, ["api", space, kind @ ("machines" | "workers")]) => {
            machines::save(&mut w, &user, space, kind, None, body_json)
        }
        (Method::PUT, ["api", space, kind @ ("machines" | "workers"), id]) => {
            machines::save(&mut w, &user, space, kind, Some(id), body_json)
        }
        (Method::DELETE, ["api", space, kind @ ("machines" | "workers"), id]) => {
            if !user.can_create {
                return forbidden("MachineDelete");
            }
            let key = (space.to_string(), kind.to_string());
            let list = w.items.entry(key).or_default();
            let before = list.len();
            list.retain(|d| d["Id"].as_str() != Some(*id));
            if list.len() == before {
                not_found()
            } else {
                StatusCode::OK.into_response()
            }
        }
        _ => not_found(),
    }
}

fn root(w: &World) -> Response {
    axum::Json(json!({
        "Application": "Octopus Deploy",
        "Version": w.version,
        "ApiVersion": "3.0.0",
        "InstallationId": w.installation_id,
        "Links": {
            "Self": "/api",
            "CurrentUser": "/api/users/me",
            "SignIn": "/api/users/login{?returnUrl}",
            "Spaces": "/api/spaces{/id}{?skip,ids,take,partialName}",
            "SpaceHome": "/api/{spaceId}",
            "CertificateConfiguration": "/api/configuration/certificates{/id}{?skip,take}",
        }
    }))
    .into_response()
}

fn space_home(space: &str) -> Response {
    let s = space;
    axum::Json(json!({
        "Links": {
            "Self": format!("/api/{s}"),
            "Environments": format!("/api/{s}/environments{{/id}}{{?name,skip,ids,take,partialName}}"),
            "Machines": format!("/api/{s}/machines{{/id}}{{?skip,take,name,ids,partialName,roles,isDisabled,healthStatuses,commStyles,tenantIds,tenantTags,environmentIds,thumbprint,deploymentId}}"),
            "Workers": format!("/api/{s}/workers{{/id}}{{?skip,take,name,ids,partialName,isDisabled,healthStatuses,commStyles,workerPoolIds,thumbprint}}"),
            "WorkerPools": format!("/api/{s}/workerpools{{/id}}{{?skip,take,ids,name,partialName}}"),
            "Tenants": format!("/api/{s}/tenants{{/id}}{{?skip,projectId,name,tags,take,ids,clone,partialName,clonedFromTenantId}}"),
            "TagSets": format!("/api/{s}/tagsets{{/id}}{{?skip,take,ids,partialName}}"),
            "MachinePolicies": format!("/api/{s}/machinepolicies{{/id}}{{?skip,take,ids,partialName}}"),
            "Proxies": format!("/api/{s}/proxies{{/id}}{{?skip,take,ids,partialName}}"),
        }
    }))
    .into_response()
}

fn login(w: &mut World, body: Option<&Value>) -> Response {
    let Some(b) = body else {
        return bad_request(vec!["Username and Password are required.".into()]);
    };
    if b.get("RememberMe").and_then(Value::as_bool).is_none() {
        return bad_request(vec!["RememberMe is required.".into()]);
    }
    let (u, p) = (
        b["Username"].as_str().unwrap_or(""),
        b["Password"].as_str().unwrap_or(""),
    );
    let Some(user) = w
        .users
        .iter()
        .find(|x| x.username.eq_ignore_ascii_case(u) && x.password == p)
        .cloned()
    else {
        return bad_request(vec!["Invalid username or password.".into()]);
    };
    let token = format!("session-{}", rand::random::<u64>());
    let csrf = format!("csrf-{}", rand::random::<u64>());
    w.sessions
        .insert(token.clone(), (user.id.clone(), csrf.clone()));
    let inst = &w.installation_id;
    let mut resp = axum::Json(json!({ "Id": user.id, "Username": user.username })).into_response();
    let h = resp.headers_mut();
    for cookie in [
        format!("OctopusIdentificationToken_{inst}={token}; path=/; HttpOnly; SameSite=Lax"),
        format!("Octopus-Csrf-Token_{inst}={csrf}; path=/"),
    ] {
        if let Ok(v) = header::HeaderValue::from_str(&cookie) {
            h.append(header::SET_COOKIE, v);
        }
    }
    resp
}

fn authenticate(w: &World, headers: &HeaderMap) -> Result<SimUser, Box<Response>> {
    let unauthorized = || {
        Box::new(error(
            StatusCode::UNAUTHORIZED,
            "You must be logged in to perform this action. Please provide a valid API key or log in again.",
            &[],
        ))
    };
    if let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        return match auth.strip_prefix("Bearer ") {
            Some(ADMIN_BEARER) => Ok(w.users[0].clone()),
            _ => Err(unauthorized()),
        };
    }
    if let Some(key) = headers
        .get("x-octopus-apikey")
        .and_then(|v| v.to_str().ok())
    {
        return w
            .users
            .iter()
            .find(|u| u.api_key == key)
            .cloned()
            .ok_or_else(unauthorized);
    }
    let cookies = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let token_name = format!("OctopusIdentificationToken_{}", w.installation_id);
    let token = cookies.split(';').find_map(|c| {
        let (n, v) = c.trim().split_once('=')?;
        (n == token_name).then(|| v.to_owned())
    });
    let Some((user_id, csrf)) = token.and_then(|t| w.sessions.get(&t).cloned()) else {
        return Err(unauthorized());
    };
    // Cookie sessions must echo the CSRF token on every request.
    if headers
        .get("x-octopus-csrf-token")
        .and_then(|v| v.to_str().ok())
        != Some(csrf.as_str())
    {
        return Err(Box::new(error(
            StatusCode::FORBIDDEN,
            "A CSRF token was not provided or does not match. Add the X-Octopus-Csrf-Token header.",
            &[],
        )));
    }
    w.users
        .iter()
        .find(|u| u.id == user_id)
        .cloned()
        .ok_or_else(unauthorized)
}

pub(crate) fn forbidden(permission: &str) -> Response {
    error(
        StatusCode::FORBIDDEN,
        &format!(
            "You do not have permission to perform this action. Please contact your Octopus administrator. Missing permission: {permission}"
        ),
        &[],
    )
}
