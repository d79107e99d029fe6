//! Workflow operations: one module per command that changes a feature's files. Each takes a request and
//! returns an outcome — what changed, the sync events to publish, warnings — or a typed error, and holds
//! the feature lock ([`crate::workflow::lock`]) across its whole read-modify-write and its git commit.
//!
//! The command line (`crate::cli`) turns arguments into requests and renders outcomes; the orchestrator
//! calls the same operations, so a lane move is defined — and committed — in exactly one place. Nothing
//! here prints.

pub mod accept;
pub mod add_history;
pub mod create_feature;
pub mod finalize_tasks;
pub mod implement;
pub mod mark_status;
pub mod merge;
pub mod move_task;
pub mod setup_plan;
pub mod start;
pub mod workspace;

use crate::context::Context;
use crate::error::{Diagnose, EXIT_FAILURE, EXIT_USAGE};
use crate::git::Repo;
use crate::project::{Feature, Project};
use crate::telemetry::ExecutionRecord;
use crate::workflow::lock::{FeatureLock, LockError};
use std::path::{Path, PathBuf};

/// What every operation on a feature works with.
#[derive(Debug)]
pub struct Scope<'a> {
    pub ctx: &'a Context,
    pub project: &'a Project,
    pub feature: &'a Feature,
    /// The project's repository; `None` without git (everything works on plain files then).
    pub repo: Option<Repo>,
}

impl<'a> Scope<'a> {
    pub fn new(ctx: &'a Context, project: &'a Project, feature: &'a Feature) -> Scope<'a> {
        Scope { ctx, project, feature, repo: Repo::at(&project.root) }
    }

    /// Takes the feature lock, waiting at most `SPEC_KITTY_LOCK_TIMEOUT_MS`.
    pub fn lock(&self) -> Result<FeatureLock, LockError> {
        FeatureLock::acquire(&self.feature.dir, self.ctx.lock_timeout)
    }

    /// `path` relative to the project root (what git commands take).
    pub fn relative(&self, path: &Path) -> PathBuf {
        path.strip_prefix(&self.project.root).unwrap_or(path).to_owned()
    }

    /// A file of the feature, relative to the project root (`kitty-specs/<feature>/<name>`).
    pub fn feature_file(&self, name: &str) -> PathBuf {
        Path::new("kitty-specs").join(&self.feature.slug).join(name)
    }

    /// Appends an ExecutionEvent to the feature's telemetry log when there is one to record. Telemetry
    /// never fails an operation: a problem comes back as a warning.
    pub fn record_usage(&self, record: Option<ExecutionRecord>) -> Vec<String> {
        let Some(record) = record else { return Vec::new() };
        match crate::telemetry::emit(&self.project.root, &self.feature.dir, &self.feature.slug, &record, self.ctx) {
            Ok(emitted) => emitted.warnings,
            Err(e) => vec![format!("telemetry event not recorded: {e}")],
        }
    }
}

/// An operation's failure told for the user: what happened, what to do, and whether it was a usage error.
/// For operations whose failures are many, specific and never branched on by a caller (those that are
/// have their own enums, e.g. [`move_task::MoveTaskError`]).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct OpError {
    pub message: String,
    pub hints: Vec<String>,
    pub usage: bool,
}

impl OpError {
    pub fn new(message: impl Into<String>) -> OpError {
        OpError { message: message.into(), hints: Vec::new(), usage: false }
    }

    /// A bad argument (exit 2).
    pub fn usage(message: impl Into<String>) -> OpError {
        OpError { usage: true, ..OpError::new(message) }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> OpError {
        self.hints.push(hint.into());
        self
    }

    /// Any core error, with its hints.
    pub fn from_diagnose<E: Diagnose>(error: E) -> OpError {
        OpError { hints: error.hints(), usage: error.exit_code() == EXIT_USAGE, ..OpError::new(error.to_string()) }
    }
}

impl Diagnose for OpError {
    fn hints(&self) -> Vec<String> {
        self.hints.clone()
    }

    fn exit_code(&self) -> u8 {
        if self.usage { EXIT_USAGE } else { EXIT_FAILURE }
    }
}

macro_rules! op_error_from {
    ($($error:ty),* $(,)?) => {
        $(impl From<$error> for OpError {
            fn from(error: $error) -> OpError {
                OpError::from_diagnose(error)
            }
        })*
    };
}

op_error_from!(
    crate::git::GitError,
    crate::project::meta::MetaError,
    crate::workflow::lock::LockError,
    crate::workflow::workspace::WorkspaceError,
    crate::workflow::wp::WpError,
);
