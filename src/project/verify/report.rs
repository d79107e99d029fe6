//! The `verify-setup` report: the checks of [`super`] plus what they mean (problems that make the
//! setup unusable, observations worth knowing) and the JSON shape upstream's `--json` prints, with our
//! own keys after upstream's.

use super::{FeatureState, MissionFiles, ProjectCheck, ToolCheck, WorktreeCheck};
use crate::json_map::Entries;
use crate::project::Project;
use crate::workflow::lanes::Lane;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Everything `verify-setup` shows.
pub struct SetupReport {
    pub project: Project,
    pub cwd: PathBuf,
    pub tools: Vec<ToolCheck>,
    pub check: ProjectCheck,
    pub mission: MissionFiles,
    /// The current feature, or why none was detected.
    pub feature: Result<String, String>,
    pub current_branch: Option<String>,
    pub in_worktree: bool,
    /// What makes the setup unusable (the command exits 1 when there are any).
    pub problems: Vec<String>,
    pub observations: Vec<String>,
}

/// The feature the command was asked about: the slug given with `--feature` (if any) and the outcome
/// of resolving it.
pub struct FeatureLookup<'a> {
    pub explicit: Option<&'a str>,
    pub resolved: Result<String, String>,
}

impl SetupReport {
    /// Checks `project` from `cwd`, looking agents up on `path_var` (a `PATH` value).
    pub fn gather(
        project: Project,
        cwd: &Path,
        path_var: Option<&std::ffi::OsStr>,
        feature: FeatureLookup<'_>,
    ) -> SetupReport {
        let tools = super::check_tools(path_var);
        let check = super::check_project(&project);
        let mission = super::mission_files(&project);
        let current_branch = crate::git::branch_at(cwd);
        let in_worktree = cwd.components().any(|c| c.as_os_str() == ".worktrees");
        let mut problems = check.problems();
        if let (Some(explicit), Err(error)) = (feature.explicit, &feature.resolved) {
            problems.push(format!("--feature {explicit}: {error}"));
        }
        let mut report = SetupReport {
            project,
            cwd: cwd.to_owned(),
            tools,
            check,
            mission,
            feature: feature.resolved,
            current_branch,
            in_worktree,
            problems,
            observations: Vec::new(),
        };
        report.observations = report.observe();
        report
    }

    /// Things worth knowing that do not make the setup unusable.
    fn observe(&self) -> Vec<String> {
        let mut observations = Vec::new();
        if !self.tools.iter().any(|t| t.key == "git" && t.available()) {
            observations.push("git is not on PATH: workspaces and commits need it".to_owned());
        }
        if !self.tools.iter().any(|t| is_agent(t.key) && t.available()) {
            observations.push("no agent CLI found on PATH (claude, codex, gemini, …)".to_owned());
        }
        if self.in_worktree && matches!(self.current_branch.as_deref(), Some("main" | "master")) {
            observations.push("Unusual: In worktree but on main branch".to_owned());
        }
        let config = &self.check.config;
        if self.check.kittify_exists && !config.exists {
            observations.push(".kittify/config.yaml does not exist: `spec-kitty init` writes one".to_owned());
        } else if config.error.is_none() && !config.identity_complete {
            observations.push(
                "the project has no sync identity yet (project.uuid/slug/node_id in .kittify/config.yaml)".to_owned(),
            );
        }
        if let Ok(slug) = &self.feature {
            let state = self.check.feature_state(&self.project, slug);
            if state.state == "in_development" && state.worktree_path.is_none() {
                observations.push(format!("Feature {slug} has no worktree but has development artifacts"));
            }
        }
        if !self.mission.missing.is_empty() {
            observations.push(format!("Mission integrity: {} expected files not found", self.mission.missing.len()));
        }
        observations
    }

