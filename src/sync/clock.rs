//! The machine-wide Lamport clock `~/.spec-kitty/clock.json` (upstream's format:
//! `{"value": 42, "node_id": "10de6763124b", "updated_at": "…"}`, indent 2).
//!
//! Upstream loaded it once per process and saved without a lock, so parallel processes reused values
//! and a corrupt file silently restarted at 0. Here every tick happens under an exclusive lock on a
//! sibling lock file and replaces the file atomically; a corrupt file is rebuilt from the largest value
//! ever queued, so the clock never goes backwards.

use crate::events::{Timestamp, pyjson};
use crate::fsutil::write_atomic_locked;
use serde_json::{Value, json};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const CLOCK_FILE: &str = "clock.json";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockState {
    pub value: u64,
    pub node_id: String,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot update the Lamport clock {}: {source}", path.display())]
pub struct ClockError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// The clock file, locked for the lifetime of this value.
pub struct LockedClock {
    path: PathBuf,
    _lock: File,
    state: ClockState,
    /// Set when the file was unreadable and the state was recovered.
    pub recovered_from: Option<String>,
}

impl LockedClock {
    /// Locks and reads the clock in `home`. `high_water` supplies the largest value known elsewhere
    /// (the queue), used when the file is corrupt and as a floor otherwise; `fresh_node_id` names this
    /// machine when the file has no node id yet.
    /// Waits at most `timeout` for another process's lock.
    pub fn lock(
        home: &Path,
        high_water: u64,
        fresh_node_id: impl FnOnce() -> String,
        timeout: Duration,
    ) -> Result<Self, ClockError> {
        let path = home.join(CLOCK_FILE);
        let error = |source| ClockError { path: path.clone(), source };
        std::fs::create_dir_all(home).map_err(error)?;
        let lock_path = home.join("clock.json.lock");
        let lock = OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).map_err(error)?;
        crate::fsutil::lock_exclusive(&lock, &lock_path, timeout).map_err(error)?;
        let (state, recovered_from) = match read(&path) {
            Ok(Some(state)) => (state, None),
            Ok(None) => (ClockState { value: 0, node_id: String::new() }, None),
            Err(reason) => (ClockState { value: 0, node_id: String::new() }, Some(reason)),
        };
        let mut state = state;
        state.value = state.value.max(high_water);
        if state.node_id.is_empty() {
            state.node_id = fresh_node_id();
        }
        Ok(LockedClock { path, _lock: lock, state, recovered_from })
    }

    pub fn state(&self) -> &ClockState {
        &self.state
    }

    /// Reserves `count` consecutive values and persists the last; returns the first.
    pub fn tick(&mut self, count: u64, now: &Timestamp) -> Result<u64, ClockError> {
        let first = self.state.value + 1;
        self.state.value += count;
        self.save(now)?;
        Ok(first)
    }

    /// Observes a remote clock value: the local clock moves past it.
    pub fn receive(&mut self, remote: u64, now: &Timestamp) -> Result<u64, ClockError> {
        self.state.value = self.state.value.max(remote) + 1;
        self.save(now)?;
        Ok(self.state.value)
    }

    fn save(&self, now: &Timestamp) -> Result<(), ClockError> {
        let value = json!({"value": self.state.value, "node_id": self.state.node_id, "updated_at": now.isoformat()});
        let style = pyjson::Style { sort_keys: false, ensure_ascii: true, indent: Some(2) };
        write_atomic_locked(&self.path, pyjson::to_string(&value, style).as_bytes())
            .map_err(|source| ClockError { path: self.path.clone(), source })
    }
}

/// `Ok(None)` when missing; `Err(reason)` when present but unusable.
fn read(path: &Path) -> Result<Option<ClockState>, String> {
    let text = match crate::fsutil::read_small_string(path, crate::fsutil::SMALL_FILE_CAP) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let value: Value = serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))?;
    let value_field = value.get("value").and_then(Value::as_u64).ok_or("no non-negative integer \"value\"")?;
    let node_id = value.get("node_id").and_then(Value::as_str).unwrap_or_default().to_owned();
    Ok(Some(ClockState { value: value_field, node_id }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::parse("2026-02-18T14:03:22.123456+00:00").unwrap()
    }

    #[test]
    fn ticks_persist_in_upstreams_format() {
        let dir = tempfile::tempdir().unwrap();
        let mut clock = LockedClock::lock(dir.path(), 0, || "10de6763124b".into(), Duration::from_secs(5)).unwrap();
        assert_eq!(clock.tick(3, &now()).unwrap(), 1);
        drop(clock);
        assert_eq!(
            std::fs::read_to_string(dir.path().join(CLOCK_FILE)).unwrap(),
            "{\n  \"value\": 3,\n  \"node_id\": \"10de6763124b\",\n  \"updated_at\": \"2026-02-18T14:03:22.123456+00:00\"\n}"
        );
        let mut clock = LockedClock::lock(dir.path(), 0, || "other".into(), Duration::from_secs(5)).unwrap();
        assert_eq!(clock.state().node_id, "10de6763124b", "the node id is sticky");
        assert_eq!(clock.tick(1, &now()).unwrap(), 4);
        assert_eq!(clock.receive(100, &now()).unwrap(), 101);
    }

    #[test]
    fn a_corrupt_clock_never_goes_backwards() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CLOCK_FILE), "{\"value\": ").unwrap();
        let mut clock = LockedClock::lock(dir.path(), 41, || "n".into(), Duration::from_secs(5)).unwrap();
        assert!(clock.recovered_from.as_deref().unwrap().contains("not JSON"));
        assert_eq!(clock.tick(1, &now()).unwrap(), 42);
    }
}
