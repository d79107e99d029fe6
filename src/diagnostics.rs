//! Diagnostics through `tracing`: the core modules record what they do (HTTP requests, retries, lock
//! waits, queue busy waits, git invocations, WebSocket connections, the exit flush decision) as
//! `debug!`/`trace!` events, and `main.rs` installs a subscriber that prints them on stderr only when
//! asked:
//!
//! - `-v` shows our crate's debug events, `-vv` its trace events too;
//! - `SPEC_KITTY_LOG` is an `EnvFilter` directive string (`debug`, `spec_kitty::sync=trace`,
//!   `spec_kitty=debug,hyper_util=trace`, …) added after the one `-v` implies, so it can widen or narrow
//!   it; an invalid value is a usage error naming the variable.
//!
//! Without either, no subscriber is installed and no filter is built: every event is one relaxed atomic
//! load that finds logging off, so start-up and output are exactly as they were.
//!
//! `sync daemon` is the exception: its log (one line per notable event, see `cli::sync`) goes through
//! `tracing` as INFO events, so it always gets a subscriber, at INFO by default; `-v`/`-vv` and
//! `SPEC_KITTY_LOG` add the diagnostics to its log.
//!
//! Nothing secret is ever recorded: no token, password, `Authorization` header or credentials file
//! content appears in any event (HTTP requests are logged by method, URL, status and timing; server URLs
//! never carry credentials, see [`crate::sync::http::ServerUrl`]).

