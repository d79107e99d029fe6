//! `spec-kitty sync …`: the offline queue and delivery to the team server.

use super::common::print_json_line;
use super::output;
use crate::context::Context;
use crate::error::CliError;
use crate::sync::config::{CONFIG_FILE, UserConfig};
use crate::sync::emit::{QUEUE_FILE, SPOOL_FILE};
use crate::sync::event::diagnose_envelope;
use crate::sync::queue::{OfflineQueue, QueueStats};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(subcommand)]
    command: SyncCommand,
}

#[derive(Debug, Subcommand)]
enum SyncCommand {
    /// Show the offline queue (depth, age, retries, dead letters, dropped events), auth and server.
    Status(StatusArgs),
    /// Re-validate every queued event against the payload rules.
    Diagnose(DiagnoseArgs),
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
        SyncCommand::Status(a) => status(ctx, a),
        SyncCommand::Diagnose(a) => diagnose(ctx, a),
    }
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
    let authenticated = crate::sync::credentials_team_slug(ctx).is_some();
    let spooled = spooled_events(&home);
    let server_url = crate::sync::server_url(ctx, &config);
    if args.json {
        return print_json_line(&json!({
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
            "connection": "Offline",
            "authenticated": authenticated,
            "server_url": server_url,
            "config_file": home.join(CONFIG_FILE).display().to_string(),
        }));
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
    rows.push(("Connection", "Offline".into()));
    rows.push(("Auth", if authenticated { "Authenticated".into() } else { "Not authenticated".into() }));
    rows.push(("Server URL", server_url.unwrap_or_else(|| "(not configured)".into())));
    rows.push(("Config file", home.join(CONFIG_FILE).display().to_string()));
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut text = String::from("Spec Kitty Sync Status\n");
    for (key, value) in rows {
        text.push_str(&format!("  {key:<width$}  {value}\n"));
    }
    if stats.depth == 0 {
        text.push_str("Queue empty -- all events synced.\n");
    }
    output::print(&text)?;
    Ok(())
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
    if args.json {
        return print_json_line(&json!({
            "total": results.len(),
            "valid": results.len() - invalid,
            "invalid": invalid,
            "results": results.iter().map(|(id, t, errors)| json!({"event_id": id, "event_type": t, "valid": errors.is_empty(), "errors": errors})).collect::<Vec<Value>>(),
        }));
    }
    let mut text = format!("{} queued event(s): {} valid, {invalid} invalid\n", results.len(), results.len() - invalid);
    for (id, event_type, errors) in results.iter().filter(|(_, _, e)| !e.is_empty()) {
        text.push_str(&format!("  {id} {event_type}: {}\n", errors.join("; ")));
    }
    output::print(&text)?;
    Ok(())
}
