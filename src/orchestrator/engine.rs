//! The run loop: start what the scheduler says is ready, wait for an agent to finish (or a signal), apply
//! the outcome (lanes, events, state), repeat until nothing is running and nothing can start.
//!
//! Every effect happens here, on one task, in a deterministic order; only the agent processes run
//! concurrently. That keeps lane moves, git commits and state writes serialised without extra locking,
//! and makes a run with `max_concurrency: 1` reproducible event for event.

use super::effects::{Effects, LaneMove};
use super::invoke::{self, Invocation, ProcessResult, Stop};
use super::outcome::{self, InvocationResult};
use super::plan::Plan;
use super::progress::{NextStep, Observer, Progress, RunningAgent, View};
use super::prompt::{self, ReviewSubject};
use super::scheduler::{self, AfterFailure, Phase, Running};
use super::settings::Settings;
use super::state::{RunLock, RunState, RunStatus, StateError, WpExecution, WpStatus};
use super::usage::OutputFormat;
use super::verdict::{FailureKind, Verdict};
use crate::context::Context;
use crate::events::Timestamp;
use crate::project::config::AgentRole;
use crate::sync::SyncEvent;
use crate::sync::event::{AssignmentPhase, ErrorType, ResolutionType};
use crate::sync::service::BackgroundSync;
use crate::workflow::graph;
use crate::workflow::lanes::Lane;
use crate::workflow::transition::Feedback;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;

pub const LOGS_DIR: &str = ".kittify/logs";
/// How much of an error or feedback text the state file keeps (upstream's 500).
const EXCERPT: usize = 500;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    Completed,
    Failed,
    /// Stopped by a signal; `--resume` continues.
    Paused {
        signal: &'static str,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("cannot listen for interrupt signals: {0}")]
    Signals(std::io::Error),
}

impl crate::error::Diagnose for EngineError {}

/// A new run's state: every work package starts from its lane (done ones are completed, canceled ones
/// skipped, those in for_review wait for review).
pub fn fresh_state(ctx: &Context, feature_slug: &str, plan: &Plan, settings: &Settings) -> RunState {
    let mut state = RunState {
        run_id: ctx.new_ulid().to_string(),
        feature_slug: feature_slug.to_owned(),
        started_at: iso(ctx),
        ..RunState::default()
    };
    for wp in plan.wps.values() {
        let exec = WpExecution { status: scheduler::status_from_lane(wp.lane), ..WpExecution::new(&wp.id) };
        state.work_packages.insert(wp.id.clone(), exec);
    }
    select_agents(&mut state, settings);
    state.recount();
    state
}

/// Records the run's agents and limit (again on resume: the configuration may have changed).
pub fn select_agents(state: &mut RunState, settings: &Settings) {
    state.concurrency_limit = settings.max_concurrency;
    state.implementer = Some(settings.implementer.clone());
    state.reviewer = settings.review.then(|| settings.reviewer.clone());
}

/// The DependencyResolved events of skipping `wp_id`, for the dependents that were waiting on it.
pub fn skip_events(wp_id: &str, released: &[String]) -> Vec<SyncEvent> {
    released
        .iter()
        .map(|dependent| SyncEvent::DependencyResolved {
            wp_id: dependent.clone(),
            dependency_wp_id: wp_id.to_owned(),
            resolution_type: ResolutionType::Skipped,
        })
        .collect()
}

/// An agent invocation that ended.
struct Finished {
    wp_id: String,
    phase: Phase,
    agent: String,
    process: ProcessResult,
}

pub struct Engine<'a> {
    ctx: &'a Context,
    effects: Effects<'a>,
    plan: Plan,
    settings: Settings,
    state: RunState,
    observer: &'a mut dyn Observer,
    running: BTreeMap<String, RunningAgent>,
    /// Work packages whose next attempt retries the same agent, after the retry delay.
    delayed: BTreeSet<String>,
    resumed: bool,
    _lock: RunLock,
}

