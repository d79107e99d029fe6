//! Workflow events in the offline queue (`$SPEC_KITTY_HOME/queue.db`): what commands queue, and that
//! queueing problems never change a command's outcome.

use crate::support::{Run, TestEnv};
use rusqlite::Connection;
use serde_json::Value;
use std::path::PathBuf;

pub fn queue_path(env: &TestEnv) -> PathBuf {
    env.home().join(".spec-kitty/queue.db")
}

/// The queued envelopes, oldest first.
pub fn queued(env: &TestEnv) -> Vec<Value> {
    let path = queue_path(env);
    if !path.exists() {
        return Vec::new();
    }
    let conn = Connection::open(path).unwrap();
    let mut stmt = conn.prepare("SELECT data FROM queue ORDER BY timestamp, id").unwrap();
    let rows = stmt.query_map([], |r| r.get::<_, String>(0)).unwrap();
    rows.map(|r| serde_json::from_str(&r.unwrap()).unwrap()).collect()
}

/// A project with one feature of `wps` work packages whose tasks.md chains WPn on WPn-1.
pub fn feature_with_wps(wps: usize) -> TestEnv {
    let env = TestEnv::new();
    env.run(&["init"]).ok();
    env.run(&["agent", "feature", "create-feature", "demo"]).ok();
    let mut tasks = String::from("# Work Packages: Demo\n");
    for n in 1..=wps {
        let deps =
            if n == 1 { "- None (starting package).".to_owned() } else { format!("- Depends on WP{:02}.", n - 1) };
        tasks.push_str(&format!(
            "\n## Work Package WP{n:02}: Part {n} (Priority: P1)\n\n### Included Subtasks\n- [ ] T{n:03} Build part {n}\n\n### Dependencies\n{deps}\n"
        ));
        env.write(
            &format!("kitty-specs/001-demo/tasks/WP{n:02}-part-{n}.md"),
            format!("---\nwork_package_id: WP{n:02}\ntitle: Part {n}\nlane: \"planned\"\nagent: ''\nshell_pid: ''\nhistory:\n- lane: planned\n---\n\n# Part {n}\n\n## Activity Log\n\n- 2026-02-16T10:00:00Z – system – lane=planned – Prompt generated\n"),
        );
    }
    env.write("kitty-specs/001-demo/tasks.md", tasks);
    env
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["event_type"].as_str().unwrap()).collect()
}

#[test]
fn finalize_tasks_queues_one_feature_created_and_a_wp_created_per_wp_sharing_a_causation() {
    let env = feature_with_wps(7);
    env.run(&["agent", "feature", "finalize-tasks", "--json"]).ok();
    let events = queued(&env);
    assert_eq!(
        types(&events),
        ["FeatureCreated", "WPCreated", "WPCreated", "WPCreated", "WPCreated", "WPCreated", "WPCreated", "WPCreated"]
    );
    assert_eq!(events[0]["payload"]["wp_count"], 7);
    assert_eq!(events[0]["payload"]["feature_number"], "001");
    let causation = events[0]["causation_id"].as_str().expect("a causation id");
    assert!(events.iter().all(|e| e["causation_id"] == causation));
    assert_eq!(events[1]["payload"]["dependencies"], serde_json::json!([]));
    assert_eq!(events[3]["payload"]["dependencies"], serde_json::json!(["WP02"]));
    assert_eq!(events[3]["payload"]["title"], "Part 3");
    assert_eq!(events[3]["aggregate_type"], "WorkPackage");
    assert_eq!(events[0]["aggregate_id"], "001-demo");
    assert!(events[0]["project_uuid"].as_str().is_some_and(|u| u.len() == 36), "identity from .kittify/config.yaml");
}

