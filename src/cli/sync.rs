//! `spec-kitty sync …`: the offline queue and delivery to the team server.

use super::auth::runner_error;
use super::common::print_json_line;
use super::output;
use crate::context::Context;
use crate::error::CliError;
use crate::sync::config::{CONFIG_FILE, UserConfig};
use crate::sync::daemon::{self, ConnectionStatus, Heartbeat, Presence};
use crate::sync::delivery::{DeliveryReport, Progress, StopReason};
use crate::sync::emit::{QUEUE_FILE, SPOOL_FILE};
use crate::sync::event::diagnose_envelope;
use crate::sync::http::ServerUrl;
use crate::sync::queue::{OfflineQueue, QueueStats};
use crate::sync::runner::{self, SyncNowOptions};
use crate::sync::service::{self, DaemonError, ServiceEvent, ServiceOptions};
use crate::sync::state::SyncState;
use chrono::{DateTime, SecondsFormat, Utc};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

/// `sync now`: some events were rejected (they wait for a retry or are in the dead letters).
pub const EXIT_REJECTED: u8 = 3;
/// `sync now`: events could not be delivered (offline, not logged in, …); they are safe in the queue.
pub const EXIT_UNDELIVERED: u8 = 4;

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(subcommand)]
    command: SyncCommand,
}

#[derive(Debug, Subcommand)]
enum SyncCommand {
    /// Deliver every queued event to the sync server now.
    #[command(after_help = "Exit codes: 0 every event delivered (or nothing to do); 3 some events were rejected \
(they wait for a retry, or are in the dead letters after [sync] max_rejections); 4 events could not be \
delivered because the server is unreachable or not configured, or you are not logged in: they are safe \
in the queue; 1 a local problem (unreadable queue or config).")]
    Now(NowArgs),
    /// Show the offline queue (depth, age, retries, dead letters, dropped events), auth and server.
    Status(StatusArgs),
    /// Show or set the sync server URL ([sync] server_url in ~/.spec-kitty/config.toml).
    Server(ServerArgs),
    /// Move dead-lettered events back into the queue (all of them, or the given ids).
    RetryDead(RetryDeadArgs),
    /// Re-validate every queued event against the payload rules.
    Diagnose(DiagnoseArgs),
    /// Run the background sync service (WebSocket fast path, batch delivery) until SIGINT/SIGTERM.
    #[command(after_help = "Runs in the foreground: it holds the WebSocket, pushes new events within a second of \
their being queued, and delivers the queue by batch. One service runs per spec-kitty home (a second one \
refuses to start); `sync status` shows it. It logs one line per notable event on stderr. While it runs, workflow commands skip their exit flush. Settings: [sync] \
daemon_interval_secs (batch interval, default 300), batch_interval_ms (spacing between requests, default \
5000 here), websocket (default true), exit_flush_ms (the final flush on stop).")]
    Daemon(DaemonArgs),
}

#[derive(Debug, Args)]
struct DaemonArgs {
    /// Seconds between batch deliveries when nothing triggers one sooner (default: [sync]
    /// daemon_interval_secs, else 300).
    #[arg(long, value_name = "SECS", value_parser = parse_interval)]
    interval: Option<u64>,
}

fn parse_interval(text: &str) -> Result<u64, String> {
    match super::common::parse_count(text)? {
        0 => Err("the interval must be at least 1 second".into()),
        n => Ok(n),
    }
}

#[derive(Debug, Args)]
struct NowArgs {
    /// Write a JSON report of the run (summary and every rejected event) to FILE.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    /// Minimum milliseconds between requests (default: [sync] batch_interval_ms, else none).
    #[arg(long, value_name = "N", value_parser = super::common::parse_count)]
    spacing_ms: Option<u64>,
    /// Stop after this many seconds (events not delivered by then stay queued).
    #[arg(long, value_name = "SECS", value_parser = super::common::parse_count)]
    timeout: Option<u64>,
}

#[derive(Debug, Args)]
struct ServerArgs {
    /// The new server URL (https://…; http:// only for localhost). Without it, show the current one.
    url: Option<String>,
}

