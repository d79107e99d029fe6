//! `spec-kitty implement` and `agent workflow implement|review`: workspaces (real git worktrees, or plain
//! directories without git), the frontmatter/meta.json/workspace records, commits, the one WPStatusChanged
//! a claim queues, the ExecutionEvents of the workflow phases, and nothing written when a check fails.

use crate::support::{Run, TestEnv, json_lines};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const FEATURE: &str = "kitty-specs/001-x";
const WP01: &str = "kitty-specs/001-x/tasks/WP01-a.md";
const WP02: &str = "kitty-specs/001-x/tasks/WP02-b.md";
const META: &str = "kitty-specs/001-x/meta.json";
const EXECUTION_LOG: &str = "kitty-specs/001-x/execution.events.jsonl";

const META_JSON: &str = r#"{
  "feature_number": "001",
  "slug": "001-x",
  "feature_slug": "001-x",
  "friendly_name": "x",
  "mission": "software-dev",
  "target_branch": "main",
  "created_at": "2026-02-16T10:00:00+00:00"
}
"#;

const TASKS_MD: &str = "# Work Packages: x\n\n\
## Work Package WP01: A (Priority: P0)\n\n**Prompt**: `tasks/WP01-a.md`\n\n### Included Subtasks\n\n\
- [ ] T001 Build a\n\n\
## Work Package WP02: B (Priority: P1)\n\n**Prompt**: `tasks/WP02-b.md`\n\n### Included Subtasks\n\n\
- [ ] T002 Build b\n- [ ] T003 Test b\n\n### Dependencies\n\n- Depends on WP01.\n";

/// A prompt file in the shape `/spec-kitty.tasks` + finalize-tasks leave it.
fn wp_file(id: &str, title: &str, dependencies: &str, subtasks: &[&str]) -> String {
    let subtasks: String = subtasks.iter().map(|t| format!("- {t}\n")).collect();
    format!(
        "---\nwork_package_id: {id}\ntitle: {title}\nlane: \"planned\"\ndependencies: {dependencies}\nsubtasks:\n{subtasks}\
         phase: Phase 1 - Core\nassignee: ''\nagent: ''\nshell_pid: ''\nreview_status: ''\nreviewed_by: ''\nhistory:\n\
         - timestamp: '2026-02-16T10:00:00Z'\n  lane: planned\n  agent: system\n  shell_pid: ''\n  \
         action: Prompt generated via /spec-kitty.tasks\n---\n\
         # Work Package Prompt: {id} – {title}\n\n## Objectives & Success Criteria\n\nBuild {title}.\n\n\
         ## Activity Log\n\n- 2026-02-16T10:00:00Z – system – lane=planned – Prompt created.\n"
    )
}

/// Feature 001-x with WP01 and WP02 (which depends on WP01); with git, committed on `main`.
fn project(with_git: bool) -> TestEnv {
    let env = TestEnv::new();
    env.write(&format!("{FEATURE}/spec.md"), "# Feature Specification: x\n");
    env.write(&format!("{FEATURE}/plan.md"), "# Implementation Plan: x\n");
    env.write(&format!("{FEATURE}/tasks.md"), TASKS_MD);
    env.write(META, META_JSON);
    env.write(WP01, wp_file("WP01", "A", "[]", &["T001"]));
    env.write(WP02, wp_file("WP02", "B", "\n- WP01", &["T002", "T003"]));
    if with_git {
        git(&env, &["init", "--quiet", "-b", "main"]);
        git(&env, &["config", "user.email", "dev@example.com"]);
        git(&env, &["config", "user.name", "Dev"]);
        git(&env, &["add", "-A"]);
        git(&env, &["commit", "--quiet", "-m", "Initial commit"]);
    }
    env
}

/// Runs the binary with a per-test temp directory (the workflow commands save their prompts there).
fn run(env: &TestEnv, args: &[&str]) -> Run {
    let tmp = tmp_dir(env);
    env.run_with_env(args, &[("TMPDIR", tmp.to_str().unwrap())])
}

