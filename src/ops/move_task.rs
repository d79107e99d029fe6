//! Moving a work package to another lane (`agent tasks move-task`, and every lane move of the
//! orchestrator): the pre-review checks on the repository, the move itself through the canonical status
//! model ([`crate::workflow::transition`]), its commit, its ExecutionEvent and its sync events.

use super::Scope;
use crate::error::Diagnose;
use crate::git::GitError;
use crate::sync::SyncEvent;
use crate::telemetry::{Role, Usage};
use crate::workflow::lanes::Lane;
use crate::workflow::lock::LockError;
use crate::workflow::transition::{self, MoveError, MoveOutcome, MoveRequest, MoveSite};
use crate::workflow::workspace;
use crate::workflow::wp::WorkPackage;

/// A lane move as a command or the orchestrator asks for it, and what to do around it.
#[derive(Debug, Clone)]
pub struct MoveTask {
    pub lane_move: MoveRequest,
    /// Commit the moved WP file (with git).
    pub commit: bool,
    /// What the agent spent in the phase the move ends; recorded on the transitions that end a phase.
    pub usage: Usage,
}

#[derive(Debug)]
pub struct MoveTaskOutcome {
    pub moved: MoveOutcome,
    /// One WPStatusChanged per hop.
    pub events: Vec<SyncEvent>,
    pub warnings: Vec<String>,
    /// Work packages that depend on the moved one and are still waiting (planned or in progress).
    pub waiting_dependents: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum MoveTaskError {
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Move(#[from] MoveError),
    #[error("uncommitted changes in the feature directory: {}", .0.join(", "))]
    PlanningUncommitted(Vec<String>),
    #[error("the worktree {0} has a detached HEAD")]
    DetachedWorktree(String, String),
    #[error("the worktree {0} has uncommitted changes")]
    DirtyWorktree(String),
    #[error(transparent)]
    Git(#[from] GitError),
}

impl Diagnose for MoveTaskError {
    fn hints(&self) -> Vec<String> {
        match self {
            MoveTaskError::Lock(e) => e.hints(),
            MoveTaskError::Move(e) => e.hints(),
            MoveTaskError::PlanningUncommitted(_) => vec!["commit them first, or use --force".into()],
            MoveTaskError::DetachedWorktree(path, branch) => {
                vec![format!("check out its branch: git -C {path} checkout {branch}")]
            }
            MoveTaskError::DirtyWorktree(_) => vec!["commit the implementation before asking for review".into()],
            MoveTaskError::Git(_) => Vec::new(),
        }
    }
}

/// Moves `request.wp_id` under the feature lock and, when asked, commits the WP file (plus tasks.md when
/// its generated status block was its only change).
pub fn move_task(scope: &Scope<'_>, task: &MoveTask) -> Result<MoveTaskOutcome, MoveTaskError> {
    let request = &task.lane_move;
    let lock = scope.lock()?;
    if request.to == Lane::ForReview && !request.force {
        check_ready_for_review(scope, &request.wp_id)?;
    }
    let before = WorkPackage::load(&scope.feature.dir, &request.wp_id).map_err(MoveError::from)?;
    let workspace_dir = scope
        .project
        .root
        .join(workspace::WORKTREES_DIR)
        .join(workspace::workspace_name(&scope.feature.slug, &request.wp_id));
    let reviewer = request
        .reviewer
        .clone()
        .or_else(|| scope.repo.as_ref().and_then(|r| r.run(&["config", "user.name"]).ok()))
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    let site = MoveSite {
        feature_slug: &scope.feature.slug,
        reviewer: &reviewer,
        execution_mode: if workspace_dir.is_dir() { "worktree" } else { "direct_repo" },
    };
    let tasks_md = scope.feature_file("tasks.md");
    let tasks_md_was_clean =
        scope.repo.as_ref().is_some_and(|r| r.status_porcelain(&[&tasks_md]).is_ok_and(|s| s.is_empty()));
    let moved = transition::move_task(&lock, request, site, || crate::events::EventId::Ulid(scope.ctx.new_ulid().0))?;

    let mut warnings = Vec::new();
    if let Some(repo) = scope.repo.as_ref().filter(|_| task.commit) {
        // Upstream commits only the WP file and leaves the regenerated status block of tasks.md dirty,
        // which then blocks the next move to for_review; we include tasks.md when our block update was
        // its only change.
        let wp_file = scope.relative(&moved.path);
        let mut paths = vec![wp_file.as_path()];
        if tasks_md_was_clean && scope.project.root.join(&tasks_md).exists() {
            paths.push(&tasks_md);
        }
        let agent = moved.agent.as_deref().unwrap_or("unknown");
        let message =
            format!("chore: Move {} to {} on spec {} [{agent}]", moved.wp_id, request.to, scope.feature.number());
        if let Err(e) = repo.commit_paths(&paths, &message) {
            warnings.push(format!("{} moved to {}, but the commit failed: {e}", moved.wp_id, request.to));
        }
    }
    drop(lock);

    warnings.extend(scope.record_usage(phase_record(&task.usage, &moved, before.doc.scalar("agent"))));
    Ok(MoveTaskOutcome {
        events: moved.events.iter().map(SyncEvent::from).collect(),
        waiting_dependents: waiting_dependents(scope, &moved.wp_id),
        moved,
        warnings,
    })
}

/// The ExecutionEvent of the phase a move ends, as upstream records them: in_progress→for_review ends an
/// implementation, a move out of review ends a review (failed when the work goes back).
fn phase_record(
    usage: &Usage,
    moved: &MoveOutcome,
    agent: Option<String>,
) -> Option<crate::telemetry::ExecutionRecord> {
    use Lane::*;
    let (role, success) = match (moved.old_lane, moved.new_lane) {
        (InProgress, ForReview) => (Role::Implementer, true),
        (ForReview | InReview, Done | Approved) => (Role::Reviewer, true),
        (ForReview | InReview | Approved, InProgress | Planned) => (Role::Reviewer, false),
        _ => return None,
    };
    usage.record(role, &moved.wp_id, agent.as_deref()).map(|mut record| {
        if !success {
            record.success = false;
            record.exit_code = 1;
        }
        record
    })
}

/// Before review: the feature's planning files are committed, and the WP's worktree (if any) is on a
/// branch and clean. Upstream's `_validate_ready_for_review`; skipped by `--force`.
fn check_ready_for_review(scope: &Scope<'_>, wp_id: &str) -> Result<(), MoveTaskError> {
    let Some(repo) = &scope.repo else { return Ok(()) };
    let dirty = repo.status_porcelain(&[&scope.feature_file("")])?;
    let generated = ["status.events.jsonl", "status.json", "execution.events.jsonl", ".telemetry-clock.json"];
    let offending: Vec<String> = dirty
        .lines()
        .filter_map(|l| l.get(3..))
        .filter(|path| {
            let wp_prompt = path.contains("/tasks/") && path.ends_with(".md");
            !generated.iter().any(|f| path.ends_with(f)) && !wp_prompt
        })
        .map(str::to_owned)
        .collect();
    if !offending.is_empty() {
        return Err(MoveTaskError::PlanningUncommitted(offending));
    }
    let name = workspace::workspace_name(&scope.feature.slug, wp_id);
    let path = scope.project.root.join(workspace::WORKTREES_DIR).join(&name);
    if !path.join(".git").is_file() {
        return Ok(());
    }
    let shown = path.display().to_string();
    if (crate::git::Repo { root: path.clone() }).is_detached() {
        return Err(MoveTaskError::DetachedWorktree(shown, name));
    }
    if workspace::is_dirty(&path)? {
        return Err(MoveTaskError::DirtyWorktree(shown));
    }
    Ok(())
}

/// Dependents of `wp_id` that are still waiting for it.
fn waiting_dependents(scope: &Scope<'_>, wp_id: &str) -> Vec<String> {
    WorkPackage::all(&scope.feature.dir)
        .into_iter()
        .flatten()
        .filter(|p| p.dependencies().iter().any(|d| d == wp_id))
        .filter(|p| matches!(p.lane(), Ok(Lane::Planned | Lane::InProgress)))
        .map(|p| p.id)
        .collect()
}
