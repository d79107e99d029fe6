//! Implementing a work package (`spec-kitty implement WP`): its workspace created or reused
//! ([`super::workspace`]) and, when it is planned, the work package claimed — lane `doing` and the shell
//! pid, committed with the workspace records.
//!
//! As upstream, the claim goes straight to sync as WPStatusChanged planned→in_progress, without a
//! status.events.jsonl line; a later move-task bootstraps the status log from the frontmatter lane. And
//! anything written is committed: without a claim, the recorded base is committed as
//! `chore: <WP> workspace base recorded` instead of being left uncommitted.

use super::workspace::{
    Base, PreparedWorkspace, commit_or_warning, load_work_package, plan_workspace, record_paths, save, shell_pid,
};
use super::{OpError, Scope};
use crate::sync::SyncEvent;
use crate::workflow::lanes::Lane;
use crate::workflow::lock::FeatureLock;
use crate::workflow::workspace::WORKTREES_DIR;
use crate::workflow::wp::WorkPackage;

#[derive(Debug, Clone)]
pub struct Implement {
    /// The work package (WP01, wp1, WP01-slug, …).
    pub wp: String,
    /// Start from this work package's branch (default: the work package's only dependency).
    pub base: Option<String>,
    /// Go ahead although every dependency is done (normally they are merged first).
    pub force: bool,
}

#[derive(Debug)]
pub struct ImplementOutcome {
    pub wp: WorkPackage,
    pub prepared: PreparedWorkspace,
    /// The work package was planned and is now claimed.
    pub claimed: bool,
    pub events: Vec<SyncEvent>,
    pub warnings: Vec<String>,
}

pub fn implement(scope: &Scope<'_>, request: &Implement) -> Result<ImplementOutcome, OpError> {
    let (ctx, project, feature) = (scope.ctx, scope.project, scope.feature);
    // Upstream's `@require_main_repo`: a workspace must be created from the main checkout.
    if ctx.cwd.starts_with(project.root.join(WORKTREES_DIR)) {
        return Err(OpError::new("`spec-kitty implement` cannot run inside a workspace (.worktrees/…)")
            .hint(format!("run it from the main checkout: cd {}", project.root.display())));
    }
    // Held from reading the WP file until its claim is committed.
    let lock = scope.lock()?;
    let mut wp = load_work_package(feature, &request.wp)?;
    let repo = scope.repo.as_ref();
    let plan = plan_workspace(project, repo, feature, &wp, Base::from_flag(request.base.as_deref()), request.force)?;
    let mut warnings = plan.warnings.clone();
    let claimed = wp.lane()? == Lane::Planned;
    let prepared = plan.apply(ctx, project, repo, &lock, &mut wp)?;
    if claimed {
        claim(&lock, &mut wp)?;
    }
    if let Some(repo) = repo {
        let message = if claimed {
            Some(format!("chore: {} claimed for implementation", wp.id))
        } else if prepared.meta_changed || prepared.frontmatter_changed {
            Some(format!("chore: {} workspace base recorded", wp.id))
        } else {
            None
        };
        if let Some(message) = message {
            let paths = record_paths(repo, project, feature, &wp, claimed || prepared.meta_changed, claimed);
            warnings.extend(commit_or_warning(repo, project, &paths, &message));
        }
    }
    drop(lock);
    let events = if claimed {
        vec![SyncEvent::WpStatusChanged {
            feature_slug: feature.slug.clone(),
            wp_id: wp.id.clone(),
            from_lane: Lane::Planned.as_str().to_owned(),
            to_lane: Lane::InProgress.as_str().to_owned(),
            actor: "user".to_owned(),
            policy_metadata: None,
        }]
    } else {
        Vec::new()
    };
    Ok(ImplementOutcome { wp, prepared, claimed, events, warnings })
}

/// Sets the lane to `doing` (the alias upstream writes here) and records the shell, then saves.
fn claim(lock: &FeatureLock, wp: &mut WorkPackage) -> Result<(), OpError> {
    wp.doc.set_scalar("lane", "doing");
    wp.doc.set_scalar("shell_pid", &shell_pid());
    save(lock, wp)
}
