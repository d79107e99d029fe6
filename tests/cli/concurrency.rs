//! Many real `spec-kitty agent telemetry emit` processes against one feature: concurrent writers,
//! writers killed with SIGKILL at random moments, torn tails and poisoned logs. No mocks: every event
//! goes through the binary, the advisory lock and the file system.

use crate::support::TestEnv;
use serde_json::Value;
use spec_kitty::events::{Event, Payload};
use std::collections::{BTreeMap, HashSet};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const FEATURE: &str = "001-load";
const LOG: &str = "kitty-specs/001-load/execution.events.jsonl";
const CLOCK: &str = "kitty-specs/001-load/.telemetry-clock.json";

/// A project whose feature directory already exists, so no emit prints the "created" note and every
/// emit's stderr is expected to be empty.
fn project() -> TestEnv {
    let env = TestEnv::new();
    std::fs::create_dir_all(env.path(&format!("kitty-specs/{FEATURE}"))).unwrap();
    env
}

/// An emit for `wp` whose `duration_ms` carries `tag`, so each line can be traced back to the process
/// that wrote it. The id seed is removed: concurrent processes then draw their ULIDs from the OS, as in
/// real use (the fixed per-command clock is kept).
fn emit_command(env: &TestEnv, wp: &str, tag: u64) -> Command {
    let mut cmd = env.command();
    cmd.args(["agent", "telemetry", "emit", "--feature", FEATURE, "--role", "implementer", "--wp-id", wp])
        .args(["--duration-ms", &tag.to_string(), "--json"])
        .env_remove("SPEC_KITTY_ID_SEED")
        // Contention, not the give-up path (hardening.rs), is under test: on a loaded machine a writer may
        // wait behind seven others for longer than emit's default 2 s.
        .env("SPEC_KITTY_EMIT_LOCK_TIMEOUT_MS", "120000");
    cmd
}

/// One line of the log as the Rust reader sees it.
#[derive(Debug)]
enum Line {
    Event { lamport: u64, id: String, wp: String, tag: u64 },
    Malformed(Vec<u8>),
}

/// Splits the log into lines (the final newline, if any, ends the last line) and parses each one with
/// the library reader.
fn read_lines(path: &Path) -> Vec<Line> {
    let bytes = std::fs::read(path).unwrap();
    let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
    if body.is_empty() {
        return Vec::new();
    }
    body.split(|&b| b == b'\n')
        .map(|raw| match Event::<Payload>::from_line(raw) {
            Ok(event) => Line::Event {
                lamport: event.lamport_clock,
                id: event.event_id.to_string(),
                wp: event.payload["wp_id"].as_str().unwrap_or_default().to_owned(),
                tag: event.payload["duration_ms"].as_u64().unwrap_or(u64::MAX),
            },
            Err(_) => Line::Malformed(raw.to_vec()),
        })
        .collect()
}

/// Lamport values of the valid lines must rise strictly in file order (hence be unique), and event ids
/// must be unique.
#[track_caller]
fn assert_lamports_increase_and_ids_unique(lines: &[Line]) {
    let mut previous = 0;
    let mut ids = HashSet::new();
    for (n, line) in lines.iter().enumerate() {
        if let Line::Event { lamport, id, .. } = line {
            assert!(*lamport > previous, "line {}: lamport {lamport} does not follow {previous}", n + 1);
            assert!(ids.insert(id.clone()), "line {}: event id {id} appears twice", n + 1);
            previous = *lamport;
        }
    }
}

/// `.telemetry-clock.json` must be a JSON object of integers; returns its largest value.
fn clock_max(env: &TestEnv) -> u64 {
    let clock: Value = serde_json::from_str(&env.read(CLOCK)).expect("the clock file is JSON");
    let counters = clock.as_object().expect("the clock file is a JSON object");
    counters.values().map(|v| v.as_u64().expect("clock values are integers")).max().unwrap_or(0)
}