#[test]
fn lamport_values_increase_across_sequential_commands() {
    let env = feature_with_wps(2);
    env.run(&["agent", "feature", "finalize-tasks"]).ok();
    env.run(&["agent", "tasks", "move-task", "WP01", "--to", "in_progress", "--agent", "claude"]).ok();
    env.run(&["agent", "tasks", "add-history", "WP01", "--note", "halfway"]).ok();
    env.run(&["agent", "tasks", "mark-status", "T001", "--status", "done"]).ok();
    let lamports: Vec<u64> = queued(&env).iter().map(|e| e["lamport_clock"].as_u64().unwrap()).collect();
    assert_eq!(lamports.len(), 3 + 2 + 1 + 1);
    assert!(lamports.windows(2).all(|w| w[0] < w[1]), "{lamports:?}");
    let events = queued(&env);
    let history: Vec<&Value> = events.iter().filter(|e| e["event_type"] == "HistoryAdded").collect();
    assert_eq!(history[1]["payload"]["entry_content"], "Subtask(s) T001 marked as done");
    assert_eq!(history[1]["payload"]["wp_id"], "WP01", "attributed to the owning WP (upstream: WP00)");
    let moves: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e["event_type"] == "WPStatusChanged")
        .map(|e| (e["payload"]["from_lane"].as_str().unwrap(), e["payload"]["to_lane"].as_str().unwrap()))
        .collect();
    assert_eq!(moves, [("planned", "claimed"), ("claimed", "in_progress")], "one event per hop, canonical lanes");
}

#[test]
fn a_failing_task_command_queues_one_error_logged_with_the_real_message() {
    let env = feature_with_wps(1);
    let run = env.run(&["agent", "tasks", "move-task", "WP01", "--to", "done", "--agent", "codex"]).expect_code(1);
    let events = queued(&env);
    assert_eq!(types(&events), ["ErrorLogged"]);
    let message = events[0]["payload"]["error_message"].as_str().unwrap();
    assert!(run.stderr.contains(message), "the event carries the message the user saw: {message}");
    assert!(message.contains("unchecked subtasks"), "{message}");
    assert_eq!(events[0]["payload"]["error_type"], "runtime");
    assert_eq!(events[0]["payload"]["wp_id"], "WP01");
    assert_eq!(events[0]["payload"]["agent_id"], "codex");
}

/// Runs the same command against a healthy queue and a broken one; stdout and exit code must agree.
fn same_outcome_with_broken_queue(break_queue: impl Fn(&TestEnv)) -> (Run, Run) {
    let run = |env: &TestEnv| env.run(&["agent", "tasks", "move-task", "WP01", "--to", "in_progress", "--json"]);
    let healthy = feature_with_wps(1);
    let good = run(&healthy);
    let broken = feature_with_wps(1);
    break_queue(&broken);
    let bad = run(&broken);
    let stdout = |env: &TestEnv, run: &Run| run.stdout.replace(&env.root().display().to_string(), "[ROOT]");
    assert_eq!((good.code, stdout(&healthy, &good)), (bad.code, stdout(&broken, &bad)), "stderr: {}", bad.stderr);
    (good, bad)
}

#[test]
fn a_corrupt_queue_changes_nothing_but_a_warning() {
    let (_, bad) = same_outcome_with_broken_queue(|env| {
        std::fs::create_dir_all(queue_path(env).parent().unwrap()).unwrap();
        std::fs::write(queue_path(env), vec![b'x'; 4096]).unwrap();
    });
    assert!(
        bad.stderr.contains("is not a valid SQLite database") && bad.stderr.contains("queue-spool.jsonl"),
        "{}",
        bad.stderr
    );
}

#[test]
fn a_read_only_queue_changes_nothing_but_a_warning() {
    let (_, bad) = same_outcome_with_broken_queue(|env| {
        std::fs::create_dir_all(queue_path(env).parent().unwrap()).unwrap();
        // A directory where the database file should be cannot be opened by anyone, root included.
        std::fs::create_dir_all(queue_path(env)).unwrap();
    });
    assert!(bad.stderr.contains("warning:"), "{}", bad.stderr);
}

#[test]
fn a_queue_locked_beyond_the_timeout_changes_nothing_but_a_warning() {
    let (_, bad) = same_outcome_with_broken_queue(|env| {
        let dir = queue_path(env).parent().unwrap().to_owned();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.toml"), "[sync]\nqueue_busy_timeout_ms = 200\n").unwrap();
        // Another process holds a write transaction for the whole command.
        let holder = std::thread::spawn({
            let path = queue_path(env);
            move || {
                let conn = Connection::open(path).unwrap();
                conn.execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS queue (id INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT UNIQUE NOT NULL, event_type TEXT NOT NULL, data TEXT NOT NULL, timestamp INTEGER NOT NULL, retry_count INTEGER DEFAULT 0); BEGIN IMMEDIATE;").unwrap();
                std::thread::sleep(std::time::Duration::from_secs(3));
                conn.execute_batch("ROLLBACK").unwrap();
            }
        });
        std::thread::sleep(std::time::Duration::from_millis(300));
        std::mem::forget(holder);
    });
    assert!(bad.stderr.contains("locked by another process"), "{}", bad.stderr);
}

