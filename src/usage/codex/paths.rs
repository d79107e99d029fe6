//! Where Codex keeps rollouts: `$CODEX_HOME` (default `~/.codex`), `sessions/` (by local date) and
//! `archived_sessions/` (flat). A rollout present in both is read from `sessions/`; a plain `.jsonl`
//! is preferred to its `.jsonl.zst` twin, as Codex itself does.

use crate::usage::{AgentHomes, walk};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

pub fn home(homes: &AgentHomes) -> Option<PathBuf> {
    homes.codex_home.clone().or_else(|| homes.home.as_ref().map(|h| h.join(".codex")))
}

/// Every rollout file, `sessions/` first, sorted by path within each folder.
pub fn files(homes: &AgentHomes) -> Vec<PathBuf> {
    let Some(home) = home(homes) else { return Vec::new() };
    let mut seen_names = HashSet::new();
    let mut out = Vec::new();
    for folder in ["sessions", "archived_sessions"] {
        let mut found = Vec::new();
        collect(&home.join(folder), &mut found);
        found.sort();
        let plain: HashSet<PathBuf> =
            found.iter().filter(|p| p.extension().is_some_and(|e| e == "jsonl")).cloned().collect();
        for path in found {
            if path.extension().is_some_and(|e| e == "zst") && plain.contains(&path.with_extension("")) {
                continue;
            }
            let name = path.file_name().map(|n| n.to_string_lossy().trim_end_matches(".zst").to_owned());
            if name.is_some_and(|n| seen_names.insert(n)) {
                out.push(path);
            }
        }
    }
    out
}

/// The rollouts below `dir` (`sessions/YYYY/MM/DD/` or the flat `archived_sessions/`).
fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let keep = |path: &Path, kind: std::fs::FileType| {
        let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
        kind.is_file() && name.starts_with("rollout-") && (name.ends_with(".jsonl") || name.ends_with(".jsonl.zst"))
    };
    walk::files(dir, 5, &walk::any_folder, &keep, out);
}

/// The rollout of one thread (for the notify hook, whose payload names the thread but not the file):
/// the newest date folders are searched first.
pub fn find_thread(homes: &AgentHomes, thread: &str) -> Option<PathBuf> {
    if thread.is_empty() || thread.contains('/') {
        return None;
    }
    let home = home(homes)?;
    let suffixes = [format!("-{thread}.jsonl"), format!("-{thread}.jsonl.zst")];
    let matches = |p: &Path| p.file_name().is_some_and(|n| suffixes.iter().any(|s| n.to_string_lossy().ends_with(s)));
    let mut stack = vec![home.join("sessions")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut dirs = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push(path);
            } else if matches(&path) {
                return Some(path);
            }
        }
        dirs.sort();
        stack.extend(dirs); // popped newest first
    }
    let mut archived = Vec::new();
    collect(&home.join("archived_sessions"), &mut archived);
    archived.into_iter().find(|p| matches(p))
}
