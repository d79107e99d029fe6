//! `spec-kitty merge` and `spec-kitty accept` on real git repositories: what they change, what they
//! refuse to change, and which sync events they queue.

use crate::support::{Run, TestEnv};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

const FEATURE: &str = "001-x";
const FEATURE_DIR: &str = "kitty-specs/001-x";
const META: &str = "kitty-specs/001-x/meta.json";
const OUTSTANDING: &str = "Outstanding acceptance issues detected";

// ---------------------------------------------------------------------------------------------------
// Fixtures

/// Runs git in `dir` with the test's home (no global config), asserting success; returns trimmed stdout.
fn git_in(env: &TestEnv, dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("HOME", env.home())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("run git");
    assert!(output.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim_end().to_owned()
}

fn git(env: &TestEnv, args: &[&str]) -> String {
    git_in(env, &env.root(), args)
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

/// A project that is a git repository on `branch` with one commit.
fn git_project_on(branch: &str) -> TestEnv {
    let env = TestEnv::new();
    git(&env, &["init", "--quiet", "-b", branch]);
    git(&env, &["config", "user.name", "Test User"]);
    git(&env, &["config", "user.email", "test@example.com"]);
    git(&env, &["config", "commit.gpgsign", "false"]);
    env.write(".gitignore", ".worktrees/\n");
    env.write(".kittify/config.yaml", "vcs:\n  type: git\n");
    commit_all(&env, "Initial commit");
    env
}

fn git_project() -> TestEnv {
    git_project_on("main")
}

fn commit_all(env: &TestEnv, message: &str) {
    git(env, &["add", "-A"]);
    git(env, &["commit", "--quiet", "-m", message]);
}

const META_JSON: &str = "{\n  \"feature_number\": \"001\",\n  \"slug\": \"001-x\",\n  \"feature_slug\": \"001-x\",\n  \"friendly_name\": \"x\",\n  \"mission\": \"software-dev\",\n  \"target_branch\": \"main\",\n  \"created_at\": \"2026-02-16T11:12:33+00:00\"\n}\n";

/// A work-package prompt in `lane` whose metadata and Activity Log satisfy acceptance.
fn wp_file(wp: &str, lane: &str) -> String {
    let mut log =
        String::from("- 2026-02-16T10:00:00Z – system – lane=planned – Prompt generated via /spec-kitty.tasks\n");
    let steps = [("doing", "Started implementation"), ("for_review", "Ready for review"), ("done", "Review passed")];
    let reached = match lane {
        "doing" | "in_progress" => 1,
        "for_review" => 2,
        "done" => 3,
        _ => 0,
    };
    for (i, (step, note)) in steps.iter().take(reached).enumerate() {
        log.push_str(&format!("- 2026-02-16T1{}:00:00Z – claude – shell_pid=4242 – lane={step} – {note}\n", i + 1));
    }
    if !matches!(lane, "planned" | "doing" | "in_progress" | "for_review" | "done") {
        log.push_str(&format!("- 2026-02-16T15:00:00Z – claude – shell_pid=4242 – lane={lane} – Moved\n"));
    }
    format!(
        "---\nwork_package_id: {wp}\ntitle: Part {wp}\nlane: \"{lane}\"\ndependencies: []\nsubtasks:\n- T001\nassignee: 'ada'\nagent: claude\nshell_pid: '4242'\n---\n# Work Package Prompt: {wp} – Part {wp}\n\nDo the work.\n\n## Activity Log\n\n{log}"
    )
}

/// Feature 001-x with every planning document and one WP file per `(wp, lane)`, committed.
fn feature(env: &TestEnv, wps: &[(&str, &str)]) {
    env.write(META, META_JSON);
    for doc in ["spec.md", "plan.md", "research.md", "data-model.md", "quickstart.md"] {
        env.write(&format!("{FEATURE_DIR}/{doc}"), format!("# {doc}\n\nAll settled.\n"));
    }
    env.write(&format!("{FEATURE_DIR}/contracts/api.yaml"), "openapi: 3.1.0\n");
    let mut tasks = String::from("# Tasks: x\n");
    for (wp, lane) in wps {
        env.write(&format!("{FEATURE_DIR}/tasks/{wp}-part.md"), wp_file(wp, lane));
        tasks.push_str(&format!(
            "\n## Work Package {wp}: Part (Priority: P1)\n### Included Subtasks\n- [x] T0{} Build it\n",
            &wp[2..]
        ));
    }
    env.write(&format!("{FEATURE_DIR}/tasks.md"), tasks);
    commit_all(env, "Plan feature 001-x");
}

/// The workspace of `wp`: a worktree on branch `001-x-<wp>` off main with `file` committed in it.
fn workspace(env: &TestEnv, wp: &str, file: &str, contents: &str) {
    let name = format!("{FEATURE}-{wp}");
    let relative = format!(".worktrees/{name}");
    git(env, &["worktree", "add", "--quiet", "-b", &name, &relative, "main"]);
    let dir = env.path(&relative);
    std::fs::write(dir.join(file), contents).unwrap();
    git_in(env, &dir, &["add", "-A"]);
    git_in(env, &dir, &["commit", "--quiet", "-m", &format!("Implement {wp}")]);
}

/// A feature with two in-progress WPs, each with a workspace holding one commit.
fn two_wp_feature() -> TestEnv {
    let env = git_project();
    feature(&env, &[("WP01", "doing"), ("WP02", "doing")]);
    workspace(&env, "WP01", "storage.rs", "pub struct Store;\n");
    workspace(&env, "WP02", "api.rs", "pub fn serve() {}\n");
    env
}

/// Every branch with its commit, the checked-out branch, the worktrees and every file outside `.git`.
fn repository_state(env: &TestEnv) -> String {
    let mut state = git(env, &["for-each-ref", "--format=%(refname) %(objectname)", "refs/heads"]);
    state.push_str(&format!("\nHEAD {}\n", git(env, &["symbolic-ref", "HEAD"])));
    state.push_str(&git(env, &["worktree", "list", "--porcelain"]));
    for file in files_under(&env.root()) {
        let bytes = std::fs::read(env.root().join(&file)).unwrap();
        state.push_str(&format!("\n{file} {}", String::from_utf8_lossy(&bytes).len()));
    }
    state
}

fn files_under(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if entry.file_name() == ".git" {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    files.sort();
    files
}

/// The queued sync events as `(event_type, envelope)`, oldest first.
fn queued_events(env: &TestEnv) -> Vec<(String, Value)> {
    let path = env.home().join(".spec-kitty/queue.db");
    if !path.exists() {
        return Vec::new();
    }
    let db = rusqlite::Connection::open(path).unwrap();
    let mut query = db.prepare("SELECT event_type, data FROM queue ORDER BY id").unwrap();
    query
        .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))
        .unwrap()
        .map(|row| {
            let (kind, data) = row.unwrap();
            (kind, serde_json::from_str(&data).unwrap())
        })
        .collect()
}

/// Output with the project root shown as `[ROOT]`.
fn normalized(env: &TestEnv, run: &Run) -> String {
    run.render().replace(&env.root().display().to_string(), "[ROOT]")
}

fn assert_snapshot_without_shas(name: &str, text: &str) {
    insta::with_settings!({ filters => vec![(r"\b[0-9a-f]{40}\b", "[SHA]")] }, {
        insta::assert_snapshot!(name, text);
    });
}

// ---------------------------------------------------------------------------------------------------
// merge

#[test]
fn merge_dry_run_prints_the_plan_and_changes_nothing() {
    let env = two_wp_feature();
    let before = repository_state(&env);
    let run = env.run(&["merge", "--dry-run"]).ok();
    insta::assert_snapshot!("merge_dry_run", normalized(&env, &run));
    let json = env.run(&["merge", "--dry-run", "--json", "--strategy", "squash"]).ok();
    let plan: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        plan,
        serde_json::json!({
            "dry_run": true, "feature": "001-x", "target": "main", "strategy": "squash", "push": false,
            "work_packages": [
                {"wp_id": "WP01", "branch": "001-x-WP01", "commits_ahead": 1, "already_merged": false},
                {"wp_id": "WP02", "branch": "001-x-WP02", "commits_ahead": 1, "already_merged": false},
            ]
        })
    );
    assert_eq!(repository_state(&env), before);
    assert!(queued_events(&env).is_empty(), "a dry run emits nothing");
}