#[derive(Debug, Args)]
struct RetryDeadArgs {
    /// Event ids to re-queue (default: every dead-lettered event).
    event_ids: Vec<String>,
}

#[derive(Debug, Args)]
struct StatusArgs {
    /// Print the status as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct DiagnoseArgs {
    /// Print the results as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &Context, args: SyncArgs) -> Result<(), CliError> {
    match args.command {
        SyncCommand::Now(a) => now(ctx, a),
        SyncCommand::Status(a) => status(ctx, a),
        SyncCommand::Server(a) => server(ctx, a),
        SyncCommand::RetryDead(a) => retry_dead(ctx, a),
        SyncCommand::Diagnose(a) => diagnose(ctx, a),
        SyncCommand::Daemon(a) => run_daemon(ctx, a),
    }
}

/// What is wrong with the current project's `.kittify/config.yaml`, when run inside a project.
fn project_config_problem(ctx: &Context) -> Option<String> {
    let project = crate::project::Project::discover(ctx).ok()?;
    crate::project::config::ProjectConfig::load_checked(&project.root).1
}

fn home(ctx: &Context) -> Result<PathBuf, CliError> {
    ctx.home.clone().ok_or_else(|| CliError::failure("no home directory").hint("set HOME or SPEC_KITTY_HOME"))
}

