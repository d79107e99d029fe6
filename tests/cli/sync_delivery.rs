//! Delivering the offline queue to the reference sync server (loopback only) through the real binary:
//! login, `sync now`, the exit flush of short commands, refresh races, chaos, TLS and secrecy. Each test
//! is one acceptance point of seed 004 (US2, US7, FR-024…FR-038) and DESIGN §3 Sync.

use crate::server::{self, FaultKind, Faults, RequestRecord, ServerConfig, ServerHandle};
use crate::support::{Run, TestEnv};
use crate::sync_queue::{feature_with_wps, queued};
use crate::sync_support::{
    SyncFixture, configure, envelope, files_under, json, login, queue_events, run_stdin, run_with_terminal_stderr,
    spawn, state_dir, tokens, ulid,
};
use serde_json::Value;
use spec_kitty::sync::queue::{OfflineQueue, QueueLimits};
use std::collections::BTreeSet;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

const BATCH: &str = "/api/v1/events/batch/";
const REFRESH: &str = "/api/v1/token/refresh/";

// --- helpers -----------------------------------------------------------------------------------------

fn queued_ids(env: &TestEnv) -> BTreeSet<String> {
    queued(env).iter().map(|e| e["event_id"].as_str().unwrap().to_owned()).collect()
}

fn batch_requests(server: &ServerHandle) -> Vec<RequestRecord> {
    server.requests().into_iter().filter(|r| r.path_and_query == BATCH).collect()
}

fn sync_now_json(env: &TestEnv) -> (Run, Value) {
    let run = env.run(&["sync", "now", "--json"]);
    let value = json(&run);
    (run, value)
}

/// A port nothing listens on.
fn dead_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn dead_letters(env: &TestEnv) -> Vec<(String, Option<String>)> {
    let queue = OfflineQueue::open(&state_dir(env).join("queue.db"), QueueLimits::default()).unwrap();
    queue.dead_letters().unwrap().into_iter().map(|(row, error)| (row.event_id, error)).collect()
}

// --- acceptance points --------------------------------------------------------------------------------

/// US2 end to end: log in, work on a feature, `sync now`: the server holds exactly the queued events
/// and the queue is empty; then a short command delivers its own events on exit.
#[test]
fn login_work_and_sync_now_deliver_exactly_the_queued_events() {
    let SyncFixture { server, env, login, .. } =
        SyncFixture::builder().env(feature_with_wps(3)).config("exit_flush_ms = 0\n").logged_in();
    assert_eq!(
        login.stdout,
        format!("Authenticating with {}...\n✅ Login successful!\n   Logged in as: alice\n", server.url())
    );
    assert!(env.run(&["auth", "status"]).ok().stdout.starts_with("✅ Authenticated\n   Username: alice\n"));

    env.run(&["agent", "feature", "finalize-tasks", "--json"]).ok();
    env.run(&["agent", "tasks", "move-task", "WP01", "--to", "in_progress", "--agent", "claude"]).ok();
    env.run(&["agent", "tasks", "add-history", "WP01", "--note", "halfway there"]).ok();
    env.run(&["agent", "tasks", "mark-status", "T001", "--status", "done"]).ok();
    env.run(&["agent", "tasks", "move-task", "WP01", "--to", "for_review"]).ok();
    let expected = queued_ids(&env);
    assert!(expected.len() >= 9, "{expected:?}");
    assert!(batch_requests(&server).is_empty(), "exit flush disabled: nothing sent yet");

    let run = env.run(&["sync", "now"]).ok();
    assert_eq!(
        run.stdout,
        format!(
            "Syncing {n} queued event(s)...\nSynced: {n}, Duplicates: 0, Failed: 0\nRemaining in queue: 0\n",
            n = expected.len()
        )
    );
    assert_eq!(server.stored_event_ids(), expected);
    assert!(queued(&env).is_empty());
    let status = json(&env.run(&["sync", "status", "--json"]).ok());
    assert_eq!(status["queue"]["depth"], 0);
    assert_eq!(status["authenticated"], true);
    assert_eq!(status["auth"]["username"], "alice");
    assert!(status["last_sync"]["last_success_at"].is_string(), "{status}");
    assert_eq!(status["last_sync"]["consecutive_failures"], 0);
    let text = env.run(&["sync", "status"]).ok().stdout;
    assert!(text.contains("Auth          Authenticated as alice"), "{text}");
    assert!(!text.contains("Last sync     Never"), "{text}");

    // With the exit flush on (the default), a short command delivers what it queued before exiting.
    configure(&env, server.url(), "");
    env.run(&["agent", "tasks", "add-history", "WP02", "--note", "delivered on exit"]).ok();
    assert!(queued(&env).is_empty(), "the exit flush emptied the queue");
    assert_eq!(server.event_count(), expected.len() + 1);
    assert_eq!(env.run(&["sync", "now"]).ok().stdout, "Queue is empty, nothing to sync.\n");
}

