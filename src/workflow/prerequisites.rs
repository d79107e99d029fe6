//! Which planning files a feature has: upstream's `validate_feature_structure`, the answer behind
//! `agent feature check-prerequisites`, which nearly every slash-command template runs first.
//!
//! The `paths` object keeps upstream's keys, in upstream's order, present only for what exists
//! (`spec_file`, `checklists_dir`, `research_dir`, `tasks_dir`, `tasks_file`, then always
//! `feature_dir`). The templates ask the agent for `FEATURE_DIR`, `FEATURE_SPEC`, `IMPL_PLAN`, `TASKS`
//! and `AVAILABLE_DOCS`, names upstream never printed; we add them after upstream's keys so an agent
//! following the template literally finds them too.

use serde_json::{Map, Value, json};
use std::path::Path;

/// The outcome of the structure check.
#[derive(Debug, Clone, PartialEq)]
pub struct StructureReport {
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
    /// Upstream's keys, then the template aliases (see the module docs).
    pub paths: Map<String, Value>,
}

/// Optional design documents the templates list as `AVAILABLE_DOCS` when present.
const OPTIONAL_DOCS: [&str; 5] = ["research.md", "data-model.md", "quickstart.md", "contracts/", "checklists/"];

impl StructureReport {
    pub fn valid(&self) -> bool {
        self.errors.is_empty()
    }

    /// Upstream's full validation object: `{"valid", "errors", "warnings", "paths"}`.
    pub fn to_json(&self) -> Value {
        json!({"valid": self.valid(), "errors": self.errors, "warnings": self.warnings, "paths": self.paths})
    }
}

/// Checks `feature_dir`: `spec.md` is required (and `tasks.md` with `check_tasks`); `checklists/`,
/// `research/` and `tasks/` are recommended.
pub fn check_structure(feature_dir: &Path, check_tasks: bool) -> StructureReport {
    let mut report = StructureReport { errors: Vec::new(), warnings: Vec::new(), paths: Map::new() };
    let display = |path: &Path| Value::String(path.display().to_string());
    if !feature_dir.is_dir() {
        report.errors.push(format!("Feature directory not found: {}", feature_dir.display()));
        return report;
    }
    let spec = feature_dir.join("spec.md");
    if spec.exists() {
        report.paths.insert("spec_file".into(), display(&spec));
    } else {
        report.errors.push("Missing required file: spec.md".into());
    }
    for name in ["checklists", "research", "tasks"] {
        let dir = feature_dir.join(name);
        if dir.exists() {
            report.paths.insert(format!("{name}_dir"), display(&dir));
        } else {
            report.warnings.push(format!("Missing recommended directory: {name}/"));
        }
    }
    let tasks = feature_dir.join("tasks.md");
    if check_tasks {
        if tasks.exists() {
            report.paths.insert("tasks_file".into(), display(&tasks));
        } else {
            report.errors.push("Missing required file: tasks.md".into());
        }
    }
    report.paths.insert("feature_dir".into(), display(feature_dir));

    report.paths.insert("FEATURE_DIR".into(), display(feature_dir));
    report.paths.insert("FEATURE_SPEC".into(), display(&spec));
    report.paths.insert("IMPL_PLAN".into(), display(&feature_dir.join("plan.md")));
    report.paths.insert("TASKS".into(), display(&tasks));
    let available: Vec<&str> =
        OPTIONAL_DOCS.into_iter().filter(|doc| feature_dir.join(doc.trim_end_matches('/')).exists()).collect();
    report.paths.insert("AVAILABLE_DOCS".into(), json!(available));
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(report: &StructureReport) -> Vec<&str> {
        report.paths.keys().map(String::as_str).collect()
    }

    #[test]
    fn a_complete_feature_lists_upstream_keys_in_order_then_the_template_names() {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["checklists", "research", "tasks", "contracts"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        for file in ["spec.md", "tasks.md", "research.md"] {
            std::fs::write(dir.path().join(file), "x").unwrap();
        }
        let report = check_structure(dir.path(), true);
        assert!(report.valid());
        assert_eq!(
            keys(&report),
            [
                "spec_file",
                "checklists_dir",
                "research_dir",
                "tasks_dir",
                "tasks_file",
                "feature_dir",
                "FEATURE_DIR",
                "FEATURE_SPEC",
                "IMPL_PLAN",
                "TASKS",
                "AVAILABLE_DOCS"
            ]
        );
        assert_eq!(report.paths["AVAILABLE_DOCS"], json!(["research.md", "contracts/", "checklists/"]));
        assert_eq!(report.to_json()["valid"], json!(true));
    }

    #[test]
    fn missing_files_are_errors_and_missing_directories_warnings() {
        let dir = tempfile::tempdir().unwrap();
        let report = check_structure(dir.path(), true);
        assert_eq!(report.errors, ["Missing required file: spec.md", "Missing required file: tasks.md"]);
        assert_eq!(report.warnings.len(), 3);
        assert_eq!(&keys(&report)[..2], ["feature_dir", "FEATURE_DIR"]);
        let without_tasks = check_structure(dir.path(), false);
        assert_eq!(without_tasks.errors, ["Missing required file: spec.md"]);
        let gone = check_structure(&dir.path().join("missing"), false);
        assert!(gone.errors[0].starts_with("Feature directory not found"), "{:?}", gone.errors);
        assert!(gone.paths.is_empty());
    }
}
