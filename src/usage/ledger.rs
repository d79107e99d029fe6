//! The import ledger: what has been read of which log, which records were counted, and the events of an
//! import still being written. It makes re-imports idempotent and incremental.
//!
//! One SQLite file per user, `$SPEC_KITTY_HOME/usage-ledger.db`, with rows per project (keyed by the
//! project root): the agents' logs live in the user's home, so what has been read of them is per user
//! and per machine, not something to commit with the project (a clone elsewhere has other logs). SQLite
//! is already a dependency (the sync queue); it gives indexed point lookups (a hook's no-op check is one
//! row), and one transaction covers file offsets, record keys and the event journal. Writers are
//! serialised by `usage-ledger.lock` (a bounded wait), so two hooks firing at once never read the same
//! lines twice.
//!
//! - `files`: per log path, its identity (device, inode), size, mtime, the offset read up to, and the
//!   adapter's state there (Codex's running totals). Unchanged identity + size + mtime = nothing new;
//!   growth = read from the offset; a replaced or shrunk file = read again from the start (the record
//!   keys make that add nothing already counted).
//! - `records`: per record key (Claude message, Gemini message, Codex total), the largest copy counted.
//! - `pending`: the events of an import, written here in the same transaction as the offsets and keys,
//!   then appended to the feature logs, then deleted. An import killed in between leaves them here; the
//!   next import appends those whose id is not yet in their log. So a crash never loses usage or counts
//!   it twice.

use super::{RecordKey, Tokens};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const LEDGER_FILE: &str = "usage-ledger.db";
const LOCK_FILE: &str = "usage-ledger.lock";

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("cannot create {}: {source}", path.display())]
    Create { path: PathBuf, source: std::io::Error },
    #[error("the usage ledger {} is busy: {source}", path.display())]
    Locked { path: PathBuf, source: std::io::Error },
    #[error("usage ledger {}: {source}", path.display())]
    Sqlite { path: PathBuf, source: rusqlite::Error },
}

impl crate::error::Diagnose for LedgerError {
    fn hints(&self) -> Vec<String> {
        match self {
            LedgerError::Locked { .. } => vec!["another import or agent hook is running; retry in a moment".into()],
            LedgerError::Sqlite { .. } => vec![format!(
                "if the file is damaged, move it aside: the next import reads every log again and its events \
                 are counted again ({LEDGER_FILE} is what prevents that)"
            )],
            LedgerError::Create { .. } => Vec::new(),
        }
    }
}

/// What was read of one log file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileState {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i64,
    pub offset: u64,
    pub state: Option<String>,
    /// Another project's log (never read further).
    pub foreign: bool,
}

impl FileState {
    /// The identity part from a file's metadata (offset and state left empty).
    pub fn of(meta: &std::fs::Metadata) -> FileState {
        use std::os::unix::fs::MetadataExt;
        FileState {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            mtime_ns: meta.mtime().saturating_mul(1_000_000_000).saturating_add(meta.mtime_nsec()),
            ..FileState::default()
        }
    }

    pub fn same_file(&self, other: &FileState) -> bool {
        self.dev == other.dev && self.ino == other.ino
    }

    /// Nothing changed since it was read.
    pub fn unchanged(&self, now: &FileState) -> bool {
        self.same_file(now) && self.size == now.size && self.mtime_ns == now.mtime_ns
    }
}

/// A counted record: its secondary id, whether it was a side-chain copy, and the largest copy counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seen {
    pub aux: u64,
    pub sidechain: bool,
    pub tokens: Tokens,
}

/// An event written to the journal before it is appended to its feature's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEvent {
    pub feature: String,
    pub event_id: String,
    /// The whole event line except its Lamport value, which is assigned under the log's lock.
    pub line: String,
}

pub struct Ledger {
    conn: Connection,
    path: PathBuf,
    project: i64,
    _lock: Option<File>,
}

