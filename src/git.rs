//! Git, through the `git` executable. Every workflow command works without git; with a repository,
//! commits, branches, worktrees and merges are made the way upstream makes them.
//!
//! Cheap questions (is this a repository, which branch is checked out) are answered by reading
//! `.git` directly so that commands which only need them never spawn a process.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot run git: {0} (is git installed?)")]
    Spawn(std::io::Error),
    #[error("`git {args}` failed: {message}")]
    Failed { args: String, message: String },
}

impl crate::error::Diagnose for GitError {}

/// A repository's main working tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    pub root: PathBuf,
}

impl Repo {
    /// The repository whose working tree root is `dir` (a `.git` directory or worktree file there).
    pub fn at(dir: &Path) -> Option<Repo> {
        dir.join(".git").exists().then(|| Repo { root: dir.to_owned() })
    }

    /// The checked-out branch, read from `HEAD` (`None` when detached or unreadable).
    pub fn current_branch(&self) -> Option<String> {
        head_branch(&self.root)
    }

    pub fn is_detached(&self) -> bool {
        let head = std::fs::read_to_string(git_dir(&self.root).join("HEAD")).unwrap_or_default();
        !head.trim_start().starts_with("ref:")
    }

    /// Runs `git <args>` in the working tree; a non-zero exit is an error carrying git's stderr.
    pub fn run(&self, args: &[&str]) -> Result<String, GitError> {
        let output = self.output(args)?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).trim_end().to_owned())
        } else {
            Err(failure(args, &output))
        }
    }

    /// Runs `git <args>` and reports only whether it succeeded.
    pub fn succeeds(&self, args: &[&str]) -> bool {
        self.output(args).is_ok_and(|o| o.status.success())
    }

    fn output(&self, args: &[&str]) -> Result<Output, GitError> {
        let started = std::time::Instant::now();
        let output = Command::new("git").arg("-C").arg(&self.root).args(args).env("GIT_TERMINAL_PROMPT", "0").output();
        let elapsed = crate::diagnostics::Ms(started.elapsed());
        match &output {
            Ok(output) => tracing::debug!(
                dir = %self.root.display(),
                status = output.status.code(),
                %elapsed,
                "git {}",
                command_line(args)
            ),
            Err(error) => {
                tracing::debug!(dir = %self.root.display(), %error, "git {} could not start", command_line(args))
            }
        }
        output.map_err(GitError::Spawn)
    }

    pub fn head_sha(&self) -> Option<String> {
        self.run(&["rev-parse", "HEAD"]).ok()
    }

    /// `git status --porcelain -- <paths>` (all paths when empty).
    pub fn status_porcelain(&self, paths: &[&Path]) -> Result<String, GitError> {
        let mut args: Vec<String> = vec!["status".into(), "--porcelain".into()];
        if !paths.is_empty() {
            args.push("--".into());
            args.extend(paths.iter().map(|p| p.to_string_lossy().into_owned()));
        }
        self.run(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// Stages `paths` and commits them (and only them) with `message`. Returns the new commit's sha, or
    /// `None` when there was nothing to commit.
    pub fn commit_paths(&self, paths: &[&Path], message: &str) -> Result<Option<String>, GitError> {
        let names: Vec<String> = paths.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        let mut add = vec!["add", "--"];
        add.extend(names.iter().map(String::as_str));
        self.run(&add)?;
        let mut staged = vec!["diff", "--cached", "--quiet", "--"];
        staged.extend(names.iter().map(String::as_str));
        if self.succeeds(&staged) {
            return Ok(None);
        }
        let mut commit = vec!["commit", "--quiet", "--no-verify", "-m", message, "--"];
        commit.extend(names.iter().map(String::as_str));
        self.run(&commit)?;
        Ok(self.head_sha())
    }

    /// The primary branch: `origin/HEAD`'s target, else the first of main/master/develop that exists,
    /// else "main" (upstream's rule).
    pub fn primary_branch(&self) -> String {
        if let Ok(target) = self.run(&["symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD"])
            && let Some(branch) = target.strip_prefix("origin/")
        {
            return branch.to_owned();
        }
        for candidate in ["main", "master", "develop"] {
            if self.branch_exists(candidate) {
                return candidate.to_owned();
            }
        }
        "main".to_owned()
    }

    pub fn branch_exists(&self, branch: &str) -> bool {
        self.succeeds(&["show-ref", "--verify", "--quiet", &format!("refs/heads/{branch}")])
    }
}

/// `args` as a shell would show them: arguments with spaces or quotes in single quotes (diagnostics only).
fn command_line(args: &[&str]) -> String {
    let quote = |arg: &&str| {
        if !arg.is_empty() && arg.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:@,+%^~".contains(&b)) {
            (*arg).to_owned()
        } else {
            format!("'{}'", arg.replace('\'', "'\\''"))
        }
    };
    args.iter().map(quote).collect::<Vec<_>>().join(" ")
}

