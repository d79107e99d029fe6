//! A whole feature life cycle in a real git repository, driven only through the binary:
//! init → create-feature → tasks.md and WP prompts (in the shape of upstream's 043) → finalize-tasks →
//! implement → every lane (with a rejected review and the rework) → mark-status → add-history → merge
//! → accept. Every file the commands touch is snapshot-tested.

use crate::support::{Run, TestEnv};
use crate::sync_queue::queued;
use std::path::Path;

const FEATURE: &str = "001-telemetry-foundation";

fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git").current_dir(dir).args(args).output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
}

fn run(env: &TestEnv, args: &[&str]) -> Run {
    env.run(args).ok()
}

/// Hides what legitimately varies between runs: the temporary root, git shas and process ids.
fn stable(env: &TestEnv, text: &str) -> String {
    let mut out = text.replace(&env.root().display().to_string(), "[ROOT]");
    out = out.replace(&env.root().parent().unwrap().display().to_string(), "[TMP]");
    // A SHA that YAML would read as a number (all digits, or digits with one `e`) is written quoted.
    out = hex_runs(&out, 40, "[SHA]").replace("'[SHA]'", "[SHA]");
    let pid = std::process::id().to_string();
    out.replace(&format!("shell_pid: \"{pid}\""), "shell_pid: \"[PID]\"")
        .replace(&format!("shell_pid={pid}"), "shell_pid=[PID]")
}

