//! Moving a work package between lanes: upstream's `move-task` pipeline (reference/workflow.md §4.1),
//! as one transaction under the feature's status lock.
//!
//! Order of work: validate everything that can fail (the WP file, feedback, subtasks, every hop's
//! guard) before writing anything; then append the status events, re-materialise `status.json`,
//! rewrite the moved WP's frontmatter and Activity Log, and refresh the status block in `tasks.md`.
//! The caller holds the feature lock ([`FeatureLock`]) across all of it — from reading the WP file to
//! writing the views — so two processes moving WPs of one feature (or one moving while another adds
//! history) never lose an event, interleave their views, or write back a stale copy of the WP file.

use super::activity::{self, ActivityEntry};
use super::lanes::{Lane, TransitionContext, TransitionError, forward_chain, validate_transition};
use super::lock::{FeatureLock, LockError};
use super::status::{self, StatusError, StatusEvent, StatusSnapshot};
use super::tasks_md;
use super::wp::{WorkPackage, WpError};
use crate::events::{EventId, Timestamp};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// Review feedback given when a review sends work back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feedback {
    /// Absolute path of the feedback file (recorded in the WP and as the review reference).
    pub path: PathBuf,
    pub content: String,
}

#[derive(Debug, thiserror::Error)]
pub enum FeedbackError {
    #[error("cannot read review feedback {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("review feedback file {} is empty", .0.display())]
    Empty(PathBuf),
}

impl crate::error::Diagnose for FeedbackError {
    fn hints(&self) -> Vec<String> {
        vec!["write the reviewer's notes into the file given to --review-feedback-file".into()]
    }
}

impl Feedback {
    /// Reads a feedback file (which must say something).
    pub fn read(path: &Path) -> Result<Feedback, FeedbackError> {
        let content = crate::fsutil::read_small_string(path, crate::fsutil::SMALL_FILE_CAP)
            .map_err(|source| FeedbackError::Read { path: path.to_owned(), source })?;
        if content.trim().is_empty() {
            return Err(FeedbackError::Empty(path.to_owned()));
        }
        Ok(Feedback { path: path.to_owned(), content })
    }
}

/// A lane move as a command or the orchestrator asks for it.
#[derive(Debug, Clone)]
pub struct MoveRequest {
    pub wp_id: String,
    pub to: Lane,
    /// Who moves it: the status events' actor (default "user") and the WP's `agent`.
    pub agent: Option<String>,
    pub assignee: Option<String>,
    pub shell_pid: Option<String>,
    pub note: Option<String>,
    /// The reviewer's feedback when a review sends the work back.
    pub feedback: Option<Feedback>,
    pub approval_ref: Option<String>,
    /// Recorded in done evidence (default: git's `user.name`, else "unknown"; see [`MoveSite`]).
    pub reviewer: Option<String>,
    /// Move directly, bypassing the transition rules and the pre-review checks (needs a note).
    pub force: bool,
    pub at: DateTime<Utc>,
}

/// What the caller resolved about where the move happens.
#[derive(Debug, Clone, Copy)]
pub struct MoveSite<'a> {
    pub feature_slug: &'a str,
    /// The request's reviewer, else the default the caller chose.
    pub reviewer: &'a str,
    /// `worktree` when the WP has a workspace, else `direct_repo`.
    pub execution_mode: &'static str,
}

#[derive(Debug, Clone)]
pub struct MoveOutcome {
    pub wp_id: String,
    pub old_lane: Lane,
    pub new_lane: Lane,
    /// The status events appended (bootstrap/sync first, then each hop).
    pub events: Vec<StatusEvent>,
    pub snapshot: StatusSnapshot,
    pub path: PathBuf,
    /// The agent recorded on the WP after the move (flag, else frontmatter).
    pub agent: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Wp(#[from] WpError),
    #[error(transparent)]
    Status(#[from] StatusError),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error("Agent mismatch: {wp} is assigned to '{assigned}', not '{requested}'. Use --force to take it over.")]
    AgentMismatch { wp: String, assigned: String, requested: String },
    #[error(
        "❌ Moving {wp} to 'planned' requires review feedback: pass --review-feedback-file with the reviewer's notes (or --force with --note)"
    )]
    FeedbackRequired { wp: String },
    #[error("{wp} has unchecked subtasks in tasks.md: {}. Check them off (agent tasks mark-status … --status done) or use --force", .items.join("; "))]
    UncheckedSubtasks { wp: String, items: Vec<String> },
    #[error("{wp} is already in lane {lane}")]
    AlreadyThere { wp: String, lane: Lane },
    #[error("cannot update {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
}

