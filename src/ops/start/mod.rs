//! Starting a phase of a work package (`agent workflow implement|review`): the checks, the claim (lane
//! `doing`, agent, shell pid, an Activity Log line, a commit), the workspace, and the phase's
//! ExecutionEvent when the agent reported usage; then the prompt, saved to a temp file as upstream does
//! for agents whose tool output is truncated.
//!
//! As upstream, neither phase writes `status.events.jsonl` nor publishes WPStatusChanged: the lane change
//! is a frontmatter edit, and the next `move-task` bootstraps the status log from the frontmatter lane.
//!
//! Differences from upstream, on purpose: `implement` checks that the dependencies are done and refuses a
//! work package that is waiting for review, done or canceled (`force` overrides both); `review` refuses a
//! work package that is not in `for_review` instead of pulling it into `doing` from any lane; the workspace
//! is created with `spec-kitty implement`'s rules but without its claim, so no WPStatusChanged is sent.

mod prompt;

use super::workspace::{Base, commit_or_warning, load_work_package, plan_workspace, record_paths, save, shell_pid};
use super::{OpError, Scope};
use crate::git::Repo;
use crate::project::{Feature, Project};
use crate::telemetry::{Role, Usage};
use crate::workflow::activity::{ActivityEntry, append_activity};
use crate::workflow::lanes::Lane;
use crate::workflow::lock::FeatureLock;
use crate::workflow::workspace::{self, WORKTREES_DIR, Workspace, workspace_name};
use crate::workflow::wp::WorkPackage;
use chrono::{DateTime, Utc};

#[derive(Debug, Clone)]
pub struct Start {
    pub phase: Phase,
    /// The work package (WP01, wp1, WP01-slug, …); default: the first one in the phase's starting lane.
    pub wp: Option<String>,
    /// Who works on it (required when the work package is claimed).
    pub agent: Option<String>,
    /// `implement` only: the work package whose branch a new workspace starts from.
    pub base: Option<String>,
    /// `implement` only: start although dependencies are not done, or from for_review, done or canceled.
    pub force: bool,
    pub usage: Usage,
    pub at: DateTime<Utc>,
}

#[derive(Debug)]
pub struct Started {
    pub wp: WorkPackage,
    pub workspace: Option<Workspace>,
    pub claim: Claim,
    pub warnings: Vec<String>,
    /// What the agent is to read: the prompt file with the phase's banners and next steps.
    pub prompt: String,
    /// Where the prompt was saved (`None` when it could not be; a warning says why).
    pub prompt_file: Option<std::path::PathBuf>,
}

