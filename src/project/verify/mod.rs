//! The facts `spec-kitty verify-setup` reports: which agent CLIs are installed, whether the project's
//! structure is intact, its features with their work-package lanes, and its `.worktrees/` workspaces.
//! Gathering only; deciding what to show is the command's job.
//!
//! Upstream (`verify.py`, `verify_enhanced.py`, `manifest.py`) also reports a feature-branch overview and
//! a mission file manifest; both are gathered here with one `git` call each instead of several per
//! feature.

mod report;

pub use report::{FeatureLookup, SetupReport};

use super::Project;
use super::config::{CONFIG_FILE, ProjectConfig};
use crate::git::Repo;
use crate::workflow::lanes::Lane;
use crate::workflow::wp::WorkPackage;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// The tools upstream checks (`TOOL_LABELS`, in its order), then the GitHub CLIs Copilot runs through.
pub const TOOLS: [(&str, &str); 15] = [
    ("git", "Git version control"),
    ("claude", "Claude Code CLI"),
    ("gemini", "Gemini CLI"),
    ("qwen", "Qwen Code CLI"),
    ("code", "Visual Studio Code"),
    ("code-insiders", "Visual Studio Code Insiders"),
    ("cursor-agent", "Cursor IDE agent"),
    ("windsurf", "Windsurf IDE"),
    ("kilocode", "Kilo Code IDE"),
    ("opencode", "opencode"),
    ("codex", "Codex CLI"),
    ("auggie", "Auggie CLI"),
    ("q", "Amazon Q Developer CLI"),
    ("copilot", "GitHub Copilot CLI"),
    ("gh", "GitHub CLI"),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCheck {
    pub key: &'static str,
    pub label: &'static str,
    /// Where it was found on `PATH`.
    pub path: Option<PathBuf>,
}

impl ToolCheck {
    pub fn available(&self) -> bool {
        self.path.is_some()
    }
}

/// Every tool of [`TOOLS`], looked up in `path_var` (a `PATH` value).
pub fn check_tools(path_var: Option<&OsStr>) -> Vec<ToolCheck> {
    TOOLS
        .iter()
        .map(|&(key, label)| ToolCheck { key, label, path: path_var.and_then(|p| find_on_path(key, p)) })
        .collect()
}

/// The first executable file named `program` in the directories of `path_var`.
pub fn find_on_path(program: &str, path_var: &OsStr) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path_var).filter(|dir| !dir.as_os_str().is_empty()).map(|dir| dir.join(program)).find(
        |candidate| std::fs::metadata(candidate).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0),
    )
}

/// `.kittify/config.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigCheck {
    pub path: PathBuf,
    pub exists: bool,
    /// Why it cannot be used (unreadable or invalid YAML).
    pub error: Option<String>,
    pub identity_complete: bool,
}

/// One feature under `kitty-specs/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureSummary {
    pub slug: String,
    pub mission: Option<String>,
    /// Work packages by lane (canonical names; `doing` counts as `in_progress`).
    pub lanes: BTreeMap<Lane, usize>,
    pub work_packages: usize,
    /// WP files that cannot be read, or whose lane is unknown, with the reason.
    pub unreadable: Vec<String>,
    /// The `*.md` files directly in the feature directory (upstream's "artifacts in main").
    pub artifacts: Vec<String>,
}

impl FeatureSummary {
    /// Every work package done (a feature without work packages is not complete).
    pub fn complete(&self) -> bool {
        self.work_packages > 0 && self.lanes.get(&Lane::Done) == Some(&self.work_packages)
    }
}

/// One directory under `.worktrees/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorktreeCheck {
    pub name: String,
    pub path: PathBuf,
    /// A working tree git knows (listed by `git worktree list`, with a `.git` file).
    pub git_worktree: bool,
    pub branch: Option<String>,
    /// `<feature>` and `WPxx` when the name is `<feature>-WPxx`.
    pub feature: Option<String>,
    pub wp_id: Option<String>,
    /// Why it is broken, when it is.
    pub problem: Option<String>,
}

