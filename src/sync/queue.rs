//! The durable offline queue `~/.spec-kitty/queue.db` (SQLite).
//!
//! Upstream's `queue` table is kept exactly (the Python CLI reads and writes the same file); we add a
//! table of delivery attempts, a dead-letter table and a small key/value table. Every write runs in
//! one `BEGIN IMMEDIATE` transaction on a WAL database with `synchronous=FULL`, so an event is on disk
//! before the command returns and concurrent processes never see "database is locked" within the busy
//! timeout.

use crate::diagnostics::Ms;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Schema version recorded in `PRAGMA user_version` once our tables exist.
const SCHEMA_VERSION: i32 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT UNIQUE NOT NULL,
    event_type TEXT NOT NULL,
    data TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    retry_count INTEGER DEFAULT 0
);
CREATE INDEX IF NOT EXISTS idx_timestamp ON queue(timestamp);
CREATE INDEX IF NOT EXISTS idx_retry ON queue(retry_count);
CREATE TABLE IF NOT EXISTS delivery_attempts (
    event_id TEXT PRIMARY KEY,
    last_error TEXT,
    last_attempt_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT UNIQUE NOT NULL,
    event_type TEXT NOT NULL,
    data TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    retry_count INTEGER NOT NULL,
    last_error TEXT,
    dead_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS queue_meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
";

pub const DEFAULT_MAX_EVENTS: u64 = 100_000;
pub const DEFAULT_MAX_REJECTIONS: u32 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Events beyond this many are dropped (and counted) instead of queued.
    pub max_events: u64,
    /// An event rejected this many times moves to the dead-letter table.
    pub max_rejections: u32,
    /// How long a write waits for another process's transaction.
    pub busy_timeout: Duration,
}

impl Default for QueueLimits {
    fn default() -> Self {
        QueueLimits {
            max_events: DEFAULT_MAX_EVENTS,
            max_rejections: DEFAULT_MAX_REJECTIONS,
            busy_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("the offline queue {} is not a valid SQLite database ({message}); move it aside (e.g. `mv {} {}.corrupt`) and re-run — nothing was overwritten", path.display(), path.display(), path.display())]
    Corrupt { path: PathBuf, message: String },
    #[error("the offline queue {} is locked by another process for longer than {timeout:?}", path.display())]
    Busy { path: PathBuf, timeout: Duration },
    #[error("cannot use the offline queue {}: {message}", path.display())]
    Unavailable { path: PathBuf, message: String },
    #[error("not dead-lettered: {}", ids.join(", "))]
    NotDeadLettered { ids: Vec<String> },
}

impl crate::error::Diagnose for QueueError {
    fn hints(&self) -> Vec<String> {
        match self {
            QueueError::NotDeadLettered { .. } => {
                vec!["`spec-kitty sync status --json` lists the dead letters' count; nothing was re-queued".into()]
            }
            _ => Vec::new(),
        }
    }

    fn invalid_input(&self) -> bool {
        matches!(self, QueueError::NotDeadLettered { .. })
    }
}

/// An event ready to queue: its id and type, and its envelope serialised as JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedEvent {
    pub event_id: String,
    pub event_type: String,
    pub data: String,
    pub lamport_clock: u64,
}

/// A queued row handed to the sync client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRow {
    pub event_id: String,
    pub event_type: String,
    pub data: String,
    pub retry_count: u32,
}

/// A row's place in FIFO order (enqueue time, then row id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct QueuePosition {
    timestamp: i64,
    id: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EnqueueOutcome {
    pub inserted: usize,
    /// Already queued (same event id): ignored, retry state untouched.
    pub duplicates: usize,
    /// Not queued because the queue was full.
    pub dropped: usize,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RejectOutcome {
    pub retried: usize,
    pub dead_lettered: usize,
}

/// What `sync status` shows about the queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueStats {
    pub depth: u64,
    pub oldest_enqueued_at: Option<i64>,
    /// Rows with 0, 1–3 and 4+ rejections.
    pub retry_buckets: [u64; 3],
    pub dead_letters: u64,
    pub dropped_events: u64,
    pub top_event_types: Vec<(String, u64)>,
    pub lamport_high_water: u64,
}