impl<'a> Engine<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        ctx: &'a Context,
        effects: Effects<'a>,
        plan: Plan,
        settings: Settings,
        state: RunState,
        lock: RunLock,
        resumed: bool,
        observer: &'a mut dyn Observer,
    ) -> Engine<'a> {
        Engine {
            ctx,
            effects,
            plan,
            settings,
            state,
            observer,
            running: BTreeMap::new(),
            delayed: BTreeSet::new(),
            resumed,
            _lock: lock,
        }
    }

    /// Runs to the end (or until a signal) and returns how it ended with the final state.
    pub async fn run(mut self) -> Result<(RunOutcome, RunState), EngineError> {
        // The sync service drains the queue to the server while agents work (inert when offline).
        let sync = BackgroundSync::start(self.ctx, "orchestrate", None);
        self.state.status = RunStatus::Running;
        self.state.completed_at = None;
        self.state.recount();
        self.state.save(&self.effects.project.root)?;
        let mut signals = Signals::install().map_err(EngineError::Signals)?;
        let (stop, stop_rx) = watch::channel(Stop::Run);
        let mut tasks: JoinSet<Finished> = JoinSet::new();
        let mut task_wps: HashMap<tokio::task::Id, (String, Phase, String)> = HashMap::new();
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut interrupted: Option<&'static str> = None;
        self.notify(Progress::RunStarted {
            run_id: self.state.run_id.clone(),
            feature_slug: self.state.feature_slug.clone(),
            resumed: self.resumed,
        });

        loop {
            if interrupted.is_none() {
                self.launch_ready(&mut tasks, &mut task_wps, &stop_rx);
            }
            if tasks.is_empty() {
                break;
            }
            tokio::select! {
                joined = tasks.join_next_with_id() => match joined {
                    Some(Ok((id, finished))) => {
                        task_wps.remove(&id);
                        self.finish(finished);
                    }
                    Some(Err(error)) => {
                        // Only a bug could get here (invocation tasks do not panic); the work package
                        // is handled as a failed attempt so the run neither hangs nor loses it.
                        if let Some((wp_id, phase, agent)) = task_wps.remove(&error.id()) {
                            let process = ProcessResult {
                                exit_code: -1,
                                spawn_error: Some(format!("internal error: {error}")),
                                ..ProcessResult::default()
                            };
                            self.finish(Finished { wp_id, phase, agent, process });
                        }
                    }
                    None => {}
                },
                signal = signals.recv() => {
                    if interrupted.is_none() {
                        interrupted = Some(signal);
                        stop.send_replace(Stop::Terminate);
                        self.notify(Progress::Interrupting { signal });
                    } else {
                        // A second signal: no more grace.
                        stop.send_replace(Stop::Kill);
                    }
                }
                _ = ticker.tick() => {
                    let view = View { state: &self.state, running: &self.running };
                    self.observer.tick(&view);
                }
            }
        }

        let outcome = match interrupted {
            Some(signal) => {
                self.state.status = RunStatus::Paused;
                RunOutcome::Paused { signal }
            }
            None => self.conclude(),
        };
        self.state.recount();
        self.save();
        sync.stop().await;
        Ok((outcome, self.state))
    }

    /// The end of a run that was not interrupted: leftovers are blocked, the status is decided, and a
    /// feature whose every work package completed gets its FeatureCompleted.
    fn conclude(&mut self) -> RunOutcome {
        for (wp_id, by) in scheduler::block_leftovers(&mut self.state, &self.plan.graph) {
            self.notify(Progress::Blocked { wp_id, by });
        }
        self.state.recount();
        let now = iso(self.ctx);
        self.state.completed_at = Some(now.clone());
        if self.state.wps_failed + self.state.wps_blocked > 0 {
            self.state.status = RunStatus::Failed;
            return RunOutcome::Failed;
        }
        self.state.status = RunStatus::Completed;
        if self.state.wps_completed == self.state.wps_total {
            let event = SyncEvent::FeatureCompleted {
                feature_slug: self.state.feature_slug.clone(),
                total_wps: self.state.wps_total,
                completed_at: Some(now),
                total_duration: Some(total_duration(&self.state.started_at, self.ctx)),
            };
            self.publish(&[event]);
        }
        RunOutcome::Completed
    }

    fn launch_ready(
        &mut self,
        tasks: &mut JoinSet<Finished>,
        task_wps: &mut HashMap<tokio::task::Id, (String, Phase, String)>,
        stop: &watch::Receiver<Stop>,
    ) {
        loop {
            let running: Running = self.running.iter().map(|(wp, r)| (wp.clone(), r.agent.clone())).collect();
            let launches =
                scheduler::next_launches(&self.state, &self.plan.graph, &self.plan.order, &self.settings, &running);
            if launches.is_empty() {
                break;
            }
            let mut refused = false;
            for launch in launches {
                match self.prepare(&launch.wp_id, launch.phase, &launch.agent) {
                    Ok(None) => {
                        // Moved to done outside the run (by hand, or by another tool) since it started.
                        self.complete(&launch.wp_id);
                        refused = true;
                    }
                    Ok(Some(invocation)) => {
                        self.running.insert(
                            launch.wp_id.clone(),
                            RunningAgent {
                                phase: launch.phase,
                                agent: launch.agent.clone(),
                                since: std::time::Instant::now(),
                            },
                        );
                        let (wp_id, phase, agent) = (launch.wp_id.clone(), launch.phase, launch.agent.clone());
                        let stop = stop.clone();
                        let handle = tasks.spawn(async move {
                            let process = invoke::run(invocation, stop).await;
                            Finished { wp_id, phase, agent, process }
                        });
                        task_wps.insert(handle.id(), (launch.wp_id, launch.phase, launch.agent));
                    }
                    Err(reason) => {
                        self.fail(
                            &launch.wp_id,
                            &launch.agent,
                            &format!("cannot start {}: {reason}", launch.phase.as_str()),
                            FailureKind::General,
                        );
                        refused = true;
                    }
                }
            }
            self.state.parallel_peak = self.state.parallel_peak.max(self.running.len());
            self.save();
            // A refused start freed its slot: look again. Otherwise everything startable has started.
            if !refused {
                break;
            }
        }
    }

    /// Everything before an agent starts: workspace, lane, state, WPAssigned, prompt and log file.
    /// `None` when there is nothing to do: the work package is already done.
    fn prepare(&mut self, wp_id: &str, phase: Phase, agent: &str) -> Result<Option<Invocation>, String> {
        if self.effects.lane(wp_id) == Some(Lane::Done) {
            return Ok(None);
        }
        let spec = self.settings.agent(agent).cloned().ok_or_else(|| format!("agent {agent} is not configured"))?;
        let info = self.plan.wps.get(wp_id).cloned().ok_or_else(|| format!("{wp_id} is not in the plan"))?;
        let base =
            info.dependencies.iter().rev().find(|d| self.state.wp_status(d) == Some(WpStatus::Completed)).cloned();
        let (workspace, warnings) = self.effects.workspace(wp_id, base.as_deref()).map_err(|e| e.to_string())?;
        self.warn_all(warnings);
        let wp_prompt = std::fs::read_to_string(&info.path)
            .map_err(|e| format!("cannot read {}: {e}", self.effects.project.display_path(&info.path)))?;
        let implemented_by = self.exec_mut(wp_id).implementation_agent.clone().unwrap_or_else(|| agent.to_owned());
        let (lane, note) = match phase {
            Phase::Implementation => (Lane::InProgress, "Automated: start implementation"),
            // Normally already there (moved when the implementation succeeded); a resumed run may not be.
            Phase::Review => (Lane::ForReview, "Automated: complete implementation"),
        };
        let actor = if phase == Phase::Implementation { agent } else { implemented_by.as_str() };
        let warnings = self
            .effects
            .move_lane(LaneMove { wp_id, to: lane, actor, note, feedback: None, reviewer: None, approval_ref: None })
            .map_err(|e| e.to_string())?;
        self.warn_all(warnings);

        let now = iso(self.ctx);
        let root = self.effects.project.root.clone();
        let exec = self.exec_mut(wp_id);
        exec.worktree_path = Some(workspace.relative.clone());
        let stdin = match phase {
            Phase::Implementation => {
                exec.status = WpStatus::Implementation;
                exec.implementation_agent = Some(agent.to_owned());
                exec.implementation_started = Some(now.clone());
                exec.implementation_completed = None;
                exec.implementation_exit_code = None;
                let rework = exec.review_feedback.as_deref().filter(|_| exec.rework_count > 0);
                let feedback = rework.map(|short| {
                    let file = exec.review_feedback_file.as_deref().map(|f| root.join(f));
                    file.and_then(|f| std::fs::read_to_string(f).ok()).unwrap_or_else(|| short.to_owned())
                });
                let attempt = exec.rework_count + 1;
                prompt::implementation(&wp_prompt, wp_id, feedback.as_deref().map(|f| (attempt, f)))
            }
            Phase::Review => {
                exec.status = WpStatus::Review;
                exec.review_agent = Some(agent.to_owned());
                exec.review_started = Some(now.clone());
                exec.review_completed = None;
                exec.review_exit_code = None;
                prompt::review(&ReviewSubject {
                    wp_id,
                    title: &info.title,
                    feature_slug: &self.effects.feature.slug,
                    branch: workspace.branch.as_deref(),
                    wp_prompt: &wp_prompt,
                })
            }
        };
        let retry_count = scheduler::retry_count(self.exec_mut(wp_id), phase);
        let assignment = match phase {
            Phase::Implementation => AssignmentPhase::Implementation,
            Phase::Review => AssignmentPhase::Review,
        };
        self.publish(&[SyncEvent::WpAssigned {
            wp_id: wp_id.to_owned(),
            agent_id: agent.to_owned(),
            phase: assignment,
            retry_count,
        }]);

        let log_path = reserve_log(&self.effects.project.root, wp_id, phase, self.ctx)
            .map_err(|e| format!("cannot create a log file in {LOGS_DIR}: {e}"))?;
        let relative_log = self.effects.project.display_path(&log_path).into_owned();
        self.exec_mut(wp_id).log_file = Some(relative_log);
        let role = role_of(phase);
        let argv = spec.argv(role);
        let log_header = format!(
            "# spec-kitty orchestrate: {wp_id} {} by {agent} (run {}, retry {retry_count})\n# command: {}\n# cwd: {}\n# started: {now}\n",
            phase.as_str(),
            self.state.run_id,
            shell_words(&argv),
            workspace.path.display(),
        );
        let delay = if self.delayed.remove(wp_id) { self.settings.retry_delay } else { Duration::ZERO };
        self.notify(Progress::PhaseStarted { wp_id: wp_id.to_owned(), phase, agent: agent.to_owned(), retry_count });
        Ok(Some(Invocation {
            argv,
            cwd: workspace.path,
            stdin,
            env: vec![
                // Makes the agent's own spec-kitty commands act on this feature.
                ("SPECIFY_FEATURE".into(), self.effects.feature.slug.clone()),
                ("SPEC_KITTY_WP_ID".into(), wp_id.to_owned()),
                ("SPEC_KITTY_ROLE".into(), phase.as_str().to_owned()),
            ],
            // A pinned id seed (tests) would make the agent's own spec-kitty commands mint our ids again.
            env_remove: vec!["SPEC_KITTY_ID_SEED".into()],
            timeout: spec.timeout,
            grace: self.settings.grace,
            delay,
            log_path,
            log_header,
        }))
    }

    /// Applies the outcome of one invocation.
    fn finish(&mut self, finished: Finished) {
        self.running.remove(&finished.wp_id);
        if finished.process.never_started {
            // Stopped while waiting for a retry delay: nothing ran, so nothing to record.
            let exec = self.exec_mut(&finished.wp_id);
            exec.status = scheduler::waiting_status(exec);
            self.save();
            return;
        }
        self.state.total_agent_invocations += 1;
        if let Some(error) = &finished.process.log_error {
            self.notify(Progress::Warning(error.clone()));
        }
        let spec = self.settings.agent(&finished.agent).cloned();
        let format = spec.as_ref().map_or(OutputFormat::Auto, |s| s.kind.output_format());
        let timeout = spec.as_ref().map_or(Duration::ZERO, |s| s.timeout);
        let result = outcome::interpret(finished.phase, &finished.process, format, timeout);
        let record =
            result.record(&finished.wp_id, &finished.agent, finished.phase, spec.and_then(|s| s.model).as_deref());
        let warnings = self.effects.record(&record);
        self.warn_all(warnings);

        let now = iso(self.ctx);
        let exec = self.exec_mut(&finished.wp_id);
        match finished.phase {
            Phase::Implementation => {
                exec.implementation_completed = Some(now);
                exec.implementation_exit_code = Some(result.exit_code);
            }
            Phase::Review => {
                exec.review_completed = Some(now);
                exec.review_exit_code = Some(result.exit_code);
            }
        }
        if result.interrupted {
            exec.status = scheduler::waiting_status(exec);
        } else if !result.success {
            self.failed_attempt(&finished, &result);
        } else {
            match (finished.phase, &result.verdict) {
                (Phase::Implementation, _) => self.implemented(&finished),
                (Phase::Review, Some(Verdict::Rejected { feedback })) => self.reject(&finished, feedback),
                (Phase::Review, _) => self.approve(&finished),
            }
        }
        self.save();
    }

    /// A successful implementation goes to review (or, with review off, straight to done).
    fn implemented(&mut self, finished: &Finished) {
        let Finished { wp_id, agent, process, .. } = finished;
        let moved = self.effects.move_lane(LaneMove {
            wp_id,
            to: Lane::ForReview,
            actor: agent,
            note: "Automated: complete implementation",
            feedback: None,
            reviewer: None,
            approval_ref: None,
        });
        match moved {
            Ok(warnings) => self.warn_all(warnings),
            Err(e) => return self.fail(wp_id, agent, &format!("cannot move to for_review: {e}"), FailureKind::General),
        }
        self.exec_mut(wp_id).last_error = None;
        self.notify(Progress::Implemented { wp_id: wp_id.clone(), agent: agent.clone(), duration: process.duration });
        if self.settings.review {
            self.exec_mut(wp_id).status = WpStatus::Review;
            return;
        }
        let moved = self.effects.move_lane(LaneMove {
            wp_id,
            to: Lane::Done,
            actor: agent,
            note: "Automated: complete implementation (review disabled)",
            feedback: None,
            reviewer: Some(agent),
            approval_ref: Some("orchestrator.review: false".to_owned()),
        });
        match moved {
            Ok(warnings) => {
                self.warn_all(warnings);
                self.complete(wp_id);
            }
            Err(e) => self.fail(wp_id, agent, &format!("cannot move to done: {e}"), FailureKind::General),
        }
    }

    fn approve(&mut self, finished: &Finished) {
        let Finished { wp_id, agent, process, .. } = finished;
        // The approval is recorded in the review's log.
        let approval_ref = self.exec_mut(wp_id).log_file.clone();
        let moved = self.effects.move_lane(LaneMove {
            wp_id,
            to: Lane::Done,
            actor: agent,
            note: "Automated: complete review",
            feedback: None,
            reviewer: Some(agent),
            approval_ref,
        });
        match moved {
            Ok(warnings) => self.warn_all(warnings),
            Err(e) => return self.fail(wp_id, agent, &format!("cannot move to done: {e}"), FailureKind::General),
        }
        self.notify(Progress::Approved { wp_id: wp_id.clone(), agent: agent.clone(), duration: process.duration });
        self.complete(wp_id);
    }

    fn reject(&mut self, finished: &Finished, feedback: &str) {
        let Finished { wp_id, agent, .. } = finished;
        let feedback =
            if feedback.trim().is_empty() { "The reviewer rejected the work without a reason." } else { feedback };
        let cycle = self.exec_mut(wp_id).rework_count + 1;
        let path = self.effects.project.root.join(LOGS_DIR).join(format!("{wp_id}-review-feedback-{cycle}.md"));
        let content = format!("{}\n", feedback.trim_end());
        let root = &self.effects.project.root;
        if let Err(e) = crate::fsutil::ensure_within(root, &path)
            .and_then(|()| std::fs::create_dir_all(root.join(LOGS_DIR)))
            .and_then(|()| crate::fsutil::write_atomic(&path, content.as_bytes()))
        {
            self.notify(Progress::Warning(format!("cannot write {}: {e}", path.display())));
        }
        let relative = self.effects.project.display_path(&path).into_owned();
        let exec = self.exec_mut(wp_id);
        exec.review_feedback = Some(excerpt(feedback));
        exec.review_feedback_file = Some(relative);
        let note = format!("Automated: review rejected (rework {cycle})");
        let moved = self.effects.move_lane(LaneMove {
            wp_id,
            to: Lane::InProgress,
            actor: agent,
            note: &note,
            feedback: Some(Feedback { path: path.clone(), content }),
            reviewer: Some(agent),
            approval_ref: None,
        });
        match moved {
            Ok(warnings) => self.warn_all(warnings),
            Err(e) => return self.fail(wp_id, agent, &format!("cannot send the work back: {e}"), FailureKind::General),
        }
        let settings = self.settings.clone();
        let reason = first_line(feedback).to_owned();
        let decision = scheduler::after_rejection(self.exec_mut(wp_id), &settings);
        self.notify(Progress::Rejected {
            wp_id: wp_id.clone(),
            agent: agent.clone(),
            reason: reason.clone(),
            rework: cycle,
            max_reworks: settings.max_reworks,
        });
        if let scheduler::AfterRejection::GiveUp { .. } = decision {
            self.fail(wp_id, agent, &format!("{decision}; last feedback: {reason}"), FailureKind::General);
        }
    }

    /// A failed attempt: fall back, retry, or give up (per the scheduler's rules).
    fn failed_attempt(&mut self, finished: &Finished, result: &InvocationResult) {
        let Finished { wp_id, phase, agent, .. } = finished;
        let error = result.error().map_or_else(|| format!("exited with code {}", result.exit_code), str::to_owned);
        let kind = result.failure.unwrap_or(FailureKind::General);
        let settings = self.settings.clone();
        let exec = self.exec_mut(wp_id);
        exec.last_error = Some(excerpt(&error));
        let decision = scheduler::after_failure(exec, *phase, agent, kind, &error, &settings);
        let next = match &decision {
            AfterFailure::Fallback { agent } => NextStep::FallBackTo(agent.clone()),
            AfterFailure::Retry { agent } => NextStep::RetryWith(agent.clone()),
            AfterFailure::GiveUp { .. } => NextStep::GiveUp,
        };
        self.notify(Progress::PhaseFailed { wp_id: wp_id.clone(), phase: *phase, agent: agent.clone(), error, next });
        match decision {
            AfterFailure::GiveUp { reason } => self.fail(wp_id, agent, &reason, kind),
            retry_or_fallback => {
                if matches!(retry_or_fallback, AfterFailure::Retry { .. }) {
                    self.delayed.insert(wp_id.clone());
                }
                let exec = self.exec_mut(wp_id);
                exec.status = match phase {
                    Phase::Implementation => scheduler::waiting_status(exec),
                    Phase::Review => WpStatus::Review,
                };
            }
        }
    }

    /// The work package fails for good; everything that depends on it is blocked.
    fn fail(&mut self, wp_id: &str, agent: &str, reason: &str, kind: FailureKind) {
        let exec = self.exec_mut(wp_id);
        exec.status = WpStatus::Failed;
        exec.last_error = Some(excerpt(reason));
        self.notify(Progress::Failed { wp_id: wp_id.to_owned(), reason: reason.to_owned() });
        self.publish(&[SyncEvent::ErrorLogged {
            error_type: if kind == FailureKind::Auth { ErrorType::Auth } else { ErrorType::Runtime },
            error_message: reason.to_owned(),
            wp_id: Some(wp_id.to_owned()),
            stack_trace: None,
            agent_id: Some(agent.to_owned()),
        }]);
        for (blocked, by) in scheduler::block_dependents(&mut self.state, &self.plan.graph, wp_id) {
            self.notify(Progress::Blocked { wp_id: blocked, by });
        }
    }

    /// The work package is done: its waiting dependents each get a DependencyResolved.
    fn complete(&mut self, wp_id: &str) {
        let exec = self.exec_mut(wp_id);
        exec.status = WpStatus::Completed;
        exec.last_error = None;
        self.notify(Progress::Completed { wp_id: wp_id.to_owned() });
        let events: Vec<SyncEvent> = graph::dependents(&self.plan.graph, wp_id)
            .into_iter()
            .filter(|d| self.state.wp_status(d).is_some_and(|s| !s.satisfies_dependents()))
            .map(|dependent| SyncEvent::DependencyResolved {
                wp_id: dependent,
                dependency_wp_id: wp_id.to_owned(),
                resolution_type: ResolutionType::Completed,
            })
            .collect();
        self.publish(&events);
    }

    fn publish(&mut self, events: &[SyncEvent]) {
        let warnings = self.effects.publish(events);
        self.warn_all(warnings);
    }

    fn save(&mut self) {
        if let Err(e) = self.state.save(&self.effects.project.root) {
            self.notify(Progress::Warning(e.to_string()));
        }
    }

    fn notify(&mut self, event: Progress) {
        self.state.recount();
        let view = View { state: &self.state, running: &self.running };
        self.observer.progress(&event, &view);
    }

    fn warn_all(&mut self, warnings: Vec<String>) {
        for warning in warnings {
            self.notify(Progress::Warning(warning));
        }
    }

    /// The work package's record (created if a caller ever names one the state lacks, so no lookup panics).
    fn exec_mut(&mut self, wp_id: &str) -> &mut WpExecution {
        self.state.work_packages.entry(wp_id.to_owned()).or_insert_with(|| WpExecution::new(wp_id))
    }
}

