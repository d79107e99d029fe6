//! Checking or unchecking subtasks in `tasks.md` (`agent tasks mark-status`).

use super::Scope;
use crate::sync::SyncEvent;
use crate::sync::event::EntryType;
use crate::workflow::lock::LockError;
use crate::workflow::tasks_md;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct MarkStatus {
    pub task_ids: Vec<String>,
    /// Checked (`done`) or unchecked (`pending`).
    pub done: bool,
    pub commit: bool,
}

#[derive(Debug)]
pub struct MarkStatusOutcome {
    pub updated: Vec<String>,
    pub not_found: Vec<String>,
    /// One HistoryAdded per work package owning an updated subtask.
    pub events: Vec<SyncEvent>,
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum MarkStatusError {
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("No task IDs found in tasks.md: {}", .0.join(", "))]
    NotFound(Vec<String>),
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
}

impl crate::error::Diagnose for MarkStatusError {
    fn hints(&self) -> Vec<String> {
        match self {
            MarkStatusError::Lock(e) => e.hints(),
            MarkStatusError::Read { .. } => vec!["run /spec-kitty.tasks first".into()],
            MarkStatusError::NotFound(_) => vec!["subtask lines look like `- [ ] T001 …` in tasks.md".into()],
            MarkStatusError::Write { .. } => Vec::new(),
        }
    }
}

impl MarkStatus {
    pub fn status_word(&self) -> &'static str {
        if self.done { "done" } else { "pending" }
    }
}

/// Rewrites only the matching checkbox lines, under the feature lock, and commits tasks.md.
pub fn mark_status(scope: &Scope<'_>, request: &MarkStatus) -> Result<MarkStatusOutcome, MarkStatusError> {
    let lock = scope.lock()?;
    let path = scope.feature.dir.join("tasks.md");
    let text = crate::fsutil::read_small_string(&path, crate::fsutil::LARGE_FILE_CAP)
        .map_err(|source| MarkStatusError::Read { path: path.clone(), source })?;
    let marked = tasks_md::mark_status(&text, &request.task_ids, request.done);
    if marked.updated.is_empty() {
        return Err(MarkStatusError::NotFound(marked.not_found));
    }
    if marked.text != text {
        lock.write(&path, marked.text.as_bytes()).map_err(|source| MarkStatusError::Write { path, source })?;
    }
    let status = request.status_word();
    let mut warnings = Vec::new();
    if let Some(repo) = scope.repo.as_ref().filter(|_| request.commit) {
        let subject = match marked.updated.as_slice() {
            [one] => one.clone(),
            many => format!("{} subtasks", many.len()),
        };
        let message = format!("chore: Mark {subject} as {status} on spec {}", scope.feature.number());
        if let Err(e) = repo.commit_paths(&[&scope.feature_file("tasks.md")], &message) {
            warnings.push(format!("tasks.md updated, but the commit failed: {e}"));
        }
    }
    drop(lock);
    // One HistoryAdded per owning WP (upstream attributed everything to "WP00"-style ids).
    let mut by_wp: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for id in &marked.updated {
        if let Some(wp) = tasks_md::owning_wp(&marked.text, id) {
            by_wp.entry(wp).or_default().push(id.clone());
        }
    }
    let events = by_wp
        .into_iter()
        .map(|(wp_id, ids)| SyncEvent::HistoryAdded {
            wp_id,
            entry_type: EntryType::Note,
            entry_content: format!("Subtask(s) {} marked as {status}", ids.join(", ")),
            author: "user".to_owned(),
        })
        .collect();
    Ok(MarkStatusOutcome { updated: marked.updated, not_found: marked.not_found, events, warnings })
}