fn tmp_dir(env: &TestEnv) -> PathBuf {
    let dir = env.root().parent().unwrap().join("tmp");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Output with the temporary paths replaced, for snapshots.
fn normalized(env: &TestEnv, text: &str) -> String {
    text.replace(env.root().to_str().unwrap(), "[ROOT]").replace(tmp_dir(env).to_str().unwrap(), "[TMP]")
}

fn git(env: &TestEnv, args: &[&str]) -> String {
    git_in(env, &env.root(), args)
}

fn git_in(env: &TestEnv, dir: &Path, args: &[&str]) -> String {
    let output = std::process::Command::new("git")
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", env.home())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .args(args)
        .output()
        .expect("run git");
    assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().trim_end().to_owned()
}

/// `(event_type, data)` of every queued sync event.
fn queued(env: &TestEnv) -> Vec<(String, Value)> {
    let path = env.home().join(".spec-kitty/queue.db");
    if !path.exists() {
        return Vec::new();
    }
    let db = rusqlite::Connection::open(&path).unwrap();
    let mut statement = db.prepare("SELECT event_type, data FROM queue ORDER BY id").unwrap();
    statement
        .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))
        .unwrap()
        .map(|row| row.unwrap())
        .map(|(event_type, data)| (event_type, serde_json::from_str(&data).unwrap()))
        .collect()
}

/// Every file and directory under the project (`.git` excepted) with its contents.
fn snapshot_files(env: &TestEnv) -> BTreeMap<PathBuf, String> {
    fn walk(dir: &Path, root: &Path, into: &mut BTreeMap<PathBuf, String>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.file_name().is_some_and(|n| n == ".git") {
                continue;
            }
            if path.is_dir() {
                into.insert(path.strip_prefix(root).unwrap().to_owned(), "<dir>".to_owned());
                walk(&path, root, into);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                into.insert(path.strip_prefix(root).unwrap().to_owned(), String::from_utf8_lossy(&bytes).into_owned());
            }
        }
    }
    let mut files = BTreeMap::new();
    walk(&env.root(), &env.root(), &mut files);
    files
}

/// The lines `after` removes (`-`) and adds (`+`) relative to `before` (a longest-common-subsequence diff).
fn line_diff(before: &str, after: &str) -> Vec<String> {
    let (a, b): (Vec<&str>, Vec<&str>) = (before.lines().collect(), after.lines().collect());
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let (mut i, mut j, mut changes) = (0, 0, Vec::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            changes.push(format!("-{}", a[i]));
            i += 1;
        } else {
            changes.push(format!("+{}", b[j]));
            j += 1;
        }
    }
    changes
}

fn json(run: &Run) -> Value {
    serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", run.render()))
}

/// The shell pid a command records: the process that spawned it, i.e. this test process.
fn our_pid() -> String {
    std::process::id().to_string()
}

/// The ISO time of the n-th command of a TestEnv (its clock starts at 11:12:33 and ticks 1 s per command).
fn at_command(n: u32) -> String {
    format!("2026-02-16T11:12:{}+00:00", 33 + n)
}

// ---------------------------------------------------------------------------------------------------
// spec-kitty implement

