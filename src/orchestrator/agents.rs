//! The agents the orchestrator knows how to run: the built-in command lines of claude, codex and gemini
//! (reference/workflow.md §5), and the generic `command` agent for anything else. Every agent reads its
//! prompt on stdin.

use super::usage::OutputFormat;
use crate::project::config::AgentRole;

/// What kind of agent an id names; decides the default command line and how its output is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentKind {
    Claude,
    Codex,
    Gemini,
    /// Any executable configured with `agents.settings.<id>.command`.
    Command,
}

impl AgentKind {
    /// The kind an agent id names. `claude-code` is upstream's id for claude.
    pub fn of(id: &str) -> AgentKind {
        match id.trim().to_ascii_lowercase().as_str() {
            "claude" | "claude-code" => AgentKind::Claude,
            "codex" => AgentKind::Codex,
            "gemini" => AgentKind::Gemini,
            _ => AgentKind::Command,
        }
    }

    /// How the agent's stdout is parsed for usage and its answer. A generic command may print any of the
    /// built-in shapes (or plain text), so its output is recognised by shape.
    pub fn output_format(self) -> OutputFormat {
        match self {
            AgentKind::Claude => OutputFormat::Claude,
            AgentKind::Codex => OutputFormat::Codex,
            AgentKind::Gemini => OutputFormat::Gemini,
            AgentKind::Command => OutputFormat::Auto,
        }
    }

    /// The built-in command line for `role`, or `None` for a generic agent (which must configure one).
    /// `model` adds the agent's model flag.
    pub fn default_command(self, role: AgentRole, model: Option<&str>) -> Option<Vec<String>> {
        let words: &[&str] = match (self, role) {
            (AgentKind::Claude, AgentRole::Implementation) => &[
                "claude",
                "-p",
                "--output-format",
                "json",
                "--dangerously-skip-permissions",
                "--allowedTools",
                "Read,Write,Edit,Bash,Glob,Grep,TodoWrite",
            ],
            // A reviewer reads and runs things but does not edit.
            (AgentKind::Claude, AgentRole::Review) => &[
                "claude",
                "-p",
                "--output-format",
                "json",
                "--dangerously-skip-permissions",
                "--allowedTools",
                "Read,Glob,Grep,Bash",
            ],
            (AgentKind::Codex, _) => &["codex", "exec", "-", "--json", "--full-auto"],
            (AgentKind::Gemini, _) => &["gemini", "-p", "--yolo", "--output-format", "json"],
            (AgentKind::Command, _) => return None,
        };
        let mut argv: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
        if let Some(model) = model.filter(|m| !m.trim().is_empty()) {
            let flag = if self == AgentKind::Claude { "--model" } else { "-m" };
            argv.extend([flag.to_owned(), model.to_owned()]);
        }
        Some(argv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_name_their_kind() {
        assert_eq!(AgentKind::of("claude-code"), AgentKind::Claude);
        assert_eq!(AgentKind::of("Codex"), AgentKind::Codex);
        assert_eq!(AgentKind::of("gemini"), AgentKind::Gemini);
        assert_eq!(AgentKind::of("my-bot"), AgentKind::Command);
    }

    #[test]
    fn built_in_command_lines_are_upstreams() {
        let claude = AgentKind::Claude.default_command(AgentRole::Review, None).unwrap();
        assert_eq!(
            claude.join(" "),
            "claude -p --output-format json --dangerously-skip-permissions --allowedTools Read,Glob,Grep,Bash"
        );
        let codex = AgentKind::Codex.default_command(AgentRole::Implementation, Some("gpt-5-codex")).unwrap();
        assert_eq!(codex.join(" "), "codex exec - --json --full-auto -m gpt-5-codex");
        let gemini = AgentKind::Gemini.default_command(AgentRole::Implementation, None).unwrap();
        assert_eq!(gemini.join(" "), "gemini -p --yolo --output-format json");
        assert_eq!(AgentKind::Command.default_command(AgentRole::Review, None), None);
    }
}
