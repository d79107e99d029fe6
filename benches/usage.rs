//! Benchmark of `agent telemetry import` (DESIGN.md §4) over a generated corpus shaped like a heavy real
//! user: ccusage's published profile, 3,142 files and 1.2 GiB, file sizes p50 105 KB, p95 1.5 MB, max
//! 87 MB (log-normal sizes with that median and 95th percentile, the largest set to 87 MB).
//!
//! * **cold import**: empty ledger, no imported events: wall time and the child's own peak RSS;
//! * **re-import with nothing new**: the same command again;
//! * **Claude hook with nothing new**: `hook claude` with a Stop payload naming an imported transcript.
//!
//! `cargo bench --bench usage` runs it at full size; `-- --quick` (or `BENCH_QUICK=1`) generates a
//! tenth of the corpus; `-- --keep` leaves the data behind (its path is printed). Every byte of the
//! corpus belongs to the benchmark project (its root or its worktrees), the worst case: nothing can be
//! skipped as another project's. Figures are printed with PASS/FAIL against the budgets; nothing is
//! asserted.

#[path = "../tests/cli/usage_fixtures/codex_lines.rs"]
mod codex_lines;

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

const FILES: usize = 3_142;
const TOTAL_BYTES: u64 = 1_288_490_188; // 1.2 GiB
const P50: f64 = 105_000.0;
const P95: f64 = 1_500_000.0;
const MAX_FILE: u64 = 87_000_000;

const COLD_BUDGET: Duration = Duration::from_secs(2);
const RSS_BUDGET_KIB: u64 = 100 * 1024;
const NOOP_BUDGET: Duration = Duration::from_millis(100);
const HOOK_BUDGET: Duration = Duration::from_millis(20);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick =
        args.iter().any(|a| a == "--quick") || std::env::var("BENCH_QUICK").is_ok_and(|v| v != "0" && !v.is_empty());
    let keep = args.iter().any(|a| a == "--keep");
    match run(quick, keep) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn binary() -> PathBuf {
    std::env::var_os("SPEC_KITTY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_spec-kitty")))
}

