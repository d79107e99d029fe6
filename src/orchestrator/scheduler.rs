//! The scheduling rules, as pure functions over the run state: which work packages start next and with
//! which agent, what a failure or a rejected review leads to, and how failures block dependents, skips
//! release them and a resumed run picks up where it stopped. No I/O here; the engine applies the effects.

use super::settings::Settings;
use super::state::{RunState, WpExecution, WpStatus};
use super::verdict::FailureKind;
use crate::workflow::graph::{self, DependencyGraph};
use crate::workflow::lanes::Lane;
use std::collections::{BTreeMap, VecDeque};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    Implementation,
    Review,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Implementation => "implementation",
            Phase::Review => "review",
        }
    }
}

/// A work package to start now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub wp_id: String,
    pub phase: Phase,
    pub agent: String,
}

/// The work packages whose agent is running, and with which agent.
pub type Running = BTreeMap<String, String>;

/// What to start now: eligible work packages in topological order (a pending or rework one whose
/// dependencies are completed or skipped, or one waiting for review), as long as the global limit and
/// the chosen agent's own limit allow. A work package whose agent is busy waits without holding up
/// the ones behind it.
pub fn next_launches(
    state: &RunState,
    graph: &DependencyGraph,
    order: &[String],
    settings: &Settings,
    running: &Running,
) -> Vec<Launch> {
    let mut per_agent: BTreeMap<&str, usize> = BTreeMap::new();
    for agent in running.values() {
        *per_agent.entry(agent.as_str()).or_default() += 1;
    }
    let mut total = running.len();
    let mut launches = Vec::new();
    for wp_id in order {
        if total >= settings.max_concurrency {
            break;
        }
        let Some(exec) = state.wp(wp_id) else { continue };
        if running.contains_key(wp_id) || !dependencies_satisfied(state, graph, wp_id) {
            continue;
        }
        let phase = match exec.status {
            WpStatus::Pending | WpStatus::Rework | WpStatus::Implementation => Phase::Implementation,
            WpStatus::Review => Phase::Review,
            _ => continue,
        };
        let Some(agent) = next_agent(exec, phase, settings) else { continue };
        let limit = settings.agent(&agent).map_or(0, |a| a.max_concurrent);
        let busy = per_agent.get(agent.as_str()).copied().unwrap_or(0);
        if busy >= limit {
            continue;
        }
        if let Some(spec) = settings.agent(&agent) {
            *per_agent.entry(spec.id.as_str()).or_default() += 1;
        }
        total += 1;
        launches.push(Launch { wp_id: wp_id.clone(), phase, agent });
    }
    launches
}

pub fn dependencies_satisfied(state: &RunState, graph: &DependencyGraph, wp_id: &str) -> bool {
    graph.get(wp_id).into_iter().flatten().all(|dep| state.wp_status(dep).is_some_and(WpStatus::satisfies_dependents))
}

/// The agent for the work package's next attempt in `phase`: the one recorded for it (the agent that
/// implemented it, the reviewer that reviewed it, or the fallback chosen after a failure) while it is
/// usable and not given up on; else the first usable agent in the role's order not given up on.
pub fn next_agent(exec: &WpExecution, phase: Phase, settings: &Settings) -> Option<String> {
    let (order, recorded, tried) = match phase {
        Phase::Implementation => {
            (settings.implementation_order(), &exec.implementation_agent, &exec.fallback_agents_tried)
        }
        Phase::Review => (
            settings.review_order(exec.implementation_agent.as_deref()),
            &exec.review_agent,
            &exec.review_fallback_agents_tried,
        ),
    };
    let usable = |agent: &str| order.contains(&agent) && !tried.iter().any(|t| t == agent);
    if let Some(agent) = recorded.as_deref().filter(|a| usable(a)) {
        return Some(agent.to_owned());
    }
    order.iter().find(|a| usable(a)).or(order.first()).map(|a| (*a).to_owned())
}

/// `retry_count` of the WPAssigned event for an attempt: the retries plus the fallbacks tried so far.
pub fn retry_count(exec: &WpExecution, phase: Phase) -> u32 {
    let (retries, fallbacks) = match phase {
        Phase::Implementation => (exec.implementation_retries, exec.fallback_agents_tried.len()),
        Phase::Review => (exec.review_retries, exec.review_fallback_agents_tried.len()),
    };
    retries.saturating_add(u32::try_from(fallbacks).unwrap_or(u32::MAX))
}

/// What happens after a failed invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterFailure {
    /// Another agent takes over.
    Fallback { agent: String },
    /// The same agent tries again (after the retry delay).
    Retry { agent: String },
    /// The work package fails.
    GiveUp { reason: String },
}

