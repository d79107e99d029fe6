//! The orchestrator's effects on the project, all in-process: lane moves through the same operation as
//! `move-task` ([`crate::ops::move_task`]), workspaces, sync events (queue-first) and ExecutionEvents.
//! Each returns warnings instead of printing.

use crate::context::Context;
use crate::git::Repo;
use crate::ops::move_task::{MoveTask, MoveTaskError, move_task};
use crate::ops::workspace::{Base, commit_or_warning, plan_workspace, record_paths};
use crate::ops::{OpError, Scope};
use crate::project::{Feature, Project};
use crate::sync::{Causation, SyncEvent};
use crate::telemetry::ExecutionRecord;
use crate::telemetry::Usage;
use crate::workflow::lanes::Lane;
use crate::workflow::transition::{Feedback, MoveError, MoveRequest};
use crate::workflow::workspace::Workspace;
use crate::workflow::wp::WorkPackage;
use chrono::{DateTime, Utc};
use std::cell::Cell;

pub struct Effects<'a> {
    pub ctx: &'a Context,
    pub project: &'a Project,
    pub feature: &'a Feature,
    pub repo: Option<Repo>,
    /// The instant of the latest status event, so the next move is stamped after it.
    last_move: Cell<Option<DateTime<Utc>>>,
}

/// A lane move the orchestrator makes.
#[derive(Debug, Clone)]
pub struct LaneMove<'a> {
    pub wp_id: &'a str,
    pub to: Lane,
    /// The agent doing the work (the status events' actor).
    pub actor: &'a str,
    /// `Automated: …`, as upstream's orchestrator noted its moves.
    pub note: &'a str,
    pub feedback: Option<Feedback>,
    pub reviewer: Option<&'a str>,
    pub approval_ref: Option<String>,
}

impl<'a> Effects<'a> {
    pub fn new(ctx: &'a Context, project: &'a Project, feature: &'a Feature, repo: Option<Repo>) -> Effects<'a> {
        // Start after everything already in the feature's status log.
        let latest = crate::workflow::status::read_events(&feature.dir, ctx.lock_timeout)
            .ok()
            .and_then(|events| events.iter().map(|e| e.at.to_utc()).max());
        Effects { ctx, project, feature, repo, last_move: Cell::new(latest) }
    }

    /// When the next move happens: now, or just after the previous move when the clock has not moved on
    /// (a coarse or pinned clock). The status reducer orders events by time, and at equal instants lets a
    /// review rollback win, so a run's moves must carry strictly increasing instants to be read back in
    /// the order they were made.
    fn move_instant(&self) -> DateTime<Utc> {
        let now = self.ctx.now();
        let at = match self.last_move.get() {
            // A move writes up to four events one microsecond apart; a millisecond clears them all.
            Some(last) if now <= last + chrono::Duration::microseconds(10) => last + chrono::Duration::milliseconds(1),
            _ => now,
        };
        self.last_move.set(Some(at));
        at
    }

    pub fn lane(&self, wp_id: &str) -> Option<Lane> {
        WorkPackage::load(&self.feature.dir, wp_id).ok().and_then(|wp| wp.lane().ok())
    }

    /// The operations' view of this run's feature.
    fn scope(&self) -> Scope<'a> {
        Scope { ctx: self.ctx, project: self.project, feature: self.feature, repo: self.repo.clone() }
    }

    /// Moves a work package (nothing to do when it is already there), exactly as `move-task` does. When
    /// a rule refuses — typically subtasks the agent did not check off in tasks.md, or work it left
    /// uncommitted — the move is forced with the refusal in the note, as an automated pipeline has no one
    /// to ask; the status log keeps the force and the reason.
    pub fn move_lane(&self, movement: LaneMove<'_>) -> Result<Vec<String>, MoveTaskError> {
        let current = self.lane(movement.wp_id);
        if current == Some(movement.to) {
            return Ok(Vec::new());
        }
        // Forcing is for rules an unattended run cannot satisfy, never for reopening finished work.
        let may_force = !current.is_some_and(Lane::is_terminal);
        let lane_move = MoveRequest {
            wp_id: movement.wp_id.to_owned(),
            to: movement.to,
            agent: Some(movement.actor.to_owned()),
            assignee: None,
            shell_pid: None,
            note: Some(movement.note.to_owned()),
            feedback: movement.feedback.clone(),
            approval_ref: movement.approval_ref.clone(),
            reviewer: Some(movement.reviewer.unwrap_or(movement.actor).to_owned()),
            force: false,
            at: self.move_instant(),
        };
        // The run records each invocation's real usage itself.
        let request = MoveTask { lane_move, commit: true, usage: Usage::default() };
        let scope = self.scope();
        let outcome = match move_task(&scope, &request) {
            Ok(outcome) => outcome,
            Err(refusal) if may_force && is_rule_refusal(&refusal) => {
                let note = format!("{} (forced: {})", movement.note, short_reason(&refusal));
                let lane_move = MoveRequest { force: true, note: Some(note), ..request.lane_move };
                move_task(&scope, &MoveTask { lane_move, ..request })?
            }
            Err(other) => return Err(other),
        };
        let mut warnings = outcome.warnings;
        warnings.extend(self.publish(&outcome.events));
        Ok(warnings)
    }

