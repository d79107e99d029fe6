//! `spec-kitty orchestrate` end to end: the real binary driving fake agents — small shell scripts written
//! into the test's temporary directory that read the prompt on stdin and print the output shapes of
//! reference/agent-outputs.md (claude, codex, gemini), configured through `agents.settings.<id>.command`.
//!
//! A fake agent's behaviour per invocation comes from `mode-<agent>-<role>-<WP>` files (one mode per
//! attempt, the last repeating): ok, slow, sleep (runs past its timeout), fail, auth, garbage, reject,
//! commit. Every start and end is journaled with a nanosecond clock, so tests can measure overlap.

use crate::support::{Run, TestEnv, json_lines};
use crate::sync_queue::queued;
use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const FEATURE: &str = "001-demo";

const FAKE_AGENT: &str = r#"#!/bin/sh
# A fake coding agent. $1 = output shape (claude|codex|gemini|text), $2 = agent id.
shape="$1"; agent="$2"
dir="@AGENTS@"
wp="$SPEC_KITTY_WP_ID"; role="$SPEC_KITTY_ROLE"
prompt=$(cat)
key="$agent-$role-$wp"
n=$(( $(cat "$dir/count-$key" 2>/dev/null || echo 0) + 1 ))
echo "$n" > "$dir/count-$key"
printf '%s\n' "$prompt" > "$dir/prompt-$key-$n.txt"
echo "start $(date +%s%N) $agent $role $wp" >> "$dir/journal"
finish() { echo "end $(date +%s%N) $agent $role $wp" >> "$dir/journal"; }
modes="$dir/mode-$key"; [ -f "$modes" ] || modes="$dir/mode-$agent-$role"; [ -f "$modes" ] || modes="$dir/mode-$agent"
mode=ok
if [ -f "$modes" ]; then mode=$(sed -n "${n}p" "$modes"); [ -n "$mode" ] || mode=$(tail -n 1 "$modes"); fi
case "$mode" in
  slow) sleep 0.3 ;;
  sleep) sleep 30 ;;
  hold) i=0; while [ ! -f "$dir/release-$wp" ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done ;;
  fail) echo "boom: the build broke" >&2; finish; exit 3 ;;
  auth) echo "Error: Invalid API key · 401 Unauthorized" >&2; finish; exit 1 ;;
  garbage) echo "Segmentation fault? {not json"; finish; exit 0 ;;
  commit) echo "$wp" > "$wp.txt"; git add "$wp.txt" && git commit --quiet -m "$wp work" ;;
esac
if [ "$role" = review ]; then
  if [ "$mode" = reject ]; then text="REJECTED - missing tests for $wp"; else text="APPROVED - looks good"; fi
else
  text="Implemented $wp"
  # The implementer checks off its subtask T0<nn> in tasks.md, as a real agent does with mark-status.
  [ -f "$dir/check-subtasks" ] && sed -i "s/^- \[ \] T0${wp#WP} /- [x] T0${wp#WP} /" "@ROOT@/kitty-specs/001-demo/tasks.md"
fi
case "$shape" in
  claude)
    if [ "$role" = review ]; then set -- 100 20 500 30 0.03; else set -- 1000 200 5000 300 0.25; fi
    printf '{"type":"result","subtype":"success","is_error":false,"duration_ms":12,"num_turns":3,"result":"%s","session_id":"s","total_cost_usd":%s,"usage":{"input_tokens":%s,"output_tokens":%s,"cache_read_input_tokens":%s,"cache_creation_input_tokens":%s},"modelUsage":{"claude-haiku-4-5":{"inputTokens":40,"outputTokens":4},"claude-sonnet-4-5[1m]":{"inputTokens":%s,"outputTokens":%s,"cacheReadInputTokens":%s}}}\n' "$text" "$5" "$1" "$2" "$3" "$4" "$1" "$2" "$3" ;;
  codex)
    printf '{"type":"thread.started","thread_id":"t"}\n{"type":"turn.started"}\n'
    if [ "$role" = review ]; then
      printf '{"type":"turn.completed","usage":{"input_tokens":300,"cached_input_tokens":100,"output_tokens":10}}\n{"type":"turn.started"}\n'
      printf '{"type":"item.completed","item":{"type":"agent_message","text":"%s"}}\n' "$text"
      printf '{"type":"turn.completed","usage":{"input_tokens":200,"cached_input_tokens":50,"output_tokens":5}}\n'
    else
      printf '{"type":"item.completed","item":{"type":"agent_message","text":"%s"}}\n' "$text"
      printf '{"type":"turn.completed","usage":{"input_tokens":1200,"cached_input_tokens":800,"output_tokens":90}}\n'
    fi ;;
  gemini)
    printf '{"session_id":"s","response":"%s","stats":{"models":{"gemini-2.5-pro":{"tokens":{"prompt":2000,"candidates":100,"total":2120,"cached":500,"thoughts":20,"tool":0}}}}}\n' "$text" ;;
  *) printf '%s\n' "$text" ;;
esac
finish
"#;

/// A project with one feature whose work packages have the given dependencies, and the fake agent.
struct Orchestra {
    env: TestEnv,
    agents: PathBuf,
}

/// One journal line: start or end of an invocation.
#[derive(Debug, Clone)]
struct Mark {
    start: bool,
    at_ns: u128,
    agent: String,
    role: String,
    wp: String,
}

impl Orchestra {
    fn new(wps: &[(&str, &[&str])]) -> Orchestra {
        Self::with_env(TestEnv::new(), wps)
    }

