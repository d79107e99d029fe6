//! The run's settings, resolved from `.kittify/config.yaml` (`agents`, `agents.settings`, `orchestrator`)
//! and the command-line overrides: which agents may run, in which role, with which limits, and who
//! implements and reviews by default (upstream's selection rules, reference/workflow.md §5).

use super::agents::AgentKind;
use crate::project::config::{AgentRole, AgentSettings, OrchestrationConfig};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Upstream passed its `global_timeout` (one hour) to every agent.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3600);
/// Upstream's agents.yaml default per agent.
pub const DEFAULT_MAX_CONCURRENT: usize = 2;
pub const DEFAULT_MAX_CONCURRENCY: usize = 5;
pub const DEFAULT_MAX_RETRIES: u32 = 3;
/// Upstream's SIGTERM → SIGKILL grace and its delay between retries.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);
pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(5);
/// Built-in agents looked for on PATH when `agents.available` is empty.
const BUILT_IN_IDS: [&str; 3] = ["claude", "codex", "gemini"];

/// One agent that may run in this run.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSpec {
    pub id: String,
    pub kind: AgentKind,
    /// `agents.settings.<id>.command`, its program resolved against the project root when relative.
    pub command: Option<Vec<String>>,
    pub timeout: Duration,
    pub max_concurrent: usize,
    pub roles: Vec<AgentRole>,
    /// The model to record when the output names none.
    pub model: Option<String>,
}

impl AgentSpec {
    pub fn can(&self, role: AgentRole) -> bool {
        self.roles.contains(&role)
    }

    /// The command line for `role`: the configured command, else the built-in one.
    pub fn argv(&self, role: AgentRole) -> Vec<String> {
        self.command.clone().or_else(|| self.kind.default_command(role, self.model.as_deref())).unwrap_or_default()
    }
}

/// Everything the scheduler and the engine need to know about agents and limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Usable agents, in `agents.available` order.
    pub agents: Vec<AgentSpec>,
    pub implementer: String,
    pub reviewer: String,
    /// The reviewer was named on the command line: use it even for its own work.
    pub reviewer_forced: bool,
    pub max_concurrency: usize,
    pub max_retries: u32,
    pub max_reworks: u32,
    pub review: bool,
    pub grace: Duration,
    pub retry_delay: Duration,
}

/// Command-line choices that beat the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    pub impl_agent: Option<String>,
    pub review_agent: Option<String>,
    pub max_concurrency: Option<usize>,
}

