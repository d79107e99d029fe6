//! A feature's work packages at a glance, as the read-only `agent tasks` commands report them: the
//! listing, the board (lanes, progress, stale in-progress work), a work package's validation and its
//! dependency neighbours. Upstream's JSON shapes; rendering is the command line's.

use super::activity;
use super::graph::{self, DependencyGraph};
use super::lanes::Lane;
use super::workspace;
use super::wp::{WorkPackage, WpError};
use crate::git::Repo;
use crate::project::{Feature, Project};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// The readable work packages of `feature`, and the errors of those that are not.
pub fn packages(feature: &Feature) -> (Vec<WorkPackage>, Vec<WpError>) {
    let (mut packages, mut errors) = (Vec::new(), Vec::new());
    for result in WorkPackage::all(&feature.dir) {
        match result {
            Ok(wp) => packages.push(wp),
            Err(e) => errors.push(e),
        }
    }
    (packages, errors)
}

/// The lane as written in the file; a work package without one is planned, as upstream reads it.
fn written_lane(wp: &WorkPackage) -> String {
    wp.raw_lane().unwrap_or_else(|| "planned".into())
}

/// `list-tasks --json`.
#[derive(Debug, Serialize)]
pub struct TaskList {
    pub tasks: Vec<TaskEntry>,
    pub count: usize,
}

#[derive(Debug, Serialize)]
pub struct TaskEntry {
    pub work_package_id: String,
    pub title: String,
    pub lane: String,
    pub path: String,
}

impl TaskList {
    /// The work packages, optionally only those in `lane`.
    pub fn of(packages: &[WorkPackage], lane: Option<Lane>) -> TaskList {
        let tasks: Vec<TaskEntry> = packages
            .iter()
            .filter(|p| lane.is_none_or(|lane| p.lane().ok() == Some(lane)))
            .map(|p| TaskEntry {
                work_package_id: p.id.clone(),
                title: p.title(),
                lane: written_lane(p),
                path: p.path.display().to_string(),
            })
            .collect();
        TaskList { count: tasks.len(), tasks }
    }
}

/// `tasks status --json`: upstream's types (strings throughout, `""` when unset; `stale_wps` a count,
/// the ids are ours in `stale_wp_ids`).
#[derive(Debug, Serialize)]
pub struct Board {
    pub feature: String,
    pub total_wps: usize,
    pub by_lane: BTreeMap<String, usize>,
    pub work_packages: Vec<BoardEntry>,
    /// Done work packages in percent, one decimal.
    pub progress_percentage: f64,
    pub stale_wps: usize,
    pub stale_wp_ids: Vec<String>,
    /// Lanes, in `work_packages` order (unreadable lanes count as planned); not part of the JSON.
    #[serde(skip)]
    pub lanes: Vec<Lane>,
    #[serde(skip)]
    pub done: usize,
}

#[derive(Debug, Serialize)]
pub struct BoardEntry {
    pub id: String,
    pub title: String,
    pub lane: String,
    pub phase: String,
    pub file: Option<String>,
    pub agent: String,
    pub shell_pid: String,
    /// In progress only: whether its worktree went `stale_threshold` minutes without a commit.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub staleness: Option<Staleness>,
}

/// How long an in-progress work package's worktree has gone without a commit.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Staleness {
    pub is_stale: bool,
    pub minutes_since_commit: Option<i64>,
    pub worktree_exists: bool,
}

