//! Creating a feature (`agent feature create-feature`): `kitty-specs/NNN-slug/` with its spec, meta.json
//! and scaffold, committed, and the project's sync identity completed on first use.

use crate::context::Context;
use crate::error::{Diagnose, EXIT_USAGE};
use crate::git::{GitError, Repo};
use crate::project::config::{self, CONFIG_FILE, ProjectConfig};
use crate::project::detect::next_feature_number;
use crate::project::meta::{FeatureMeta, MetaError};
use crate::project::{Feature, Project, identity};
use crate::workflow::lock::{FeatureLock, LockError};
use std::io::Write as _;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct CreateFeature {
    /// Lower-case words joined by dashes; the number is added.
    pub slug: String,
    pub mission: String,
}

#[derive(Debug)]
pub struct CreateFeatureOutcome {
    pub feature: Feature,
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateFeatureError {
    #[error(
        "invalid feature slug '{0}': use lower-case letters, digits and single dashes, starting with a letter (e.g. user-auth)"
    )]
    BadSlug(String),
    #[error("cannot create a feature from inside a worktree")]
    InsideWorktree,
    #[error("HEAD is detached; feature creation needs a branch")]
    Detached,
    #[error("Feature creation must run on '{primary}' branch (current: '{current}').")]
    NotOnPrimary { primary: String, current: String },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Meta(#[from] MetaError),
    #[error("feature created, but committing spec.md failed: {0}")]
    Commit(GitError),
}

impl Diagnose for CreateFeatureError {
    fn hints(&self) -> Vec<String> {
        match self {
            CreateFeatureError::InsideWorktree => vec!["run it from the main checkout of the repository".into()],
            CreateFeatureError::Detached => vec!["git checkout <primary branch> first".into()],
            CreateFeatureError::NotOnPrimary { primary, .. } => vec![format!("git checkout {primary}")],
            CreateFeatureError::Lock(e) => e.hints(),
            _ => Vec::new(),
        }
    }

    fn exit_code(&self) -> u8 {
        match self {
            CreateFeatureError::BadSlug(_) => EXIT_USAGE,
            _ => crate::error::EXIT_FAILURE,
        }
    }
}

/// Creates the next feature. With git it must run on the primary branch, and commits the spec with the
/// scaffold, then meta.json with any identity added to config.yaml, leaving a clean tree.
pub fn create_feature(
    ctx: &Context,
    project: &Project,
    request: &CreateFeature,
) -> Result<CreateFeatureOutcome, CreateFeatureError> {
    if !is_kebab_slug(&request.slug) {
        return Err(CreateFeatureError::BadSlug(request.slug.clone()));
    }
    if ctx.cwd.components().any(|c| c.as_os_str() == ".worktrees") {
        return Err(CreateFeatureError::InsideWorktree);
    }
    let repo = Repo::at(&project.root);
    let target_branch = match &repo {
        Some(repo) => {
            let current = repo.current_branch().ok_or(CreateFeatureError::Detached)?;
            let primary = repo.primary_branch();
            if current != primary {
                return Err(CreateFeatureError::NotOnPrimary { primary, current });
            }
            current
        }
        None => "main".to_owned(),
    };

    let number = next_feature_number(project);
    let slug = format!("{number}-{}", request.slug);
    let dir = project.feature_dir(&slug);
    let write_error = |path: &Path| {
        let path = path.to_owned();
        move |source| CreateFeatureError::Write { path, source }
    };
    // kitty-specs/ may be a symlink, but not to outside the project.
    crate::fsutil::ensure_within(&project.root, &dir).map_err(write_error(&dir))?;
    for sub in ["checklists", "research", "tasks"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(write_error(&dir.join(sub)))?;
    }
    write_new(&dir.join("tasks/.gitkeep"), "")?;
    write_new(&dir.join("tasks/README.md"), TASKS_README)?;
    let spec = template(project, "spec-template.md")
        .unwrap_or_else(|| format!("# Feature Specification: {}\n\n", request.slug.replace('-', " ")));
    write_new(&dir.join("spec.md"), &spec)?;
    let now = crate::events::Timestamp::from_utc(ctx.now()).isoformat();
    let meta = FeatureMeta::for_new_feature(&number, &slug, &request.mission, &target_branch, &now);
    let lock = FeatureLock::acquire(&dir, ctx.lock_timeout)?;
    meta.write(&lock, false)?;
    let mut warnings = Vec::new();
    let identity_added = ensure_identity(ctx, project, repo.as_ref(), &mut warnings);

    if let Some(repo) = &repo {
        let rel = |name: &str| Path::new("kitty-specs").join(&slug).join(name);
        // Upstream commits only spec.md here and leaves tasks/ untracked, which then blocks merge's and
        // accept's clean-tree checks; the scaffold goes in with the spec.
        repo.commit_paths(&[&rel("spec.md"), &rel("tasks")], &format!("Add spec for feature {slug}"))
            .map_err(CreateFeatureError::Commit)?;
        // A project identity added to config.yaml goes in with meta.json, so the command leaves a clean tree.
        let meta_file = rel("meta.json");
        let mut paths = vec![meta_file.as_path()];
        if identity_added {
            paths.push(Path::new(CONFIG_FILE));
        }
        if let Err(e) = repo.commit_paths(&paths, &format!("Add meta for feature {slug}")) {
            warnings.push(format!("committing meta.json failed: {e}"));
        }
    }
    drop(lock);
    Ok(CreateFeatureOutcome { feature: Feature { slug, dir }, warnings })
}

