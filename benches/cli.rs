//! Benchmarks for the budgets of DESIGN.md §4 that concern start-up and the telemetry commands:
//!
//! * `agent telemetry emit` as a whole process, on an empty log and on a 1,000,000-event log (the cost of
//!   an emit must not grow with the log);
//! * `agent telemetry cost` (default table, `--group-by role`, `--json`) over 1,000,000 events in 10
//!   features: wall time and the child's own peak RSS;
//! * `spec-kitty --help`;
//! * `agent tasks move-task` as a whole process (without git) on a feature with 20 work packages and 1,000
//!   status events, alternating a review hand-off and a rejection so every run is a legal, unforced move.
//!
//! `cargo bench --bench cli` runs everything at full size; `-- --quick` (or `BENCH_QUICK=1`) uses 100,000
//! events and fewer runs for a smoke test; `-- emit`, `-- cost`, `-- help`, `-- move` select benchmarks;
//! `-- --keep` leaves the generated data behind (for profiling). The data lives in a fresh temporary
//! directory that is removed afterwards. Results are a table with a PASS/FAIL column; timings are never
//! asserted.

use chrono::{DateTime, Datelike};
use serde_json::json;
use spec_kitty::events::{Event, EventId, Payload, Timestamp};
use spec_kitty::workflow::activity::ActivityEntry;
use spec_kitty::workflow::lanes::{Lane, TransitionContext, validate_transition};
use spec_kitty::workflow::status::{self, StatusEvent};
use spec_kitty::workflow::tasks_md;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The reference sync server (the example developers run), for the `sync now` benchmark.
#[path = "../examples/sync-server/server.rs"]
#[allow(dead_code)]
mod server;

const EMIT_BUDGET: Duration = Duration::from_millis(5);
const EMIT_GROWTH_BUDGET: f64 = 1.2;
const COST_WALL_BUDGET: Duration = Duration::from_millis(1500);
const COST_RSS_BUDGET_KIB: u64 = 64 * 1024;
const HELP_BUDGET: Duration = Duration::from_millis(5);
const MOVE_BUDGET: Duration = Duration::from_millis(10);
const ENQUEUE_P99_BUDGET: Duration = Duration::from_millis(10);
const SYNC_NOW_EVENTS: usize = 50_000;
const SYNC_NOW_RATE_BUDGET: f64 = 10_000.0;
const EMISSION_OVERHEAD_BUDGET: Duration = Duration::from_millis(5);

const USAGE: &str = "\
usage: cargo bench --bench cli [-- [--quick] [--keep] [emit] [cost] [help] [move]]

  --quick   100,000 events and fewer runs (also BENCH_QUICK=1); budgets are defined at full size
  --keep    keep the generated data directory (its path is printed)
  emit, cost, help, move
            run only these benchmarks (default: all)
  SPEC_KITTY_BIN=PATH overrides the binary under test (default: the release build of this crate)";

