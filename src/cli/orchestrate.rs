//! `spec-kitty orchestrate`: run implementation and review agents over a feature's work packages, in
//! dependency order, until every one is done (see `crate::orchestrator` for the rules).
//!
//! Modes: start a run (`--feature`, or the detected feature), `--resume` a paused, interrupted or failed
//! run, `--status`, `--abort`, and `--skip WPxx` (alone: on the saved run; with a start or resume: before
//! it runs). Exit codes: 0 completed, 1 failed (or an error), 2 usage, 130 interrupted (the run is paused).

mod display;

use super::common::{discover, publish, resolve_feature};
use super::output;
use crate::context::Context;
use crate::error::CliError;
use crate::events::pyjson;
use crate::git::Repo;
use crate::orchestrator::control::{self, ControlError, Prepared};
use crate::orchestrator::effects::Effects;
use crate::orchestrator::engine::{Engine, RunOutcome};
use crate::orchestrator::progress::{Observer, Progress, View};
use crate::orchestrator::settings::{Overrides, Settings};
use crate::orchestrator::state::{RunLock, RunState};
use crate::orchestrator::summary;
use crate::project::{Feature, Project};
use crate::sync::Causation;
use crate::workflow::wp::normalize_wp_id;
use clap::Args;
use std::collections::BTreeMap;
use std::io::IsTerminal;

/// Exit code of a run stopped by a signal (and left paused).
use crate::error::EXIT_INTERRUPTED;

#[derive(Debug, Args)]
#[command(
    after_help = "Agents, limits and retries come from .kittify/config.yaml (agents.available, agents.selection, \
agents.settings.<id>, orchestrator); see the README.\n\
Exit codes: 0 completed, 1 failed, 2 usage error, 130 interrupted (the run is paused; continue with --resume)."
)]
pub struct OrchestrateArgs {
    /// Feature to orchestrate (default: detected; asks for confirmation on a terminal).
    #[arg(long, short = 'f', value_name = "SLUG")]
    feature: Option<String>,
    /// Show the saved run's state.
    #[arg(long, short = 's', conflicts_with_all = ["feature", "resume", "abort", "skip", "impl_agent", "review_agent", "max_concurrency", "yes"])]
    status: bool,
    /// Continue a paused, interrupted or failed run (finished work packages are not redone).
    #[arg(long, short = 'r', conflicts_with_all = ["feature", "abort"])]
    resume: bool,
    /// Mark the saved run aborted so a new run can start (lanes and workspaces stay as they are).
    #[arg(long, short = 'a', conflicts_with_all = ["feature", "skip", "impl_agent", "review_agent", "max_concurrency"])]
    abort: bool,
    /// Leave a work package out; its dependents go ahead (repeatable).
    #[arg(long, value_name = "WPxx")]
    skip: Vec<String>,
    /// Agent that implements (overrides agents.selection.preferred_implementer).
    #[arg(long, alias = "implementer", value_name = "AGENT")]
    impl_agent: Option<String>,
    /// Agent that reviews (overrides agents.selection.preferred_reviewer).
    #[arg(long, alias = "reviewer", value_name = "AGENT")]
    review_agent: Option<String>,
    /// Agents that may run at once (overrides orchestrator.max_concurrency).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_concurrency: Option<u64>,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    yes: bool,
    /// Print a JSON summary at the end (progress goes to stderr); with --status, the saved state.
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &Context, args: OrchestrateArgs) -> Result<(), CliError> {
    let project = discover(ctx)?;
    if args.status {
        return show_status(&project, args.json);
    }
    if args.abort {
        return abort(ctx, &project);
    }
    let skips = args.skip.iter().map(|s| normalize_wp_id(s)).collect::<Result<Vec<_>, _>>();
    let skips = skips.map_err(|e| CliError::usage(format!("--skip: {e}")))?;
    if args.resume {
        return resume(ctx, &project, &args, &skips);
    }
    if args.feature.is_none() && !skips.is_empty() && args.impl_agent.is_none() && args.review_agent.is_none() {
        return skip_in_saved_run(ctx, &project, &skips);
    }
    start(ctx, &project, &args, &skips)
}

// ---------------------------------------------------------------------------------------------------
// start / resume

fn start(ctx: &Context, project: &Project, args: &OrchestrateArgs, skips: &[String]) -> Result<(), CliError> {
    let lock = control::lock_new_run(project)?;
    let feature = resolve_feature(ctx, project, args.feature.as_deref())?;
    if args.feature.is_none() && !args.yes && !confirm(&feature)? {
        return Err(CliError::failure("not started").hint("pass --feature <slug> (or --yes) to start without asking"));
    }
    let settings = resolve_settings(ctx, project, args)?;
    let prepared = control::start(ctx, lock, feature, &settings, skips)?;
    execute(ctx, project, prepared, settings, skips, false, args.json)
}

fn resume(ctx: &Context, project: &Project, args: &OrchestrateArgs, skips: &[String]) -> Result<(), CliError> {
    let settings = resolve_settings(ctx, project, args)?;
    let prepared = control::resume(project, &settings, skips)?;
    execute(ctx, project, prepared, settings, skips, true, args.json)
}