use std::ffi::OsString;
use std::fmt;
use std::time::Duration;
use tracing::{Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The environment variable holding extra filter directives.
pub const LOG_VAR: &str = "SPEC_KITTY_LOG";

/// What the process logs, and how its lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// A short command: nothing unless asked for; lines carry a millisecond timestamp, the level and the
    /// module.
    Command,
    /// `sync daemon`: its own log at INFO always; INFO and above are `<timestamp> <message>` lines.
    Daemon,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid {LOG_VAR}={value:?}: {reason}")]
pub struct FilterError {
    value: String,
    reason: String,
}

/// The filter directives for `profile`, `verbose` (the count of `-v`) and the value of
/// `SPEC_KITTY_LOG`; `None` when nothing is to be logged (then no subscriber is installed at all).
pub fn directives(profile: Profile, verbose: u8, spec: Option<&str>) -> Option<String> {
    let level = match (profile, verbose) {
        (Profile::Command, 0) => None,
        (Profile::Daemon, 0) => Some("info"),
        (_, 1) => Some("debug"),
        (_, _) => Some("trace"),
    };
    let spec = spec.map(str::trim).filter(|s| !s.is_empty());
    match (level, spec) {
        (None, None) => None,
        (Some(level), None) => Some(format!("spec_kitty={level}")),
        (None, Some(spec)) => Some(spec.to_owned()),
        // Later directives for the same target win, so the variable can adjust what `-v` asked for.
        (Some(level), Some(spec)) => Some(format!("spec_kitty={level},{spec}")),
    }
}

/// Installs the stderr subscriber when `-v`, `SPEC_KITTY_LOG` or the profile asks for one. `spec` is the
/// raw value of `SPEC_KITTY_LOG` (empty counts as unset).
pub fn install(profile: Profile, verbose: u8, spec: Option<OsString>) -> Result<(), FilterError> {
    let spec = match spec {
        Some(value) => match value.into_string() {
            Ok(text) => Some(text),
            Err(raw) => {
                return Err(FilterError {
                    value: raw.to_string_lossy().into_owned(),
                    reason: "not valid UTF-8".into(),
                });
            }
        },
        None => None,
    };
    let Some(directives) = directives(profile, verbose, spec.as_deref()) else {
        return Ok(());
    };
    let filter = parse_filter(spec.as_deref(), &directives)?;
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        // A closed stderr must never turn into a panic or a message about itself.
        .log_internal_errors(false)
        .event_format(LineFormat { profile })
        .finish();
    // Only main.rs installs, once; should anything have installed one before, it stays.
    let _ = tracing::subscriber::set_global_default(subscriber);
    Ok(())
}

/// Checks the user's part on its own first, so a mistake is reported against the variable.
fn parse_filter(spec: Option<&str>, directives: &str) -> Result<tracing_subscriber::EnvFilter, FilterError> {
    let builder = || tracing_subscriber::EnvFilter::builder();
    if let Some(spec) = spec.map(str::trim).filter(|s| !s.is_empty()) {
        builder().parse(spec).map_err(|e| FilterError {
            value: spec.to_owned(),
            reason: format!(
                "{e} (expected tracing filter directives such as `debug`, `spec_kitty::sync=trace` or \
                 `spec_kitty=debug,hyper_util=trace`)"
            ),
        })?;
    }
    builder().parse(directives).map_err(|e| FilterError { value: directives.to_owned(), reason: e.to_string() })
}

/// `<time> <LEVEL> <module>: <message> <fields>`; for the daemon's own INFO-and-above lines just
/// `<time> <message>`, the log format the README documents.
struct LineFormat {
    profile: Profile,
}

impl<S, N> FormatEvent<S, N> for LineFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let now = chrono::Utc::now();
        match self.profile {
            Profile::Daemon => write!(writer, "{} ", now.format("%Y-%m-%dT%H:%M:%SZ"))?,
            Profile::Command => write!(writer, "{} ", now.format("%Y-%m-%dT%H:%M:%S%.3fZ"))?,
        }
        // Levels compare by verbosity: INFO, WARN and ERROR are `<= INFO`.
        let plain = self.profile == Profile::Daemon && *meta.level() <= Level::INFO;
        if !plain {
            write!(writer, "{} {}: ", meta.level(), meta.target())?;
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// A duration in milliseconds with one decimal (`elapsed=3.1ms`), for event fields.
#[derive(Debug, Clone, Copy)]
pub struct Ms(pub Duration);

impl fmt::Display for Ms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.1}ms", self.0.as_secs_f64() * 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_logged_unless_asked() {
        assert_eq!(directives(Profile::Command, 0, None), None);
        assert_eq!(directives(Profile::Command, 0, Some("  ")), None, "an empty variable counts as unset");
        assert_eq!(directives(Profile::Command, 1, None).as_deref(), Some("spec_kitty=debug"));
        assert_eq!(directives(Profile::Command, 2, None).as_deref(), Some("spec_kitty=trace"));
        assert_eq!(directives(Profile::Command, 7, None).as_deref(), Some("spec_kitty=trace"));
        assert_eq!(directives(Profile::Command, 0, Some("debug")).as_deref(), Some("debug"));
        assert_eq!(
            directives(Profile::Command, 1, Some("spec_kitty::sync=trace")).as_deref(),
            Some("spec_kitty=debug,spec_kitty::sync=trace")
        );
    }

    #[test]
    fn the_daemon_always_logs_at_info_at_least() {
        assert_eq!(directives(Profile::Daemon, 0, None).as_deref(), Some("spec_kitty=info"));
        assert_eq!(directives(Profile::Daemon, 1, None).as_deref(), Some("spec_kitty=debug"));
        assert_eq!(directives(Profile::Daemon, 0, Some("warn")).as_deref(), Some("spec_kitty=info,warn"));
    }

    #[test]
    fn invalid_directives_name_the_variable() {
        let err = parse_filter(Some("spec_kitty=loud"), "spec_kitty=loud").unwrap_err().to_string();
        assert!(err.starts_with("invalid SPEC_KITTY_LOG=\"spec_kitty=loud\": "), "{err}");
        assert!(err.contains("spec_kitty::sync=trace"), "{err}");
        assert!(parse_filter(Some("debug"), "spec_kitty=debug,debug").is_ok());
        assert!(parse_filter(None, "spec_kitty=info").is_ok());
    }

    #[test]
    fn milliseconds_have_one_decimal() {
        assert_eq!(Ms(Duration::from_micros(3140)).to_string(), "3.1ms");
        assert_eq!(Ms(Duration::from_secs(2)).to_string(), "2000.0ms");
    }
}
