//! `agent telemetry emit`: what lands in the log, what the agent sees, and where it lands.

use crate::support::{TestEnv, json_lines};

const LOG: &str = "kitty-specs/048-demo/execution.events.jsonl";
const CLOCK: &str = "kitty-specs/048-demo/.telemetry-clock.json";

#[test]
fn minimal_emit_writes_upstreams_line_and_clock() {
    let env = TestEnv::new();
    std::fs::create_dir_all(env.path("kitty-specs/048-demo")).unwrap();
    let run = env.emit(&["--feature", "048-demo", "--role", "planner"]);
    insta::assert_snapshot!("emit_minimal_stdout", run.render());
    insta::assert_snapshot!("emit_minimal_log", env.read(LOG));
    assert_eq!(env.read(CLOCK), r#"{"cli:N/A": 1}"#);
}

#[test]
fn every_flag_lands_in_the_payload() {
    let env = TestEnv::new();
    let run = env.emit(&[
        "-f",
        "048-demo",
        "-r",
        "implementer",
        "--agent",
        "claude",
        "--model",
        "claude-sonnet-4.5",
        "--input-tokens",
        "5000",
        "--output-tokens",
        "2000",
        "--cache-read-tokens",
        "70000",
        "--cache-write-tokens",
        "3000",
        "--cost-usd",
        "0.0425",
        "--duration-ms",
        "12500",
        "--failure",
        "--error",
        "tests failed: café ☕",
        "--exit-code",
        "-1",
        "--wp-id",
        "WP03",
        "--json",
    ]);
    insta::assert_snapshot!("emit_all_flags_json", run.render());
    insta::assert_snapshot!("emit_all_flags_log", env.read(LOG));
    let event = &json_lines(&env.read(LOG))[0];
    assert_eq!(event["node_id"], "cli:WP03");
    assert_eq!(event["payload"]["cost_usd"], 0.0425);
    assert_eq!(event["payload"]["success"], false);
    assert_eq!(event["payload"]["exit_code"], -1);
    assert_eq!(event["payload"]["cache_read_tokens"], 70000);
}

#[test]
fn json_result_is_one_line_with_upstreams_keys_first() {
    let env = TestEnv::new();
    let run = env.emit(&["-f", "099-new", "-r", "planner", "--json"]);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].starts_with(
            r#"{"result": "success", "feature": "099-new", "role": "planner", "agent": "unknown", "model": null"#
        ),
        "{}",
        lines[0]
    );
}

#[test]
fn creates_a_missing_feature_directory_and_says_so() {
    let env = TestEnv::new();
    let run = env.emit(&["-f", "099-new-feature", "-r", "specifier"]);
    assert!(run.stderr.contains("created kitty-specs/099-new-feature/"), "{}", run.stderr);
    assert_eq!(env.read("kitty-specs/099-new-feature/execution.events.jsonl").lines().count(), 1);
    let again = env.emit(&["-f", "099-new-feature", "-r", "specifier"]);
    assert_eq!(again.stderr, "", "no note once the feature exists");
}

#[test]
fn lamport_values_increase_across_nodes_of_a_feature() {
    let env = TestEnv::new();
    for wp in ["WP01", "WP02", "WP01", "N/A"] {
        env.emit(&["-f", "048-demo", "-r", "implementer", "--wp-id", wp]);
    }
    let lamports: Vec<i64> = json_lines(&env.read(LOG)).iter().map(|e| e["lamport_clock"].as_i64().unwrap()).collect();
    assert_eq!(lamports, [1, 2, 3, 4]);
    assert_eq!(env.read(CLOCK), r#"{"cli:N/A": 4, "cli:WP01": 3, "cli:WP02": 2}"#);
}

#[test]
fn continues_an_upstream_clock_file() {
    let env = TestEnv::new();
    env.write(CLOCK, r#"{"cli:N/A": 6, "cli:WP01": 1, "cli:WP02": 1}"#);
    env.emit(&["-f", "048-demo", "-r", "reviewer", "--wp-id", "WP02"]);
    assert_eq!(json_lines(&env.read(LOG))[0]["lamport_clock"], 7);
    assert_eq!(env.read(CLOCK), r#"{"cli:N/A": 6, "cli:WP01": 1, "cli:WP02": 7}"#);
}

#[test]
fn all_five_roles_are_accepted() {
    let env = TestEnv::new();
    for role in ["specifier", "planner", "implementer", "reviewer", "merger"] {
        env.emit(&["-f", "048-demo", "-r", role]);
    }
    let roles: Vec<String> =
        json_lines(&env.read(LOG)).iter().map(|e| e["payload"]["role"].as_str().unwrap().to_owned()).collect();
    assert_eq!(roles, ["specifier", "planner", "implementer", "reviewer", "merger"]);
}

#[test]
fn empty_agent_becomes_unknown() {
    let env = TestEnv::new();
    env.emit(&["-f", "048-demo", "-r", "planner", "--agent", ""]);
    assert_eq!(json_lines(&env.read(LOG))[0]["payload"]["agent"], "unknown");
}

#[test]
fn a_bare_feature_number_resolves_to_the_unique_feature() {
    let env = TestEnv::new();
    std::fs::create_dir_all(env.path("kitty-specs/048-demo")).unwrap();
    env.emit(&["-f", "048", "-r", "planner"]);
    assert!(env.path(LOG).exists());
    assert!(!env.path("kitty-specs/048").exists());
}

#[test]
fn events_land_in_the_project_root_from_a_subdirectory_or_with_dash_c() {
    let env = TestEnv::new();
    std::fs::create_dir_all(env.path("kitty-specs/048-demo/tasks")).unwrap();
    let mut cmd = env.command();
    cmd.current_dir(env.path("kitty-specs/048-demo/tasks")).args([
        "agent",
        "telemetry",
        "emit",
        "-f",
        "048-demo",
        "-r",
        "planner",
    ]);
    assert!(cmd.status().unwrap().success());

    let elsewhere = tempfile::tempdir().unwrap();
    let mut cmd = env.command();
    cmd.current_dir(elsewhere.path()).args([
        "-C",
        env.root().to_str().unwrap(),
        "agent",
        "telemetry",
        "emit",
        "-f",
        "048-demo",
        "-r",
        "planner",
    ]);
    assert!(cmd.status().unwrap().success());

    let mut cmd = env.command();
    cmd.current_dir(elsewhere.path()).env("SPECIFY_REPO_ROOT", env.root()).args([
        "agent",
        "telemetry",
        "emit",
        "-f",
        "048-demo",
        "-r",
        "planner",
    ]);
    assert!(cmd.status().unwrap().success());

    assert_eq!(env.read(LOG).lines().count(), 3);
}

#[test]
fn events_from_a_git_worktree_land_in_the_main_checkout() {
    let env = TestEnv::new();
    let worktree = env.path(".worktrees/048-demo-WP01");
    std::fs::create_dir_all(env.path(".git/worktrees/048-demo-WP01")).unwrap();
    std::fs::create_dir_all(worktree.join(".kittify")).unwrap();
    std::fs::write(worktree.join(".git"), "gitdir: ../../.git/worktrees/048-demo-WP01\n").unwrap();
    let mut cmd = env.command();
    cmd.current_dir(&worktree).args([
        "agent",
        "telemetry",
        "emit",
        "-f",
        "048-demo",
        "-r",
        "implementer",
        "--wp-id",
        "WP01",
    ]);
    assert!(cmd.status().unwrap().success());
    assert_eq!(env.read(LOG).lines().count(), 1);
    assert!(!worktree.join("kitty-specs").exists());
}