pub struct OfflineQueue {
    conn: Connection,
    path: PathBuf,
    limits: QueueLimits,
}

impl OfflineQueue {
    /// Opens (creating if needed) the queue. A file that is not a database is reported, never replaced.
    pub fn open(path: &Path, limits: QueueLimits) -> Result<Self, QueueError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| unavailable(path, e.to_string()))?;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| classify(path, e, limits.busy_timeout))?;
        let queue = OfflineQueue { conn, path: path.to_owned(), limits };
        queue.prepare().map_err(|e| classify(path, e, limits.busy_timeout))?;
        Ok(queue)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Connection settings, and the schema when the file is new. Several processes may create the file at
    /// the same moment; some steps of that (the switch to WAL, a schema read that turns into a write)
    /// answer SQLITE_BUSY at once instead of calling the busy handler, so the setup is retried until
    /// the busy timeout has passed. Every step is idempotent, and the schema is created in one
    /// `BEGIN IMMEDIATE` transaction that re-checks the version, so exactly one process creates it.
    fn prepare(&self) -> rusqlite::Result<()> {
        self.conn.busy_timeout(self.limits.busy_timeout)?;
        // Every command opens the queue briefly; checkpointing the WAL on each close would add several
        // fsyncs to every command. Checkpoints still happen automatically as the WAL grows.
        self.conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
        let started = std::time::Instant::now();
        let deadline = started + self.limits.busy_timeout;
        let mut pause = Duration::from_millis(1);
        let mut attempt = 1;
        loop {
            match self.set_up() {
                Err(e) if is_busy(&e) && std::time::Instant::now() < deadline => {
                    tracing::debug!(path = %self.path.display(), attempt, error = %e, retry_in = %Ms(pause), "queue busy while opening (another process is setting it up)");
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                    attempt += 1;
                }
                result => {
                    tracing::trace!(path = %self.path.display(), elapsed = %Ms(started.elapsed()), "queue opened");
                    return result;
                }
            }
        }
    }

    fn set_up(&self) -> rusqlite::Result<()> {
        let version = || self.conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i32>(0));
        if version()? < SCHEMA_VERSION {
            let mode: String = self.conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
            debug_assert!(mode.eq_ignore_ascii_case("wal") || mode.eq_ignore_ascii_case("memory"));
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
            let created = (|| {
                if version()? < SCHEMA_VERSION {
                    self.conn.execute_batch(SCHEMA)?;
                    self.conn.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
                }
                self.conn.execute_batch("COMMIT")
            })();
            if created.is_err() {
                let _ = self.conn.execute_batch("ROLLBACK");
            }
            created?;
        }
        self.conn.execute_batch("PRAGMA synchronous = FULL")
    }

    /// Queues events in one transaction. Ids already queued are ignored (their retry state is kept);
    /// events beyond the cap are dropped and counted in `dropped_events`.
    pub fn enqueue(&mut self, events: &[QueuedEvent], now_epoch: i64) -> Result<EnqueueOutcome, QueueError> {
        let (path, timeout, cap) = (self.path.clone(), self.limits.busy_timeout, self.limits.max_events);
        let result = (|| -> rusqlite::Result<EnqueueOutcome> {
            let tx = begin_write(&mut self.conn, &path)?;
            let mut depth = tx.query_row("SELECT COUNT(*) FROM queue", [], |r| r.get::<_, i64>(0))? as u64;
            let mut outcome = EnqueueOutcome::default();
            let mut high_water = 0;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT OR IGNORE INTO queue (event_id, event_type, data, timestamp) VALUES (?1, ?2, ?3, ?4)",
                )?;
                for event in events {
                    high_water = high_water.max(event.lamport_clock);
                    if depth >= cap {
                        outcome.dropped += 1;
                        continue;
                    }
                    if insert.execute(params![event.event_id, event.event_type, event.data, now_epoch])? == 1 {
                        outcome.inserted += 1;
                        depth += 1;
                    } else {
                        outcome.duplicates += 1;
                    }
                }
            }
            add_meta(&tx, "dropped_events", outcome.dropped as i64)?;
            max_meta(&tx, "lamport_high_water", high_water as i64)?;
            tx.commit()?;
            Ok(outcome)
        })();
        result.map_err(|e| classify(&path, e, timeout))
    }

    /// The oldest queued rows, at most `max_count` and (beyond the first row) at most `max_bytes` of data.
    pub fn take_batch(&self, max_count: usize, max_bytes: usize) -> Result<Vec<QueueRow>, QueueError> {
        self.take_batch_after(None, max_count, max_bytes).map(|(batch, _)| batch)
    }

    /// Like [`OfflineQueue::take_batch`], but only rows after `after` in FIFO order; also returns the
    /// position of the last row taken. A delivery run walks the queue with it so each row is sent at
    /// most once per run: rows the server rejected or did not answer stay queued without blocking the
    /// rows behind them, and the run always ends.
    pub fn take_batch_after(
        &self,
        after: Option<QueuePosition>,
        max_count: usize,
        max_bytes: usize,
    ) -> Result<(Vec<QueueRow>, Option<QueuePosition>), QueueError> {
        let after = after.unwrap_or(QueuePosition { timestamp: i64::MIN, id: i64::MIN });
        let result = (|| -> rusqlite::Result<(Vec<QueueRow>, Option<QueuePosition>)> {
            let mut statement = self.conn.prepare_cached(
                "SELECT event_id, event_type, data, retry_count, timestamp, id FROM queue
                 WHERE (timestamp, id) > (?1, ?2) ORDER BY timestamp ASC, id ASC LIMIT ?3",
            )?;
            let rows = statement.query(params![after.timestamp, after.id, max_count as i64])?;
            let mut last = None;
            let batch = read_rows(rows, max_bytes, |row| {
                last = Some(QueuePosition { timestamp: row.get(4)?, id: row.get(5)? });
                Ok(())
            })?;
            Ok((batch, last))
        })();
        result.map_err(|e| classify(&self.path, e, self.limits.busy_timeout))
    }

    /// Rows inserted after row id `after` (row ids grow in commit order, whatever the enqueuing
    /// processes' clocks say), at most `max_count` and (beyond the first row) `max_bytes` of data, with
    /// the id of the last row returned (`after` when none). The background service pushes new events
    /// over its WebSocket with it.
    pub fn rows_after_row_id(
        &self,
        after: i64,
        max_count: usize,
        max_bytes: usize,
    ) -> Result<(Vec<QueueRow>, i64), QueueError> {
        let result = (|| -> rusqlite::Result<(Vec<QueueRow>, i64)> {
            let mut statement = self.conn.prepare_cached(
                "SELECT event_id, event_type, data, retry_count, id FROM queue WHERE id > ?1 ORDER BY id LIMIT ?2",
            )?;
            let rows = statement.query(params![after, max_count as i64])?;
            let mut last = after;
            let batch = read_rows(rows, max_bytes, |row| {
                last = row.get(4)?;
                Ok(())
            })?;
            Ok((batch, last))
        })();
        result.map_err(|e| classify(&self.path, e, self.limits.busy_timeout))
    }

    /// The largest row id ever used (0 for a new queue): rows inserted later have larger ids.
    pub fn last_row_id(&self) -> Result<i64, QueueError> {
        let result = self.conn.query_row("SELECT COALESCE(MAX(id), 0) FROM queue", [], |r| r.get::<_, i64>(0));
        result.map_err(|e| classify(&self.path, e, self.limits.busy_timeout))
    }

    /// SQLite's `PRAGMA data_version`: changes whenever another connection commits to the database.
    /// Reading it costs no I/O beyond the WAL index, so the background service polls it to notice new
    /// events within a fraction of a second.
    pub fn data_version(&self) -> Result<i64, QueueError> {
        let result = self.conn.query_row("PRAGMA data_version", [], |r| r.get::<_, i64>(0));
        result.map_err(|e| classify(&self.path, e, self.limits.busy_timeout))
    }

    /// Removes delivered events (the server said `success` or `duplicate`).
    pub fn acknowledge(&mut self, event_ids: &[String]) -> Result<usize, QueueError> {
        let result = (|| -> rusqlite::Result<usize> {
            let tx = begin_write(&mut self.conn, &self.path)?;
            let mut removed = 0;
            {
                let mut delete = tx.prepare_cached("DELETE FROM queue WHERE event_id = ?1")?;
                let mut forget = tx.prepare_cached("DELETE FROM delivery_attempts WHERE event_id = ?1")?;
                for id in event_ids {
                    removed += delete.execute([id])?;
                    forget.execute([id])?;
                }
            }
            tx.commit()?;
            Ok(removed)
        })();
        result.map_err(|e| classify(&self.path, e, self.limits.busy_timeout))
    }

    /// Records a rejection per event; an event reaching the rejection limit moves to the dead letters.
    pub fn reject(&mut self, rejections: &[(String, String)], now_epoch: i64) -> Result<RejectOutcome, QueueError> {
        let max = self.limits.max_rejections;
        let result = (|| -> rusqlite::Result<RejectOutcome> {
            let tx = begin_write(&mut self.conn, &self.path)?;
            let mut outcome = RejectOutcome::default();
            for (id, error) in rejections {
                let updated = tx
                    .execute("UPDATE queue SET retry_count = COALESCE(retry_count, 0) + 1 WHERE event_id = ?1", [id])?;
                if updated == 0 {
                    continue;
                }
                tx.execute(
                    "INSERT INTO delivery_attempts (event_id, last_error, last_attempt_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT(event_id) DO UPDATE SET last_error = excluded.last_error, last_attempt_at = excluded.last_attempt_at",
                    params![id, error, now_epoch],
                )?;
                let retries: u32 =
                    tx.query_row("SELECT retry_count FROM queue WHERE event_id = ?1", [id], |r| r.get(0))?;
                if retries >= max {
                    tx.execute(
                        "INSERT OR REPLACE INTO dead_letters (event_id, event_type, data, timestamp, retry_count, last_error, dead_at)
                         SELECT event_id, event_type, data, timestamp, retry_count, ?2, ?3 FROM queue WHERE event_id = ?1",
                        params![id, error, now_epoch],
                    )?;
                    tx.execute("DELETE FROM queue WHERE event_id = ?1", [id])?;
                    tx.execute("DELETE FROM delivery_attempts WHERE event_id = ?1", [id])?;
                    outcome.dead_lettered += 1;
                } else {
                    outcome.retried += 1;
                }
            }
            tx.commit()?;
            Ok(outcome)
        })();
        result.map_err(|e| classify(&self.path, e, self.limits.busy_timeout))
    }

    /// Moves events straight to the dead letters, without using up their rejections: for events that
    /// must never be sent as they are (e.g. without a project identity). Returns how many moved.
    pub fn bury(&mut self, events: &[(String, String)], now_epoch: i64) -> Result<usize, QueueError> {
        let result = (|| -> rusqlite::Result<usize> {
            let tx = begin_write(&mut self.conn, &self.path)?;
            let mut moved = 0;
            for (id, error) in events {
                moved += tx.execute(
                    "INSERT OR REPLACE INTO dead_letters (event_id, event_type, data, timestamp, retry_count, last_error, dead_at)
                     SELECT event_id, event_type, data, timestamp, COALESCE(retry_count, 0), ?2, ?3 FROM queue WHERE event_id = ?1",
                    params![id, error, now_epoch],
                )?;
                tx.execute("DELETE FROM queue WHERE event_id = ?1", [id])?;
                tx.execute("DELETE FROM delivery_attempts WHERE event_id = ?1", [id])?;
            }
            tx.commit()?;
            Ok(moved)
        })();
        result.map_err(|e| classify(&self.path, e, self.limits.busy_timeout))
    }

    /// Moves dead letters back into the queue with a fresh retry budget (all of them, or the given
    /// ids). Any id that is not a dead letter fails the whole call, and nothing moves.
    pub fn requeue_dead_letters(&mut self, event_ids: Option<&[String]>, now_epoch: i64) -> Result<usize, QueueError> {
        let mut unknown = Vec::new();
        let result = (|| -> rusqlite::Result<usize> {
            let tx = begin_write(&mut self.conn, &self.path)?;
            let dead: Vec<String> = {
                let mut stmt = tx.prepare("SELECT event_id FROM dead_letters ORDER BY id")?;
                stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<Vec<String>>>()?
            };
            let ids: Vec<String> = match event_ids {
                Some(ids) => ids.to_vec(),
                None => dead.clone(),
            };
            unknown = ids.iter().filter(|id| !dead.contains(id)).cloned().collect();
            if !unknown.is_empty() {
                return Ok(0);
            }
            let mut moved = 0;
            for id in &ids {
                moved += tx.execute(
                    "INSERT OR IGNORE INTO queue (event_id, event_type, data, timestamp, retry_count)
                     SELECT event_id, event_type, data, ?2, 0 FROM dead_letters WHERE event_id = ?1",
                    params![id, now_epoch],
                )?;
                tx.execute("DELETE FROM dead_letters WHERE event_id = ?1", [id])?;
            }
            tx.commit()?;
            Ok(moved)
        })();
        let moved = result.map_err(|e| classify(&self.path, e, self.limits.busy_timeout))?;
        if unknown.is_empty() { Ok(moved) } else { Err(QueueError::NotDeadLettered { ids: unknown }) }
    }

    /// Dead letters with their last error, oldest first.
    pub fn dead_letters(&self) -> Result<Vec<(QueueRow, Option<String>)>, QueueError> {
        let result = (|| -> rusqlite::Result<Vec<(QueueRow, Option<String>)>> {
            let mut stmt = self
                .conn
                .prepare("SELECT event_id, event_type, data, retry_count, last_error FROM dead_letters ORDER BY id")?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    QueueRow { event_id: r.get(0)?, event_type: r.get(1)?, data: r.get(2)?, retry_count: r.get(3)? },
                    r.get(4)?,
                ))
            })?;
            rows.collect()
        })();
        result.map_err(|e| classify(&self.path, e, self.limits.busy_timeout))
    }

    /// Every queued row (for `sync diagnose`).
    pub fn all_rows(&self) -> Result<Vec<QueueRow>, QueueError> {
        self.take_batch(usize::MAX >> 1, usize::MAX)
    }

    pub fn len(&self) -> Result<u64, QueueError> {
        self.conn
            .query_row("SELECT COUNT(*) FROM queue", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(|e| classify(&self.path, e, self.limits.busy_timeout))
    }

    pub fn is_empty(&self) -> Result<bool, QueueError> {
        Ok(self.len()? == 0)
    }

    /// The largest Lamport value ever queued here (survives delivery), for clock recovery.
    pub fn lamport_high_water(&self) -> Result<u64, QueueError> {
        get_meta(&self.conn, "lamport_high_water")
            .map(|v| v as u64)
            .map_err(|e| classify(&self.path, e, self.limits.busy_timeout))
    }

    pub fn stats(&self) -> Result<QueueStats, QueueError> {
        let result = (|| -> rusqlite::Result<QueueStats> {
            let c = &self.conn;
            let bucket =
                |sql: &str| -> rusqlite::Result<u64> { c.query_row(sql, [], |r| r.get::<_, i64>(0)).map(|n| n as u64) };
            let depth = bucket("SELECT COUNT(*) FROM queue")?;
            let oldest: Option<i64> = c.query_row("SELECT MIN(timestamp) FROM queue", [], |r| r.get(0))?;
            let retry_buckets = [
                bucket("SELECT COUNT(*) FROM queue WHERE COALESCE(retry_count, 0) = 0")?,
                bucket("SELECT COUNT(*) FROM queue WHERE retry_count BETWEEN 1 AND 3")?,
                bucket("SELECT COUNT(*) FROM queue WHERE retry_count >= 4")?,
            ];
            let dead_letters = bucket("SELECT COUNT(*) FROM dead_letters")?;
            let mut stmt = c.prepare(
                "SELECT event_type, COUNT(*) AS n FROM queue GROUP BY event_type ORDER BY n DESC, event_type LIMIT 5",
            )?;
            let top_event_types = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(QueueStats {
                depth,
                oldest_enqueued_at: oldest,
                retry_buckets,
                dead_letters,
                dropped_events: get_meta(c, "dropped_events")? as u64,
                top_event_types,
                lamport_high_water: get_meta(c, "lamport_high_water")? as u64,
            })
        })();
        result.map_err(|e| classify(&self.path, e, self.limits.busy_timeout))
    }
}

