//! `spec-kitty agent workflow implement|review`: the commands agents run from slash-command templates to
//! start a phase of a work package. Each one claims the work package for the agent (lane `doing`, agent,
//! shell pid, an Activity Log line, a commit), makes sure the workspace exists, prints the work package's
//! prompt with the commands to run when done (and saves it to a temp file, as upstream does), and records an
//! ExecutionEvent for the phase (reference/workflow.md §4.9, telemetry.md §8).
//!
//! As upstream, neither command writes `status.events.jsonl` nor publishes WPStatusChanged: the lane change
//! is a frontmatter edit, and the next `move-task` bootstraps the status log from the frontmatter lane. A
//! failure is reported but, as upstream, not published as ErrorLogged.
//!
//! Differences from upstream, on purpose: `implement` checks that the dependencies are done and refuses a
//! work package that is waiting for review, done or canceled (`--force` overrides both); `review` refuses a
//! work package that is not in `for_review` instead of pulling it into `doing` from any lane; the workspace
//! is created in-process with `spec-kitty implement`'s rules but without its claim, so no WPStatusChanged is
//! sent; the next-step commands carry `--feature`; `--json` prints a result object instead of text.

use super::common::{
    TelemetryFlags, discover, json_aware, lock_feature, print_json_line, record_execution, resolve_feature,
};
use super::implement::{
    self, PreparedWorkspace, commit_or_warn, load_work_package, plan_workspace, record_paths, shell_pid,
};
use super::output;
use crate::context::Context;
use crate::error::CliError;
use crate::git::Repo;
use crate::project::{Feature, Project};
use crate::telemetry::Role;
use crate::workflow::activity::{ActivityEntry, append_activity};
use crate::workflow::lanes::Lane;
use crate::workflow::lock::FeatureLock;
use crate::workflow::workspace::{self, WORKTREES_DIR, Workspace, workspace_name};
use crate::workflow::wp::WorkPackage;
use clap::{Args, Subcommand};
use serde_json::json;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct WorkflowArgs {
    #[command(subcommand)]
    command: WorkflowCommand,
}

#[derive(Debug, Subcommand)]
enum WorkflowCommand {
    /// Start implementing a work package (lane doing, workspace ready) and print its prompt.
    Implement(ImplementArgs),
    /// Start reviewing a work package that is in for_review and print its prompt with the verdict commands.
    Review(ReviewArgs),
}

#[derive(Debug, Args)]
struct ImplementArgs {
    /// Work package (WP01, wp1, WP01-slug, …); default: the first one in lane planned.
    wp: Option<String>,
    /// Feature slug (default: detected from the branch, the directory, or the latest unfinished feature).
    #[arg(long)]
    feature: Option<String>,
    /// Work package whose branch the new workspace starts from (default: the only dependency), as
    /// `spec-kitty implement --base`.
    #[arg(long, value_name = "WP")]
    base: Option<String>,
    /// Start although dependencies are not done, or the work package is in for_review, done or canceled.
    #[arg(long)]
    force: bool,
    /// Print the result as JSON instead of the prompt.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    telemetry: TelemetryFlags,
}

#[derive(Debug, Args)]
struct ReviewArgs {
    /// Work package (WP01, wp1, WP01-slug, …); default: the first one in lane for_review.
    wp: Option<String>,
    /// Feature slug (default: detected from the branch, the directory, or the latest unfinished feature).
    #[arg(long)]
    feature: Option<String>,
    /// Print the result as JSON instead of the prompt.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    telemetry: TelemetryFlags,
}

pub fn run(ctx: &Context, args: WorkflowArgs) -> Result<(), CliError> {
    match args.command {
        WorkflowCommand::Implement(a) => json_aware(a.json, || start_implementation(ctx, &a)),
        WorkflowCommand::Review(a) => json_aware(a.json, || start_review(ctx, &a)),
    }
}

/// The two phases an agent starts with these commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Implement,
    Review,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Implement => "implement",
            Phase::Review => "review",
        }
    }

    fn gerund(self) -> &'static str {
        match self {
            Phase::Implement => "implementing",
            Phase::Review => "reviewing",
        }
    }

    fn role(self) -> Role {
        match self {
            Phase::Implement => Role::Implementer,
            Phase::Review => Role::Reviewer,
        }
    }

    fn commit_message(self, wp_id: &str, agent: &str) -> String {
        match self {
            Phase::Implement => format!("chore: Start {wp_id} implementation [{agent}]"),
            Phase::Review => format!("chore: Start {wp_id} review [{agent}]"),
        }
    }
}

