//! The spool file: events written while the queue was unusable, moved into the queue.

use crate::sync::emit::SPOOL_FILE;
use crate::sync::queue::{OfflineQueue, QueueError, QueuedEvent};
use serde_json::Value;
use std::io::{Read, Seek, Write};
use std::path::Path;

/// Events found in the spool file and moved into the queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpoolImport {
    pub imported: usize,
    pub duplicates: usize,
    /// Lines that were not events; moved to `queue-spool.bad.jsonl`.
    pub unreadable: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("cannot read the spool file {}: {source}", path.display())]
    Io { path: std::path::PathBuf, source: std::io::Error },
    #[error(transparent)]
    Queue(#[from] QueueError),
}

impl crate::error::Diagnose for SpoolError {}

/// Moves events from `queue-spool.jsonl` (written when the queue was unusable) into the queue, then
/// empties the file. The spool's own lock is held throughout, so an event appended meanwhile waits
/// and is not truncated away. If the queue is full, the file is kept whole (re-importing is harmless:
/// queued ids are ignored).
pub fn import_spool(home: &Path, queue: &mut OfflineQueue, now_epoch: i64) -> Result<SpoolImport, SpoolError> {
    let path = home.join(SPOOL_FILE);
    let io = |source| SpoolError::Io { path: path.clone(), source };
    let mut file = match std::fs::OpenOptions::new().read(true).write(true).open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(SpoolImport::default()),
        Err(e) => return Err(io(e)),
    };
    crate::fsutil::lock_exclusive(&file, &path, crate::context::DEFAULT_LOCK_TIMEOUT).map_err(io)?;
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(io)?;
    let mut events = Vec::new();
    let mut bad = String::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match spooled_event(line) {
            Some(event) => events.push(event),
            None => {
                bad.push_str(line);
                bad.push('\n');
            }
        }
    }
    tracing::debug!(path = %path.display(), events = events.len(), unreadable = bad.lines().count(), "importing the spool");
    let mut import = SpoolImport::default();
    if !events.is_empty() {
        let outcome = queue.enqueue(&events, now_epoch)?;
        import.imported = outcome.inserted;
        import.duplicates = outcome.duplicates;
        if outcome.dropped > 0 {
            return Ok(import);
        }
    }
    if !bad.is_empty() {
        let bad_path = home.join("queue-spool.bad.jsonl");
        let mut log = std::fs::OpenOptions::new().create(true).append(true).open(&bad_path).map_err(io)?;
        log.write_all(bad.as_bytes()).map_err(io)?;
        import.unreadable = bad.lines().count();
    }
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    Ok(import)
}

fn spooled_event(line: &str) -> Option<QueuedEvent> {
    let value: Value = serde_json::from_str(line).ok()?;
    Some(QueuedEvent {
        event_id: value.get("event_id")?.as_str()?.to_owned(),
        event_type: value.get("event_type")?.as_str()?.to_owned(),
        lamport_clock: value.get("lamport_clock").and_then(Value::as_u64).unwrap_or(0),
        data: line.to_owned(),
    })
}
