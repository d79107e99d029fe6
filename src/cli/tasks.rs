//! `spec-kitty agent tasks …`: lanes, subtasks and history of work packages.

use super::common::{FeatureArg, TelemetryFlags, discover, logged, print_json_line, publish, resolve_feature};
use super::output::{self, Align, Column, Table, Term};
use crate::context::Context;
use crate::error::CliError;
use crate::git::Repo;
use crate::ops::add_history::AddHistory;
use crate::ops::mark_status::MarkStatus;
use crate::ops::move_task::MoveTask;
use crate::ops::{self, Scope};
use crate::project::{Feature, Project};
use crate::sync::Causation;
use crate::workflow::activity;
use crate::workflow::lanes::Lane;
use crate::workflow::transition::Feedback;
use crate::workflow::wp::{WorkPackage, normalize_wp_id};
use crate::workflow::{graph, workspace};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct TasksArgs {
    #[command(subcommand)]
    command: TasksCommand,
}

#[derive(Debug, Subcommand)]
enum TasksCommand {
    /// Move a work package to another lane (every intermediate lane is recorded).
    MoveTask(Box<MoveArgs>),
    /// Check or uncheck subtasks (T001 …) in tasks.md.
    MarkStatus(MarkArgs),
    /// Append a note to a work package's Activity Log.
    AddHistory(HistoryArgs),
    /// List the work packages, optionally of one lane.
    ListTasks(ListArgs),
    /// Show the feature's kanban: work packages by lane and progress.
    Status(StatusArgs),
    /// Check a work package file's frontmatter and Activity Log.
    ValidateWorkflow(ValidateArgs),
    /// Show what a work package depends on and what depends on it.
    ListDependents(DependentsArgs),
}

pub fn run(ctx: &Context, args: TasksArgs) -> Result<(), CliError> {
    match args.command {
        TasksCommand::MoveTask(a) => {
            let (json, wp, agent) = (a.json, a.wp.clone(), a.telemetry.agent.clone());
            logged(ctx, json, Some(&wp), agent.as_deref(), || move_task(ctx, *a))
        }
        TasksCommand::MarkStatus(a) => logged(ctx, a.json, None, None, || mark_status(ctx, a)),
        TasksCommand::AddHistory(a) => {
            let (json, wp, agent) = (a.json, a.wp.clone(), a.agent.clone());
            logged(ctx, json, Some(&wp), agent.as_deref(), || add_history(ctx, a))
        }
        TasksCommand::ListTasks(a) => logged(ctx, a.json, None, None, || list_tasks(ctx, a)),
        TasksCommand::Status(a) => logged(ctx, a.json, None, None, || status(ctx, a)),
        TasksCommand::ValidateWorkflow(a) => {
            let (json, wp) = (a.json, a.wp.clone());
            logged(ctx, json, Some(&wp), None, || validate_workflow(ctx, a))
        }
        TasksCommand::ListDependents(a) => {
            let (json, wp) = (a.json, a.wp.clone());
            logged(ctx, json, Some(&wp), None, || list_dependents(ctx, a))
        }
    }
}

fn feature_of(ctx: &Context, explicit: Option<&str>) -> Result<(Project, Feature), CliError> {
    let project = discover(ctx)?;
    let feature = resolve_feature(ctx, &project, explicit)?;
    Ok((project, feature))
}

fn wp_arg(raw: &str) -> Result<String, CliError> {
    normalize_wp_id(raw).map_err(|e| CliError::usage(e.to_string()))
}

// ---------------------------------------------------------------------------------------------------
// move-task