    /// The `--json` document.
    pub fn to_json(&self) -> ReportJson<'_> {
        let check = &self.check;
        let root = self.project.root.display().to_string();
        let (feature_detection, feature_analysis) = match &self.feature {
            Ok(slug) => (
                FeatureDetection::Detected { detected: true, feature: slug },
                Some(FeatureAnalysis::of(check.feature_state(&self.project, slug))),
            ),
            Err(error) => (FeatureDetection::Missing { detected: false, error }, None),
        };
        ReportJson {
            environment: Environment {
                working_directory: self.cwd.display().to_string(),
                repo_root: root.clone(),
                project_root: root.clone(),
                in_worktree: self.in_worktree,
                current_branch: self.current_branch.as_deref(),
                active_mission: &self.mission.active_mission,
            },
            feature_detection,
            worktree_status: self.worktree_status(),
            file_integrity: FileIntegrity::of(&self.mission),
            feature_analysis: feature_analysis.map_or(AnalysisOrEmpty::Empty {}, AnalysisOrEmpty::Analysis),
            recommendations: &[],
            observations: &self.observations,
            tools: self
                .tools
                .iter()
                .map(|t| (t.key, ToolJson { available: t.available(), path: t.path.as_deref().map(display) }))
                .collect(),
            usable: self.problems.is_empty(),
            problems: &self.problems,
            project: ProjectJson {
                root,
                kittify: check.kittify_exists,
                config: ConfigJson {
                    path: display(&check.config.path),
                    exists: check.config.exists,
                    valid: check.config.error.is_none(),
                    error: check.config.error.as_deref(),
                    identity_complete: check.config.identity_complete,
                },
                kitty_specs: check.kitty_specs_exists,
                git: check.branches.is_some(),
                primary_branch: check.branches.as_ref().map(|b| b.primary.as_str()),
            },
            features: check
                .features
                .iter()
                .map(|f| FeatureJson {
                    slug: &f.slug,
                    mission: f.mission.as_deref(),
                    work_packages: f.work_packages,
                    lanes: Lane::listed(|lane| f.lanes.contains_key(&lane))
                        .map(|lane| (lane.as_str(), f.lanes.get(&lane).copied().unwrap_or(0)))
                        .collect(),
                    complete: f.complete(),
                    unreadable: &f.unreadable,
                })
                .collect(),
            worktrees: check.worktrees.iter().map(WorktreeJson::of).collect(),
        }
    }

    /// Upstream's feature overview: branches and directories by state.
    fn worktree_status(&self) -> WorktreeStatus {
        let mut status = WorktreeStatus::default();
        for name in self.check.all_feature_names() {
            let state = self.check.feature_state(&self.project, &name);
            status.total_features += 1;
            status.active_worktrees += usize::from(state.worktree_path.is_some());
            match state.state {
                "merged" => status.merged_features += 1,
                "in_development" => status.in_development += 1,
                "not_started" => status.not_started += 1,
                _ => {}
            }
        }
        status
    }
}

/// The tools that are coding agents (git, editors and the GitHub CLI are not).
fn is_agent(key: &str) -> bool {
    !matches!(key, "git" | "code" | "code-insiders" | "gh")
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

#[derive(Serialize)]
pub struct ReportJson<'a> {
    environment: Environment<'a>,
    feature_detection: FeatureDetection<'a>,
    worktree_status: WorktreeStatus,
    file_integrity: FileIntegrity<'a>,
    feature_analysis: AnalysisOrEmpty,
    recommendations: &'static [String],
    observations: &'a [String],
    tools: Entries<&'static str, ToolJson>,
    usable: bool,
    problems: &'a [String],
    project: ProjectJson<'a>,
    features: Vec<FeatureJson<'a>>,
    worktrees: Vec<WorktreeJson<'a>>,
}

#[derive(Serialize)]
struct Environment<'a> {
    working_directory: String,
    repo_root: String,
    project_root: String,
    in_worktree: bool,
    current_branch: Option<&'a str>,
    active_mission: &'a str,
}

#[derive(Serialize)]
#[serde(untagged)]
enum FeatureDetection<'a> {
    Detected { detected: bool, feature: &'a str },
    Missing { detected: bool, error: &'a str },
}

#[derive(Serialize, Default)]
struct WorktreeStatus {
    total_features: usize,
    active_worktrees: usize,
    merged_features: usize,
    in_development: usize,
    not_started: usize,
}

#[derive(Serialize)]
struct FileIntegrity<'a> {
    active_mission: &'a str,
    total_expected: usize,
    total_present: usize,
    total_missing: usize,
    /// Missing file → its category.
    missing_files: Entries<&'a str, &'static str>,
    categories: Entries<&'static str, CategoryCount>,
}