/// Records a failed attempt of `agent` in `phase` and decides what follows. Authentication failures are
/// final at once; otherwise each role has `max_retries` extra attempts, spent on the agents not yet tried
/// (in the role's order) before the last one is retried.
pub fn after_failure(
    exec: &mut WpExecution,
    phase: Phase,
    agent: &str,
    kind: FailureKind,
    error: &str,
    settings: &Settings,
) -> AfterFailure {
    let failures = match phase {
        Phase::Implementation => &mut exec.implementation_failures,
        Phase::Review => &mut exec.review_failures,
    };
    *failures += 1;
    let failures = *failures;
    if kind == FailureKind::Auth {
        return AfterFailure::GiveUp {
            reason: format!("{} by {agent} failed to authenticate (not retried): {error}", phase.as_str()),
        };
    }
    if failures > settings.max_retries {
        let attempts = if failures == 1 { "1 attempt".to_owned() } else { format!("{failures} attempts") };
        return AfterFailure::GiveUp { reason: format!("{} failed after {attempts}: {error}", phase.as_str()) };
    }
    let order = match phase {
        Phase::Implementation => settings.implementation_order(),
        Phase::Review => settings.review_order(exec.implementation_agent.as_deref()),
    };
    let (recorded, tried, retries) = match phase {
        Phase::Implementation => {
            (&mut exec.implementation_agent, &mut exec.fallback_agents_tried, &mut exec.implementation_retries)
        }
        Phase::Review => (&mut exec.review_agent, &mut exec.review_fallback_agents_tried, &mut exec.review_retries),
    };
    match order.iter().find(|a| **a != agent && !tried.iter().any(|t| t == *a)) {
        Some(next) => {
            tried.push(agent.to_owned());
            *recorded = Some((*next).to_owned());
            AfterFailure::Fallback { agent: (*next).to_owned() }
        }
        None => {
            *retries += 1;
            *recorded = Some(agent.to_owned());
            AfterFailure::Retry { agent: agent.to_owned() }
        }
    }
}

/// What happens after a rejected review.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterRejection {
    /// The implementer reworks it with the feedback.
    Rework,
    /// The rework budget is spent: the work package fails.
    GiveUp { reworks: u32, max_reworks: u32 },
}

impl std::fmt::Display for AfterRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AfterRejection::Rework => f.write_str("rework"),
            AfterRejection::GiveUp { reworks, max_reworks } => {
                write!(f, "review rejected the work {reworks} times (orchestrator.max_reworks is {max_reworks})")
            }
        }
    }
}

/// Records a rejected review: rework with the feedback, unless the rework budget is spent.
pub fn after_rejection(exec: &mut WpExecution, settings: &Settings) -> AfterRejection {
    exec.rework_count += 1;
    exec.implementation_retries += 1;
    exec.review_retries += 1;
    if exec.rework_count > settings.max_reworks {
        return AfterRejection::GiveUp { reworks: exec.rework_count, max_reworks: settings.max_reworks };
    }
    exec.status = WpStatus::Rework;
    AfterRejection::Rework
}

/// The status an interrupted or retried work package returns to: rework keeps its feedback.
pub fn waiting_status(exec: &WpExecution) -> WpStatus {
    if exec.rework_count > 0 && exec.review_feedback.is_some() { WpStatus::Rework } else { WpStatus::Pending }
}

/// Marks every work package that (transitively) depends on `failed` and has not finished as blocked.
/// Returns `(blocked work package, the dependency that blocks it)` in the order they were reached.
pub fn block_dependents(state: &mut RunState, graph: &DependencyGraph, failed: &str) -> Vec<(String, String)> {
    let mut blocked = Vec::new();
    let mut queue = VecDeque::from([failed.to_owned()]);
    while let Some(current) = queue.pop_front() {
        for dependent in graph::dependents(graph, &current) {
            let Some(exec) = state.work_packages.get_mut(&dependent) else { continue };
            if exec.status.is_final() {
                continue;
            }
            exec.status = WpStatus::Blocked;
            exec.last_error = Some(format!("blocked by failed dependency {current}"));
            blocked.push((dependent.clone(), current.clone()));
            queue.push_back(dependent);
        }
    }
    blocked
}

/// After failures were cleared or skipped: blocked work packages wait again, then whatever still depends
/// on a failed one is blocked anew.
pub fn reopen_blocked(state: &mut RunState, graph: &DependencyGraph) {
    for exec in state.work_packages.values_mut().filter(|e| e.status == WpStatus::Blocked) {
        exec.status = waiting_status(exec);
        exec.last_error = None;
    }
    let failed: Vec<String> =
        state.work_packages.values().filter(|e| e.status == WpStatus::Failed).map(|e| e.wp_id.clone()).collect();
    for wp in failed {
        block_dependents(state, graph, &wp);
    }
}

