//! The canonical status of a feature's work packages: the append-only log `status.events.jsonl`, the view
//! `status.json` materialised from it, and the generated block at the end of `tasks.md` — upstream's
//! `status/{models,store,reducer,legacy_bridge}.py` (see `reference/workflow.md` §1.4 and §2.3).
//!
//! The log is the authority. Every writer of ours goes through [`lock`]: holding the feature lock
//! ([`FeatureLock`]) it reads the current events, lets the caller validate and append, and re-materialises
//! `status.json`, so two processes moving work packages of one feature at the same time are serialised
//! and can neither lose an event nor interleave their views. Unlike the telemetry log, a malformed line is a hard error:
//! silently dropping a transition would change the lane the reducer computes.

use super::lanes::Lane;
use super::lock::FeatureLock;
use crate::events::envelope::describe_json_error;
use crate::events::{EventId, LineError, Timestamp, pyjson};
use crate::store::{self, LockedLog};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashSet};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const EVENTS_FILE: &str = "status.events.jsonl";
pub const SNAPSHOT_FILE: &str = "status.json";
pub const STATUS_BLOCK_START: &str = "<!-- status-model:start -->";
pub const STATUS_BLOCK_END: &str = "<!-- status-model:end -->";
const STATUS_BLOCK_TITLE: &str = "## Canonical Status (Generated)";

/// One lane transition of one work package: a line of `status.events.jsonl`.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusEvent {
    pub actor: String,
    pub at: Timestamp,
    pub event_id: EventId,
    /// `{"review": {"reviewer", "verdict", "reference"}, "repos"?: [...], "verification"?: [...]}` on done.
    pub evidence: Option<Value>,
    /// `worktree` or `direct_repo`.
    pub execution_mode: String,
    pub feature_slug: String,
    pub force: bool,
    pub from_lane: Lane,
    pub policy_metadata: Option<Value>,
    pub reason: Option<String>,
    pub review_ref: Option<String>,
    pub to_lane: Lane,
    pub wp_id: String,
}

/// A log line as found on disk: older lines lack `policy_metadata`, newer upstream writes `mission_slug`
/// instead of `feature_slug`, and unknown keys are ignored.
#[derive(Deserialize)]
struct EventLine {
    actor: String,
    at: Timestamp,
    event_id: EventId,
    #[serde(default)]
    evidence: Option<Value>,
    execution_mode: String,
    #[serde(default)]
    feature_slug: Option<String>,
    #[serde(default)]
    mission_slug: Option<String>,
    force: bool,
    #[serde(deserialize_with = "from_lane")]
    from_lane: Lane,
    #[serde(default)]
    policy_metadata: Option<Value>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    review_ref: Option<String>,
    to_lane: Lane,
    wp_id: String,
}

/// A transition's origin. Current upstream seeds each work package with a `genesis -> planned` event
/// when its tasks are finalized; before that event the WP simply had no lane, which we read as planned
/// (as upstream's older readers did), so `genesis` reads as `planned`.
fn from_lane<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Lane, D::Error> {
    let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
    if text.trim().eq_ignore_ascii_case("genesis") {
        return Ok(Lane::Planned);
    }
    Lane::parse(&text).map_err(serde::de::Error::custom)
}

impl StatusEvent {
    /// Parses one log line (without its newline).
    pub fn from_line(line: &[u8]) -> Result<Self, LineError> {
        let text = std::str::from_utf8(line).map_err(|_| LineError("not valid UTF-8".into()))?;
        let raw: EventLine = serde_json::from_str(text).map_err(|e| LineError(describe_json_error(&e)))?;
        Ok(StatusEvent {
            actor: raw.actor,
            at: raw.at,
            event_id: raw.event_id,
            evidence: raw.evidence,
            execution_mode: raw.execution_mode,
            feature_slug: raw.feature_slug.or(raw.mission_slug).unwrap_or_default(),
            force: raw.force,
            from_lane: raw.from_lane,
            policy_metadata: raw.policy_metadata,
            reason: raw.reason,
            review_ref: raw.review_ref,
            to_lane: raw.to_lane,
            wp_id: raw.wp_id,
        })
    }

