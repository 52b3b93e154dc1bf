//! The service table a Tentacle offers: capabilities, file transfer and scripts (V1 and V2), and the workspace cleaner.

use std::sync::Arc;
use std::time::Duration;

use super::AgentContext;
use super::capabilities::CapabilitiesService;
use super::files::FileTransferService;
use super::scripts::{
    ScriptEngine, ScriptServiceV1, ScriptServiceV2, workspace_retention_from_env,
};
use crate::halibut::rpc::ServiceTable;

/// How often finished-but-uncollected script workspaces are looked for (TENTACLE_WORKSPACE_CLEANER_DELAY, default 2 h).
fn cleaner_interval() -> Duration {
    std::env::var("TENTACLE_WORKSPACE_CLEANER_DELAY")
        .ok()
        .and_then(|v| crate::halibut::bson::parse_timespan(v.trim()))
        .unwrap_or(Duration::from_secs(2 * 3600))
}

/// Builds the services for `ctx`; the second value counts running scripts. Must be called
/// inside a tokio runtime: it starts the workspace cleaner.
pub fn build(ctx: &AgentContext) -> (Arc<ServiceTable>, Arc<dyn Fn() -> usize + Send + Sync>) {
    let engine = ScriptEngine::new(ctx.clone());
    let mut table = ServiceTable::new();
    table.register(Arc::new(CapabilitiesService::new()));
    // Tentacle's semantics: any path the account can reach, never the instance's key.
    table.register(Arc::new(FileTransferService::anywhere(ctx.clone())));
    table.register(Arc::new(ScriptServiceV1::new(engine.clone())));
    table.register(Arc::new(ScriptServiceV2::new(engine.clone())));
    let cleaner = engine.clone();
    tokio::spawn(async move {
        let every = cleaner_interval();
        loop {
            tokio::time::sleep(every).await;
            let removed = cleaner
                .clean_workspaces(workspace_retention_from_env())
                .await;
            if !removed.is_empty() {
                tracing::info!(
                    count = removed.len(),
                    "removed workspaces of scripts nobody collected"
                );
            }
        }
    });
    let counter = engine.clone();
    (Arc::new(table), Arc::new(move || counter.running()))
}
