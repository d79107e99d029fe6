//! Queue-first emission: every workflow event is validated, stamped (id, Lamport clock, identity) and
//! written to the durable offline queue before the command returns. Emission never fails a command:
//! problems come back as warnings, and events that cannot reach the queue are spooled to a file
//! rather than lost.

use super::clock::LockedClock;
use super::config::UserConfig;
use super::event::SyncEvent;
use super::queue::{OfflineQueue, QueueError, QueuedEvent};
use crate::context::Context;
use crate::events::{Timestamp, pyjson};
use crate::project::config::ProjectConfig;
use crate::project::{Project, identity};
use crate::store::LockedLog;
use serde_json::{Map, Value};
use std::path::Path;
use std::time::Duration;

pub const QUEUE_FILE: &str = "queue.db";
/// Events that could not be queued (corrupt or locked queue) wait here for `sync now`.
pub const SPOOL_FILE: &str = "queue-spool.jsonl";

/// The envelope fields that say where an event comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub team_slug: String,
    pub project_uuid: Option<String>,
    pub project_slug: Option<String>,
    pub git_branch: Option<String>,
    pub head_commit_sha: Option<String>,
    pub repo_slug: Option<String>,
}

impl Origin {
    /// Reads the identity without writing anything: project uuid/slug from `.kittify/config.yaml`,
    /// team from the stored credentials (`local` when logged out), git facts from `.git`. The second
    /// value describes a problem with config.yaml (unreadable, invalid, a uuid that is not one), which
    /// leaves the identity empty.
    pub fn resolve(ctx: &Context, project: Option<&Project>) -> (Origin, Option<String>) {
        let (config, problem) =
            project.map(|p| ProjectConfig::load_checked(&p.root)).unwrap_or_else(|| (ProjectConfig::default(), None));
        let root = project.map(|p| p.root.as_path());
        let repo_slug = config
            .project
            .repo_slug
            .clone()
            .filter(|s| s.contains('/') && !s.split('/').any(str::is_empty))
            .or_else(|| root.and_then(crate::git::origin_url).and_then(|u| crate::git::repo_slug_of(&u)));
        let origin = Origin {
            team_slug: super::credentials_team_slug(ctx).unwrap_or_else(|| "local".to_owned()),
            project_uuid: config.project.uuid,
            project_slug: config.project.slug,
            git_branch: root.and_then(crate::git::head_branch),
            head_commit_sha: root.and_then(crate::git::head_sha),
            repo_slug,
        };
        (origin, problem)
    }
}

/// What happened to a command's events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Emission {
    pub queued: usize,
    pub duplicates: usize,
    pub dropped: usize,
    pub invalid: usize,
    pub spooled: usize,
    /// The queued envelopes' ids, in order.
    pub event_ids: Vec<String>,
    pub warnings: Vec<String>,
}

/// Whether a batch of events shares one causation id (finalize-tasks links its events that way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Causation {
    None,
    SharedBatch,
}

