//! `spec-kitty agent feature …`: create a feature, set up its plan, finalize its tasks, check it.

use super::common::{
    TelemetryFlags, discover, json_aware, lock_feature, logged, print_json_line, publish, record_execution,
    resolve_feature,
};
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
    // kitty-specs/ may be a symlink, but not to outside the project.
    crate::fsutil::ensure_within(&project.root, &dir).map_err(|e| write_err(&dir, e))?;
    for sub in ["checklists", "research", "tasks"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(|e| write_err(&dir.join(sub), e))?;
    }
    // Created exclusively: an existing file (or a symlink planted in its place) is left alone.
    let write_new = |path: &Path, text: &str| -> Result<(), CliError> {
        use std::io::Write as _;
        match std::fs::OpenOptions::new().write(true).create_new(true).open(path) {
            Ok(mut file) => file.write_all(text.as_bytes()).map_err(|e| write_err(path, e)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(write_err(path, e)),
        }
    };
    write_new(&dir.join("tasks/.gitkeep"), "")?;
    write_new(&dir.join("tasks/README.md"), TASKS_README)?;
    let spec = template(&project, "spec-template.md")
        .unwrap_or_else(|| format!("# Feature Specification: {}\n\n", args.slug.replace('-', " ")));
    write_new(&dir.join("spec.md"), &spec)?;
    let now = crate::events::Timestamp::from_utc(ctx.now()).isoformat();
    let meta = FeatureMeta::for_new_feature(&number, &slug, &args.mission, &target_branch, &now);
    let lock = crate::workflow::lock::FeatureLock::acquire(&dir, ctx.lock_timeout)
        .map_err(|e| CliError::failure(e.to_string()))?;
    meta.write(&lock, false).map_err(|e| CliError::failure(e.to_string()))?;
    let identity_added = ensure_identity(ctx, &project, repo.as_ref());

    if let Some(repo) = &repo {
        let rel = |name: &str| Path::new("kitty-specs").join(&slug).join(name);
        // Upstream commits only spec.md here and leaves tasks/ untracked, which then blocks merge's and
        // accept's clean-tree checks; the scaffold goes in with the spec.
        repo.commit_paths(&[&rel("spec.md"), &rel("tasks")], &format!("Add spec for feature {slug}"))
            .map_err(|e| CliError::failure(format!("feature created, but committing spec.md failed: {e}")))?;
        // A project identity added to config.yaml goes in with meta.json, so the command leaves a clean tree.
        let config = Path::new(CONFIG_FILE);
        let mut meta_paths = vec![rel("meta.json")];
        if identity_added {
            meta_paths.push(config.to_owned());
        }
        let meta_paths: Vec<&Path> = meta_paths.iter().map(|p| p.as_path()).collect();
        if let Err(e) = repo.commit_paths(&meta_paths, &format!("Add meta for feature {slug}")) {
            output::warn(&format!("committing meta.json failed: {e}"));
        }
    }
    record_execution(ctx, &project, &slug, args.telemetry.record(Role::Planner, "N/A", None));

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
    crate::fsutil::read_small_string(&project.root.join(".kittify/templates").join(name), crate::fsutil::LARGE_FILE_CAP)
        .ok()
}

/// Gives the project a sync identity if it lacks one (create-feature is allowed to write config.yaml;
/// read-only commands never do) and says whether config.yaml changed. A failure is only a warning: the
/// feature is already created.
fn ensure_identity(ctx: &Context, project: &Project, repo: Option<&Repo>) -> bool {
    let path = project.root.join(CONFIG_FILE);
    let warn_once = || {
        if let Some(warning) = config::first_report(ProjectConfig::load_checked(&project.root).1) {
            output::warn(&format!("{warning} (project identity not added)"));
        }
        false
    };
    let text = match crate::fsutil::read_small_string(&path, crate::fsutil::SMALL_FILE_CAP) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(_) => return warn_once(), // never replace a file we could not read
    };
    let Ok(current) = ProjectConfig::parse(&text) else { return warn_once() };
    if current.project.is_complete() {
        return false;
    }
    let origin = repo.and_then(|r| r.run(&["remote", "get-url", "origin"]).ok());
    let identity = identity::complete_identity(&current.project, ctx, &project.root, origin.as_deref());
    let Some(updated) = config::add_missing_identity(&text, &identity) else { return false };
    match crate::fsutil::write_atomic(&path, updated.as_bytes()) {
        Ok(()) => true,
        Err(e) => {
            output::warn(&format!("cannot write the project identity to {}: {e}", path.display()));
            false
        }
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
    let feature = resolve_feature(ctx, &project, args.feature.as_deref())
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
        crate::fsutil::write_atomic(&plan, text.as_bytes())
            .map_err(|e| CliError::failure(format!("cannot write {}: {e}", plan.display())))?;
        if let Some(repo) = Repo::at(&project.root) {
            let rel = Path::new("kitty-specs").join(&feature.slug).join("plan.md");
            repo.commit_paths(&[&rel], &format!("Add plan for feature {}", feature.slug))
                .map_err(|e| CliError::failure(format!("plan.md written, but the commit failed: {e}")))?;
        }
        true
    } else {
        false
    };
    record_execution(ctx, &project, &feature.slug, args.telemetry.record(Role::Planner, "N/A", None));
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
#[command(
    after_help = "Read-only. The verdict is in the output (`valid`, `errors`), and the exit status is 0 either way, as \
upstream:\nagents parse the JSON. --paths-only prints just the `paths` object (feature_dir, spec_file, tasks_dir, \
…,\nplus the FEATURE_DIR / FEATURE_SPEC / IMPL_PLAN / TASKS / AVAILABLE_DOCS names the templates ask for)."
)]
pub struct CheckArgs {
    /// Feature slug (default: detected; the latest incomplete feature as a last resort).
    #[arg(long)]
    feature: Option<String>,
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
    let feature = resolve_feature(ctx, &project, args.feature.as_deref())?;
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
    /// Feature slug (default: detected).
    #[arg(long)]
    feature: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    telemetry: TelemetryFlags,
}