/// US2 scenario 1: 50 events queued while no server was configured reach it, gzip-compressed with a
/// Bearer JWT, once it is configured and we are logged in.
#[test]
fn events_queued_offline_are_delivered_gzipped_with_a_bearer_token() {
    let env = TestEnv::new();
    let ids: BTreeSet<String> = queue_events(&env, 0, 50).into_iter().collect();
    let run = env.run(&["sync", "now"]).expect_code(4);
    assert!(run.stderr.contains("no sync server is configured"), "{}", run.stderr);
    assert!(run.stderr.contains("50 event(s) are safe in the queue"), "{}", run.stderr);

    let server = spawn(ServerConfig::default());
    configure(&env, server.url(), "");
    let run = env.run(&["sync", "now"]).expect_code(4);
    assert!(run.stderr.contains("not logged in") && run.stderr.contains("spec-kitty auth login"), "{}", run.stderr);
    assert!(server.requests().is_empty(), "nothing is sent without a login");

    login(&env);
    let (_, report) = sync_now_json(&env);
    assert_eq!((report["synced"].as_u64(), report["remaining"].as_u64()), (Some(50), Some(0)), "{report}");
    assert_eq!(report["exit_code"], 0);
    assert_eq!(server.stored_event_ids(), ids);
    let teams: BTreeSet<String> =
        server.stored_events().iter().map(|e| e["team_slug"].as_str().unwrap().to_owned()).collect();
    assert_eq!(teams, BTreeSet::from(["acme".to_owned()]), "queued while logged out, sent with the login's team");
    let batches = batch_requests(&server);
    assert_eq!(batches.len(), 1);
    assert!(batches[0].authorization_present);
    // The server accepted the body as gzip (it would not parse compressed bytes sent as plain JSON),
    // and it is far smaller than the JSON it carried.
    let raw: usize = (0..50).map(|n| envelope(&ulid(n), n).len() + 2).sum();
    assert!(batches[0].body_bytes * 4 < raw, "{} compressed bytes for {raw} bytes of JSON", batches[0].body_bytes);
}

/// US2 scenario 4: 5,000+ events go in batches of at most 1000, with a progress line when stderr is
/// a terminal (and none when it is not).
#[test]
fn thousands_of_events_go_in_batches_of_at_most_1000_with_progress_on_a_terminal() {
    let SyncFixture { server, env, .. } = SyncFixture::logged_in();
    let ids: BTreeSet<String> = queue_events(&env, 0, 5_500).into_iter().collect();

    let mut cmd = env.command();
    cmd.args(["sync", "now"]);
    let (run, terminal) = run_with_terminal_stderr(cmd);
    assert_eq!(run.code, 0, "{}", run.render());
    assert!(run.stdout.starts_with("Syncing 5,500 queued event(s)...\nSynced: 5500, Duplicates: 0, Failed: 0\n"));
    assert!(terminal.contains("\rSyncing: 1,000/5,500 events") || terminal.contains("Syncing: 1,000/5,500 events"));
    assert!(
        terminal.contains("Syncing: 5,500/5,500 events [########################] 100% · 6 batches"),
        "{terminal:?}"
    );
    assert_eq!(server.stored_event_ids(), ids);
    let batches = batch_requests(&server);
    assert_eq!(batches.len(), 6, "ceil(5500 / 1000) requests");
    assert!(batches.iter().all(|r| r.status == 200 && r.authorization_present));
    let sizes: Vec<usize> = batches.iter().map(|r| r.events.unwrap()).collect();
    assert_eq!(sizes, [1000, 1000, 1000, 1000, 1000, 500]);

    queue_events(&env, 10_000, 1_200);
    let (run, report) = sync_now_json(&env);
    assert_eq!((report["synced"].as_u64(), report["batches"].as_u64()), (Some(1_200), Some(2)), "{report}");
    assert!(run.stderr.is_empty(), "no progress line when stderr is not a terminal: {}", run.stderr);
}