/// Validates, stamps and queues `events` (in order, with consecutive Lamport values).
pub fn emit(ctx: &Context, project: Option<&Project>, events: &[SyncEvent], causation: Causation) -> Emission {
    let mut emission = Emission::default();
    if events.is_empty() || ctx.sync_events_disabled {
        return emission;
    }
    let Some(home) = ctx.home.as_deref() else {
        emission
            .warnings
            .push(format!("{} event(s) not queued: no home directory (set HOME or SPEC_KITTY_HOME)", events.len()));
        return emission;
    };
    let config = UserConfig::load(home).unwrap_or_else(|e| {
        emission.warnings.push(format!("{e}; using default sync settings"));
        UserConfig::default()
    });
    if !config.sync.events {
        return emission;
    }
    let valid: Vec<&SyncEvent> = events
        .iter()
        .filter(|event| match event.validate() {
            Ok(()) => true,
            Err(e) => {
                emission.invalid += 1;
                emission.warnings.push(format!("event not queued: {e}"));
                false
            }
        })
        .collect();
    if valid.is_empty() {
        return emission;
    }
    let (origin, config_problem) = Origin::resolve(ctx, project);
    emission.warnings.extend(crate::project::config::first_report(config_problem));
    let now = Timestamp::from_utc(ctx.now());
    let causation_id = (causation == Causation::SharedBatch).then(|| ctx.new_ulid().to_string());

    let queue = OfflineQueue::open(&home.join(QUEUE_FILE), config.queue_limits());
    let high_water = queue.as_ref().ok().and_then(|q| q.lamport_high_water().ok()).unwrap_or(0);
    let mut clock = match LockedClock::lock(home, high_water, identity::machine_node_id, ctx.lock_timeout) {
        Ok(clock) => clock,
        Err(e) => {
            emission.warnings.push(format!("{e}; {} event(s) not queued", valid.len()));
            return emission;
        }
    };
    if let Some(reason) = &clock.recovered_from {
        emission.warnings.push(format!("the Lamport clock file was unreadable ({reason}); recovered from the queue"));
    }
    let first = match clock.tick(valid.len() as u64, &now) {
        Ok(first) => first,
        Err(e) => {
            emission.warnings.push(format!("{e}; {} event(s) not queued", valid.len()));
            return emission;
        }
    };
    let node_id = clock.state().node_id.clone();
    let envelopes: Vec<QueuedEvent> = valid
        .iter()
        .enumerate()
        .map(|(i, event)| envelope(ctx, event, &node_id, first + i as u64, causation_id.as_deref(), &now, &origin))
        .collect();

    let stored = queue.and_then(|mut q| q.enqueue(&envelopes, ctx.now().timestamp()));
    drop(clock);
    match stored {
        Ok(outcome) => {
            tracing::debug!(
                inserted = outcome.inserted,
                duplicates = outcome.duplicates,
                dropped = outcome.dropped,
                lamport_first = first,
                "queued sync events: {}",
                envelopes.iter().map(|e| e.event_type.as_str()).collect::<Vec<_>>().join(", ")
            );
            emission.queued = outcome.inserted;
            emission.duplicates = outcome.duplicates;
            emission.dropped = outcome.dropped;
            emission.event_ids = envelopes.iter().map(|e| e.event_id.clone()).collect();
            if outcome.dropped > 0 {
                emission.warnings.push(format!(
                    "the offline queue is full ({} events); {} new event(s) were dropped — run `spec-kitty sync now` or raise [sync] max_queue_size in {}",
                    config.sync.max_queue_size,
                    outcome.dropped,
                    home.join(super::config::CONFIG_FILE).display()
                ));
            }
        }
        Err(error) => {
            tracing::debug!(%error, events = envelopes.len(), "the queue refused the events; spooling them");
            spool(home, &envelopes, &error, ctx.lock_timeout, &mut emission)
        }
    }
    emission
}

/// Keeps events the queue could not take in an append-only file, so they are not lost.
fn spool(home: &Path, envelopes: &[QueuedEvent], error: &QueueError, timeout: Duration, emission: &mut Emission) {
    let path = home.join(SPOOL_FILE);
    let written =
        LockedLog::open(&path, timeout).and_then(|mut log| envelopes.iter().try_for_each(|e| log.append_line(&e.data)));
    match written {
        Ok(()) => {
            emission.spooled = envelopes.len();
            emission.warnings.push(format!(
                "{error}; {} event(s) were saved to {} and will be queued by the next `spec-kitty sync now`",
                envelopes.len(),
                path.display()
            ));
        }
        Err(e) => emission.warnings.push(format!(
            "{error}; {} event(s) could not be saved ({}: {e})",
            envelopes.len(),
            path.display()
        )),
    }
}

