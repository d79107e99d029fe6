//! Pieces several commands share: project discovery with its hint, the telemetry flags that workflow
//! commands accept, and JSON result printing.

use super::output;
use crate::context::Context;
use crate::error::CliError;
use crate::events::pyjson;
use crate::project::Project;
use crate::telemetry::{ExecutionRecord, Role};
use clap::Args;
use serde_json::Value;
use std::io::{IsTerminal, Write};

/// The project the command runs in, or a failure with a hint.
pub fn discover(ctx: &Context) -> Result<Project, CliError> {
    Project::discover(ctx).map_err(|e| {
        CliError::failure(e.to_string())
            .hint("run inside a spec-kitty project (a directory with .kittify/; `spec-kitty init` creates one), or pass -C <project-dir>")
    })
}

/// Prints `value` as one line in `json.dumps` style (upstream's `--json` output shape).
pub fn print_json_line<T: serde::Serialize + ?Sized>(value: &T) -> Result<(), CliError> {
    print_json(value, pyjson::COMPACT)
}

/// Prints `value` as `json.dumps` would in `style`, and a newline.
pub fn print_json<T: serde::Serialize + ?Sized>(value: &T, style: pyjson::Style) -> Result<(), CliError> {
    let text =
        pyjson::to_string_of(value, style).map_err(|e| CliError::failure(format!("cannot encode the result: {e}")))?;
    output::print(&(text + "\n"))?;
    Ok(())
}

/// Runs a command body; in `--json` mode a failure is also printed on stdout as `{"error": …}` (plus
/// `error_code` when known), as upstream's agent commands do, so scripts parsing stdout see it.
pub fn json_aware(json: bool, body: impl FnOnce() -> Result<(), CliError>) -> Result<(), CliError> {
    let result = body();
    if let (true, Err(error)) = (json, &result)
        && !error.is_broken_pipe()
        && !error.result_printed
    {
        let mut object = serde_json::Map::new();
        object.insert("error".into(), Value::String(error.message.clone()));
        if let Some(code) = error.error_code {
            object.insert("error_code".into(), Value::String(code.into()));
        }
        object.extend(error.details.iter().flat_map(|d| d.iter()).map(|(k, v)| (k.clone(), v.clone())));
        print_json_line(&Value::Object(object))?;
    }
    result
}

/// `--feature` of every command that works on one feature.
#[derive(Debug, Clone, Default, Args)]
pub struct FeatureArg {
    /// Feature slug, or its number (default: $SPECIFY_FEATURE, the git branch, the directory, the only
    /// feature, else the latest incomplete one).
    #[arg(short = 'f', long = "feature", value_name = "SLUG")]
    pub slug: Option<String>,
}

/// The usage flags agents pass to workflow commands so each phase's cost is recorded.
#[derive(Debug, Clone, Default, Args)]
pub struct TelemetryFlags {
    /// Agent running this command (claude, codex, …); recorded in telemetry (default "unknown").
    #[arg(long)]
    pub agent: Option<String>,
    /// Model the agent used.
    #[arg(long)]
    pub model: Option<String>,
    /// Input tokens spent in this phase (excluding cache reads and writes).
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = parse_tokens)]
    pub input_tokens: Option<u64>,
    /// Output tokens spent in this phase.
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = parse_tokens)]
    pub output_tokens: Option<u64>,
    /// Prompt-cache read tokens.
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = parse_tokens)]
    pub cache_read_tokens: Option<u64>,
    /// Prompt-cache write tokens.
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = parse_tokens)]
    pub cache_write_tokens: Option<u64>,
    /// Cost in USD, when the agent reports it.
    #[arg(long, value_name = "USD", allow_hyphen_values = true, value_parser = parse_cost)]
    pub cost_usd: Option<f64>,
    /// Duration of the phase in milliseconds.
    #[arg(long, value_name = "MS", allow_negative_numbers = true, value_parser = parse_count)]
    pub duration_ms: Option<u64>,
}

