//! `spec-kitty next`: the deterministic next step of a feature's mission, for agents that call it in a loop.
//!
//! The model is upstream's (spec-kitty `next` at 592dca5eb over spec-kitty-runtime 0.2): a feature has one
//! mission *run* (see [`run`]) that plans over the mission's steps (see [`mission`]) — discovery → specify →
//! plan → tasks_outline → tasks_packages → tasks_finalize → implement → review → accept for software-dev.
//! Each call first settles the step issued last time with the reported result, then issues the next step:
//!
//! - `success` (the default) completes the issued step when its guard passes — the artefact it produces
//!   exists (spec.md, plan.md, tasks.md, a WP file, a `dependencies:` line in every WP file); when it does
//!   not, the same step comes back with `guard_failures`;
//! - the implement and review steps iterate over work packages: each call names the work package to work
//!   on (dependencies first) until every one is for_review (implement) or done (review);
//! - `failed` / `blocked` settle the step without completing it and block the run; plain calls then keep
//!   answering `blocked` (as upstream), and an explicit `--result success` retries the step;
//! - a step's `requires_inputs` without a value asks a `decision_required`, answered with `--answer`;
//! - once every step is complete the answer is `terminal`.
//!
//! Differences from upstream, on purpose: work-package selection respects dependencies and sends
//! rejected work packages back to implementation during review; an implement or review step with nothing
//! left completes at once instead of answering `blocked` first; a blocked run can be retried; the prompt
//! files live in the run directory; the provisional `mission-events.jsonl` log is not written.

pub mod mission;
pub mod packages;
pub mod prompt;
pub mod run;

use crate::events::Timestamp;
use chrono::{DateTime, SecondsFormat, Utc};
use mission::{MissionTemplate, Step};
use packages::{Package, Selection};
use prompt::PromptContext;
use run::{Run, RunError, actor};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// The outcome an agent reports for the step it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepResult {
    Success,
    Failed,
    Blocked,
}

impl StepResult {
    pub fn as_str(self) -> &'static str {
        match self {
            StepResult::Success => "success",
            StepResult::Failed => "failed",
            StepResult::Blocked => "blocked",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    pub agent: &'a str,
    /// `None`: not given (counts as success, but does not retry a blocked run).
    pub result: Option<StepResult>,
    pub answer: Option<&'a str>,
    pub decision_id: Option<&'a str>,
    /// The longest wait for another `next` of this project (`SPEC_KITTY_LOCK_TIMEOUT_MS`).
    pub lock_timeout: std::time::Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Step,
    DecisionRequired,
    Blocked,
    Terminal,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Step => "step",
            Kind::DecisionRequired => "decision_required",
            Kind::Blocked => "blocked",
            Kind::Terminal => "terminal",
        }
    }
}

/// Upstream's decision object; every field is always present in its JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub kind: Kind,
    pub agent: String,
    pub feature_slug: String,
    pub mission: String,
    pub mission_state: String,
    pub timestamp: String,
    pub action: Option<String>,
    pub wp_id: Option<String>,
    pub workspace_path: Option<String>,
    pub prompt_file: Option<String>,
    pub reason: Option<String>,
    pub guard_failures: Vec<String>,
    pub progress: Option<Value>,
    pub origin: Value,
    pub run_id: Option<String>,
    pub step_id: Option<String>,
    pub decision_id: Option<String>,
    pub input_key: Option<String>,
    pub question: Option<String>,
    pub options: Option<Vec<String>>,
}

impl Decision {
    /// The JSON object, keys in upstream's order.
    pub fn to_json(&self) -> Value {
        json!({
            "kind": self.kind.as_str(),
            "agent": self.agent,
            "feature_slug": self.feature_slug,
            "mission": self.mission,
            "mission_state": self.mission_state,
            "timestamp": self.timestamp,
            "action": self.action,
            "wp_id": self.wp_id,
            "workspace_path": self.workspace_path,
            "prompt_file": self.prompt_file,
            "reason": self.reason,
            "guard_failures": self.guard_failures,
            "progress": self.progress,
            "origin": self.origin,
            "run_id": self.run_id,
            "step_id": self.step_id,
            "decision_id": self.decision_id,
            "input_key": self.input_key,
            "question": self.question,
            "options": self.options,
        })
    }
}