/// What the command did to the work package before printing its prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Claim {
    /// Lane set to doing (with this Activity Log note).
    Started(&'static str),
    /// Already in progress with an agent: nothing to change.
    AlreadyStarted,
}

const STARTED_IMPLEMENTATION: &str = "Started implementation via workflow command";
const ASSIGNED_AGENT: &str = "Assigned agent via workflow command";
const STARTED_REVIEW: &str = "Started review via workflow command";

// ---------------------------------------------------------------------------------------------------
// implement

fn start_implementation(ctx: &Context, args: &ImplementArgs) -> Result<(), CliError> {
    let project = discover(ctx)?;
    let feature = resolve_feature(ctx, &project, args.feature.as_deref())?;
    // Held from reading the WP file until the claim is committed.
    let lock = lock_feature(ctx, &feature)?;
    let mut wp = match &args.wp {
        Some(id) => load_work_package(&feature, id)?,
        None => first_in_lane(&feature, Lane::Planned, Phase::Implement)?,
    };
    let lane = lane_of(&wp)?;
    check_implementable(&wp, lane, args.force)?;
    check_dependencies_done(&feature, &wp, args.force)?;
    let claim = implementation_claim(&wp, lane);
    let agent = required_agent(&args.telemetry, &claim, &wp, Phase::Implement)?;
    let repo = Repo::at(&project.root);
    let plan = plan_workspace(&project, repo.as_ref(), &feature, &wp, args.base.as_deref(), args.force)?;

    // Every check has passed: from here on we write.
    let prepared = plan.apply(ctx, &project, repo.as_ref(), &lock, &mut wp)?;
    if let Claim::Started(note) = claim {
        claim_for_agent(ctx, &lock, &mut wp, agent.unwrap_or_default(), note)?;
    }
    if let Some(repo) = &repo {
        commit_implementation_start(repo, &project, &feature, &wp, &prepared, &claim, agent.unwrap_or_default());
    }
    drop(lock);
    let context = PromptContext { project: &project, feature: &feature, wp: &wp, workspace: Some(&prepared.workspace) };
    finish(ctx, &context, Phase::Implement, &claim, &args.telemetry, args.json)
}

/// Commits the claim (`chore: Start WP01 implementation [agent]`), or only a newly recorded workspace base.
fn commit_implementation_start(
    repo: &Repo,
    project: &Project,
    feature: &Feature,
    wp: &WorkPackage,
    prepared: &PreparedWorkspace,
    claim: &Claim,
    agent: &str,
) {
    let message = match claim {
        Claim::Started(_) => Phase::Implement.commit_message(&wp.id, agent),
        Claim::AlreadyStarted if prepared.meta_changed || prepared.frontmatter_changed => {
            format!("chore: {} workspace base recorded", wp.id)
        }
        Claim::AlreadyStarted => return,
    };
    let paths = record_paths(repo, project, feature, wp, prepared.meta_changed, false);
    commit_or_warn(repo, project, &paths, &message);
}

/// Upstream starts any lane but `doing`; starting a work package that is waiting for review, done or
/// canceled is almost always a mistake, so it takes `--force`.
fn check_implementable(wp: &WorkPackage, lane: Lane, force: bool) -> Result<(), CliError> {
    if force || !matches!(lane, Lane::ForReview | Lane::Done | Lane::Canceled) {
        return Ok(());
    }
    let error = CliError::failure(format!(
        "{} is in lane {lane}; only planned or in-progress work packages are started",
        wp.id
    ));
    Err(match lane {
        Lane::ForReview => error
            .hint(format!("review it instead: spec-kitty agent workflow review {} --agent <name>", wp.id))
            .hint("or pass --force to implement it again"),
        _ => error.hint(format!("pass --force to reopen {}", wp.id)),
    })
}

/// Every dependency must be done before implementation starts (`--force` skips the check).
fn check_dependencies_done(feature: &Feature, wp: &WorkPackage, force: bool) -> Result<(), CliError> {
    let unfinished: Vec<String> = wp
        .dependencies()
        .iter()
        .filter_map(|dependency| match WorkPackage::load(&feature.dir, dependency).map(|d| d.lane()) {
            Ok(Ok(Lane::Done)) => None,
            Ok(Ok(lane)) => Some(format!("{dependency} ({lane})")),
            Ok(Err(_)) => Some(format!("{dependency} (unknown lane)")),
            Err(_) => Some(format!("{dependency} (no prompt file)")),
        })
        .collect();
    if unfinished.is_empty() || force {
        return Ok(());
    }
    Err(CliError::failure(format!("{} depends on work packages that are not done: {}", wp.id, unfinished.join(", ")))
        .hint("finish and review them first, or pass --force to start anyway"))
}

