//! A feature's mission run on disk, in upstream's layout (spec-kitty-runtime 0.2):
//!
//! ```text
//! .kittify/runtime/feature-runs.json            {feature_slug: {run_id, run_dir, mission_key}}
//! .kittify/runtime/runs/<run_id>/state.json     the run snapshot (steps completed, step issued, inputs, …)
//! .kittify/runtime/runs/<run_id>/run.events.jsonl             MissionRunStarted, NextStepIssued, …
//! .kittify/runtime/runs/<run_id>/mission_template_frozen.yaml the template the run plans from
//! .kittify/runtime/runs/<run_id>/prompts/       the prompt files of its decisions (ours)
//! ```
//!
//! JSON files are written the way upstream's Python writes them (sorted keys, two-space indent, no final
//! newline) and replaced atomically; keys we do not know are kept. `next` holds `.kittify/runtime/next.lock`
//! while it reads and writes, so two agents calling it at once cannot lose each other's update.

use super::mission::{self, MissionTemplate, Resolved};
use crate::events::pyjson;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const RUNTIME_DIR: &str = ".kittify/runtime";
pub const INDEX_FILE: &str = "feature-runs.json";
pub const STATE_FILE: &str = "state.json";
pub const EVENTS_FILE: &str = "run.events.jsonl";
pub const FROZEN_TEMPLATE_FILE: &str = "mission_template_frozen.yaml";
const LOCK_FILE: &str = "next.lock";

/// Python's `json.dump(…, indent=2, sort_keys=True)`.
const STATE_STYLE: pyjson::Style = pyjson::Style { sort_keys: true, ensure_ascii: true, indent: Some(2) };

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot {action} {}: {source}", path.display())]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
    /// Another `spec-kitty next` held the runtime lock for longer than we wait (the message names the
    /// lock file and, when known, its holder).
    #[error("{0}; another `spec-kitty next` is running, try again")]
    LockTimeout(std::io::Error),
    #[error("{} is not a valid run state ({message}); remove the feature's entry from {INDEX_FILE} to start a new run", path.display())]
    CorruptState { path: PathBuf, message: String },
    #[error("the run's frozen template {} cannot be used: {message}", path.display())]
    FrozenTemplate { path: PathBuf, message: String },
    #[error(transparent)]
    Mission(#[from] mission::MissionError),
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> RunError + use<> {
    let path = path.to_owned();
    move |source| RunError::Io { action, path, source }
}

/// Upstream's `MissionRunSnapshot`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    pub run_id: String,
    pub mission_key: String,
    pub template_path: String,
    pub template_hash: String,
    #[serde(default = "default_policy")]
    pub policy_snapshot: Value,
    #[serde(default)]
    pub completed_steps: Vec<String>,
    #[serde(default)]
    pub issued_step_id: Option<String>,
    #[serde(default)]
    pub inputs: Map<String, Value>,
    #[serde(default)]
    pub decisions: Map<String, Value>,
    #[serde(default)]
    pub pending_decisions: Map<String, Value>,
    #[serde(default)]
    pub blocked_reason: Option<String>,
    /// Keys a newer runtime wrote; kept as they are.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn default_policy() -> Value {
    json!({"default_route": "same_llm_context", "extras": {}, "strictness": "medium"})
}

/// The runtime lock, held until dropped.
#[derive(Debug)]
pub struct RuntimeLock {
    _file: std::fs::File,
}

/// Takes `.kittify/runtime/next.lock`, waiting at most `timeout` for another `next`.
pub fn lock(project_root: &Path, timeout: Duration) -> Result<RuntimeLock, RunError> {
    let dir = project_root.join(RUNTIME_DIR);
    std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io("open", &path))?;
    match crate::fsutil::lock_exclusive(&file, &path, timeout) {
        Ok(()) => Ok(RuntimeLock { _file: file }),
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Err(RunError::LockTimeout(e)),
        Err(e) => Err(io("lock", &path)(e)),
    }
}

/// A loaded (or new) run, with the events to append when it is saved.
#[derive(Debug)]
pub struct Run {
    pub dir: PathBuf,
    pub state: RunState,
    pub template: MissionTemplate,
    pub created: bool,
    events: Vec<String>,
    dirty: bool,
}

/// A run-event actor (`RuntimeActorIdentity` dumped by pydantic).
pub fn actor(actor_id: &str, actor_type: &str) -> Value {
    json!({"actor_id": actor_id, "actor_type": actor_type, "display_name": "", "model": null, "provider": null, "tool": null})
}

impl Run {
    pub fn id(&self) -> &str {
        &self.state.run_id
    }

    /// Marks the state changed (it is written on [`Run::save`]).
    pub fn touch(&mut self) {
        self.dirty = true;
    }