fn role_of(phase: Phase) -> AgentRole {
    match phase {
        Phase::Implementation => AgentRole::Implementation,
        Phase::Review => AgentRole::Review,
    }
}

/// `.kittify/logs/<WP>-<phase>-<YYYYmmdd-HHMMSS>.log`, made unique with `-2`, `-3`, … and created at once
/// so concurrent invocations never share a file.
fn reserve_log(root: &Path, wp_id: &str, phase: Phase, ctx: &Context) -> std::io::Result<PathBuf> {
    let dir = root.join(LOGS_DIR);
    crate::fsutil::ensure_within(root, &dir)?;
    std::fs::create_dir_all(&dir)?;
    let stem = format!("{wp_id}-{}-{}", phase.as_str(), ctx.now().format("%Y%m%d-%H%M%S"));
    for n in 1u32.. {
        let name = if n == 1 { format!("{stem}.log") } else { format!("{stem}-{n}.log") };
        let path = dir.join(name);
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(_) => return Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("no free log file name"))
}

fn iso(ctx: &Context) -> String {
    Timestamp::from_utc(ctx.now()).isoformat()
}

/// `12.3s` from the run's start to now (upstream's `f"{secs:.1f}s"`).
fn total_duration(started_at: &str, ctx: &Context) -> String {
    let started = Timestamp::parse(started_at).map(|t| t.to_utc()).unwrap_or_else(|_| ctx.now());
    let seconds = (ctx.now() - started).num_milliseconds().max(0) as f64 / 1000.0;
    format!("{seconds:.1}s")
}