/// What git knows about the project's branches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Branches {
    pub primary: String,
    pub local: BTreeSet<String>,
    /// Local branches merged into the primary branch.
    pub merged: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectCheck {
    pub kittify_exists: bool,
    pub config: ConfigCheck,
    pub kitty_specs_exists: bool,
    /// `None` without a git repository at the project root.
    pub branches: Option<Branches>,
    pub features: Vec<FeatureSummary>,
    pub worktrees: Vec<WorktreeCheck>,
    /// Worktrees git has registered under `.worktrees/` whose directory is gone (`git worktree prune`).
    pub stale_registrations: Vec<String>,
}

/// Inspects the project. Reads only; one `git worktree list` and two `git for-each-ref`-style calls at most.
pub fn check_project(project: &Project) -> ProjectCheck {
    let root = &project.root;
    let config_path = root.join(CONFIG_FILE);
    let config = match std::fs::read_to_string(&config_path) {
        Ok(text) => match ProjectConfig::parse(&text) {
            Ok(parsed) => ConfigCheck {
                path: config_path,
                exists: true,
                error: None,
                identity_complete: parsed.project.is_complete(),
            },
            Err(e) => ConfigCheck {
                path: config_path,
                exists: true,
                error: Some(format!("invalid YAML: {e}")),
                identity_complete: false,
            },
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            ConfigCheck { path: config_path, exists: false, error: None, identity_complete: false }
        }
        Err(e) => ConfigCheck {
            path: config_path,
            exists: true,
            error: Some(format!("cannot read: {e}")),
            identity_complete: false,
        },
    };
    let repo = Repo::at(root);
    let branches = repo.as_ref().map(branches_of);
    let (worktrees, stale_registrations) = check_worktrees(project, repo.as_ref());
    ProjectCheck {
        kittify_exists: root.join(".kittify").is_dir(),
        config,
        kitty_specs_exists: project.kitty_specs().is_dir(),
        branches,
        features: crate::project::detect::list_features(project)
            .into_iter()
            .map(|slug| summarize_feature(&project.feature_dir(&slug), slug))
            .collect(),
        worktrees,
        stale_registrations,
    }
}

fn branches_of(repo: &Repo) -> Branches {
    let list = |args: &[&str]| -> BTreeSet<String> {
        repo.run(args)
            .map(|out| out.lines().map(|l| l.trim().to_owned()).filter(|l| !l.is_empty()).collect())
            .unwrap_or_default()
    };
    let primary = repo.primary_branch();
    let local = list(&["for-each-ref", "--format=%(refname:short)", "refs/heads/"]);
    let merged = if local.contains(&primary) {
        list(&["for-each-ref", "--format=%(refname:short)", "--merged", &primary, "refs/heads/"])
    } else {
        BTreeSet::new()
    };
    Branches { primary, local, merged }
}

/// A feature's work packages by lane, read from their frontmatter (what every command reads).
pub fn summarize_feature(dir: &Path, slug: String) -> FeatureSummary {
    let mission = crate::project::meta::FeatureMeta::load(dir)
        .ok()
        .flatten()
        .and_then(|meta| meta.str("mission").map(str::to_owned));
    let mut lanes = BTreeMap::new();
    let mut unreadable = Vec::new();
    let packages = WorkPackage::all(dir);
    for package in &packages {
        match package.as_ref().map(|wp| (wp, wp.lane())) {
            Ok((_, Ok(lane))) => *lanes.entry(lane).or_insert(0) += 1,
            Ok((_, Err(e))) => unreadable.push(e.to_string()),
            Err(e) => unreadable.push(e.to_string()),
        }
    }
    let mut artifacts: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| name.ends_with(".md"))
        .collect();
    artifacts.sort();
    FeatureSummary { slug, mission, lanes, work_packages: packages.len(), unreadable, artifacts }
}

