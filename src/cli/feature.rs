//! `spec-kitty agent feature …`: create a feature, set up its plan, finalize its tasks, check it.

use super::common::{TelemetryFlags, discover, json_aware, print_json_line, record_execution, resolve_feature};
use super::output;
use crate::context::Context;
use crate::error::CliError;
use crate::git::Repo;
use crate::project::config::{self, CONFIG_FILE, ProjectConfig};
use crate::project::detect::next_feature_number;
use crate::project::meta::FeatureMeta;
use crate::project::{Feature, Project, identity};
use crate::telemetry::Role;
use clap::{Args, Subcommand};
use serde_json::json;
use std::path::Path;

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
}

pub fn run(ctx: &Context, args: FeatureArgs) -> Result<(), CliError> {
    match args.command {
        FeatureCommand::CreateFeature(a) => json_aware(a.json, || create_feature(ctx, a)),
        FeatureCommand::SetupPlan(a) => json_aware(a.json, || setup_plan(ctx, a)),
        FeatureCommand::CheckPrerequisites(a) => json_aware(a.json, || check_prerequisites(ctx, a)),
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
    if !is_kebab_slug(&args.slug) {
        return Err(CliError::usage(format!(
            "invalid feature slug '{}': use lower-case letters, digits and single dashes, starting with a letter (e.g. user-auth)",
            args.slug
        )));
    }
    if ctx.cwd.components().any(|c| c.as_os_str() == ".worktrees") {
        return Err(CliError::failure("cannot create a feature from inside a worktree")
            .hint("run it from the main checkout of the repository"));
    }
    let project = discover(ctx)?;
    let repo = Repo::at(&project.root);
    let target_branch = match &repo {
        Some(repo) => {
            let current = repo.current_branch().ok_or_else(|| {
                CliError::failure("HEAD is detached; feature creation needs a branch")
                    .hint("git checkout <primary branch> first")
            })?;
            let primary = repo.primary_branch();
            if current != primary {
                return Err(CliError::failure(format!(
                    "Feature creation must run on '{primary}' branch (current: '{current}')."
                ))
                .hint(format!("git checkout {primary}")));
            }
            current
        }
        None => "main".to_owned(),
    };

    let number = next_feature_number(&project);
    let slug = format!("{number}-{}", args.slug);
    let dir = project.feature_dir(&slug);
    let write_err = |path: &Path, e: std::io::Error| CliError::failure(format!("cannot write {}: {e}", path.display()));
    for sub in ["checklists", "research", "tasks"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(|e| write_err(&dir.join(sub), e))?;
    }
    let write_new = |path: &Path, text: &str| -> Result<(), CliError> {
        if path.exists() { Ok(()) } else { std::fs::write(path, text).map_err(|e| write_err(path, e)) }
    };
    write_new(&dir.join("tasks/.gitkeep"), "")?;
    write_new(&dir.join("tasks/README.md"), TASKS_README)?;
    let spec = template(&project, "spec-template.md")
        .unwrap_or_else(|| format!("# Feature Specification: {}\n\n", args.slug.replace('-', " ")));
    write_new(&dir.join("spec.md"), &spec)?;
    let now = crate::events::Timestamp::from_utc(ctx.now()).isoformat();
    let meta = FeatureMeta::for_new_feature(&number, &slug, &args.mission, &target_branch, &now);
    meta.write(&dir, false).map_err(|e| CliError::failure(e.to_string()))?;
    ensure_identity(ctx, &project, repo.as_ref());

    if let Some(repo) = &repo {
        let rel = |name: &str| Path::new("kitty-specs").join(&slug).join(name);
        repo.commit_paths(&[&rel("spec.md")], &format!("Add spec for feature {slug}"))
            .map_err(|e| CliError::failure(format!("feature created, but committing spec.md failed: {e}")))?;
        if let Err(e) = repo.commit_paths(&[&rel("meta.json")], &format!("Add meta for feature {slug}")) {
            output::warn(&format!("committing meta.json failed: {e}"));
        }
    }
    record_execution(ctx, &project, &slug, &args.telemetry.record(Role::Planner, "N/A", None));

    if args.json {
        return print_json_line(
            &json!({"result": "success", "feature": slug, "feature_dir": dir.display().to_string()}),
        );
    }
    output::print(&format!("✓ Created feature {slug}\n  {}\n", dir.display()))?;
    Ok(())
}

/// `^[a-z][a-z0-9]*(-[a-z0-9]+)*$`
fn is_kebab_slug(slug: &str) -> bool {
    slug.starts_with(|c: char| c.is_ascii_lowercase())
        && slug
            .split('-')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
}

const TASKS_README: &str = "# Work package prompts\n\n\
One file per work package, named `WPxx-<short-slug>.md` (e.g. `WP01-storage-layer.md`), each with YAML\n\
frontmatter (work_package_id, title, lane, dependencies, subtasks, …) followed by the prompt.\n\
`spec-kitty agent feature finalize-tasks` writes each WP's dependencies from tasks.md; lanes move with\n\
`spec-kitty agent tasks move-task`.\n";

/// `.kittify/templates/<name>` when the project has one.
fn template(project: &Project, name: &str) -> Option<String> {
    std::fs::read_to_string(project.root.join(".kittify/templates").join(name)).ok()
}

/// Gives the project a sync identity if it lacks one (create-feature is allowed to write config.yaml;
/// read-only commands never do). A failure is only a warning: the feature is already created.
fn ensure_identity(ctx: &Context, project: &Project, repo: Option<&Repo>) {
    let path = project.root.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let Ok(current) = ProjectConfig::parse(&text) else {
        output::warn(&format!("{} is not valid YAML; project identity not added", path.display()));
        return;
    };
    if current.project.is_complete() {
        return;
    }
    let origin = repo.and_then(|r| r.run(&["remote", "get-url", "origin"]).ok());
    let identity = identity::complete_identity(&current.project, ctx, &project.root, origin.as_deref());
    if let Some(updated) = config::add_missing_identity(&text, &identity)
        && let Err(e) = crate::fsutil::write_atomic(&path, updated.as_bytes())
    {
        output::warn(&format!("cannot write the project identity to {}: {e}", path.display()));
    }
}

// ---------------------------------------------------------------------------------------------------
// setup-plan

#[derive(Debug, Args)]
struct SetupPlanArgs {
    /// Feature slug (default: detected from the branch, directory or the only feature).
    #[arg(long)]
    feature: Option<String>,
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
    let feature = resolve_feature(ctx, &project, args.feature.as_deref(), false)
        .map_err(|e| CliError { error_code: Some("PLAN_CONTEXT_UNRESOLVED"), ..e })?;
    let spec = feature.dir.join("spec.md");
    if !spec.is_file() {
        return Err(CliError::failure(format!("spec.md not found in kitty-specs/{}/", feature.slug))
            .hint("write the specification first (/spec-kitty.specify)")
            .with_code("SPEC_FILE_MISSING"));
    }
    let plan = feature.dir.join("plan.md");
    let existing = std::fs::read_to_string(&plan).unwrap_or_default();
    let created = if existing.trim().is_empty() || args.force {
        let text = template(&project, "plan-template.md").unwrap_or_else(|| default_plan(&feature));
        std::fs::write(&plan, text).map_err(|e| CliError::failure(format!("cannot write {}: {e}", plan.display())))?;
        if let Some(repo) = Repo::at(&project.root) {
            let rel = Path::new("kitty-specs").join(&feature.slug).join("plan.md");
            repo.commit_paths(&[&rel], &format!("Add plan for feature {}", feature.slug))
                .map_err(|e| CliError::failure(format!("plan.md written, but the commit failed: {e}")))?;
        }
        true
    } else {
        false
    };
    record_execution(ctx, &project, &feature.slug, &args.telemetry.record(Role::Planner, "N/A", None));
    if args.json {
        return print_json_line(&json!({
            "result": "success",
            "feature_slug": feature.slug,
            "plan_file": plan.display().to_string(),
            "feature_dir": feature.dir.display().to_string(),
            "spec_file": spec.display().to_string(),
            "created": created,
        }));
    }
    let verb = if created { "Created" } else { "Kept existing (use --force to replace)" };
    output::print(&format!("✓ {verb} plan for {}\n  {}\n", feature.slug, plan.display()))?;
    Ok(())
}

fn default_plan(feature: &Feature) -> String {
    format!(
        "# Implementation Plan: {}\n\n## Summary\n\n## Technical Context\n\n## Project Structure\n\n## Work Breakdown\n",
        feature.slug
    )
}

// ---------------------------------------------------------------------------------------------------
// check-prerequisites

#[derive(Debug, Args)]
struct CheckArgs {
    /// Feature slug (default: detected).
    #[arg(long)]
    feature: Option<String>,
    /// Only print the paths.
    #[arg(long)]
    paths_only: bool,
    /// Also require tasks.md.
    #[arg(long)]
    include_tasks: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

fn check_prerequisites(ctx: &Context, args: CheckArgs) -> Result<(), CliError> {
    let project = discover(ctx)?;
    let feature = resolve_feature(ctx, &project, args.feature.as_deref(), false)?;
    let path = |name: &str| feature.dir.join(name);
    let optional = ["research.md", "data-model.md", "quickstart.md", "contracts", "checklists"];
    let available: Vec<&str> = optional.iter().copied().filter(|name| path(name).exists()).collect();
    let mut errors = Vec::new();
    let mut required = vec!["spec.md"];
    if !args.paths_only {
        required.push("plan.md");
        if args.include_tasks {
            required.push("tasks.md");
        }
    }
    for name in &required {
        if !path(name).is_file() {
            errors.push(format!("{name} not found in kitty-specs/{}/", feature.slug));
        }
    }
    let valid = errors.is_empty();
    if args.json {
        print_json_line(&json!({
            "valid": valid,
            "feature_slug": feature.slug,
            "feature_dir": feature.dir.display().to_string(),
            "spec_file": path("spec.md").display().to_string(),
            "plan_file": path("plan.md").display().to_string(),
            "tasks_file": path("tasks.md").display().to_string(),
            "available_docs": available,
            "errors": errors,
        }))?;
    } else {
        let mut text = format!("FEATURE_DIR: {}\n", feature.dir.display());
        for name in ["spec.md", "plan.md", "tasks.md"] {
            text.push_str(&format!("  {} {name}\n", if path(name).is_file() { "✓" } else { "✗" }));
        }
        for name in optional {
            text.push_str(&format!("  {} {name}\n", if path(name).exists() { "✓" } else { "·" }));
        }
        output::print(&text)?;
    }
    if valid { Ok(()) } else { Err(CliError::failure(errors.join("; ")).hint("run the missing workflow step first")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kebab_slugs() {
        for ok in ["user-auth", "a", "v2-api", "x1"] {
            assert!(is_kebab_slug(ok), "{ok}");
        }
        for bad in ["", "User", "1abc", "a--b", "a-", "-a", "a_b", "a b"] {
            assert!(!is_kebab_slug(bad), "{bad}");
        }
        assert!(crate::project::detect::is_feature_slug("001-user-auth"));
    }
}
