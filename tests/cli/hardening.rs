//! Regressions from the hostile-user session (issue 10): a repository that plants symlinks, a full disk
//! and a file-size limit, locks held forever, devices and FIFOs where files should be, two processes
//! creating the queue at once, absurd amounts, a broken config.yaml, a corrupt credentials file and
//! odd work-package ids. Every test drives the real binary against real files and processes.

use crate::support::{Run, TestEnv, binary};
use crate::sync_queue::{feature_with_wps, queued};
use std::os::unix::fs::symlink;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const FEATURE: &str = "001-x";
const LOG: &str = "kitty-specs/001-x/execution.events.jsonl";
const CLOCK: &str = "kitty-specs/001-x/.telemetry-clock.json";
const STATUS_LOG: &str = "kitty-specs/001-demo/status.events.jsonl";

/// A project with one emitted event in `001-x`.
fn with_one_event() -> TestEnv {
    let env = TestEnv::new();
    env.emit(&["-f", FEATURE, "-r", "planner", "--input-tokens", "10"]);
    env
}

/// A file outside the project (in the test's temp dir) holding `precious`.
fn victim(env: &TestEnv, name: &str) -> PathBuf {
    let path = env.root().parent().unwrap().join(name);
    std::fs::write(&path, "precious").unwrap();
    path
}

fn emit_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["agent", "telemetry", "emit", "-f", FEATURE, "-r", "implementer"];
    args.extend_from_slice(extra);
    args
}

/// Runs `cmd`, killing it if it has not finished after 60 s (then the test fails: the command hung).
fn run_bounded(mut cmd: Command) -> Run {
    let child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let output = wait_bounded(child, Duration::from_secs(60)).expect("the command hung (killed after 60 s)");
    Run {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        code: output.status.code().unwrap_or(-1),
    }
}

fn wait_bounded(mut child: Child, limit: Duration) -> Option<Output> {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Some(child.wait_with_output().unwrap())
}

fn command(env: &TestEnv, args: &[&str], vars: &[(&str, &str)]) -> Command {
    let mut cmd = env.command();
    cmd.args(args);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd
}

