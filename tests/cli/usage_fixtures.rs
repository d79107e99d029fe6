//! Synthetic session logs (shapes from reference/session-logs.md, values made up) and a project whose
//! status logs give a known timeline, for the usage-import tests.
//!
//! Timeline of the project (UTC):
//!
//! | when | what |
//! |---|---|
//! | 2026-01-05 08:00 | 001-alpha created (meta.json), spec.md |
//! | 09:00 | 001-alpha plan.md |
//! | 10:00 | WP01 claimed, in progress (claude) |
//! | 12:00 | WP01 for review (claude); WP02 claimed, in progress (gemini) |
//! | 12:30 | WP01 in review (codex) |
//! | 13:00 | WP01 done (codex) |
//! | 15:00 / 16:00 | WP02 for review / done: every work package done, merging until 04:00 the next day |
//! | 2026-01-06 09:00–10:10 | 002-beta being specified (meta.json, spec.md; no plan.md, no lane change) |

#![allow(dead_code)]

mod codex_lines;

use crate::support::TestEnv;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

pub const ALPHA: &str = "001-alpha";
pub const BETA: &str = "002-beta";

fn at(text: &str) -> SystemTime {
    let parsed = chrono::DateTime::parse_from_rfc3339(text).unwrap();
    SystemTime::UNIX_EPOCH + Duration::from_secs(parsed.timestamp() as u64)
}

fn set_mtime(path: &Path, when: &str) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(at(when)).unwrap();
}

fn status_line(n: usize, wp: &str, from: &str, to: &str, when: &str, actor: &str) -> String {
    format!(
        r#"{{"actor": "{actor}", "at": "{when}", "event_id": "01KHK2DVHCVJFXTV0HH3QM{n:04}", "evidence": null, "execution_mode": "worktree", "feature_slug": "001-alpha", "force": false, "from_lane": "{from}", "policy_metadata": null, "reason": null, "review_ref": null, "to_lane": "{to}", "wp_id": "{wp}"}}"#
    )
}

/// The project with two features and the timeline above.
pub fn project() -> TestEnv {
    let env = TestEnv::new();
    let alpha = format!("kitty-specs/{ALPHA}");
    env.write(
        &format!("{alpha}/meta.json"),
        r#"{"feature_number": "001", "slug": "001-alpha", "created_at": "2026-01-05T08:00:00+00:00"}"#,
    );
    env.write(&format!("{alpha}/spec.md"), "# Alpha\n");
    env.write(&format!("{alpha}/plan.md"), "# Plan\n");
    env.write(&format!("{alpha}/tasks.md"), "# Tasks\n");
    let lines = [
        status_line(1, "WP01", "planned", "claimed", "2026-01-05T10:00:00+00:00", "claude"),
        status_line(2, "WP01", "claimed", "in_progress", "2026-01-05T10:00:01+00:00", "claude"),
        status_line(3, "WP01", "in_progress", "for_review", "2026-01-05T12:00:00+00:00", "claude"),
        status_line(4, "WP02", "planned", "claimed", "2026-01-05T12:00:00+00:00", "gemini"),
        status_line(5, "WP02", "claimed", "in_progress", "2026-01-05T12:00:01+00:00", "gemini"),
        status_line(6, "WP01", "for_review", "in_review", "2026-01-05T12:30:00+00:00", "codex"),
        status_line(7, "WP01", "in_review", "done", "2026-01-05T13:00:00+00:00", "codex"),
        status_line(8, "WP02", "in_progress", "for_review", "2026-01-05T15:00:00+00:00", "gemini"),
        status_line(9, "WP02", "for_review", "done", "2026-01-05T16:00:00+00:00", "codex"),
    ];
    env.write(&format!("{alpha}/status.events.jsonl"), lines.join("\n") + "\n");
    for (file, when) in [
        ("meta.json", "2026-01-05T08:00:00Z"),
        ("spec.md", "2026-01-05T08:30:00Z"),
        ("plan.md", "2026-01-05T09:00:00Z"),
        ("tasks.md", "2026-01-05T09:40:00Z"),
    ] {
        set_mtime(&env.path(&format!("{alpha}/{file}")), when);
    }
    let beta = format!("kitty-specs/{BETA}");
    env.write(
        &format!("{beta}/meta.json"),
        r#"{"feature_number": "002", "slug": "002-beta", "created_at": "2026-01-06T09:00:00+00:00"}"#,
    );
    env.write(&format!("{beta}/spec.md"), "# Beta\n");
    set_mtime(&env.path(&format!("{beta}/meta.json")), "2026-01-06T09:00:00Z");
    set_mtime(&env.path(&format!("{beta}/spec.md")), "2026-01-06T09:10:00Z");
    env
}

