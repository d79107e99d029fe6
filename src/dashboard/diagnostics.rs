//! `/api/diagnostics`: upstream's dashboard diagnostics object, gathered by the same checks as
//! `spec-kitty verify-setup` ([`crate::project::verify`]), plus our `problems` (what makes the setup
//! unusable, as `verify-setup` lists them).

use super::record;
use crate::project::Project;
use crate::project::verify::{self, FeatureState};
use serde_json::{Value, json};
use std::path::Path;

fn feature_state_json(state: &FeatureState) -> Value {
    json!({
        "name": state.name,
        "state": state.state,
        "branch_exists": state.branch_exists,
        "branch_merged": state.branch_merged,
        "worktree_exists": state.worktree_path.is_some(),
        "worktree_path": state.worktree_path.as_ref().map(|p| p.display().to_string()),
        "artifacts_in_main": state.artifacts_in_main,
        "artifacts_in_worktree": state.artifacts_in_worktree,
    })
}

/// The diagnostics of the project at `root`, as seen by the dashboard serving it (`pid`, `port`).
pub fn diagnostics_json(root: &Path, feature_env: Option<&str>, pid: u32, port: u16) -> Value {
    let project = Project { root: root.to_owned() };
    let check = verify::check_project(&project);
    let mission = verify::mission_files(&project);
    let mut issues: Vec<String> = Vec::new();
    let git_branch = crate::git::branch_at(root);
    if check.branches.is_some() && git_branch.is_none() {
        issues.push("Could not detect git branch".into());
    }
    let names = check.all_feature_names();
    let states: Vec<FeatureState> = names.iter().map(|n| check.feature_state(&project, n)).collect();
    let count = |state: &str| states.iter().filter(|s| s.state == state).count();
    let active_worktrees = states.iter().filter(|s| s.worktree_path.is_some()).count();
    let total_expected: usize = mission.expected.values().map(Vec::len).sum();
    let current = super::features::active_feature(root, feature_env);
    let current_feature = match &current {
        Some(slug) => {
            let mut value = feature_state_json(&check.feature_state(&project, slug));
            value["detected"] = json!(true);
            value
        }
        None => json!({"detected": false, "error": "no feature detected"}),
    };
    let mut observations = Vec::new();
    if let Some(state) = current.as_ref().map(|slug| check.feature_state(&project, slug))
        && state.state == "in_development"
        && state.worktree_path.is_none()
    {
        observations.push(format!("Feature {} has no worktree but has development artifacts", state.name));
    }
    if !mission.missing.is_empty() {
        observations.push(format!("Mission integrity: {} expected files not found", mission.missing.len()));
    }
    if active_worktrees > 5 {
        observations.push(format!("Multiple worktrees active: {active_worktrees}"));
    }
    let problems = check.problems();
    issues.extend(problems.iter().cloned());
    json!({
        "project_path": root.display().to_string(),
        "current_working_directory": root.display().to_string(),
        "git_branch": git_branch,
        "in_worktree": false,
        "worktrees_exist": root.join(crate::workflow::workspace::WORKTREES_DIR).exists(),
        "active_mission": mission.active_mission,
        "file_integrity": {
            "total_expected": total_expected,
            "total_present": total_expected - mission.missing.len(),
            "total_missing": mission.missing.len(),
            "missing_files": mission.missing,
        },
        "worktree_overview": {
            "total_features": names.len(),
            "active_worktrees": active_worktrees,
            "merged_features": count("merged"),
            "in_development": count("in_development"),
            "not_started": count("not_started"),
        },
        "current_feature": current_feature,
        "all_features": states.iter().map(feature_state_json).collect::<Vec<_>>(),
        "dashboard_health": {
            "metadata_exists": record::record_path(root).exists(),
            "url": record::url_of(port),
            "port": port,
            "pid": pid,
            "has_pid": true,
            "responding": true,
        },
        "observations": observations,
        "issues": issues,
        "usable": problems.is_empty(),
        "problems": problems,
    })
}
