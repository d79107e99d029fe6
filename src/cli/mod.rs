//! Command-line syntax (clap) and rendering. Each command group has its own module with `Args` structs
//! and a `run` function that turns them into plain options for the core and renders the result.

mod accept;
mod auth;
mod common;
mod dashboard;
mod feature;
mod implement;
mod init;
mod merge;
mod next;
mod orchestrate;
mod output;
mod research;
mod sync;
mod tasks;
mod telemetry;
mod usage;
mod validate_encoding;
mod verify;
mod workflow;

use crate::context::Context;
use crate::diagnostics::Profile;
use crate::error::CliError;
use clap::{ArgAction, Args, CommandFactory, Parser, Subcommand};
use clap_complete::Shell;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "spec-kitty",
    version,
    about = "Spec-driven development for AI coding agents: telemetry, workflow and sync commands.",
    after_help = "Exit codes: 0 success, 1 failure, 2 usage error; `sync now` also 3 (events rejected) and 4 (events kept queued: offline or not logged in); `orchestrate` 130 (interrupted, resume with --resume).\nEnvironment: SPEC_KITTY_HOME, SPECIFY_REPO_ROOT, SPECIFY_FEATURE, SPEC_KITTY_STRICT, SPEC_KITTY_LOCK_TIMEOUT_MS, SPEC_KITTY_NOW, SPEC_KITTY_ID_SEED, SPEC_KITTY_LOG (see README)."
)]
pub struct Cli {
    /// Run as if started in DIR.
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub directory: Option<PathBuf>,

    /// Print diagnostics on stderr (-v debug, -vv trace); see also SPEC_KITTY_LOG.
    #[arg(short = 'v', long = "verbose", action = ArgAction::Count, global = true, display_order = 900)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// How this command logs: `sync daemon` keeps a log; everything else is quiet unless asked.
    pub fn log_profile(&self) -> Profile {
        match &self.command {
            Command::Sync(args) if args.is_daemon() => Profile::Daemon,
            Command::Dashboard(args) if args.serves() => Profile::Daemon,
            _ => Profile::Command,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make the current directory a spec-kitty project (idempotent).
    Init(init::InitArgs),
    /// Commands that agents call from slash-command templates.
    Agent(Box<AgentArgs>),
    /// Create the workspace for a work package (a git worktree on branch <feature>-<WP>) and claim it.
    Implement(implement::ImplementArgs),
    /// Merge the feature's work-package branches into the target branch.
    Merge(merge::MergeArgs),
    /// Check that a feature is complete and record its acceptance in meta.json.
    Accept(accept::AcceptArgs),
    /// Run agents that implement and review a feature's work packages in dependency order.
    Orchestrate(Box<orchestrate::OrchestrateArgs>),
    /// The agent loop: settle the last step and get the next step of the mission.
    ///
    /// The answer is a planning step, a work package to implement or review, a decision to make, blocked
    /// or terminal, with a prompt file to read. `--json` prints it as one JSON object; blocked exits 1.
    Next(next::NextArgs),
    /// The offline event queue and sync to the team server.
    Sync(sync::SyncArgs),
    /// Log in to the sync server, log out, show the session.
    Auth(auth::AuthArgs),
    /// Scaffold the research artefacts: research.md, data-model.md, evidence CSVs.
    ///
    /// Files come from the project's templates, else built-in stubs; existing files are kept unless --force.
    Research(research::ResearchArgs),
    /// Check that agent CLIs, the project structure, features and worktrees are ready.
    ///
    /// Reports the agent CLIs on PATH, whether .kittify/, config.yaml and kitty-specs/ are intact, every
    /// feature's work-package lanes and every .worktrees/ entry. Exit 1 when the setup is not usable.
    VerifySetup(verify::VerifySetupArgs),
    /// Find (and with --fix repair) non-UTF-8 bytes in a feature's planning documents.
    ///
    /// Typically Windows-1252 smart quotes and dashes pasted into markdown. Exit 1 while problems remain.
    ValidateEncoding(validate_encoding::ValidateEncodingArgs),
    /// Start (or reuse) the project's local web dashboard and print its URL; --kill stops it.
    ///
    /// Features, a kanban board per feature, the planning documents, costs and tokens over time, the
    /// work packages' flow through the lanes and the sync state, live, on 127.0.0.1 only.
    Dashboard(dashboard::DashboardArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    #[command(subcommand)]
    pub command: AgentCommand,
}

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Telemetry and cost tracking commands.
    Telemetry(Box<telemetry::TelemetryArgs>),
    /// Feature lifecycle: create-feature, setup-plan, finalize-tasks, check-prerequisites.
    Feature(feature::FeatureArgs),
    /// Work-package lanes, subtasks and history: move-task, mark-status, add-history, status, …
    Tasks(tasks::TasksArgs),
    /// Prompt display for agents: implement and review a work package.
    Workflow(workflow::WorkflowArgs),
    /// The legacy templates' name for `agent feature check-prerequisites`.
    #[command(hide = true)]
    CheckPrerequisites(feature::CheckArgs),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    pub shell: Shell,
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), CliError> {
    run_then(cli, |_| {})
}

/// Runs a parsed command line and hands its result to `report` (main prints errors there) before the
/// exit flush: events the command queued get a short, bounded chance to reach the server, and the user
/// does not wait for that to see the outcome.
pub fn run_then(cli: Cli, report: impl FnOnce(&Result<(), CliError>)) -> Result<(), CliError> {
    if let Command::Completions(args) = &cli.command {
        clap_complete::generate(args.shell, &mut Cli::command(), "spec-kitty", &mut std::io::stdout());
        return Ok(());
    }
    let ctx = match Context::from_env(cli.directory.as_deref()) {
        Ok(ctx) => ctx,
        Err(e) => {
            let result = Err(e.into());
            report(&result);
            return result;
        }
    };
    let result = dispatch(&ctx, cli.command);
    report(&result);
    common::exit_flush(&ctx);
    result
}

fn dispatch(ctx: &Context, command: Command) -> Result<(), CliError> {
    match command {
        Command::Init(args) => init::run(ctx, args),
        Command::Sync(args) => sync::run(ctx, args),
        Command::Auth(args) => auth::run(ctx, args),
        Command::Implement(args) => implement::run(ctx, args),
        Command::Merge(args) => merge::run(ctx, args),
        Command::Accept(args) => accept::run(ctx, args),
        Command::Orchestrate(args) => orchestrate::run(ctx, *args),
        Command::Next(args) => next::run(ctx, args),
        Command::Research(args) => research::run(ctx, args),
        Command::VerifySetup(args) => verify::run(ctx, args),
        Command::ValidateEncoding(args) => validate_encoding::run(ctx, args),
        Command::Dashboard(args) => dashboard::run(ctx, args),
        Command::Agent(agent) => match agent.command {
            AgentCommand::Telemetry(args) => telemetry::run(ctx, *args),
            AgentCommand::Feature(args) => feature::run(ctx, args),
            AgentCommand::Tasks(args) => tasks::run(ctx, args),
            AgentCommand::Workflow(args) => workflow::run(ctx, args),
            AgentCommand::CheckPrerequisites(args) => feature::check_prerequisites(ctx, args),
        },
        Command::Completions(_) => unreachable!("handled above"),
    }
}
