//! Workflow events for the team dashboard: the eight event types, the machine-wide Lamport clock, the
//! durable offline queue and queue-first emission; and their delivery to the team server: login and
//! tokens (`auth`), the HTTP client and URL policy (`http`), the batch loop (`delivery`), the persisted
//! delivery state (`state`) and the entry points commands call (`runner`); and the background service
//! (`service`: `sync daemon` and the service inside `orchestrate`) with its WebSocket fast path (`ws`)
//! and its lock and heartbeat file (`daemon`).

pub mod auth;
pub mod backoff;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod delivery;
pub mod emit;
pub mod event;
pub mod http;
pub mod queue;
pub mod runner;
pub mod service;
pub mod state;
pub mod status;
pub mod ws;

pub use emit::{Causation, Emission, emit};
pub use event::SyncEvent;

use crate::context::Context;

/// The team of the logged-in user, from `~/.spec-kitty/credentials` (`None` when logged out).
pub fn credentials_team_slug(ctx: &Context) -> Option<String> {
    let path = ctx.home.as_ref()?.join(auth::CREDENTIALS_FILE);
    let text = crate::fsutil::read_small_string(&path, crate::fsutil::SMALL_FILE_CAP).ok()?;
    let value: toml::Value = toml::from_str(&text).ok()?;
    let team = value.get("user").and_then(|u| u.get("team_slug")).or_else(|| value.get("team_slug"))?;
    team.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

/// The sync server: `$SPEC_KITTY_SAAS_URL`, else `[sync] server_url` in config.toml.
pub fn server_url(ctx: &Context, config: &config::UserConfig) -> Option<String> {
    ctx.server_url_override.clone().or_else(|| config.sync.server_url.clone())
}
