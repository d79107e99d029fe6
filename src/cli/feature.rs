//! `spec-kitty agent feature …`: create a feature, set up its plan, finalize its tasks, check it.

use super::common::{
    FeatureArg, TelemetryFlags, discover, json_aware, logged, print_json_line, publish, record_execution,
    resolve_feature,
};
use super::output;
use crate::context::Context;
use crate::error::CliError;
use crate::ops::create_feature::CreateFeature;
use crate::ops::setup_plan::SetupPlan;
use crate::ops::{self, Scope};
use crate::telemetry::Role;
use crate::telemetry::record::NO_WP;
use clap::{Args, Subcommand};
use serde_json::json;

#[derive(Debug, Args)]
pub struct FeatureArgs {
    #[command(subcommand)]
    command: FeatureCommand,
}

#[derive(Debug, Subcommand)]
enum FeatureCommand {
    /// Create kitty-specs/NNN-<slug>/ with a spec, meta.json and an empty tasks/ directory.
    CreateFeature(CreateArgs),
    /// Create the feature's plan.md from the project's plan template.
    SetupPlan(SetupPlanArgs),
    /// Check that a feature has the files the next workflow step needs (read-only).
    CheckPrerequisites(CheckArgs),
    /// Validate tasks.md's work-package dependencies and write them into every WP file.
    FinalizeTasks(FinalizeArgs),
    /// Check that the feature is complete and record its acceptance (same as `spec-kitty accept`).
    Accept(super::accept::AcceptArgs),
    /// Merge the feature's work-package branches (same as `spec-kitty merge`).
    Merge(FeatureMergeArgs),
}

#[derive(Debug, Args)]
struct FeatureMergeArgs {
    #[command(flatten)]
    merge: super::merge::MergeArgs,
    /// Accepted for upstream compatibility; merge always runs from the main checkout, so there is no
    /// other location to retry in.
    #[arg(long, hide = true)]
    auto_retry: bool,
    #[arg(long, hide = true)]
    no_auto_retry: bool,
}

pub fn run(ctx: &Context, args: FeatureArgs) -> Result<(), CliError> {
    match args.command {
        FeatureCommand::CreateFeature(a) => json_aware(a.json, || create_feature(ctx, a)),
        FeatureCommand::SetupPlan(a) => json_aware(a.json, || setup_plan(ctx, a)),
        FeatureCommand::CheckPrerequisites(a) => check_prerequisites(ctx, a),
        FeatureCommand::FinalizeTasks(a) => {
            logged(ctx, a.json, None, a.telemetry.agent.clone().as_deref(), || finalize_tasks(ctx, a))
        }
        FeatureCommand::Accept(a) => super::accept::run(ctx, a),
        FeatureCommand::Merge(a) => super::merge::run(ctx, a.merge),
    }
}

// ---------------------------------------------------------------------------------------------------
// create-feature

#[derive(Debug, Args)]
struct CreateArgs {
    /// Feature slug: lower-case words joined by dashes (e.g. bookmark-capture); the number is added.
    slug: String,
    /// Mission the feature follows.
    #[arg(long, default_value = "software-dev")]
    mission: String,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    telemetry: TelemetryFlags,
}