/// What resolution needs from the machine, so tests can pin it.
pub struct Environment<'a> {
    pub project_root: &'a Path,
    /// Whether a program (a bare name looked up on PATH, or a path) can be run.
    pub is_installed: &'a dyn Fn(&str) -> bool,
    /// Randomness for `strategy: random`.
    pub random: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error(
        "no agents to run: list them in .kittify/config.yaml under agents.available (e.g. [claude, codex]), or install claude, codex or gemini"
    )]
    NoAgents,
    #[error(
        "agent '{0}' has no command: set agents.settings.{0}.command to the program to run (the prompt comes on stdin)"
    )]
    NoCommand(String),
    #[error("no usable agent can {role}{}", skipped_note(.skipped))]
    NoAgentForRole { role: &'static str, skipped: Vec<String> },
    #[error("{flag} {agent}: not a usable agent (usable: {})", .usable.join(", "))]
    UnknownOverride { flag: &'static str, agent: String, usable: Vec<String> },
    #[error("{key} must be {expected}, got {value}")]
    Invalid { key: String, expected: &'static str, value: String },
}

fn skipped_note(skipped: &[String]) -> String {
    if skipped.is_empty() { String::new() } else { format!(" ({})", skipped.join("; ")) }
}

/// The resolved settings and what the user should hear about (agents skipped and why).
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub settings: Settings,
    pub warnings: Vec<String>,
}

pub fn resolve(
    config: &OrchestrationConfig,
    overrides: &Overrides,
    env: &Environment<'_>,
) -> Result<Resolved, SettingsError> {
    let mut warnings = Vec::new();
    let mut agents = Vec::new();
    for id in candidate_ids(config, env) {
        let configured = config.agents.settings.get(&id).cloned().unwrap_or_default();
        if configured.enabled == Some(false) {
            continue;
        }
        let spec = agent_spec(&id, &configured, env.project_root)?;
        let program = spec.argv(AgentRole::Implementation).first().cloned().unwrap_or_default();
        if !(env.is_installed)(&program) {
            warnings.push(format!("agent {id} skipped: `{program}` is not installed (not found on PATH)"));
            continue;
        }
        if spec.roles.is_empty() {
            continue;
        }
        agents.push(spec);
    }
    if agents.is_empty() {
        return Err(if warnings.is_empty() {
            SettingsError::NoAgents
        } else {
            SettingsError::NoAgentForRole { role: "implement", skipped: warnings }
        });
    }
    let usable: Vec<String> = agents.iter().map(|a| a.id.clone()).collect();
    let check_override = |flag: &'static str, wanted: &Option<String>, role: AgentRole| match wanted {
        Some(agent) if !agents.iter().any(|a| &a.id == agent && a.can(role)) => {
            Err(SettingsError::UnknownOverride { flag, agent: agent.clone(), usable: usable.clone() })
        }
        _ => Ok(()),
    };
    check_override("--impl-agent", &overrides.impl_agent, AgentRole::Implementation)?;
    check_override("--review-agent", &overrides.review_agent, AgentRole::Review)?;

    let orchestrator = &config.orchestrator;
    let review = orchestrator.review.unwrap_or(true);
    let with_role = |role| agents.iter().filter(move |a: &&AgentSpec| a.can(role)).map(|a| a.id.clone());
    let implementers: Vec<String> = with_role(AgentRole::Implementation).collect();
    let reviewers: Vec<String> = with_role(AgentRole::Review).collect();
    if implementers.is_empty() {
        return Err(SettingsError::NoAgentForRole { role: "implement", skipped: warnings });
    }
    if review && reviewers.is_empty() {
        return Err(SettingsError::NoAgentForRole {
            role: "review (or set orchestrator.review: false)",
            skipped: warnings,
        });
    }
    let selection = &config.agents.selection;
    let random = selection.strategy.as_deref() == Some("random");
    let implementer = overrides
        .impl_agent
        .clone()
        .or_else(|| selection.preferred_implementer.clone().filter(|p| implementers.contains(p)))
        .unwrap_or_else(|| pick(&implementers, random, env.random));
    let reviewer = overrides
        .review_agent
        .clone()
        .or_else(|| selection.preferred_reviewer.clone().filter(|p| reviewers.contains(p) && *p != implementer))
        .or_else(|| {
            let others: Vec<String> = reviewers.iter().filter(|r| **r != implementer).cloned().collect();
            (!others.is_empty()).then(|| pick(&others, random, env.random))
        })
        .or_else(|| reviewers.first().cloned())
        .unwrap_or_else(|| implementer.clone());

    let max_retries = orchestrator.max_retries.unwrap_or(DEFAULT_MAX_RETRIES);
    let settings = Settings {
        implementer,
        reviewer,
        reviewer_forced: overrides.review_agent.is_some(),
        max_concurrency: positive(
            "orchestrator.max_concurrency",
            overrides.max_concurrency.or(orchestrator.max_concurrency).unwrap_or(DEFAULT_MAX_CONCURRENCY),
        )?,
        max_retries,
        max_reworks: orchestrator.max_reworks.unwrap_or(max_retries),
        review,
        grace: seconds("orchestrator.grace_seconds", orchestrator.grace_seconds, DEFAULT_GRACE, true)?,
        retry_delay: seconds(
            "orchestrator.retry_delay_seconds",
            orchestrator.retry_delay_seconds,
            DEFAULT_RETRY_DELAY,
            true,
        )?,
        agents,
    };
    Ok(Resolved { settings, warnings })
}

/// `agents.available`, else the agents with settings followed by the built-in agents found on PATH.
fn candidate_ids(config: &OrchestrationConfig, env: &Environment<'_>) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    let mut add = |id: &str| {
        if !ids.iter().any(|known| known == id) {
            ids.push(id.to_owned());
        }
    };
    if !config.agents.available.is_empty() {
        config.agents.available.iter().for_each(|id| add(id));
        return ids;
    }
    config.agents.settings.keys().for_each(|id| add(id));
    BUILT_IN_IDS.iter().filter(|id| (env.is_installed)(id)).for_each(|id| add(id));
    ids
}

fn agent_spec(id: &str, configured: &AgentSettings, project_root: &Path) -> Result<AgentSpec, SettingsError> {
    let kind = AgentKind::of(id);
    let command = match &configured.command {
        Some(argv) if argv.first().is_some_and(|p| !p.trim().is_empty()) => {
            let mut argv = argv.clone();
            argv[0] = resolve_program(&argv[0], project_root);
            Some(argv)
        }
        _ if kind == AgentKind::Command => return Err(SettingsError::NoCommand(id.to_owned())),
        _ => None,
    };
    let key = |name: &str| format!("agents.settings.{id}.{name}");
    Ok(AgentSpec {
        id: id.to_owned(),
        kind,
        command,
        timeout: seconds(&key("timeout_seconds"), configured.timeout_seconds, DEFAULT_TIMEOUT, false)?,
        max_concurrent: positive(&key("max_concurrent"), configured.max_concurrent.unwrap_or(DEFAULT_MAX_CONCURRENT))?,
        roles: configured.roles.clone().unwrap_or_else(|| vec![AgentRole::Implementation, AgentRole::Review]),
        model: configured.model.clone().filter(|m| !m.trim().is_empty()),
    })
}

