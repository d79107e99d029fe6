//! A realistic project with several features in different states, the normal case templates run in:
//! which feature commands pick when no `--feature` is given (upstream's detection, including the
//! latest-incomplete fallback), `check-prerequisites`' contract, and a planning lifecycle that must leave
//! no telemetry and no uncommitted file behind.

use crate::support::{Run, TestEnv};
use serde_json::Value;

/// The feature upstream's fallback picks: the highest-numbered one that is not complete.
pub const LATEST_INCOMPLETE: &str = "004-demo-widgets";

/// `(slug, files)` of each feature. 001 and 005 are complete (every WP done); 002 has only a spec, 003 a
/// spec and a plan; 004 is being implemented.
fn features() -> Vec<(&'static str, Vec<(&'static str, String)>)> {
    let done = |id: &str, title: &str| wp(id, title, "done", &[]);
    vec![
        (
            "001-cli-hello-world",
            vec![
                ("spec.md", spec("Hello world")),
                ("plan.md", plan()),
                ("tasks.md", tasks(&[("WP01", "Greeting", true)])),
                ("tasks/WP01-greeting.md", done("WP01", "Greeting")),
            ],
        ),
        ("002-spec-only", vec![("spec.md", spec("Just a spec"))]),
        ("003-planned", vec![("spec.md", spec("Planned")), ("plan.md", plan())]),
        (
            LATEST_INCOMPLETE,
            vec![
                ("spec.md", spec("Demo widgets")),
                ("plan.md", plan()),
                ("research.md", "# Research\n".to_owned()),
                (
                    "tasks.md",
                    tasks(&[
                        ("WP01", "Widget model", false),
                        ("WP02", "Widget API", false),
                        ("WP03", "Widget docs", true),
                    ]),
                ),
                ("tasks/WP01-widget-model.md", wp("WP01", "Widget model", "planned", &[])),
                ("tasks/WP02-widget-api.md", wp("WP02", "Widget API", "planned", &["WP01"])),
                ("tasks/WP03-widget-docs.md", wp("WP03", "Widget docs", "for_review", &[])),
            ],
        ),
        (
            "005-archived",
            vec![
                ("spec.md", spec("Archived")),
                ("plan.md", plan()),
                ("tasks.md", tasks(&[("WP01", "Old", true)])),
                ("tasks/WP01-old.md", done("WP01", "Old")),
            ],
        ),
    ]
}

fn spec(title: &str) -> String {
    format!("# Feature Specification: {title}\n\n## User Scenarios\n\nA user does a thing.\n")
}

fn plan() -> String {
    "# Implementation Plan\n\n## Technical Context\n\nRust.\n".to_owned()
}

/// tasks.md with one section per `(wp, title, subtasks checked)`; WP02 depends on WP01.
fn tasks(wps: &[(&str, &str, bool)]) -> String {
    let mut text = String::from("# Work Packages\n");
    for (n, (wp, title, checked)) in wps.iter().enumerate() {
        let mark = if *checked { "x" } else { " " };
        let deps = if *wp == "WP02" { "Depends on WP01" } else { "None" };
        text.push_str(&format!(
            "\n## Work Package {wp}: {title} (Priority: P1)\n\n**Prompt**: `tasks/{wp}.md`\n\n### Included Subtasks\n- [{mark}] T{:03} Build {title}\n- [{mark}] T{:03} Test {title}\n\n### Dependencies\n- {deps}\n",
            2 * n + 1,
            2 * n + 2,
        ));
    }
    text
}

fn wp(id: &str, title: &str, lane: &str, deps: &[&str]) -> String {
    let deps = if deps.is_empty() { "[]".to_owned() } else { format!("\n- {}", deps.join("\n- ")) };
    let reached = match lane {
        "for_review" => {
            "- 2026-02-16T11:00:00Z – claude – shell_pid=4242 – lane=doing – Started implementation\n- 2026-02-16T12:00:00Z – claude – shell_pid=4242 – lane=for_review – Ready for review\n"
        }
        "done" => {
            "- 2026-02-16T11:00:00Z – claude – shell_pid=4242 – lane=doing – Started implementation\n- 2026-02-16T12:00:00Z – claude – shell_pid=4242 – lane=for_review – Ready for review\n- 2026-02-16T13:00:00Z – codex – shell_pid=4243 – lane=done – Review passed\n"
        }
        _ => "",
    };
    let owner = if lane == "planned" {
        "assignee: ''\nagent: ''\nshell_pid: ''\n"
    } else {
        "assignee: 'ada'\nagent: claude\nshell_pid: '4242'\n"
    };
    format!(
        "---\nwork_package_id: {id}\ntitle: {title}\nlane: \"{lane}\"\ndependencies: {deps}\nsubtasks:\n- T001\nphase: Phase 1\n{owner}---\n# Work Package Prompt: {id} – {title}\n\nBuild it.\n\n## Activity Log\n\n- 2026-02-16T10:00:00Z – system – lane=planned – Prompt generated via /spec-kitty.tasks\n{reached}"
    )
}