/// The queue when it exists; a read-only command never creates it.
fn existing_queue(home: &std::path::Path) -> Result<Option<OfflineQueue>, CliError> {
    let path = home.join(QUEUE_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let limits = UserConfig::load(home).map(|c| c.queue_limits()).unwrap_or_default();
    OfflineQueue::open(&path, limits).map(Some).map_err(|e| CliError::failure(e.to_string()))
}

fn spooled_events(home: &std::path::Path) -> usize {
    std::fs::read_to_string(home.join(SPOOL_FILE))
        .map(|t| t.lines().filter(|l| !l.trim().is_empty()).count())
        .unwrap_or(0)
}

fn status(ctx: &Context, args: StatusArgs) -> Result<(), CliError> {
    let home = home(ctx)?;
    let config = UserConfig::load(&home).map_err(|e| CliError::failure(e.to_string()))?;
    let stats = match existing_queue(&home)? {
        Some(queue) => queue.stats().map_err(|e| CliError::failure(e.to_string()))?,
        None => QueueStats::default(),
    };
    let now = ctx.now().timestamp();
    let oldest_age = stats.oldest_enqueued_at.map(|t| (now - t).max(0));
    let now_at = ctx.now();
    let credentials = runner::credentials(ctx).ok().flatten();
    let authenticated = credentials.as_ref().is_some_and(|c| c.is_authenticated(now_at));
    let state = SyncState::load(&home);
    let spooled = spooled_events(&home);
    let server_url = crate::sync::server_url(ctx, &config);
    // Liveness is a matter of real time, whatever SPEC_KITTY_NOW pins.
    let wall_now = Utc::now();
    let presence = daemon::presence(&home, wall_now);
    let config_problem = project_config_problem(ctx);
    if args.json {
        let mut value = json!({
            "queue": {
                "depth": stats.depth,
                "oldest_event_age_seconds": oldest_age,
                "retry_distribution": {"0": stats.retry_buckets[0], "1-3": stats.retry_buckets[1], "4+": stats.retry_buckets[2]},
                "dead_letters": stats.dead_letters,
                "dropped_events": stats.dropped_events,
                "spooled_events": spooled,
                "top_event_types": stats.top_event_types.iter().map(|(t, n)| json!({"event_type": t, "count": n})).collect::<Vec<Value>>(),
                "path": home.join(QUEUE_FILE).display().to_string(),
            },
            "connection": connection_json(&presence),
            "daemon": daemon_json(&presence, wall_now),
            "last_sync": {
                "last_attempt_at": utc_json(state.last_attempt_at),
                "last_success_at": utc_json(state.last_success_at),
                "consecutive_failures": state.consecutive_failures,
                "backoff_until": utc_json(state.backoff_until.filter(|_| state.in_backoff(now_at))),
                "last_error_category": state.last_error_category,
                "last_error": state.last_error,
            },
            "authenticated": authenticated,
            "auth": {
                "username": credentials.as_ref().map(|c| c.username.clone()),
                "access_token_valid": credentials.as_ref().is_some_and(|c| c.access_valid(now_at)),
                "refresh_token_valid": credentials.as_ref().is_some_and(|c| c.refresh_valid(now_at)),
            },
            "server_url": server_url,
            "config_file": home.join(CONFIG_FILE).display().to_string(),
        });
        if let Some(problem) = &config_problem {
            value["project_config_problem"] = Value::String(problem.clone());
        }
        return print_json_line(&value);
    }
    let mut rows: Vec<(&str, String)> = vec![("Queue", format!("{} event(s)", stats.depth))];
    if let Some(age) = oldest_age {
        rows.push(("Oldest event", format!("{} ago", human_duration(age))));
    }
    rows.push((
        "Retries",
        format!("0: {} · 1-3: {} · 4+: {}", stats.retry_buckets[0], stats.retry_buckets[1], stats.retry_buckets[2]),
    ));
    rows.push(("Dead letters", stats.dead_letters.to_string()));
    rows.push(("Dropped", stats.dropped_events.to_string()));
    if spooled > 0 {
        rows.push(("Spooled", format!("{spooled} event(s) in {}", home.join(SPOOL_FILE).display())));
    }
    if !stats.top_event_types.is_empty() {
        let top: Vec<String> = stats.top_event_types.iter().map(|(t, n)| format!("{t} ({n})")).collect();
        rows.push(("Top types", top.join(", ")));
    }
    rows.push(("Connection", connection_text(&presence)));
    rows.push(("Daemon", daemon_text(&presence, wall_now)));
    rows.push(("Last sync", state.last_success_at.map_or_else(|| "Never".to_owned(), utc_text)));
    if state.consecutive_failures > 0 {
        let mut failures = format!("{} consecutive", state.consecutive_failures);
        if let Some(category) = &state.last_error_category {
            failures.push_str(&format!(" (last: {category})"));
        }
        if let Some(until) = state.backoff_until.filter(|_| state.in_backoff(now_at)) {
            failures.push_str(&format!("; exit flushes paused until {}", utc_text(until)));
        }
        rows.push(("Failures", failures));
        if let Some(error) = &state.last_error {
            rows.push(("Last error", error.clone()));
        }
    }
    let auth = match &credentials {
        Some(c) if authenticated => format!("Authenticated as {}", c.username),
        Some(_) => "Session expired (run `spec-kitty auth login`)".to_owned(),
        None => "Not authenticated".to_owned(),
    };
    rows.push(("Auth", auth));
    rows.push(("Server URL", server_url.unwrap_or_else(|| "(not configured)".into())));
    rows.push(("Config file", home.join(CONFIG_FILE).display().to_string()));
    if let Some(problem) = config_problem {
        rows.push(("Project config", problem));
    }
    let mut text = String::from("Spec Kitty Sync Status\n");
    text.push_str(&status_table(rows).render(&output::Term::stdout()));
    if stats.depth == 0 {
        text.push_str("Queue empty -- all events synced.\n");
    }
    output::print(&text)?;
    Ok(())
}

/// The `sync status` rows as rich's borderless key/value grid; long values wrap to the terminal.
fn status_table(rows: Vec<(&str, String)>) -> output::Table {
    output::Table {
        columns: vec![
            output::Column::new("Key", output::Align::Left),
            output::Column::new("Value", output::Align::Left).wrapping(),
        ],
        rows: rows.into_iter().map(|(key, value)| vec![key.to_owned(), value]).collect(),
        frame: output::Frame::KeyValue,
        ..output::Table::default()
    }
}

/// The connection as the running service reports it; Offline without one (FR-036, FR-037).
fn connection_text(presence: &Presence) -> String {
    match presence.running() {
        Some(Heartbeat { connection: status @ ConnectionStatus::Connected, .. }) => status.to_string(),
        Some(Heartbeat { connection, connection_detail: Some(detail), .. }) => format!("{connection} ({detail})"),
        Some(heartbeat) => heartbeat.connection.to_string(),
        None => ConnectionStatus::Offline.to_string(),
    }
}

fn daemon_text(presence: &Presence, now: DateTime<Utc>) -> String {
    match presence {
        Presence::Running(h) => format!(
            "running (pid {}, `spec-kitty {}`, heartbeat {} ago, {} event(s) pushed)",
            h.pid,
            h.command,
            human_duration(h.age(now).as_secs() as i64),
            h.events_pushed
        ),
        Presence::Stale(h) => {
            format!("not running (stale heartbeat of pid {}; start one with `spec-kitty sync daemon`)", h.pid)
        }
        Presence::Absent => "not running (start one with `spec-kitty sync daemon`)".into(),
    }
}

fn connection_json(presence: &Presence) -> Value {
    match presence.running() {
        Some(h) => json!({
            "status": h.connection.as_str(),
            "detail": h.connection_detail,
            "last_push_at": utc_json(h.last_push_at),
            "events_pushed": h.events_pushed,
        }),
        None => {
            json!({"status": ConnectionStatus::Offline.as_str(), "detail": null, "last_push_at": null, "events_pushed": 0})
        }
    }
}

fn daemon_json(presence: &Presence, now: DateTime<Utc>) -> Value {
    match presence {
        Presence::Running(h) => json!({
            "running": true,
            "pid": h.pid,
            "command": h.command,
            "started_at": utc_json(h.started_at),
            "heartbeat_at": utc_json(h.heartbeat_at),
            "heartbeat_age_seconds": h.age(now).as_secs(),
            "interval_secs": h.interval_secs,
            "server_url": h.server_url,
            "last_batch_at": utc_json(h.last_batch_at),
            "last_batch_outcome": h.last_batch_outcome,
        }),
        Presence::Stale(h) => json!({"running": false, "stale_pid": h.pid}),
        Presence::Absent => json!({"running": false, "stale_pid": null}),
    }
}

fn run_daemon(ctx: &Context, args: DaemonArgs) -> Result<(), CliError> {
    let options =
        ServiceOptions { interval: args.interval.map(Duration::from_secs), ..ServiceOptions::new("sync daemon") };
    let observer: service::Observer = Box::new(|event| {
        // Never panics on a closed stderr (eprintln! would).
        let line = format!("{} {}\n", Utc::now().format("%Y-%m-%dT%H:%M:%SZ"), describe_service_event(event));
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    });
    service::run_daemon(ctx, options, observer).map_err(|error| match error {
        DaemonError::Runner(e) => runner_error(e),
        e @ DaemonError::AlreadyRunning { .. } => CliError::failure(e.to_string())
            .hint("`spec-kitty sync status` shows it; stop it with SIGTERM (kill <pid>) before starting another"),
        e => CliError::failure(e.to_string()),
    })
}

/// One line of the daemon's log (stderr).
pub fn describe_service_event(event: &ServiceEvent) -> String {
    let seconds = |d: Duration| format!("{:.1}s", d.as_secs_f64());
    match event {
        ServiceEvent::Started { pid, home, interval, spacing } => format!(
            "sync daemon started (pid {pid}) for {}; batch delivery every {}s, at most one request per {}",
            home.display(),
            interval.as_secs(),
            seconds(*spacing)
        ),
        ServiceEvent::Passive { holder } => match holder {
            Some(h) => format!("another sync service runs (pid {}, `spec-kitty {}`); waiting", h.pid, h.command),
            None => "another sync service runs; waiting".into(),
        },
        ServiceEvent::TookOver => "the other sync service stopped; taking over".into(),
        ServiceEvent::Connection { status, detail: Some(detail) } => format!("connection: {status} ({detail})"),
        ServiceEvent::Connection { status, detail: None } => format!("connection: {status}"),
        ServiceEvent::SocketOpened { url, snapshot_work_packages, unexpected_first_frame } => {
            let mut line = format!("WebSocket open: {url}");
            if let Some(n) = snapshot_work_packages {
                line.push_str(&format!(" (snapshot: {n} work package(s))"));
            }
            if let Some(kind) = unexpected_first_frame {
                line.push_str(&format!("; expected a snapshot first, got {kind}"));
            }
            line
        }
        ServiceEvent::Pushed { events } => format!("pushed {events} event(s) over the WebSocket"),
        ServiceEvent::Delivered { delivered, duplicates, rejected, dead_lettered, remaining } => {
            let mut line = format!("batch: {delivered} delivered, {duplicates} already there, {rejected} rejected");
            if *dead_lettered > 0 {
                line.push_str(&format!(" ({dead_lettered} moved to the dead letters)"));
            }
            line.push_str(&format!("; {remaining} left in the queue"));
            line
        }
        ServiceEvent::NotDelivered { reason, detail, remaining, retry_in } => {
            let next = match retry_in {
                Some(wait) => format!("next try in {}", seconds(*wait)),
                None if matches!(*reason, "not_logged_in" | "login_required") => {
                    "waiting for `spec-kitty auth login`".to_owned()
                }
                None if *reason == "not_configured" => "waiting for `spec-kitty sync server URL`".to_owned(),
                None => "next try at the next interval".to_owned(),
            };
            format!("batch not delivered: {detail}; {remaining} event(s) stay queued; {next}")
        }
        ServiceEvent::Problem(text) => format!("warning: {text}"),
        ServiceEvent::Stopping => "stopping".into(),
        ServiceEvent::FinalFlush { delivered, remaining, outcome } => {
            format!("final flush: {delivered} delivered, {remaining} left in the queue ({outcome})")
        }
        ServiceEvent::Stopped => "sync daemon stopped".into(),
    }
}

fn human_duration(seconds: i64) -> String {
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h {}m", s / 3600, s / 60 % 60),
        s => format!("{}d {}h", s / 86_400, s / 3600 % 24),
    }
}