fn check_worktrees(project: &Project, repo: Option<&Repo>) -> (Vec<WorktreeCheck>, Vec<String>) {
    let dir = project.root.join(crate::workflow::workspace::WORKTREES_DIR);
    // `git worktree list --porcelain`: the registered working trees, and which of them are gone.
    let mut registered: BTreeMap<PathBuf, Option<String>> = BTreeMap::new();
    let mut stale = Vec::new();
    let listing = repo.and_then(|r| r.run(&["worktree", "list", "--porcelain"]).ok());
    if let Some(listing) = &listing {
        for block in listing.split("\n\n") {
            let mut path = None;
            let mut branch = None;
            let mut prunable = false;
            for line in block.lines() {
                if let Some(p) = line.strip_prefix("worktree ") {
                    path = Some(PathBuf::from(p));
                } else if let Some(b) = line.strip_prefix("branch ") {
                    branch = Some(b.strip_prefix("refs/heads/").unwrap_or(b).to_owned());
                } else if line.starts_with("prunable") {
                    prunable = true;
                }
            }
            let Some(path) = path else { continue };
            if prunable || !path.exists() {
                if path.starts_with(&dir) || path.starts_with(dir.canonicalize().unwrap_or_default()) {
                    stale.push(path.display().to_string());
                }
                continue;
            }
            registered.insert(path.canonicalize().unwrap_or(path), branch);
        }
    }
    let mut found: Vec<WorktreeCheck> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok().map(|name| (name, e.path())))
        .map(|(name, path)| {
            let (feature, wp_id) = match name.rsplit_once('-') {
                Some((feature, wp)) if crate::sync::event::is_wp_id(wp) => {
                    (Some(feature.to_owned()), Some(wp.to_owned()))
                }
                _ if crate::project::detect::is_feature_slug(&name) => (Some(name.clone()), None),
                _ => (None, None),
            };
            let canonical = path.canonicalize().unwrap_or_else(|_| path.clone());
            let (git_worktree, branch, problem) = match (repo, registered.get(&canonical)) {
                (None, _) => (false, None, None),
                // git cannot be run: judge by the `.git` file's pointer alone.
                (Some(_), _) if listing.is_none() => match gitdir_of(&path) {
                    Some(gitdir) if gitdir.is_dir() => (true, crate::git::head_branch(&path), None),
                    Some(_) => (false, None, Some("points to a git directory that no longer exists".to_owned())),
                    None => (false, None, Some("not a git worktree of this repository".to_owned())),
                },
                (Some(_), Some(branch)) if path.join(".git").is_file() => (true, branch.clone(), None),
                (Some(_), Some(_)) => {
                    (false, None, Some("registered with git but its .git file is missing".to_owned()))
                }
                (Some(_), None) if path.join(".git").exists() => (
                    false,
                    None,
                    Some("has a .git entry but git does not list it as a worktree of this repository".to_owned()),
                ),
                (Some(_), None) => (false, None, Some("not a git worktree of this repository".to_owned())),
            };
            WorktreeCheck { name, path, git_worktree, branch, feature, wp_id, problem }
        })
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    stale.sort();
    (found, stale)
}

/// The directory a worktree's `.git` file points to.
fn gitdir_of(worktree: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(worktree.join(".git")).ok()?;
    let pointer = text.lines().find_map(|l| l.strip_prefix("gitdir:"))?.trim();
    Some(worktree.join(pointer))
}

/// Upstream's per-feature state (`WorktreeStatus.get_feature_status`), from gathered facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureState {
    pub name: String,
    pub branch_exists: bool,
    pub branch_merged: bool,
    /// A legacy per-feature worktree `.worktrees/<feature>`.
    pub worktree_path: Option<PathBuf>,
    pub artifacts_in_main: Vec<String>,
    pub artifacts_in_worktree: Vec<String>,
    /// `not_started`, `in_development`, `ready_to_merge`, `merged` or `unknown`.
    pub state: &'static str,
}