fn run(quick: bool, keep: bool) -> Result<(), String> {
    let scale = if quick { 10 } else { 1 };
    let dir = std::env::temp_dir().join(format!("spec-kitty-usage-bench-{}", std::process::id()));
    fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let corpus = Corpus { root: dir.join("project"), home: dir.join("home") };
    println!("usage import benchmark: binary {}, data in {}", binary().display(), dir.display());
    let started = Instant::now();
    let stats =
        corpus.generate(FILES / scale, TOTAL_BYTES / scale as u64, if quick { MAX_FILE / 10 } else { MAX_FILE })?;
    println!(
        "corpus: {} files, {:.2} GiB (p50 {} KB, p95 {} KB, max {:.1} MB; claude {}, codex {}, gemini {}), generated in {:.1} s{}",
        stats.files,
        stats.bytes as f64 / (1u64 << 30) as f64,
        stats.p50 / 1000,
        stats.p95 / 1000,
        stats.max as f64 / 1e6,
        stats.per_agent[0],
        stats.per_agent[1],
        stats.per_agent[2],
        started.elapsed().as_secs_f64(),
        if quick { " (QUICK: a tenth of the budgeted corpus)" } else { "" }
    );
    // Let the kernel write the data back before measuring (the budget is about parsing, not disk).
    let _ = Command::new("sync").status();

    let mut report = Vec::new();
    let cold_runs = if quick { 3 } else { 5 };
    let mut cold = Vec::new();
    let mut last_output = String::new();
    for _ in 0..cold_runs {
        corpus.reset()?;
        let (wall, rss, output) = corpus.spawn(&["agent", "telemetry", "import", "--json"], None)?;
        cold.push((wall, rss));
        last_output = output;
    }
    let summary: serde_json::Value = serde_json::from_str(&last_output).map_err(|e| format!("{e}: {last_output}"))?;
    println!(
        "cold import: {} records → {} events, {} bytes read, skipped {}",
        summary["records"], summary["events"], summary["bytes_read"], summary["skipped"]
    );
    let walls: Vec<Duration> = cold.iter().map(|c| c.0).collect();
    let rss = cold.iter().map(|c| c.1).max().unwrap_or(0);
    report.push(Row::new("cold import (empty ledger)", &walls, Some(rss), COLD_BUDGET, Some(RSS_BUDGET_KIB)));

    let mut noop = Vec::new();
    let mut noop_rss = 0;
    for i in 0..23 {
        let (wall, rss, output) = corpus.spawn(&["agent", "telemetry", "import", "--json"], None)?;
        if i == 0 && !output.contains("\"records\": 0") {
            return Err(format!("the re-import imported something: {output}"));
        }
        if i >= 3 {
            noop.push(wall);
            noop_rss = noop_rss.max(rss);
        }
    }
    report.push(Row::new("re-import, nothing new", &noop, Some(noop_rss), NOOP_BUDGET, None));

    let transcript = corpus.first_claude_transcript().ok_or("no transcript")?;
    let payload = format!(
        r#"{{"session_id":"s","transcript_path":"{}","cwd":"{}","hook_event_name":"Stop","stop_hook_active":false}}"#,
        transcript.display(),
        corpus.root.display()
    );
    let mut hook = Vec::new();
    let mut hook_rss = 0;
    for i in 0..60 {
        let (wall, rss, output) = corpus.spawn(&["agent", "telemetry", "hook", "claude"], Some(&payload))?;
        if !output.is_empty() {
            return Err(format!("the hook printed {output:?}"));
        }
        if i >= 10 {
            hook.push(wall);
            hook_rss = hook_rss.max(rss);
        }
    }
    report.push(Row::new("Claude hook, nothing new", &hook, Some(hook_rss), HOOK_BUDGET, None));
    let floor = {
        let mut runs = Vec::new();
        for _ in 0..30 {
            let started = Instant::now();
            Command::new("/bin/true").status().map_err(|e| e.to_string())?;
            runs.push(started.elapsed());
        }
        median(&mut runs)
    };

    println!("\n| benchmark | runs | median | p90 | peak RSS | budget | result |\n|---|---:|---:|---:|---:|---|---|");
    for row in &report {
        println!("{}", row.render());
    }
    println!("| baseline: /bin/true | 30 | {} | | | — | |", ms(floor));
    if !keep {
        let _ = fs::remove_dir_all(&dir);
    } else {
        println!("\nkept {}", dir.display());
    }
    Ok(())
}

struct Row {
    name: &'static str,
    runs: usize,
    median: Duration,
    p90: Duration,
    rss: Option<u64>,
    budget: Duration,
    rss_budget: Option<u64>,
}

impl Row {
    fn new(name: &'static str, runs: &[Duration], rss: Option<u64>, budget: Duration, rss_budget: Option<u64>) -> Row {
        let mut sorted = runs.to_vec();
        sorted.sort();
        let p90 = sorted[((sorted.len() * 9).div_ceil(10)).saturating_sub(1)];
        Row { name, runs: runs.len(), median: median(&mut sorted), p90, rss, budget, rss_budget }
    }

    fn render(&self) -> String {
        let pass = self.median <= self.budget && self.rss_budget.is_none_or(|b| self.rss.unwrap_or(0) <= b);
        let budget = match self.rss_budget {
            Some(b) => format!("≤ {}, ≤ {} MiB", ms(self.budget), b / 1024),
            None => format!("≤ {}", ms(self.budget)),
        };
        format!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            self.name,
            self.runs,
            ms(self.median),
            ms(self.p90),
            self.rss.map_or(String::new(), |k| format!("{:.1} MiB", k as f64 / 1024.0)),
            budget,
            if pass { "PASS" } else { "FAIL" }
        )
    }
}