/// A decision, and the pending decision this call answered (`(decision_id, answer)`).
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub decision: Decision,
    pub answered: Option<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum NextError {
    #[error("No pending decisions to answer")]
    NoPendingDecision,
    #[error("Multiple pending decisions ({0}). Use --decision-id to specify which one.")]
    AmbiguousDecision(String),
    #[error("Decision '{decision_id}' not found in pending_decisions for run '{run_id}'")]
    UnknownDecision { decision_id: String, run_id: String },
    #[error(transparent)]
    Run(#[from] RunError),
}

/// What planning over the mission's steps yields (spec-kitty-runtime's `NextDecision` kinds).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Planned {
    Step(String),
    DecisionRequired {
        step_id: String,
        decision_id: String,
        input_key: Option<String>,
        question: String,
        options: Vec<String>,
        reason: String,
    },
    Blocked(String),
    Terminal(String),
}

/// Decides the next step of the feature in `feature_dir` for `request.agent`, recording it in the
/// feature's run. `new_run_id` names the run when none exists yet.
pub fn decide(
    project_root: &Path,
    feature_slug: &str,
    feature_dir: &Path,
    request: &Request<'_>,
    now: DateTime<Utc>,
    new_run_id: impl FnOnce() -> String,
) -> Result<Outcome, NextError> {
    let timestamp = Timestamp::from_utc(now).isoformat();
    let mission_key = crate::project::meta::FeatureMeta::load(feature_dir)
        .ok()
        .flatten()
        .and_then(|meta| meta.str("mission").filter(|m| !m.is_empty()).map(str::to_owned))
        .unwrap_or_else(|| mission::BUILTIN_KEY.to_owned());
    let packages = packages::load(feature_dir);
    let resolved = mission::resolve(project_root, &mission_key);
    let origin = match &resolved {
        Ok(r) => json!({
            "mission_tier": r.tier.as_str(),
            "mission_path": r.path.as_ref().and_then(|p| p.parent()).map_or("built-in".to_owned(), |p| p.display().to_string()),
        }),
        Err(_) => json!({"mission_tier": "unknown", "mission_path": "unknown"}),
    };
    let mut base = Decision {
        kind: Kind::Blocked,
        agent: request.agent.to_owned(),
        feature_slug: feature_slug.to_owned(),
        mission: mission_key.clone(),
        mission_state: "unknown".to_owned(),
        timestamp: timestamp.clone(),
        action: None,
        wp_id: None,
        workspace_path: None,
        prompt_file: None,
        reason: None,
        guard_failures: Vec::new(),
        progress: packages::progress(&packages),
        origin,
        run_id: None,
        step_id: None,
        decision_id: None,
        input_key: None,
        question: None,
        options: None,
    };

    let _lock = run::lock(project_root, request.lock_timeout)?;
    let mut run = match run::load_or_start(project_root, feature_slug, || resolved, new_run_id, &timestamp) {
        Ok(run) => run,
        Err(e) => {
            base.reason = Some(format!("Failed to start/load runtime run: {e}"));
            return Ok(Outcome { decision: base, answered: None });
        }
    };
    base.run_id = Some(run.id().to_owned());
    let answered = match request.answer {
        Some(answer) => Some(answer_decision(&mut run, request.decision_id, answer, request.agent, now, &timestamp)?),
        None => None,
    };
    let mut bridge = Bridge {
        project_root,
        feature_slug,
        feature_dir,
        mission: &mission_key,
        agent: request.agent,
        timestamp: &timestamp,
        packages: &packages,
        base,
    };
    // Nothing is saved when the decision cannot be delivered: the agent would never see the step issued.
    let decision = bridge.decide(&mut run, request.result)?;
    run.save()?;
    Ok(Outcome { decision, answered })
}

