//! Feature acceptance: the file-based readiness checks of upstream's `acceptance.collect_feature_summary`
//! (reference/workflow.md §4.13) and the acceptance record it writes into `meta.json`.
//!
//! [`collect`] only reads; [`record_acceptance`] edits a [`FeatureMeta`] in memory. The command decides
//! when (and whether) anything is written.
//!
//! Where we differ from upstream, on purpose:
//! - Every work package must be `done` (or `canceled`, which counts as finished). Upstream only blocked
//!   the `planned`/`doing`/`for_review` buckets of a dictionary keyed by canonical lanes, so `doing` was
//!   never a key and `in_progress`, `claimed` and `blocked` work packages slipped through.
//! - The Activity Log check treats `doing` and `in_progress` as the same lane.
//! - A `tasks/` directory without any `WP*.md` is an issue (upstream accepted such a feature vacuously).
//! - The git cleanliness check ignores the files spec-kitty itself keeps writing (telemetry and status
//!   logs, `.worktrees/`, `.kittify/workspaces/`, `.kittify/runtime/`); any other change still fails it.
//! - Mission path rules are not checked.

use super::activity::parse_activity;
use super::lanes::Lane;
use super::tasks_md;
use super::wp::WorkPackage;
use crate::git::{GitError, Repo};
use crate::project::meta::FeatureMeta;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The files every accepted feature has.
pub const REQUIRED_ARTIFACTS: [&str; 3] = ["spec.md", "plan.md", "tasks.md"];
/// Files a feature usually has; missing ones are warnings.
pub const OPTIONAL_ARTIFACTS: [&str; 4] = ["quickstart.md", "data-model.md", "research.md", "contracts"];
/// Documents that must not carry a `[NEEDS CLARIFICATION` marker (upstream's order).
pub const CLARIFICATION_DOCUMENTS: [&str; 6] =
    ["spec.md", "plan.md", "quickstart.md", "tasks.md", "research.md", "data-model.md"];
/// Files inside `kitty-specs/<feature>/` that spec-kitty rewrites as a side effect of ordinary commands;
/// their changes never make a checkout "dirty" for accept or merge.
pub const BOOKKEEPING_FILES: [&str; 4] =
    ["execution.events.jsonl", ".telemetry-clock.json", "status.events.jsonl", "status.json"];
/// Directories of per-checkout runtime state (work-package worktrees, the workspace context files
/// `implement` writes, which upstream keeps gitignored, and the mission runs of `spec-kitty next`): never
/// part of a checkout's changes.
pub const RUNTIME_DIRS: [&str; 3] = [".worktrees/", ".kittify/workspaces/", ".kittify/runtime/"];
/// How many acceptance records `meta.json` keeps (upstream's limit).
pub const HISTORY_LIMIT: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum AcceptanceError {
    #[error("feature directory not found: {}", .0.display())]
    NoFeatureDir(PathBuf),
    #[error("feature '{feature}' has no tasks directory at {}", dir.display())]
    NoTasksDir { feature: String, dir: PathBuf },
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot check for uncommitted changes: {0}")]
    Git(#[from] GitError),
    #[error("meta.json field acceptance_history is not a list; fix or remove it before accepting")]
    BadHistory,
}

impl crate::error::Diagnose for AcceptanceError {}

/// How an acceptance is recorded: `pr` and `local` record it, `checklist` only reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptanceMode {
    Pr,
    Local,
    Checklist,
}

impl AcceptanceMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AcceptanceMode::Pr => "pr",
            AcceptanceMode::Local => "local",
            AcceptanceMode::Checklist => "checklist",
        }
    }

    /// Upstream's `auto`: `pr` when the repository has a remote, else `local`.
    pub fn auto(repo: Option<&Repo>) -> AcceptanceMode {
        let has_remote = repo.and_then(|r| r.run(&["remote"]).ok()).is_some_and(|out| !out.trim().is_empty());
        if has_remote { AcceptanceMode::Pr } else { AcceptanceMode::Local }
    }
}

/// One work package as acceptance sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WpState {
    pub id: String,
    /// The alias-resolved lane; `None` when the frontmatter names no known lane.
    pub lane: Option<Lane>,
    /// The `lane:` value as written (`None` when missing or empty).
    pub raw_lane: Option<String>,
    pub title: String,
    /// Relative to the project root.
    pub path: String,
    /// The lane of the last Activity Log entry, as written.
    pub latest_lane: Option<String>,
    /// Whether the Activity Log has an entry for the current lane.
    pub has_lane_entry: bool,
    pub agent: Option<String>,
    pub assignee: Option<String>,
    pub shell_pid: Option<String>,
}