fn diagnose(ctx: &Context, args: DiagnoseArgs) -> Result<(), CliError> {
    let home = home(ctx)?;
    let rows = match existing_queue(&home)? {
        Some(queue) => queue.all_rows().map_err(|e| CliError::failure(e.to_string()))?,
        None => Vec::new(),
    };
    let results: Vec<(String, String, Vec<String>)> = rows
        .iter()
        .map(|row| {
            let errors = match serde_json::from_str::<Value>(&row.data) {
                Ok(value) => diagnose_envelope(&value),
                Err(e) => vec![format!("not JSON: {e}")],
            };
            (row.event_id.clone(), row.event_type.clone(), errors)
        })
        .collect();
    let invalid = results.iter().filter(|(_, _, e)| !e.is_empty()).count();
    let config_problem = project_config_problem(ctx);
    if args.json {
        let mut value = json!({
            "total": results.len(),
            "valid": results.len() - invalid,
            "invalid": invalid,
            "results": results.iter().map(|(id, t, errors)| json!({"event_id": id, "event_type": t, "valid": errors.is_empty(), "errors": errors})).collect::<Vec<Value>>(),
        });
        if let Some(problem) = &config_problem {
            value["project_config_problem"] = Value::String(problem.clone());
        }
        return print_json_line(&value);
    }
    let mut text = format!("{} queued event(s): {} valid, {invalid} invalid\n", results.len(), results.len() - invalid);
    for (id, event_type, errors) in results.iter().filter(|(_, _, e)| !e.is_empty()) {
        text.push_str(&format!("  {id} {event_type}: {}\n", errors.join("; ")));
    }
    if let Some(problem) = config_problem {
        text.push_str(&format!("Project config: {problem}\n"));
    }
    output::print(&text)?;
    Ok(())
}