/// Answers a pending decision (the only one when `decision_id` is not given).
fn answer_decision(
    run: &mut Run,
    decision_id: Option<&str>,
    answer: &str,
    agent: &str,
    now: DateTime<Utc>,
    timestamp: &str,
) -> Result<(String, String), NextError> {
    let pending = &run.state.pending_decisions;
    let id = match decision_id {
        Some(id) => id.to_owned(),
        None => match pending.len() {
            0 => return Err(NextError::NoPendingDecision),
            1 => pending.keys().next().cloned().unwrap_or_default(),
            _ => {
                let ids: Vec<&str> = pending.keys().map(String::as_str).collect();
                return Err(NextError::AmbiguousDecision(ids.join(", ")));
            }
        },
    };
    if run.state.pending_decisions.remove(&id).is_none() {
        return Err(NextError::UnknownDecision { decision_id: id, run_id: run.id().to_owned() });
    }
    run.state.decisions.insert(
        id.clone(),
        json!({
            "decision_id": id,
            "answer": answer,
            "answered_by": actor(agent, "llm"),
            "answered_at": now.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        }),
    );
    if let Some(input_key) = id.strip_prefix("input:") {
        run.state.inputs.insert(input_key.to_owned(), json!(answer));
    }
    let payload = json!({"run_id": run.id(), "decision_id": id, "answer": answer, "actor": actor(agent, "llm")});
    run.event("DecisionInputAnswered", payload, timestamp);
    Ok((id, answer.to_owned()))
}

/// The CLI bridge's part: guards, work-package iteration and the mapping to a [`Decision`].
struct Bridge<'a> {
    project_root: &'a Path,
    feature_slug: &'a str,
    feature_dir: &'a Path,
    mission: &'a str,
    agent: &'a str,
    timestamp: &'a str,
    packages: &'a [Package],
    base: Decision,
}

impl Bridge<'_> {
    fn decide(&mut self, run: &mut Run, result: Option<StepResult>) -> Result<Decision, NextError> {
        // An explicit success after a failure retries the step that failed.
        if result == Some(StepResult::Success)
            && run.state.issued_step_id.is_none()
            && run.state.blocked_reason.is_some()
        {
            run.state.blocked_reason = None;
            run.touch();
        }
        let result = result.unwrap_or(StepResult::Success);
        if result == StepResult::Success
            && let Some(step_id) = run.state.issued_step_id.clone()
        {
            if packages::is_wp_step(&step_id) {
                if !packages::step_finished(&step_id, self.packages) {
                    return self.package_decision(run, &step_id);
                }
            } else {
                let failures = packages::guard_failures(&step_id, self.feature_dir, self.packages);
                if !failures.is_empty() {
                    return self.step_decision(run, &step_id, failures);
                }
            }
        }
        let mut planned = advance(run, self.agent, result, self.timestamp);
        // A work-package step with nothing left to do completes at once.
        while let Planned::Step(step_id) = &planned
            && packages::is_wp_step(step_id)
            && packages::step_finished(step_id, self.packages)
        {
            planned = advance(run, self.agent, StepResult::Success, self.timestamp);
        }
        match planned {
            Planned::Step(step_id) if packages::is_wp_step(&step_id) => self.package_decision(run, &step_id),
            Planned::Step(step_id) => self.step_decision(run, &step_id, Vec::new()),
            Planned::Terminal(reason) => Ok(Decision {
                kind: Kind::Terminal,
                mission_state: "done".to_owned(),
                reason: Some(reason),
                ..self.base.clone()
            }),
            Planned::Blocked(reason) => {
                let retry = eligible_step(&run.template, &run.state.completed_steps, None).map(|s| s.id.clone());
                Ok(Decision {
                    kind: Kind::Blocked,
                    mission_state: retry.clone().unwrap_or_else(|| "unknown".to_owned()),
                    step_id: retry,
                    reason: Some(reason),
                    ..self.base.clone()
                })
            }
            Planned::DecisionRequired { step_id, decision_id, input_key, question, options, reason } => {
                let text = prompt::decision_prompt(&self.prompt_context(), &decision_id, &question, &options);
                let prompt_file = self.write_prompt(run, "decision", None, &text)?;
                Ok(Decision {
                    kind: Kind::DecisionRequired,
                    mission_state: step_id.clone(),
                    step_id: Some(step_id),
                    reason: Some(reason),
                    prompt_file: Some(prompt_file),
                    decision_id: Some(decision_id),
                    input_key,
                    question: Some(question),
                    options: (!options.is_empty()).then_some(options),
                    ..self.base.clone()
                })
            }
        }
    }

    fn prompt_context(&self) -> PromptContext<'_> {
        PromptContext {
            project_root: self.project_root,
            feature_slug: self.feature_slug,
            feature_dir: self.feature_dir,
            mission: self.mission,
            agent: self.agent,
        }
    }

    /// A planning step (with the guards that keep it open, if any).
    fn step_decision(&self, run: &Run, step_id: &str, guard_failures: Vec<String>) -> Result<Decision, NextError> {
        let step = run.template.step(step_id).cloned().unwrap_or_else(|| Step {
            id: step_id.to_owned(),
            title: step_id.to_owned(),
            description: String::new(),
            prompt: None,
            prompt_template: None,
            expected_output: None,
            requires_inputs: Vec::new(),
            depends_on: Vec::new(),
        });
        let action = action_of(step_id);
        let text = prompt::step_prompt(&self.prompt_context(), &step, action, &guard_failures);
        let prompt_file = self.write_prompt(run, action, None, &text)?;
        Ok(Decision {
            kind: Kind::Step,
            mission_state: step_id.to_owned(),
            step_id: Some(step_id.to_owned()),
            action: Some(action.to_owned()),
            prompt_file: Some(prompt_file),
            guard_failures,
            ..self.base.clone()
        })
    }

    /// The work package to implement or review in `step_id`, or why none can move.
    fn package_decision(&self, run: &Run, step_id: &str) -> Result<Decision, NextError> {
        let state =
            Decision { mission_state: step_id.to_owned(), step_id: Some(step_id.to_owned()), ..self.base.clone() };
        match packages::select(step_id, self.packages) {
            Selection::Work { action, wp } => {
                let package = &self.packages[wp];
                let workspace = self
                    .project_root
                    .join(crate::workflow::workspace::WORKTREES_DIR)
                    .join(crate::workflow::workspace::workspace_name(self.feature_slug, &package.id));
                let text = prompt::package_prompt(&self.prompt_context(), step_id, action, package, &workspace);
                let prompt_file = self.write_prompt(run, action, Some(&package.id), &text)?;
                Ok(Decision {
                    kind: Kind::Step,
                    action: Some(action.to_owned()),
                    wp_id: Some(package.id.clone()),
                    workspace_path: Some(workspace.display().to_string()),
                    prompt_file: Some(prompt_file),
                    ..state
                })
            }
            Selection::Stuck(reason) => Ok(Decision { kind: Kind::Blocked, reason: Some(reason), ..state }),
        }
    }

    /// Writes a prompt to `<run>/prompts/<agent>-<action>[-<WP>].md` and returns its path.
    fn write_prompt(&self, run: &Run, action: &str, wp_id: Option<&str>, text: &str) -> Result<String, NextError> {
        let dir = run.dir.join("prompts");
        let io = |source| RunError::Io { action: "write", path: dir.clone(), source };
        std::fs::create_dir_all(&dir).map_err(io)?;
        let suffix = wp_id.map(|wp| format!("-{wp}")).unwrap_or_default();
        let path: PathBuf = dir.join(format!("{}-{action}{suffix}.md", prompt::file_safe(self.agent)));
        crate::fsutil::write_atomic(&path, text.as_bytes()).map_err(|source| RunError::Io {
            action: "write",
            path: path.clone(),
            source,
        })?;
        Ok(path.display().to_string())
    }
}

