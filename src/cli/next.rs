//! `spec-kitty next --agent A`: the canonical agent loop. Each call settles the step the agent was given
//! (`--result`, success by default) and answers with the next one — a planning step, a work package to
//! implement or review, a decision to make, `blocked` or `terminal` — plus a prompt file to read. The
//! mission model and the run state are in `crate::workflow::next`.
//!
//! `--json` prints exactly one JSON object on stdout (upstream's decision, all keys always present; plus
//! `answered`/`answer` after `--answer`). A `blocked` decision exits 1, as upstream. Left out on purpose:
//! upstream's "must run in the main repository" guard (the run state is always found in the main checkout
//! here) and its `MissionNextInvoked` lines in `kitty-specs/<feature>/mission-events.jsonl`, a provisional
//! log nothing reads that would make the feature directory dirty on every call.

use super::common::{FeatureArg, discover, json_aware, resolve_feature};
use super::output;
use crate::context::Context;
use crate::error::CliError;
use crate::events::pyjson;
use crate::workflow::next::{self, Decision, Kind, NextError, Request, StepResult};
use clap::{Args, ValueEnum};
use serde_json::json;

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    spec-kitty next --agent claude --json\n  \
    spec-kitty next --agent codex --feature 034-my-feature\n  \
    spec-kitty next --agent gemini --result failed --json\n  \
    spec-kitty next --agent claude --answer yes --decision-id input:goal --json")]
pub struct NextArgs {
    /// The agent asking (claude, codex, …); recorded in the run and named in the prompts.
    #[arg(long)]
    agent: String,
    /// How the step you were given ended (default: success, which completes it when its guards pass).
    /// After `failed` or `blocked` the run stays blocked until a call with an explicit `--result success`.
    #[arg(long, value_enum, value_name = "RESULT")]
    result: Option<ResultArg>,
    #[command(flatten)]
    feature: FeatureArg,
    /// Answer a pending decision (decision_required), then decide.
    #[arg(long)]
    answer: Option<String>,
    /// The decision to answer (needed when several are pending).
    #[arg(long, requires = "answer")]
    decision_id: Option<String>,
    /// Print the decision as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ResultArg {
    Success,
    Failed,
    Blocked,
}

pub fn run(ctx: &Context, args: NextArgs) -> Result<(), CliError> {
    json_aware(args.json, || next_step(ctx, &args))
}

fn next_step(ctx: &Context, args: &NextArgs) -> Result<(), CliError> {
    let agent = args.agent.trim();
    if agent.is_empty() {
        return Err(CliError::usage("--agent must name the agent (e.g. --agent claude)"));
    }
    if args.answer.as_deref().is_some_and(|a| a.trim().is_empty()) {
        return Err(CliError::usage("--answer must not be empty"));
    }
    let project = discover(ctx)?;
    let feature = resolve_feature(ctx, &project, args.feature.slug.as_deref())?;
    let request = Request {
        lock_timeout: ctx.lock_timeout,
        agent,
        result: args.result.map(|r| match r {
            ResultArg::Success => StepResult::Success,
            ResultArg::Failed => StepResult::Failed,
            ResultArg::Blocked => StepResult::Blocked,
        }),
        answer: args.answer.as_deref(),
        decision_id: args.decision_id.as_deref(),
    };
    let outcome =
        next::decide(&project.root, &feature.slug, &feature.dir, &request, ctx.now(), || ctx.new_ulid().to_string())
            .map_err(|e| match e {
                NextError::NoPendingDecision | NextError::UnknownDecision { .. } => CliError::failure(e.to_string())
                    .hint("run `spec-kitty next` without --answer to see what is pending"),
                NextError::AmbiguousDecision(_) => CliError::failure(e.to_string()),
                NextError::Run(e) => CliError::failure(e.to_string()),
            })?;
    let decision = &outcome.decision;

    if args.json {
        let mut value = decision.to_json();
        if let Some((id, answer)) = &outcome.answered {
            value["answered"] = json!(id);
            value["answer"] = json!(answer);
        }
        let style = pyjson::Style { sort_keys: false, ensure_ascii: true, indent: Some(2) };
        output::print(&(pyjson::to_string(&value, style) + "\n"))?;
    } else {
        let mut text = String::new();
        if let Some((id, _)) = &outcome.answered {
            text.push_str(&format!("  Answered decision: {id}\n"));
        }
        text.push_str(&render_text(decision, agent));
        output::print(&text)?;
    }
    if decision.kind == Kind::Blocked {
        let reason = decision.reason.clone().unwrap_or_else(|| "the mission is blocked".to_owned());
        return Err(CliError { result_printed: true, ..CliError::failure(format!("blocked: {reason}")) });
    }
    Ok(())
}

/// Upstream's human summary of a decision.
fn render_text(decision: &Decision, agent: &str) -> String {
    let mut text =
        format!("[{}] {} @ {}\n", decision.kind.as_str().to_uppercase(), decision.mission, decision.mission_state);
    match (&decision.action, &decision.wp_id) {
        (Some(action), Some(wp)) => text.push_str(&format!("  Action: {action} {wp}\n")),
        (Some(action), None) => text.push_str(&format!("  Action: {action}\n")),
        _ => {}
    }
    if let Some(workspace) = &decision.workspace_path {
        text.push_str(&format!("  Workspace: {workspace}\n"));
    }
    if !decision.guard_failures.is_empty() {
        text.push_str(&format!("  Guards pending: {}\n", decision.guard_failures.join(", ")));
    }
    if let Some(reason) = &decision.reason {
        text.push_str(&format!("  Reason: {reason}\n"));
    }
    if let Some(question) = &decision.question {
        text.push_str(&format!("  Question: {question}\n"));
    }
    for (i, option) in decision.options.iter().flatten().enumerate() {
        text.push_str(&format!("    {}. {option}\n", i + 1));
    }
    if let Some(id) = &decision.decision_id {
        text.push_str(&format!("  Decision ID: {id}\n"));
    }
    if let Some(progress) = &decision.progress {
        let total = progress["total_wps"].as_u64().unwrap_or(0);
        let done = progress["done_wps"].as_u64().unwrap_or(0);
        if let Some(percent) = (100 * done).checked_div(total) {
            text.push_str(&format!("  Progress: {done}/{total} WPs done ({percent}%)\n"));
        }
    }
    if let Some(run_id) = &decision.run_id {
        text.push_str(&format!("  Run ID: {run_id}\n"));
    }
    if decision.kind == Kind::Blocked && decision.reason.as_deref().is_some_and(|r| r.starts_with("Previous step")) {
        text.push_str(&format!(
            "  Retry once resolved: spec-kitty next --agent {agent} --feature {} --result success\n",
            decision.feature_slug
        ));
    }
    if let Some(prompt) = &decision.prompt_file {
        text.push_str(&format!("\n  Next step: read the prompt file:\n    cat {prompt}\n"));
    }
    text
}
