//! `spec-kitty agent telemetry {emit,cost}` (`import` and `hook` are in `usage.rs`); bare `agent telemetry`
//! runs `cost`.

use super::common::{discover, parse_cost, parse_count, parse_tokens};
use super::output::{self, Align, Color, Column, Table, Term, csv_record, thousands};
use crate::context::Context;
use crate::error::CliError;
use crate::events::{Timestamp, pyjson};
use crate::project::{FeatureSlug, Project};
use crate::telemetry::{
    self, CostReport, EmitError, EventFilter, ExecutionRecord, FeatureSelection, GroupKey, PricingTable, Role,
    TimeRange, Totals, cost_report, feature_logs,
};
use clap::builder::PossibleValuesParser;
use clap::{Args, Subcommand};
use serde_json::json;
use std::path::PathBuf;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct TelemetryArgs {
    #[command(subcommand)]
    command: Option<TelemetryCommand>,
    #[command(flatten)]
    cost: CostArgs,
}

#[derive(Debug, Subcommand)]
enum TelemetryCommand {
    /// Record one ExecutionEvent for a workflow phase (agents run this at the end of each phase).
    Emit(EmitArgs),
    /// Report spend grouped by agent, model, feature, role, work package or period.
    Cost(CostArgs),
    /// Import token usage from the agents' own session logs (Claude Code, Codex, Gemini CLI).
    Import(super::usage::ImportArgs),
    /// Agent hooks that import a session's usage as it happens, and their installation.
    Hook(super::usage::HookArgs),
}

pub fn run(ctx: &Context, args: TelemetryArgs) -> Result<(), CliError> {
    match args.command {
        Some(TelemetryCommand::Emit(emit)) => run_emit(ctx, emit),
        Some(TelemetryCommand::Cost(cost)) => run_cost(ctx, cost),
        Some(TelemetryCommand::Import(import)) => super::usage::run_import(ctx, import),
        Some(TelemetryCommand::Hook(hook)) => super::usage::run_hook(ctx, hook),
        None => run_cost(ctx, args.cost),
    }
}

// ---------------------------------------------------------------------------------------------------
// emit

#[derive(Debug, Args)]
#[command(after_help = "The event is appended to kitty-specs/<feature>/execution.events.jsonl (created if missing).\n\
A failed write prints a warning and still exits 0 so agent templates never break; --strict (or\n\
SPEC_KITTY_STRICT=1) makes it exit 1. Invalid flag values exit 2.")]
struct EmitArgs {
    /// Feature slug: the directory under kitty-specs/ (e.g. 048-full-lifecycle-telemetry-events).
    #[arg(short = 'f', long, value_name = "SLUG", value_parser = parse_slug)]
    feature: FeatureSlug,
    /// Workflow phase this invocation belongs to.
    #[arg(short = 'r', long, value_parser = role_parser())]
    role: Role,
    /// Agent tool that ran the phase (claude, codex, copilot, …); default "unknown".
    #[arg(long)]
    agent: Option<String>,
    /// Model identifier as the agent reports it (e.g. claude-sonnet-4.5).
    #[arg(long)]
    model: Option<String>,
    /// Input tokens, excluding cache reads and writes.
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = parse_tokens)]
    input_tokens: Option<u64>,
    /// Output tokens.
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = parse_tokens)]
    output_tokens: Option<u64>,
    /// Input tokens read from the prompt cache.
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = parse_tokens)]
    cache_read_tokens: Option<u64>,
    /// Input tokens written to the prompt cache.
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = parse_tokens)]
    cache_write_tokens: Option<u64>,
    /// Cost in USD as reported by the agent; omit to estimate it from pricing.yaml.
    #[arg(long, value_name = "USD", allow_hyphen_values = true, value_parser = parse_cost)]
    cost_usd: Option<f64>,
    /// Wall time of the phase in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0, allow_negative_numbers = true, value_parser = parse_count)]
    duration_ms: u64,
    /// The phase succeeded (default).
    #[arg(long, overrides_with = "failure")]
    success: bool,
    /// The phase failed.
    #[arg(long, overrides_with = "success")]
    failure: bool,
    /// Error message of a failed phase.
    #[arg(long, value_name = "TEXT")]
    error: Option<String>,
    /// Exit code of the agent process.
    #[arg(long, value_name = "CODE", default_value_t = 0, allow_negative_numbers = true)]
    exit_code: i64,
    /// Work package id (WP01…); N/A for feature-level phases.
    #[arg(long, value_name = "WP", default_value = "N/A")]
    wp_id: String,
    /// Exit 1 when the event cannot be written (default: warn and exit 0).
    #[arg(long)]
    strict: bool,
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
}

