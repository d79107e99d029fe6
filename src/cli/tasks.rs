//! `spec-kitty agent tasks …`: lanes, subtasks and history of work packages.

use super::common::{
    TelemetryFlags, discover, lock_feature, logged, print_json_line, publish, record_execution, resolve_feature,
};
use super::output::{self, Align, Column, Table, Term};
use crate::context::Context;
use crate::error::CliError;
use crate::git::Repo;
use crate::project::{Feature, Project};
use crate::sync::Causation;
use crate::sync::event::{EntryType, SyncEvent};
use crate::telemetry::Role;
use crate::workflow::activity::{self, ActivityEntry};
use crate::workflow::lanes::Lane;
use crate::workflow::status::StatusError;
use crate::workflow::transition::{self, Feedback, MoveError, MoveOutcome, MoveRequest};
use crate::workflow::wp::{WorkPackage, normalize_wp_id};
use crate::workflow::{graph, tasks_md, workspace};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
    /// Feature slug (default: detected).
    #[arg(long)]
    feature: Option<String>,
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
    let (project, feature) = feature_of(ctx, args.feature.as_deref())?;
    let repo = Repo::at(&project.root);
    let feedback = args.review_feedback_file.as_deref().map(|path| read_feedback(ctx, path)).transpose()?;
    // Held from reading the WP file until the move is committed.
    let lock = lock_feature(ctx, &feature)?;
    let current = WorkPackage::load(&feature.dir, &wp_id).map_err(|e| CliError::failure(e.to_string()))?;
    if to == Lane::ForReview && !args.force {
        check_ready_for_review(&project, repo.as_ref(), &feature, &wp_id)?;
    }
    let workspace_dir =
        project.root.join(workspace::WORKTREES_DIR).join(workspace::workspace_name(&feature.slug, &wp_id));
    let reviewer = args
        .reviewer
        .clone()
        .or_else(|| repo.as_ref().and_then(|r| r.run(&["config", "user.name"]).ok()))
        .filter(|r| !r.trim().is_empty());
    let request = MoveRequest {
        feature_slug: feature.slug.clone(),
        wp_id: wp_id.clone(),
        to,
        agent: args.telemetry.agent.clone(),
        assignee: args.assignee.clone(),
        shell_pid: args.shell_pid.clone(),
        note: args.note.clone(),
        feedback,
        approval_ref: args.approval_ref.clone(),
        reviewer: reviewer.unwrap_or_else(|| "unknown".to_owned()),
        force: args.force,
        execution_mode: if workspace_dir.is_dir() { "worktree" } else { "direct_repo" }.to_owned(),
        now: ctx.now(),
    };
    let tasks_md_rel = Path::new("kitty-specs").join(&feature.slug).join("tasks.md");
    let tasks_md_was_clean =
        repo.as_ref().is_some_and(|r| r.status_porcelain(&[&tasks_md_rel]).is_ok_and(|s| s.is_empty()));
    let outcome = transition::move_task(&lock, &request, || crate::events::EventId::Ulid(ctx.new_ulid().0))
        .map_err(move_error)?;

    if let Some(repo) = repo.as_ref().filter(|_| !args.no_auto_commit) {
        // Upstream commits only the WP file and leaves the regenerated status block of tasks.md dirty,
        // which then blocks the next move to for_review; we include tasks.md when our block update was
        // its only change.
        let rel = outcome.path.strip_prefix(&project.root).unwrap_or(&outcome.path).to_owned();
        let mut paths = vec![rel.as_path()];
        if tasks_md_was_clean && project.root.join(&tasks_md_rel).exists() {
            paths.push(&tasks_md_rel);
        }
        let agent = outcome.agent.clone().unwrap_or_else(|| "unknown".to_owned());
        let message = format!("chore: Move {wp_id} to {to} on spec {} [{agent}]", feature.number());
        if let Err(e) = repo.commit_paths(&paths, &message) {
            output::warn(&format!("moved, but the commit failed: {e}"));
        }
    }
    drop(lock);
    record_move_telemetry(ctx, &project, &feature, &args.telemetry, &outcome, current.doc.scalar("agent"));
    let events: Vec<SyncEvent> = outcome.events.iter().map(SyncEvent::from).collect();
    publish(ctx, Some(&project), &events, Causation::None);

    if args.json {
        return print_json_line(&json!({
            "result": "success",
            "task_id": wp_id,
            "old_lane": outcome.old_lane.as_str(),
            "new_lane": outcome.new_lane.as_str(),
            "path": outcome.path.display().to_string(),
        }));
    }
    let mut text = format!("✓ Moved {wp_id} from {} to {}\n", outcome.old_lane, outcome.new_lane);
    if let Some(alert) = dependency_alert(&feature, &wp_id, outcome.new_lane) {
        text.push_str(&alert);
    }
    output::print(&text)?;
    Ok(())
}

