//! `/api/features`, `/api/kanban/<feature>` and the document listings, in upstream's JSON shapes with
//! our additions (every lane, subtask progress from `tasks.md`, time in lane).
//!
//! Lanes come from the work packages' frontmatter, as every command and upstream's dashboard read them.
//! Upstream's kanban has four columns keyed `planned`, `doing`, `for_review`, `done`; they are always
//! present (in_progress is `doing`), and the other lanes (`claimed`, `in_review`, `approved`, `blocked`,
//! `canceled`) are added under their own names when a work package is in them (upstream silently
//! showed those as planned). `lane_order` lists the columns to draw.

use super::paths::{ApiError, FeatureDir, feature_dirs, read_document, resolve_feature};
use crate::events::Timestamp;
use crate::project::meta::FeatureMeta;
use crate::workflow::activity::parse_activity;
use crate::workflow::lanes::Lane;
use crate::workflow::status;
use crate::workflow::tasks_md::wp_sections;
use crate::workflow::wp::WorkPackage;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

/// The planning documents `/api/artifact/<feature>/<name>` serves (upstream's map).
pub const ARTIFACTS: [(&str, &str); 6] = [
    ("spec", "spec.md"),
    ("plan", "plan.md"),
    ("tasks", "tasks.md"),
    ("research", "research.md"),
    ("quickstart", "quickstart.md"),
    ("data-model", "data-model.md"),
];

/// Upstream's four kanban columns and the lanes they hold.
fn column_of(lane: Lane) -> &'static str {
    match lane {
        Lane::InProgress => "doing",
        other => other.as_str(),
    }
}

/// The feature's work packages that parse, and the problems of those that do not.
fn packages(dir: &Path) -> (Vec<WorkPackage>, Vec<String>) {
    let mut ok = Vec::new();
    let mut problems = Vec::new();
    for package in WorkPackage::all(dir) {
        match package {
            Ok(wp) => ok.push(wp),
            Err(e) => problems.push(e.to_string()),
        }
    }
    (ok, problems)
}

fn lane_of(wp: &WorkPackage) -> Lane {
    wp.lane().unwrap_or(Lane::Planned)
}

/// Upstream's legacy layout: lane subdirectories under `tasks/`.
fn is_legacy(dir: &Path) -> bool {
    ["planned", "doing", "for_review", "done"].iter().any(|lane| dir.join("tasks").join(lane).is_dir())
}

fn artifact_info(path: &Path) -> Value {
    match std::fs::metadata(path) {
        Ok(meta) => {
            let mtime = meta.modified().ok().and_then(|m| m.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_secs_f64());
            json!({"exists": true, "mtime": mtime, "size": meta.is_file().then_some(meta.len())})
        }
        Err(_) => json!({"exists": false, "mtime": null, "size": null}),
    }
}

/// The project's constitution: `.kittify/constitution/constitution.md`, else `.kittify/memory/…`.
pub fn constitution_path(root: &Path) -> std::path::PathBuf {
    let new = root.join(".kittify/constitution/constitution.md");
    if new.exists() { new } else { root.join(".kittify/memory/constitution.md") }
}

fn artifacts_json(root: &Path, dir: &Path) -> Value {
    json!({
        "constitution": artifact_info(&constitution_path(root)),
        "spec": artifact_info(&dir.join("spec.md")),
        "plan": artifact_info(&dir.join("plan.md")),
        "tasks": artifact_info(&dir.join("tasks.md")),
        "research": artifact_info(&dir.join("research.md")),
        "quickstart": artifact_info(&dir.join("quickstart.md")),
        "data_model": artifact_info(&dir.join("data-model.md")),
        "contracts": artifact_info(&dir.join("contracts")),
        "checklists": artifact_info(&dir.join("checklists")),
        "kanban": artifact_info(&dir.join("tasks")),
    })
}

