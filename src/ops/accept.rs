//! Accepting a feature (`accept`, `agent feature accept`): every acceptance check
//! ([`crate::workflow::acceptance`]); when they pass, the acceptance recorded in meta.json and committed.
//!
//! Events: a successful acceptance reports every done work package as for_review→done. `merge` reports
//! merged work packages to the dashboard as in_progress→for_review (upstream's FR-017), and acceptance
//! completes that lifecycle (seed 004 SC-003). Upstream meant the same but only looked at WPs still in the
//! `for_review` lane, which acceptance forbids, so its loop never fired.

use super::Scope;
use crate::error::Diagnose;
use crate::git::{GitError, Repo};
use crate::project::meta::{FeatureMeta, META_FILE, MetaError};
use crate::sync::SyncEvent;
use crate::workflow::acceptance::{self, AcceptanceError, AcceptanceMode, AcceptanceRecord, AcceptanceSummary};
use crate::workflow::lanes::Lane;
use crate::workflow::lock::LockError;
use serde_json::Map;
use std::path::PathBuf;

/// The failure message; the ErrorLogged event carries exactly this text, as upstream's does.
pub const OUTSTANDING: &str = "Outstanding acceptance issues detected";

#[derive(Debug, Clone)]
pub struct Accept {
    /// `None`: upstream's `auto` (pr when the repository has a remote, else local).
    pub mode: Option<AcceptanceMode>,
    /// Recorded as the accepting actor (default: git's `user.name`, then `$USER`, then "unknown").
    pub actor: Option<String>,
    pub commit: bool,
    /// The frontmatter metadata checks (off with `--lenient`).
    pub strict_metadata: bool,
}

#[derive(Debug)]
pub enum AcceptOutcome {
    /// The checklist mode, or checks that failed: nothing was written.
    Reported {
        summary: AcceptanceSummary,
        mode: AcceptanceMode,
    },
    Accepted(Accepted),
}

#[derive(Debug)]
pub struct Accepted {
    pub summary: AcceptanceSummary,
    pub record: AcceptanceRecord,
    /// The acceptance commit, when one was made.
    pub commit: Option<String>,
    /// One WPStatusChanged for_review→done per done work package.
    pub events: Vec<SyncEvent>,
}

#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    #[error(transparent)]
    Acceptance(#[from] AcceptanceError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Meta(#[from] MetaError),
    #[error("the acceptance is recorded in {}, but committing it failed: {source}", path.display())]
    Commit { path: PathBuf, feature: String, source: GitError },
}

impl Diagnose for AcceptError {
    fn hints(&self) -> Vec<String> {
        match self {
            AcceptError::Lock(e) => e.hints(),
            AcceptError::Commit { path, feature, .. } => {
                vec![format!("commit it yourself: git commit -m \"Accept {feature}\" -- {}", path.display())]
            }
            _ => Vec::new(),
        }
    }
}

pub fn accept(scope: &Scope<'_>, request: &Accept) -> Result<AcceptOutcome, AcceptError> {
    let feature = scope.feature;
    let repo = scope.repo.as_ref();
    let summary = acceptance::collect(&scope.project.root, &feature.slug, repo, request.strict_metadata)?;
    let mode = request.mode.unwrap_or_else(|| AcceptanceMode::auto(repo));
    if mode == AcceptanceMode::Checklist || !summary.ok() {
        return Ok(AcceptOutcome::Reported { summary, mode });
    }
    let record = AcceptanceRecord {
        accepted_at: scope.ctx.now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        accepted_by: actor(request.actor.as_deref(), repo),
        mode,
        branch: summary.branch.clone(),
        from_commit: repo.and_then(Repo::head_sha),
    };
    let lock = scope.lock()?;
    // Upstream starts from an empty object when meta.json is missing; written with sorted keys as its
    // accept writes it.
    let mut meta = FeatureMeta::load(&feature.dir)?.unwrap_or(FeatureMeta { fields: Map::new() });
    acceptance::record_acceptance(&mut meta, &record)?;
    meta.write(&lock, true)?;
    let commit =
        match repo.filter(|_| request.commit) {
            Some(repo) => {
                let path = scope.feature_file(META_FILE);
                repo.commit_paths(&[&path], &format!("Accept {}", feature.slug))
                    .map_err(|source| AcceptError::Commit { path, feature: feature.slug.clone(), source })?
            }
            None => None,
        };
    drop(lock);
    let events = summary
        .work_packages
        .iter()
        .filter(|wp| wp.lane == Some(Lane::Done))
        .map(|wp| SyncEvent::WpStatusChanged {
            feature_slug: feature.slug.clone(),
            wp_id: wp.id.clone(),
            from_lane: Lane::ForReview.as_str().to_owned(),
            to_lane: Lane::Done.as_str().to_owned(),
            actor: record.accepted_by.clone(),
            policy_metadata: None,
        })
        .collect();
    Ok(AcceptOutcome::Accepted(Accepted { summary, record, commit, events }))
}

/// `--actor`, else git's `user.name`, else `$USER`, else "unknown".
fn actor(explicit: Option<&str>, repo: Option<&Repo>) -> String {
    let git_user = || repo.and_then(|r| r.run(&["config", "user.name"]).ok());
    let login = || std::env::var("USER").ok();
    [explicit.map(str::to_owned), git_user(), login()]
        .into_iter()
        .flatten()
        .map(|name| name.trim().to_owned())
        .find(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}
