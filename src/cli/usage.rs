//! `spec-kitty agent telemetry import` and `agent telemetry hook {claude,codex,gemini,install,uninstall}`:
//! the agents' own session logs as ExecutionEvents.

use super::common::{discover, print_json};
use super::output::{self, thousands};
use crate::context::Context;
use crate::error::CliError;
use crate::events::{Timestamp, pyjson};
use crate::usage::{self, Agent, AgentHomes, ImportOptions, ImportReport, ImportSource};
use clap::{Args, Subcommand};
use serde::Serialize;
use std::io::{IsTerminal, Read};
use std::time::Duration;

/// How long a hook waits for another import holding the ledger; the next hook or import catches up.
const HOOK_LOCK_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Debug, Args)]
#[command(after_help = "Reads the agents' own session logs (Claude Code: ~/.claude/projects or $CLAUDE_CONFIG_DIR;\n\
Codex: $CODEX_HOME/sessions and archived_sessions; Gemini CLI: ~/.gemini/tmp/*/chats), keeps this\n\
project's usage and records it as ExecutionEvents of the feature, work package and role it was\n\
spent on; usage that cannot be placed goes to kitty-specs/unattributed/ with the reason.\n\
Re-running adds only what is new; usage an agent already reported through `emit` is not imported\n\
again. See README \"Importing usage from the agents' logs\".")]
pub struct ImportArgs {
    /// Whose logs to read: claude, codex, gemini or all.
    #[arg(long, value_name = "AGENT", default_value = "all", value_parser = ["claude", "codex", "gemini", "all"])]
    agent: String,
    /// Only usage at or after this time (ISO 8601; a date alone is its midnight UTC). Earlier usage is
    /// left unread, so a later import without --since still finds it.
    #[arg(long, value_name = "WHEN", value_parser = parse_since)]
    since: Option<Timestamp>,
    /// Show what would be imported; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the outcome as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct HookArgs {
    #[command(subcommand)]
    command: HookCommand,
}

#[derive(Debug, Subcommand)]
enum HookCommand {
    /// Claude Code hook (Stop, SubagentStop, SessionEnd): imports the transcript named on stdin.
    Claude(HookRunArgs),
    /// Codex hook (Stop, JSON on stdin) or `notify` program (JSON as the last argument).
    Codex(HookRunArgs),
    /// Gemini CLI hook (AfterAgent, SessionEnd): imports the chat named on stdin.
    Gemini(HookRunArgs),
    /// Add the import hook to the agents' project settings (.claude/settings.json, .codex/hooks.json,
    /// .gemini/settings.json), keeping everything else in them.
    Install(HookInstallArgs),
    /// Remove the import hook (only ours) from the agents' project settings.
    Uninstall(HookInstallArgs),
}

#[derive(Debug, Args)]
#[command(after_help = "Hooks are silent and always exit 0, so they never disturb the agent.")]
struct HookRunArgs {
    /// The payload, when the agent passes it as an argument (Codex `notify`); otherwise stdin is read.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    payload: Vec<String>,
}

#[derive(Debug, Args)]
struct HookInstallArgs {
    /// Which agent's settings: claude, codex, gemini or all.
    #[arg(long, value_name = "AGENT", default_value = "all", value_parser = ["claude", "codex", "gemini", "all"])]
    agent: String,
    /// Print the outcome as one JSON object.
    #[arg(long)]
    json: bool,
}

fn parse_since(text: &str) -> Result<Timestamp, String> {
    Timestamp::parse_bound(text)
        .map(|(at, _)| at)
        .map_err(|_| format!("{text:?} is not an ISO 8601 date or time (e.g. 2026-01-01 or 2026-01-01T00:00:00+00:00)"))
}

fn agents(choice: &str) -> Vec<Agent> {
    match choice.parse::<Agent>() {
        Ok(agent) => vec![agent],
        Err(_) => Agent::ALL.to_vec(),
    }
}

pub fn run_import(ctx: &Context, args: ImportArgs) -> Result<(), CliError> {
    let project = discover(ctx)?;
    let options = ImportOptions {
        source: ImportSource::Agents(agents(&args.agent)),
        since: args.since.map(|t| t.to_utc()),
        dry_run: args.dry_run,
        homes: AgentHomes::from_process(),
        lock_timeout: ctx.lock_timeout,
    };
    let report = usage::import(&project, &options, ctx)?;
    for warning in &report.warnings {
        output::warn(warning);
    }
    if args.json {
        return print_json(&ImportOutput { result: "success", report: &report }, pyjson::PRETTY);
    }
    output::print(&report_text(&report))?;
    Ok(())
}

/// `import --json`'s output: the report, marked a success as every command's JSON is.
#[derive(Serialize)]
struct ImportOutput<'a> {
    result: &'static str,
    #[serde(flatten)]
    report: &'a ImportReport,
}

fn n(value: u64) -> String {
    thousands(i64::try_from(value).unwrap_or(i64::MAX))
}

fn plural(count: u64, one: &str, many: &str) -> String {
    format!("{} {}", n(count), if count == 1 { one } else { many })
}

fn report_text(report: &ImportReport) -> String {
    let mut out = String::new();
    let verb = if report.dry_run { "Would import" } else { "Imported" };
    let features: Vec<String> = report.events_by_feature.iter().map(|(f, c)| format!("{f} ({c})")).collect();
    if report.records == 0 {
        out.push_str("Nothing new to import.\n");
    } else {
        out.push_str(&format!(
            "{verb} {} into {}: {}\n",
            plural(report.records, "usage record", "usage records"),
            plural(report.events, "event", "events"),
            features.join(", ")
        ));
    }
    for (agent, s) in &report.agents {
        out.push_str(&format!(
            "  {:<7} {} ({} with new lines), {}\n",
            agent.as_str(),
            plural(s.files, "file", "files"),
            n(s.files_read),
            plural(s.records, "record", "records")
        ));
    }
    if report.records > 0 {
        let t = &report.tokens;
        out.push_str(&format!(
            "  tokens: {} input, {} output, {} cache read, {} cache write\n",
            n(t.input),
            n(t.output),
            n(t.cache_read),
            n(t.cache_write)
        ));
    }
    if !report.unattributed.is_empty() {
        let total: u64 = report.unattributed.values().sum();
        out.push_str(&format!("Unattributed: {} (in kitty-specs/unattributed/)\n", plural(total, "record", "records")));
        for (reason, count) in &report.unattributed {
            out.push_str(&format!("  {:>6}  {reason}\n", n(*count)));
        }
    }
    let skipped_records = &report.not_imported;
    let not_imported = [
        (skipped_records.already_imported, "already imported"),
        (skipped_records.claimed, "already reported through emit"),
        (skipped_records.other_projects, "from other projects"),
        (skipped_records.before_since, "before --since"),
    ];
    let parts: Vec<String> =
        not_imported.iter().filter(|(c, _)| *c > 0).map(|(c, what)| format!("{} {what}", n(*c))).collect();
    if !parts.is_empty() {
        out.push_str(&format!("Not imported: {}\n", parts.join(", ")));
    }
    let skipped: Vec<String> =
        report.skipped.entries().into_iter().map(|(what, c)| format!("{} {}", n(c), what.replace('_', " "))).collect();
    if !skipped.is_empty() {
        out.push_str(&format!("Skipped: {}\n", skipped.join(", ")));
    }
    if report.recovered > 0 {
        out.push_str(&format!(
            "Recovered {} from an interrupted import\n",
            plural(report.recovered, "event", "events")
        ));
    }
    out
}

pub fn run_hook(ctx: &Context, args: HookArgs) -> Result<(), CliError> {
    match args.command {
        HookCommand::Claude(run) => hook(Agent::Claude, run),
        HookCommand::Codex(run) => hook(Agent::Codex, run),
        HookCommand::Gemini(run) => hook(Agent::Gemini, run),
        HookCommand::Install(args) => install(ctx, args, true),
        HookCommand::Uninstall(args) => install(ctx, args, false),
    }
}

/// Runs a hook: never prints (Gemini expects a JSON object on stdout: `{}`), never fails.
fn hook(agent: Agent, args: HookRunArgs) -> Result<(), CliError> {
    let outcome = std::panic::catch_unwind(|| hook_import(agent, args));
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::debug!(%agent, %error, "usage hook imported nothing"),
        Err(_) => tracing::debug!(%agent, "usage hook panicked"),
    }
    if agent == Agent::Gemini {
        let _ = output::print("{}\n");
    }
    Ok(())
}

/// Why a hook imported nothing (logged at debug level, never shown to the agent).
#[derive(Debug, thiserror::Error)]
enum HookRunError {
    #[error("cannot read the hook's input: {0}")]
    Input(#[source] std::io::Error),
    #[error("no transcript in the hook's input")]
    NoTranscript,
    #[error(transparent)]
    Context(#[from] crate::context::ContextError),
    #[error(transparent)]
    Project(#[from] crate::project::DiscoveryError),
    #[error(transparent)]
    Import(#[from] usage::ImportError),
}

fn hook_import(agent: Agent, args: HookRunArgs) -> Result<(), HookRunError> {
    let homes = AgentHomes::from_process();
    let argument = args.payload.last().map(String::as_str);
    let mut input = Vec::new();
    if argument.is_none() && !std::io::stdin().is_terminal() {
        std::io::stdin().take(1 << 20).read_to_end(&mut input).map_err(HookRunError::Input)?;
    }
    let call = match agent {
        Agent::Claude => usage::hooks::claude_call(&input),
        Agent::Codex => usage::hooks::codex_call(argument, &input, &homes),
        Agent::Gemini => usage::hooks::gemini_call(&input),
    }
    .ok_or(HookRunError::NoTranscript)?;
    let ctx = Context::from_env(Some(&call.cwd))?;
    let project = crate::project::Project::discover(&ctx)?;
    let options = ImportOptions {
        source: ImportSource::Files(call.files),
        since: None,
        dry_run: false,
        homes,
        lock_timeout: HOOK_LOCK_TIMEOUT,
    };
    let report = usage::import(&project, &options, &ctx)?;
    tracing::debug!(records = report.records, events = report.events, "usage hook imported");
    Ok(())
}

/// `hook install --json` / `hook uninstall --json`.
#[derive(Serialize)]
struct InstallOutput<'a> {
    result: &'static str,
    action: &'static str,
    hooks: Vec<HookOutput<'a>>,
}

#[derive(Serialize)]
struct HookOutput<'a> {
    agent: Agent,
    file: std::borrow::Cow<'a, str>,
    events: &'a [String],
    changed: bool,
}

fn install(ctx: &Context, args: HookInstallArgs, add: bool) -> Result<(), CliError> {
    let project = discover(ctx)?;
    let mut results = Vec::new();
    for agent in agents(&args.agent) {
        let change = if add {
            usage::hooks::install(&project.root, agent)?
        } else {
            usage::hooks::uninstall(&project.root, agent)?
        };
        results.push((agent, change));
    }
    if args.json {
        let hooks = results
            .iter()
            .map(|(agent, change)| HookOutput {
                agent: *agent,
                file: project.display_path(&change.path),
                events: &change.events,
                changed: !change.events.is_empty(),
            })
            .collect();
        let action = if add { "install" } else { "uninstall" };
        return print_json(&InstallOutput { result: "success", action, hooks }, pyjson::PRETTY);
    }
    let mut out = String::new();
    for (agent, change) in &results {
        let file = project.display_path(&change.path);
        let line = match (add, change.events.is_empty()) {
            (true, false) => format!("✓ {agent}: hook added to {file} ({})", change.events.join(", ")),
            (true, true) => format!("✓ {agent}: hook already in {file}"),
            (false, false) => format!("✓ {agent}: hook removed from {file} ({})", change.events.join(", ")),
            (false, true) => format!("✓ {agent}: no hook of ours in {file}"),
        };
        out.push_str(&line);
        out.push('\n');
    }
    output::print(&out)?;
    Ok(())
}