fn meta(slug: &str) -> String {
    let (number, name) = slug.split_once('-').unwrap();
    format!(
        "{{\n  \"feature_number\": \"{number}\",\n  \"slug\": \"{slug}\",\n  \"feature_slug\": \"{slug}\",\n  \"friendly_name\": \"{}\",\n  \"mission\": \"software-dev\",\n  \"target_branch\": \"main\",\n  \"created_at\": \"2026-02-16T09:00:00+00:00\"\n}}\n",
        name.replace('-', " ")
    )
}

/// The project, committed on `main` in a git repository.
pub fn project() -> TestEnv {
    let env = TestEnv::new();
    env.write(".gitignore", ".worktrees/\n");
    env.write(
        ".kittify/config.yaml",
        "vcs:\n  type: git\nagents:\n  available: [claude, codex]\nproject:\n  uuid: 8a4a7da6-a97c-4bb4-893a-b31664abfee4\n  slug: demo\n  node_id: d036a097a835\n",
    );
    for (slug, files) in features() {
        env.write(&format!("kitty-specs/{slug}/meta.json"), meta(slug));
        for dir in ["checklists", "research", "tasks"] {
            env.write(&format!("kitty-specs/{slug}/{dir}/.gitkeep"), "");
        }
        for (name, text) in files {
            env.write(&format!("kitty-specs/{slug}/{name}"), text);
        }
    }
    env.init_git();
    env
}

fn json(run: &Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: not one JSON object:\n{}", run.render()))
}

/// The feature `check-prerequisites` resolved, from its JSON.
fn selected(run: &Run) -> String {
    let paths = json(run);
    let dir = paths["feature_dir"].as_str().unwrap_or_else(|| panic!("{}", run.render()));
    dir.rsplit('/').next().unwrap().to_owned()
}

const CHECK: [&str; 5] = ["agent", "feature", "check-prerequisites", "--json", "--paths-only"];

#[test]
fn without_any_hint_the_latest_incomplete_feature_is_selected_and_announced_on_stderr() {
    let env = project();
    let run = env.run(&CHECK).ok();
    assert_eq!(selected(&run), LATEST_INCOMPLETE);
    assert_eq!(run.stderr, format!("ℹ️  Auto-selected latest incomplete: {LATEST_INCOMPLETE}\n"));
    // Every command that takes --feature resolves the same way.
    let status = env.run(&["agent", "tasks", "status", "--json"]).ok();
    assert_eq!(json(&status)["feature"], LATEST_INCOMPLETE);
}

fn check_feature(feature: &str) -> Vec<&str> {
    [&CHECK[..], &["--feature", feature]].concat()
}

#[test]
fn explicit_flag_environment_branch_worktree_and_directory_win_in_that_order() {
    let env = project();
    let with_env = |vars: &[(&str, &str)], args: &[&str]| env.run_with_env(args, vars).ok();

    assert_eq!(selected(&env.run(&check_feature("002-spec-only")).ok()), "002-spec-only");
    assert_eq!(selected(&env.run(&check_feature("3")).ok()), "003-planned", "a bare number names its feature");
    assert_eq!(selected(&with_env(&[("SPECIFY_FEATURE", "001-cli-hello-world")], &CHECK)), "001-cli-hello-world");
    assert_eq!(
        selected(&with_env(&[("SPECIFY_FEATURE", "001-cli-hello-world")], &check_feature("002-spec-only"))),
        "002-spec-only",
        "--feature beats SPECIFY_FEATURE"
    );

    // A feature branch, then a WP branch (as inside a worktree).
    env.git(&["checkout", "--quiet", "-b", "003-planned"]);
    let run = env.run(&CHECK).ok();
    assert_eq!((selected(&run), run.stderr.as_str()), ("003-planned".to_owned(), ""), "no fallback notice");
    env.git(&["checkout", "--quiet", "-b", "002-spec-only-WP01"]);
    assert_eq!(selected(&env.run(&CHECK).ok()), "002-spec-only");
    env.git(&["checkout", "--quiet", "main"]);

    // A real worktree of a WP: its branch and its path both name the feature.
    env.git(&["worktree", "add", "--quiet", "-b", "001-cli-hello-world-WP01", ".worktrees/001-cli-hello-world-WP01"]);
    let worktree = env.path(".worktrees/001-cli-hello-world-WP01");
    let run = env.run(&["-C", worktree.to_str().unwrap(), CHECK[0], CHECK[1], CHECK[2], CHECK[3], CHECK[4]]).ok();
    assert_eq!(selected(&run), "001-cli-hello-world");
    assert!(json(&run)["feature_dir"].as_str().unwrap().starts_with(env.root().to_str().unwrap()), "main checkout");

    // A feature directory (or one below it) as the working directory.
    let inside = env.path("kitty-specs/005-archived/tasks");
    let run = env.run(&["-C", inside.to_str().unwrap(), CHECK[0], CHECK[1], CHECK[2], CHECK[3], CHECK[4]]).ok();
    assert_eq!(selected(&run), "005-archived");
}

