//! A work package's workspace, created (or reused) the way `spec-kitty implement` creates it, and shared
//! by `implement`, `agent workflow implement|review` and the orchestrator.
//!
//! The workspace is `.worktrees/<feature>-<WP>`: a git worktree on branch `<feature>-<WP>` in a repository,
//! a plain directory without git. The steps follow upstream's `cli/commands/implement.py`
//! (reference/workflow.md §4.11): pick the base from the dependencies, make sure the planning artifacts are
//! committed, create the worktree, record the base in meta.json, the WP frontmatter and
//! `.kittify/workspaces/<feature>-<WP>.json`.
//!
//! Deliberate differences from upstream:
//! - No sparse-checkout. Upstream excludes `kitty-specs/` from each worktree with `git config
//!   core.sparseCheckout true` run inside the worktree; without `extensions.worktreeConfig` that setting
//!   lands in the repository's shared config and turns sparse checkout on for the main checkout too. Our
//!   commands always read and write `kitty-specs/` in the main checkout (a worktree's `.git` file leads
//!   project discovery back to it), so the copy in the worktree is never used for status.
//! - No multi-parent merge bases: a work package with several dependencies needs `--base`.
//! - A work package whose dependency is done but whose branch is gone (merged and deleted) starts from the
//!   feature's target branch, where that work now lives.
//! - An existing workspace is reused as it is; the base rules only apply when one is created.
//! - Without git everything works the same, minus branches and commits (`vcs: "none"` in meta.json).

use super::OpError;
use crate::context::Context;
use crate::events::{Timestamp, pyjson};
use crate::git::Repo;
use crate::project::meta::{FeatureMeta, META_FILE};
use crate::project::{Feature, Project};
use crate::workflow::lanes::Lane;
use crate::workflow::lock::FeatureLock;
use crate::workflow::workspace::{self, WORKTREES_DIR, Workspace, workspace_name};
use crate::workflow::wp::{WorkPackage, WpError, normalize_wp_id};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// Loads a work package of `feature`, with hints that name the available ones. A file stem (`WP01-storage`)
/// names its work package, as upstream's workflow commands accept.
pub fn load_work_package(feature: &Feature, wp_arg: &str) -> Result<WorkPackage, OpError> {
    let id = wp_arg.trim().split(['-', '_', '.']).next().unwrap_or_default();
    WorkPackage::load(&feature.dir, id).map_err(|error| match error {
        WpError::BadId(_) => OpError::usage(error.to_string()),
        WpError::NotFound { .. } => {
            let available = available_wp_ids(feature);
            let hint = if available.is_empty() {
                "this feature has no work packages yet (finalize-tasks writes tasks/WPxx-*.md)".to_owned()
            } else {
                format!("work packages of {}: {}", feature.slug, available.join(", "))
            };
            OpError::new(error.to_string()).hint(hint)
        }
        other => OpError::new(other.to_string()),
    })
}

fn available_wp_ids(feature: &Feature) -> Vec<String> {
    WorkPackage::all(&feature.dir).into_iter().flatten().map(|wp| wp.id).collect()
}

/// The process id of the shell that ran us, recorded as `shell_pid` (upstream's `os.getppid()`).
pub fn shell_pid() -> String {
    #[cfg(unix)]
    return std::os::unix::process::parent_id().to_string();
    #[cfg(not(unix))]
    return std::process::id().to_string();
}

/// `now` as Python's `datetime.now(timezone.utc).isoformat()`.
fn iso_now(ctx: &Context) -> String {
    Timestamp::from_utc(ctx.now()).isoformat()
}

pub fn save(lock: &FeatureLock, wp: &WorkPackage) -> Result<(), OpError> {
    wp.save(lock).map_err(OpError::from)
}

