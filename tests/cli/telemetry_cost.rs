//! `agent telemetry cost`: grouping, filters, pricing, and every output format.

use crate::support::TestEnv;

/// A small project with varied events, written through the binary itself.
fn project() -> TestEnv {
    let env = TestEnv::new();
    let emits: &[&[&str]] = &[
        &[
            "-f",
            "001-alpha",
            "-r",
            "specifier",
            "--agent",
            "claude",
            "--model",
            "claude-sonnet-4.5",
            "--input-tokens",
            "12000",
            "--output-tokens",
            "3000",
        ],
        &[
            "-f",
            "001-alpha",
            "-r",
            "planner",
            "--agent",
            "claude",
            "--model",
            "claude-opus-4-6",
            "--input-tokens",
            "20000",
            "--output-tokens",
            "4000",
            "--cache-read-tokens",
            "100000",
            "--cache-write-tokens",
            "8000",
        ],
        &[
            "-f",
            "001-alpha",
            "-r",
            "implementer",
            "--agent",
            "codex",
            "--model",
            "gpt-5.1-codex",
            "--input-tokens",
            "50000",
            "--output-tokens",
            "9000",
            "--wp-id",
            "WP01",
        ],
        &[
            "-f",
            "001-alpha",
            "-r",
            "reviewer",
            "--agent",
            "copilot",
            "--model",
            "claude-sonnet-4.5",
            "--cost-usd",
            "1.25",
            "--wp-id",
            "WP01",
        ],
        &[
            "-f",
            "002-beta",
            "-r",
            "implementer",
            "--agent",
            "gemini",
            "--model",
            "gemini-2.5-pro",
            "--input-tokens",
            "40000",
            "--output-tokens",
            "5000",
            "--wp-id",
            "WP01",
        ],
        &[
            "-f",
            "002-beta",
            "-r",
            "implementer",
            "--agent",
            "codex",
            "--model",
            "llama-3.3-70b-local",
            "--input-tokens",
            "9000",
            "--output-tokens",
            "1000",
            "--wp-id",
            "WP02",
        ],
        &["-f", "002-beta", "-r", "merger", "--cost-usd", "0"],
    ];
    for args in emits {
        env.emit(args);
    }
    env
}

fn cost(env: &TestEnv, extra: &[&str]) -> String {
    let mut args = vec!["agent", "telemetry", "cost"];
    args.extend_from_slice(extra);
    env.run(&args).ok().render()
}

#[test]
fn table_by_agent() {
    insta::assert_snapshot!("cost_table_agent", cost(&project(), &[]));
}

#[test]
fn table_by_role_with_cache_columns() {
    insta::assert_snapshot!("cost_table_role", cost(&project(), &["--group-by", "role"]));
}

#[test]
fn table_by_two_keys() {
    insta::assert_snapshot!("cost_table_feature_role", cost(&project(), &["-g", "feature,role"]));
}

/// The cost report fits an 80-column terminal: headers stack, the cache columns go (with a line saying
/// so), long group names wrap after a hyphen, and the notes under the table wrap too. Numbers never
/// break.
#[test]
fn cost_tables_fit_80_columns() {
    let env = project();
    // A real-world slug, long enough that it must wrap.
    env.emit(&[
        "-f",
        "048-full-lifecycle-telemetry-events",
        "-r",
        "implementer",
        "--agent",
        "claude",
        "--model",
        "claude-sonnet-4.5",
        "--input-tokens",
        "76330500",
        "--output-tokens",
        "446400",
        "--cache-read-tokens",
        "1200000",
    ]);
    let at_80 = |extra: &[&str]| {
        let mut args = vec!["agent", "telemetry", "cost"];
        args.extend_from_slice(extra);
        let run = env.run_with_env(&args, &[("COLUMNS", "80")]).ok();
        for line in run.stdout.lines() {
            let width = unicode_width::UnicodeWidthStr::width(line);
            assert!(width <= 80, "{width} columns in {line:?} of `{}`:\n{}", args.join(" "), run.stdout);
        }
        assert!(run.stdout.contains("TOTAL"), "{}", run.stdout);
        run.render()
    };
    let by_agent = at_80(&[]);
    let widest = at_80(&["-g", "feature,role"]);
    assert!(widest.contains("│ 048-full-  "), "the slug wraps after a hyphen: {widest}");
    assert!(widest.contains("│ 76,461,500 │"), "totals are never broken: {widest}");
    insta::assert_snapshot!("cost_table_agent_80_columns", by_agent);
    insta::assert_snapshot!("cost_table_feature_role_80_columns", widest);
}