    /// The line upstream's store writes: `json.dumps(event.to_dict(), sort_keys=True)`, every key present
    /// (`policy_metadata` included, as null when absent), lanes by canonical name.
    pub fn to_line(&self) -> String {
        let optional_text = |value: &Option<String>| value.as_deref().map_or(Value::Null, Value::from);
        let entries = [
            ("actor", Value::from(self.actor.as_str())),
            ("at", Value::from(self.at.isoformat())),
            ("event_id", Value::from(self.event_id.to_string())),
            ("evidence", self.evidence.clone().unwrap_or(Value::Null)),
            ("execution_mode", Value::from(self.execution_mode.as_str())),
            ("feature_slug", Value::from(self.feature_slug.as_str())),
            ("force", Value::from(self.force)),
            ("from_lane", Value::from(self.from_lane.as_str())),
            ("policy_metadata", self.policy_metadata.clone().unwrap_or(Value::Null)),
            ("reason", optional_text(&self.reason)),
            ("review_ref", optional_text(&self.review_ref)),
            ("to_lane", Value::from(self.to_lane.as_str())),
            ("wp_id", Value::from(self.wp_id.as_str())),
        ];
        let object: Map<String, Value> = entries.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        pyjson::to_string(&Value::Object(object), pyjson::LOG_LINE)
    }

    /// A reviewer sending the work back (for_review, in_review or approved → in_progress with a review
    /// reference). When it shares its timestamp with a forward move of the same work package, the rollback
    /// wins.
    pub fn is_rollback(&self) -> bool {
        matches!(self.from_lane, Lane::ForReview | Lane::InReview | Lane::Approved)
            && self.to_lane == Lane::InProgress
            && self.review_ref.is_some()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error(
        "{} line {line} is not a valid status event ({reason}){also}; status history is never skipped, so fix \
         or delete that line (one JSON event per line) and retry",
        path.display(),
        also = also_malformed(*others)
    )]
    Malformed { path: PathBuf, line: u64, reason: String, others: u64 },
    #[error(
        "{} ends in an incomplete line {line} (a writer was interrupted mid-write); delete that partial last \
         line and retry",
        path.display()
    )]
    TornTail { path: PathBuf, line: u64 },
    /// Another process held the log's lock for longer than the wait allowed.
    #[error("{0}")]
    Locked(crate::fsutil::LockTimeout),
}

impl crate::error::Diagnose for StatusError {
    fn hints(&self) -> Vec<String> {
        match self {
            e if e.is_damaged_log() => vec!["the status log must be repaired before lanes can move".into()],
            StatusError::Locked(_) => vec![super::lock::BUSY_HINT.into()],
            _ => Vec::new(),
        }
    }
}

impl StatusError {
    /// The log itself is damaged (a line does not parse): only then does it need repairing by hand.
    pub fn is_damaged_log(&self) -> bool {
        matches!(self, StatusError::Malformed { .. } | StatusError::TornTail { .. })
    }

    fn io(path: &Path, source: io::Error, write: bool) -> StatusError {
        match crate::fsutil::LockTimeout::of(&source) {
            Some(timeout) => StatusError::Locked(timeout.clone()),
            None if write => StatusError::Write { path: path.to_owned(), source },
            None => StatusError::Read { path: path.to_owned(), source },
        }
    }
}

fn also_malformed(others: u64) -> String {
    match others {
        0 => String::new(),
        n => format!(" and {n} more malformed line(s) follow"),
    }
}

pub fn events_path(feature_dir: &Path) -> PathBuf {
    feature_dir.join(EVENTS_FILE)
}

/// All events of the feature's log in file order (a missing log is empty). Holds a shared lock while
/// reading (waiting at most `timeout` for a writer), so it never sees a line a writer of ours is still
/// writing; use [`lock`] when the result decides what to write.
pub fn read_events(feature_dir: &Path, timeout: Duration) -> Result<Vec<StatusEvent>, StatusError> {
    let path = events_path(feature_dir);
    let file = match crate::fsutil::open_regular(&path, std::fs::OpenOptions::new().read(true)) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StatusError::io(&path, e, false)),
    };
    crate::fsutil::lock_shared(&file, &path, timeout).map_err(|e| StatusError::io(&path, e, false))?;
    read_log(&path)
}

