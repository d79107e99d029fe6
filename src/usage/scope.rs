//! Which usage belongs to this project: records whose working directory is the project root, a
//! directory below it, or one of its work-package worktrees (`.worktrees/<feature>-<WP>`, which live
//! below the root too). Also the cheap pre-filters that spare reading other projects' logs: Claude's
//! project-directory names, Codex's first line, Gemini's project ids.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where a working directory lies in the project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place<'a> {
    /// The root or a directory below it that is not a worktree; the path relative to the root.
    Root(&'a str),
    /// `.worktrees/<name>` (or below it): the worktree's directory name.
    Worktree(&'a str),
}

/// The project's root as agents report working directories, and the names its directories get in the
/// agents' log folders.
#[derive(Debug, Clone)]
pub struct ProjectScope {
    /// The root (as discovered) and its canonical form, when they differ.
    roots: Vec<String>,
    /// Claude's encoded project-directory names of the roots (every non-alphanumeric byte → `-`).
    claude_prefixes: Vec<String>,
    /// sha256 hex of candidate Gemini project roots → that root.
    gemini_hashes: HashMap<String, PathBuf>,
}

impl ProjectScope {
    pub fn new(root: &Path) -> Self {
        let mut roots = vec![trim_slash(&root.to_string_lossy()).to_owned()];
        if let Ok(canonical) = root.canonicalize() {
            let canonical = trim_slash(&canonical.to_string_lossy()).to_owned();
            if !roots.contains(&canonical) {
                roots.push(canonical);
            }
        }
        let claude_prefixes = roots.iter().map(|r| claude_dir_name(r)).collect();
        let mut scope = ProjectScope { roots, claude_prefixes, gemini_hashes: HashMap::new() };
        for root in scope.roots.clone() {
            scope.add_gemini_candidate(Path::new(&root));
        }
        // Worktrees that exist now; removed ones are added by the caller from the status logs.
        for root in scope.roots.clone() {
            if let Ok(entries) = std::fs::read_dir(Path::new(&root).join(crate::workflow::workspace::WORKTREES_DIR)) {
                for entry in entries.flatten() {
                    scope.add_gemini_candidate(&entry.path());
                }
            }
        }
        scope
    }

    pub fn root(&self) -> &str {
        &self.roots[0]
    }

    /// Registers a directory Gemini may have been started in (the root, a worktree that may since
    /// have been removed), so its project hash is recognised.
    pub fn add_gemini_candidate(&mut self, dir: &Path) {
        use sha2::Digest as _;
        let text = dir.to_string_lossy();
        let digest = sha2::Sha256::digest(trim_slash(&text).as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        self.gemini_hashes.insert(hex, dir.to_owned());
    }

    /// Where `cwd` lies in the project, or `None` when it is outside it.
    pub fn place<'a>(&self, cwd: &'a str) -> Option<Place<'a>> {
        let cwd = trim_slash(cwd);
        for root in &self.roots {
            let Some(rest) = cwd.strip_prefix(root.as_str()) else { continue };
            let relative = match rest.strip_prefix('/') {
                Some(relative) => relative,
                None if rest.is_empty() => "",
                None => continue, // a sibling such as /home/dev/app2 for /home/dev/app
            };
            if let Some(inside) = relative.strip_prefix(".worktrees/") {
                let name = inside.split('/').next().unwrap_or("");
                if !name.is_empty() {
                    return Some(Place::Worktree(name));
                }
            }
            return Some(Place::Root(relative));
        }
        None
    }

    pub fn contains(&self, cwd: &str) -> bool {
        self.place(cwd).is_some()
    }

    /// Whether a Claude project directory (named after its cwd) can hold this project's sessions:
    /// its name starts with the encoded root (worktrees and subdirectories extend it). Names not
    /// derived from a path (`CLAUDE_CODE_PROJECT_DIR_NAME`) do not start with `-` and are checked by
    /// looking inside.
    pub fn claude_dir_may_match(&self, name: &str) -> ClaudeDirMatch {
        if self.claude_prefixes.iter().any(|p| name.starts_with(&p[..p.len().min(200)])) {
            ClaudeDirMatch::Yes
        } else if name.starts_with('-') {
            ClaudeDirMatch::No
        } else {
            ClaudeDirMatch::Unknown
        }
    }

    /// The project directory a Gemini project hash (sha256 of the directory Gemini ran in) stands for.
    pub fn gemini_dir_for_hash(&self, hash: &str) -> Option<&Path> {
        self.gemini_hashes.get(hash).map(PathBuf::as_path)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaudeDirMatch {
    Yes,
    No,
    Unknown,
}

/// Claude Code's folder name for a working directory: every byte that is not ASCII alphanumeric
/// becomes `-` (so `/home/dev/my_app.v2` → `-home-dev-my-app-v2`).
pub fn claude_dir_name(path: &str) -> String {
    path.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect()
}

fn trim_slash(path: &str) -> &str {
    if path.len() > 1 { path.trim_end_matches('/') } else { path }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_in_the_project() {
        let scope = ProjectScope::new(Path::new("/nonexistent/dev/demo-app"));
        assert_eq!(scope.place("/nonexistent/dev/demo-app"), Some(Place::Root("")));
        assert_eq!(scope.place("/nonexistent/dev/demo-app/src/"), Some(Place::Root("src")));
        assert_eq!(
            scope.place("/nonexistent/dev/demo-app/.worktrees/001-x-WP01/src"),
            Some(Place::Worktree("001-x-WP01"))
        );
        assert_eq!(scope.place("/nonexistent/dev/demo-app2"), None);
        assert_eq!(scope.place("/elsewhere"), None);
        assert_eq!(claude_dir_name("/home/dev/my_app.v2"), "-home-dev-my-app-v2");
        assert_eq!(scope.claude_dir_may_match("-nonexistent-dev-demo-app--worktrees-001-x-WP01"), ClaudeDirMatch::Yes);
        assert_eq!(scope.claude_dir_may_match("-home-other"), ClaudeDirMatch::No);
        assert_eq!(scope.claude_dir_may_match("custom-name"), ClaudeDirMatch::Unknown);
        use sha2::Digest as _;
        let hash: String =
            sha2::Sha256::digest(b"/nonexistent/dev/demo-app").iter().map(|b| format!("{b:02x}")).collect();
        assert!(scope.gemini_dir_for_hash(&hash).is_some());
    }
}
