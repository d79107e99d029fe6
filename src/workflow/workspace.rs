//! Work-package workspaces: `.worktrees/<feature>-<WP>`, a real `git worktree` on branch
//! `<feature>-<WP>` in a repository, or a plain directory without git.

use crate::git::{GitError, Repo};
use crate::project::Project;
use std::path::{Path, PathBuf};

pub const WORKTREES_DIR: &str = ".worktrees";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    pub wp_id: String,
    /// `.worktrees/<feature>-<WP>`, relative to the project root.
    pub relative: String,
    pub path: PathBuf,
    /// The branch checked out there (`None` without git).
    pub branch: Option<String>,
    pub created: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error("cannot create workspace {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{} exists but is not a git worktree of this repository; move it aside and re-run", path.display())]
    NotAWorktree { path: PathBuf },
}

impl crate::error::Diagnose for WorkspaceError {}

/// `<feature>-<WP>`: the workspace directory and branch name.
pub fn workspace_name(feature_slug: &str, wp_id: &str) -> String {
    format!("{feature_slug}-{wp_id}")
}

/// Creates (or reuses) the workspace of `wp_id`. With git, `base` is the commit-ish the new branch
/// starts from; an existing branch of that name is checked out as is.
pub fn create_workspace(
    project: &Project,
    repo: Option<&Repo>,
    feature_slug: &str,
    wp_id: &str,
    base: &str,
) -> Result<Workspace, WorkspaceError> {
    let name = workspace_name(feature_slug, wp_id);
    let relative = format!("{WORKTREES_DIR}/{name}");
    let path = project.root.join(&relative);
    let io = |source| WorkspaceError::Io { path: path.clone(), source };
    let Some(repo) = repo else {
        let created = !path.is_dir();
        std::fs::create_dir_all(&path).map_err(io)?;
        return Ok(Workspace { wp_id: wp_id.to_owned(), relative, path, branch: None, created });
    };
    if path.exists() {
        if !path.join(".git").is_file() {
            return Err(WorkspaceError::NotAWorktree { path });
        }
        let branch = crate::git::head_branch(&path).or(Some(name));
        return Ok(Workspace { wp_id: wp_id.to_owned(), relative, path, branch, created: false });
    }
    std::fs::create_dir_all(project.root.join(WORKTREES_DIR)).map_err(io)?;
    if repo.branch_exists(&name) {
        repo.run(&["worktree", "add", "--quiet", &relative, &name])?;
    } else {
        repo.run(&["worktree", "add", "--quiet", "-b", &name, &relative, base])?;
    }
    Ok(Workspace { wp_id: wp_id.to_owned(), relative, path, branch: Some(name), created: true })
}

/// The feature's existing workspaces, by WP id.
pub fn feature_workspaces(project: &Project, feature_slug: &str) -> Vec<Workspace> {
    let prefix = format!("{feature_slug}-");
    let mut found: Vec<Workspace> = std::fs::read_dir(project.root.join(WORKTREES_DIR))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|name| {
            let wp = name.strip_prefix(&prefix)?;
            crate::sync::event::is_wp_id(wp).then(|| (wp.to_owned(), name.clone()))
        })
        .map(|(wp_id, name)| {
            let path = project.root.join(WORKTREES_DIR).join(&name);
            let branch =
                if path.join(".git").is_file() { crate::git::head_branch(&path).or(Some(name.clone())) } else { None };
            Workspace { wp_id, relative: format!("{WORKTREES_DIR}/{name}"), path, branch, created: false }
        })
        .collect();
    found.sort_by(|a, b| a.wp_id.cmp(&b.wp_id));
    found
}

/// Removes a workspace: `git worktree remove --force` for a worktree, else the directory.
pub fn remove_workspace(repo: Option<&Repo>, workspace: &Workspace) -> Result<(), WorkspaceError> {
    match (repo, &workspace.branch) {
        (Some(repo), Some(_)) => {
            repo.run(&["worktree", "remove", "--force", &workspace.relative])?;
            Ok(())
        }
        _ => std::fs::remove_dir_all(&workspace.path)
            .map_err(|source| WorkspaceError::Io { path: workspace.path.clone(), source }),
    }
}

/// Whether a worktree has uncommitted changes.
pub fn is_dirty(workspace_path: &Path) -> Result<bool, GitError> {
    Repo { root: workspace_path.to_owned() }.status_porcelain(&[]).map(|s| !s.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> (tempfile::TempDir, Project, Repo) {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo { root: dir.path().to_owned() };
        repo.run(&["init", "--quiet", "--initial-branch", "main"]).unwrap();
        repo.run(&["config", "user.email", "t@example.com"]).unwrap();
        repo.run(&["config", "user.name", "T"]).unwrap();
        std::fs::write(dir.path().join("README"), "x").unwrap();
        repo.commit_paths(&[Path::new("README")], "init").unwrap();
        let project = Project { root: dir.path().to_owned() };
        (dir, project, repo)
    }

    #[test]
    fn creates_and_reuses_a_git_worktree() {
        let (_dir, project, repo) = repo();
        let ws = create_workspace(&project, Some(&repo), "001-x", "WP01", "main").unwrap();
        assert!(ws.created && ws.path.join(".git").is_file());
        assert_eq!(ws.branch.as_deref(), Some("001-x-WP01"));
        assert_eq!(crate::git::head_branch(&ws.path).as_deref(), Some("001-x-WP01"));
        let again = create_workspace(&project, Some(&repo), "001-x", "WP01", "main").unwrap();
        assert!(!again.created);
        assert_eq!(feature_workspaces(&project, "001-x"), vec![Workspace { created: false, ..ws.clone() }]);
        assert!(!is_dirty(&ws.path).unwrap());
        remove_workspace(Some(&repo), &ws).unwrap();
        assert!(!ws.path.exists());
        assert!(repo.branch_exists("001-x-WP01"), "the branch is kept");
    }

    #[test]
    fn plain_directories_without_git() {
        let dir = tempfile::tempdir().unwrap();
        let project = Project { root: dir.path().to_owned() };
        let ws = create_workspace(&project, None, "001-x", "WP02", "main").unwrap();
        assert!(ws.created && ws.path.is_dir() && ws.branch.is_none());
        assert_eq!(feature_workspaces(&project, "001-x").len(), 1);
        assert!(feature_workspaces(&project, "002-y").is_empty());
    }
}
