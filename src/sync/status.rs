//! What `sync status` (and the dashboard) report about delivery: the queue, the connection the running
//! service sees, the last attempt, the login; and `sync diagnose`'s check of every queued event.
//! Read-only: gathering them never creates the queue.

use super::config::{CONFIG_FILE, UserConfig};
use super::daemon::{self, ConnectionStatus, Heartbeat, Presence};
use super::emit::{QUEUE_FILE, SPOOL_FILE};
use super::event::diagnose_envelope;
use super::queue::{OfflineQueue, QueueError, QueueStats};
use super::runner::{self, RunnerError};
use super::state::SyncState;
use crate::context::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::path::Path;

/// The whole report; its JSON form is `sync status --json`.
#[derive(Debug, Clone, Serialize)]
pub struct SyncStatus {
    pub queue: QueueReport,
    pub connection: ConnectionReport,
    pub daemon: DaemonReport,
    pub last_sync: LastSync,
    pub authenticated: bool,
    pub auth: AuthReport,
    pub server_url: Option<String>,
    pub config_file: String,
    /// What is wrong with the current project's `.kittify/config.yaml`, when run inside a project.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_config_problem: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct QueueReport {
    pub depth: u64,
    pub oldest_event_age_seconds: Option<i64>,
    pub retry_distribution: RetryDistribution,
    pub dead_letters: u64,
    pub dropped_events: u64,
    /// Events written to `queue-spool.jsonl` while the queue was unusable, waiting to be imported.
    pub spooled_events: usize,
    pub top_event_types: Vec<EventTypeCount>,
    pub path: String,
}

