//! Acceptance against upstream's own data: the cost report over the fixture project equals what
//! upstream's code computed (`EXPECTED-cost.json`), read from ../shared, never copied into the repo.

use crate::support::{TestEnv, upstream_fixture};
use serde_json::Value;

fn our_report(fixture: &std::path::Path, group_by: &str) -> Vec<Value> {
    let env = TestEnv::bare();
    let run = env
        .run(&[
            "-C",
            fixture.to_str().unwrap(),
            "agent",
            "telemetry",
            "cost",
            "--json",
            "--group-by",
            group_by,
            "--pricing",
            fixture.join("upstream-pricing.yaml").to_str().unwrap(),
        ])
        .ok();
    serde_json::from_str(&run.stdout).unwrap()
}

/// The comparable part of a group: upstream's keys, with upstream's `null` model group as `unknown`.
fn upstream_view(row: &Value) -> Vec<(String, String)> {
    let keys = [
        "group_key",
        "group_by",
        "total_input_tokens",
        "total_output_tokens",
        "total_cost_usd",
        "estimated_cost_usd",
        "event_count",
    ];
    keys.iter()
        .map(|k| {
            let value = match &row[*k] {
                Value::Null if *k == "group_key" => Value::String("unknown".into()),
                v => v.clone(),
            };
            ((*k).to_owned(), value.to_string())
        })
        .collect()
}

#[test]
fn cost_json_equals_upstreams_expected_output() {
    let Some(fixture) = upstream_fixture() else { return };
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture.join("EXPECTED-cost.json")).unwrap()).unwrap();
    for group_by in ["agent", "model", "feature", "role"] {
        let ours = our_report(&fixture, group_by);
        let mut theirs: Vec<Vec<(String, String)>> =
            expected["by_group"][group_by].as_array().unwrap().iter().map(upstream_view).collect();
        // Upstream breaks cost ties by first appearance; ours by event count (desc), then key (asc).
        let sort_key = |row: &Vec<(String, String)>| {
            let field = |name: &str| row.iter().find(|(k, _)| k == name).unwrap().1.clone();
            (
                -(field("total_cost_usd").parse::<f64>().unwrap() * 1e6) as i64,
                -field("event_count").parse::<i64>().unwrap(),
                field("group_key"),
            )
        };
        theirs.sort_by_key(sort_key);
        let ours: Vec<Vec<(String, String)>> = ours.iter().map(upstream_view).collect();
        assert_eq!(ours, theirs, "group by {group_by}");
    }
}

#[test]
fn built_in_pricing_prices_what_upstream_could_not() {
    let Some(fixture) = upstream_fixture() else { return };
    let env = TestEnv::bare();
    let run = env.run(&["-C", fixture.to_str().unwrap(), "agent", "telemetry", "cost", "--json", "-g", "model"]).ok();
    let rows: Vec<Value> = serde_json::from_str(&run.stdout).unwrap();
    let opus = rows.iter().find(|r| r["group_key"] == "claude-opus-4-6").unwrap();
    // 128,326 input tokens of claude-opus-4-6 at $5 per million (upstream priced them at $0).
    assert_eq!(opus["estimated_cost_usd"], 0.64163);
    assert!(run.stderr.contains("1 event unpriced: (no model) (1)"), "{}", run.stderr);
}

#[test]
fn fixture_table_report_snapshot() {
    let Some(fixture) = upstream_fixture() else { return };
    let env = TestEnv::bare();
    let pricing = fixture.join("upstream-pricing.yaml");
    let run =
        env.run(&["-C", fixture.to_str().unwrap(), "agent", "telemetry", "--pricing", pricing.to_str().unwrap()]).ok();
    insta::assert_snapshot!("fixture_cost_table_agent", run.render());
}