/// Runs `cost --json --group-by wp` and returns the events per WP and stderr; it must exit 0.
fn cost_by_wp(env: &TestEnv) -> (BTreeMap<String, u64>, String) {
    let run = env.run(&["agent", "telemetry", "cost", "--json", "--group-by", "wp"]).ok();
    let rows: Vec<Value> = serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}\n{}", run.render()));
    let counts = rows
        .iter()
        .map(|row| (row["group_key"].as_str().unwrap().to_owned(), row["event_count"].as_u64().unwrap()))
        .collect();
    (counts, run.stderr)
}

/// `emit --json` prints `{"result": "success", ..., "event_id", "lamport_clock"}`.
fn emitted(stdout: &[u8]) -> Result<(String, u64), String> {
    let text = String::from_utf8_lossy(stdout);
    let value: Value =
        serde_json::from_str(&text).map_err(|e| format!("emit --json printed non-JSON ({e}): {text}"))?;
    match (value["result"].as_str(), value["event_id"].as_str(), value["lamport_clock"].as_u64()) {
        (Some("success"), Some(id), Some(lamport)) => Ok((id.to_owned(), lamport)),
        _ => Err(format!("emit did not report success: {text}")),
    }
}

// ---------------------------------------------------------------------------------------------------
// a. concurrent writers

const WORKERS: usize = 8;
/// 500 at full size (DESIGN §4).
fn emits_per_worker() -> u64 {
    crate::support::stress(500u64)
}

