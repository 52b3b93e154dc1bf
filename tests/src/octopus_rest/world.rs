//! The simulator's state: users and keys, spaces, the seeded environments, pools, tenants, tags, policies and proxies, and the requests it saw.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{ADMIN_KEY, ADMIN_PASSWORD, ADMIN_USER, Recorded, VIEWER_KEY};

#[derive(Debug, Clone)]
pub(crate) struct SimUser {
    pub(crate) id: String,
    pub(crate) username: String,
    pub(crate) password: String,
    pub(crate) api_key: String,
    pub(crate) can_create: bool,
}

/// Everything the server knows; tests may change it before or between commands.
#[derive(Debug)]
pub struct World {
    /// The reported version (`2024.2.9331`; set `2.6.5` to test the version check).
    pub version: String,
    /// Suffixes the login cookie names.
    pub installation_id: String,
    /// What `certificate-global` answers.
    pub certificate_thumbprint: String,
    /// Collections per space: `(space id, "environments")` → documents.
    pub items: HashMap<(String, String), Vec<Value>>,
    /// Every request, in order.
    pub requests: Vec<Recorded>,
    /// Spaces: id, name, default.
    pub(crate) spaces: Vec<(String, String, bool)>,
    pub(crate) users: Vec<SimUser>,
    pub(crate) sessions: HashMap<String, (String, String)>,
    pub(crate) next_id: u32,
}

pub(crate) const COLLECTIONS: &[&str] = &[
    "environments",
    "machines",
    "workers",
    "workerpools",
    "tenants",
    "tagsets",
    "machinepolicies",
    "proxies",
];

fn named(space: &str, collection: &str, id: &str, name: &str) -> Value {
    let slug = name.to_ascii_lowercase().replace(' ', "-");
    json!({
        "Id": id,
        "Name": name,
        "Slug": slug,
        "SpaceId": space,
        "Links": { "Self": format!("/api/{space}/{collection}/{id}") }
    })
}

impl World {
    pub(crate) fn new(certificate_thumbprint: &str) -> World {
        let mut items: HashMap<(String, String), Vec<Value>> = HashMap::new();
        let mut add = |space: &str, collection: &str, doc: Value| {
            items
                .entry((space.to_owned(), collection.to_owned()))
                .or_default()
                .push(doc);
        };
        add(
            "Spaces-1",
            "environments",
            named("Spaces-1", "environments", "Environments-1", "Test"),
        );
        add(
            "Spaces-1",
            "environments",
            named("Spaces-1", "environments", "Environments-2", "Production"),
        );
        // Many look-alikes: a client that lists everything (or pages a partial match) shows.
        for i in 0..400 {
            let id = format!("Environments-{}", 100 + i);
            add(
                "Spaces-1",
                "environments",
                named("Spaces-1", "environments", &id, &format!("Test {i:03}")),
            );
        }
        add(
            "Spaces-2",
            "environments",
            named("Spaces-2", "environments", "Environments-3", "Ops Test"),
        );
        for (space, id, name) in [
            ("Spaces-1", "WorkerPools-1", "Default Worker Pool"),
            ("Spaces-1", "WorkerPools-2", "MyWorkerPool"),
            ("Spaces-2", "WorkerPools-3", "Ops Pool"),
        ] {
            add(space, "workerpools", named(space, "workerpools", id, name));
        }
        for (id, name) in [("Tenants-1", "Acme"), ("Tenants-2", "Globex")] {
            add(
                "Spaces-1",
                "tenants",
                named("Spaces-1", "tenants", id, name),
            );
        }
        let mut region = named("Spaces-1", "tagsets", "TagSets-1", "Region");
        region["Tags"] = json!([
            { "Id": "TagSets-1-1", "Name": "Europe", "CanonicalTagName": "Region/Europe" },
            { "Id": "TagSets-1-2", "Name": "Asia", "CanonicalTagName": "Region/Asia" }
        ]);
        add("Spaces-1", "tagsets", region);
        for (id, name) in [
            ("MachinePolicies-1", "Default Machine Policy"),
            ("MachinePolicies-2", "Transient"),
        ] {
            add(
                "Spaces-1",
                "machinepolicies",
                named("Spaces-1", "machinepolicies", id, name),
            );
        }
        add(
            "Spaces-1",
            "proxies",
            named("Spaces-1", "proxies", "Proxies-1", "Corporate proxy"),
        );
        World {
            version: "2024.2.9331".to_owned(),
            installation_id: "4bc0e2a1-9b8c-4a3f-8e0e-0123456789ab".to_owned(),
            certificate_thumbprint: certificate_thumbprint.to_owned(),
            items,
            requests: Vec::new(),
            spaces: vec![
                ("Spaces-1".into(), "Default".into(), true),
                ("Spaces-2".into(), "Ops".into(), false),
            ],
            users: vec![
                SimUser {
                    id: "Users-1".into(),
                    username: ADMIN_USER.into(),
                    password: ADMIN_PASSWORD.into(),
                    api_key: ADMIN_KEY.into(),
                    can_create: true,
                },
                SimUser {
                    id: "Users-2".into(),
                    username: "viewer".into(),
                    password: "viewer-password".into(),
                    api_key: VIEWER_KEY.into(),
                    can_create: false,
                },
            ],
            sessions: HashMap::new(),
            next_id: 1,
        }
    }