fn now(ctx: &Context, args: NowArgs) -> Result<(), CliError> {
    let options = SyncNowOptions {
        spacing: args.spacing_ms.map(Duration::from_millis),
        timeout: args.timeout.map(Duration::from_secs),
    };
    let text = !args.json;
    let mut indicator = ProgressLine::new(std::io::stderr().is_terminal());
    let mut announced = false;
    let mut progress = |p: &Progress| {
        if text && !announced && p.total > 0 {
            announced = true;
            let _ = output::print(&format!("Syncing {} queued event(s)...\n", output::thousands(p.total as i64)));
        }
        indicator.update(p);
    };
    let report = runner::sync_now(ctx, &options, &mut progress).map_err(runner_error)?;
    indicator.finish();
    if let Some(path) = &args.report {
        let generated_at = ctx.now().to_rfc3339_opts(SecondsFormat::Micros, false);
        let text = serde_json::to_string_pretty(&failure_report(&report, &generated_at)).unwrap_or_default() + "\n";
        std::fs::write(ctx.cwd.join(path), text)
            .map_err(|e| CliError::failure(format!("cannot write the report {}: {e}", path.display())))?;
    }
    let code = exit_code(&report);
    if args.json {
        print_json_line(&now_json(&report, code))?;
    } else {
        output::print(&summary_text(&report, args.report.as_deref()))?;
    }
    match code {
        0 => Ok(()),
        code => Err(CliError { code, result_printed: true, ..outcome_error(&report) }),
    }
}

