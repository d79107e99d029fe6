//! `spec-kitty accept`: check that a feature is complete and record its acceptance in meta.json
//! (reference/workflow.md §4.13). The checks live in [`crate::workflow::acceptance`]; this module picks
//! the mode and actor, writes and commits meta.json, and renders the report.
//!
//! Events: a failed acceptance queues one ErrorLogged carrying "Outstanding acceptance issues detected".
//! A successful one queues WPStatusChanged for_review→done for every done work package: `merge` reports
//! merged work packages to the dashboard as in_progress→for_review (upstream's FR-017), and acceptance
//! completes that lifecycle (seed 004 SC-003). Upstream meant the same but only looked at WPs still in
//! the `for_review` lane, which acceptance forbids, so its loop never fired.

use super::common::{discover, json_aware, lock_feature, logged, print_json_line, publish, resolve_feature};
use super::output::{self, Align, Column, Table, Term};
use crate::context::Context;
use crate::error::CliError;
use crate::git::Repo;
use crate::project::meta::FeatureMeta;
use crate::sync::{Causation, SyncEvent};
use crate::workflow::acceptance::{self, AcceptanceMode, AcceptanceRecord, AcceptanceSummary};
use crate::workflow::lanes::Lane;
use crate::workflow::lock::FeatureLock;
use clap::{Args, ValueEnum};
use serde_json::{Map, Value};
use std::cell::Cell;
use std::path::Path;

/// The failure message; the ErrorLogged event carries exactly this text, as upstream's does.
const OUTSTANDING: &str = "Outstanding acceptance issues detected";

#[derive(Debug, Args)]
pub struct AcceptArgs {
    /// Feature slug (default: detected from the branch, directory or the only feature).
    #[arg(long)]
    feature: Option<String>,
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
    let feature = resolve_feature(ctx, &project, args.feature.as_deref())?;
    let repo = Repo::at(&project.root);
    let summary = acceptance::collect(&project.root, &feature.slug, repo.as_ref(), !args.lenient)
        .map_err(|e| CliError::failure(e.to_string()))?;
    let mode = match args.mode {
        ModeArg::Auto => AcceptanceMode::auto(repo.as_ref()),
        ModeArg::Pr => AcceptanceMode::Pr,
        ModeArg::Local => AcceptanceMode::Local,
        ModeArg::Checklist => AcceptanceMode::Checklist,
    };

    if mode == AcceptanceMode::Checklist || !summary.ok() {
        return report_only(&summary, mode, args, reported);
    }
    let record = AcceptanceRecord {
        accepted_at: ctx.now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        accepted_by: actor(args.actor.as_deref(), repo.as_ref()),
        mode,
        branch: summary.branch.clone(),
        from_commit: repo.as_ref().and_then(Repo::head_sha),
    };
    let lock = lock_feature(ctx, &feature)?;
    write_acceptance(&lock, &record)?;
    let commit = match (&repo, args.no_commit) {
        (Some(repo), false) => commit_acceptance(repo, &feature.slug)?,
        _ => None,
    };
    drop(lock);
    let accepted: Vec<SyncEvent> = summary
        .work_packages
        .iter()
        .filter(|wp| wp.lane == Some(Lane::Done))
        .map(|wp| SyncEvent::WpStatusChanged {
            feature_slug: feature.slug.clone(),
            wp_id: wp.id.clone(),
            from_lane: Lane::ForReview.as_str().to_owned(),
            to_lane: Lane::Done.as_str().to_owned(),
            actor: record.accepted_by.clone(),
            policy_metadata: None,
        })
        .collect();
    publish(ctx, Some(&project), &accepted, Causation::None);
    report_acceptance(&summary, &record, commit.as_deref(), args, repo.is_some())
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

/// `--actor`, else git's `user.name`, else `$USER`, else "unknown".
fn actor(explicit: Option<&str>, repo: Option<&Repo>) -> String {
    let git_user = || repo.and_then(|r| r.run(&["config", "user.name"]).ok());
    let login = || std::env::var("USER").ok();
    [explicit.map(str::to_owned), git_user(), login()]
        .into_iter()
        .flatten()
        .map(|name| name.trim().to_owned())
        .find(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Adds the record to meta.json, written with sorted keys as upstream's accept writes it.
fn write_acceptance(lock: &FeatureLock, record: &AcceptanceRecord) -> Result<(), CliError> {
    let failure = |e: &dyn std::fmt::Display| CliError::failure(e.to_string());
    let mut meta = FeatureMeta::load(lock.feature_dir())
        .map_err(|e| failure(&e))?
        // Upstream starts from an empty object when meta.json is missing.
        .unwrap_or(FeatureMeta { fields: Map::new() });
    acceptance::record_acceptance(&mut meta, record).map_err(|e| failure(&e))?;
    meta.write(lock, true).map_err(|e| failure(&e))
}

fn commit_acceptance(repo: &Repo, feature_slug: &str) -> Result<Option<String>, CliError> {
    let meta = Path::new("kitty-specs").join(feature_slug).join(crate::project::meta::META_FILE);
    repo.commit_paths(&[&meta], &format!("Accept {feature_slug}")).map_err(|e| {
        CliError::failure(format!("the acceptance is recorded in {}, but committing it failed: {e}", meta.display()))
            .hint(format!("commit it yourself: git commit -m \"Accept {feature_slug}\" -- {}", meta.display()))
    })
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

fn report_acceptance(
    summary: &AcceptanceSummary,
    record: &AcceptanceRecord,
    commit: Option<&str>,
    args: &AcceptArgs,
    has_git: bool,
) -> Result<(), CliError> {
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