#[test]
fn detection_errors_list_the_candidates() {
    let env = project();
    let run = env.run(&[&CHECK[..], &["--feature", "009-missing"]].concat()).expect_code(1);
    let error = json(&run);
    assert_eq!(error["error"], "Feature directory not found: kitty-specs/009-missing");
    assert_eq!(error["error_code"], "FEATURE_CONTEXT_UNRESOLVED");
    assert_eq!(error["candidate_features"].as_array().unwrap().len(), 5);
    assert!(
        run.stderr.contains("hint: pass --feature (or set SPECIFY_FEATURE) to one of: 001-cli-hello-world,"),
        "{}",
        run.stderr
    );

    // When every feature is complete there is nothing to fall back to.
    for slug in ["002-spec-only", "003-planned", LATEST_INCOMPLETE] {
        std::fs::remove_dir_all(env.path(&format!("kitty-specs/{slug}"))).unwrap();
    }
    let run = env.run(&CHECK).expect_code(1);
    assert_eq!(json(&run)["error"], "All features are complete (2 features); say which one to act on");
}

#[test]
fn a_bare_number_naming_several_features_or_none_is_refused_everywhere() {
    let env = project();
    env.write("kitty-specs/004-other/spec.md", "# Other\n");
    for args in [&CHECK[..], &["agent", "tasks", "status", "--json"]] {
        let run = env.run(&[args, &["--feature", "4"]].concat()).expect_code(1);
        assert_eq!(json(&run)["error"], "several features are numbered 4: 004-demo-widgets, 004-other");
    }
    // emit never creates a directory for an unknown or ambiguous number.
    for number in ["04", "0", "42"] {
        let run = env.run(&["agent", "telemetry", "emit", "--feature", number, "--role", "planner"]).expect_code(2);
        assert!(run.stderr.contains(&format!("--feature {number}:")), "{}", run.stderr);
        assert!(!env.path(&format!("kitty-specs/{number}")).exists());
    }
    env.run(&["agent", "telemetry", "emit", "--feature", "5", "--role", "planner"]).ok();
    assert!(env.path("kitty-specs/005-archived/execution.events.jsonl").exists());
}

// ---------------------------------------------------------------------------------------------------
// check-prerequisites: upstream's contract

/// Replaces the temporary project root so snapshots are stable.
fn stable(env: &TestEnv, text: &str) -> String {
    text.replace(&env.root().display().to_string(), "[ROOT]")
}

#[test]
fn check_prerequisites_snapshots_in_both_modes() {
    let env = project();
    let feature = ["--feature", LATEST_INCOMPLETE];
    let mut out = String::new();
    for extra in [
        &["--json", "--paths-only"][..],
        &["--json", "--paths-only", "--include-tasks"],
        &["--json"],
        &["--json", "--include-tasks"],
        &[],
    ] {
        let run = env.run(&[&["agent", "feature", "check-prerequisites"][..], extra, &feature].concat()).ok();
        out.push_str(&format!("$ check-prerequisites {}\n{}\n", extra.join(" "), stable(&env, &run.render())));
    }
    // A feature missing what the step needs: valid false, exit status still 0 (agents read the JSON).
    for extra in [&["--json", "--include-tasks"][..], &["--include-tasks"]] {
        let run = env
            .run(&[&["agent", "feature", "check-prerequisites"][..], extra, &["--feature", "002-spec-only"]].concat())
            .ok();
        out.push_str(&format!(
            "$ check-prerequisites {} --feature 002-spec-only\n{}\n",
            extra.join(" "),
            stable(&env, &run.render())
        ));
    }
    insta::assert_snapshot!("check_prerequisites", out);

    // The legacy templates' spelling.
    let legacy = env.run(&["agent", "check-prerequisites", "--json", "--require-tasks", "--include-tasks"]).ok();
    assert_eq!(
        json(&legacy)["paths"]["tasks_file"].as_str().map(|p| p.ends_with("004-demo-widgets/tasks.md")),
        Some(true)
    );
}

