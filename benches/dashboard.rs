//! The dashboard's speed budgets (DESIGN.md §4, issue 13), measured against the release binary over
//! real HTTP on 127.0.0.1:
//!
//! - **first render**: everything the page asks for on its first load (the page, its script, features,
//!   the selected feature's kanban, four cost groupings, the event timeline, sync) on a project with 50
//!   features and 100,000 events, requested one after another on a freshly started server (the browser
//!   asks in parallel, so this is an upper bound). Budget: 1 s. The same first load over 1,000,000
//!   events is reported too, without a budget: it reads every log once per cost grouping.
//! - **refresh with nothing new**: `/api/costs?group_by=role` over 1,000,000 execution events once the
//!   per-log aggregates are cached (by file size and mtime). Budget: 20 ms. Also the page's whole
//!   refresh round (every poll) for reference.
//!
//! `cargo bench --bench dashboard` (`-- --quick`: the refresh over 100,000 events). Medians and p90 over the runs.

use std::fmt::Write as _;
use std::io::{BufWriter, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

const FEATURES: usize = 50;
const WPS_PER_FEATURE: usize = 6;
const FIRST_RENDER_EVENTS: usize = 100_000;
const FIRST_RENDER_BUDGET: Duration = Duration::from_secs(1);
const REFRESH_BUDGET: Duration = Duration::from_millis(20);
const ROLES: [&str; 5] = ["specifier", "planner", "implementer", "reviewer", "merger"];
const MODELS: [(&str, &str); 4] =
    [("claude", "claude-sonnet-4.5"), ("codex", "gpt-5"), ("gemini", "gemini-2.5-pro"), ("claude", "claude-opus-4-5")];
const LANES: [&str; 4] = ["planned", "doing", "for_review", "done"];

fn main() -> ExitCode {
    let quick = std::env::args().any(|a| a == "--quick") || std::env::var_os("BENCH_QUICK").is_some();
    match run(if quick { 100_000 } else { 1_000_000 }) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

fn run(events: usize) -> Result<bool, String> {
    let binary = release_binary()?;
    println!("| benchmark | median | p90 | budget | result |\n|---|---:|---:|---|---|");
    let verdict = |ok: bool| if ok { "PASS" } else { "FAIL" };

    // The first render: 50 features with a busy team's history.
    let (first_render, _) = with_dashboard(&binary, FIRST_RENDER_EVENTS, |port| {
        let started = Instant::now();
        page_paths().iter().try_for_each(|p| get(port, p).map(drop))?;
        Ok(started.elapsed())
    })?;
    let first_ok = first_render <= FIRST_RENDER_BUDGET;
    println!(
        "| first render, 50 features, {FIRST_RENDER_EVENTS} events (10 requests, cold server) | {first_render:.1?} | | ≤ {FIRST_RENDER_BUDGET:?} | {} |",
        verdict(first_ok)
    );

    // The refresh: the same page over `events` events, once the aggregates are cached.
    let ((cold, refresh, rounds), mib) = with_dashboard(&binary, events, |port| {
        let started = Instant::now();
        page_paths().iter().try_for_each(|p| get(port, p).map(drop))?;
        let cold = started.elapsed();
        let refresh: Vec<Duration> =
            (0..30).map(|_| timed(port, "/api/costs?group_by=role")).collect::<Result<_, _>>()?;
        let rounds: Vec<Duration> = (0..10)
            .map(|_| {
                let start = Instant::now();
                page_paths().iter().skip(2).try_for_each(|p| get(port, p).map(drop))?;
                Ok::<_, String>(start.elapsed())
            })
            .collect::<Result<_, _>>()?;
        Ok((cold, refresh, rounds))
    })?;
    let (refresh_median, refresh_p90) = percentiles(refresh);
    let (round_median, round_p90) = percentiles(rounds);
    let refresh_ok = refresh_median <= REFRESH_BUDGET;
    println!("| first load over {events} events ({mib:.0} MiB of logs, cold server) | {cold:.1?} | | — | |");
    println!(
        "| /api/costs refresh over {events} events, nothing new | {refresh_median:.2?} | {refresh_p90:.2?} | ≤ {REFRESH_BUDGET:?} | {} |",
        verdict(refresh_ok)
    );
    println!(
        "| whole poll round (8 API requests) over {events} events, nothing new | {round_median:.2?} | {round_p90:.2?} | — | |"
    );
    Ok(first_ok && refresh_ok)
}

/// What the page asks for on its first load.
fn page_paths() -> Vec<String> {
    ["/", "/static/app.js", "/api/features", "/api/kanban/001-feature-1", "/api/events", "/api/sync"]
        .iter()
        .map(|p| p.to_string())
        .chain(["role", "wp", "day,role", "agent,model"].iter().map(|g| format!("/api/costs?group_by={g}")))
        .collect()
}

/// Generates a project with `events` execution events, starts its dashboard, runs `measure` with the
/// port, and stops it. Returns what `measure` returned and the MiB of logs.
fn with_dashboard<T>(
    binary: &Path,
    events: usize,
    measure: impl FnOnce(u16) -> Result<T, String>,
) -> Result<(T, f64), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let project = dir.path().join("project");
    let bytes = generate(&project, events).map_err(|e| format!("cannot generate the project: {e}"))?;
    let home = dir.path().join("home");
    let output = Command::new(binary)
        .args(["dashboard", "--json", "--no-open"])
        .current_dir(&project)
        .env("SPEC_KITTY_HOME", &home)
        .output()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    if !output.status.success() {
        return Err(format!("dashboard did not start: {}", String::from_utf8_lossy(&output.stderr)));
    }
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).map_err(|e| e.to_string())?;
    let port = answer["port"].as_u64().ok_or("no port in the answer")? as u16;
    let result = measure(port);
    let _ =
        Command::new(binary).args(["dashboard", "--kill"]).current_dir(&project).env("SPEC_KITTY_HOME", &home).output();
    Ok((result?, bytes as f64 / (1 << 20) as f64))
}

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    (samples[samples.len() / 2], samples[samples.len() * 9 / 10])
}