fn median(runs: &mut [Duration]) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 1000.0 { format!("{:.2} s", ms / 1000.0) } else { format!("{ms:.1} ms") }
}

// ---------------------------------------------------------------------------------------------------
// the corpus

struct Corpus {
    root: PathBuf,
    home: PathBuf,
}

struct Stats {
    files: usize,
    bytes: u64,
    p50: u64,
    p95: u64,
    max: u64,
    per_agent: [usize; 3],
}

const FEATURES: usize = 10;
const WPS: usize = 6;
/// 2026-01-01T00:00:00Z
const T0: i64 = 1_767_225_600;
const SPAN: i64 = 60 * 86_400;

impl Corpus {
    /// Child processes see only this environment (no pinned clock or ids: real runs).
    fn spawn(&self, args: &[&str], stdin: Option<&str>) -> Result<(Duration, u64, String), String> {
        let mut cmd = Command::new(binary());
        cmd.current_dir(&self.root)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("SPEC_KITTY_HOME", self.home.join(".spec-kitty"))
            .args(args)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let started = Instant::now();
        let mut child = cmd.spawn().map_err(|e| e.to_string())?;
        if let Some(text) = stdin {
            child.stdin.take().unwrap().write_all(text.as_bytes()).map_err(|e| e.to_string())?;
        }
        let mut stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stdout, &mut text);
            text
        });
        let pid = child.id() as libc::pid_t;
        let mut status = 0;
        // SAFETY: a zeroed rusage is valid; wait4 on our own child.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: see above.
        let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        let wall = started.elapsed();
        if waited != pid {
            return Err("wait4 failed".into());
        }
        let output = reader.join().unwrap_or_default();
        if status != 0 {
            return Err(format!("{args:?} exited with status {status}: {output}"));
        }
        Ok((wall, usage.ru_maxrss as u64, output))
    }

    /// Removes the ledger and the imported events, so the next import is a first one.
    fn reset(&self) -> Result<(), String> {
        for name in ["usage-ledger.db", "usage-ledger.db-wal", "usage-ledger.db-shm"] {
            let _ = fs::remove_file(self.home.join(".spec-kitty").join(name));
        }
        for entry in fs::read_dir(self.root.join("kitty-specs")).map_err(|e| e.to_string())?.flatten() {
            let _ = fs::remove_file(entry.path().join("execution.events.jsonl"));
            let _ = fs::remove_file(entry.path().join(".telemetry-clock.json"));
        }
        let _ = fs::remove_dir_all(self.root.join("kitty-specs/unattributed"));
        Ok(())
    }

    fn first_claude_transcript(&self) -> Option<PathBuf> {
        let dir = self.home.join(".claude/projects").join(encode(&self.root.to_string_lossy()));
        let mut files: Vec<PathBuf> = fs::read_dir(dir)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
            .collect();
        files.sort();
        files.into_iter().next()
    }

    fn generate(&self, files: usize, total: u64, max_file: u64) -> Result<Stats, String> {
        let io = |e: std::io::Error| e.to_string();
        fs::create_dir_all(self.root.join(".kittify")).map_err(io)?;
        self.write_project()?;
        let sizes = sizes(files, total, max_file);
        let filler = filler();
        let mut per_agent = [0usize; 3];
        let mut bytes = 0;
        for (i, size) in sizes.iter().enumerate() {
            let mut g = Gen { seed: i as u64 * 0x9e37_79b9_7f4a_7c15 + 1, filler: &filler };
            let agent = match i % 20 {
                0 | 1 => 1, // codex: 10 %
                2 => 2,     // gemini: 5 %
                _ => 0,     // claude: 85 % (every fourth of them a subagent file)
            };
            per_agent[agent] += 1;
            let (cwd, branch) = self.place(i);
            let path = match agent {
                0 => {
                    let dir = self.home.join(".claude/projects").join(encode(&cwd));
                    if i % 4 == 3 {
                        dir.join(format!("{}/subagents/agent-{i:05}.jsonl", uuid(i - 1)))
                    } else {
                        dir.join(format!("{}.jsonl", uuid(i)))
                    }
                }
                1 => self.home.join(format!(
                    ".codex/sessions/2026/01/{:02}/rollout-2026-01-{:02}T10-00-00-{}.jsonl",
                    1 + i % 28,
                    1 + i % 28,
                    uuid(i)
                )),
                _ => {
                    let folder = self.home.join(".gemini/tmp/bench");
                    fs::create_dir_all(folder.join("chats")).map_err(io)?;
                    fs::write(folder.join(".project_root"), self.root.to_string_lossy().as_bytes()).map_err(io)?;
                    folder.join(format!("chats/session-2026-01-01T00-00-{:08x}.jsonl", i))
                }
            };
            fs::create_dir_all(path.parent().unwrap()).map_err(io)?;
            let mut out = BufWriter::with_capacity(1 << 20, File::create(&path).map_err(io)?);
            let written = match agent {
                0 => g.claude(&mut out, i, *size, &cwd, &branch, i % 4 == 3),
                1 => g.codex(&mut out, i, *size, &cwd, &branch),
                _ => g.gemini(&mut out, i, *size),
            }
            .map_err(io)?;
            out.flush().map_err(io)?;
            bytes += written;
        }
        let mut sorted = sizes.clone();
        sorted.sort();
        Ok(Stats {
            files,
            bytes,
            p50: sorted[sorted.len() / 2],
            p95: sorted[sorted.len() * 95 / 100],
            max: *sorted.last().unwrap(),
            per_agent,
        })
    }

    /// Where a file's session ran: mostly the main checkout on `main` (attributed by the status
    /// timeline), else a work package's worktree.
    fn place(&self, i: usize) -> (String, String) {
        let root = self.root.to_string_lossy().into_owned();
        if i.is_multiple_of(3) {
            let feature = i % FEATURES;
            let wp = 1 + (i / FEATURES) % WPS;
            let name = format!("{:03}-bench-feature-WP{wp:02}", feature + 1);
            (format!("{root}/.worktrees/{name}"), name)
        } else {
            (root, "main".into())
        }
    }

    /// Ten features; each specified, planned, then six work packages through the lanes, spread over
    /// the corpus's two months.
    fn write_project(&self) -> Result<(), String> {
        let io = |e: std::io::Error| e.to_string();
        let mut n = 0;
        for f in 0..FEATURES {
            let slug = format!("{:03}-bench-feature", f + 1);
            let dir = self.root.join("kitty-specs").join(&slug);
            fs::create_dir_all(&dir).map_err(io)?;
            let start = T0 + (f as i64) * SPAN / FEATURES as i64;
            fs::write(
                dir.join("meta.json"),
                format!(r#"{{"feature_number": "{:03}", "slug": "{slug}", "created_at": "{}"}}"#, f + 1, iso(start)),
            )
            .map_err(io)?;
            fs::write(dir.join("spec.md"), "# spec\n").map_err(io)?;
            let mut lines = String::new();
            for w in 0..WPS {
                let t = start + 6 * 3600 + (w as i64) * 9 * 3600;
                for (k, (from, to, actor)) in [
                    ("planned", "claimed", "claude"),
                    ("claimed", "in_progress", "claude"),
                    ("in_progress", "for_review", "claude"),
                    ("for_review", "done", "codex"),
                ]
                .into_iter()
                .enumerate()
                {
                    n += 1;
                    let at = t + [0, 1, 5 * 3600, 8 * 3600][k];
                    let _ = writeln!(
                        lines,
                        r#"{{"actor": "{actor}", "at": "{}", "event_id": "01KHK2DVHCVJFXTV0HH{n:07}", "evidence": null, "execution_mode": "worktree", "feature_slug": "{slug}", "force": false, "from_lane": "{from}", "policy_metadata": null, "reason": null, "review_ref": null, "to_lane": "{to}", "wp_id": "WP{:02}"}}"#,
                        iso(at),
                        w + 1
                    );
                }
            }
            fs::write(dir.join("status.events.jsonl"), lines).map_err(io)?;
        }
        Ok(())
    }
}