#[test]
fn implement_creates_a_worktree_records_it_and_claims_the_work_package() {
    let env = project(true);
    let main_head = git(&env, &["rev-parse", "main"]);
    let before = env.read(WP01);

    let run = run(&env, &["implement", "WP01", "--json"]).ok();
    insta::assert_snapshot!("implement_created_json", normalized(&env, &run.render()));

    // A real worktree on its own branch, started from main.
    let workspace = env.path(".worktrees/001-x-WP01");
    assert_eq!(git_in(&env, &workspace, &["rev-parse", "--abbrev-ref", "HEAD"]), "001-x-WP01");
    assert_eq!(git(&env, &["rev-parse", "001-x-WP01"]), main_head);
    assert!(git(&env, &["worktree", "list", "--porcelain"]).contains(&format!("worktree {}", workspace.display())));

    // The frontmatter: base fields where ruamel puts them, then the claim.
    let now = at_command(1);
    assert_eq!(
        line_diff(&before, &env.read(WP01)),
        [
            "-lane: \"planned\"".to_owned(),
            "+lane: \"doing\"".to_owned(),
            "+base_branch: main".to_owned(),
            format!("+base_commit: {main_head}"),
            format!("+created_at: '{now}'"),
            "-shell_pid: ''".to_owned(),
            format!("+shell_pid: \"{}\"", our_pid()),
        ]
    );
    assert_eq!(
        line_diff(META_JSON, &env.read(META)),
        [
            "-  \"created_at\": \"2026-02-16T10:00:00+00:00\"".to_owned(),
            "+  \"created_at\": \"2026-02-16T10:00:00+00:00\",".to_owned(),
            "+  \"vcs\": \"git\",".to_owned(),
            format!("+  \"vcs_locked_at\": \"{now}\""),
        ]
    );
    assert_eq!(
        env.read(".kittify/workspaces/001-x-WP01.json"),
        format!(
            "{{\n  \"wp_id\": \"WP01\",\n  \"feature_slug\": \"001-x\",\n  \"worktree_path\": \".worktrees/001-x-WP01\",\n  \
             \"branch_name\": \"001-x-WP01\",\n  \"base_branch\": \"main\",\n  \"base_commit\": \"{main_head}\",\n  \
             \"dependencies\": [],\n  \"created_at\": \"{now}\",\n  \"created_by\": \"implement-command\",\n  \
             \"vcs_backend\": \"git\"\n}}\n"
        )
    );

    // One commit with the WP file and meta.json; nothing of ours left uncommitted.
    assert_eq!(git(&env, &["log", "-1", "--format=%s"]), "chore: WP01 claimed for implementation");
    assert_eq!(git(&env, &["show", "--name-only", "--format=", "HEAD"]), format!("{META}\n{WP01}"));
    assert_eq!(git(&env, &["status", "--porcelain", "--", FEATURE]), "");

    // Exactly one WPStatusChanged, straight to the queue (no status.events.jsonl line).
    let events = queued(&env);
    assert_eq!(events.len(), 1, "{events:?}");
    let (event_type, data) = &events[0];
    assert_eq!(event_type, "WPStatusChanged");
    assert_eq!(data["aggregate_id"], "WP01");
    assert_eq!(
        data["payload"],
        serde_json::json!({"wp_id": "WP01", "from_lane": "planned", "to_lane": "in_progress", "actor": "user",
                           "feature_slug": "001-x", "policy_metadata": null})
    );
    assert!(!env.path(&format!("{FEATURE}/status.events.jsonl")).exists());
}

#[test]
fn implement_again_reuses_the_workspace_and_changes_nothing() {
    let env = project(true);
    run(&env, &["implement", "WP01"]).ok();
    let files = snapshot_files(&env);
    let head = git(&env, &["rev-parse", "HEAD"]);

    let again = run(&env, &["implement", "WP01", "--json"]).ok();
    insta::assert_snapshot!("implement_reused_json", normalized(&env, &again.render()));
    assert_eq!(snapshot_files(&env), files);
    assert_eq!(git(&env, &["rev-parse", "HEAD"]), head, "no new commit");
    assert_eq!(queued(&env).len(), 1, "the second run queues nothing");

    let text = run(&env, &["implement", "WP01"]).ok();
    assert_eq!(
        normalized(&env, &text.stdout),
        "✓ Reusing workspace .worktrees/001-x-WP01 (branch 001-x-WP01)\n\nNext: cd [ROOT]/.worktrees/001-x-WP01\n"
    );
}

#[test]
fn implement_without_git_creates_a_plain_directory() {
    let env = project(false);
    let before = env.read(WP01);

    let run = run(&env, &["implement", "wp1", "--json"]).ok();
    insta::assert_snapshot!("implement_no_git_json", normalized(&env, &run.render()));

    assert!(env.path(".worktrees/001-x-WP01").is_dir());
    assert!(!env.path(".worktrees/001-x-WP01/.git").exists());
    let now = at_command(1);
    assert_eq!(
        line_diff(&before, &env.read(WP01)),
        [
            "-lane: \"planned\"".to_owned(),
            "+lane: \"doing\"".to_owned(),
            "+base_branch: main".to_owned(),
            format!("+created_at: '{now}'"),
            "-shell_pid: ''".to_owned(),
            format!("+shell_pid: \"{}\"", our_pid()),
        ]
    );
    let meta: Value = serde_json::from_str(&env.read(META)).unwrap();
    assert_eq!((meta["vcs"].as_str(), meta["vcs_locked_at"].as_str()), (Some("none"), Some(now.as_str())));
    let record: Value = serde_json::from_str(&env.read(".kittify/workspaces/001-x-WP01.json")).unwrap();
    assert_eq!(record["vcs_backend"], "none");
    assert_eq!(record["branch_name"], Value::Null);
    assert_eq!(record["base_commit"], Value::Null);
    assert_eq!(queued(&env).iter().filter(|(t, _)| t == "WPStatusChanged").count(), 1);
}