impl crate::error::Diagnose for MoveError {
    fn hints(&self) -> Vec<String> {
        match self {
            MoveError::Lock(e) => e.hints(),
            MoveError::Transition(_) | MoveError::AlreadyThere { .. } => {
                vec!["see `spec-kitty agent tasks status` for the current lanes".into()]
            }
            MoveError::Status(e) => e.hints(),
            _ => Vec::new(),
        }
    }
}

/// Moves one work package of the locked feature. Nothing is written unless every check passes.
pub fn move_task(
    lock: &FeatureLock,
    request: &MoveRequest,
    site: MoveSite<'_>,
    new_id: impl FnMut() -> EventId,
) -> Result<MoveOutcome, MoveError> {
    let feature_dir = lock.feature_dir();
    let mut wp = WorkPackage::load(feature_dir, &request.wp_id)?;
    let old_lane = wp.lane()?;
    check_request(feature_dir, request, &wp, old_lane)?;

    let log_existed = status::events_path(feature_dir).exists();
    let mut locked = status::lock(lock)?;
    let events = match plan_events(request, site, feature_dir, &wp, old_lane, &locked, new_id) {
        Ok(events) => events,
        Err(error) => {
            drop(locked);
            remove_if_created_empty(&status::events_path(feature_dir), log_existed);
            return Err(error);
        }
    };
    let now = Timestamp::from_utc(request.at);
    locked.append(&events)?;
    let snapshot = locked.materialize_and_write(now)?;

    update_wp_file(request, site, &mut wp, old_lane);
    wp.save(lock)?;
    refresh_status_block(lock, &snapshot)?;
    let agent = wp.doc.scalar("agent");
    drop(locked);
    Ok(MoveOutcome {
        wp_id: wp.id.clone(),
        old_lane,
        new_lane: request.to,
        events,
        snapshot,
        path: wp.path.clone(),
        agent,
    })
}

/// Checks that need only the request and the WP file.
fn check_request(feature_dir: &Path, request: &MoveRequest, wp: &WorkPackage, old_lane: Lane) -> Result<(), MoveError> {
    if request.force {
        // A forced move skips every rule, so the reason is the only audit trail left (upstream's status
        // model requires it; its CLI quietly filled in a placeholder instead).
        if request.note.as_deref().is_none_or(|n| n.trim().is_empty()) {
            return Err(MoveError::Transition(TransitionError::ForceNeedsActorAndReason));
        }
        return Ok(());
    }
    if request.to == Lane::InProgress
        && let (Some(requested), Some(assigned)) = (request.agent.as_deref(), wp.doc.scalar("agent"))
        && !assigned.trim().is_empty()
        && assigned != requested
        && old_lane == Lane::InProgress
    {
        return Err(MoveError::AgentMismatch { wp: wp.id.clone(), assigned, requested: requested.to_owned() });
    }
    if request.to == Lane::Planned && request.feedback.as_ref().is_none_or(|f| f.content.trim().is_empty()) {
        return Err(MoveError::FeedbackRequired { wp: wp.id.clone() });
    }
    if matches!(request.to, Lane::ForReview | Lane::Done) {
        let tasks = crate::fsutil::read_small_string(&feature_dir.join("tasks.md"), crate::fsutil::LARGE_FILE_CAP)
            .unwrap_or_default();
        let items = tasks_md::unchecked_subtasks(&tasks, &wp.id);
        if !items.is_empty() {
            return Err(MoveError::UncheckedSubtasks { wp: wp.id.clone(), items });
        }
    }
    if old_lane == request.to {
        return Err(MoveError::AlreadyThere { wp: wp.id.clone(), lane: old_lane });
    }
    Ok(())
}

