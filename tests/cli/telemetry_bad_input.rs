//! Bad input never panics and never loses data: each case gets a one-line error (or a malformed-line
//! warning for logs), a documented exit code, and leaves what was already stored untouched.

use crate::support::{TestEnv, json_lines};

const LOG: &str = "kitty-specs/001-x/execution.events.jsonl";

/// A project with one stored event, whose log bytes each test checks are preserved.
fn with_one_event() -> (TestEnv, String) {
    let env = TestEnv::new();
    env.emit(&["-f", "001-x", "-r", "planner", "--input-tokens", "10"]);
    let stored = env.read(LOG);
    (env, stored)
}

fn emit_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["agent", "telemetry", "emit"];
    args.extend_from_slice(extra);
    args
}

/// Asserts a usage error (exit 2) whose message mentions `needle`, with the log unchanged.
#[track_caller]
fn rejected(env: &TestEnv, stored: &str, args: &[&str], needle: &str) {
    let run = env.run(&emit_args(args)).expect_code(2);
    assert!(run.stderr.contains(needle), "stderr should mention {needle:?}:\n{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert_eq!(run.stdout, "");
    assert_eq!(env.read(LOG), stored, "stored events must be untouched");
}

#[test]
fn path_traversing_feature_is_rejected() {
    let (env, stored) = with_one_event();
    rejected(
        &env,
        &stored,
        &["-f", "../escape", "-r", "planner"],
        "must be a single directory name under kitty-specs/",
    );
    rejected(&env, &stored, &["-f", "001-x/../../escape", "-r", "planner"], "single directory name");
    rejected(&env, &stored, &["-f", "..", "-r", "planner"], "single directory name");
    assert!(!env.path("escape").exists() && !env.root().parent().unwrap().join("escape").exists());
}

#[test]
fn empty_feature_is_rejected() {
    let (env, stored) = with_one_event();
    rejected(&env, &stored, &["-f", "", "-r", "planner"], "feature slug is empty");
}

#[test]
fn negative_token_counts_are_rejected() {
    let (env, stored) = with_one_event();
    rejected(
        &env,
        &stored,
        &["-f", "001-x", "-r", "planner", "--input-tokens", "-5"],
        "\"-5\" is not a non-negative whole number",
    );
    rejected(&env, &stored, &["-f", "001-x", "-r", "planner", "--output-tokens", "1.5"], "--output-tokens");
    rejected(&env, &stored, &["-f", "001-x", "-r", "planner", "--duration-ms", "-1"], "--duration-ms");
}

#[test]
fn non_finite_or_negative_costs_are_rejected() {
    let (env, stored) = with_one_event();
    for bad in ["NaN", "nan", "inf", "-inf", "Infinity", "-0.5", "1e999", "cheap"] {
        rejected(
            &env,
            &stored,
            &["-f", "001-x", "-r", "planner", "--cost-usd", bad],
            "is not a finite, non-negative amount of dollars",
        );
    }
}

#[test]
fn huge_values_are_handled() {
    // The per-event maxima are stored; values beyond them are usage errors (see hardening.rs).
    let (env, _) = with_one_event();
    env.emit(&["-f", "001-x", "-r", "planner", "--input-tokens", "1000000000000000", "--cost-usd", "1e9"]);
    let run = env.run(&["agent", "telemetry", "cost", "--json"]).ok();
    let rows: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(rows[0]["event_count"], 2);
    let (env, stored) = with_one_event();
    rejected(
        &env,
        &stored,
        &["-f", "001-x", "-r", "planner", "--input-tokens", "18446744073709551616"],
        "--input-tokens",
    );
}

#[test]
fn unknown_role_is_rejected() {
    let (env, stored) = with_one_event();
    rejected(&env, &stored, &["-f", "001-x", "-r", "boss"], "invalid value 'boss' for '--role <ROLE>'");
    rejected(&env, &stored, &["-f", "001-x"], "--role <ROLE>");
}

#[test]
fn empty_wp_id_is_rejected() {
    let (env, stored) = with_one_event();
    rejected(&env, &stored, &["-f", "001-x", "-r", "planner", "--wp-id", " "], "must not be empty");
}

#[test]
fn unknown_group_by_is_rejected() {
    let (env, _) = with_one_event();
    let run = env.run(&["agent", "telemetry", "cost", "--group-by", "colour"]).expect_code(2);
    assert!(run.stderr.contains("unknown group key \"colour\""), "{}", run.stderr);
    let run = env.run(&["agent", "telemetry", "cost", "-g", "agent,agent"]).expect_code(2);
    assert!(run.stderr.contains("listed twice"), "{}", run.stderr);
}

#[test]
fn bad_dates_are_rejected() {
    let (env, _) = with_one_event();
    for (flag, value) in
        [("--since", "bogus"), ("--until", "2026-13-01"), ("--since", "2026-02-30"), ("--until", "1700000000")]
    {
        let run = env.run(&["agent", "telemetry", "cost", flag, value]).expect_code(2);
        assert!(run.stderr.contains(flag) && run.stderr.contains("is not an ISO 8601 date or time"), "{}", run.stderr);
    }
}

#[test]
fn corrupt_clock_file_is_rebuilt_from_the_log() {
    let (env, stored) = with_one_event();
    for corrupt in ["not json", "[1]", r#"{"cli:N/A": -3}"#, r#"{"cli:N/A": "7"}"#, ""] {
        env.write("kitty-specs/001-x/.telemetry-clock.json", corrupt);
        let run = env.emit(&["-f", "001-x", "-r", "planner"]);
        assert!(
            run.stderr.contains("was corrupt") && run.stderr.contains("rebuilt it from"),
            "{corrupt}: {}",
            run.stderr
        );
    }
    let text = env.read(LOG);
    assert!(text.starts_with(&stored));
    let lamports: Vec<i64> = json_lines(&text).iter().map(|e| e["lamport_clock"].as_i64().unwrap()).collect();
    assert_eq!(lamports, [1, 2, 3, 4, 5, 6], "never reset to 0");
}

#[test]
fn non_object_and_torn_lines_are_reported_not_fatal() {
    let (env, stored) = with_one_event();
    env.write(LOG, format!("{stored}[1, 2]\n42\n{{\"event_id\": \"01KHK2DV"));
    let run = env.emit(&["-f", "001-x", "-r", "planner", "--input-tokens", "5"]);
    assert_eq!(run.stderr, "");
    let run = env.run(&["agent", "telemetry", "cost", "--json"]).ok();
    assert!(
        run.stderr.contains("skipped 3 malformed line(s) in") && run.stderr.contains("(first at line 2:"),
        "{}",
        run.stderr
    );
    let rows: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(rows[0]["event_count"], 2);
    assert_eq!(rows[0]["total_input_tokens"], 15);
}

#[test]
fn a_binary_file_as_the_log_is_survived() {
    let env = TestEnv::new();
    let garbage: Vec<u8> = (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    env.write(LOG, &garbage);
    let run = env.run(&["agent", "telemetry", "cost"]).ok();
    assert!(run.stderr.contains("malformed line(s)"), "{}", run.stderr);
    assert_eq!(run.stdout, "No execution events found.\n");
    env.emit(&["-f", "001-x", "-r", "planner"]);
    let bytes = std::fs::read(env.path(LOG)).unwrap();
    assert!(bytes.starts_with(&garbage), "existing bytes are never rewritten");
    let run = env.run(&["agent", "telemetry", "cost", "--json"]).ok();
    let rows: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(rows[0]["event_count"], 1, "the new event landed on its own line");
}

#[test]
fn an_unreadable_log_is_an_error_naming_it() {
    let (env, _) = with_one_event();
    std::fs::create_dir_all(env.path("kitty-specs/002-broken/execution.events.jsonl")).unwrap();
    let run = env.run(&["agent", "telemetry", "cost"]).expect_code(1);
    assert!(
        run.stderr.starts_with("error: cannot read ") && run.stderr.contains("002-broken/execution.events.jsonl"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("hint:"), "{}", run.stderr);
    // Emitting into that feature fails softly (exit 0, warning), or hard with --strict.
    let run = env.run(&["agent", "telemetry", "emit", "-f", "002-broken", "-r", "planner", "--json"]).ok();
    assert!(run.stderr.contains("warning: telemetry event not recorded"), "{}", run.stderr);
    assert!(
        run.stdout.starts_with(r#"{"result": "error", "error": "telemetry event not recorded: cannot write "#),
        "{}",
        run.stdout
    );
    let run = env.run(&["agent", "telemetry", "emit", "-f", "002-broken", "-r", "planner", "--strict"]).expect_code(1);
    assert!(run.stderr.starts_with("error: telemetry event not recorded"), "{}", run.stderr);
    let run = env
        .run_with_env(
            &["agent", "telemetry", "emit", "-f", "002-broken", "-r", "planner"],
            &[("SPEC_KITTY_STRICT", "1")],
        )
        .expect_code(1);
    assert!(run.stderr.contains("not recorded"), "{}", run.stderr);
}

#[test]
fn an_unreadable_directory_is_reported() {
    if unsafe { libc::geteuid() } == 0 {
        eprintln!("note: running as root, permission bits do not apply; skipping");
        return;
    }
    let (env, stored) = with_one_event();
    use std::os::unix::fs::PermissionsExt;
    let dir = env.path("kitty-specs/001-x");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o000)).unwrap();
    let run = env.run(&["agent", "telemetry", "cost"]);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = run.expect_code(1);
    assert!(run.stderr.contains("001-x") && run.stderr.contains("ermission denied"), "{}", run.stderr);
    assert_eq!(env.read(LOG), stored);
}

#[test]
fn outside_a_project_is_a_clear_failure() {
    let env = TestEnv::bare();
    for args in [&["agent", "telemetry", "cost"][..], &["agent", "telemetry", "emit", "-f", "001-x", "-r", "planner"]] {
        let run = env.run(args).expect_code(1);
        assert!(run.stderr.starts_with("error: not inside a spec-kitty project (no .kittify/ in "), "{}", run.stderr);
        assert!(run.stderr.contains("hint: run inside a spec-kitty project"), "{}", run.stderr);
    }
    assert!(!env.path("kitty-specs").exists());
}

#[test]
fn malformed_pricing_files_name_the_file() {
    let (env, _) = with_one_event();
    env.write(".kittify/pricing.yaml", "models:\n  x: [1, 2\n");
    let run = env.run(&["agent", "telemetry", "cost"]).expect_code(1);
    assert!(
        run.stderr.starts_with("error: invalid pricing file ") && run.stderr.contains(".kittify/pricing.yaml"),
        "{}",
        run.stderr
    );
    let run = env.run(&["agent", "telemetry", "cost", "--pricing", "missing.yaml"]).expect_code(1);
    assert!(run.stderr.contains("cannot read pricing file") && run.stderr.contains("missing.yaml"), "{}", run.stderr);
}

#[test]
fn bad_environment_and_directory_are_usage_errors() {
    let (env, stored) = with_one_event();
    let run = env.run_with_env(&["agent", "telemetry", "cost"], &[("SPEC_KITTY_NOW", "tomorrow")]).expect_code(2);
    assert!(run.stderr.contains("SPEC_KITTY_NOW"), "{}", run.stderr);
    let run = env.run(&["-C", "no/such/dir", "agent", "telemetry", "cost"]).expect_code(2);
    assert!(run.stderr.contains("cannot use directory no/such/dir"), "{}", run.stderr);
    assert_eq!(env.read(LOG), stored);
}