/// Upstream's workflow progression from the artefacts present.
fn workflow_json(dir: &Path) -> Value {
    let has = |name: &str| dir.join(name).exists();
    let steps = ["specify", "plan", "tasks", "implement"];
    let done = [has("spec.md"), has("plan.md"), has("tasks.md")];
    let mut out = Map::new();
    let mut blocked = false;
    for (i, step) in steps.iter().enumerate() {
        let state = if blocked {
            "pending"
        } else if i < 3 && done[i] {
            "complete"
        } else if i == 3 {
            if has("tasks") { "in_progress" } else { "pending" }
        } else {
            blocked = true;
            "pending"
        };
        out.insert((*step).to_owned(), state.into());
    }
    Value::Object(out)
}

/// Which feature is active: the one the CLI would pick from the project root (`$SPECIFY_FEATURE`, the
/// branch, the only or the latest incomplete one), else the first listed.
pub fn active_feature(root: &Path, environment: Option<&str>) -> Option<String> {
    let project = crate::project::Project { root: root.to_owned() };
    let branch = crate::git::branch_at(root);
    let options =
        crate::project::DetectOptions { explicit: None, environment, git_branch: branch.as_deref(), cwd: Some(root) };
    crate::project::detect_feature(&project, &options, crate::workflow::feature_is_complete).ok().map(|(f, _)| f.slug)
}

/// `/api/features`.
pub fn features_json(root: &Path, home: Option<&Path>, feature_env: Option<&str>) -> Value {
    let mut features: Vec<(String, Value)> = Vec::new();
    for feature in feature_dirs(root).into_values() {
        features.push((feature.id.clone(), feature_json(root, home, &feature)));
    }
    // Newest first, as upstream.
    features.sort_by(|a, b| b.0.cmp(&a.0));
    let active = active_feature(root, feature_env)
        .filter(|id| features.iter().any(|(f, _)| f == id))
        .or_else(|| features.first().map(|(id, _)| id.clone()));
    let mission = active
        .as_ref()
        .and_then(|id| features.iter().find(|(f, _)| f == id))
        .map(|(id, f)| {
            let key = f["meta"]["mission"].as_str().unwrap_or("software-dev").to_owned();
            let name = f["name"].as_str().unwrap_or(id).to_owned();
            json!({"name": key, "domain": "unknown", "version": "", "slug": key, "description": "", "path": "", "feature": name})
        })
        .unwrap_or_else(|| {
            json!({"name": "No active feature", "domain": "unknown", "version": "", "slug": "", "description": "", "path": ""})
        });
    let worktrees = root.join(crate::workflow::workspace::WORKTREES_DIR);
    json!({
        "features": features.into_iter().map(|(_, f)| f).collect::<Vec<_>>(),
        "active_feature_id": active,
        "project_path": display_path(root, home),
        "worktrees_root": worktrees.exists().then(|| display_path(&worktrees, home)),
        "active_worktree": null,
        "active_mission": mission,
    })
}

fn feature_json(root: &Path, home: Option<&Path>, feature: &FeatureDir) -> Value {
    let dir = &feature.dir;
    let meta = FeatureMeta::load(dir).ok().flatten().map(|m| Value::Object(m.fields)).unwrap_or_else(|| json!({}));
    let name =
        meta["friendly_name"].as_str().map(str::trim).filter(|n| !n.is_empty()).unwrap_or(&feature.id).to_owned();
    let (wps, problems) = packages(dir);
    let mut lanes: BTreeMap<Lane, u64> = BTreeMap::new();
    for wp in &wps {
        *lanes.entry(lane_of(wp)).or_default() += 1;
    }
    let count = |lane: Lane| lanes.get(&lane).copied().unwrap_or(0);
    let total = wps.len() as u64;
    let progress = if total == 0 { 0.0 } else { (count(Lane::Done) as f64 * 1000.0 / total as f64).round() / 10.0 };
    let worktree = root.join(crate::workflow::workspace::WORKTREES_DIR).join(&feature.id);
    let relative = dir.strip_prefix(root).unwrap_or(dir).display().to_string();
    json!({
        "id": feature.id,
        "name": name,
        "path": relative,
        "artifacts": artifacts_json(root, dir),
        "workflow": workflow_json(dir),
        "kanban_stats": {
            "total": total,
            "planned": count(Lane::Planned),
            "doing": count(Lane::InProgress),
            "for_review": count(Lane::ForReview),
            "done": count(Lane::Done),
        },
        "meta": meta,
        "worktree": {"path": display_path(&worktree, home), "exists": worktree.exists()},
        "is_legacy": is_legacy(dir),
        "location": feature.location,
        "lanes": lanes.iter().map(|(lane, n)| (lane.as_str().to_owned(), json!(n))).collect::<Map<String, Value>>(),
        "work_packages": total,
        "progress_percentage": progress,
        "problems": problems,
    })
}