fn finalize_tasks(ctx: &Context, args: FinalizeArgs) -> Result<(), CliError> {
    use crate::sync::{Causation, SyncEvent};
    use crate::workflow::{graph, tasks_md, wp::WorkPackage};

    let project = discover(ctx)?;
    let feature = resolve_feature(ctx, &project, args.feature.as_deref())?;
    let tasks_dir = feature.dir.join("tasks");
    if !tasks_dir.is_dir() {
        return Err(CliError::failure(format!("no tasks/ directory in kitty-specs/{}/", feature.slug))
            .hint("generate the work packages first (/spec-kitty.tasks)"));
    }
    // Held until the commit: the WP files are read, rewritten and committed as one change.
    let lock = lock_feature(ctx, &feature)?;
    let tasks_path = feature.dir.join("tasks.md");
    let tasks_text = std::fs::read_to_string(&tasks_path)
        .map_err(|e| CliError::failure(format!("cannot read {}: {e}", tasks_path.display())))?;
    let parsed = tasks_md::parse_dependencies(&tasks_text);

    // Validate the whole graph before touching any file.
    let cycles = graph::detect_cycles(&parsed);
    if !cycles.is_empty() {
        return Err(CliError::failure(graph::cycles_message(&cycles))
            .hint("remove one dependency of each cycle in tasks.md")
            .detail("cycles", json!(cycles)));
    }
    for (wp, deps) in &parsed {
        let errors = graph::validate_dependencies(wp, deps, &parsed);
        if !errors.is_empty() {
            return Err(CliError::failure(format!("invalid dependencies of {wp} in tasks.md: {}", errors.join("; ")))
                .hint("fix the Dependencies of that work package in tasks.md")
                .detail("wp_id", json!(wp))
                .detail("errors", json!(errors)));
        }
    }
    let mut packages = Vec::new();
    for wp in WorkPackage::all(&feature.dir) {
        packages.push(wp.map_err(|e| CliError::failure(e.to_string()))?);
    }
    if packages.is_empty() {
        return Err(CliError::failure(format!("no WP*.md files in {}", tasks_dir.display())));
    }

    let mut updated = Vec::new();
    for wp in &mut packages {
        let wanted = parsed.get(&wp.id).cloned().unwrap_or_default();
        if wp.doc.list("dependencies").as_ref() != Some(&wanted) {
            wp.doc.set_list("dependencies", &wanted);
            wp.save(&lock).map_err(|e| CliError::failure(e.to_string()))?;
            updated.push(wp.id.clone());
        }
    }

    let (mut commit_hash, mut files_committed) = (None, Vec::<String>::new());
    if let Some(repo) = Repo::at(&project.root) {
        let rel_tasks = Path::new("kitty-specs").join(&feature.slug).join("tasks.md");
        let rel_dir = Path::new("kitty-specs").join(&feature.slug).join("tasks");
        let dirty = repo.status_porcelain(&[&rel_tasks, &rel_dir]).map_err(|e| CliError::failure(e.to_string()))?;
        files_committed = dirty.lines().filter_map(|l| l.get(3..)).map(str::to_owned).collect();
        if !files_committed.is_empty() {
            commit_hash = repo
                .commit_paths(&[&rel_tasks, &rel_dir], &format!("Add tasks for feature {}", feature.slug))
                .map_err(|e| CliError::failure(format!("Git commit failed: {e}")))?;
        }
    }
    drop(lock);

    // One FeatureCreated (wp_count = N) and N WPCreated, sharing one causation id (seed 004, SC-004).
    let mut events = Vec::new();
    match FeatureMeta::load(&feature.dir).ok().flatten() {
        Some(meta) if meta.str("feature_number").is_some() && meta.str("target_branch").is_some() => {
            events.push(SyncEvent::FeatureCreated {
                feature_slug: feature.slug.clone(),
                feature_number: meta.str("feature_number").unwrap_or_default().to_owned(),
                target_branch: meta.str("target_branch").unwrap_or_default().to_owned(),
                wp_count: packages.len(),
                created_at: meta.str("created_at").map(str::to_owned),
            });
        }
        _ => output::warn("meta.json lacks feature_number or target_branch; FeatureCreated not emitted"),
    }
    events.extend(packages.iter().map(|wp| SyncEvent::WpCreated {
        feature_slug: feature.slug.clone(),
        wp_id: wp.id.clone(),
        title: wp.title(),
        dependencies: parsed.get(&wp.id).cloned().unwrap_or_default(),
    }));
    publish(ctx, Some(&project), &events, Causation::SharedBatch);
    record_execution(ctx, &project, &feature.slug, args.telemetry.record(Role::Planner, "N/A", None));

    if args.json {
        return print_json_line(&json!({
            "result": "success",
            "updated_wp_count": updated.len(),
            "tasks_dir": tasks_dir.display().to_string(),
            "commit_created": commit_hash.is_some(),
            "commit_hash": commit_hash,
            "files_committed": files_committed,
        }));
    }
    let mut text = format!(
        "✓ Finalized {} work package(s) of {}
",
        packages.len(),
        feature.slug
    );
    for wp in &packages {
        let deps = parsed.get(&wp.id).map(|d| d.join(", ")).filter(|d| !d.is_empty()).unwrap_or_else(|| "none".into());
        text.push_str(&format!(
            "  {}  depends on: {deps}
",
            wp.id
        ));
    }
    output::print(&text)?;
    Ok(())
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
