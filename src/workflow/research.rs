//! The research artefacts of a feature (`spec-kitty research`): `research.md`, `data-model.md`,
//! `research/evidence-log.csv` and `research/source-register.csv`, the files upstream's Phase 0 research
//! step scaffolds in `kitty-specs/<feature>/`.
//!
//! Each file comes from the project's template when it has one — `.kittify/missions/<mission>/templates/`,
//! then `.kittify/templates/`, then the legacy `templates/` at the project root, as upstream resolves them —
//! else from a small built-in stub. Upstream looks for the markdown templates under the names `research.md`
//! and `data-model.md` only, while missions ship them as `research-template.md` and
//! `data-model-template.md`, so it usually writes empty files; both names are tried here, and the fallback
//! is a usable stub (the CSVs get the column headers upstream's research validator requires).

use std::io::Write;
use std::path::{Path, PathBuf};

/// One research artefact: where it goes and the template names that provide it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Artifact {
    /// Relative to the feature directory.
    pub relative: &'static str,
    /// Template file names, in order of preference.
    pub templates: &'static [&'static str],
}

pub const ARTIFACTS: [Artifact; 4] = [
    Artifact { relative: "research.md", templates: &["research.md", "research-template.md"] },
    Artifact { relative: "data-model.md", templates: &["data-model.md", "data-model-template.md"] },
    Artifact { relative: "research/evidence-log.csv", templates: &["research/evidence-log.csv"] },
    Artifact { relative: "research/source-register.csv", templates: &["research/source-register.csv"] },
];

/// The columns upstream's research validator requires in the evidence log.
pub const EVIDENCE_LOG_COLUMNS: &str = "timestamp,source_type,citation,key_finding,confidence,notes";
/// The columns upstream's research validator requires in the source register.
pub const SOURCE_REGISTER_COLUMNS: &str = "source_id,citation,url,accessed_date,relevance,status";

/// Placeholders of the plan template; a plan that still has five of them is not filled in (upstream's
/// `plan_validation` rule, which research enforces before scaffolding).
const PLAN_TEMPLATE_MARKERS: [&str; 11] = [
    "[FEATURE]",
    "[###-feature-name]",
    "[DATE]",
    "[link]",
    "[Extract from feature spec:",
    "ACTION REQUIRED: Replace the content",
    "[e.g., Python 3.11",
    "or NEEDS CLARIFICATION",
    "# [REMOVE IF UNUSED]",
    "[Gates determined based on constitution file]",
    "[Document the selected structure",
];
const UNFILLED_PLAN_THRESHOLD: usize = 5;

/// Where an artefact's content comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Template(PathBuf),
    BuiltIn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Created,
    /// An existing file overwritten because of `force`.
    Replaced,
    /// An existing file kept.
    Skipped,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Replaced => "replaced",
            Action::Skipped => "skipped",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub artifact: Artifact,
    pub path: PathBuf,
    pub action: Action,
    /// `None` for a skipped file.
    pub source: Option<Source>,
}

#[derive(Debug, thiserror::Error)]
pub enum ResearchError {
    #[error(
        "plan.md of {feature} still looks like the plan template ({} placeholders left: {})",
        markers.len(),
        markers.join(", ")
    )]
    UnfilledPlan { feature: String, markers: Vec<&'static str> },
    #[error("cannot read template {}: {source}", path.display())]
    Template { path: PathBuf, source: std::io::Error },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{} is a directory; move it aside to scaffold the file", path.display())]
    IsDirectory { path: PathBuf },
}

impl crate::error::Diagnose for ResearchError {
    fn hints(&self) -> Vec<String> {
        match self {
            ResearchError::UnfilledPlan { .. } => vec![
                "complete the plan first (/spec-kitty.plan): fill in the technical context and remove the template placeholders"
                    .into(),
            ],
            _ => Vec::new(),
        }
    }

    fn error_code(&self) -> Option<&'static str> {
        matches!(self, ResearchError::UnfilledPlan { .. }).then_some("PLAN_UNFILLED")
    }
}

/// The plan-template placeholders still in `plan` when there are enough of them to call it unfilled.
pub fn unfilled_plan_markers(plan: &str) -> Option<Vec<&'static str>> {
    let found: Vec<&'static str> = PLAN_TEMPLATE_MARKERS.iter().copied().filter(|m| plan.contains(m)).collect();
    (found.len() >= UNFILLED_PLAN_THRESHOLD).then_some(found)
}

