//! Appending a note to a work package's Activity Log (`agent tasks add-history`).

use super::Scope;
use crate::sync::SyncEvent;
use crate::sync::event::EntryType;
use crate::workflow::activity::{self, ActivityEntry};
use crate::workflow::lock::LockError;
use crate::workflow::wp::{WorkPackage, WpError};
use chrono::{DateTime, Utc};
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct AddHistory {
    pub wp_id: String,
    pub note: String,
    /// Who writes the note (default: the WP's agent, else "unknown"; the sync event's author "user").
    pub agent: Option<String>,
    pub shell_pid: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug)]
pub struct AddHistoryOutcome {
    pub path: PathBuf,
    /// One HistoryAdded.
    pub events: Vec<SyncEvent>,
}

#[derive(Debug, thiserror::Error)]
pub enum AddHistoryError {
    #[error("--note must not be empty")]
    EmptyNote,
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Wp(#[from] WpError),
}

impl crate::error::Diagnose for AddHistoryError {
    fn hints(&self) -> Vec<String> {
        match self {
            AddHistoryError::Lock(e) => e.hints(),
            _ => Vec::new(),
        }
    }

    fn exit_code(&self) -> u8 {
        match self {
            AddHistoryError::EmptyNote => crate::error::EXIT_USAGE,
            _ => crate::error::EXIT_FAILURE,
        }
    }
}

/// Appends the entry with the WP's current lane. The file is read and written under the feature lock, so
/// a concurrent move or note is never overwritten.
pub fn add_history(scope: &Scope<'_>, request: &AddHistory) -> Result<AddHistoryOutcome, AddHistoryError> {
    if request.note.trim().is_empty() {
        return Err(AddHistoryError::EmptyNote);
    }
    let lock = scope.lock()?;
    let mut wp = WorkPackage::load(&scope.feature.dir, &request.wp_id)?;
    let entry = ActivityEntry {
        timestamp: ActivityEntry::timestamp_at(request.at),
        agent: request
            .agent
            .clone()
            .or_else(|| wp.doc.scalar("agent"))
            .filter(|a| !a.trim().is_empty())
            .unwrap_or_else(|| "unknown".to_owned()),
        shell_pid: request.shell_pid.clone().or_else(|| wp.doc.scalar("shell_pid")),
        lane: wp.raw_lane().unwrap_or_else(|| "planned".to_owned()),
        note: request.note.clone(),
    };
    let body = activity::append_activity(wp.doc.body(), &entry);
    wp.doc.set_body(body);
    wp.save(&lock)?;
    drop(lock);
    let event = SyncEvent::HistoryAdded {
        wp_id: wp.id.clone(),
        entry_type: EntryType::Note,
        entry_content: request.note.clone(),
        author: request.agent.clone().unwrap_or_else(|| "user".to_owned()),
    };
    Ok(AddHistoryOutcome { path: wp.path, events: vec![event] })
}