impl ProjectCheck {
    /// What makes the setup unusable, one sentence each (naming the path and the fix).
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !self.kittify_exists {
            problems.push(".kittify/ is missing: run `spec-kitty init` in the project root".to_owned());
        }
        if let Some(error) = &self.config.error {
            problems.push(format!("{}: {error}", self.config.path.display()));
        }
        if !self.kitty_specs_exists {
            problems.push("kitty-specs/ is missing: run `spec-kitty init` in the project root".to_owned());
        }
        for feature in &self.features {
            problems.extend(feature.unreadable.iter().map(|e| format!("{}: {e}", feature.slug)));
        }
        for worktree in &self.worktrees {
            if let Some(problem) = &worktree.problem {
                problems.push(format!(
                    ".worktrees/{} {problem}: remove it, or recreate it with `spec-kitty implement`",
                    worktree.name
                ));
            }
        }
        for stale in &self.stale_registrations {
            problems.push(format!("git still lists the removed worktree {stale}: run `git worktree prune`"));
        }
        problems
    }

    /// Every feature upstream's overview counts: feature branches (`NNN-…`, WP branches excluded as
    /// they are work-package branches here) and feature directories.
    pub fn all_feature_names(&self) -> Vec<String> {
        let mut names: BTreeSet<String> = self.features.iter().map(|f| f.slug.clone()).collect();
        if let Some(branches) = &self.branches {
            names.extend(
                branches
                    .local
                    .iter()
                    .filter(|b| crate::project::detect::is_feature_slug(b))
                    .filter(|b| !b.rsplit_once('-').is_some_and(|(_, wp)| crate::sync::event::is_wp_id(wp)))
                    .cloned(),
            );
        }
        names.into_iter().collect()
    }

    pub fn feature_state(&self, project: &Project, name: &str) -> FeatureState {
        let branch_exists = self.branches.as_ref().is_some_and(|b| b.local.contains(name));
        let branch_merged = branch_exists && self.branches.as_ref().is_some_and(|b| b.merged.contains(name));
        let legacy = project.root.join(crate::workflow::workspace::WORKTREES_DIR).join(name);
        let worktree_path = legacy.is_dir().then_some(legacy);
        let artifacts_in_main =
            self.features.iter().find(|f| f.slug == name).map(|f| f.artifacts.clone()).unwrap_or_default();
        let artifacts_in_worktree = worktree_path
            .as_ref()
            .map(|w| summarize_feature(&w.join("kitty-specs").join(name), name.to_owned()).artifacts)
            .unwrap_or_default();
        let state = if !branch_exists && artifacts_in_main.is_empty() {
            "not_started"
        } else if branch_merged && !artifacts_in_main.is_empty() {
            "merged"
        } else if worktree_path.is_some() || !artifacts_in_worktree.is_empty() {
            "in_development"
        } else if branch_exists {
            "ready_to_merge"
        } else if !artifacts_in_main.is_empty() {
            // No branch but planning artefacts on the main branch: merged and the branch deleted.
            "merged"
        } else {
            "unknown"
        };
        FeatureState {
            name: name.to_owned(),
            branch_exists,
            branch_merged,
            worktree_path,
            artifacts_in_main,
            artifacts_in_worktree,
            state,
        }
    }
}

/// Upstream's mission file manifest of the active mission (`.kittify/missions/<mission>/`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MissionFiles {
    pub active_mission: String,
    /// Category (`commands`, `templates`, `scripts`, `mission_files`) → files relative to `.kittify/`.
    pub expected: BTreeMap<&'static str, Vec<String>>,
    pub missing: Vec<String>,
}

