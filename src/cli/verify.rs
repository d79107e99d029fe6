//! `spec-kitty verify-setup`: is this environment ready for agents? Which agent CLIs are on `PATH`, whether
//! the project's structure is intact (`.kittify/`, a parseable `config.yaml`, `kitty-specs/`), every
//! feature with its work-package lanes, and every `.worktrees/` workspace with whether git knows it.
//!
//! `--json` prints one object with upstream's keys (`environment`, `feature_detection`, `worktree_status`,
//! `file_integrity`, `feature_analysis`, `recommendations`, `observations`, `tools`) and ours (`usable`,
//! `problems`, `project`, `features`, `worktrees`). Exit 1 when the setup is not usable (upstream exits 0
//! whenever it finds a project). Left out: upstream's `--diagnostics` dashboard health check (there is no
//! dashboard here) and its `--check-files/--check-tools` switches, which could not be turned off anyway.

use super::common::{FeatureArg, discover, json_aware, resolve_feature};
use super::output;
use crate::context::Context;
use crate::error::CliError;
use crate::events::pyjson;
use crate::project::Project;
use crate::project::verify::{self, FeatureState, MissionFiles, ProjectCheck, ToolCheck};
use crate::workflow::lanes::Lane;
use clap::Args;
use serde_json::{Map, Value, json};

#[derive(Debug, Args)]
pub struct VerifySetupArgs {
    #[command(flatten)]
    feature: FeatureArg,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &Context, args: VerifySetupArgs) -> Result<(), CliError> {
    json_aware(args.json, || verify_setup(ctx, &args))
}

/// Everything the report shows.
struct Report {
    project: Project,
    cwd: std::path::PathBuf,
    tools: Vec<ToolCheck>,
    check: ProjectCheck,
    mission: MissionFiles,
    feature: Result<String, String>,
    current_branch: Option<String>,
    in_worktree: bool,
    problems: Vec<String>,
    observations: Vec<String>,
}

fn verify_setup(ctx: &Context, args: &VerifySetupArgs) -> Result<(), CliError> {
    let project = discover(ctx)?;
    let tools = verify::check_tools(std::env::var_os("PATH").as_deref());
    let check = verify::check_project(&project);
    let mission = verify::mission_files(&project);
    let feature = resolve_feature(ctx, &project, args.feature.slug.as_deref()).map(|f| f.slug).map_err(|e| e.message);
    let current_branch = crate::git::branch_at(&ctx.cwd);
    let in_worktree = ctx.cwd.components().any(|c| c.as_os_str() == ".worktrees");

    let mut problems = check.problems();
    if let (Some(explicit), Err(error)) = (&args.feature.slug, &feature) {
        problems.push(format!("--feature {explicit}: {error}"));
    }
    let mut observations = Vec::new();
    if !tools.iter().any(|t| t.key == "git" && t.available()) {
        observations.push("git is not on PATH: workspaces and commits need it".to_owned());
    }
    if !tools.iter().any(|t| is_agent(t.key) && t.available()) {
        observations.push("no agent CLI found on PATH (claude, codex, gemini, …)".to_owned());
    }
    if in_worktree && matches!(current_branch.as_deref(), Some("main" | "master")) {
        observations.push("Unusual: In worktree but on main branch".to_owned());
    }
    if check.kittify_exists && !check.config.exists {
        observations.push(".kittify/config.yaml does not exist: `spec-kitty init` writes one".to_owned());
    } else if check.config.error.is_none() && !check.config.identity_complete {
        observations.push(
            "the project has no sync identity yet (project.uuid/slug/node_id in .kittify/config.yaml)".to_owned(),
        );
    }
    if let Ok(slug) = &feature {
        let state = check.feature_state(&project, slug);
        if state.state == "in_development" && state.worktree_path.is_none() {
            observations.push(format!("Feature {slug} has no worktree but has development artifacts"));
        }
    }
    if !mission.missing.is_empty() {
        observations.push(format!("Mission integrity: {} expected files not found", mission.missing.len()));
    }

    let report = Report {
        project,
        cwd: ctx.cwd.clone(),
        tools,
        check,
        mission,
        feature,
        current_branch,
        in_worktree,
        problems,
        observations,
    };
    if args.json {
        let style = pyjson::Style { sort_keys: false, ensure_ascii: true, indent: Some(2) };
        output::print(&(pyjson::to_string(&report_json(&report), style) + "\n"))?;
    } else {
        output::print(&render_text(&report))?;
    }
    match report.problems.len() {
        0 => Ok(()),
        n => Err(CliError {
            result_printed: args.json,
            ..CliError::failure(format!("the setup has {n} problem(s); see the report above"))
        }),
    }
}