#[test]
fn merge_merges_each_wp_in_order_then_removes_worktrees_and_branches() {
    let env = two_wp_feature();
    // spec-kitty's own bookkeeping files may be dirty; they do not block the merge.
    env.write(&format!("{FEATURE_DIR}/execution.events.jsonl"), "{}\n");
    git(&env, &["checkout", "--quiet", "-b", "elsewhere"]);
    let run = env.run(&["merge"]).ok();
    insta::assert_snapshot!("merge_success", normalized(&env, &run));

    assert_eq!(git(&env, &["symbolic-ref", "--short", "HEAD"]), "main", "the target is checked out");
    assert_eq!(
        lines(&git(&env, &["log", "--first-parent", "--format=%s", "main"])),
        ["Merge WP02 from 001-x", "Merge WP01 from 001-x", "Plan feature 001-x", "Initial commit"]
    );
    assert_eq!(git(&env, &["rev-list", "--parents", "-n", "1", "main"]).split(' ').count(), 3, "a real merge commit");
    assert_eq!(env.read("storage.rs"), "pub struct Store;\n");
    assert_eq!(env.read("api.rs"), "pub fn serve() {}\n");
    assert!(!env.path(".worktrees/001-x-WP01").exists() && !env.path(".worktrees/001-x-WP02").exists());
    assert_eq!(lines(&git(&env, &["branch", "--format=%(refname:short)"])), ["elsewhere", "main"]);

    let events = queued_events(&env);
    let payloads: Vec<&Value> = events.iter().map(|(_, e)| &e["payload"]).collect();
    assert_eq!(events.iter().map(|(kind, _)| kind.as_str()).collect::<Vec<_>>(), ["WPStatusChanged"; 2]);
    for (payload, wp) in payloads.iter().zip(["WP01", "WP02"]) {
        assert_eq!(
            **payload,
            serde_json::json!({"wp_id": wp, "from_lane": "in_progress", "to_lane": "for_review", "actor": "user",
                               "feature_slug": "001-x", "policy_metadata": null})
        );
    }
    assert_eq!(events[0].1["aggregate_id"], "WP01");
}