#[test]
fn json_by_model() {
    insta::assert_snapshot!("cost_json_model", cost(&project(), &["--group-by", "model", "--json"]));
}

#[test]
fn json_by_two_keys_has_a_group_object() {
    insta::assert_snapshot!("cost_json_agent_wp", cost(&project(), &["--group-by", "agent,wp", "--json"]));
}

#[test]
fn csv_by_feature() {
    insta::assert_snapshot!("cost_csv_feature", cost(&project(), &["--group-by", "feature", "--csv"]));
}

#[test]
fn json_output_parses_with_upstreams_keys_in_order() {
    let env = project();
    let text = env.run(&["agent", "telemetry", "cost", "--json"]).ok().stdout;
    let rows: Vec<serde_json::Map<String, serde_json::Value>> = serde_json::from_str(&text).unwrap();
    let upstream_keys = [
        "group_key",
        "group_by",
        "total_input_tokens",
        "total_output_tokens",
        "total_cost_usd",
        "estimated_cost_usd",
        "event_count",
    ];
    for row in &rows {
        let keys: Vec<&str> = row.keys().map(String::as_str).take(7).collect();
        assert_eq!(keys, upstream_keys);
    }
    let costs: Vec<f64> = rows.iter().map(|r| r["total_cost_usd"].as_f64().unwrap()).collect();
    assert!(costs.windows(2).all(|w| w[0] >= w[1]), "sorted by cost descending: {costs:?}");
}

#[test]
fn bare_telemetry_is_cost_and_takes_its_flags() {
    let env = project();
    assert_eq!(cost(&env, &["-g", "role"]), env.run(&["agent", "telemetry", "-g", "role"]).ok().render());
    let run = env.run(&["agent", "telemetry", "--json", "cost"]).expect_code(2);
    assert!(run.stderr.contains("cannot be used with"), "{}", run.stderr);
}

#[test]
fn unpriced_models_are_reported_not_hidden() {
    let env = project();
    let table = cost(&env, &[]);
    assert!(table.contains("1 event unpriced: llama-3.3-70b-local (1); not in the totals"), "{table}");
    let json = env.run(&["agent", "telemetry", "cost", "--json"]).ok();
    assert!(json.stderr.contains("note: 1 event unpriced: llama-3.3-70b-local (1)"), "{}", json.stderr);
    assert!(!json.stdout.contains("unpriced:"), "stdout stays pure JSON");
}

#[test]
fn filters_narrow_the_events() {
    let env = project();
    let events = |extra: &[&str]| -> u64 {
        let mut args = vec!["agent", "telemetry", "cost", "--json"];
        args.extend_from_slice(extra);
        let text = env.run(&args).ok().stdout;
        let rows: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        rows.iter().map(|r| r["event_count"].as_u64().unwrap()).sum()
    };
    assert_eq!(events(&[]), 7);
    assert_eq!(events(&["--agent", "codex"]), 2);
    assert_eq!(events(&["--model", "claude-sonnet-4.5"]), 2);
    assert_eq!(events(&["--role", "implementer"]), 3);
    assert_eq!(events(&["--wp-id", "WP01"]), 3);
    assert_eq!(events(&["--feature", "002"]), 3);
    assert_eq!(events(&["--feature", "00?-b*"]), 3);
    // The test clock starts at 2026-02-16T11:12:33Z and advances one second per command, so the
    // seven events were stamped 11:12:34 … 11:12:40.
    assert_eq!(events(&["--since", "2026-02-16T11:12:36Z"]), 5);
    assert_eq!(events(&["--until", "2026-02-16T11:12:35+00:00"]), 2);
    assert_eq!(events(&["--until", "2026-02-16"]), 7, "a date-only --until includes that day");
    assert_eq!(events(&["--until", "2026-02-15"]), 0);
    assert_eq!(events(&["--since", "2026-02-16 11:12:37", "--until", "2026-02-16T12:12:37+01:00"]), 1);
}

