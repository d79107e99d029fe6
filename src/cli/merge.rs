//! `spec-kitty merge`: merge a feature's work-package branches into the target branch
//! (reference/workflow.md §4.12).
//!
//! Each work package lives in `.worktrees/<feature>-WPxx` on branch `<feature>-WPxx`. A preflight checks
//! everything before anything changes; then the target is checked out and the branches are merged one by
//! one in WP order. A conflict aborts that merge and stops; the work packages merged before it stay
//! merged, and re-running skips them (a branch already contained in the target is not merged again).
//!
//! Deliberate differences from upstream: no `git pull` (the command works offline; `--push` is the one
//! network step, and only when asked), no resumable merge-state file (the ancestry check makes a plain
//! re-run resume), `--strategy rebase` really rebases each branch onto the target and fast-forwards
//! (upstream skipped the merge with "rebase not supported"), and `canceled` work packages need no
//! workspace, like `done` ones.

use super::common::{discover, json_aware, print_json_line, publish, resolve_feature};
use super::output;
use crate::context::Context;
use crate::error::CliError;
use crate::git::{GitError, Repo};
use crate::project::meta::FeatureMeta;
use crate::project::{Feature, Project};
use crate::sync::{Causation, SyncEvent};
use crate::workflow::acceptance::significant_changes;
use crate::workflow::workspace::{self, Workspace};
use crate::workflow::wp::WorkPackage;
use clap::{Args, ValueEnum};
use serde_json::json;

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Feature slug, as the merge template writes it (`spec-kitty merge 001-my-feature`); same as --feature.
    #[arg(value_name = "FEATURE", conflicts_with = "feature")]
    feature_slug: Option<String>,
    /// Feature slug (default: detected from the branch, directory or the latest incomplete feature).
    #[arg(long)]
    feature: Option<String>,
    /// Branch to merge into (default: meta.json target_branch, else the primary branch).
    #[arg(long, value_name = "BRANCH")]
    target: Option<String>,
    /// merge: one `--no-ff` merge commit per work package; squash: one squashed commit per work package;
    /// rebase: each branch rebased onto the target, then fast-forwarded (linear history).
    #[arg(long, value_enum, default_value_t = Strategy::Merge)]
    strategy: Strategy,
    /// Push the target branch to origin after a successful merge (a failed push is reported, the merge stays).
    #[arg(long)]
    push: bool,
    /// Delete each work-package branch after merging (default).
    #[arg(long, overrides_with = "keep_branch")]
    delete_branch: bool,
    /// Keep the work-package branches.
    #[arg(long, overrides_with = "delete_branch")]
    keep_branch: bool,
    /// Remove each work-package worktree after merging (default).
    #[arg(long, overrides_with = "keep_worktree")]
    remove_worktree: bool,
    /// Keep the worktrees (their branches stay too: git cannot delete a checked-out branch).
    #[arg(long, overrides_with = "remove_worktree")]
    keep_worktree: bool,
    /// Print the plan and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Strategy {
    Merge,
    Squash,
    Rebase,
}

impl Strategy {
    fn as_str(self) -> &'static str {
        match self {
            Strategy::Merge => "merge",
            Strategy::Squash => "squash",
            Strategy::Rebase => "rebase",
        }
    }
}

/// The command line, resolved into what the merge needs.
struct MergeOptions {
    target: Option<String>,
    strategy: Strategy,
    delete_branches: bool,
    remove_worktrees: bool,
    push: bool,
    dry_run: bool,
    json: bool,
}

impl From<&MergeArgs> for MergeOptions {
    fn from(args: &MergeArgs) -> Self {
        MergeOptions {
            target: args.target.clone(),
            strategy: args.strategy,
            delete_branches: !args.keep_branch,
            remove_worktrees: !args.keep_worktree,
            push: args.push,
            dry_run: args.dry_run,
            json: args.json,
        }
    }
}

pub fn run(ctx: &Context, args: MergeArgs) -> Result<(), CliError> {
    let options = MergeOptions::from(&args);
    let feature = args.feature.as_deref().or(args.feature_slug.as_deref());
    json_aware(options.json, || merge(ctx, feature, &options))
}

fn merge(ctx: &Context, feature: Option<&str>, options: &MergeOptions) -> Result<(), CliError> {
    let project = discover(ctx)?;
    let repo = Repo::at(&project.root).ok_or_else(|| needs_git(&project))?;
    let feature = resolve_feature(ctx, &project, feature)?;
    let target = target_branch(&repo, &feature, options.target.as_deref())?;
    let plan = preflight(&project, &repo, &feature, &target)?;
    if options.dry_run {
        return render_plan(&plan, options);
    }
    refuse_inside_a_workspace(ctx, &project)?;
    let merged = merge_all(ctx, &project, &repo, &plan, options.strategy)?;
    let cleanup = clean_up(&repo, &plan, options);
    cleanup.warnings.iter().for_each(|w| output::warn(w));
    let push = options.push.then(|| push_target(&repo, &plan.target));
    render_result(&plan, &merged, &cleanup, push.as_ref(), options)
}