    /// Queues an event line `{"event_type", "payload", "timestamp"}` for `run.events.jsonl`.
    pub fn event(&mut self, event_type: &str, payload: Value, timestamp: &str) {
        let line = json!({"event_type": event_type, "payload": payload, "timestamp": timestamp});
        self.events.push(pyjson::to_string(&line, pyjson::LOG_LINE));
        self.dirty = true;
    }

    /// Writes the state (when it changed) and appends the queued events.
    pub fn save(&mut self) -> Result<(), RunError> {
        if self.dirty {
            let path = self.dir.join(STATE_FILE);
            let value = serde_json::to_value(&self.state).unwrap_or(Value::Null);
            crate::fsutil::write_atomic(&path, pyjson::to_string(&value, STATE_STYLE).as_bytes())
                .map_err(io("write", &path))?;
            self.dirty = false;
        }
        if !self.events.is_empty() {
            let path = self.dir.join(EVENTS_FILE);
            // The runtime lock is held, so nothing else waits on this log's own lock.
            let mut log = crate::store::LockedLog::open(&path, Duration::ZERO).map_err(io("open", &path))?;
            for line in self.events.drain(..) {
                log.append_line(&line).map_err(io("append to", &path))?;
            }
        }
        Ok(())
    }

    /// Why planning must stop because the template file the run started from has changed since (upstream's
    /// drift rule). A template that no longer exists is not drift.
    pub fn drift(&self) -> Option<String> {
        let live = std::fs::read(&self.state.template_path).ok()?;
        (sha256_hex(&live) != self.state.template_hash)
            .then(|| "Template changed during active run. Migration required.".to_owned())
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn runtime_dir(project_root: &Path) -> PathBuf {
    project_root.join(RUNTIME_DIR)
}

fn read_index(project_root: &Path) -> Map<String, Value> {
    let path = runtime_dir(project_root).join(INDEX_FILE);
    match std::fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str::<Value>(&t).ok()) {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// The run registered for `feature_slug`, or a new one started from `resolve()`'s template. The caller
/// holds the [`lock`].
pub fn load_or_start(
    project_root: &Path,
    feature_slug: &str,
    resolve: impl FnOnce() -> Result<Resolved, mission::MissionError>,
    new_run_id: impl FnOnce() -> String,
    timestamp: &str,
) -> Result<Run, RunError> {
    let index = read_index(project_root);
    if let Some(entry) = index.get(feature_slug).and_then(Value::as_object)
        && let Some(run_id) = entry.get("run_id").and_then(Value::as_str)
    {
        // The recorded directory, else the usual place (a project that moved keeps its run).
        let candidates = [
            entry.get("run_dir").and_then(Value::as_str).map(PathBuf::from),
            Some(runtime_dir(project_root).join("runs").join(run_id)),
        ];
        if let Some(dir) = candidates.into_iter().flatten().find(|d| d.join(STATE_FILE).is_file()) {
            return load(dir);
        }
    }
    start(project_root, feature_slug, resolve()?, new_run_id(), index, timestamp)
}

fn load(dir: PathBuf) -> Result<Run, RunError> {
    let path = dir.join(STATE_FILE);
    let text = std::fs::read_to_string(&path).map_err(io("read", &path))?;
    let state: RunState = serde_json::from_str(&text)
        .map_err(|e| RunError::CorruptState { path: path.clone(), message: e.to_string() })?;
    let frozen = dir.join(FROZEN_TEMPLATE_FILE);
    let template = std::fs::read_to_string(&frozen)
        .map_err(|e| e.to_string())
        .and_then(|text| mission::parse(&text, &state.mission_key).map_err(|e| e.0))
        .map_err(|message| RunError::FrozenTemplate { path: frozen, message })?;
    Ok(Run { dir, state, template, created: false, events: Vec::new(), dirty: false })
}

fn start(
    project_root: &Path,
    feature_slug: &str,
    resolved: Resolved,
    run_id: String,
    mut index: Map<String, Value>,
    timestamp: &str,
) -> Result<Run, RunError> {
    let runtime = runtime_dir(project_root);
    let dir = runtime.join("runs").join(&run_id);
    std::fs::create_dir_all(dir.parent().unwrap_or(&runtime)).map_err(io("create", &runtime))?;
    std::fs::create_dir(&dir).map_err(io("create", &dir))?;
    let frozen = dir.join(FROZEN_TEMPLATE_FILE);
    crate::fsutil::write_atomic(&frozen, &resolved.bytes).map_err(io("write", &frozen))?;
    // Drift is watched on the project's template file; the built-in template can only change with the
    // binary, which must not block running missions, so its run points at its own frozen copy.
    let template_path = resolved.path.clone().unwrap_or_else(|| frozen.clone());
    let state = RunState {
        run_id: run_id.clone(),
        mission_key: resolved.template.key.clone(),
        template_path: template_path.display().to_string(),
        template_hash: sha256_hex(&resolved.bytes),
        policy_snapshot: default_policy(),
        completed_steps: Vec::new(),
        issued_step_id: None,
        inputs: Map::from_iter([("feature_slug".to_owned(), json!(feature_slug))]),
        decisions: Map::new(),
        pending_decisions: Map::new(),
        blocked_reason: None,
        extra: Map::new(),
    };
    let mut run =
        Run { dir: dir.clone(), state, template: resolved.template, created: true, events: Vec::new(), dirty: true };
    let payload = json!({"run_id": run_id, "mission_key": run.state.mission_key, "actor": actor("system", "service")});
    run.event("MissionRunStarted", payload, timestamp);
    run.save()?;
    index.insert(
        feature_slug.to_owned(),
        json!({"run_id": run_id, "run_dir": dir.display().to_string(), "mission_key": run.state.mission_key}),
    );
    let path = runtime.join(INDEX_FILE);
    crate::fsutil::write_atomic(&path, pyjson::to_string(&Value::Object(index), STATE_STYLE).as_bytes())
        .map_err(io("write", &path))?;
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_a_run_in_upstreams_layout_and_loads_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let _lock = lock(root, Duration::from_secs(10)).unwrap();
        let run = load_or_start(
            root,
            "001-x",
            || mission::resolve(root, "software-dev"),
            || "01RUN".to_owned(),
            "2026-02-16T11:12:33+00:00",
        )
        .unwrap();
        assert!(run.created);
        let run_dir = root.join(".kittify/runtime/runs/01RUN");
        assert_eq!(run.dir, run_dir);
        let index = std::fs::read_to_string(root.join(".kittify/runtime/feature-runs.json")).unwrap();
        assert_eq!(
            index,
            format!(
                "{{\n  \"001-x\": {{\n    \"mission_key\": \"software-dev\",\n    \"run_dir\": \"{}\",\n    \"run_id\": \"01RUN\"\n  }}\n}}",
                run_dir.display()
            )
        );
        let state: Value = serde_json::from_str(&std::fs::read_to_string(run_dir.join(STATE_FILE)).unwrap()).unwrap();
        assert_eq!(state["inputs"], json!({"feature_slug": "001-x"}));
        assert_eq!(state["issued_step_id"], Value::Null);
        assert_eq!(state["policy_snapshot"]["strictness"], "medium");
        assert_eq!(
            std::fs::read_to_string(run_dir.join(EVENTS_FILE)).unwrap(),
            "{\"event_type\": \"MissionRunStarted\", \"payload\": {\"actor\": {\"actor_id\": \"system\", \"actor_type\": \"service\", \"display_name\": \"\", \"model\": null, \"provider\": null, \"tool\": null}, \"mission_key\": \"software-dev\", \"run_id\": \"01RUN\"}, \"timestamp\": \"2026-02-16T11:12:33+00:00\"}\n"
        );
        assert_eq!(run.drift(), None);

        let again = load_or_start(root, "001-x", || unreachable!(), || unreachable!(), "t").unwrap();
        assert!(!again.created);
        assert_eq!(again.state, run.state);
        assert_eq!(again.template, mission::software_dev());
    }

    #[test]
    fn keeps_unknown_state_keys_and_reports_a_corrupt_state() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let mut run =
            load_or_start(root, "001-x", || mission::resolve(root, "software-dev"), || "R1".into(), "t").unwrap();
        run.state.extra.insert("future_field".into(), json!([1]));
        run.touch();
        run.save().unwrap();
        let again = load_or_start(root, "001-x", || unreachable!(), || unreachable!(), "t").unwrap();
        assert_eq!(again.state.extra["future_field"], json!([1]));
        std::fs::write(again.dir.join(STATE_FILE), "{\"run_id\": 3}").unwrap();
        let error = load_or_start(root, "001-x", || unreachable!(), || unreachable!(), "t").unwrap_err();
        assert!(matches!(error, RunError::CorruptState { .. }), "{error}");
    }

    #[test]
    fn a_changed_project_template_is_drift() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let mission_dir = root.join(".kittify/missions/lite");
        std::fs::create_dir_all(&mission_dir).unwrap();
        let file = mission_dir.join("mission-runtime.yaml");
        std::fs::write(&file, "mission: {key: lite, name: Lite, version: '1'}\nsteps:\n  - {id: a, title: A}\n")
            .unwrap();
        let run = load_or_start(root, "001-x", || mission::resolve(root, "lite"), || "R2".into(), "t").unwrap();
        assert_eq!(run.drift(), None);
        std::fs::write(&file, "mission: {key: lite, name: Lite, version: '2'}\nsteps:\n  - {id: a, title: A}\n")
            .unwrap();
        assert_eq!(run.drift().as_deref(), Some("Template changed during active run. Migration required."));
    }
}