#[test]
fn merge_keeps_worktrees_and_branches_when_asked_and_a_rerun_skips_merged_wps() {
    let env = two_wp_feature();
    let run = env.run(&["merge", "--keep-worktree", "--keep-branch", "--json"]).ok();
    insta::assert_snapshot!("merge_keep_json", run.render());
    assert!(env.path(".worktrees/001-x-WP01/storage.rs").exists() && env.path(".worktrees/001-x-WP02").exists());
    assert_eq!(lines(&git(&env, &["branch", "--format=%(refname:short)"])), ["001-x-WP01", "001-x-WP02", "main"]);

    let head = git(&env, &["rev-parse", "main"]);
    let again = env.run(&["merge", "--json"]).ok();
    let result: Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(result["merged"], serde_json::json!([]));
    assert_eq!(result["skipped"], serde_json::json!(["WP01", "WP02"]));
    assert_eq!(result["worktrees_removed"], serde_json::json!([".worktrees/001-x-WP01", ".worktrees/001-x-WP02"]));
    assert_eq!(result["branches_deleted"], serde_json::json!(["001-x-WP01", "001-x-WP02"]));
    assert_eq!(git(&env, &["rev-parse", "main"]), head, "nothing merged twice");
    assert_eq!(queued_events(&env).len(), 2, "skipped WPs emit nothing");
}

#[test]
fn merge_squash_makes_one_plain_commit_per_wp_and_force_deletes_branches() {
    let env = two_wp_feature();
    let run = env.run(&["merge", "--strategy", "squash", "--json"]).ok();
    let result: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(result["strategy"], "squash");
    assert_eq!(result["merged"], serde_json::json!(["WP01", "WP02"]));
    assert_eq!(result["branches_deleted"], serde_json::json!(["001-x-WP01", "001-x-WP02"]));
    assert_eq!(
        lines(&git(&env, &["log", "--format=%s", "main"])),
        ["Merge WP02 from 001-x", "Merge WP01 from 001-x", "Plan feature 001-x", "Initial commit"],
        "no WP commits and no merge commits in the history"
    );
    assert_eq!(git(&env, &["rev-list", "--parents", "-n", "1", "main"]).split(' ').count(), 2);
    assert!(env.path("storage.rs").exists() && env.path("api.rs").exists());
    assert_eq!(lines(&git(&env, &["branch", "--format=%(refname:short)"])), ["main"]);
    assert_eq!(queued_events(&env).len(), 2);
}

#[test]
fn squash_rerun_after_keeping_branches_skips_already_squashed_work() {
    let env = two_wp_feature();
    env.run(&["merge", "--strategy", "squash", "--keep-worktree"]).ok();
    let head = git(&env, &["rev-parse", "main"]);
    let again = env.run(&["merge", "--strategy", "squash", "--json"]).ok();
    let result: Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(result["skipped"], serde_json::json!(["WP01", "WP02"]));
    assert_eq!(git(&env, &["rev-parse", "main"]), head);
    assert_eq!(lines(&git(&env, &["branch", "--format=%(refname:short)"])), ["main"], "-D for squashed branches");
}