/// A program given as a relative path (`scripts/agent.sh`) is relative to the project root, not to the
/// workspace the agent runs in; a bare name is looked up on PATH.
fn resolve_program(program: &str, project_root: &Path) -> String {
    let path = Path::new(program);
    if program.contains('/') && path.is_relative() {
        project_root.join(path).display().to_string()
    } else {
        program.to_owned()
    }
}

fn pick(ids: &[String], random: bool, seed: u64) -> String {
    let index = if random && !ids.is_empty() { (seed % ids.len() as u64) as usize } else { 0 };
    ids.get(index).cloned().unwrap_or_default()
}

fn positive(key: &str, value: usize) -> Result<usize, SettingsError> {
    if value == 0 {
        return Err(SettingsError::Invalid { key: key.to_owned(), expected: "at least 1", value: "0".into() });
    }
    Ok(value)
}

fn seconds(key: &str, value: Option<f64>, default: Duration, zero_ok: bool) -> Result<Duration, SettingsError> {
    let Some(value) = value else { return Ok(default) };
    let valid = value.is_finite() && (value > 0.0 || (zero_ok && value == 0.0)) && value < 1e9;
    if !valid {
        let expected = if zero_ok { "a number of seconds ≥ 0" } else { "a number of seconds > 0" };
        return Err(SettingsError::Invalid { key: key.to_owned(), expected, value: value.to_string() });
    }
    Ok(Duration::from_secs_f64(value))
}

impl Settings {
    pub fn agent(&self, id: &str) -> Option<&AgentSpec> {
        self.agents.iter().find(|a| a.id == id)
    }

    /// Who implements, in the order to try them: the selected implementer, then the other agents that
    /// may implement, in configuration order.
    pub fn implementation_order(&self) -> Vec<&str> {
        self.order(AgentRole::Implementation, &self.implementer)
    }

    /// Who reviews a work package implemented by `implemented_by`: the selected reviewer, then the other
    /// reviewers; agents reviewing their own work go last (unless the reviewer was named explicitly).
    pub fn review_order(&self, implemented_by: Option<&str>) -> Vec<&str> {
        let order = self.order(AgentRole::Review, &self.reviewer);
        if self.reviewer_forced {
            return order;
        }
        let (others, own): (Vec<&str>, Vec<&str>) = order.into_iter().partition(|a| Some(*a) != implemented_by);
        others.into_iter().chain(own).collect()
    }

    fn order<'a>(&'a self, role: AgentRole, first: &'a str) -> Vec<&'a str> {
        let rest = self.agents.iter().filter(|a| a.can(role) && a.id != first).map(|a| a.id.as_str());
        std::iter::once(first).filter(|f| self.agent(f).is_some_and(|a| a.can(role))).chain(rest).collect()
    }
}

