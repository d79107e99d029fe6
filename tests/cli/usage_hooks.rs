//! `agent telemetry hook …`: the agents' hook payloads → events (silent, always exit 0), and
//! `hook install` / `hook uninstall` merging into existing settings files.

use crate::support::{Run, TestEnv};
use crate::usage_fixtures::*;
use std::io::Write;
use std::process::Stdio;

/// Runs a hook command from outside the project (agents run hooks from wherever they are).
fn hook(env: &TestEnv, args: &[&str], stdin: &str) -> Run {
    let mut cmd = env.command();
    cmd.current_dir(env.home()).args(["agent", "telemetry", "hook"]).args(args);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn spec-kitty");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    Run {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        code: output.status.code().unwrap_or(-1),
    }
}

#[track_caller]
fn silent(run: Run) {
    assert_eq!((run.code, run.stdout.as_str(), run.stderr.as_str()), (0, "", ""), "{}", run.render());
}

#[test]
fn claude_stop_hook_imports_the_transcript_named_on_stdin() {
    let env = project();
    let cwd = worktree(&env, "001-alpha-WP01");
    std::fs::create_dir_all(&cwd).unwrap();
    let transcript =
        write_claude(&env, &cwd, "s1.jsonl", &[claude_line("s1", &cwd, "001-alpha-WP01", &ClaudeMsg::default())]);
    let payload = serde_json::json!({
        "session_id": "s1",
        "transcript_path": transcript,
        "cwd": cwd,
        "permission_mode": "default",
        "hook_event_name": "Stop",
        "stop_hook_active": false,
    })
    .to_string();
    silent(hook(&env, &["claude"], &payload));
    let events = events(&env, ALPHA);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["payload"]["attribution"], "worktree .worktrees/001-alpha-WP01; WP01 in_progress");
    assert_eq!(events[0]["payload"]["output_tokens"], 100);

    // Nothing new: nothing written. Then the transcript grows and the next Stop imports only that.
    silent(hook(&env, &["claude"], &payload));
    assert_eq!(crate::usage_fixtures::events(&env, ALPHA).len(), 1);
    let next = ClaudeMsg {
        ts: "2026-01-05T11:05:00.000Z",
        id: "msg_2",
        request: Some("req_2"),
        output: 5,
        ..ClaudeMsg::default()
    };
    write_claude(&env, &cwd, "s1.jsonl", &[claude_line("s1", &cwd, "001-alpha-WP01", &next)]);
    silent(hook(&env, &["claude"], &payload));
    let events = crate::usage_fixtures::events(&env, ALPHA);
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["payload"]["output_tokens"], 5);
    // A full import afterwards finds everything already there.
    assert_eq!(import_json(&env)["records"], 0);
}

#[test]
fn subagent_stop_reads_the_parent_first_and_session_end_is_harmless() {
    let env = project();
    let cwd = worktree(&env, "001-alpha-WP01");
    std::fs::create_dir_all(&cwd).unwrap();
    let parent = write_claude(&env, &cwd, "s2.jsonl", &[claude_line("s2", &cwd, "b", &ClaudeMsg::default())]);
    let replay = ClaudeMsg { request: Some("req_replayed"), sidechain: true, ..ClaudeMsg::default() };
    let own = ClaudeMsg {
        ts: "2026-01-05T10:40:00.000Z",
        id: "msg_9",
        request: Some("req_9"),
        sidechain: true,
        output: 9,
        ..ClaudeMsg::default()
    };
    let agent = write_claude(
        &env,
        &cwd,
        "s2/subagents/agent-x.jsonl",
        &[claude_line("s2", &cwd, "b", &replay), claude_line("s2", &cwd, "b", &own)],
    );
    let payload = serde_json::json!({
        "session_id": "s2", "transcript_path": parent, "cwd": cwd, "hook_event_name": "SubagentStop",
        "agent_id": "x", "agent_type": "general-purpose", "agent_transcript_path": agent,
    });
    silent(hook(&env, &["claude"], &payload.to_string()));
    let events = events(&env, ALPHA);
    assert_eq!(sum(&events, "output_tokens", |_| true), 100 + 9, "the replay is not counted");
    let end = serde_json::json!({"session_id": "s2", "transcript_path": parent, "cwd": cwd, "hook_event_name": "SessionEnd", "reason": "prompt_input_exit"});
    silent(hook(&env, &["claude"], &end.to_string()));
    assert_eq!(crate::usage_fixtures::events(&env, ALPHA).len(), events.len());
}

