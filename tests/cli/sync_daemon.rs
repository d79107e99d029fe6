//! The background sync service through the real binary: `spec-kitty sync daemon` as a child process
//! against the reference server (loopback only). The WebSocket fast path (an event reaches the server
//! within 500 ms of the command that queued it; the token travels in a header, never in a URL), its
//! acknowledgement by a later batch, reconnection, the heartbeat `sync status` reads, clean stops, one
//! daemon per home, short commands that never wait on a hanging server, and the terminal indicator.
//! Seed 004 US6, US7, FR-031…FR-038; issue 5 acceptance points 5 and 6.

use crate::server::{Faults, ServerConfig, ServerHandle};
use crate::support::TestEnv;
use crate::sync_queue::{feature_with_wps, queued};
use crate::sync_support::{
    SyncFixture, files_under, json, queue_events, run_stdin, run_with_terminal_stderr, state_dir, tokens,
};
use serde_json::Value;
use spec_kitty::context::Context;
use spec_kitty::sync::daemon::{self, ConnectionStatus, Heartbeat};
use spec_kitty::sync::service::BackgroundSync;
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A `spec-kitty sync daemon` child process, its stderr in a file; killed if a test fails midway.
struct Daemon {
    child: Child,
    log: std::path::PathBuf,
    home: std::path::PathBuf,
}

impl Daemon {
    fn start(env: &TestEnv) -> Daemon {
        Daemon::start_with(env, &[], &[])
    }

