//! Workflow commands racing on one work package, as real processes: `add-history` notes written while
//! `move-task` moves the same WP must all survive, and no move may be undone by a stale rewrite (the
//! hardening issue's finding 1: 179 of 200 notes survived, and a stale lane forced "sync" events).

use crate::support::TestEnv;
use serde_json::Value;
use std::process::Command;

const FEATURE: &str = "001-race";
const WP_FILE: &str = "kitty-specs/001-race/tasks/WP01-race.md";

/// How many processes of each kind, and how many commands each runs in a row (8 × 50 notes and 4 × 10
/// moves at full size).
const NOTE_WRITERS: usize = 8;
const MOVERS: usize = 4;

fn notes_each() -> usize {
    crate::support::stress(50u64) as usize
}

fn moves_each() -> usize {
    crate::support::stress(10u64) as usize
}

fn project() -> TestEnv {
    let env = TestEnv::new();
    env.write(
        WP_FILE,
        "---\nwork_package_id: WP01\ntitle: Race\nlane: \"planned\"\ndependencies: []\n---\n# WP01\n\n## Activity Log\n\n",
    );
    env
}

/// A command on the real clock and with OS randomness: concurrent processes must not share the test
/// env's per-command clock, which would order their status events by creation rather than by run.
fn command(env: &TestEnv, args: &[&str]) -> Command {
    let mut cmd = env.command();
    cmd.args(args).args(["--feature", FEATURE]).env_remove("SPEC_KITTY_NOW").env_remove("SPEC_KITTY_ID_SEED");
    cmd
}

/// Runs each batch of commands in its own thread, the commands of a batch one after another; returns,
/// per batch, each command's success.
fn run_batches(batches: Vec<Vec<Command>>) -> Vec<Vec<bool>> {
    let handles: Vec<_> = batches
        .into_iter()
        .map(|batch| {
            std::thread::spawn(move || {
                batch
                    .into_iter()
                    .map(|mut cmd| {
                        let output = cmd.output().expect("spawn spec-kitty");
                        let stderr = String::from_utf8_lossy(&output.stderr);
                        assert!(!stderr.contains("panicked"), "{stderr}");
                        output.status.success()
                    })
                    .collect()
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn concurrent_add_history_and_move_task_lose_nothing() {
    let env = project();
    let mut batches = Vec::new();
    for writer in 0..NOTE_WRITERS {
        let batch = (0..notes_each())
            .map(|i| command(&env, &["agent", "tasks", "add-history", "WP01", "--note", &format!("note-{writer}-{i}")]))
            .collect();
        batches.push(batch);
    }
    for mover in 0..MOVERS {
        let batch = (0..moves_each())
            .map(|i| {
                let to = if i % 2 == 0 { "blocked" } else { "in_progress" };
                command(
                    &env,
                    &["agent", "tasks", "move-task", "WP01", "--to", to, "--note", &format!("move-{mover}-{i}")],
                )
            })
            .collect();
        batches.push(batch);
    }
    let results = run_batches(batches);

    let (notes, moves) = results.split_at(NOTE_WRITERS);
    assert!(notes.iter().flatten().all(|ok| *ok), "every add-history succeeds");
    let wp_file = env.read(WP_FILE);
    for writer in 0..NOTE_WRITERS {
        for i in 0..notes_each() {
            let note = format!("– note-{writer}-{i}\n");
            assert_eq!(wp_file.matches(&note).count(), 1, "note-{writer}-{i} is in the Activity Log exactly once");
        }
    }

    let events: Vec<Value> =
        crate::support::json_lines(&env.read(&format!("kitty-specs/{FEATURE}/status.events.jsonl")));
    assert!(events.iter().all(|e| e["force"] == false), "no forced sync event: every move saw the current lane");
    let mut successful = 0;
    for (mover, outcomes) in moves.iter().enumerate() {
        for (i, ok) in outcomes.iter().enumerate() {
            let reason = format!("move-{mover}-{i}");
            let logged = events.iter().filter(|e| e["reason"] == reason.as_str()).count();
            let noted = wp_file.matches(&format!("– {reason}\n")).count();
            let expected = usize::from(*ok);
            assert_eq!((logged, noted), (expected, expected), "{reason} (exit success: {ok})");
            successful += expected;
        }
    }
    assert_eq!(events.len(), successful, "one status event per successful move, nothing else");
    assert!(successful > 0, "some moves succeeded");

    let status: Value = serde_json::from_str(&env.read(&format!("kitty-specs/{FEATURE}/status.json"))).unwrap();
    let view_lane = status["work_packages"]["WP01"]["lane"].as_str().unwrap().to_owned();
    assert!(
        wp_file.contains(&format!("lane: \"{view_lane}\"\n")),
        "frontmatter lane == status.json lane ({view_lane})"
    );
}