/// Upstream's rule: a work package not yet in `doing`, or one without an agent, is (re)claimed.
fn implementation_claim(wp: &WorkPackage, lane: Lane) -> Claim {
    match (lane, wp.doc.scalar("agent")) {
        (Lane::InProgress, Some(_)) => Claim::AlreadyStarted,
        (Lane::InProgress, None) => Claim::Started(ASSIGNED_AGENT),
        _ => Claim::Started(STARTED_IMPLEMENTATION),
    }
}

// ---------------------------------------------------------------------------------------------------
// review

fn start_review(ctx: &Context, args: &ReviewArgs) -> Result<(), CliError> {
    let project = discover(ctx)?;
    let feature = resolve_feature(ctx, &project, args.feature.as_deref())?;
    let lock = lock_feature(ctx, &feature)?;
    let mut wp = match &args.wp {
        Some(id) => load_work_package(&feature, id)?,
        None => first_in_lane(&feature, Lane::ForReview, Phase::Review)?,
    };
    let lane = lane_of(&wp)?;
    let claim = review_claim(&wp, lane, flag_agent(&args.telemetry))?;
    let agent = required_agent(&args.telemetry, &claim, &wp, Phase::Review)?;
    let repo = Repo::at(&project.root);

    let workspace = review_workspace(&project, repo.as_ref(), &feature, &wp)?;
    if let Claim::Started(note) = claim {
        let agent = agent.unwrap_or_default();
        claim_for_agent(ctx, &lock, &mut wp, agent, note)?;
        if let Some(repo) = &repo {
            let paths = record_paths(repo, &project, &feature, &wp, false, false);
            commit_or_warn(repo, &project, &paths, &Phase::Review.commit_message(&wp.id, agent));
        }
    }
    drop(lock);
    let context = PromptContext { project: &project, feature: &feature, wp: &wp, workspace: workspace.as_ref() };
    finish(ctx, &context, Phase::Review, &claim, &args.telemetry, args.json)
}

/// A review starts from `for_review`; re-running it by the agent already reviewing changes nothing.
fn review_claim(wp: &WorkPackage, lane: Lane, agent: Option<&str>) -> Result<Claim, CliError> {
    if lane == Lane::ForReview {
        return Ok(Claim::Started(STARTED_REVIEW));
    }
    if lane == Lane::InProgress && agent.is_some() && wp.doc.scalar("agent").as_deref() == agent {
        return Ok(Claim::AlreadyStarted);
    }
    let hint = match lane {
        Lane::InProgress | Lane::Planned | Lane::Claimed => {
            format!("when the implementation is ready: spec-kitty agent tasks move-task {} --to for_review", wp.id)
        }
        _ => "only work packages in lane for_review can be reviewed".to_owned(),
    };
    Err(CliError::failure(format!("{} is in lane {lane}, not for_review", wp.id)).hint(hint))
}

/// The workspace holding the work under review: the existing one, or (with git) a worktree recreated
/// for the work package's branch when only the branch is left. Never a new branch: there would be
/// nothing to review in it.
fn review_workspace(
    project: &Project,
    repo: Option<&Repo>,
    feature: &Feature,
    wp: &WorkPackage,
) -> Result<Option<Workspace>, CliError> {
    let name = workspace_name(&feature.slug, &wp.id);
    let exists = project.root.join(WORKTREES_DIR).join(&name).exists();
    let branch_left = repo.is_some_and(|r| r.branch_exists(&name));
    if !exists && !branch_left {
        return Ok(None);
    }
    workspace::create_workspace(project, repo, &feature.slug, &wp.id, &name)
        .map(Some)
        .map_err(|e| CliError::failure(e.to_string()))
}

// ---------------------------------------------------------------------------------------------------
// shared steps

fn lane_of(wp: &WorkPackage) -> Result<Lane, CliError> {
    wp.lane().map_err(|e| CliError::failure(e.to_string()).hint("fix the lane: line of the prompt file"))
}

fn first_in_lane(feature: &Feature, lane: Lane, phase: Phase) -> Result<WorkPackage, CliError> {
    WorkPackage::all(&feature.dir).into_iter().flatten().find(|wp| wp.lane().ok() == Some(lane)).ok_or_else(|| {
        CliError::failure(format!("no work package of {} is in lane {lane}", feature.slug))
            .hint(format!("name one: spec-kitty agent workflow {} WPxx --agent <name>", phase.name()))
    })
}