/// The files a claim or a start commits, relative to the repository root: the WP file, meta.json when
/// asked, and `.kittify/config.yaml` when git sees it changed (upstream's claim commit includes it).
pub fn record_paths(
    repo: &Repo,
    project: &Project,
    feature: &Feature,
    wp: &WorkPackage,
    include_meta: bool,
    include_config: bool,
) -> Vec<PathBuf> {
    let relative = |path: &Path| path.strip_prefix(&project.root).unwrap_or(path).to_owned();
    let mut paths = vec![relative(&wp.path)];
    if include_meta {
        paths.push(relative(&feature.dir.join(META_FILE)));
    }
    let config = PathBuf::from(crate::project::config::CONFIG_FILE);
    if include_config && repo.status_porcelain(&[&config]).is_ok_and(|s| !s.trim().is_empty()) {
        paths.push(config);
    }
    paths
}

/// Commits `paths`; the files are already written, so a failed commit is a warning, not a failure.
pub fn commit_or_warning(repo: &Repo, project: &Project, paths: &[PathBuf], message: &str) -> Option<String> {
    let paths: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let error = repo.commit_paths(&paths, message).err()?;
    Some(format!("the changes are saved in {} but not committed: {error}", project.root.display()))
}

/// Where a new workspace branch starts.
#[derive(Debug, Clone, PartialEq, Eq)]
enum StartPoint {
    /// An existing branch (git).
    Branch(String),
    /// The feature's target branch, which does not exist yet: created from `from` (the primary branch).
    NewBranch { name: String, from: String },
    /// Without git there are no branches; the name is recorded for the record only.
    Unversioned(String),
}

impl StartPoint {
    fn branch_name(&self) -> &str {
        match self {
            StartPoint::Branch(name) | StartPoint::NewBranch { name, .. } | StartPoint::Unversioned(name) => name,
        }
    }
}

/// What a new workspace needs, decided before anything is written.
#[derive(Debug)]
struct Creation {
    /// The work package whose branch the workspace starts from, if any.
    base_wp: Option<String>,
    start: StartPoint,
    /// The commit the new branch starts at (git only).
    base_commit: Option<String>,
    /// Planning artifacts to commit on the current branch first.
    commit_planning_artifacts: bool,
}

/// The validated plan for a work package's workspace: reuse the existing one, or create it.
#[derive(Debug)]
pub struct WorkspacePlan {
    feature_slug: String,
    feature_dir: PathBuf,
    wp_id: String,
    dependencies: Vec<String>,
    /// `None` when the workspace already exists.
    creation: Option<Creation>,
    /// Said while planning (an ignored `--base`, a base branch that is gone).
    pub warnings: Vec<String>,
}

/// The workspace once it exists, and what [`WorkspacePlan::apply`] changed.
#[derive(Debug)]
pub struct PreparedWorkspace {
    pub workspace: Workspace,
    /// The base work package, else the base branch (the JSON `base`); `None` when unknown.
    pub base_label: Option<String>,
    pub meta_changed: bool,
    /// Whether the WP frontmatter got base fields (and was saved).
    pub frontmatter_changed: bool,
}

/// Where a new workspace starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base<'a> {
    /// From the work package's only dependency, else the feature's target branch (`implement` without
    /// `--base`); several dependencies need an explicit base.
    FromDependencies,
    /// From this work package's branch (`--base WPxx`).
    Wp(&'a str),
    /// From the feature's target branch, whatever the dependencies (the orchestrator, when no
    /// dependency has a branch to start from).
    Target,
}

