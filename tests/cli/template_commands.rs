//! The top-level commands the slash-command templates call besides the workflow ones: `validate-encoding`,
//! `research`, `verify-setup` and `next`, through the real binary.

use crate::support::{Run, TestEnv};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, SystemTime};

fn json_of(run: &Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON value ({e}):\n{}", run.render()))
}

fn write_meta(env: &TestEnv, slug: &str, mission: &str) {
    let meta = json!({"feature_number": &slug[..3], "slug": slug, "feature_slug": slug, "mission": mission});
    env.write(&format!("kitty-specs/{slug}/meta.json"), serde_json::to_string_pretty(&meta).unwrap() + "\n");
}

fn mtime(path: &Path) -> SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

/// Sets a file's modification time an hour back, so a rewrite would show.
fn age(path: &Path) -> SystemTime {
    let past = SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options().write(true).open(path).unwrap().set_modified(past).unwrap();
    mtime(path)
}

// ---------------------------------------------------------------------------------------------------
// validate-encoding

/// `User’s “test” — café…` with Windows-1252 punctuation around a correctly encoded `é`.
fn cp1252_spec() -> Vec<u8> {
    let mut bytes = b"# Spec\n\nUser\x92s \x93test\x94 \x97 caf".to_vec();
    bytes.extend_from_slice("é".as_bytes());
    bytes.extend_from_slice(b"\x85\n");
    bytes
}

const CLEAN_PLAN: &str = "# Plan – clean UTF-8\n\nCafé, naïve, 🚀.\n";