#[test]
fn a_conflict_aborts_that_merge_keeps_earlier_ones_and_a_rerun_resumes() {
    let env = git_project();
    feature(&env, &[("WP01", "doing"), ("WP02", "doing"), ("WP03", "doing")]);
    workspace(&env, "WP01", "shared.txt", "from WP01\n");
    workspace(&env, "WP02", "shared.txt", "from WP02\n");
    workspace(&env, "WP03", "third.txt", "three\n");
    let run = env.run(&["merge"]).expect_code(1);
    insta::assert_snapshot!("merge_conflict", normalized(&env, &run));

    assert_eq!(
        lines(&git(&env, &["log", "--first-parent", "--format=%s", "main"])),
        ["Merge WP01 from 001-x", "Plan feature 001-x", "Initial commit"],
        "WP01 stays merged; WP02 and later are not"
    );
    assert_eq!(git(&env, &["status", "--porcelain"]), "", "the aborted merge left nothing behind");
    assert!(!env.path(".git/MERGE_HEAD").exists());
    assert_eq!(env.read("shared.txt"), "from WP01\n");
    assert!(env.path(".worktrees/001-x-WP02").exists(), "nothing is cleaned up after a failure");
    let events = queued_events(&env);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].1["payload"]["wp_id"], "WP01");

    // Resolve in WP02's worktree, then re-run: WP01 is skipped, WP02 and WP03 are merged.
    let wp02 = env.path(".worktrees/001-x-WP02");
    let _ =
        Command::new("git").arg("-C").arg(&wp02).args(["merge", "--quiet", "main"]).env("HOME", env.home()).output();
    std::fs::write(wp02.join("shared.txt"), "from WP01 and WP02\n").unwrap();
    git_in(&env, &wp02, &["commit", "--quiet", "-am", "Resolve conflict with main"]);
    let resumed = env.run(&["merge", "--json"]).ok();
    let result: Value = serde_json::from_str(&resumed.stdout).unwrap();
    assert_eq!(
        (&result["merged"], &result["skipped"]),
        (&serde_json::json!(["WP02", "WP03"]), &serde_json::json!(["WP01"]))
    );
    assert_eq!(env.read("shared.txt"), "from WP01 and WP02\n");
    assert_eq!(queued_events(&env).len(), 3);
}

#[test]
fn a_squash_conflict_is_rolled_back_too() {
    let env = git_project();
    feature(&env, &[("WP01", "doing"), ("WP02", "doing")]);
    workspace(&env, "WP01", "shared.txt", "from WP01\n");
    workspace(&env, "WP02", "shared.txt", "from WP02\n");
    let run = env.run(&["merge", "--strategy", "squash", "--json"]).expect_code(1);
    let error: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(error["error_code"], "MERGE_CONFLICT");
    assert!(error["error"].as_str().unwrap().contains("cannot merge WP02"), "{error}");
    assert_eq!(git(&env, &["status", "--porcelain"]), "");
    assert_eq!(git(&env, &["log", "-1", "--format=%s", "main"]), "Merge WP01 from 001-x");
}

#[test]
fn the_preflight_lists_every_problem_and_changes_nothing() {
    let env = git_project();
    feature(&env, &[("WP01", "doing"), ("WP02", "doing"), ("WP03", "planned"), ("WP04", "done")]);
    workspace(&env, "WP01", "storage.rs", "pub struct Store;\n");
    workspace(&env, "WP02", "api.rs", "pub fn serve() {}\n");
    env.write(".worktrees/001-x-WP02/api.rs", "pub fn serve() { todo!() }\n");
    env.write(&format!("{FEATURE_DIR}/spec.md"), "# spec.md\n\nEdited, not committed.\n");
    let before = repository_state(&env);
    let run = env.run(&["merge"]).expect_code(1);
    insta::assert_snapshot!("merge_preflight_failure", normalized(&env, &run));
    assert_eq!(repository_state(&env), before);
    assert!(queued_events(&env).is_empty());
}

#[test]
fn merge_checks_the_target_and_the_strategy() {
    let env = two_wp_feature();
    let run = env.run(&["merge", "--target", "release"]).expect_code(1);
    assert!(run.stderr.contains("target branch 'release' does not exist"), "{}", run.stderr);
    let run = env.run(&["merge", "--strategy", "octopus"]).expect_code(2);
    assert!(run.stderr.contains("invalid value 'octopus'"), "{}", run.stderr);
}