fn failure(args: &[&str], output: &Output) -> GitError {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let message = stderr.trim().lines().chain(stdout.trim().lines()).take(3).collect::<Vec<_>>().join("; ");
    GitError::Failed {
        args: args.join(" "),
        message: if message.is_empty() { format!("exit {}", output.status) } else { message },
    }
}

/// The git directory of a working tree: `.git` itself, or what a worktree's `.git` file points to.
fn git_dir(worktree: &Path) -> PathBuf {
    let dot_git = worktree.join(".git");
    if dot_git.is_file()
        && let Ok(text) = std::fs::read_to_string(&dot_git)
        && let Some(pointer) = text.lines().find_map(|l| l.strip_prefix("gitdir:"))
    {
        return worktree.join(pointer.trim());
    }
    dot_git
}

/// The branch checked out in the working tree containing `dir` (walking up to the nearest `.git`).
pub fn branch_at(dir: &Path) -> Option<String> {
    dir.ancestors().find(|d| d.join(".git").exists()).and_then(head_branch)
}

/// The commit `HEAD` points at, read from the git directory (loose ref or packed-refs) without
/// spawning git.
pub fn head_sha(worktree: &Path) -> Option<String> {
    let dir = git_dir(worktree);
    let head = std::fs::read_to_string(dir.join("HEAD")).ok()?;
    let head = head.trim();
    let Some(reference) = head.strip_prefix("ref: ") else {
        return is_sha(head).then(|| head.to_owned());
    };
    // Worktrees keep refs in the common directory.
    let common = std::fs::read_to_string(dir.join("commondir")).ok().map_or(dir.clone(), |c| dir.join(c.trim()));
    for base in [&dir, &common] {
        if let Ok(sha) = std::fs::read_to_string(base.join(reference)) {
            return Some(sha.trim().to_owned()).filter(|s| is_sha(s));
        }
    }
    let packed = std::fs::read_to_string(common.join("packed-refs")).ok()?;
    packed.lines().find_map(|line| line.strip_suffix(reference).map(str::trim)).filter(|s| is_sha(s)).map(str::to_owned)
}