fn is_symlink(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

// ---------------------------------------------------------------------------------------------------
// finding 2: a repository can make us write outside it

#[test]
fn planted_temp_symlinks_never_redirect_a_replace() {
    // The fixed temp names the old code used (`<file>.tmp`), committed as links to a file outside.
    let env = with_one_event();
    let target = victim(&env, "victim.txt");
    symlink(&target, env.path(&format!("{CLOCK}.tmp"))).unwrap();
    env.emit(&["-f", FEATURE, "-r", "planner"]);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
    assert!(!is_symlink(&env.path(CLOCK)), "the clock is a regular file");
    assert_eq!(env.read(CLOCK), r#"{"cli:N/A": 2}"#);

    let env = feature_with_wps(1);
    let target = victim(&env, "victim2.txt");
    symlink(&target, env.path("kitty-specs/001-demo/status.json.tmp")).unwrap();
    env.run(&["agent", "tasks", "move-task", "WP01", "--to", "in_progress", "--agent", "claude"]).ok();
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
    assert!(!is_symlink(&env.path("kitty-specs/001-demo/status.json")));
    assert!(env.read("kitty-specs/001-demo/status.json").contains("\"in_progress\""));
}

#[test]
fn files_linked_outside_the_feature_are_refused_and_named() {
    // The execution log, linked outside: nothing is appended; --strict fails naming the link.
    let env = with_one_event();
    let target = victim(&env, "outside.jsonl");
    std::fs::remove_file(env.path(LOG)).unwrap();
    symlink(&target, env.path(LOG)).unwrap();
    let run = env.run(&emit_args(&["--strict"])).expect_code(1);
    assert!(run.stderr.contains("execution.events.jsonl is a symbolic link to"), "{}", run.stderr);
    assert!(run.stderr.contains("refusing to write through it"), "{}", run.stderr);
    let run = env.run(&emit_args(&[])).ok();
    assert!(run.stderr.starts_with("warning: telemetry event not recorded"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");

    // The clock, linked outside: refused before anything is appended.
    let env = with_one_event();
    let target = victim(&env, "clock.json");
    std::fs::remove_file(env.path(CLOCK)).unwrap();
    symlink(&target, env.path(CLOCK)).unwrap();
    let log_before = env.read(LOG);
    let run = env.run(&emit_args(&["--strict"])).expect_code(1);
    assert!(run.stderr.contains(".telemetry-clock.json is a symbolic link to"), "{}", run.stderr);
    assert_eq!((std::fs::read_to_string(&target).unwrap(), env.read(LOG)), ("precious".to_owned(), log_before));

    // The status log and status.json of a feature, linked outside: move-task refuses.
    let env = feature_with_wps(1);
    let target = victim(&env, "status.jsonl");
    symlink(&target, env.path(STATUS_LOG)).unwrap();
    let run = env.run(&["agent", "tasks", "move-task", "WP01", "--to", "in_progress"]).expect_code(1);
    assert!(run.stderr.contains("status.events.jsonl is a symbolic link to"), "{}", run.stderr);
    assert!(!run.stderr.contains("must be repaired"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
}

#[test]
fn kitty_specs_may_link_inside_the_project_but_not_outside() {
    let env = TestEnv::new();
    let outside = env.root().parent().unwrap().join("elsewhere");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::remove_dir(env.path("kitty-specs")).unwrap();
    symlink(&outside, env.path("kitty-specs")).unwrap();
    let run = env.run(&emit_args(&["--strict"])).expect_code(1);
    assert!(run.stderr.contains("kitty-specs is a symbolic link to"), "{}", run.stderr);
    let run = env.run(&["agent", "feature", "create-feature", "demo"]).expect_code(1);
    assert!(run.stderr.contains("kitty-specs is a symbolic link to"), "{}", run.stderr);
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0, "nothing was created outside");

    // A feature directory linked outside is refused by the workflow commands too.
    let env = feature_with_wps(1);
    let moved = env.root().parent().unwrap().join("moved-feature");
    std::fs::rename(env.path("kitty-specs/001-demo"), &moved).unwrap();
    symlink(&moved, env.path("kitty-specs/001-demo")).unwrap();
    let run = env.run(&["agent", "tasks", "move-task", "WP01", "--to", "in_progress"]).expect_code(1);
    assert!(run.stderr.contains("cannot use feature 001-demo") && run.stderr.contains("is a symbolic link to"));
    assert!(!moved.join("status.events.jsonl").exists());

    // Inside the project, links are fine.
    let env = TestEnv::new();
    std::fs::create_dir_all(env.path("specs/real")).unwrap();
    std::fs::remove_dir(env.path("kitty-specs")).unwrap();
    symlink("specs/real", env.path("kitty-specs")).unwrap();
    env.emit(&["-f", FEATURE, "-r", "planner"]);
    assert!(env.path("specs/real/001-x/execution.events.jsonl").is_file());
}

// ---------------------------------------------------------------------------------------------------
// finding 3: a full disk or a file-size limit leaves a half-written line

/// A tmpfs mounted on `dir` (needs root); unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status();
        match status {
            Ok(s) if s.success() => Some(Tmpfs(dir.to_owned())),
            _ => {
                eprintln!("note: cannot mount a tmpfs here (not root?); skipping the full-disk half of this test");
                None
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Fills the file system holding `dir` (a filler file grows until ENOSPC).
fn fill(dir: &Path) {
    use std::io::Write;
    let mut filler = std::fs::File::create(dir.join("filler")).unwrap();
    let chunk = [b'f'; 512];
    while filler.write_all(&chunk).is_ok() {}
    let _ = filler.flush();
}

#[track_caller]
fn assert_unchanged(log: &Path, before: &[u8]) {
    let after = std::fs::read(log).unwrap();
    assert!(after == before, "torn tail: the log went from {} to {} bytes", before.len(), after.len());
}

#[test]
fn a_full_disk_leaves_the_log_unchanged() {
    let env = TestEnv::new();
    let Some(_tmpfs) = Tmpfs::mount(&env.path("kitty-specs"), "64k") else { return };
    env.emit(&["-f", FEATURE, "-r", "planner", "--input-tokens", "10"]);
    env.emit(&["-f", FEATURE, "-r", "planner", "--input-tokens", "11"]);
    let before = std::fs::read(env.path(LOG)).unwrap();
    fill(&env.path("kitty-specs"));
    // A line longer than a page: some of it fits in the log's last page, the rest does not.
    let long_error = "e".repeat(6000);
    let run = env.run(&emit_args(&["--strict", "--failure", "--error", &long_error])).expect_code(1);
    assert!(run.stderr.contains("No space left on device"), "{}", run.stderr);
    assert_unchanged(&env.path(LOG), &before);
    let run = env.run(&emit_args(&["--failure", "--error", &long_error])).ok();
    assert!(run.stderr.contains("warning: telemetry event not recorded"), "{}", run.stderr);
    assert_unchanged(&env.path(LOG), &before);
    std::fs::remove_file(env.path("kitty-specs/filler")).unwrap();
    let run = env.run(&["agent", "telemetry", "cost", "--json"]).ok();
    assert!(!run.stderr.contains("malformed"), "no torn line to warn about: {}", run.stderr);
    env.emit(&["-f", FEATURE, "-r", "planner"]);
}

#[test]
fn a_file_size_limit_is_an_error_not_a_kill() {
    let env = with_one_event();
    let before = std::fs::read(env.path(LOG)).unwrap();
    let limit = before.len() as u64 + 100;
    let mut cmd = command(&env, &emit_args(&["--strict", "--model", "claude-sonnet-4-5"]), &[]);
    // SAFETY: setrlimit is async-signal-safe; the child only execs afterwards.
    unsafe {
        cmd.pre_exec(move || {
            let rlimit = libc::rlimit { rlim_cur: limit, rlim_max: limit };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &rlimit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let run = run_bounded(cmd);
    assert_eq!(run.code, 1, "exit 1, not killed by SIGXFSZ\n{}", run.render());
    assert!(run.stderr.contains("File too large"), "{}", run.stderr);
    assert_unchanged(&env.path(LOG), &before);
    assert_eq!(env.run(&["agent", "telemetry", "cost"]).ok().stderr, "");
}

// ---------------------------------------------------------------------------------------------------
// finding 4: lock waits are unbounded

/// A `flock` process (util-linux) holding `path`'s lock in its own process group, killed on drop.
struct LockHolder(Child);

impl LockHolder {
    fn hold(path: &Path) -> Option<LockHolder> {
        let child = Command::new("flock")
            .arg(path)
            .args(["sleep", "120"])
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let Ok(child) = child else {
            eprintln!("note: no flock(1) here; skipping a lock-holding test");
            return None;
        };
        let holder = LockHolder(child);
        let probe = std::fs::File::open(path).unwrap();
        let start = Instant::now();
        while probe.try_lock_shared().is_ok() {
            probe.unlock().unwrap();
            assert!(start.elapsed() < Duration::from_secs(30), "flock never took the lock");
            std::thread::sleep(Duration::from_millis(5));
        }
        Some(holder)
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for LockHolder {
    fn drop(&mut self) {
        // SAFETY: signalling the process group we created.
        unsafe { libc::kill(-(self.0.id() as i32), libc::SIGKILL) };
        let _ = self.0.wait();
    }
}

#[test]
fn emit_gives_up_on_a_held_lock_with_a_warning() {
    let env = with_one_event();
    let before = env.read(LOG);
    let Some(holder) = LockHolder::hold(&env.path(LOG)) else { return };
    let fast = [("SPEC_KITTY_EMIT_LOCK_TIMEOUT_MS", "300")];
    let run = run_bounded(command(&env, &emit_args(&[]), &fast));
    assert_eq!(run.code, 0, "{}", run.render());
    assert!(run.stderr.starts_with("warning: telemetry event not recorded"), "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("execution.events.jsonl is locked by another process (pid {})", holder.pid())),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("gave up after 300ms"), "{}", run.stderr);
    let run = run_bounded(command(&env, &emit_args(&["--strict", "--json"]), &fast));
    assert_eq!(run.code, 1, "{}", run.render());
    assert!(run.stdout.contains(r#""result": "error""#), "{}", run.stdout);
    // The default wait (2 s) ends too.
    let run = run_bounded(command(&env, &emit_args(&[]), &[]));
    assert!(run.code == 0 && run.stderr.contains("gave up after 2s"), "{}", run.render());
    drop(holder);
    assert_eq!(env.read(LOG), before);
    env.emit(&["-f", FEATURE, "-r", "planner"]);
}

#[test]
fn move_task_gives_up_on_a_held_lock_naming_it() {
    let env = feature_with_wps(1);
    env.write(STATUS_LOG, "");
    let Some(holder) = LockHolder::hold(&env.path(STATUS_LOG)) else { return };
    let args = ["agent", "tasks", "move-task", "WP01", "--to", "in_progress"];
    let run = run_bounded(command(&env, &args, &[("SPEC_KITTY_LOCK_TIMEOUT_MS", "300")]));
    assert_eq!(run.code, 1, "{}", run.render());
    let expected =
        format!("status.events.jsonl is locked by another process (pid {}); gave up after 300ms", holder.pid());
    assert!(run.stderr.contains(&expected), "{}", run.stderr);
    assert!(run.stderr.contains("SPEC_KITTY_LOCK_TIMEOUT_MS"), "{}", run.stderr);
    assert!(!run.stderr.contains("must be repaired"), "{}", run.stderr);
    drop(holder);
    env.run(&args).ok();
}

#[test]
fn invalid_lock_timeouts_are_usage_errors() {
    let env = TestEnv::new();
    let run = env.run_with_env(&emit_args(&[]), &[("SPEC_KITTY_LOCK_TIMEOUT_MS", "soon")]).expect_code(2);
    assert!(run.stderr.contains("invalid SPEC_KITTY_LOCK_TIMEOUT_MS=\"soon\""), "{}", run.stderr);
}

// ---------------------------------------------------------------------------------------------------
// finding 5: reads are unbounded

#[test]
fn devices_fifos_and_huge_files_are_refused_without_hanging() {
    let env = with_one_event();
    let run = run_bounded(command(&env, &["agent", "telemetry", "cost", "--pricing", "/dev/zero"], &[]));
    assert_eq!(run.code, 1, "{}", run.render());
    assert!(run.stderr.contains("cannot read pricing file /dev/zero: not a regular file (a device)"), "{}", run.stderr);

    let huge = env.path("huge-pricing.yaml");
    std::fs::File::create(&huge).unwrap().set_len(17 << 20).unwrap();
    let run = env.run(&["agent", "telemetry", "cost", "--pricing", "huge-pricing.yaml"]).expect_code(1);
    assert!(run.stderr.contains("larger than the 16 MiB limit for this file"), "{}", run.stderr);

    // A log that is a device, or a FIFO nobody writes to.
    std::fs::remove_file(env.path(LOG)).unwrap();
    symlink("/dev/zero", env.path(LOG)).unwrap();
    let run = run_bounded(command(&env, &["agent", "telemetry", "cost"], &[]));
    assert_eq!(run.code, 1, "{}", run.render());
    assert!(run.stderr.contains("execution.events.jsonl: not a regular file (a device)"), "{}", run.stderr);
    std::fs::remove_file(env.path(LOG)).unwrap();
    mkfifo(&env.path(LOG));
    let run = run_bounded(command(&env, &["agent", "telemetry", "cost"], &[]));
    assert!(run.code == 1 && run.stderr.contains("not a regular file (a FIFO)"), "{}", run.render());
    let run = run_bounded(command(&env, &emit_args(&["--strict"]), &[]));
    assert!(run.code == 1 && run.stderr.contains("not a regular file (a FIFO)"), "{}", run.render());

    // Small inputs: the project's config.yaml and the user's config.toml.
    symlink("/dev/zero", env.path(".kittify/config.yaml")).unwrap();
    // Wide enough that `sync status` does not wrap the message checked below.
    let run = run_bounded(command(&env, &["sync", "status"], &[("COLUMNS", "1000")]));
    assert!(run.code == 0 && run.stdout.contains("not a regular file (a device)"), "{}", run.render());
    std::fs::create_dir_all(env.home().join(".spec-kitty")).unwrap();
    std::fs::File::create(env.home().join(".spec-kitty/config.toml")).unwrap().set_len(2 << 20).unwrap();
    let run = run_bounded(command(&env, &["sync", "status"], &[]));
    assert!(run.code == 1 && run.stderr.contains("larger than the 1 MiB limit"), "{}", run.render());
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

// ---------------------------------------------------------------------------------------------------
// finding 6: two processes creating a fresh queue.db

#[test]
fn processes_creating_a_fresh_queue_at_once_neither_warn_nor_spool() {
    const ROUNDS: usize = 20;
    const PROCESSES: usize = 3;
    let env = feature_with_wps(PROCESSES);
    let scratch = env.root().parent().unwrap().join("race");
    std::fs::create_dir_all(&scratch).unwrap();
    for round in 0..ROUNDS {
        let home = scratch.join(format!("home-{round}"));
        // The processes start as shells waiting for a line on a FIFO; one write releases them together, so
        // they create the new queue at the same moment.
        let go = scratch.join(format!("go-{round}"));
        mkfifo(&go);
        let mut starter = std::fs::OpenOptions::new().read(true).write(true).open(&go).unwrap();
        let children: Vec<Child> = (1..=PROCESSES)
            .map(|wp| {
                let mut cmd = env.command();
                cmd.env("SPEC_KITTY_HOME", &home)
                    .env_remove("SPEC_KITTY_ID_SEED")
                    .env("GO", &go)
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped());
                let mut shell = Command::new("sh");
                shell
                    .args(["-c", "read -r _ < \"$GO\" && exec \"$0\" \"$@\""])
                    .arg(binary())
                    .args(["agent", "tasks", "add-history", &format!("WP{wp:02}"), "--note", &format!("r{round}")])
                    .current_dir(env.root())
                    .env_clear()
                    .envs(cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped());
                shell.spawn().unwrap()
            })
            .collect();
        // Give the shells a moment to block on the FIFO (a late one still reads its line).
        std::thread::sleep(Duration::from_millis(50));
        std::io::Write::write_all(&mut starter, "go\n".repeat(PROCESSES).as_bytes()).unwrap();
        for child in children {
            let output = wait_bounded(child, Duration::from_secs(60)).expect("add-history hung");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(output.status.success() && stderr.is_empty(), "round {round}: {}: {stderr}", output.status);
        }
        drop(starter);
        assert!(!home.join("queue-spool.jsonl").exists(), "round {round}: nothing spooled");
        let conn = rusqlite::Connection::open(home.join("queue.db")).unwrap();
        let rows: i64 = conn.query_row("SELECT COUNT(*) FROM queue", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, PROCESSES as i64, "round {round}: every event queued");
    }
}

// ---------------------------------------------------------------------------------------------------
// finding 7: totals saturate silently

#[test]
fn absurd_amounts_are_usage_errors_naming_the_flag() {
    let env = with_one_event();
    let stored = env.read(LOG);
    for (flag, value, message) in [
        ("--input-tokens", "18446744073709551615", "exceeds the maximum of 1000000000000000 tokens per event"),
        ("--cache-read-tokens", "1000000000000001", "exceeds the maximum of 1000000000000000 tokens per event"),
        ("--cost-usd", "1e308", "1e308 exceeds the maximum of 1000000000 USD per event"),
    ] {
        let run = env.run(&emit_args(&[flag, value])).expect_code(2);
        assert!(run.stderr.contains(&format!("for '{flag} <")) && run.stderr.contains(message), "{}", run.stderr);
    }
    // Workflow commands take the same flags with the same limits.
    let run = env.run(&["agent", "tasks", "add-history", "WP01", "--note", "x", "--output-tokens", "1e30"]);
    assert_eq!(run.code, 2, "{}", run.render());
    assert_eq!(env.read(LOG), stored);
}

#[test]
fn cost_totals_never_saturate_or_wrap() {
    let env = TestEnv::new();
    let line = |n: u32, payload: &str| {
        format!(
            r#"{{"aggregate_id": "001-x", "causation_id": null, "event_id": "01HXYZ{n:020}", "event_type": "ExecutionEvent", "lamport_clock": {n}, "node_id": "cli:N/A", "payload": {payload}, "timestamp": "2026-02-16T11:00:00+00:00"}}"#
        )
    };
    let big_cost = r#"{"agent": "a", "cost_usd": 1e17}"#;
    env.write(LOG, format!("{}\n{}\n", line(1, big_cost), line(2, big_cost)));
    let run = env.run(&["agent", "telemetry", "cost"]).expect_code(1);
    assert!(run.stderr.contains("cannot total the report: the cost total of group \"a\" exceeds"), "{}", run.stderr);
    assert!(run.stderr.contains("hint: some events report implausible amounts"), "{}", run.stderr);

    let tokens = format!(r#"{{"agent": "a", "cost_usd": 0, "output_tokens": {}}}"#, i64::MAX - 5);
    env.write(LOG, format!("{}\n{}\n", line(1, &tokens), line(2, &tokens)));
    let run = env.run(&["agent", "telemetry", "cost", "--json"]).expect_code(1);
    assert!(run.stderr.contains("the output-token total of group \"a\" exceeds 9223372036854775807"), "{}", run.stderr);

    // One value beyond what can be totalled is a malformed line, reported, never a saturated total.
    let huge = r#"{"agent": "a", "input_tokens": 18446744073709551615}"#;
    env.write(LOG, format!("{}\n{}\n", line(1, huge), line(2, r#"{"agent": "a", "input_tokens": 7, "cost_usd": 1}"#)));
    let run = env.run(&["agent", "telemetry", "cost", "--json"]).ok();
    assert!(run.stderr.contains("line 1: token count 18446744073709551615 is too large to total"), "{}", run.stderr);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!((rows[0]["total_input_tokens"].as_i64(), rows[0]["event_count"].as_i64()), (Some(7), Some(1)));
}

// ---------------------------------------------------------------------------------------------------
// finding 8: a malformed .kittify/config.yaml is ignored silently

#[test]
fn a_malformed_config_is_reported_once_and_never_stamps_events() {
    for (text, expected) in [
        (&b"vcs: [unclosed\n"[..], "config.yaml is not valid YAML (line 1 column 6: unclosed bracket '[')"),
        (b"\x00\x01\xfe\xff", "config.yaml: not valid UTF-8 text"),
        (b"vcs: git\nproject: [1,2]\n", "config.yaml is not valid YAML (line 2 column 10"),
        (b"project:\n  uuid: not-a-uuid\n  slug: demo\n", "project.uuid \"not-a-uuid\" is not a UUID"),
    ] {
        let env = feature_with_wps(1);
        env.write(".kittify/config.yaml", text);
        let run = env.run(&["agent", "tasks", "add-history", "WP01", "--note", "hello"]).ok();
        assert_eq!(run.stderr.matches("warning: ").count(), 1, "{}", run.stderr);
        assert!(run.stderr.contains(expected), "{}", run.stderr);
        assert!(run.stderr.contains("carry no project identity"), "{}", run.stderr);
        let events = queued(&env);
        let last = events.last().unwrap();
        assert_eq!(last["event_type"], "HistoryAdded");
        assert!(last["project_uuid"].is_null(), "{last}");

        // Wide enough that `sync status` does not wrap the message checked below.
        let status = env.run_with_env(&["sync", "status"], &[("COLUMNS", "1000")]).ok();
        assert!(status.stdout.contains("Project config") && status.stdout.contains(expected), "{}", status.stdout);
        let status: serde_json::Value =
            serde_json::from_str(&env.run(&["sync", "status", "--json"]).ok().stdout).unwrap();
        assert!(status["project_config_problem"].as_str().unwrap().contains(expected));
        let diagnose = env.run(&["sync", "diagnose"]).ok();
        assert!(diagnose.stdout.contains(expected), "{}", diagnose.stdout);
    }
}

// ---------------------------------------------------------------------------------------------------
// finding 9: auth logout cannot clear a corrupt credentials file

#[test]
fn logout_removes_an_unreadable_credentials_file() {
    let env = TestEnv::new();
    let home = env.home().join(".spec-kitty");
    std::fs::create_dir_all(&home).unwrap();
    let credentials = home.join("credentials");
    std::fs::write(&credentials, "[tokens\naccess = ").unwrap();
    let run = env.run(&["auth", "status"]).expect_code(1);
    assert!(run.stderr.contains("not valid TOML") && run.stderr.contains("hint: `spec-kitty auth logout`"));
    let run = env.run(&["auth", "logout"]).ok();
    let expected = format!("removed unreadable credentials file {}", credentials.display());
    assert!(run.stdout.contains(&expected), "{}", run.render());
    assert!(!credentials.exists());
    let run = env.run(&["auth", "logout"]).ok();
    assert!(run.stdout.contains("Already logged out"), "{}", run.stdout);
}

// ---------------------------------------------------------------------------------------------------
// finding 10 (part): emit's --wp-id, and move-task's repair hint

#[test]
fn emit_validates_wp_ids_like_the_other_commands() {
    let env = with_one_event();
    let (log, clock) = (env.read(LOG), env.read(CLOCK));
    let long = "W".repeat(10_000);
    for bad in ["../x", "WP01\nWP02", long.as_str(), "WP100"] {
        let run = env.run(&emit_args(&["--wp-id", bad])).expect_code(2);
        assert!(run.stderr.contains("is not a work package id"), "{}", run.stderr);
        assert!(run.stderr.len() < 1000, "the message stays short: {} bytes", run.stderr.len());
    }
    assert_eq!((env.read(LOG), env.read(CLOCK)), (log, clock));
    env.emit(&["-f", FEATURE, "-r", "implementer", "--wp-id", "wp3"]);
    env.emit(&["-f", FEATURE, "-r", "planner", "--wp-id", "N/A"]);
    assert_eq!(env.read(CLOCK), r#"{"cli:N/A": 3, "cli:WP03": 2}"#);
}

#[test]
fn the_repair_hint_is_only_for_a_damaged_status_log() {
    let env = feature_with_wps(1);
    let args = ["agent", "tasks", "move-task", "WP01", "--to", "in_progress"];
    // Not a damaged log: a directory where the log should be.
    std::fs::create_dir_all(env.path(STATUS_LOG)).unwrap();
    let run = env.run(&args).expect_code(1);
    assert!(run.stderr.contains("status.events.jsonl: not a regular file (a directory)"), "{}", run.stderr);
    assert!(!run.stderr.contains("must be repaired"), "{}", run.stderr);
    // A damaged one.
    std::fs::remove_dir(env.path(STATUS_LOG)).unwrap();
    env.write(STATUS_LOG, "{\"not\": \"an event\"}\n");
    let run = env.run(&args).expect_code(1);
    assert!(run.stderr.contains("hint: the status log must be repaired"), "{}", run.stderr);
}
