//! The canonical lane model of a work package: the lanes, the allowed transitions, the guards a
//! non-forced transition must pass, and the force rules — upstream's `status/transitions.py`
//! (see `reference/workflow.md` §2.3).
//!
//! The seven lanes and sixteen transitions of the version our file formats follow are all here. Newer
//! upstream releases (spec-kitty-cli 3.x) added two review lanes, `in_review` (a reviewer has picked the
//! work up) and `approved` (reviewed, not yet done); teams mixing versions write them into the same
//! status log, so we read them and move work packages out of (and into) them by current upstream's rules
//! (`status/wp_state.py` on upstream's main), while keeping the older edges (for_review → done,
//! for_review → in_progress) that the version we follow relies on.
//!
//! Everything here is pure: commands gather the facts a guard needs (is every subtask checked? who is the
//! reviewer?) and ask [`validate_transition`] before anything is written.

use serde::de::{self, Deserialize, Deserializer};
use serde_json::Value;
use std::fmt;
use std::str::FromStr;

/// A work package lane. The declaration order is the canonical order upstream lists them in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lane {
    Planned,
    Claimed,
    InProgress,
    ForReview,
    InReview,
    Approved,
    Done,
    Blocked,
    Canceled,
}

/// The happy path a work package walks; `move-task` emits one event per hop of it (see [`forward_chain`]).
const FORWARD_CHAIN: [Lane; 5] = [Lane::Planned, Lane::Claimed, Lane::InProgress, Lane::ForReview, Lane::Done];

/// The transitions allowed without `--force`: upstream's sixteen `ALLOWED_TRANSITIONS`, then current
/// upstream's edges into and out of the review lanes.
pub const ALLOWED_TRANSITIONS: [(Lane, Lane); 29] = {
    use Lane::*;
    [
        (Planned, Claimed),
        (Claimed, InProgress),
        (InProgress, ForReview),
        (ForReview, Done),
        (ForReview, InProgress),
        (InProgress, Planned),
        (Planned, Blocked),
        (Claimed, Blocked),
        (InProgress, Blocked),
        (ForReview, Blocked),
        (Blocked, InProgress),
        (Planned, Canceled),
        (Claimed, Canceled),
        (InProgress, Canceled),
        (ForReview, Canceled),
        (Blocked, Canceled),
        (ForReview, InReview),
        (InProgress, Approved),
        (InReview, Approved),
        (InReview, Done),
        (InReview, InProgress),
        (InReview, Planned),
        (InReview, Blocked),
        (InReview, Canceled),
        (Approved, Done),
        (Approved, InProgress),
        (Approved, Planned),
        (Approved, Blocked),
        (Approved, Canceled),
    ]
};

/// The accepted spelling of a lane that is not one of the seven (or an alias).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "Unknown lane: {input} (expected one of planned, claimed, in_progress, for_review, in_review, approved, done, \
     blocked, canceled; \"doing\" is accepted for in_progress)"
)]
pub struct UnknownLane {
    pub input: String,
}

impl Lane {
    /// All lanes in canonical order (current upstream's).
    pub const ALL: [Lane; 9] = [
        Lane::Planned,
        Lane::Claimed,
        Lane::InProgress,
        Lane::ForReview,
        Lane::InReview,
        Lane::Approved,
        Lane::Done,
        Lane::Blocked,
        Lane::Canceled,
    ];

    /// Whether this is one of the newer review lanes (`in_review`, `approved`).
    pub fn is_review_extension(self) -> bool {
        matches!(self, Lane::InReview | Lane::Approved)
    }

    /// The lanes a summary lists, in canonical order: the seven classic lanes always, a review lane only
    /// while `occupied` says a work package is in it (so views of features that never used them stay as
    /// the version our formats follow writes them).
    pub fn listed(occupied: impl Fn(Lane) -> bool) -> impl Iterator<Item = Lane> {
        Lane::ALL.into_iter().filter(move |&lane| !lane.is_review_extension() || occupied(lane))
    }

    /// Upstream's `resolve_lane_alias` followed by the enum lookup: surrounding whitespace is ignored, case
    /// is folded, and the legacy name `doing` means `in_progress`.
    pub fn parse(input: &str) -> Result<Lane, UnknownLane> {
        let normalized = input.trim().to_lowercase();
        let lane = match normalized.as_str() {
            "planned" => Lane::Planned,
            "claimed" => Lane::Claimed,
            "in_progress" | "doing" => Lane::InProgress,
            "for_review" => Lane::ForReview,
            "in_review" => Lane::InReview,
            "approved" => Lane::Approved,
            "done" => Lane::Done,
            "blocked" => Lane::Blocked,
            "canceled" => Lane::Canceled,
            _ => return Err(UnknownLane { input: input.to_owned() }),
        };
        Ok(lane)
    }