impl Board {
    /// Reads the board at `now`; an in-progress WP is stale after `stale_minutes` without a commit.
    pub fn read(
        project: &Project,
        feature: &Feature,
        packages: &[WorkPackage],
        now: DateTime<Utc>,
        stale_minutes: u64,
    ) -> Board {
        let lanes: Vec<Lane> = packages.iter().map(|p| p.lane().unwrap_or(Lane::Planned)).collect();
        let done = lanes.iter().filter(|l| **l == Lane::Done).count();
        let total = packages.len();
        let mut by_lane: BTreeMap<String, usize> = BTreeMap::new();
        for p in packages {
            *by_lane.entry(written_lane(p)).or_default() += 1;
        }
        let work_packages: Vec<BoardEntry> = packages
            .iter()
            .zip(&lanes)
            .map(|(p, lane)| BoardEntry {
                id: p.id.clone(),
                title: p.title(),
                lane: written_lane(p),
                phase: p.doc.scalar("phase").unwrap_or_else(|| "Unknown Phase".into()),
                file: p.path.file_name().map(|n| n.to_string_lossy().into_owned()),
                agent: p.doc.scalar("agent").unwrap_or_default(),
                shell_pid: p.doc.scalar("shell_pid").unwrap_or_default(),
                staleness: (*lane == Lane::InProgress).then(|| staleness(project, feature, &p.id, now, stale_minutes)),
            })
            .collect();
        let stale_wp_ids: Vec<String> =
            work_packages.iter().filter(|e| e.staleness.is_some_and(|s| s.is_stale)).map(|e| e.id.clone()).collect();
        Board {
            feature: feature.slug.clone(),
            total_wps: total,
            by_lane,
            work_packages,
            progress_percentage: if total == 0 { 0.0 } else { (done as f64 * 1000.0 / total as f64).round() / 10.0 },
            stale_wps: stale_wp_ids.len(),
            stale_wp_ids,
            lanes,
            done,
        }
    }
}

fn staleness(project: &Project, feature: &Feature, wp_id: &str, now: DateTime<Utc>, threshold: u64) -> Staleness {
    let worktree = project.root.join(workspace::WORKTREES_DIR).join(workspace::workspace_name(&feature.slug, wp_id));
    let last_commit = worktree
        .join(".git")
        .is_file()
        .then(|| Repo { root: worktree.clone() }.run(&["log", "-1", "--format=%ct"]).ok())
        .flatten()
        .and_then(|t| t.trim().parse::<i64>().ok());
    let minutes = last_commit.map(|t| (now.timestamp() - t).max(0) / 60);
    Staleness {
        is_stale: minutes.is_some_and(|m| m > threshold as i64),
        minutes_since_commit: minutes,
        worktree_exists: worktree.is_dir(),
    }
}

/// `validate-workflow`: the frontmatter fields upstream requires, a known lane, an id matching the
/// file name, and (a warning) an Activity Log.
#[derive(Debug, Serialize)]
pub struct Validation {
    pub valid: bool,
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
    pub task_id: String,
    pub lane: Option<String>,
}

impl Validation {
    pub fn of(wp: &WorkPackage) -> Validation {
        let mut errors = Vec::new();
        for key in ["work_package_id", "title", "lane"] {
            if wp.doc.scalar(key).is_none() {
                errors.push(format!("Missing required field: {key}"));
            }
        }
        if let Some(raw) = wp.raw_lane()
            && Lane::parse(&raw).is_err()
        {
            errors.push(format!("Invalid lane: {raw}"));
        }
        if let Some(declared) = wp.doc.scalar("work_package_id")
            && declared != wp.id
        {
            errors.push(format!("work_package_id {declared} does not match the file name ({})", wp.id));
        }
        let mut warnings = Vec::new();
        if activity::parse_activity(wp.doc.body()).is_empty() {
            warnings.push("No Activity Log entries".to_owned());
        }
        Validation { valid: errors.is_empty(), errors, warnings, task_id: wp.id.clone(), lane: wp.raw_lane() }
    }
}

/// `list-dependents`: what a work package waits for and what waits for it.
#[derive(Debug, Serialize)]
pub struct Neighbours {
    pub wp_id: String,
    pub depends_on: Vec<String>,
    pub dependents: Vec<String>,
}

impl Neighbours {
    /// `None` when `wp_id` is not one of `packages`.
    pub fn of(packages: &[WorkPackage], wp_id: &str) -> Option<Neighbours> {
        let graph: DependencyGraph = packages.iter().map(|p| (p.id.clone(), p.dependencies())).collect();
        let depends_on = graph.get(wp_id)?.clone();
        Some(Neighbours { wp_id: wp_id.to_owned(), depends_on, dependents: graph::dependents(&graph, wp_id) })
    }
}
