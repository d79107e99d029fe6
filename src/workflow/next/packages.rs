//! What the work packages of a feature say to `next`: progress counts, the guards of the planning steps,
//! whether the implement and review steps are finished, and which work package to work on next.

use crate::workflow::lanes::Lane;
use crate::workflow::wp::{WorkPackage, normalize_wp_id};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// The steps that iterate over work packages.
pub fn is_wp_step(step_id: &str) -> bool {
    matches!(step_id, "implement" | "review")
}

/// One work package as `next` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub id: String,
    /// The file name without `.md` (upstream's `wp_file.stem`).
    pub stem: String,
    pub path: PathBuf,
    pub title: String,
    /// The frontmatter lane (a missing lane is `planned`), or why it cannot be read.
    pub lane: Result<Lane, String>,
    pub dependencies: Vec<String>,
}

/// The feature's work packages (`tasks/WP*.md`), sorted by file name.
pub fn load(feature_dir: &Path) -> Vec<Package> {
    crate::workflow::wp_files(feature_dir)
        .into_iter()
        .map(|path| {
            let stem = path.file_stem().unwrap_or_default().to_string_lossy().into_owned();
            let id = stem.get(..4).and_then(|p| normalize_wp_id(p).ok()).unwrap_or_else(|| stem.clone());
            match WorkPackage::load_path(&path, id.clone()) {
                Ok(wp) => Package {
                    id,
                    stem,
                    title: wp.title(),
                    lane: wp.lane().map_err(|e| e.to_string()),
                    dependencies: wp.dependencies(),
                    path,
                },
                Err(e) => Package {
                    id: id.clone(),
                    stem,
                    title: id,
                    lane: Err(e.to_string()),
                    dependencies: Vec::new(),
                    path,
                },
            }
        })
        .collect()
}

/// Upstream's `progress` object, or `None` when the feature has no work packages yet.
pub fn progress(packages: &[Package]) -> Option<Value> {
    if packages.is_empty() {
        return None;
    }
    let count = |lanes: &[Lane]| packages.iter().filter(|p| p.lane.as_ref().is_ok_and(|l| lanes.contains(l))).count();
    Some(json!({
        "total_wps": packages.len(),
        "done_wps": count(&[Lane::Done]),
        "in_progress_wps": count(&[Lane::Claimed, Lane::InProgress]),
        "planned_wps": count(&[Lane::Planned]),
        "for_review_wps": count(&[Lane::ForReview]),
    }))
}

/// Whether a work-package step has nothing left: implement when every work package is for_review, done or
/// canceled; review when every one is done or canceled. A feature without work packages has nothing to do.
pub fn step_finished(step_id: &str, packages: &[Package]) -> bool {
    let finished: &[Lane] = match step_id {
        "implement" => &[Lane::ForReview, Lane::Done, Lane::Canceled],
        _ => &[Lane::Done, Lane::Canceled],
    };
    packages.iter().all(|p| p.lane.as_ref().is_ok_and(|l| finished.contains(l)))
}

/// Upstream's guards on completing a planning step: the artefact the step produces must exist.
pub fn guard_failures(step_id: &str, feature_dir: &Path, packages: &[Package]) -> Vec<String> {
    let missing = |name: &str| (!feature_dir.join(name).exists()).then(|| format!("Required artifact missing: {name}"));
    match step_id {
        "specify" => missing("spec.md").into_iter().collect(),
        "plan" => missing("plan.md").into_iter().collect(),
        "tasks_outline" => missing("tasks.md").into_iter().collect(),
        "tasks_packages" if packages.is_empty() => vec!["Required: at least one tasks/WP*.md file".to_owned()],
        "tasks_finalize" if !feature_dir.join("tasks").is_dir() => {
            vec!["Required: tasks/ directory with finalized WP files".to_owned()]
        }
        "tasks_finalize" if packages.is_empty() => vec!["Required: at least one tasks/WP*.md file".to_owned()],
        "tasks_finalize" => packages
            .iter()
            .find(|p| !has_raw_dependencies(&p.path))
            .map(|p| {
                format!(
                    "WP {} missing 'dependencies' in frontmatter (run 'spec-kitty agent feature finalize-tasks')",
                    p.stem
                )
            })
            .into_iter()
            .collect(),
        "implement" | "review" if !step_finished(step_id, packages) => vec![if step_id == "implement" {
            "Not all work packages have required status (done or for_review)".to_owned()
        } else {
            "Not all work packages are done".to_owned()
        }],
        _ => Vec::new(),
    }
}