impl TelemetryFlags {
    pub fn usage(&self) -> crate::telemetry::Usage {
        crate::telemetry::Usage {
            agent: self.agent.clone(),
            model: self.model.clone(),
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cache_read_tokens: self.cache_read_tokens,
            cache_write_tokens: self.cache_write_tokens,
            cost_usd: self.cost_usd,
            duration_ms: self.duration_ms,
        }
    }

    /// See [`crate::telemetry::Usage::record`].
    pub fn record(&self, role: Role, wp_id: &str, fallback_agent: Option<&str>) -> Option<ExecutionRecord> {
        self.usage().record(role, wp_id, fallback_agent)
    }
}

/// Records an ExecutionEvent for a workflow phase when the agent asked for one (`record` is `None`
/// otherwise). Never fails the command: a write problem is a warning.
pub fn record_execution(ctx: &Context, project: &Project, feature_slug: &str, record: Option<ExecutionRecord>) {
    let Some(record) = record else { return };
    match crate::telemetry::emit(&project.root, &project.feature_dir(feature_slug), feature_slug, &record, ctx) {
        Ok(emitted) => emitted.warnings.iter().for_each(|w| output::warn(w)),
        Err(e) => output::warn(&format!("telemetry event not recorded: {e}")),
    }
}

pub fn parse_count(text: &str) -> Result<u64, String> {
    text.trim().parse::<u64>().map_err(|_| format!("{text:?} is not a non-negative whole number"))
}

/// A token count of one event: a whole number up to [`crate::telemetry::record::MAX_TOKENS`].
pub fn parse_tokens(text: &str) -> Result<u64, String> {
    let count = parse_count(text)?;
    if count > crate::telemetry::record::MAX_TOKENS {
        return Err(format!(
            "{count} exceeds the maximum of {} tokens per event",
            crate::telemetry::record::MAX_TOKENS
        ));
    }
    Ok(count)
}

/// A cost of one event in USD: finite, non-negative, at most [`crate::telemetry::record::MAX_COST_USD`].
pub fn parse_cost(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => crate::telemetry::record::check_cost(v)
            .map_err(|_| format!("{text} exceeds the maximum of 1000000000 USD per event")),
        _ => Err(format!("{text:?} is not a finite, non-negative amount of dollars")),
    }
}

/// The feature a workflow command acts on, with upstream's detection priorities (see
/// [`crate::project::detect`]); an automatic pick of the latest incomplete feature is announced on stderr
/// (upstream printed it on stdout, which broke `--json`). A failure lists the candidates, also as
/// `candidate_features` in the `--json` error object.
pub fn resolve_feature(
    ctx: &Context,
    project: &Project,
    explicit: Option<&str>,
) -> Result<crate::project::Feature, CliError> {
    use crate::project::{DetectOptions, Detected, detect_feature};
    let branch = crate::git::branch_at(&ctx.cwd);
    let options = DetectOptions {
        explicit,
        environment: ctx.feature_override.as_deref(),
        git_branch: branch.as_deref(),
        cwd: Some(&ctx.cwd),
    };
    match detect_feature(project, &options, crate::workflow::feature_is_complete) {
        Ok((feature, how)) => {
            // kitty-specs/ or the feature directory may be symlinks, but never to outside the project.
            crate::fsutil::ensure_within(&project.root, &feature.dir).map_err(|e| {
                CliError::failure(format!("cannot use feature {}: {e}", feature.slug))
                    .with_code("FEATURE_CONTEXT_UNRESOLVED")
            })?;
            if how == Detected::LatestIncomplete {
                output::note(&format!("ℹ️  Auto-selected latest incomplete: {}", feature.slug));
            }
            Ok(feature)
        }
        Err(error) => Err(error.into()),
    }
}