/// `~/…` for paths under the user's home directory, as upstream shows them.
fn display_path(path: &Path, home: Option<&Path>) -> String {
    let user_home =
        home.and_then(|h| h.parent()).map(Path::to_owned).or_else(|| std::env::var_os("HOME").map(Into::into));
    match user_home.as_deref().and_then(|h| path.strip_prefix(h).ok()) {
        Some(rest) if rest.as_os_str().is_empty() => "~".into(),
        Some(rest) => format!("~/{}", rest.display()),
        None => path.display().to_string(),
    }
}

/// `/api/kanban/<feature>` at time `now` (for the time each card has spent in its lane).
pub fn kanban_json(root: &Path, id: &str, now: DateTime<Utc>) -> Result<Value, ApiError> {
    let feature = resolve_feature(root, id)?;
    let dir = &feature.dir;
    let (wps, problems) = packages(dir);
    let tasks_md = std::fs::read_to_string(dir.join("tasks.md")).unwrap_or_default();
    let sections = wp_sections(&tasks_md);
    let checked: BTreeMap<String, bool> =
        sections.iter().flat_map(|s| s.subtasks.iter()).filter_map(|t| t.id.clone().map(|id| (id, t.done))).collect();
    // The status log's view of each WP; a damaged log is reported, never fatal here.
    let (status_view, status_error) = match status::read_events(dir, Duration::from_millis(500)) {
        Ok(events) if events.is_empty() => (BTreeMap::new(), None),
        Ok(events) => (status::materialize(&events, Timestamp::from_utc(now)).work_packages, None),
        Err(e) => (BTreeMap::new(), Some(e.to_string())),
    };

    let mut columns: BTreeMap<&'static str, Vec<Value>> =
        ["planned", "doing", "for_review", "done"].into_iter().map(|c| (c, Vec::new())).collect();
    let mut occupied: Vec<Lane> = Vec::new();
    for wp in &wps {
        let lane = lane_of(wp);
        occupied.push(lane);
        let subtask_ids = wp.doc.list("subtasks").unwrap_or_default();
        let (done, total) = match sections.iter().find(|s| s.id == wp.id) {
            Some(section) if !section.subtasks.is_empty() => {
                (section.subtasks.iter().filter(|t| t.done).count(), section.subtasks.len())
            }
            _ => (subtask_ids.iter().filter(|id| checked.get(*id) == Some(&true)).count(), subtask_ids.len()),
        };
        let since = lane_since(wp, lane, status_view.get(&wp.id));
        let body = wp.doc.body().trim();
        let relative = wp.path.strip_prefix(root).unwrap_or(&wp.path).display().to_string();
        let card = json!({
            "id": wp.id,
            "title": wp.title(),
            "lane": wp.raw_lane().unwrap_or_else(|| "planned".into()),
            "subtasks": subtask_ids,
            "agent": wp.doc.scalar("agent").unwrap_or_default(),
            "assignee": wp.doc.scalar("assignee").unwrap_or_default(),
            "phase": wp.doc.scalar("phase").unwrap_or_default(),
            "prompt_markdown": body,
            "prompt_path": relative,
            "canonical_lane": lane.as_str(),
            "subtasks_done": done,
            "subtasks_total": total,
            "dependencies": wp.dependencies(),
            "lane_since": since.map(|t| Timestamp::from_utc(t).isoformat()),
            "time_in_lane_seconds": since.map(|t| (now - t).num_seconds().max(0)),
        });
        columns.entry(column_of(lane)).or_default().push(card);
    }
    let lane_order: Vec<&str> = Lane::ALL
        .into_iter()
        .filter(|lane| {
            matches!(lane, Lane::Planned | Lane::InProgress | Lane::ForReview | Lane::Done) || occupied.contains(lane)
        })
        .map(column_of)
        .collect();
    let mut lanes = Map::new();
    for column in &lane_order {
        let mut cards = columns.remove(column).unwrap_or_default();
        cards.sort_by_key(wp_order);
        lanes.insert((*column).to_owned(), Value::Array(cards));
    }
    let legacy = is_legacy(dir);
    Ok(json!({
        "lanes": lanes,
        "is_legacy": legacy,
        "upgrade_needed": legacy,
        "feature": feature.id,
        "lane_order": lane_order,
        "generated_at": Timestamp::from_utc(now).isoformat(),
        "problems": problems,
        "status_log_error": status_error,
    }))
}

