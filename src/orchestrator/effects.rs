//! The orchestrator's effects on the project, all in-process: lane moves through the canonical status
//! model (`workflow::transition::move_task`, committed like `move-task` commits them), workspaces, sync
//! events (queue-first) and ExecutionEvents. Each returns warnings instead of printing.

use crate::context::Context;
use crate::git::Repo;
use crate::project::meta::FeatureMeta;
use crate::project::{Feature, Project};
use crate::sync::{Causation, SyncEvent};
use crate::telemetry::ExecutionRecord;
use crate::workflow::lanes::Lane;
use crate::workflow::lock::FeatureLock;
use crate::workflow::transition::{self, Feedback, MoveError, MoveRequest};
use crate::workflow::workspace::{self, Workspace};
use crate::workflow::wp::WorkPackage;
use chrono::{DateTime, Utc};
use std::cell::Cell;
use std::path::Path;

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

    /// Moves a work package (nothing to do when it is already there). When a guard refuses — typically
    /// subtasks the agent did not check off in tasks.md — the move is forced with the refusal in the
    /// note, as an automated pipeline has no one to ask; the status log keeps the force and the reason.
    pub fn move_lane(&self, movement: LaneMove<'_>) -> Result<Vec<String>, String> {
        let mut warnings = Vec::new();
        // Held from reading the lane until the move is committed, as `move-task` does.
        let lock = FeatureLock::acquire(&self.feature.dir, self.ctx.lock_timeout).map_err(|e| e.to_string())?;
        let current = self.lane(movement.wp_id);
        if current == Some(movement.to) {
            return Ok(warnings);
        }
        // Forcing is for guards an unattended run cannot satisfy, never for reopening finished work.
        let may_force = !current.is_some_and(Lane::is_terminal);
        let workspace_dir = self
            .project
            .root
            .join(workspace::WORKTREES_DIR)
            .join(workspace::workspace_name(&self.feature.slug, movement.wp_id));
        let request = MoveRequest {
            feature_slug: self.feature.slug.clone(),
            wp_id: movement.wp_id.to_owned(),
            to: movement.to,
            agent: Some(movement.actor.to_owned()),
            assignee: None,
            shell_pid: None,
            note: Some(movement.note.to_owned()),
            feedback: movement.feedback.clone(),
            approval_ref: movement.approval_ref.clone(),
            reviewer: movement.reviewer.unwrap_or(movement.actor).to_owned(),
            force: false,
            execution_mode: if workspace_dir.is_dir() { "worktree" } else { "direct_repo" }.to_owned(),
            now: self.move_instant(),
        };
        let tasks_md = Path::new("kitty-specs").join(&self.feature.slug).join("tasks.md");
        let tasks_md_was_clean =
            self.repo.as_ref().is_some_and(|r| r.status_porcelain(&[&tasks_md]).is_ok_and(|s| s.is_empty()));
        let new_id = || crate::events::EventId::Ulid(self.ctx.new_ulid().0);
        let outcome = match transition::move_task(&lock, &request, new_id) {
            Ok(outcome) => outcome,
            Err(
                refusal @ (MoveError::UncheckedSubtasks { .. }
                | MoveError::Transition(_)
                | MoveError::FeedbackRequired { .. }),
            ) if may_force => {
                let note = format!("{} (forced: {})", movement.note, short_reason(&refusal));
                let forced = MoveRequest { force: true, note: Some(note), ..request };
                transition::move_task(&lock, &forced, new_id).map_err(|e| e.to_string())?
            }
            Err(other) => return Err(other.to_string()),
        };
        if let Some(repo) = &self.repo {
            // As move-task: the WP file, plus tasks.md when our status block was its only change.
            let relative = outcome.path.strip_prefix(&self.project.root).unwrap_or(&outcome.path).to_owned();
            let mut paths = vec![relative.as_path()];
            if tasks_md_was_clean && self.project.root.join(&tasks_md).exists() {
                paths.push(&tasks_md);
            }
            let message = format!(
                "chore: Move {} to {} on spec {} [{}]",
                movement.wp_id,
                movement.to,
                self.feature.number(),
                movement.actor
            );
            if let Err(e) = repo.commit_paths(&paths, &message) {
                warnings.push(format!("{} moved to {}, but the commit failed: {e}", movement.wp_id, movement.to));
            }
        }
        drop(lock);
        let events: Vec<SyncEvent> = outcome.events.iter().map(SyncEvent::from).collect();
        warnings.extend(self.publish(&events));
        Ok(warnings)
    }

    /// The work package's workspace, created like `spec-kitty implement` creates it: with git, a worktree
    /// on branch `<feature>-<WP>` starting from `base_wp`'s branch (else the feature's target branch);
    /// without git, a plain directory. An existing workspace is reused.
    pub fn workspace(&self, wp_id: &str, base_wp: Option<&str>) -> Result<Workspace, String> {
        let base = match &self.repo {
            None => String::new(),
            Some(repo) => base_wp
                .map(|dep| workspace::workspace_name(&self.feature.slug, dep))
                .filter(|branch| repo.branch_exists(branch))
                .unwrap_or_else(|| self.target_branch(repo)),
        };
        workspace::create_workspace(self.project, self.repo.as_ref(), &self.feature.slug, wp_id, &base)
            .map_err(|e| e.to_string())
    }

    /// meta.json's `target_branch` when that branch exists, else the current (or primary) branch.
    fn target_branch(&self, repo: &Repo) -> String {
        let meta = FeatureMeta::load(&self.feature.dir).ok().flatten();
        meta.as_ref()
            .and_then(|m| m.str("target_branch"))
            .filter(|t| !t.trim().is_empty() && repo.branch_exists(t))
            .map(str::to_owned)
            .or_else(|| repo.current_branch())
            .unwrap_or_else(|| repo.primary_branch())
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

/// The refusal in a few words, for the forced move's note.
fn short_reason(error: &MoveError) -> String {
    match error {
        MoveError::UncheckedSubtasks { items, .. } => {
            let ids: Vec<&str> = items.iter().filter_map(|i| i.split_whitespace().next()).collect();
            format!("unchecked subtasks {}", ids.join(", "))
        }
        other => {
            let text = other.to_string();
            text.split([':', '(']).next().unwrap_or(&text).trim().to_owned()
        }
    }
}