#[test]
fn implement_starts_a_dependent_from_its_dependency_branch() {
    let env = project(true);
    run(&env, &["implement", "WP01"]).ok();
    let wp01_workspace = env.path(".worktrees/001-x-WP01");
    std::fs::write(wp01_workspace.join("a.txt"), "a\n").unwrap();
    git_in(&env, &wp01_workspace, &["add", "a.txt"]);
    git_in(&env, &wp01_workspace, &["commit", "--quiet", "-m", "feat(WP01): a"]);
    let wp01_head = git(&env, &["rev-parse", "001-x-WP01"]);

    // The only dependency is the base, without --base.
    let run = run(&env, &["implement", "WP02", "--json"]).ok();
    insta::assert_snapshot!("implement_dependent_json", normalized(&env, &run.render()));
    assert_eq!(git(&env, &["rev-parse", "001-x-WP02"]), wp01_head);
    assert!(env.path(".worktrees/001-x-WP02/a.txt").is_file(), "the dependency's work is there");
    let text = env.read(WP02);
    assert!(text.contains(&format!("\n- WP01\nbase_branch: 001-x-WP01\nbase_commit: {wp01_head}\n")), "{text}");
}

#[test]
fn implement_with_several_dependencies_needs_base() {
    let env = project(true);
    env.write("kitty-specs/001-x/tasks/WP03-c.md", wp_file("WP03", "C", "\n- WP01\n- WP02", &["T004"]));
    git(&env, &["add", "-A"]);
    git(&env, &["commit", "--quiet", "-m", "Add WP03"]);
    run(&env, &["implement", "WP01"]).ok();
    run(&env, &["implement", "WP02"]).ok();

    let refused = run(&env, &["implement", "WP03"]).expect_code(1);
    assert!(
        refused
            .stderr
            .contains("WP03 depends on several work packages (WP01, WP02); say which one to start from with --base"),
        "{}",
        refused.stderr
    );
    assert!(!env.path(".worktrees/001-x-WP03").exists());

    let chosen = run(&env, &["implement", "WP03", "--base", "WP02", "--json"]).ok();
    assert_eq!(json(&chosen)["base"], "WP02");
    assert_eq!(git(&env, &["rev-parse", "001-x-WP03"]), git(&env, &["rev-parse", "001-x-WP02"]));

    let unknown = run(&env, &["implement", "WP02", "--base", "WP09"]);
    assert!(unknown.code == 0, "an existing workspace is reused whatever --base says: {}", unknown.render());
}

#[test]
fn implement_refuses_a_dependency_without_workspace_and_changes_nothing() {
    let env = project(true);
    let files = snapshot_files(&env);
    let head = git(&env, &["rev-parse", "HEAD"]);

    let run = run(&env, &["implement", "WP02", "--json"]).expect_code(1);
    insta::assert_snapshot!("implement_dependency_not_started", normalized(&env, &run.render()));

    assert_eq!(snapshot_files(&env), files, "nothing written");
    assert_eq!(git(&env, &["rev-parse", "HEAD"]), head, "nothing committed");
    let events = queued(&env);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].0, "ErrorLogged");
    assert_eq!(events[0].1["payload"]["wp_id"], "WP02");
    assert_eq!(
        events[0].1["payload"]["error_message"],
        "WP01 is not done (lane: planned) and has no workspace yet, so there is no branch to start from"
    );
}

#[test]
fn implement_refuses_to_run_inside_a_workspace() {
    let env = project(true);
    run(&env, &["implement", "WP01"]).ok();
    let files = snapshot_files(&env);

    let inside = run(&env, &["-C", ".worktrees/001-x-WP01", "implement", "WP02"]).expect_code(1);
    assert_eq!(
        normalized(&env, &inside.stderr),
        "error: `spec-kitty implement` cannot run inside a workspace (.worktrees/…)\n\
         hint: run it from the main checkout: cd [ROOT]\n"
    );
    assert_eq!(snapshot_files(&env), files);
}