fn excerpt(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(EXCERPT) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

fn first_line(text: &str) -> &str {
    text.trim().lines().next().unwrap_or_default()
}

/// A command line for the log, words with spaces quoted.
fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|w| if w.is_empty() || w.contains([' ', '"', '\'']) { format!("{w:?}") } else { w.clone() })
        .collect::<Vec<_>>()
        .join(" ")
}

/// SIGINT and SIGTERM for the run's duration (the default actions would kill us mid-write and orphan
/// the agents).
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals { interrupt: signal(SignalKind::interrupt())?, terminate: signal(SignalKind::terminate())? })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => "SIGINT",
                _ = self.terminate.recv() => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_names_are_unique() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context::from_vars(None, |k| (k == "SPEC_KITTY_NOW").then(|| "2026-02-16T11:12:33Z".into())).unwrap();
        let first = reserve_log(dir.path(), "WP01", Phase::Review, &ctx).unwrap();
        let second = reserve_log(dir.path(), "WP01", Phase::Review, &ctx).unwrap();
        assert!(first.ends_with(".kittify/logs/WP01-review-20260216-111233.log"), "{}", first.display());
        assert!(second.ends_with(".kittify/logs/WP01-review-20260216-111233-2.log"), "{}", second.display());
    }

    #[test]
    fn small_formats() {
        assert_eq!(excerpt(&"x".repeat(600)).chars().count(), 501);
        assert_eq!(shell_words(&["sh".into(), "my agent.sh".into()]), "sh \"my agent.sh\"");
        let ctx =
            Context::from_vars(None, |k| (k == "SPEC_KITTY_NOW").then(|| "2026-02-16T11:12:45.5Z".into())).unwrap();
        assert_eq!(total_duration("2026-02-16T11:12:33+00:00", &ctx), "12.5s");
    }
}