fn wp_order(card: &Value) -> (u32, String) {
    let id = card["id"].as_str().unwrap_or_default();
    (id.trim_start_matches("WP").parse().unwrap_or(u32::MAX), id.to_owned())
}

/// When the work package entered its current lane: the status log's last transition when the log
/// agrees with the frontmatter, else the start of the trailing run of Activity Log entries in that
/// lane.
fn lane_since(wp: &WorkPackage, lane: Lane, status: Option<&status::WpStatus>) -> Option<DateTime<Utc>> {
    if let Some(state) = status.filter(|s| s.lane == lane) {
        return Some(state.last_transition_at.to_utc());
    }
    let entries = parse_activity(wp.doc.body());
    let mut since = None;
    for entry in entries.iter().rev() {
        if Lane::parse(&entry.lane).ok() != Some(lane) {
            break;
        }
        since = Timestamp::parse(&entry.timestamp).ok().map(|t| t.to_utc()).or(since);
    }
    since
}

/// `/api/research/<feature>` (`{main_file, artifacts}`) and `/api/contracts|checklists/<feature>`
/// (`{files}`): the files under that folder, relative to the feature directory.
pub fn listing_json(root: &Path, id: &str, folder: &str) -> Result<Value, ApiError> {
    let feature = resolve_feature(root, id)?;
    let base = feature.dir.join(folder);
    let mut files = Vec::new();
    collect_files(&base, &mut files, 0);
    files.sort();
    let md_icon = if folder == "checklists" { "✅" } else { "📝" };
    let items: Vec<Value> = files
        .iter()
        .filter_map(|path| {
            let relative = path.strip_prefix(&feature.dir).ok()?.to_str()?.to_owned();
            let name = path.file_name()?.to_str()?.to_owned();
            let icon = match path.extension().and_then(|e| e.to_str()) {
                Some("md") => md_icon,
                Some("csv") if folder == "research" => "📊",
                Some("xlsx" | "xls") if folder == "research" => "📈",
                Some("json") => "📋",
                _ => "📄",
            };
            Some(json!({"name": name, "path": relative, "icon": icon}))
        })
        .collect();
    if folder == "research" {
        let main = feature.dir.join("research.md");
        let main_file = if main.is_file() { Some(read_document(&main)?) } else { None };
        return Ok(json!({"main_file": main_file, "artifacts": items}));
    }
    Ok(json!({"files": items}))
}

/// Regular files under `dir` (not following symbolic links, at most 8 levels, 2,000 files).
fn collect_files(dir: &Path, out: &mut Vec<std::path::PathBuf>, depth: usize) {
    if depth > 8 || out.len() >= 2000 {
        return;
    }
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_dir() {
            collect_files(&entry.path(), out, depth + 1);
        } else if kind.is_file() {
            out.push(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_progression_follows_the_artifacts() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(workflow_json(dir.path())["specify"], "pending");
        std::fs::write(dir.path().join("spec.md"), "").unwrap();
        std::fs::write(dir.path().join("tasks.md"), "").unwrap();
        let w = workflow_json(dir.path());
        assert_eq!(
            (w["specify"].as_str(), w["plan"].as_str(), w["tasks"].as_str()),
            (Some("complete"), Some("pending"), Some("pending"))
        );
        std::fs::write(dir.path().join("plan.md"), "").unwrap();
        std::fs::create_dir(dir.path().join("tasks")).unwrap();
        assert_eq!(workflow_json(dir.path())["implement"], "in_progress");
    }
}