#[test]
fn implement_commits_planning_artifacts_on_the_primary_branch_only() {
    let env = project(true);
    env.write(&format!("{FEATURE}/research.md"), "# Research\n");

    // On another branch the uncommitted artifacts stop everything.
    git(&env, &["checkout", "--quiet", "-b", "scratch"]);
    let files = snapshot_files(&env);
    let refused = run(&env, &["implement", "WP01"]).expect_code(1);
    assert!(refused.stderr.contains("are not committed, and they belong on 'main' (current branch: 'scratch')"));
    assert_eq!(snapshot_files(&env), files);

    // On main they are committed first, then the workspace branches off with them.
    git(&env, &["checkout", "--quiet", "main"]);
    run(&env, &["implement", "WP01"]).ok();
    let subjects = git(&env, &["log", "--format=%s", "-3"]);
    assert_eq!(subjects, "chore: WP01 claimed for implementation\nchore: Planning artifacts for 001-x\nInitial commit");
    assert!(env.path(".worktrees/001-x-WP01/kitty-specs/001-x/research.md").is_file());
}

#[test]
fn implement_creates_a_missing_target_branch_from_the_primary_branch() {
    let env = project(true);
    env.write(META, META_JSON.replace("\"target_branch\": \"main\"", "\"target_branch\": \"release\""));
    git(&env, &["commit", "--quiet", "-am", "Target release"]);

    let run = run(&env, &["implement", "WP01", "--json"]).ok();
    assert_eq!(json(&run)["base"], "release");
    assert_eq!(git(&env, &["rev-parse", "release"]), git(&env, &["rev-parse", "001-x-WP01"]));
}

// ---------------------------------------------------------------------------------------------------
// spec-kitty agent workflow implement | review

const TELEMETRY: [&str; 10] = [
    "--model",
    "claude-sonnet-4.5",
    "--input-tokens",
    "1000",
    "--output-tokens",
    "200",
    "--cost-usd",
    "0.5",
    "--duration-ms",
    "60000",
];

fn workflow(env: &TestEnv, phase: &str, extra: &[&str]) -> Run {
    let mut args = vec!["agent", "workflow", phase];
    args.extend_from_slice(extra);
    run(env, &args)
}

#[test]
fn workflow_implement_claims_the_first_planned_work_package_and_records_the_phase() {
    let env = project(true);
    let before = env.read(WP01);
    let mut args = vec!["--agent", "claude", "--json"];
    args.extend_from_slice(&TELEMETRY);

    let run = workflow(&env, "implement", &args).ok();
    insta::assert_snapshot!("workflow_implement_json", normalized(&env, &run.render()));

    let now = at_command(1);
    let activity_time = format!("{}Z", &now[..19]);
    let pid = our_pid();
    assert_eq!(
        line_diff(&before, &env.read(WP01)),
        [
            "-lane: \"planned\"".to_owned(),
            "+lane: \"doing\"".to_owned(),
            "+base_branch: main".to_owned(),
            format!("+base_commit: {}", git(&env, &["rev-parse", "HEAD~1"])),
            format!("+created_at: '{now}'"),
            "-agent: ''".to_owned(),
            "-shell_pid: ''".to_owned(),
            "+agent: \"claude\"".to_owned(),
            format!("+shell_pid: \"{pid}\""),
            format!(
                "+- {activity_time} – claude – shell_pid={pid} – lane=doing – Started implementation via workflow command"
            ),
        ]
    );
    assert!(env.path(".worktrees/001-x-WP01/.git").is_file());
    assert_eq!(git(&env, &["log", "-1", "--format=%s"]), "chore: Start WP01 implementation [claude]");
    assert_eq!(git(&env, &["show", "--name-only", "--format=", "HEAD"]), format!("{META}\n{WP01}"));
    assert!(queued(&env).is_empty(), "no WPStatusChanged from workflow commands: {:?}", queued(&env));
    assert!(!env.path(&format!("{FEATURE}/status.events.jsonl")).exists());

    let events = json_lines(&env.read(EXECUTION_LOG));
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["node_id"], "cli:WP01");
    assert_eq!(
        events[0]["payload"],
        serde_json::json!({"agent": "claude", "cost_usd": 0.5, "duration_ms": 60000, "error": null, "exit_code": 0,
                           "input_tokens": 1000, "model": "claude-sonnet-4.5", "output_tokens": 200,
                           "role": "implementer", "success": true, "wp_id": "WP01"})
    );

    // The saved prompt frames the work package file and ends with the next steps.
    let prompt = std::fs::read_to_string(json(&run)["prompt_file"].as_str().unwrap()).unwrap();
    let file = env.read(WP01);
    let framed = format!("║  WORK PACKAGE PROMPT BEGINS{}║\n╚", " ".repeat(50));
    assert!(prompt.contains(&framed), "{prompt}");
    assert!(prompt.contains(&format!("\n\n{file}\n╔")), "the whole file, unchanged:\n{prompt}");
    assert!(prompt.contains(
        "spec-kitty agent tasks move-task WP01 --to for_review --feature 001-x --note \"Ready for review: <summary>\""
    ));
    assert!(prompt.contains("spec-kitty agent tasks mark-status T001 --status done --feature 001-x"));
}

