//! The resolved environment every command runs in: where it was started, the user's spec-kitty home,
//! and the sources of time and ids. Everything that tests must pin comes from here.
//!
//! | variable | effect |
//! |---|---|
//! | `SPEC_KITTY_HOME` | per-user state directory (default `~/.spec-kitty`) |
//! | `SPEC_KITTY_NOW` | fixed clock, RFC 3339 (e.g. `2026-02-16T11:12:33Z`) |
//! | `SPEC_KITTY_ID_SEED` | deterministic ULID randomness (an unsigned integer) |
//! | `SPECIFY_REPO_ROOT` | project root to use when it contains `.kittify/` (as upstream) |
//! | `SPEC_KITTY_SAAS_URL` | sync server URL, overriding `[sync] server_url` in config.toml |
//! | `SPEC_KITTY_CA_FILE` | extra CA certificate (PEM) to trust for the sync server, overriding `[sync] ca_file` |
//! | `SPEC_KITTY_SYNC_EVENTS` | `0` stops commands from queueing sync events (as `[sync] events = false`) |
//! | `SPECIFY_FEATURE` | feature to act on when a command's `--feature` is not given (as upstream) |
//! | `SPEC_KITTY_STRICT` | `1` makes fire-and-forget failures (telemetry writes) exit non-zero |
//! | `SPEC_KITTY_LOCK_TIMEOUT_MS` | how long workflow commands wait for a file lock another process holds (default 30000) |
//! | `SPEC_KITTY_EMIT_LOCK_TIMEOUT_MS` | how long a telemetry emit waits for the log's lock before giving up with a warning (default 2000) |
//!
//! `SPEC_KITTY_LOG` (diagnostics on stderr) is read by `main.rs` before any context exists; see
//! [`crate::diagnostics`].

use crate::events::{IdGenerator, Timestamp};
use chrono::{DateTime, Utc};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;
use ulid::Ulid;

/// How long workflow commands wait for a lock another process holds (`SPEC_KITTY_LOCK_TIMEOUT_MS`).
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a telemetry emit waits for the log's lock (`SPEC_KITTY_EMIT_LOCK_TIMEOUT_MS`); emits are
/// fire-and-forget for agents, so they give up early with a warning.
pub const DEFAULT_EMIT_LOCK_TIMEOUT: Duration = Duration::from_secs(2);

/// Where "now" comes from.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    System,
    Fixed(DateTime<Utc>),
}

impl Clock {
    pub fn now(self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Fixed(at) => at,
        }
    }
}

#[derive(Debug)]
pub struct Context {
    /// The directory the command acts from (the process cwd, or `-C DIR`).
    pub cwd: PathBuf,
    /// `~/.spec-kitty` or `$SPEC_KITTY_HOME`; `None` when no home directory is known.
    pub home: Option<PathBuf>,
    /// `$SPECIFY_REPO_ROOT`.
    pub repo_root_override: Option<PathBuf>,
    /// `$SPECIFY_FEATURE`: the feature to act on when `--feature` is not given.
    pub feature_override: Option<String>,
    /// `$SPEC_KITTY_SAAS_URL`: the sync server, overriding `[sync] server_url`.
    pub server_url_override: Option<String>,
    /// `$SPEC_KITTY_CA_FILE`: an extra CA to trust, overriding `[sync] ca_file`.
    pub ca_file_override: Option<PathBuf>,
    /// `$SPEC_KITTY_SYNC_EVENTS=0` turns sync-event emission off for this process (as `[sync] events = false`).
    pub sync_events_disabled: bool,
    pub clock: Clock,
    pub ids: IdGenerator,
    /// `$SPEC_KITTY_STRICT=1`.
    pub strict: bool,
    /// `$SPEC_KITTY_LOCK_TIMEOUT_MS`: the longest wait for a workflow lock (status log, queue spool).
    pub lock_timeout: Duration,
    /// `$SPEC_KITTY_EMIT_LOCK_TIMEOUT_MS`: the longest wait for an execution log's lock.
    pub emit_lock_timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("invalid {name}={value:?}: {expected}")]
    InvalidVariable { name: &'static str, value: String, expected: &'static str },
    #[error("cannot use directory {}: {source}", path.display())]
    Directory { path: PathBuf, source: std::io::Error },
}

impl Context {
    /// Builds the context from the process environment; `directory` is the global `-C DIR`.
    pub fn from_env(directory: Option<&Path>) -> Result<Self, ContextError> {
        Self::from_vars(directory, |name| std::env::var_os(name))
    }