#[test]
fn hooks_never_fail_or_speak() {
    let env = project();
    silent(hook(&env, &["claude"], "not json at all"));
    silent(hook(&env, &["claude"], ""));
    silent(hook(&env, &["claude"], r#"{"cwd": "/nonexistent/dir", "transcript_path": "/nonexistent/t.jsonl"}"#));
    let outside = env.home().to_string_lossy().into_owned();
    silent(hook(
        &env,
        &["claude"],
        &serde_json::json!({"cwd": outside, "transcript_path": "/nonexistent/t.jsonl"}).to_string(),
    ));
    silent(hook(&env, &["codex"], "{}"));
    let run = hook(&env, &["gemini"], "{");
    assert_eq!((run.code, run.stdout.as_str()), (0, "{}\n"), "Gemini reads a JSON object from a hook's stdout");
}

#[test]
fn codex_notify_finds_the_rollout_by_thread_id() {
    let env = project();
    let root = root(&env);
    let thread = "0190aaaa-0000-7000-8000-0000000000b1";
    write_codex(
        &codex_path(&env, "sessions/2026/01/05", thread),
        &[
            codex_meta(thread, &root, "001-alpha-WP02", r#""cli""#),
            codex_turn("2026-01-05T12:04:00.000Z", &root, "gpt-5-codex"),
            codex_count("2026-01-05T12:05:00.000Z", [1200, 900, 80, 30], [1200, 900, 80, 30]),
        ],
    );
    let notify = serde_json::json!({
        "type": "agent-turn-complete", "thread-id": thread, "turn-id": "t1", "cwd": root,
        "input-messages": ["go"], "last-assistant-message": "done",
    });
    silent(hook(&env, &["codex", &notify.to_string()], ""));
    let events = events(&env, ALPHA);
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0]["payload"]["wp_id"].as_str(), events[0]["payload"]["input_tokens"].as_u64()),
        (Some("WP02"), Some(300))
    );

    // Codex's Stop hook passes the rollout's path on stdin: the next turn is imported from it.
    let rollout = codex_path(&env, "sessions/2026/01/05", thread);
    write_codex(&rollout, &[codex_count("2026-01-05T12:09:00.000Z", [1700, 1300, 100, 30], [500, 400, 20, 0])]);
    let stop = serde_json::json!({
        "session_id": thread, "transcript_path": rollout, "cwd": root, "hook_event_name": "Stop", "model": "gpt-5-codex",
    });
    silent(hook(&env, &["codex"], &stop.to_string()));
    let events = crate::usage_fixtures::events(&env, ALPHA);
    assert_eq!(sum(&events, "input_tokens", |_| true), 300 + 100, "{events:#?}");
}

#[test]
fn gemini_after_agent_hook_imports_the_chat() {
    let env = project();
    let folder = gemini_project(&env, "project", &root(&env));
    let chat = write_gemini(
        &folder,
        "session-2026-01-05T13-00-aaaa1111.jsonl",
        &[
            gemini_meta("aaaa1111"),
            gemini_msg("m1", "2026-01-05T13:30:00.000Z", "gemini-2.5-pro", Some([100, 10, 0, 0, 0])),
        ],
    );
    let payload = serde_json::json!({"session_id": "aaaa1111", "transcript_path": chat, "cwd": root(&env), "hook_event_name": "AfterAgent", "timestamp": "2026-01-05T13:30:01Z"});
    let run = hook(&env, &["gemini"], &payload.to_string());
    assert_eq!((run.code, run.stdout.as_str(), run.stderr.as_str()), (0, "{}\n", ""));
    assert_eq!(events(&env, ALPHA).len(), 1);
}

#[test]
fn hook_install_merges_into_existing_settings_and_uninstall_removes_only_ours() {
    let env = TestEnv::new();
    let original = r#"{
  "permissions": {"allow": ["Bash(cargo test:*)"]},
  "hooks": {
    "Stop": [{"hooks": [{"type": "command", "command": "/opt/importer/ingest --agent claude", "timeout": 30}]}],
    "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "./check.sh"}]}]
  },
  "model": "sonnet"
}
"#;
    env.write(".claude/settings.json", original);
    env.write(".gemini/settings.json", r#"{"general": {"sessionRetention": {"maxAge": "90d"}}}"#);
    let run = env.run(&["agent", "telemetry", "hook", "install"]).ok();
    insta::assert_snapshot!("usage_hook_install", run.render());
    insta::assert_snapshot!("usage_hook_install_claude_settings", env.read(".claude/settings.json"));
    insta::assert_snapshot!("usage_hook_install_codex_hooks", env.read(".codex/hooks.json"));
    insta::assert_snapshot!("usage_hook_install_gemini_settings", env.read(".gemini/settings.json"));

    let again = env.run(&["agent", "telemetry", "hook", "install", "--agent", "claude"]).ok();
    assert_eq!(again.stdout, "✓ claude: hook already in .claude/settings.json\n");

    let run = env.run(&["agent", "telemetry", "hook", "uninstall", "--json"]).ok();
    let result: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(result["hooks"][0]["events"], serde_json::json!(["Stop", "SubagentStop", "SessionEnd"]));
    let back: serde_json::Value = serde_json::from_str(&env.read(".claude/settings.json")).unwrap();
    assert_eq!(back, serde_json::from_str::<serde_json::Value>(original).unwrap(), "only our hooks were removed");
    let gemini: serde_json::Value = serde_json::from_str(&env.read(".gemini/settings.json")).unwrap();
    assert_eq!(gemini, serde_json::json!({"general": {"sessionRetention": {"maxAge": "90d"}}}));
    assert_eq!(env.read(".codex/hooks.json").trim(), "{}");

    env.write(".claude/settings.json", "{\"hooks\": ");
    let broken = env.run(&["agent", "telemetry", "hook", "install", "--agent", "claude"]).expect_code(1);
    assert!(broken.stderr.contains("is not valid JSON settings"), "{}", broken.render());
    assert_eq!(env.read(".claude/settings.json"), "{\"hooks\": ", "left untouched");
}
