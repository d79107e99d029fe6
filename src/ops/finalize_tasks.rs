//! Finalizing a feature's work packages (`agent feature finalize-tasks`): the dependencies declared in
//! tasks.md, validated as a whole, written into every WP file and committed; one FeatureCreated and one
//! WPCreated per work package, sharing one causation id (seed 004, SC-004).

use super::Scope;
use crate::error::Diagnose;
use crate::git::GitError;
use crate::project::meta::FeatureMeta;
use crate::sync::SyncEvent;
use crate::workflow::graph::{self, DependencyGraph};
use crate::workflow::lock::LockError;
use crate::workflow::tasks_md;
use crate::workflow::wp::{WorkPackage, WpError};
use serde_json::json;
use std::path::PathBuf;

#[derive(Debug)]
pub struct FinalizeTasksOutcome {
    /// Every work package, with the dependencies tasks.md gives it.
    pub packages: Vec<(String, Vec<String>)>,
    /// The work packages whose file changed.
    pub updated: Vec<String>,
    pub tasks_dir: PathBuf,
    pub commit_hash: Option<String>,
    pub files_committed: Vec<String>,
    /// FeatureCreated then the WPCreated, to publish with one shared causation id.
    pub events: Vec<SyncEvent>,
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum FinalizeTasksError {
    #[error("no tasks/ directory in kitty-specs/{0}/")]
    NoTasksDir(String),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}", graph::cycles_message(.0))]
    Cycles(Vec<Vec<String>>),
    #[error("invalid dependencies of {wp} in tasks.md: {}", .errors.join("; "))]
    InvalidDependencies { wp: String, errors: Vec<String> },
    #[error(transparent)]
    Wp(#[from] WpError),
    #[error("no WP*.md files in {}", .0.display())]
    NoWorkPackages(PathBuf),
    #[error("Git commit failed: {0}")]
    Git(#[from] GitError),
}

impl Diagnose for FinalizeTasksError {
    fn hints(&self) -> Vec<String> {
        match self {
            FinalizeTasksError::NoTasksDir(_) | FinalizeTasksError::NoWorkPackages(_) => {
                vec!["generate the work packages first (/spec-kitty.tasks)".into()]
            }
            FinalizeTasksError::Cycles(_) => vec!["remove one dependency of each cycle in tasks.md".into()],
            FinalizeTasksError::InvalidDependencies { .. } => {
                vec!["fix the Dependencies of that work package in tasks.md".into()]
            }
            FinalizeTasksError::Lock(e) => e.hints(),
            _ => Vec::new(),
        }
    }

    fn details(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        let value = match self {
            FinalizeTasksError::Cycles(cycles) => json!({"cycles": cycles}),
            FinalizeTasksError::InvalidDependencies { wp, errors } => json!({"wp_id": wp, "errors": errors}),
            _ => return None,
        };
        value.as_object().cloned()
    }
}

/// Validates the whole dependency graph before touching any file, then rewrites only the `dependencies`
/// of the WP files that differ and commits tasks.md and tasks/ when git sees changes.
pub fn finalize_tasks(scope: &Scope<'_>) -> Result<FinalizeTasksOutcome, FinalizeTasksError> {
    let feature = scope.feature;
    let tasks_dir = feature.dir.join("tasks");
    if !tasks_dir.is_dir() {
        return Err(FinalizeTasksError::NoTasksDir(feature.slug.clone()));
    }
    // Held until the commit: the WP files are read, rewritten and committed as one change.
    let lock = scope.lock()?;
    let tasks_path = feature.dir.join("tasks.md");
    let tasks_text = crate::fsutil::read_small_string(&tasks_path, crate::fsutil::LARGE_FILE_CAP)
        .map_err(|source| FinalizeTasksError::Read { path: tasks_path.clone(), source })?;
    let parsed: DependencyGraph = tasks_md::parse_dependencies(&tasks_text);
    let cycles = graph::detect_cycles(&parsed);
    if !cycles.is_empty() {
        return Err(FinalizeTasksError::Cycles(cycles));
    }
    for (wp, deps) in &parsed {
        let errors = graph::validate_dependencies(wp, deps, &parsed);
        if !errors.is_empty() {
            return Err(FinalizeTasksError::InvalidDependencies { wp: wp.clone(), errors });
        }
    }
    let mut packages = WorkPackage::all(&feature.dir).into_iter().collect::<Result<Vec<_>, _>>()?;
    if packages.is_empty() {
        return Err(FinalizeTasksError::NoWorkPackages(tasks_dir));
    }
    let dependencies_of = |wp: &WorkPackage| parsed.get(&wp.id).cloned().unwrap_or_default();
    let mut updated = Vec::new();
    for wp in &mut packages {
        let wanted = dependencies_of(wp);
        if wp.doc.list("dependencies").as_ref() != Some(&wanted) {
            wp.doc.set_list("dependencies", &wanted);
            wp.save(&lock)?;
            updated.push(wp.id.clone());
        }
    }

    let (mut commit_hash, mut files_committed) = (None, Vec::new());
    if let Some(repo) = &scope.repo {
        let (tasks_md, tasks) = (scope.feature_file("tasks.md"), scope.feature_file("tasks"));
        let dirty = repo.status_porcelain(&[&tasks_md, &tasks])?;
        files_committed = dirty.lines().filter_map(|l| l.get(3..)).map(str::to_owned).collect();
        if !files_committed.is_empty() {
            commit_hash =
                repo.commit_paths(&[&tasks_md, &tasks], &format!("Add tasks for feature {}", feature.slug))?;
        }
    }
    drop(lock);

    let mut warnings = Vec::new();
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
        _ => warnings.push("meta.json lacks feature_number or target_branch; FeatureCreated not emitted".into()),
    }
    events.extend(packages.iter().map(|wp| SyncEvent::WpCreated {
        feature_slug: feature.slug.clone(),
        wp_id: wp.id.clone(),
        title: wp.title(),
        dependencies: dependencies_of(wp),
    }));
    Ok(FinalizeTasksOutcome {
        packages: packages.iter().map(|wp| (wp.id.clone(), dependencies_of(wp))).collect(),
        updated,
        tasks_dir,
        commit_hash,
        files_committed,
        events,
        warnings,
    })
}
