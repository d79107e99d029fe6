//! The agents' hooks: reading what a hook passes us (which transcript to import), and adding our hook
//! to (or removing it from) the agents' project settings without disturbing anything else there.
//!
//! | agent | settings file | events | payload |
//! |---|---|---|---|
//! | Claude Code | `.claude/settings.json` | `Stop`, `SubagentStop`, `SessionEnd` | stdin: `session_id`, `transcript_path`, `cwd` (+ `agent_transcript_path` for subagents) |
//! | Codex | `.codex/hooks.json` | `Stop` | stdin: `session_id`, `transcript_path` (may be null), `cwd`; or `notify`'s JSON as the last argument: `thread-id`, `cwd` |
//! | Gemini CLI | `.gemini/settings.json` | `AfterAgent`, `SessionEnd` | stdin: `session_id`, `transcript_path`, `cwd` |

use super::{Agent, AgentHomes};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

/// The command every hook entry of ours runs (the agent name is appended). Entries whose command
/// contains it are ours; nothing else is ever removed.
pub const HOOK_COMMAND: &str = "spec-kitty agent telemetry hook";

/// What a hook asks us to import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookCall {
    /// The directory the agent runs in (the project is found from it).
    pub cwd: PathBuf,
    pub files: Vec<(Agent, PathBuf)>,
}

fn text<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Claude Code's hook input (Stop, SubagentStop, SessionEnd). For a subagent both transcripts are read,
/// the parent's first, so a subagent's replay of a parent response is recognised.
pub fn claude_call(input: &[u8]) -> Option<HookCall> {
    let value: Value = serde_json::from_slice(input).ok()?;
    let cwd = PathBuf::from(text(&value, "cwd")?);
    let files = ["transcript_path", "agent_transcript_path"]
        .into_iter()
        .filter_map(|k| text(&value, k))
        .map(|p| (Agent::Claude, PathBuf::from(p)))
        .collect::<Vec<_>>();
    (!files.is_empty()).then_some(HookCall { cwd, files })
}

/// Codex: a lifecycle hook's stdin (`transcript_path`, else the session id) or `notify`'s argument
/// (`thread-id`); the rollout is looked up by thread id when no path is given.
pub fn codex_call(argument: Option<&str>, input: &[u8], homes: &AgentHomes) -> Option<HookCall> {
    let value: Value =
        argument.and_then(|a| serde_json::from_str(a).ok()).or_else(|| serde_json::from_slice(input).ok())?;
    let cwd = PathBuf::from(text(&value, "cwd")?);
    let path = match text(&value, "transcript_path") {
        Some(path) => PathBuf::from(path),
        None => {
            let thread = text(&value, "thread-id")
                .or_else(|| text(&value, "thread_id"))
                .or_else(|| text(&value, "session_id"))?;
            super::codex::paths::find_thread(homes, thread)?
        }
    };
    Some(HookCall { cwd, files: vec![(Agent::Codex, path)] })
}

/// Gemini CLI's hook input (AfterAgent, SessionEnd).
pub fn gemini_call(input: &[u8]) -> Option<HookCall> {
    let value: Value = serde_json::from_slice(input).ok()?;
    let cwd = PathBuf::from(text(&value, "cwd")?);
    let path = PathBuf::from(text(&value, "transcript_path")?);
    Some(HookCall { cwd, files: vec![(Agent::Gemini, path)] })
}

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{} is not valid JSON settings: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
}

impl crate::error::Diagnose for HookError {
    fn hints(&self) -> Vec<String> {
        match self {
            HookError::Invalid { .. } => {
                vec!["fix the file by hand (it was left unchanged), then run the command again".into()]
            }
            _ => Vec::new(),
        }
    }
}

/// The settings file of `agent` in a project.
pub fn settings_path(root: &Path, agent: Agent) -> PathBuf {
    match agent {
        Agent::Claude => root.join(".claude/settings.json"),
        Agent::Codex => root.join(".codex/hooks.json"),
        Agent::Gemini => root.join(".gemini/settings.json"),
    }
}

fn hook_events(agent: Agent) -> &'static [&'static str] {
    match agent {
        Agent::Claude => &["Stop", "SubagentStop", "SessionEnd"],
        Agent::Codex => &["Stop"],
        Agent::Gemini => &["AfterAgent", "SessionEnd"],
    }
}

fn our_entry(agent: Agent) -> Value {
    let command = format!("{HOOK_COMMAND} {agent}");
    match agent {
        Agent::Gemini => {
            json!({"matcher": "*", "hooks": [{"name": "spec-kitty-usage", "type": "command", "command": command}]})
        }
        _ => json!({"hooks": [{"type": "command", "command": command, "timeout": 30}]}),
    }
}

fn is_ours(hook: &Value) -> bool {
    hook.get("command").and_then(Value::as_str).is_some_and(|c| c.contains(HOOK_COMMAND))
}

fn group_has_ours(group: &Value) -> bool {
    group.get("hooks").and_then(Value::as_array).is_some_and(|hooks| hooks.iter().any(is_ours))
}

/// What an install or uninstall did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookChange {
    pub path: PathBuf,
    /// The events our hook was added to (install) or removed from (uninstall); empty: nothing to do.
    pub events: Vec<String>,
}

fn load(path: &Path) -> Result<Map<String, Value>, HookError> {
    let text = match crate::fsutil::read_small_string(path, crate::fsutil::SMALL_FILE_CAP) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Map::new()),
        Err(source) => return Err(HookError::Read { path: path.to_owned(), source }),
    };
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(HookError::Invalid { path: path.to_owned(), message: "the top level is not an object".into() }),
        Err(e) => Err(HookError::Invalid { path: path.to_owned(), message: e.to_string() }),
    }
}