/// Writes a new file exclusively: an existing file (or a symlink planted in its place) is left alone.
fn write_new(path: &Path, text: &str) -> Result<(), CreateFeatureError> {
    let error = |source| CreateFeatureError::Write { path: path.to_owned(), source };
    match std::fs::OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(mut file) => file.write_all(text.as_bytes()).map_err(error),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(error(e)),
    }
}

/// `^[a-z][a-z0-9]*(-[a-z0-9]+)*$`
fn is_kebab_slug(slug: &str) -> bool {
    slug.starts_with(|c: char| c.is_ascii_lowercase())
        && slug
            .split('-')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
}

const TASKS_README: &str = "# Work package prompts\n\n\
One file per work package, named `WPxx-<short-slug>.md` (e.g. `WP01-storage-layer.md`), each with YAML\n\
frontmatter (work_package_id, title, lane, dependencies, subtasks, …) followed by the prompt.\n\
`spec-kitty agent feature finalize-tasks` writes each WP's dependencies from tasks.md; lanes move with\n\
`spec-kitty agent tasks move-task`.\n";

/// `.kittify/templates/<name>` when the project has one.
pub fn template(project: &Project, name: &str) -> Option<String> {
    crate::fsutil::read_small_string(&project.root.join(".kittify/templates").join(name), crate::fsutil::LARGE_FILE_CAP)
        .ok()
}

/// Gives the project a sync identity if it lacks one (create-feature is allowed to write config.yaml;
/// read-only commands never do) and says whether config.yaml changed. A failure is only a warning: the
/// feature is already created.
fn ensure_identity(ctx: &Context, project: &Project, repo: Option<&Repo>, warnings: &mut Vec<String>) -> bool {
    let path = project.root.join(CONFIG_FILE);
    let mut not_added = || {
        if let Some(warning) = config::first_report(ProjectConfig::load_checked(&project.root).1) {
            warnings.push(format!("{warning} (project identity not added)"));
        }
        false
    };
    let text = match crate::fsutil::read_small_string(&path, crate::fsutil::SMALL_FILE_CAP) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(_) => return not_added(), // never replace a file we could not read
    };
    let Ok(current) = ProjectConfig::parse(&text) else { return not_added() };
    if current.project.is_complete() {
        return false;
    }
    let origin = repo.and_then(|r| r.run(&["remote", "get-url", "origin"]).ok());
    let identity = identity::complete_identity(&current.project, ctx, &project.root, origin.as_deref());
    let Some(updated) = config::add_missing_identity(&text, &identity) else { return false };
    match crate::fsutil::write_atomic(&path, updated.as_bytes()) {
        Ok(()) => true,
        Err(e) => {
            warnings.push(format!("cannot write the project identity to {}: {e}", path.display()));
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kebab_slugs() {
        for ok in ["user-auth", "a", "v2-api", "x1"] {
            assert!(is_kebab_slug(ok), "{ok}");
        }
        for bad in ["", "User", "1abc", "a--b", "a-", "-a", "a_b", "a b"] {
            assert!(!is_kebab_slug(bad), "{bad}");
        }
    }
}
