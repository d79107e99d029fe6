//! Teams mix versions: spec-kitty-cli 3.x writes the review lanes `in_review` and `approved` (and seeds
//! work packages with `genesis -> planned`) into the same status log. We read such a log, show the lanes,
//! and move work packages on from them by current upstream's rules, instead of refusing the whole log.

use crate::support::{TestEnv, json_lines};
use serde_json::Value;

const FEATURE: &str = "001-mixed";
const DIR: &str = "kitty-specs/001-mixed";

/// A status log as a 3.x CLI writes it: every WP seeded from genesis, then WP01 taken into review,
/// WP02 approved, WP03 waiting for review.
fn upstream_3x_log() -> String {
    let line = |n: u32, wp: &str, from: &str, to: &str, extra: &str| {
        format!(
            "{{\"actor\": \"codex\", \"at\": \"2026-02-10T10:00:{n:02}+00:00\", \"event_id\": \"01KHKGT029N50VDTFKTJ56TD{n:02}\", \"evidence\": null, \"execution_mode\": \"worktree\", \"force\": false, \"from_lane\": \"{from}\", \"mission_slug\": \"{FEATURE}\", \"policy_metadata\": null, \"reason\": null, \"review_ref\": null, {extra}\"to_lane\": \"{to}\", \"wp_id\": \"{wp}\"}}\n"
        )
    };
    let approved =
        "\"review_result\": {\"reference\": \"PR #2\", \"reviewer\": \"codex\", \"verdict\": \"approved\"}, ";
    [
        line(1, "WP01", "genesis", "planned", ""),
        line(2, "WP02", "genesis", "planned", ""),
        line(3, "WP03", "genesis", "planned", ""),
        line(10, "WP01", "planned", "for_review", ""),
        line(11, "WP01", "for_review", "in_review", ""),
        line(20, "WP02", "planned", "for_review", ""),
        line(21, "WP02", "for_review", "in_review", ""),
        line(22, "WP02", "in_review", "approved", approved),
        line(30, "WP03", "planned", "for_review", ""),
    ]
    .concat()
}

fn project() -> TestEnv {
    let env = TestEnv::new();
    let mut tasks = String::from("# Work Packages\n");
    for (wp, lane) in [("WP01", "in_review"), ("WP02", "approved"), ("WP03", "for_review")] {
        env.write(
            &format!("{DIR}/tasks/{wp}-part.md"),
            format!("---\nwork_package_id: {wp}\ntitle: Part {wp}\nlane: \"{lane}\"\ndependencies: []\nagent: codex\n---\n# {wp}\n\n## Activity Log\n\n"),
        );
        tasks.push_str(&format!("\n## Work Package {wp}: Part\n- [x] T0{} Build\n", &wp[2..]));
    }
    env.write(&format!("{DIR}/tasks.md"), tasks);
    env.write(&format!("{DIR}/status.events.jsonl"), upstream_3x_log());
    env
}

fn tasks(env: &TestEnv, args: &[&str]) -> crate::support::Run {
    env.run(&[&["agent", "tasks"][..], args, &["--feature", FEATURE]].concat())
}

#[test]
fn a_log_with_review_lanes_is_read_shown_and_moved_on_from() {
    let env = project();
    let status: Value = serde_json::from_str(&tasks(&env, &["status", "--json"]).ok().stdout).unwrap();
    assert_eq!(status["by_lane"], serde_json::json!({"in_review": 1, "approved": 1, "for_review": 1}));
    let kanban = tasks(&env, &["status"]).ok().stdout;
    for column in ["for_review (1)", "in_review (1)", "approved (1)"] {
        assert!(kanban.contains(column), "{column} missing from\n{kanban}");
    }

    // Out of in_review with an approval; out of approved with review feedback; into in_review.
    tasks(&env, &["move-task", "WP01", "--to", "done", "--reviewer", "Ada", "--approval-ref", "PR #1"]).ok();
    env.write("feedback.md", "Rename the widget.\n");
    tasks(&env, &["move-task", "WP02", "--to", "in_progress", "--review-feedback-file", "feedback.md"]).ok();
    tasks(&env, &["move-task", "WP03", "--to", "in_review", "--agent", "claude"]).ok();
    // A move the rules refuse is refused with the lanes that are allowed.
    let refused = tasks(&env, &["move-task", "WP03", "--to", "claimed"]).expect_code(1);
    assert!(refused.stderr.contains("Illegal transition: in_review -> claimed"), "{}", refused.stderr);

    let events = json_lines(&env.read(&format!("{DIR}/status.events.jsonl")));
    let ours: Vec<(&str, &str, &str, bool)> = events[9..]
        .iter()
        .map(|e| {
            (
                e["wp_id"].as_str().unwrap(),
                e["from_lane"].as_str().unwrap(),
                e["to_lane"].as_str().unwrap(),
                e["force"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ours,
        [
            ("WP01", "in_review", "done", false),
            ("WP02", "approved", "in_progress", false),
            ("WP03", "for_review", "in_review", false)
        ]
    );
    assert_eq!(events[9]["evidence"]["review"]["reviewer"], "Ada");
    assert!(events[10]["review_ref"].as_str().unwrap().ends_with("feedback.md"));

    let view: Value = serde_json::from_str(&env.read(&format!("{DIR}/status.json"))).unwrap();
    let lanes: Vec<&str> =
        ["WP01", "WP02", "WP03"].iter().map(|wp| view["work_packages"][wp]["lane"].as_str().unwrap()).collect();
    assert_eq!(lanes, ["done", "in_progress", "in_review"]);
    assert_eq!(view["summary"]["in_review"], 1);
    assert!(view["summary"].get("approved").is_none(), "a review lane is listed only while occupied");
    assert!(env.read(&format!("{DIR}/tasks/WP03-part.md")).contains("lane: \"in_review\"\n"));
}
