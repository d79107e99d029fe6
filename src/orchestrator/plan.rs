//! What a run works on: the feature's work packages, their dependencies (from the WP frontmatter, as
//! upstream's `build_dependency_graph`) and lanes, validated and in topological order.

use crate::workflow::graph::{self, DependencyGraph, GraphError};
use crate::workflow::lanes::Lane;
use crate::workflow::wp::{WorkPackage, WpError, normalize_wp_id};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WpInfo {
    pub id: String,
    pub title: String,
    pub dependencies: Vec<String>,
    pub lane: Lane,
    pub path: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub wps: BTreeMap<String, WpInfo>,
    pub graph: DependencyGraph,
    /// Dependencies before dependents, ties by id.
    pub order: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("no work packages in {}/tasks/ (finalize-tasks writes them)", .0.display())]
    NoWorkPackages(PathBuf),
    #[error(transparent)]
    Wp(#[from] WpError),
    #[error("{wp}: dependency '{dependency}' is not a work package id (expected WP01 … WP99)")]
    BadDependency { wp: String, dependency: String },
    #[error(transparent)]
    Graph(#[from] GraphError),
}

impl crate::error::Diagnose for PlanError {}

impl Plan {
    pub fn load(feature_dir: &Path) -> Result<Plan, PlanError> {
        let mut wps = BTreeMap::new();
        for loaded in WorkPackage::all(feature_dir) {
            let wp = loaded?;
            let dependencies = wp
                .dependencies()
                .iter()
                .map(|d| {
                    normalize_wp_id(d)
                        .map_err(|_| PlanError::BadDependency { wp: wp.id.clone(), dependency: d.clone() })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let info = WpInfo { id: wp.id.clone(), title: wp.title(), dependencies, lane: wp.lane()?, path: wp.path };
            wps.insert(info.id.clone(), info);
        }
        if wps.is_empty() {
            return Err(PlanError::NoWorkPackages(feature_dir.to_owned()));
        }
        let graph: DependencyGraph = wps.values().map(|w| (w.id.clone(), w.dependencies.clone())).collect();
        let order = graph::topological_order(&graph)?;
        Ok(Plan { wps, graph, order })
    }

    /// The current lanes, read again from the WP files (they change while the run goes on).
    pub fn current_lanes(&self) -> BTreeMap<String, Lane> {
        self.wps
            .values()
            .map(|w| {
                let lane = WorkPackage::load_path(&w.path, w.id.clone()).ok().and_then(|wp| wp.lane().ok());
                (w.id.clone(), lane.unwrap_or(w.lane))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, id: &str, deps: &str, lane: &str) {
        let tasks = dir.join("tasks");
        std::fs::create_dir_all(&tasks).unwrap();
        std::fs::write(
            tasks.join(format!("{id}-x.md")),
            format!("---\nwork_package_id: {id}\ntitle: T {id}\nlane: {lane}\ndependencies: {deps}\n---\nbody\n"),
        )
        .unwrap();
    }

    #[test]
    fn loads_the_graph_from_frontmatter() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "WP03", "[WP1]", "planned");
        write(dir.path(), "WP01", "[]", "done");
        write(dir.path(), "WP02", "[WP03, WP01]", "doing");
        let plan = Plan::load(dir.path()).unwrap();
        assert_eq!(plan.order, ["WP01", "WP03", "WP02"]);
        assert_eq!(plan.wps["WP02"].dependencies, ["WP03", "WP01"]);
        assert_eq!((plan.wps["WP01"].lane, plan.wps["WP02"].lane), (Lane::Done, Lane::InProgress));
        assert_eq!(plan.current_lanes()["WP02"], Lane::InProgress);
    }

    #[test]
    fn refuses_cycles_unknown_dependencies_and_empty_features() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(Plan::load(dir.path()), Err(PlanError::NoWorkPackages(_))), "no tasks/ directory");
        std::fs::create_dir_all(dir.path().join("tasks")).unwrap();
        assert!(matches!(Plan::load(dir.path()), Err(PlanError::NoWorkPackages(_))));
        write(dir.path(), "WP01", "[WP02]", "planned");
        write(dir.path(), "WP02", "[WP01]", "planned");
        let err = Plan::load(dir.path()).unwrap_err().to_string();
        assert_eq!(err, "Circular dependencies detected: [['WP01', 'WP02', 'WP01']]");
        write(dir.path(), "WP02", "[WP07]", "planned");
        let err = Plan::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("WP07, which is not a work package"), "{err}");
        write(dir.path(), "WP02", "[lib]", "planned");
        assert!(Plan::load(dir.path()).unwrap_err().to_string().contains("dependency 'lib' is not a work package id"));
    }
}
