//! `spec-kitty accept`: check that a feature is complete and record its acceptance in meta.json
//! (reference/workflow.md §4.13); the checks and the record are [`crate::ops::accept`], this module
//! renders the report. A failed acceptance queues one ErrorLogged carrying
//! "Outstanding acceptance issues detected".

use super::common::{FeatureArg, discover, json_aware, logged, print_json_line, publish, resolve_feature};
use super::output::{self, Align, Column, Table, Term};
use crate::context::Context;
use crate::error::CliError;
use crate::ops::accept::{Accept, AcceptOutcome, Accepted, OUTSTANDING};
use crate::ops::{self, Scope};
use crate::sync::Causation;
use crate::workflow::acceptance::{self, AcceptanceMode, AcceptanceSummary};
use clap::{Args, ValueEnum};
use serde_json::Value;
use std::cell::Cell;

#[derive(Debug, Args)]
pub struct AcceptArgs {
    #[command(flatten)]
    feature: FeatureArg,
    /// auto (pr when the repository has a remote, else local), pr, local, or checklist (report only,
    /// writes nothing).
    #[arg(long, value_enum, default_value_t = ModeArg::Auto, ignore_case = true)]
    mode: ModeArg,
    /// Name recorded as the accepting actor (default: git user.name, then $USER).
    #[arg(long)]
    actor: Option<String>,
    /// Record the acceptance in meta.json without committing it.
    #[arg(long)]
    no_commit: bool,
    /// Exit 0 even when checks fail; nothing is recorded then.
    #[arg(long)]
    allow_fail: bool,
    /// Skip the frontmatter metadata checks (lane present, agent, shell_pid, assignee).
    #[arg(long)]
    lenient: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ModeArg {
    Auto,
    Pr,
    Local,
    Checklist,
}

pub fn run(ctx: &Context, args: AcceptArgs) -> Result<(), CliError> {
    // Set once the summary JSON (which then carries the error) is printed, so `--json` output stays a
    // single object instead of the summary followed by a second `{"error": …}` line.
    let reported = Cell::new(false);
    let body = || report_errors(args.json, &reported, || accept(ctx, &args, &reported));
    if args.mode == ModeArg::Checklist {
        // A checklist is a read-only report: its exit status is the answer, not a failure to log.
        body()
    } else {
        logged(ctx, false, None, None, body)
    }
}

fn report_errors(
    json: bool,
    reported: &Cell<bool>,
    body: impl FnOnce() -> Result<(), CliError>,
) -> Result<(), CliError> {
    let result = body();
    if reported.get() { result } else { json_aware(json, || result) }
}

fn accept(ctx: &Context, args: &AcceptArgs, reported: &Cell<bool>) -> Result<(), CliError> {
    let project = discover(ctx)?;
    let feature = resolve_feature(ctx, &project, args.feature.slug.as_deref())?;
    let request = Accept {
        mode: match args.mode {
            ModeArg::Auto => None,
            ModeArg::Pr => Some(AcceptanceMode::Pr),
            ModeArg::Local => Some(AcceptanceMode::Local),
            ModeArg::Checklist => Some(AcceptanceMode::Checklist),
        },
        actor: args.actor.clone(),
        commit: !args.no_commit,
        strict_metadata: !args.lenient,
    };
    let scope = Scope::new(ctx, &project, &feature);
    match ops::accept::accept(&scope, &request)? {
        AcceptOutcome::Reported { summary, mode } => report_only(&summary, mode, args, reported),
        AcceptOutcome::Accepted(accepted) => {
            publish(ctx, Some(&project), &accepted.events, Causation::None);
            report_acceptance(&accepted, args, scope.repo.is_some())
        }
    }
}

/// Checklist mode, or checks that failed: print the report and record nothing. A checklist answers
/// with its status; `--allow-fail` turns a failed acceptance into a plain report.
fn report_only(
    summary: &AcceptanceSummary,
    mode: AcceptanceMode,
    args: &AcceptArgs,
    reported: &Cell<bool>,
) -> Result<(), CliError> {
    let excused = args.allow_fail && mode != AcceptanceMode::Checklist;
    let failed = !(summary.ok() || excused);
    report_summary(summary, args.json, failed.then_some(OUTSTANDING))?;
    reported.set(true);
    if failed {
        return Err(CliError::failure(OUTSTANDING)
            .hint("resolve the outstanding items above, then run `spec-kitty accept` again")
            .hint("`--mode checklist` shows this report without recording anything"));
    }
    if !summary.ok() && !args.json {
        output::print("\n--allow-fail: nothing was recorded.\n")?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------
// Rendering

fn report_summary(summary: &AcceptanceSummary, json: bool, error: Option<&str>) -> Result<(), CliError> {
    if json {
        let mut object = summary.to_json();
        if let Some(error) = error {
            object.insert("error".into(), Value::from(error));
        }
        return print_json_line(&Value::Object(object));
    }
    output::print(&summary_text(summary))?;
    Ok(())
}

fn report_acceptance(accepted: &Accepted, args: &AcceptArgs, has_git: bool) -> Result<(), CliError> {
    let (summary, record, commit) = (&accepted.summary, &accepted.record, accepted.commit.as_deref());
    if args.json {
        // Upstream's `AcceptanceResult.to_dict()`.
        let branch = summary.branch.clone().unwrap_or_else(|| summary.feature.clone());
        let (instructions, cleanup) = acceptance::next_steps(record.mode, &branch);
        let notes: Vec<String> = [
            commit.map(|sha| format!("Acceptance commit: {sha}")),
            record.from_commit.as_ref().map(|sha| format!("Accepted from parent commit: {sha}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        return print_json_line(&serde_json::json!({
            "accepted_at": record.accepted_at,
            "accepted_by": record.accepted_by,
            "mode": record.mode.as_str(),
            "parent_commit": record.from_commit,
            "accept_commit": commit,
            "commit_created": commit.is_some(),
            "instructions": instructions,
            "cleanup_instructions": cleanup,
            "notes": notes,
            "summary": Value::Object(summary.to_json()),
        }));
    }
    let commit_line = match (commit, has_git, args.no_commit) {
        (Some(sha), _, _) => format!("• Acceptance commit: {sha}"),
        (None, false, _) => "• Commit: none (not a git repository)".to_owned(),
        (None, true, true) => "• Commit: not committed (--no-commit)".to_owned(),
        (None, true, false) => "• Commit: none (meta.json was already up to date)".to_owned(),
    };
    let feature = &summary.feature;
    let mut text = summary_text(summary);
    text.push_str(&format!(
        "\nAcceptance recorded in kitty-specs/{feature}/meta.json\n• Feature: {feature}\n• Accepted at: {}\n• Accepted by: {}\n• Mode: {}\n{commit_line}\n",
        record.accepted_at,
        record.accepted_by,
        record.mode.as_str(),
    ));
    if let Some(parent) = &record.from_commit {
        text.push_str(&format!("• Accepted from commit: {parent}\n"));
    }
    output::print(&text)?;
    Ok(())
}

/// Upstream's report: the lane table, then the outstanding items (or a clean bill), then warnings.
fn summary_text(summary: &AcceptanceSummary) -> String {
    let mut text = lane_table(summary).render(&Term::stdout());
    let outstanding = summary.outstanding();
    if outstanding.is_empty() {
        text.push_str("\nNo outstanding acceptance issues detected.\n");
    } else {
        text.push_str("\nOutstanding items\n");
        for (bucket, items) in outstanding {
            text.push_str(&format!("- {bucket}\n"));
            for item in items {
                text.push_str(&format!("    • {item}\n"));
            }
        }
    }
    if !summary.warnings.is_empty() {
        text.push('\n');
        for warning in &summary.warnings {
            text.push_str(&format!("Warning: {warning}\n"));
        }
    }
    text
}

fn lane_table(summary: &AcceptanceSummary) -> Table {
    let rows = summary
        .lanes()
        .into_iter()
        .map(|(lane, ids)| {
            let listed = if ids.is_empty() { "-".to_owned() } else { ids.join(", ") };
            vec![lane.as_str().to_owned(), ids.len().to_string(), listed]
        })
        .collect();
    Table {
        title: Some("Work Packages by Lane".into()),
        columns: vec![
            Column::new("Lane", Align::Left),
            Column::new("Count", Align::Right),
            Column::new("Work Packages", Align::Left).wrapping(),
        ],
        rows,
        ..Table::default()
    }
}