/// The documented exit code of a `sync now` run.
fn exit_code(report: &DeliveryReport) -> u8 {
    match &report.stop {
        StopReason::Failed { .. } => crate::error::EXIT_FAILURE,
        StopReason::NotConfigured
        | StopReason::NotLoggedIn { .. }
        | StopReason::LoginRequired { .. }
        | StopReason::Offline { .. }
        | StopReason::Refused { .. }
        | StopReason::Deadline => EXIT_UNDELIVERED,
        StopReason::Stalled => EXIT_REJECTED,
        StopReason::Drained if report.rejected > 0 || report.unanswered > 0 || report.held_back > 0 => EXIT_REJECTED,
        StopReason::Drained => 0,
    }
}

/// The stderr message (and hints) for a run that did not deliver everything.
fn outcome_error(report: &DeliveryReport) -> CliError {
    let safe = format!("{} event(s) are safe in the queue", report.remaining);
    match &report.stop {
        StopReason::Drained | StopReason::Stalled => {
            let mut parts = Vec::new();
            if report.rejected > 0 {
                parts.push(format!("{} event(s) were rejected by the server", report.rejected));
            }
            if report.unanswered > 0 || report.stop == StopReason::Stalled {
                parts.push(format!("the server did not answer for {} event(s)", report.unanswered));
            }
            if report.held_back > 0 {
                parts.push(format!(
                    "{} event(s) belong to another team's login ({}) and were not sent with this one",
                    report.held_back,
                    teams(report)
                ));
            }
            let mut error = CliError::failure(parts.join("; "));
            if report.dead_lettered > 0 {
                error = error.hint(format!(
                    "{} event(s) moved to the dead letters: see `spec-kitty sync status`, re-queue them with `spec-kitty sync retry-dead`",
                    report.dead_lettered
                ));
            }
            if report.remaining > 0 {
                error = error.hint(format!("{safe}; the next `spec-kitty sync now` retries them"));
            }
            if report.held_back > 0 {
                error =
                    error.hint(format!("log in to the account of team {} to deliver the held events", teams(report)));
            }
            error
        }
        StopReason::NotConfigured => CliError::failure("no sync server is configured").hint(format!(
            "{safe}; set a server with `spec-kitty sync server https://…`, then run `spec-kitty sync now`"
        )),
        StopReason::NotLoggedIn { .. } | StopReason::LoginRequired { .. } => CliError::failure(report.stop.describe())
            .hint(format!("{safe}; run `spec-kitty auth login`, then `spec-kitty sync now`")),
        StopReason::Offline { .. } | StopReason::Refused { .. } | StopReason::Deadline => {
            CliError::failure(report.stop.describe())
                .hint(format!("{safe}; run `spec-kitty sync now` again when the server is reachable"))
        }
        StopReason::Failed { detail } => CliError::failure(detail.clone()),
    }
}