fn run_emit(ctx: &Context, args: EmitArgs) -> Result<(), CliError> {
    // Checked here rather than by clap, whose message would repeat a value of any length.
    let wp_id = telemetry::record::parse_wp_id(&args.wp_id)
        .map_err(|e| CliError::usage(format!("invalid value for '--wp-id <WP>': {e}")))?;
    let project = discover(ctx)?;
    let slug = resolve_emit_feature(&project, &args.feature)?;
    let record = ExecutionRecord {
        wp_id,
        agent: args.agent.filter(|a| !a.trim().is_empty()).unwrap_or_else(|| "unknown".into()),
        role: args.role,
        model: args.model,
        input_tokens: args.input_tokens,
        output_tokens: args.output_tokens,
        cache_read_tokens: args.cache_read_tokens,
        cache_write_tokens: args.cache_write_tokens,
        cost_usd: args.cost_usd,
        duration_ms: args.duration_ms,
        success: !args.failure,
        error: args.error,
        exit_code: args.exit_code,
    };
    let strict = args.strict || ctx.strict;
    match telemetry::emit(&project.root, &project.feature_dir(&slug), &slug, &record, ctx) {
        Ok(emitted) => {
            for warning in &emitted.warnings {
                output::warn(warning);
            }
            if emitted.created_feature_dir {
                eprintln!("note: created kitty-specs/{slug}/ for a new feature");
            }
            let text = if args.json {
                let result = json!({
                    "result": "success",
                    "feature": slug,
                    "role": record.role.as_str(),
                    "agent": record.agent,
                    "model": record.model,
                    "wp_id": record.wp_id,
                    "event_id": emitted.event.event_id.to_string(),
                    "lamport_clock": emitted.event.lamport_clock,
                });
                pyjson::to_string(&result, pyjson::COMPACT) + "\n"
            } else {
                format!("✓ Telemetry event emitted: {} for {slug}\n", record.role)
            };
            output::print(&text)?;
            Ok(())
        }
        Err(EmitError::Record(e)) => Err(CliError::usage(e.to_string())),
        Err(e) => {
            let message = format!("telemetry event not recorded: {e}");
            if args.json {
                output::print(
                    &(pyjson::to_string(&json!({"result": "error", "error": message}), pyjson::COMPACT) + "\n"),
                )?;
            }
            if strict {
                return Err(CliError::failure(message)
                    .hint("check the permissions of the feature directory, or drop --strict to keep going"));
            }
            output::warn(&message);
            Ok(())
        }
    }
}

/// `--feature 048` is never a real slug (they look like `048-name`): a bare number names the one feature
/// with that number. Several or none is a usage error listing the candidates, never a new `kitty-specs/048/`.
fn resolve_emit_feature(project: &Project, slug: &FeatureSlug) -> Result<String, CliError> {
    let wanted = slug.as_str();
    if project.feature_dir(wanted).is_dir() {
        return Ok(wanted.to_owned());
    }
    crate::project::detect::resolve_number(project, wanted).map_err(|e| {
        let candidates = e.candidates();
        let hint = if candidates.is_empty() {
            "pass the feature's full slug (NNN-name)".to_owned()
        } else {
            format!("pass one of: {}", candidates.join(", "))
        };
        CliError::usage(format!("--feature {wanted}: {e}")).hint(hint)
    })
}

// ---------------------------------------------------------------------------------------------------
// cost

#[derive(Debug, Args)]
#[command(
    after_help = "Costs reported by agents are used as is; events without a cost are estimated from their token\n\
counts and the pricing table (built in, overridden per model by ~/.spec-kitty/pricing.yaml and then\n\
.kittify/pricing.yaml; --pricing replaces it). Groups that include estimates are marked ~.\n\
Rows are sorted by cost, then event count (both descending), then group name."
)]
struct CostArgs {
    /// Only features whose directory name starts with this prefix (glob * and ? allowed).
    #[arg(short = 'f', long, value_name = "PREFIX")]
    feature: Option<String>,
    /// Only events at or after this time (ISO 8601; naive times are UTC).
    #[arg(long, value_name = "WHEN", value_parser = parse_bound)]
    since: Option<Bound>,
    /// Only events at or before this time; a date alone includes that whole day.
    #[arg(long, value_name = "WHEN", value_parser = parse_bound)]
    until: Option<Bound>,
    /// Group by agent, model, feature, role, wp, day, week or month; comma-separate for several.
    #[arg(short = 'g', long, value_name = "KEYS", default_value = "agent", value_parser = parse_group_by)]
    group_by: GroupBy,
    /// Only events of this agent.
    #[arg(long)]
    agent: Option<String>,
    /// Only events of this model (exact name as recorded).
    #[arg(long)]
    model: Option<String>,
    /// Only events of this role.
    #[arg(long)]
    role: Option<String>,
    /// Only events of this work package.
    #[arg(long, value_name = "WP")]
    wp_id: Option<String>,
    /// Price with this file instead (our pricing.yaml shape, or a LiteLLM JSON price list).
    #[arg(long, value_name = "FILE")]
    pricing: Option<PathBuf>,
    /// Print the groups as a JSON array.
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// Print the groups as CSV.
    #[arg(long)]
    csv: bool,
}