/// `git push origin <target>`. As upstream, a failed push does not undo or fail the merge: it is
/// reported (and the exact command to retry is given).
fn push_target(repo: &Repo, target: &str) -> Result<(), String> {
    repo.run(&["push", "--quiet", "origin", target]).map(|_| ()).map_err(|e| {
        let message = format!("the merge succeeded but `git push origin {target}` failed: {e}");
        output::warn(&message);
        output::note(&format!("run it yourself once the problem is fixed: git push origin {target}"));
        message
    })
}

fn needs_git(project: &Project) -> CliError {
    CliError::failure(format!("merge needs git: {} is not a git repository", project.root.display())).hint(
        "without git, workspaces are plain directories: copy their changes over by hand, or `git init` and \
         create the workspaces with `spec-kitty implement WPxx`",
    )
}

/// `--target`, else meta.json `target_branch`, else the primary branch.
fn target_branch(repo: &Repo, feature: &Feature, explicit: Option<&str>) -> Result<String, CliError> {
    if let Some(target) = explicit {
        return Ok(target.to_owned());
    }
    let meta = FeatureMeta::load(&feature.dir).map_err(|e| CliError::failure(e.to_string()))?;
    Ok(meta.and_then(|m| m.str("target_branch").map(str::to_owned)).unwrap_or_else(|| repo.primary_branch()))
}

