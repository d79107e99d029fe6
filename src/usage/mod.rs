//! Usage import: the token usage that coding agents record in their own session logs (Claude Code,
//! Codex CLI, Gemini CLI), turned into `ExecutionEvent`s of the features, work packages and workflow
//! phases it was spent on.
//!
//! The pipeline, one module per step:
//!
//! 1. **Adapters** ([`claude`], [`codex`], [`gemini`]): `paths` finds the logs (honouring each agent's
//!    environment variables), `parser` turns their records into [`UsageRow`]s with that agent's dedup
//!    and cached-token rules. Formats are internal to the agents and change between versions, so parsing
//!    is lenient and everything skipped is counted ([`Skipped`]).
//! 2. **Scope** ([`scope`]): which rows belong to this project (their working directory is the project
//!    root or one of its `.worktrees/`).
//! 3. **Attribution** ([`attribution`]): row → feature, work package and role, with the reason.
//! 4. **Claims** ([`claims`]): usage an agent already reported through `emit` is not imported again.
//! 5. **Writer** ([`writer`]): rows → one ExecutionEvent per session × feature × WP × role × model × hour,
//!    through the telemetry log's single write path, idempotent through the [`ledger`].
//!
//! [`import()`] runs the pipeline over every log; [`hooks`] runs it over one transcript for an agent's
//! hook and edits the agents' hook settings.

pub mod attribution;
pub mod claims;
pub mod claude;
pub mod codex;
mod de;
pub mod gemini;
pub mod hooks;
mod import;
pub mod ledger;
pub mod lines;
pub mod scope;
mod walk;
pub mod writer;

pub use import::{ImportError, ImportOptions, ImportReport, ImportSource, import};

use chrono::{DateTime, Utc};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// The agents whose logs are read (serialised as their name: `claude`, `codex`, `gemini`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Agent {
    Claude,
    Codex,
    Gemini,
}

impl Agent {
    pub const ALL: [Agent; 3] = [Agent::Claude, Agent::Codex, Agent::Gemini];

    /// The agent name events carry (`agent` payload key), as the templates spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Agent::Claude => "claude",
            Agent::Codex => "codex",
            Agent::Gemini => "gemini",
        }
    }

    /// The `source` payload key of imported events.
    pub fn source(self) -> &'static str {
        match self {
            Agent::Claude => "import:claude",
            Agent::Codex => "import:codex",
            Agent::Gemini => "import:gemini",
        }
    }
}

impl fmt::Display for Agent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Agent {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Agent::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| format!("unknown agent {s:?}; expected claude, codex, gemini or all"))
    }
}

/// Token counts in our convention: `input` excludes cache reads and writes; `output` includes reasoning
/// (thinking) tokens, which are priced as output; `cache_write_1h` is the part of `cache_write` written
/// to Anthropic's 1-hour cache; `reasoning` is the part of `output` that was reasoning (informational).
/// Serialised with the event payload's key names (`input_tokens`, …).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Tokens {
    #[serde(rename = "input_tokens")]
    pub input: u64,
    #[serde(rename = "output_tokens")]
    pub output: u64,
    #[serde(rename = "cache_read_tokens")]
    pub cache_read: u64,
    #[serde(rename = "cache_write_tokens")]
    pub cache_write: u64,
    #[serde(rename = "cache_write_1h_tokens")]
    pub cache_write_1h: u64,
    #[serde(rename = "reasoning_tokens")]
    pub reasoning: u64,
}

impl Tokens {
    pub fn is_zero(&self) -> bool {
        *self == Tokens::default()
    }

    pub fn total(&self) -> u64 {
        self.input.saturating_add(self.output).saturating_add(self.cache_read).saturating_add(self.cache_write)
    }

    /// Field-wise sum (saturating: counts come from untrusted files).
    pub fn add(&mut self, other: &Tokens) {
        self.input = self.input.saturating_add(other.input);
        self.output = self.output.saturating_add(other.output);
        self.cache_read = self.cache_read.saturating_add(other.cache_read);
        self.cache_write = self.cache_write.saturating_add(other.cache_write);
        self.cache_write_1h = self.cache_write_1h.saturating_add(other.cache_write_1h);
        self.reasoning = self.reasoning.saturating_add(other.reasoning);
    }