/// A bare repository as `origin` of the project, with main pushed; returns its path.
fn bare_origin(env: &TestEnv) -> std::path::PathBuf {
    let origin = env.home().join("origin.git");
    git(env, &["init", "--quiet", "--bare", origin.to_str().unwrap()]);
    git(env, &["remote", "add", "origin", origin.to_str().unwrap()]);
    git(env, &["push", "--quiet", "origin", "main"]);
    origin
}

#[test]
fn rebase_makes_a_linear_history_and_push_publishes_the_target() {
    let env = two_wp_feature();
    let origin = bare_origin(&env);
    let plan = env.run(&["merge", "--strategy", "rebase", "--push", "--dry-run", "--json"]).ok();
    let plan: Value = serde_json::from_str(&plan.stdout).unwrap();
    assert_eq!((plan["strategy"].as_str(), plan["push"].as_bool()), (Some("rebase"), Some(true)));
    let text = env.run(&["merge", "--strategy", "rebase", "--push", "--dry-run"]).ok();
    assert!(text.stdout.contains("push main to origin"), "{}", text.stdout);

    let run = env.run(&["merge", "--strategy", "rebase", "--push", "--json"]).ok();
    let result: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(result["merged"], serde_json::json!(["WP01", "WP02"]));
    assert_eq!((result["pushed"].as_bool(), &result["push_error"]), (Some(true), &Value::Null));
    assert_eq!(git(&env, &["log", "--merges", "--format=%s", "main"]), "", "no merge commits: linear history");
    assert_eq!(
        lines(&git(&env, &["log", "-3", "--format=%s", "main"])),
        ["Implement WP02", "Implement WP01", "Plan feature 001-x"]
    );
    let pushed = git_in(&env, &origin, &["rev-parse", "main"]);
    assert_eq!(pushed, git(&env, &["rev-parse", "main"]), "origin/main is the merged main");
    assert_eq!(git(&env, &["branch", "--list", "001-x-*"]), "", "rebased branches are deleted with -d");
}

#[test]
fn a_failed_push_keeps_the_merge_and_says_how_to_retry() {
    let env = two_wp_feature();
    git(&env, &["remote", "add", "origin", env.home().join("missing.git").to_str().unwrap()]);
    let run = env.run(&["merge", "--push", "--json"]).ok();
    let result: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(result["merged"], serde_json::json!(["WP01", "WP02"]));
    assert_eq!(result["pushed"], false);
    assert!(result["push_error"].as_str().unwrap().contains("git push origin main"), "{result}");
    assert!(run.stderr.contains("run it yourself once the problem is fixed: git push origin main"), "{}", run.stderr);
    assert_eq!(git(&env, &["log", "-1", "--format=%s", "main"]), "Merge WP02 from 001-x");
}

#[test]
fn a_rebase_conflict_leaves_the_target_untouched() {
    let env = git_project();
    feature(&env, &[("WP01", "doing"), ("WP02", "doing")]);
    workspace(&env, "WP01", "shared.rs", "one\n");
    workspace(&env, "WP02", "shared.rs", "two\n");
    let run = env.run(&["merge", "--strategy", "rebase", "--json"]).expect_code(1);
    let error: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(error["error_code"], "MERGE_CONFLICT", "{error}");
    assert_eq!(git(&env, &["log", "-1", "--format=%s", "main"]), "Implement WP01");
    let worktree = env.path(".worktrees/001-x-WP02");
    assert_eq!(git_in(&env, &worktree, &["status", "--porcelain"]), "", "the rebase was aborted");
    assert_eq!(git_in(&env, &worktree, &["log", "-1", "--format=%s"]), "Implement WP02");
}

#[test]
fn merge_without_git_says_it_needs_git() {
    let env = TestEnv::new();
    env.write(META, META_JSON);
    env.write(&format!("{FEATURE_DIR}/tasks/WP01-part.md"), wp_file("WP01", "doing"));
    std::fs::create_dir_all(env.path(".worktrees/001-x-WP01")).unwrap();
    let before = files_under(&env.root());
    let run = env.run(&["merge"]).expect_code(1);
    insta::assert_snapshot!("merge_without_git", normalized(&env, &run));
    assert_eq!(files_under(&env.root()), before);
    assert!(env.path(".worktrees/001-x-WP01").is_dir());
}

// ---------------------------------------------------------------------------------------------------
// accept

fn complete_feature() -> TestEnv {
    let env = git_project();
    feature(&env, &[("WP01", "done"), ("WP02", "done")]);
    env
}