#[derive(Debug, Clone, Copy)]
struct Bound {
    at: Timestamp,
    date_only: bool,
}

#[derive(Debug, Clone)]
struct GroupBy(Vec<GroupKey>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Table,
    Json,
    Csv,
}

fn run_cost(ctx: &Context, args: CostArgs) -> Result<(), CliError> {
    let project = discover(ctx)?;
    let format = if args.json {
        Format::Json
    } else if args.csv {
        Format::Csv
    } else {
        Format::Table
    };
    let group_by = args.group_by.0;
    let selection = args.feature.clone().map_or(FeatureSelection::All, FeatureSelection::Matching);
    let logs = feature_logs(&project, &selection)?;
    if let (FeatureSelection::Matching(prefix), true) = (&selection, logs.is_empty()) {
        return print_empty(format, &group_by, &format!("No features matching '{prefix}' found."));
    }

    let explicit = args.pricing.as_ref().map(|p| ctx.cwd.join(p));
    let pricing = PricingTable::for_project(ctx.home.as_deref(), &project.root, explicit.as_deref())?;
    let filter = EventFilter {
        time: TimeRange::new(
            args.since.map(|b| b.at.to_utc()),
            args.until.map(|b| b.at.to_utc()),
            args.until.is_some_and(|b| b.date_only),
        ),
        agent: args.agent,
        model: args.model,
        role: args.role,
        wp_id: args.wp_id,
    };
    let paths: Vec<PathBuf> = logs.into_iter().map(|l| l.path).collect();
    let report = cost_report(&paths, &filter, &group_by, &pricing)?;
    for warning in report.scans.iter().filter_map(|s| s.warning()) {
        output::warn(&warning);
    }
    if report.rows.is_empty() {
        return print_empty(format, &group_by, "No execution events found.");
    }
    let text = match format {
        Format::Json => render_json(&report)?,
        Format::Csv => render_csv(&report),
        Format::Table => render_table(&report, &Term::stdout()),
    };
    output::print(&text)?;
    if let Some(summary) = report.unpriced_summary() {
        let advice = if report.unpriced_models.keys().all(|m| m == telemetry::cost::NO_MODEL) {
            "pass --model or --cost-usd when emitting"
        } else {
            "add their prices to .kittify/pricing.yaml"
        };
        let line = format!("{summary}; not in the totals ({advice})");
        match format {
            Format::Table => output::print(&output::fit_line(&line, &Term::stdout()))?,
            Format::Json | Format::Csv => eprintln!("note: {line}"),
        }
    }
    Ok(())
}

fn print_empty(format: Format, group_by: &[GroupKey], message: &str) -> Result<(), CliError> {
    match format {
        Format::Json => {
            eprintln!("note: {message}");
            output::print("[]\n")?;
        }
        Format::Csv => {
            eprintln!("note: {message}");
            output::print(&(csv_record(&csv_header(group_by)) + "\n"))?;
        }
        Format::Table => output::print(&format!("{message}\n"))?,
    }
    Ok(())
}

fn group_header(key: GroupKey) -> &'static str {
    match key {
        GroupKey::Agent => "Agent",
        GroupKey::Model => "Model",
        GroupKey::Feature => "Feature",
        GroupKey::Role => "Role",
        GroupKey::Wp => "WP",
        GroupKey::Day => "Day",
        GroupKey::Week => "Week",
        GroupKey::Month => "Month",
    }
}

fn group_title(group_by: &[GroupKey]) -> String {
    group_by.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
}