fn flag_agent(telemetry: &TelemetryFlags) -> Option<&str> {
    telemetry.agent.as_deref().map(str::trim).filter(|agent| !agent.is_empty())
}

/// `--agent` is required whenever the work package is claimed: it records who works on it.
fn required_agent<'a>(
    telemetry: &'a TelemetryFlags,
    claim: &Claim,
    wp: &WorkPackage,
    phase: Phase,
) -> Result<Option<&'a str>, CliError> {
    let agent = flag_agent(telemetry);
    if agent.is_none() && matches!(claim, Claim::Started(_)) {
        return Err(CliError::failure(format!("--agent is required to start {} {}", phase.gerund(), wp.id))
            .hint(format!("spec-kitty agent workflow {} {} --agent <your-name> (e.g. claude)", phase.name(), wp.id))
            .hint("it records who is working on the work package, so abandoned work can be spotted"));
    }
    Ok(agent)
}

/// Moves the work package to `doing` for `agent`, with the shell pid and an Activity Log line.
fn claim_for_agent(
    ctx: &Context,
    lock: &FeatureLock,
    wp: &mut WorkPackage,
    agent: &str,
    note: &str,
) -> Result<(), CliError> {
    let pid = shell_pid();
    wp.doc.set_scalar("lane", "doing");
    wp.doc.set_scalar("agent", agent);
    wp.doc.set_scalar("shell_pid", &pid);
    let entry = ActivityEntry {
        timestamp: ActivityEntry::timestamp_at(ctx.now()),
        agent: agent.to_owned(),
        shell_pid: Some(pid),
        lane: "doing".to_owned(),
        note: note.to_owned(),
    };
    let body = append_activity(wp.doc.body(), &entry);
    wp.doc.set_body(body);
    implement::save(lock, wp)
}

/// Saves the prompt, records the phase's ExecutionEvent, and prints the prompt (or the JSON result).
fn finish(
    ctx: &Context,
    context: &PromptContext<'_>,
    phase: Phase,
    claim: &Claim,
    telemetry: &TelemetryFlags,
    json: bool,
) -> Result<(), CliError> {
    let (wp, feature) = (context.wp, context.feature);
    let prompt = context.render(phase);
    let prompt_file = save_prompt(phase, &feature.slug, &wp.id, &prompt);
    // Upstream records every start, with the agent or "unknown".
    record_execution(ctx, context.project, &feature.slug, telemetry.record(phase.role(), &wp.id, None));
    if json {
        return print_json_line(&json!({
            "result": "success",
            "wp_id": wp.id,
            "feature": feature.slug,
            "lane": lane_of(wp)?.as_str(),
            "agent": wp.doc.scalar("agent"),
            "prompt_file": prompt_file.as_ref().map(|p| p.display().to_string()),
            "workspace": context.workspace.map(|w| w.relative.clone()),
        }));
    }
    let status = match claim {
        Claim::Started(_) => format!(
            "✓ {} started ({}): lane doing, agent {}\n\n",
            wp.id,
            phase.name(),
            wp.doc.scalar("agent").unwrap_or_default()
        ),
        Claim::AlreadyStarted => format!(
            "ℹ {} is already in progress (agent {}); nothing changed\n\n",
            wp.id,
            wp.doc.scalar("agent").unwrap_or_default()
        ),
    };
    let mut text = status + &prompt;
    if let Some(path) = &prompt_file {
        text.push_str(&format!("\nPrompt saved to {}\n", path.display()));
    }
    if let Some(workspace) = context.workspace {
        text.push_str(&format!("Workspace: cd {}\n", workspace.path.display()));
    }
    output::print(&text)?;
    Ok(())
}