#[test]
fn accept_records_a_complete_feature_and_commits_it() {
    let env = complete_feature();
    let from = git(&env, &["rev-parse", "HEAD"]);
    let run = env.run(&["accept"]).ok();
    assert_snapshot_without_shas("accept_success", &normalized(&env, &run));
    assert_snapshot_without_shas("accept_meta_json", &env.read(META));

    let meta: Value = serde_json::from_str(&env.read(META)).unwrap();
    assert_eq!(meta["accepted_from_commit"], from.as_str());
    assert_eq!(meta["accepted_at"], "2026-02-16T11:12:34Z", "the first command's clock");
    assert_eq!(git(&env, &["log", "-1", "--format=%s"]), "Accept 001-x");
    assert_eq!(git(&env, &["show", "--name-only", "--format=", "HEAD"]), META);
    assert_eq!(git(&env, &["status", "--porcelain"]), "");
    // Acceptance completes the dashboard lifecycle (merge reported for_review): one for_review→done per WP.
    let events = queued_events(&env);
    assert!(!events.is_empty());
    for (event_type, event) in &events {
        assert_eq!(event_type, "WPStatusChanged");
        let lanes = (event["payload"]["from_lane"].as_str(), event["payload"]["to_lane"].as_str());
        assert_eq!(lanes, (Some("for_review"), Some("done")));
    }

    // A second acceptance appends to the history.
    let json = env.run(&["accept", "--json", "--mode", "pr", "--actor", "Ada"]).ok();
    let result: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!((result["summary"]["ok"].as_bool(), result["mode"].as_str()), (Some(true), Some("pr")));
    assert_eq!(result["accepted_by"], "Ada");
    assert_eq!(result["accept_commit"].as_str(), Some(git(&env, &["rev-parse", "HEAD"]).as_str()));
    assert_eq!(result["commit_created"], true);
    let meta: Value = serde_json::from_str(&env.read(META)).unwrap();
    let history = meta["acceptance_history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!((history[1]["mode"].as_str(), history[1]["branch"].as_str()), (Some("pr"), Some("main")));
}

#[test]
fn accept_json_reports_the_summary_and_no_commit_leaves_meta_uncommitted() {
    let env = complete_feature();
    let run = env.run(&["accept", "--json", "--no-commit", "--actor", "Ada"]).ok();
    let result: Value = serde_json::from_str(&run.stdout).unwrap();
    let normalized =
        serde_json::to_string_pretty(&result).unwrap().replace(&env.root().display().to_string(), "[ROOT]");
    assert_snapshot_without_shas("accept_json", &normalized);
    assert_eq!((&result["accept_commit"], &result["commit_created"]), (&Value::Null, &Value::Bool(false)));
    assert_eq!(result["summary"]["path_violations"], serde_json::json!([]));
    assert_eq!(git(&env, &["status", "--porcelain"]), format!(" M {META}"));
    assert_eq!(git(&env, &["log", "-1", "--format=%s"]), "Plan feature 001-x");
}

#[test]
fn accept_writes_meta_json_exactly_like_upstream() {
    // Feature 053's meta.json as upstream's accept left it: re-accept the same feature with the same
    // actor, mode, branch and clock and compare the bytes.
    let Some(fixture) = crate::support::upstream_fixture() else { return };
    let dir = std::fs::read_dir(fixture.join("kitty-specs"))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("053-"));
    let expected = std::fs::read_to_string(dir.unwrap().path().join("meta.json")).unwrap();
    let mut original: serde_json::Map<String, Value> = serde_json::from_str(&expected).unwrap();
    for key in
        ["accept_commit", "acceptance_history", "acceptance_mode", "accepted_at", "accepted_by", "accepted_from_commit"]
    {
        original.remove(key);
    }

    let env = git_project_on("develop");
    feature(&env, &[("WP01", "done")]);
    env.write(META, serde_json::to_string_pretty(&original).unwrap() + "\n");
    commit_all(&env, "Upstream meta");
    let from = git(&env, &["rev-parse", "HEAD"]);
    env.run_with_env(&["accept", "--mode", "pr", "--actor", "stijn"], &[("SPEC_KITTY_NOW", "2026-02-17T15:55:45Z")])
        .ok();
    assert_eq!(env.read(META), expected.replace("bb2d8857bc7bccd77bd7f4c13e8c0ce4b4effac2", &from));
}

/// One broken acceptance check: how to break it, and what the report must then say.
struct FailingCase {
    name: &'static str,
    break_it: fn(&TestEnv),
    reported: &'static str,
}