/// The events to append: a forced bootstrap/sync event when the frontmatter lane is ahead of the log,
/// then one event per hop (all validated against the matrix and guards).
fn plan_events(
    request: &MoveRequest,
    site: MoveSite<'_>,
    feature_dir: &Path,
    wp: &WorkPackage,
    old_lane: Lane,
    locked: &status::LockedStatus,
    mut new_id: impl FnMut() -> EventId,
) -> Result<Vec<StatusEvent>, MoveError> {
    let actor = request.agent.clone().filter(|a| !a.trim().is_empty()).unwrap_or_else(|| "user".to_owned());
    let logged_lane = locked.current_lane(&wp.id);
    let mut has_history = locked.events().iter().any(|e| e.wp_id == wp.id);
    // Each event gets its own instant (one microsecond apart), as upstream's successive `now()` calls do:
    // the reducer breaks ties between equal instants in favour of review rollbacks, which would otherwise
    // reorder the hops of one move.
    // They also come after every event already logged for the WP: the reducer orders by time, and a
    // process that read the clock before waiting for the lock would otherwise slip its move in before
    // the one that held the lock, leaving the log's lane behind the frontmatter's.
    let one = chrono::Duration::microseconds(1);
    let start = locked.latest_at(&wp.id).map_or(request.at, |latest| request.at.max(latest + one));
    let mut sequence = 0i64;
    let mut next_at = || {
        sequence += 1;
        Timestamp::from_utc(start + one * (sequence - 1) as i32)
    };
    let event = |from: Lane, to: Lane, force: bool, reason: String, id: EventId, at: Timestamp| StatusEvent {
        actor: actor.clone(),
        at,
        event_id: id,
        evidence: None,
        execution_mode: site.execution_mode.to_owned(),
        feature_slug: site.feature_slug.to_owned(),
        force,
        from_lane: from,
        policy_metadata: None,
        reason: Some(reason),
        review_ref: None,
        to_lane: to,
        wp_id: wp.id.clone(),
    };

    let mut events = Vec::new();
    if old_lane != Lane::Planned && logged_lane != Some(old_lane) {
        let kind = if logged_lane.is_none() { "bootstrap" } else { "sync" };
        let reason = format!("{kind} from frontmatter lane {old_lane} before move-task transition");
        events.push(event(logged_lane.unwrap_or(Lane::Planned), old_lane, true, reason, new_id(), next_at()));
        has_history = true;
    }

    let reason = request.note.clone().filter(|n| !n.trim().is_empty()).unwrap_or_else(|| {
        if request.force {
            format!("Force move to {}", request.to)
        } else {
            format!("move-task: {old_lane} -> {}", request.to)
        }
    });
    let hops = match (request.force, old_lane, request.to) {
        (true, _, to) => vec![to],
        // A rejected review sent back to planned: the matrix has no for_review → planned edge, so it goes
        // through in_progress (the review hop carries the feedback as review_ref).
        (false, Lane::ForReview, Lane::Planned) => vec![Lane::InProgress, Lane::Planned],
        (false, from, to) => forward_chain(from, to),
    };
    let tasks = crate::fsutil::read_small_string(&feature_dir.join("tasks.md"), crate::fsutil::LARGE_FILE_CAP).ok();
    let workspace_context = format!("{}-{}", site.feature_slug, wp.id);
    let mut from = old_lane;
    for to in hops {
        let mut next = event(from, to, request.force, reason.clone(), new_id(), next_at());
        next.review_ref = review_ref(request, from, to);
        if matches!(to, Lane::Done | Lane::Approved) {
            next.evidence = Some(review_evidence(request, site, &wp.id));
        }
        let subtasks_complete = tasks.as_deref().is_none_or(|t| tasks_md::subtasks_complete(t, &wp.id));
        let context = TransitionContext {
            force: request.force,
            actor: Some(&actor),
            reason: Some(&reason),
            workspace_context: Some(&workspace_context),
            subtasks_complete: Some(subtasks_complete),
            implementation_evidence_present: Some(has_history),
            review_ref: next.review_ref.as_deref(),
            evidence: next.evidence.as_ref(),
        };
        validate_transition(from, to, &context)?;
        events.push(next);
        has_history = true;
        from = to;
    }
    Ok(events)
}