fn is_sha(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The URL of remote `origin` from the repository's config file, without spawning git.
pub fn origin_url(worktree: &Path) -> Option<String> {
    let dir = git_dir(worktree);
    let common = std::fs::read_to_string(dir.join("commondir")).ok().map_or(dir.clone(), |c| dir.join(c.trim()));
    let config = std::fs::read_to_string(common.join("config")).ok()?;
    let mut in_origin = false;
    for line in config.lines().map(str::trim) {
        if line.starts_with('[') {
            in_origin = line == "[remote \"origin\"]";
        } else if in_origin
            && let Some((key, value)) = line.split_once('=')
            && key.trim() == "url"
        {
            return Some(value.trim().to_owned());
        }
    }
    None
}

/// `owner/repo` from a remote URL (`git@github.com:owner/repo.git`, `https://host/group/sub/repo`);
/// `None` for local paths and file URLs.
pub fn repo_slug_of(url: &str) -> Option<String> {
    let url = url.trim().trim_end_matches('/');
    let url = url.strip_suffix(".git").unwrap_or(url);
    let path = if let Some((_, rest)) = url.split_once("://") {
        if url.starts_with("file://") {
            return None;
        }
        rest.split_once('/')?.1
    } else if let Some((host, path)) = url.split_once(':') {
        if host.contains('/') || host.is_empty() {
            return None;
        }
        path
    } else {
        return None;
    };
    let path = path.trim_matches('/');
    (path.contains('/') && !path.split('/').any(str::is_empty)).then(|| path.to_owned())
}

/// The branch named by `<git dir>/HEAD`, without spawning git.
pub fn head_branch(worktree: &Path) -> Option<String> {
    let head = std::fs::read_to_string(git_dir(worktree).join("HEAD")).ok()?;
    head.trim().strip_prefix("ref: refs/heads/").map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn init_repo() -> (tempfile::TempDir, Repo) {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo { root: dir.path().to_owned() };
        repo.run(&["init", "--quiet", "--initial-branch", "main"]).unwrap();
        repo.run(&["config", "user.email", "t@example.com"]).unwrap();
        repo.run(&["config", "user.name", "T"]).unwrap();
        (dir, repo)
    }

    #[test]
    fn commits_only_the_given_paths() {
        let (dir, repo) = init_repo();
        std::fs::write(dir.path().join("a.txt"), "a").unwrap();
        std::fs::write(dir.path().join("b.txt"), "b").unwrap();
        let sha = repo.commit_paths(&[Path::new("a.txt")], "Add a").unwrap();
        assert!(sha.is_some());
        assert_eq!(repo.status_porcelain(&[]).unwrap(), "?? b.txt");
        assert_eq!(repo.commit_paths(&[Path::new("a.txt")], "again").unwrap(), None, "nothing to commit");
        assert_eq!(repo.current_branch().as_deref(), Some("main"));
        assert_eq!(repo.primary_branch(), "main");
        assert!(!repo.is_detached());
    }

    #[test]
    fn reads_head_and_origin_without_spawning_git() {
        let (dir, repo) = init_repo();
        std::fs::write(dir.path().join("a.txt"), "a").unwrap();
        let sha = repo.commit_paths(&[Path::new("a.txt")], "Add a").unwrap().unwrap();
        assert_eq!(head_sha(dir.path()).as_deref(), Some(sha.as_str()));
        repo.run(&["pack-refs", "--all"]).unwrap();
        assert_eq!(head_sha(dir.path()).as_deref(), Some(sha.as_str()));
        repo.run(&["remote", "add", "origin", "git@github.com:Acme/widgets.git"]).unwrap();
        assert_eq!(origin_url(dir.path()).as_deref(), Some("git@github.com:Acme/widgets.git"));
        assert_eq!(repo_slug_of("git@github.com:Acme/widgets.git").as_deref(), Some("Acme/widgets"));
        assert_eq!(repo_slug_of("https://gitlab.com/group/sub/repo.git").as_deref(), Some("group/sub/repo"));
        assert_eq!(repo_slug_of("/srv/git/repo.git"), None);
        assert_eq!(repo_slug_of("file:///srv/git/repo"), None);
    }

    #[test]
    fn command_lines_quote_what_a_shell_would_split() {
        assert_eq!(command_line(&["add", "--", "kitty-specs/001-a/tasks.md"]), "add -- kitty-specs/001-a/tasks.md");
        assert_eq!(command_line(&["commit", "-m", "Move WP01", ""]), "commit -m 'Move WP01' ''");
        assert_eq!(command_line(&["-m", "it's"]), "-m 'it'\\''s'");
    }

    #[test]
    fn failures_carry_gits_message() {
        let (_dir, repo) = init_repo();
        let err = repo.run(&["checkout", "no-such-branch"]).unwrap_err().to_string();
        assert!(err.contains("`git checkout no-such-branch` failed") && err.contains("no-such-branch"), "{err}");
    }
}