#[test]
fn validate_encoding_finds_and_repairs_windows_1252_bytes() {
    let env = TestEnv::new();
    write_meta(&env, "001-demo", "software-dev");
    env.write("kitty-specs/001-demo/spec.md", cp1252_spec());
    env.write("kitty-specs/001-demo/plan.md", CLEAN_PLAN);
    env.write("kitty-specs/001-demo/tasks/WP01-store.md", b"---\nlane: planned\n---\n# WP01\n\nIt\x92s done.\n");
    env.write("kitty-specs/001-demo/research/notes.txt", b"not markdown \x92\n");
    let plan = env.path("kitty-specs/001-demo/plan.md");
    let plan_mtime = age(&plan);

    // Without --fix: every bad byte is reported, nothing is written, exit 1.
    let run = env.run(&["validate-encoding", "--feature", "001-demo", "--json"]).expect_code(1);
    let report = json_of(&run);
    assert_eq!(report["result"], "issues");
    assert_eq!(report["files_with_issues"], 2);
    let files = report["features"][0]["files"].as_array().unwrap();
    assert_eq!(report["features"][0]["files_checked"], 3, "the three *.md files, not notes.txt");
    assert_eq!(files[0]["path"], "kitty-specs/001-demo/spec.md");
    assert_eq!(files[0]["status"], "needs_fix");
    let issues: Vec<(u64, u64, u64, &str, &str, &str)> = files[0]["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["line"].as_u64().unwrap(),
                i["column"].as_u64().unwrap(),
                i["offset"].as_u64().unwrap(),
                i["found"].as_str().unwrap(),
                i["character"].as_str().unwrap(),
                i["replacement"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        issues,
        [
            (3, 5, 12, "0x92", "\u{2019}", "'"),
            (3, 8, 15, "0x93", "\u{201C}", "\""),
            (3, 13, 20, "0x94", "\u{201D}", "\""),
            (3, 15, 22, "0x97", "\u{2014}", "---"),
            (3, 21, 29, "0x85", "\u{2026}", "..."),
        ]
    );
    assert_eq!(files[1]["path"], "kitty-specs/001-demo/tasks/WP01-store.md");
    assert_eq!(std::fs::read(env.path("kitty-specs/001-demo/spec.md")).unwrap(), cp1252_spec());
    assert!(run.stderr.contains("validate-encoding --feature 001-demo --fix"), "{}", run.stderr);

    // The text report names the file, line, column and byte.
    let run = env.run(&["validate-encoding", "--feature", "001-demo"]).expect_code(1);
    assert!(run.stdout.contains("✗ spec.md: 5 problem(s)"), "{}", run.stdout);
    assert!(run.stdout.contains("line 3, column 5 (offset 12): byte 0x92 (’ in Windows-1252) → '"), "{}", run.stdout);
    assert!(run.stdout.contains("✗ tasks/WP01-store.md: 1 problem(s)"), "{}", run.stdout);

    // --fix: UTF-8 (ASCII punctuation, as upstream writes it), a .bak of the original, exit 0.
    let run = env.run(&["validate-encoding", "--feature", "001-demo", "--fix", "--json"]).ok();
    let report = json_of(&run);
    assert_eq!((report["result"].as_str(), report["files_fixed"].as_u64()), (Some("fixed"), Some(2)));
    assert_eq!(report["features"][0]["files"][0]["backup"], "kitty-specs/001-demo/spec.md.bak");
    assert_eq!(env.read("kitty-specs/001-demo/spec.md"), "# Spec\n\nUser's \"test\" --- café...\n");
    assert_eq!(env.read("kitty-specs/001-demo/tasks/WP01-store.md"), "---\nlane: planned\n---\n# WP01\n\nIt's done.\n");
    assert_eq!(std::fs::read(env.path("kitty-specs/001-demo/spec.md.bak")).unwrap(), cp1252_spec());
    assert_eq!(std::fs::read(env.path("kitty-specs/001-demo/research/notes.txt")).unwrap(), b"not markdown \x92\n");
    // The clean file was not touched at all.
    assert_eq!(env.read("kitty-specs/001-demo/plan.md"), CLEAN_PLAN);
    assert_eq!(mtime(&plan), plan_mtime);

    // Now clean; the en dash of plan.md is valid UTF-8 and only mentioned.
    let run = env.run(&["validate-encoding", "--feature", "001-demo"]).ok();
    assert!(run.stdout.contains("✓ All files are valid UTF-8."), "{}", run.stdout);
    assert!(run.stdout.contains("1 typographic character(s)"), "{}", run.stdout);
}

#[test]
fn validate_encoding_all_checks_and_repairs_every_feature() {
    let env = TestEnv::new();
    env.write("kitty-specs/001-first/spec.md", b"ok\n");
    env.write("kitty-specs/002-second/spec.md", b"bad \x96 dash\n");
    env.write("kitty-specs/003-third/checklists/requirements.md", b"\x93quoted\x94\n");

    let run = env.run(&["validate-encoding", "--all", "--json"]).expect_code(1);
    let report = json_of(&run);
    let features: Vec<&str> =
        report["features"].as_array().unwrap().iter().map(|f| f["feature"].as_str().unwrap()).collect();
    assert_eq!(features, ["001-first", "002-second", "003-third"]);
    assert_eq!(report["files_with_issues"], 2);
    assert!(run.stderr.contains("validate-encoding --all --fix"), "{}", run.stderr);

    let first = env.path("kitty-specs/001-first/spec.md");
    let first_mtime = age(&first);
    env.run(&["validate-encoding", "--all", "--fix", "--no-backup"]).ok();
    assert_eq!(env.read("kitty-specs/002-second/spec.md"), "bad -- dash\n");
    assert_eq!(env.read("kitty-specs/003-third/checklists/requirements.md"), "\"quoted\"\n");
    assert!(!env.path("kitty-specs/002-second/spec.md.bak").exists(), "--no-backup keeps no copy");
    assert_eq!(mtime(&first), first_mtime);
    let report = json_of(&env.run(&["validate-encoding", "--all", "--json"]).ok());
    assert_eq!(report["result"], "clean");
}

#[test]
fn validate_encoding_ascii_mode_normalises_typography_like_upstream_but_keeps_activity_logs() {
    let env = TestEnv::new();
    let wp = "---\nlane: planned\n---\n# Work Package Prompt: WP01 – Store\n\nUser’s “test” … 72°\n\n## Activity Log\n\n\
              - 2026-02-16T10:00:00Z – system – lane=planned – Prompt generated\n";
    env.write("kitty-specs/001-demo/tasks/WP01-store.md", wp);

    // Valid UTF-8 punctuation is not an encoding problem…
    env.run(&["validate-encoding", "--feature", "001-demo"]).ok();
    // …unless upstream's ASCII rule is asked for.
    let report = json_of(&env.run(&["validate-encoding", "--feature", "001-demo", "--ascii", "--json"]).expect_code(1));
    let issues = report["features"][0]["files"][0]["issues"].as_array().unwrap();
    assert_eq!(issues.len(), 6, "{issues:?}");
    assert!(issues.iter().all(|i| i["kind"] == "typographic"));
    assert_eq!(issues[0]["found"], "U+2013");

    env.run(&["validate-encoding", "--feature", "001-demo", "--ascii", "--fix"]).ok();
    assert_eq!(
        env.read("kitty-specs/001-demo/tasks/WP01-store.md"),
        "---\nlane: planned\n---\n# Work Package Prompt: WP01 -- Store\n\nUser's \"test\" ... 72 degrees\n\n## Activity Log\n\n\
         - 2026-02-16T10:00:00Z – system – lane=planned – Prompt generated\n"
    );
    assert_eq!(env.read("kitty-specs/001-demo/tasks/WP01-store.md.bak"), wp);
}

// ---------------------------------------------------------------------------------------------------
// research

const EVIDENCE_HEADER: &str = "timestamp,source_type,citation,key_finding,confidence,notes\n";

#[test]
fn research_creates_then_keeps_then_force_replaces() {
    let env = TestEnv::new();
    write_meta(&env, "001-demo", "software-dev");
    env.write("kitty-specs/001-demo/plan.md", "# Plan: bookmarks\n\nRust, SQLite.\n");
    // The project's own template wins over the built-in stub for research.md (under upstream's
    // mission template name); the other three are built-in.
    env.write(".kittify/templates/research-template.md", "# Research Decision Log (project template)\n");

    let run = env.run(&["research", "--feature", "001-demo", "--json"]).ok();
    let result = json_of(&run);
    assert_eq!(result["result"], "success");
    assert_eq!(result["mission"], "software-dev");
    assert_eq!(
        result["created"],
        json!(["research.md", "data-model.md", "research/evidence-log.csv", "research/source-register.csv"])
    );
    assert_eq!(result["skipped"], json!([]));
    assert_eq!(result["files"][0]["source"], ".kittify/templates/research-template.md");
    assert_eq!(result["files"][1]["source"], "built-in");
    assert_eq!(env.read("kitty-specs/001-demo/research.md"), "# Research Decision Log (project template)\n");
    assert!(env.read("kitty-specs/001-demo/data-model.md").starts_with("# Data Model: 001-demo\n"));
    assert_eq!(env.read("kitty-specs/001-demo/research/evidence-log.csv"), EVIDENCE_HEADER);
    assert_eq!(
        env.read("kitty-specs/001-demo/research/source-register.csv"),
        "source_id,citation,url,accessed_date,relevance,status\n"
    );

    // The agent fills them in; a second run keeps every file byte for byte.
    env.write("kitty-specs/001-demo/research.md", "# Research\n\nDecision: SQLite FTS5.\n");
    env.write(
        "kitty-specs/001-demo/research/evidence-log.csv",
        format!("{EVIDENCE_HEADER}2026-02-16T10:00:00,web,x,y,high,\n"),
    );
    let data_model = env.path("kitty-specs/001-demo/data-model.md");
    let data_model_mtime = age(&data_model);
    let result = json_of(&env.run(&["research", "--feature", "001-demo", "--json"]).ok());
    assert_eq!(result["created"], json!([]));
    assert_eq!(result["skipped"].as_array().unwrap().len(), 4);
    assert_eq!(env.read("kitty-specs/001-demo/research.md"), "# Research\n\nDecision: SQLite FTS5.\n");
    assert_eq!(mtime(&data_model), data_model_mtime);
    let run = env.run(&["research", "--feature", "001-demo"]).ok();
    assert!(run.stdout.contains("· skipped  research.md (exists; --force replaces it)"), "{}", run.stdout);

    // --force replaces them all with fresh templates.
    let result = json_of(&env.run(&["research", "--feature", "001-demo", "--force", "--json"]).ok());
    assert_eq!(result["replaced"].as_array().unwrap().len(), 4);
    assert_eq!(env.read("kitty-specs/001-demo/research.md"), "# Research Decision Log (project template)\n");
    assert_eq!(env.read("kitty-specs/001-demo/research/evidence-log.csv"), EVIDENCE_HEADER);
}

#[test]
fn research_refuses_an_unfilled_plan_and_writes_nothing() {
    let env = TestEnv::new();
    env.write(
        "kitty-specs/001-demo/plan.md",
        "# Implementation Plan: [FEATURE]\n**Branch**: `[###-feature-name]` | **Date**: [DATE] | **Spec**: [link]\n\
         **Input**: Feature specification from [Extract from feature spec: path]\n",
    );
    let run = env.run(&["research", "--json"]).expect_code(1);
    let error = json_of(&run);
    assert_eq!(error["error_code"], "PLAN_UNFILLED");
    assert!(error["error"].as_str().unwrap().contains("still looks like the plan template"), "{error}");
    assert!(!env.path("kitty-specs/001-demo/research.md").exists());
    assert!(!env.path("kitty-specs/001-demo/research").exists());
}

// ---------------------------------------------------------------------------------------------------
// verify-setup

fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git").current_dir(dir).args(args).output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
}

