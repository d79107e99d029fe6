//! The run's state, `.kittify/orchestration-state.json`: upstream's shape (reference/workflow.md §5) plus a
//! few keys of ours, written atomically after every change (the previous version is kept as `.bak`), so
//! an interrupted or crashed run can be inspected and resumed. A lock file marks the process running it.

use crate::events::pyjson;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const STATE_FILE: &str = ".kittify/orchestration-state.json";
pub const LOCK_FILE: &str = ".kittify/orchestration.lock";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Pending,
    Running,
    Paused,
    Completed,
    Failed,
    /// `--abort`: given up; a new run may start.
    Aborted,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Pending => "pending",
            RunStatus::Running => "running",
            RunStatus::Paused => "paused",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Aborted => "aborted",
        }
    }

    /// A run in this status has work left that `--resume` continues.
    pub fn is_unfinished(self) -> bool {
        matches!(self, RunStatus::Pending | RunStatus::Running | RunStatus::Paused)
    }
}

/// Where a work package is in the run. `review` also covers "implemented, waiting for a reviewer".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WpStatus {
    Pending,
    Implementation,
    Review,
    /// Rejected by a review; waiting to be implemented again with the feedback.
    Rework,
    Completed,
    Failed,
    /// A dependency failed, so this work package cannot start.
    Blocked,
    /// `--skip`: left out; its dependents go ahead.
    Skipped,
}

impl WpStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            WpStatus::Pending => "pending",
            WpStatus::Implementation => "implementation",
            WpStatus::Review => "review",
            WpStatus::Rework => "rework",
            WpStatus::Completed => "completed",
            WpStatus::Failed => "failed",
            WpStatus::Blocked => "blocked",
            WpStatus::Skipped => "skipped",
        }
    }

    /// Dependents may start once every dependency is in one of these.
    pub fn satisfies_dependents(self) -> bool {
        matches!(self, WpStatus::Completed | WpStatus::Skipped)
    }

    /// Nothing more happens to the work package in this run.
    pub fn is_final(self) -> bool {
        matches!(self, WpStatus::Completed | WpStatus::Skipped | WpStatus::Failed | WpStatus::Blocked)
    }
}

/// One work package's record. Field order is upstream's; the keys after `restart_count` are ours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WpExecution {
    pub wp_id: String,
    pub status: WpStatus,
    pub implementation_agent: Option<String>,
    pub implementation_started: Option<String>,
    pub implementation_completed: Option<String>,
    pub implementation_exit_code: Option<i64>,
    /// Implementation attempts after the first, other than on a fallback agent (same-agent retries and
    /// rework after a rejected review, as upstream counted them).
    pub implementation_retries: u32,
    pub review_agent: Option<String>,
    pub review_started: Option<String>,
    pub review_completed: Option<String>,
    pub review_exit_code: Option<i64>,
    pub review_retries: u32,
    /// The latest rejection's feedback (first 500 characters; the whole text is in the feedback file).
    pub review_feedback: Option<String>,
    /// The latest invocation's log, relative to the project root.
    pub log_file: Option<String>,
    pub worktree_path: Option<String>,
    pub last_error: Option<String>,
    /// Implementers given up on after a failure, in order.
    pub fallback_agents_tried: Vec<String>,
    pub restart_count: u32,
    /// Reviewers given up on after a failure, in order.
    pub review_fallback_agents_tried: Vec<String>,
    /// Failed invocations so far (each role has `orchestrator.max_retries` extra attempts).
    pub implementation_failures: u32,
    pub review_failures: u32,
    /// Rejected reviews so far (`orchestrator.max_reworks` allowed).
    pub rework_count: u32,
    pub review_feedback_file: Option<String>,
}

impl Default for WpExecution {
    fn default() -> Self {
        WpExecution {
            wp_id: String::new(),
            status: WpStatus::Pending,
            implementation_agent: None,
            implementation_started: None,
            implementation_completed: None,
            implementation_exit_code: None,
            implementation_retries: 0,
            review_agent: None,
            review_started: None,
            review_completed: None,
            review_exit_code: None,
            review_retries: 0,
            review_feedback: None,
            log_file: None,
            worktree_path: None,
            last_error: None,
            fallback_agents_tried: Vec::new(),
            restart_count: 0,
            review_fallback_agents_tried: Vec::new(),
            implementation_failures: 0,
            review_failures: 0,
            rework_count: 0,
            review_feedback_file: None,
        }
    }
}