fn move_error(error: MoveError) -> CliError {
    let hint = match &error {
        MoveError::Transition(_) | MoveError::AlreadyThere { .. } => {
            Some("see `spec-kitty agent tasks status` for the current lanes")
        }
        MoveError::Status(e) if e.is_damaged_log() => Some("the status log must be repaired before lanes can move"),
        MoveError::Status(StatusError::Locked(_)) => Some(
            "another spec-kitty command is updating this feature: retry when it has finished, or stop it; \
             SPEC_KITTY_LOCK_TIMEOUT_MS sets how long to wait",
        ),
        _ => None,
    };
    let cli = CliError::failure(error.to_string());
    match hint {
        Some(h) => cli.hint(h),
        None => cli,
    }
}

fn read_feedback(ctx: &Context, path: &Path) -> Result<Feedback, CliError> {
    let absolute = ctx.cwd.join(path);
    let content = crate::fsutil::read_small_string(&absolute, crate::fsutil::SMALL_FILE_CAP)
        .map_err(|e| CliError::failure(format!("cannot read review feedback {}: {e}", absolute.display())))?;
    if content.trim().is_empty() {
        return Err(CliError::failure(format!("review feedback file {} is empty", absolute.display())));
    }
    Ok(Feedback { path: absolute, content })
}

/// Before review: the feature's planning files are committed, and the WP's worktree (if any) is on a
/// branch, clean, with work committed. Upstream's `_validate_ready_for_review`; skipped by --force.
fn check_ready_for_review(
    project: &Project,
    repo: Option<&Repo>,
    feature: &Feature,
    wp_id: &str,
) -> Result<(), CliError> {
    let Some(repo) = repo else { return Ok(()) };
    let rel = Path::new("kitty-specs").join(&feature.slug);
    let dirty = repo.status_porcelain(&[&rel]).map_err(|e| CliError::failure(e.to_string()))?;
    let ignored = ["status.events.jsonl", "status.json", "execution.events.jsonl", ".telemetry-clock.json"];
    let offending: Vec<&str> = dirty
        .lines()
        .filter_map(|l| l.get(3..))
        .filter(|path| {
            let generated = ignored.iter().any(|f| path.ends_with(f));
            let wp_prompt = path.contains("/tasks/") && path.ends_with(".md");
            !generated && !wp_prompt
        })
        .collect();
    if !offending.is_empty() {
        return Err(CliError::failure(format!(
            "uncommitted changes in the feature directory: {}",
            offending.join(", ")
        ))
        .hint("commit them first, or use --force"));
    }
    let workspace = project.root.join(workspace::WORKTREES_DIR).join(workspace::workspace_name(&feature.slug, wp_id));
    if !workspace.join(".git").is_file() {
        return Ok(());
    }
    let worktree = Repo { root: workspace.clone() };
    if worktree.is_detached() {
        return Err(CliError::failure(format!("the worktree {} has a detached HEAD", workspace.display()))
            .hint(format!("check out its branch: git -C {} checkout {}-{wp_id}", workspace.display(), feature.slug)));
    }
    if workspace::is_dirty(&workspace).map_err(|e| CliError::failure(e.to_string()))? {
        return Err(CliError::failure(format!("the worktree {} has uncommitted changes", workspace.display()))
            .hint("commit the implementation before asking for review"));
    }
    Ok(())
}

/// ExecutionEvents on the transitions upstream records: in_progress→for_review (implementer),
/// for_review→done (reviewer), for_review→in_progress|planned (reviewer, failed review).
fn record_move_telemetry(
    ctx: &Context,
    project: &Project,
    feature: &Feature,
    flags: &TelemetryFlags,
    outcome: &MoveOutcome,
    frontmatter_agent: Option<String>,
) {
    let (role, success) = match (outcome.old_lane, outcome.new_lane) {
        (Lane::InProgress, Lane::ForReview) => (Role::Implementer, true),
        (Lane::ForReview | Lane::InReview, Lane::Done | Lane::Approved) => (Role::Reviewer, true),
        (Lane::ForReview | Lane::InReview | Lane::Approved, Lane::InProgress | Lane::Planned) => {
            (Role::Reviewer, false)
        }
        _ => return,
    };
    let record = flags.record(role, &outcome.wp_id, frontmatter_agent.as_deref()).map(|mut record| {
        if !success {
            record.success = false;
            record.exit_code = 1;
        }
        record
    });
    record_execution(ctx, project, &feature.slug, record);
}

