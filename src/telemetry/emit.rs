//! Recording one `ExecutionEvent`: the single write path for `execution.events.jsonl`.
//!
//! Under the log's exclusive lock: read the clock (and the log's last line, in case a writer died between
//! appending and updating the clock), take one more than the feature's largest Lamport value, append the
//! line in one write, update the clock. Nothing here reads the whole log unless the clock must be rebuilt,
//! so the cost of an emit does not grow with the log.

use super::clock::{self, CLOCK_FILE, ClockState, Counters};
use super::record::{EVENT_TYPE, ExecutionRecord, RecordError};
use crate::context::Context;
use crate::events::{Event, EventId, Timestamp};
use crate::store::{self, IgnoredPayload, LockedLog};
use std::borrow::Cow;
use std::path::{Path, PathBuf};

pub const LOG_FILE: &str = "execution.events.jsonl";

/// How much of the log's end is inspected for the latest Lamport value.
const TAIL_BYTES: u64 = 64 << 10;

/// A successfully stored event and anything the caller should tell the user.
#[derive(Debug)]
pub struct Emitted {
    pub event: Event<'static>,
    pub log_path: PathBuf,
    /// The feature directory did not exist and was created.
    pub created_feature_dir: bool,
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum EmitError {
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("cannot create feature directory {}: {source}", path.display())]
    CreateDir { path: PathBuf, source: std::io::Error },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
}

/// Appends one event for `record` to `<feature_dir>/execution.events.jsonl`. `root` is the project the
/// feature belongs to: the feature directory must not lead outside it through a symbolic link, and the
/// log and clock must not be links leaving the feature directory (nothing is written then). The log's
/// lock is awaited for at most `ctx.emit_lock_timeout`.
pub fn emit(
    root: &Path,
    feature_dir: &Path,
    feature_slug: &str,
    record: &ExecutionRecord,
    ctx: &Context,
) -> Result<Emitted, EmitError> {
    record.validate()?;
    let event = Event {
        event_id: EventId::Ulid(ctx.new_ulid().0),
        event_type: Cow::Borrowed(EVENT_TYPE),
        aggregate_id: Cow::Owned(feature_slug.to_owned()),
        payload: record.payload(),
        timestamp: Timestamp::from_utc(ctx.now()),
        node_id: Cow::Owned(record.node_id()),
        lamport_clock: 0,
        causation_id: None,
    };
    let mut batch = append_events(root, feature_dir, vec![event], ctx)?;
    let event = batch.events.pop().expect("one event appended");
    Ok(Emitted {
        event,
        log_path: batch.log_path,
        created_feature_dir: batch.created_feature_dir,
        warnings: batch.warnings,
    })
}

/// Events appended by [`append_events`], with their Lamport values.
#[derive(Debug)]
pub struct Appended {
    pub events: Vec<Event<'static>>,
    pub log_path: PathBuf,
    pub created_feature_dir: bool,
    pub warnings: Vec<String>,
}

/// Appends prepared events (ids, times, node ids and payloads given; e.g. usage imported from agents'
/// logs, dated by the usage itself) under one hold of the log's lock, with the guarantees of [`emit`]:
/// each gets one more than the feature's largest Lamport value so far, each line is one write (started on
/// a fresh line after a torn tail, undone if it fails), and the clock is updated once at the end. The
/// events' own `lamport_clock` values are ignored. On an error, the events before the failing one are
/// stored.
pub fn append_events(
    root: &Path,
    feature_dir: &Path,
    mut events: Vec<Event<'static>>,
    ctx: &Context,
) -> Result<Appended, EmitError> {
    let log_path = feature_dir.join(LOG_FILE);
    let clock_path = feature_dir.join(CLOCK_FILE);
    crate::fsutil::ensure_within(root, &log_path)
        .map_err(|source| EmitError::Write { path: feature_dir.to_owned(), source })?;
    let created_feature_dir = !feature_dir.is_dir();
    std::fs::create_dir_all(feature_dir)
        .map_err(|source| EmitError::CreateDir { path: feature_dir.to_owned(), source })?;
    crate::fsutil::refuse_escaping_link(&clock_path)
        .map_err(|source| EmitError::Write { path: clock_path.clone(), source })?;

    let write_error = |source| EmitError::Write { path: log_path.clone(), source };
    let mut warnings = Vec::new();

    let mut log = LockedLog::open(&log_path, ctx.emit_lock_timeout).map_err(write_error)?;
    let mut counters = current_counters(&log, &clock_path, &mut warnings).map_err(write_error)?;
    let mut latest =
        counters.values().copied().max().unwrap_or(0).max(last_lamport(&log).map_err(write_error)?.unwrap_or(0));

    for event in &mut events {
        latest += 1;
        event.lamport_clock = latest;
        log.append_line(&event.to_line()).map_err(write_error)?;
        counters.insert(event.node_id.to_string(), latest);
    }
    if let Err(e) = clock::write(&clock_path, &counters) {
        // The events are stored; the clock is only a cache that the next emit re-derives from the log tail.
        warnings.push(format!("event stored, but {} could not be updated: {e}", clock_path.display()));
    }
    drop(log);
    Ok(Appended { events, log_path, created_feature_dir, warnings })
}