#[test]
fn workflow_implement_after_implement_only_assigns_the_agent() {
    let env = project(true);
    run(&env, &["implement", "WP01"]).ok();
    let before = env.read(WP01);

    let text = workflow(&env, "implement", &["WP01-a", "--agent", "codex"]).ok();
    assert!(text.stdout.starts_with("✓ WP01 started (implement): lane doing, agent codex\n\n"), "{}", text.stdout);
    assert!(text.stdout.contains("IMPLEMENT: WP01 – A\n"));
    assert!(normalized(&env, &text.stdout).ends_with(
        "Prompt saved to [TMP]/spec-kitty-implement-001-x-WP01.md\nWorkspace: cd [ROOT]/.worktrees/001-x-WP01\n"
    ));
    let pid = our_pid();
    let activity_time = format!("{}Z", &at_command(2)[..19]);
    assert_eq!(
        line_diff(&before, &env.read(WP01)),
        [
            "-agent: ''".to_owned(),
            "+agent: \"codex\"".to_owned(),
            format!("+- {activity_time} – codex – shell_pid={pid} – lane=doing – Assigned agent via workflow command"),
        ]
    );
    assert_eq!(
        git(&env, &["show", "--name-only", "--format=%s", "HEAD"]),
        format!("chore: Start WP01 implementation [codex]\n\n{WP01}")
    );
    assert_eq!(queued(&env).len(), 1, "only implement's WPStatusChanged");

    // Once started with an agent, running it again changes nothing but still records the phase.
    let without_telemetry = |env: &TestEnv| {
        let mut files = snapshot_files(env);
        files.retain(|path, _| {
            !path.starts_with(FEATURE)
                || !path.to_str().unwrap().contains("telemetry") && !path.ends_with("execution.events.jsonl")
        });
        files
    };
    let files = without_telemetry(&env);
    let again = workflow(&env, "implement", &["WP01", "--agent", "codex"]).ok();
    assert!(again.stdout.starts_with("ℹ WP01 is already in progress (agent codex); nothing changed\n"));
    assert_eq!(without_telemetry(&env), files);
    assert_eq!(json_lines(&env.read(EXECUTION_LOG)).len(), 2);
}

#[test]
fn workflow_implement_refusals_write_nothing() {
    let env = project(true);
    let files = snapshot_files(&env);

    let dependency = workflow(&env, "implement", &["WP02", "--agent", "claude", "--json"]).expect_code(1);
    insta::assert_snapshot!("workflow_implement_dependency_not_done", normalized(&env, &dependency.render()));
    let no_agent = workflow(&env, "implement", &["WP01"]).expect_code(1);
    insta::assert_snapshot!("workflow_implement_needs_agent", normalized(&env, &no_agent.render()));
    env.write(WP01, env.read(WP01).replace("lane: \"planned\"", "lane: \"for_review\""));
    let files_with_review = snapshot_files(&env);
    let in_review = workflow(&env, "implement", &["WP01", "--agent", "claude"]).expect_code(1);
    assert!(in_review.stderr.contains("hint: review it instead: spec-kitty agent workflow review WP01 --agent <name>"));

    assert_eq!(snapshot_files(&env).len(), files.len());
    assert_eq!(snapshot_files(&env), files_with_review);
    assert!(!env.path(EXECUTION_LOG).exists(), "failures record no ExecutionEvent");
    assert!(queued(&env).is_empty(), "workflow failures are not published, as upstream");
}