    /// What `self` has beyond `seen`, field by field (never negative): the part of a grown copy of a
    /// record that was not imported yet.
    pub fn beyond(&self, seen: &Tokens) -> Tokens {
        Tokens {
            input: self.input.saturating_sub(seen.input),
            output: self.output.saturating_sub(seen.output),
            cache_read: self.cache_read.saturating_sub(seen.cache_read),
            cache_write: self.cache_write.saturating_sub(seen.cache_write),
            cache_write_1h: self.cache_write_1h.saturating_sub(seen.cache_write_1h),
            reasoning: self.reasoning.saturating_sub(seen.reasoning),
        }
    }

    /// Field-wise maximum.
    pub fn max(&self, other: &Tokens) -> Tokens {
        Tokens {
            input: self.input.max(other.input),
            output: self.output.max(other.output),
            cache_read: self.cache_read.max(other.cache_read),
            cache_write: self.cache_write.max(other.cache_write),
            cache_write_1h: self.cache_write_1h.max(other.cache_write_1h),
            reasoning: self.reasoning.max(other.reasoning),
        }
    }
}

/// How a record is recognised again (in another file, a later copy, a later import).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dedup {
    /// No identity (e.g. a Claude line without `message.id`): always counted.
    None,
    /// Copies of one record share `key` and may grow (Claude streaming copies, Gemini re-appended
    /// messages): only what a copy has beyond the largest copy already imported counts. `aux` tells
    /// apart records that share a key but are distinct (Claude: the request id); `sidechain` marks a
    /// copy replayed into a side chain.
    Grow { key: RecordKey, aux: u64, sidechain: bool },
    /// The record is counted once; a second sighting (a forked Codex rollout) adds nothing.
    Once { key: RecordKey },
}

/// A 128-bit digest identifying a record across files and imports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordKey(pub [u8; 16]);

impl RecordKey {
    /// The digest of `parts` (length-prefixed, so `("ab","c")` and `("a","bc")` differ).
    pub fn of(parts: &[&[u8]]) -> RecordKey {
        use sha2::Digest as _;
        let mut hasher = sha2::Sha256::new();
        for part in parts {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        let digest = hasher.finalize();
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        RecordKey(key)
    }

    /// A 64-bit digest for secondary identities (`aux`).
    pub fn small(text: &str) -> u64 {
        let key = RecordKey::of(&[text.as_bytes()]);
        u64::from_le_bytes(key.0[..8].try_into().expect("8 bytes"))
    }
}

/// One usage record after its agent's rules: who spent what, when, where.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageRow {
    pub agent: Agent,
    pub at: DateTime<Utc>,
    pub session: Arc<str>,
    /// The working directory the agent ran in (absolute), when the log says.
    pub cwd: Option<Arc<str>>,
    /// The git branch checked out there, when the log says (Claude, Codex).
    pub branch: Option<Arc<str>>,
    pub model: Option<Arc<str>>,
    pub tokens: Tokens,
    pub dedup: Dedup,
}

/// What a parse skipped, by reason. Nothing skipped is ever fatal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Lines that are not JSON objects (truncated, binary, not UTF-8).
    pub malformed: u64,
    /// Lines longer than [`lines::MAX_LINE_BYTES`].
    pub too_long: u64,
    /// Usage records without a timestamp that can be read.
    pub no_timestamp: u64,
    /// Claude `<synthetic>` placeholders (API errors), which carry no real usage.
    pub synthetic: u64,
    /// Codex `token_count` events repeating the previous cumulative total.
    pub reemitted: u64,
    /// Codex token counts replayed from a parent thread at the start of a subagent or forked rollout.
    pub replayed: u64,
    /// Claude side-chain lines replaying a response already counted.
    pub sidechain_replays: u64,
    /// Copies of records already counted (streaming copies, re-appended messages, forked histories).
    pub duplicates: u64,
    /// Files that could not be read (vanished, unreadable, not a regular file, bad compression).
    pub unreadable_files: u64,
}