    fn with_env(env: TestEnv, wps: &[(&str, &[&str])]) -> Orchestra {
        env.run(&["init"]).ok();
        env.run(&["agent", "feature", "create-feature", "demo"]).ok();
        let mut tasks = String::from("# Work Packages: Demo\n");
        for (id, deps) in wps {
            let n = &id[2..];
            let list = deps.join(", ");
            env.write(
                &format!("kitty-specs/{FEATURE}/tasks/{id}-part-{n}.md"),
                format!(
                    "---\nwork_package_id: {id}\ntitle: Part {n}\nlane: \"planned\"\ndependencies: [{list}]\nagent: ''\nshell_pid: ''\n---\n\n# Part {n}\n\nBuild part {n}.\n\n## Activity Log\n\n- 2026-02-16T10:00:00Z – system – lane=planned – Prompt generated\n"
                ),
            );
            let deps_text =
                if deps.is_empty() { "- None.".to_owned() } else { format!("- Depends on {}.", deps.join(", ")) };
            tasks.push_str(&format!(
                "\n## Work Package {id}: Part {n} (Priority: P1)\n\n### Included Subtasks\n- [ ] T0{n} Build part {n}\n\n### Dependencies\n{deps_text}\n"
            ));
        }
        env.write(&format!("kitty-specs/{FEATURE}/tasks.md"), tasks);
        let agents = env.root().parent().unwrap().join("agents");
        std::fs::create_dir_all(&agents).unwrap();
        let script = FAKE_AGENT
            .replace("@AGENTS@", &agents.display().to_string())
            .replace("@ROOT@", &env.root().display().to_string());
        std::fs::write(agents.join("agent.sh"), script).unwrap();
        Orchestra { env, agents }
    }

    /// Appends the orchestration keys to config.yaml; `@AGENT@` stands for the fake agent script.
    fn config(&self, yaml: &str) -> &Self {
        let path = self.env.path(".kittify/config.yaml");
        let mut text = std::fs::read_to_string(&path).unwrap_or_default();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&yaml.replace("@AGENT@", &self.agents.join("agent.sh").display().to_string()));
        std::fs::write(path, text).unwrap();
        self
    }

    /// The modes of successive invocations of `agent` in `role` for `wp` (the last one repeats).
    fn mode(&self, agent: &str, role: &str, wp: &str, modes: &[&str]) -> &Self {
        std::fs::write(self.agents.join(format!("mode-{agent}-{role}-{wp}")), modes.join("\n") + "\n").unwrap();
        self
    }

    fn run(&self, args: &[&str]) -> Run {
        self.env.run(args)
    }

    fn journal(&self) -> Vec<Mark> {
        let text = std::fs::read_to_string(self.agents.join("journal")).unwrap_or_default();
        text.lines()
            .map(|line| {
                let w: Vec<&str> = line.split_whitespace().collect();
                Mark {
                    start: w[0] == "start",
                    at_ns: w[1].parse().unwrap(),
                    agent: w[2].into(),
                    role: w[3].into(),
                    wp: w[4].into(),
                }
            })
            .collect()
    }

    fn starts(&self, agent: &str, role: &str, wp: &str) -> usize {
        self.journal().iter().filter(|m| m.start && m.agent == agent && m.role == role && m.wp == wp).count()
    }

    fn prompt(&self, agent: &str, role: &str, wp: &str, attempt: u32) -> String {
        std::fs::read_to_string(self.agents.join(format!("prompt-{agent}-{role}-{wp}-{attempt}.txt"))).unwrap()
    }

    /// The payloads of the feature's ExecutionEvents written by agents (implementer and reviewer).
    fn executions(&self) -> Vec<Value> {
        let text = self.env.read(&format!("kitty-specs/{FEATURE}/execution.events.jsonl"));
        json_lines(&text)
            .into_iter()
            .map(|e| e["payload"].clone())
            .filter(|p| matches!(p["role"].as_str(), Some("implementer" | "reviewer")))
            .collect()
    }

    fn executions_of(&self, wp: &str) -> Vec<Value> {
        self.executions().into_iter().filter(|p| p["wp_id"] == wp).collect()
    }

    fn lane(&self, wp: &str) -> String {
        let dir = self.env.path(&format!("kitty-specs/{FEATURE}/tasks"));
        let file = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().starts_with(wp))
            .unwrap();
        let text = std::fs::read_to_string(file.path()).unwrap();
        text.lines().find_map(|l| l.strip_prefix("lane: ")).unwrap().trim_matches('"').to_owned()
    }

    fn state(&self) -> Value {
        serde_json::from_str(&self.env.read(".kittify/orchestration-state.json")).unwrap()
    }
}

