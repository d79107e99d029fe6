//! `~/.spec-kitty/sync-state.json`: what the last delivery attempts did, so that `sync status` can say
//! when events last reached the server (upstream kept this in memory only, so a fresh process always
//! showed "Never") and so that short commands skip their exit flush while the server is known to be
//! down. It never holds tokens. It is advisory: a missing or unreadable file is the default state,
//! and concurrent writers simply replace it (last writer wins).

use super::backoff::Backoff;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;

pub const STATE_FILE: &str = "sync-state.json";
/// After a failed exit flush: 30 s, doubling per consecutive failure up to 30 minutes (atuin's background
/// loop also caps at 30 minutes). No jitter: the window only decides whether the next command tries.
const FLUSH_BACKOFF: Backoff = Backoff::new(Duration::from_secs(30), Duration::from_secs(30 * 60));

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SyncState {
    #[serde(with = "rfc3339")]
    pub last_attempt_at: Option<DateTime<Utc>>,
    #[serde(with = "rfc3339")]
    pub last_success_at: Option<DateTime<Utc>>,
    pub consecutive_failures: u32,
    /// Until then, exit flushes do not try (an explicit `sync now` always does).
    #[serde(with = "rfc3339")]
    pub backoff_until: Option<DateTime<Utc>>,
    /// The last failure's kind (`offline`, `login_required`, `deadline`, …), never its secrets.
    pub last_error_category: Option<String>,
    pub last_error: Option<String>,
    /// Events the last successful attempt delivered.
    pub last_delivered: u64,
}

/// How an attempt ended, as far as the state file cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The server answered (events delivered, or the queue was already empty).
    Reached { delivered: u64 },
    /// The server could not be used; `category` names why.
    Failed { category: String, detail: String },
}

impl SyncState {
    /// The recorded state; the default when absent or unreadable.
    pub fn load(home: &Path) -> SyncState {
        crate::fsutil::read_small(&home.join(STATE_FILE), crate::fsutil::SMALL_FILE_CAP)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    pub fn save(&self, home: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(home)?;
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        crate::fsutil::write_atomic(&home.join(STATE_FILE), text.as_bytes())
    }

    pub fn in_backoff(&self, now: DateTime<Utc>) -> bool {
        self.backoff_until.is_some_and(|until| now < until)
    }

    /// Folds one attempt in: success clears the failure streak, failure extends the backoff.
    pub fn record(&mut self, attempt: &Attempt, now: DateTime<Utc>) {
        self.last_attempt_at = Some(now);
        match attempt {
            Attempt::Reached { delivered } => {
                self.last_success_at = Some(now);
                self.last_delivered = *delivered;
                self.consecutive_failures = 0;
                self.backoff_until = None;
                self.last_error_category = None;
                self.last_error = None;
            }
            Attempt::Failed { category, detail } => {
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                let wait = FLUSH_BACKOFF.delay(self.consecutive_failures);
                self.backoff_until = TimeDelta::from_std(wait).ok().and_then(|d| now.checked_add_signed(d));
                self.last_error_category = Some(category.clone());
                self.last_error = Some(detail.clone());
            }
        }
    }

    /// Loads, records and saves in one step; a write failure only loses advice, so it is ignored.
    pub fn update(home: &Path, attempt: &Attempt, now: DateTime<Utc>) -> SyncState {
        let mut state = SyncState::load(home);
        state.record(attempt, now);
        let _ = state.save(home);
        state
    }
}

/// Optional times as RFC 3339 strings (chrono is built without serde support); also used by the
/// background service's heartbeat file.
pub(crate) mod rfc3339 {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<DateTime<Utc>>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(at) => serializer.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Micros, true)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        let text: Option<String> = Option::deserialize(deserializer)?;
        Ok(text.and_then(|t| DateTime::parse_from_rfc3339(&t).ok()).map(|t| t.with_timezone(&Utc)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_771_240_353 + seconds, 0).unwrap()
    }

    #[test]
    fn failures_back_off_and_success_resets() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(SyncState::load(dir.path()), SyncState::default());
        let failed = Attempt::Failed { category: "offline".into(), detail: "connection refused".into() };
        let state = SyncState::update(dir.path(), &failed, at(0));
        assert!(state.in_backoff(at(29)) && !state.in_backoff(at(30)));
        let state = SyncState::update(dir.path(), &failed, at(30));
        assert_eq!(state.consecutive_failures, 2);
        assert!(state.in_backoff(at(89)) && !state.in_backoff(at(90)));
        let state = SyncState::update(dir.path(), &Attempt::Reached { delivered: 7 }, at(100));
        assert_eq!((state.consecutive_failures, state.backoff_until, state.last_delivered), (0, None, 7));
        assert_eq!(SyncState::load(dir.path()).last_success_at, Some(at(100)));
        assert_eq!(FLUSH_BACKOFF.delay(40), FLUSH_BACKOFF.cap);
    }

    #[test]
    fn a_corrupt_file_is_the_default_state() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(STATE_FILE), "{oops").unwrap();
        assert_eq!(SyncState::load(dir.path()), SyncState::default());
    }
}