/// Chaos: 20,000 queued events, 30% of requests failing, dropped connections, access tokens revoked
/// mid-run and one poison event. Re-running `sync now` until it has nothing left to retry leaves every
/// other event stored exactly once, the poison event in the dead letters with the server's error, and
/// nothing queued.
#[test]
fn chaos_every_event_but_the_poison_one_is_stored_exactly_once() {
    let started = Instant::now();
    let SyncFixture { server, env, .. } = SyncFixture::builder().config("max_rejections = 2\n").logged_in();
    let ids = queue_events(&env, 0, 20_000);
    let poison = ids[12_345].clone();
    server.set_faults(Faults {
        error_rate: 0.3,
        drop_rate: 0.1,
        poison_event_ids: BTreeSet::from([poison.clone()]),
        seed: 4,
        ..Faults::default()
    });

    let mut runs = Vec::new();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        // Revoke every access token a few times while the first runs are under way.
        let revoker = scope.spawn(|| {
            for _ in 0..4 {
                std::thread::sleep(Duration::from_millis(700));
                if stop.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                server.expire_access_tokens();
            }
        });
        for _ in 0..12 {
            let (run, report) = sync_now_json(&env);
            runs.push(report.clone());
            if run.code == 0 {
                break;
            }
            assert!(matches!(run.code, 3 | 4), "{}", run.render());
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        revoker.join().unwrap();
    });
    let last = runs.last().unwrap();
    assert_eq!(last["exit_code"], 0, "runs: {runs:#?}");
    assert_eq!(last["remaining"], 0);

    let expected: BTreeSet<String> = ids.iter().filter(|id| **id != poison).cloned().collect();
    assert_eq!(server.stored_event_ids(), expected);
    assert_eq!(server.event_count(), 19_999, "each event stored once");
    assert_eq!(server.delivery_count(&poison), 0);
    assert!(queued(&env).is_empty());
    let dead = dead_letters(&env);
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].0, poison);
    assert_eq!(dead[0].1.as_deref(), Some("invalid field: payload rejected by server validation"));
    assert!(batch_requests(&server).iter().all(|r| r.events.is_none_or(|n| n <= 1000)));
    let faults: Vec<FaultKind> = server.requests().iter().filter_map(|r| r.fault).collect();
    assert!(faults.contains(&FaultKind::ServerError) && faults.contains(&FaultKind::Drop), "{faults:?}");
    assert!(server.requests().iter().any(|r| r.path_and_query == REFRESH && r.status == 200), "tokens were refreshed");
    assert!(json(&env.run(&["auth", "status", "--json"]).ok())["authenticated"] == true);
    assert!(started.elapsed() < Duration::from_secs(90), "chaos took {:?}", started.elapsed());
    eprintln!("chaos: {} runs, {:?}", runs.len(), started.elapsed());
}