fn get_meta(conn: &Connection, key: &str) -> rusqlite::Result<i64> {
    conn.query_row("SELECT value FROM queue_meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()
        .map(|v| v.unwrap_or(0))
}

fn add_meta(conn: &Connection, key: &str, delta: i64) -> rusqlite::Result<()> {
    if delta != 0 {
        conn.execute(
            "INSERT INTO queue_meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = value + excluded.value",
            params![key, delta],
        )?;
    }
    Ok(())
}

fn max_meta(conn: &Connection, key: &str, value: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO queue_meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = MAX(value, excluded.value)",
        params![key, value],
    )?;
    Ok(())
}

/// A contended `BEGIN IMMEDIATE` waits in SQLite's busy handler; a wait this long means another
/// process was writing (an uncontended one takes microseconds).
const NOTABLE_WAIT: Duration = Duration::from_millis(1);

/// Starts a write transaction (`BEGIN IMMEDIATE`, which waits up to the busy timeout while another
/// process writes), recording a wait worth noticing.
fn begin_write<'c>(conn: &'c mut Connection, path: &Path) -> rusqlite::Result<Transaction<'c>> {
    let started = std::time::Instant::now();
    let result = conn.transaction_with_behavior(TransactionBehavior::Immediate);
    let waited = started.elapsed();
    match &result {
        Err(e) if is_busy(e) => {
            tracing::debug!(path = %path.display(), waited = %Ms(waited), "queue still busy (another process is writing); giving up")
        }
        _ if waited >= NOTABLE_WAIT => {
            tracing::debug!(path = %path.display(), waited = %Ms(waited), "waited for the queue's write lock (another process was writing)")
        }
        _ => {}
    }
    result
}