#[derive(Serialize)]
struct CategoryCount {
    expected: usize,
    present: usize,
    missing: usize,
}

impl<'a> FileIntegrity<'a> {
    fn of(mission: &'a MissionFiles) -> FileIntegrity<'a> {
        let total_expected: usize = mission.expected.values().map(Vec::len).sum();
        let category_of = |file: &str| {
            mission.expected.iter().find(|(_, files)| files.iter().any(|f| f == file)).map_or("", |(c, _)| *c)
        };
        FileIntegrity {
            active_mission: &mission.active_mission,
            total_expected,
            total_present: total_expected - mission.missing.len(),
            total_missing: mission.missing.len(),
            missing_files: mission.missing.iter().map(|f| (f.as_str(), category_of(f))).collect(),
            categories: mission
                .expected
                .iter()
                .map(|(category, files)| {
                    let missing = files.iter().filter(|f| mission.missing.contains(f)).count();
                    (*category, CategoryCount { expected: files.len(), present: files.len() - missing, missing })
                })
                .collect(),
        }
    }
}

/// Upstream prints `{}` when no feature was detected.
#[derive(Serialize)]
#[serde(untagged)]
enum AnalysisOrEmpty {
    Analysis(FeatureAnalysis),
    Empty {},
}

#[derive(Serialize)]
struct FeatureAnalysis {
    name: String,
    branch_exists: bool,
    branch_merged: bool,
    worktree_exists: bool,
    worktree_path: Option<String>,
    artifacts_in_main: Vec<String>,
    artifacts_in_worktree: Vec<String>,
    /// Upstream reads file times here; the field is kept for its consumers and always null.
    last_activity: Option<String>,
    state: &'static str,
}

impl FeatureAnalysis {
    fn of(state: FeatureState) -> FeatureAnalysis {
        FeatureAnalysis {
            name: state.name,
            branch_exists: state.branch_exists,
            branch_merged: state.branch_merged,
            worktree_exists: state.worktree_path.is_some(),
            worktree_path: state.worktree_path.as_deref().map(display),
            artifacts_in_main: state.artifacts_in_main,
            artifacts_in_worktree: state.artifacts_in_worktree,
            last_activity: None,
            state: state.state,
        }
    }
}

#[derive(Serialize)]
struct ToolJson {
    available: bool,
    path: Option<String>,
}

#[derive(Serialize)]
struct ProjectJson<'a> {
    root: String,
    kittify: bool,
    config: ConfigJson<'a>,
    kitty_specs: bool,
    git: bool,
    primary_branch: Option<&'a str>,
}

#[derive(Serialize)]
struct ConfigJson<'a> {
    path: String,
    exists: bool,
    valid: bool,
    error: Option<&'a str>,
    identity_complete: bool,
}

#[derive(Serialize)]
struct FeatureJson<'a> {
    slug: &'a str,
    mission: Option<&'a str>,
    work_packages: usize,
    lanes: Entries<&'static str, usize>,
    complete: bool,
    unreadable: &'a [String],
}

#[derive(Serialize)]
struct WorktreeJson<'a> {
    name: &'a str,
    path: String,
    git_worktree: bool,
    branch: Option<&'a str>,
    feature: Option<&'a str>,
    wp_id: Option<&'a str>,
    problem: Option<&'a str>,
}

impl<'a> WorktreeJson<'a> {
    fn of(w: &'a WorktreeCheck) -> WorktreeJson<'a> {
        WorktreeJson {
            name: &w.name,
            path: display(&w.path),
            git_worktree: w.git_worktree,
            branch: w.branch.as_deref(),
            feature: w.feature.as_deref(),
            wp_id: w.wp_id.as_deref(),
            problem: w.problem.as_deref(),
        }
    }
}