fn iso(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0).unwrap().format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

fn iso_ms(t: i64, ms: u64) -> String {
    chrono::DateTime::from_timestamp(t, 0).unwrap().format("%Y-%m-%dT%H:%M:%S").to_string()
        + &format!(".{:03}Z", ms % 1000)
}

fn encode(path: &str) -> String {
    path.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect()
}

fn uuid(i: usize) -> String {
    format!("{:08x}-bench-4000-8000-{:012x}", i, i * 7919)
}

/// Log-normal file sizes with the profile's median and 95th percentile at evenly spaced quantiles,
/// scaled to the total, the largest set to `max_file`.
fn sizes(files: usize, total: u64, max_file: u64) -> Vec<u64> {
    let sigma = (P95 / P50).ln() / 1.644_853_6;
    let mut sizes: Vec<f64> =
        (0..files).map(|i| P50 * (sigma * inverse_normal((i as f64 + 0.5) / files as f64)).exp()).collect();
    let largest = files - 1;
    sizes[largest] = max_file as f64;
    let rest: f64 = sizes[..largest].iter().map(|s| s.min(max_file as f64)).sum();
    let scale = (total as f64 - max_file as f64) / rest;
    let mut out: Vec<u64> = sizes[..largest].iter().map(|s| (s.min(max_file as f64) * scale) as u64).collect();
    out.push(max_file);
    // Interleave so that big files are spread over agents and places.
    let mut order: Vec<usize> = (0..files).collect();
    order.sort_by_key(|&i| (i * 2_654_435_761) % files);
    order.into_iter().map(|i| out[i].max(2_000)).collect()
}