fn execute(
    ctx: &Context,
    project: &Project,
    Prepared { feature, plan, state, lock, events }: Prepared,
    settings: Settings,
    skipped: &[String],
    resumed: bool,
    json: bool,
) -> Result<(), CliError> {
    publish(ctx, Some(project), &events, Causation::None);
    let effects = Effects::new(ctx, project, &feature, Repo::at(&project.root));
    let mut observer = observer(json);
    let running = BTreeMap::new();
    for wp_id in skipped {
        let view = View { state: &state, running: &running };
        observer.progress(&Progress::Skipped { wp_id: wp_id.clone() }, &view);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::failure(format!("cannot start the async runtime: {e}")))?;
    let engine = Engine::new(ctx, effects, plan, settings, state, lock, resumed, observer.as_mut());
    let (outcome, state) = runtime.block_on(engine.run())?;
    drop(observer);
    report(&state, outcome, json)
}

fn observer(json: bool) -> Box<dyn Observer> {
    if json {
        return Box::new(display::PlainLines { out: std::io::stderr() });
    }
    if std::io::stdout().is_terminal() {
        return Box::new(display::LiveTable::stdout());
    }
    Box::new(display::PlainLines { out: std::io::stdout() })
}

/// The end of a run: the summary (text or JSON) and the exit code.
fn report(state: &RunState, outcome: RunOutcome, json: bool) -> Result<(), CliError> {
    let duration = match (&state.completed_at, outcome) {
        (Some(end), RunOutcome::Completed | RunOutcome::Failed) => summary::duration_between(&state.started_at, end),
        _ => None,
    };
    if json {
        output::print(&(pyjson::to_string(&summary::summary(state, duration.as_deref()), pyjson::PRETTY) + "\n"))?;
    } else {
        let signal = match outcome {
            RunOutcome::Paused { signal } => Some(signal),
            _ => None,
        };
        output::print(&display::final_text(state, duration.as_deref().unwrap_or("?"), signal))?;
    }
    let printed = |mut error: CliError| {
        error.result_printed = true;
        error
    };
    match outcome {
        RunOutcome::Completed => Ok(()),
        RunOutcome::Failed => Err(printed(
            CliError::failure(format!(
                "the run failed: {} work package(s) failed, {} blocked",
                state.wps_failed, state.wps_blocked
            ))
            .hint("see the agent logs in .kittify/logs/; once the cause is fixed, `spec-kitty orchestrate --resume` retries the failed work packages")
            .hint("or leave one out: `spec-kitty orchestrate --skip WPxx`, then --resume"),
        )),
        RunOutcome::Paused { signal } => {
            let mut error = CliError::failure(format!("interrupted by {signal}: the run is paused"))
                .hint("resume it with `spec-kitty orchestrate --resume`");
            error.code = EXIT_INTERRUPTED;
            Err(printed(error))
        }
    }
}

fn resolve_settings(ctx: &Context, project: &Project, args: &OrchestrateArgs) -> Result<Settings, CliError> {
    let overrides = Overrides {
        impl_agent: args.impl_agent.clone(),
        review_agent: args.review_agent.clone(),
        max_concurrency: args.max_concurrency.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
    };
    let resolved = control::settings(ctx, project, &overrides)?;
    resolved.warnings.iter().for_each(|w| output::warn(w));
    Ok(resolved.settings)
}

fn confirm(feature: &Feature) -> Result<bool, CliError> {
    if !std::io::stdin().is_terminal() {
        return Ok(true);
    }
    eprint!("Start orchestration for {}? [y/N] ", feature.slug);
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).map_err(|e| CliError::failure(format!("cannot read the answer: {e}")))?;
    Ok(matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}

// ---------------------------------------------------------------------------------------------------
// status / abort / skip

fn show_status(project: &Project, json: bool) -> Result<(), CliError> {
    let Some(state) = RunState::load(&project.root)? else {
        return Err(ControlError::NoRun { purpose: "in this project" }.into());
    };
    if json {
        output::print(&state.to_json_text())?;
        return Ok(());
    }
    let holder = RunLock::holder(&project.root);
    output::print(&display::status_text(&state, holder.as_deref(), &output::Term::stdout()))?;
    Ok(())
}

fn abort(ctx: &Context, project: &Project) -> Result<(), CliError> {
    let state = control::abort(ctx, project)?;
    output::print(&format!(
        "Run {} of {} aborted; lanes and workspaces are left as they are.\nStart a new run with: spec-kitty orchestrate --feature {}\n",
        state.run_id, state.feature_slug, state.feature_slug
    ))?;
    Ok(())
}

fn skip_in_saved_run(ctx: &Context, project: &Project, skips: &[String]) -> Result<(), CliError> {
    let skipped = control::skip_in_saved_run(project, skips)?;
    publish(ctx, Some(project), &skipped.events, Causation::None);
    let mut text = String::new();
    for (wp_id, released) in &skipped.released {
        let proceed =
            if released.is_empty() { String::new() } else { format!("; {} may now proceed", released.join(", ")) };
        text.push_str(&format!("{wp_id} skipped{proceed}\n"));
    }
    text.push_str("Continue with: spec-kitty orchestrate --resume\n");
    output::print(&text)?;
    Ok(())
}