/// The project root as agents log it.
pub fn root(env: &TestEnv) -> String {
    env.root().to_string_lossy().into_owned()
}

pub fn worktree(env: &TestEnv, name: &str) -> String {
    format!("{}/.worktrees/{name}", root(env))
}

pub fn append(path: &Path, lines: &[String]) {
    use std::io::Write;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    for line in lines {
        file.write_all(line.as_bytes()).unwrap();
        file.write_all(b"\n").unwrap();
    }
}

// ---------------------------------------------------------------------------------------------------
// Claude Code

/// `~/.claude/projects/<encoded cwd>/`.
pub fn claude_dir(env: &TestEnv, cwd: &str) -> PathBuf {
    claude_dir_in(&env.home().join(".claude"), cwd)
}

/// `<config>/projects/<encoded cwd>/` for a Claude configuration directory (`CLAUDE_CONFIG_DIR`).
pub fn claude_dir_in(config: &Path, cwd: &str) -> PathBuf {
    let encoded: String = cwd.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    config.join("projects").join(encoded)
}

pub struct ClaudeMsg<'a> {
    pub ts: &'a str,
    pub id: &'a str,
    pub request: Option<&'a str>,
    pub model: &'a str,
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_5m: u64,
    pub cache_1h: u64,
    pub sidechain: bool,
}

impl Default for ClaudeMsg<'_> {
    fn default() -> Self {
        ClaudeMsg {
            ts: "2026-01-05T10:30:00.000Z",
            id: "msg_1",
            request: Some("req_1"),
            model: "claude-sonnet-4-5-20250929",
            input: 10,
            output: 100,
            cache_read: 1000,
            cache_5m: 0,
            cache_1h: 0,
            sidechain: false,
        }
    }
}