impl WpState {
    /// Done, or canceled: canceled work is finished too, it just will not ship.
    pub fn is_finished(&self) -> bool {
        self.lane.is_some_and(Lane::is_terminal)
    }

    fn lane_label(&self) -> String {
        match (self.lane, &self.raw_lane) {
            (Some(lane), _) => lane.as_str().to_owned(),
            (None, Some(raw)) => raw.clone(),
            (None, None) => "planned".to_owned(),
        }
    }
}

/// A document that still asks for clarification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClarificationMarker {
    /// Relative to the project root.
    pub path: String,
    /// 1-based line numbers of the markers.
    pub lines: Vec<usize>,
}

/// Everything acceptance checked, and what is still outstanding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptanceSummary {
    pub feature: String,
    /// The checked-out branch (`None` without git or when detached).
    pub branch: Option<String>,
    pub repo_root: PathBuf,
    pub feature_dir: PathBuf,
    pub work_packages: Vec<WpState>,
    pub metadata_issues: Vec<String>,
    pub activity_issues: Vec<String>,
    pub unchecked_tasks: Vec<String>,
    pub needs_clarification: Vec<ClarificationMarker>,
    pub missing_artifacts: Vec<String>,
    pub optional_missing: Vec<String>,
    /// `git status --porcelain` lines that are not spec-kitty bookkeeping.
    pub git_dirty: Vec<String>,
    pub warnings: Vec<String>,
}

impl AcceptanceSummary {
    /// Work packages by canonical lane, in canonical order: the seven classic lanes always, a review lane
    /// (`in_review`, `approved`) only when a work package is in it. A work package whose lane is unknown
    /// is in no bucket (it is listed under `not_done`).
    pub fn lanes(&self) -> BTreeMap<Lane, Vec<String>> {
        let occupied = |lane| self.work_packages.iter().any(|wp| wp.lane == Some(lane));
        let mut lanes: BTreeMap<Lane, Vec<String>> = Lane::listed(occupied).map(|lane| (lane, Vec::new())).collect();
        for wp in &self.work_packages {
            if let Some(lane) = wp.lane {
                lanes.entry(lane).or_default().push(wp.id.clone());
            }
        }
        lanes
    }

    /// Work packages that are neither done nor canceled, as `WP02 (in_progress)`.
    pub fn not_done(&self) -> Vec<String> {
        self.work_packages
            .iter()
            .filter(|wp| !wp.is_finished())
            .map(|wp| format!("{} ({})", wp.id, wp.lane_label()))
            .collect()
    }

    pub fn all_done(&self) -> bool {
        self.work_packages.iter().all(WpState::is_finished)
    }

    pub fn ok(&self) -> bool {
        self.outstanding().is_empty()
    }

    /// The non-empty issue buckets, in upstream's order.
    pub fn outstanding(&self) -> Vec<(&'static str, Vec<String>)> {
        let clarification = self.needs_clarification.iter().map(ClarificationMarker::describe).collect();
        [
            ("not_done", self.not_done()),
            ("metadata", self.metadata_issues.clone()),
            ("activity", self.activity_issues.clone()),
            ("unchecked_tasks", self.unchecked_tasks.clone()),
            ("needs_clarification", clarification),
            ("missing_artifacts", self.missing_artifacts.clone()),
            ("git_dirty", self.git_dirty.clone()),
        ]
        .into_iter()
        .filter(|(_, items)| !items.is_empty())
        .collect()
    }