/// Upstream's review reference: the feedback file on a rollback, `force-override` when forced, else the
/// note (or a placeholder) when a review sends work back.
fn review_ref(request: &MoveRequest, from: Lane, to: Lane) -> Option<String> {
    let feedback = request.feedback.as_ref().map(|f| f.path.display().to_string());
    if to == Lane::Planned && feedback.is_some() {
        return feedback;
    }
    if is_under_review(from) && matches!(to, Lane::InProgress | Lane::Planned) {
        return Some(feedback.unwrap_or_else(|| {
            if request.force {
                "force-override".to_owned()
            } else {
                request
                    .note
                    .clone()
                    .filter(|n| !n.trim().is_empty())
                    .unwrap_or_else(|| "review-feedback:unspecified".to_owned())
            }
        }));
    }
    None
}

/// Lanes in which a reviewer has the work package: a move back from them is a rejected review.
fn is_under_review(lane: Lane) -> bool {
    matches!(lane, Lane::ForReview | Lane::InReview | Lane::Approved)
}

fn review_evidence(request: &MoveRequest, site: MoveSite<'_>, wp_id: &str) -> Value {
    let reference = request
        .approval_ref
        .clone()
        .or_else(|| request.note.clone())
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| format!("auto-approval:{wp_id}:{}", request.at.format("%Y%m%d")));
    json!({"review": {"reviewer": site.reviewer, "verdict": "approved", "reference": reference}})
}

/// The legacy view of the moved WP: lane, ownership, review fields and an Activity Log entry.
fn update_wp_file(request: &MoveRequest, site: MoveSite<'_>, wp: &mut WorkPackage, old_lane: Lane) {
    let doc = &mut wp.doc;
    doc.set_scalar("lane", request.to.as_str());
    for (key, value) in [("assignee", &request.assignee), ("agent", &request.agent), ("shell_pid", &request.shell_pid)]
    {
        if let Some(value) = value {
            doc.set_scalar(key, value);
        }
    }
    let rollback = matches!(request.to, Lane::Planned | Lane::InProgress) && is_under_review(old_lane);
    if let (true, Some(feedback)) = (rollback || request.to == Lane::Planned, &request.feedback) {
        let path = feedback.path.display().to_string();
        let body = activity::upsert_review_feedback(
            doc.body(),
            site.reviewer,
            &request.at.format("%Y-%m-%d").to_string(),
            &path,
            &feedback.content,
        );
        doc.set_body(body);
        doc.set_scalar("review_status", "has_feedback");
        doc.set_scalar("reviewed_by", site.reviewer);
        doc.set_scalar("review_feedback_file", &path);
    }
    if matches!(request.to, Lane::Done | Lane::Approved) && doc.scalar("reviewed_by").is_none() {
        doc.set_scalar("reviewed_by", site.reviewer);
        doc.set_scalar("review_status", "approved");
    }
    let entry = ActivityEntry {
        timestamp: ActivityEntry::timestamp_at(request.at),
        agent: doc.scalar("agent").filter(|a| !a.trim().is_empty()).unwrap_or_else(|| "unknown".to_owned()),
        shell_pid: doc.scalar("shell_pid"),
        lane: request.to.as_str().to_owned(),
        note: request
            .note
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| format!("Moved to {}", request.to)),
    };
    let body = activity::append_activity(doc.body(), &entry);
    doc.set_body(body);
}

/// Rewrites the generated status block of tasks.md when it changes (no tasks.md: nothing to do).
fn refresh_status_block(lock: &FeatureLock, snapshot: &StatusSnapshot) -> Result<(), MoveError> {
    let path = lock.feature_dir().join("tasks.md");
    let Ok(text) = crate::fsutil::read_small_string(&path, crate::fsutil::LARGE_FILE_CAP) else { return Ok(()) };
    let updated = status::upsert_status_block(&text, &snapshot.lanes());
    if updated != text {
        lock.write(&path, updated.as_bytes()).map_err(|source| MoveError::Write { path, source })?;
    }
    Ok(())
}

/// Taking the status lock creates the log file; a refused move must leave no trace.
fn remove_if_created_empty(path: &Path, existed: bool) {
    if !existed && std::fs::metadata(path).is_ok_and(|m| m.len() == 0) {
        let _ = std::fs::remove_file(path);
    }
}