#[test]
fn an_upstream_queue_is_read_and_extended_in_place() {
    let env = feature_with_wps(1);
    let path = queue_path(&env);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE queue (id INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT UNIQUE NOT NULL, event_type TEXT NOT NULL, data TEXT NOT NULL, timestamp INTEGER NOT NULL, retry_count INTEGER DEFAULT 0);
             CREATE INDEX idx_timestamp ON queue(timestamp);
             INSERT INTO queue (event_id, event_type, data, timestamp, retry_count) VALUES ('01KHRH020GFRSJ6E1XNHJ9FD25', 'HistoryAdded', '{\"event_id\": \"01KHRH020GFRSJ6E1XNHJ9FD25\"}', 1771000000, 2);",
        )
        .unwrap();
    }
    env.run(&["agent", "tasks", "add-history", "WP01", "--note", "mixed CLIs"]).ok();
    let conn = Connection::open(&path).unwrap();
    let rows: Vec<(String, String, i64, i64)> = conn
        .prepare("SELECT event_id, event_type, timestamp, retry_count FROM queue ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0],
        ("01KHRH020GFRSJ6E1XNHJ9FD25".into(), "HistoryAdded".into(), 1771000000, 2),
        "upstream's row untouched"
    );
    assert_eq!(rows[1].1, "HistoryAdded");
    // The third command of the test (init, create-feature, add-history) runs at the test epoch + 3 s.
    assert_eq!(rows[1].2, 1_771_240_353 + 3, "enqueue time in epoch seconds, as upstream");
    assert_eq!(rows[1].3, 0);
    let data: Value = serde_json::from_str(
        &conn.query_row("SELECT data FROM queue WHERE id = 2", [], |r| r.get::<_, String>(0)).unwrap(),
    )
    .unwrap();
    assert_eq!(data["event_id"], rows[1].0);
    let journal: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(journal, "wal");
}

#[test]
fn sync_status_and_diagnose_snapshots() {
    let env = feature_with_wps(2);
    insta::assert_snapshot!(
        "sync_status_empty",
        env.run(&["sync", "status"]).ok().render().replace(&env.home().display().to_string(), "[HOME]")
    );
    env.run(&["agent", "feature", "finalize-tasks"]).ok();
    env.run(&["agent", "tasks", "add-history", "WP02", "--note", "n"]).ok();
    let status = env.run(&["sync", "status"]).ok().render().replace(&env.home().display().to_string(), "[HOME]");
    insta::assert_snapshot!("sync_status_text", status);
    let json =
        env.run(&["sync", "status", "--json"]).ok().render().replace(&env.home().display().to_string(), "[HOME]");
    insta::assert_snapshot!("sync_status_json", json);
    // A row that no longer satisfies the payload rules (e.g. written by an older CLI).
    let conn = Connection::open(queue_path(&env)).unwrap();
    conn.execute(
        "INSERT INTO queue (event_id, event_type, data, timestamp) VALUES ('01KHRH09TG64NFKDYN4XC69SJ6', 'WPStatusChanged', ?1, 1771240400)",
        [r#"{"event_id": "01KHRH09TG64NFKDYN4XC69SJ6", "event_type": "WPStatusChanged", "aggregate_id": "WP01", "aggregate_type": "WorkPackage", "payload": {"wp_id": "WP01", "from_lane": "doing", "to_lane": "for_review"}, "node_id": "n", "lamport_clock": 9, "causation_id": null, "timestamp": "2026-02-16T11:12:40+00:00"}"#],
    )
    .unwrap();
    insta::assert_snapshot!("sync_diagnose_text", env.run(&["sync", "diagnose"]).ok().render());
    insta::assert_snapshot!("sync_diagnose_json", env.run(&["sync", "diagnose", "--json"]).ok().render());
}

#[test]
fn emission_can_be_turned_off() {
    let env = feature_with_wps(1);
    env.run_with_env(&["agent", "tasks", "add-history", "WP01", "--note", "quiet"], &[("SPEC_KITTY_SYNC_EVENTS", "0")])
        .ok();
    assert!(queued(&env).is_empty());
}