    /// The summary as JSON: upstream's `AcceptanceSummary.to_dict()` keys plus `not_done`. We always run
    /// in the main checkout, so both worktree roots are the repository root; mission path rules are not
    /// checked, so `path_violations` is always empty.
    pub fn to_json(&self) -> Map<String, Value> {
        let lanes: Map<String, Value> =
            self.lanes().into_iter().map(|(lane, ids)| (lane.as_str().to_owned(), Value::from(ids))).collect();
        let packages: Vec<Value> = self.work_packages.iter().map(wp_json).collect();
        let clarification: Vec<&str> = self.needs_clarification.iter().map(|m| m.path.as_str()).collect();
        let value = json!({
            "feature": self.feature,
            "branch": self.branch,
            "repo_root": self.repo_root.display().to_string(),
            "feature_dir": self.feature_dir.display().to_string(),
            "tasks_dir": self.feature_dir.join("tasks").display().to_string(),
            "worktree_root": self.repo_root.display().to_string(),
            "primary_repo_root": self.repo_root.display().to_string(),
            "lanes": lanes,
            "work_packages": packages,
            "not_done": self.not_done(),
            "metadata_issues": self.metadata_issues,
            "activity_issues": self.activity_issues,
            "unchecked_tasks": self.unchecked_tasks,
            "needs_clarification": clarification,
            "missing_artifacts": self.missing_artifacts,
            "optional_missing": self.optional_missing,
            "git_dirty": self.git_dirty,
            "path_violations": [],
            "warnings": self.warnings,
            "all_done": self.all_done(),
            "ok": self.ok(),
        });
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }
}

/// What to do after an acceptance, as upstream tells it: `(instructions, cleanup_instructions)`.
pub fn next_steps(mode: AcceptanceMode, branch: &str) -> (Vec<String>, Vec<String>) {
    let instructions = match mode {
        AcceptanceMode::Pr => vec![
            format!("Review the acceptance commit on branch `{branch}`."),
            format!("Push your branch: `git push origin {branch}`"),
            "Open a pull request referencing spec/plan/tasks artifacts.".to_owned(),
            "Include acceptance summary and test evidence in the PR description.".to_owned(),
        ],
        AcceptanceMode::Local => vec![
            "Switch to your integration branch (e.g., `git checkout main`).".to_owned(),
            "Synchronize it (e.g., `git pull --ff-only`).".to_owned(),
            format!("Merge the feature: `git merge {branch}`"),
        ],
        AcceptanceMode::Checklist => {
            vec!["All checks passed. Proceed with your manual acceptance workflow.".to_owned()]
        }
    };
    (instructions, vec![format!("Delete the feature branch when done: `git branch -d {branch}`")])
}

impl ClarificationMarker {
    /// `kitty-specs/001-x/spec.md (line 3, 9)`.
    pub fn describe(&self) -> String {
        let lines: Vec<String> = self.lines.iter().map(usize::to_string).collect();
        let noun = if lines.len() == 1 { "line" } else { "lines" };
        format!("{} ({noun} {})", self.path, lines.join(", "))
    }
}

fn wp_json(wp: &WpState) -> Value {
    json!({
        "id": wp.id,
        "lane": wp.lane.map(Lane::as_str),
        "title": wp.title,
        "path": wp.path,
        "latest_lane": wp.latest_lane,
        "has_lane_entry": wp.has_lane_entry,
        "metadata": {
            "lane": wp.raw_lane,
            "agent": wp.agent,
            "assignee": wp.assignee,
            "shell_pid": wp.shell_pid,
        },
    })
}

/// Runs every acceptance check over `kitty-specs/<feature>/` (read-only). `strict_metadata` is the
/// opposite of `--lenient`; `repo` enables the uncommitted-changes check.
pub fn collect(
    repo_root: &Path,
    feature: &str,
    repo: Option<&Repo>,
    strict_metadata: bool,
) -> Result<AcceptanceSummary, AcceptanceError> {
    let feature_dir = repo_root.join("kitty-specs").join(feature);
    if !feature_dir.is_dir() {
        return Err(AcceptanceError::NoFeatureDir(feature_dir));
    }
    let tasks_dir = feature_dir.join("tasks");
    if !tasks_dir.is_dir() {
        return Err(AcceptanceError::NoTasksDir { feature: feature.to_owned(), dir: tasks_dir });
    }
    let relative = |path: &Path| path.strip_prefix(repo_root).unwrap_or(path).to_string_lossy().into_owned();

    let mut summary = AcceptanceSummary {
        feature: feature.to_owned(),
        branch: repo.and_then(Repo::current_branch),
        repo_root: repo_root.to_owned(),
        feature_dir: feature_dir.clone(),
        work_packages: Vec::new(),
        metadata_issues: Vec::new(),
        activity_issues: Vec::new(),
        unchecked_tasks: Vec::new(),
        needs_clarification: Vec::new(),
        missing_artifacts: missing(&feature_dir, &REQUIRED_ARTIFACTS),
        optional_missing: missing(&feature_dir, &OPTIONAL_ARTIFACTS),
        git_dirty: Vec::new(),
        warnings: Vec::new(),
    };
    check_work_packages(&mut summary, strict_metadata, &relative);
    summary.unchecked_tasks = unchecked_tasks(&feature_dir)?;
    summary.needs_clarification = clarification_markers(&feature_dir, &relative)?;
    if let Some(repo) = repo {
        summary.git_dirty = significant_changes(&repo.status_porcelain(&[])?);
    }
    add_warnings(&mut summary);
    Ok(summary)
}