/// Starts `request.phase` of a work package. Every check runs before anything is written.
pub fn start(scope: &Scope<'_>, request: &Start) -> Result<Started, OpError> {
    let (project, feature) = (scope.project, scope.feature);
    let phase = request.phase;
    // Held from reading the WP file until the claim is committed.
    let lock = scope.lock()?;
    let mut wp = match &request.wp {
        Some(id) => load_work_package(feature, id)?,
        None => first_in_lane(feature, phase.starting_lane(), phase)?,
    };
    let lane = lane_of(&wp)?;
    let repo = scope.repo.as_ref();
    let mut warnings = Vec::new();
    let (claim, workspace) = match phase {
        Phase::Implement => {
            check_implementable(&wp, lane, request.force)?;
            check_dependencies_done(feature, &wp, request.force)?;
            let claim = implementation_claim(&wp, lane);
            let agent = required_agent(request.agent.as_deref(), &claim, &wp, phase)?;
            let plan =
                plan_workspace(project, repo, feature, &wp, Base::from_flag(request.base.as_deref()), request.force)?;
            warnings.extend(plan.warnings.iter().cloned());
            // Every check has passed: from here on we write.
            let prepared = plan.apply(scope.ctx, project, repo, &lock, &mut wp)?;
            if let Claim::Started(note) = claim {
                claim_for_agent(request.at, &lock, &mut wp, agent.unwrap_or_default(), note)?;
            }
            let message = match claim {
                Claim::Started(_) => Some(phase.commit_message(&wp.id, agent.unwrap_or_default())),
                Claim::AlreadyStarted if prepared.meta_changed || prepared.frontmatter_changed => {
                    Some(format!("chore: {} workspace base recorded", wp.id))
                }
                Claim::AlreadyStarted => None,
            };
            if let (Some(repo), Some(message)) = (repo, message) {
                let paths = record_paths(repo, project, feature, &wp, prepared.meta_changed, false);
                warnings.extend(commit_or_warning(repo, project, &paths, &message));
            }
            (claim, Some(prepared.workspace))
        }
        Phase::Review => {
            let claim = review_claim(&wp, lane, trimmed(request.agent.as_deref()))?;
            let agent = required_agent(request.agent.as_deref(), &claim, &wp, phase)?;
            let workspace = review_workspace(project, repo, feature, &wp)?;
            if let Claim::Started(note) = claim {
                let agent = agent.unwrap_or_default();
                claim_for_agent(request.at, &lock, &mut wp, agent, note)?;
                if let Some(repo) = repo {
                    let paths = record_paths(repo, project, feature, &wp, false, false);
                    warnings.extend(commit_or_warning(repo, project, &paths, &phase.commit_message(&wp.id, agent)));
                }
            }
            (claim, workspace)
        }
    };
    drop(lock);
    // Upstream records every start (with the agent or "unknown"); we record it when usage was reported.
    warnings.extend(scope.record_usage(request.usage.record(phase.role(), &wp.id, None)));
    let prompt = prompt::PromptContext { project, feature, wp: &wp, workspace: workspace.as_ref() }.render(phase);
    let prompt_file = prompt::save(phase, &feature.slug, &wp.id, &prompt, &mut warnings);
    Ok(Started { wp, workspace, claim, warnings, prompt, prompt_file })
}

/// The two phases an agent starts with these commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Implement,
    Review,
}

impl Phase {
    /// Where a work package waits for this phase (the default when none is named).
    fn starting_lane(self) -> Lane {
        match self {
            Phase::Implement => Lane::Planned,
            Phase::Review => Lane::ForReview,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Phase::Implement => "implement",
            Phase::Review => "review",
        }
    }

    pub fn gerund(self) -> &'static str {
        match self {
            Phase::Implement => "implementing",
            Phase::Review => "reviewing",
        }
    }

    pub fn role(self) -> Role {
        match self {
            Phase::Implement => Role::Implementer,
            Phase::Review => Role::Reviewer,
        }
    }

    pub fn commit_message(self, wp_id: &str, agent: &str) -> String {
        match self {
            Phase::Implement => format!("chore: Start {wp_id} implementation [{agent}]"),
            Phase::Review => format!("chore: Start {wp_id} review [{agent}]"),
        }
    }
}

/// What the command did to the work package before printing its prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Lane set to doing (with this Activity Log note).
    Started(&'static str),
    /// Already in progress with an agent: nothing to change.
    AlreadyStarted,
}

const STARTED_IMPLEMENTATION: &str = "Started implementation via workflow command";
const ASSIGNED_AGENT: &str = "Assigned agent via workflow command";
const STARTED_REVIEW: &str = "Started review via workflow command";

/// Upstream starts any lane but `doing`; starting a work package that is waiting for review, done or
/// canceled is almost always a mistake, so it takes `--force`.
fn check_implementable(wp: &WorkPackage, lane: Lane, force: bool) -> Result<(), OpError> {
    if force || !matches!(lane, Lane::ForReview | Lane::Done | Lane::Canceled) {
        return Ok(());
    }
    let error =
        OpError::new(format!("{} is in lane {lane}; only planned or in-progress work packages are started", wp.id));
    Err(match lane {
        Lane::ForReview => error
            .hint(format!("review it instead: spec-kitty agent workflow review {} --agent <name>", wp.id))
            .hint("or pass --force to implement it again"),
        _ => error.hint(format!("pass --force to reopen {}", wp.id)),
    })
}