/// 401 → refresh once → retry; two processes refreshing at the same moment both stay logged in (the
/// loser of the race uses the winner's rotated tokens instead of presenting a revoked one).
#[test]
fn two_processes_refreshing_at_once_both_stay_logged_in() {
    let SyncFixture { server, env, .. } = SyncFixture::logged_in();
    let before = tokens(&env);
    let ids: BTreeSet<String> = queue_events(&env, 0, 40).into_iter().collect();
    server.expire_access_tokens();
    // Latency on every request makes both batches fail with 401 before either refresh completes.
    server.set_faults(Faults { latency: Duration::from_millis(500), ..Faults::default() });

    let children: Vec<_> = (0..2)
        .map(|_| {
            let mut cmd = env.command();
            cmd.args(["sync", "now", "--json"]).stdout(Stdio::piped()).stderr(Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let requests = server.requests();
    let unauthorized = requests.iter().filter(|r| r.path_and_query == BATCH && r.status == 401).count();
    let refreshes: Vec<u16> = requests.iter().filter(|r| r.path_and_query == REFRESH).map(|r| r.status).collect();
    assert_eq!(unauthorized, 2, "both processes met the revoked token");
    assert_eq!(refreshes, [200], "one refresh; the other process reused its result");
    assert_eq!(server.stored_event_ids(), ids);
    let status = json(&env.run(&["auth", "status", "--json"]).ok());
    assert_eq!(status["authenticated"], true);
    let after = tokens(&env);
    assert!(after.0 != before.0 && after.1 != before.1, "the tokens were rotated");
    server.set_faults(Faults::default());
    queue_events(&env, 100, 1);
    assert_eq!(sync_now_json(&env).1["synced"], 1, "the rotated tokens work");
}

/// A hanging server never holds a short command beyond the exit-flush budget, never changes its
/// output or exit code, and puts the following commands in a backoff window (no waiting at all).
#[test]
fn a_hanging_server_costs_a_short_command_at_most_the_exit_flush_budget() {
    let SyncFixture { server, env, .. } =
        SyncFixture::builder().env(feature_with_wps(1)).config("exit_flush_ms = 1500\n").logged_in();
    server.set_faults(Faults { hang: true, ..Faults::default() });
    let control = feature_with_wps(1);
    control.run(&["auth", "status"]).ok(); // same number of commands as `env`, so the same clock
    let args = ["agent", "tasks", "add-history", "WP01", "--note", "while the server hangs", "--json"];

    let start = Instant::now();
    let run = env.run(&args).ok();
    let elapsed = start.elapsed();
    assert!(elapsed < Duration::from_millis(1500 + 1200), "took {elapsed:?}");
    assert!(elapsed >= Duration::from_millis(1400), "the flush did try for its budget: {elapsed:?}");
    let expected = control.run(&args).ok();
    let normalise = |env: &TestEnv, run: &Run| run.stdout.replace(&env.root().display().to_string(), "[ROOT]");
    assert_eq!(normalise(&env, &run), normalise(&control, &expected), "stdout unchanged by the flush");
    assert_eq!(run.stderr, expected.stderr);
    assert!(batch_requests(&server).iter().any(|r| r.fault == Some(FaultKind::Hang)));
    assert_eq!(queued(&env).len(), 1, "the event is safe in the queue");

    let sent = server.requests().len();
    let start = Instant::now();
    env.run(&["agent", "tasks", "add-history", "WP01", "--note", "in the backoff window"]).ok();
    assert!(start.elapsed() < Duration::from_millis(1000), "took {:?}", start.elapsed());
    assert_eq!(server.requests().len(), sent, "no request during the backoff window");
    let status = env.run(&["sync", "status"]).ok().stdout;
    assert!(status.contains("Failures      1 consecutive (last: deadline); exit flushes paused until"), "{status}");

    // `sync now` is the explicit way to try anyway; with a timeout it too is bounded.
    let start = Instant::now();
    let run = env.run(&["sync", "now", "--timeout", "1"]).expect_code(4);
    assert!(start.elapsed() < Duration::from_millis(2500), "took {:?}", start.elapsed());
    assert!(
        run.stderr.contains("time allowed") && run.stderr.contains("2 event(s) are safe in the queue"),
        "{}",
        run.stderr
    );
}

/// Secrecy and transport security: credentials 0600 in a 0700 directory; no token in any output or in
/// any other file; plain http refused for non-loopback hosts; TLS with a private CA via `ca_file`.
#[test]
fn tokens_stay_secret_and_transport_is_secure() {
    let (cert, key) = server::self_signed_localhost().unwrap();
    let server = spawn(ServerConfig::default().with_tls(cert.clone(), key));
    assert!(server.url().starts_with("https://localhost:"));
    let env = feature_with_wps(2);
    std::fs::create_dir_all(state_dir(&env)).unwrap();
    std::fs::write(state_dir(&env).join("team-ca.pem"), &cert).unwrap();

    // Without the CA the server's certificate is not trusted.
    configure(&env, server.url(), "");
    let untrusted = run_stdin(&env, &["auth", "login", "-u", "alice", "--password-stdin"], "secret").expect_code(1);
    assert!(untrusted.stderr.contains("cannot reach"), "{}", untrusted.stderr);

    configure(&env, server.url(), "ca_file = \"team-ca.pem\"\nexit_flush_ms = 0\n");
    let mut outputs = vec![untrusted, login(&env)];
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&state_dir(&env).join("credentials")), 0o600);
    assert_eq!(mode(&state_dir(&env)), 0o700);
    outputs.push(env.run(&["agent", "feature", "finalize-tasks", "--json"]).ok());
    outputs.push(env.run(&["agent", "tasks", "move-task", "WP01", "--to", "in_progress"]).ok());
    let first_tokens = tokens(&env);
    server.expire_access_tokens(); // force a refresh too
    let pending = queued(&env).len();
    outputs.push(env.run(&["sync", "now", "--report", "report.json"]).ok());
    assert_eq!(server.event_count(), pending, "delivered over https");
    for args in
        [&["auth", "status"][..], &["auth", "status", "--json"], &["sync", "status", "--json"], &["sync", "status"]]
    {
        outputs.push(env.run(args).ok());
    }
    let last_tokens = tokens(&env);
    assert_ne!(first_tokens, last_tokens, "the sync refreshed the session");
    let secrets = [first_tokens.0, first_tokens.1, last_tokens.0, last_tokens.1];
    assert!(secrets.iter().all(|t| t.len() > 20));
    for run in &outputs {
        let all = run.render();
        assert!(!secrets.iter().any(|t| all.contains(t.as_str())), "a token leaked:\n{all}");
    }
    let mut files = files_under(&env.home());
    files.extend(files_under(&env.root()));
    for file in files.iter().filter(|f| f.file_name().is_some_and(|n| n != "credentials")) {
        let bytes = std::fs::read(file).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!secrets.iter().any(|t| text.contains(t.as_str())), "a token in {}", file.display());
    }
    assert!(!server.token_seen_in_url());

    // Plain http only for loopback hosts.
    let refused = env.run(&["sync", "server", "http://example.com"]).expect_code(1);
    assert!(refused.stderr.contains("refusing plain http:// for example.com"), "{}", refused.stderr);
    let refused = env.run_with_env(&["sync", "now"], &[("SPEC_KITTY_SAAS_URL", "http://example.com")]);
    let refused = refused.expect_code(0);
    assert!(refused.stdout.contains("Queue is empty"), "nothing to send, so nothing refused");
    queue_events(&env, 0, 1);
    let refused = env.run_with_env(&["sync", "now"], &[("SPEC_KITTY_SAAS_URL", "http://example.com")]).expect_code(1);
    assert!(refused.stderr.contains("refusing plain http:// for example.com"), "{}", refused.stderr);
    let refused = run_stdin(&env, &["auth", "login", "-u", "a", "--password-stdin"], "x")
        .expect_code(0)
        .stdout
        .contains("Already");
    assert!(refused, "already logged in to the configured server");
    let set = env.run(&["sync", "server", "http://localhost:8000/"]).ok();
    assert!(set.stdout.starts_with("✓ Sync server set to http://localhost:8000\n"), "{}", set.stdout);
    let config = std::fs::read_to_string(state_dir(&env).join("config.toml")).unwrap();
    assert!(config.contains("ca_file = \"team-ca.pem\"") && config.contains("server_url = \"http://localhost:8000\""));
}