fn git_project(env: &TestEnv) {
    let root = env.root();
    git(&root, &["init", "--quiet", "--initial-branch", "main"]);
    git(&root, &["config", "user.email", "dev@example.com"]);
    git(&root, &["config", "user.name", "Dev"]);
    env.write(".gitignore", ".worktrees/\n");
    env.run(&["init", "--slug", "verify"]).ok();
    git(&root, &["add", "-A"]);
    git(&root, &["commit", "--quiet", "-m", "init"]);
}

fn wp_file(id: &str, lane: &str, deps: Option<&[&str]>) -> String {
    let deps = match deps {
        Some([]) => "dependencies: []\n".to_owned(),
        Some(list) => format!("dependencies:\n{}", list.iter().map(|d| format!("- {d}\n")).collect::<String>()),
        None => String::new(),
    };
    format!(
        "---\nwork_package_id: {id}\ntitle: Package {id}\nlane: {lane}\n{deps}---\n\n# Work Package Prompt: {id}\n\n\
         Build part {id}.\n\n## Activity Log\n\n- 2026-02-16T10:00:00Z – system – lane=planned – Prompt generated\n"
    )
}

/// A directory with executables named like agent CLIs, for PATH.
fn fake_agents(env: &TestEnv, names: &[&str]) -> String {
    use std::os::unix::fs::PermissionsExt;
    let bin = env.home().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for name in names {
        std::fs::write(bin.join(name), "#!/bin/sh\nexit 0\n").unwrap();
        std::fs::set_permissions(bin.join(name), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default())
}

#[test]
fn verify_setup_reports_a_healthy_project() {
    let env = TestEnv::bare();
    git_project(&env);
    write_meta(&env, "001-demo", "software-dev");
    env.write("kitty-specs/001-demo/spec.md", "# Spec\n");
    env.write("kitty-specs/001-demo/tasks/WP01-a.md", wp_file("WP01", "doing", Some(&[])));
    env.write("kitty-specs/001-demo/tasks/WP02-b.md", wp_file("WP02", "planned", Some(&["WP01"])));
    env.write("kitty-specs/002-later/tasks/WP01-a.md", wp_file("WP01", "done", Some(&[])));
    git(&env.root(), &["add", "-A"]);
    git(&env.root(), &["commit", "--quiet", "-m", "features"]);
    git(&env.root(), &["worktree", "add", "--quiet", "-b", "001-demo-WP01", ".worktrees/001-demo-WP01"]);

    let path = fake_agents(&env, &["claude", "codex"]);
    let run = env.run_with_env(&["verify-setup", "--feature", "001-demo", "--json"], &[("PATH", &path)]).ok();
    let report = json_of(&run);
    let keys: Vec<&str> = report.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "environment",
            "feature_detection",
            "worktree_status",
            "file_integrity",
            "feature_analysis",
            "recommendations",
            "observations",
            "tools",
            "usable",
            "problems",
            "project",
            "features",
            "worktrees",
        ]
    );
    assert_eq!(report["usable"], true);
    assert_eq!(report["problems"], json!([]));
    assert_eq!(report["environment"]["current_branch"], "main");
    assert_eq!(report["environment"]["in_worktree"], false);
    assert_eq!(report["feature_detection"], json!({"detected": true, "feature": "001-demo"}));
    assert_eq!(report["feature_analysis"]["name"], "001-demo");
    assert_eq!(report["feature_analysis"]["artifacts_in_main"], json!(["spec.md"]));
    assert_eq!(report["tools"]["claude"]["available"], true);
    assert!(report["tools"]["claude"]["path"].as_str().unwrap().ends_with("/bin/claude"));
    assert_eq!(report["tools"]["gemini"], json!({"available": false, "path": null}));
    assert_eq!(report["tools"]["git"]["available"], true);
    assert_eq!(report["project"]["config"]["valid"], true);
    assert_eq!(report["project"]["config"]["identity_complete"], true);
    assert_eq!(report["project"]["git"], true);
    assert_eq!(
        report["features"][0],
        json!({
            "slug": "001-demo",
            "mission": "software-dev",
            "work_packages": 2,
            "lanes": {"planned": 1, "claimed": 0, "in_progress": 1, "for_review": 0, "done": 0, "blocked": 0, "canceled": 0},
            "complete": false,
            "unreadable": [],
        })
    );
    assert_eq!(report["features"][1]["slug"], "002-later");
    assert_eq!(report["features"][1]["complete"], true);
    assert_eq!(report["worktrees"].as_array().unwrap().len(), 1);
    let worktree = &report["worktrees"][0];
    assert_eq!(
        (&worktree["name"], &worktree["git_worktree"], &worktree["branch"], &worktree["feature"], &worktree["wp_id"]),
        (&json!("001-demo-WP01"), &json!(true), &json!("001-demo-WP01"), &json!("001-demo"), &json!("WP01"))
    );
    assert_eq!(worktree["problem"], Value::Null);

    // Without git on PATH the worktree is judged by its .git pointer, and is still fine.
    let bin_only = env.home().join("bin").display().to_string();
    let report = json_of(&env.run_with_env(&["verify-setup", "--json"], &[("PATH", &bin_only)]).ok());
    assert_eq!((&report["worktrees"][0]["git_worktree"], &report["usable"]), (&json!(true), &json!(true)));
    assert_eq!(report["tools"]["git"]["available"], false);

    let run = env.run_with_env(&["verify-setup"], &[("PATH", &path)]).ok();
    for expected in [
        "✓ claude",
        "001-demo   2 WP(s): planned 1, in_progress 1",
        "002-later  1 WP(s): done 1  (complete)",
        ".worktrees/001-demo-WP01  ✓ git worktree on 001-demo-WP01",
        "✓ The setup is usable.",
    ] {
        assert!(run.stdout.contains(expected), "missing {expected:?} in\n{}", run.stdout);
    }
}

