//! Merging a feature's work-package branches into the target branch (`merge`, `agent feature merge`;
//! reference/workflow.md §4.12).
//!
//! Each work package lives in `.worktrees/<feature>-WPxx` on branch `<feature>-WPxx`. A preflight checks
//! everything before anything changes; then the target is checked out and the branches are merged one by
//! one in WP order. A conflict aborts that merge and stops; the work packages merged before it stay
//! merged, and re-running skips them (a branch already contained in the target is not merged again).
//!
//! Deliberate differences from upstream: no `git pull` (the command works offline; `--push` is the one
//! network step, and only when asked), no resumable merge-state file (the ancestry check makes a plain
//! re-run resume), `rebase` really rebases each branch onto the target and fast-forwards (upstream
//! skipped the merge with "rebase not supported"), and `canceled` work packages need no workspace, like
//! `done` ones.

use super::Scope;
use crate::error::Diagnose;
use crate::git::{GitError, Repo};
use crate::project::meta::{FeatureMeta, MetaError};
use crate::sync::SyncEvent;
use crate::workflow::acceptance::significant_changes;
use crate::workflow::workspace::{self, Workspace};
use crate::workflow::wp::WorkPackage;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// One `--no-ff` merge commit per work package.
    Merge,
    /// One squashed commit per work package.
    Squash,
    /// Each branch rebased onto the target, then fast-forwarded (a linear history).
    Rebase,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Merge => "merge",
            Strategy::Squash => "squash",
            Strategy::Rebase => "rebase",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Merge {
    /// Default: meta.json `target_branch`, else the primary branch.
    pub target: Option<String>,
    pub strategy: Strategy,
    pub delete_branches: bool,
    pub remove_worktrees: bool,
    /// `git push origin <target>` after the merge.
    pub push: bool,
}

/// What the preflight found: what will be merged into what.
#[derive(Debug)]
pub struct Plan {
    pub feature: String,
    pub target: String,
    pub packages: Vec<PlannedWp>,
}

#[derive(Debug)]
pub struct PlannedWp {
    pub workspace: Workspace,
    pub branch: String,
    pub commits_ahead: u64,
    /// The branch is already contained in the target (merged by an earlier run): it is skipped.
    pub already_merged: bool,
}

#[derive(Debug)]
pub struct MergeOutcome {
    pub plan: Plan,
    pub merged: Vec<String>,
    pub skipped: Vec<String>,
    pub worktrees_removed: Vec<String>,
    pub branches_deleted: Vec<String>,
    pub push: Push,
    /// One WPStatusChanged per merged work package — also when the run stopped at a conflict.
    pub events: Vec<SyncEvent>,
    /// The run stopped at this work package (the ones before it stay merged).
    pub stopped: Option<MergeStop>,
    pub warnings: Vec<String>,
}

/// Why a merge stopped part-way.
#[derive(Debug, thiserror::Error)]
#[error("cannot merge {wp_id} ({branch}) into {target}: {what}; {outcome}")]
pub struct MergeStop {
    pub wp_id: String,
    pub branch: String,
    pub target: String,
    /// `conflict in a.rs, b.rs` or `git failed: …`.
    pub what: String,
    /// Whether the failed merge was rolled back.
    pub outcome: String,
    pub conflict: bool,
    pub merged_before: Vec<String>,
    pub workspace: String,
}

impl Diagnose for MergeStop {
    fn hints(&self) -> Vec<String> {
        let kept = if self.merged_before.is_empty() {
            format!("nothing was merged into {} by this run", self.target)
        } else {
            format!("already merged into {} (kept): {}", self.target, self.merged_before.join(", "))
        };
        vec![
            kept,
            format!(
                "resolve it (e.g. `git merge {}` inside {} and commit), then re-run `spec-kitty merge`: work \
                 packages already merged are skipped",
                self.target, self.workspace
            ),
        ]
    }

    fn error_code(&self) -> Option<&'static str> {
        Some(if self.conflict { "MERGE_CONFLICT" } else { "MERGE_FAILED" })
    }
}

