//! Where Gemini CLI keeps chats: `$GEMINI_CLI_HOME/.gemini` (default `~/.gemini`), `tmp/<project id>/chats/`.
//! The project id is a slug registered in `projects.json` with a `.project_root` file holding the
//! directory (current builds) or the sha256 of that directory (older builds); the chats' metadata line
//! also carries `projectHash`, the sha256 of the directory. Only the folders of this project's root and
//! worktrees are read.

use crate::usage::scope::ProjectScope;
use crate::usage::{AgentHomes, walk};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub fn home(homes: &AgentHomes) -> Option<PathBuf> {
    match &homes.gemini_cli_home {
        Some(dir) => Some(dir.join(".gemini")),
        None => homes.home.as_ref().map(|h| h.join(".gemini")),
    }
}

/// This project's chat files, each with the directory Gemini ran in.
pub fn files(homes: &AgentHomes, scope: &ProjectScope) -> Vec<(PathBuf, Arc<str>)> {
    let Some(home) = home(homes) else { return Vec::new() };
    let registry = read_registry(&home);
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(home.join("tmp")) else { return out };
    let mut dirs: Vec<PathBuf> =
        entries.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).map(|e| e.path()).collect();
    dirs.sort();
    for dir in dirs {
        let chats = dir.join("chats");
        if !chats.is_dir() {
            continue;
        }
        let mut files = Vec::new();
        collect(&chats, &mut files);
        files.sort_by(|a, b| (a.components().count(), a).cmp(&(b.components().count(), b)));
        let Some(project_dir) = project_dir_of(&dir, &registry, scope, files.first().map(PathBuf::as_path)) else {
            continue;
        };
        if !scope.contains(&project_dir) {
            continue;
        }
        let cwd: Arc<str> = project_dir.into();
        out.extend(files.into_iter().map(|f| (f, cwd.clone())));
    }
    out
}

/// The directory Gemini ran in for one chat file (`<project folder>/chats/…`), when it is this project's.
pub fn cwd_of_chat(homes: &AgentHomes, scope: &ProjectScope, chat: &Path) -> Option<String> {
    let project_folder = chat.ancestors().find(|a| a.file_name().is_some_and(|n| n == "chats"))?.parent()?;
    let registry = home(homes).map(|h| read_registry(&h)).unwrap_or_default();
    project_dir_of(project_folder, &registry, scope, Some(chat)).filter(|dir| scope.contains(dir))
}

/// The directory a project folder stands for.
fn project_dir_of(
    dir: &Path,
    registry: &[(String, String)],
    scope: &ProjectScope,
    first_chat: Option<&Path>,
) -> Option<String> {
    if let Ok(text) = crate::fsutil::read_small_string(&dir.join(".project_root"), 64 << 10) {
        let root = text.trim();
        if !root.is_empty() {
            return Some(root.to_owned());
        }
    }
    let name = dir.file_name()?.to_string_lossy().into_owned();
    if let Some((path, _)) = registry.iter().find(|(_, slug)| *slug == name) {
        return Some(path.clone());
    }
    if let Some(path) = scope.gemini_dir_for_hash(&name) {
        return Some(path.to_string_lossy().into_owned());
    }
    // Fall back to the projectHash of the first chat's metadata line.
    let mut head = Vec::new();
    std::fs::File::open(first_chat?).ok()?.take(64 << 10).read_to_end(&mut head).ok()?;
    let needle = b"\"projectHash\":\"";
    let at = memchr::memmem::find(&head, needle)? + needle.len();
    let end = at + memchr::memchr(b'"', &head[at..])?;
    let hash = std::str::from_utf8(&head[at..end]).ok()?;
    scope.gemini_dir_for_hash(hash).map(|p| p.to_string_lossy().into_owned())
}

/// `projects.json`: absolute path → slug (either at the top level or under `projects`).
fn read_registry(home: &Path) -> Vec<(String, String)> {
    let Ok(text) = crate::fsutil::read_small_string(&home.join("projects.json"), crate::fsutil::SMALL_FILE_CAP) else {
        return Vec::new();
    };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) else { return Vec::new() };
    let map = value.get("projects").and_then(|p| p.as_object()).or(value.as_object());
    map.into_iter().flatten().filter_map(|(path, slug)| Some((path.clone(), slug.as_str()?.to_owned()))).collect()
}

/// The chat files below `chats/` (subagents' chats one folder down, in `<parent session>/`).
fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let keep = |path: &Path, kind: std::fs::FileType| {
        kind.is_file() && path.extension().is_some_and(|e| e == "jsonl" || e == "json")
    };
    walk::files(dir, 2, &walk::any_folder, &keep, out);
}