// ---------------------------------------------------------------------------------------------------
// Planning without telemetry flags

#[test]
fn planning_without_telemetry_flags_records_no_execution_event_and_leaves_a_clean_tree() {
    let env = project();
    let created = json(&env.run(&["agent", "feature", "create-feature", "gadgets", "--json"]).ok());
    let slug = created["feature"].as_str().unwrap().to_owned();
    assert_eq!(slug, "006-gadgets");
    assert_eq!(env.git(&["status", "--porcelain"]), "", "create-feature commits everything it writes");

    env.write(&format!("kitty-specs/{slug}/spec.md"), spec("Gadgets"));
    env.commit_all("Write the spec");
    let plan = env.run(&["agent", "feature", "setup-plan", "--json"]).ok();
    assert_eq!(json(&plan)["feature_slug"], slug.as_str(), "the new feature is the latest incomplete one");
    assert_eq!(env.git(&["status", "--porcelain"]), "");

    env.write(&format!("kitty-specs/{slug}/tasks.md"), tasks(&[("WP01", "Gadget", false)]));
    env.write(&format!("kitty-specs/{slug}/tasks/WP01-gadget.md"), wp("WP01", "Gadget", "planned", &[]));
    env.commit_all("Write the work packages");
    let finalized = json(&env.run(&["agent", "feature", "finalize-tasks", "--json"]).ok());
    assert_eq!(finalized["result"], "success");
    assert_eq!(env.git(&["status", "--porcelain"]), "");

    let logs: Vec<String> =
        walk(&env.path("kitty-specs")).into_iter().filter(|p| p.ends_with("execution.events.jsonl")).collect();
    assert!(logs.is_empty(), "no ExecutionEvent without a telemetry flag: {logs:?}");

    // With a flag, the phase is recorded.
    env.run(&["agent", "feature", "setup-plan", "--force", "--agent", "claude", "--model", "claude-sonnet-4-5"]).ok();
    let log = env.read(&format!("kitty-specs/{slug}/execution.events.jsonl"));
    assert_eq!(log.lines().count(), 1);
    assert!(log.contains("\"role\": \"planner\""), "{log}");
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out
}

#[test]
fn create_feature_for_the_documentation_mission_records_its_state() {
    let env = project();
    let created = json(
        &env.run(&["agent", "feature", "create-feature", "user-guide", "--mission", "documentation", "--json"]).ok(),
    );
    let meta: Value =
        serde_json::from_str(&env.read(&format!("kitty-specs/{}/meta.json", created["feature"].as_str().unwrap())))
            .unwrap();
    assert_eq!(meta["mission"], "documentation");
    assert_eq!(
        meta["documentation_state"],
        serde_json::json!({"iteration_mode": "initial", "divio_types_selected": [], "generators_configured": [],
            "target_audience": "developers", "last_audit_date": null, "coverage_percentage": 0.0})
    );
}

#[test]
fn workflow_implement_takes_base_like_implement() {
    let env = project();
    env.run(&["implement", "WP01"]).ok();
    let wp01 = env.path(&format!(".worktrees/{LATEST_INCOMPLETE}-WP01"));
    env.write(&format!(".worktrees/{LATEST_INCOMPLETE}-WP01/model.rs"), "pub struct Widget;\n");
    env.git_in(&wp01, &["add", "-A"]);
    env.git_in(&wp01, &["commit", "--quiet", "-m", "Widget model"]);
    let run = env
        .run(&["agent", "workflow", "implement", "WP02", "--base", "WP01", "--agent", "claude", "--force", "--json"])
        .ok();
    assert_eq!(json(&run)["wp_id"], "WP02", "{}", run.render());
    let wp02 = env.path(&format!(".worktrees/{LATEST_INCOMPLETE}-WP02"));
    assert!(wp02.join("model.rs").is_file(), "WP02's workspace starts from WP01's branch");
    let refused =
        env.run(&["agent", "workflow", "implement", "WP03", "--base", "WP09", "--agent", "claude", "--force"]);
    assert_eq!(refused.code, 1, "{}", refused.render());
    assert!(refused.stderr.contains("base work package WP09"), "{}", refused.stderr);
}