impl<'a> Base<'a> {
    /// `--base`, else the dependency rule.
    pub fn from_flag(flag: Option<&'a str>) -> Base<'a> {
        flag.map_or(Base::FromDependencies, Base::Wp)
    }
}

/// Checks everything a workspace for `wp` needs and decides how to get it, without writing anything.
pub fn plan_workspace(
    project: &Project,
    repo: Option<&Repo>,
    feature: &Feature,
    wp: &WorkPackage,
    base: Base<'_>,
    force: bool,
) -> Result<WorkspacePlan, OpError> {
    let mut warnings = Vec::new();
    let meta = load_meta(feature)?;
    let name = workspace_name(&feature.slug, &wp.id);
    let path = project.root.join(WORKTREES_DIR).join(&name);
    let exists = path.exists();
    if exists && repo.is_some() && !path.join(".git").is_file() {
        return Err(OpError::new(format!("{} exists but is not a git worktree", path.display()))
            .hint("move it aside (or remove it) and run the command again"));
    }
    let creation = if exists {
        if matches!(base, Base::Wp(_)) {
            warnings.push(format!("{} already exists; --base is ignored", path.display()));
        }
        None
    } else {
        let base_wp = choose_base_wp(feature, wp, base, force)?;
        if let Some(base) = &base_wp {
            check_base_wp(project, feature, base)?;
        }
        Some(plan_creation(project, repo, feature, &meta, base_wp, &mut warnings)?)
    };
    Ok(WorkspacePlan {
        feature_slug: feature.slug.clone(),
        feature_dir: feature.dir.clone(),
        wp_id: wp.id.clone(),
        dependencies: wp.dependencies(),
        creation,
        warnings,
    })
}

fn load_meta(feature: &Feature) -> Result<FeatureMeta, OpError> {
    match FeatureMeta::load(&feature.dir) {
        Ok(Some(meta)) => Ok(meta),
        Ok(None) => Err(OpError::new(format!("meta.json not found in kitty-specs/{}/", feature.slug))
            .hint("features get one from `spec-kitty agent feature create-feature`")),
        Err(e) => Err(OpError::new(e.to_string())),
    }
}

/// The base work package: `--base`, else the only dependency. Several dependencies need `--base`
/// (upstream merges them into a temporary base branch; we do not).
fn choose_base_wp(feature: &Feature, wp: &WorkPackage, base: Base<'_>, force: bool) -> Result<Option<String>, OpError> {
    if base == Base::Target {
        return Ok(None);
    }
    if let Base::Wp(explicit) = base {
        let base = normalize_wp_id(explicit).map_err(|e| OpError::usage(format!("--base: {e}")))?;
        if base == wp.id {
            return Err(OpError::usage(format!("--base {base}: a work package cannot start from itself")));
        }
        return Ok(Some(base));
    }
    let dependencies = wp.dependencies();
    match dependencies.as_slice() {
        [] => Ok(None),
        [only] => Ok(Some(only.clone())),
        several => {
            let list = several.join(", ");
            let all_done = several.iter().all(|d| lane_of(feature, d) == Some(Lane::Done));
            if all_done && !force {
                return Err(OpError::new(format!(
                    "every dependency of {} ({list}) is done: merge them before starting it",
                    wp.id
                ))
                .hint(format!("run `spec-kitty merge`, then: spec-kitty implement {} --base <WPxx>", wp.id))
                .hint("or pass --force with --base <WPxx> to start from one dependency's branch now"));
            }
            Err(OpError::new(format!(
                "{} depends on several work packages ({list}); say which one to start from with --base",
                wp.id
            ))
            .hint(format!("e.g. spec-kitty implement {} --base {}", wp.id, several[several.len() - 1]))
            .hint("a base merged from several branches is not supported; merge the others into your branch as needed"))
        }
    }
}

fn lane_of(feature: &Feature, wp_id: &str) -> Option<Lane> {
    WorkPackage::load(&feature.dir, wp_id).ok().and_then(|wp| wp.lane().ok())
}

/// The base must exist; unless it is done, its workspace must exist too (its branch holds the work).
fn check_base_wp(project: &Project, feature: &Feature, base: &str) -> Result<(), OpError> {
    let base_wp = WorkPackage::load(&feature.dir, base).map_err(|e| {
        OpError::new(format!("base work package {base}: {e}")).hint(format!(
            "work packages of {}: {}",
            feature.slug,
            available_wp_ids(feature).join(", ")
        ))
    })?;
    let lane = base_wp.lane().map_err(OpError::from)?;
    let base_workspace = project.root.join(WORKTREES_DIR).join(workspace_name(&feature.slug, base));
    if lane != Lane::Done && !base_workspace.is_dir() {
        return Err(OpError::new(format!(
            "{base} is not done (lane: {lane}) and has no workspace yet, so there is no branch to start from"
        ))
        .hint(format!("implement {base} first: spec-kitty implement {base}")));
    }
    Ok(())
}

fn plan_creation(
    project: &Project,
    repo: Option<&Repo>,
    feature: &Feature,
    meta: &FeatureMeta,
    base_wp: Option<String>,
    warnings: &mut Vec<String>,
) -> Result<Creation, OpError> {
    let target = meta.str("target_branch").filter(|t| !t.trim().is_empty());
    let Some(repo) = repo else {
        let name = match &base_wp {
            Some(base) => workspace_name(&feature.slug, base),
            None => target.unwrap_or("main").to_owned(),
        };
        return Ok(Creation {
            base_wp,
            start: StartPoint::Unversioned(name),
            base_commit: None,
            commit_planning_artifacts: false,
        });
    };
    let start = match &base_wp {
        Some(base) => base_branch_of(project, repo, feature, base, target, warnings),
        None => target_start_point(repo, target),
    };
    let commit_ish = match &start {
        StartPoint::NewBranch { from, .. } => from.as_str(),
        other => other.branch_name(),
    };
    let base_commit = resolve_commit(repo, commit_ish)?;
    let commit_planning_artifacts = base_wp.is_none() && planning_artifacts_need_commit(repo, feature, target)?;
    Ok(Creation { base_wp, start, base_commit: Some(base_commit), commit_planning_artifacts })
}

/// The branch of the base work package: its workspace's branch, else `<feature>-<base>`; a done base
/// whose branch is gone (merged and deleted) falls back to the target branch, where its work landed.
fn base_branch_of(
    project: &Project,
    repo: &Repo,
    feature: &Feature,
    base: &str,
    target: Option<&str>,
    warnings: &mut Vec<String>,
) -> StartPoint {
    let name = workspace_name(&feature.slug, base);
    let workspace_path = project.root.join(WORKTREES_DIR).join(&name);
    if let Some(branch) = crate::git::head_branch(&workspace_path) {
        return StartPoint::Branch(branch);
    }
    if repo.branch_exists(&name) {
        return StartPoint::Branch(name);
    }
    warnings.push(format!("branch {name} no longer exists; starting from the feature's target branch"));
    target_start_point(repo, target)
}

/// The feature's target branch (created from the primary branch when missing), else the current branch.
fn target_start_point(repo: &Repo, target: Option<&str>) -> StartPoint {
    match target {
        Some(target) if repo.branch_exists(target) => StartPoint::Branch(target.to_owned()),
        Some(target) => StartPoint::NewBranch { name: target.to_owned(), from: repo.primary_branch() },
        None => StartPoint::Branch(repo.current_branch().unwrap_or_else(|| repo.primary_branch())),
    }
}

fn resolve_commit(repo: &Repo, commit_ish: &str) -> Result<String, OpError> {
    repo.run(&["rev-parse", "--verify", "--quiet", &format!("{commit_ish}^{{commit}}")]).map_err(|_| {
        OpError::new(format!("'{commit_ish}' does not name a commit, so the workspace has nothing to start from"))
            .hint("make a first commit, or check the branch names (`git branch -a`)")
    })
}

/// Planning artifacts must be committed before a workspace branches off: on the primary (or target)
/// branch we commit them ourselves; on any other branch the user has to.
fn planning_artifacts_need_commit(repo: &Repo, feature: &Feature, target: Option<&str>) -> Result<bool, OpError> {
    let relative = Path::new("kitty-specs").join(&feature.slug);
    let status = repo.status_porcelain(&[&relative]).map_err(OpError::from)?;
    if status.trim().is_empty() {
        return Ok(false);
    }
    let primary = repo.primary_branch();
    let current = repo.current_branch().unwrap_or_else(|| "(detached HEAD)".to_owned());
    if current == primary || Some(current.as_str()) == target {
        return Ok(true);
    }
    Err(OpError::new(format!(
        "the planning artifacts in kitty-specs/{}/ are not committed, and they belong on '{primary}' (current branch: '{current}')",
        feature.slug
    ))
    .hint(format!("commit them here (git add kitty-specs/{0} && git commit), or switch to {primary} and re-run", feature.slug)))
}

impl WorkspacePlan {
    /// Creates (or reuses) the workspace and records it: meta.json `vcs`/`vcs_locked_at` when unset, the
    /// WP frontmatter `base_branch`/`base_commit`/`created_at`, and `.kittify/workspaces/<name>.json`.
    pub fn apply(
        &self,
        ctx: &Context,
        project: &Project,
        repo: Option<&Repo>,
        lock: &FeatureLock,
        wp: &mut WorkPackage,
    ) -> Result<PreparedWorkspace, OpError> {
        let now = iso_now(ctx);
        if let (Some(repo), Some(creation)) = (repo, &self.creation) {
            self.prepare_git(repo, creation)?;
        }
        let start = self.creation.as_ref().map_or("", |c| c.start.branch_name());
        let workspace = workspace::create_workspace(project, repo, &self.feature_slug, &self.wp_id, start)
            .map_err(OpError::from)?;
        let meta_changed = self.lock_vcs(lock, repo.is_some(), &now)?;
        let base_label = match &self.creation {
            Some(creation) => Some(creation.base_wp.clone().unwrap_or_else(|| start.to_owned())),
            None => recorded_base(&self.feature_slug, wp),
        };
        let frontmatter_changed = match &self.creation {
            Some(creation) => record_base_in_frontmatter(lock, wp, creation, &now).map(|()| true)?,
            None => false,
        };
        let record_file = self.workspace_record_path(project);
        if workspace.created || !record_file.exists() {
            self.write_workspace_record(&record_file, &workspace, wp, repo.is_some(), &now)?;
        }
        Ok(PreparedWorkspace { workspace, base_label, meta_changed, frontmatter_changed })
    }