/// The command a step runs (upstream's aliases for step ids that are not command names).
pub fn action_of(step_id: &str) -> &str {
    match step_id {
        "discovery" => "research",
        "tasks_outline" => "tasks-outline",
        "tasks_packages" => "tasks-packages",
        "tasks_finalize" => "tasks-finalize",
        "scoping" | "goals" => "specify",
        "methodology" | "structure" | "draft" => "plan",
        "gathering" => "implement",
        "synthesis" => "review",
        "output" => "accept",
        other => other,
    }
}

/// The first step, in template order, that is not complete (nor `issued`) and whose dependencies are.
fn eligible_step<'t>(template: &'t MissionTemplate, completed: &[String], issued: Option<&str>) -> Option<&'t Step> {
    template.steps.iter().find(|step| {
        !completed.contains(&step.id)
            && issued != Some(step.id.as_str())
            && step.depends_on.iter().all(|d| completed.contains(d))
    })
}

/// spec-kitty-runtime's `next_step`: settles the issued step with `result`, plans, and records the events.
fn advance(run: &mut Run, agent: &str, result: StepResult, timestamp: &str) -> Planned {
    let completed_one = run.state.issued_step_id.is_some();
    if let Some(step_id) = run.state.issued_step_id.take() {
        match result {
            StepResult::Success => {
                if !run.state.completed_steps.contains(&step_id) {
                    run.state.completed_steps.push(step_id.clone());
                }
            }
            StepResult::Failed => {
                run.state.blocked_reason =
                    Some(format!("Previous step '{step_id}' failed; manual intervention required."));
            }
            StepResult::Blocked => {
                run.state.blocked_reason = Some(format!("Previous step '{step_id}' reported blocked state."));
            }
        }
        let payload = json!({
            "run_id": run.id(), "step_id": step_id, "agent_id": agent, "result": result.as_str(), "actor": actor(agent, "llm"),
        });
        run.event("NextStepAutoCompleted", payload, timestamp);
    }
    let planned = plan(run);
    match &planned {
        Planned::Step(step_id) => {
            run.state.issued_step_id = Some(step_id.clone());
            let payload =
                json!({"run_id": run.id(), "step_id": step_id, "agent_id": agent, "actor": actor(agent, "llm")});
            run.event("NextStepIssued", payload, timestamp);
        }
        Planned::DecisionRequired { step_id, decision_id, input_key, question, options, .. }
            if !run.state.pending_decisions.contains_key(decision_id) =>
        {
            let request = json!({
                "decision_id": decision_id,
                "step_id": step_id,
                "question": question,
                "options": options,
                "requested_by": actor(agent, "llm"),
                "requested_at": timestamp_z(timestamp),
            });
            run.state.pending_decisions.insert(decision_id.clone(), request);
            let payload = json!({
                "run_id": run.id(), "decision_id": decision_id, "step_id": step_id, "question": question,
                "options": options, "input_key": input_key, "actor": actor(agent, "llm"),
            });
            run.event("DecisionInputRequested", payload, timestamp);
        }
        Planned::Terminal(_) if completed_one => {
            let payload =
                json!({"run_id": run.id(), "mission_key": run.state.mission_key, "actor": actor(agent, "llm")});
            run.event("MissionRunCompleted", payload, timestamp);
        }
        _ => {}
    }
    run.touch();
    planned
}

