//! Starting, resuming, aborting and changing a saved run: the checks around the run state file that
//! `spec-kitty orchestrate` makes before the engine runs (or instead of running it). Nothing here
//! prints; skipping returns the DependencyResolved events for the caller to publish.

use super::engine;
use super::plan::{Plan, PlanError};
use super::scheduler::{self, SkipError};
use super::settings::{self, Environment, Overrides, Resolved, SettingsError};
use super::state::{RunLock, RunState, RunStatus, STATE_FILE, StateError, WpExecution};
use crate::context::Context;
use crate::error::{Diagnose, EXIT_USAGE};
use crate::events::Timestamp;
use crate::project::config::{ConfigError, OrchestrationConfig};
use crate::project::{Feature, Project};
use crate::sync::SyncEvent;

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("an unfinished run of {feature} exists ({status}, started {started_at})")]
    Unfinished { feature: String, status: &'static str, started_at: String },
    #[error("the run of {feature} is {status}: there is nothing to {purpose}")]
    Finished { feature: String, status: &'static str, purpose: &'static str },
    #[error("the run's feature kitty-specs/{0} no longer exists")]
    FeatureGone(String),
    #[error("no orchestration run {purpose} ({STATE_FILE} not found)")]
    NoRun { purpose: &'static str },
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Skip(#[from] SkipError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
}

impl Diagnose for ControlError {
    fn hints(&self) -> Vec<String> {
        let hint = match self {
            ControlError::Unfinished { .. } => {
                "continue it with `spec-kitty orchestrate --resume`, or discard it with `spec-kitty orchestrate --abort`"
                    .to_owned()
            }
            ControlError::Finished { feature, purpose: "resume", .. } => {
                format!("start a new run with `spec-kitty orchestrate --feature {feature}`")
            }
            ControlError::FeatureGone(_) => "discard the run with `spec-kitty orchestrate --abort`".to_owned(),
            ControlError::NoRun { purpose } => {
                let mut hints = vec!["start one with `spec-kitty orchestrate --feature <slug>`".to_owned()];
                if *purpose == "to change" {
                    hints.push("to start a run without it: spec-kitty orchestrate --feature <slug> --skip WPxx".into());
                }
                return hints;
            }
            ControlError::Config(_) => "the orchestrator's keys are described in the README".to_owned(),
            ControlError::Settings(_) => {
                "agents are configured in .kittify/config.yaml (agents.available, agents.settings.<id>)".to_owned()
            }
            _ => return Vec::new(),
        };
        vec![hint]
    }

    fn exit_code(&self) -> u8 {
        match self {
            ControlError::Skip(_) | ControlError::Settings(SettingsError::UnknownOverride { .. }) => EXIT_USAGE,
            _ => crate::error::EXIT_FAILURE,
        }
    }
}

/// A run ready for the engine.
pub struct Prepared {
    pub feature: Feature,
    pub plan: Plan,
    pub state: RunState,
    pub lock: RunLock,
    /// DependencyResolved events of the `--skip`s applied, to publish.
    pub events: Vec<SyncEvent>,
}

/// The run settings: `.kittify/config.yaml` with the command line's overrides, agents looked up on `PATH`.
pub fn settings(ctx: &Context, project: &Project, overrides: &Overrides) -> Result<Resolved, ControlError> {
    let config = OrchestrationConfig::load(&project.root)?;
    let path = std::env::var_os("PATH");
    let is_installed = |program: &str| settings::find_program(program, path.as_deref()).is_some();
    // Only `strategy: random` consumes randomness (and with it an id of the pinned sequence in tests).
    let random = if config.agents.selection.strategy.as_deref() == Some("random") {
        (ctx.new_ulid().random() & u128::from(u64::MAX)) as u64
    } else {
        0
    };
    let env = Environment { project_root: &project.root, is_installed: &is_installed, random };
    Ok(settings::resolve(&config, overrides, &env)?)
}

/// Takes the run lock for a new run; refused while an unfinished run is saved.
pub fn lock_new_run(project: &Project) -> Result<RunLock, ControlError> {
    let lock = RunLock::acquire(&project.root)?;
    if let Some(existing) = RunState::load(&project.root)?
        && existing.status.is_unfinished()
    {
        return Err(ControlError::Unfinished {
            feature: existing.feature_slug,
            status: existing.status.as_str(),
            started_at: existing.started_at,
        });
    }
    Ok(lock)
}

/// A new run of `feature`, with `skips` left out.
pub fn start(
    ctx: &Context,
    lock: RunLock,
    feature: Feature,
    settings: &settings::Settings,
    skips: &[String],
) -> Result<Prepared, ControlError> {
    let plan = Plan::load(&feature.dir)?;
    let mut state = engine::fresh_state(ctx, &feature.slug, &plan, settings);
    let events = apply_skips(&plan, &mut state, skips)?;
    Ok(Prepared { feature, plan, state, lock, events })
}

/// The saved run, brought up to date with the feature's work packages and lanes.
pub fn resume(project: &Project, settings: &settings::Settings, skips: &[String]) -> Result<Prepared, ControlError> {
    let lock = RunLock::acquire(&project.root)?;
    let mut state = RunState::load(&project.root)?.ok_or(ControlError::NoRun { purpose: "to resume" })?;
    check_unfinished(&state, "resume")?;
    let feature = Feature { slug: state.feature_slug.clone(), dir: project.feature_dir(&state.feature_slug) };
    if !feature.dir.is_dir() {
        return Err(ControlError::FeatureGone(feature.slug));
    }
    let plan = Plan::load(&feature.dir)?;
    reconcile(&mut state, &plan);
    scheduler::prepare_resume(&mut state, &plan.graph, &plan.current_lanes());
    engine::select_agents(&mut state, settings);
    let events = apply_skips(&plan, &mut state, skips)?;
    Ok(Prepared { feature, plan, state, lock, events })
}

/// Marks the saved run aborted (lanes and workspaces stay as they are).
pub fn abort(ctx: &Context, project: &Project) -> Result<RunState, ControlError> {
    let _lock = RunLock::acquire(&project.root)?;
    let mut state = RunState::load(&project.root)?.ok_or(ControlError::NoRun { purpose: "to abort" })?;
    if matches!(state.status, RunStatus::Completed | RunStatus::Aborted) {
        return Err(ControlError::Finished {
            feature: state.feature_slug,
            status: state.status.as_str(),
            purpose: "abort",
        });
    }
    state.status = RunStatus::Aborted;
    state.completed_at = Some(Timestamp::from_utc(ctx.now()).isoformat());
    state.save(&project.root)?;
    Ok(state)
}

/// What `--skip` alone did to the saved run.
pub struct Skipped {
    /// Each skipped work package with the dependents it lets go ahead.
    pub released: Vec<(String, Vec<String>)>,
    pub events: Vec<SyncEvent>,
}

/// Leaves `skips` out of the saved run, which a later `--resume` continues.
pub fn skip_in_saved_run(project: &Project, skips: &[String]) -> Result<Skipped, ControlError> {
    let _lock = RunLock::acquire(&project.root)?;
    let mut state = RunState::load(&project.root)?.ok_or(ControlError::NoRun { purpose: "to change" })?;
    check_unfinished(&state, "skip")?;
    let plan = Plan::load(&project.feature_dir(&state.feature_slug))?;
    reconcile(&mut state, &plan);
    let mut skipped = Skipped { released: Vec::new(), events: Vec::new() };
    for wp_id in skips {
        let released = scheduler::skip(&mut state, &plan.graph, wp_id)?;
        skipped.events.extend(engine::skip_events(wp_id, &released));
        skipped.released.push((wp_id.clone(), released));
    }
    state.recount();
    state.save(&project.root)?;
    Ok(skipped)
}

fn check_unfinished(state: &RunState, purpose: &'static str) -> Result<(), ControlError> {
    if matches!(state.status, RunStatus::Completed | RunStatus::Aborted) {
        return Err(ControlError::Finished {
            feature: state.feature_slug.clone(),
            status: state.status.as_str(),
            purpose,
        });
    }
    Ok(())
}

/// Work packages added to the feature since the run started join it; removed ones leave it.
fn reconcile(state: &mut RunState, plan: &Plan) {
    state.work_packages.retain(|id, _| plan.wps.contains_key(id));
    for wp in plan.wps.values() {
        state.work_packages.entry(wp.id.clone()).or_insert_with(|| WpExecution {
            status: scheduler::status_from_lane(wp.lane),
            ..WpExecution::new(&wp.id)
        });
    }
    state.recount();
}

/// Applies `--skip` to a run about to start or resume; returns the DependencyResolved "skipped" events.
fn apply_skips(plan: &Plan, state: &mut RunState, skips: &[String]) -> Result<Vec<SyncEvent>, ControlError> {
    let mut events = Vec::new();
    for wp_id in skips {
        let released = scheduler::skip(state, &plan.graph, wp_id)?;
        events.extend(engine::skip_events(wp_id, &released));
    }
    state.recount();
    Ok(events)
}