    fn prepare_git(&self, repo: &Repo, creation: &Creation) -> Result<(), OpError> {
        if creation.commit_planning_artifacts {
            let relative = Path::new("kitty-specs").join(&self.feature_slug);
            repo.commit_paths(&[&relative], &format!("chore: Planning artifacts for {}", self.feature_slug))
                .map_err(|e| OpError::new(format!("cannot commit the planning artifacts: {e}")))?;
        }
        if let StartPoint::NewBranch { name, from } = &creation.start {
            repo.run(&["branch", name, from])
                .map_err(|e| OpError::new(format!("cannot create the target branch {name}: {e}")))?;
        }
        Ok(())
    }

    /// Upstream locks the feature's VCS on first use; an existing lock is left alone.
    fn lock_vcs(&self, lock: &FeatureLock, with_git: bool, now: &str) -> Result<bool, OpError> {
        let Some(mut meta) = FeatureMeta::load(&self.feature_dir).map_err(OpError::from)? else {
            return Ok(false);
        };
        if meta.fields.contains_key("vcs") {
            return Ok(false);
        }
        meta.fields.insert("vcs".into(), Value::String(if with_git { "git" } else { "none" }.into()));
        if !meta.fields.contains_key("vcs_locked_at") {
            meta.fields.insert("vcs_locked_at".into(), Value::String(now.to_owned()));
        }
        meta.write(lock, false).map_err(OpError::from)?;
        Ok(true)
    }