fn check_work_packages(summary: &mut AcceptanceSummary, strict_metadata: bool, relative: &dyn Fn(&Path) -> String) {
    let packages = WorkPackage::all(&summary.feature_dir);
    if packages.is_empty() {
        summary.missing_artifacts.push("tasks/WP*.md (no work packages)".to_owned());
    }
    for package in packages {
        match package {
            Ok(wp) => {
                let state = wp_state(&wp, relative);
                summary.metadata_issues.extend(metadata_issues(&state, strict_metadata));
                summary.activity_issues.extend(activity_issues(&state, wp.doc.body()));
                summary.work_packages.push(state);
            }
            // An unreadable file cannot be checked; it blocks acceptance like any other issue.
            Err(error) => summary.metadata_issues.push(error.to_string()),
        }
    }
}

fn wp_state(wp: &WorkPackage, relative: &dyn Fn(&Path) -> String) -> WpState {
    let raw_lane = wp.raw_lane();
    let entries = parse_activity(wp.doc.body());
    let lane = wp.lane().ok();
    let has_lane_entry = lane.is_some_and(|lane| entries.iter().any(|e| Lane::parse(&e.lane) == Ok(lane)));
    WpState {
        id: wp.id.clone(),
        lane,
        raw_lane,
        title: wp.doc.scalar("title").unwrap_or_default(),
        path: relative(&wp.path),
        latest_lane: entries.last().map(|e| e.lane.clone()),
        has_lane_entry,
        agent: wp.doc.scalar("agent"),
        assignee: wp.doc.scalar("assignee"),
        shell_pid: wp.doc.scalar("shell_pid"),
    }
}

/// Upstream's strict metadata rules (skipped by `--lenient`), plus an unknown lane, which is always
/// reported because the work package's state cannot be judged at all.
fn metadata_issues(wp: &WpState, strict: bool) -> Vec<String> {
    let mut issues = Vec::new();
    if let (None, Some(raw)) = (wp.lane, &wp.raw_lane) {
        issues.push(format!("{}: unknown lane '{raw}' in frontmatter", wp.id));
    }
    if !strict {
        return issues;
    }
    if wp.raw_lane.is_none() {
        issues.push(format!("{}: missing lane in frontmatter", wp.id));
    }
    if wp.agent.is_none() {
        issues.push(format!("{}: missing agent in frontmatter", wp.id));
    }
    if matches!(wp.lane, Some(Lane::InProgress | Lane::ForReview)) && wp.assignee.is_none() {
        issues.push(format!("{}: missing assignee in frontmatter", wp.id));
    }
    if wp.shell_pid.is_none() {
        issues.push(format!("{}: missing shell_pid in frontmatter", wp.id));
    }
    issues
}

/// The Activity Log must have entries, one of them for the current lane, and end with `lane=done` when
/// the work package is done.
fn activity_issues(wp: &WpState, body: &str) -> Vec<String> {
    let entries = parse_activity(body);
    let Some(last) = entries.last() else {
        return vec![format!("{}: Activity Log missing entries", wp.id)];
    };
    let mut issues = Vec::new();
    if !wp.has_lane_entry {
        issues.push(format!("{}: Activity Log missing entry for lane={}", wp.id, wp.lane_label()));
    }
    if wp.lane == Some(Lane::Done) && Lane::parse(&last.lane) != Ok(Lane::Done) {
        issues.push(format!("{}: latest Activity Log entry not lane=done", wp.id));
    }
    issues
}

/// Open `- [ ]` lines anywhere in tasks.md (a missing tasks.md is reported as a missing artifact).
fn unchecked_tasks(feature_dir: &Path) -> Result<Vec<String>, AcceptanceError> {
    Ok(read_if_present(&feature_dir.join("tasks.md"))?.map(|text| tasks_md::unchecked_lines(&text)).unwrap_or_default())
}