impl WpExecution {
    pub fn new(wp_id: &str) -> Self {
        WpExecution { wp_id: wp_id.to_owned(), ..WpExecution::default() }
    }

    /// Clears the failure budget so a resumed run tries a failed work package afresh.
    pub fn reset_failures(&mut self) {
        self.implementation_failures = 0;
        self.review_failures = 0;
        self.rework_count = 0;
        self.fallback_agents_tried.clear();
        self.review_fallback_agents_tried.clear();
    }
}

/// The whole run. Field order is upstream's; `wps_blocked` and the keys after it are ours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunState {
    pub run_id: String,
    pub feature_slug: String,
    pub started_at: String,
    pub completed_at: Option<String>,
    pub status: RunStatus,
    pub concurrency_limit: usize,
    pub wps_total: usize,
    pub wps_completed: usize,
    pub wps_failed: usize,
    pub parallel_peak: usize,
    pub total_agent_invocations: u64,
    pub work_packages: BTreeMap<String, WpExecution>,
    pub wps_blocked: usize,
    pub wps_skipped: usize,
    /// The agents selected when the run (or its last resume) started.
    pub implementer: Option<String>,
    pub reviewer: Option<String>,
}

impl Default for RunState {
    fn default() -> Self {
        RunState {
            run_id: String::new(),
            feature_slug: String::new(),
            started_at: String::new(),
            completed_at: None,
            status: RunStatus::Pending,
            concurrency_limit: 0,
            wps_total: 0,
            wps_completed: 0,
            wps_failed: 0,
            parallel_peak: 0,
            total_agent_invocations: 0,
            work_packages: BTreeMap::new(),
            wps_blocked: 0,
            wps_skipped: 0,
            implementer: None,
            reviewer: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{} is not a valid orchestration state ({message}); the previous version is in {}", path.display(), backup_path(path).display())]
    Corrupt { path: PathBuf, message: String },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error(
        "an orchestration run is active in this project (process {pid}); stop it with Ctrl-C (or `kill -INT {pid}`) first"
    )]
    Active { pid: String },
    #[error("cannot lock {}: {source}", path.display())]
    Lock { path: PathBuf, source: std::io::Error },
}

impl crate::error::Diagnose for StateError {}

impl RunState {
    pub fn wp(&self, wp_id: &str) -> Option<&WpExecution> {
        self.work_packages.get(wp_id)
    }

    pub fn wp_status(&self, wp_id: &str) -> Option<WpStatus> {
        self.work_packages.get(wp_id).map(|w| w.status)
    }

    /// Recomputes the counters from the work packages.
    pub fn recount(&mut self) {
        let count = |status: WpStatus| self.work_packages.values().filter(|w| w.status == status).count();
        let (completed, failed, blocked, skipped) =
            (count(WpStatus::Completed), count(WpStatus::Failed), count(WpStatus::Blocked), count(WpStatus::Skipped));
        self.wps_total = self.work_packages.len();
        self.wps_completed = completed;
        self.wps_failed = failed;
        self.wps_blocked = blocked;
        self.wps_skipped = skipped;
    }

    /// The state as written to disk: upstream's `json.dumps(indent=2)` layout.
    pub fn to_json_text(&self) -> String {
        let value = serde_json::to_value(self).unwrap_or_default();
        pyjson::to_string(&value, pyjson::PRETTY) + "\n"
    }

    /// The saved state of the project, if any.
    pub fn load(root: &Path) -> Result<Option<RunState>, StateError> {
        let path = root.join(STATE_FILE);
        let text = match crate::fsutil::read_small_string(&path, crate::fsutil::SMALL_FILE_CAP) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StateError::Read { path, source }),
        };
        serde_json::from_str(&text).map(Some).map_err(|e| StateError::Corrupt { path, message: e.to_string() })
    }

    /// Writes the state atomically, keeping the version it replaces as `.bak`.
    pub fn save(&self, root: &Path) -> Result<(), StateError> {
        let path = root.join(STATE_FILE);
        let write = || -> std::io::Result<()> {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            // Not fs::copy, which would write through a planted `.bak` symlink.
            match crate::fsutil::read_small(&path, crate::fsutil::LARGE_FILE_CAP) {
                Ok(previous) => crate::fsutil::write_atomic(&backup_path(&path), &previous)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            crate::fsutil::write_atomic(&path, self.to_json_text().as_bytes())
        };
        write().map_err(|source| StateError::Write { path: path.clone(), source })
    }
}