    fn workspace_record_path(&self, project: &Project) -> PathBuf {
        let name = workspace_name(&self.feature_slug, &self.wp_id);
        project.root.join(".kittify/workspaces").join(format!("{name}.json"))
    }

    /// `.kittify/workspaces/<feature>-<WP>.json`, with upstream's keys in upstream's order.
    fn write_workspace_record(
        &self,
        path: &Path,
        workspace: &Workspace,
        wp: &WorkPackage,
        with_git: bool,
        now: &str,
    ) -> Result<(), OpError> {
        let record = json!({
            "wp_id": self.wp_id,
            "feature_slug": self.feature_slug,
            "worktree_path": workspace.relative,
            "branch_name": workspace.branch,
            "base_branch": wp.doc.scalar("base_branch"),
            "base_commit": wp.doc.scalar("base_commit"),
            "dependencies": self.dependencies,
            "created_at": now,
            "created_by": "implement-command",
            "vcs_backend": if with_git { "git" } else { "none" },
        });
        let style = pyjson::Style { ensure_ascii: true, ..pyjson::PRETTY };
        let text = pyjson::to_string(&record, style) + "\n";
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
            crate::fsutil::write_atomic(path, text.as_bytes())
        };
        write().map_err(|e| OpError::new(format!("cannot write {}: {e}", path.display())))
    }
}

