//! The per-feature Lamport clock file `.telemetry-clock.json`: `{"<node_id>": <int>, ...}`, sorted keys,
//! no trailing newline, exactly as upstream writes it.
//!
//! Upstream keeps one counter per node and reads/writes it without a lock; we read it under the log's
//! lock, give each new event one more than the largest value of the whole feature, and replace the file
//! atomically. The file is only a cache of the log: when it is missing or corrupt it is rebuilt from the
//! log, never reset to 0.

use crate::events::pyjson;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io;
use std::path::Path;

pub const CLOCK_FILE: &str = ".telemetry-clock.json";

/// Counter per node id.
pub type Counters = BTreeMap<String, u64>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClockState {
    Missing,
    Valid(Counters),
    /// Unreadable or not a JSON object of non-negative integers; the reason says which.
    Corrupt(String),
}

pub fn read(path: &Path) -> ClockState {
    let text = match crate::fsutil::read_small(path, crate::fsutil::SMALL_FILE_CAP) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return ClockState::Missing,
        Err(e) => return ClockState::Corrupt(e.to_string()),
    };
    let value: Value = match serde_json::from_slice(&text) {
        Ok(value) => value,
        Err(e) => return ClockState::Corrupt(format!("not JSON: {e}")),
    };
    let Value::Object(map) = value else {
        return ClockState::Corrupt("not a JSON object".into());
    };
    let mut counters = Counters::new();
    for (node, value) in map {
        let count = value
            .as_u64()
            .or_else(|| value.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 1.8e19).map(|f| f as u64));
        match count {
            Some(count) => counters.insert(node, count),
            None => return ClockState::Corrupt(format!("value for {node:?} is not a non-negative integer: {value}")),
        };
    }
    ClockState::Valid(counters)
}

/// Replaces the clock file atomically (see [`crate::fsutil::write_atomic_locked`]). Callers hold the
/// log's lock, so writers of one feature never race on it, and temp files of killed writers are cleared.
pub fn write(path: &Path, counters: &Counters) -> io::Result<()> {
    let object = counters.iter().map(|(k, v)| (k.clone(), Value::from(*v))).collect();
    crate::fsutil::write_atomic_locked(path, pyjson::to_string(&Value::Object(object), pyjson::LOG_LINE).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_upstream_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CLOCK_FILE);
        assert_eq!(read(&path), ClockState::Missing);
        std::fs::write(&path, r#"{"cli:N/A": 6, "cli:WP01": 1, "cli:WP02": 1}"#).unwrap();
        let ClockState::Valid(mut counters) = read(&path) else { panic!() };
        assert_eq!(counters["cli:N/A"], 6);
        counters.insert("cli:WP01".into(), 7);
        write(&path, &counters).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), r#"{"cli:N/A": 6, "cli:WP01": 7, "cli:WP02": 1}"#);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temp file left behind");
    }

    #[test]
    fn corrupt_files_are_reported_not_zeroed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CLOCK_FILE);
        for (text, reason) in [
            ("not json", "not JSON"),
            ("[1]", "not a JSON object"),
            (r#"{"a": -1}"#, "non-negative"),
            (r#"{"a": "7"}"#, "non-negative"),
            (r#"{"a": 7.5}"#, "non-negative"),
        ] {
            std::fs::write(&path, text).unwrap();
            match read(&path) {
                ClockState::Corrupt(why) => assert!(why.contains(reason), "{text}: {why}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