/// `sync now` exit codes: 0 all delivered (or nothing to do), 3 some rejected, 4 undeliverable for now.
#[test]
fn sync_now_exit_codes_are_pinned() {
    let server = spawn(ServerConfig::default());
    let env = TestEnv::new();
    assert_eq!(env.run(&["sync", "now"]).expect_code(0).stdout, "Queue is empty, nothing to sync.\n");
    configure(&env, server.url(), "max_rejections = 2\n");
    login(&env);
    let ids = queue_events(&env, 0, 30);
    server.set_faults(Faults { poison_event_ids: BTreeSet::from([ids[7].clone()]), ..Faults::default() });

    let run = env.run(&["sync", "now", "--report", "report.json"]).expect_code(3);
    assert_eq!(
        run.stdout,
        "Syncing 30 queued event(s)...\nSynced: 29, Duplicates: 0, Failed: 1\n  schema_mismatch: 1  -- Run `spec-kitty sync diagnose` to inspect invalid events\nRemaining in queue: 1\nFailure report written to report.json\n"
    );
    assert!(run.stderr.contains("1 event(s) were rejected by the server"), "{}", run.stderr);
    let report: Value = serde_json::from_str(&env.read("report.json")).unwrap();
    assert_eq!(report["summary"]["failed"], 1);
    assert_eq!(report["summary"]["categories"]["schema_mismatch"], 1);
    assert_eq!(report["failures"][0]["event_id"], ids[7].as_str());
    assert_eq!(report["failures"][0]["error"], "invalid field: payload rejected by server validation");

    let run = env.run(&["sync", "now"]).expect_code(3);
    assert!(run.stdout.contains("Moved to dead letters: 1\n"), "{}", run.stdout);
    assert!(run.stderr.contains("spec-kitty sync retry-dead"), "{}", run.stderr);
    assert_eq!(env.run(&["sync", "now"]).expect_code(0).stdout, "Queue is empty, nothing to sync.\n");
    let status = json(&env.run(&["sync", "status", "--json"]).ok());
    assert_eq!((status["queue"]["depth"].as_u64(), status["queue"]["dead_letters"].as_u64()), (Some(0), Some(1)));

    // Once the server accepts it, the dead letter can be retried on demand.
    server.set_faults(Faults::default());
    let run = env.run(&["sync", "retry-dead", &ids[7]]).ok();
    assert_eq!(run.stdout, "Re-queued 1 dead-lettered event(s); run `spec-kitty sync now` to deliver them.\n");
    env.run(&["sync", "retry-dead", "01NOTADEADLETTER0000000000"]).expect_code(1);
    assert_eq!(
        env.run(&["sync", "now"]).expect_code(0).stdout.lines().nth(1),
        Some("Synced: 1, Duplicates: 0, Failed: 0")
    );
    assert_eq!(server.event_count(), 30);

    // The server goes away: the events wait in the queue, exit 4.
    let mut server = server;
    server.shutdown();
    queue_events(&env, 100, 3);
    let run = env.run(&["sync", "now"]).expect_code(4);
    assert!(run.stderr.contains("the server is unreachable"), "{}", run.stderr);
    assert!(run.stderr.contains("3 event(s) are safe in the queue"), "{}", run.stderr);
    assert_eq!(queued(&env).len(), 3);
    let run =
        env.run_with_env(&["sync", "now"], &[("SPEC_KITTY_SAAS_URL", &format!("http://127.0.0.1:{}", dead_port()))]);
    assert!(
        run.code == 4 && run.stderr.contains(", but the sync server is http://127.0.0.1:"),
        "tokens are never sent to another server: {}",
        run.render()
    );
}