fn unavailable(path: &Path, message: String) -> QueueError {
    QueueError::Unavailable { path: path.to_owned(), message }
}

/// Reads `event_id, event_type, data, retry_count, …` rows until `max_bytes` of data (the first row
/// always fits, so an oversized event still goes alone); `seen` reads the caller's extra columns of each
/// row taken.
fn read_rows(
    mut rows: rusqlite::Rows<'_>,
    max_bytes: usize,
    mut seen: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<()>,
) -> rusqlite::Result<Vec<QueueRow>> {
    let (mut batch, mut bytes) = (Vec::new(), 0);
    while let Some(row) = rows.next()? {
        let data: String = row.get(2)?;
        if !batch.is_empty() && bytes + data.len() > max_bytes {
            break;
        }
        bytes += data.len();
        seen(row)?;
        batch.push(QueueRow {
            event_id: row.get(0)?,
            event_type: row.get(1)?,
            data,
            retry_count: row.get::<_, Option<u32>>(3)?.unwrap_or(0),
        });
    }
    Ok(batch)
}

/// Turns SQLite errors into the three situations a user can act on.
fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(error.sqlite_error_code(), Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked))
}

fn classify(path: &Path, error: rusqlite::Error, timeout: Duration) -> QueueError {
    tracing::debug!(path = %path.display(), %error, "queue error");
    match error.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
            QueueError::Corrupt { path: path.to_owned(), message: error.to_string() }
        }
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            QueueError::Busy { path: path.to_owned(), timeout }
        }
        _ => unavailable(path, error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: u64) -> QueuedEvent {
        QueuedEvent {
            event_id: format!("01HXYZ{n:020}"),
            event_type: "HistoryAdded".into(),
            data: format!("{{\"n\": {n}}}"),
            lamport_clock: n,
        }
    }

    fn open(dir: &Path, limits: QueueLimits) -> OfflineQueue {
        OfflineQueue::open(&dir.join("queue.db"), limits).unwrap()
    }

    #[test]
    fn new_rows_are_found_by_row_id_and_other_connections_commits_by_data_version() {
        let dir = tempfile::tempdir().unwrap();
        let reader = open(dir.path(), QueueLimits::default());
        let mut writer = open(dir.path(), QueueLimits::default());
        assert_eq!(reader.last_row_id().unwrap(), 0);
        let version = reader.data_version().unwrap();
        // An older enqueue time does not hide a row that was committed later.
        writer.enqueue(&[event(1)], 200).unwrap();
        writer.enqueue(&[event(2), event(3)], 100).unwrap();
        assert_ne!(reader.data_version().unwrap(), version, "another connection committed");
        let (rows, last) = reader.rows_after_row_id(0, 10, usize::MAX).unwrap();
        assert_eq!(
            rows.iter().map(|r| r.data.as_str()).collect::<Vec<_>>(),
            ["{\"n\": 1}", "{\"n\": 2}", "{\"n\": 3}"]
        );
        assert_eq!(last, reader.last_row_id().unwrap());
        let (first, after_first) = reader.rows_after_row_id(0, 10, 1).unwrap();
        assert_eq!(first.len(), 1, "the byte budget always admits one row");
        assert_eq!(reader.rows_after_row_id(after_first, 10, usize::MAX).unwrap().0.len(), 2);
        assert_eq!(reader.rows_after_row_id(last, 10, usize::MAX).unwrap(), (vec![], last));
        let version = reader.data_version().unwrap();
        reader.len().unwrap();
        assert_eq!(reader.data_version().unwrap(), version, "reading changes nothing");
    }

    #[test]
    fn enqueue_take_acknowledge_in_fifo_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = open(dir.path(), QueueLimits::default());
        let outcome = q.enqueue(&[event(1), event(2), event(3)], 100).unwrap();
        assert_eq!(outcome, EnqueueOutcome { inserted: 3, duplicates: 0, dropped: 0 });
        assert_eq!(q.enqueue(&[event(2)], 101).unwrap().duplicates, 1);
        let batch = q.take_batch(2, usize::MAX).unwrap();
        assert_eq!(batch.iter().map(|r| r.data.as_str()).collect::<Vec<_>>(), ["{\"n\": 1}", "{\"n\": 2}"]);
        assert_eq!(q.take_batch(10, 10).unwrap().len(), 1, "the byte budget always admits one row");
        assert_eq!(q.acknowledge(&[batch[0].event_id.clone()]).unwrap(), 1);
        assert_eq!(q.len().unwrap(), 2);
        assert_eq!(q.lamport_high_water().unwrap(), 3);
    }

    #[test]
    fn take_batch_after_walks_the_queue_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = open(dir.path(), QueueLimits::default());
        q.enqueue(&[event(1), event(2), event(3)], 100).unwrap();
        let (first, at) = q.take_batch_after(None, 2, usize::MAX).unwrap();
        assert_eq!(first.len(), 2);
        let (rest, end) = q.take_batch_after(at, 2, usize::MAX).unwrap();
        assert_eq!(rest.iter().map(|r| r.event_id.clone()).collect::<Vec<_>>(), [event(3).event_id]);
        assert!(q.take_batch_after(end, 2, usize::MAX).unwrap().0.is_empty());
        q.enqueue(&[event(4)], 99).unwrap();
        assert!(q.take_batch_after(end, 2, usize::MAX).unwrap().0.is_empty(), "older rows wait for the next run");
        assert_eq!(q.take_batch_after(None, 10, 1).unwrap().0.len(), 1, "the byte budget always admits one row");
    }

    #[test]
    fn buried_events_go_straight_to_the_dead_letters() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = open(dir.path(), QueueLimits::default());
        q.enqueue(&[event(1), event(2)], 0).unwrap();
        assert_eq!(q.bury(&[(event(1).event_id, "never sent".into()), ("unknown".into(), "x".into())], 5).unwrap(), 1);
        assert_eq!(q.len().unwrap(), 1);
        assert_eq!(q.dead_letters().unwrap()[0].1.as_deref(), Some("never sent"));
    }

    #[test]
    fn the_cap_drops_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = open(dir.path(), QueueLimits { max_events: 2, ..QueueLimits::default() });
        let outcome = q.enqueue(&[event(1), event(2), event(3)], 0).unwrap();
        assert_eq!((outcome.inserted, outcome.dropped), (2, 1));
        q.enqueue(&[event(4)], 0).unwrap();
        let stats = q.stats().unwrap();
        assert_eq!((stats.depth, stats.dropped_events), (2, 2));
    }

    #[test]
    fn rejections_move_to_dead_letters_and_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = open(dir.path(), QueueLimits { max_rejections: 2, ..QueueLimits::default() });
        q.enqueue(&[event(1), event(2)], 0).unwrap();
        let id = event(1).event_id;
        assert_eq!(q.reject(&[(id.clone(), "bad".into())], 1).unwrap(), RejectOutcome { retried: 1, dead_lettered: 0 });
        assert_eq!(q.reject(&[(id.clone(), "still bad".into())], 2).unwrap().dead_lettered, 1);
        assert_eq!(q.len().unwrap(), 1);
        let dead = q.dead_letters().unwrap();
        assert_eq!((dead[0].0.event_id.as_str(), dead[0].1.as_deref()), (id.as_str(), Some("still bad")));
        assert_eq!(q.stats().unwrap().dead_letters, 1);
        let unknown = vec![id.clone(), "01NOTADEADLETTER0000000000".to_owned()];
        match q.requeue_dead_letters(Some(&unknown), 3) {
            Err(QueueError::NotDeadLettered { ids }) => assert_eq!(ids, ["01NOTADEADLETTER0000000000"]),
            other => panic!("expected NotDeadLettered, got {other:?}"),
        }
        assert_eq!((q.len().unwrap(), q.stats().unwrap().dead_letters), (1, 1), "a refused call moves nothing");
        assert_eq!(q.requeue_dead_letters(None, 3).unwrap(), 1);
        assert_eq!(q.len().unwrap(), 2);
        assert_eq!(q.take_batch(10, usize::MAX).unwrap().iter().find(|r| r.event_id == id).unwrap().retry_count, 0);
    }

    #[test]
    fn a_corrupt_file_is_reported_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("queue.db");
        std::fs::write(&path, b"this is not sqlite, and it is long enough to look like a header......").unwrap();
        let before = std::fs::read(&path).unwrap();
        match OfflineQueue::open(&path, QueueLimits::default()) {
            Err(QueueError::Corrupt { .. }) => {}
            Err(other) => panic!("{other}"),
            Ok(_) => panic!("opened a corrupt file"),
        }
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[test]
    fn upstream_rows_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("queue.db");
        {
            // A queue created by the Python CLI: only its table, default journal mode.
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE queue (id INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT UNIQUE NOT NULL, event_type TEXT NOT NULL, data TEXT NOT NULL, timestamp INTEGER NOT NULL, retry_count INTEGER DEFAULT 0);
                 INSERT INTO queue (event_id, event_type, data, timestamp) VALUES ('01KHRH020GFRSJ6E1XNHJ9FD25', 'WPStatusChanged', '{}', 5);",
            )
            .unwrap();
        }
        let q = OfflineQueue::open(&path, QueueLimits::default()).unwrap();
        assert_eq!(q.take_batch(10, usize::MAX).unwrap()[0].event_type, "WPStatusChanged");
    }

    #[test]
    fn connections_creating_a_fresh_queue_at_once_never_report_busy() {
        // Several connections race to create the same new queue.db (schema, WAL switch): none may fail
        // at once with "locked" (the busy handler does not cover every step of the setup).
        for round in 0..40 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("queue.db");
            let barrier = std::sync::Barrier::new(4);
            let results: Vec<Result<usize, String>> = std::thread::scope(|scope| {
                let handles: Vec<_> = (0..4u64)
                    .map(|n| {
                        let (path, barrier) = (&path, &barrier);
                        scope.spawn(move || {
                            barrier.wait();
                            let mut queue =
                                OfflineQueue::open(path, QueueLimits::default()).map_err(|e| e.to_string())?;
                            queue.enqueue(&[event(n)], 1).map(|o| o.inserted).map_err(|e| e.to_string())
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            for result in &results {
                assert_eq!(result, &Ok(1), "round {round}: {results:?}");
            }
            assert_eq!(open(dir.path(), QueueLimits::default()).len().unwrap(), 4);
        }
    }
}