/// Acklam's rational approximation of the standard normal quantile.
fn inverse_normal(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] =
        [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
    let low = 0.02425;
    if p < low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -inverse_normal(1.0 - p)
    }
}

/// Text for message bodies: words, escaped quotes and newlines, as transcripts hold (JSON-escaped).
fn filler() -> String {
    let words = [
        "fn",
        "let",
        "mut",
        "self",
        "impl",
        "match",
        "cargo",
        "test",
        "the",
        "file",
        "error",
        "src/lib.rs",
        "\\\"quoted\\\"",
        "\\n",
        "Result<(), Error>",
        "{}",
        "[0]",
        "->",
        "done",
    ];
    let mut text = String::with_capacity(4 << 20);
    let mut state = 12345u64;
    while text.len() < (4 << 20) {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        text.push_str(words[(state >> 33) as usize % words.len()]);
        text.push(' ');
    }
    text
}

struct Gen<'f> {
    seed: u64,
    filler: &'f str,
}

impl<'f> Gen<'f> {
    fn next(&mut self) -> u64 {
        self.seed = self.seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.seed >> 33
    }

    /// `len` bytes of filler (cut on a word boundary so escapes stay whole).
    fn text(&mut self, len: usize) -> &'f str {
        let filler = self.filler;
        let len = len.min(filler.len() / 2);
        let start = self.next() as usize % (filler.len() - len - 64);
        let start = filler[start..].find(' ').map_or(start, |i| start + i + 1);
        let end = filler[..start + len].rfind(' ').unwrap_or(start);
        &filler[start..end.max(start)]
    }

    /// A skewed size: mostly small, sometimes large.
    fn size(&mut self, typical: usize, cap: usize) -> usize {
        let r = self.next() % 1000;
        let factor = if r < 700 {
            1
        } else if r < 950 {
            4
        } else if r < 995 {
            20
        } else {
            100
        };
        ((typical / 2 + self.next() as usize % typical) * factor).min(cap)
    }

    fn claude(
        &mut self,
        out: &mut impl Write,
        i: usize,
        target: u64,
        cwd: &str,
        branch: &str,
        sidechain: bool,
    ) -> std::io::Result<u64> {
        let session = uuid(if sidechain { i - 1 } else { i });
        let mut written = 0u64;
        let mut t = T0 + (self.next() as i64 % SPAN);
        let mut turn = 0;
        let models = ["claude-sonnet-4-5-20250929", "claude-opus-4-6", "claude-haiku-4-5-20251001"];
        let cap = if target > 20_000_000 { 2_000_000 } else { 200_000 };
        while written < target {
            turn += 1;
            t += 20 + (self.next() % 300) as i64;
            let len = self.size(5_000, cap);
            let line = format!(
                r#"{{"parentUuid":"p{turn}","isSidechain":{sidechain},"userType":"external","cwd":"{cwd}","sessionId":"{session}","version":"2.1.99","gitBranch":"{branch}","type":"user","message":{{"role":"user","content":[{{"tool_use_id":"toolu_{i}_{turn}","type":"tool_result","content":"{}"}}]}},"uuid":"u{i}-{turn}","timestamp":"{}","toolUseResult":{{"stdout":"ok","stderr":"","interrupted":false}}}}"#,
                self.text(len),
                iso_ms(t, self.next())
            );
            written += line.len() as u64 + 1;
            writeln!(out, "{line}")?;
            if turn % 40 == 0 {
                let line = format!(
                    r#"{{"type":"file-history-snapshot","messageId":"m{turn}","snapshot":{{"trackedFileBackups":{{"src/lib.rs":{{"backupFileName":"{}"}}}}}},"isSnapshotUpdate":false}}"#,
                    self.text(2_000)
                );
                written += line.len() as u64 + 1;
                writeln!(out, "{line}")?;
            }
            let copies = 1 + self.next() % 3;
            let model = models[(self.next() % 10).min(2) as usize % 3];
            let input = 3 + self.next() % 50;
            let cache_read = 20_000 + self.next() % 100_000;
            let cache_write = self.next() % 5_000;
            let one_hour = if self.next().is_multiple_of(2) { cache_write } else { 0 };
            let body = self.size(1_000, 50_000);
            for copy in 0..copies {
                let output = (copy + 1) * (10 + self.next() % 400);
                let line = format!(
                    r#"{{"parentUuid":"u{i}-{turn}","isSidechain":{sidechain},"userType":"external","cwd":"{cwd}","sessionId":"{session}","version":"2.1.99","gitBranch":"{branch}","message":{{"id":"msg_{i}_{turn}","type":"message","role":"assistant","model":"{model}","content":[{{"type":"text","text":"{}"}}],"stop_reason":null,"usage":{{"input_tokens":{input},"cache_creation_input_tokens":{cache_write},"cache_read_input_tokens":{cache_read},"cache_creation":{{"ephemeral_5m_input_tokens":{},"ephemeral_1h_input_tokens":{one_hour}}},"output_tokens":{output},"service_tier":"standard"}}}},"requestId":"req_{i}_{turn}","type":"assistant","uuid":"a{i}-{turn}-{copy}","timestamp":"{}"}}"#,
                    self.text(body / copies as usize),
                    cache_write - one_hour,
                    iso_ms(t + copy as i64, self.next())
                );
                written += line.len() as u64 + 1;
                writeln!(out, "{line}")?;
            }
        }
        Ok(written)
    }

    fn codex(&mut self, out: &mut impl Write, i: usize, target: u64, cwd: &str, branch: &str) -> std::io::Result<u64> {
        let thread = uuid(i);
        let mut t = T0 + (self.next() as i64 % SPAN);
        let meta = format!(
            r#"{{"timestamp":"{}","type":"session_meta","payload":{{"id":"{thread}","timestamp":"{}","cwd":"{cwd}","originator":"codex_cli_rs","cli_version":"0.999.0","source":"cli","git":{{"commit_hash":"deadbeef","branch":"{branch}"}}}}}}"#,
            iso_ms(t, 0),
            iso_ms(t, 0)
        );
        let mut written = meta.len() as u64 + 1;
        writeln!(out, "{meta}")?;
        let mut total = [0u64; 4];
        let mut turn = 0;
        let cap = if target > 20_000_000 { 2_000_000 } else { 200_000 };
        while written < target {
            turn += 1;
            t += 30 + (self.next() % 200) as i64;
            if turn % 5 == 1 {
                let line = format!(
                    r#"{{"timestamp":"{}","type":"turn_context","payload":{{"turn_id":"t{turn}","cwd":"{cwd}","model":"gpt-5-codex","approval_policy":"on-request","sandbox_policy":{{"mode":"workspace-write"}}}}}}"#,
                    iso_ms(t, 0)
                );
                written += line.len() as u64 + 1;
                writeln!(out, "{line}")?;
            }
            let len = self.size(6_000, cap);
            let line = format!(
                r#"{{"timestamp":"{}","type":"response_item","payload":{{"type":"function_call_output","call_id":"c{turn}","output":"{}"}}}}"#,
                iso_ms(t, 1),
                self.text(len)
            );
            written += line.len() as u64 + 1;
            writeln!(out, "{line}")?;
            let last = [8_000 + self.next() % 20_000, 0, 100 + self.next() % 2_000, 0];
            let last = [last[0], last[0] * 3 / 4, last[2], last[2] / 3];
            for k in 0..4 {
                total[k] += last[k];
            }
            let count =
                codex_lines::codex_token_count(&iso_ms(t, 2), total, last, r#"{"primary":{"used_percent":12.0}}"#);
            let copies = if self.next().is_multiple_of(3) { 2 } else { 1 }; // re-emits
            for _ in 0..copies {
                written += count.len() as u64 + 1;
                writeln!(out, "{count}")?;
            }
        }
        Ok(written)
    }

    fn gemini(&mut self, out: &mut impl Write, i: usize, target: u64) -> std::io::Result<u64> {
        let session = uuid(i);
        let mut t = T0 + (self.next() as i64 % SPAN);
        let meta = format!(
            r#"{{"sessionId":"{session}","projectHash":"0","startTime":"{}","lastUpdated":"{}"}}"#,
            iso_ms(t, 0),
            iso_ms(t, 0)
        );
        let mut written = meta.len() as u64 + 1;
        writeln!(out, "{meta}")?;
        let mut turn = 0;
        while written < target {
            turn += 1;
            t += 30 + (self.next() % 200) as i64;
            let len = self.size(4_000, 200_000);
            let user = format!(
                r#"{{"id":"u{turn}","timestamp":"{}","type":"user","content":[{{"text":"{}"}}]}}"#,
                iso_ms(t, 0),
                self.text(len)
            );
            written += user.len() as u64 + 1;
            writeln!(out, "{user}")?;
            let input = 10_000 + self.next() % 50_000;
            let cached = input * 2 / 3;
            let (output, thoughts) = (100 + self.next() % 1_000, self.next() % 300);
            let body = self.size(1_500, 40_000);
            let text = self.text(body).to_owned();
            for tokens in [false, true] {
                let tokens = if tokens {
                    format!(
                        r#","tokens":{{"input":{input},"output":{output},"cached":{cached},"thoughts":{thoughts},"tool":0,"total":{}}}"#,
                        input + output + thoughts
                    )
                } else {
                    String::new()
                };
                let line = format!(
                    r#"{{"id":"g{turn}","timestamp":"{}","type":"gemini","content":[{{"text":"{text}"}}],"model":"gemini-2.5-pro"{tokens}}}"#,
                    iso_ms(t, 5)
                );
                written += line.len() as u64 + 1;
                writeln!(out, "{line}")?;
            }
        }
        Ok(written)
    }
}