fn hex_runs(text: &str, len: usize, with: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let run = bytes[i..].iter().take_while(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()).count();
        let bounded = (i == 0 || !bytes[i - 1].is_ascii_alphanumeric())
            && bytes.get(i + run).is_none_or(|b| !b.is_ascii_alphanumeric());
        if run == len && bounded {
            out.push_str(with);
            i += run;
        } else {
            let ch = text[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

const TASKS_MD: &str = "# Work Packages: Telemetry Foundation

**Inputs**: Design documents from `kitty-specs/001-telemetry-foundation/`

## Work Package WP01: Simple JSON Store (Priority: P0)

**Goal**: A JSONL-backed event store.
**Prompt**: `tasks/WP01-simple-json-store.md`

### Included Subtasks
- [ ] T001 Create the store module
- [ ] T002 Write the store tests

### Dependencies
- None (starting package).

---

## Work Package WP02: Query Layer (Priority: P0)

**Goal**: Filtered queries over the event log.
**Prompt**: `tasks/WP02-query-layer.md`

### Included Subtasks
- [ ] T003 EventFilter dataclass
- [ ] T004 Query tests

### Dependencies
- Depends on WP01 (SimpleJsonStore).

---

## Work Package WP03: Cost Tracking (Priority: P1)

**Goal**: Cost aggregation and pricing.
**Prompt**: `tasks/WP03-cost-tracking.md`

### Included Subtasks
- [ ] T005 Pricing table
- [ ] T006 Cost summary

### Dependencies
- Depends on WP01. Does NOT depend on WP02.
";

fn wp_prompt(id: &str, title: &str, subtasks: &[&str]) -> String {
    let list: String = subtasks.iter().map(|t| format!("- {t}\n")).collect();
    format!(
        "---\nwork_package_id: {id}\ntitle: {title}\nlane: planned\nsubtasks:\n{list}phase: Phase 1 - Foundation\n\
         assignee: ''\nagent: ''\nshell_pid: ''\nreview_status: ''\nreviewed_by: ''\nhistory:\n\
         - timestamp: '2026-02-16T10:00:00Z'\n  lane: planned\n  agent: system\n  shell_pid: ''\n  \
         action: Prompt generated via /spec-kitty.tasks\n---\n\n# Work Package Prompt: {id} – {title}\n\n\
         ## ⚠️ IMPORTANT: Review Feedback Status\n\nCheck `review_status` above.\n\n## Review Feedback\n\n\
         *[This section is empty initially.]*\n\n## Objectives & Success Criteria\n\n- {title} works.\n\n\
         ## Activity Log\n\n- 2026-02-16T10:00:00Z – system – lane=planned – Prompt generated via /spec-kitty.tasks\n"
    )
}

/// Commits a file in a work package's worktree, as the implementing agent would.
fn commit_in_worktree(env: &TestEnv, wp: &str, file: &str, content: &str) {
    let worktree = env.path(&format!(".worktrees/{FEATURE}-{wp}"));
    std::fs::write(worktree.join(file), content).unwrap();
    git(&worktree, &["add", file]);
    git(&worktree, &["commit", "--quiet", "-m", &format!("{wp}: {file}")]);
}

#[test]
fn a_feature_from_init_to_acceptance() {
    let env = TestEnv::bare();
    let root = env.root();
    git(&root, &["init", "--quiet", "--initial-branch", "main"]);
    git(&root, &["config", "user.email", "dev@example.com"]);
    git(&root, &["config", "user.name", "Dev"]);
    std::fs::write(root.join(".gitignore"), ".worktrees/\n.kittify/workspaces/\n").unwrap();
    git(&root, &["add", ".gitignore"]);
    git(&root, &["commit", "--quiet", "-m", "Initial commit"]);

    run(&env, &["init", "--slug", "lifecycle"]);
    git(&root, &["add", ".kittify"]);
    git(&root, &["commit", "--quiet", "-m", "spec-kitty init"]);
    run(
        &env,
        &[
            "agent",
            "feature",
            "create-feature",
            "telemetry-foundation",
            "--agent",
            "claude",
            "--model",
            "claude-opus-4-6",
            "--input-tokens",
            "9000",
            "--output-tokens",
            "2500",
        ],
    );
    run(&env, &["agent", "feature", "setup-plan", "--agent", "claude"]);

    let dir = format!("kitty-specs/{FEATURE}");
    env.write(&format!("{dir}/tasks.md"), TASKS_MD);
    env.write(
        &format!("{dir}/tasks/WP01-simple-json-store.md"),
        wp_prompt("WP01", "Simple JSON Store", &["T001", "T002"]),
    );
    env.write(&format!("{dir}/tasks/WP02-query-layer.md"), wp_prompt("WP02", "Query Layer", &["T003", "T004"]));
    env.write(&format!("{dir}/tasks/WP03-cost-tracking.md"), wp_prompt("WP03", "Cost Tracking", &["T005", "T006"]));
    let finalized = run(&env, &["agent", "feature", "finalize-tasks", "--json", "--agent", "claude"]);
    assert!(finalized.stdout.contains("\"updated_wp_count\": 3"), "{}", finalized.stdout);

    // WP01: implement, a rejected review, rework, approval.
    run(&env, &["implement", "WP01"]);
    commit_in_worktree(&env, "WP01", "store.py", "class SimpleJsonStore: ...\n");
    run(&env, &["agent", "tasks", "mark-status", "T001", "T002", "--status", "done"]);
    run(
        &env,
        &[
            "agent",
            "tasks",
            "move-task",
            "WP01",
            "--to",
            "for_review",
            "--agent",
            "claude",
            "--note",
            "Store ready",
            "--input-tokens",
            "120000",
            "--output-tokens",
            "9000",
            "--model",
            "claude-sonnet-4.5",
        ],
    );
    // Reviewers keep their notes outside the repository.
    let feedback = root.parent().unwrap().join("review-WP01.md");
    std::fs::write(&feedback, "Dedup must keep the first event id.\n").unwrap();
    run(
        &env,
        &[
            "agent",
            "tasks",
            "move-task",
            "WP01",
            "--to",
            "planned",
            "--review-feedback-file",
            feedback.to_str().unwrap(),
            "--reviewer",
            "Rita",
            "--agent",
            "codex",
            "--model",
            "gpt-5.1-codex",
            "--input-tokens",
            "30000",
            "--output-tokens",
            "1200",
        ],
    );
    run(
        &env,
        &[
            "agent",
            "tasks",
            "move-task",
            "WP01",
            "--to",
            "in_progress",
            "--agent",
            "claude",
            "--note",
            "Addressing review feedback",
        ],
    );
    commit_in_worktree(&env, "WP01", "store.py", "class SimpleJsonStore: ...  # first id wins\n");
    run(&env, &["agent", "tasks", "move-task", "WP01", "--to", "for_review", "--note", "Feedback addressed"]);
    run(
        &env,
        &[
            "agent",
            "tasks",
            "move-task",
            "WP01",
            "--to",
            "done",
            "--reviewer",
            "Rita",
            "--approval-ref",
            "PR #7",
            "--agent",
            "codex",
        ],
    );

    // WP02: the plain path, with a history note.
    run(&env, &["implement", "WP02"]);
    commit_in_worktree(&env, "WP02", "query.py", "def query(): ...\n");
    run(
        &env,
        &[
            "agent",
            "tasks",
            "add-history",
            "WP02",
            "--note",
            "Filters cover agent, model and role",
            "--agent",
            "claude",
        ],
    );
    run(&env, &["agent", "tasks", "mark-status", "T003", "T004", "--status", "done"]);
    run(&env, &["agent", "tasks", "move-task", "WP02", "--to", "for_review", "--agent", "claude"]);
    run(
        &env,
        &["agent", "tasks", "move-task", "WP02", "--to", "done", "--reviewer", "Rita", "--approval-ref", "PR #8"],
    );

    // WP03: claimed, blocked on a question, back in progress, then done.
    run(&env, &["agent", "tasks", "move-task", "WP03", "--to", "claimed", "--agent", "gemini", "--shell-pid", "4242"]);
    run(&env, &["agent", "tasks", "move-task", "WP03", "--to", "blocked", "--note", "Waiting for the price list"]);
    run(&env, &["implement", "WP03"]);
    run(&env, &["agent", "tasks", "move-task", "WP03", "--to", "in_progress", "--note", "Prices arrived"]);
    commit_in_worktree(&env, "WP03", "cost.py", "def cost_summary(): ...\n");
    run(&env, &["agent", "tasks", "mark-status", "T005", "T006", "--status", "done"]);
    run(&env, &["agent", "tasks", "move-task", "WP03", "--to", "for_review"]);
    run(
        &env,
        &["agent", "tasks", "move-task", "WP03", "--to", "done", "--reviewer", "Rita", "--approval-ref", "PR #9"],
    );

    // The planning changes of the moves are committed by the commands; the bookkeeping files are ours.
    git(&root, &["add", "-A", &dir]);
    git(&root, &["commit", "--quiet", "-m", "Status and telemetry logs"]);
    let merged = run(&env, &["merge", "--json"]);
    assert!(merged.stdout.contains("\"merged\": [\"WP01\", \"WP02\", \"WP03\"]"), "{}", merged.stdout);
    let accepted = run(&env, &["accept", "--actor", "Rita"]);
    assert!(accepted.stdout.contains("Acceptance recorded"), "{}", accepted.stdout);

    // Every file the life cycle touched, as it ends up.
    for file in [
        "tasks.md",
        "meta.json",
        "status.events.jsonl",
        "status.json",
        "execution.events.jsonl",
        ".telemetry-clock.json",
        "tasks/WP01-simple-json-store.md",
        "tasks/WP02-query-layer.md",
        "tasks/WP03-cost-tracking.md",
    ] {
        let name = format!("lifecycle_{}", file.replace(['/', '.'], "_"));
        insta::assert_snapshot!(name, stable(&env, &env.read(&format!("{dir}/{file}"))));
    }
    insta::assert_snapshot!("lifecycle_git_log", git(&root, &["log", "--first-parent", "--format=%s", "main"]));
    assert_eq!(git(&root, &["status", "--porcelain"]), "", "nothing left uncommitted");
    for file in ["store.py", "query.py", "cost.py"] {
        assert!(root.join(file).exists(), "{file} merged into main");
    }
    assert!(!root.join(".worktrees").join(format!("{FEATURE}-WP01")).exists(), "worktrees removed");

    // The status log and the materialised view agree, and every lane was visited.
    let status: serde_json::Value = serde_json::from_str(&env.read(&format!("{dir}/status.json"))).unwrap();
    assert_eq!(status["summary"]["done"], 3);
    let log = env.read(&format!("{dir}/status.events.jsonl"));
    for lane in ["claimed", "in_progress", "for_review", "done", "blocked", "planned"] {
        assert!(log.contains(&format!("\"to_lane\": \"{lane}\"")), "no transition to {lane}");
    }

    // Telemetry of every phase, by role.
    let cost = run(&env, &["agent", "telemetry", "cost", "--group-by", "role"]);
    insta::assert_snapshot!("lifecycle_cost_by_role", cost.render());

    // The sync events, in order.
    let events: Vec<String> = queued(&env)
        .iter()
        .map(|e| {
            let p = &e["payload"];
            match e["event_type"].as_str().unwrap() {
                "WPStatusChanged" => format!(
                    "WPStatusChanged {} {} -> {}",
                    p["wp_id"].as_str().unwrap(),
                    p["from_lane"].as_str().unwrap(),
                    p["to_lane"].as_str().unwrap()
                ),
                other => format!("{other} {}", e["aggregate_id"].as_str().unwrap()),
            }
        })
        .collect();
    insta::assert_snapshot!("lifecycle_sync_events", events.join("\n"));
}