/// Removing the worktrees would pull the directory out from under a shell standing in one of them.
fn refuse_inside_a_workspace(ctx: &Context, project: &Project) -> Result<(), CliError> {
    let worktrees = project.root.join(workspace::WORKTREES_DIR);
    let cwd = ctx.cwd.canonicalize().unwrap_or_else(|_| ctx.cwd.clone());
    let worktrees = worktrees.canonicalize().unwrap_or(worktrees);
    if cwd.starts_with(&worktrees) {
        return Err(CliError::failure("merge must run from the main checkout, not from a work-package worktree")
            .hint(format!("cd {} (or pass -C {0})", project.root.display())));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------
// Preflight: every check that can fail runs before anything changes.

struct Plan {
    feature: String,
    target: String,
    packages: Vec<PlannedWp>,
}

struct PlannedWp {
    workspace: Workspace,
    branch: String,
    commits_ahead: u64,
    /// The branch is already contained in the target (merged by an earlier run): it is skipped.
    already_merged: bool,
}

/// Something that blocks the merge, with the advice that fixes it.
struct Problem {
    text: String,
    hint: &'static str,
}

fn preflight(project: &Project, repo: &Repo, feature: &Feature, target: &str) -> Result<Plan, CliError> {
    if !repo.branch_exists(target) {
        return Err(CliError::failure(format!("target branch '{target}' does not exist"))
            .hint("pass --target <branch>, or fix target_branch in the feature's meta.json"));
    }
    let workspaces = workspace::feature_workspaces(project, &feature.slug);
    let mut problems = missing_workspaces(feature, &workspaces);
    let mut packages = Vec::new();
    for workspace in workspaces {
        match plan_workspace(repo, workspace, target) {
            Ok(planned) => packages.push(planned),
            Err(problem) => problems.push(problem),
        }
    }
    problems.extend(main_checkout_problem(repo)?);
    if !problems.is_empty() {
        return Err(preflight_failure(&feature.slug, target, problems));
    }
    if packages.is_empty() {
        return Err(CliError::failure(format!(
            "no work-package workspaces to merge for {} (looked for {}/{}-WPxx)",
            feature.slug,
            workspace::WORKTREES_DIR,
            feature.slug
        ))
        .hint("create them with `spec-kitty implement WPxx`; a completed merge removes them"));
    }
    Ok(Plan { feature: feature.slug.clone(), target: target.to_owned(), packages })
}

fn preflight_failure(feature: &str, target: &str, problems: Vec<Problem>) -> CliError {
    let list: Vec<String> = problems.iter().map(|p| format!("  - {}", p.text)).collect();
    let mut error =
        CliError::failure(format!("cannot merge {feature} into {target}; nothing was changed:\n{}", list.join("\n")));
    let mut hints: Vec<&str> = Vec::new();
    for problem in &problems {
        if !hints.contains(&problem.hint) {
            hints.push(problem.hint);
        }
    }
    for hint in hints {
        error = error.hint(hint);
    }
    error
}

/// Work packages that still have work to merge (neither done nor canceled) but no workspace.
fn missing_workspaces(feature: &Feature, workspaces: &[Workspace]) -> Vec<Problem> {
    let mut problems = Vec::new();
    for package in WorkPackage::all(&feature.dir) {
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
            let dir = workspace::workspace_name(&feature.slug, &wp.id);
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
fn main_checkout_problem(repo: &Repo) -> Result<Option<Problem>, CliError> {
    let status = repo.status_porcelain(&[]).map_err(|e| CliError::failure(e.to_string()))?;
    let changes: Vec<String> = significant_changes(&status).iter().map(|l| l.trim().to_owned()).collect();
    Ok((!changes.is_empty()).then(|| Problem {
        text: format!("the main checkout has uncommitted changes: {}", changes.join(", ")),
        hint: "commit or stash the main checkout's changes (only kitty-specs status/telemetry files may differ)",
    }))
}

// ---------------------------------------------------------------------------------------------------
// Merging

struct Merged {
    merged: Vec<String>,
    skipped: Vec<String>,
}

fn merge_all(
    ctx: &Context,
    project: &Project,
    repo: &Repo,
    plan: &Plan,
    strategy: Strategy,
) -> Result<Merged, CliError> {
    if repo.current_branch().as_deref() != Some(plan.target.as_str()) {
        repo.run(&["checkout", "--quiet", &plan.target]).map_err(|e| {
            CliError::failure(format!("cannot check out {}: {e}", plan.target))
                .hint("nothing was merged; fix what git reports and re-run")
        })?;
    }
    let mut done = Merged { merged: Vec::new(), skipped: Vec::new() };
    for wp in &plan.packages {
        let wp_id = &wp.workspace.wp_id;
        if wp.already_merged {
            done.skipped.push(wp_id.clone());
            continue;
        }
        let message = format!("Merge {wp_id} from {}", plan.feature);
        match merge_branch(repo, wp, &plan.target, &message, strategy) {
            Ok(true) => {
                done.merged.push(wp_id.clone());
                publish(ctx, Some(project), &[merged_event(&plan.feature, wp_id)], Causation::None);
            }
            Ok(false) => done.skipped.push(wp_id.clone()),
            Err(error) => return Err(merge_failure(repo, plan, wp, strategy, &done, error)),
        }
    }
    Ok(done)
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

/// Aborts the failed merge (the target goes back to its last merged state) and explains how to resume.
fn merge_failure(
    repo: &Repo,
    plan: &Plan,
    wp: &PlannedWp,
    strategy: Strategy,
    done: &Merged,
    error: GitError,
) -> CliError {
    let conflict_repo = match strategy {
        Strategy::Rebase => Repo { root: wp.workspace.path.clone() },
        Strategy::Merge | Strategy::Squash => Repo { root: repo.root.clone() },
    };
    let conflicted: Vec<String> = conflict_repo
        .run(&["diff", "--name-only", "--diff-filter=U"])
        .map(|out| out.lines().map(str::to_owned).collect())
        .unwrap_or_default();
    let aborted = abort_merge(repo, wp, strategy);
    let wp_id = &wp.workspace.wp_id;
    let target = &plan.target;
    let (what, code) = if conflicted.is_empty() {
        (format!("git failed: {error}"), "MERGE_FAILED")
    } else {
        (format!("conflict in {}", conflicted.join(", ")), "MERGE_CONFLICT")
    };
    let outcome = match aborted {
        Ok(()) => format!("the merge of {wp_id} was aborted"),
        Err(e) => format!("aborting the merge of {wp_id} failed too ({e}); inspect the checkout with `git status`"),
    };
    let kept = if done.merged.is_empty() {
        format!("nothing was merged into {target} by this run")
    } else {
        format!("already merged into {target} (kept): {}", done.merged.join(", "))
    };
    CliError::failure(format!("cannot merge {wp_id} ({}) into {target}: {what}; {outcome}", wp.branch))
        .hint(kept)
        .hint(format!(
            "resolve it (e.g. `git merge {target}` inside {} and commit), then re-run `spec-kitty merge`: \
             work packages already merged are skipped",
            wp.workspace.relative
        ))
        .with_code(code)
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
// Cleanup: failures are warnings, the merge itself already succeeded.

#[derive(Default)]
struct Cleanup {
    worktrees_removed: Vec<String>,
    branches_deleted: Vec<String>,
    warnings: Vec<String>,
}

fn clean_up(repo: &Repo, plan: &Plan, options: &MergeOptions) -> Cleanup {
    let mut cleanup = Cleanup::default();
    for wp in &plan.packages {
        let removed = options.remove_worktrees && remove_worktree(repo, wp, &mut cleanup);
        // A branch checked out in a kept worktree cannot be deleted, so it is kept with it.
        if options.delete_branches && removed {
            delete_branch(repo, &wp.branch, options.strategy, &mut cleanup);
        }
    }
    cleanup
}

fn remove_worktree(repo: &Repo, wp: &PlannedWp, cleanup: &mut Cleanup) -> bool {
    match workspace::remove_workspace(Some(repo), &wp.workspace) {
        Ok(()) => {
            cleanup.worktrees_removed.push(wp.workspace.relative.clone());
            true
        }
        Err(e) => {
            cleanup.warnings.push(format!("worktree {} not removed: {e}", wp.workspace.relative));
            false
        }
    }
}

/// `git branch -d`; a squash-merged branch is not an ancestor of the target, so git calls it unmerged
/// and only `-D` deletes it.
fn delete_branch(repo: &Repo, branch: &str, strategy: Strategy, cleanup: &mut Cleanup) {
    let deleted = repo.run(&["branch", "--quiet", "-d", branch]).or_else(|e| {
        if strategy == Strategy::Squash { repo.run(&["branch", "--quiet", "-D", branch]) } else { Err(e) }
    });
    match deleted {
        Ok(_) => cleanup.branches_deleted.push(branch.to_owned()),
        Err(e) => cleanup.warnings.push(format!("branch {branch} not deleted: {e}")),
    }
}

// ---------------------------------------------------------------------------------------------------
// Rendering

fn render_plan(plan: &Plan, options: &MergeOptions) -> Result<(), CliError> {
    if options.json {
        let packages: Vec<_> = plan
            .packages
            .iter()
            .map(|wp| {
                json!({
                    "wp_id": wp.workspace.wp_id,
                    "branch": wp.branch,
                    "commits_ahead": wp.commits_ahead,
                    "already_merged": wp.already_merged,
                })
            })
            .collect();
        return print_json_line(&json!({
            "dry_run": true,
            "feature": plan.feature,
            "target": plan.target,
            "strategy": options.strategy.as_str(),
            "push": options.push,
            "work_packages": packages,
        }));
    }
    let mut text = format!(
        "Merge plan for {} into {} (strategy: {}); dry run, nothing changed:\n",
        plan.feature,
        plan.target,
        options.strategy.as_str()
    );
    for wp in &plan.packages {
        let commits = if wp.commits_ahead == 1 { "commit" } else { "commits" };
        let skip = if wp.already_merged { format!(" (already in {}, skipped)", plan.target) } else { String::new() };
        text.push_str(&format!(
            "  {}  {}  {} {commits} ahead{skip}\n",
            wp.workspace.wp_id, wp.branch, wp.commits_ahead
        ));
    }
    let worktrees = if options.remove_worktrees { "remove the worktrees" } else { "keep the worktrees" };
    let branches = if options.delete_branches && options.remove_worktrees { "delete" } else { "keep" };
    let push = if options.push { format!(", push {} to origin", plan.target) } else { String::new() };
    text.push_str(&format!("Afterwards: {worktrees}, {branches} the branches{push}.\n"));
    output::print(&text)?;
    Ok(())
}

fn render_result(
    plan: &Plan,
    merged: &Merged,
    cleanup: &Cleanup,
    push: Option<&Result<(), String>>,
    options: &MergeOptions,
) -> Result<(), CliError> {
    if options.json {
        return print_json_line(&json!({
            "result": "success",
            "feature": plan.feature,
            "target": plan.target,
            "strategy": options.strategy.as_str(),
            "merged": merged.merged,
            "skipped": merged.skipped,
            "worktrees_removed": cleanup.worktrees_removed,
            "branches_deleted": cleanup.branches_deleted,
            "pushed": push.is_some_and(Result::is_ok),
            "push_error": push.and_then(|p| p.as_ref().err()),
        }));
    }
    let count = merged.merged.len();
    let noun = if count == 1 { "work package" } else { "work packages" };
    let mut text = format!(
        "✓ Merged {count} {noun} of {} into {} (strategy: {})\n",
        plan.feature,
        plan.target,
        options.strategy.as_str()
    );
    for wp in &plan.packages {
        let id = &wp.workspace.wp_id;
        if merged.merged.contains(id) {
            text.push_str(&format!("  ✓ {id}  {}\n", wp.branch));
        } else {
            text.push_str(&format!("  · {id}  {} (already in {}, skipped)\n", wp.branch, plan.target));
        }
    }
    if !cleanup.worktrees_removed.is_empty() {
        text.push_str(&format!("Removed worktrees: {}\n", cleanup.worktrees_removed.join(", ")));
    }
    if !cleanup.branches_deleted.is_empty() {
        text.push_str(&format!("Deleted branches: {}\n", cleanup.branches_deleted.join(", ")));
    }
    if let Some(Ok(())) = push {
        text.push_str(&format!("Pushed {} to origin\n", plan.target));
    }
    output::print(&text)?;
    Ok(())
}
