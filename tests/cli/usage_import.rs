//! `agent telemetry import`: each agent's dedup and cached-token rules, attribution by worktree, branch
//! and lane timeline, the unattributed bucket, idempotent and incremental re-imports, the rule against
//! counting usage already reported through `emit`, and bad input.

use crate::usage_fixtures::*;
use serde_json::Value;

fn payload_is(key: &'static str, value: &'static str) -> impl Fn(&Value) -> bool {
    move |p| p[key] == value
}

#[test]
fn claude_streaming_copies_subagents_and_cache_writes() {
    let env = project();
    let cwd = worktree(&env, "001-alpha-WP01");
    let branch = "001-alpha-WP01";
    let first = ClaudeMsg { output: 3, cache_1h: 900, ..ClaudeMsg::default() };
    let last = ClaudeMsg { ts: "2026-01-05T10:30:04.000Z", output: 412, cache_1h: 900, ..ClaudeMsg::default() };
    let second = ClaudeMsg {
        ts: "2026-01-05T11:15:00.000Z",
        id: "msg_2",
        request: Some("req_2"),
        input: 5,
        output: 50,
        cache_read: 2000,
        cache_5m: 300,
        ..ClaudeMsg::default()
    };
    write_claude(
        &env,
        &cwd,
        "s1.jsonl",
        &[
            claude_line("s1", &cwd, branch, &first),
            claude_user_line("s1", &cwd, "2026-01-05T10:30:02.000Z"),
            claude_line("s1", &cwd, branch, &last),
            claude_line("s1", &cwd, branch, &second),
        ],
    );
    // The subagent replays msg_1 under another request id (dropped) and makes its own call (counted).
    let replay = ClaudeMsg { request: Some("req_other"), sidechain: true, ..last };
    let own = ClaudeMsg {
        ts: "2026-01-05T11:20:00.000Z",
        id: "msg_3",
        request: Some("req_3"),
        model: "claude-haiku-4-5",
        input: 5,
        output: 120,
        cache_read: 3000,
        sidechain: true,
        ..ClaudeMsg::default()
    };
    write_claude(
        &env,
        &cwd,
        "s1/subagents/agent-a1.jsonl",
        &[claude_line("s1", &cwd, branch, &replay), claude_line("s1", &cwd, branch, &own)],
    );

    let report = import_json(&env);
    assert_eq!(report["records"], 3, "{report:#}");
    assert_eq!(report["skipped"]["sidechain_replays"], 1, "{report:#}");
    assert_eq!(report["skipped"]["duplicate_records"], 1, "{report:#}");
    assert_eq!(report["tokens"]["input_tokens"], 20);
    assert_eq!(report["tokens"]["output_tokens"], 582, "the largest streaming copy counts");
    assert_eq!(report["tokens"]["cache_read_tokens"], 6000);
    assert_eq!(report["tokens"]["cache_write_tokens"], 1200);
    assert_eq!(report["tokens"]["cache_write_1h_tokens"], 900);

    let events = events(&env, ALPHA);
    assert_eq!(events.len(), 3, "sonnet 10h, sonnet 11h, haiku 11h");
    for event in &events {
        let p = &event["payload"];
        assert_eq!(
            (p["wp_id"].as_str(), p["role"].as_str(), p["agent"].as_str()),
            (Some("WP01"), Some("implementer"), Some("claude"))
        );
        assert_eq!(p["attribution"], "worktree .worktrees/001-alpha-WP01; WP01 in_progress");
        assert_eq!((p["source"].as_str(), p["session_id"].as_str()), (Some("import:claude"), Some("s1")));
        assert_eq!(event["node_id"], "cli:WP01");
        assert!(p["cost_usd"].is_null(), "estimated by `cost` from the tokens");
    }
    let first_event = &events[0];
    assert_eq!(first_event["timestamp"], "2026-01-05T10:30:04+00:00", "dated by the last record it sums");
    assert_eq!(first_event["payload"]["output_tokens"], 412);
    assert_eq!(first_event["payload"]["cache_write_1h_tokens"], 900);
    assert_eq!(first_event["payload"]["duration_ms"], 0);
    let lamports: Vec<u64> = events.iter().map(|e| e["lamport_clock"].as_u64().unwrap()).collect();
    assert_eq!(lamports, [1, 2, 3]);
}

