//! Usage rows → ExecutionEvents.
//!
//! Rows are summed into one event per session × feature × work package × role × agent × model × hour
//! (UTC) × attribution reason. An hour keeps `cost -g day` and `--since/--until` true to within the hour
//! while a busy session still yields a handful of events a day rather than one per API call; the
//! session and the reason keep every event explainable (`session_id`, `attribution`). The event is dated
//! by the last record it sums, and `duration_ms` spans its first to last record. A later import that
//! finds more usage for the same bucket writes another event (events are never rewritten).
//!
//! Payload: upstream's 11 keys (`cost_usd` null, so `cost` estimates it from the pricing table),
//! `cache_read_tokens`/`cache_write_tokens` when non-zero, plus `source` (`import:claude`, …),
//! `session_id`, `attribution` (the rule that placed it), `records` (usage records summed),
//! `cache_write_1h_tokens` (the part of the cache writes made to the 1-hour cache) and
//! `reasoning_tokens` (the part of the output that was reasoning) when non-zero. Records that could not
//! be attributed go to the `unattributed` bucket: `kitty-specs/unattributed/`, role `unattributed`,
//! with the reason.

use super::attribution::Attribution;
use super::ledger::PendingEvent;
use super::{Agent, Tokens, UsageRow};
use crate::context::Context;
use crate::events::{Event, EventId, Payload, Timestamp};
use crate::telemetry::{ExecutionRecord, Role};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The pseudo-feature holding usage that could not be attributed.
pub const UNATTRIBUTED: &str = "unattributed";

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct BucketKey {
    feature: String,
    hour: i64,
    wp: String,
    role: String,
    agent: Agent,
    model: Option<Arc<str>>,
    session: Arc<str>,
    reason: String,
}

#[derive(Debug, Clone)]
struct Bucket {
    tokens: Tokens,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    records: u64,
}

/// Sums rows into buckets, then makes their events.
#[derive(Debug, Default)]
pub struct Writer {
    buckets: BTreeMap<BucketKey, Bucket>,
}

impl Writer {
    pub fn add(&mut self, row: &UsageRow, attribution: &Attribution, tokens: Tokens) {
        let key = BucketKey {
            feature: attribution.feature.clone().unwrap_or_else(|| UNATTRIBUTED.to_owned()),
            hour: row.at.timestamp().div_euclid(3600),
            wp: attribution.wp_id.clone(),
            role: attribution.role.map_or(UNATTRIBUTED, Role::as_str).to_owned(),
            agent: row.agent,
            model: row.model.clone(),
            session: row.session.clone(),
            reason: attribution.reason.clone(),
        };
        let bucket = self.buckets.entry(key).or_insert(Bucket {
            tokens: Tokens::default(),
            first: row.at,
            last: row.at,
            records: 0,
        });
        bucket.tokens.add(&tokens);
        bucket.first = bucket.first.min(row.at);
        bucket.last = bucket.last.max(row.at);
        bucket.records += 1;
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// The events as journal entries (their lines with Lamport value 0, assigned when appended), in
    /// (feature, hour, …) order; ids from `ctx` dated by the usage. Lines rather than events keep the
    /// memory of a large import small.
    pub fn events(self, ctx: &Context) -> Vec<PendingEvent> {
        self.buckets
            .into_iter()
            .map(|(key, bucket)| {
                let role = key.role.parse::<Role>().ok();
                let record = ExecutionRecord {
                    wp_id: key.wp.clone(),
                    agent: key.agent.as_str().to_owned(),
                    role: role.unwrap_or(Role::Implementer),
                    model: key.model.as_deref().map(str::to_owned),
                    input_tokens: Some(bucket.tokens.input),
                    output_tokens: Some(bucket.tokens.output),
                    cache_read_tokens: (bucket.tokens.cache_read > 0).then_some(bucket.tokens.cache_read),
                    cache_write_tokens: (bucket.tokens.cache_write > 0).then_some(bucket.tokens.cache_write),
                    cost_usd: None,
                    duration_ms: u64::try_from((bucket.last - bucket.first).num_milliseconds()).unwrap_or(0),
                    success: true,
                    error: None,
                    exit_code: 0,
                };
                let mut payload: Payload = record.payload();
                if role.is_none() {
                    payload.insert("role".into(), Value::String(key.role.clone()));
                }
                payload.insert("source".into(), Value::String(key.agent.source().into()));
                payload.insert("session_id".into(), Value::String(key.session.to_string()));
                payload.insert("attribution".into(), Value::String(key.reason.clone()));
                payload.insert("records".into(), Value::from(bucket.records));
                if bucket.tokens.cache_write_1h > 0 {
                    payload.insert("cache_write_1h_tokens".into(), Value::from(bucket.tokens.cache_write_1h));
                }
                if bucket.tokens.reasoning > 0 {
                    payload.insert("reasoning_tokens".into(), Value::from(bucket.tokens.reasoning));
                }
                let ms = u64::try_from(bucket.last.timestamp_millis()).unwrap_or(0);
                let event = Event {
                    event_id: EventId::Ulid(ctx.ids.ulid(ms).0),
                    event_type: Cow::Borrowed(crate::telemetry::record::EVENT_TYPE),
                    aggregate_id: Cow::Owned(key.feature.clone()),
                    payload,
                    timestamp: Timestamp::from_utc(bucket.last),
                    node_id: Cow::Owned(record.node_id()),
                    lamport_clock: 0,
                    causation_id: None,
                };
                PendingEvent { feature: key.feature, event_id: event.event_id.to_string(), line: event.to_line() }
            })
            .collect()
    }
}