/// Something that blocks the merge, with the advice that fixes it.
#[derive(Debug)]
pub struct Problem {
    pub text: String,
    pub hint: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("merge needs git: {} is not a git repository", .0.display())]
    NeedsGit(PathBuf),
    #[error(transparent)]
    Meta(#[from] MetaError),
    #[error("target branch '{0}' does not exist")]
    NoTarget(String),
    #[error("cannot merge {feature} into {target}; nothing was changed:\n{}", list(.problems))]
    Preflight { feature: String, target: String, problems: Vec<Problem> },
    #[error("no work-package workspaces to merge for {0} (looked for {dir}/{0}-WPxx)", dir = workspace::WORKTREES_DIR)]
    NothingToMerge(String),
    #[error("merge must run from the main checkout, not from a work-package worktree")]
    InsideWorkspace(PathBuf),
    #[error("cannot check out {target}: {source}")]
    Checkout { target: String, source: GitError },
    #[error(transparent)]
    Git(#[from] GitError),
}

fn list(problems: &[Problem]) -> String {
    problems.iter().map(|p| format!("  - {}", p.text)).collect::<Vec<_>>().join("\n")
}

impl Diagnose for MergeError {
    fn hints(&self) -> Vec<String> {
        match self {
            MergeError::NeedsGit(_) => vec![
                "without git, workspaces are plain directories: copy their changes over by hand, or `git init` \
                 and create the workspaces with `spec-kitty implement WPxx`"
                    .into(),
            ],
            MergeError::NoTarget(_) => {
                vec!["pass --target <branch>, or fix target_branch in the feature's meta.json".into()]
            }
            MergeError::Preflight { problems, .. } => {
                let mut hints: Vec<String> = Vec::new();
                for problem in problems {
                    if !hints.iter().any(|h| h == problem.hint) {
                        hints.push(problem.hint.to_owned());
                    }
                }
                hints
            }
            MergeError::NothingToMerge(_) => {
                vec!["create them with `spec-kitty implement WPxx`; a completed merge removes them".into()]
            }
            MergeError::InsideWorkspace(root) => vec![format!("cd {} (or pass -C {0})", root.display())],
            MergeError::Checkout { .. } => vec!["nothing was merged; fix what git reports and re-run".into()],
            _ => Vec::new(),
        }
    }
}

/// The preflight alone (what `--dry-run` shows): every check that can fail, nothing changed.
pub fn plan(scope: &Scope<'_>, request: &Merge) -> Result<Plan, MergeError> {
    let repo = scope.repo.as_ref().ok_or_else(|| MergeError::NeedsGit(scope.project.root.clone()))?;
    let target = match &request.target {
        Some(target) => target.clone(),
        None => FeatureMeta::load(&scope.feature.dir)?
            .and_then(|m| m.str("target_branch").map(str::to_owned))
            .unwrap_or_else(|| repo.primary_branch()),
    };
    preflight(scope, repo, &target)
}

/// Plans, then merges every work package in order, cleans up and (when asked) pushes.
pub fn merge(scope: &Scope<'_>, request: &Merge) -> Result<MergeOutcome, MergeError> {
    let plan = plan(scope, request)?;
    refuse_inside_a_workspace(scope)?;
    let repo = scope.repo.as_ref().ok_or_else(|| MergeError::NeedsGit(scope.project.root.clone()))?;
    let mut outcome = MergeOutcome {
        plan,
        merged: Vec::new(),
        skipped: Vec::new(),
        worktrees_removed: Vec::new(),
        branches_deleted: Vec::new(),
        push: Push::NotRequested,
        events: Vec::new(),
        stopped: None,
        warnings: Vec::new(),
    };
    merge_all(repo, request.strategy, &mut outcome)?;
    if outcome.stopped.is_some() {
        return Ok(outcome);
    }
    clean_up(repo, request, &mut outcome);
    if request.push {
        outcome.push = push_target(repo, &outcome.plan.target);
    }
    Ok(outcome)
}

/// Removing the worktrees would pull the directory out from under a shell standing in one of them.
fn refuse_inside_a_workspace(scope: &Scope<'_>) -> Result<(), MergeError> {
    let worktrees = scope.project.root.join(workspace::WORKTREES_DIR);
    let cwd = scope.ctx.cwd.canonicalize().unwrap_or_else(|_| scope.ctx.cwd.clone());
    let worktrees = worktrees.canonicalize().unwrap_or(worktrees);
    if cwd.starts_with(&worktrees) {
        return Err(MergeError::InsideWorkspace(scope.project.root.clone()));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------
// Preflight: every check that can fail runs before anything changes.

fn preflight(scope: &Scope<'_>, repo: &Repo, target: &str) -> Result<Plan, MergeError> {
    let feature = scope.feature;
    if !repo.branch_exists(target) {
        return Err(MergeError::NoTarget(target.to_owned()));
    }
    let workspaces = workspace::feature_workspaces(scope.project, &feature.slug);
    let mut problems = missing_workspaces(&feature.dir, &feature.slug, &workspaces);
    let mut packages = Vec::new();
    for workspace in workspaces {
        match plan_workspace(repo, workspace, target) {
            Ok(planned) => packages.push(planned),
            Err(problem) => problems.push(problem),
        }
    }
    problems.extend(main_checkout_problem(repo)?);
    if !problems.is_empty() {
        return Err(MergeError::Preflight { feature: feature.slug.clone(), target: target.to_owned(), problems });
    }
    if packages.is_empty() {
        return Err(MergeError::NothingToMerge(feature.slug.clone()));
    }
    Ok(Plan { feature: feature.slug.clone(), target: target.to_owned(), packages })
}

/// Work packages that still have work to merge (neither done nor canceled) but no workspace.
fn missing_workspaces(feature_dir: &Path, feature_slug: &str, workspaces: &[Workspace]) -> Vec<Problem> {
    let mut problems = Vec::new();
    for package in WorkPackage::all(feature_dir) {
        let wp = match package {
            Ok(wp) => wp,
            Err(error) => {
                problems.push(Problem { text: error.to_string(), hint: "fix the work-package file, then re-run" });
                continue;
            }
        };
        let lane = wp.lane().map_or_else(|_| wp.raw_lane().unwrap_or_default(), |lane| lane.as_str().to_owned());
        let finished = wp.lane().is_ok_and(|lane| lane.is_terminal());
        if !finished && !workspaces.iter().any(|ws| ws.wp_id == wp.id) {
            let dir = workspace::workspace_name(feature_slug, &wp.id);
            problems.push(Problem {
                text: format!("{} ({lane}) has no workspace {}/{dir}", wp.id, workspace::WORKTREES_DIR),
                hint: "create missing workspaces with `spec-kitty implement WPxx`, or move finished work packages to done",
            });
        }
    }
    problems
}

fn plan_workspace(repo: &Repo, workspace: Workspace, target: &str) -> Result<PlannedWp, Problem> {
    let Some(branch) = workspace.branch.clone().filter(|_| workspace.path.join(".git").is_file()) else {
        return Err(Problem {
            text: format!("{} is not a git worktree", workspace.relative),
            hint: "move non-worktree directories out of .worktrees/; merge needs each workspace on its WP branch",
        });
    };
    if !repo.branch_exists(&branch) {
        return Err(Problem {
            text: format!("{} is not on a branch (expected {branch})", workspace.relative),
            hint: "check out the work-package branch in its worktree",
        });
    }
    let git_problem = |e: GitError| Problem { text: e.to_string(), hint: "fix the repository, then re-run" };
    if workspace::is_dirty(&workspace.path).map_err(git_problem)? {
        return Err(Problem {
            text: format!("{} has uncommitted changes", workspace.relative),
            hint: "commit (or stash) the changes in each listed worktree, then re-run",
        });
    }
    let commits_ahead = repo
        .run(&["rev-list", "--count", &format!("{target}..{branch}")])
        .map_err(git_problem)?
        .trim()
        .parse()
        .unwrap_or(0);
    let already_merged = repo.succeeds(&["merge-base", "--is-ancestor", &branch, target]);
    Ok(PlannedWp { workspace, branch, commits_ahead, already_merged })
}

/// The main checkout must be clean, apart from the status and telemetry files spec-kitty keeps writing.
fn main_checkout_problem(repo: &Repo) -> Result<Option<Problem>, MergeError> {
    let status = repo.status_porcelain(&[])?;
    let changes: Vec<String> = significant_changes(&status).iter().map(|l| l.trim().to_owned()).collect();
    Ok((!changes.is_empty()).then(|| Problem {
        text: format!("the main checkout has uncommitted changes: {}", changes.join(", ")),
        hint: "commit or stash the main checkout's changes (only kitty-specs status/telemetry files may differ)",
    }))
}

// ---------------------------------------------------------------------------------------------------
// Merging

fn merge_all(repo: &Repo, strategy: Strategy, outcome: &mut MergeOutcome) -> Result<(), MergeError> {
    let target = outcome.plan.target.clone();
    if repo.current_branch().as_deref() != Some(target.as_str()) {
        repo.run(&["checkout", "--quiet", &target]).map_err(|source| MergeError::Checkout { target, source })?;
    }
    for wp in &outcome.plan.packages {
        let wp_id = &wp.workspace.wp_id;
        if wp.already_merged {
            outcome.skipped.push(wp_id.clone());
            continue;
        }
        let message = format!("Merge {wp_id} from {}", outcome.plan.feature);
        match merge_branch(repo, wp, &outcome.plan.target, &message, strategy) {
            Ok(true) => {
                outcome.merged.push(wp_id.clone());
                outcome.events.push(merged_event(&outcome.plan.feature, wp_id));
            }
            Ok(false) => outcome.skipped.push(wp_id.clone()),
            Err(error) => {
                outcome.stopped = Some(stop(repo, &outcome.plan, wp, strategy, &outcome.merged, error));
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Upstream (spec FR-017) reports every merged work package as in_progress→for_review, whatever its
/// lane; the lanes are hard-coded there and kept so for parity with its event stream.
fn merged_event(feature: &str, wp_id: &str) -> SyncEvent {
    SyncEvent::WpStatusChanged {
        feature_slug: feature.to_owned(),
        wp_id: wp_id.to_owned(),
        from_lane: "in_progress".to_owned(),
        to_lane: "for_review".to_owned(),
        actor: "user".to_owned(),
        policy_metadata: None,
    }
}

/// Merges one branch into the checked-out target. `Ok(false)`: a squash brought no changes (the work
/// was squashed in by an earlier run), so there is nothing to commit.
fn merge_branch(
    repo: &Repo,
    wp: &PlannedWp,
    target: &str,
    message: &str,
    strategy: Strategy,
) -> Result<bool, GitError> {
    let branch = wp.branch.as_str();
    match strategy {
        Strategy::Merge => repo.run(&["merge", "--no-ff", "--quiet", "-m", message, branch]).map(|_| true),
        Strategy::Squash => {
            repo.run(&["merge", "--squash", "--quiet", branch])?;
            if repo.succeeds(&["diff", "--cached", "--quiet"]) {
                return Ok(false);
            }
            repo.run(&["commit", "--quiet", "-m", message]).map(|_| true)
        }
        Strategy::Rebase => {
            // The branch is checked out in its worktree, so it is rebased there; the target then only
            // fast-forwards. A conflict leaves the target untouched (see `abort_merge`).
            Repo { root: wp.workspace.path.clone() }.run(&["rebase", "--quiet", target])?;
            repo.run(&["merge", "--ff-only", "--quiet", branch]).map(|_| true)
        }
    }
}

/// Aborts the failed merge (the target goes back to its last merged state) and says what happened.
fn stop(repo: &Repo, plan: &Plan, wp: &PlannedWp, strategy: Strategy, merged: &[String], error: GitError) -> MergeStop {
    let in_conflict = match strategy {
        Strategy::Rebase => Repo { root: wp.workspace.path.clone() },
        Strategy::Merge | Strategy::Squash => repo.clone(),
    };
    let conflicted: Vec<String> = in_conflict
        .run(&["diff", "--name-only", "--diff-filter=U"])
        .map(|out| out.lines().map(str::to_owned).collect())
        .unwrap_or_default();
    let wp_id = wp.workspace.wp_id.clone();
    let outcome = match abort_merge(repo, wp, strategy) {
        Ok(()) => format!("the merge of {wp_id} was aborted"),
        Err(e) => format!("aborting the merge of {wp_id} failed too ({e}); inspect the checkout with `git status`"),
    };
    MergeStop {
        branch: wp.branch.clone(),
        target: plan.target.clone(),
        what: if conflicted.is_empty() {
            format!("git failed: {error}")
        } else {
            format!("conflict in {}", conflicted.join(", "))
        },
        conflict: !conflicted.is_empty(),
        outcome,
        merged_before: merged.to_vec(),
        workspace: wp.workspace.relative.clone(),
        wp_id,
    }
}

fn abort_merge(repo: &Repo, wp: &PlannedWp, strategy: Strategy) -> Result<(), GitError> {
    match strategy {
        Strategy::Merge if repo.succeeds(&["rev-parse", "--quiet", "--verify", "MERGE_HEAD"]) => {
            repo.run(&["merge", "--abort"]).map(|_| ())
        }
        Strategy::Merge => Ok(()),
        // A squash leaves no MERGE_HEAD, so `merge --abort` refuses; `reset --merge` undoes the staged
        // squash and the conflicted files (the preflight made sure there was nothing else to lose).
        Strategy::Squash => repo.run(&["reset", "--quiet", "--merge"]).map(|_| ()),
        Strategy::Rebase => {
            let worktree = Repo { root: wp.workspace.path.clone() };
            let rebasing = ["rebase-merge", "rebase-apply"].iter().any(|dir| {
                worktree.run(&["rev-parse", "--git-path", dir]).is_ok_and(|p| worktree.root.join(p.trim()).exists())
            });
            if rebasing { worktree.run(&["rebase", "--abort"]).map(|_| ()) } else { Ok(()) }
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Cleanup and push: failures are warnings, the merge itself already succeeded.

fn clean_up(repo: &Repo, request: &Merge, outcome: &mut MergeOutcome) {
    for wp in &outcome.plan.packages {
        let removed = request.remove_worktrees && {
            match workspace::remove_workspace(Some(repo), &wp.workspace) {
                Ok(()) => {
                    outcome.worktrees_removed.push(wp.workspace.relative.clone());
                    true
                }
                Err(e) => {
                    outcome.warnings.push(format!("worktree {} not removed: {e}", wp.workspace.relative));
                    false
                }
            }
        };
        // A branch checked out in a kept worktree cannot be deleted, so it is kept with it.
        if request.delete_branches && removed {
            // `git branch -d`; a squash-merged branch is not an ancestor of the target, so git calls it
            // unmerged and only `-D` deletes it.
            let deleted = repo.run(&["branch", "--quiet", "-d", &wp.branch]).or_else(|e| {
                if request.strategy == Strategy::Squash {
                    repo.run(&["branch", "--quiet", "-D", &wp.branch])
                } else {
                    Err(e)
                }
            });
            match deleted {
                Ok(_) => outcome.branches_deleted.push(wp.branch.clone()),
                Err(e) => outcome.warnings.push(format!("branch {} not deleted: {e}", wp.branch)),
            }
        }
    }
}

/// What became of `--push`. As upstream, a failed push does not undo or fail the merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Push {
    NotRequested,
    Pushed,
    Failed { message: String },
}

/// `git push origin <target>`.
fn push_target(repo: &Repo, target: &str) -> Push {
    match repo.run(&["push", "--quiet", "origin", target]) {
        Ok(_) => Push::Pushed,
        Err(e) => Push::Failed { message: format!("the merge succeeded but `git push origin {target}` failed: {e}") },
    }
}
