//! `.kittify/config.yaml`: the project's configuration and sync identity.
//!
//! Reading is lenient (unknown keys ignored). Writing is limited to adding missing `project:` identity
//! keys as new lines, so an existing file keeps every byte, comment and key order it had; only `init`
//! and `create-feature` (and explicit commands) may do that, never read-only commands.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const CONFIG_FILE: &str = ".kittify/config.yaml";

/// The parts of config.yaml the CLI reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ProjectConfig {
    pub project: ProjectIdentity,
    pub agents: AgentsConfig,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ProjectIdentity {
    pub uuid: Option<String>,
    pub slug: Option<String>,
    pub node_id: Option<String>,
    pub repo_slug: Option<String>,
}

impl ProjectIdentity {
    pub fn is_complete(&self) -> bool {
        self.uuid.is_some() && self.slug.is_some() && self.node_id.is_some()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct AgentsConfig {
    pub available: Vec<String>,
    pub selection: AgentSelection,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct AgentSelection {
    pub strategy: Option<String>,
    pub preferred_implementer: Option<String>,
    pub preferred_reviewer: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid YAML in {}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
}

/// The keys `spec-kitty orchestrate` reads: `agents` (with the per-agent `settings`) and `orchestrator`.
/// Read on their own, strictly, so that a mistake in them stops only `orchestrate` (with a message naming
/// the key) and never costs other commands their project identity.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct OrchestrationConfig {
    pub agents: OrchestrationAgents,
    pub orchestrator: OrchestratorSettings,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct OrchestrationAgents {
    pub available: Vec<String>,
    pub selection: AgentSelection,
    /// `agents.settings.<id>`: per-agent overrides (an id that is not a built-in agent needs `command`).
    pub settings: BTreeMap<String, AgentSettings>,
}

/// `agents.settings.<id>`. Every key is optional; unknown keys are refused so a typo does not pass silently.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentSettings {
    /// The command line to run (prompt on stdin); replaces a built-in agent's command.
    pub command: Option<Vec<String>>,
    /// Seconds before the agent is terminated (fractions allowed).
    pub timeout_seconds: Option<f64>,
    /// Invocations of this agent that may run at once.
    pub max_concurrent: Option<usize>,
    /// The phases this agent may take: `implementation`, `review`.
    pub roles: Option<Vec<AgentRole>>,
    pub enabled: Option<bool>,
    /// The model to record (and, for a built-in agent without `command`, to request) when the agent's
    /// output does not name one.
    pub model: Option<String>,
}

/// A phase an agent can be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentRole {
    Implementation,
    Review,
}

/// `orchestrator:`. Every key is optional; unknown keys are refused.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OrchestratorSettings {
    /// Agent invocations that may run at once across the run.
    pub max_concurrency: Option<usize>,
    /// Extra attempts after failed invocations, per work package and phase (on fallback agents first).
    pub max_retries: Option<u32>,
    /// Rejected reviews a work package may go through before it fails (default: max_retries).
    pub max_reworks: Option<u32>,
    /// `false` moves implemented work packages straight to done.
    pub review: Option<bool>,
    /// Seconds between SIGTERM and SIGKILL when an agent is stopped.
    pub grace_seconds: Option<f64>,
    /// Seconds to wait before retrying the same agent.
    pub retry_delay_seconds: Option<f64>,
}

impl OrchestrationConfig {
    /// The orchestration keys of the project's config.yaml; a missing file is an empty config.
    pub fn load(root: &Path) -> Result<OrchestrationConfig, ConfigError> {
        let path = root.join(CONFIG_FILE);
        let text = match crate::fsutil::read_small_string(&path, crate::fsutil::SMALL_FILE_CAP) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(OrchestrationConfig::default()),
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        Self::parse(&text).map_err(|YamlError(message)| ConfigError::Invalid { path, message })
    }