pub fn backup_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".bak");
    PathBuf::from(name)
}

/// Held by the process running a run, released when it exits however it exits (an advisory lock on
/// `.kittify/orchestration.lock`, which also records the process id for messages).
#[derive(Debug)]
pub struct RunLock {
    _file: std::fs::File,
}

impl RunLock {
    pub fn acquire(root: &Path) -> Result<RunLock, StateError> {
        use std::io::Write;
        let path = root.join(LOCK_FILE);
        let lock_error = |source| StateError::Lock { path: path.clone(), source };
        crate::fsutil::refuse_escaping_link(&path).map_err(lock_error)?;
        let mut file = crate::fsutil::open_regular(
            &path,
            std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false),
        )
        .map_err(lock_error)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let pid = crate::fsutil::read_small_string(&path, crate::fsutil::SMALL_FILE_CAP)
                    .unwrap_or_default()
                    .trim()
                    .to_owned();
                return Err(StateError::Active { pid: if pid.is_empty() { "unknown".into() } else { pid } });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(lock_error(e)),
        }
        file.set_len(0).and_then(|()| write!(file, "{}", std::process::id())).map_err(lock_error)?;
        Ok(RunLock { _file: file })
    }

    /// The process id of the run holding the lock, if one does.
    pub fn holder(root: &Path) -> Option<String> {
        let path = root.join(LOCK_FILE);
        let file = std::fs::OpenOptions::new().read(true).write(true).open(&path).ok()?;
        match file.try_lock() {
            Err(std::fs::TryLockError::WouldBlock) => Some(
                crate::fsutil::read_small_string(&path, crate::fsutil::SMALL_FILE_CAP)
                    .unwrap_or_default()
                    .trim()
                    .to_owned(),
            ),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_atomically_with_a_backup_and_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        assert!(RunState::load(dir.path()).unwrap().is_none());
        let mut state = RunState { run_id: "r1".into(), feature_slug: "001-x".into(), ..RunState::default() };
        state.work_packages.insert("WP01".into(), WpExecution::new("WP01"));
        state.recount();
        state.save(dir.path()).unwrap();
        state.status = RunStatus::Running;
        state.save(dir.path()).unwrap();
        assert_eq!(RunState::load(dir.path()).unwrap().unwrap(), state);
        let backup = std::fs::read_to_string(dir.path().join(".kittify/orchestration-state.json.bak")).unwrap();
        assert!(backup.contains("\"status\": \"pending\""), "{backup}");
        let text = state.to_json_text();
        assert!(text.starts_with("{\n  \"run_id\": \"r1\",\n  \"feature_slug\": \"001-x\",\n"), "{text}");
        assert!(text.contains("\"WP01\": {\n      \"wp_id\": \"WP01\",\n      \"status\": \"pending\",\n      \"implementation_agent\": null,"), "{text}");
    }

    #[test]
    fn loading_is_lenient_about_missing_keys_but_reports_corruption() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".kittify")).unwrap();
        std::fs::write(
            dir.path().join(STATE_FILE),
            r#"{"run_id": "u", "status": "paused", "work_packages": {"WP01": {"wp_id": "WP01", "status": "review"}}}"#,
        )
        .unwrap();
        let state = RunState::load(dir.path()).unwrap().unwrap();
        assert_eq!((state.status, state.wp_status("WP01")), (RunStatus::Paused, Some(WpStatus::Review)));
        std::fs::write(dir.path().join(STATE_FILE), "{").unwrap();
        let err = RunState::load(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("is not a valid orchestration state") && err.ends_with("orchestration-state.json.bak"),
            "{err}"
        );
    }

    #[test]
    fn the_lock_is_exclusive_and_names_its_holder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".kittify")).unwrap();
        assert_eq!(RunLock::holder(dir.path()), None);
        let lock = RunLock::acquire(dir.path()).unwrap();
        // flock locks belong to the open file description, so a second open in this process conflicts too.
        assert_eq!(RunLock::holder(dir.path()), Some(std::process::id().to_string()));
        assert!(matches!(RunLock::acquire(dir.path()), Err(StateError::Active { .. })));
        drop(lock);
        assert_eq!(RunLock::holder(dir.path()), None);
        assert!(RunLock::acquire(dir.path()).is_ok());
    }
}