/// Hands workflow events to the sync queue. Emission never fails a command: problems are warnings.
pub fn publish(
    ctx: &Context,
    project: Option<&Project>,
    events: &[crate::sync::SyncEvent],
    causation: crate::sync::Causation,
) {
    if events.is_empty() {
        return;
    }
    let emission = crate::sync::emit(ctx, project, events, causation);
    for warning in &emission.warnings {
        output::warn(warning);
    }
    if emission.queued > 0 || emission.spooled > 0 {
        EVENTS_QUEUED.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Set once this process queued sync events; the exit flush only runs for such commands.
static EVENTS_QUEUED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The exit flush: when this command queued events, deliver the queue within `[sync] exit_flush_ms`
/// (see `sync::runner::exit_flush` for when it is skipped — e.g. while a `sync daemon` runs). Runs
/// after the command's output is written; it never changes the exit code, even if it panics. Then,
/// on a terminal only, the one-line sync indicator (FR-038).
pub fn exit_flush(ctx: &Context) {
    if EVENTS_QUEUED.swap(false, std::sync::atomic::Ordering::Relaxed) {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| crate::sync::runner::exit_flush(ctx)));
        if std::io::stderr().is_terminal() {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| show_sync_indicator(ctx)));
        }
    }
}

/// `[sync: Connected]` or `[sync: Offline — 3 event(s) queued]` on stderr: the running service's
/// connection (Offline without one) and what waits in the queue. Never on stdout, never on a pipe
/// (agents and scripts parse command output; the indicator is for people).
fn show_sync_indicator(ctx: &Context) {
    use crate::sync::{config::UserConfig, daemon, emit::QUEUE_FILE, queue::OfflineQueue};
    let Some(home) = ctx.home.as_deref() else { return };
    let status = daemon::running(home).map_or(daemon::ConnectionStatus::Offline, |h| h.connection);
    let limits = UserConfig::load(home).map(|c| c.queue_limits()).unwrap_or_default();
    let queued = OfflineQueue::open(&home.join(QUEUE_FILE), limits).and_then(|q| q.len()).unwrap_or(0);
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{}", sync_indicator(status, queued));
}

/// The indicator's text. Connected says nothing more: the events are on their way as they are queued.
pub fn sync_indicator(status: crate::sync::daemon::ConnectionStatus, queued: u64) -> String {
    match (status, queued) {
        (crate::sync::daemon::ConnectionStatus::Connected, _) => format!("[sync: {status}]"),
        (_, 0) => format!("[sync: {status} — all events delivered]"),
        (_, n) => format!("[sync: {status} — {n} event(s) queued]"),
    }
}

/// Runs a workflow command body; when it fails, one ErrorLogged event carrying the real message is
/// queued (upstream logged `"1"`, twice). `--json` failures are also printed as `{"error": …}`.
pub fn logged(
    ctx: &Context,
    json: bool,
    wp_id: Option<&str>,
    agent: Option<&str>,
    body: impl FnOnce() -> Result<(), CliError>,
) -> Result<(), CliError> {
    let result = json_aware(json, body);
    if let Err(error) = &result
        && !error.is_broken_pipe()
    {
        use crate::sync::event::{ErrorType, SyncEvent};
        let event = SyncEvent::ErrorLogged {
            error_type: if error.code == crate::error::EXIT_USAGE || error.invalid_input {
                ErrorType::Validation
            } else {
                ErrorType::Runtime
            },
            error_message: error.message.clone(),
            wp_id: wp_id.and_then(|w| crate::workflow::wp::normalize_wp_id(w).ok()),
            stack_trace: None,
            agent_id: agent.map(str::to_owned),
        };
        let project = Project::discover(ctx).ok();
        publish(ctx, project.as_ref(), &[event], crate::sync::Causation::None);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::daemon::ConnectionStatus;

    #[test]
    fn the_sync_indicator_names_the_status_and_what_waits() {
        assert_eq!(sync_indicator(ConnectionStatus::Connected, 3), "[sync: Connected]");
        assert_eq!(sync_indicator(ConnectionStatus::Offline, 3), "[sync: Offline — 3 event(s) queued]");
        assert_eq!(
            sync_indicator(ConnectionStatus::OfflineBatchMode, 1),
            "[sync: Offline-BatchMode — 1 event(s) queued]"
        );
        assert_eq!(sync_indicator(ConnectionStatus::Reconnecting, 0), "[sync: Reconnecting — all events delivered]");
    }
}