fn timed(port: u16, path: &str) -> Result<Duration, String> {
    let start = Instant::now();
    get(port, path)?;
    Ok(start.elapsed())
}

/// GET over a fresh connection (as the page's `fetch` may); fails unless the answer is 200.
fn get(port: u16, path: &str) -> Result<Vec<u8>, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).map_err(|e| e.to_string())?;
    if !response.starts_with(b"HTTP/1.1 200") {
        return Err(format!("GET {path}: {}", String::from_utf8_lossy(&response[..response.len().min(300)])));
    }
    Ok(response)
}

/// `target/release/spec-kitty`, built first.
fn release_binary() -> Result<PathBuf, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "--quiet", "--bin", "spec-kitty"])
        .current_dir(root)
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err("cargo build --release failed".into());
    }
    Ok(root.join("target/release/spec-kitty"))
}

/// A project of `FEATURES` features, each with WP files in every lane, a status log and its share of
/// `events` execution events spread over 60 days. Returns the bytes of execution logs written.
fn generate(root: &Path, events: usize) -> std::io::Result<u64> {
    std::fs::create_dir_all(root.join(".kittify"))?;
    let start = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00+00:00").unwrap().to_utc();
    let per_feature = events / FEATURES;
    let mut bytes = 0;
    let mut id = 0u64;
    for f in 1..=FEATURES {
        let slug = format!("{f:03}-feature-{f}");
        let dir = root.join("kitty-specs").join(&slug);
        std::fs::create_dir_all(dir.join("tasks"))?;
        std::fs::write(dir.join("spec.md"), format!("# Feature Specification: Feature {f}\n"))?;
        std::fs::write(dir.join("plan.md"), "# Plan\n")?;
        let mut tasks = String::from("# Tasks\n\n");
        let mut status = String::new();
        for w in 1..=WPS_PER_FEATURE {
            let lane = LANES[(f + w) % LANES.len()];
            let _ = writeln!(tasks, "## WP{w:02}\n\n- [x] T{f:03}{w}1 First\n- [ ] T{f:03}{w}2 Second\n");
            std::fs::write(
                dir.join(format!("tasks/WP{w:02}-work.md")),
                format!(
                    "---\nwork_package_id: WP{w:02}\ntitle: Work {w}\nlane: \"{lane}\"\nagent: claude\n---\n# WP{w:02}\n\n## Activity Log\n\n"
                ),
            )?;
            let canonical = if lane == "doing" { "in_progress" } else { lane };
            if canonical != "planned" {
                id += 1;
                let at = (start + chrono::Duration::hours((f * 7 + w) as i64)).format("%Y-%m-%dT%H:%M:%S+00:00");
                let _ = writeln!(
                    status,
                    "{{\"actor\": \"claude\", \"at\": \"{at}\", \"event_id\": \"{id:026}\", \"evidence\": null, \"execution_mode\": \"direct_repo\", \"feature_slug\": \"{slug}\", \"force\": true, \"from_lane\": \"planned\", \"policy_metadata\": null, \"reason\": \"bench\", \"review_ref\": null, \"to_lane\": \"{canonical}\", \"wp_id\": \"WP{w:02}\"}}"
                );
            }
        }
        std::fs::write(dir.join("tasks.md"), tasks)?;
        std::fs::write(dir.join("status.events.jsonl"), status)?;

        let file = std::fs::File::create(dir.join("execution.events.jsonl"))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let step = 60 * 86_400 / per_feature.max(1) as i64;
        for i in 0..per_feature {
            id += 1;
            let at = (start + chrono::Duration::seconds(i as i64 * step)).format("%Y-%m-%dT%H:%M:%S+00:00");
            let role = ROLES[i % ROLES.len()];
            let (agent, model) = MODELS[(i / 5) % MODELS.len()];
            let wp = if role == "specifier" || role == "planner" {
                "N/A".to_owned()
            } else {
                format!("WP{:02}", 1 + i % WPS_PER_FEATURE)
            };
            let cost = if i % 3 == 0 { "0.0125" } else { "null" };
            let line = format!(
                "{{\"aggregate_id\": \"{slug}\", \"causation_id\": null, \"event_id\": \"{id:026}\", \"event_type\": \"ExecutionEvent\", \"lamport_clock\": {lamport}, \"node_id\": \"cli:{wp}\", \"payload\": {{\"agent\": \"{agent}\", \"cost_usd\": {cost}, \"duration_ms\": 60000, \"error\": null, \"exit_code\": 0, \"input_tokens\": {input}, \"model\": \"{model}\", \"output_tokens\": {output}, \"role\": \"{role}\", \"success\": true, \"wp_id\": \"{wp}\"}}, \"timestamp\": \"{at}\"}}\n",
                lamport = i + 1,
                input = 1000 + i % 50_000,
                output = 200 + i % 9_000,
            );
            out.write_all(line.as_bytes())?;
            bytes += line.len() as u64;
        }
        out.flush()?;
    }
    Ok(bytes)
}