/// 8 workers × 500 sequential emit processes on one feature (DESIGN §4): no line lost, torn or glued,
/// Lamport values 1..=4000 each exactly once, ids unique, the clock file and `cost` agreeing. Each worker
/// is its own WP and tags its emits 0..500, so the file must also hold every worker's events in the order
/// that worker issued them.
#[test]
fn concurrent_emits_from_eight_processes_are_all_recorded_in_order() {
    let env = project();
    // `TestEnv::command` is not Sync; build every command up front.
    let batches: Vec<(String, Vec<Command>)> = (1..=WORKERS)
        .map(|k| {
            let wp = format!("WP0{k}");
            let commands = (0..emits_per_worker()).map(|tag| emit_command(&env, &wp, tag)).collect();
            (wp, commands)
        })
        .collect();

    let started = Instant::now();
    let reports: Vec<Vec<Result<(String, u64), String>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = batches
            .into_iter()
            .map(|(wp, commands)| {
                scope.spawn(move || {
                    commands
                        .into_iter()
                        .enumerate()
                        .map(|(tag, mut cmd)| {
                            let out = cmd.output().map_err(|e| format!("{wp} #{tag}: spawn failed: {e}"))?;
                            if !out.status.success() || !out.stderr.is_empty() {
                                return Err(format!(
                                    "{wp} #{tag}: {}\n{}",
                                    out.status,
                                    String::from_utf8_lossy(&out.stderr)
                                ));
                            }
                            emitted(&out.stdout).map_err(|e| format!("{wp} #{tag}: {e}"))
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("worker thread panicked")).collect()
    });
    eprintln!(
        "{} emits by {WORKERS} concurrent workers took {:.1?}",
        WORKERS as u64 * emits_per_worker(),
        started.elapsed()
    );

    let total = WORKERS as u64 * emits_per_worker();
    let failures: Vec<&String> = reports.iter().flatten().filter_map(|r| r.as_ref().err()).collect();
    assert!(failures.is_empty(), "{} emit(s) failed; first: {}", failures.len(), failures[0]);
    let reported: BTreeMap<String, u64> = reports.into_iter().flatten().map(Result::unwrap).collect();
    assert_eq!(reported.len() as u64, total, "emit --json reported duplicate event ids");

    let bytes = std::fs::read(env.path(LOG)).unwrap();
    assert!(bytes.ends_with(b"\n"), "the log does not end with a newline");
    let text = std::str::from_utf8(&bytes).expect("the log is UTF-8");
    assert_eq!(text.lines().count() as u64, total, "expected exactly {total} lines");
    for (n, line) in text.lines().enumerate() {
        let value: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line {} is not JSON ({e}): {line}", n + 1));
        assert!(value.is_object(), "line {} is not a JSON object: {line}", n + 1);
    }

    let lines = read_lines(&env.path(LOG));
    let mut per_wp: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for (n, line) in lines.iter().enumerate() {
        let Line::Event { lamport, id, wp, tag } = line else { panic!("line {} is malformed: {line:?}", n + 1) };
        // The lock serialises appends, so file order is Lamport order: line n carries value n.
        assert_eq!(*lamport, n as u64 + 1, "line {} has lamport {lamport}", n + 1);
        assert_eq!(reported.get(id), Some(lamport), "line {}: emit reported a different lamport for {id}", n + 1);
        per_wp.entry(wp.clone()).or_default().push(*tag);
    }
    assert_lamports_increase_and_ids_unique(&lines);
    let in_issue_order: Vec<u64> = (0..emits_per_worker()).collect();
    assert_eq!(per_wp.len(), WORKERS, "WPs in the log: {:?}", per_wp.keys().collect::<Vec<_>>());
    for (wp, tags) in &per_wp {
        let first_wrong = tags.iter().zip(&in_issue_order).position(|(got, want)| got != want);
        assert!(
            tags == &in_issue_order,
            "{wp}: {} events, first out of place at its event #{first_wrong:?} (tags are issue order 0..{})",
            tags.len(),
            in_issue_order.len()
        );
    }

    assert_eq!(clock_max(&env), total, "{CLOCK}: {}", env.read(CLOCK));
    let (counts, stderr) = cost_by_wp(&env);
    assert!(!stderr.contains("malformed"), "cost warned about malformed lines:\n{stderr}");
    assert_eq!(counts.values().sum::<u64>(), total, "cost counted {counts:?}");
    assert!(counts.values().all(|&c| c == emits_per_worker()), "cost per WP: {counts:?}");
}

// ---------------------------------------------------------------------------------------------------
// b. crash safety

/// splitmix64: a tiny seeded generator, so a failing run can be replayed.
struct Prng(u64);

impl Prng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

#[derive(Debug, Default)]
struct KillStats {
    /// Tags of emits that ran to completion (exit 0): their events must be in the log.
    completed: Vec<u64>,
    /// Tags of emits that died by SIGKILL: their events may or may not be in the log.
    killed: Vec<u64>,
}

/// Starts 1–3 emitters at once and SIGKILLs each after its own random delay: early (while the binary
/// is still loading), in the middle (lock held, line or clock being written) or after it finished.
fn kill_round(env: &TestEnv, rng: &mut Prng, max_delay: Duration, next_tag: &mut u64, stats: &mut KillStats) {
    let mut children: Vec<(Duration, u64, Child)> = (0..1 + rng.below(3))
        .map(|_| {
            let tag = *next_tag;
            *next_tag += 1;
            let wp = format!("WP0{}", 1 + rng.below(3));
            let delay = Duration::from_micros(rng.below(max_delay.as_micros() as u64));
            let child = emit_command(env, &wp, tag)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn spec-kitty");
            (delay, tag, child)
        })
        .collect();
    children.sort_by_key(|(delay, ..)| *delay);
    let start = Instant::now();
    for (delay, _, child) in &children {
        std::thread::sleep(delay.saturating_sub(start.elapsed()));
        // The child is not reaped yet, so its pid cannot have been reused; killing a zombie is a no-op.
        let pid = libc::pid_t::try_from(child.id()).unwrap();
        assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0, "kill({pid})");
    }
    for (_, tag, child) in children {
        let output = child.wait_with_output().unwrap();
        match (output.status.code(), output.status.signal()) {
            (Some(0), _) => stats.completed.push(tag),
            (_, Some(libc::SIGKILL)) => stats.killed.push(tag),
            _ => {
                panic!("emit #{tag} failed on its own: {}\n{}", output.status, String::from_utf8_lossy(&output.stderr))
            }
        }
    }
}

/// Kill delays range up to 1.5 × the time one emit takes here (the median of five, measured so that the
/// kills spread over a whole emit on a fast or a loaded machine alike, and one slow outlier under a
/// parallel test run does not make every kill come too late).
fn kill_delay_range(env: &TestEnv) -> Duration {
    let mut times: Vec<Duration> = (0..5)
        .map(|n| {
            let started = Instant::now();
            let out = emit_command(env, "WP00", 999_990 + n).output().unwrap();
            assert!(out.status.success(), "calibration emit: {}", String::from_utf8_lossy(&out.stderr));
            started.elapsed()
        })
        .collect();
    times.sort();
    (times[2] * 3 / 2).clamp(Duration::from_millis(1), Duration::from_millis(50))
}

/// Cuts the log in the middle of its last line and drops its newline: what a writer that died in the
/// middle of a write (or a disk that lost the end of one) leaves. Returns the torn bytes left behind.
fn tear_last_line(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    assert!(bytes.ends_with(b"\n"), "tear_last_line expects a complete last line");
    let end = bytes.len() - 1;
    let start = bytes[..end].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let cut = start + (end - start) / 2;
    std::fs::OpenOptions::new().write(true).open(path).unwrap().set_len(cut as u64).unwrap();
    bytes[start..cut].to_vec()
}

fn kill_rounds() -> u64 {
    crate::support::stress(150u64)
}
const EMITS_AFTER_CRASH: u64 = 10;

/// Emitters SIGKILLed at random moments, plus torn last lines, never cost an event that was reported
/// as written, never glue a later event onto a torn line, and never repeat or reorder a Lamport value;
/// `cost` reports the torn lines and counts exactly the valid ones.
#[test]
fn sigkilled_emitters_and_torn_tails_leave_a_readable_log() {
    let env = project();
    let log = env.path(LOG);
    let mut rng = Prng(0x5EED_C4A5);
    let mut next_tag = 0;
    let mut stats = KillStats::default();
    let max_delay = kill_delay_range(&env);
    let mut torn: Vec<(u64, Vec<u8>)> = Vec::new();

    // A completed emit followed by a deterministic tear of its line.
    let mut emit_and_tear = |next_tag: &mut u64| {
        let tag = *next_tag;
        *next_tag += 1;
        let out = emit_command(&env, "WP00", tag).output().unwrap();
        assert!(out.status.success(), "emit before the tear: {}", String::from_utf8_lossy(&out.stderr));
        torn.push((tag, tear_last_line(&log)));
    };

    let started = Instant::now();
    let rounds = kill_rounds();
    let tears_at = [rounds / 3, 2 * rounds / 3];
    for round in 0..rounds {
        if tears_at.contains(&round) {
            emit_and_tear(&mut next_tag);
        }
        kill_round(&env, &mut rng, max_delay, &mut next_tag, &mut stats);
    }
    emit_and_tear(&mut next_tag);
    eprintln!(
        "{rounds} kill rounds (delays up to {max_delay:.1?}) took {:.1?}: {} emits completed, {} killed",
        started.elapsed(),
        stats.completed.len(),
        stats.killed.len()
    );
    assert!(stats.killed.len() >= rounds as usize / 4, "too few emits were killed to test anything: {stats:?}");
    assert!(!stats.completed.is_empty(), "no emit ever completed; the kill delays are too short");

    // After the crash (the last thing in the log is a torn line), emits still land on lines of their own.
    let mut after_crash = Vec::new();
    for _ in 0..EMITS_AFTER_CRASH {
        let out = emit_command(&env, "WP09", next_tag).output().unwrap();
        next_tag += 1;
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "emit after the crash: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        after_crash.push(emitted(&out.stdout).unwrap());
    }

    let lines = read_lines(&log);
    let tail = &lines[lines.len() - EMITS_AFTER_CRASH as usize..];
    for (line, (id, lamport)) in tail.iter().zip(&after_crash) {
        let Line::Event { id: line_id, lamport: line_lamport, .. } = line else {
            panic!("an emit after the crash did not land on its own line: {line:?}")
        };
        assert_eq!((line_id, line_lamport), (id, lamport), "the log's tail is not the emits made after the crash");
    }
    let before_tail = &lines[lines.len() - EMITS_AFTER_CRASH as usize - 1];
    assert!(
        matches!(before_tail, Line::Malformed(raw) if raw == &torn.last().unwrap().1),
        "the torn line is not left as it was before the emits after the crash: {before_tail:?}"
    );

    // The only malformed lines are the ones we tore, byte for byte: SIGKILL never tears or glues a line.
    let malformed: Vec<&Vec<u8>> =
        lines.iter().filter_map(|l| if let Line::Malformed(raw) = l { Some(raw) } else { None }).collect();
    let expected_malformed: Vec<&Vec<u8>> = torn.iter().map(|(_, raw)| raw).collect();
    assert_eq!(
        malformed.iter().map(|r| String::from_utf8_lossy(r)).collect::<Vec<_>>(),
        expected_malformed.iter().map(|r| String::from_utf8_lossy(r)).collect::<Vec<_>>(),
        "malformed lines other than the torn ones"
    );
    assert_lamports_increase_and_ids_unique(&lines);

    // Every emit that exited 0 is in the log exactly once (unless it was the line we tore); a killed one
    // at most once.
    let mut occurrences: BTreeMap<u64, usize> = BTreeMap::new();
    for line in &lines {
        if let Line::Event { tag, .. } = line {
            *occurrences.entry(*tag).or_default() += 1;
        }
    }
    for tag in &stats.completed {
        assert_eq!(occurrences.get(tag), Some(&1), "completed emit #{tag} is not in the log exactly once");
    }
    for tag in &stats.killed {
        assert!(occurrences.get(tag).copied().unwrap_or(0) <= 1, "killed emit #{tag} was written twice");
    }
    for (tag, _) in &torn {
        assert_eq!(occurrences.get(tag), None, "torn emit #{tag} still parses");
    }

    let valid = lines.iter().filter(|l| matches!(l, Line::Event { .. })).count() as u64;
    let last_lamport =
        lines.iter().rev().find_map(|l| if let Line::Event { lamport, .. } = l { Some(*lamport) } else { None });
    assert_eq!(Some(clock_max(&env)), last_lamport, "the clock does not hold the log's last Lamport value");

    let (counts, stderr) = cost_by_wp(&env);
    let warning = format!("skipped {} malformed line(s) in ", torn.len());
    assert!(stderr.contains(&warning), "cost did not warn `{warning}…`; stderr:\n{stderr}");
    assert_eq!(counts.values().sum::<u64>(), valid, "cost counted {counts:?}, the log has {valid} valid lines");
}

/// The clock is replaced through a temp file and a rename; an emitter killed between the two must not
/// leave a clock temp file behind in the (git-tracked) feature directory for
/// good. Upstream's uncommitted-research-files check only tolerates the log and the clock file there.
#[test]
fn sigkilled_emitters_leave_no_clock_temp_files() {
    let env = project();
    let mut rng = Prng(0x7E4D_F11E);
    let mut next_tag = 0;
    let mut stats = KillStats::default();
    let max_delay = kill_delay_range(&env);
    for _ in 0..kill_rounds() {
        kill_round(&env, &mut rng, max_delay, &mut next_tag, &mut stats);
    }
    // One emit that completes: a fix may well clean up under the lock rather than never litter.
    let out = emit_command(&env, "WP01", next_tag).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let mut files: Vec<String> = std::fs::read_dir(env.path(&format!("kitty-specs/{FEATURE}")))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, [".telemetry-clock.json", "execution.events.jsonl"], "after {} killed emits", stats.killed.len());
}

/// Replays the state an emit SIGKILLed between its append and its clock update leaves (the SIGKILL test
/// above hits that window in about a third of its kills): the new line is in the log, the clock file
/// still holds the values from before. The next emit must take its Lamport value from the log's last
/// line. Returns the Lamport values of the log in file order.
fn emit_after_stale_clock(last_line_error_len: usize) -> Vec<u64> {
    let env = project();
    let run_emit = |extra: &[&str]| {
        let mut args = vec!["agent", "telemetry", "emit", "--feature", FEATURE, "--role", "implementer"];
        args.extend_from_slice(extra);
        let run = env.run(&args);
        assert!(run.code == 0 && run.stderr.is_empty(), "{}", run.render());
    };
    run_emit(&[]);
    let clock_before = env.read(CLOCK);
    let error = "x".repeat(last_line_error_len);
    run_emit(&["--failure", "--error", &error]);
    env.write(CLOCK, clock_before);
    run_emit(&[]);
    read_lines(&env.path(LOG))
        .iter()
        .map(|l| match l {
            Line::Event { lamport, .. } => *lamport,
            Line::Malformed(raw) => panic!("malformed line: {}", String::from_utf8_lossy(raw)),
        })
        .collect()
}

#[test]
fn stale_clock_after_a_crash_is_overtaken_by_the_log_tail() {
    assert_eq!(emit_after_stale_clock(1_000), [1, 2, 3]);
}

/// emit reads a 64 KiB tail of the log for the latest Lamport value; a last line longer than that (a long
/// `--error` text) with a stale clock must still not repeat a value (regression: it once did).
#[test]
fn stale_clock_after_a_crash_with_a_line_longer_than_the_tail_window() {
    assert_eq!(emit_after_stale_clock(70_000), [1, 2, 3]);
}

// ---------------------------------------------------------------------------------------------------
// c. poisoned logs

/// Upstream bug (telemetry.md §9.1): one valid-JSON line that is not an object (`[1, 2]`) made every
/// later emit of the feature fail with AttributeError. Non-object JSON, a bare number, binary garbage,
/// a missing or non-object clock file and a binary torn tail must all leave emits working.
#[test]
fn poisoned_log_does_not_stop_later_emits() {
    let env = project();
    let log = env.path(LOG);
    let emit_ok = |tag: u64| -> (String, u64, String) {
        let out = emit_command(&env, "WP01", tag).output().unwrap();
        assert!(out.status.success(), "emit #{tag}: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
        let (id, lamport) = emitted(&out.stdout).unwrap_or_else(|e| panic!("emit #{tag}: {e}"));
        (id, lamport, String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let append = |bytes: &[u8]| {
        use std::io::Write as _;
        std::fs::OpenOptions::new().append(true).open(&log).unwrap().write_all(bytes).unwrap();
    };

    for tag in 0..2 {
        emit_ok(tag);
    }
    append(b"[1, 2]\n42\n\x00\xff\xfe binary \x80\x81 blob \xc3\x28\x1b[0m\n");
    let mut lamports = Vec::new();
    for tag in 2..5 {
        let (_, lamport, stderr) = emit_ok(tag);
        assert!(stderr.is_empty(), "emit #{tag} warned:\n{stderr}");
        lamports.push(lamport);
    }
    assert_eq!(lamports, [3, 4, 5], "emits after the poisoned lines");

    // Without a clock file the counters are rebuilt by scanning the whole poisoned log.
    std::fs::remove_file(env.path(CLOCK)).unwrap();
    assert_eq!(emit_ok(5).1, 6, "emit after removing the clock file");

    // A non-object clock file (another upstream AttributeError) is rebuilt, with a warning.
    std::fs::write(env.path(CLOCK), "[1, 2]").unwrap();
    let (_, lamport, stderr) = emit_ok(6);
    assert_eq!(lamport, 7, "emit after poisoning the clock file");
    assert!(stderr.contains("was corrupt"), "no warning about the corrupt clock file:\n{stderr}");

    // Binary garbage as a torn tail: the next event still gets a line of its own.
    append(b"\xde\xad\xbe\xef\x00{\"aggregate_id\": ");
    let (id, lamport, _) = emit_ok(7);
    assert_eq!(lamport, 8, "emit after a binary torn tail");

    let lines = read_lines(&log);
    let events: Vec<(u64, u64)> = lines
        .iter()
        .filter_map(|l| if let Line::Event { lamport, tag, .. } = l { Some((*lamport, *tag)) } else { None })
        .collect();
    assert_eq!(events, (1..=8).zip(0..8).collect::<Vec<_>>(), "valid lines (lamport, tag) in file order");
    assert!(
        matches!(lines.last(), Some(Line::Event { id: last, .. }) if *last == id),
        "the last line is not the last emit"
    );
    assert_eq!(lines.len(), 12, "8 events + [1, 2] + 42 + binary line + binary torn tail");
    assert_eq!(clock_max(&env), 8, "{CLOCK}: {}", env.read(CLOCK));

    let (counts, stderr) = cost_by_wp(&env);
    assert!(stderr.contains("skipped 4 malformed line(s) in "), "cost stderr:\n{stderr}");
    assert_eq!(counts.get("WP01"), Some(&8), "cost counted {counts:?}");
}
