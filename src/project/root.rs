//! Project-root discovery, following upstream's `locate_project_root` (reference/workflow.md §1.1).

use crate::context::Context;
use std::path::{Path, PathBuf};

/// A located spec-kitty project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub root: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("not inside a spec-kitty project (no .kittify/ in {} or any parent directory)", start.display())]
    NotInProject { start: PathBuf },
}

impl Project {
    /// Finds the project for a command:
    /// 1. `$SPECIFY_REPO_ROOT` when it exists and contains `.kittify/`;
    /// 2. walking up from the working directory: a git worktree (`.git` file) resolves to its main
    ///    checkout when that is a project, so all `kitty-specs/` writes land in the main checkout; a
    ///    directory with `.kittify/` is a project; so is a git repository root that has `kitty-specs/`
    ///    (projects predating `.kittify/`).
    pub fn discover(ctx: &Context) -> Result<Project, DiscoveryError> {
        if let Some(root) = &ctx.repo_root_override
            && root.join(".kittify").is_dir()
        {
            return Ok(Project { root: root.clone() });
        }
        for dir in ctx.cwd.ancestors() {
            let git = dir.join(".git");
            if git.is_file()
                && let Some(main) = main_checkout_of(&git)
                && is_project_dir(&main)
            {
                return Ok(Project { root: main });
            }
            if dir.join(".kittify").is_dir() || (git.is_dir() && dir.join("kitty-specs").is_dir()) {
                return Ok(Project { root: dir.to_owned() });
            }
        }
        Err(DiscoveryError::NotInProject { start: ctx.cwd.clone() })
    }

    pub fn kitty_specs(&self) -> PathBuf {
        self.root.join("kitty-specs")
    }

    pub fn feature_dir(&self, slug: &str) -> PathBuf {
        self.kitty_specs().join(slug)
    }

    /// `path` relative to the project root when it is inside it (for messages).
    pub fn display_path<'a>(&self, path: &'a Path) -> std::borrow::Cow<'a, str> {
        match path.strip_prefix(&self.root) {
            Ok(relative) => relative.to_string_lossy(),
            Err(_) => path.to_string_lossy(),
        }
    }
}

fn is_project_dir(dir: &Path) -> bool {
    dir.join(".kittify").is_dir() || dir.join("kitty-specs").is_dir()
}

/// `.git` file `gitdir: /main/.git/worktrees/<name>` → `/main`.
fn main_checkout_of(git_file: &Path) -> Option<PathBuf> {
    let text = crate::fsutil::read_small_string(git_file, crate::fsutil::SMALL_FILE_CAP).ok()?;
    let gitdir = text.lines().find_map(|l| l.strip_prefix("gitdir:"))?.trim();
    let gitdir = git_file.parent()?.join(gitdir);
    let main = gitdir.parent()?.parent()?.parent()?;
    main.canonicalize().ok().filter(|m| m.is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Clock;
    use crate::events::IdGenerator;
    use std::fs;

    fn ctx(cwd: &Path, root_override: Option<&Path>) -> Context {
        Context {
            cwd: cwd.to_owned(),
            home: None,
            repo_root_override: root_override.map(Path::to_owned),
            feature_override: None,
            server_url_override: None,
            ca_file_override: None,
            sync_events_disabled: false,
            clock: Clock::System,
            ids: IdGenerator::seeded(0),
            strict: false,
            lock_timeout: crate::context::DEFAULT_LOCK_TIMEOUT,
            emit_lock_timeout: crate::context::DEFAULT_EMIT_LOCK_TIMEOUT,
        }
    }

    #[test]
    fn walks_up_to_kittify() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fs::create_dir_all(root.join(".kittify")).unwrap();
        fs::create_dir_all(root.join("kitty-specs/001-x/tasks")).unwrap();
        let found = Project::discover(&ctx(&root.join("kitty-specs/001-x/tasks"), None)).unwrap();
        assert_eq!(found.root, root);
    }

    #[test]
    fn worktree_resolves_to_main_checkout() {
        let tmp = tempfile::tempdir().unwrap();
        let main = tmp.path().join("main");
        fs::create_dir_all(main.join(".kittify")).unwrap();
        fs::create_dir_all(main.join(".git/worktrees/001-x-WP01")).unwrap();
        let wt = main.join(".worktrees/001-x-WP01");
        fs::create_dir_all(wt.join(".kittify")).unwrap();
        fs::write(wt.join(".git"), format!("gitdir: {}\n", main.join(".git/worktrees/001-x-WP01").display())).unwrap();
        assert_eq!(Project::discover(&ctx(&wt, None)).unwrap().root, main);
    }

    #[test]
    fn override_needs_kittify_and_plain_git_is_not_a_project() {
        let tmp = tempfile::tempdir().unwrap();
        let elsewhere = tmp.path().join("elsewhere");
        fs::create_dir_all(elsewhere.join(".git")).unwrap();
        let project = tmp.path().join("p");
        fs::create_dir_all(project.join(".kittify")).unwrap();
        assert_eq!(Project::discover(&ctx(&elsewhere, Some(&project))).unwrap().root, project);
        let err = Project::discover(&ctx(&elsewhere, Some(&elsewhere))).unwrap_err();
        assert!(err.to_string().contains("not inside a spec-kitty project"));
        fs::create_dir_all(elsewhere.join("kitty-specs")).unwrap();
        assert_eq!(Project::discover(&ctx(&elsewhere, None)).unwrap().root, elsewhere);
    }
}