    /// The canonical name, as written to every file (never the alias `doing`).
    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Planned => "planned",
            Lane::Claimed => "claimed",
            Lane::InProgress => "in_progress",
            Lane::ForReview => "for_review",
            Lane::InReview => "in_review",
            Lane::Approved => "approved",
            Lane::Done => "done",
            Lane::Blocked => "blocked",
            Lane::Canceled => "canceled",
        }
    }

    /// `done` and `canceled` end a work package's life: no transition leaves them without `--force`.
    pub fn is_terminal(self) -> bool {
        matches!(self, Lane::Done | Lane::Canceled)
    }

    /// The lanes reachable from `self` without `--force`, in canonical order.
    pub fn allowed_targets(self) -> impl Iterator<Item = Lane> {
        Lane::ALL.into_iter().filter(move |&to| is_allowed(self, to))
    }
}

impl fmt::Display for Lane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Lane {
    type Err = UnknownLane;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Lane::parse(s)
    }
}

impl<'de> Deserialize<'de> for Lane {
    /// As leniently as [`Lane::parse`], so old `doing` lines in a log still read.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Lane::parse(&text).map_err(de::Error::custom)
    }
}

/// Whether `from -> to` is in the transition matrix.
pub fn is_allowed(from: Lane, to: Lane) -> bool {
    ALLOWED_TRANSITIONS.contains(&(from, to))
}

/// The lanes a move from `from` to `to` passes through, `to` included. A forward move along
/// planned → claimed → in_progress → for_review → done visits every lane in between (planned → in_progress
/// is `[claimed, in_progress]`), because each hop has its own guard and its own event; every other move
/// (backwards, sideways, into or out of blocked/canceled, or to the same lane) is the single hop `[to]`.
pub fn forward_chain(from: Lane, to: Lane) -> Vec<Lane> {
    let position = |lane| FORWARD_CHAIN.iter().position(|&l| l == lane);
    match (position(from), position(to)) {
        (Some(start), Some(end)) if start < end => FORWARD_CHAIN[start + 1..=end].to_vec(),
        _ => vec![to],
    }
}

/// What a transition request carries; each guard reads only the facts of its own transition. Empty or
/// whitespace-only strings count as absent, as upstream's `not x or not x.strip()` does.
#[derive(Debug, Clone, Copy, Default)]
pub struct TransitionContext<'a> {
    pub force: bool,
    pub actor: Option<&'a str>,
    pub reason: Option<&'a str>,
    /// Where the work happens (worktree path or workspace name); required for claimed → in_progress.
    pub workspace_context: Option<&'a str>,
    /// Upstream accepts only an explicit `True`; `None` (unknown) fails the guard like `false`.
    pub subtasks_complete: Option<bool>,
    pub implementation_evidence_present: Option<bool>,
    pub review_ref: Option<&'a str>,
    /// The `evidence` object of the event: `{"review": {"reviewer", "verdict", "reference"}, ...}`.
    pub evidence: Option<&'a Value>,
}

/// Why a transition was refused. The first sentence is upstream's message; the rest says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("Illegal transition: {from} -> {to} ({hint})", hint = illegal_hint(.from))]
    Illegal { from: Lane, to: Lane },
    #[error(
        "Force transitions require actor and reason: give a non-empty actor (--agent) and reason (--note) with --force"
    )]
    ForceNeedsActorAndReason,
    #[error("Transition {from} -> {to} requires actor identity: pass --agent NAME (or use --force with --note)")]
    ActorRequired { from: Lane, to: Lane },
    #[error(
        "Transition claimed -> in_progress requires workspace context: start the work from the work package's \
         workspace (or use --force with --note)"
    )]
    WorkspaceContextRequired,
    #[error(
        "Transition in_progress -> for_review requires completed subtasks or force with reason: check off every \
         subtask of the work package in tasks.md (or use --force with --note)"
    )]
    SubtasksIncomplete,
    #[error(
        "Transition in_progress -> for_review requires implementation evidence or force with reason: record the \
         implementation work first (or use --force with --note)"
    )]
    ImplementationEvidenceMissing,
    #[error(
        "Transition for_review -> done requires evidence (reviewer identity and approval reference): pass \
         --reviewer and --approval-ref (or use --force with --note)"
    )]
    ReviewEvidenceRequired,
    #[error(
        "Transition for_review -> in_progress requires review_ref (review feedback reference): pass \
         --review-feedback-file PATH (or use --force with --note)"
    )]
    ReviewRefRequired,
    #[error(
        "Transition in_progress -> planned requires reason: pass --note explaining why (or use --force with --note)"
    )]
    ReasonRequired,
    #[error(
        "Transition {from} -> {to} requires reviewer approval (reviewer, verdict approved and a reference): pass \
         --reviewer and --approval-ref (or use --force with --note)"
    )]
    ApprovalRequired { from: Lane, to: Lane },
    #[error(
        "Transition {from} -> {to} requires review_ref (review feedback reference): pass --review-feedback-file \
         PATH or --note (or use --force with --note)"
    )]
    ReviewOutcomeRequired { from: Lane, to: Lane },
    #[error("Transition in_review -> {to} requires a reason: pass --note (or use --force with --note)")]
    ReviewReasonRequired { to: Lane },
}

