//! `spec-kitty agent tasks …`: lanes, subtasks and history of work packages.

use super::common::{
    FeatureArg, TelemetryFlags, discover, logged, print_json, print_json_line, publish, resolve_feature,
};
use super::output::{self, Align, Column, Table, Term};
use crate::context::Context;
use crate::error::CliError;
use crate::events::pyjson;
use crate::ops::add_history::AddHistory;
use crate::ops::mark_status::MarkStatus;
use crate::ops::move_task::MoveTask;
use crate::ops::{self, Scope};
use crate::project::{Feature, Project};
use crate::sync::Causation;
use crate::workflow::board::{self, Board, Neighbours, TaskList, Validation};
use crate::workflow::lanes::Lane;
use crate::workflow::transition::{Feedback, MoveRequest};
use crate::workflow::wp::{WorkPackage, normalize_wp_id};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;
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
    let lane_move = MoveRequest {
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
        at: ctx.now(),
    };
    let request = MoveTask { lane_move, commit: !args.no_auto_commit, usage: args.telemetry.usage() };
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
    let (packages, errors) = board::packages(feature);
    errors.iter().for_each(|e| output::warn(&e.to_string()));
    packages
}

fn list_tasks(ctx: &Context, args: ListArgs) -> Result<(), CliError> {
    let (_, feature) = feature_of(ctx, args.feature.slug.as_deref())?;
    let list = TaskList::of(&packages(&feature), args.lane);
    if args.json {
        return print_json_line(&list);
    }
    let mut text = String::new();
    for task in &list.tasks {
        text.push_str(&format!("{}  {:<12} {}\n", task.work_package_id, task.lane, task.title));
    }
    text.push_str(&format!("{} work package(s)\n", list.count));
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

fn status(ctx: &Context, args: StatusArgs) -> Result<(), CliError> {
    let (project, feature) = feature_of(ctx, args.feature.slug.as_deref())?;
    let packages = packages(&feature);
    let board = Board::read(&project, &feature, &packages, ctx.now(), args.stale_threshold);
    if args.json {
        return print_json(&board, pyjson::PRETTY);
    }
    output::print(&kanban(&board, &packages, &Term::stdout()))?;
    Ok(())
}

/// A text kanban: one column per lane that has work packages (the main flow always shown); long titles
/// wrap inside their column.
fn kanban(board: &Board, packages: &[WorkPackage], term: &Term) -> String {
    let lanes = &board.lanes;
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
    format!(
        "{}: {}/{} done ({}%)\n\n{}",
        board.feature,
        board.done,
        board.total_wps,
        board.progress_percentage,
        table.render(term)
    )
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
    let validation = Validation::of(&WorkPackage::load(&feature.dir, &wp_id)?);
    if args.json {
        print_json_line(&validation)?;
    } else {
        let verdict = if validation.valid { "✓ {}: valid" } else { "✗ {}: invalid" };
        let mut text = verdict.replace("{}", &wp_id) + "\n";
        for e in &validation.errors {
            text.push_str(&format!("  error: {e}\n"));
        }
        for w in &validation.warnings {
            text.push_str(&format!("  warning: {w}\n"));
        }
        output::print(&text)?;
    }
    if validation.valid {
        Ok(())
    } else {
        Err(CliError {
            result_printed: args.json,
            ..CliError::invalid(format!("{wp_id} is not valid: {}", validation.errors.join("; ")))
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
    let Some(neighbours) = Neighbours::of(&packages(&feature), &wp_id) else {
        return Err(CliError::failure(format!("work package {wp_id} not found in {}", feature.slug)));
    };
    if args.json {
        return print_json_line(&neighbours);
    }
    let list = |items: &[String]| if items.is_empty() { "none".to_owned() } else { items.join(", ") };
    let Neighbours { depends_on, dependents, .. } = &neighbours;
    output::print(&format!("{wp_id}\n  depends on: {}\n  dependents: {}\n", list(depends_on), list(dependents)))?;
    Ok(())
}