fn read_log(path: &Path) -> Result<Vec<StatusEvent>, StatusError> {
    let mut events = Vec::new();
    let mut last_line = 0;
    let report = store::for_each_line(path, |line_no, line| {
        last_line = line_no;
        events.push(StatusEvent::from_line(line)?);
        Ok(())
    })
    .map_err(|source| StatusError::Read { path: path.to_owned(), source })?;
    let Some(first) = report.first_malformed else {
        return Ok(events);
    };
    let path = path.to_owned();
    let others = report.malformed - 1;
    // A bad final line without its newline is a write that never finished, which calls for a different fix.
    if others == 0 && first.line == last_line && !ends_with_newline(&path).unwrap_or(true) {
        return Err(StatusError::TornTail { path, line: first.line });
    }
    Err(StatusError::Malformed { path, line: first.line, reason: first.reason, others })
}

fn ends_with_newline(path: &Path) -> io::Result<bool> {
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(true);
    }
    let mut last = [0u8; 1];
    file.read_exact_at(&mut last, len - 1)?;
    Ok(last[0] == b'\n')
}

/// The log, created if needed and locked (waiting at most `timeout` for readers). The caller holds the
/// feature lock, which resolved the feature directory inside the project; the log itself may not be a
/// link leaving the directory.
fn open_locked(feature_dir: &Path, timeout: Duration) -> Result<LockedLog, StatusError> {
    let path = events_path(feature_dir);
    LockedLog::open(&path, timeout).map_err(|e| StatusError::io(&path, e, true))
}

fn append_event(log: &mut LockedLog, event: &StatusEvent) -> Result<(), StatusError> {
    log.append_line(&event.to_line()).map_err(|source| StatusError::Write { path: log.path().to_owned(), source })
}

/// Opens the feature's status log for appending and reads it, under the feature lock the caller holds
/// (which is what serialises writers; the log's own lock, awaited for at most the feature lock's
/// timeout, keeps readers from seeing a half-written line). The log is created when missing.
pub fn lock(feature: &FeatureLock) -> Result<LockedStatus, StatusError> {
    let feature_dir = feature.feature_dir();
    let log = open_locked(feature_dir, feature.timeout())?;
    let events = read_log(log.path())?;
    Ok(LockedStatus { feature_dir: feature_dir.to_owned(), log, events })
}

/// A feature's status log held under its exclusive lock, with the events it contains.
#[derive(Debug)]
pub struct LockedStatus {
    feature_dir: PathBuf,
    log: LockedLog,
    events: Vec<StatusEvent>,
}

impl LockedStatus {
    pub fn feature_dir(&self) -> &Path {
        &self.feature_dir
    }

    /// Every event of the log in file order, including those appended through this value.
    pub fn events(&self) -> &[StatusEvent] {
        &self.events
    }

    /// The work package's lane as the reducer sees it, or `None` when the log never mentions it (upstream
    /// then treats it as `planned`).
    pub fn current_lane(&self, wp_id: &str) -> Option<Lane> {
        fold_work_packages(&ordered_unique(&self.events)).get(wp_id).map(|state| state.lane)
    }

    /// The latest instant any event of the work package carries, if the log mentions it.
    pub fn latest_at(&self, wp_id: &str) -> Option<DateTime<Utc>> {
        self.events.iter().filter(|e| e.wp_id == wp_id).map(|e| e.at.to_utc()).max()
    }

    /// Appends `events` (one write per line) and remembers them for [`LockedStatus::snapshot`]. An event
    /// is remembered only once its line is written, so a failure leaves the two in agreement.
    pub fn append(&mut self, events: &[StatusEvent]) -> Result<(), StatusError> {
        for event in events {
            append_event(&mut self.log, event)?;
            self.events.push(event.clone());
        }
        Ok(())
    }

    pub fn snapshot(&self, materialized_at: Timestamp) -> StatusSnapshot {
        materialize(&self.events, materialized_at)
    }

    /// Reduces the log and replaces `status.json` atomically (temp file + rename), still under the lock,
    /// so readers never see a torn view and two writers never interleave theirs.
    pub fn materialize_and_write(&self, materialized_at: Timestamp) -> Result<StatusSnapshot, StatusError> {
        let snapshot = self.snapshot(materialized_at);
        let path = self.feature_dir.join(SNAPSHOT_FILE);
        crate::fsutil::write_atomic_locked(&path, snapshot.to_file_text().as_bytes())
            .map_err(|source| StatusError::Write { path, source })?;
        Ok(snapshot)
    }
}