    pub fn parse(text: &str) -> Result<OrchestrationConfig, YamlError> {
        /// Only the two sections, so the rest of the file (read by other commands) cannot fail this parse.
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct Sections {
            agents: Option<serde_json::Value>,
            orchestrator: Option<serde_json::Value>,
        }
        if text.trim().is_empty() {
            return Ok(OrchestrationConfig::default());
        }
        let first_line = |e: &dyn std::fmt::Display| e.to_string().lines().next().unwrap_or_default().to_owned();
        let sections: Option<Sections> = serde_saphyr::from_str(text).map_err(|e| YamlError(first_line(&e)))?;
        let sections = sections.unwrap_or_default();
        let agents = match sections.agents.filter(|v| !v.is_null()) {
            Some(value) => {
                serde_json::from_value(value).map_err(|e| YamlError(format!("agents: {}", first_line(&e))))?
            }
            None => OrchestrationAgents::default(),
        };
        let orchestrator = match sections.orchestrator.filter(|v| !v.is_null()) {
            Some(value) => {
                serde_json::from_value(value).map_err(|e| YamlError(format!("orchestrator: {}", first_line(&e))))?
            }
            None => OrchestratorSettings::default(),
        };
        Ok(OrchestrationConfig { agents, orchestrator })
    }
}

impl ProjectConfig {
    /// The project's config; a missing file is an empty config.
    pub fn load(root: &Path) -> Result<ProjectConfig, ConfigError> {
        let path = root.join(CONFIG_FILE);
        match crate::fsutil::read_small_string(&path, crate::fsutil::SMALL_FILE_CAP) {
            Ok(text) => Self::parse(&text).map_err(|YamlError(message)| ConfigError::Invalid { path, message }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ProjectConfig::default()),
            Err(source) => Err(ConfigError::Read { path, source }),
        }
    }

    /// The config as commands use it, never failing: an unreadable or invalid file gives the defaults, and
    /// a `project.uuid` that is not a UUID is dropped (treated as missing, so it never reaches an event).
    /// The second value describes the problem, naming the file (and the line, for YAML errors), for the
    /// command to show (see [`first_report`]).
    pub fn load_checked(root: &Path) -> (ProjectConfig, Option<String>) {
        let path = root.join(CONFIG_FILE);
        let mut config = match ProjectConfig::load(root) {
            Ok(config) => config,
            Err(e) => {
                let problem = match e {
                    ConfigError::Invalid { message, .. } => format!("{} is not valid YAML ({message})", path.display()),
                    other => other.to_string(),
                };
                return (ProjectConfig::default(), Some(format!("{problem}; {IGNORED}")));
            }
        };
        let problem = match config.project.uuid.as_deref() {
            Some(uuid) if !is_uuid(uuid) => {
                let problem = format!("{}: project.uuid {uuid:?} is not a UUID; {IGNORED}", path.display());
                config.project.uuid = None;
                Some(problem)
            }
            _ => None,
        };
        (config, problem)
    }

    pub fn parse(text: &str) -> Result<ProjectConfig, YamlError> {
        if text.trim().is_empty() {
            return Ok(ProjectConfig::default());
        }
        let first_line = |e: serde_saphyr::Error| {
            let text = e.to_string();
            let line = text.lines().next().unwrap_or_default();
            YamlError(line.strip_prefix("error: ").unwrap_or(line).to_owned())
        };
        let config: Option<ProjectConfig> = serde_saphyr::from_str(text).map_err(first_line)?;
        Ok(config.unwrap_or_default())
    }
}

/// Why a config text is not valid YAML of the expected shape: the first line of the parser's message
/// (with its line and column).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct YamlError(pub String);

/// What an ignored config costs, said once in every problem report.
const IGNORED: &str = "it is ignored, so sync events carry no project identity (and are never sent) until it is fixed";

/// `problem` the first time a command of this process reports a config problem; `None` afterwards (a
/// command that reads the config several times warns once).
pub fn first_report(problem: Option<String>) -> Option<String> {
    use std::sync::atomic::{AtomicBool, Ordering};
    static REPORTED: AtomicBool = AtomicBool::new(false);
    problem.filter(|_| !REPORTED.swap(true, Ordering::Relaxed))
}