/// `2026-02-16T11:12:33+00:00` → `2026-02-16T11:12:33Z` (how pydantic writes the datetimes of the state).
fn timestamp_z(isoformat: &str) -> String {
    isoformat.strip_suffix("+00:00").map_or_else(|| isoformat.to_owned(), |t| format!("{t}Z"))
}

/// spec-kitty-runtime's planner: a block first, then template drift, pending decisions, the next step in
/// dependency order, its missing inputs; terminal when every step is complete.
fn plan(run: &Run) -> Planned {
    if let Some(reason) = &run.state.blocked_reason {
        return Planned::Blocked(reason.clone());
    }
    if let Some(reason) = run.drift() {
        return Planned::Blocked(reason);
    }
    // The first pending decision by id, as upstream sorts them.
    if let Some((decision_id, request)) = run.state.pending_decisions.iter().min_by(|a, b| a.0.cmp(b.0)) {
        let field = |key: &str| request.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
        let options: Vec<String> = request
            .get("options")
            .and_then(Value::as_array)
            .map(|items| items.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default();
        return Planned::DecisionRequired {
            step_id: field("step_id"),
            decision_id: decision_id.clone(),
            input_key: decision_id.strip_prefix("input:").map(str::to_owned),
            question: field("question"),
            options,
            reason: "pending_decision".to_owned(),
        };
    }
    let completed = &run.state.completed_steps;
    let issued = run.state.issued_step_id.as_deref();
    let Some(step) = eligible_step(&run.template, completed, issued) else {
        let remaining = run.template.steps.iter().any(|s| !completed.contains(&s.id) && issued != Some(s.id.as_str()));
        return if remaining {
            Planned::Blocked("No eligible steps: remaining steps have unmet dependencies.".to_owned())
        } else {
            Planned::Terminal("All mission steps completed".to_owned())
        };
    };
    let answered = |key: &String| run.state.inputs.contains_key(key) || run.state.decisions.contains_key(key);
    if let Some(missing) = step.requires_inputs.iter().find(|key| !answered(key)) {
        return Planned::DecisionRequired {
            step_id: step.id.clone(),
            decision_id: format!("input:{missing}"),
            input_key: Some(missing.clone()),
            question: format!("Input required before step '{}': provide value for '{missing}'.", step.id),
            options: Vec::new(),
            reason: "missing_required_input".to_owned(),
        };
    }
    Planned::Step(step.id.clone())
}
