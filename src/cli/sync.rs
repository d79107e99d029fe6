//! `spec-kitty sync …`: the offline queue and delivery to the team server.

use super::common::print_json_line;
use super::output;
use crate::context::Context;
use crate::error::{CliError, EXIT_SUCCESS};
use crate::sync::config::{CONFIG_FILE, UserConfig};
use crate::sync::daemon::ConnectionStatus;
use crate::sync::delivery::{DeliveryReport, Progress, StopReason, Undelivered};
use crate::sync::emit::SPOOL_FILE;
use crate::sync::http::ServerUrl;
use crate::sync::queue::QueueError;
use crate::sync::runner::{self, RunnerError, SyncNowOptions};
use crate::sync::service::{self, ServiceEvent, ServiceOptions};
use crate::sync::status::{DaemonReport, QueueDiagnosis, SyncStatus};
use chrono::{DateTime, SecondsFormat, Utc};
use clap::{Args, Subcommand};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(subcommand)]
    command: SyncCommand,
}

impl SyncArgs {
    /// `sync daemon`, which keeps a log on stderr (see [`crate::diagnostics::Profile::Daemon`]).
    pub fn is_daemon(&self) -> bool {
        matches!(self.command, SyncCommand::Daemon(_))
    }
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
refuses to start); `sync status` shows it. It logs one line per notable event on stderr (-v adds diagnostics). While it runs, workflow commands skip their exit flush. Settings: [sync] \
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

fn home(ctx: &Context) -> Result<PathBuf, CliError> {
    Ok(ctx.home.clone().ok_or(RunnerError::NoHome)?)
}

fn status(ctx: &Context, args: StatusArgs) -> Result<(), CliError> {
    let status = SyncStatus::gather(ctx)?;
    if args.json {
        return print_json_line(&status);
    }
    output::print(&status_text(&status))?;
    Ok(())
}