fn write_wp(env: &TestEnv, wp: &str, text: &str) {
    env.write(&format!("{FEATURE_DIR}/tasks/{wp}-part.md"), text);
}

fn failing_cases() -> Vec<FailingCase> {
    let case = |name, break_it, reported| FailingCase { name, break_it, reported };
    vec![
        case(
            "unchecked subtask",
            |env| env.write(&format!("{FEATURE_DIR}/tasks.md"), "## Work Package WP01\n- [ ] T001 Build it\n"),
            "- [ ] T001 Build it",
        ),
        // Upstream let in_progress, claimed and blocked WPs (and `doing` ones) through; every lane but
        // done and canceled must block.
        case("WP in_progress", |env| write_wp(env, "WP02", &wp_file("WP02", "in_progress")), "WP02 (in_progress)"),
        case("WP doing", |env| write_wp(env, "WP02", &wp_file("WP02", "doing")), "WP02 (in_progress)"),
        case("WP claimed", |env| write_wp(env, "WP02", &wp_file("WP02", "claimed")), "WP02 (claimed)"),
        case("WP blocked", |env| write_wp(env, "WP02", &wp_file("WP02", "blocked")), "WP02 (blocked)"),
        case("WP for_review", |env| write_wp(env, "WP02", &wp_file("WP02", "for_review")), "WP02 (for_review)"),
        case(
            "missing Activity Log entry",
            |env| {
                let text =
                    wp_file("WP01", "done").replace(" – lane=done – Review passed", " – lane=for_review – Again");
                write_wp(env, "WP01", &text);
            },
            "WP01: Activity Log missing entry for lane=done",
        ),
        case(
            "missing agent",
            |env| write_wp(env, "WP01", &wp_file("WP01", "done").replace("agent: claude\n", "")),
            "WP01: missing agent in frontmatter",
        ),
        case(
            "NEEDS CLARIFICATION",
            |env| env.write(&format!("{FEATURE_DIR}/plan.md"), "# Plan\n\nStorage: [NEEDS CLARIFICATION: which DB?]\n"),
            "kitty-specs/001-x/plan.md (line 3)",
        ),
        case(
            "missing plan.md",
            |env| std::fs::remove_file(env.path(&format!("{FEATURE_DIR}/plan.md"))).unwrap(),
            "- missing_artifacts\n    • plan.md",
        ),
        case("dirty tree", |env| env.write("notes.txt", "scratch\n"), "?? notes.txt"),
    ]
}

#[test]
fn each_failing_check_is_reported_nothing_is_written_and_one_error_is_logged() {
    for FailingCase { name, break_it, reported } in failing_cases() {
        let env = complete_feature();
        break_it(&env);
        if name != "dirty tree" {
            commit_all(&env, "Break it");
        }
        let head = git(&env, &["rev-parse", "HEAD"]);
        let run = env.run(&["accept"]).expect_code(1);
        assert!(run.stdout.contains(reported), "{name}: {}", run.stdout);
        assert!(run.stderr.contains(&format!("error: {OUTSTANDING}")), "{name}: {}", run.stderr);
        assert_eq!(env.read(META), META_JSON, "{name}: meta.json untouched");
        assert_eq!(git(&env, &["rev-parse", "HEAD"]), head, "{name}: no commit");

        let events = queued_events(&env);
        assert_eq!(events.len(), 1, "{name}: exactly one event");
        let (kind, envelope) = &events[0];
        assert_eq!(kind, "ErrorLogged");
        assert_eq!(envelope["payload"], serde_json::json!({"error_type": "runtime", "error_message": OUTSTANDING}));
        assert_eq!(envelope["aggregate_id"], "error");
    }
}