/// Agents claude (implements) and codex (reviews), `max_concurrency: 1`, fast failure settings.
const TWO_AGENTS: &str = "agents:
  available: [claude, codex]
  selection:
    strategy: preferred
    preferred_implementer: claude
    preferred_reviewer: codex
  settings:
    claude:
      command: [sh, \"@AGENT@\", claude, claude]
      timeout_seconds: 20
    codex:
      command: [sh, \"@AGENT@\", codex, codex]
      model: gpt-5-codex
orchestrator:
  max_concurrency: 1
  max_retries: 1
  grace_seconds: 0.2
  retry_delay_seconds: 0
";

const SEVEN: &[(&str, &[&str])] = &[
    ("WP01", &[]),
    ("WP02", &["WP01"]),
    ("WP03", &["WP01"]),
    ("WP04", &["WP02", "WP03"]),
    ("WP05", &["WP01"]),
    ("WP06", &["WP04", "WP05"]),
    ("WP07", &["WP06"]),
];

/// `WP01 planned→claimed by claude: Automated: start implementation` (forced moves say so).
fn status_line(event: &Value) -> String {
    let mut line = format!(
        "{} {}→{} by {}{}: {}",
        event["wp_id"].as_str().unwrap(),
        event["from_lane"].as_str().unwrap(),
        event["to_lane"].as_str().unwrap(),
        event["actor"].as_str().unwrap(),
        if event["force"] == true { " (forced)" } else { "" },
        event["reason"].as_str().unwrap_or_default(),
    );
    if let Some(reference) = event["review_ref"].as_str() {
        line.push_str(&format!(" [review_ref {}]", reference.rsplit('/').next().unwrap()));
    }
    if let Some(reference) = event["evidence"]["review"]["reference"].as_str() {
        line.push_str(&format!(
            " [approved by {}: {reference}]",
            event["evidence"]["review"]["reviewer"].as_str().unwrap()
        ));
    }
    line
}

/// One queued event as `Type key=value …` (payload values in upstream's key order).
fn queued_line(event: &Value) -> String {
    let payload = event["payload"].as_object().unwrap();
    let fields: Vec<String> = payload
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "feature_slug" | "policy_metadata"))
        .map(|(k, v)| format!("{k}={}", v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
        .collect();
    format!("{} {}", event["event_type"].as_str().unwrap(), fields.join(" "))
}

#[test]
fn seven_work_packages_run_to_completion_with_the_agents_usage() {
    let o = Orchestra::new(SEVEN);
    o.config(TWO_AGENTS);
    std::fs::write(o.agents.join("check-subtasks"), "").unwrap();
    // WP07's implementer leaves a second subtask unchecked: its moves to for_review and done are forced.
    let tasks = o.env.read(&format!("kitty-specs/{FEATURE}/tasks.md"));
    o.env.write(
        &format!("kitty-specs/{FEATURE}/tasks.md"),
        tasks.replace("- [ ] T007 Build part 07\n", "- [ ] T007 Build part 07\n- [ ] T099 Write the docs\n"),
    );
    let before = queued(&o.env).len();

    let run = o.run(&["orchestrate", "--feature", FEATURE, "--json"]).ok();
    insta::assert_snapshot!("orchestrate_seven_summary_json", run.stdout);
    assert!(run.stderr.contains("WP04 implementation started (claude)\n"), "{}", run.stderr);
    for (wp, _) in SEVEN {
        assert_eq!(o.lane(wp), "done", "{wp}");
    }

    let status = json_lines(&o.env.read(&format!("kitty-specs/{FEATURE}/status.events.jsonl")));
    let lines: Vec<String> = status.iter().map(status_line).collect();
    insta::assert_snapshot!("orchestrate_seven_status_events", lines.join("\n"));
    let snapshot: Value = serde_json::from_str(&o.env.read(&format!("kitty-specs/{FEATURE}/status.json"))).unwrap();
    assert!(snapshot["work_packages"].as_object().unwrap().values().all(|w| w["lane"] == "done"), "{snapshot}");

    let events: Vec<String> = queued(&o.env)[before..].iter().map(queued_line).collect();
    insta::assert_snapshot!("orchestrate_seven_queued_events", events.join("\n"));

    // One ExecutionEvent per invocation, with what the fake agent printed.
    let executions = o.executions();
    assert_eq!(executions.len(), 14);
    for payload in &executions {
        let wp = payload["wp_id"].as_str().unwrap();
        assert_eq!(
            (payload["success"].clone(), payload["exit_code"].clone(), payload["error"].clone()),
            (true.into(), 0.into(), Value::Null),
            "{wp}"
        );
        assert!(payload["duration_ms"].as_u64().is_some());
        match payload["role"].as_str().unwrap() {
            "implementer" => {
                assert_eq!(payload["agent"], "claude");
                assert_eq!(payload["model"], "claude-sonnet-4-5", "modelUsage key, context suffix dropped");
                let usage = [
                    &payload["input_tokens"],
                    &payload["output_tokens"],
                    &payload["cache_read_tokens"],
                    &payload["cache_write_tokens"],
                ];
                assert_eq!(usage, [1000, 200, 5000, 300]);
                assert_eq!(payload["cost_usd"], 0.25);
            }
            _ => {
                assert_eq!(payload["agent"], "codex");
                assert_eq!(payload["model"], "gpt-5-codex", "from agents.settings.codex.model");
                // Two turns: 300 + 200 input of which 100 + 50 cached; stored without the cache.
                let usage = [&payload["input_tokens"], &payload["output_tokens"], &payload["cache_read_tokens"]];
                assert_eq!(usage, [350, 15, 150]);
                assert_eq!(payload["cost_usd"], Value::Null, "codex reports no cost: the cost report estimates it");
            }
        }
    }

    let cost = o.run(&["agent", "telemetry", "cost", "--group-by", "role", "--json"]).ok();
    let rows: Vec<Value> = serde_json::from_str(&cost.stdout).unwrap();
    let row = |role: &str| rows.iter().find(|r| r["group_key"] == role).unwrap().clone();
    assert_eq!(
        (row("implementer")["event_count"].clone(), row("implementer")["total_cost_usd"].clone()),
        (7.into(), 1.75.into())
    );
    let reviewer = row("reviewer");
    assert_eq!((reviewer["event_count"].clone(), reviewer["total_input_tokens"].clone()), (7.into(), 2450.into()));
    assert!(reviewer["estimated_cost_usd"].as_f64().unwrap() > 0.0, "priced from the table: {reviewer}");
    assert_eq!(reviewer["unpriced_event_count"], 0);

    // The prompts: the WP prompt file to implement; a review prompt asking for a verdict line.
    assert!(o.prompt("claude", "implementation", "WP03", 1).starts_with("---\nwork_package_id: WP03\n"));
    let review = o.prompt("codex", "review", "WP03", 1);
    assert!(review.starts_with("# Review of work package WP03 – Part 03\n"), "{review}");
    assert!(review.contains("\nAPPROVED - <one-line summary>\n") && review.contains("work_package_id: WP03"));
    let log = o.env.read(".kittify/logs/WP03-review-20260216-111236.log");
    assert!(log.contains("# exit code: 0 (") && log.contains("APPROVED - looks good"), "{log}");

    insta::assert_snapshot!("orchestrate_seven_status_text", o.run(&["orchestrate", "--status"]).ok().stdout);
    let state = o.state();
    assert_eq!(
        (state["status"].clone(), state["wps_completed"].clone(), state["parallel_peak"].clone()),
        ("completed".into(), 7.into(), 1.into())
    );
}

/// The largest number of invocations running at the same time, from the journal.
fn max_overlap(marks: &[Mark], filter: impl Fn(&Mark) -> bool) -> usize {
    let mut points: Vec<(u128, i32)> =
        marks.iter().filter(|m| filter(m)).map(|m| (m.at_ns, if m.start { 1 } else { -1 })).collect();
    points.sort(); // ends sort before starts at the same instant (-1 < 1)
    let (mut current, mut most) = (0i32, 0i32);
    for (_, delta) in points {
        current += delta;
        most = most.max(current);
    }
    most as usize
}

#[test]
fn independent_work_packages_run_in_parallel_up_to_the_limits() {
    let wps: &[(&str, &[&str])] = &[("WP01", &[]), ("WP02", &[]), ("WP03", &[]), ("WP04", &[]), ("WP05", &[])];
    let o = Orchestra::new(wps);
    o.config(
        &TWO_AGENTS
            .replace("max_concurrency: 1", "max_concurrency: 3")
            .replace("timeout_seconds: 20", "timeout_seconds: 20\n      max_concurrent: 2"),
    );
    std::fs::write(o.agents.join("mode-claude"), "slow\n").unwrap();
    std::fs::write(o.agents.join("mode-codex"), "slow\n").unwrap();
    o.run(&["orchestrate", "--feature", FEATURE]).ok();

    let journal = o.journal();
    assert_eq!(journal.len(), 20, "5 implementations and 5 reviews, each a start and an end");
    assert_eq!(max_overlap(&journal, |_| true), 3, "up to and never beyond max_concurrency");
    assert!(max_overlap(&journal, |m| m.agent == "claude") <= 2, "claude's own limit");
    assert_eq!(o.state()["parallel_peak"], 3);
}

const THREE_AGENTS: &str = "agents:
  available: [claude, codex, gemini]
  selection:
    preferred_implementer: claude
    preferred_reviewer: codex
  settings:
    claude:
      command: [sh, \"@AGENT@\", claude, claude]
      timeout_seconds: 0.3
    codex:
      command: [sh, \"@AGENT@\", codex, codex]
    gemini:
      command: [sh, \"@AGENT@\", gemini, gemini]
orchestrator:
  max_concurrency: 2
  max_retries: 1
  max_reworks: 2
  grace_seconds: 0.1
  retry_delay_seconds: 0
";

#[test]
fn failures_fall_back_rework_and_block_dependents() {
    let wps: &[(&str, &[&str])] = &[
        ("WP01", &[]),
        ("WP02", &[]),
        ("WP03", &[]),
        ("WP04", &[]),
        ("WP05", &[]),
        ("WP06", &["WP05"]),
        ("WP07", &["WP06"]),
    ];
    let o = Orchestra::new(wps);
    o.config(THREE_AGENTS);
    o.mode("claude", "implementation", "WP01", &["sleep"]); // timeout → codex takes over
    o.mode("claude", "implementation", "WP02", &["fail"]); // exit 3 → codex takes over
    o.mode("claude", "implementation", "WP03", &["garbage"]); // no usage, but a clean exit
    o.mode("codex", "review", "WP03", &["garbage"]); // no verdict → gemini reviews
    o.mode("codex", "review", "WP04", &["reject", "ok"]); // rework, then approval
    o.mode("claude", "implementation", "WP05", &["auth"]); // not retried: WP05 fails, WP06/WP07 blocked
    let before = queued(&o.env).len();

    let run = o.run(&["orchestrate", "--feature", FEATURE]).expect_code(1);
    assert!(
        run.stdout.contains("✗ Orchestration of 001-demo failed: 4 of 7 work packages done, 1 failed, 2 blocked.\n"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains(
        "  ✗ WP05 failed: implementation by claude failed to authenticate (not retried): Error: Invalid API key · 401 Unauthorized\n"
    ));
    assert!(
        run.stdout.contains("  ⊘ WP06 blocked by failed dependency WP05\n  ⊘ WP07 blocked by failed dependency WP06\n")
    );
    assert!(
        run.stderr.contains("error: the run failed: 1 work package(s) failed, 2 blocked\nhint: see the agent logs"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("WP01 implementation failed (claude): timed out after 0.3s; falling back to codex\n"),
        "{}",
        run.stdout
    );

    // Timeout: terminated, exit 124, then the fallback implemented it.
    let wp01 = o.executions_of("WP01");
    assert_eq!(
        (wp01[0]["agent"].clone(), wp01[0]["exit_code"].clone(), wp01[0]["success"].clone()),
        ("claude".into(), 124.into(), false.into())
    );
    assert_eq!(wp01[0]["error"], "timed out after 0.3s");
    assert_eq!(
        (wp01[1]["agent"].clone(), wp01[1]["role"].clone(), wp01[1]["success"].clone()),
        ("codex".into(), "implementer".into(), true.into())
    );
    assert_eq!(wp01[1]["input_tokens"], 400, "codex input without its 800 cached tokens");
    assert!(
        !o.journal().iter().any(|m| !m.start && m.wp == "WP01" && m.agent == "claude" && m.role == "implementation"),
        "the sleeping agent was killed"
    );
    // Non-zero exit.
    let wp02 = o.executions_of("WP02");
    assert_eq!(
        (wp02[0]["exit_code"].clone(), wp02[0]["error"].clone()),
        (3.into(), "exited with code 3: boom: the build broke".into())
    );
    assert_eq!(wp02[1]["agent"], "codex");
    // Malformed output: no usage; a review without a verdict fails over to the next reviewer.
    let wp03 = o.executions_of("WP03");
    assert_eq!(
        (wp03[0]["success"].clone(), wp03[0]["input_tokens"].clone(), wp03[0]["cost_usd"].clone()),
        (true.into(), Value::Null, Value::Null)
    );
    assert_eq!((wp03[1]["agent"].clone(), wp03[1]["success"].clone()), ("codex".into(), false.into()));
    assert_eq!(wp03[1]["error"], "the reviewer's output is not codex JSON, so it has no verdict");
    assert_eq!(
        (wp03[2]["agent"].clone(), wp03[2]["model"].clone(), wp03[2]["input_tokens"].clone()),
        ("gemini".into(), "gemini-2.5-pro".into(), 1500.into())
    );
    assert_eq!(o.lane("WP03"), "done");
    // Rejected review → rework with the feedback → approval.
    let rework = o.prompt("claude", "implementation", "WP04", 2);
    assert!(rework.starts_with("## RE-IMPLEMENTATION REQUIRED (attempt 2)\n"), "{rework}");
    assert!(
        rework.contains("### Review feedback\n\nmissing tests for WP04\n\n---\n\n---\nwork_package_id: WP04"),
        "{rework}"
    );
    assert_eq!(o.env.read(".kittify/logs/WP04-review-feedback-1.md"), "missing tests for WP04\n");
    let wp04_file = o.env.read(&format!("kitty-specs/{FEATURE}/tasks/WP04-part-04.md"));
    assert!(
        wp04_file.contains("review_status: \"approved\"") || wp04_file.contains("review_status: \"has_feedback\""),
        "{wp04_file}"
    );
    assert!(wp04_file.contains("missing tests for WP04"), "{wp04_file}");
    assert_eq!(o.lane("WP04"), "done");
    let status = json_lines(&o.env.read(&format!("kitty-specs/{FEATURE}/status.events.jsonl")));
    let wp04: Vec<String> = status.iter().filter(|e| e["wp_id"] == "WP04").map(status_line).collect();
    assert_eq!(
        wp04,
        [
            "WP04 planned→claimed by claude: Automated: start implementation",
            "WP04 claimed→in_progress by claude: Automated: start implementation",
            "WP04 in_progress→for_review by claude (forced): Automated: complete implementation (forced: unchecked subtasks T004)",
            "WP04 for_review→in_progress by codex: Automated: review rejected (rework 1) [review_ref WP04-review-feedback-1.md]",
            "WP04 in_progress→for_review by claude (forced): Automated: complete implementation (forced: unchecked subtasks T004)",
            "WP04 for_review→done by codex (forced): Automated: complete review (forced: unchecked subtasks T004) [approved by codex: .kittify/logs/WP04-review-20260216-111236-2.log]",
        ]
    );
    // Auth failure: one attempt, no fallback; dependents blocked.
    assert_eq!(o.executions_of("WP05").len(), 1);
    assert_eq!(o.starts("codex", "implementation", "WP05") + o.starts("gemini", "implementation", "WP05"), 0);
    assert!(o.executions_of("WP06").is_empty() && o.executions_of("WP07").is_empty());
    let state = o.state();
    assert_eq!(
        (state["status"].clone(), state["wps_failed"].clone(), state["wps_blocked"].clone()),
        ("failed".into(), 1.into(), 2.into())
    );
    assert_eq!(state["work_packages"]["WP01"]["fallback_agents_tried"], serde_json::json!(["claude"]));
    assert_eq!(state["work_packages"]["WP07"]["status"], "blocked");

    let events: Vec<Value> = queued(&o.env)[before..].to_vec();
    // Concurrency interleaves work packages, so each one's assignments are checked in its own order.
    let assigned = |wp: &str| -> Vec<String> {
        events
            .iter()
            .filter(|e| e["event_type"] == "WPAssigned" && e["payload"]["wp_id"] == wp)
            .map(queued_line)
            .collect()
    };
    assert_eq!(
        assigned("WP01"),
        [
            "WPAssigned wp_id=WP01 agent_id=claude phase=implementation retry_count=0",
            "WPAssigned wp_id=WP01 agent_id=codex phase=implementation retry_count=1",
            "WPAssigned wp_id=WP01 agent_id=claude phase=review retry_count=0",
        ]
    );
    assert_eq!(
        assigned("WP04"),
        [
            "WPAssigned wp_id=WP04 agent_id=claude phase=implementation retry_count=0",
            "WPAssigned wp_id=WP04 agent_id=codex phase=review retry_count=0",
            "WPAssigned wp_id=WP04 agent_id=claude phase=implementation retry_count=1",
            "WPAssigned wp_id=WP04 agent_id=codex phase=review retry_count=1",
        ]
    );
    assert_eq!(assigned("WP05"), ["WPAssigned wp_id=WP05 agent_id=claude phase=implementation retry_count=0"]);
    let errors: Vec<String> = events.iter().filter(|e| e["event_type"] == "ErrorLogged").map(queued_line).collect();
    assert_eq!(
        errors,
        [
            "ErrorLogged error_type=auth error_message=implementation by claude failed to authenticate (not retried): Error: Invalid API key · 401 Unauthorized wp_id=WP05 agent_id=claude"
        ]
    );
    assert!(!events.iter().any(|e| e["event_type"] == "FeatureCompleted"));
}

const CHAIN: &[(&str, &[&str])] = &[("WP01", &[]), ("WP02", &["WP01"]), ("WP03", &["WP02"])];

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_interrupted_run_resumes_without_redoing_finished_work() {
    let o = Orchestra::new(CHAIN);
    o.config(TWO_AGENTS);
    o.mode("claude", "implementation", "WP02", &["sleep", "ok"]);
    let mut command = o.env.command();
    command.args(["orchestrate", "--feature", FEATURE]);
    command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let child = command.spawn().unwrap();
    wait_until("WP02's agent started", || o.starts("claude", "implementation", "WP02") == 1);
    let interrupted_at = Instant::now();
    // SAFETY: kill(2) on the child we spawned; no memory is involved.
    unsafe {
        libc::kill(i32::try_from(child.id()).unwrap(), libc::SIGINT);
    }
    let output = child.wait_with_output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.status.code(), Some(130), "{stdout}\n{stderr}");
    assert!(interrupted_at.elapsed() < Duration::from_secs(5), "the agent was stopped after the grace period");
    assert!(stdout.contains("SIGINT received: no new work starts; stopping 1 running agent(s)"), "{stdout}");
    assert!(stdout.contains("⏸ Orchestration of 001-demo paused (SIGINT): 1 of 3 work packages done.\n"), "{stdout}");
    assert!(
        stderr.ends_with(
            "error: interrupted by SIGINT: the run is paused\nhint: resume it with `spec-kitty orchestrate --resume`\n"
        ),
        "{stderr}"
    );
    assert!(!o.journal().iter().any(|m| !m.start && m.wp == "WP02"), "the sleeping agent never finished");
    let state = o.state();
    let statuses: Vec<&str> =
        ["WP01", "WP02", "WP03"].iter().map(|wp| state["work_packages"][wp]["status"].as_str().unwrap()).collect();
    assert_eq!((state["status"].as_str(), statuses), (Some("paused"), vec!["completed", "pending", "pending"]));
    let interrupted = o.executions_of("WP02");
    assert_eq!((interrupted[0]["exit_code"].clone(), interrupted[0]["success"].clone()), (130.into(), false.into()));
    assert_eq!(interrupted[0]["error"], "interrupted: the run was stopped");
    insta::assert_snapshot!("orchestrate_paused_status", o.run(&["orchestrate", "--status"]).ok().stdout);

    let resumed = o.run(&["orchestrate", "--resume"]).ok();
    assert!(resumed.stdout.starts_with("Resuming 001-demo (run "), "{}", resumed.stdout);
    assert!(resumed.stdout.contains("3 work packages (1 already done)"), "{}", resumed.stdout);
    assert_eq!(o.starts("claude", "implementation", "WP01"), 1, "finished work is not redone");
    assert_eq!(o.starts("codex", "review", "WP01"), 1);
    assert_eq!((o.starts("claude", "implementation", "WP02"), o.starts("claude", "implementation", "WP03")), (2, 1));
    assert!(CHAIN.iter().all(|(wp, _)| o.lane(wp) == "done"));
    assert_eq!(o.state()["status"], "completed");
    let completed: Vec<String> =
        queued(&o.env).iter().filter(|e| e["event_type"] == "FeatureCompleted").map(queued_line).collect();
    // Started at the third command's clock, resumed at the fifth: two seconds.
    assert_eq!(completed, ["FeatureCompleted total_wps=3 completed_at=2026-02-16T11:12:38+00:00 total_duration=2.0s"]);
}

#[test]
fn status_skip_resume_and_abort_manage_a_failed_run() {
    let o = Orchestra::new(CHAIN);
    o.config(TWO_AGENTS);
    o.mode("claude", "implementation", "WP02", &["fail"]);
    o.mode("codex", "implementation", "WP02", &["fail"]);
    let run = o.run(&["orchestrate", "--feature", FEATURE]).expect_code(1);
    assert!(run.stdout.contains(
        "WP02 implementation failed (claude): exited with code 3: boom: the build broke; falling back to codex\n"
    ));
    assert!(
        run.stdout
            .contains("WP02 implementation failed (codex): exited with code 3: boom: the build broke; giving up\n")
    );
    insta::assert_snapshot!("orchestrate_failed_status", o.run(&["orchestrate", "--status"]).ok().stdout);
    let json = o.run(&["orchestrate", "--status", "--json"]).ok();
    assert_eq!(serde_json::from_str::<Value>(&json.stdout).unwrap(), o.state());

    let before = queued(&o.env).len();
    let skipped = o.run(&["orchestrate", "--skip", "wp2"]).ok();
    assert_eq!(skipped.stdout, "WP02 skipped; WP03 may now proceed\nContinue with: spec-kitty orchestrate --resume\n");
    let events: Vec<String> = queued(&o.env)[before..].iter().map(queued_line).collect();
    assert_eq!(events, ["DependencyResolved wp_id=WP03 dependency_wp_id=WP02 resolution_type=skipped"]);

    let resumed = o.run(&["orchestrate", "--resume", "--json"]).ok();
    let summary: Value = serde_json::from_str(&resumed.stdout).unwrap();
    assert_eq!(
        (summary["status"].as_str(), summary["wps_completed"].as_u64(), summary["wps_skipped"].as_u64()),
        (Some("completed"), Some(2), Some(1))
    );
    assert_eq!(o.lane("WP03"), "done");
    assert_eq!(o.lane("WP02"), "in_progress", "a skipped work package keeps its lane");
    assert!(!queued(&o.env).iter().any(|e| e["event_type"] == "FeatureCompleted"), "not every work package is done");

    let again = o.run(&["orchestrate", "--resume"]).expect_code(1);
    assert!(
        again.stderr.starts_with("error: the run of 001-demo is completed: there is nothing to resume\n"),
        "{}",
        again.stderr
    );
    // A run that is still unfinished blocks a new start until it is resumed or aborted.
    let mut state = o.state();
    state["status"] = "paused".into();
    o.env.write(".kittify/orchestration-state.json", state.to_string());
    let refused = o.run(&["orchestrate", "--feature", FEATURE]).expect_code(1);
    assert!(refused.stderr.starts_with("error: an unfinished run of 001-demo exists (paused, started 2026-02-16T11:12:36+00:00)\nhint: continue it with `spec-kitty orchestrate --resume`, or discard it with `spec-kitty orchestrate --abort`\n"), "{}", refused.stderr);
    let aborted = o.run(&["orchestrate", "--abort"]).ok();
    assert!(
        aborted.stdout.contains(" of 001-demo aborted; lanes and workspaces are left as they are.\n"),
        "{}",
        aborted.stdout
    );
    assert_eq!(o.state()["status"], "aborted");
    assert!(o.env.path(".kittify/orchestration-state.json.bak").is_file());
    o.run(&["orchestrate", "--abort"]).expect_code(1);
}

#[test]
fn with_git_each_work_package_gets_a_worktree_from_its_dependency() {
    let env = TestEnv::bare();
    let git = |dir: &std::path::Path, args: &[&str]| {
        let out = std::process::Command::new("git").current_dir(dir).args(args).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
    };
    let root = env.root();
    git(&root, &["init", "--quiet", "--initial-branch", "main"]);
    git(&root, &["config", "user.email", "dev@example.com"]);
    git(&root, &["config", "user.name", "Dev"]);
    std::fs::write(root.join(".gitignore"), ".worktrees/\n.kittify/logs/\n.kittify/orchestration*\n").unwrap();
    git(&root, &["add", ".gitignore"]);
    git(&root, &["commit", "--quiet", "-m", "init"]);
    let o = Orchestra::with_env(env, &[("WP01", &[]), ("WP02", &["WP01"])]);
    o.config(TWO_AGENTS);
    git(&root, &["add", "-A"]);
    git(&root, &["commit", "--quiet", "-m", "plan"]);
    o.mode("claude", "implementation", "WP01", &["commit"]);
    o.mode("claude", "implementation", "WP02", &["commit"]);

    o.run(&["orchestrate", "--feature", FEATURE]).ok();
    let wp02 = root.join(".worktrees/001-demo-WP02");
    assert!(wp02.join(".git").is_file(), "a git worktree");
    assert_eq!(git(&wp02, &["branch", "--show-current"]), "001-demo-WP02");
    assert!(wp02.join("WP01.txt").is_file() && wp02.join("WP02.txt").is_file(), "WP02 started from WP01's branch");
    assert!(!root.join(".worktrees/001-demo-WP01/WP02.txt").exists());
    let log = git(&root, &["log", "--format=%s", "main"]);
    assert!(log.starts_with("chore: Move WP02 to done on spec 001 [codex]\n"), "{log}");
    assert!(log.contains("chore: Move WP01 to in_progress on spec 001 [claude]"), "{log}");
    // As move-task: the WP files and tasks.md are committed (the status log is not, as upstream).
    let tracked = ["kitty-specs/001-demo/tasks", "kitty-specs/001-demo/tasks.md"];
    assert_eq!(git(&root, &["status", "--porcelain", tracked[0], tracked[1]]), "", "every move is committed");
    let implementation_log = o.env.read(".kittify/logs/WP02-implementation-20260216-111236.log");
    assert!(implementation_log.contains(&format!("# cwd: {}\n", wp02.display())), "{implementation_log}");
    assert_eq!(o.state()["work_packages"]["WP02"]["worktree_path"], ".worktrees/001-demo-WP02");
}

#[test]
fn configuration_mistakes_stop_the_run_before_anything_happens() {
    let o = Orchestra::new(&[("WP01", &[])]);
    let status = o.run(&["orchestrate", "--status"]).expect_code(1);
    assert!(
        status
            .stderr
            .starts_with("error: no orchestration run in this project (.kittify/orchestration-state.json not found)\n")
    );
    let config = o.env.read(".kittify/config.yaml");
    o.config("agents:\n  available: [bot]\n");
    let run = o.run(&["orchestrate", "--feature", FEATURE]).expect_code(1);
    assert!(
        run.stderr.starts_with("error: agent 'bot' has no command: set agents.settings.bot.command"),
        "{}",
        run.stderr
    );
    o.env.write(".kittify/config.yaml", &config);
    o.config("agents:\n  available: [claude]\n  settings:\n    claude:\n      command: [sh, \"@AGENT@\", claude, claude]\norchestrator:\n  max_concurency: 2\n");
    let run = o.run(&["orchestrate", "--feature", FEATURE]).expect_code(1);
    assert!(run.stderr.contains("orchestrator: unknown field `max_concurency`"), "{}", run.stderr);
    o.env.write(".kittify/config.yaml", &config);
    o.config(
        "agents:\n  available: [claude]\n  settings:\n    claude:\n      command: [sh, \"@AGENT@\", claude, claude]\n",
    );
    let run = o.run(&["orchestrate", "--feature", FEATURE, "--impl-agent", "gemini"]).expect_code(2);
    assert!(
        run.stderr.starts_with("error: --impl-agent gemini: not a usable agent (usable: claude)\n"),
        "{}",
        run.stderr
    );
    assert!(!o.env.path(".kittify/orchestration-state.json").exists(), "nothing started");
    assert_eq!(o.lane("WP01"), "planned");
}

#[test]
fn a_run_can_skip_work_packages_and_do_without_review() {
    let o = Orchestra::new(&[("WP01", &[]), ("WP02", &["WP01"])]);
    o.config(&TWO_AGENTS.replace("orchestrator:\n", "orchestrator:\n  review: false\n"));
    std::fs::write(o.agents.join("check-subtasks"), "").unwrap();
    let before = queued(&o.env).len();
    let run = o.run(&["orchestrate", "--feature", FEATURE, "--skip", "WP01"]).ok();
    assert!(run.stdout.starts_with("WP01 skipped\nOrchestrating 001-demo (run "), "{}", run.stdout);
    assert!(run.stdout.contains("2 work packages (1 already done)"), "{}", run.stdout);
    assert_eq!((o.starts("claude", "implementation", "WP01"), o.starts("claude", "implementation", "WP02")), (0, 1));
    assert_eq!(o.journal().iter().filter(|m| m.role == "review").count(), 0, "review is off");
    assert_eq!((o.lane("WP01"), o.lane("WP02")), ("planned".to_owned(), "done".to_owned()));
    let status = json_lines(&o.env.read(&format!("kitty-specs/{FEATURE}/status.events.jsonl")));
    let last = status_line(status.last().unwrap());
    assert_eq!(
        last,
        "WP02 for_review→done by claude: Automated: complete implementation (review disabled) [approved by claude: orchestrator.review: false]"
    );
    let events: Vec<String> = queued(&o.env)[before..].iter().map(queued_line).collect();
    assert_eq!(events[0], "DependencyResolved wp_id=WP02 dependency_wp_id=WP01 resolution_type=skipped");
    assert!(!events.iter().any(|e| e.starts_with("WPAssigned") && e.contains("phase=review")));
}

#[test]
fn the_sync_service_delivers_the_runs_events_while_agents_work() {
    let o = Orchestra::new(&[("WP01", &[])]);
    o.config(TWO_AGENTS);
    let (server, _) = crate::sync_support::SyncFixture::builder().log_in(&o.env);
    o.mode("claude", "implementation", "WP01", &["hold"]);
    let mut command = o.env.command();
    command.args(["orchestrate", "--feature", FEATURE]);
    command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let child = command.spawn().unwrap();

    wait_until("WP01's agent started", || o.starts("claude", "implementation", "WP01") == 1);
    let home = crate::sync_support::state_dir(&o.env);
    let heartbeat = spec_kitty::sync::daemon::read(&home).expect("the run's sync service writes a heartbeat");
    assert_eq!((heartbeat.pid, heartbeat.command.as_str()), (child.id(), "orchestrate"));
    // Delivered while the agent still works: neither the run's end nor its exit flush has happened yet.
    wait_until("the server received WP01's assignment", || {
        server.stored_events().iter().any(|e| e["event_type"] == "WPAssigned" && e["payload"]["wp_id"] == "WP01")
    });
    assert!(!o.journal().iter().any(|m| !m.start), "the held agent is still running");

    std::fs::write(o.agents.join("release-WP01"), "").unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(spec_kitty::sync::daemon::read(&home).is_none(), "the service stopped with the run");
    assert_eq!(queued(&o.env), Vec::<Value>::new(), "everything the run queued was delivered");
    let stored = server.stored_events();
    let completed = stored.iter().filter(|e| e["event_type"] == "FeatureCompleted").count();
    let ids: std::collections::BTreeSet<&str> = stored.iter().map(|e| e["event_id"].as_str().unwrap()).collect();
    assert_eq!((completed, ids.len()), (1, stored.len()), "each event stored once");
}