/// The template the project provides for `artifact` under `mission`, if any.
pub fn find_template(project_root: &Path, mission: &str, artifact: &Artifact) -> Option<PathBuf> {
    let kittify = project_root.join(".kittify");
    let tiers = [
        kittify.join("missions").join(mission).join("templates"),
        kittify.join("templates"),
        project_root.join("templates"),
    ];
    tiers
        .iter()
        .flat_map(|tier| artifact.templates.iter().map(move |name| tier.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Scaffolds the research artefacts of the feature in `feature_dir`. Existing files are kept unless
/// `force`; a refused plan writes nothing.
pub fn scaffold(
    project_root: &Path,
    feature_slug: &str,
    feature_dir: &Path,
    mission: &str,
    force: bool,
) -> Result<Vec<Outcome>, ResearchError> {
    if let Ok(plan) = std::fs::read_to_string(feature_dir.join("plan.md"))
        && let Some(markers) = unfilled_plan_markers(&plan)
    {
        return Err(ResearchError::UnfilledPlan { feature: feature_slug.to_owned(), markers });
    }
    let mut outcomes = Vec::with_capacity(ARTIFACTS.len());
    for artifact in ARTIFACTS {
        let path = feature_dir.join(artifact.relative);
        if path.is_dir() {
            return Err(ResearchError::IsDirectory { path });
        }
        let exists = path.symlink_metadata().is_ok();
        if exists && !force {
            outcomes.push(Outcome { artifact, path, action: Action::Skipped, source: None });
            continue;
        }
        let (source, content) = match find_template(project_root, mission, &artifact) {
            Some(template) => {
                let content = std::fs::read(&template)
                    .map_err(|source| ResearchError::Template { path: template.clone(), source })?;
                (Source::Template(template), content)
            }
            None => (Source::BuiltIn, builtin_stub(&artifact, feature_slug).into_bytes()),
        };
        let write_error = |source| ResearchError::Write { path: path.clone(), source };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(write_error)?;
        }
        let action = if exists {
            crate::fsutil::write_atomic(&path, &content).map_err(write_error)?;
            Action::Replaced
        } else {
            // Never clobbers a file that appeared since the check.
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .and_then(|mut file| file.write_all(&content))
                .map_err(write_error)?;
            Action::Created
        };
        outcomes.push(Outcome { artifact, path, action, source: Some(source) });
    }
    Ok(outcomes)
}

/// The stub written when the project has no template for an artefact.
pub fn builtin_stub(artifact: &Artifact, feature_slug: &str) -> String {
    match artifact.relative {
        "research.md" => format!(
            "# Research: {feature_slug}\n\n\
             ## Questions\n\n- What must be decided before the plan can be written?\n\n\
             ## Decisions\n\n\
             | Decision | Rationale | Evidence | Status |\n\
             |----------|-----------|----------|--------|\n\
             |          |           |          |        |\n\n\
             ## Evidence\n\n\
             Findings are logged in `research/evidence-log.csv`; their sources in `research/source-register.csv`.\n\n\
             ## Open questions and risks\n\n- \n"
        ),
        "data-model.md" => format!(
            "# Data Model: {feature_slug}\n\n\
             ## Entities\n\n### Entity: \n\n- **Description**: \n- **Attributes**: \n- **Identifiers**: \n\n\
             ## Relationships\n\n\
             | Source | Relation | Target | Cardinality | Notes |\n\
             |--------|----------|--------|-------------|-------|\n\n\
             ## Validation rules\n\n- \n"
        ),
        "research/evidence-log.csv" => format!("{EVIDENCE_LOG_COLUMNS}\n"),
        "research/source-register.csv" => format!("{SOURCE_REGISTER_COLUMNS}\n"),
        other => format!("# {other}\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_with_five_template_placeholders_is_unfilled() {
        let template = "# Implementation Plan: [FEATURE]\n**Branch**: `[###-feature-name]` | **Date**: [DATE] | **Spec**: [link]\n\
                        **Input**: [Extract from feature spec: …]\n";
        assert_eq!(unfilled_plan_markers(template).map(|m| m.len()), Some(5));
        assert_eq!(unfilled_plan_markers("# Plan: bookmarks\n[DATE] is fine alone\n"), None);
    }

    #[test]
    fn templates_resolve_mission_first_under_both_names() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let research = &ARTIFACTS[0];
        assert_eq!(find_template(root, "software-dev", research), None);
        std::fs::create_dir_all(root.join("templates")).unwrap();
        std::fs::write(root.join("templates/research.md"), "legacy").unwrap();
        assert_eq!(find_template(root, "software-dev", research), Some(root.join("templates/research.md")));
        std::fs::create_dir_all(root.join(".kittify/templates")).unwrap();
        std::fs::write(root.join(".kittify/templates/research-template.md"), "generic").unwrap();
        assert_eq!(
            find_template(root, "software-dev", research),
            Some(root.join(".kittify/templates/research-template.md"))
        );
        let mission = root.join(".kittify/missions/research/templates/research");
        std::fs::create_dir_all(&mission).unwrap();
        std::fs::write(mission.join("evidence-log.csv"), "x").unwrap();
        assert_eq!(find_template(root, "research", &ARTIFACTS[2]), Some(mission.join("evidence-log.csv")));
        assert_eq!(find_template(root, "software-dev", &ARTIFACTS[2]), None);
    }

    #[test]
    fn scaffolds_then_keeps_then_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let feature = dir.path().join("kitty-specs/001-x");
        std::fs::create_dir_all(&feature).unwrap();
        let first = scaffold(dir.path(), "001-x", &feature, "software-dev", false).unwrap();
        assert!(first.iter().all(|o| o.action == Action::Created && o.source == Some(Source::BuiltIn)));
        assert_eq!(
            std::fs::read_to_string(feature.join("research/evidence-log.csv")).unwrap(),
            format!("{EVIDENCE_LOG_COLUMNS}\n")
        );
        std::fs::write(feature.join("research.md"), "mine").unwrap();
        let second = scaffold(dir.path(), "001-x", &feature, "software-dev", false).unwrap();
        assert!(second.iter().all(|o| o.action == Action::Skipped));
        assert_eq!(std::fs::read_to_string(feature.join("research.md")).unwrap(), "mine");
        let third = scaffold(dir.path(), "001-x", &feature, "software-dev", true).unwrap();
        assert!(third.iter().all(|o| o.action == Action::Replaced));
        assert!(std::fs::read_to_string(feature.join("research.md")).unwrap().starts_with("# Research: 001-x"));
    }
}