/// The reduced state of one work package (an entry of `status.json`'s `work_packages`).
#[derive(Debug, Clone, PartialEq)]
pub struct WpStatus {
    pub lane: Lane,
    pub actor: String,
    pub last_transition_at: Timestamp,
    pub last_event_id: EventId,
    /// How many of the applied events were forced.
    pub force_count: u64,
}

/// The materialised view of a log: `status.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusSnapshot {
    /// The slug of the earliest event; empty for an empty log.
    pub feature_slug: String,
    pub materialized_at: Timestamp,
    /// Distinct events (by id).
    pub event_count: u64,
    pub last_event_id: Option<EventId>,
    pub work_packages: BTreeMap<String, WpStatus>,
    /// Work packages per lane, every lane present.
    pub summary: BTreeMap<Lane, u64>,
}

impl StatusSnapshot {
    /// Each work package's lane, for the legacy views (frontmatter, tasks.md block).
    pub fn lanes(&self) -> BTreeMap<String, Lane> {
        self.work_packages.iter().map(|(wp, state)| (wp.clone(), state.lane)).collect()
    }

    pub fn to_json(&self) -> Value {
        let summary: Map<String, Value> =
            self.summary.iter().map(|(lane, count)| (lane.as_str().to_owned(), Value::from(*count))).collect();
        let work_packages: Map<String, Value> =
            self.work_packages.iter().map(|(wp, state)| (wp.clone(), wp_status_json(state))).collect();
        let mut object = Map::new();
        object.insert("event_count".into(), Value::from(self.event_count));
        object.insert("feature_slug".into(), Value::from(self.feature_slug.as_str()));
        object.insert(
            "last_event_id".into(),
            self.last_event_id.as_ref().map_or(Value::Null, |id| id.to_string().into()),
        );
        object.insert("materialized_at".into(), Value::from(self.materialized_at.isoformat()));
        object.insert("summary".into(), Value::Object(summary));
        object.insert("work_packages".into(), Value::Object(work_packages));
        Value::Object(object)
    }

    /// The bytes of `status.json`: `json.dumps(sort_keys=True, indent=2, ensure_ascii=False) + "\n"`.
    pub fn to_file_text(&self) -> String {
        let mut text = pyjson::to_string(&self.to_json(), pyjson::PRETTY_SORTED);
        text.push('\n');
        text
    }
}

fn wp_status_json(state: &WpStatus) -> Value {
    let mut object = Map::new();
    object.insert("actor".into(), Value::from(state.actor.as_str()));
    object.insert("force_count".into(), Value::from(state.force_count));
    object.insert("lane".into(), Value::from(state.lane.as_str()));
    object.insert("last_event_id".into(), Value::from(state.last_event_id.to_string()));
    object.insert("last_transition_at".into(), Value::from(state.last_transition_at.isoformat()));
    Value::Object(object)
}

/// Upstream's reducer: drop repeated event ids (the first occurrence wins, as when two worktrees' logs are
/// merged), order by (time, event id), and fold each work package's events into its current state.
pub fn materialize(events: &[StatusEvent], materialized_at: Timestamp) -> StatusSnapshot {
    let ordered = ordered_unique(events);
    let work_packages = fold_work_packages(&ordered);
    let occupied = |lane| work_packages.values().any(|state| state.lane == lane);
    let mut summary: BTreeMap<Lane, u64> = Lane::listed(occupied).map(|lane| (lane, 0)).collect();
    for state in work_packages.values() {
        *summary.entry(state.lane).or_default() += 1;
    }
    StatusSnapshot {
        feature_slug: ordered.first().map(|e| e.feature_slug.clone()).unwrap_or_default(),
        materialized_at,
        event_count: ordered.len() as u64,
        last_event_id: ordered.last().map(|e| e.event_id.clone()),
        work_packages,
        summary,
    }
}

/// Distinct events sorted by (instant, event id); the sort is stable, like Python's.
fn ordered_unique(events: &[StatusEvent]) -> Vec<&StatusEvent> {
    let mut seen = HashSet::new();
    let mut keyed: Vec<(DateTime<Utc>, String, &StatusEvent)> = events
        .iter()
        .filter(|event| seen.insert(&event.event_id))
        .map(|event| (event.at.to_utc(), event.event_id.to_string(), event))
        .collect();
    keyed.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    keyed.into_iter().map(|(_, _, event)| event).collect()
}