#[test]
fn periods_group_by_day_week_and_month() {
    let env = project();
    insta::assert_snapshot!("cost_csv_periods", cost(&env, &["-g", "month,week,day", "--csv"]));
}

#[test]
fn empty_results_per_format() {
    let env = TestEnv::new();
    insta::assert_snapshot!("cost_empty_table", cost(&env, &[]));
    insta::assert_snapshot!("cost_empty_json", cost(&env, &["--json"]));
    insta::assert_snapshot!("cost_empty_csv", cost(&env, &["--csv", "-g", "agent,role"]));
    let env = project();
    insta::assert_snapshot!("cost_no_feature_match", cost(&env, &["--feature", "9"]));
    insta::assert_snapshot!("cost_no_feature_match_json", cost(&env, &["--feature", "9", "--json"]));
    insta::assert_snapshot!("cost_filtered_out_json", cost(&env, &["--agent", "nobody", "--json"]));
}

#[test]
fn a_project_without_kitty_specs_has_no_events() {
    let env = TestEnv::bare();
    std::fs::create_dir_all(env.path(".kittify")).unwrap();
    assert_eq!(cost(&env, &[]), "No execution events found.\n");
}

#[test]
fn duplicated_event_ids_count_once() {
    let env = project();
    let log = "kitty-specs/002-beta/execution.events.jsonl";
    let text = env.read(log);
    let first = text.lines().next().unwrap().to_owned();
    env.write(log, format!("{text}{}\n", first.replace("01K", "01k")));
    let json = env.run(&["agent", "telemetry", "cost", "--json", "--feature", "002"]).ok();
    let rows: Vec<serde_json::Value> = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(rows.iter().map(|r| r["event_count"].as_u64().unwrap()).sum::<u64>(), 3);
}

#[test]
fn pricing_overrides_apply_in_order_and_pricing_flag_replaces() {
    let env = project();
    let cost_of = |extra: &[&str]| -> String {
        let mut args = vec!["agent", "telemetry", "cost", "--json", "-g", "model", "--model", "llama-3.3-70b-local"];
        args.extend_from_slice(extra);
        let text = env.run(&args).ok().stdout;
        let rows: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        rows[0]["total_cost_usd"].to_string()
    };
    assert_eq!(cost_of(&[]), "0.0");
    std::fs::create_dir_all(env.home().join(".spec-kitty")).unwrap();
    std::fs::write(
        env.home().join(".spec-kitty/pricing.yaml"),
        "models:\n  llama-3.3-70b-local:\n    input_per_1k: 0.001\n    output_per_1k: 0.001\n",
    )
    .unwrap();
    assert_eq!(cost_of(&[]), "0.01", "user override: 9000 in + 1000 out at $0.001/1k");
    env.write(
        ".kittify/pricing.yaml",
        "models:\n  llama-3.3-70b-local:\n    input_per_1k: 0.002\n    output_per_1k: 0.002\n",
    );
    assert_eq!(cost_of(&[]), "0.02", "project override wins over the user's");

    env.write(
        "prices.json",
        r#"{"llama-3.3-70b-local": {"input_cost_per_token": 1e-05, "output_cost_per_token": 2e-05}}"#,
    );
    assert_eq!(cost_of(&["--pricing", "prices.json"]), "0.11", "LiteLLM JSON, per-token prices");
    env.write("only.yaml", "models:\n  gpt-4.1:\n    input_per_1k: 1\n");
    let run = env.run(&["agent", "telemetry", "cost", "--pricing", "only.yaml"]).ok();
    assert!(
        run.stdout.contains("llama-3.3-70b-local (1)") && run.stdout.contains("claude-sonnet-4.5"),
        "{}",
        run.stdout
    );
}