fn status_text(status: &SyncStatus) -> String {
    let queue = &status.queue;
    let retries = &queue.retry_distribution;
    let mut rows: Vec<(&str, String)> = vec![("Queue", format!("{} event(s)", queue.depth))];
    if let Some(age) = queue.oldest_event_age_seconds {
        rows.push(("Oldest event", format!("{} ago", human_duration(age))));
    }
    rows.push(("Retries", format!("0: {} · 1-3: {} · 4+: {}", retries.never, retries.few, retries.many)));
    rows.push(("Dead letters", queue.dead_letters.to_string()));
    rows.push(("Dropped", queue.dropped_events.to_string()));
    if queue.spooled_events > 0 {
        let spool = std::path::Path::new(&queue.path).with_file_name(SPOOL_FILE);
        rows.push(("Spooled", format!("{} event(s) in {}", queue.spooled_events, spool.display())));
    }
    if !queue.top_event_types.is_empty() {
        let top: Vec<String> =
            queue.top_event_types.iter().map(|t| format!("{} ({})", t.event_type, t.count)).collect();
        rows.push(("Top types", top.join(", ")));
    }
    let connection = &status.connection;
    rows.push((
        "Connection",
        match &connection.detail {
            Some(detail) if connection.status != ConnectionStatus::Connected => {
                format!("{} ({detail})", connection.status)
            }
            _ => connection.status.to_string(),
        },
    ));
    rows.push(("Daemon", daemon_text(&status.daemon, connection.events_pushed)));
    let last = &status.last_sync;
    rows.push(("Last sync", last.last_success_at.map_or_else(|| "Never".to_owned(), utc_text)));
    if last.consecutive_failures > 0 {
        let mut failures = format!("{} consecutive", last.consecutive_failures);
        if let Some(category) = &last.last_error_category {
            failures.push_str(&format!(" (last: {category})"));
        }
        if let Some(until) = last.backoff_until {
            failures.push_str(&format!("; exit flushes paused until {}", utc_text(until)));
        }
        rows.push(("Failures", failures));
        if let Some(error) = &last.last_error {
            rows.push(("Last error", error.clone()));
        }
    }
    let auth = match &status.auth.username {
        Some(username) if status.authenticated => format!("Authenticated as {username}"),
        Some(_) => "Session expired (run `spec-kitty auth login`)".to_owned(),
        None => "Not authenticated".to_owned(),
    };
    rows.push(("Auth", auth));
    rows.push(("Server URL", status.server_url.clone().unwrap_or_else(|| "(not configured)".into())));
    rows.push(("Config file", status.config_file.clone()));
    if let Some(problem) = &status.project_config_problem {
        rows.push(("Project config", problem.clone()));
    }
    let mut text = String::from("Spec Kitty Sync Status\n");
    text.push_str(&status_table(rows).render(&output::Term::stdout()));
    if queue.depth == 0 {
        text.push_str("Queue empty -- all events synced.\n");
    }
    text
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

fn daemon_text(daemon: &DaemonReport, events_pushed: u64) -> String {
    match daemon {
        DaemonReport::Running { pid, command, heartbeat_age_seconds, .. } => format!(
            "running (pid {pid}, `spec-kitty {command}`, heartbeat {} ago, {events_pushed} event(s) pushed)",
            human_duration(*heartbeat_age_seconds as i64),
        ),
        DaemonReport::NotRunning { stale_pid: Some(pid), .. } => {
            format!("not running (stale heartbeat of pid {pid}; start one with `spec-kitty sync daemon`)")
        }
        DaemonReport::NotRunning { stale_pid: None, .. } => {
            "not running (start one with `spec-kitty sync daemon`)".into()
        }
    }
}

fn run_daemon(ctx: &Context, args: DaemonArgs) -> Result<(), CliError> {
    let options =
        ServiceOptions { interval: args.interval.map(Duration::from_secs), ..ServiceOptions::new("sync daemon") };
    // The log goes through tracing: main.rs installed a subscriber writing `<time> <message>` lines to
    // stderr at INFO (more with -v or SPEC_KITTY_LOG), which never panics on a closed stderr.
    let observer: service::Observer = Box::new(|event| match event {
        ServiceEvent::Problem(_) => tracing::warn!("{event}"),
        _ => tracing::info!("{event}"),
    });
    Ok(service::run_daemon(ctx, options, observer)?)
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
    let diagnosis = QueueDiagnosis::gather(ctx)?;
    if args.json {
        return print_json_line(&diagnosis);
    }
    let mut text =
        format!("{} queued event(s): {} valid, {} invalid\n", diagnosis.total, diagnosis.valid, diagnosis.invalid);
    for event in diagnosis.results.iter().filter(|e| !e.valid) {
        text.push_str(&format!("  {} {}: {}\n", event.event_id, event.event_type, event.errors.join("; ")));
    }
    if let Some(problem) = &diagnosis.project_config_problem {
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
    let report = runner::sync_now(ctx, &options, &mut progress)?;
    indicator.finish();
    if let Some(path) = &args.report {
        let generated_at = ctx.now().to_rfc3339_opts(SecondsFormat::Micros, false);
        let text = serde_json::to_string_pretty(&report.failure_file(generated_at)).unwrap_or_default() + "\n";
        std::fs::write(ctx.cwd.join(path), text)
            .map_err(|e| CliError::failure(format!("cannot write the report {}: {e}", path.display())))?;
    }
    if args.json {
        print_json_line(&report.summary())?;
    } else {
        output::print(&summary_text(&report, args.report.as_deref()))?;
    }
    match report.exit_code() {
        EXIT_SUCCESS => Ok(()),
        _ => Err(CliError { result_printed: true, ..Undelivered(report).into() }),
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
        text.push_str(&format!("Held for another team's login: {} ({})\n", report.held_back, report.held_teams()));
    }
    text.push_str(&format!("Remaining in queue: {}\n", report.remaining));
    match report_file {
        Some(path) if report.rejected > 0 => text.push_str(&format!("Failure report written to {}\n", path.display())),
        Some(_) => text.push_str("No failures to report.\n"),
        None => {}
    }
    text
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
        let config = UserConfig::load(&home)?;
        let current = crate::sync::server_url(ctx, &config).unwrap_or_else(|| "(not configured)".into());
        let source = if ctx.server_url_override.is_some() { " (from SPEC_KITTY_SAAS_URL)" } else { "" };
        output::print(&format!("Server URL: {current}{source}\nConfig File: {}\n", config_path.display()))?;
        return Ok(());
    };
    let url = ServerUrl::parse(&url)?;
    crate::sync::config::set_server_url(&home, url.as_str())?;
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
    let config = UserConfig::load(&home)?;
    let queue = crate::sync::status::existing_queue(&home, &config)?;
    let ids = (!args.event_ids.is_empty()).then_some(args.event_ids.as_slice());
    let moved = match queue {
        Some(mut queue) => queue.requeue_dead_letters(ids, ctx.now().timestamp())?,
        None if ids.is_some() => return Err(QueueError::NotDeadLettered { ids: args.event_ids }.into()),
        None => 0,
    };
    if moved == 0 {
        output::print("No dead-lettered events.\n")?;
    } else {
        output::print(&format!(
            "Re-queued {moved} dead-lettered event(s); run `spec-kitty sync now` to deliver them.\n"
        ))?;
    }
    Ok(())
}

fn utc_text(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
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
}