/// Writes `base_branch`, `base_commit` (git) and `created_at` (when missing) as upstream's ruamel writer
/// lays them out, then saves.
fn record_base_in_frontmatter(
    lock: &FeatureLock,
    wp: &mut WorkPackage,
    creation: &Creation,
    now: &str,
) -> Result<(), OpError> {
    wp.doc.set_scalar_ruamel_style("base_branch", creation.start.branch_name());
    if let Some(commit) = &creation.base_commit {
        wp.doc.set_scalar_ruamel_style("base_commit", commit);
    }
    if wp.doc.scalar("created_at").is_none() {
        wp.doc.set_scalar_ruamel_style("created_at", now);
    }
    save(lock, wp)
}

/// The base an existing workspace was created from, as recorded in the frontmatter: the work package
/// when `base_branch` is one of this feature's WP branches, else the branch.
fn recorded_base(feature_slug: &str, wp: &WorkPackage) -> Option<String> {
    let branch = wp.doc.scalar("base_branch")?;
    let base_wp = branch.strip_prefix(feature_slug).and_then(|rest| rest.strip_prefix('-'));
    match base_wp {
        Some(id) if crate::sync::event::is_wp_id(id) => Some(id.to_owned()),
        _ => Some(branch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::frontmatter::WpDocument;

    fn wp(frontmatter: &str) -> WorkPackage {
        let doc = WpDocument::parse(&format!("---\n{frontmatter}---\nbody\n")).unwrap();
        WorkPackage { id: "WP02".into(), path: PathBuf::from("WP02-b.md"), doc }
    }

    #[test]
    fn recorded_base_names_the_work_package_of_a_wp_branch() {
        assert_eq!(recorded_base("001-x", &wp("base_branch: 001-x-WP01\n")).as_deref(), Some("WP01"));
        assert_eq!(recorded_base("001-x", &wp("base_branch: main\n")).as_deref(), Some("main"));
        assert_eq!(recorded_base("001-x", &wp("base_branch: 001-x-notes\n")).as_deref(), Some("001-x-notes"));
        assert_eq!(recorded_base("001-x", &wp("lane: planned\n")), None);
    }

    #[test]
    fn start_points_name_their_branch() {
        assert_eq!(StartPoint::Branch("a".into()).branch_name(), "a");
        assert_eq!(StartPoint::NewBranch { name: "t".into(), from: "main".into() }.branch_name(), "t");
        assert_eq!(StartPoint::Unversioned("main".into()).branch_name(), "main");
    }

    #[cfg(unix)]
    #[test]
    fn shell_pid_is_our_parent() {
        assert_eq!(shell_pid(), std::os::unix::process::parent_id().to_string());
    }
}