/// Queued events by how often the server rejected them.
#[derive(Debug, Clone, Serialize)]
pub struct RetryDistribution {
    #[serde(rename = "0")]
    pub never: u64,
    #[serde(rename = "1-3")]
    pub few: u64,
    #[serde(rename = "4+")]
    pub many: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct EventTypeCount {
    pub event_type: String,
    pub count: u64,
}

/// The connection as the running service reports it; Offline without one (FR-036, FR-037).
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionReport {
    pub status: ConnectionStatus,
    /// Why the connection is not `Connected` (e.g. "connection refused").
    pub detail: Option<String>,
    #[serde(serialize_with = "seconds")]
    pub last_push_at: Option<DateTime<Utc>>,
    pub events_pushed: u64,
}

/// The background service: running (with its heartbeat), stale (it died), or absent.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum DaemonReport {
    Running {
        running: bool,
        pid: u32,
        command: String,
        #[serde(serialize_with = "seconds")]
        started_at: Option<DateTime<Utc>>,
        #[serde(serialize_with = "seconds")]
        heartbeat_at: Option<DateTime<Utc>>,
        heartbeat_age_seconds: u64,
        interval_secs: u64,
        server_url: Option<String>,
        #[serde(serialize_with = "seconds")]
        last_batch_at: Option<DateTime<Utc>>,
        last_batch_outcome: Option<String>,
    },
    NotRunning {
        running: bool,
        /// The pid of a heartbeat file left by a service that died.
        stale_pid: Option<u32>,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct LastSync {
    #[serde(serialize_with = "seconds")]
    pub last_attempt_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "seconds")]
    pub last_success_at: Option<DateTime<Utc>>,
    pub consecutive_failures: u32,
    /// Set only while exit flushes are paused.
    #[serde(serialize_with = "seconds")]
    pub backoff_until: Option<DateTime<Utc>>,
    pub last_error_category: Option<String>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuthReport {
    pub username: Option<String>,
    pub access_token_valid: bool,
    pub refresh_token_valid: bool,
}

impl SyncStatus {
    /// Gathers the report for `ctx`'s home. Queue ages use `ctx.now()` (pinnable in tests); the
    /// service's liveness uses the wall clock, whatever `SPEC_KITTY_NOW` says.
    pub fn gather(ctx: &Context) -> Result<SyncStatus, RunnerError> {
        let home = ctx.home.as_deref().ok_or(RunnerError::NoHome)?;
        let config = UserConfig::load(home)?;
        let stats = match existing_queue(home, &config)? {
            Some(queue) => queue.stats()?,
            None => QueueStats::default(),
        };
        let now = ctx.now();
        let wall_now = Utc::now();
        let presence = daemon::presence(home, wall_now);
        let credentials = runner::credentials(ctx).ok().flatten();
        let state = SyncState::load(home);
        Ok(SyncStatus {
            queue: QueueReport {
                depth: stats.depth,
                oldest_event_age_seconds: stats.oldest_enqueued_at.map(|t| (now.timestamp() - t).max(0)),
                retry_distribution: RetryDistribution {
                    never: stats.retry_buckets[0],
                    few: stats.retry_buckets[1],
                    many: stats.retry_buckets[2],
                },
                dead_letters: stats.dead_letters,
                dropped_events: stats.dropped_events,
                spooled_events: spooled_events(home),
                top_event_types: stats
                    .top_event_types
                    .into_iter()
                    .map(|(event_type, count)| EventTypeCount { event_type, count })
                    .collect(),
                path: home.join(QUEUE_FILE).display().to_string(),
            },
            connection: ConnectionReport::of(&presence),
            daemon: DaemonReport::of(&presence, wall_now),
            last_sync: LastSync {
                backoff_until: state.backoff_until.filter(|_| state.in_backoff(now)),
                last_attempt_at: state.last_attempt_at,
                last_success_at: state.last_success_at,
                consecutive_failures: state.consecutive_failures,
                last_error_category: state.last_error_category,
                last_error: state.last_error,
            },
            authenticated: credentials.as_ref().is_some_and(|c| c.is_authenticated(now)),
            auth: AuthReport {
                username: credentials.as_ref().map(|c| c.username.clone()),
                access_token_valid: credentials.as_ref().is_some_and(|c| c.access_valid(now)),
                refresh_token_valid: credentials.as_ref().is_some_and(|c| c.refresh_valid(now)),
            },
            server_url: super::server_url(ctx, &config),
            config_file: home.join(CONFIG_FILE).display().to_string(),
            project_config_problem: project_config_problem(ctx),
        })
    }
}

/// `sync diagnose`: every queued event checked as upstream's emitter checks it.
#[derive(Debug, Clone, Serialize)]
pub struct QueueDiagnosis {
    pub total: usize,
    pub valid: usize,
    pub invalid: usize,
    pub results: Vec<EventDiagnosis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_config_problem: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EventDiagnosis {
    pub event_id: String,
    pub event_type: String,
    pub valid: bool,
    pub errors: Vec<String>,
}

impl QueueDiagnosis {
    pub fn gather(ctx: &Context) -> Result<QueueDiagnosis, RunnerError> {
        let home = ctx.home.as_deref().ok_or(RunnerError::NoHome)?;
        let config = UserConfig::load(home).unwrap_or_default();
        let rows = match existing_queue(home, &config)? {
            Some(queue) => queue.all_rows()?,
            None => Vec::new(),
        };
        let results: Vec<EventDiagnosis> = rows
            .into_iter()
            .map(|row| {
                let errors = match serde_json::from_str::<serde_json::Value>(&row.data) {
                    Ok(value) => diagnose_envelope(&value),
                    Err(e) => vec![format!("not JSON: {e}")],
                };
                EventDiagnosis { event_id: row.event_id, event_type: row.event_type, valid: errors.is_empty(), errors }
            })
            .collect();
        let invalid = results.iter().filter(|r| !r.valid).count();
        Ok(QueueDiagnosis {
            total: results.len(),
            valid: results.len() - invalid,
            invalid,
            results,
            project_config_problem: project_config_problem(ctx),
        })
    }
}

/// What is wrong with the current project's `.kittify/config.yaml`, when run inside a project.
fn project_config_problem(ctx: &Context) -> Option<String> {
    let project = crate::project::Project::discover(ctx).ok()?;
    crate::project::config::ProjectConfig::load_checked(&project.root).1
}

impl ConnectionReport {
    fn of(presence: &Presence) -> ConnectionReport {
        match presence.running() {
            Some(h) => ConnectionReport {
                status: h.connection,
                detail: h.connection_detail.clone(),
                last_push_at: h.last_push_at,
                events_pushed: h.events_pushed,
            },
            None => ConnectionReport {
                status: ConnectionStatus::Offline,
                detail: None,
                last_push_at: None,
                events_pushed: 0,
            },
        }
    }
}

impl DaemonReport {
    fn of(presence: &Presence, now: DateTime<Utc>) -> DaemonReport {
        match presence {
            Presence::Running(h) => {
                let Heartbeat { pid, command, started_at, heartbeat_at, interval_secs, server_url, .. } = h.clone();
                DaemonReport::Running {
                    running: true,
                    pid,
                    command,
                    started_at,
                    heartbeat_at,
                    heartbeat_age_seconds: h.age(now).as_secs(),
                    interval_secs,
                    server_url,
                    last_batch_at: h.last_batch_at,
                    last_batch_outcome: h.last_batch_outcome.clone(),
                }
            }
            Presence::Stale(h) => DaemonReport::NotRunning { running: false, stale_pid: Some(h.pid) },
            Presence::Absent => DaemonReport::NotRunning { running: false, stale_pid: None },
        }
    }
}

/// The queue when it exists; a read-only command never creates it.
pub fn existing_queue(home: &Path, config: &UserConfig) -> Result<Option<OfflineQueue>, QueueError> {
    let path = home.join(QUEUE_FILE);
    if !path.exists() {
        return Ok(None);
    }
    OfflineQueue::open(&path, config.queue_limits()).map(Some)
}

fn spooled_events(home: &Path) -> usize {
    std::fs::read_to_string(home.join(SPOOL_FILE))
        .map(|t| t.lines().filter(|l| !l.trim().is_empty()).count())
        .unwrap_or(0)
}

/// Times to the second, `Z`-suffixed: what a person reads in `--json`.
fn seconds<S: serde::Serializer>(at: &Option<DateTime<Utc>>, serializer: S) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => serializer.serialize_str(&at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        None => serializer.serialize_none(),
    }
}