/// The full envelope, keys in upstream's order (`json.dumps` of the emitter's dict).
fn envelope(
    ctx: &Context,
    event: &SyncEvent,
    node_id: &str,
    lamport: u64,
    causation_id: Option<&str>,
    now: &Timestamp,
    origin: &Origin,
) -> QueuedEvent {
    let event_id = ctx.new_ulid().to_string();
    let (aggregate_type, aggregate_id) = event.aggregate();
    let opt = |v: &Option<String>| v.clone().map_or(Value::Null, Value::String);
    let mut e = Map::new();
    e.insert("event_id".into(), Value::String(event_id.clone()));
    e.insert("event_type".into(), Value::String(event.event_type().into()));
    e.insert("aggregate_id".into(), Value::String(aggregate_id));
    e.insert("aggregate_type".into(), Value::String(aggregate_type.into()));
    e.insert("payload".into(), Value::Object(event.payload()));
    e.insert("node_id".into(), Value::String(node_id.into()));
    e.insert("lamport_clock".into(), Value::from(lamport));
    e.insert("causation_id".into(), causation_id.map_or(Value::Null, |c| Value::String(c.into())));
    e.insert("timestamp".into(), Value::String(now.isoformat()));
    e.insert("team_slug".into(), Value::String(origin.team_slug.clone()));
    e.insert("project_uuid".into(), opt(&origin.project_uuid));
    e.insert("project_slug".into(), opt(&origin.project_slug));
    e.insert("git_branch".into(), opt(&origin.git_branch));
    e.insert("head_commit_sha".into(), opt(&origin.head_commit_sha));
    e.insert("repo_slug".into(), opt(&origin.repo_slug));
    QueuedEvent {
        event_id,
        event_type: event.event_type().into(),
        data: pyjson::to_string(&Value::Object(e), pyjson::COMPACT),
        lamport_clock: lamport,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::event::{EntryType, SyncEvent};
    use crate::sync::queue::QueueLimits;

    fn ctx(home: &Path) -> Context {
        Context::from_vars(None, |k| match k {
            "SPEC_KITTY_HOME" => Some(home.as_os_str().to_owned()),
            "SPEC_KITTY_NOW" => Some("2026-02-18T14:03:22.123456Z".into()),
            "SPEC_KITTY_ID_SEED" => Some("9".into()),
            _ => None,
        })
        .unwrap()
    }

    fn note(wp: &str) -> SyncEvent {
        SyncEvent::HistoryAdded {
            wp_id: wp.into(),
            entry_type: EntryType::Note,
            entry_content: "hello".into(),
            author: "user".into(),
        }
    }

    fn queued(home: &Path) -> Vec<Value> {
        let q = OfflineQueue::open(&home.join(QUEUE_FILE), QueueLimits::default()).unwrap();
        q.all_rows().unwrap().iter().map(|r| serde_json::from_str(&r.data).unwrap()).collect()
    }

    #[test]
    fn queues_valid_events_with_consecutive_clocks_and_a_shared_causation() {
        let home = tempfile::tempdir().unwrap();
        let ctx = ctx(home.path());
        let emission = emit(&ctx, None, &[note("WP01"), note("WP100"), note("WP02")], Causation::SharedBatch);
        assert_eq!((emission.queued, emission.invalid), (2, 1));
        assert!(emission.warnings[0].contains("wp_id"), "{:?}", emission.warnings);
        let rows = queued(home.path());
        assert_eq!(rows[0]["lamport_clock"], 1);
        assert_eq!(rows[1]["lamport_clock"], 2);
        assert_eq!(rows[0]["causation_id"], rows[1]["causation_id"]);
        assert!(rows[0]["causation_id"].is_string());
        assert_eq!(rows[0]["team_slug"], "local");
        assert_eq!(rows[0]["timestamp"], "2026-02-18T14:03:22.123456+00:00");
        let keys: Vec<&str> = rows[0].as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "event_id",
                "event_type",
                "aggregate_id",
                "aggregate_type",
                "payload",
                "node_id",
                "lamport_clock",
                "causation_id",
                "timestamp",
                "team_slug",
                "project_uuid",
                "project_slug",
                "git_branch",
                "head_commit_sha",
                "repo_slug"
            ]
        );
        let again = emit(&ctx, None, &[note("WP03")], Causation::None);
        assert_eq!(again.queued, 1);
        assert_eq!(queued(home.path())[2]["lamport_clock"], 3);
        assert!(queued(home.path())[2]["causation_id"].is_null());
    }

    #[test]
    fn a_corrupt_queue_spools_instead_of_losing_events() {
        let home = tempfile::tempdir().unwrap();
        let garbage = b"definitely not an SQLite database, just some bytes of text........".to_vec();
        std::fs::write(home.path().join(QUEUE_FILE), &garbage).unwrap();
        let emission = emit(&ctx(home.path()), None, &[note("WP01")], Causation::None);
        assert_eq!((emission.queued, emission.spooled), (0, 1));
        assert!(
            emission.warnings[0].contains("not a valid SQLite database") && emission.warnings[0].contains(SPOOL_FILE)
        );
        assert_eq!(std::fs::read(home.path().join(QUEUE_FILE)).unwrap(), garbage, "never overwritten");
        let spooled = std::fs::read_to_string(home.path().join(SPOOL_FILE)).unwrap();
        assert!(spooled.contains("\"event_type\": \"HistoryAdded\""));
    }
}