#[test]
fn codex_cumulative_totals_reemits_forks_and_compressed_rollouts() {
    let env = project();
    let root = root(&env);
    // On branch 001-alpha-WP02 in the main checkout: attributed by the branch.
    let thread = "0190aaaa-0000-7000-8000-000000000001";
    let lines = vec![
        codex_meta(thread, &root, "001-alpha-WP02", r#""cli""#),
        codex_turn("2026-01-05T12:04:00.000Z", &root, "gpt-5-codex"),
        codex_rate_limit_only("2026-01-05T12:04:30.000Z"),
        codex_count("2026-01-05T12:05:00.000Z", [12000, 9000, 800, 300], [12000, 9000, 800, 300]),
        codex_count("2026-01-05T12:05:01.000Z", [12000, 9000, 800, 300], [12000, 9000, 800, 300]),
        codex_count("2026-01-05T12:20:00.000Z", [20000, 15000, 1000, 350], [8000, 6000, 200, 50]),
    ];
    write_codex(&codex_path(&env, "sessions/2026/01/05", thread), &lines);
    // A fork of that thread copies its history (same lines) before going on: only the new turn counts.
    let fork = "0190aaaa-0000-7000-8000-000000000002";
    let mut forked = lines.clone();
    forked[0] =
        codex_meta(fork, &root, "001-alpha-WP02", r#""cli""#).replace(r#""git""#, r#""forked_from_id":"x","git""#);
    forked.push(codex_count("2026-01-05T12:40:00.000Z", [21000, 15500, 1100, 350], [1000, 500, 100, 0]));
    write_codex(&codex_path(&env, "archived_sessions", fork), &forked);
    // A compressed rollout on main at 12:45: WP01 is in review by codex, WP02 in progress by gemini.
    let zthread = "0190aaaa-0000-7000-8000-000000000003";
    let zlines = [
        codex_meta(zthread, &root, "main", r#""cli""#),
        codex_turn("2026-01-05T12:44:00.000Z", &root, "gpt-5-codex"),
        codex_count("2026-01-05T12:45:00.000Z", [4000, 1000, 400, 100], [4000, 1000, 400, 100]),
    ];
    write_codex_zst(&codex_path(&env, "sessions/2026/01/05", zthread).with_extension("jsonl.zst"), &zlines);

    let report = import_json(&env);
    assert_eq!(report["agents"]["codex"]["files"], 3, "{report:#}");
    assert_eq!(report["skipped"]["reemitted_totals"], 2, "once per file that has it: {report:#}");
    assert_eq!(report["skipped"]["replayed_parent_totals"], 1, "the fork's opening burst: {report:#}");
    assert_eq!(report["skipped"]["duplicate_records"], 1, "the fork's copied count: {report:#}");
    let events = events(&env, ALPHA);
    let wp02 = payload_is("wp_id", "WP02");
    // input = input − cached; cached = cache read; output includes reasoning.
    assert_eq!(sum(&events, "input_tokens", &wp02), 3000 + 2000 + 500);
    assert_eq!(sum(&events, "cache_read_tokens", &wp02), 9000 + 6000 + 500);
    assert_eq!(sum(&events, "output_tokens", &wp02), 800 + 200 + 100);
    assert_eq!(sum(&events, "reasoning_tokens", &wp02), 350);
    assert!(events.iter().filter(|e| wp02(&e["payload"])).all(|e| e["payload"]["role"] == "implementer"
        && e["payload"]["attribution"] == "branch 001-alpha-WP02; WP02 in_progress"));
    let wp01: Vec<&Value> = events.iter().filter(|e| e["payload"]["wp_id"] == "WP01").collect();
    assert_eq!(wp01.len(), 1, "{events:#?}");
    assert_eq!(wp01[0]["payload"]["role"], "reviewer");
    assert_eq!(wp01[0]["payload"]["input_tokens"], 3000);
    assert_eq!(
        wp01[0]["payload"]["attribution"],
        "status log: WP01 in_review, the active work package last moved by this agent"
    );
}

#[test]
fn codex_subagent_replays_archived_copies_and_compressed_twins() {
    let env = project();
    let root = root(&env);
    let parent = "0190aaaa-0000-7000-8000-0000000000d1";
    let parent_lines = vec![
        codex_meta(parent, &root, "001-alpha-WP02", r#""cli""#),
        codex_turn("2026-01-05T12:04:00.000Z", &root, "gpt-5-codex"),
        codex_count("2026-01-05T12:05:00.000Z", [12000, 9000, 800, 300], [12000, 9000, 800, 300]),
    ];
    let sessions = codex_path(&env, "sessions/2026/01/05", parent);
    write_codex(&sessions, &parent_lines);
    // An archived copy under the same name (the sessions/ one is read) and a compressed twin (the plain
    // file is read): both hold one more turn, which must not be counted.
    let mut longer = parent_lines.clone();
    longer.push(codex_count("2026-01-05T12:30:00.000Z", [30000, 9000, 2000, 300], [18000, 0, 1200, 0]));
    write_codex(&codex_path(&env, "archived_sessions", parent), &longer);
    write_codex_zst(&sessions.with_extension("jsonl.zst"), &longer);
    // A spawned subagent: its rollout opens with the parent's totals replayed within one second, which
    // only seed its running total; then its own turn counts.
    let sub = "0190aaaa-0000-7000-8000-0000000000d2";
    let spawned = format!(r#"{{"subagent":{{"thread_spawn":{{"parent_thread_id":"{parent}"}}}}}}"#);
    write_codex(
        &codex_path(&env, "sessions/2026/01/05", sub),
        &[
            codex_meta(sub, &root, "001-alpha-WP02", &spawned),
            codex_count("2026-01-05T12:06:00.100Z", [12000, 9000, 800, 300], [12000, 9000, 800, 300]),
            codex_count("2026-01-05T12:06:00.200Z", [12500, 9000, 850, 300], [500, 0, 50, 0]),
            codex_turn("2026-01-05T12:06:05.000Z", &root, "gpt-5-mini"),
            codex_count("2026-01-05T12:07:00.000Z", [13500, 9500, 950, 320], [1000, 500, 100, 20]),
        ],
    );
    let report = import_json(&env);
    assert_eq!(report["agents"]["codex"]["files"], 2, "one file per thread: {report:#}");
    assert_eq!(report["skipped"]["replayed_parent_totals"], 2, "{report:#}");
    assert_eq!(report["records"], 2, "{report:#}");
    let events = events(&env, ALPHA);
    let all = |_: &Value| true;
    assert_eq!(sum(&events, "input_tokens", all), 3000 + 500);
    assert_eq!(sum(&events, "cache_read_tokens", all), 9000 + 500);
    assert_eq!(sum(&events, "output_tokens", all), 800 + 100);
    assert_eq!(sum(&events, "reasoning_tokens", all), 300 + 20);
    let models: Vec<&str> = events.iter().map(|e| e["payload"]["model"].as_str().unwrap()).collect();
    assert_eq!(models, ["gpt-5-codex", "gpt-5-mini"]);
}

#[test]
fn agent_homes_from_the_environment_agent_filter_and_since() {
    let env = project();
    let root = root(&env);
    let cwd = worktree(&env, "001-alpha-WP01");
    let config = env.home().join("claude-config");
    let codex_home = env.home().join("codex-home");
    let vars = [("CLAUDE_CONFIG_DIR", config.to_str().unwrap()), ("CODEX_HOME", codex_home.to_str().unwrap())];
    // In the homes the variables name: read. 10:30 WP01 is in progress, 12:10 it is waiting for review.
    let review =
        ClaudeMsg { ts: "2026-01-05T12:10:00.000Z", id: "msg_r", request: Some("req_r"), ..ClaudeMsg::default() };
    append(
        &claude_dir_in(&config, &cwd).join("s8.jsonl"),
        &[claude_line("s8", &cwd, "x", &ClaudeMsg::default()), claude_line("s8", &cwd, "x", &review)],
    );
    let thread = "0190aaaa-0000-7000-8000-0000000000c1";
    write_codex(
        &codex_path_in(&codex_home, "sessions/2026/01/05", thread),
        &[
            codex_meta(thread, &root, "001-alpha-WP02", r#""cli""#),
            codex_turn("2026-01-05T12:04:00.000Z", &root, "gpt-5-codex"),
            codex_count("2026-01-05T12:05:00.000Z", [1200, 900, 80, 30], [1200, 900, 80, 30]),
        ],
    );
    // In the default homes: not read while the variables point elsewhere.
    let ignored = ClaudeMsg { id: "msg_ignored", request: Some("req_ignored"), ..ClaudeMsg::default() };
    write_claude(&env, &cwd, "ignored.jsonl", &[claude_line("ignored", &cwd, "x", &ignored)]);
    let other = "0190aaaa-0000-7000-8000-0000000000c2";
    write_codex(
        &codex_path(&env, "sessions/2026/01/05", other),
        &[
            codex_meta(other, &root, "001-alpha-WP02", r#""cli""#),
            codex_count("2026-01-05T12:05:00.000Z", [5, 0, 5, 0], [5, 0, 5, 0]),
        ],
    );

    let codex = import_json_with(&env, &["--agent", "codex"], &vars);
    let keys: Vec<&String> = codex.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "result",
            "dry_run",
            "records",
            "events",
            "events_by_feature",
            "tokens",
            "agents",
            "unattributed",
            "not_imported",
            "skipped",
            "files_unchanged",
            "bytes_read",
            "recovered_events"
        ]
    );
    assert_eq!(codex["records"], 1, "{codex:#}");
    assert_eq!(codex["agents"].as_object().unwrap().keys().collect::<Vec<_>>(), ["codex"], "{codex:#}");
    assert_eq!(codex["agents"]["codex"]["files"], 1, "CODEX_HOME only: {codex:#}");
    assert_eq!(codex["tokens"]["input_tokens"], 300);

    let since = import_json_with(&env, &["--agent", "claude", "--since", "2026-01-05T12:00:00Z"], &vars);
    assert_eq!(since["agents"]["claude"]["files"], 1, "CLAUDE_CONFIG_DIR only: {since:#}");
    assert_eq!((since["records"].as_u64(), since["agents"].get("codex")), (Some(1), None), "{since:#}");
    assert_eq!(since["not_imported"]["before_since"], 1, "{since:#}");
    let claude = payload_is("source", "import:claude");
    let reviewed: Vec<Value> = events(&env, ALPHA).into_iter().filter(|e| claude(&e["payload"])).collect();
    assert_eq!(reviewed.len(), 1);
    assert_eq!(
        (reviewed[0]["payload"]["role"].as_str(), reviewed[0]["payload"]["attribution"].as_str()),
        (Some("reviewer"), Some("worktree .worktrees/001-alpha-WP01; WP01 for_review"))
    );

    // Without --since the earlier record is still there to import; nothing else is new.
    let rest = import_json_with(&env, &[], &vars);
    assert_eq!(rest["records"], 1, "{rest:#}");
    let events = events(&env, ALPHA);
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|e| e["payload"]["session_id"] != "ignored"));
    assert_eq!(sum(&events, "output_tokens", claude), 200);
}

#[test]
fn gemini_last_copy_per_message_and_planning_phase() {
    let env = project();
    let folder = gemini_project(&env, "project", &root(&env));
    write_gemini(
        &folder,
        "session-2026-01-05T13-00-aaaa1111.jsonl",
        &[
            gemini_meta("aaaa1111-0000-4000-8000-000000000001"),
            gemini_msg("m1", "2026-01-05T13:30:00.000Z", "gemini-2.5-pro", None),
            gemini_msg("m1", "2026-01-05T13:30:00.000Z", "gemini-2.5-pro", Some([15000, 600, 12000, 250, 0])),
            r#"{"$rewindTo":"m1"}"#.to_owned(),
            r#"{"$set":{"lastUpdated":"2026-01-05T13:31:00.000Z"}}"#.to_owned(),
            gemini_msg("m2", "2026-01-06T09:05:00.000Z", "gemini-2.5-pro", Some([1000, 100, 0, 0, 20])),
        ],
    );
    let report = import_json(&env);
    assert_eq!(report["records"], 2, "{report:#}");
    let alpha = events(&env, ALPHA);
    assert_eq!(alpha.len(), 1);
    let p = &alpha[0]["payload"];
    assert_eq!((p["wp_id"].as_str(), p["role"].as_str()), (Some("WP02"), Some("implementer")));
    assert_eq!(p["attribution"], "status log: WP02 in_progress, the only active work package");
    assert_eq!((p["input_tokens"].as_u64(), p["cache_read_tokens"].as_u64()), (Some(3000), Some(12000)));
    assert_eq!(
        (p["output_tokens"].as_u64(), p["reasoning_tokens"].as_u64()),
        (Some(850), Some(250)),
        "thoughts are output"
    );
    let beta = events(&env, BETA);
    assert_eq!(beta.len(), 1);
    let p = &beta[0]["payload"];
    assert_eq!((p["wp_id"].as_str(), p["role"].as_str()), (Some("N/A"), Some("specifier")));
    assert_eq!(p["input_tokens"], 1020, "tool-use prompt tokens count as input");
}

#[test]
fn planning_merging_and_the_unattributed_bucket() {
    let env = project();
    let root = root(&env);
    let msg = |ts, id| ClaudeMsg { ts, id, request: None, ..ClaudeMsg::default() };
    write_claude(
        &env,
        &root,
        "s2.jsonl",
        &[
            claude_line("s2", &root, "main", &msg("2026-01-05T08:40:00.000Z", "b1")),
            claude_line("s2", &root, "main", &msg("2026-01-05T09:30:00.000Z", "b2")),
            claude_line("s2", &root, "main", &msg("2026-01-05T16:30:00.000Z", "b3")),
            claude_line("s2", &root, "main", &msg("2026-01-07T10:00:00.000Z", "b4")),
            claude_line("s2", &root, "009-gone-WP01", &msg("2026-01-07T11:00:00.000Z", "b5")),
        ],
    );
    let run = import(&env, &[]);
    insta::assert_snapshot!("usage_import_text", run.render());
    let alpha = events(&env, ALPHA);
    let roles: Vec<(&str, &str)> = alpha
        .iter()
        .map(|e| (e["payload"]["role"].as_str().unwrap(), e["payload"]["attribution"].as_str().unwrap()))
        .collect();
    assert_eq!(
        roles,
        [
            ("specifier", "status log: the only feature in planning; planning: plan.md not written yet"),
            ("planner", "status log: the only feature in planning; planning: plan.md written, no lane change yet"),
            ("merger", "status log: the only feature being merged"),
        ]
    );
    let unattributed = events(&env, "unattributed");
    assert_eq!(unattributed.len(), 2);
    let reasons: Vec<&str> = unattributed.iter().map(|e| e["payload"]["attribution"].as_str().unwrap()).collect();
    assert_eq!(
        reasons,
        [
            "no feature was being specified, planned, implemented, reviewed or merged then",
            "branch 009-gone-WP01 names no feature of this project",
        ]
    );
    assert!(unattributed.iter().all(|e| e["payload"]["role"] == "unattributed" && e["aggregate_id"] == "unattributed"));
}

#[test]
fn reimport_adds_nothing_and_reads_only_what_grew() {
    let env = project();
    let cwd = worktree(&env, "001-alpha-WP01");
    let m1 = ClaudeMsg { output: 40, ..ClaudeMsg::default() };
    let path = write_claude(&env, &cwd, "s3.jsonl", &[claude_line("s3", &cwd, "x", &m1)]);
    let first = import_json(&env);
    assert_eq!((first["records"].as_u64(), first["events"].as_u64()), (Some(1), Some(1)));
    let before = std::fs::read_to_string(env.path("kitty-specs/001-alpha/execution.events.jsonl")).unwrap();

    let again = import_json(&env);
    assert_eq!((again["records"].as_u64(), again["events"].as_u64()), (Some(0), Some(0)), "{again:#}");
    assert_eq!(again["files_unchanged"], 1);
    assert_eq!(std::fs::read_to_string(env.path("kitty-specs/001-alpha/execution.events.jsonl")).unwrap(), before);

    // The transcript grows: a later streaming copy of msg_1 (more output) and a new message.
    let grown = ClaudeMsg { ts: "2026-01-05T10:30:09.000Z", output: 90, ..m1 };
    let m2 = ClaudeMsg {
        ts: "2026-01-05T10:45:00.000Z",
        id: "msg_2",
        request: Some("req_2"),
        output: 7,
        ..ClaudeMsg::default()
    };
    let size = std::fs::metadata(&path).unwrap().len();
    write_claude(&env, &cwd, "s3.jsonl", &[claude_line("s3", &cwd, "x", &grown), claude_line("s3", &cwd, "x", &m2)]);
    let third = import_json(&env);
    assert_eq!(third["records"], 2, "{third:#}");
    assert_eq!(
        third["bytes_read"].as_u64().unwrap(),
        std::fs::metadata(&path).unwrap().len() - size,
        "only the new lines"
    );
    let events = events(&env, ALPHA);
    assert_eq!(events.len(), 2);
    assert_eq!(sum(&events, "output_tokens", |_| true), 90 + 7, "the grown copy adds only its growth");
    assert_eq!(sum(&events, "input_tokens", |_| true), 10 + 10);
    assert_eq!(sum(&events, "cache_read_tokens", |_| true), 1000 + 1000);

    // A dry run reads but writes nothing.
    let m3 = ClaudeMsg { ts: "2026-01-05T10:50:00.000Z", id: "msg_3", request: Some("req_3"), ..ClaudeMsg::default() };
    write_claude(&env, &cwd, "s3.jsonl", &[claude_line("s3", &cwd, "x", &m3)]);
    let dry = import(&env, &["--dry-run"]);
    assert!(dry.stdout.starts_with("Would import 1 usage record into 1 event: 001-alpha (1)"), "{}", dry.render());
    assert_eq!(crate::usage_fixtures::events(&env, ALPHA).len(), 2);
    assert_eq!(import_json(&env)["records"], 1, "the dry run did not mark it as read");
}

#[test]
fn usage_reported_through_emit_is_not_imported_again() {
    let env = project();
    let cwd = worktree(&env, "001-alpha-WP01");
    // The agent reported its implementation of WP01 itself: 10 minutes ending 10:35.
    let emitted = env.run_with_env(
        &[
            "agent",
            "telemetry",
            "emit",
            "-f",
            ALPHA,
            "-r",
            "implementer",
            "--wp-id",
            "WP01",
            "--agent",
            "claude",
            "--model",
            "claude-sonnet-4.5",
            "--input-tokens",
            "5000",
            "--output-tokens",
            "700",
            "--duration-ms",
            "600000",
        ],
        &[("SPEC_KITTY_NOW", "2026-01-05T10:35:00Z")],
    );
    emitted.ok();
    let inside = ClaudeMsg { ts: "2026-01-05T10:30:00.000Z", ..ClaudeMsg::default() };
    let outside =
        ClaudeMsg { ts: "2026-01-05T11:00:00.000Z", id: "msg_2", request: Some("req_2"), ..ClaudeMsg::default() };
    write_claude(
        &env,
        &cwd,
        "s4.jsonl",
        &[claude_line("s4", &cwd, "x", &inside), claude_line("s4", &cwd, "x", &outside)],
    );
    let report = import_json(&env);
    assert_eq!(report["not_imported"]["reported_through_emit"], 1, "{report:#}");
    assert_eq!(report["records"], 1);
    let imported: Vec<Value> =
        events(&env, ALPHA).into_iter().filter(|e| e["payload"]["source"] == "import:claude").collect();
    assert_eq!(imported.len(), 1);
    assert_eq!(imported[0]["timestamp"], "2026-01-05T11:00:00+00:00");
    // The claimed record is remembered as read: a later import does not bring it back.
    assert_eq!(import_json(&env)["records"], 0);
}

#[test]
fn bad_input_is_skipped_and_counted() {
    let env = project();
    let cwd = worktree(&env, "001-alpha-WP01");
    let good = claude_line("s5", &cwd, "x", &ClaudeMsg::default());
    let dir = claude_dir(&env, &cwd);
    std::fs::create_dir_all(&dir).unwrap();
    let mut bytes = Vec::new();
    bytes.extend(b"{\"type\":\"assistant\",\"message\":{\"usage\":{\"input_tokens\":5\n"); // truncated
    bytes.extend(b"{\"type\":\"assistant\",\"usage\":\"\xff\xfe\"}\n"); // not UTF-8
    bytes.extend(b"{\"type\":\"brand-new-record\",\"usage\":{\"x\":1}}\n"); // unknown type: ignored
    bytes.extend(b"[1, 2, \"usage\"]\n"); // not an object
    bytes.extend(br#"{"type":"assistant","timestamp":"yesterday","message":{"id":"m9","model":"claude-sonnet-4-5","usage":{"input_tokens":1,"output_tokens":1}}}"#);
    bytes.push(b'\n');
    bytes.extend(br#"{"type":"assistant","timestamp":"2026-01-05T10:31:00Z","message":{"id":"m8","model":"<synthetic>","usage":{"input_tokens":0,"output_tokens":0}}}"#);
    bytes.push(b'\n');
    let huge =
        claude_line("s5", &cwd, "x", &ClaudeMsg { id: "msg_huge", request: Some("req_huge"), ..ClaudeMsg::default() });
    let huge = huge.replace("\"text\":\"…\"", &format!("\"text\":\"{}\"", "x".repeat(17 << 20)));
    bytes.extend(huge.as_bytes()); // over 16 MiB: skipped without being buffered
    bytes.push(b'\n');
    bytes.extend(good.as_bytes());
    bytes.push(b'\n');
    bytes.extend(&good.as_bytes()[..good.len() / 2]); // a line still being written
    std::fs::write(dir.join("s5.jsonl"), &bytes).unwrap();
    std::os::unix::fs::symlink(dir.join("deleted.jsonl.target"), dir.join("deleted.jsonl")).unwrap();
    std::fs::write(dir.join("empty.jsonl"), "").unwrap();
    let report = import_json(&env);
    assert_eq!(report["records"], 1, "{report:#}");
    let skipped = &report["skipped"];
    assert_eq!(skipped["malformed_lines"], 3, "{skipped:#}");
    assert_eq!(skipped["records_without_timestamp"], 1);
    assert_eq!(skipped["synthetic_records"], 1);
    assert_eq!(skipped["unreadable_files"], 1, "the vanished file");
    assert_eq!(skipped["lines_over_16_mib"], 1);
    // The torn tail is read once it is complete.
    std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("s5.jsonl"))
        .and_then(|mut f| std::io::Write::write_all(&mut f, &good.as_bytes()[good.len() / 2..]))
        .unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("s5.jsonl"))
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"\n"))
        .unwrap();
    let again = import_json(&env);
    assert_eq!(again["records"], 0, "{again:#}");
    assert_eq!(again["not_imported"]["already_imported"], 1, "the completed line was a copy of a counted one");
}

#[test]
fn cost_reports_after_an_import() {
    let env = project();
    let root = root(&env);
    let cwd = worktree(&env, "001-alpha-WP01");
    write_claude(
        &env,
        &cwd,
        "s6.jsonl",
        &[claude_line(
            "s6",
            &cwd,
            "001-alpha-WP01",
            &ClaudeMsg {
                output: 2000,
                input: 3000,
                cache_read: 40000,
                cache_5m: 2000,
                cache_1h: 1000,
                ..ClaudeMsg::default()
            },
        )],
    );
    write_claude(
        &env,
        &root,
        "s7.jsonl",
        &[
            claude_line(
                "s7",
                &root,
                "main",
                &ClaudeMsg {
                    ts: "2026-01-05T08:40:00.000Z",
                    id: "p1",
                    model: "claude-opus-4-6",
                    input: 2000,
                    output: 900,
                    ..ClaudeMsg::default()
                },
            ),
            claude_line(
                "s7",
                &root,
                "main",
                &ClaudeMsg {
                    ts: "2026-01-05T16:30:00.000Z",
                    id: "p2",
                    input: 400,
                    output: 100,
                    ..ClaudeMsg::default()
                },
            ),
            claude_line(
                "s7",
                &root,
                "main",
                &ClaudeMsg { ts: "2026-01-07T10:00:00.000Z", id: "p3", input: 100, output: 10, ..ClaudeMsg::default() },
            ),
        ],
    );
    let thread = "0190aaaa-0000-7000-8000-00000000000a";
    write_codex(
        &codex_path(&env, "sessions/2026/01/05", thread),
        &[
            codex_meta(thread, &root, "001-alpha-WP02", r#""cli""#),
            codex_turn("2026-01-05T12:04:00.000Z", &root, "gpt-5-codex"),
            codex_count("2026-01-05T12:05:00.000Z", [12000, 9000, 800, 300], [12000, 9000, 800, 300]),
        ],
    );
    import(&env, &[]);
    let cost = |extra: &[&str]| {
        let mut args = vec!["agent", "telemetry", "cost"];
        args.extend_from_slice(extra);
        env.run(&args).ok().render()
    };
    insta::assert_snapshot!("usage_cost_by_role", cost(&["--group-by", "role"]));
    insta::assert_snapshot!("usage_cost_by_wp", cost(&["-g", "wp"]));
    insta::assert_snapshot!("usage_cost_by_feature_role_json", cost(&["-g", "feature,role", "--json"]));
}