/// Writes the prompt to `<temp>/spec-kitty-<phase>-<feature>-<WP>.md` (upstream does this for agents whose
/// tool output is truncated). A write failure is a warning: the prompt is printed anyway.
fn save_prompt(phase: Phase, feature_slug: &str, wp_id: &str, prompt: &str) -> Option<PathBuf> {
    let path = std::env::temp_dir().join(format!("spec-kitty-{}-{feature_slug}-{wp_id}.md", phase.name()));
    match crate::fsutil::write_atomic(&path, prompt.as_bytes()) {
        Ok(()) => Some(path),
        Err(e) => {
            output::warn(&format!("cannot save the prompt to {}: {e}", path.display()));
            None
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// the prompt

const RULE: &str = "================================================================================";

struct PromptContext<'a> {
    project: &'a Project,
    feature: &'a Feature,
    wp: &'a WorkPackage,
    workspace: Option<&'a Workspace>,
}

impl PromptContext<'_> {
    fn render(&self, phase: Phase) -> String {
        let mut lines = self.header(phase);
        lines.push(box_line("WORK PACKAGE PROMPT BEGINS"));
        lines.push(String::new());
        let content = self.wp.doc.render();
        lines.push(content.strip_suffix('\n').unwrap_or(&content).to_owned());
        lines.push(String::new());
        lines.push(box_line("WORK PACKAGE PROMPT ENDS"));
        lines.push(String::new());
        lines.extend(match phase {
            Phase::Implement => self.implement_next_steps(),
            Phase::Review => self.review_next_steps(),
        });
        lines.join("\n") + "\n"
    }

    fn header(&self, phase: Phase) -> Vec<String> {
        let wp = self.wp;
        let mut lines = vec![
            RULE.to_owned(),
            format!("{}: {} – {}", phase.name().to_uppercase(), wp.id, wp.title()),
            RULE.to_owned(),
            String::new(),
            format!("Feature:   {}", self.feature.slug),
            format!("Source:    {}", wp.path.display()),
        ];
        match self.workspace {
            Some(ws) => lines.push(format!("Workspace: {}{}", ws.path.display(), branch_note(ws))),
            None => lines.push(format!("Workspace: none (work in {})", self.project.root.display())),
        }
        lines.push(String::new());
        if phase == Phase::Review {
            lines.extend(self.waiting_dependents());
        }
        lines.push(format!(
            "You own {0} only: change the status of no other work package, and ignore commits and status",
            wp.id
        ));
        lines.push("changes made by other agents working in parallel.".to_owned());
        if wp.doc.scalar("review_status").as_deref() == Some("has_feedback") {
            lines.push(String::new());
            lines.push("⚠️  This work package has review feedback: see its '## Review Feedback' section.".to_owned());
        }
        lines.push(String::new());
        lines
    }

    /// Work packages that depend on this one and are not done: a rejection delays them.
    fn waiting_dependents(&self) -> Vec<String> {
        let waiting: Vec<String> = WorkPackage::all(&self.feature.dir)
            .into_iter()
            .flatten()
            .filter(|other| other.dependencies().contains(&self.wp.id))
            .filter(|other| !matches!(other.lane(), Ok(Lane::Done | Lane::Canceled)))
            .map(|other| other.id)
            .collect();
        if waiting.is_empty() {
            return Vec::new();
        }
        let verbs = if waiting.len() == 1 { "depends on {} and is" } else { "depend on {} and are" };
        vec![
            format!("⚠️  {} {} not done yet.", waiting.join(", "), verbs.replace("{}", &self.wp.id)),
            "   If you request changes, tell their implementers to rebase once it is fixed.".to_owned(),
            String::new(),
        ]
    }

    fn implement_next_steps(&self) -> Vec<String> {
        let (wp, feature) = (&self.wp.id, &self.feature.slug);
        let subtasks =
            self.wp.doc.list("subtasks").filter(|s| !s.is_empty()).map_or("T001 T002 …".to_owned(), |s| s.join(" "));
        let mut steps: Vec<[String; 2]> = Vec::new();
        if let Some(ws) = self.workspace.filter(|ws| ws.branch.is_some()) {
            steps.push([
                "Commit your work in the workspace (not the work-package status files):".to_owned(),
                format!("cd {} && git add <files> && git commit -m \"feat({wp}): <summary>\"", ws.path.display()),
            ]);
        }
        steps.push([
            "Mark the subtasks done:".to_owned(),
            format!("spec-kitty agent tasks mark-status {subtasks} --status done --feature {feature}"),
        ]);
        steps.push([
            "Hand the work package to review:".to_owned(),
            format!("spec-kitty agent tasks move-task {wp} --to for_review --feature {feature} --note \"Ready for review: <summary>\""),
        ]);
        let mut lines = vec![RULE.to_owned(), "WHEN YOU ARE DONE".to_owned(), RULE.to_owned()];
        for (number, [what, command]) in steps.iter().enumerate() {
            lines.push(format!("{}. {what}", number + 1));
            lines.push(format!("     {command}"));
        }
        lines.push(String::new());
        lines.push("Blocked? Record why:".to_owned());
        lines.push(format!(
            "     spec-kitty agent tasks add-history {wp} --feature {feature} --note \"Blocked: <reason>\""
        ));
        lines.push(RULE.to_owned());
        lines
    }

    fn review_next_steps(&self) -> Vec<String> {
        let (wp, feature) = (&self.wp.id, &self.feature.slug);
        let feedback = review_feedback_path(feature, wp);
        vec![
            RULE.to_owned(),
            "WHEN YOU ARE DONE, RUN ONE OF THESE".to_owned(),
            RULE.to_owned(),
            "✅ Approve (no issues found):".to_owned(),
            format!(
                "     spec-kitty agent tasks move-task {wp} --to done --feature {feature} --note \"Review passed: <summary>\""
            ),
            String::new(),
            "❌ Request changes:".to_owned(),
            format!("     1. Write the feedback (what is wrong and how to fix it) to {}", feedback.display()),
            format!(
                "     2. spec-kitty agent tasks move-task {wp} --to planned --feature {feature} --review-feedback-file {}",
                feedback.display()
            ),
            RULE.to_owned(),
        ]
    }
}

fn branch_note(workspace: &Workspace) -> String {
    workspace.branch.as_ref().map_or(String::new(), |branch| format!(" (branch {branch})"))
}

/// Where the review prompt asks the reviewer to write feedback (per feature and WP, so agents working in
/// parallel do not overwrite each other's).
fn review_feedback_path(feature_slug: &str, wp_id: &str) -> PathBuf {
    std::env::temp_dir().join(format!("spec-kitty-review-feedback-{feature_slug}-{wp_id}.md"))
}

/// A three-line box around `title`, 80 columns wide.
fn box_line(title: &str) -> String {
    let inner = 78;
    let padded = format!("  {title}");
    let padding = inner - padded.chars().count().min(inner);
    format!("╔{0}╗\n║{padded}{1}║\n╚{0}╝", "═".repeat(inner), " ".repeat(padding))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::frontmatter::WpDocument;

    fn wp(frontmatter: &str) -> WorkPackage {
        let doc = WpDocument::parse(&format!("---\n{frontmatter}---\nbody\n")).unwrap();
        WorkPackage { id: "WP01".into(), path: PathBuf::from("WP01-a.md"), doc }
    }

    #[test]
    fn implementation_claims_follow_upstreams_rule() {
        let planned = wp("lane: planned\n");
        assert_eq!(implementation_claim(&planned, Lane::Planned), Claim::Started(STARTED_IMPLEMENTATION));
        let doing = wp("lane: doing\nagent: claude\n");
        assert_eq!(implementation_claim(&doing, Lane::InProgress), Claim::AlreadyStarted);
        let doing_without_agent = wp("lane: doing\nagent: ''\n");
        assert_eq!(implementation_claim(&doing_without_agent, Lane::InProgress), Claim::Started(ASSIGNED_AGENT));
    }

    #[test]
    fn reviews_start_from_for_review_or_resume_for_the_same_agent() {
        let ready = wp("lane: for_review\n");
        assert_eq!(review_claim(&ready, Lane::ForReview, None).unwrap(), Claim::Started(STARTED_REVIEW));
        let reviewing = wp("lane: doing\nagent: codex\n");
        assert_eq!(review_claim(&reviewing, Lane::InProgress, Some("codex")).unwrap(), Claim::AlreadyStarted);
        let error = review_claim(&reviewing, Lane::InProgress, Some("claude")).unwrap_err();
        assert_eq!(error.message, "WP01 is in lane in_progress, not for_review");
        assert!(review_claim(&wp("lane: done\n"), Lane::Done, Some("codex")).is_err());
    }

    #[test]
    fn terminal_and_review_lanes_need_force_to_implement() {
        let item = wp("lane: done\n");
        assert!(check_implementable(&item, Lane::Done, false).is_err());
        assert!(check_implementable(&item, Lane::Done, true).is_ok());
        assert!(check_implementable(&item, Lane::ForReview, false).unwrap_err().hints[0].contains("workflow review"));
        for lane in [Lane::Planned, Lane::Claimed, Lane::InProgress, Lane::Blocked] {
            assert!(check_implementable(&item, lane, false).is_ok(), "{lane}");
        }
    }

    #[test]
    fn boxes_are_eighty_columns() {
        let text = box_line("WORK PACKAGE PROMPT BEGINS");
        assert!(text.lines().all(|line| line.chars().count() == 80), "{text}");
    }
}