/// Whether `program` can be run: a path that is an executable file, or a name found on `PATH`.
pub fn find_program(program: &str, path_var: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    if program.is_empty() {
        return None;
    }
    if program.contains('/') {
        let path = PathBuf::from(program);
        return is_executable(&path).then_some(path);
    }
    std::env::split_paths(path_var?).map(|dir| dir.join(program)).find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve_text(yaml: &str, overrides: &Overrides, installed: &[&str]) -> Result<Resolved, SettingsError> {
        let config = OrchestrationConfig::parse(yaml).unwrap();
        let is_installed = |program: &str| installed.contains(&program) || program.starts_with('/');
        let env = Environment { project_root: Path::new("/project"), is_installed: &is_installed, random: 7 };
        resolve(&config, overrides, &env)
    }

    fn settings(yaml: &str) -> Settings {
        resolve_text(yaml, &Overrides::default(), &["claude", "codex", "gemini"]).unwrap().settings
    }

    #[test]
    fn selection_follows_upstream() {
        let s = settings("agents:\n  available: [claude, codex, gemini]\n");
        assert_eq!((s.implementer.as_str(), s.reviewer.as_str()), ("claude", "codex"));
        let s = settings(
            "agents:\n  available: [claude, codex]\n  selection:\n    preferred_implementer: codex\n    preferred_reviewer: codex\n",
        );
        assert_eq!((s.implementer.as_str(), s.reviewer.as_str()), ("codex", "claude"), "reviewer ≠ implementer");
        let s = settings("agents:\n  available: [claude]\n");
        assert_eq!((s.implementer.as_str(), s.reviewer.as_str()), ("claude", "claude"), "the only agent reviews");
        let s = settings("agents:\n  available: [claude, codex]\n  selection:\n    preferred_implementer: gemini\n");
        assert_eq!(s.implementer, "claude", "a preferred agent that is not available is ignored");
    }

    #[test]
    fn overrides_win_and_must_name_usable_agents() {
        let overrides =
            Overrides { impl_agent: Some("codex".into()), review_agent: Some("codex".into()), ..Default::default() };
        let r = resolve_text("agents:\n  available: [claude, codex]\n", &overrides, &["claude", "codex"]).unwrap();
        assert_eq!((r.settings.implementer.as_str(), r.settings.reviewer.as_str()), ("codex", "codex"));
        assert_eq!(r.settings.review_order(Some("codex")), ["codex", "claude"], "an explicit reviewer stays first");
        let bad = Overrides { impl_agent: Some("gemini".into()), ..Default::default() };
        let err = resolve_text("agents:\n  available: [claude, codex]\n", &bad, &["claude", "codex"]).unwrap_err();
        assert_eq!(err.to_string(), "--impl-agent gemini: not a usable agent (usable: claude, codex)");
    }

    #[test]
    fn roles_enabled_and_installation_filter_agents() {
        let yaml = "agents:\n  available: [claude, codex, gemini, bot]\n  settings:\n    codex:\n      roles: [review]\n    gemini:\n      enabled: false\n    bot:\n      command: [tools/bot.sh, --quick]\n      roles: [implementation]\n";
        let r = resolve_text(yaml, &Overrides::default(), &["claude"]).unwrap();
        assert_eq!(r.warnings, ["agent codex skipped: `codex` is not installed (not found on PATH)"]);
        let s = r.settings;
        assert_eq!(s.agents.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["claude", "bot"]);
        assert_eq!(s.agent("bot").unwrap().argv(AgentRole::Review), ["/project/tools/bot.sh", "--quick"]);
        assert_eq!(s.implementation_order(), ["claude", "bot"]);
        assert_eq!(s.review_order(Some("claude")), ["claude"], "bot may not review");
    }

    #[test]
    fn review_order_puts_self_review_last() {
        let s = settings("agents:\n  available: [claude, codex, gemini]\n");
        assert_eq!(s.review_order(Some("claude")), ["codex", "gemini", "claude"]);
        assert_eq!(s.review_order(Some("codex")), ["claude", "gemini", "codex"]);
    }

    #[test]
    fn defaults_and_limits() {
        let s = settings("agents:\n  available: [claude]\n");
        assert_eq!((s.max_concurrency, s.max_retries, s.max_reworks, s.review), (5, 3, 3, true));
        assert_eq!((s.agents[0].timeout, s.agents[0].max_concurrent), (DEFAULT_TIMEOUT, 2));
        let s = settings(
            "agents:\n  available: [claude]\n  settings:\n    claude:\n      timeout_seconds: 0.25\norchestrator:\n  max_retries: 1\n  grace_seconds: 0\n",
        );
        assert_eq!((s.max_retries, s.max_reworks, s.grace), (1, 1, Duration::ZERO));
        assert_eq!(s.agents[0].timeout, Duration::from_millis(250));
        let err = resolve_text(
            "orchestrator:\n  max_concurrency: 0\nagents:\n  available: [claude]\n",
            &Overrides::default(),
            &["claude"],
        );
        assert_eq!(err.unwrap_err().to_string(), "orchestrator.max_concurrency must be at least 1, got 0");
        let err = resolve_text("agents:\n  available: [x]\n", &Overrides::default(), &[]).unwrap_err();
        assert!(matches!(err, SettingsError::NoCommand(ref id) if id == "x"), "{err}");
    }

    #[test]
    fn without_a_list_configured_and_installed_agents_are_used() {
        let r = resolve_text(
            "agents:\n  settings:\n    bot:\n      command: [/bin/bot]\n",
            &Overrides::default(),
            &["codex"],
        )
        .unwrap();
        assert_eq!(r.settings.agents.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["bot", "codex"]);
        let err = resolve_text("", &Overrides::default(), &[]).unwrap_err();
        assert_eq!(err, SettingsError::NoAgents);
    }

    #[test]
    fn programs_are_found_on_path() {
        let dir = tempfile::tempdir().unwrap();
        let program = dir.path().join("agent");
        std::fs::write(&program, "#!/bin/sh\n").unwrap();
        assert_eq!(find_program("agent", Some(dir.path().as_os_str())), None, "not executable yet");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
            assert_eq!(find_program("agent", Some(dir.path().as_os_str())), Some(program.clone()));
            assert_eq!(find_program(program.to_str().unwrap(), None), Some(program));
        }
        assert_eq!(find_program("", None), None);
    }
}