impl Ledger {
    /// Opens (creating) the ledger in `home` for the project at `root`, holding the ledger's lock
    /// (waiting at most `timeout` for another import).
    pub fn open(home: &Path, root: &str, timeout: Duration) -> Result<Ledger, LedgerError> {
        std::fs::create_dir_all(home).map_err(|source| LedgerError::Create { path: home.to_owned(), source })?;
        let lock_path = home.join(LOCK_FILE);
        let lock = crate::fsutil::open_regular(
            &lock_path,
            std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false),
        )
        .map_err(|source| LedgerError::Create { path: lock_path.clone(), source })?;
        crate::fsutil::lock_exclusive(&lock, &lock_path, timeout)
            .map_err(|source| LedgerError::Locked { path: lock_path.clone(), source })?;
        let path = home.join(LEDGER_FILE);
        let sql = |source| LedgerError::Sqlite { path: path.clone(), source };
        let conn = Connection::open(&path).map_err(sql)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(sql)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS projects (id INTEGER PRIMARY KEY, root TEXT NOT NULL UNIQUE);
             CREATE TABLE IF NOT EXISTS files (
                 project INTEGER NOT NULL, path TEXT NOT NULL, dev INTEGER NOT NULL, ino INTEGER NOT NULL,
                 size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, offset INTEGER NOT NULL, state TEXT,
                 foreign_log INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (project, path)) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS records (
                 project INTEGER NOT NULL, key BLOB NOT NULL, aux INTEGER NOT NULL, sidechain INTEGER NOT NULL,
                 input INTEGER NOT NULL, output INTEGER NOT NULL, cache_read INTEGER NOT NULL,
                 cache_write INTEGER NOT NULL, cache_write_1h INTEGER NOT NULL, reasoning INTEGER NOT NULL,
                 PRIMARY KEY (project, key, aux)) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS pending (
                 seq INTEGER PRIMARY KEY AUTOINCREMENT, project INTEGER NOT NULL, feature TEXT NOT NULL,
                 event_id TEXT NOT NULL, line TEXT NOT NULL);",
        )
        .map_err(sql)?;
        conn.execute("INSERT OR IGNORE INTO projects (root) VALUES (?1)", params![root]).map_err(sql)?;
        let project: i64 =
            conn.query_row("SELECT id FROM projects WHERE root = ?1", params![root], |r| r.get(0)).map_err(sql)?;
        Ok(Ledger { conn, path, project, _lock: Some(lock) })
    }

    /// The ledger for a dry run: read-only, no lock, and empty when the file does not exist.
    pub fn open_read_only(home: &Path, root: &str) -> Result<Option<Ledger>, LedgerError> {
        let path = home.join(LEDGER_FILE);
        if !path.is_file() {
            return Ok(None);
        }
        let sql = |source| LedgerError::Sqlite { path: path.clone(), source };
        let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(sql)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(sql)?;
        let project: Option<i64> = conn
            .query_row("SELECT id FROM projects WHERE root = ?1", params![root], |r| r.get(0))
            .optional()
            .map_err(sql)?;
        Ok(project.map(|project| Ledger { conn, path, project, _lock: None }))
    }

    fn sql(&self) -> impl Fn(rusqlite::Error) -> LedgerError + '_ {
        |source| LedgerError::Sqlite { path: self.path.clone(), source }
    }

    /// What was read of one file.
    pub fn file(&self, path: &str) -> Result<Option<FileState>, LedgerError> {
        self.conn
            .prepare_cached(
                "SELECT dev, ino, size, mtime_ns, offset, state, foreign_log FROM files WHERE project = ?1 AND path = ?2",
            )
            .and_then(|mut stmt| stmt.query_row(params![self.project, path], |r| row_to_state(r, 0)).optional())
            .map_err(self.sql())
    }

    /// Every file of this project.
    pub fn files(&self) -> Result<HashMap<String, FileState>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare("SELECT path, dev, ino, size, mtime_ns, offset, state, foreign_log FROM files WHERE project = ?1")
            .map_err(self.sql())?;
        let rows = stmt
            .query_map(params![self.project], |r| Ok((r.get::<_, String>(0)?, row_to_state(r, 1)?)))
            .map_err(self.sql())?;
        rows.collect::<Result<HashMap<_, _>, _>>().map_err(self.sql())
    }

    /// Whether any record was ever counted for this project (a first import need not look keys up).
    pub fn has_records(&self) -> Result<bool, LedgerError> {
        self.conn
            .query_row("SELECT EXISTS (SELECT 1 FROM records WHERE project = ?1)", params![self.project], |r| r.get(0))
            .map_err(self.sql())
    }

    /// The copies of a record counted so far (one per secondary id).
    pub fn seen(&self, key: &RecordKey) -> Result<Vec<Seen>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT aux, sidechain, input, output, cache_read, cache_write, cache_write_1h, reasoning \
                 FROM records WHERE project = ?1 AND key = ?2",
            )
            .map_err(self.sql())?;
        let rows = stmt
            .query_map(params![self.project, &key.0[..]], |r| {
                let n = |i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, i64>(i)? as u64) };
                Ok(Seen {
                    aux: n(0)?,
                    sidechain: r.get::<_, i64>(1)? != 0,
                    tokens: Tokens {
                        input: n(2)?,
                        output: n(3)?,
                        cache_read: n(4)?,
                        cache_write: n(5)?,
                        cache_write_1h: n(6)?,
                        reasoning: n(7)?,
                    },
                })
            })
            .map_err(self.sql())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.sql())
    }

    /// Stores file states, record copies and journal events in one transaction.
    pub fn commit(
        &mut self,
        files: &[(String, FileState)],
        records: &[(RecordKey, Seen)],
        pending: &[PendingEvent],
    ) -> Result<(), LedgerError> {
        let project = self.project;
        let path = self.path.clone();
        let sql = |source| LedgerError::Sqlite { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(sql)?;
        {
            let mut stmt = tx
                .prepare(
                    "INSERT OR REPLACE INTO files (project, path, dev, ino, size, mtime_ns, offset, state, foreign_log) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(sql)?;
            for (file, s) in files {
                stmt.execute(params![
                    project,
                    file,
                    s.dev as i64,
                    s.ino as i64,
                    s.size as i64,
                    s.mtime_ns,
                    s.offset as i64,
                    s.state,
                    i64::from(s.foreign)
                ])
                .map_err(sql)?;
            }
            let mut stmt = tx
                .prepare(
                    "INSERT OR REPLACE INTO records (project, key, aux, sidechain, input, output, cache_read, \
                     cache_write, cache_write_1h, reasoning) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .map_err(sql)?;
            for (key, seen) in records {
                let t = &seen.tokens;
                stmt.execute(params![
                    project,
                    &key.0[..],
                    seen.aux as i64,
                    i64::from(seen.sidechain),
                    t.input as i64,
                    t.output as i64,
                    t.cache_read as i64,
                    t.cache_write as i64,
                    t.cache_write_1h as i64,
                    t.reasoning as i64
                ])
                .map_err(sql)?;
            }
            let mut stmt = tx
                .prepare("INSERT INTO pending (project, feature, event_id, line) VALUES (?1, ?2, ?3, ?4)")
                .map_err(sql)?;
            for event in pending {
                stmt.execute(params![project, event.feature, event.event_id, event.line]).map_err(sql)?;
            }
        }
        tx.commit().map_err(sql)
    }

    /// Journal events not yet confirmed as appended.
    pub fn pending(&self) -> Result<Vec<PendingEvent>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare("SELECT feature, event_id, line FROM pending WHERE project = ?1 ORDER BY seq")
            .map_err(self.sql())?;
        let rows = stmt
            .query_map(params![self.project], |r| {
                Ok(PendingEvent { feature: r.get(0)?, event_id: r.get(1)?, line: r.get(2)? })
            })
            .map_err(self.sql())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.sql())
    }

    /// Confirms the journal events of `features` as appended.
    pub fn clear_pending(&mut self, features: &[String]) -> Result<(), LedgerError> {
        let path = self.path.clone();
        let sql = |source| LedgerError::Sqlite { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(sql)?;
        for feature in features {
            tx.execute("DELETE FROM pending WHERE project = ?1 AND feature = ?2", params![self.project, feature])
                .map_err(sql)?;
        }
        tx.commit().map_err(sql)
    }
}

/// A file's state from the columns `dev, ino, size, mtime_ns, offset, state, foreign_log`, the first at
/// index `first`.
fn row_to_state(r: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<FileState> {
    Ok(FileState {
        dev: r.get::<_, i64>(first)? as u64,
        ino: r.get::<_, i64>(first + 1)? as u64,
        size: r.get::<_, i64>(first + 2)? as u64,
        mtime_ns: r.get(first + 3)?,
        offset: r.get::<_, i64>(first + 4)? as u64,
        state: r.get(first + 5)?,
        foreign: r.get::<_, i64>(first + 6)? != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_files_records_and_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = Ledger::open(dir.path(), "/p", Duration::from_secs(1)).unwrap();
        assert!(!ledger.has_records().unwrap());
        let state =
            FileState { dev: 1, ino: 2, size: 30, mtime_ns: 4, offset: 30, state: Some("{}".into()), foreign: false };
        let key = RecordKey::of(&[b"k"]);
        let seen = Seen { aux: u64::MAX, sidechain: true, tokens: Tokens { output: 5, ..Tokens::default() } };
        let event = PendingEvent { feature: "001-x".into(), event_id: "E".into(), line: "{}".into() };
        ledger.commit(&[("/f".into(), state.clone())], &[(key, seen)], std::slice::from_ref(&event)).unwrap();
        assert_eq!(ledger.file("/f").unwrap(), Some(state.clone()));
        assert_eq!(ledger.files().unwrap().len(), 1);
        assert_eq!(ledger.seen(&key).unwrap(), [seen]);
        assert_eq!(ledger.pending().unwrap(), [event]);
        ledger.clear_pending(&["001-x".into()]).unwrap();
        assert!(ledger.pending().unwrap().is_empty());
        drop(ledger);
        // Another project's rows are separate.
        let other = Ledger::open(dir.path(), "/q", Duration::from_secs(1)).unwrap();
        assert!(other.file("/f").unwrap().is_none() && !other.has_records().unwrap());
        drop(other);
        assert!(Ledger::open_read_only(dir.path(), "/p").unwrap().is_some());
        assert!(Ledger::open_read_only(dir.path(), "/r").unwrap().is_none());
    }
}