/// Whether the frontmatter has its own `dependencies:` line (finalize-tasks writes one into every file).
fn has_raw_dependencies(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else { return false };
    let mut lines = text.lines();
    if lines.next().map(str::trim_end) != Some("---") {
        return false;
    }
    lines.take_while(|l| l.trim_end() != "---").any(|l| l.trim_start().starts_with("dependencies:"))
}

/// What to do inside a work-package step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// `action` is `implement` or `review`.
    Work { action: &'static str, wp: usize },
    /// Nothing can move; the reason says what waits for what.
    Stuck(String),
}

/// The next work package to work on in `step_id`, in file order:
///
/// - implement: a planned work package whose dependencies are all done, else one already started
///   (claimed or in progress), else one waiting for review (reviewing it is what lets its dependents start);
/// - review: one waiting for review, else one sent back by a review (in progress, or planned with its
///   dependencies done) to be implemented again.
///
/// Upstream takes the first planned work package without looking at its dependencies; here a dependency
/// must be done first, as `agent workflow implement` requires.
pub fn select(step_id: &str, packages: &[Package]) -> Selection {
    let lane_of = |id: &str| packages.iter().find(|p| p.id == id).map(|p| p.lane.clone());
    let ready = |p: &Package| p.dependencies.iter().all(|d| matches!(lane_of(d), Some(Ok(Lane::Done))));
    let first = |wanted: &[Lane], needs_ready: bool| {
        packages.iter().position(|p| p.lane.as_ref().is_ok_and(|l| wanted.contains(l)) && (!needs_ready || ready(p)))
    };
    let started = [Lane::Claimed, Lane::InProgress];
    let order: [(&[Lane], bool, &'static str); 3] = if step_id == "review" {
        [(&[Lane::ForReview], false, "review"), (&started, false, "implement"), (&[Lane::Planned], true, "implement")]
    } else {
        [(&[Lane::Planned], true, "implement"), (&started, false, "implement"), (&[Lane::ForReview], false, "review")]
    };
    for (lanes, needs_ready, action) in order {
        if let Some(wp) = first(lanes, needs_ready) {
            return Selection::Work { action, wp };
        }
    }
    let mut reasons = Vec::new();
    for package in packages {
        match &package.lane {
            Err(error) => reasons.push(format!("{} cannot be read ({error})", package.id)),
            Ok(Lane::Blocked) => reasons.push(format!("{} is blocked", package.id)),
            Ok(Lane::Planned) => {
                let waiting: Vec<String> = package
                    .dependencies
                    .iter()
                    .filter_map(|d| match lane_of(d) {
                        Some(Ok(Lane::Done)) => None,
                        Some(Ok(lane)) => Some(format!("{d} ({lane})")),
                        Some(Err(_)) => Some(format!("{d} (unreadable)")),
                        None => Some(format!("{d} (no such work package)")),
                    })
                    .collect();
                reasons.push(format!("{} waits for {}", package.id, waiting.join(", ")));
            }
            Ok(_) => {}
        }
    }
    if reasons.is_empty() {
        Selection::Stuck(format!("No action mapped for WP step '{step_id}'"))
    } else {
        Selection::Stuck(format!("No work package can move: {}", reasons.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(id: &str, lane: Lane, deps: &[&str]) -> Package {
        Package {
            id: id.into(),
            stem: format!("{id}-x"),
            path: PathBuf::from(format!("{id}-x.md")),
            title: id.into(),
            lane: Ok(lane),
            dependencies: deps.iter().map(|d| (*d).to_owned()).collect(),
        }
    }

    fn chosen(step: &str, packages: &[Package]) -> (String, String) {
        match select(step, packages) {
            Selection::Work { action, wp } => (action.to_owned(), packages[wp].id.clone()),
            Selection::Stuck(reason) => ("stuck".into(), reason),
        }
    }

    #[test]
    fn implement_respects_dependencies_and_reviews_to_unblock() {
        use Lane::*;
        let mut wps = vec![
            package("WP01", Planned, &[]),
            package("WP02", Planned, &["WP01"]),
            package("WP03", Planned, &["WP01"]),
        ];
        assert_eq!(chosen("implement", &wps), ("implement".into(), "WP01".into()));
        wps[0].lane = Ok(InProgress);
        assert_eq!(chosen("implement", &wps), ("implement".into(), "WP01".into()), "resume: nothing else is ready");
        wps[0].lane = Ok(ForReview);
        assert_eq!(chosen("implement", &wps), ("review".into(), "WP01".into()), "review what blocks the rest");
        wps[0].lane = Ok(Done);
        assert_eq!(chosen("implement", &wps), ("implement".into(), "WP02".into()));
        assert!(!step_finished("implement", &wps));
        wps[1].lane = Ok(ForReview);
        wps[2].lane = Ok(ForReview);
        assert!(step_finished("implement", &wps) && !step_finished("review", &wps));
        assert_eq!(chosen("review", &wps), ("review".into(), "WP02".into()));
        wps[1].lane = Ok(Planned);
        assert_eq!(chosen("review", &wps), ("review".into(), "WP03".into()));
        wps[2].lane = Ok(Done);
        assert_eq!(chosen("review", &wps), ("implement".into(), "WP02".into()), "rework after a rejected review");
    }

    #[test]
    fn stuck_work_packages_are_explained() {
        use Lane::*;
        let wps = vec![
            package("WP01", Blocked, &[]),
            package("WP02", Planned, &["WP01", "WP09"]),
            package("WP03", Done, &[]),
        ];
        let (kind, reason) = chosen("implement", &wps);
        assert_eq!(kind, "stuck");
        assert_eq!(
            reason,
            "No work package can move: WP01 is blocked; WP02 waits for WP01 (blocked), WP09 (no such work package)"
        );
    }

    #[test]
    fn progress_counts_lanes_like_upstream() {
        use Lane::*;
        assert_eq!(progress(&[]), None);
        let wps = [
            package("WP01", Done, &[]),
            package("WP02", Claimed, &[]),
            package("WP03", ForReview, &[]),
            package("WP04", Canceled, &[]),
        ];
        assert_eq!(
            progress(&wps),
            Some(json!({"total_wps": 4, "done_wps": 1, "in_progress_wps": 1, "planned_wps": 0, "for_review_wps": 1}))
        );
    }

    #[test]
    fn finalize_needs_a_raw_dependencies_line_in_every_file() {
        let dir = tempfile::tempdir().unwrap();
        let feature = dir.path();
        assert_eq!(
            guard_failures("tasks_finalize", feature, &[]),
            ["Required: tasks/ directory with finalized WP files"]
        );
        std::fs::create_dir_all(feature.join("tasks")).unwrap();
        std::fs::write(feature.join("tasks/WP01-a.md"), "---\nlane: planned\ndependencies: []\n---\nbody\n").unwrap();
        std::fs::write(feature.join("tasks/WP02-b.md"), "---\nlane: planned\n---\ndependencies: [WP01]\n").unwrap();
        let packages = load(feature);
        assert_eq!(
            guard_failures("tasks_finalize", feature, &packages),
            ["WP WP02-b missing 'dependencies' in frontmatter (run 'spec-kitty agent feature finalize-tasks')"]
        );
        assert_eq!(guard_failures("specify", feature, &packages), ["Required artifact missing: spec.md"]);
        assert!(guard_failures("discovery", feature, &packages).is_empty());
    }
}