#[test]
fn failure_reports_render_the_outstanding_items() {
    let env = complete_feature();
    env.write(
        &format!("{FEATURE_DIR}/tasks/WP02-part.md"),
        wp_file("WP02", "in_progress").replace("assignee: 'ada'\n", ""),
    );
    env.write(&format!("{FEATURE_DIR}/tasks.md"), "## Work Package WP02\n- [ ] T002 Build it\n");
    std::fs::remove_file(env.path(&format!("{FEATURE_DIR}/research.md"))).unwrap();
    commit_all(&env, "Unfinished");
    let run = env.run(&["accept"]).expect_code(1);
    insta::assert_snapshot!("accept_failure", normalized(&env, &run));

    let json = env.run(&["accept", "--json"]).expect_code(1);
    assert_eq!(json.stdout.lines().count(), 1, "one JSON object: {}", json.stdout);
    let summary: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(summary["error"], OUTSTANDING);
    assert_eq!(summary["ok"], false);
    assert_eq!(summary["not_done"], serde_json::json!(["WP02 (in_progress)"]));
    assert_eq!(summary["lanes"]["in_progress"], serde_json::json!(["WP02"]));
    assert_eq!(summary["metadata_issues"], serde_json::json!(["WP02: missing assignee in frontmatter"]));

    let lenient = env.run(&["accept", "--json", "--lenient"]).expect_code(1);
    let summary: Value = serde_json::from_str(&lenient.stdout).unwrap();
    assert_eq!(summary["metadata_issues"], serde_json::json!([]));
}

#[test]
fn checklist_mode_only_reports() {
    let env = complete_feature();
    let run = env.run(&["accept", "--mode", "checklist"]).ok();
    assert!(run.stdout.contains("No outstanding acceptance issues detected."), "{}", run.stdout);
    assert_eq!(env.read(META), META_JSON);
    assert_eq!(git(&env, &["log", "-1", "--format=%s"]), "Plan feature 001-x");

    env.write("notes.txt", "scratch\n");
    let run = env.run(&["accept", "--mode", "checklist", "--json"]).expect_code(1);
    let summary: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(summary["git_dirty"], serde_json::json!(["?? notes.txt"]));
    assert_eq!(env.read(META), META_JSON);
    assert!(queued_events(&env).is_empty(), "a checklist is a report, not a failure to log");
}

#[test]
fn allow_fail_exits_zero_and_records_nothing() {
    let env = complete_feature();
    env.write("notes.txt", "scratch\n");
    let run = env.run(&["accept", "--allow-fail"]).ok();
    assert!(run.stdout.contains("--allow-fail: nothing was recorded."), "{}", run.stdout);
    assert_eq!(env.read(META), META_JSON);
    assert!(queued_events(&env).is_empty());
}

#[test]
fn canceled_work_packages_count_as_finished() {
    let env = git_project();
    feature(&env, &[("WP01", "done"), ("WP02", "canceled")]);
    let run = env.run(&["accept", "--no-commit"]).ok();
    assert!(
        run.stdout.contains("Warning: WP02 is canceled; canceled work packages count as finished"),
        "{}",
        run.stdout
    );
}

#[test]
fn accept_works_without_git() {
    let env = TestEnv::new();
    feature_files_without_git(&env);
    let run = env.run(&["accept", "--actor", "Ada"]).ok();
    assert!(run.stdout.contains("• Commit: none (not a git repository)"), "{}", run.stdout);
    let meta: Value = serde_json::from_str(&env.read(META)).unwrap();
    assert_eq!((meta["acceptance_mode"].as_str(), meta["accepted_from_commit"].as_null()), (Some("local"), Some(())));
    assert_eq!(meta["acceptance_history"][0]["branch"], Value::Null);
}

#[test]
fn merge_then_accept_with_runtime_directories_left_untracked() {
    let env = git_project();
    // No .gitignore: the worktrees and workspace context files show up as untracked, and still do not
    // count as changes for merge or accept.
    git(&env, &["rm", "--quiet", ".gitignore"]);
    feature(&env, &[("WP01", "done"), ("WP02", "done")]);
    workspace(&env, "WP01", "storage.rs", "pub struct Store;\n");
    workspace(&env, "WP02", "api.rs", "pub fn serve() {}\n");
    env.write(".kittify/workspaces/001-x-WP01.json", "{}\n");
    env.run(&["merge", "--keep-worktree"]).ok();
    assert!(git(&env, &["status", "--porcelain"]).contains("?? .worktrees/"));
    env.run(&["accept"]).ok();
    assert_eq!(git(&env, &["log", "-1", "--format=%s"]), "Accept 001-x");
}

fn feature_files_without_git(env: &TestEnv) {
    env.write(META, META_JSON);
    for doc in ["spec.md", "plan.md", "research.md", "data-model.md", "quickstart.md"] {
        env.write(&format!("{FEATURE_DIR}/{doc}"), "# doc\n");
    }
    std::fs::create_dir_all(env.path(&format!("{FEATURE_DIR}/contracts"))).unwrap();
    env.write(&format!("{FEATURE_DIR}/tasks.md"), "- [x] T001\n");
    env.write(&format!("{FEATURE_DIR}/tasks/WP01-part.md"), wp_file("WP01", "done"));
}