#[test]
fn workflow_review_claims_a_work_package_in_for_review() {
    let env = project(true);
    run(&env, &["implement", "WP01"]).ok();
    workflow(&env, "implement", &["WP01", "--agent", "claude"]).ok();
    env.write(WP01, env.read(WP01).replace("lane: \"doing\"", "lane: \"for_review\""));
    git(&env, &["commit", "--quiet", "-am", "WP01 ready for review"]);
    let before = env.read(WP01);
    let mut args = vec!["--agent", "codex", "--json"];
    args.extend_from_slice(&TELEMETRY);

    let run = workflow(&env, "review", &args).ok();
    insta::assert_snapshot!("workflow_review_json", normalized(&env, &run.render()));

    let pid = our_pid();
    let activity_time = format!("{}Z", &at_command(3)[..19]);
    assert_eq!(
        line_diff(&before, &env.read(WP01)),
        [
            "-lane: \"for_review\"".to_owned(),
            "+lane: \"doing\"".to_owned(),
            "-agent: \"claude\"".to_owned(),
            "+agent: \"codex\"".to_owned(),
            format!("+- {activity_time} – codex – shell_pid={pid} – lane=doing – Started review via workflow command"),
        ]
    );
    assert_eq!(
        git(&env, &["show", "--name-only", "--format=%s", "HEAD"]),
        format!("chore: Start WP01 review [codex]\n\n{WP01}")
    );
    let events = json_lines(&env.read(EXECUTION_LOG));
    assert_eq!(
        events.iter().map(|e| e["payload"]["role"].as_str().unwrap()).collect::<Vec<_>>(),
        ["implementer", "reviewer"]
    );
    assert_eq!(events[1]["payload"]["agent"], "codex");
    assert_eq!(queued(&env).len(), 1, "only implement's WPStatusChanged");

    let prompt = std::fs::read_to_string(json(&run)["prompt_file"].as_str().unwrap()).unwrap();
    let feedback = tmp_dir(&env).join("spec-kitty-review-feedback-001-x-WP01.md");
    assert!(prompt.contains("⚠️  WP02 depends on WP01 and is not done yet."), "{prompt}");
    assert!(prompt.contains(
        "spec-kitty agent tasks move-task WP01 --to done --feature 001-x --note \"Review passed: <summary>\""
    ));
    assert!(prompt.contains(&format!(
        "spec-kitty agent tasks move-task WP01 --to planned --feature 001-x --review-feedback-file {}",
        feedback.display()
    )));

    // The same reviewer may run it again; anyone else, or a work package not in review, is refused.
    workflow(&env, "review", &["WP01", "--agent", "codex"]).ok();
    let other = workflow(&env, "review", &["WP01", "--agent", "gemini"]).expect_code(1);
    assert!(other.stderr.starts_with("error: WP01 is in lane in_progress, not for_review\n"), "{}", other.stderr);
    let nothing = workflow(&env, "review", &["--agent", "gemini"]).expect_code(1);
    assert!(nothing.stderr.starts_with("error: no work package of 001-x is in lane for_review\n"));
}

#[test]
fn telemetry_cost_by_role_reflects_the_workflow_phases() {
    let env = project(false);
    let mut implement_args = vec!["--agent", "claude"];
    implement_args.extend_from_slice(&TELEMETRY);
    workflow(&env, "implement", &implement_args).ok();
    env.write(WP01, env.read(WP01).replace("lane: \"doing\"", "lane: \"for_review\""));
    workflow(&env, "review", &["WP01", "--agent", "codex", "--cost-usd", "0.25", "--duration-ms", "1000"]).ok();

    let cost = run(&env, &["agent", "telemetry", "cost", "--group-by", "role", "--json"]).ok();
    let groups: Vec<Value> = serde_json::from_str(&cost.stdout).unwrap();
    let by_role: BTreeMap<&str, (&Value, &Value)> =
        groups.iter().map(|g| (g["group_key"].as_str().unwrap(), (&g["total_cost_usd"], &g["event_count"]))).collect();
    assert_eq!(
        by_role,
        BTreeMap::from([
            ("implementer", (&Value::from(0.5), &Value::from(1))),
            ("reviewer", (&Value::from(0.25), &Value::from(1))),
        ])
    );
}
