//! `spec-kitty agent workflow implement|review`: the commands agents run from slash-command templates to
//! start a phase of a work package. The checks, the claim, the workspace and the prompt are
//! [`crate::ops::start`]; this module prints the prompt, or a JSON result. A failure is reported but, as upstream, not published
//! as ErrorLogged.

use super::common::{FeatureArg, TelemetryFlags, discover, json_aware, print_json_line, resolve_feature};
use super::output;
use crate::context::Context;
use crate::error::CliError;
use crate::ops::start::{Claim, Phase, Start, lane_of};
use crate::ops::{self, Scope};
use clap::{Args, Subcommand};
use serde_json::json;

#[derive(Debug, Args)]
pub struct WorkflowArgs {
    #[command(subcommand)]
    command: WorkflowCommand,
}

#[derive(Debug, Subcommand)]
enum WorkflowCommand {
    /// Start implementing a work package (lane doing, workspace ready) and print its prompt.
    Implement(ImplementArgs),
    /// Start reviewing a work package that is in for_review and print its prompt with the verdict commands.
    Review(ReviewArgs),
}

#[derive(Debug, Args)]
struct ImplementArgs {
    /// Work package (WP01, wp1, WP01-slug, …); default: the first one in lane planned.
    wp: Option<String>,
    #[command(flatten)]
    feature: FeatureArg,
    /// Work package whose branch the new workspace starts from (default: the only dependency), as
    /// `spec-kitty implement --base`.
    #[arg(long, value_name = "WP")]
    base: Option<String>,
    /// Start although dependencies are not done, or the work package is in for_review, done or canceled.
    #[arg(long)]
    force: bool,
    /// Print the result as JSON instead of the prompt.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    telemetry: TelemetryFlags,
}

#[derive(Debug, Args)]
struct ReviewArgs {
    /// Work package (WP01, wp1, WP01-slug, …); default: the first one in lane for_review.
    wp: Option<String>,
    #[command(flatten)]
    feature: FeatureArg,
    /// Print the result as JSON instead of the prompt.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    telemetry: TelemetryFlags,
}

pub fn run(ctx: &Context, args: WorkflowArgs) -> Result<(), CliError> {
    match args.command {
        WorkflowCommand::Implement(a) => json_aware(a.json, || start_implementation(ctx, &a)),
        WorkflowCommand::Review(a) => json_aware(a.json, || start_review(ctx, &a)),
    }
}

fn start_implementation(ctx: &Context, args: &ImplementArgs) -> Result<(), CliError> {
    let request = Start {
        phase: Phase::Implement,
        wp: args.wp.clone(),
        agent: args.telemetry.agent.clone(),
        base: args.base.clone(),
        force: args.force,
        usage: args.telemetry.usage(),
        at: ctx.now(),
    };
    start(ctx, args.feature.slug.as_deref(), &request, args.json)
}

fn start_review(ctx: &Context, args: &ReviewArgs) -> Result<(), CliError> {
    let request = Start {
        phase: Phase::Review,
        wp: args.wp.clone(),
        agent: args.telemetry.agent.clone(),
        base: None,
        force: false,
        usage: args.telemetry.usage(),
        at: ctx.now(),
    };
    start(ctx, args.feature.slug.as_deref(), &request, args.json)
}

fn start(ctx: &Context, feature: Option<&str>, request: &Start, json: bool) -> Result<(), CliError> {
    let project = discover(ctx)?;
    let feature = resolve_feature(ctx, &project, feature)?;
    let started = ops::start::start(&Scope::new(ctx, &project, &feature), request)?;
    started.warnings.iter().for_each(|w| output::warn(w));
    let wp = &started.wp;
    let agent = wp.doc.scalar("agent");
    if json {
        return print_json_line(&json!({
            "result": "success",
            "wp_id": wp.id,
            "feature": feature.slug,
            "lane": lane_of(wp)?.as_str(),
            "agent": agent,
            "prompt_file": started.prompt_file.as_ref().map(|p| p.display().to_string()),
            "workspace": started.workspace.as_ref().map(|w| w.relative.clone()),
        }));
    }
    let agent = agent.unwrap_or_default();
    let mut text = match started.claim {
        Claim::Started(_) => format!("✓ {} started ({}): lane doing, agent {agent}\n\n", wp.id, request.phase.name()),
        Claim::AlreadyStarted => format!("ℹ {} is already in progress (agent {agent}); nothing changed\n\n", wp.id),
    };
    text.push_str(&started.prompt);
    if let Some(path) = &started.prompt_file {
        text.push_str(&format!("\nPrompt saved to {}\n", path.display()));
    }
    if let Some(workspace) = &started.workspace {
        text.push_str(&format!("Workspace: cd {}\n", workspace.path.display()));
    }
    output::print(&text)?;
    Ok(())
}