fn illegal_hint(from: &Lane) -> String {
    let from = *from;
    let targets: Vec<&str> = from.allowed_targets().map(Lane::as_str).collect();
    if targets.is_empty() {
        format!("{from} is a terminal lane; use --force with --note to move it anyway")
    } else {
        format!("from {from} a work package may move to {}; use --force with --note to override", targets.join(", "))
    }
}

/// Upstream's `validate_transition`: a forced move may go anywhere (the same lane included) but must say who
/// and why; an unforced move must be in the matrix and pass its guard.
pub fn validate_transition(from: Lane, to: Lane, ctx: &TransitionContext<'_>) -> Result<(), TransitionError> {
    if ctx.force {
        // Force skips the matrix and the guards, so the audit trail (actor + reason) is all that is left.
        return if present(ctx.actor) && present(ctx.reason) {
            Ok(())
        } else {
            Err(TransitionError::ForceNeedsActorAndReason)
        };
    }
    if !is_allowed(from, to) {
        return Err(TransitionError::Illegal { from, to });
    }
    check_guard(from, to, ctx)
}

fn check_guard(from: Lane, to: Lane, ctx: &TransitionContext<'_>) -> Result<(), TransitionError> {
    use Lane::*;
    let require = |ok: bool, error: TransitionError| if ok { Ok(()) } else { Err(error) };
    match (from, to) {
        (Planned, Claimed) | (ForReview, InReview) => {
            require(present(ctx.actor), TransitionError::ActorRequired { from, to })
        }
        (Claimed, InProgress) => require(present(ctx.workspace_context), TransitionError::WorkspaceContextRequired),
        (InProgress, ForReview) => {
            require(ctx.subtasks_complete == Some(true), TransitionError::SubtasksIncomplete)?;
            require(ctx.implementation_evidence_present == Some(true), TransitionError::ImplementationEvidenceMissing)
        }
        (ForReview, Done) => require(has_review_approval(ctx.evidence), TransitionError::ReviewEvidenceRequired),
        (ForReview, InProgress) => require(present(ctx.review_ref), TransitionError::ReviewRefRequired),
        (InProgress, Planned) => require(present(ctx.reason), TransitionError::ReasonRequired),
        (InProgress | InReview, Approved) | (InReview | Approved, Done) => {
            require(has_review_approval(ctx.evidence), TransitionError::ApprovalRequired { from, to })
        }
        (InReview | Approved, InProgress | Planned) => {
            require(present(ctx.review_ref), TransitionError::ReviewOutcomeRequired { from, to })
        }
        // Upstream asks for a structured review result on every exit from in_review; the note is ours.
        (InReview, Blocked | Canceled) => require(present(ctx.reason), TransitionError::ReviewReasonRequired { to }),
        _ => Ok(()),
    }
}

fn present(value: Option<&str>) -> bool {
    value.is_some_and(|v| !v.trim().is_empty())
}

/// Evidence names both who approved and where the approval is recorded (upstream's reviewer-approval guard).
fn has_review_approval(evidence: Option<&Value>) -> bool {
    let Some(review) = evidence.and_then(|e| e.get("review")) else {
        return false;
    };
    let filled = |key: &str| review.get(key).and_then(Value::as_str).is_some_and(|v| !v.trim().is_empty());
    filled("reviewer") && filled("reference")
}

#[cfg(test)]
mod tests;