fn summary_text(report: &DeliveryReport, report_file: Option<&std::path::Path>) -> String {
    if report.total == 0 {
        return "Queue is empty, nothing to sync.\n".into();
    }
    if report.requests == 0 && report.rejected == 0 && report.stop != StopReason::Drained {
        // Nothing was attempted (no server, no login): the error says why and how many wait.
        return String::new();
    }
    let mut text = String::new();
    if report.spool.imported > 0 {
        text.push_str(&format!("Imported {} spooled event(s) into the queue.\n", report.spool.imported));
    }
    text.push_str(&format!(
        "Synced: {}, Duplicates: {}, Failed: {}\n",
        report.delivered, report.duplicates, report.rejected
    ));
    for (category, count) in report.categories() {
        text.push_str(&format!("  {}: {count}  -- {}\n", category.as_str(), category.action()));
    }
    if report.dead_lettered > 0 {
        text.push_str(&format!("Moved to dead letters: {}\n", report.dead_lettered));
    }
    if report.held_back > 0 {
        text.push_str(&format!("Held for another team's login: {} ({})\n", report.held_back, teams(report)));
    }
    text.push_str(&format!("Remaining in queue: {}\n", report.remaining));
    match report_file {
        Some(path) if report.rejected > 0 => text.push_str(&format!("Failure report written to {}\n", path.display())),
        Some(_) => text.push_str("No failures to report.\n"),
        None => {}
    }
    text
}

fn teams(report: &DeliveryReport) -> String {
    report.held_for_teams.iter().cloned().collect::<Vec<_>>().join(", ")
}

fn categories_json(report: &DeliveryReport) -> Value {
    let map: serde_json::Map<String, Value> =
        report.categories().into_iter().map(|(c, n)| (c.as_str().to_owned(), Value::from(n))).collect();
    Value::Object(map)
}

/// Upstream's `--report` file (§5.2).
fn failure_report(report: &DeliveryReport, generated_at: &str) -> Value {
    json!({
        "generated_at": generated_at,
        "summary": {
            "total_events": report.total,
            "synced": report.delivered,
            "duplicates": report.duplicates,
            "failed": report.rejected,
            "categories": categories_json(report),
        },
        "failures": report.failures.iter().map(|f| json!({
            "event_id": f.event_id, "error": f.error, "category": f.category.as_str(),
        })).collect::<Vec<Value>>(),
    })
}

fn now_json(report: &DeliveryReport, code: u8) -> Value {
    json!({
        "total": report.total,
        "synced": report.delivered,
        "duplicates": report.duplicates,
        "failed": report.rejected,
        "categories": categories_json(report),
        "dead_lettered": report.dead_lettered,
        "unanswered": report.unanswered,
        "held_back": report.held_back,
        "remaining": report.remaining,
        "batches": report.batches,
        "requests": report.requests,
        "spool_imported": report.spool.imported,
        "stop": report.stop.as_str(),
        "detail": report.stop.describe(),
        "exit_code": code,
    })
}

/// The `\r`-rewritten progress line on a terminal's stderr.
struct ProgressLine {
    enabled: bool,
    drawn: bool,
}

impl ProgressLine {
    fn new(enabled: bool) -> Self {
        ProgressLine { enabled, drawn: false }
    }

    fn update(&mut self, progress: &Progress) {
        if self.enabled && progress.total > 0 {
            let mut stderr = std::io::stderr().lock();
            let _ = write!(stderr, "\r\x1b[2K{}", render_progress(progress));
            let _ = stderr.flush();
            self.drawn = true;
        }
    }

    fn finish(&mut self) {
        if self.drawn {
            eprintln!();
            self.drawn = false;
        }
    }
}

/// `Syncing: 3,000/5,000 events [######------] 60% · 3 batches`
pub fn render_progress(p: &Progress) -> String {
    const WIDTH: u64 = 24;
    let total = p.total.max(1);
    let done = p.processed.min(total);
    let filled = (done * WIDTH / total) as usize;
    format!(
        "Syncing: {}/{} events [{}{}] {}% · {} batch{}",
        output::thousands(done as i64),
        output::thousands(p.total as i64),
        "#".repeat(filled),
        "-".repeat(WIDTH as usize - filled),
        done * 100 / total,
        p.batches,
        if p.batches == 1 { "" } else { "es" }
    )
}