fn clarification_markers(
    feature_dir: &Path,
    relative: &dyn Fn(&Path) -> String,
) -> Result<Vec<ClarificationMarker>, AcceptanceError> {
    let mut markers = Vec::new();
    for name in CLARIFICATION_DOCUMENTS {
        let path = feature_dir.join(name);
        if let Some(text) = read_if_present(&path)?
            && tasks_md::has_clarification_marker(&text)
        {
            markers.push(ClarificationMarker {
                path: relative(&path),
                lines: tasks_md::clarification_marker_lines(&text),
            });
        }
    }
    Ok(markers)
}

fn read_if_present(path: &Path) -> Result<Option<String>, AcceptanceError> {
    match crate::fsutil::read_small_string(path, crate::fsutil::LARGE_FILE_CAP) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(AcceptanceError::Read { path: path.to_owned(), source }),
    }
}

fn missing(feature_dir: &Path, names: &[&str]) -> Vec<String> {
    names.iter().filter(|name| !feature_dir.join(name).exists()).map(|name| (*name).to_owned()).collect()
}

fn add_warnings(summary: &mut AcceptanceSummary) {
    if !summary.optional_missing.is_empty() {
        summary.warnings.push(format!("Optional artifacts missing: {}", summary.optional_missing.join(", ")));
    }
    for wp in summary.work_packages.iter().filter(|wp| wp.lane == Some(Lane::Canceled)) {
        summary.warnings.push(format!("{} is canceled; canceled work packages count as finished", wp.id));
    }
}

/// The `git status --porcelain` lines that matter: everything except spec-kitty's own bookkeeping files
/// under `kitty-specs/` (see [`BOOKKEEPING_FILES`]) and the runtime directories (see [`RUNTIME_DIRS`]).
pub fn significant_changes(porcelain: &str) -> Vec<String> {
    porcelain
        .lines()
        .filter(|line| !line.trim().is_empty() && !is_bookkeeping_change(line))
        .map(str::to_owned)
        .collect()
}

fn is_bookkeeping_change(line: &str) -> bool {
    // `XY path` or `XY old -> new`; git quotes unusual names, which never match our plain names.
    let path = line.get(3..).unwrap_or_default();
    let path = path.rsplit_once(" -> ").map_or(path, |(_, new)| new).trim_matches('"');
    if RUNTIME_DIRS.iter().any(|dir| path == dir.trim_end_matches('/') || path.starts_with(dir)) {
        return true;
    }
    let in_kitty_specs = path.starts_with("kitty-specs/");
    let file_name = path.rsplit('/').next().unwrap_or_default();
    in_kitty_specs && BOOKKEEPING_FILES.contains(&file_name)
}

/// One acceptance, as recorded in `meta.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptanceRecord {
    /// `YYYY-MM-DDTHH:MM:SSZ`.
    pub accepted_at: String,
    pub accepted_by: String,
    pub mode: AcceptanceMode,
    pub branch: Option<String>,
    /// The commit the feature was accepted from (`HEAD` before the acceptance commit).
    pub from_commit: Option<String>,
}