    /// Adds `count` more environments named `Bulk 00000`… to a space, to play a big server.
    pub fn add_environments(&mut self, space: &str, count: usize) {
        let list = self
            .items
            .entry((space.to_owned(), "environments".to_owned()))
            .or_default();
        for i in 0..count {
            let id = format!("Environments-{}", 10_000 + i);
            list.push(named(space, "environments", &id, &format!("Bulk {i:05}")));
        }
    }

    /// Accepts another administrator API key (documentation examples use their own).
    pub fn accept_api_key(&mut self, key: &str) {
        let n = self.users.len() + 1;
        self.users.push(SimUser {
            id: format!("Users-{n}"),
            username: format!("user{n}"),
            password: format!("password-{n}"),
            api_key: key.to_owned(),
            can_create: true,
        });
    }

    /// A collection of a space, borrowed (empty when there is none).
    pub fn slice(&self, space: &str, collection: &str) -> &[Value] {
        self.items
            .get(&(space.to_owned(), collection.to_owned()))
            .map_or(&[], Vec::as_slice)
    }

    /// The machines (or `"workers"`) registered in a space.
    pub fn registered(&self, space: &str, collection: &str) -> Vec<Value> {
        self.items
            .get(&(space.to_owned(), collection.to_owned()))
            .cloned()
            .unwrap_or_default()
    }

    /// Collection reads that had no filter (`?name=`, `?partialName=`, `?thumbprint=`, `?ids=`)
    /// or used `/all`: what a client does when it lists everything.
    pub fn unfiltered_listings(&self) -> Vec<String> {
        self.requests
            .iter()
            .filter(|r| r.method == "GET")
            .filter(|r| {
                let segs: Vec<&str> = r.path.trim_matches('/').split('/').collect();
                let listing = segs.len() == 3 && COLLECTIONS.contains(&segs[2]);
                let all = segs.len() == 4 && segs[3] == "all";
                let filtered = ["name=", "partialName=", "thumbprint=", "ids="]
                    .iter()
                    .any(|f| r.query.split('&').any(|p| p.starts_with(f)));
                all || (listing && !filtered)
            })
            .map(|r| format!("{} {}?{}", r.method, r.path, r.query))
            .collect()
    }

    /// The requests with this method whose path ends with `suffix`.
    pub fn requests_to(&self, method: &str, suffix: &str) -> Vec<Recorded> {
        self.requests
            .iter()
            .filter(|r| r.method == method && r.path.ends_with(suffix))
            .cloned()
            .collect()
    }
}
