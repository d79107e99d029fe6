//! The offline queue under real concurrency: many emitting processes at once, and processes killed
//! with SIGKILL in the middle of an enqueue.

use crate::support::TestEnv;
use crate::sync_queue::{feature_with_wps, queue_path, queued};
use rusqlite::Connection;
use std::collections::HashSet;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const WORKERS: usize = 8;
/// 500 at full size (DESIGN §4).
fn per_worker() -> usize {
    crate::support::stress(500u64) as usize
}

/// An emitting command (add-history queues one HistoryAdded) whose note identifies it.
fn add_history(env: &TestEnv, wp: usize, note: &str) -> Command {
    let mut cmd = env.command();
    cmd.args(["agent", "tasks", "add-history", &format!("WP{wp:02}"), "--note", note])
        .env_remove("SPEC_KITTY_ID_SEED")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

#[test]
fn eight_processes_times_five_hundred_enqueues_lose_nothing() {
    let env = feature_with_wps(WORKERS);
    // Writers take turns, so a process may wait for all the others; a fsync that stalls for seconds on a
    // loaded CI disk must not push it past the busy timeout into the spool (tested on its own in
    // sync_queue), which would make this test about the disk rather than about losing nothing.
    let home = env.home().join(".spec-kitty");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(home.join("config.toml"), "[sync]\nqueue_busy_timeout_ms = 60000\n").unwrap();
    // Build every command up front: TestEnv's per-command counter is not shared across threads.
    let batches: Vec<Vec<Command>> = (1..=WORKERS)
        .map(|w| (0..per_worker()).map(|i| add_history(&env, w, &format!("w{w}-{i}"))).collect())
        .collect();
    let started = Instant::now();
    let failures: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = batches
            .into_iter()
            .map(|batch| {
                scope.spawn(move || {
                    batch
                        .into_iter()
                        .filter_map(|mut cmd| {
                            let out = cmd.output().unwrap();
                            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
                            (!out.status.success() || !stderr.is_empty()).then(|| format!("{}: {stderr}", out.status))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    eprintln!("{} enqueuing commands in {:?}", WORKERS * per_worker(), started.elapsed());
    assert!(failures.is_empty(), "{} commands failed or warned, e.g. {}", failures.len(), failures[0]);

    let events = queued(&env);
    let notes: HashSet<&str> = events.iter().filter_map(|e| e["payload"]["entry_content"].as_str()).collect();
    assert_eq!(events.len(), WORKERS * per_worker());
    assert_eq!(notes.len(), WORKERS * per_worker(), "every command's event is queued exactly once");
    let lamports: HashSet<u64> = events.iter().map(|e| e["lamport_clock"].as_u64().unwrap()).collect();
    assert_eq!(lamports.len(), events.len(), "lamport values are unique");
    assert_eq!(lamports.iter().max(), Some(&((WORKERS * per_worker()) as u64)));
}

#[test]
fn sigkill_during_enqueue_keeps_the_database_intact_and_acknowledged_events_queued() {
    let env = feature_with_wps(3);
    let mut rng: u64 = 0x5EED_1234;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    // Kill delays spread over 1.5× one command's run time, measured here, so kills land before, during
    // and after the enqueue whatever the machine's speed. The window then follows the load: each kill
    // widens it a little and each completion narrows it, so both keep coming when other tests slow the
    // machine down or speed it up mid-run.
    let timed = Instant::now();
    assert!(add_history(&env, 1, "calibration").output().unwrap().status.success());
    let mut span = (timed.elapsed().as_micros() as u64 * 3 / 2).max(1_000);
    let mut completed = Vec::new();
    let mut killed = 0;
    let rounds = crate::support::stress(120u64) as usize;
    let enough = |killed: usize, completed: &[String]| killed > rounds / 12 && !completed.is_empty();
    let mut round = 0;
    while round < rounds || (!enough(killed, &completed) && round < rounds * 4) {
        let note = format!("round-{round}");
        let mut child = add_history(&env, 1 + round % 3, &note).spawn().unwrap();
        std::thread::sleep(Duration::from_micros(next() % span));
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        let status = child.wait().unwrap();
        if status.success() {
            completed.push(note);
            span = (span * 9 / 10).max(1_000);
        } else {
            assert_eq!(status.signal(), Some(libc::SIGKILL), "only the kill may stop a command");
            killed += 1;
            span = span * 11 / 10;
        }
        round += 1;
    }
    eprintln!("{killed} commands killed, {} completed in {round} rounds", completed.len());
    assert!(enough(killed, &completed), "the kills must land at varied points ({killed} killed)");

    let conn = Connection::open(queue_path(&env)).unwrap();
    let integrity: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(integrity, "ok");
    let queued_notes: HashSet<String> =
        queued(&env).iter().filter_map(|e| e["payload"]["entry_content"].as_str().map(str::to_owned)).collect();
    for note in &completed {
        assert!(queued_notes.contains(note), "{note} exited 0 but its event is not queued");
    }
    // The queue keeps working after the kills.
    assert!(add_history(&env, 1, "after").output().unwrap().status.success());
    assert!(queued(&env).iter().any(|e| e["payload"]["entry_content"] == "after"));
}