fn server(ctx: &Context, args: ServerArgs) -> Result<(), CliError> {
    let home = home(ctx)?;
    let config_path = home.join(CONFIG_FILE);
    let Some(url) = args.url else {
        let config = UserConfig::load(&home).map_err(|e| CliError::failure(e.to_string()))?;
        let current = crate::sync::server_url(ctx, &config).unwrap_or_else(|| "(not configured)".into());
        let source = if ctx.server_url_override.is_some() { " (from SPEC_KITTY_SAAS_URL)" } else { "" };
        output::print(&format!("Server URL: {current}{source}\nConfig File: {}\n", config_path.display()))?;
        return Ok(());
    };
    let url = ServerUrl::parse(&url).map_err(|e| CliError::invalid(e.to_string()))?;
    crate::sync::config::set_server_url(&home, url.as_str()).map_err(|e| CliError::failure(e.to_string()))?;
    output::print(&format!(
        "✓ Sync server set to {url}\nRun 'spec-kitty auth login --force' to authenticate with the new server.\n"
    ))?;
    if let Some(env) = &ctx.server_url_override {
        output::warn(&format!("SPEC_KITTY_SAAS_URL={env} overrides this setting while it is set"));
    }
    Ok(())
}

fn retry_dead(ctx: &Context, args: RetryDeadArgs) -> Result<(), CliError> {
    let home = home(ctx)?;
    let Some(mut queue) = existing_queue(&home)? else {
        output::print("No dead-lettered events.\n")?;
        return Ok(());
    };
    let dead = queue.dead_letters().map_err(|e| CliError::failure(e.to_string()))?;
    let known: std::collections::HashSet<&str> = dead.iter().map(|(row, _)| row.event_id.as_str()).collect();
    let unknown: Vec<&String> = args.event_ids.iter().filter(|id| !known.contains(id.as_str())).collect();
    if !unknown.is_empty() {
        let list: Vec<&str> = unknown.iter().map(|s| s.as_str()).collect();
        return Err(CliError::invalid(format!("not dead-lettered: {}", list.join(", ")))
            .hint("`spec-kitty sync status --json` lists the dead letters' count; nothing was re-queued"));
    }
    if dead.is_empty() {
        output::print("No dead-lettered events.\n")?;
        return Ok(());
    }
    let ids = (!args.event_ids.is_empty()).then_some(args.event_ids.as_slice());
    let moved = queue.requeue_dead_letters(ids, ctx.now().timestamp()).map_err(|e| CliError::failure(e.to_string()))?;
    output::print(&format!("Re-queued {moved} dead-lettered event(s); run `spec-kitty sync now` to deliver them.\n"))?;
    Ok(())
}

fn utc_text(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn utc_json(at: Option<DateTime<Utc>>) -> Value {
    at.map_or(Value::Null, |t| Value::String(t.to_rfc3339_opts(SecondsFormat::Secs, true)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_shows_events_batches_and_a_bar() {
        let p = Progress { total: 5000, processed: 3000, delivered: 3000, batches: 3 };
        assert_eq!(render_progress(&p), "Syncing: 3,000/5,000 events [##############----------] 60% · 3 batches");
        let one = Progress { total: 1, processed: 1, delivered: 1, batches: 1 };
        assert!(render_progress(&one).ends_with("100% · 1 batch"));
    }

    #[test]
    fn exit_codes_follow_the_stop_reason() {
        let mut report = DeliveryReport::new(10, StopReason::Drained);
        assert_eq!(exit_code(&report), 0);
        report.rejected = 1;
        assert_eq!(exit_code(&report), EXIT_REJECTED);
        report.stop = StopReason::Offline { detail: "x".into() };
        assert_eq!(exit_code(&report), EXIT_UNDELIVERED);
        report.stop = StopReason::NotLoggedIn { detail: "x".into() };
        assert_eq!(exit_code(&report), EXIT_UNDELIVERED);
    }
}