pub fn claude_line(session: &str, cwd: &str, branch: &str, m: &ClaudeMsg<'_>) -> String {
    let request = m.request.map(|r| format!(r#","requestId":"{r}""#)).unwrap_or_default();
    format!(
        r#"{{"type":"assistant","uuid":"u-{id}-{out}","isSidechain":{side},"userType":"external","cwd":"{cwd}","sessionId":"{session}","version":"2.1.99","gitBranch":"{branch}"{request},"timestamp":"{ts}","message":{{"id":"{id}","model":"{model}","role":"assistant","content":[{{"type":"text","text":"…"}}],"usage":{{"input_tokens":{input},"cache_creation_input_tokens":{cw},"cache_read_input_tokens":{cr},"cache_creation":{{"ephemeral_5m_input_tokens":{c5},"ephemeral_1h_input_tokens":{c1}}},"output_tokens":{out},"service_tier":"standard"}}}}}}"#,
        id = m.id,
        out = m.output,
        side = m.sidechain,
        ts = m.ts,
        model = m.model,
        input = m.input,
        cw = m.cache_5m + m.cache_1h,
        cr = m.cache_read,
        c5 = m.cache_5m,
        c1 = m.cache_1h,
    )
}

pub fn claude_user_line(session: &str, cwd: &str, ts: &str) -> String {
    format!(
        r#"{{"type":"user","cwd":"{cwd}","sessionId":"{session}","timestamp":"{ts}","message":{{"role":"user","content":[{{"type":"tool_result","content":"ok"}}]}},"toolUseResult":{{"usage":{{"input_tokens":99999}}}}}}"#
    )
}

pub fn write_claude(env: &TestEnv, cwd: &str, relative: &str, lines: &[String]) -> PathBuf {
    let path = claude_dir(env, cwd).join(relative);
    append(&path, lines);
    path
}

// ---------------------------------------------------------------------------------------------------
// Codex

pub fn codex_meta(thread: &str, cwd: &str, branch: &str, source: &str) -> String {
    format!(
        r#"{{"timestamp":"2026-01-05T12:00:00.000Z","type":"session_meta","payload":{{"id":"{thread}","timestamp":"2026-01-05T12:00:00.000Z","cwd":"{cwd}","originator":"codex_cli_rs","cli_version":"0.999.0","source":{source},"git":{{"commit_hash":"deadbeef","branch":"{branch}"}}}}}}"#
    )
}

pub fn codex_turn(ts: &str, cwd: &str, model: &str) -> String {
    format!(
        r#"{{"timestamp":"{ts}","type":"turn_context","payload":{{"turn_id":"t","cwd":"{cwd}","model":"{model}","approval_policy":"on-request"}}}}"#
    )
}

/// A token_count with cumulative `total` and per-request `last`: [input incl. cached, cached, output incl. reasoning, reasoning].
pub fn codex_count(ts: &str, total: [u64; 4], last: [u64; 4]) -> String {
    codex_lines::codex_token_count(ts, total, last, "null")
}

pub fn codex_rate_limit_only(ts: &str) -> String {
    format!(
        r#"{{"timestamp":"{ts}","type":"event_msg","payload":{{"type":"token_count","info":null,"rate_limits":{{"primary":{{"used_percent":1.0}}}}}}}}"#
    )
}

pub fn codex_path(env: &TestEnv, folder: &str, thread: &str) -> PathBuf {
    codex_path_in(&env.home().join(".codex"), folder, thread)
}

/// A rollout's path under a Codex home (`CODEX_HOME`).
pub fn codex_path_in(codex_home: &Path, folder: &str, thread: &str) -> PathBuf {
    codex_home.join(folder).join(format!("rollout-2026-01-05T12-00-00-{thread}.jsonl"))
}

pub fn write_codex(path: &Path, lines: &[String]) {
    append(path, lines);
}

/// Writes `lines` zstd-compressed to `path`.
pub fn write_codex_zst(path: &Path, lines: &[String]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let compressed = ruzstd::encoding::compress_to_vec(
        (lines.join("\n") + "\n").as_bytes(),
        ruzstd::encoding::CompressionLevel::Fastest,
    );
    std::fs::write(path, compressed).unwrap();
}

// ---------------------------------------------------------------------------------------------------
// Gemini CLI

/// `~/.gemini/tmp/<slug>/` with `.project_root` naming `dir`.
pub fn gemini_project(env: &TestEnv, slug: &str, dir: &str) -> PathBuf {
    let folder = env.home().join(".gemini/tmp").join(slug);
    std::fs::create_dir_all(folder.join("chats")).unwrap();
    std::fs::write(folder.join(".project_root"), dir).unwrap();
    folder
}

pub fn gemini_meta(session: &str) -> String {
    format!(
        r#"{{"sessionId":"{session}","projectHash":"0000","startTime":"2026-01-05T13:00:00.000Z","lastUpdated":"2026-01-05T13:00:00.000Z"}}"#
    )
}

/// A gemini message; `tokens` = [input (incl. cached), output, cached, thoughts, tool]; total = input + output + thoughts + tool.
pub fn gemini_msg(id: &str, ts: &str, model: &str, tokens: Option<[u64; 5]>) -> String {
    let tokens = tokens
        .map(|t| {
            format!(
                r#","tokens":{{"input":{},"output":{},"cached":{},"thoughts":{},"tool":{},"total":{}}}"#,
                t[0],
                t[1],
                t[2],
                t[3],
                t[4],
                t[0] + t[1] + t[3] + t[4]
            )
        })
        .unwrap_or_default();
    format!(
        r#"{{"id":"{id}","timestamp":"{ts}","type":"gemini","content":[{{"text":"…"}}],"model":"{model}"{tokens}}}"#
    )
}

pub fn write_gemini(folder: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = folder.join("chats").join(name);
    append(&path, lines);
    path
}

// ---------------------------------------------------------------------------------------------------
// Reading the result

/// The imported events of a feature's log, as JSON.
pub fn events(env: &TestEnv, feature: &str) -> Vec<serde_json::Value> {
    let path = env.path(&format!("kitty-specs/{feature}/execution.events.jsonl"));
    match std::fs::read_to_string(path) {
        Ok(text) => crate::support::json_lines(&text),
        Err(_) => Vec::new(),
    }
}

/// Sum of a payload key over a feature's events matching `filter`.
pub fn sum(events: &[serde_json::Value], key: &str, filter: impl Fn(&serde_json::Value) -> bool) -> u64 {
    events.iter().filter(|e| filter(&e["payload"])).map(|e| e["payload"][key].as_u64().unwrap_or(0)).sum()
}

pub fn import(env: &TestEnv, extra: &[&str]) -> crate::support::Run {
    let mut args = vec!["agent", "telemetry", "import"];
    args.extend_from_slice(extra);
    env.run(&args).ok()
}

pub fn import_json(env: &TestEnv) -> serde_json::Value {
    import_json_with(env, &[], &[])
}

/// `import --json` with extra arguments and environment variables.
pub fn import_json_with(env: &TestEnv, extra: &[&str], vars: &[(&str, &str)]) -> serde_json::Value {
    let mut args = vec!["agent", "telemetry", "import", "--json"];
    args.extend_from_slice(extra);
    let run = env.run_with_env(&args, vars).ok();
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.render()))
}