/// The tools that are coding agents (git, editors and the GitHub CLI are not).
fn is_agent(key: &str) -> bool {
    !matches!(key, "git" | "code" | "code-insiders" | "gh")
}

fn lanes_json(lanes: &std::collections::BTreeMap<Lane, usize>) -> Value {
    Value::Object(
        Lane::listed(|lane| lanes.contains_key(&lane))
            .map(|lane| (lane.as_str().to_owned(), json!(lanes.get(&lane).copied().unwrap_or(0))))
            .collect(),
    )
}

fn feature_state_json(state: &FeatureState) -> Value {
    json!({
        "name": state.name,
        "branch_exists": state.branch_exists,
        "branch_merged": state.branch_merged,
        "worktree_exists": state.worktree_path.is_some(),
        "worktree_path": state.worktree_path.as_ref().map(|p| p.display().to_string()),
        "artifacts_in_main": state.artifacts_in_main,
        "artifacts_in_worktree": state.artifacts_in_worktree,
        "last_activity": null,
        "state": state.state,
    })
}

fn report_json(report: &Report) -> Value {
    let check = &report.check;
    let root = report.project.root.display().to_string();
    let mut summary = json!({
        "total_features": 0, "active_worktrees": 0, "merged_features": 0, "in_development": 0, "not_started": 0,
    });
    for name in check.all_feature_names() {
        let state = check.feature_state(&report.project, &name);
        summary["total_features"] = json!(summary["total_features"].as_u64().unwrap_or(0) + 1);
        let mut bump = |key: &str| summary[key] = json!(summary[key].as_u64().unwrap_or(0) + 1);
        if state.worktree_path.is_some() {
            bump("active_worktrees");
        }
        match state.state {
            "merged" => bump("merged_features"),
            "in_development" => bump("in_development"),
            "not_started" => bump("not_started"),
            _ => {}
        }
    }
    let mission = &report.mission;
    let total_expected: usize = mission.expected.values().map(Vec::len).sum();
    let category_of =
        |file: &str| mission.expected.iter().find(|(_, files)| files.iter().any(|f| f == file)).map(|(c, _)| *c);
    let missing_files: Map<String, Value> =
        mission.missing.iter().map(|f| (f.clone(), json!(category_of(f).unwrap_or("")))).collect();
    let categories: Map<String, Value> = mission
        .expected
        .iter()
        .map(|(category, files)| {
            let missing = files.iter().filter(|f| mission.missing.contains(f)).count();
            (
                (*category).to_owned(),
                json!({"expected": files.len(), "present": files.len() - missing, "missing": missing}),
            )
        })
        .collect();
    let (feature_detection, feature_analysis) = match &report.feature {
        Ok(slug) => (
            json!({"detected": true, "feature": slug}),
            feature_state_json(&check.feature_state(&report.project, slug)),
        ),
        Err(error) => (json!({"detected": false, "error": error}), json!({})),
    };
    json!({
        "environment": {
            "working_directory": report.cwd.display().to_string(),
            "repo_root": root,
            "project_root": root,
            "in_worktree": report.in_worktree,
            "current_branch": report.current_branch,
            "active_mission": mission.active_mission,
        },
        "feature_detection": feature_detection,
        "worktree_status": summary,
        "file_integrity": {
            "active_mission": mission.active_mission,
            "total_expected": total_expected,
            "total_present": total_expected - mission.missing.len(),
            "total_missing": mission.missing.len(),
            "missing_files": missing_files,
            "categories": categories,
        },
        "feature_analysis": feature_analysis,
        "recommendations": [],
        "observations": report.observations,
        "tools": Value::Object(report.tools.iter().map(|t| (t.key.to_owned(), json!({
            "available": t.available(),
            "path": t.path.as_ref().map(|p| p.display().to_string()),
        }))).collect()),
        "usable": report.problems.is_empty(),
        "problems": report.problems,
        "project": {
            "root": root,
            "kittify": check.kittify_exists,
            "config": {
                "path": check.config.path.display().to_string(),
                "exists": check.config.exists,
                "valid": check.config.error.is_none(),
                "error": check.config.error,
                "identity_complete": check.config.identity_complete,
            },
            "kitty_specs": check.kitty_specs_exists,
            "git": check.branches.is_some(),
            "primary_branch": check.branches.as_ref().map(|b| b.primary.clone()),
        },
        "features": check.features.iter().map(|f| json!({
            "slug": f.slug,
            "mission": f.mission,
            "work_packages": f.work_packages,
            "lanes": lanes_json(&f.lanes),
            "complete": f.complete(),
            "unreadable": f.unreadable,
        })).collect::<Vec<_>>(),
        "worktrees": check.worktrees.iter().map(|w| json!({
            "name": w.name,
            "path": w.path.display().to_string(),
            "git_worktree": w.git_worktree,
            "branch": w.branch,
            "feature": w.feature,
            "wp_id": w.wp_id,
            "problem": w.problem,
        })).collect::<Vec<_>>(),
    })
}