/// The active mission (`.kittify/active-mission`: a file naming it or a link to its directory; default
/// `software-dev`) and the files its directory is expected to provide.
pub fn mission_files(project: &Project) -> MissionFiles {
    let kittify = project.root.join(".kittify");
    let marker = kittify.join("active-mission");
    let active_mission = match std::fs::symlink_metadata(&marker) {
        Ok(meta) if meta.file_type().is_symlink() => std::fs::read_link(&marker)
            .ok()
            .and_then(|target| target.file_name().map(|n| n.to_string_lossy().into_owned())),
        Ok(_) => std::fs::read_to_string(&marker).ok().map(|t| t.trim_start_matches('\u{FEFF}').trim().to_owned()),
        Err(_) => None,
    }
    .filter(|m| !m.is_empty())
    .unwrap_or_else(|| "software-dev".to_owned());
    let mission_dir = kittify.join("missions").join(&active_mission);
    let mut files = MissionFiles { active_mission, ..MissionFiles::default() };
    if !mission_dir.is_dir() {
        return files;
    }
    let relative = |path: &Path| path.strip_prefix(&kittify).unwrap_or(path).display().to_string();
    let md_files = |sub: &str| -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = std::fs::read_dir(mission_dir.join(sub))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "md"))
            .collect();
        found.sort();
        found
    };
    let commands = md_files("command-templates");
    let mut scripts = BTreeSet::new();
    for command in &commands {
        let text = std::fs::read_to_string(command).unwrap_or_default();
        let mut lines = text.lines();
        if lines.next().map(str::trim) != Some("---") {
            continue;
        }
        for line in lines.take_while(|l| l.trim() != "---") {
            if let Some((_, value)) = line.split_once("sh:") {
                let script = value.trim().trim_matches(['"', '\'']).split_whitespace().next().unwrap_or_default();
                if let Some(rest) = script.strip_prefix(".kittify/") {
                    scripts.insert(rest.to_owned());
                }
            }
        }
    }
    let mission_yaml = mission_dir.join("mission.yaml");
    files.expected.insert("commands", commands.iter().map(|p| relative(p)).collect());
    files.expected.insert("templates", md_files("templates").iter().map(|p| relative(p)).collect());
    files.expected.insert("scripts", scripts.into_iter().collect());
    files.expected.insert("mission_files", if mission_yaml.is_file() { vec![relative(&mission_yaml)] } else { vec![] });
    files.missing = files.expected.values().flatten().filter(|f| !kittify.join(f.as_str()).exists()).cloned().collect();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_executables_on_path_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join("claude"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(bin.join("claude"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(bin.join("codex"), "not executable").unwrap();
        let path = std::env::join_paths([dir.path().join("missing"), bin.clone()]).unwrap();
        assert_eq!(find_on_path("claude", &path), Some(bin.join("claude")));
        assert_eq!(find_on_path("codex", &path), None);
        let tools = check_tools(Some(&path));
        assert_eq!(tools.len(), TOOLS.len());
        assert!(tools.iter().find(|t| t.key == "claude").unwrap().available());
        assert!(check_tools(None).iter().all(|t| !t.available()));
    }

    #[test]
    fn summarizes_lanes_and_unreadable_work_packages() {
        let dir = tempfile::tempdir().unwrap();
        let tasks = dir.path().join("tasks");
        std::fs::create_dir_all(&tasks).unwrap();
        std::fs::write(tasks.join("WP01-a.md"), "---\nlane: done\n---\n").unwrap();
        std::fs::write(tasks.join("WP02-b.md"), "---\nlane: doing\n---\n").unwrap();
        std::fs::write(tasks.join("WP03-c.md"), "---\ntitle: no lane\n---\n").unwrap();
        std::fs::write(tasks.join("WP04-d.md"), "---\nlane: wip\n---\n").unwrap();
        std::fs::write(dir.path().join("spec.md"), "x").unwrap();
        let summary = summarize_feature(dir.path(), "001-x".into());
        assert_eq!(summary.work_packages, 4);
        assert_eq!(summary.lanes, BTreeMap::from([(Lane::Planned, 1), (Lane::InProgress, 1), (Lane::Done, 1)]));
        assert_eq!(summary.unreadable.len(), 1);
        assert!(summary.unreadable[0].contains("Unknown lane: wip"), "{:?}", summary.unreadable);
        assert_eq!(summary.artifacts, ["spec.md"]);
        assert!(!summary.complete());
    }

    #[test]
    fn the_mission_manifest_lists_referenced_scripts() {
        let dir = tempfile::tempdir().unwrap();
        let mission = dir.path().join(".kittify/missions/software-dev");
        std::fs::create_dir_all(mission.join("command-templates")).unwrap();
        std::fs::write(
            mission.join("command-templates/plan.md"),
            "---\nscripts:\n  sh: .kittify/scripts/bash/setup-plan.sh --json\n  ps: x\n---\nbody sh: .kittify/scripts/ignored.sh\n",
        )
        .unwrap();
        std::fs::write(mission.join("mission.yaml"), "x").unwrap();
        let files = mission_files(&Project { root: dir.path().to_owned() });
        assert_eq!(files.active_mission, "software-dev");
        assert_eq!(files.expected["commands"], ["missions/software-dev/command-templates/plan.md"]);
        assert_eq!(files.expected["scripts"], ["scripts/bash/setup-plan.sh"]);
        assert_eq!(files.missing, ["scripts/bash/setup-plan.sh"]);
    }
}
