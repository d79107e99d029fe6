//! `spec-kitty verify-setup`: is this environment ready for agents? Which agent CLIs are on `PATH`, whether
//! the project's structure is intact (`.kittify/`, a parseable `config.yaml`, `kitty-specs/`), every
//! feature with its work-package lanes, and every `.worktrees/` workspace with whether git knows it.
//!
//! `--json` prints one object with upstream's keys (`environment`, `feature_detection`, `worktree_status`,
//! `file_integrity`, `feature_analysis`, `recommendations`, `observations`, `tools`) and ours (`usable`,
//! `problems`, `project`, `features`, `worktrees`). Exit 1 when the setup is not usable (upstream exits 0
//! whenever it finds a project). Left out: upstream's `--diagnostics` dashboard health check (there is no
//! dashboard here) and its `--check-files/--check-tools` switches, which could not be turned off anyway.

use super::common::{FeatureArg, discover, json_aware, print_json, resolve_feature};
use super::output;
use crate::context::Context;
use crate::error::CliError;
use crate::events::pyjson;
use crate::project::verify::{FeatureLookup, SetupReport};
use crate::workflow::lanes::Lane;
use clap::Args;

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

fn verify_setup(ctx: &Context, args: &VerifySetupArgs) -> Result<(), CliError> {
    let project = discover(ctx)?;
    let explicit = args.feature.slug.as_deref();
    let resolved = resolve_feature(ctx, &project, explicit).map(|f| f.slug).map_err(|e| e.message);
    let path_var = std::env::var_os("PATH");
    let report = SetupReport::gather(project, &ctx.cwd, path_var.as_deref(), FeatureLookup { explicit, resolved });
    if args.json {
        let style = pyjson::Style { sort_keys: false, ensure_ascii: true, indent: Some(2) };
        print_json(&report.to_json(), style)?;
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

fn render_text(report: &SetupReport) -> String {
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