/// Sets upstream's acceptance fields (`accepted_at`, `accepted_by`, `acceptance_mode`,
/// `accepted_from_commit`, `accept_commit: null`) and appends the record to `acceptance_history`, keeping
/// the last [`HISTORY_LIMIT`]. Write the result with sorted keys, as upstream does.
pub fn record_acceptance(meta: &mut FeatureMeta, record: &AcceptanceRecord) -> Result<(), AcceptanceError> {
    let mut history = match meta.fields.get("acceptance_history") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(_) => return Err(AcceptanceError::BadHistory),
    };
    history.push(json!({
        "accepted_at": record.accepted_at,
        "accepted_by": record.accepted_by,
        "mode": record.mode.as_str(),
        "branch": record.branch,
        "accepted_from_commit": record.from_commit,
    }));
    let excess = history.len().saturating_sub(HISTORY_LIMIT);
    history.drain(..excess);

    let fields = &mut meta.fields;
    fields.insert("accepted_at".into(), Value::from(record.accepted_at.clone()));
    fields.insert("accepted_by".into(), Value::from(record.accepted_by.clone()));
    fields.insert("acceptance_mode".into(), Value::from(record.mode.as_str()));
    fields.insert("accepted_from_commit".into(), record.from_commit.clone().map_or(Value::Null, Value::from));
    // Upstream records the acceptance before committing it, so the commit is unknown here and stays null.
    fields.insert("accept_commit".into(), Value::Null);
    fields.insert("acceptance_history".into(), Value::Array(history));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DONE_WP: &str = "---\nwork_package_id: WP01\ntitle: Storage\nlane: \"done\"\nassignee: ''\nagent: claude\nshell_pid: '42'\n---\n# WP01\n\n## Activity Log\n\n- 2026-02-16T14:22:43Z – claude – shell_pid=42 – lane=doing – Started\n- 2026-02-16T15:49:54Z – claude – shell_pid=42 – lane=done – Review passed\n";

    fn feature(wps: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let feature = dir.path().join("kitty-specs/001-x");
        std::fs::create_dir_all(feature.join("tasks")).unwrap();
        for name in ["spec.md", "plan.md", "quickstart.md", "research.md", "data-model.md"] {
            std::fs::write(feature.join(name), "# doc\n").unwrap();
        }
        std::fs::create_dir_all(feature.join("contracts")).unwrap();
        std::fs::write(feature.join("tasks.md"), "## Work Package WP01\n- [x] T001 Done\n").unwrap();
        for (name, text) in wps {
            std::fs::write(feature.join("tasks").join(name), text).unwrap();
        }
        dir
    }

    fn summary(dir: &tempfile::TempDir, strict: bool) -> AcceptanceSummary {
        collect(dir.path(), "001-x", None, strict).unwrap()
    }

    #[test]
    fn a_complete_feature_is_ok() {
        let dir = feature(&[("WP01-storage.md", DONE_WP)]);
        let s = summary(&dir, true);
        assert!(s.ok(), "{:?}", s.outstanding());
        assert_eq!(s.lanes()[&Lane::Done], vec!["WP01"]);
        assert_eq!(s.work_packages[0].path, "kitty-specs/001-x/tasks/WP01-storage.md");
        assert!(s.work_packages[0].has_lane_entry);
        assert_eq!(s.to_json()["ok"], true);
    }

    #[test]
    fn every_lane_but_done_and_canceled_blocks() {
        for lane in ["planned", "claimed", "doing", "in_progress", "for_review", "blocked"] {
            let text =
                DONE_WP.replace("lane: \"done\"", &format!("lane: \"{lane}\"")).replace("lane=done", "lane=doing");
            let dir = feature(&[("WP01-storage.md", &text)]);
            let s = summary(&dir, false);
            assert!(!s.ok() && !s.all_done(), "{lane} must block");
            assert_eq!(s.not_done().len(), 1, "{lane}");
        }
        let canceled = DONE_WP.replace("lane: \"done\"", "lane: \"canceled\"").replace("lane=done", "lane=canceled");
        let s = summary(&feature(&[("WP01-storage.md", &canceled)]), true);
        assert!(s.ok(), "{:?}", s.outstanding());
        assert!(s.warnings.iter().any(|w| w.contains("canceled work packages count as finished")));
    }

    #[test]
    fn doing_entries_count_for_in_progress() {
        let text =
            DONE_WP.replace("lane: \"done\"", "lane: \"in_progress\"").replace(" – lane=done – Review passed", "");
        let s = summary(&feature(&[("WP01-storage.md", &text)]), false);
        assert!(s.activity_issues.is_empty(), "{:?}", s.activity_issues);
        assert!(s.work_packages[0].has_lane_entry);
    }

    #[test]
    fn activity_and_metadata_issues() {
        let no_log = "---\nlane: done\n---\nbody\n";
        let wrong_last = DONE_WP.replace(
            "lane=done – Review passed",
            "lane=done – x\n- 2026-02-16T16:00:00Z – bob – lane=for_review – again",
        );
        let s = summary(&feature(&[("WP01-a.md", no_log), ("WP02-b.md", &wrong_last)]), true);
        assert_eq!(
            s.metadata_issues,
            vec!["WP01: missing agent in frontmatter", "WP01: missing shell_pid in frontmatter"]
        );
        assert_eq!(
            s.activity_issues,
            vec!["WP01: Activity Log missing entries", "WP02: latest Activity Log entry not lane=done"]
        );
        let lenient = summary(&feature(&[("WP01-a.md", no_log)]), false);
        assert!(lenient.metadata_issues.is_empty());

        let review =
            "---\nlane: for_review\nagent: a\nshell_pid: '1'\n---\n- 2026-02-16T16:00:00Z – a – lane=planned – x\n";
        let s = summary(&feature(&[("WP01-a.md", review)]), true);
        assert_eq!(s.metadata_issues, vec!["WP01: missing assignee in frontmatter"]);
        assert_eq!(s.activity_issues, vec!["WP01: Activity Log missing entry for lane=for_review"]);

        let unknown = "---\nlane: reviewing\n---\n";
        let s = summary(&feature(&[("WP01-a.md", unknown)]), false);
        assert_eq!(s.metadata_issues, vec!["WP01: unknown lane 'reviewing' in frontmatter"]);
        assert_eq!(s.not_done(), vec!["WP01 (reviewing)"]);

        let approved = "---\nlane: approved\n---\n";
        let s = summary(&feature(&[("WP01-a.md", approved)]), false);
        assert!(s.metadata_issues.is_empty(), "{:?}", s.metadata_issues);
        assert_eq!(s.not_done(), vec!["WP01 (approved)"]);
    }

    #[test]
    fn documents_checkboxes_and_markers() {
        let dir = feature(&[("WP01-storage.md", DONE_WP)]);
        let f = dir.path().join("kitty-specs/001-x");
        std::fs::write(f.join("tasks.md"), "- [x] T001\n  - [ ] T002 Open\n").unwrap();
        std::fs::write(f.join("spec.md"), "a\n[NEEDS CLARIFICATION: who?]\n").unwrap();
        std::fs::remove_file(f.join("plan.md")).unwrap();
        std::fs::remove_file(f.join("research.md")).unwrap();
        let s = summary(&dir, true);
        assert_eq!(s.unchecked_tasks, vec!["- [ ] T002 Open"]);
        assert_eq!(s.needs_clarification[0].describe(), "kitty-specs/001-x/spec.md (line 2)");
        assert_eq!(s.missing_artifacts, vec!["plan.md"]);
        assert_eq!(s.optional_missing, vec!["research.md"]);
        assert_eq!(s.warnings, vec!["Optional artifacts missing: research.md"]);
        let buckets: Vec<&str> = s.outstanding().iter().map(|(k, _)| *k).collect();
        assert_eq!(buckets, vec!["unchecked_tasks", "needs_clarification", "missing_artifacts"]);
    }

    #[test]
    fn no_work_packages_or_tasks_dir() {
        let s = summary(&feature(&[]), true);
        assert_eq!(s.missing_artifacts, vec!["tasks/WP*.md (no work packages)"]);
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("kitty-specs/001-x")).unwrap();
        let err = collect(dir.path(), "001-x", None, true).unwrap_err().to_string();
        assert!(err.contains("has no tasks directory"), "{err}");
    }

    #[test]
    fn bookkeeping_changes_are_not_dirt() {
        let porcelain = " M kitty-specs/001-x/status.json\n?? kitty-specs/001-x/execution.events.jsonl\n M kitty-specs/001-x/.telemetry-clock.json\n?? .worktrees/\n?? .kittify/workspaces/001-x-WP01.json\n?? .kittify/runtime/\n M kitty-specs/001-x/spec.md\n?? notes.txt\nR  a -> kitty-specs/001-x/status.events.jsonl\n M status.json\n";
        assert_eq!(
            significant_changes(porcelain),
            vec![" M kitty-specs/001-x/spec.md", "?? notes.txt", " M status.json"]
        );
    }

    #[test]
    fn records_keep_the_last_twenty() {
        let mut meta = FeatureMeta { fields: Map::new() };
        let record = |n: usize| AcceptanceRecord {
            accepted_at: format!("2026-02-16T11:12:{n:02}Z"),
            accepted_by: "stijn".into(),
            mode: AcceptanceMode::Pr,
            branch: Some("develop".into()),
            from_commit: None,
        };
        for n in 0..22 {
            record_acceptance(&mut meta, &record(n)).unwrap();
        }
        let history = meta.fields["acceptance_history"].as_array().unwrap();
        assert_eq!(history.len(), HISTORY_LIMIT);
        assert_eq!(history[0]["accepted_at"], "2026-02-16T11:12:02Z");
        assert_eq!(meta.fields["accepted_at"], "2026-02-16T11:12:21Z");
        assert_eq!(meta.fields["accept_commit"], Value::Null);
        assert_eq!(meta.fields["acceptance_mode"], "pr");

        meta.fields.insert("acceptance_history".into(), Value::from("oops"));
        assert!(matches!(record_acceptance(&mut meta, &record(0)), Err(AcceptanceError::BadHistory)));
        assert_eq!(meta.fields["acceptance_history"], "oops", "left as it was");
    }
}