/// 429 answers are honoured (`Retry-After`), and `--spacing-ms` spaces requests out.
#[test]
fn rate_limits_and_spacing_slow_delivery_down() {
    let SyncFixture { server, env, .. } =
        SyncFixture::builder().config("batch_max_events = 10\nexit_flush_ms = 0\n").logged_in();
    queue_events(&env, 0, 30);
    server.set_faults(Faults { rate_limit_every: Some(2), ..Faults::default() });
    let start = Instant::now();
    let (_, report) = sync_now_json(&env);
    assert_eq!((report["synced"].as_u64(), report["requests"].as_u64()), (Some(30), Some(5)), "{report}");
    assert!(start.elapsed() >= Duration::from_secs(2), "two Retry-After: 1 waits: {:?}", start.elapsed());

    server.set_faults(Faults::default());
    queue_events(&env, 100, 30);
    let start = Instant::now();
    let (_, report) = {
        let run = env.run(&["sync", "now", "--json", "--spacing-ms", "300"]);
        let value = json(&run);
        (run, value)
    };
    assert_eq!(report["batches"], 3);
    assert!(start.elapsed() >= Duration::from_millis(600), "{:?}", start.elapsed());
}

/// Login needs a terminal or `--password-stdin`; wrong passwords and logout say so plainly.
#[test]
fn login_logout_and_their_messages() {
    let server = spawn(ServerConfig::default());
    let env = TestEnv::new();
    let run = env.run(&["auth", "login", "-u", "alice"]).expect_code(1);
    assert!(run.stderr.contains("no sync server is configured"), "{}", run.stderr);
    configure(&env, server.url(), "");
    let run = env.run(&["auth", "login", "-u", "alice"]).expect_code(2);
    assert!(run.stderr.contains("--password-stdin"), "{}", run.stderr);
    let run = run_stdin(&env, &["auth", "login", "-u", "alice", "--password-stdin"], "wrong\n").expect_code(1);
    assert!(run.stderr.contains("invalid username or password"), "{}", run.stderr);
    assert_eq!(
        env.run(&["auth", "status"]).ok().stdout,
        "❌ Not authenticated\n   Run 'spec-kitty auth login' to authenticate.\n"
    );
    login(&env);
    let again = run_stdin(&env, &["auth", "login", "-u", "alice", "--password-stdin"], "secret\n").ok();
    assert_eq!(again.stdout, "✅ Already authenticated.\nUse --force to re-authenticate or 'auth logout' first.\n");
    run_stdin(&env, &["auth", "login", "-u", "alice", "--password-stdin", "--force"], "secret\n").ok();
    let status = env.run(&["auth", "status"]).ok().stdout;
    assert!(
        status.contains(
            "   Team:     acme\n   Access token: valid (14m remaining)\n   Refresh token: valid (6d remaining)\n"
        ),
        "{status}"
    );
    assert_eq!(
        env.run(&["auth", "logout"]).ok().stdout,
        "✅ Logged out successfully.\n   Cleared credentials for: alice\n"
    );
    assert_eq!(env.run(&["auth", "logout"]).ok().stdout, "ℹ️  No active session. Already logged out.\n");
    assert!(!state_dir(&env).join("credentials").exists());
}

