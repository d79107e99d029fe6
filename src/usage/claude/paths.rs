//! Where Claude Code keeps transcripts: `$CLAUDE_CONFIG_DIR/projects` when set (several directories
//! separated by commas are accepted), else `~/.claude/projects` and `$XDG_CONFIG_HOME/claude/projects`
//! (default `~/.config/claude/projects`).

use crate::usage::scope::{ClaudeDirMatch, ProjectScope};
use crate::usage::{AgentHomes, walk};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The `projects/` directories that exist.
pub fn roots(homes: &AgentHomes) -> Vec<PathBuf> {
    let mut roots = Vec::new();
    match homes.claude_config_dir.as_deref() {
        Some(dirs) => {
            for dir in dirs.to_string_lossy().split(',').map(str::trim).filter(|d| !d.is_empty()) {
                roots.push(PathBuf::from(dir).join("projects"));
            }
        }
        None => {
            if let Some(home) = &homes.home {
                roots.push(home.join(".claude/projects"));
            }
            match (&homes.xdg_config_home, &homes.home) {
                (Some(xdg), _) => roots.push(xdg.join("claude/projects")),
                (None, Some(home)) => roots.push(home.join(".config/claude/projects")),
                (None, None) => {}
            }
        }
    }
    roots.retain(|r| r.is_dir());
    roots.dedup();
    roots
}

/// This project's transcript files: every `*.jsonl` below the project folders whose name is derived
/// from the project root (or, for custom folder names, whose transcripts say they ran in it), skipping
/// `tool-results/`. Main transcripts come before subagent files, so a response is first seen where it
/// was made and a side-chain replay of it is recognised as one.
pub fn files(homes: &AgentHomes, scope: &ProjectScope) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for root in roots(homes) {
        let Ok(entries) = std::fs::read_dir(&root) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let wanted = match scope.claude_dir_may_match(&name) {
                ClaudeDirMatch::Yes => true,
                ClaudeDirMatch::No => false,
                ClaudeDirMatch::Unknown => peek_cwd_matches(&path, scope),
            };
            if wanted {
                collect_jsonl(&path, 4, &mut files);
            }
        }
    }
    files.sort_by(|a, b| (depth(a), a).cmp(&(depth(b), b)));
    files
}

fn depth(path: &Path) -> usize {
    path.components().count()
}

/// The `*.jsonl` files below a project folder (`<session>/subagents/` included, `tool-results/` not),
/// `depth` folders down.
fn collect_jsonl(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let keep = |path: &Path, kind: std::fs::FileType| {
        // A link is listed too: if it leads nowhere, the import counts it as an unreadable file.
        (kind.is_file() || kind.is_symlink()) && path.extension().is_some_and(|e| e == "jsonl")
    };
    walk::files(dir, depth, &|name| name != "tool-results", &keep, out);
}

/// Whether the first transcript in a custom-named folder ran in this project (its first `"cwd"`).
fn peek_cwd_matches(dir: &Path, scope: &ProjectScope) -> bool {
    let mut files = Vec::new();
    collect_jsonl(dir, 1, &mut files);
    files.sort();
    let Some(first) = files.first() else { return false };
    let Ok(file) = std::fs::File::open(first) else { return false };
    let mut head = Vec::new();
    if file.take(256 << 10).read_to_end(&mut head).is_err() {
        return false;
    }
    let needle = b"\"cwd\":\"";
    let Some(at) = memchr::memmem::find(&head, needle) else { return false };
    let rest = &head[at + needle.len()..];
    let Some(end) = memchr::memchr(b'"', rest) else { return false };
    std::str::from_utf8(&rest[..end]).is_ok_and(|cwd| scope.contains(cwd))
}
