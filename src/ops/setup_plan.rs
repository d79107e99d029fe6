//! Scaffolding a feature's plan (`agent feature setup-plan`): plan.md from the project's template,
//! committed.

use super::Scope;
use crate::error::Diagnose;
use crate::git::GitError;
use crate::workflow::lock::LockError;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy)]
pub struct SetupPlan {
    /// Replace an existing, non-empty plan.md (upstream always does; we keep a plan unless asked).
    pub force: bool,
}

#[derive(Debug)]
pub struct SetupPlanOutcome {
    pub plan_file: PathBuf,
    pub spec_file: PathBuf,
    /// Whether plan.md was (re)written.
    pub created: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SetupPlanError {
    #[error("spec.md not found in kitty-specs/{0}/")]
    SpecMissing(String),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error("plan.md written, but the commit failed: {0}")]
    Commit(GitError),
}

impl Diagnose for SetupPlanError {
    fn hints(&self) -> Vec<String> {
        match self {
            SetupPlanError::SpecMissing(_) => vec!["write the specification first (/spec-kitty.specify)".into()],
            SetupPlanError::Lock(e) => e.hints(),
            _ => Vec::new(),
        }
    }

    fn error_code(&self) -> Option<&'static str> {
        match self {
            SetupPlanError::SpecMissing(_) => Some("SPEC_FILE_MISSING"),
            _ => None,
        }
    }
}

pub fn setup_plan(scope: &Scope<'_>, request: SetupPlan) -> Result<SetupPlanOutcome, SetupPlanError> {
    let feature = scope.feature;
    let spec_file = feature.dir.join("spec.md");
    if !spec_file.is_file() {
        return Err(SetupPlanError::SpecMissing(feature.slug.clone()));
    }
    let lock = scope.lock()?;
    let plan_file = feature.dir.join("plan.md");
    let existing = crate::fsutil::read_small_string(&plan_file, crate::fsutil::LARGE_FILE_CAP).unwrap_or_default();
    let created = existing.trim().is_empty() || request.force;
    if created {
        let text = super::create_feature::template(scope.project, "plan-template.md").unwrap_or_else(|| {
            format!(
                "# Implementation Plan: {}\n\n## Summary\n\n## Technical Context\n\n## Project Structure\n\n## Work Breakdown\n",
                feature.slug
            )
        });
        lock.write(&plan_file, text.as_bytes())
            .map_err(|source| SetupPlanError::Write { path: plan_file.clone(), source })?;
        if let Some(repo) = &scope.repo {
            repo.commit_paths(&[&scope.feature_file("plan.md")], &format!("Add plan for feature {}", feature.slug))
                .map_err(SetupPlanError::Commit)?;
        }
    }
    drop(lock);
    Ok(SetupPlanOutcome { plan_file, spec_file, created })
}
