//! `.kittify/config.yaml`: the project's configuration and sync identity.
//!
//! Reading is lenient (unknown keys ignored). Writing is limited to adding missing `project:` identity
//! keys as new lines, so an existing file keeps every byte, comment and key order it had; only `init`
//! and `create-feature` (and explicit commands) may do that, never read-only commands.

use serde::Deserialize;
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

impl ProjectConfig {
    /// The project's config; a missing file is an empty config.
    pub fn load(root: &Path) -> Result<ProjectConfig, ConfigError> {
        let path = root.join(CONFIG_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::parse(&text).map_err(|message| ConfigError::Invalid { path, message }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ProjectConfig::default()),
            Err(source) => Err(ConfigError::Read { path, source }),
        }
    }

    pub fn parse(text: &str) -> Result<ProjectConfig, String> {
        if text.trim().is_empty() {
            return Ok(ProjectConfig::default());
        }
        let config: Option<ProjectConfig> =
            serde_saphyr::from_str(text).map_err(|e| e.to_string().lines().next().unwrap_or_default().to_owned())?;
        Ok(config.unwrap_or_default())
    }
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
}