    /// The work package's workspace, created (or reused) exactly as `spec-kitty implement` does it
    /// ([`crate::ops::workspace`]): the run names the base itself — the latest dependency that completed
    /// — and the recorded base is committed. Returns the workspace and any warnings.
    pub fn workspace(&self, wp_id: &str, base_wp: Option<&str>) -> Result<(Workspace, Vec<String>), OpError> {
        let scope = self.scope();
        let (project, feature, repo) = (self.project, self.feature, self.repo.as_ref());
        let lock = scope.lock()?;
        let mut wp = WorkPackage::load(&feature.dir, wp_id)?;
        // A dependency that completed in this run has its branch; one skipped or done elsewhere may have
        // none, and then the work starts from the feature's target branch.
        let has_branch = |dep: &&str| {
            let name = crate::workflow::workspace::workspace_name(&feature.slug, dep);
            project.root.join(crate::workflow::workspace::WORKTREES_DIR).join(&name).is_dir()
                || repo.is_some_and(|r| r.branch_exists(&name))
        };
        let base = base_wp.filter(has_branch).map_or(Base::Target, Base::Wp);
        let plan = plan_workspace(project, repo, feature, &wp, base, true)?;
        let mut warnings = plan.warnings.clone();
        let prepared = plan.apply(self.ctx, project, repo, &lock, &mut wp)?;
        if let Some(repo) = repo
            && (prepared.meta_changed || prepared.frontmatter_changed)
        {
            let paths = record_paths(repo, project, feature, &wp, prepared.meta_changed, false);
            let message = format!("chore: {wp_id} workspace base recorded");
            warnings.extend(commit_or_warning(repo, project, &paths, &message));
        }
        Ok((prepared.workspace, warnings))
    }

    /// Queues sync events (never fails the run).
    pub fn publish(&self, events: &[SyncEvent]) -> Vec<String> {
        if events.is_empty() {
            return Vec::new();
        }
        crate::sync::emit(self.ctx, Some(self.project), events, Causation::None).warnings
    }

    /// Appends an ExecutionEvent to the feature's telemetry log (never fails the run).
    pub fn record(&self, record: &ExecutionRecord) -> Vec<String> {
        match crate::telemetry::emit(&self.project.root, &self.feature.dir, &self.feature.slug, record, self.ctx) {
            Ok(emitted) => emitted.warnings,
            Err(e) => vec![format!("telemetry event not recorded: {e}")],
        }
    }
}

/// A refusal of the workflow's rules (which `--force` overrides), as opposed to a failure.
fn is_rule_refusal(error: &MoveTaskError) -> bool {
    matches!(
        error,
        MoveTaskError::Move(
            MoveError::UncheckedSubtasks { .. } | MoveError::Transition(_) | MoveError::FeedbackRequired { .. }
        ) | MoveTaskError::PlanningUncommitted(_)
            | MoveTaskError::DetachedWorktree(..)
            | MoveTaskError::DirtyWorktree(_)
    )
}

/// The refusal in a few words, for the forced move's note.
fn short_reason(error: &MoveTaskError) -> String {
    match error {
        MoveTaskError::Move(MoveError::UncheckedSubtasks { items, .. }) => {
            let ids: Vec<&str> = items.iter().filter_map(|i| i.split_whitespace().next()).collect();
            format!("unchecked subtasks {}", ids.join(", "))
        }
        other => {
            let text = other.to_string();
            text.split([':', '(']).next().unwrap_or(&text).trim().to_owned()
        }
    }
}