impl Skipped {
    pub fn add(&mut self, other: &Skipped) {
        self.malformed += other.malformed;
        self.too_long += other.too_long;
        self.no_timestamp += other.no_timestamp;
        self.synthetic += other.synthetic;
        self.reemitted += other.reemitted;
        self.replayed += other.replayed;
        self.sidechain_replays += other.sidechain_replays;
        self.duplicates += other.duplicates;
        self.unreadable_files += other.unreadable_files;
    }

    /// `(name, count)` for every non-zero counter, in a stable order.
    pub fn entries(&self) -> Vec<(&'static str, u64)> {
        [
            ("malformed_lines", self.malformed),
            ("lines_over_16_mib", self.too_long),
            ("records_without_timestamp", self.no_timestamp),
            ("synthetic_records", self.synthetic),
            ("reemitted_totals", self.reemitted),
            ("replayed_parent_totals", self.replayed),
            ("sidechain_replays", self.sidechain_replays),
            ("duplicate_records", self.duplicates),
            ("unreadable_files", self.unreadable_files),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect()
    }
}

/// Serialised as an object of the non-zero [`Skipped::entries`].
impl serde::Serialize for Skipped {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.entries())
    }
}

/// Where the agents keep their logs: the home directory and each agent's own variables
/// (`CLAUDE_CONFIG_DIR`, `XDG_CONFIG_HOME`, `CODEX_HOME`, `GEMINI_CLI_HOME`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentHomes {
    pub home: Option<std::path::PathBuf>,
    pub claude_config_dir: Option<std::ffi::OsString>,
    pub xdg_config_home: Option<std::path::PathBuf>,
    pub codex_home: Option<std::path::PathBuf>,
    pub gemini_cli_home: Option<std::path::PathBuf>,
}

impl AgentHomes {
    /// From a variable lookup (the process environment, or a test's).
    pub fn from_vars(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> Self {
        let path = |name: &str| var(name).filter(|v| !v.is_empty()).map(std::path::PathBuf::from);
        AgentHomes {
            home: path("HOME"),
            claude_config_dir: var("CLAUDE_CONFIG_DIR").filter(|v| !v.is_empty()),
            xdg_config_home: path("XDG_CONFIG_HOME"),
            codex_home: path("CODEX_HOME"),
            gemini_cli_home: path("GEMINI_CLI_HOME"),
        }
    }

    pub fn from_process() -> Self {
        Self::from_vars(|name| std::env::var_os(name))
    }
}

/// What reading one log file (from an offset) gave.
#[derive(Debug, Default)]
pub struct FileRead {
    pub rows: Vec<UsageRow>,
    /// The offset up to which the file was read (complete lines): where the next import starts.
    pub consumed: u64,
    /// The adapter's state after the last line read (Codex: the running totals), kept in the ledger.
    pub state: Option<String>,
    pub skipped: Skipped,
    /// The file belongs to another project (Codex's first line says where it ran): it is not read
    /// further, now or later.
    pub foreign: bool,
}

/// Opens a log for reading from `offset` (a regular file only: a FIFO or device is refused without
/// blocking).
pub(crate) fn open_at(path: &std::path::Path, offset: u64) -> std::io::Result<std::fs::File> {
    use std::io::{Seek, SeekFrom};
    let mut file = crate::fsutil::open_regular(path, std::fs::OpenOptions::new().read(true))?;
    if offset > 0 {
        file.seek(SeekFrom::Start(offset))?;
    }
    Ok(file)
}

/// Parses a log timestamp (`2026-01-02T03:04:05.000Z` and the other ISO 8601 forms) as UTC.
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    match crate::events::Timestamp::parse(text) {
        Ok(ts) => Some(ts.to_utc()),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_and_keys() {
        let seen = Tokens { input: 7, output: 3, cache_read: 20, ..Tokens::default() };
        let grown = Tokens { input: 7, output: 412, cache_read: 20, ..Tokens::default() };
        assert_eq!(grown.beyond(&seen), Tokens { output: 409, ..Tokens::default() });
        assert!(seen.beyond(&grown).is_zero());
        assert_ne!(RecordKey::of(&[b"ab", b"c"]), RecordKey::of(&[b"a", b"bc"]));
        assert_eq!("codex".parse::<Agent>(), Ok(Agent::Codex));
        assert!("all".parse::<Agent>().is_err());
    }
}