/// `8-4-4-4-12` hexadecimal digits, as `str(uuid.uuid4())` writes them (any case).
pub fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Adds the identity keys that `text` lacks under its top-level `project:` block (creating the block at
/// the end when absent). Existing lines are never changed. Returns `None` when nothing is missing.
pub fn add_missing_identity(text: &str, identity: &ProjectIdentity) -> Option<String> {
    let existing = ProjectConfig::parse(text).map(|c| c.project).unwrap_or_default();
    let wanted = [("uuid", &identity.uuid), ("slug", &identity.slug), ("node_id", &identity.node_id)];
    let missing: Vec<(&str, &str)> = wanted
        .iter()
        .filter(|(key, _)| match *key {
            "uuid" => existing.uuid.is_none(),
            "slug" => existing.slug.is_none(),
            _ => existing.node_id.is_none(),
        })
        .filter_map(|(key, value)| value.as_deref().map(|v| (*key, v)))
        .collect();
    if missing.is_empty() {
        return None;
    }
    let newline = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let block_start = lines.iter().position(|l| l.trim_end() == "project:");
    let mut out = String::with_capacity(text.len() + 128);
    match block_start {
        Some(start) => {
            // The block runs while lines are indented (or blank); insert after its last indented line.
            let mut end = start + 1;
            let mut last_content = start;
            while end < lines.len() && (lines[end].starts_with([' ', '\t']) || lines[end].trim().is_empty()) {
                if !lines[end].trim().is_empty() {
                    last_content = end;
                }
                end += 1;
            }
            let indent = lines[start + 1..=last_content.max(start)]
                .iter()
                .find(|l| !l.trim().is_empty())
                .map_or("  ".to_owned(), |l| l[..l.len() - l.trim_start().len()].to_owned());
            for (i, line) in lines.iter().enumerate() {
                out.push_str(line);
                if i == last_content {
                    if !line.ends_with('\n') {
                        out.push_str(newline);
                    }
                    for (key, value) in &missing {
                        out.push_str(&format!("{indent}{key}: {value}{newline}"));
                    }
                }
            }
        }
        None => {
            out.push_str(text);
            if !text.is_empty() && !text.ends_with('\n') {
                out.push_str(newline);
            }
            out.push_str(&format!("project:{newline}"));
            for (key, value) in &missing {
                out.push_str(&format!("  {key}: {value}{newline}"));
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> ProjectIdentity {
        ProjectIdentity {
            uuid: Some("8a4a7da6-a97c-4bb4-893a-b31664abfee4".into()),
            slug: Some("demo".into()),
            node_id: Some("d036a097a835".into()),
            repo_slug: None,
        }
    }

    #[test]
    fn reads_upstream_config() {
        let config = ProjectConfig::parse(
            "vcs:\n  type: git\nagents:\n  available:\n  - copilot\n  - claude\n  selection:\n    strategy: preferred\n    preferred_implementer: copilot\n    preferred_reviewer: codex\nproject:\n  uuid: 8a4a7da6-a97c-4bb4-893a-b31664abfee4\n  slug: spec-kitty\n  node_id: d036a097a835\n",
        )
        .unwrap();
        assert_eq!(config.agents.available, ["copilot", "claude"]);
        assert_eq!(config.agents.selection.preferred_reviewer.as_deref(), Some("codex"));
        assert!(config.project.is_complete());
    }

    #[test]
    fn reads_orchestration_settings() {
        let config = OrchestrationConfig::parse(
            "agents:\n  available: [claude, mine]\n  selection:\n    preferred_reviewer: mine\n  settings:\n    mine:\n      command: [./agent.sh, --fast]\n      timeout_seconds: 0.5\n      roles: [review]\n    claude:\n      max_concurrent: 1\n      enabled: false\norchestrator:\n  max_concurrency: 3\n  review: false\nvcs: {type: git}\n",
        )
        .unwrap();
        assert_eq!(config.agents.available, ["claude", "mine"]);
        let mine = &config.agents.settings["mine"];
        assert_eq!(mine.command.as_deref(), Some(&["./agent.sh".to_owned(), "--fast".to_owned()][..]));
        assert_eq!((mine.timeout_seconds, mine.roles.as_deref()), (Some(0.5), Some(&[AgentRole::Review][..])));
        assert_eq!(config.agents.settings["claude"].enabled, Some(false));
        assert_eq!((config.orchestrator.max_concurrency, config.orchestrator.review), (Some(3), Some(false)));
        assert_eq!(OrchestrationConfig::parse("").unwrap(), OrchestrationConfig::default());
        assert_eq!(OrchestrationConfig::parse("project:\n  slug: x\n").unwrap(), OrchestrationConfig::default());
    }

    #[test]
    fn orchestration_mistakes_name_the_key_and_leave_other_commands_alone() {
        let text = "project:\n  slug: demo\norchestrator:\n  max_concurency: 3\n";
        let err = OrchestrationConfig::parse(text).unwrap_err();
        assert!(err.0.starts_with("orchestrator: unknown field `max_concurency`"), "{err}");
        assert_eq!(ProjectConfig::parse(text).unwrap().project.slug.as_deref(), Some("demo"));
        let err = OrchestrationConfig::parse("agents:\n  settings:\n    x:\n      roles: [coding]\n").unwrap_err();
        assert!(err.0.starts_with("agents: unknown variant `coding`"), "{err}");
    }

    #[test]
    fn adds_a_project_block_without_touching_other_lines() {
        let text = "# team config\nvcs:\n  type: git   # keep me\n";
        let updated = add_missing_identity(text, &identity()).unwrap();
        assert_eq!(
            updated,
            "# team config\nvcs:\n  type: git   # keep me\nproject:\n  uuid: 8a4a7da6-a97c-4bb4-893a-b31664abfee4\n  slug: demo\n  node_id: d036a097a835\n"
        );
        assert_eq!(add_missing_identity(&updated, &identity()), None, "idempotent");
    }

    #[test]
    fn completes_a_partial_project_block_in_place() {
        let text = "project:\n    slug: mine  # chosen by hand\nagents:\n  available: [claude]\n";
        let updated = add_missing_identity(text, &identity()).unwrap();
        assert_eq!(
            updated,
            "project:\n    slug: mine  # chosen by hand\n    uuid: 8a4a7da6-a97c-4bb4-893a-b31664abfee4\n    node_id: d036a097a835\nagents:\n  available: [claude]\n"
        );
        let config = ProjectConfig::parse(&updated).unwrap();
        assert_eq!(config.project.slug.as_deref(), Some("mine"));
    }

    #[test]
    fn problems_name_the_file_and_line_and_bad_uuids_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".kittify")).unwrap();
        let write = |text: &[u8]| std::fs::write(dir.path().join(CONFIG_FILE), text).unwrap();
        for (text, expected) in [
            (&b"vcs: [unclosed\n"[..], "config.yaml is not valid YAML (line 1 column 6: unclosed bracket '[')"),
            (b"a: 1\nproject: [1,2]\n", "config.yaml is not valid YAML (line 2 column 10: expected mapping start)"),
            (b"\x00\x01\xff binary", "config.yaml: not valid UTF-8 text"),
            (b"project:\n  uuid: not-a-uuid\n  slug: s\n", "config.yaml: project.uuid \"not-a-uuid\" is not a UUID"),
        ] {
            write(text);
            let (config, problem) = ProjectConfig::load_checked(dir.path());
            let problem = problem.unwrap();
            assert!(problem.contains(expected), "{problem}");
            assert!(problem.ends_with("until it is fixed"), "{problem}");
            assert_eq!(config.project.uuid, None);
        }
        write(b"project:\n  uuid: 8A4A7DA6-a97c-4bb4-893a-b31664abfee4\n");
        let (config, problem) = ProjectConfig::load_checked(dir.path());
        assert_eq!((config.project.uuid.is_some(), problem), (true, None));
        assert!(!is_uuid("8a4a7da6a97c4bb4893ab31664abfee4") && !is_uuid("8a4a7da6-a97c-4bb4-893a-b31664abfeeg"));
    }
}