/// The status a work package starts a run with, from its lane: done is completed, canceled is skipped,
/// for_review waits for review, anything else waits for implementation.
pub fn status_from_lane(lane: Lane) -> WpStatus {
    match lane {
        Lane::Done => WpStatus::Completed,
        Lane::Canceled => WpStatus::Skipped,
        Lane::ForReview => WpStatus::Review,
        _ => WpStatus::Pending,
    }
}

/// Prepares a paused, interrupted or failed run to continue. Lanes are the truth for what happened
/// outside the run (a WP moved to done by hand is completed); work packages caught mid-phase by an
/// interruption start that phase again; failed ones get a fresh failure budget.
pub fn prepare_resume(state: &mut RunState, graph: &DependencyGraph, lanes: &BTreeMap<String, Lane>) {
    for exec in state.work_packages.values_mut() {
        let lane = lanes.get(&exec.wp_id).copied();
        if exec.status == WpStatus::Skipped {
            continue;
        }
        if lane == Some(Lane::Done) {
            exec.status = WpStatus::Completed;
            continue;
        }
        match exec.status {
            WpStatus::Completed => continue,
            WpStatus::Failed => {
                exec.reset_failures();
                exec.last_error = None;
                exec.status = WpStatus::Pending;
            }
            WpStatus::Implementation | WpStatus::Review => {
                exec.restart_count += 1;
                exec.status = waiting_status(exec);
            }
            _ => {}
        }
        if matches!(exec.status, WpStatus::Pending | WpStatus::Rework | WpStatus::Review) {
            exec.status = match lane {
                Some(Lane::ForReview) => WpStatus::Review,
                _ if exec.status == WpStatus::Review => waiting_status(exec),
                _ => exec.status,
            };
        }
    }
    reopen_blocked(state, graph);
}

/// `--skip`: the work package is left out and its dependents may go ahead. Returns the direct dependents
/// that were waiting on it (each gets a DependencyResolved "skipped").
pub fn skip(state: &mut RunState, graph: &DependencyGraph, wp_id: &str) -> Result<Vec<String>, SkipError> {
    let exec = state.work_packages.get_mut(wp_id).ok_or_else(|| SkipError::NotInRun(wp_id.to_owned()))?;
    match exec.status {
        WpStatus::Completed => return Err(SkipError::Completed(wp_id.to_owned())),
        WpStatus::Skipped => return Ok(Vec::new()),
        _ => {}
    }
    exec.status = WpStatus::Skipped;
    exec.last_error = None;
    reopen_blocked(state, graph);
    Ok(graph::dependents(graph, wp_id)
        .into_iter()
        .filter(|d| state.wp_status(d).is_some_and(|s| !s.satisfies_dependents()))
        .collect())
}

/// Why a work package cannot be skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SkipError {
    #[error("{0} is not a work package of this run")]
    NotInRun(String),
    #[error("{0} is already completed")]
    Completed(String),
}