    /// `sync daemon` with extra arguments (e.g. `-v`) and environment variables.
    fn start_with(env: &TestEnv, args: &[&str], vars: &[(&str, &str)]) -> Daemon {
        // Next to the project and the home, inside the test's own temporary directory.
        let log = env.root().with_file_name("daemon.log");
        let mut cmd = env.command();
        cmd.args(["sync", "daemon"]).args(args).envs(vars.iter().copied());
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(std::fs::File::create(&log).unwrap());
        Daemon { child: cmd.spawn().expect("spawn the daemon"), log, home: state_dir(env) }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the heartbeat satisfies `ready`; panics with the log after `timeout`.
    #[track_caller]
    fn wait_for(&self, what: &str, timeout: Duration, ready: impl Fn(&Heartbeat) -> bool) -> Heartbeat {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(heartbeat) = daemon::read(&self.home).filter(|h| h.pid == self.pid() && ready(h)) {
                return heartbeat;
            }
            assert!(Instant::now() < deadline, "daemon never {what} within {timeout:?}; log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[track_caller]
    fn wait_connection(&self, status: &str, timeout: Duration) -> Heartbeat {
        self.wait_for(&format!("reported {status}"), timeout, |h| h.connection.as_str() == status)
    }

    /// SIGTERM, then the exit status (within `timeout`).
    #[track_caller]
    fn terminate(&mut self, timeout: Duration) -> (ExitStatus, Duration) {
        let started = Instant::now();
        // SAFETY: signalling our own child process by its pid.
        assert_eq!(unsafe { libc::kill(self.pid() as libc::pid_t, libc::SIGTERM) }, 0);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, started.elapsed());
            }
            assert!(started.elapsed() < timeout, "the daemon did not stop within {timeout:?}; log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The queued HistoryAdded event carrying `note`.
fn queued_note(env: &TestEnv, note: &str) -> Option<String> {
    queued(env)
        .into_iter()
        .find(|e| e["payload"]["entry_content"] == note)
        .map(|e| e["event_id"].as_str().unwrap().to_owned())
}

fn wait_until(what: &str, timeout: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "{what} did not happen within {timeout:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// No access or refresh token in the daemon's log, any output, or any file but the credentials.
#[track_caller]
fn assert_no_token_leaked(env: &TestEnv, daemon: &Daemon, outputs: &[&str]) {
    let (access, refresh) = tokens(env);
    let log = daemon.log();
    for text in outputs.iter().copied().chain([log.as_str()]) {
        assert!(!text.contains(&access) && !text.contains(&refresh), "a token leaked:\n{text}");
    }
    for path in files_under(&env.home()).into_iter().filter(|p| !p.ends_with("credentials")) {
        let bytes = std::fs::read(&path).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(&access) && !text.contains(&refresh), "a token leaked into {}", path.display());
    }
}

/// Acceptance 5: with the daemon running, a workflow command's event reaches the server over the
/// WebSocket within 500 ms of the command's exit, with the token in the Authorization header (never in
/// a URL); a later batch acknowledges it, so it leaves the queue, stored once. `sync status` shows the
/// daemon and the connection; SIGTERM stops it cleanly.
#[test]
fn a_workflow_event_reaches_the_server_over_the_websocket_within_500_ms() {
    let SyncFixture { server, env, login: login_run, .. } = SyncFixture::builder()
        .server(ServerConfig { ws_ping_interval: Duration::from_millis(100), ..ServerConfig::default() })
        .env(feature_with_wps(1))
        .config("batch_interval_ms = 200\n")
        .logged_in();
    let mut daemon = Daemon::start(&env);
    daemon.wait_connection("Connected", Duration::from_secs(10));

    let note = "live over the socket";
    let started = Instant::now();
    let run = env.run(&["agent", "tasks", "add-history", "WP01", "--note", note]).ok();
    let exited = Instant::now();
    assert!(exited - started < Duration::from_millis(1000), "the command waited: {:?}", exited - started);
    assert!(!run.stderr.contains("[sync:"), "no indicator when stderr is not a terminal: {}", run.stderr);
    // The acknowledging batch waits a second after the push, so the event is still queued here.
    let id = queued_note(&env, note).expect("the event is queued");
    let left = Duration::from_millis(500).saturating_sub(exited.elapsed());
    assert!(
        server.wait_for_ws_event_blocking(&id, left),
        "not received over the WebSocket within 500 ms of the command's exit; log:\n{}",
        daemon.log()
    );

    assert!(!server.token_seen_in_url(), "a token appeared in a URL");
    let upgrades: Vec<_> = server.requests().into_iter().filter(|r| r.path_and_query.starts_with("/ws/")).collect();
    assert!(!upgrades.is_empty());
    assert!(
        upgrades.iter().all(|r| r.path_and_query == "/ws/v1/events/" && r.authorization_present && r.status == 101),
        "{upgrades:?}"
    );

    // Pushed events stay queued until a batch acknowledges them (the server answers `duplicate`).
    wait_until("the batch acknowledgement", Duration::from_secs(5), || queued(&env).is_empty());
    let stored = server.stored_events().into_iter().filter(|e| e["event_id"] == id.as_str()).count();
    assert_eq!(stored, 1, "stored once");
    assert_eq!(server.delivery_count(&id), 2, "arrived over the socket, then in the acknowledging batch");
    assert!(server.ws_pongs() > 0, "the daemon answers the server's pings");

    let status = json(&env.run(&["sync", "status", "--json"]).ok());
    assert_eq!(status["connection"]["status"], "Connected", "{status}");
    assert_eq!(status["connection"]["events_pushed"], 1, "{status}");
    assert_eq!(status["daemon"]["running"], true);
    assert_eq!(status["daemon"]["pid"], daemon.pid());
    assert_eq!(status["daemon"]["command"], "sync daemon");
    assert_eq!(status["queue"]["depth"], 0);
    let text = env.run(&["sync", "status"]).ok().stdout;
    assert!(text.contains("  Connection    Connected\n"), "{text}");
    assert!(
        text.contains(&format!("  Daemon        running (pid {}, `spec-kitty sync daemon`", daemon.pid())),
        "{text}"
    );

    let (exit, _) = daemon.terminate(Duration::from_secs(5));
    assert_eq!(exit.code(), Some(0), "log:\n{}", daemon.log());
    assert!(daemon::read(&state_dir(&env)).is_none(), "the heartbeat is removed");
    let log = daemon.log();
    assert!(log.contains("connection: Connected") && log.contains("pushed 1 event(s) over the WebSocket"), "{log}");
    assert!(log.trim_end().ends_with("sync daemon stopped"), "{log}");
    let status = json(&env.run(&["sync", "status", "--json"]).ok());
    assert_eq!(
        (&status["daemon"]["running"], &status["connection"]["status"]),
        (&Value::Bool(false), &"Offline".into())
    );
    assert_no_token_leaked(&env, &daemon, &[&login_run.stdout, &login_run.stderr, &run.stdout, &run.stderr]);
}

/// The daemon survives the server going away: Reconnecting while it is gone, Connected again once it is
/// back (here a new server on the same port, so the user logs in again, which the daemon notices at
/// once). The terminal indicator of a command then says Connected.
#[test]
fn the_daemon_reconnects_when_the_server_comes_back() {
    let SyncFixture { mut server, env, user, .. } = SyncFixture::builder().env(feature_with_wps(1)).logged_in();
    let port = server.addr().port();
    let daemon = Daemon::start(&env);
    daemon.wait_connection("Connected", Duration::from_secs(10));

    server.shutdown();
    drop(server);
    let heartbeat = daemon.wait_connection("Reconnecting", Duration::from_secs(5));
    assert!(heartbeat.connection_detail.is_some(), "the status says why");
    let status = json(&env.run(&["sync", "status", "--json"]).ok());
    assert_eq!(status["connection"]["status"], "Reconnecting", "{status}");
    assert_eq!(status["daemon"]["running"], true);

    let server = ServerHandle::spawn(ServerConfig { port, ..ServerConfig::default() }).expect("restart on the port");
    // The new server knows none of the old tokens.
    let password = format!("{}\n", user.password);
    run_stdin(&env, &["auth", "login", "--username", &user.username, "--password-stdin", "--force"], &password).ok();
    daemon.wait_connection("Connected", Duration::from_secs(10));
    assert!(server.ws_connections() >= 1);

    let mut cmd = env.command();
    cmd.args(["agent", "tasks", "add-history", "WP01", "--note", "seen on a terminal"]);
    let (run, terminal) = run_with_terminal_stderr(cmd);
    assert_eq!(run.code, 0);
    assert!(terminal.contains("[sync: Connected]"), "{terminal:?}");
    assert!(!run.stdout.contains("[sync:"), "never on stdout");
    let log = daemon.log();
    assert!(log.contains("connection: Reconnecting ("), "{log}");
    assert!(!server.token_seen_in_url());
    assert_no_token_leaked(&env, &daemon, &[&run.stdout, &terminal]);
}

/// One daemon per home: a second one refuses to start and names the first. SIGTERM stops the first
/// cleanly (exit 0, heartbeat removed) even with no server at all.
#[test]
fn a_second_daemon_refuses_to_start_and_sigterm_stops_the_first() {
    let env = TestEnv::new();
    let mut first = Daemon::start(&env);
    // The first heartbeat says Offline before the connection task has looked at the config; wait for its reason.
    let heartbeat = first.wait_for("reported Offline with a reason", Duration::from_secs(10), |h| {
        h.connection.as_str() == "Offline" && h.connection_detail.is_some()
    });
    assert_eq!(heartbeat.connection_detail.as_deref(), Some("no sync server is configured"));

    let started = Instant::now();
    let second = env.run(&["sync", "daemon"]).expect_code(1);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        second.stderr.contains("a sync service is already running")
            && second.stderr.contains(&format!("pid {}", first.pid())),
        "{}",
        second.stderr
    );
    assert_eq!(daemon::read(&state_dir(&env)).map(|h| h.pid), Some(first.pid()), "the first one's heartbeat stays");

    let text = env.run(&["sync", "status"]).ok().stdout;
    assert!(text.contains("  Connection    Offline (no sync server is configured)\n"), "{text}");

    let (exit, took) = first.terminate(Duration::from_secs(5));
    assert_eq!(exit.code(), Some(0), "log:\n{}", first.log());
    assert!(took < Duration::from_secs(2), "stopping took {took:?}");
    assert!(daemon::read(&state_dir(&env)).is_none(), "the heartbeat is removed");
    let text = env.run(&["sync", "status"]).ok().stdout;
    assert!(text.contains("  Daemon        not running"), "{text}");
    env.run(&["sync", "daemon", "--interval", "0"]).expect_code(2);
}

/// Acceptance 6 with a daemon: while the server hangs, short commands still finish well within the
/// exit-flush budget (they leave delivery to the daemon), their events still travel over the open
/// socket, and stopping the daemon is bounded by its final flush.
#[test]
fn a_hanging_server_never_holds_short_commands_while_a_daemon_runs() {
    const BUDGET: Duration = Duration::from_millis(1500);
    let SyncFixture { server, env, .. } =
        SyncFixture::builder().env(feature_with_wps(1)).config("exit_flush_ms = 1500\n").logged_in();
    let mut daemon = Daemon::start(&env);
    daemon.wait_connection("Connected", Duration::from_secs(10));
    server.set_faults(Faults { hang: true, ..Faults::default() });

    for n in 0..3 {
        let note = format!("while the server hangs {n}");
        let started = Instant::now();
        env.run(&["agent", "tasks", "add-history", "WP01", "--note", &note, "--json"]).ok();
        let took = started.elapsed();
        assert!(took < BUDGET, "a short command took {took:?} with a daemon running and the server hanging");
        let id = queued_note(&env, &note).expect("queued");
        assert!(server.wait_for_ws_event_blocking(&id, Duration::from_secs(2)), "the open socket still works");
    }
    assert!(queued(&env).len() >= 3, "no batch could acknowledge them");

    let (exit, took) = daemon.terminate(Duration::from_secs(10));
    assert_eq!(exit.code(), Some(0), "log:\n{}", daemon.log());
    assert!(took < BUDGET + Duration::from_millis(2500), "the stop is bounded by the final flush: {took:?}");
    assert!(daemon.log().contains("final flush: 0 delivered"), "{}", daemon.log());
    assert!(!server.token_seen_in_url());
    assert_no_token_leaked(&env, &daemon, &[]);
}

/// The service inside a long command (the hook `orchestrate` uses): it pushes events like the daemon,
/// owns the home while it runs (a daemon refuses to start), stops within its bound, and stays passive
/// behind a running daemon until that daemon goes away.
#[test]
fn the_embedded_service_pushes_events_and_defers_to_a_daemon() {
    let SyncFixture { server, env, .. } = SyncFixture::builder().config("exit_flush_ms = 500\n").logged_in();
    // The test clock of the login, so the stored tokens are valid for this process too.
    let home = state_dir(&env);
    let ctx = Context::from_vars(None, |name| match name {
        "SPEC_KITTY_HOME" => Some(home.clone().into_os_string()),
        "SPEC_KITTY_NOW" => Some("2026-02-16T11:20:00Z".into()),
        _ => None,
    })
    .unwrap();
    let wait_status = |service: &BackgroundSync, status: ConnectionStatus| {
        wait_until(&format!("the embedded service reporting {status}"), Duration::from_secs(10), || {
            service.status() == status
        })
    };

    let service = BackgroundSync::start(&ctx, "orchestrate", None);
    wait_status(&service, ConnectionStatus::Connected);
    let heartbeat = daemon::read(&home).expect("a heartbeat");
    assert_eq!((heartbeat.pid, heartbeat.command.as_str()), (std::process::id(), "orchestrate"));
    let id = queue_events(&env, 1, 1).remove(0);
    assert!(server.wait_for_ws_event_blocking(&id, Duration::from_secs(2)), "pushed over the socket");
    let refused = env.run(&["sync", "daemon"]).expect_code(1);
    assert!(refused.stderr.contains("`spec-kitty orchestrate`"), "{}", refused.stderr);
    let started = Instant::now();
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(service.stop());
    assert!(started.elapsed() < Duration::from_millis(2000), "stop took {:?}", started.elapsed());
    assert!(daemon::read(&home).is_none(), "the heartbeat is removed");
    // `stop` is bounded, so on a loaded machine the service thread may still be letting go of the lock.
    wait_until("the stopped service releasing the home's lock", Duration::from_secs(30), || {
        daemon::ServiceLock::try_acquire(&home).is_ok_and(|lock| lock.is_some())
    });

    let mut daemon = Daemon::start(&env);
    daemon.wait_connection("Connected", Duration::from_secs(10));
    let connections = server.ws_connections();
    let passive = BackgroundSync::start(&ctx, "orchestrate", None);
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(passive.status(), ConnectionStatus::Offline, "passive while the daemon runs");
    assert_eq!(server.ws_connections(), connections, "no second socket");
    assert_eq!(daemon.terminate(Duration::from_secs(5)).0.code(), Some(0));
    wait_status(&passive, ConnectionStatus::Connected);
    assert_eq!(daemon::read(&home).map(|h| h.command), Some("orchestrate".into()), "taken over");
    let started = Instant::now();
    passive.stop_blocking();
    assert!(started.elapsed() < Duration::from_millis(2000), "stop took {:?}", started.elapsed());
    assert!(daemon::read(&home).is_none());
}

/// Whether `line` starts with the daemon log's timestamp (`2026-02-16T11:12:33Z `).
fn stamped(line: &str) -> bool {
    let bytes = line.as_bytes();
    bytes.len() > 21
        && line.is_char_boundary(21)
        && chrono::NaiveDateTime::parse_from_str(&line[..20], "%Y-%m-%dT%H:%M:%SZ").is_ok()
        && bytes[20] == b' '
}

/// The daemon's log goes through `tracing`: by default only its own INFO lines, each `<UTC time>
/// <message>`; with `-v` the diagnostics join them (`<time> DEBUG <module>: …`) and its own lines keep
/// their form.
#[test]
fn the_daemon_log_is_timestamped_lines_and_v_adds_diagnostics() {
    let env = TestEnv::new();
    let mut daemon = Daemon::start(&env);
    daemon.wait_connection("Offline", Duration::from_secs(10));
    assert_eq!(daemon.terminate(Duration::from_secs(5)).0.code(), Some(0));
    let log = daemon.log();
    let lines: Vec<&str> = log.lines().collect();
    assert!(lines.iter().all(|l| stamped(l)), "{log}");
    assert!(!log.contains("DEBUG") && !log.contains("spec_kitty::"), "no diagnostics without -v:\n{log}");
    let messages: Vec<&str> = lines.iter().map(|l| &l[21..]).collect();
    assert!(messages[0].starts_with(&format!("sync daemon started (pid {}) for ", daemon.pid())), "{log}");
    assert!(messages.contains(&"connection: Offline (no sync server is configured)"), "{log}");
    assert_eq!(messages.last(), Some(&"sync daemon stopped"), "{log}");

    let mut verbose = Daemon::start_with(&env, &["-v"], &[]);
    verbose.wait_connection("Offline", Duration::from_secs(10));
    assert_eq!(verbose.terminate(Duration::from_secs(5)).0.code(), Some(0));
    let log = verbose.log();
    assert!(log.lines().all(stamped), "{log}");
    assert!(
        log.lines().any(|l| l[21..].starts_with(
            "DEBUG spec_kitty::sync::ws: no WebSocket: waiting for a login or a server detail=no sync server is configured"
        )),
        "{log}"
    );
    assert!(log.lines().any(|l| &l[21..] == "connection: Offline (no sync server is configured)"), "{log}");
    assert!(log.trim_end().ends_with(" sync daemon stopped"), "{log}");
}

/// At the most verbose (`-vv`, `SPEC_KITTY_LOG=trace`: every module, dependencies included), the
/// daemon's log shows the socket being opened and events being pushed, and still no token, password
/// or Authorization header.
#[test]
fn a_tracing_daemon_logs_no_secret() {
    let SyncFixture { server, env, login: login_run, .. } =
        SyncFixture::builder().env(feature_with_wps(1)).config("batch_interval_ms = 200\n").logged_in();
    let mut daemon = Daemon::start_with(&env, &["-vv"], &[("SPEC_KITTY_LOG", "trace")]);
    daemon.wait_connection("Connected", Duration::from_secs(10));
    let run = env.run(&["agent", "tasks", "add-history", "WP01", "--note", "traced"]).ok();
    let id = queued_note(&env, "traced").expect("queued");
    assert!(server.wait_for_ws_event_blocking(&id, Duration::from_secs(5)), "log:\n{}", daemon.log());
    wait_until("the batch acknowledgement", Duration::from_secs(5), || queued(&env).is_empty());
    assert_eq!(daemon.terminate(Duration::from_secs(5)).0.code(), Some(0));
    let log = daemon.log();
    for expected in [
        "DEBUG spec_kitty::sync::ws: WebSocket open",
        "DEBUG spec_kitty::sync::ws: pushed over the WebSocket events=1",
        "/api/v1/ws-token/ status=200",
        "/api/v1/events/batch/ status=200",
    ] {
        assert!(log.contains(expected), "{expected}:\n{log}");
    }
    assert!(log.lines().any(|l| &l[21..] == "connection: Connected"), "{log}");
    assert!(!log.contains("secret") && !log.contains("Bearer"), "{log}");
    assert!(!log.to_ascii_lowercase().contains("authorization"), "{log}");
    assert_no_token_leaked(&env, &daemon, &[&login_run.stdout, &login_run.stderr, &run.stdout, &run.stderr]);
}