#[derive(Debug, Args)]
#[command(
    after_help = "Forward moves record every intermediate lane (planned → claimed → in_progress → for_review → done);\n\
moving to for_review or done requires the WP's subtasks to be checked in tasks.md, and sending work back\n\
to planned requires --review-feedback-file. --force moves directly, skipping the checks, and needs --note."
)]
struct MoveArgs {
    /// Work package id (WP01).
    wp: String,
    /// Target lane: planned, claimed, in_progress (or doing), for_review, done, blocked, canceled.
    #[arg(long, value_name = "LANE")]
    to: String,
    #[command(flatten)]
    feature: FeatureArg,
    /// Person or agent the work package is assigned to.
    #[arg(long)]
    assignee: Option<String>,
    /// Process id of the agent's shell.
    #[arg(long)]
    shell_pid: Option<String>,
    /// Why the work package moves (recorded in the Activity Log and the status log).
    #[arg(long)]
    note: Option<String>,
    /// Reviewer's feedback when sending work back (required for --to planned).
    #[arg(long, value_name = "PATH")]
    review_feedback_file: Option<PathBuf>,
    /// Reference of the approval when moving to done (e.g. a PR review URL).
    #[arg(long)]
    approval_ref: Option<String>,
    /// Reviewer recorded when moving to done (default: git user.name).
    #[arg(long)]
    reviewer: Option<String>,
    /// Move directly to the target lane, bypassing the transition rules (needs --note).
    #[arg(long)]
    force: bool,
    /// Commit the work-package file (default).
    #[arg(long, overrides_with = "no_auto_commit")]
    auto_commit: bool,
    /// Do not commit.
    #[arg(long)]
    no_auto_commit: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    telemetry: TelemetryFlags,
}

fn parse_lane(text: &str) -> Result<Lane, String> {
    Lane::parse(text).map_err(|e| e.to_string())
}