#[test]
fn verify_setup_fails_on_a_broken_project() {
    let env = TestEnv::bare();
    git_project(&env);
    env.write(".kittify/config.yaml", "project: [unclosed\n");
    env.write("kitty-specs/001-demo/tasks/WP01-a.md", wp_file("WP01", "wip", Some(&[])));
    std::fs::create_dir_all(env.path(".worktrees/001-demo-WP02/src")).unwrap();
    // No agent CLI at all: only an observation, never a failure by itself.
    let run = env.run_with_env(&["verify-setup", "--json"], &[("PATH", "/nonexistent")]).expect_code(1);
    let report = json_of(&run);
    assert_eq!(report["usable"], false);
    let problems: Vec<&str> = report["problems"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(problems[0].contains(".kittify/config.yaml: invalid YAML"), "{problems:#?}");
    assert!(problems[1].starts_with("001-demo: ") && problems[1].contains("Unknown lane: wip"), "{problems:#?}");
    assert!(problems[2].contains(".worktrees/001-demo-WP02 not a git worktree of this repository"), "{problems:#?}");
    assert_eq!(report["worktrees"][0]["git_worktree"], false);
    assert!(report["observations"].as_array().unwrap().iter().any(|o| o.as_str().unwrap().starts_with("no agent CLI")));
    assert!(
        report["observations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o.as_str().unwrap().starts_with("git is not on PATH"))
    );
    assert!(run.stderr.contains("the setup has 3 problem(s)"), "{}", run.stderr);

    let run = env.run(&["verify-setup"]).expect_code(1);
    assert!(run.stdout.contains("✗ 3 problem(s):"), "{}", run.stdout);

    std::fs::remove_dir_all(env.path("kitty-specs")).unwrap();
    let report = json_of(&env.run(&["verify-setup", "--json"]).expect_code(1));
    assert!(
        report["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_str().unwrap().starts_with("kitty-specs/ is missing"))
    );

    let outside = TestEnv::bare();
    let error = json_of(&outside.run(&["verify-setup", "--json"]).expect_code(1));
    assert!(error["error"].as_str().unwrap().contains("not inside a spec-kitty project"), "{error}");
}

// ---------------------------------------------------------------------------------------------------
// next

const FEATURE: &str = "001-demo";

const TASKS_MD: &str = "# Work Packages: Demo\n\n\
## Work Package WP01: Store (Priority: P0)\n\n**Prompt**: `tasks/WP01-store.md`\n\n### Dependencies\n- None (starting package).\n\n---\n\n\
## Work Package WP02: Query (Priority: P0)\n\n**Prompt**: `tasks/WP02-query.md`\n\n### Dependencies\n- Depends on WP01.\n\n---\n\n\
## Work Package WP03: Cost (Priority: P1)\n\n**Prompt**: `tasks/WP03-cost.md`\n\n### Dependencies\n- Depends on WP01.\n";

const WP_FILES: [(&str, &str); 3] = [("WP01", "WP01-store.md"), ("WP02", "WP02-query.md"), ("WP03", "WP03-cost.md")];

/// `next` for agent claude on the demo feature, with extra flags; the decision and the exit code.
fn next(env: &TestEnv, extra: &[&str], code: i32) -> Value {
    let mut args = vec!["next", "--agent", "claude", "--feature", FEATURE, "--json"];
    args.extend_from_slice(extra);
    let run = env.run(&args).expect_code(code);
    let value = json_of(&run);
    assert!(run.stdout.trim_end().ends_with('}') && run.stdout.starts_with('{'), "one JSON object:\n{}", run.stdout);
    value
}

/// `(kind, step_id, action, wp_id)` of a decision.
fn summary(decision: &Value) -> (String, String, String, String) {
    let text = |key: &str| decision[key].as_str().unwrap_or("-").to_owned();
    (text("kind"), text("step_id"), text("action"), text("wp_id"))
}

fn expect(decision: &Value, kind: &str, step: &str, action: &str, wp: &str) {
    assert_eq!(summary(decision), (kind.to_owned(), step.to_owned(), action.to_owned(), wp.to_owned()), "{decision:#}");
}

/// Moves a work package the way an agent's `move-task` would leave its file: only the lane line changes.
fn set_lane(env: &TestEnv, wp: &str, lane: &str) {
    let file = WP_FILES.iter().find(|(id, _)| *id == wp).unwrap().1;
    let rel = format!("kitty-specs/{FEATURE}/tasks/{file}");
    let text = env.read(&rel);
    let updated: String = text
        .lines()
        .map(|line| if line.starts_with("lane:") { format!("lane: {lane}\n") } else { format!("{line}\n") })
        .collect();
    env.write(&rel, updated);
}

/// Hides the temporary project path.
fn stable(env: &TestEnv, text: &str) -> String {
    text.replace(&env.root().display().to_string(), "[ROOT]")
}

#[test]
fn next_walks_a_feature_from_discovery_to_terminal() {
    let env = TestEnv::new();
    write_meta(&env, FEATURE, "software-dev");

    // A new run starts at discovery (upstream's research step).
    let first = next(&env, &[], 0);
    expect(&first, "step", "discovery", "research", "-");
    let run_id = first["run_id"].as_str().unwrap().to_owned();
    assert_eq!(run_id.len(), 26, "a ULID from the pinned id source");
    assert_eq!(first["mission"], "software-dev");
    assert_eq!(first["progress"], Value::Null);
    assert_eq!(first["origin"], json!({"mission_tier": "package_default", "mission_path": "built-in"}));
    let prompt = std::fs::read_to_string(first["prompt_file"].as_str().unwrap()).unwrap();
    assert!(prompt.contains("spec-kitty research --feature 001-demo"), "{prompt}");
    assert!(
        first["prompt_file"].as_str().unwrap().starts_with(&env.path(".kittify/runtime/runs").display().to_string())
    );
    let index: Value = serde_json::from_str(&env.read(".kittify/runtime/feature-runs.json")).unwrap();
    assert_eq!(index[FEATURE]["run_id"], run_id.as_str());

    // Discovery has no guard; specify needs spec.md.
    expect(&next(&env, &["--result", "success"], 0), "step", "specify", "specify", "-");
    let waiting = next(&env, &["--result", "success"], 0);
    expect(&waiting, "step", "specify", "specify", "-");
    assert_eq!(waiting["guard_failures"], json!(["Required artifact missing: spec.md"]));
    env.write("kitty-specs/001-demo/spec.md", "# Spec\n");
    let plan = next(&env, &["--result", "success"], 0);
    expect(&plan, "step", "plan", "plan", "-");
    assert_eq!(plan["guard_failures"], json!([]));

    assert_eq!(next(&env, &[], 0)["guard_failures"], json!(["Required artifact missing: plan.md"]));
    env.write("kitty-specs/001-demo/plan.md", "# Plan\n");
    expect(&next(&env, &[], 0), "step", "tasks_outline", "tasks-outline", "-");
    assert_eq!(next(&env, &[], 0)["guard_failures"], json!(["Required artifact missing: tasks.md"]));
    env.write("kitty-specs/001-demo/tasks.md", TASKS_MD);
    expect(&next(&env, &[], 0), "step", "tasks_packages", "tasks-packages", "-");
    assert_eq!(next(&env, &[], 0)["guard_failures"], json!(["Required: at least one tasks/WP*.md file"]));
    for (id, file) in WP_FILES {
        let body = wp_file(id, "planned", None);
        env.write(&format!("kitty-specs/{FEATURE}/tasks/{file}"), body);
    }
    let finalize = next(&env, &[], 0);
    expect(&finalize, "step", "tasks_finalize", "tasks-finalize", "-");
    assert_eq!(
        finalize["progress"],
        json!({"total_wps": 3, "done_wps": 0, "in_progress_wps": 0, "planned_wps": 3, "for_review_wps": 0})
    );
    let unfinalized = next(&env, &[], 0);
    assert_eq!(
        unfinalized["guard_failures"],
        json!(["WP WP01-store missing 'dependencies' in frontmatter (run 'spec-kitty agent feature finalize-tasks')"])
    );
    env.run(&["agent", "feature", "finalize-tasks", "--feature", FEATURE]).ok();

    // Implementation, in dependency order: WP01 first; its dependents wait until it is done.
    let run = env.run(&["next", "--agent", "claude", "--feature", FEATURE, "--json"]).ok();
    insta::assert_snapshot!("next_implement_decision", stable(&env, &run.stdout));
    let implement = json_of(&run);
    expect(&implement, "step", "implement", "implement", "WP01");
    let workspace = env.path(".worktrees/001-demo-WP01").display().to_string();
    assert_eq!(implement["workspace_path"], workspace.as_str());
    let prompt = std::fs::read_to_string(implement["prompt_file"].as_str().unwrap()).unwrap();
    assert!(prompt.contains("IMPLEMENT: WP01 – Package WP01"), "{prompt}");
    assert!(prompt.contains("spec-kitty agent workflow implement WP01 --agent claude --feature 001-demo"), "{prompt}");
    assert!(prompt.contains(&env.read("kitty-specs/001-demo/tasks/WP01-store.md")), "the WP prompt file is included");
    assert!(prompt.contains("spec-kitty agent tasks move-task WP01 --to for_review"), "{prompt}");
    // Asking again before anything moved gives the same work package.
    expect(&next(&env, &[], 0), "step", "implement", "implement", "WP01");

    set_lane(&env, "WP01", "for_review");
    expect(&next(&env, &[], 0), "step", "implement", "review", "WP01");
    set_lane(&env, "WP01", "done");
    expect(&next(&env, &[], 0), "step", "implement", "implement", "WP02");
    set_lane(&env, "WP02", "in_progress");
    expect(&next(&env, &[], 0), "step", "implement", "implement", "WP03");
    set_lane(&env, "WP03", "for_review");
    expect(&next(&env, &[], 0), "step", "implement", "implement", "WP02");
    set_lane(&env, "WP02", "for_review");

    // Everything implemented: the review step takes each one; a rejected one goes back to implementation.
    let review = next(&env, &[], 0);
    expect(&review, "step", "review", "review", "WP02");
    let prompt = std::fs::read_to_string(review["prompt_file"].as_str().unwrap()).unwrap();
    assert!(prompt.contains("APPROVE: spec-kitty agent tasks move-task WP02 --to done"), "{prompt}");
    set_lane(&env, "WP02", "planned");
    expect(&next(&env, &[], 0), "step", "review", "review", "WP03");
    set_lane(&env, "WP03", "done");
    expect(&next(&env, &[], 0), "step", "review", "implement", "WP02");
    set_lane(&env, "WP02", "for_review");
    expect(&next(&env, &[], 0), "step", "review", "review", "WP02");
    set_lane(&env, "WP02", "done");

    let accept = next(&env, &[], 0);
    expect(&accept, "step", "accept", "accept", "-");
    assert_eq!(accept["progress"]["done_wps"], 3);
    let run = env.run(&["next", "--agent", "claude", "--feature", FEATURE, "--result", "success"]).ok();
    assert!(run.stdout.starts_with("[TERMINAL] software-dev @ done\n"), "{}", run.stdout);
    assert!(run.stdout.contains("  Reason: All mission steps completed\n"), "{}", run.stdout);
    assert!(run.stdout.contains("  Progress: 3/3 WPs done (100%)\n"), "{}", run.stdout);
    assert!(run.stdout.contains(&format!("  Run ID: {run_id}\n")), "{}", run.stdout);
    let terminal = next(&env, &[], 0);
    expect(&terminal, "terminal", "-", "-", "-");
    assert_eq!(
        (terminal["mission_state"].as_str(), terminal["run_id"].as_str()),
        (Some("done"), Some(run_id.as_str()))
    );

    // The run log has the whole story once: one start, one completion.
    let events: Vec<Value> =
        crate::support::json_lines(&env.read(&format!(".kittify/runtime/runs/{run_id}/run.events.jsonl")));
    let count = |kind: &str| events.iter().filter(|e| e["event_type"] == kind).count();
    assert_eq!((count("MissionRunStarted"), count("MissionRunCompleted")), (1, 1));
    assert_eq!(count("NextStepIssued"), 9, "one per step of the mission");
    let state: Value = serde_json::from_str(&env.read(&format!(".kittify/runtime/runs/{run_id}/state.json"))).unwrap();
    assert_eq!(state["completed_steps"].as_array().unwrap().len(), 9);
    assert_eq!(state["issued_step_id"], Value::Null);
}

#[test]
fn next_text_mode_shows_the_step_progress_and_run() {
    let env = TestEnv::new();
    write_meta(&env, FEATURE, "software-dev");
    env.write("kitty-specs/001-demo/tasks/WP01-store.md", wp_file("WP01", "done", Some(&[])));
    env.write("kitty-specs/001-demo/tasks/WP02-query.md", wp_file("WP02", "planned", Some(&["WP01"])));
    let run = env.run(&["next", "--agent", "codex"]).ok();
    let prompt = env.path(".kittify/runtime/runs").display().to_string();
    let text = run.stdout.replace(&prompt, "[RUNS]");
    let run_id = text.lines().find_map(|l| l.strip_prefix("  Run ID: ")).unwrap().to_owned();
    assert_eq!(
        text,
        format!(
            "[STEP] software-dev @ discovery\n  Action: research\n  Progress: 1/2 WPs done (50%)\n  Run ID: {run_id}\n\n  \
             Next step: read the prompt file:\n    cat [RUNS]/{run_id}/prompts/codex-research.md\n"
        )
    );
}

#[test]
fn next_failed_and_blocked_results_block_the_run_until_an_explicit_success() {
    let env = TestEnv::new();
    write_meta(&env, FEATURE, "software-dev");
    expect(&next(&env, &[], 0), "step", "discovery", "research", "-");
    let blocked = next(&env, &["--result", "failed"], 1);
    expect(&blocked, "blocked", "discovery", "-", "-");
    assert_eq!(blocked["reason"], "Previous step 'discovery' failed; manual intervention required.");
    // A plain call (default result) stays blocked, as upstream…
    expect(&next(&env, &[], 1), "blocked", "discovery", "-", "-");
    let run = env.run(&["next", "--agent", "claude"]).expect_code(1);
    assert!(
        run.stdout.contains("Retry once resolved: spec-kitty next --agent claude --feature 001-demo --result success"),
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("blocked: Previous step 'discovery' failed"), "{}", run.stderr);
    // …and an explicit success retries the step that failed.
    expect(&next(&env, &["--result", "success"], 0), "step", "discovery", "research", "-");
    expect(&next(&env, &["--result", "success"], 0), "step", "specify", "specify", "-");
    let blocked = next(&env, &["--result", "blocked"], 1);
    assert_eq!(blocked["reason"], "Previous step 'specify' reported blocked state.");
    assert_eq!(blocked["mission_state"], "specify");
    env.write("kitty-specs/001-demo/spec.md", "# Spec\n");
    expect(&next(&env, &["--result", "success"], 0), "step", "specify", "specify", "-");

    // A work package step where nothing can move is blocked (exit 1) with the reason, and is not sticky.
    let other = TestEnv::new();
    write_meta(&other, "002-stuck", "software-dev");
    other.write("kitty-specs/002-stuck/tasks/WP01-a.md", wp_file("WP01", "blocked", Some(&[])));
    other.write("kitty-specs/002-stuck/tasks/WP02-b.md", wp_file("WP02", "planned", Some(&["WP01"])));
    for file in ["spec.md", "plan.md", "tasks.md"] {
        other.write(&format!("kitty-specs/002-stuck/{file}"), "x\n");
    }
    let stuck = (0..7)
        .map(|_| json_of(&other.run(&["next", "--agent", "claude", "--json"])))
        .find(|d| d["kind"] != "step")
        .unwrap();
    expect(&stuck, "blocked", "implement", "-", "-");
    assert_eq!(stuck["reason"], "No work package can move: WP01 is blocked; WP02 waits for WP01 (blocked)");
    set_lane_in(&other, "kitty-specs/002-stuck/tasks/WP01-a.md", "planned");
    let unstuck = json_of(&other.run(&["next", "--agent", "claude", "--json"]).ok());
    expect(&unstuck, "step", "implement", "implement", "WP01");
}

fn set_lane_in(env: &TestEnv, rel: &str, lane: &str) {
    let text = env.read(rel);
    let updated: String = text
        .lines()
        .map(|l| if l.starts_with("lane:") { format!("lane: {lane}\n") } else { format!("{l}\n") })
        .collect();
    env.write(rel, updated);
}

#[test]
fn next_asks_for_a_required_input_and_takes_the_answer() {
    let env = TestEnv::new();
    write_meta(&env, FEATURE, "lite");
    env.write(
        ".kittify/overrides/missions/lite/mission-runtime.yaml",
        "mission:\n  key: lite\n  name: Lite\n  version: '1.0.0'\nsteps:\n  - id: scope\n    title: Scope\n    requires_inputs: [goal]\n  \
         - id: build\n    title: Build\n    depends_on: [scope]\n",
    );
    let error = json_of(&env.run(&["next", "--agent", "claude", "--json", "--answer", "early"]).expect_code(1));
    assert_eq!(error["error"], "No pending decisions to answer");

    let asked = next(&env, &[], 0);
    expect(&asked, "decision_required", "scope", "-", "-");
    assert_eq!(asked["decision_id"], "input:goal");
    assert_eq!(asked["input_key"], "goal");
    assert_eq!(asked["question"], "Input required before step 'scope': provide value for 'goal'.");
    assert_eq!(asked["reason"], "missing_required_input");
    assert_eq!(asked["origin"]["mission_tier"], "override");
    let prompt = std::fs::read_to_string(asked["prompt_file"].as_str().unwrap()).unwrap();
    assert!(prompt.contains("--answer \"<your answer>\" --decision-id \"input:goal\""), "{prompt}");
    // Asked again: the same pending decision.
    assert_eq!(next(&env, &[], 0)["reason"], "pending_decision");

    let answered = next(&env, &["--answer", "ship bookmarks", "--decision-id", "input:goal"], 0);
    expect(&answered, "step", "scope", "scope", "-");
    assert_eq!(
        (answered["answered"].as_str(), answered["answer"].as_str()),
        (Some("input:goal"), Some("ship bookmarks"))
    );
    expect(&next(&env, &[], 0), "step", "build", "build", "-");
    expect(&next(&env, &[], 0), "terminal", "-", "-", "-");

    let run_id = answered["run_id"].as_str().unwrap();
    let state: Value = serde_json::from_str(&env.read(&format!(".kittify/runtime/runs/{run_id}/state.json"))).unwrap();
    assert_eq!(state["inputs"]["goal"], "ship bookmarks");
    assert_eq!(state["decisions"]["input:goal"]["answered_by"]["actor_id"], "claude");

    // Editing the template during the run blocks it (upstream's drift rule).
    let other = TestEnv::new();
    write_meta(&other, FEATURE, "lite");
    let template = "mission:\n  key: lite\n  name: Lite\n  version: '1'\nsteps:\n  - id: a\n    title: A\n  - id: b\n    title: B\n";
    other.write(".kittify/missions/lite/mission-runtime.yaml", template);
    expect(&json_of(&other.run(&["next", "--agent", "claude", "--json"]).ok()), "step", "a", "a", "-");
    other.write(".kittify/missions/lite/mission-runtime.yaml", template.replace("'1'", "'2'"));
    let drifted = json_of(&other.run(&["next", "--agent", "claude", "--json"]).expect_code(1));
    assert_eq!(drifted["reason"], "Template changed during active run. Migration required.");

    // A mission without a runtime template cannot start.
    let unknown = TestEnv::new();
    write_meta(&unknown, FEATURE, "research");
    let blocked = json_of(&unknown.run(&["next", "--agent", "claude", "--json"]).expect_code(1));
    assert_eq!((blocked["kind"].as_str(), blocked["run_id"].as_str()), (Some("blocked"), None));
    assert!(
        blocked["reason"]
            .as_str()
            .unwrap()
            .starts_with("Failed to start/load runtime run: no runtime template for mission 'research'")
    );
}

#[test]
fn next_refuses_bad_arguments() {
    let env = TestEnv::new();
    write_meta(&env, FEATURE, "software-dev");
    let run = env.run(&["next", "--agent", "claude", "--result", "done"]).expect_code(2);
    assert!(run.stderr.contains("invalid value 'done'"), "{}", run.stderr);
    let run = env.run(&["next", "--result", "success"]).expect_code(2);
    assert!(run.stderr.contains("--agent"), "{}", run.stderr);
    let run = env.run(&["next", "--agent", " ", "--json"]).expect_code(2);
    assert_eq!(json_of(&run)["error"], "--agent must name the agent (e.g. --agent claude)");
    assert!(!env.path(".kittify/runtime").exists(), "nothing was started");
}

#[test]
fn concurrent_next_calls_share_one_run() {
    let env = TestEnv::new();
    write_meta(&env, FEATURE, "software-dev");
    let children: Vec<std::process::Child> = (0..4)
        .map(|i| {
            let mut cmd = env.command();
            cmd.args(["next", "--agent", &format!("agent{i}"), "--feature", FEATURE, "--json"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    let decisions = crate::support::json_outputs(children);
    let run_ids: std::collections::BTreeSet<&str> = decisions.iter().map(|d| d["run_id"].as_str().unwrap()).collect();
    assert_eq!(run_ids.len(), 1, "one run for the feature: {run_ids:?}");
    let run_id = run_ids.into_iter().next().unwrap();
    assert_eq!(std::fs::read_dir(env.path(".kittify/runtime/runs")).unwrap().count(), 1);
    // Serialised: the first call issued discovery, the second completed it (no guard) and issued specify,
    // the other two found specify waiting for spec.md. Nothing was lost or done twice.
    let mut steps: Vec<&str> = decisions.iter().map(|d| d["step_id"].as_str().unwrap()).collect();
    steps.sort();
    assert_eq!(steps, ["discovery", "specify", "specify", "specify"]);
    let events = crate::support::json_lines(&env.read(&format!(".kittify/runtime/runs/{run_id}/run.events.jsonl")));
    let kinds: Vec<&str> = events.iter().map(|e| e["event_type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["MissionRunStarted", "NextStepIssued", "NextStepAutoCompleted", "NextStepIssued"]);
}