/// The cost table. On a narrow terminal the headers stack first ("Input" over "Tokens"), then the cache
/// columns go (a line under the table says so), and group names wrap: a report fits 80 columns.
fn render_table(report: &CostReport, term: &Term) -> String {
    let single = report.group_by.len() == 1;
    let with_cache = report.rows.iter().any(|r| r.totals.has_cache_tokens());
    let group = |header: &str| Column::new(header, Align::Left).colored(Color::DarkCyan).wrapping();
    let mut columns: Vec<Column> =
        if single { vec![group("Group")] } else { report.group_by.iter().map(|k| group(group_header(*k))).collect() };
    columns.push(Column::new("Input Tokens", Align::Right).compact("Input\nTokens"));
    columns.push(Column::new("Output Tokens", Align::Right).compact("Output\nTokens"));
    if with_cache {
        columns.push(Column::new("Cache Read", Align::Right).compact("Cache\nRead").optional());
        columns.push(Column::new("Cache Write", Align::Right).compact("Cache\nWrite").optional());
    }
    columns.push(Column::new("Cost (USD)", Align::Right).compact("Cost\n(USD)").colored(Color::DarkGreen));
    columns.push(Column::new("Events", Align::Right));
    columns.push(Column::new("Estimated", Align::Center).compact("Est."));

    let cells = |keys: Vec<String>, t: &Totals, marker: &str| {
        let mut row = keys;
        row.push(thousands(t.input_tokens));
        row.push(thousands(t.output_tokens));
        if with_cache {
            row.push(thousands(t.cache_read_tokens));
            row.push(thousands(t.cache_write_tokens));
        }
        row.push(format!("${}", t.cost.to_fixed(4)));
        row.push(t.events.to_string());
        row.push(marker.to_owned());
        row
    };
    let rows = report
        .rows
        .iter()
        .map(|r| cells(r.keys.clone(), &r.totals, if r.totals.estimated.is_positive() { "~" } else { "" }))
        .collect();
    let mut total_keys = vec!["TOTAL".to_owned()];
    total_keys.resize(report.group_by.len(), String::new());
    let table = Table {
        title: Some(format!("Cost Report (grouped by {})", group_title(&report.group_by))),
        columns,
        rows,
        footer: Some(cells(total_keys, &report.total(), "")),
        ..Table::default()
    };
    let rendered = table.render_fitted(term);
    let mut text = rendered.text;
    if let (false, Some(width)) = (rendered.hidden.is_empty(), term.width) {
        let note = format!("Not shown to fit {width} columns: {} (see --json or --csv)", rendered.hidden.join(", "));
        text.push_str(&output::fit_line(&note, term));
    }
    text
}

fn render_json(report: &CostReport) -> Result<String, CliError> {
    let text = pyjson::to_string_of(&report.json_rows(), pyjson::PRETTY)
        .map_err(|e| CliError::failure(format!("cannot encode the report: {e}")))?;
    Ok(text + "\n")
}

fn csv_header(group_by: &[GroupKey]) -> Vec<String> {
    let metrics = [
        "total_input_tokens",
        "total_output_tokens",
        "total_cache_read_tokens",
        "total_cache_write_tokens",
        "total_cost_usd",
        "estimated_cost_usd",
        "event_count",
        "unpriced_event_count",
    ];
    group_by.iter().map(|k| k.as_str().to_owned()).chain(metrics.iter().map(|m| (*m).to_owned())).collect()
}

fn render_csv(report: &CostReport) -> String {
    let mut out = csv_record(&csv_header(&report.group_by)) + "\n";
    for row in &report.rows {
        let t = &row.totals;
        let mut fields = row.keys.clone();
        fields.extend([
            t.input_tokens.to_string(),
            t.output_tokens.to_string(),
            t.cache_read_tokens.to_string(),
            t.cache_write_tokens.to_string(),
            t.cost.to_fixed(6),
            t.estimated.to_fixed(6),
            t.events.to_string(),
            t.unpriced_events.to_string(),
        ]);
        out.push_str(&csv_record(&fields));
        out.push('\n');
    }
    out
}

// ---------------------------------------------------------------------------------------------------
// shared

fn role_parser() -> impl clap::builder::TypedValueParser<Value = Role> {
    use clap::builder::TypedValueParser as _;
    PossibleValuesParser::new(Role::ALL.map(Role::as_str))
        .map(|s| s.parse::<Role>().expect("restricted to known roles"))
}

fn parse_slug(text: &str) -> Result<FeatureSlug, String> {
    FeatureSlug::parse(text).map_err(|e| e.to_string())
}

fn parse_bound(text: &str) -> Result<Bound, String> {
    Timestamp::parse_bound(text)
        .map(|(at, date_only)| Bound { at, date_only })
        .map_err(|_| format!("{text:?} is not an ISO 8601 date or time (e.g. 2026-01-01 or 2026-01-01T00:00:00+00:00)"))
}

fn parse_group_by(text: &str) -> Result<GroupBy, String> {
    GroupKey::parse_list(text).map(GroupBy)
}