/// Every dependency must be done before implementation starts (`--force` skips the check).
fn check_dependencies_done(feature: &Feature, wp: &WorkPackage, force: bool) -> Result<(), OpError> {
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
    Err(OpError::new(format!("{} depends on work packages that are not done: {}", wp.id, unfinished.join(", ")))
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

/// A review starts from `for_review`; re-running it by the agent already reviewing changes nothing.
fn review_claim(wp: &WorkPackage, lane: Lane, agent: Option<&str>) -> Result<Claim, OpError> {
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
    Err(OpError::new(format!("{} is in lane {lane}, not for_review", wp.id)).hint(hint))
}

/// The workspace holding the work under review: the existing one, or (with git) a worktree recreated
/// for the work package's branch when only the branch is left. Never a new branch: there would be
/// nothing to review in it.
fn review_workspace(
    project: &Project,
    repo: Option<&Repo>,
    feature: &Feature,
    wp: &WorkPackage,
) -> Result<Option<Workspace>, OpError> {
    let name = workspace_name(&feature.slug, &wp.id);
    let exists = project.root.join(WORKTREES_DIR).join(&name).exists();
    let branch_left = repo.is_some_and(|r| r.branch_exists(&name));
    if !exists && !branch_left {
        return Ok(None);
    }
    workspace::create_workspace(project, repo, &feature.slug, &wp.id, &name).map(Some).map_err(OpError::from)
}

pub fn lane_of(wp: &WorkPackage) -> Result<Lane, OpError> {
    wp.lane().map_err(|e| OpError::new(e.to_string()).hint("fix the lane: line of the prompt file"))
}

fn first_in_lane(feature: &Feature, lane: Lane, phase: Phase) -> Result<WorkPackage, OpError> {
    WorkPackage::all(&feature.dir).into_iter().flatten().find(|wp| wp.lane().ok() == Some(lane)).ok_or_else(|| {
        OpError::new(format!("no work package of {} is in lane {lane}", feature.slug))
            .hint(format!("name one: spec-kitty agent workflow {} WPxx --agent <name>", phase.name()))
    })
}

fn trimmed(agent: Option<&str>) -> Option<&str> {
    agent.map(str::trim).filter(|agent| !agent.is_empty())
}

/// `--agent` is required whenever the work package is claimed: it records who works on it.
fn required_agent<'a>(
    agent: Option<&'a str>,
    claim: &Claim,
    wp: &WorkPackage,
    phase: Phase,
) -> Result<Option<&'a str>, OpError> {
    let agent = trimmed(agent);
    if agent.is_none() && matches!(claim, Claim::Started(_)) {
        return Err(OpError::new(format!("--agent is required to start {} {}", phase.gerund(), wp.id))
            .hint(format!("spec-kitty agent workflow {} {} --agent <your-name> (e.g. claude)", phase.name(), wp.id))
            .hint("it records who is working on the work package, so abandoned work can be spotted"));
    }
    Ok(agent)
}

/// Moves the work package to `doing` for `agent`, with the shell pid and an Activity Log line.
fn claim_for_agent(
    at: DateTime<Utc>,
    lock: &FeatureLock,
    wp: &mut WorkPackage,
    agent: &str,
    note: &str,
) -> Result<(), OpError> {
    let pid = shell_pid();
    wp.doc.set_scalar("lane", "doing");
    wp.doc.set_scalar("agent", agent);
    wp.doc.set_scalar("shell_pid", &pid);
    let entry = ActivityEntry {
        timestamp: ActivityEntry::timestamp_at(at),
        agent: agent.to_owned(),
        shell_pid: Some(pid),
        lane: "doing".to_owned(),
        note: note.to_owned(),
    };
    let body = append_activity(wp.doc.body(), &entry);
    wp.doc.set_body(body);
    save(lock, wp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::frontmatter::WpDocument;
    use std::path::PathBuf;

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
}