fn create_feature(ctx: &Context, args: CreateArgs) -> Result<(), CliError> {
    let project = discover(ctx)?;
    let request = CreateFeature { slug: args.slug.clone(), mission: args.mission.clone() };
    let outcome = ops::create_feature::create_feature(ctx, &project, &request)?;
    outcome.warnings.iter().for_each(|w| output::warn(w));
    let feature = &outcome.feature;
    record_execution(ctx, &project, &feature.slug, args.telemetry.record(Role::Planner, NO_WP, None));
    let dir = feature.dir.display().to_string();
    if args.json {
        return print_json_line(&json!({"result": "success", "feature": feature.slug, "feature_dir": dir}));
    }
    output::print(&format!("✓ Created feature {}\n  {dir}\n", feature.slug))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------------
// setup-plan

#[derive(Debug, Args)]
struct SetupPlanArgs {
    #[command(flatten)]
    feature: FeatureArg,
    /// Replace an existing, non-empty plan.md.
    #[arg(long)]
    force: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    telemetry: TelemetryFlags,
}

fn setup_plan(ctx: &Context, args: SetupPlanArgs) -> Result<(), CliError> {
    let project = discover(ctx)?;
    let feature = resolve_feature(ctx, &project, args.feature.slug.as_deref())
        .map_err(|e| CliError { error_code: Some("PLAN_CONTEXT_UNRESOLVED"), ..e })?;
    let outcome = ops::setup_plan::setup_plan(&Scope::new(ctx, &project, &feature), SetupPlan { force: args.force })?;
    record_execution(ctx, &project, &feature.slug, args.telemetry.record(Role::Planner, NO_WP, None));
    if args.json {
        return print_json_line(&json!({
            "result": "success",
            "feature_slug": feature.slug,
            "plan_file": outcome.plan_file.display().to_string(),
            "feature_dir": feature.dir.display().to_string(),
            "spec_file": outcome.spec_file.display().to_string(),
            "created": outcome.created,
        }));
    }
    let verb = if outcome.created { "Created" } else { "Kept existing (use --force to replace)" };
    output::print(&format!("✓ {verb} plan for {}\n  {}\n", feature.slug, outcome.plan_file.display()))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------------
// check-prerequisites

#[derive(Debug, Args)]
#[command(
    after_help = "Read-only. The verdict is in the output (`valid`, `errors`), and the exit status is 0 either way, as \
upstream:\nagents parse the JSON. --paths-only prints just the `paths` object (feature_dir, spec_file, tasks_dir, \
…,\nplus the FEATURE_DIR / FEATURE_SPEC / IMPL_PLAN / TASKS / AVAILABLE_DOCS names the templates ask for)."
)]
pub struct CheckArgs {
    #[command(flatten)]
    feature: FeatureArg,
    /// Only print the paths object.
    #[arg(long)]
    paths_only: bool,
    /// Also require tasks.md.
    #[arg(long)]
    include_tasks: bool,
    /// The legacy templates' spelling of --include-tasks.
    #[arg(long, hide = true)]
    require_tasks: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// Also reachable as the legacy templates' `spec-kitty agent check-prerequisites`.
pub fn check_prerequisites(ctx: &Context, args: CheckArgs) -> Result<(), CliError> {
    json_aware(args.json, || check(ctx, args))
}

fn check(ctx: &Context, args: CheckArgs) -> Result<(), CliError> {
    use crate::workflow::prerequisites::check_structure;
    let project = discover(ctx)?;
    let feature = resolve_feature(ctx, &project, args.feature.slug.as_deref())?;
    let report = check_structure(&feature.dir, args.include_tasks || args.require_tasks);
    if args.json {
        return print_json_line(&if args.paths_only {
            serde_json::Value::Object(report.paths)
        } else {
            let mut object = report.to_json();
            object["feature_slug"] = json!(feature.slug);
            object
        });
    }
    let mut text = if report.valid() {
        format!("✓ Prerequisites check passed\n   Feature: {}\n", feature.slug)
    } else {
        let mut text = format!("✗ Prerequisites check failed\n   Feature: {}\n", feature.slug);
        report.errors.iter().for_each(|e| text.push_str(&format!("   • {e}\n")));
        text
    };
    if !report.warnings.is_empty() {
        text.push_str("\nWarnings:\n");
        report.warnings.iter().for_each(|w| text.push_str(&format!("   • {w}\n")));
    }
    output::print(&text)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------------
// finalize-tasks

#[derive(Debug, Args)]
struct FinalizeArgs {
    #[command(flatten)]
    feature: FeatureArg,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    telemetry: TelemetryFlags,
}

fn finalize_tasks(ctx: &Context, args: FinalizeArgs) -> Result<(), CliError> {
    let project = discover(ctx)?;
    let feature = resolve_feature(ctx, &project, args.feature.slug.as_deref())?;
    let outcome = ops::finalize_tasks::finalize_tasks(&Scope::new(ctx, &project, &feature))?;
    outcome.warnings.iter().for_each(|w| output::warn(w));
    publish(ctx, Some(&project), &outcome.events, crate::sync::Causation::SharedBatch);
    record_execution(ctx, &project, &feature.slug, args.telemetry.record(Role::Planner, NO_WP, None));
    if args.json {
        return print_json_line(&json!({
            "result": "success",
            "updated_wp_count": outcome.updated.len(),
            "tasks_dir": outcome.tasks_dir.display().to_string(),
            "commit_created": outcome.commit_hash.is_some(),
            "commit_hash": outcome.commit_hash,
            "files_committed": outcome.files_committed,
        }));
    }
    let mut text = format!("✓ Finalized {} work package(s) of {}\n", outcome.packages.len(), feature.slug);
    for (wp, deps) in &outcome.packages {
        let deps = if deps.is_empty() { "none".to_owned() } else { deps.join(", ") };
        text.push_str(&format!("  {wp}  depends on: {deps}\n"));
    }
    output::print(&text)?;
    Ok(())
}