fn save(path: &Path, settings: &Map<String, Value>) -> Result<(), HookError> {
    let write = |source| HookError::Write { path: path.to_owned(), source };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(write)?;
    }
    crate::fsutil::refuse_escaping_link(path).map_err(write)?;
    let mut text = serde_json::to_string_pretty(&Value::Object(settings.clone())).expect("JSON values serialise");
    text.push('\n');
    crate::fsutil::write_atomic(path, text.as_bytes()).map_err(write)
}

/// Adds our hook to `agent`'s project settings for each of its events that lacks it, keeping every
/// other key, event and hook as it was (in its order). Installing twice changes nothing.
pub fn install(root: &Path, agent: Agent) -> Result<HookChange, HookError> {
    let path = settings_path(root, agent);
    let mut settings = load(&path)?;
    let invalid = |message: String| HookError::Invalid { path: path.clone(), message };
    let hooks = settings.entry("hooks").or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(hooks) = hooks else { return Err(invalid("\"hooks\" is not an object".into())) };
    let mut added = Vec::new();
    for event in hook_events(agent) {
        let groups = hooks.entry(*event).or_insert_with(|| Value::Array(Vec::new()));
        let Value::Array(groups) = groups else { return Err(invalid(format!("\"hooks.{event}\" is not a list"))) };
        if groups.iter().any(group_has_ours) {
            continue;
        }
        groups.push(our_entry(agent));
        added.push((*event).to_owned());
    }
    if !added.is_empty() {
        save(&path, &settings)?;
    }
    Ok(HookChange { path, events: added })
}

/// Removes our hook entries (only ours) from `agent`'s project settings; a group, event list or `hooks`
/// object left empty by that is removed too.
pub fn uninstall(root: &Path, agent: Agent) -> Result<HookChange, HookError> {
    let path = settings_path(root, agent);
    if !path.exists() {
        return Ok(HookChange { path, events: Vec::new() });
    }
    let mut settings = load(&path)?;
    let mut removed = Vec::new();
    if let Some(Value::Object(hooks)) = settings.get_mut("hooks") {
        let events: Vec<String> = hooks.keys().cloned().collect();
        for event in events {
            let Some(Value::Array(groups)) = hooks.get_mut(&event) else { continue };
            let mut touched = false;
            groups.retain_mut(|group| {
                let Some(Value::Array(list)) = group.get_mut("hooks") else { return true };
                let count = list.len();
                list.retain(|hook| !is_ours(hook));
                if list.len() == count {
                    return true;
                }
                touched = true;
                !list.is_empty()
            });
            if touched {
                removed.push(event.clone());
                if groups.is_empty() {
                    hooks.remove(&event);
                }
            }
        }
        if hooks.is_empty() && !removed.is_empty() {
            settings.remove("hooks");
        }
    }
    if !removed.is_empty() {
        save(&path, &settings)?;
    }
    Ok(HookChange { path, events: removed })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_merges_and_uninstall_removes_only_ours() {
        let dir = tempfile::tempdir().unwrap();
        let path = settings_path(dir.path(), Agent::Claude);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let original = r#"{"permissions": {"allow": ["Bash(ls)"]}, "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "/opt/importer/ingest --agent claude", "timeout": 30}]}], "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "echo pre"}]}]}}"#;
        std::fs::write(&path, original).unwrap();
        let change = install(dir.path(), Agent::Claude).unwrap();
        assert_eq!(change.events, ["Stop", "SubagentStop", "SessionEnd"]);
        let after: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(after["permissions"]["allow"][0], "Bash(ls)");
        let stop = after["hooks"]["Stop"].as_array().unwrap();
        assert_eq!(stop.len(), 2);
        assert_eq!(stop[0]["hooks"][0]["command"], "/opt/importer/ingest --agent claude");
        assert_eq!(stop[1]["hooks"][0]["command"], "spec-kitty agent telemetry hook claude");
        let keys: Vec<&String> = after["hooks"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["Stop", "PreToolUse", "SubagentStop", "SessionEnd"], "order kept, new events appended");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(install(dir.path(), Agent::Claude).unwrap().events.is_empty());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "a second install changes nothing");

        let change = uninstall(dir.path(), Agent::Claude).unwrap();
        assert_eq!(change.events, ["Stop", "SubagentStop", "SessionEnd"]);
        let back: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(back, serde_json::from_str::<Value>(original).unwrap());
        assert!(uninstall(dir.path(), Agent::Claude).unwrap().events.is_empty());
    }

    #[test]
    fn broken_settings_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = settings_path(dir.path(), Agent::Gemini);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "{not json").unwrap();
        assert!(matches!(install(dir.path(), Agent::Gemini), Err(HookError::Invalid { .. })));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{not json");
        std::fs::write(&path, r#"{"hooks": []}"#).unwrap();
        assert!(install(dir.path(), Agent::Gemini).unwrap_err().to_string().contains("\"hooks\" is not an object"));
    }

    #[test]
    fn hook_inputs() {
        let call = claude_call(br#"{"session_id":"s","transcript_path":"/t/s.jsonl","cwd":"/p","hook_event_name":"SubagentStop","agent_transcript_path":"/t/s/subagents/agent-a.jsonl"}"#).unwrap();
        assert_eq!(call.files.len(), 2);
        assert_eq!(call.files[0].1, PathBuf::from("/t/s.jsonl"));
        assert!(claude_call(b"garbage").is_none());
        assert!(gemini_call(br#"{"cwd":"/p"}"#).is_none());
        let call =
            codex_call(None, br#"{"session_id":"s","transcript_path":"/r.jsonl","cwd":"/p"}"#, &AgentHomes::default())
                .unwrap();
        assert_eq!(call.files, [(Agent::Codex, PathBuf::from("/r.jsonl"))]);
    }
}