fn render_text(report: &Report) -> String {
    let check = &report.check;
    let mark = |ok: bool| if ok { "✓" } else { "✗" };
    let mut text = String::from("Tools\n");
    for tool in report.tools.iter().filter(|t| t.available()) {
        let path = tool.path.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
        text.push_str(&format!("  ✓ {:<14} {path}\n", tool.key));
    }
    let missing: Vec<&str> = report.tools.iter().filter(|t| !t.available()).map(|t| t.key).collect();
    if !missing.is_empty() {
        text.push_str(&format!("  · not found: {}\n", missing.join(", ")));
    }
    text.push_str(&format!("\nProject {}\n", report.project.root.display()));
    text.push_str(&format!("  {} .kittify/\n", mark(check.kittify_exists)));
    let config = match (&check.config.error, check.config.exists) {
        (Some(error), _) => format!("  ✗ .kittify/config.yaml: {error}\n"),
        (None, true) => "  ✓ .kittify/config.yaml parses\n".to_owned(),
        (None, false) => "  · .kittify/config.yaml does not exist (defaults apply)\n".to_owned(),
    };
    text.push_str(&config);
    text.push_str(&format!(
        "  {} kitty-specs/ ({} feature(s))\n",
        mark(check.kitty_specs_exists),
        check.features.len()
    ));
    match (&check.branches, &report.current_branch) {
        (Some(branches), Some(branch)) => {
            text.push_str(&format!("  ✓ git repository (primary branch {}, on {branch})\n", branches.primary))
        }
        (Some(branches), None) => text.push_str(&format!("  ✓ git repository (primary branch {})\n", branches.primary)),
        (None, _) => text.push_str("  · no git repository (workspaces are plain directories)\n"),
    }

    if !check.features.is_empty() {
        text.push_str("\nFeatures\n");
        let width = check.features.iter().map(|f| f.slug.chars().count()).max().unwrap_or(0);
        for feature in &check.features {
            let lanes: Vec<String> = Lane::ALL
                .iter()
                .filter_map(|lane| feature.lanes.get(lane).map(|n| format!("{} {n}", lane.as_str())))
                .collect();
            let wps = match feature.work_packages {
                0 => "no work packages".to_owned(),
                n => format!("{n} WP(s): {}", lanes.join(", ")),
            };
            let done = if feature.complete() { "  (complete)" } else { "" };
            text.push_str(&format!("  {:<width$}  {wps}{done}\n", feature.slug));
            for problem in &feature.unreadable {
                text.push_str(&format!("      ✗ {problem}\n"));
            }
        }
    }
    if !check.worktrees.is_empty() || !check.stale_registrations.is_empty() {
        text.push_str("\nWorktrees\n");
        for worktree in &check.worktrees {
            let state = match (&worktree.problem, worktree.git_worktree, &worktree.branch) {
                (Some(problem), _, _) => format!("✗ {problem}"),
                (None, true, Some(branch)) => format!("✓ git worktree on {branch}"),
                (None, true, None) => "✓ git worktree (detached)".to_owned(),
                (None, false, _) => "· plain directory".to_owned(),
            };
            text.push_str(&format!("  .worktrees/{}  {state}\n", worktree.name));
        }
        for stale in &check.stale_registrations {
            text.push_str(&format!("  ✗ {stale} is registered with git but gone\n"));
        }
    }
    match &report.feature {
        Ok(slug) => text.push_str(&format!("\nCurrent feature: {slug}\n")),
        Err(error) => text.push_str(&format!("\nCurrent feature: not detected ({error})\n")),
    }
    if !report.observations.is_empty() {
        text.push_str("\nObservations\n");
        for observation in &report.observations {
            text.push_str(&format!("  • {observation}\n"));
        }
    }
    if report.problems.is_empty() {
        text.push_str("\n✓ The setup is usable.\n");
    } else {
        text.push_str(&format!("\n✗ {} problem(s):\n", report.problems.len()));
        for problem in &report.problems {
            text.push_str(&format!("  • {problem}\n"));
        }
    }
    text
}