/// A work package's state while folding, plus what the tie-break needs to know about its last event.
struct Folded {
    state: WpStatus,
    set_by_rollback: bool,
}

fn fold_work_packages(ordered: &[&StatusEvent]) -> BTreeMap<String, WpStatus> {
    let mut folded: BTreeMap<String, Folded> = BTreeMap::new();
    for event in ordered {
        let previous = folded.get(&event.wp_id);
        if !supersedes(previous, event) {
            continue;
        }
        // Only applied events count, as upstream carries force_count from the state it replaces.
        let force_count = previous.map_or(0, |p| p.state.force_count) + u64::from(event.force);
        let state = WpStatus {
            lane: event.to_lane,
            actor: event.actor.clone(),
            last_transition_at: event.at,
            last_event_id: event.event_id.clone(),
            force_count,
        };
        folded.insert(event.wp_id.clone(), Folded { state, set_by_rollback: event.is_rollback() });
    }
    folded.into_iter().map(|(wp, f)| (wp, f.state)).collect()
}

/// Later events win, except that a forward move stamped with the same instant as a rollback does not
/// override it: when parallel worktrees record both, the reviewer's rejection must stand.
fn supersedes(current: Option<&Folded>, event: &StatusEvent) -> bool {
    let Some(current) = current else {
        return true;
    };
    let concurrent = current.state.last_transition_at.to_utc() == event.at.to_utc();
    !(concurrent && current.set_by_rollback && !event.is_rollback())
}

/// Inserts or replaces the generated status block of `tasks.md`:
///
/// ```text
/// <!-- status-model:start -->
/// ## Canonical Status (Generated)
/// - WP01: done
/// <!-- status-model:end -->
/// ```
///
/// Work packages in sorted order. As upstream: an existing block is replaced in place with exactly one
/// blank line on each side; otherwise the block is appended after one blank line; the file ends with a
/// newline. Only the whitespace separating the block from its neighbours is normalised — all other text is
/// kept byte for byte, and a CRLF file keeps CRLF (upstream would rewrite the whole file with LF).
pub fn upsert_status_block(tasks_md: &str, lanes: &BTreeMap<String, Lane>) -> String {
    let eol = if uses_crlf(tasks_md) { "\r\n" } else { "\n" };
    let block = render_status_block(lanes, eol);
    let start = tasks_md.find(STATUS_BLOCK_START);
    let end = start.and_then(|s| tasks_md[s..].find(STATUS_BLOCK_END).map(|e| s + e));
    if let (Some(start), Some(end)) = (start, end) {
        let before = py_rstrip(&tasks_md[..start]);
        let after = tasks_md[end + STATUS_BLOCK_END.len()..].trim_start_matches(['\r', '\n']);
        let mut out = String::with_capacity(tasks_md.len() + block.len());
        if !before.is_empty() {
            out.extend([before, eol, eol]);
        }
        out.push_str(&block);
        if !after.is_empty() {
            out.extend([eol, eol, after]);
        }
        if !out.ends_with('\n') {
            out.push_str(eol);
        }
        return out;
    }
    let before = py_rstrip(tasks_md);
    if before.is_empty() {
        return block + eol;
    }
    [before, eol, eol, &block, eol].concat()
}

fn render_status_block(lanes: &BTreeMap<String, Lane>, eol: &str) -> String {
    let mut lines = vec![STATUS_BLOCK_START.to_owned(), STATUS_BLOCK_TITLE.to_owned()];
    lines.extend(lanes.iter().map(|(wp, lane)| format!("- {wp}: {lane}")));
    lines.push(STATUS_BLOCK_END.to_owned());
    lines.join(eol)
}

/// Whether the file's first line ends in CRLF; new lines then follow suit.
fn uses_crlf(text: &str) -> bool {
    text.find('\n').is_some_and(|i| text[..i].ends_with('\r'))
}

/// Python's `str.rstrip()`: Unicode whitespace plus the separators U+001C..U+001F that `str.isspace` adds.
fn py_rstrip(text: &str) -> &str {
    text.trim_end_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

#[cfg(test)]
mod tests;