    /// Builds the context from an arbitrary variable lookup (tests use this).
    pub fn from_vars(directory: Option<&Path>, var: impl Fn(&str) -> Option<OsString>) -> Result<Self, ContextError> {
        let text = |name: &'static str| var(name).map(|v| v.to_string_lossy().into_owned()).filter(|v| !v.is_empty());
        let invalid = |name: &'static str, value: String, expected: &'static str| ContextError::InvalidVariable {
            name,
            value,
            expected,
        };

        let process_cwd =
            std::env::current_dir().map_err(|source| ContextError::Directory { path: PathBuf::from("."), source })?;
        let cwd = match directory {
            Some(dir) => {
                let joined = process_cwd.join(dir);
                joined.canonicalize().map_err(|source| ContextError::Directory { path: dir.to_owned(), source })?
            }
            None => process_cwd,
        };
        let home = match var("SPEC_KITTY_HOME").filter(|v| !v.is_empty()) {
            Some(home) => Some(PathBuf::from(home)),
            None => var("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".spec-kitty")),
        };
        let clock = match text("SPEC_KITTY_NOW") {
            Some(value) => match Timestamp::parse(&value) {
                Ok(Timestamp::Aware(at)) => Clock::Fixed(at.with_timezone(&Utc)),
                _ => {
                    return Err(invalid(
                        "SPEC_KITTY_NOW",
                        value,
                        "expected an RFC 3339 time such as 2026-02-16T11:12:33Z",
                    ));
                }
            },
            None => Clock::System,
        };
        let ids = match text("SPEC_KITTY_ID_SEED") {
            Some(value) => match value.trim().parse::<u64>() {
                Ok(seed) => IdGenerator::seeded(seed),
                Err(_) => return Err(invalid("SPEC_KITTY_ID_SEED", value, "expected an unsigned integer")),
            },
            None => IdGenerator::random(),
        };
        let millis = |name: &'static str, default: Duration| match text(name) {
            Some(value) => match value.trim().parse::<u64>() {
                Ok(ms) => Ok(Duration::from_millis(ms)),
                Err(_) => Err(invalid(name, value, "expected a whole number of milliseconds")),
            },
            None => Ok(default),
        };
        let lock_timeout = millis("SPEC_KITTY_LOCK_TIMEOUT_MS", DEFAULT_LOCK_TIMEOUT)?;
        let emit_lock_timeout = millis("SPEC_KITTY_EMIT_LOCK_TIMEOUT_MS", DEFAULT_EMIT_LOCK_TIMEOUT)?;
        Ok(Context {
            cwd,
            home,
            repo_root_override: var("SPECIFY_REPO_ROOT").filter(|v| !v.is_empty()).map(PathBuf::from),
            feature_override: text("SPECIFY_FEATURE"),
            server_url_override: text("SPEC_KITTY_SAAS_URL"),
            ca_file_override: var("SPEC_KITTY_CA_FILE").filter(|v| !v.is_empty()).map(PathBuf::from),
            sync_events_disabled: text("SPEC_KITTY_SYNC_EVENTS")
                .is_some_and(|v| v == "0" || v.eq_ignore_ascii_case("false") || v.eq_ignore_ascii_case("off")),
            clock,
            ids,
            strict: text("SPEC_KITTY_STRICT").is_some_and(|v| v != "0" && !v.eq_ignore_ascii_case("false")),
            lock_timeout,
            emit_lock_timeout,
        })
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// A fresh ULID stamped with [`Context::now`].
    pub fn new_ulid(&self) -> Ulid {
        let ms = u64::try_from(self.now().timestamp_millis()).unwrap_or(0);
        self.ids.ulid(ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<OsString> {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| OsString::from(v))
    }

    #[test]
    fn pins_clock_ids_and_home() {
        let ctx = Context::from_vars(
            None,
            vars(&[
                ("SPEC_KITTY_NOW", "2026-02-16T11:12:33Z"),
                ("SPEC_KITTY_ID_SEED", "3"),
                ("SPEC_KITTY_HOME", "/tmp/h"),
                ("SPEC_KITTY_STRICT", "1"),
            ]),
        )
        .unwrap();
        assert_eq!(ctx.now().to_rfc3339(), "2026-02-16T11:12:33+00:00");
        assert_eq!(ctx.home.as_deref(), Some(Path::new("/tmp/h")));
        assert!(ctx.strict);
        let again =
            Context::from_vars(None, vars(&[("SPEC_KITTY_NOW", "2026-02-16T11:12:33Z"), ("SPEC_KITTY_ID_SEED", "3")]))
                .unwrap();
        assert_eq!(ctx.new_ulid(), again.new_ulid());
    }

    #[test]
    fn home_defaults_under_home() {
        let ctx = Context::from_vars(None, vars(&[("HOME", "/home/u")])).unwrap();
        assert_eq!(ctx.home.as_deref(), Some(Path::new("/home/u/.spec-kitty")));
        assert!(!ctx.strict);
    }

    #[test]
    fn rejects_bad_variables() {
        let err = Context::from_vars(None, vars(&[("SPEC_KITTY_NOW", "yesterday")])).unwrap_err();
        assert!(err.to_string().contains("SPEC_KITTY_NOW"));
        let err = Context::from_vars(None, vars(&[("SPEC_KITTY_NOW", "2026-02-16T11:12:33")])).unwrap_err();
        assert!(err.to_string().contains("RFC 3339"));
        let err = Context::from_vars(None, vars(&[("SPEC_KITTY_ID_SEED", "-1")])).unwrap_err();
        assert!(err.to_string().contains("SPEC_KITTY_ID_SEED"));
        let err = Context::from_vars(None, vars(&[("SPEC_KITTY_LOCK_TIMEOUT_MS", "2s")])).unwrap_err();
        assert!(err.to_string().contains("SPEC_KITTY_LOCK_TIMEOUT_MS"));
    }

    #[test]
    fn lock_timeouts_default_and_can_be_set() {
        let ctx = Context::from_vars(None, vars(&[])).unwrap();
        assert_eq!((ctx.lock_timeout, ctx.emit_lock_timeout), (DEFAULT_LOCK_TIMEOUT, DEFAULT_EMIT_LOCK_TIMEOUT));
        let ctx = Context::from_vars(
            None,
            vars(&[("SPEC_KITTY_LOCK_TIMEOUT_MS", "1500"), ("SPEC_KITTY_EMIT_LOCK_TIMEOUT_MS", "0")]),
        )
        .unwrap();
        assert_eq!((ctx.lock_timeout, ctx.emit_lock_timeout), (Duration::from_millis(1500), Duration::ZERO));
    }
}