fn main() -> ExitCode {
    let config = match Config::from_args(std::env::args().skip(1)) {
        Ok(Some(config)) => config,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(config: &Config) -> Result<(), String> {
    let binary = locate_binary()?;
    let workspace = Workspace::create(config.keep)?;
    let ours = Runner::new(binary.clone(), workspace.path.join("home"))?;
    println!(
        "spec-kitty CLI benchmarks: {} events{}, {} CPU(s), binary {}",
        thousands(config.events as u64),
        if config.quick { " (QUICK MODE: budgets are defined at 1,000,000; figures are indicative)" } else { "" },
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        binary.display()
    );
    println!("data in {}\n", workspace.path.display());

    let mut report = Report::default();
    if config.run_emit {
        bench_emit(config, &workspace, &ours, &mut report)?;
    }
    if config.run_cost {
        bench_cost(config, &workspace, &ours, &mut report)?;
    }
    if config.run_help {
        bench_help(config, &workspace, &ours, &mut report)?;
    }
    if config.run_move {
        bench_move(config, &workspace, &ours, &mut report)?;
    }
    if config.run_sync {
        bench_enqueue(config, &workspace, &mut report)?;
        bench_emission_overhead(config, &workspace, &ours, &mut report)?;
        bench_sync_now(config, &workspace, &binary, &mut report)?;
    }
    report.print(config);
    compare_with_python(&binary, &workspace, &report)
}

// ---------------------------------------------------------------------------------------------------
// configuration

struct Config {
    quick: bool,
    keep: bool,
    run_emit: bool,
    run_cost: bool,
    run_help: bool,
    run_move: bool,
    run_sync: bool,
    /// Events in the emit benchmark's big log, and in total over the cost benchmark's features.
    events: usize,
    cost_features: usize,
    emit_warmup: usize,
    /// Each round runs the empty-log and the big-log emit once, so drift affects both alike.
    emit_rounds: usize,
    cost_runs: usize,
    startup_warmup: usize,
    startup_runs: usize,
    /// Unmeasured move-task rounds; a round is one move to for_review and one back to in_progress.
    move_warmup_rounds: usize,
    move_rounds: usize,
    /// In-process open + enqueue of one event, each measured.
    enqueue_runs: usize,
    /// Each round runs the same emitting command once with sync events on and once off.
    emission_rounds: usize,
}

impl Config {
    /// `Ok(None)` when help was asked for.
    fn from_args(args: impl Iterator<Item = String>) -> Result<Option<Config>, String> {
        let mut quick = std::env::var("BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        let mut keep = false;
        let mut selected = Vec::new();
        for arg in args {
            match arg.as_str() {
                "--quick" => quick = true,
                "--keep" => keep = true,
                // cargo passes `--bench` to every benchmark binary.
                "--bench" => {}
                "-h" | "--help" => return Ok(None),
                "emit" | "cost" | "help" | "move" | "sync" => selected.push(arg),
                other if other.starts_with('-') => return Err(format!("unknown option {other:?}")),
                other => return Err(format!("unknown benchmark {other:?} (expected emit, cost, help, move or sync)")),
            }
        }
        let wants = |name: &str| selected.is_empty() || selected.iter().any(|s| s == name);
        Ok(Some(Config {
            quick,
            keep,
            run_emit: wants("emit"),
            run_cost: wants("cost"),
            run_help: wants("help"),
            run_move: wants("move"),
            run_sync: wants("sync"),
            events: if quick { 100_000 } else { 1_000_000 },
            cost_features: 10,
            emit_warmup: if quick { 10 } else { 30 },
            emit_rounds: if quick { 100 } else { 400 },
            cost_runs: if quick { 3 } else { 9 },
            startup_warmup: if quick { 10 } else { 30 },
            startup_runs: if quick { 100 } else { 300 },
            move_warmup_rounds: if quick { 2 } else { 10 },
            move_rounds: if quick { 25 } else { 150 },
            enqueue_runs: if quick { 100 } else { 500 },
            emission_rounds: if quick { 30 } else { 150 },
        }))
    }
}

/// The release binary `cargo bench` built next to this benchmark, or `$SPEC_KITTY_BIN`.
fn locate_binary() -> Result<PathBuf, String> {
    let candidate = match std::env::var_os("SPEC_KITTY_BIN") {
        Some(path) => PathBuf::from(path),
        None => match option_env!("CARGO_BIN_EXE_spec-kitty") {
            Some(path) => PathBuf::from(path),
            None => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/spec-kitty"),
        },
    };
    if candidate.is_file() {
        Ok(candidate)
    } else {
        Err(format!(
            "spec-kitty binary not found at {}; run the benchmark with `cargo bench --bench cli` (which builds it), \
             or build it with `cargo build --release`, or point SPEC_KITTY_BIN at one",
            candidate.display()
        ))
    }
}

// ---------------------------------------------------------------------------------------------------
// scratch directory

/// A unique directory under the system temp dir, removed on drop unless `--keep` was given.
struct Workspace {
    path: PathBuf,
    keep: bool,
}

impl Workspace {
    fn create(keep: bool) -> Result<Workspace, String> {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!("spec-kitty-bench-{}-{nanos:x}", std::process::id()));
        fs::create_dir(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        Ok(Workspace { path, keep })
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        if self.keep {
            println!("kept benchmark data in {}", self.path.display());
        } else if let Err(e) = fs::remove_dir_all(&self.path) {
            eprintln!("warning: could not remove {}: {e}", self.path.display());
        }
    }
}

/// Creates a project root (`.kittify/` and `kitty-specs/`) at `root`.
fn create_project(root: &Path) -> Result<(), String> {
    for dir in [root.join(".kittify"), root.join("kitty-specs")] {
        fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------
// synthetic telemetry data, in upstream's exact line format

/// 2026-01-01T00:00:00Z; events are spread over the following ~4 months.
const DATA_START_SECS: i64 = 1_767_225_600;
const DATA_SPAN_MICROS: i64 = 120 * 86_400 * 1_000_000;

const ROLES: [(&str, u32); 5] = [("specifier", 2), ("planner", 2), ("implementer", 9), ("reviewer", 5), ("merger", 2)];

/// Agent and model pairs with weights; `copilot-internal-1` has no price, so `cost` reports it as unpriced.
const AGENT_MODELS: [(&str, &str, u32); 6] = [
    ("claude", "claude-sonnet-4.5", 30),
    ("claude", "claude-opus-4-5", 10),
    ("codex", "gpt-5", 25),
    ("copilot", "gpt-5", 10),
    ("copilot", "copilot-internal-1", 5),
    ("gemini", "gemini-2.5-pro", 20),
];

/// Reported costs, written as Python's `repr` writes these floats (`0.0` is an explicit zero).
const REPORTED_COSTS: [&str; 8] = ["0.0042", "0.015", "0.12", "0.0", "1.5", "0.3375", "2.25", "0.0875"];

const WORK_PACKAGES: u64 = 12;

/// Lines per feature checked against the library's own writer (`Event::to_line`).
const FORMAT_CHECKED_LINES: usize = 200;

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Deterministic and fast; the data only has to look varied, not be random.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.0)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick_weighted<T: Copy>(&mut self, items: &[T], weight: impl Fn(&T) -> u32) -> T {
        let total: u64 = items.iter().map(|i| u64::from(weight(i))).sum();
        let mut ticket = self.below(total);
        for item in items {
            let w = u64::from(weight(item));
            if ticket < w {
                return *item;
            }
            ticket -= w;
        }
        items[items.len() - 1]
    }
}

/// SplitMix64's finaliser: a bijection on u64, so distinct counters give distinct ULID random parts.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A 26-character Crockford base32 ULID: 48 bits of milliseconds, then 80 bits of `random`.
fn push_ulid(out: &mut Vec<u8>, millis: u64, random: u128) {
    let value = (u128::from(millis) << 80) | (random & ((1u128 << 80) - 1));
    out.extend((0..26).rev().map(|i| CROCKFORD[((value >> (i * 5)) & 31) as usize]));
}

/// Python's `datetime.isoformat()` of an aware UTC time; the fraction is omitted when it is zero.
struct TimestampWriter {
    day: i64,
    date: String,
}

impl TimestampWriter {
    fn new() -> Self {
        TimestampWriter { day: i64::MIN, date: String::new() }
    }

    fn push(&mut self, out: &mut Vec<u8>, micros: i64) {
        let secs = micros.div_euclid(1_000_000);
        let fraction = micros.rem_euclid(1_000_000);
        let day = secs.div_euclid(86_400);
        if day != self.day {
            // Calendar arithmetic only when the day changes; chrono is exact and this stays cheap.
            let date = DateTime::from_timestamp(day * 86_400, 0).expect("benchmark dates are in range");
            self.date = format!("{:04}-{:02}-{:02}", date.year(), date.month(), date.day());
            self.day = day;
        }
        let in_day = secs.rem_euclid(86_400);
        out.extend_from_slice(self.date.as_bytes());
        let (h, m, s) = (in_day / 3600, in_day / 60 % 60, in_day % 60);
        let _ = write!(out, "T{h:02}:{m:02}:{s:02}");
        if fraction != 0 {
            let _ = write!(out, ".{fraction:06}");
        }
        out.extend_from_slice(b"+00:00");
    }
}

/// Writes `events` ExecutionEvents for `slug` into `<feature_dir>/execution.events.jsonl`, plus a matching
/// `.telemetry-clock.json`, and flushes both to disk so writeback does not disturb the measurements.
/// `tag` (unique per feature) keeps event ids unique across features. Returns the bytes written.
fn write_feature_log(feature_dir: &Path, slug: &str, events: usize, tag: u16) -> Result<u64, String> {
    let io_error = |path: &Path, e: io::Error| format!("cannot write {}: {e}", path.display());
    fs::create_dir_all(feature_dir).map_err(|e| io_error(feature_dir, e))?;
    let log_path = feature_dir.join("execution.events.jsonl");
    let file = File::create(&log_path).map_err(|e| io_error(&log_path, e))?;
    // A modest buffer: see `harness_peak_rss_kib` for why this process must stay small.
    let mut out = BufWriter::with_capacity(128 << 10, file);

    let mut rng = SplitMix64(u64::from(tag) << 32);
    let mut timestamps = TimestampWriter::new();
    // Highest Lamport value per node: index 0 is `cli:N/A`, 1..=12 are `cli:WP01`..`cli:WP12`.
    let mut node_clock = [0u64; WORK_PACKAGES as usize + 1];
    let step = (DATA_SPAN_MICROS / events.max(1) as i64).max(1);
    let start = DATA_START_SECS * 1_000_000 + i64::from(tag) * 3_600_000_000;
    let mut line = Vec::with_capacity(640);
    let mut bytes = 0u64;

    for i in 0..events {
        let lamport = i as u64 + 1;
        let micros = start + i as i64 * step + (rng.below(step as u64) as i64);
        let (role, _) = rng.pick_weighted(&ROLES, |r| r.1);
        let (agent, model, _) = rng.pick_weighted(&AGENT_MODELS, |m| m.2);
        let wp = match role {
            "specifier" | "planner" => 0,
            _ => 1 + rng.below(WORK_PACKAGES) as usize,
        };
        node_clock[wp] = lamport;
        let cost =
            if rng.below(10) < 3 { REPORTED_COSTS[rng.below(REPORTED_COSTS.len() as u64) as usize] } else { "null" };
        let failed = rng.below(100) < 3;

        line.clear();
        let _ = write!(line, "{{\"aggregate_id\": \"{slug}\", \"causation_id\": null, \"event_id\": \"");
        // Distinct per line (mix64 is a bijection and i < 2^40) and random-looking; the tag keeps features apart.
        let id_bits = mix64(i as u64 ^ (u64::from(tag) << 40));
        push_ulid(&mut line, (micros / 1000) as u64, (u128::from(tag) << 64) | u128::from(id_bits));
        let _ = write!(
            line,
            "\", \"event_type\": \"ExecutionEvent\", \"lamport_clock\": {lamport}, \"node_id\": \"cli:{wp_id}\", \
             \"payload\": {{\"agent\": \"{agent}\", \"cost_usd\": {cost}, \"duration_ms\": {duration}, \
             \"error\": {error}, \"exit_code\": {exit_code}, \"input_tokens\": {input}, \"model\": \"{model}\", \
             \"output_tokens\": {output}, \"role\": \"{role}\", \"success\": {success}, \"wp_id\": \"{wp_id}\"}}, \
             \"timestamp\": \"",
            wp_id = wp_label(wp),
            duration = 1_000 + rng.below(900_000),
            error = if failed { "\"agent exited with status 1\"" } else { "null" },
            exit_code = u8::from(failed),
            input = 200 + rng.below(60_000),
            output = 50 + rng.below(12_000),
            success = !failed,
        );
        timestamps.push(&mut line, micros);
        line.extend_from_slice(b"\"}");
        if i < FORMAT_CHECKED_LINES {
            check_line_format(&line)?;
        }
        line.push(b'\n');
        out.write_all(&line).map_err(|e| io_error(&log_path, e))?;
        bytes += line.len() as u64;
    }
    let file = out.into_inner().map_err(|e| io_error(&log_path, e.into_error()))?;
    file.sync_all().map_err(|e| io_error(&log_path, e))?;

    let counters: BTreeMap<String, u64> = node_clock
        .iter()
        .enumerate()
        .filter(|(_, clock)| **clock > 0)
        .map(|(wp, clock)| (format!("cli:{}", wp_label(wp)), *clock))
        .collect();
    let clock_path = feature_dir.join(".telemetry-clock.json");
    fs::write(&clock_path, clock_file_text(&counters)).map_err(|e| io_error(&clock_path, e))?;
    Ok(bytes)
}

fn wp_label(wp: usize) -> String {
    if wp == 0 { "N/A".to_owned() } else { format!("WP{wp:02}") }
}

/// `{"cli:N/A": 6, "cli:WP01": 7}`: sorted keys, upstream separators, no trailing newline.
fn clock_file_text(counters: &BTreeMap<String, u64>) -> String {
    let entries: Vec<String> = counters.iter().map(|(node, clock)| format!("\"{node}\": {clock}")).collect();
    format!("{{{}}}", entries.join(", "))
}

/// The generated line must be exactly what the crate's own writer produces for the same event, or the
/// benchmark would be measuring something other than real logs.
fn check_line_format(line: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(line).map_err(|e| format!("generated line is not UTF-8: {e}"))?;
    let event =
        Event::<Payload>::from_line(line).map_err(|e| format!("generated line does not parse ({e}):\n  {text}"))?;
    let canonical = event.to_line();
    if canonical != text {
        return Err(format!(
            "generated line differs from the upstream format:\n  generated: {text}\n  expected:  {canonical}"
        ));
    }
    Ok(())
}

/// Generates `features` feature logs sharing `total` events, one feature per CPU at a time.
fn generate_features(project: &Path, features: usize, total: usize) -> Result<(), String> {
    let started = Instant::now();
    let slugs: Vec<String> = (1..=features).map(|i| format!("{i:03}-bench-feature-{i}")).collect();
    let per_feature = total / features;
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(features);
    let results: Vec<Result<u64, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut bytes = 0;
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(slug) = slugs.get(index) else { break };
                        let dir = project.join("kitty-specs").join(slug);
                        // Tags 100.. are distinct from the emit benchmark's, so all event ids differ.
                        bytes += write_feature_log(&dir, slug, per_feature, 100 + index as u16)?;
                    }
                    Ok(bytes)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("data generator panicked".into()))).collect()
    });
    let bytes = results.into_iter().sum::<Result<u64, String>>()?;
    println!(
        "generated {} events in {features} features ({} MB) in {:.1} s",
        thousands((per_feature * features) as u64),
        bytes >> 20,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------------
// synthetic workflow data for move-task: WP prompt files, tasks.md and a status log in upstream's formats

const MOVE_WPS: usize = 20;
const MOVE_STATUS_EVENTS: usize = 1_000;
const MOVE_SUBTASKS_PER_WP: usize = 4;
/// The work package the benchmark moves; its generated history ends in in_progress.
const MOVE_WP: usize = 12;
/// Final lanes, by work package (WP01 done, WP02 in_progress, …).
const MOVE_END_LANES: [Lane; 5] = [Lane::Done, Lane::InProgress, Lane::ForReview, Lane::Planned, Lane::Blocked];
const MOVE_AGENTS: [&str; 4] = ["claude", "codex", "gemini", "copilot"];
const MOVE_REVIEWER: &str = "Bench Reviewer";

/// One hop of a generated history.
#[derive(Debug, Clone, Copy)]
struct Hop {
    from: Lane,
    to: Lane,
    force: bool,
}

fn hop(from: Lane, to: Lane) -> Hop {
    Hop { from, to, force: false }
}

/// A legal history of `len` transitions for work package `wp` (1-based), from planned to `end`: a start
/// (a forced bootstrap, as after `workflow implement`, or planned → claimed → in_progress), then review
/// rounds (in_progress → for_review → in_progress), a block every sixth round and one re-plan when the
/// count is odd, then the way to `end`.
fn wp_history(wp: usize, end: Lane, len: usize) -> Vec<Hop> {
    use Lane::*;
    let mut hops = if wp.is_multiple_of(3) {
        vec![Hop { from: Planned, to: InProgress, force: true }]
    } else {
        vec![hop(Planned, Claimed), hop(Claimed, InProgress)]
    };
    let tail = match end {
        Done => vec![hop(InProgress, ForReview), hop(ForReview, Done)],
        InProgress => vec![],
        other => vec![hop(InProgress, other)],
    };
    let mut middle = len - hops.len() - tail.len();
    if middle % 2 == 1 {
        hops.extend([hop(InProgress, Planned), hop(Planned, Claimed), hop(Claimed, InProgress)]);
        middle -= 3;
    }
    for round in 0..middle / 2 {
        let via = if round % 6 == 5 { Blocked } else { ForReview };
        hops.extend([hop(InProgress, via), hop(via, InProgress)]);
    }
    hops.extend(tail);
    hops
}

fn wp_end_lane(wp: usize) -> Lane {
    MOVE_END_LANES[(wp - 1) % MOVE_END_LANES.len()]
}

fn wp_file_name(wp: usize) -> String {
    format!("{}-benchmark-work-package-{wp}.md", wp_label(wp))
}

/// What the generator wrote, for the benchmark's checks.
struct WorkflowFeature {
    lanes: BTreeMap<String, Lane>,
    events: usize,
}

/// Writes a feature for move-task into `feature_dir`: `meta.json`, `tasks.md` (one section per work package,
/// every subtask checked, the generated status block), `tasks/WPxx-*.md` in upstream's frontmatter shape
/// with an Activity Log matching the history, `status.events.jsonl` with `MOVE_STATUS_EVENTS` events (each
/// validated against the transition rules and written by the crate's own `StatusEvent::to_line`), and the
/// `status.json` materialised from them. Timestamps end about two weeks before `now_secs`, so the moves the
/// benchmark makes are the latest events.
fn write_workflow_feature(feature_dir: &Path, slug: &str, now_secs: i64) -> Result<WorkflowFeature, String> {
    let io_error = |path: &Path, e: io::Error| format!("cannot write {}: {e}", path.display());
    let tasks_dir = feature_dir.join("tasks");
    fs::create_dir_all(&tasks_dir).map_err(|e| io_error(&tasks_dir, e))?;

    // Histories, interleaved at random in one timeline 50–80 minutes apart.
    let per_wp = MOVE_STATUS_EVENTS / MOVE_WPS;
    let histories: Vec<Vec<Hop>> = (1..=MOVE_WPS).map(|wp| wp_history(wp, wp_end_lane(wp), per_wp)).collect();
    let mut rng = SplitMix64(0x5747_u64 << 32);
    let mut next = [0usize; MOVE_WPS];
    let mut lanes: Vec<Lane> = vec![Lane::Planned; MOVE_WPS];
    let mut rounds = [0usize; MOVE_WPS];
    // (timestamp, lane, note) per work package, for its Activity Log.
    let mut activity: Vec<Vec<(DateTime<chrono::Utc>, Lane, String)>> = vec![Vec::new(); MOVE_WPS];
    let mut micros = (now_secs - 60 * 86_400) * 1_000_000;
    let mut events = Vec::with_capacity(MOVE_STATUS_EVENTS);
    while events.len() < MOVE_STATUS_EVENTS {
        let open: Vec<usize> = (0..MOVE_WPS).filter(|&w| next[w] < histories[w].len()).collect();
        let w = open[rng.below(open.len() as u64) as usize];
        let Hop { from, to, force } = histories[w][next[w]];
        next[w] += 1;
        micros += 3_000_000_000 + rng.below(1_800_000_000) as i64;
        let at = DateTime::from_timestamp_micros(micros).ok_or("benchmark dates are in range")?;
        let wp_id = wp_label(w + 1);
        let agent = MOVE_AGENTS[w % MOVE_AGENTS.len()];
        let reviewing = from == Lane::ForReview;
        let (reason, review_ref, evidence) = match (from, to) {
            _ if force => (format!("bootstrap from frontmatter lane {to} before move-task transition"), None, None),
            (Lane::InProgress, Lane::ForReview) => (format!("Ready for review: {wp_id} subtasks complete"), None, None),
            (Lane::ForReview, Lane::InProgress) => {
                rounds[w] += 1;
                let reference = format!("kitty-specs/{slug}/reviews/{wp_id}-round-{}.md", rounds[w]);
                ("Changes requested: see the review feedback".to_owned(), Some(reference), None)
            }
            (Lane::ForReview, Lane::Done) => {
                let review = json!({"review": {"reference": format!("https://example.invalid/reviews/{wp_id}"),
                    "reviewer": MOVE_REVIEWER, "verdict": "approved"}});
                ("Review passed".to_owned(), None, Some(review))
            }
            _ => (format!("move-task: {from} -> {to}"), None, None),
        };
        let event = StatusEvent {
            actor: if force {
                "user".to_owned()
            } else if reviewing {
                "reviewer".to_owned()
            } else {
                agent.to_owned()
            },
            at: Timestamp::from_utc(at),
            // 48 bits of milliseconds (strictly increasing here, so ids are unique), then 80 random bits.
            event_id: EventId::Ulid(
                (u128::from(at.timestamp_millis() as u64) << 80)
                    | (u128::from(rng.next()) << 16)
                    | u128::from(rng.next() & 0xFFFF),
            ),
            evidence,
            execution_mode: if w % 4 == 3 { "direct_repo" } else { "worktree" }.to_owned(),
            feature_slug: slug.to_owned(),
            force,
            from_lane: from,
            policy_metadata: None,
            reason: Some(reason.clone()),
            review_ref,
            to_lane: to,
            wp_id: wp_id.clone(),
        };
        // A valid history: each hop starts where the last one ended and passes the rules move-task applies.
        let workspace_context = format!("{slug}-{wp_id}");
        let context = TransitionContext {
            force,
            actor: Some(&event.actor),
            reason: event.reason.as_deref(),
            workspace_context: Some(&workspace_context),
            subtasks_complete: Some(true),
            implementation_evidence_present: Some(next[w] > 1),
            review_ref: event.review_ref.as_deref(),
            evidence: event.evidence.as_ref(),
        };
        if lanes[w] != from {
            return Err(format!("generated history of {wp_id} is broken: {from} -> {to} from lane {}", lanes[w]));
        }
        validate_transition(from, to, &context).map_err(|e| format!("generated {wp_id} {from} -> {to}: {e}"))?;
        lanes[w] = to;
        activity[w].push((at, to, reason));
        events.push(event);
    }

    // The log, each line checked to read back into the same line.
    let log_path = status::events_path(feature_dir);
    let mut log = String::with_capacity(events.len() * 480);
    for event in &events {
        let line = event.to_line();
        let reread = StatusEvent::from_line(line.as_bytes()).map_err(|e| format!("generated status line: {e}"))?;
        if reread.to_line() != line || !line.contains("\"policy_metadata\": null") {
            return Err(format!("generated status line does not round-trip:\n  {line}"));
        }
        log.push_str(&line);
        log.push('\n');
    }
    fs::write(&log_path, &log).map_err(|e| io_error(&log_path, e))?;
    let snapshot =
        status::materialize(&events, Timestamp::from_utc(DateTime::from_timestamp_micros(micros).unwrap_or_default()));
    let expected: BTreeMap<String, Lane> = (1..=MOVE_WPS).map(|wp| (wp_label(wp), wp_end_lane(wp))).collect();
    if snapshot.lanes() != expected {
        return Err(format!("the generated log reduces to {:?}, expected {expected:?}", snapshot.lanes()));
    }
    let snapshot_path = feature_dir.join(status::SNAPSHOT_FILE);
    fs::write(&snapshot_path, snapshot.to_file_text()).map_err(|e| io_error(&snapshot_path, e))?;

    let meta_path = feature_dir.join("meta.json");
    let meta = format!(
        "{{\n  \"feature_number\": \"{number}\",\n  \"slug\": \"{slug}\",\n  \"feature_slug\": \"{slug}\",\n  \
         \"friendly_name\": \"{friendly}\",\n  \"mission\": \"software-dev\",\n  \"target_branch\": \"main\",\n  \
         \"created_at\": \"{created}\"\n}}\n",
        number = &slug[..3],
        friendly = slug[4..].replace('-', " "),
        created = Timestamp::from_utc(DateTime::from_timestamp(now_secs - 61 * 86_400, 0).unwrap_or_default()),
    );
    fs::write(&meta_path, meta).map_err(|e| io_error(&meta_path, e))?;

    let tasks_md = status::upsert_status_block(&tasks_md_text(slug), &snapshot.lanes());
    for wp in 1..=MOVE_WPS {
        if !tasks_md::unchecked_subtasks(&tasks_md, &wp_label(wp)).is_empty() {
            return Err(format!("generated tasks.md leaves subtasks of {} unchecked", wp_label(wp)));
        }
    }
    let tasks_path = feature_dir.join("tasks.md");
    fs::write(&tasks_path, tasks_md).map_err(|e| io_error(&tasks_path, e))?;

    let created = DateTime::from_timestamp(now_secs - 61 * 86_400, 0).unwrap_or_default();
    for (w, entries) in activity.iter().enumerate() {
        let path = tasks_dir.join(wp_file_name(w + 1));
        fs::write(&path, wp_file_text(w + 1, created, entries)).map_err(|e| io_error(&path, e))?;
    }
    Ok(WorkflowFeature { lanes: expected, events: events.len() })
}

fn wp_title(wp: usize) -> String {
    format!("Benchmark Work Package {wp}")
}

fn subtask_ids(wp: usize) -> impl Iterator<Item = String> {
    (1..=MOVE_SUBTASKS_PER_WP).map(move |i| format!("T{:03}", (wp - 1) * MOVE_SUBTASKS_PER_WP + i))
}

fn wp_dependencies(wp: usize) -> Vec<String> {
    if wp % 5 == 1 { Vec::new() } else { vec![wp_label(wp - 1)] }
}

/// `tasks.md` as `/spec-kitty.tasks` writes it, one `## Work Package WPxx: …` section per work package.
fn tasks_md_text(slug: &str) -> String {
    let mut text = format!(
        "# Work Packages: Benchmark Move Task\n\n**Inputs**: Design documents from `kitty-specs/{slug}/`\n\
         **Prerequisites**: plan.md (required), spec.md (user stories)\n\n**Organization**: Fine-grained subtasks \
         (`Txxx`) roll up into work packages (`WPxx`). Each work package must be independently deliverable and \
         testable.\n\n---\n"
    );
    for wp in 1..=MOVE_WPS {
        let id = wp_label(wp);
        let _ = write!(
            text,
            "\n## Work Package {id}: {title} (Priority: P{priority})\n\n**Goal**: Deliver part {wp} of the benchmark \
             feature without breaking the earlier parts.\n**Independent Test**: `cargo test bench_{wp:02}` passes on \
             its own.\n**Prompt**: `tasks/{file}`\n\n### Included Subtasks\n",
            title = wp_title(wp),
            priority = 1 + wp % 3,
            file = wp_file_name(wp),
        );
        for (i, task) in subtask_ids(wp).enumerate() {
            let _ = writeln!(text, "- [x] {task} Implement step {} of {id} in `src/bench/wp{wp:02}.rs`", i + 1);
        }
        text.push_str("\n### Dependencies\n");
        match wp_dependencies(wp).first() {
            Some(dep) => {
                let _ = writeln!(text, "- Depends on {dep} (its public interface).");
            }
            None => text.push_str("- None (starting package)\n"),
        }
        text.push_str("\n### Risks & Mitigations\n- Regressions in earlier packages → run the full suite.\n\n---\n");
    }
    text
}

/// A work-package prompt file: upstream's frontmatter (mixed quoting, as its two writers leave it), the
/// template's body sections, and an Activity Log with one entry per status event of the work package.
fn wp_file_text(
    wp: usize,
    created: DateTime<chrono::Utc>,
    entries: &[(DateTime<chrono::Utc>, Lane, String)],
) -> String {
    let id = wp_label(wp);
    let agent = MOVE_AGENTS[(wp - 1) % MOVE_AGENTS.len()];
    let shell_pid = format!("{}", 40_000 + wp * 17);
    let end = wp_end_lane(wp);
    let mut text = format!("---\nwork_package_id: {id}\ntitle: {}\nlane: \"{end}\"\n", wp_title(wp));
    match wp_dependencies(wp).as_slice() {
        [] => text.push_str("dependencies: []\n"),
        deps => {
            text.push_str("dependencies:\n");
            deps.iter().for_each(|d| {
                let _ = writeln!(text, "- {d}");
            });
        }
    }
    text.push_str("subtasks:\n");
    subtask_ids(wp).for_each(|t| {
        let _ = writeln!(text, "- {t}");
    });
    let review_status = if end == Lane::Done { "approved" } else { "has_feedback" };
    let _ = write!(
        text,
        "phase: Phase {phase} - Core Implementation\nassignee: ''\nagent: {agent}\nshell_pid: '{shell_pid}'\n\
         review_status: \"{review_status}\"\nreviewed_by: \"{MOVE_REVIEWER}\"\nhistory:\n\
         - timestamp: '{created}'\n  lane: planned\n  agent: system\n  shell_pid: ''\n  action: Prompt generated via \
         /spec-kitty.tasks\n---\n\n# Work Package Prompt: {id} – {title}\n\n",
        phase = 1 + (wp - 1) / 5,
        created = ActivityEntry::timestamp_at(created),
        title = wp_title(wp),
    );
    text.push_str(
        "## ⚠️ IMPORTANT: Review Feedback Status\n\n**Read this first if you are implementing this task!**\n\n\
         - **Has review feedback?**: Check the `review_status` field above. If it says `has_feedback`, scroll to the \
         **Review Feedback** section immediately.\n- **You must address all feedback** before your work is complete.\n\
         - **Mark as acknowledged**: When you understand the feedback, update `review_status: acknowledged`.\n\n---\n\n\
         ## Review Feedback\n\n*[This section is empty initially. Reviewers will populate it if the work is returned \
         from review.]*\n\n---\n\n## Objectives & Success Criteria\n\n",
    );
    let _ = write!(
        text,
        "1. Part {wp} of the benchmark feature works end to end\n2. Every subtask has unit tests\n3. `cargo clippy \
         --all-targets -- -D warnings` passes\n\n## Context & Constraints\n\n- **Spec**: `spec.md`\n- **Plan**: \
         `plan.md`\n\n## Subtasks & Detailed Guidance\n\n"
    );
    for (i, task) in subtask_ids(wp).enumerate() {
        let _ = write!(
            text,
            "### Subtask {task} – Implement step {step} of {id}\n\n**Purpose**: Step {step} of the package.\n\n\
             **Steps**:\n\n1. Open `src/bench/wp{wp:02}.rs`\n2. Add the function for step {step} with its error \
             handling, keeping the public interface of the earlier steps unchanged\n3. Write the unit tests first \
             (RED), then the code (GREEN), then refactor\n\n**Files**: `src/bench/wp{wp:02}.rs`, \
             `tests/bench_{wp:02}.rs`\n\n",
            step = i + 1
        );
    }
    text.push_str(
        "## Test Strategy\n\n```bash\ncargo test\n```\n\n## Risks & Mitigations\n\n| Risk | Mitigation |\n|------|\
         -----------|\n| Earlier packages regress | Run the full suite |\n\n## Review Guidance\n\n- Verify the tests \
         cover every step\n\n## Activity Log\n\n",
    );
    let generated = ActivityEntry {
        timestamp: ActivityEntry::timestamp_at(created),
        agent: "system".into(),
        shell_pid: None,
        lane: "planned".into(),
        note: "Prompt generated via /spec-kitty.tasks".into(),
    };
    let _ = writeln!(text, "{}", generated.format());
    for (at, lane, note) in entries {
        let entry = ActivityEntry {
            timestamp: ActivityEntry::timestamp_at(*at),
            agent: agent.to_owned(),
            shell_pid: Some(shell_pid.clone()),
            lane: lane.as_str().to_owned(),
            note: note.clone(),
        };
        let _ = writeln!(text, "{}", entry.format());
    }
    text
}

// ---------------------------------------------------------------------------------------------------
// running and measuring child processes

/// One finished child: wall time from spawn to reap, and its own CPU time and peak resident set.
#[derive(Debug, Clone, Copy)]
struct Sample {
    wall: Duration,
    /// User plus system time; unlike wall time it hardly moves when other processes compete for the CPUs.
    cpu: Duration,
    max_rss_kib: u64,
}

/// Starts a CLI binary in a hermetic environment: a private home and none of the variables that pin
/// time, ids or the project root.
struct Runner {
    binary: PathBuf,
    home: PathBuf,
}

impl Runner {
    fn new(binary: PathBuf, home: PathBuf) -> Result<Runner, String> {
        fs::create_dir_all(&home).map_err(|e| format!("cannot create {}: {e}", home.display()))?;
        Ok(Runner { binary, home })
    }

    fn command(&self, cwd: &Path, args: &[String]) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .args(args)
            .current_dir(cwd)
            .env("SPEC_KITTY_HOME", self.home.join(".spec-kitty"))
            // Upstream's Python CLI writes into $HOME.
            .env("HOME", &self.home)
            .env_remove("SPEC_KITTY_NOW")
            .env_remove("SPEC_KITTY_ID_SEED")
            .env_remove("SPEC_KITTY_STRICT")
            .env_remove("SPECIFY_REPO_ROOT")
            .stdin(Stdio::null());
        command
    }

    /// Runs once with output captured (for checks and warm-up); a non-zero exit is an error.
    fn capture(&self, cwd: &Path, args: &[String]) -> Result<Output, String> {
        let output = self.command(cwd, args).output().map_err(|e| self.start_error(e))?;
        if !output.status.success() {
            return Err(format!(
                "`{}` failed ({}): {}",
                self.describe(args),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(output)
    }

    /// Runs once with output discarded and measures it.
    fn sample(&self, cwd: &Path, args: &[String]) -> Result<Sample, String> {
        let mut command = self.command(cwd, args);
        command.stdout(Stdio::null()).stderr(Stdio::null());
        let started = Instant::now();
        let child = command.spawn().map_err(|e| self.start_error(e))?;
        let (status, usage) = wait4(child).map_err(|e| format!("wait4 failed: {e}"))?;
        let wall = started.elapsed();
        if !status.success() {
            return Err(format!("`{}` failed ({status})", self.describe(args)));
        }
        let cpu = timeval(usage.ru_utime) + timeval(usage.ru_stime);
        Ok(Sample { wall, cpu, max_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0) })
    }

    fn samples(&self, cwd: &Path, args: &[String], runs: usize) -> Result<Vec<Sample>, String> {
        (0..runs).map(|_| self.sample(cwd, args)).collect()
    }

    fn start_error(&self, e: io::Error) -> String {
        format!("cannot start {}: {e}", self.binary.display())
    }

    fn describe(&self, args: &[String]) -> String {
        format!("{} {}", self.binary.display(), args.join(" "))
    }
}

/// Reaps `child` with wait4(2) so the resource usage is this child's own: RUSAGE_CHILDREN would report
/// the maximum over every child reaped so far. (Dropping the `Child` afterwards neither waits nor kills.)
fn wait4(child: Child) -> io::Result<(ExitStatus, libc::rusage)> {
    let pid = libc::pid_t::try_from(child.id()).map_err(io::Error::other)?;
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain old data, for which all-zero bytes are a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is our own child, not yet reaped; both pointers are valid for writes.
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if reaped == pid {
            return Ok((ExitStatus::from_raw(status), usage));
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

fn timeval(tv: libc::timeval) -> Duration {
    let micros = u64::try_from(tv.tv_sec).unwrap_or(0) * 1_000_000 + u64::try_from(tv.tv_usec).unwrap_or(0);
    Duration::from_micros(micros)
}

// ---------------------------------------------------------------------------------------------------
// statistics

#[derive(Debug, Clone, Copy)]
struct Summary {
    runs: usize,
    median: Duration,
    p90: Duration,
    median_cpu: Duration,
    peak_rss_kib: u64,
}

impl Summary {
    fn of(samples: &[Sample]) -> Summary {
        let mut walls: Vec<Duration> = samples.iter().map(|s| s.wall).collect();
        walls.sort_unstable();
        let mut cpus: Vec<Duration> = samples.iter().map(|s| s.cpu).collect();
        cpus.sort_unstable();
        let n = walls.len();
        // Nearest-rank percentile: the smallest value with at least 90% of the samples at or below it.
        let p90 = walls.get((n * 9).div_ceil(10).saturating_sub(1)).copied().unwrap_or_default();
        Summary {
            runs: n,
            median: median(&walls),
            p90,
            median_cpu: median(&cpus),
            peak_rss_kib: samples.iter().map(|s| s.max_rss_kib).max().unwrap_or(0),
        }
    }
}

/// The median of sorted values (the mean of the middle two for an even count).
fn median(sorted: &[Duration]) -> Duration {
    let n = sorted.len();
    match n {
        0 => Duration::ZERO,
        _ if n % 2 == 1 => sorted[n / 2],
        _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2,
    }
}

// ---------------------------------------------------------------------------------------------------
// benchmarks

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

/// The budget's command line, for feature `slug`.
fn emit_args(slug: &str) -> Vec<String> {
    strings(&[
        "agent",
        "telemetry",
        "emit",
        "--feature",
        slug,
        "--role",
        "implementer",
        "--agent",
        "claude",
        "--model",
        "claude-sonnet-4.5",
        "--input-tokens",
        "1200",
        "--output-tokens",
        "300",
        "--wp-id",
        "WP01",
    ])
}

fn bench_emit(config: &Config, workspace: &Workspace, runner: &Runner, report: &mut Report) -> Result<(), String> {
    let project = workspace.path.join("emit-project");
    create_project(&project)?;
    let empty_slug = "001-emit-empty-log";
    let empty_dir = project.join("kitty-specs").join(empty_slug);
    fs::create_dir_all(&empty_dir).map_err(|e| format!("cannot create {}: {e}", empty_dir.display()))?;
    fs::write(empty_dir.join("execution.events.jsonl"), "").map_err(|e| format!("cannot write log: {e}"))?;
    let full_slug = "002-emit-full-log";
    let started = Instant::now();
    let bytes = write_feature_log(&project.join("kitty-specs").join(full_slug), full_slug, config.events, 1)?;
    println!(
        "generated {} events in one feature ({} MB) in {:.1} s",
        thousands(config.events as u64),
        bytes >> 20,
        started.elapsed().as_secs_f64()
    );

    // The first emit on the big log must continue its clock without warnings (a rebuilt clock would mean
    // a full scan, i.e. not the path being measured).
    let mut checked = emit_args(full_slug);
    checked.push("--json".into());
    let output = runner.capture(&project, &checked)?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let expected = format!("\"lamport_clock\": {}", config.events + 1);
    if !output.stderr.is_empty() || !stdout.contains("\"result\": \"success\"") || !stdout.contains(&expected) {
        return Err(format!(
            "emit on the generated log did not behave as expected (wanted {expected}):\nstdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }

    let (empty_args, full_args) = (emit_args(empty_slug), emit_args(full_slug));
    for _ in 0..config.emit_warmup {
        runner.sample(&project, &empty_args)?;
        runner.sample(&project, &full_args)?;
    }
    let (mut empty, mut full) = (Vec::new(), Vec::new());
    for round in 0..config.emit_rounds {
        // Alternate the order so neither case always follows the other.
        if round.is_multiple_of(2) {
            empty.push(runner.sample(&project, &empty_args)?);
            full.push(runner.sample(&project, &full_args)?);
        } else {
            full.push(runner.sample(&project, &full_args)?);
            empty.push(runner.sample(&project, &empty_args)?);
        }
    }
    let (empty, full) = (Summary::of(&empty), Summary::of(&full));
    let ratio = full.median.as_secs_f64() / empty.median.as_secs_f64();
    println!(
        "emit: empty log median {}, {}-event log median {} ({ratio:.2}×)",
        fmt_duration(empty.median),
        thousands(config.events as u64),
        fmt_duration(full.median)
    );
    report.rows.push(Row {
        name: "emit, empty log".into(),
        summary: empty,
        budget: format!("median ≤ {}", fmt_duration(EMIT_BUDGET)),
        verdict: Verdict::from(empty.median <= EMIT_BUDGET),
    });
    report.rows.push(Row {
        name: format!("emit, {}-event log", thousands(config.events as u64)),
        summary: full,
        budget: format!("≤ {EMIT_GROWTH_BUDGET}× empty; is {ratio:.2}×"),
        verdict: Verdict::from(ratio <= EMIT_GROWTH_BUDGET),
    });
    report.comparables.push(Comparable {
        name: format!("emit, {}-event log", thousands(config.events as u64)),
        cwd: project,
        args: vec![full_args],
        ours: full.median,
        runs: 10,
    });
    Ok(())
}

fn bench_cost(config: &Config, workspace: &Workspace, runner: &Runner, report: &mut Report) -> Result<(), String> {
    let project = workspace.path.join("cost-project");
    create_project(&project)?;
    generate_features(&project, config.cost_features, config.events)?;
    let events = (config.events / config.cost_features * config.cost_features) as u64;

    // The data must read back cleanly: no malformed-line warnings, every event counted.
    let output = runner.capture(&project, &strings(&["agent", "telemetry", "cost", "--json"]))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.contains("malformed") {
        return Err(format!("`cost` rejected generated lines: {stderr}"));
    }
    let rows: serde_json::Value =
        serde_json::from_slice(&output.stdout).map_err(|e| format!("`cost --json` printed invalid JSON: {e}"))?;
    let counted: u64 = rows.as_array().into_iter().flatten().filter_map(|r| r["event_count"].as_u64()).sum();
    if counted != events {
        return Err(format!("`cost --json` counted {counted} events, expected {events}"));
    }

    let variants: [(&str, &[&str]); 3] = [
        ("cost (by agent)", &["agent", "telemetry", "cost"]),
        ("cost --group-by role", &["agent", "telemetry", "cost", "--group-by", "role"]),
        ("cost --json", &["agent", "telemetry", "cost", "--json"]),
    ];
    for (name, args) in variants {
        let args = strings(args);
        runner.capture(&project, &args)?; // warm-up
        let summary = Summary::of(&runner.samples(&project, &args, config.cost_runs)?);
        println!("{name}: median {}, peak RSS {}", fmt_duration(summary.median), fmt_kib(summary.peak_rss_kib));
        report.rows.push(Row {
            name: name.into(),
            summary,
            budget: format!("≤ {}, ≤ {} RSS", fmt_duration(COST_WALL_BUDGET), fmt_kib(COST_RSS_BUDGET_KIB)),
            verdict: Verdict::from(summary.median <= COST_WALL_BUDGET && summary.peak_rss_kib <= COST_RSS_BUDGET_KIB),
        });
        report.comparables.push(Comparable {
            name: name.into(),
            cwd: project.clone(),
            args: vec![args],
            ours: summary.median,
            runs: 3,
        });
    }
    Ok(())
}

fn bench_help(config: &Config, workspace: &Workspace, runner: &Runner, report: &mut Report) -> Result<(), String> {
    let cwd = &workspace.path;
    let args = strings(&["--help"]);
    runner.capture(cwd, &args)?;
    runner.samples(cwd, &args, config.startup_warmup)?;
    let summary = Summary::of(&runner.samples(cwd, &args, config.startup_runs)?);
    println!("--help: median {}", fmt_duration(summary.median));
    report.rows.push(Row {
        name: "spec-kitty --help".into(),
        summary,
        budget: format!("median ≤ {}", fmt_duration(HELP_BUDGET)),
        verdict: Verdict::from(summary.median <= HELP_BUDGET),
    });
    report.comparables.push(Comparable {
        name: "--help".into(),
        cwd: cwd.clone(),
        args: vec![args],
        ours: summary.median,
        runs: 20,
    });

    // The floor any whole-process figure above includes: starting and reaping a trivial process.
    let true_binary = Path::new("/bin/true");
    if true_binary.is_file() {
        let baseline = Runner::new(true_binary.to_owned(), workspace.path.join("home"))?;
        baseline.samples(cwd, &[], config.startup_warmup)?;
        let summary = Summary::of(&baseline.samples(cwd, &[], config.startup_runs)?);
        report.rows.push(Row {
            name: "baseline: /bin/true".into(),
            summary,
            budget: "— (process spawn floor)".into(),
            verdict: Verdict::Info,
        });
    }
    Ok(())
}

/// What a command pays to queue one sync event: open the queue (WAL, synchronous=FULL) and write one
/// event in an IMMEDIATE transaction, measured in-process so the figure is the queue alone.
fn bench_enqueue(config: &Config, workspace: &Workspace, report: &mut Report) -> Result<(), String> {
    use spec_kitty::sync::queue::{OfflineQueue, QueueLimits, QueuedEvent};
    let path = workspace.path.join("enqueue").join("queue.db");
    let mut walls = Vec::with_capacity(config.enqueue_runs);
    for n in 0..config.enqueue_runs + 20 {
        let event = QueuedEvent {
            event_id: format!("01HBENCH{n:018}"),
            event_type: "HistoryAdded".into(),
            data: format!(
                "{{\"event_id\": \"01HBENCH{n:018}\", \"event_type\": \"HistoryAdded\", \"payload\": {{\"wp_id\": \"WP01\"}}}}"
            ),
            lamport_clock: n as u64 + 1,
        };
        let started = Instant::now();
        let mut queue = OfflineQueue::open(&path, QueueLimits::default()).map_err(|e| e.to_string())?;
        queue.enqueue(&[event], 0).map_err(|e| e.to_string())?;
        drop(queue);
        if n >= 20 {
            walls.push(started.elapsed());
        }
    }
    walls.sort_unstable();
    let p99 = walls[(walls.len() * 99).div_ceil(100).saturating_sub(1)];
    let samples: Vec<Sample> = walls.iter().map(|&wall| Sample { wall, cpu: Duration::ZERO, max_rss_kib: 0 }).collect();
    let summary = Summary::of(&samples);
    println!("enqueue: median {}, p99 {}", fmt_duration(summary.median), fmt_duration(p99));
    report.rows.push(Row {
        name: "enqueue one event (in-process)".into(),
        summary,
        budget: format!("p99 {} ≤ {}", fmt_duration(p99), fmt_duration(ENQUEUE_P99_BUDGET)),
        verdict: Verdict::from(p99 <= ENQUEUE_P99_BUDGET),
    });
    Ok(())
}

/// `sync now` of 50,000 queued events to the loopback reference server (`examples/sync-server`), spacing
/// off: gzip batches of ≤ 1000 with a Bearer JWT, every event acknowledged. Events per second of the whole
/// process (start-up, login check, spool import, all batches, queue deletes).
fn bench_sync_now(config: &Config, workspace: &Workspace, binary: &Path, report: &mut Report) -> Result<(), String> {
    use spec_kitty::sync::queue::{OfflineQueue, QueueLimits, QueuedEvent};
    let events = if config.quick { 10_000 } else { SYNC_NOW_EVENTS };
    let server =
        server::ServerHandle::spawn(server::ServerConfig::default()).map_err(|e| format!("sync server: {e}"))?;
    let home = workspace.path.join("sync-home");
    let runner = Runner::new(binary.to_owned(), home.clone())?;
    let cwd = &workspace.path;
    let with_server = |args: &[&str]| {
        let mut command = runner.command(cwd, &strings(args));
        command.env("SPEC_KITTY_SAAS_URL", server.url());
        command
    };
    let mut login = with_server(&["auth", "login", "--username", "alice", "--password-stdin"]);
    login.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = login.spawn().map_err(|e| e.to_string())?;
    child
        .stdin
        .take()
        .map(|mut stdin| io::Write::write_all(&mut stdin, b"secret\n"))
        .transpose()
        .map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("auth login failed: {}", String::from_utf8_lossy(&out.stderr)));
    }

    let queue_path = home.join(".spec-kitty").join("queue.db");
    let mut queue = OfflineQueue::open(&queue_path, QueueLimits { max_events: u64::MAX, ..QueueLimits::default() })
        .map_err(|e| e.to_string())?;
    let batch: Vec<QueuedEvent> = (0..events)
        .map(|n| {
            let id = format!("01HBSYNC{n:018}");
            let data = format!(
                "{{\"event_id\": \"{id}\", \"event_type\": \"HistoryAdded\", \"aggregate_id\": \"WP01\", \"aggregate_type\": \"WorkPackage\", \"payload\": {{\"wp_id\": \"WP01\", \"entry_type\": \"note\", \"entry_content\": \"benchmark note {n}\", \"author\": \"user\"}}, \"node_id\": \"bench00node0\", \"lamport_clock\": {}, \"causation_id\": null, \"timestamp\": \"2026-02-16T11:12:33+00:00\", \"team_slug\": \"local\", \"project_uuid\": \"8a4a7da6-a97c-4bb4-893a-b31664abfee4\", \"project_slug\": \"bench\", \"git_branch\": null, \"head_commit_sha\": null, \"repo_slug\": null}}",
                n + 1
            );
            QueuedEvent { event_id: id, event_type: "HistoryAdded".into(), data, lamport_clock: n as u64 + 1 }
        })
        .collect();
    queue.enqueue(&batch, 0).map_err(|e| e.to_string())?;
    drop(queue);

    let mut sync = with_server(&["sync", "now", "--spacing-ms", "0", "--json"]);
    sync.stdout(Stdio::piped()).stderr(Stdio::piped());
    let started = Instant::now();
    let output = sync.output().map_err(|e| e.to_string())?;
    let wall = started.elapsed();
    if !output.status.success() || server.event_count() != events {
        return Err(format!(
            "sync now delivered {} of {events} events ({}): {}",
            server.event_count(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let rate = events as f64 / wall.as_secs_f64();
    println!("sync now: {} events in {} ({rate:.0} events/s)", thousands(events as u64), fmt_duration(wall));
    let summary = Summary::of(&[Sample { wall, cpu: Duration::ZERO, max_rss_kib: 0 }]);
    report.rows.push(Row {
        name: format!("sync now, {} events", thousands(events as u64)),
        summary,
        budget: format!("{rate:.0}/s ≥ {SYNC_NOW_RATE_BUDGET:.0}/s"),
        verdict: Verdict::from(rate >= SYNC_NOW_RATE_BUDGET),
    });
    Ok(())
}

/// The same emitting command (add-history queues one HistoryAdded) with sync events on and off
/// (`SPEC_KITTY_SYNC_EVENTS=0`), alternately, so drift affects both alike.
fn bench_emission_overhead(
    config: &Config,
    workspace: &Workspace,
    runner: &Runner,
    report: &mut Report,
) -> Result<(), String> {
    let project = workspace.path.join("emission-project");
    create_project(&project)?;
    let wp = project.join("kitty-specs/001-emission/tasks/WP01-bench.md");
    fs::create_dir_all(wp.parent().unwrap()).map_err(|e| e.to_string())?;
    fs::write(
        &wp,
        "---\nwork_package_id: WP01\ntitle: Bench\nlane: \"doing\"\nagent: claude\n---\n\n## Activity Log\n\n",
    )
    .map_err(|e| e.to_string())?;
    let args =
        strings(&["agent", "tasks", "add-history", "WP01", "--note", "benchmark note", "--feature", "001-emission"]);
    let run = |events_on: bool| -> Result<Sample, String> {
        let mut command = runner.command(&project, &args);
        if !events_on {
            command.env("SPEC_KITTY_SYNC_EVENTS", "0");
        }
        command.stdout(Stdio::null()).stderr(Stdio::null());
        let started = Instant::now();
        let child = command.spawn().map_err(|e| e.to_string())?;
        let (status, usage) = wait4(child).map_err(|e| e.to_string())?;
        let wall = started.elapsed();
        if !status.success() {
            return Err(format!("add-history failed ({status})"));
        }
        Ok(Sample {
            wall,
            cpu: timeval(usage.ru_utime) + timeval(usage.ru_stime),
            max_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
        })
    };
    for _ in 0..10 {
        run(true)?;
        run(false)?;
    }
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for _ in 0..config.emission_rounds {
        on.push(run(true)?);
        off.push(run(false)?);
    }
    let (on, off) = (Summary::of(&on), Summary::of(&off));
    let overhead = on.median.saturating_sub(off.median);
    println!("emitting command: median {} with events, {} without", fmt_duration(on.median), fmt_duration(off.median));
    report.rows.push(Row {
        name: "add-history, sync events off".into(),
        summary: off,
        budget: "—".into(),
        verdict: Verdict::Info,
    });
    report.rows.push(Row {
        name: "add-history, sync events on".into(),
        summary: on,
        budget: format!("+{} ≤ +{}", fmt_duration(overhead), fmt_duration(EMISSION_OVERHEAD_BUDGET)),
        verdict: Verdict::from(overhead <= EMISSION_OVERHEAD_BUDGET),
    });
    Ok(())
}

/// `move-task` of one work package, alternately handed to review and sent back with review feedback: both
/// unforced, legal moves through the normal path (transition rules, subtask check, one status event, the
/// status.json view, the WP file, the tasks.md block, the telemetry event and the sync queue).
fn bench_move(config: &Config, workspace: &Workspace, runner: &Runner, report: &mut Report) -> Result<(), String> {
    let project = workspace.path.join("move-project");
    create_project(&project)?;
    let slug = "001-bench-move-task";
    let feature_dir = project.join("kitty-specs").join(slug);
    let now_secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let started = Instant::now();
    let feature = write_workflow_feature(&feature_dir, slug, now_secs)?;
    println!(
        "generated a feature with {MOVE_WPS} work packages and {} status events in {:.1} ms",
        thousands(feature.events as u64),
        started.elapsed().as_secs_f64() * 1e3
    );
    let wp = wp_label(MOVE_WP);
    if feature.lanes.get(&wp) != Some(&Lane::InProgress) {
        return Err(format!("{wp} must start in in_progress"));
    }
    let feedback = "review-feedback.md";
    fs::write(project.join(feedback), "- Handle the empty input in step 2.\n- Add a test for the error path.\n")
        .map_err(|e| format!("cannot write the review feedback: {e}"))?;
    let move_args = |extra: &[&str]| {
        let mut args = strings(&["agent", "tasks", "move-task", &wp]);
        args.extend(strings(extra));
        args.extend(strings(&["--feature", slug, "--agent", "claude", "--no-auto-commit"]));
        args
    };
    let to_review = move_args(&["--to", "for_review", "--note", "Ready for review: benchmark round"]);
    let back = move_args(&["--to", "in_progress", "--review-feedback-file", feedback]);

    // The first round, checked: each move is one unforced event (no bootstrap or sync event, so the WP file
    // and the log agree), with the review reference on the rejection, and no warnings.
    let mut expected_events = feature.events;
    for (args, from, to) in
        [(&to_review, Lane::InProgress, Lane::ForReview), (&back, Lane::ForReview, Lane::InProgress)]
    {
        let output = runner.capture(&project, args)?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !stdout.contains(&format!("Moved {wp} from {from} to {to}")) || !stderr.trim().is_empty() {
            return Err(format!("move-task did not behave as expected:\nstdout: {stdout}\nstderr: {stderr}"));
        }
        expected_events += 1;
        let events =
            status::read_events(&feature_dir, spec_kitty::context::DEFAULT_LOCK_TIMEOUT).map_err(|e| e.to_string())?;
        let last = events.last().ok_or("the status log is empty")?;
        if events.len() != expected_events
            || last.wp_id != wp
            || (last.from_lane, last.to_lane) != (from, to)
            || last.force
            || (to == Lane::InProgress) != last.review_ref.is_some()
        {
            return Err(format!(
                "unexpected status log after moving {wp} to {to}: {} events, last {last:?}",
                events.len()
            ));
        }
    }

    // Every run syncs (the WP file, tasks.md, the sync queue), and an fsync on ext4 also waits for other
    // dirty data of the file system: start from a clean page cache so earlier writes weigh less.
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    for _ in 0..config.move_warmup_rounds {
        runner.sample(&project, &to_review)?;
        runner.sample(&project, &back)?;
    }
    let (mut review_samples, mut back_samples, mut all) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..config.move_rounds {
        let sample = runner.sample(&project, &to_review)?;
        review_samples.push(sample);
        all.push(sample);
        let sample = runner.sample(&project, &back)?;
        back_samples.push(sample);
        all.push(sample);
    }

    // Every run was one legal, unforced move: the log grew by exactly one event per run and the lanes of all
    // work packages are where they started.
    expected_events += 2 * (config.move_warmup_rounds + config.move_rounds);
    let events =
        status::read_events(&feature_dir, spec_kitty::context::DEFAULT_LOCK_TIMEOUT).map_err(|e| e.to_string())?;
    let added = &events[feature.events.min(events.len())..];
    let lanes = status::materialize(&events, Timestamp::from_utc(chrono::Utc::now())).lanes();
    if events.len() != expected_events || added.iter().any(|e| e.force || e.wp_id != wp) || lanes != feature.lanes {
        return Err(format!(
            "after the runs the status log has {} events (expected {expected_events}) or unexpected lanes",
            events.len()
        ));
    }

    let summary = Summary::of(&all);
    let (review, back_summary) = (Summary::of(&review_samples), Summary::of(&back_samples));
    let edge = (all.len() / 4).max(1);
    let (first, last) = (Summary::of(&all[..edge]), Summary::of(&all[all.len() - edge..]));
    println!(
        "move-task: median {} (→ for_review {}, → in_progress {}); first {edge} runs {}, last {edge} runs {}; \
         status log {} → {} events",
        fmt_duration(summary.median),
        fmt_duration(review.median),
        fmt_duration(back_summary.median),
        fmt_duration(first.median),
        fmt_duration(last.median),
        thousands(feature.events as u64),
        thousands(events.len() as u64)
    );
    report.move_log = Some((feature.events, events.len()));
    report.rows.push(Row {
        name: format!("move-task, {} events", thousands(feature.events as u64)),
        summary,
        budget: format!("median ≤ {}", fmt_duration(MOVE_BUDGET)),
        verdict: Verdict::from(summary.median <= MOVE_BUDGET),
    });
    report.comparables.push(Comparable {
        name: "move-task".into(),
        cwd: project,
        args: vec![to_review, back],
        ours: summary.median,
        runs: 10,
    });
    Ok(())
}

// ---------------------------------------------------------------------------------------------------
// comparison with upstream's Python CLI

/// A measured command that can be replayed with another implementation.
struct Comparable {
    name: String,
    cwd: PathBuf,
    /// Argument lists run in turn (move-task alternates two moves so each one is legal).
    args: Vec<Vec<String>>,
    ours: Duration,
    runs: usize,
}

/// Times a Python `spec-kitty` found on PATH on the same data and prints how much slower it is.
fn compare_with_python(ours: &Path, workspace: &Workspace, report: &Report) -> Result<(), String> {
    let Some(python) = find_python_spec_kitty(ours) else {
        println!("\nPython spec-kitty: not found on PATH, comparison skipped");
        return Ok(());
    };
    println!("\nPython spec-kitty at {} (same data, private HOME):", python.display());
    let runner = Runner::new(python, workspace.path.join("python-home"))?;
    for item in &report.comparables {
        // Published releases lack `agent telemetry`; a failing command is reported, not fatal. The first run
        // is an unmeasured warm-up whose error message says why a command is skipped.
        if let Err(e) = runner.capture(&item.cwd, &item.args[0]) {
            println!("  {:<28} skipped: {}", item.name, e.lines().next().unwrap_or_default());
            continue;
        }
        let samples: Result<Vec<Sample>, String> =
            (1..=item.runs).map(|i| runner.sample(&item.cwd, &item.args[i % item.args.len()])).collect();
        let theirs = match samples {
            Ok(samples) => Summary::of(&samples),
            Err(e) => {
                println!("  {:<28} skipped: {e}", item.name);
                continue;
            }
        };
        println!(
            "  {:<28} python median {} vs ours {}: {:.1}× slower",
            item.name,
            fmt_duration(theirs.median),
            fmt_duration(item.ours),
            theirs.median.as_secs_f64() / item.ours.as_secs_f64()
        );
    }
    Ok(())
}

/// A `spec-kitty` on PATH that is a script (upstream's entry point) rather than our own ELF binary.
fn find_python_spec_kitty(ours: &Path) -> Option<PathBuf> {
    let ours = fs::canonicalize(ours).ok();
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join("spec-kitty")).find(|candidate| {
        let mut head = [0u8; 2];
        candidate.is_file()
            && fs::canonicalize(candidate).ok() != ours
            && File::open(candidate).and_then(|mut f| f.read_exact(&mut head)).is_ok()
            && &head == b"#!"
    })
}

// ---------------------------------------------------------------------------------------------------
// report

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Pass,
    Fail,
    /// A reference figure without a budget.
    Info,
}

impl From<bool> for Verdict {
    fn from(pass: bool) -> Self {
        if pass { Verdict::Pass } else { Verdict::Fail }
    }
}

struct Row {
    name: String,
    summary: Summary,
    budget: String,
    verdict: Verdict,
}

#[derive(Default)]
struct Report {
    rows: Vec<Row>,
    comparables: Vec<Comparable>,
    /// move-task's status log size before and after the runs.
    move_log: Option<(usize, usize)>,
}

impl Report {
    fn print(&self, config: &Config) {
        println!(
            "\nemit: big log has {} events; cost: {} events in {} features\n\
             median and p90 are wall time; cpu is the median user+sys time; peak RSS is the child's own (wait4)",
            thousands(config.events as u64),
            thousands((config.events / config.cost_features * config.cost_features) as u64),
            config.cost_features
        );
        if let Some((before, after)) = self.move_log {
            println!(
                "move-task: {MOVE_WPS} work packages, status log {} → {} events (one per run), no git",
                thousands(before as u64),
                thousands(after as u64)
            );
        }
        println!(
            "{:<30} {:>5} {:>10} {:>10} {:>10} {:>9}  {:<26} result",
            "benchmark", "runs", "median", "p90", "cpu", "peak RSS", "budget"
        );
        for row in &self.rows {
            let s = &row.summary;
            let verdict = match row.verdict {
                Verdict::Pass => "PASS",
                Verdict::Fail => "FAIL",
                Verdict::Info => "",
            };
            println!(
                "{:<30} {:>5} {:>10} {:>10} {:>10} {:>9}  {:<26} {verdict}",
                row.name,
                s.runs,
                fmt_duration(s.median),
                fmt_duration(s.p90),
                fmt_duration(s.median_cpu),
                fmt_kib(s.peak_rss_kib),
                row.budget
            );
        }
        // Linux folds the spawning process's peak RSS into a child's at exec (posix_spawn lends the child
        // our address space until then), so no child can report less than this harness's own peak.
        if let Some(floor) = harness_peak_rss_kib() {
            println!(
                "RSS floor: this harness peaked at {}; a child's figure at that level may be lower",
                fmt_kib(floor)
            );
        }
        let failed = self.rows.iter().filter(|r| r.verdict == Verdict::Fail).count();
        if failed > 0 {
            println!("\n{failed} budget(s) missed (timings fluctuate on a shared machine; re-run before acting)");
        }
    }
}

/// The high-water mark of this process's address space (`VmHWM`), the floor of every child's ru_maxrss.
/// (getrusage(RUSAGE_SELF) would not do: it includes cargo's peak, folded into ours when cargo exec'd us.)
fn harness_peak_rss_kib() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
    line.trim().trim_end_matches("kB").trim().parse().ok()
}

fn fmt_duration(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms >= 1000.0 { format!("{:.3} s", ms / 1e3) } else { format!("{ms:.2} ms") }
}

fn fmt_kib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