/// A server that answers 200 without results for the events (upstream looped forever on it, §5.3) or
/// refuses the team (403) ends `sync now` promptly, with the events still queued.
#[test]
fn missing_results_and_refusals_end_the_run_with_events_kept() {
    let SyncFixture { server, env, .. } = SyncFixture::builder().config("exit_flush_ms = 0\n").logged_in();
    queue_events(&env, 0, 5_000);

    server.set_faults(Faults { results_limit: Some(0), ..Faults::default() });
    let run = env.run(&["sync", "now"]).expect_code(3);
    assert!(run.stderr.contains("the server did not answer for 3000 event(s)"), "{}", run.stderr);
    assert_eq!(batch_requests(&server).len(), 3, "three batches without any answer end the run");
    assert_eq!(queued(&env).len(), 5_000);

    // Partial answers are progress: the run walks the whole queue once, then stops.
    server.take_requests();
    server.set_faults(Faults { results_limit: Some(400), ..Faults::default() });
    let (run, report) = sync_now_json(&env);
    assert_eq!(run.code, 3);
    assert_eq!((report["synced"].as_u64(), report["unanswered"].as_u64()), (Some(2_000), Some(3_000)), "{report}");
    assert_eq!(batch_requests(&server).len(), 5);
    let mut runs = 1;
    while env.run(&["sync", "now"]).code != 0 {
        runs += 1;
        assert!(runs < 10, "partial answers converge");
    }
    assert_eq!(server.event_count(), 5_000);

    queue_events(&env, 10_000, 10);
    server.set_faults(Faults { forbidden: true, ..Faults::default() });
    let run = env.run(&["sync", "now"]).expect_code(4);
    assert!(run.stderr.contains("HTTP 403: permission denied"), "{}", run.stderr);
    assert!(run.stderr.contains("10 event(s) are safe in the queue"), "{}", run.stderr);
}

/// Ctrl-C at the hidden password prompt puts the terminal's echo back (the shell is not left typing
/// blind) and exits 130.
#[test]
fn interrupting_the_password_prompt_restores_the_terminal() {
    let env = TestEnv::new();
    configure(&env, &format!("http://127.0.0.1:{}", dead_port()), "");
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty fills two descriptors we then own; the name/termios/winsize arguments are optional.
    let rc =
        unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors are fresh from openpty and owned by nobody else.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let echo = |fd: &OwnedFd| {
        use std::os::fd::AsRawFd;
        // SAFETY: termios is plain data that tcgetattr fills for a terminal descriptor we own.
        let mut term: libc::termios = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::tcgetattr(fd.as_raw_fd(), &mut term) }, 0);
        term.c_lflag & libc::ECHO != 0
    };
    assert!(echo(&slave), "a new terminal echoes");
    let mut cmd = env.command();
    cmd.args(["auth", "login", "--username", "alice"]).stdin(Stdio::from(slave.try_clone().unwrap()));
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while echo(&slave) {
        assert!(Instant::now() < deadline, "the password prompt never turned echo off");
        std::thread::sleep(Duration::from_millis(5));
    }
    // SAFETY: signalling our own child process by its pid.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) }, 0);
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(echo(&slave), "echo is back on after the interrupt");
    assert!(!state_dir(&env).join("credentials").exists());
    drop(master);
}