/// The clock's counters, rebuilt from the log when the file is missing (but the log is not) or corrupt.
fn current_counters(log: &LockedLog, clock_path: &Path, warnings: &mut Vec<String>) -> std::io::Result<Counters> {
    match clock::read(clock_path) {
        ClockState::Valid(counters) => Ok(counters),
        ClockState::Missing if log.is_empty()? => Ok(Counters::new()),
        ClockState::Missing => rebuild_counters(log.path()),
        ClockState::Corrupt(reason) => {
            warnings.push(format!(
                "{} was corrupt ({reason}); rebuilt it from {}",
                clock_path.display(),
                log.path().display()
            ));
            rebuild_counters(log.path())
        }
    }
}

/// The largest Lamport value per node, from a full scan of the log.
fn rebuild_counters(log_path: &Path) -> std::io::Result<Counters> {
    let mut counters = Counters::new();
    store::scan_events::<IgnoredPayload>(log_path, |event| {
        let slot = counters.entry(event.node_id.into_owned()).or_insert(0);
        *slot = (*slot).max(event.lamport_clock);
    })?;
    Ok(counters)
}

/// The Lamport value of the last complete, valid line of the log. Reads a tail window, widening it
/// while it holds no complete valid line (a very long last line), up to the whole file.
fn last_lamport(log: &LockedLog) -> std::io::Result<Option<u64>> {
    let len = log.len()?;
    let mut window = TAIL_BYTES;
    loop {
        let tail = log.tail(window)?;
        let started_mid_file = len > window;
        let mut lines: Vec<&[u8]> = tail.split(|&b| b == b'\n').collect();
        lines.pop(); // after the final '\n' (empty), or a torn last line
        let found = lines
            .iter()
            .skip(usize::from(started_mid_file))
            .rev()
            .find_map(|line| Event::<store::Ignored>::from_line(line.trim_ascii()).ok())
            .map(|event| event.lamport_clock);
        if found.is_some() || !started_mid_file {
            return Ok(found);
        }
        window = window.saturating_mul(4);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Clock;
    use crate::events::IdGenerator;
    use crate::telemetry::record::Role;

    fn ctx() -> Context {
        Context {
            cwd: PathBuf::from("/"),
            home: None,
            repo_root_override: None,
            feature_override: None,
            server_url_override: None,
            ca_file_override: None,
            sync_events_disabled: false,
            clock: Clock::Fixed("2026-02-16T11:12:33.324349Z".parse().unwrap()),
            ids: IdGenerator::seeded(1),
            strict: false,
            lock_timeout: crate::context::DEFAULT_LOCK_TIMEOUT,
            emit_lock_timeout: crate::context::DEFAULT_EMIT_LOCK_TIMEOUT,
        }
    }

    fn lamports(path: &Path) -> Vec<u64> {
        let mut out = Vec::new();
        store::scan_events::<IgnoredPayload>(path, |e| out.push(e.lamport_clock)).unwrap();
        out
    }

    #[test]
    fn emits_the_upstream_line_and_clock() {
        let dir = tempfile::tempdir().unwrap();
        let feature = dir.path().join("kitty-specs/001-x");
        let mut record = ExecutionRecord::new(Role::Implementer);
        record.wp_id = "WP03".into();
        let ctx = ctx();
        let first = emit(dir.path(), &feature, "001-x", &record, &ctx).unwrap();
        assert!(first.created_feature_dir);
        let second = emit(dir.path(), &feature, "001-x", &record, &ctx).unwrap();
        assert!(!second.created_feature_dir);
        assert_eq!((first.event.lamport_clock, second.event.lamport_clock), (1, 2));
        let text = std::fs::read_to_string(feature.join(LOG_FILE)).unwrap();
        let line = text.lines().next().unwrap();
        assert!(line.starts_with(r#"{"aggregate_id": "001-x", "causation_id": null, "event_id": ""#), "{line}");
        assert!(line.ends_with(r#""lamport_clock": 1, "node_id": "cli:WP03", "payload": {"agent": "unknown", "cost_usd": null, "duration_ms": 0, "error": null, "exit_code": 0, "input_tokens": null, "model": null, "output_tokens": null, "role": "implementer", "success": true, "wp_id": "WP03"}, "timestamp": "2026-02-16T11:12:33.324349+00:00"}"#), "{line}");
        assert_eq!(std::fs::read_to_string(feature.join(CLOCK_FILE)).unwrap(), r#"{"cli:WP03": 2}"#);
    }

    #[test]
    fn lamport_continues_from_the_largest_value_of_any_node() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CLOCK_FILE), r#"{"cli:N/A": 6, "cli:WP01": 1}"#).unwrap();
        std::fs::write(dir.path().join(LOG_FILE), "").unwrap();
        let emitted = emit(dir.path(), dir.path(), "f", &ExecutionRecord::new(Role::Planner), &ctx()).unwrap();
        assert_eq!(emitted.event.lamport_clock, 7);
    }

    #[test]
    fn corrupt_or_stale_clock_is_rebuilt_from_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = ctx();
        let record = ExecutionRecord::new(Role::Planner);
        for _ in 0..3 {
            emit(dir.path(), dir.path(), "f", &record, &ctx).unwrap();
        }
        std::fs::write(dir.path().join(CLOCK_FILE), "[1]").unwrap();
        let emitted = emit(dir.path(), dir.path(), "f", &record, &ctx).unwrap();
        assert_eq!(emitted.event.lamport_clock, 4);
        assert!(emitted.warnings[0].contains("was corrupt"), "{:?}", emitted.warnings);
        // A clock older than the log (writer killed between append and clock update) is overtaken by the tail.
        std::fs::write(dir.path().join(CLOCK_FILE), r#"{"cli:N/A": 1}"#).unwrap();
        assert_eq!(emit(dir.path(), dir.path(), "f", &record, &ctx).unwrap().event.lamport_clock, 5);
        std::fs::remove_file(dir.path().join(CLOCK_FILE)).unwrap();
        assert_eq!(emit(dir.path(), dir.path(), "f", &record, &ctx).unwrap().event.lamport_clock, 6);
        assert_eq!(lamports(&dir.path().join(LOG_FILE)), [1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn torn_and_poisoned_logs_do_not_block_emits() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = ctx();
        let record = ExecutionRecord::new(Role::Planner);
        emit(dir.path(), dir.path(), "f", &record, &ctx).unwrap();
        let log = dir.path().join(LOG_FILE);
        let mut text = std::fs::read(&log).unwrap();
        text.extend_from_slice(b"[1, 2]\n{\"aggregate_id\": \"f\", \"trunc");
        std::fs::write(&log, text).unwrap();
        assert_eq!(emit(dir.path(), dir.path(), "f", &record, &ctx).unwrap().event.lamport_clock, 2);
        let report = store::scan_events::<IgnoredPayload>(&log, |_| {}).unwrap();
        assert_eq!((report.events, report.malformed), (2, 2));
    }

    #[test]
    fn invalid_records_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut record = ExecutionRecord::new(Role::Planner);
        record.cost_usd = Some(f64::NAN);
        assert!(matches!(emit(dir.path(), &dir.path().join("f"), "f", &record, &ctx()), Err(EmitError::Record(_))));
        assert!(!dir.path().join("f").exists());
    }

    #[test]
    fn a_feature_dir_leading_outside_the_project_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (root, outside) = (dir.path().join("project"), dir.path().join("outside"));
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("kitty-specs")).unwrap();
        let record = ExecutionRecord::new(Role::Planner);
        let err = emit(&root, &root.join("kitty-specs/001-x"), "001-x", &record, &ctx()).unwrap_err();
        assert!(err.to_string().contains("kitty-specs is a symbolic link to"), "{err}");
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0, "nothing created outside");
    }

    #[test]
    fn a_held_log_lock_is_waited_for_only_briefly() {
        let dir = tempfile::tempdir().unwrap();
        let record = ExecutionRecord::new(Role::Planner);
        emit(dir.path(), dir.path(), "f", &record, &ctx()).unwrap();
        let _held = LockedLog::open(&dir.path().join(LOG_FILE), std::time::Duration::from_secs(5)).unwrap();
        let ctx = Context { emit_lock_timeout: std::time::Duration::from_millis(50), ..ctx() };
        let Err(EmitError::Write { source, .. }) = emit(dir.path(), dir.path(), "f", &record, &ctx) else {
            panic!("the emit should time out")
        };
        assert!(crate::fsutil::LockTimeout::of(&source).is_some(), "{source}");
    }
}