fn move_task(ctx: &Context, args: MoveArgs) -> Result<(), CliError> {
    let wp_id = wp_arg(&args.wp)?;
    // Parsed here rather than by clap so an unknown lane is also logged and reported as JSON.
    let to = Lane::parse(&args.to).map_err(|e| CliError::usage(e.to_string()))?;
    let (project, feature) = feature_of(ctx, args.feature.slug.as_deref())?;
    let feedback = args.review_feedback_file.as_deref().map(|path| Feedback::read(&ctx.cwd.join(path))).transpose()?;
    let request = MoveTask {
        wp_id: wp_id.clone(),
        to,
        agent: args.telemetry.agent.clone(),
        assignee: args.assignee.clone(),
        shell_pid: args.shell_pid.clone(),
        note: args.note.clone(),
        feedback,
        approval_ref: args.approval_ref.clone(),
        reviewer: args.reviewer.clone(),
        force: args.force,
        commit: !args.no_auto_commit,
        usage: args.telemetry.usage(),
        at: ctx.now(),
    };
    let outcome = ops::move_task::move_task(&Scope::new(ctx, &project, &feature), &request)?;
    outcome.warnings.iter().for_each(|w| output::warn(w));
    publish(ctx, Some(&project), &outcome.events, Causation::None);

    let moved = &outcome.moved;
    if args.json {
        return print_json_line(&json!({
            "result": "success",
            "task_id": wp_id,
            "old_lane": moved.old_lane.as_str(),
            "new_lane": moved.new_lane.as_str(),
            "path": moved.path.display().to_string(),
        }));
    }
    let mut text = format!("✓ Moved {wp_id} from {} to {}\n", moved.old_lane, moved.new_lane);
    if !outcome.waiting_dependents.is_empty() {
        let state = if moved.new_lane == Lane::Done { "is done; they can start" } else { "is not done yet" };
        text.push_str(&format!(
            "⚠️  Dependency Alert: {} depend on {wp_id}, which {state}\n",
            outcome.waiting_dependents.join(", ")
        ));
    }
    output::print(&text)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------------
// mark-status

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SubtaskStatus {
    Done,
    Pending,
}

#[derive(Debug, Args)]
struct MarkArgs {
    /// Subtask ids (T001 T002 …).
    #[arg(required_unless_present = "task_id")]
    task_ids: Vec<String>,
    /// The older templates' spelling of a subtask id (repeatable).
    #[arg(long = "task-id", value_name = "ID", hide = true)]
    task_id: Vec<String>,
    /// New status of the subtasks.
    #[arg(long, value_enum)]
    status: SubtaskStatus,
    #[command(flatten)]
    feature: FeatureArg,
    /// Commit tasks.md (default).
    #[arg(long, overrides_with = "no_auto_commit")]
    auto_commit: bool,
    /// Do not commit.
    #[arg(long)]
    no_auto_commit: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

fn mark_status(ctx: &Context, args: MarkArgs) -> Result<(), CliError> {
    let (project, feature) = feature_of(ctx, args.feature.slug.as_deref())?;
    let request = MarkStatus {
        task_ids: args.task_ids.iter().chain(&args.task_id).cloned().collect(),
        done: args.status == SubtaskStatus::Done,
        commit: !args.no_auto_commit,
    };
    let outcome = ops::mark_status::mark_status(&Scope::new(ctx, &project, &feature), &request)?;
    outcome.warnings.iter().for_each(|w| output::warn(w));
    publish(ctx, Some(&project), &outcome.events, Causation::None);
    let status_word = request.status_word();
    if args.json {
        return print_json_line(&json!({
            "result": "success",
            "updated": outcome.updated,
            "not_found": outcome.not_found,
            "status": status_word,
            "count": outcome.updated.len(),
        }));
    }
    let mut text = format!("✓ Marked {} as {status_word}\n", outcome.updated.join(", "));
    if !outcome.not_found.is_empty() {
        text.push_str(&format!("  not found: {}\n", outcome.not_found.join(", ")));
    }
    output::print(&text)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------------
// add-history

#[derive(Debug, Args)]
struct HistoryArgs {
    /// Work package id (WP01).
    wp: String,
    /// The note to record.
    #[arg(long)]
    note: String,
    #[command(flatten)]
    feature: FeatureArg,
    /// Agent writing the note (default: the WP's agent).
    #[arg(long)]
    agent: Option<String>,
    /// Process id of the agent's shell.
    #[arg(long)]
    shell_pid: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

fn add_history(ctx: &Context, args: HistoryArgs) -> Result<(), CliError> {
    let wp_id = wp_arg(&args.wp)?;
    let (project, feature) = feature_of(ctx, args.feature.slug.as_deref())?;
    let request = AddHistory {
        wp_id: wp_id.clone(),
        note: args.note.clone(),
        agent: args.agent.clone(),
        shell_pid: args.shell_pid.clone(),
        at: ctx.now(),
    };
    let outcome = ops::add_history::add_history(&Scope::new(ctx, &project, &feature), &request)?;
    publish(ctx, Some(&project), &outcome.events, Causation::None);
    if args.json {
        return print_json_line(&json!({"result": "success", "task_id": wp_id, "note": args.note}));
    }
    output::print(&format!("✓ Added history to {wp_id}\n"))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------------
// list-tasks, status, validate-workflow, list-dependents (read-only)

#[derive(Debug, Args)]
struct ListArgs {
    /// Only work packages in this lane (`doing` matches in_progress).
    #[arg(long, value_parser = parse_lane)]
    lane: Option<Lane>,
    #[command(flatten)]
    feature: FeatureArg,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// Every readable WP of the feature; unreadable files are warned about and skipped.
fn packages(feature: &Feature) -> Vec<WorkPackage> {
    WorkPackage::all(&feature.dir)
        .into_iter()
        .filter_map(|r| r.map_err(|e| output::warn(&e.to_string())).ok())
        .collect()
}

fn list_tasks(ctx: &Context, args: ListArgs) -> Result<(), CliError> {
    let (_, feature) = feature_of(ctx, args.feature.slug.as_deref())?;
    let selected: Vec<WorkPackage> =
        packages(&feature).into_iter().filter(|p| args.lane.is_none_or(|lane| p.lane().ok() == Some(lane))).collect();
    if args.json {
        let tasks: Vec<Value> = selected
            .iter()
            .map(|p| json!({"work_package_id": p.id, "title": p.title(), "lane": p.raw_lane().unwrap_or_else(|| "planned".into()), "path": p.path.display().to_string()}))
            .collect();
        return print_json_line(&json!({"tasks": tasks, "count": selected.len()}));
    }
    let mut text = String::new();
    for p in &selected {
        text.push_str(&format!("{}  {:<12} {}\n", p.id, p.raw_lane().unwrap_or_else(|| "planned".into()), p.title()));
    }
    text.push_str(&format!("{} work package(s)\n", selected.len()));
    output::print(&text)?;
    Ok(())
}

#[derive(Debug, Args)]
struct StatusArgs {
    #[command(flatten)]
    feature: FeatureArg,
    /// Minutes without a commit in its worktree after which an in-progress WP counts as stale.
    #[arg(long, value_name = "MINUTES", default_value_t = 10)]
    stale_threshold: u64,
    /// Print the status as JSON.
    #[arg(long)]
    json: bool,
}

/// How long an in-progress WP's worktree has gone without a commit.
struct Staleness {
    worktree_exists: bool,
    minutes_since_commit: Option<i64>,
    is_stale: bool,
}

fn staleness(ctx: &Context, project: &Project, feature: &Feature, wp_id: &str, threshold: u64) -> Staleness {
    let worktree = project.root.join(workspace::WORKTREES_DIR).join(workspace::workspace_name(&feature.slug, wp_id));
    let last_commit = worktree
        .join(".git")
        .is_file()
        .then(|| Repo { root: worktree.clone() }.run(&["log", "-1", "--format=%ct"]).ok())
        .flatten()
        .and_then(|t| t.trim().parse::<i64>().ok());
    let minutes = last_commit.map(|t| (ctx.now().timestamp() - t).max(0) / 60);
    Staleness {
        worktree_exists: worktree.is_dir(),
        minutes_since_commit: minutes,
        is_stale: minutes.is_some_and(|m| m > threshold as i64),
    }
}

fn status(ctx: &Context, args: StatusArgs) -> Result<(), CliError> {
    let (project, feature) = feature_of(ctx, args.feature.slug.as_deref())?;
    let packages = packages(&feature);
    let total = packages.len();
    let lanes: Vec<Lane> = packages.iter().map(|p| p.lane().unwrap_or(Lane::Planned)).collect();
    let done = lanes.iter().filter(|l| **l == Lane::Done).count();
    let progress = if total == 0 { 0.0 } else { (done as f64 * 1000.0 / total as f64).round() / 10.0 };
    if args.json {
        let mut by_lane: BTreeMap<String, usize> = BTreeMap::new();
        for p in &packages {
            *by_lane.entry(p.raw_lane().unwrap_or_else(|| "planned".into())).or_default() += 1;
        }
        let mut stale_wps = Vec::new();
        // Upstream's types: strings throughout ("" when unset), `stale_wps` a count (the ids are ours,
        // in `stale_wp_ids`).
        let work_packages: Vec<Value> = packages
            .iter()
            .zip(&lanes)
            .map(|(p, lane)| {
                let mut entry = json!({
                    "id": p.id,
                    "title": p.title(),
                    "lane": p.raw_lane().unwrap_or_else(|| "planned".into()),
                    "phase": p.doc.scalar("phase").unwrap_or_else(|| "Unknown Phase".into()),
                    "file": p.path.file_name().map(|n| n.to_string_lossy().into_owned()),
                    "agent": p.doc.scalar("agent").unwrap_or_default(),
                    "shell_pid": p.doc.scalar("shell_pid").unwrap_or_default(),
                });
                if *lane == Lane::InProgress {
                    let stale = staleness(ctx, &project, &feature, &p.id, args.stale_threshold);
                    if stale.is_stale {
                        stale_wps.push(p.id.clone());
                    }
                    entry["is_stale"] = json!(stale.is_stale);
                    entry["minutes_since_commit"] = json!(stale.minutes_since_commit);
                    entry["worktree_exists"] = json!(stale.worktree_exists);
                }
                entry
            })
            .collect();
        let value = json!({
            "feature": feature.slug,
            "total_wps": total,
            "by_lane": by_lane,
            "work_packages": work_packages,
            "progress_percentage": progress,
            "stale_wps": stale_wps.len(),
            "stale_wp_ids": stale_wps,
        });
        output::print(&(crate::events::pyjson::to_string(&value, crate::events::pyjson::PRETTY) + "\n"))?;
        return Ok(());
    }
    output::print(&kanban(&feature.slug, &packages, &lanes, done, progress, &Term::stdout()))?;
    Ok(())
}

/// A text kanban: one column per lane that has work packages (the main flow always shown); long titles
/// wrap inside their column.
fn kanban(slug: &str, packages: &[WorkPackage], lanes: &[Lane], done: usize, progress: f64, term: &Term) -> String {
    let main_flow = [Lane::Planned, Lane::Claimed, Lane::InProgress, Lane::ForReview, Lane::Done];
    let shown: Vec<Lane> = Lane::ALL
        .into_iter()
        .filter(|lane| main_flow.contains(lane) && *lane != Lane::Claimed || lanes.contains(lane))
        .collect();
    let columns: Vec<Vec<String>> = shown
        .iter()
        .map(|lane| {
            packages
                .iter()
                .zip(lanes)
                .filter(|(_, l)| *l == lane)
                .map(|(p, _)| format!("{} {}", p.id, p.title()))
                .collect()
        })
        .collect();
    let depth = columns.iter().map(Vec::len).max().unwrap_or(0);
    let table = Table {
        columns: shown
            .iter()
            .zip(&columns)
            .map(|(lane, items)| {
                Column::new(format!("{lane} ({})", items.len()), Align::Left).wrapping().max_width(KANBAN_WIDTH)
            })
            .collect(),
        rows: (0..depth)
            .map(|row| columns.iter().map(|items| items.get(row).cloned().unwrap_or_default()).collect())
            .collect(),
        ..Table::default()
    };
    format!("{slug}: {done}/{} done ({progress}%)\n\n{}", packages.len(), table.render(term))
}

/// The widest a kanban column gets (longer titles wrap), as upstream's board keeps its columns narrow.
const KANBAN_WIDTH: usize = 28;

#[derive(Debug, Args)]
struct ValidateArgs {
    /// Work package id (WP01).
    wp: String,
    #[command(flatten)]
    feature: FeatureArg,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

fn validate_workflow(ctx: &Context, args: ValidateArgs) -> Result<(), CliError> {
    let wp_id = wp_arg(&args.wp)?;
    let (_, feature) = feature_of(ctx, args.feature.slug.as_deref())?;
    let wp = WorkPackage::load(&feature.dir, &wp_id).map_err(|e| CliError::failure(e.to_string()))?;
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    for key in ["work_package_id", "title", "lane"] {
        if wp.doc.scalar(key).is_none() {
            errors.push(format!("Missing required field: {key}"));
        }
    }
    if let Some(raw) = wp.raw_lane()
        && Lane::parse(&raw).is_err()
    {
        errors.push(format!("Invalid lane: {raw}"));
    }
    if let Some(declared) = wp.doc.scalar("work_package_id")
        && declared != wp_id
    {
        errors.push(format!("work_package_id {declared} does not match the file name ({wp_id})"));
    }
    if activity::parse_activity(wp.doc.body()).is_empty() {
        warnings.push("No Activity Log entries".to_owned());
    }
    let valid = errors.is_empty();
    let lane = wp.raw_lane();
    if args.json {
        print_json_line(
            &json!({"valid": valid, "errors": errors, "warnings": warnings, "task_id": wp_id, "lane": lane}),
        )?;
    } else {
        let mut text =
            format!("{} {wp_id}: {}\n", if valid { "✓" } else { "✗" }, if valid { "valid" } else { "invalid" });
        for e in &errors {
            text.push_str(&format!("  error: {e}\n"));
        }
        for w in &warnings {
            text.push_str(&format!("  warning: {w}\n"));
        }
        output::print(&text)?;
    }
    if valid {
        Ok(())
    } else {
        Err(CliError {
            result_printed: args.json,
            ..CliError::invalid(format!("{wp_id} is not valid: {}", errors.join("; ")))
        })
    }
}

#[derive(Debug, Args)]
struct DependentsArgs {
    /// Work package id (WP01).
    wp: String,
    #[command(flatten)]
    feature: FeatureArg,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

fn list_dependents(ctx: &Context, args: DependentsArgs) -> Result<(), CliError> {
    let wp_id = wp_arg(&args.wp)?;
    let (_, feature) = feature_of(ctx, args.feature.slug.as_deref())?;
    let graph: graph::DependencyGraph = packages(&feature).iter().map(|p| (p.id.clone(), p.dependencies())).collect();
    let Some(depends_on) = graph.get(&wp_id).cloned() else {
        return Err(CliError::failure(format!("work package {wp_id} not found in {}", feature.slug)));
    };
    let dependents = graph::dependents(&graph, &wp_id);
    if args.json {
        return print_json_line(&json!({"wp_id": wp_id, "depends_on": depends_on, "dependents": dependents}));
    }
    let list = |items: &[String]| if items.is_empty() { "none".to_owned() } else { items.join(", ") };
    output::print(&format!("{wp_id}\n  depends on: {}\n  dependents: {}\n", list(&depends_on), list(&dependents)))?;
    Ok(())
}