/// Text-mode note about dependents that are still waiting.
fn dependency_alert(feature: &Feature, wp_id: &str, new_lane: Lane) -> Option<String> {
    let packages: Vec<WorkPackage> = WorkPackage::all(&feature.dir).into_iter().flatten().collect();
    let waiting: Vec<String> = packages
        .iter()
        .filter(|p| p.dependencies().iter().any(|d| d == wp_id))
        .filter(|p| matches!(p.lane(), Ok(Lane::Planned | Lane::InProgress)))
        .map(|p| p.id.clone())
        .collect();
    if waiting.is_empty() {
        return None;
    }
    let state = if new_lane == Lane::Done { "is done; they can start" } else { "is not done yet" };
    Some(format!("⚠️  Dependency Alert: {} depend on {wp_id}, which {state}\n", waiting.join(", ")))
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
    /// Feature slug (default: detected).
    #[arg(long)]
    feature: Option<String>,
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
    let (project, feature) = feature_of(ctx, args.feature.as_deref())?;
    let lock = lock_feature(ctx, &feature)?;
    let path = feature.dir.join("tasks.md");
    let text = crate::fsutil::read_small_string(&path, crate::fsutil::LARGE_FILE_CAP).map_err(|e| {
        CliError::failure(format!("cannot read {}: {e}", path.display())).hint("run /spec-kitty.tasks first")
    })?;
    let done = args.status == SubtaskStatus::Done;
    let ids: Vec<String> = args.task_ids.iter().chain(&args.task_id).cloned().collect();
    let outcome = tasks_md::mark_status(&text, &ids, done);
    if outcome.updated.is_empty() {
        return Err(CliError::failure(format!("No task IDs found in tasks.md: {}", outcome.not_found.join(", "))));
    }
    if outcome.text != text {
        lock.write(&path, outcome.text.as_bytes())
            .map_err(|e| CliError::failure(format!("cannot write {}: {e}", path.display())))?;
    }
    let status_word = if done { "done" } else { "pending" };
    if let Some(repo) = Repo::at(&project.root).filter(|_| !args.no_auto_commit) {
        let subject = match outcome.updated.as_slice() {
            [one] => one.clone(),
            many => format!("{} subtasks", many.len()),
        };
        let rel = Path::new("kitty-specs").join(&feature.slug).join("tasks.md");
        if let Err(e) =
            repo.commit_paths(&[&rel], &format!("chore: Mark {subject} as {status_word} on spec {}", feature.number()))
        {
            output::warn(&format!("tasks.md updated, but the commit failed: {e}"));
        }
    }
    drop(lock);
    // One HistoryAdded per owning WP (upstream attributed everything to "WP00"-style ids).
    let mut by_wp: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for id in &outcome.updated {
        if let Some(wp) = tasks_md::owning_wp(&outcome.text, id) {
            by_wp.entry(wp).or_default().push(id.clone());
        }
    }
    let events: Vec<SyncEvent> = by_wp
        .into_iter()
        .map(|(wp_id, ids)| SyncEvent::HistoryAdded {
            wp_id,
            entry_type: EntryType::Note,
            entry_content: format!("Subtask(s) {} marked as {status_word}", ids.join(", ")),
            author: "user".to_owned(),
        })
        .collect();
    publish(ctx, Some(&project), &events, Causation::None);

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
    /// Feature slug (default: detected).
    #[arg(long)]
    feature: Option<String>,
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
    if args.note.trim().is_empty() {
        return Err(CliError::usage("--note must not be empty"));
    }
    let (project, feature) = feature_of(ctx, args.feature.as_deref())?;
    // Held from reading the WP file to writing it: a concurrent move-task or add-history cannot slip a
    // change in between and have it overwritten.
    let lock = lock_feature(ctx, &feature)?;
    let mut wp = WorkPackage::load(&feature.dir, &wp_id).map_err(|e| CliError::failure(e.to_string()))?;
    let agent = args
        .agent
        .clone()
        .or_else(|| wp.doc.scalar("agent"))
        .filter(|a| !a.trim().is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    let entry = ActivityEntry {
        timestamp: ActivityEntry::timestamp_at(ctx.now()),
        agent,
        shell_pid: args.shell_pid.clone().or_else(|| wp.doc.scalar("shell_pid")),
        lane: wp.raw_lane().unwrap_or_else(|| "planned".to_owned()),
        note: args.note.clone(),
    };
    let body = activity::append_activity(wp.doc.body(), &entry);
    wp.doc.set_body(body);
    wp.save(&lock).map_err(|e| CliError::failure(e.to_string()))?;
    drop(lock);
    publish(
        ctx,
        Some(&project),
        &[SyncEvent::HistoryAdded {
            wp_id: wp_id.clone(),
            entry_type: EntryType::Note,
            entry_content: args.note.clone(),
            author: args.agent.clone().unwrap_or_else(|| "user".to_owned()),
        }],
        Causation::None,
    );
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
    /// Feature slug (default: detected).
    #[arg(long)]
    feature: Option<String>,
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
    let (_, feature) = feature_of(ctx, args.feature.as_deref())?;
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
    /// Feature slug (default: detected).
    #[arg(short = 'f', long)]
    feature: Option<String>,
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
    let (project, feature) = feature_of(ctx, args.feature.as_deref())?;
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
    /// Feature slug (default: detected).
    #[arg(long)]
    feature: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

fn validate_workflow(ctx: &Context, args: ValidateArgs) -> Result<(), CliError> {
    let wp_id = wp_arg(&args.wp)?;
    let (_, feature) = feature_of(ctx, args.feature.as_deref())?;
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
    /// Feature slug (default: detected).
    #[arg(long)]
    feature: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

fn list_dependents(ctx: &Context, args: DependentsArgs) -> Result<(), CliError> {
    let wp_id = wp_arg(&args.wp)?;
    let (_, feature) = feature_of(ctx, args.feature.as_deref())?;
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