/// At the end of a run, anything that never became ready is blocked by the dependency it waited on.
pub fn block_leftovers(state: &mut RunState, graph: &DependencyGraph) -> Vec<(String, String)> {
    let leftovers: Vec<String> =
        state.work_packages.values().filter(|e| !e.status.is_final()).map(|e| e.wp_id.clone()).collect();
    let mut blocked = Vec::new();
    for wp in leftovers {
        let by = graph
            .get(&wp)
            .into_iter()
            .flatten()
            .find(|d| !state.wp_status(d).is_some_and(WpStatus::satisfies_dependents))
            .cloned()
            .unwrap_or_else(|| "an unfinished dependency".to_owned());
        if let Some(exec) = state.work_packages.get_mut(&wp) {
            exec.status = WpStatus::Blocked;
            exec.last_error = Some(format!("blocked by failed dependency {by}"));
        }
        blocked.push((wp, by));
    }
    blocked
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orchestrator::agents::AgentKind;
    use crate::orchestrator::settings::{AgentSpec, Settings};
    use crate::project::config::AgentRole;
    use std::time::Duration;

    fn agent(id: &str, max_concurrent: usize, roles: &[AgentRole]) -> AgentSpec {
        AgentSpec {
            id: id.into(),
            kind: AgentKind::of(id),
            command: None,
            timeout: Duration::from_secs(1),
            max_concurrent,
            roles: roles.to_vec(),
            model: None,
        }
    }

    fn settings(max_concurrency: usize) -> Settings {
        use AgentRole::*;
        Settings {
            agents: vec![
                agent("claude", 2, &[Implementation, Review]),
                agent("codex", 1, &[Implementation, Review]),
                agent("gemini", 5, &[Review]),
            ],
            implementer: "claude".into(),
            reviewer: "codex".into(),
            reviewer_forced: false,
            max_concurrency,
            max_retries: 2,
            max_reworks: 1,
            review: true,
            grace: Duration::ZERO,
            retry_delay: Duration::ZERO,
        }
    }

    fn graph(edges: &[(&str, &[&str])]) -> DependencyGraph {
        edges.iter().map(|(wp, deps)| (wp.to_string(), deps.iter().map(|d| d.to_string()).collect())).collect()
    }

    fn state(g: &DependencyGraph) -> RunState {
        let mut state = RunState::default();
        for wp in g.keys() {
            state.work_packages.insert(wp.clone(), WpExecution::new(wp));
        }
        state
    }

    fn set(state: &mut RunState, wp: &str, status: WpStatus) {
        state.work_packages.get_mut(wp).unwrap().status = status;
    }

    fn ids(launches: &[Launch]) -> Vec<String> {
        launches.iter().map(|l| format!("{}:{}:{}", l.wp_id, l.phase.as_str(), l.agent)).collect()
    }

    #[test]
    fn ready_work_starts_in_order_within_the_limits() {
        let g = graph(&[("WP01", &[]), ("WP02", &[]), ("WP03", &[]), ("WP04", &["WP01"])]);
        let order = crate::workflow::graph::topological_order(&g).unwrap();
        let mut s = state(&g);
        let launches = next_launches(&s, &g, &order, &settings(5), &Running::new());
        // claude may run two at once; the third ready WP waits for it rather than switching agents.
        assert_eq!(ids(&launches), ["WP01:implementation:claude", "WP02:implementation:claude"]);
        let launches = next_launches(&s, &g, &order, &settings(1), &Running::new());
        assert_eq!(ids(&launches), ["WP01:implementation:claude"]);
        set(&mut s, "WP01", WpStatus::Review);
        let running = Running::from([("WP02".to_owned(), "claude".to_owned())]);
        let launches = next_launches(&s, &g, &order, &settings(5), &running);
        assert_eq!(ids(&launches), ["WP01:review:codex", "WP03:implementation:claude"]);
        set(&mut s, "WP01", WpStatus::Completed);
        let launches = next_launches(&s, &g, &order, &settings(5), &Running::new());
        assert_eq!(ids(&launches), ["WP02:implementation:claude", "WP03:implementation:claude"]);
        set(&mut s, "WP02", WpStatus::Completed);
        set(&mut s, "WP03", WpStatus::Failed);
        let launches = next_launches(&s, &g, &order, &settings(5), &Running::new());
        assert_eq!(ids(&launches), ["WP04:implementation:claude"], "WP04 needs only WP01");
    }

    #[test]
    fn failures_fall_back_then_retry_then_give_up() {
        let s = settings(5);
        let mut exec = WpExecution::new("WP01");
        exec.implementation_agent = Some("claude".into());
        let kind = FailureKind::General;
        assert_eq!(
            after_failure(&mut exec, Phase::Implementation, "claude", kind, "boom", &s),
            AfterFailure::Fallback { agent: "codex".into() }
        );
        assert_eq!(next_agent(&exec, Phase::Implementation, &s).as_deref(), Some("codex"));
        assert_eq!(retry_count(&exec, Phase::Implementation), 1);
        assert_eq!(
            after_failure(&mut exec, Phase::Implementation, "codex", kind, "boom", &s),
            AfterFailure::Retry { agent: "codex".into() }
        );
        assert_eq!(retry_count(&exec, Phase::Implementation), 2);
        assert_eq!(
            after_failure(&mut exec, Phase::Implementation, "codex", kind, "boom", &s),
            AfterFailure::GiveUp { reason: "implementation failed after 3 attempts: boom".into() }
        );
        assert_eq!(exec.fallback_agents_tried, ["claude"]);
    }

    #[test]
    fn auth_failures_are_final_at_once() {
        let mut exec = WpExecution::new("WP01");
        let decision =
            after_failure(&mut exec, Phase::Review, "codex", FailureKind::Auth, "401 Unauthorized", &settings(5));
        assert_eq!(
            decision,
            AfterFailure::GiveUp {
                reason: "review by codex failed to authenticate (not retried): 401 Unauthorized".into()
            }
        );
    }

    #[test]
    fn reviewers_avoid_their_own_work_and_fall_back() {
        let s = settings(5);
        let mut exec = WpExecution::new("WP01");
        exec.implementation_agent = Some("codex".into());
        assert_eq!(next_agent(&exec, Phase::Review, &s).as_deref(), Some("claude"), "codex implemented it");
        exec.review_agent = Some("claude".into());
        let decision = after_failure(&mut exec, Phase::Review, "claude", FailureKind::Timeout, "timed out", &s);
        assert_eq!(decision, AfterFailure::Fallback { agent: "gemini".into() });
        assert_eq!(retry_count(&exec, Phase::Review), 1);
    }

    #[test]
    fn rejections_rework_until_the_budget_is_spent() {
        let s = settings(5);
        let mut exec = WpExecution::new("WP01");
        assert_eq!(after_rejection(&mut exec, &s), AfterRejection::Rework);
        assert_eq!((exec.status, exec.implementation_retries, exec.review_retries), (WpStatus::Rework, 1, 1));
        let decision = after_rejection(&mut exec, &s);
        assert_eq!(decision, AfterRejection::GiveUp { reworks: 2, max_reworks: 1 });
        assert!(decision.to_string().starts_with("review rejected the work 2 times"));
    }

    #[test]
    fn failures_block_transitive_dependents_and_skips_release_them() {
        let g = graph(&[
            ("WP01", &[]),
            ("WP02", &["WP01"]),
            ("WP03", &["WP02"]),
            ("WP04", &[]),
            ("WP05", &["WP01", "WP04"]),
        ]);
        let mut s = state(&g);
        set(&mut s, "WP01", WpStatus::Failed);
        let blocked = block_dependents(&mut s, &g, "WP01");
        let pairs: Vec<String> = blocked.iter().map(|(w, by)| format!("{w}<{by}")).collect();
        assert_eq!(pairs, ["WP02<WP01", "WP05<WP01", "WP03<WP02"]);
        assert_eq!(s.wp("WP03").unwrap().last_error.as_deref(), Some("blocked by failed dependency WP02"));
        assert_eq!(s.wp_status("WP04"), Some(WpStatus::Pending));
        let released = skip(&mut s, &g, "WP01").unwrap();
        assert_eq!(released, ["WP02", "WP05"]);
        assert!(["WP02", "WP03", "WP05"].iter().all(|w| s.wp_status(w) == Some(WpStatus::Pending)));
        set(&mut s, "WP04", WpStatus::Completed);
        assert_eq!(skip(&mut s, &g, "WP04").unwrap_err(), SkipError::Completed("WP04".into()));
        assert!(skip(&mut s, &g, "WP09").is_err());
    }

    #[test]
    fn resume_restarts_interrupted_phases_and_gives_failures_a_new_budget() {
        let g = graph(&[("WP01", &[]), ("WP02", &["WP01"]), ("WP03", &[]), ("WP04", &[]), ("WP05", &[])]);
        let mut s = state(&g);
        set(&mut s, "WP01", WpStatus::Failed);
        s.work_packages.get_mut("WP01").unwrap().implementation_failures = 4;
        block_dependents(&mut s, &g, "WP01");
        set(&mut s, "WP03", WpStatus::Implementation);
        set(&mut s, "WP04", WpStatus::Pending);
        set(&mut s, "WP05", WpStatus::Review);
        let lanes = BTreeMap::from([
            ("WP01".to_owned(), Lane::InProgress),
            ("WP02".to_owned(), Lane::Planned),
            ("WP03".to_owned(), Lane::InProgress),
            ("WP04".to_owned(), Lane::ForReview),
            ("WP05".to_owned(), Lane::Done),
        ]);
        prepare_resume(&mut s, &g, &lanes);
        let statuses: Vec<&str> = s.work_packages.values().map(|e| e.status.as_str()).collect();
        assert_eq!(statuses, ["pending", "pending", "pending", "review", "completed"]);
        assert_eq!(s.wp("WP01").unwrap().implementation_failures, 0);
        assert_eq!(s.wp("WP03").unwrap().restart_count, 1);
    }

    #[test]
    fn leftovers_are_blocked_by_what_they_waited_on() {
        let g = graph(&[("WP01", &[]), ("WP02", &["WP01"])]);
        let mut s = state(&g);
        set(&mut s, "WP01", WpStatus::Failed);
        assert_eq!(block_leftovers(&mut s, &g), [("WP02".to_owned(), "WP01".to_owned())]);
        assert_eq!(status_from_lane(Lane::Canceled), WpStatus::Skipped);
        assert_eq!(status_from_lane(Lane::Claimed), WpStatus::Pending);
    }
}
