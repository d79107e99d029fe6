//! `spec-kitty merge` (and `agent feature merge`): merge a feature's work-package branches into the target
//! branch. The preflight, the merges, the cleanup and the push are [`crate::ops::merge`]; this module
//! renders the plan and the result.

use super::common::{FeatureArg, discover, json_aware, print_json_line, publish, resolve_feature};
use super::output;
use crate::context::Context;
use crate::error::CliError;
use crate::ops::merge::{Merge, MergeOutcome, Plan, Push, Strategy};
use crate::ops::{self, Scope};
use crate::sync::Causation;
use clap::{Args, ValueEnum};
use serde_json::json;

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Feature slug, as the merge template writes it (`spec-kitty merge 001-my-feature`); same as --feature.
    #[arg(value_name = "FEATURE", conflicts_with = "slug")]
    feature_slug: Option<String>,
    #[command(flatten)]
    feature: FeatureArg,
    /// Branch to merge into (default: meta.json target_branch, else the primary branch).
    #[arg(long, value_name = "BRANCH")]
    target: Option<String>,
    /// merge: one `--no-ff` merge commit per work package; squash: one squashed commit per work package;
    /// rebase: each branch rebased onto the target, then fast-forwarded (linear history).
    #[arg(long, value_enum, default_value_t = StrategyArg::Merge)]
    strategy: StrategyArg,
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

/// `--strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum StrategyArg {
    Merge,
    Squash,
    Rebase,
}

impl From<StrategyArg> for Strategy {
    fn from(arg: StrategyArg) -> Strategy {
        match arg {
            StrategyArg::Merge => Strategy::Merge,
            StrategyArg::Squash => Strategy::Squash,
            StrategyArg::Rebase => Strategy::Rebase,
        }
    }
}

/// What rendering needs besides the outcome.
struct MergeOptions {
    request: Merge,
    dry_run: bool,
    json: bool,
}

pub fn run(ctx: &Context, args: MergeArgs) -> Result<(), CliError> {
    let options = MergeOptions {
        request: Merge {
            target: args.target.clone(),
            strategy: args.strategy.into(),
            delete_branches: !args.keep_branch,
            remove_worktrees: !args.keep_worktree,
            push: args.push,
        },
        dry_run: args.dry_run,
        json: args.json,
    };
    let feature = args.feature.slug.as_deref().or(args.feature_slug.as_deref());
    json_aware(options.json, || merge(ctx, feature, &options))
}

fn merge(ctx: &Context, feature: Option<&str>, options: &MergeOptions) -> Result<(), CliError> {
    let project = discover(ctx)?;
    if crate::git::Repo::at(&project.root).is_none() {
        // Said before resolving the feature: without git there is nothing to merge at all.
        return Err(ops::merge::MergeError::NeedsGit(project.root.clone()).into());
    }
    let feature = resolve_feature(ctx, &project, feature)?;
    let scope = Scope::new(ctx, &project, &feature);
    if options.dry_run {
        return render_plan(&ops::merge::plan(&scope, &options.request)?, options);
    }
    let outcome = ops::merge::merge(&scope, &options.request)?;
    // Merged work packages are reported even when a later one stopped the run.
    publish(ctx, Some(&project), &outcome.events, Causation::None);
    outcome.warnings.iter().for_each(|w| output::warn(w));
    if let Some(stop) = outcome.stopped {
        return Err(stop.into());
    }
    if let Push::Failed { message } = &outcome.push {
        output::warn(message);
        output::note(&format!("run it yourself once the problem is fixed: git push origin {}", outcome.plan.target));
    }
    render_result(&outcome, options)
}

// ---------------------------------------------------------------------------------------------------
// Rendering

fn render_plan(plan: &Plan, options: &MergeOptions) -> Result<(), CliError> {
    let request = &options.request;
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
            "strategy": request.strategy.as_str(),
            "push": request.push,
            "work_packages": packages,
        }));
    }
    let mut text = format!(
        "Merge plan for {} into {} (strategy: {}); dry run, nothing changed:\n",
        plan.feature,
        plan.target,
        request.strategy.as_str()
    );
    for wp in &plan.packages {
        let commits = if wp.commits_ahead == 1 { "commit" } else { "commits" };
        let skip = if wp.already_merged { format!(" (already in {}, skipped)", plan.target) } else { String::new() };
        text.push_str(&format!(
            "  {}  {}  {} {commits} ahead{skip}\n",
            wp.workspace.wp_id, wp.branch, wp.commits_ahead
        ));
    }
    let worktrees = if request.remove_worktrees { "remove the worktrees" } else { "keep the worktrees" };
    let branches = if request.delete_branches && request.remove_worktrees { "delete" } else { "keep" };
    let push = if request.push { format!(", push {} to origin", plan.target) } else { String::new() };
    text.push_str(&format!("Afterwards: {worktrees}, {branches} the branches{push}.\n"));
    output::print(&text)?;
    Ok(())
}

fn render_result(outcome: &MergeOutcome, options: &MergeOptions) -> Result<(), CliError> {
    let (plan, request) = (&outcome.plan, &options.request);
    if options.json {
        return print_json_line(&json!({
            "result": "success",
            "feature": plan.feature,
            "target": plan.target,
            "strategy": request.strategy.as_str(),
            "merged": outcome.merged,
            "skipped": outcome.skipped,
            "worktrees_removed": outcome.worktrees_removed,
            "branches_deleted": outcome.branches_deleted,
            "pushed": outcome.push == Push::Pushed,
            "push_error": match &outcome.push {
                Push::Failed { message } => Some(message),
                _ => None,
            },
        }));
    }
    let count = outcome.merged.len();
    let noun = if count == 1 { "work package" } else { "work packages" };
    let mut text = format!(
        "✓ Merged {count} {noun} of {} into {} (strategy: {})\n",
        plan.feature,
        plan.target,
        request.strategy.as_str()
    );
    for wp in &plan.packages {
        let id = &wp.workspace.wp_id;
        if outcome.merged.contains(id) {
            text.push_str(&format!("  ✓ {id}  {}\n", wp.branch));
        } else {
            text.push_str(&format!("  · {id}  {} (already in {}, skipped)\n", wp.branch, plan.target));
        }
    }
    if !outcome.worktrees_removed.is_empty() {
        text.push_str(&format!("Removed worktrees: {}\n", outcome.worktrees_removed.join(", ")));
    }
    if !outcome.branches_deleted.is_empty() {
        text.push_str(&format!("Deleted branches: {}\n", outcome.branches_deleted.join(", ")));
    }
    if outcome.push == Push::Pushed {
        text.push_str(&format!("Pushed {} to origin\n", plan.target));
    }
    output::print(&text)?;
    Ok(())
}
