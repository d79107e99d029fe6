//! `spec-kitty dashboard`: the background server's lifecycle, its API (snapshots), its security rules
//! and the page as a real headless Chromium renders it. Every request is real HTTP over 127.0.0.1.

use crate::readme::{copy_dir, demo_project};
use crate::support::TestEnv;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

/// The demo project, with a running dashboard that is stopped when the test ends.
struct Dashboard {
    env: TestEnv,
    port: u16,
    pid: u32,
}

impl Dashboard {
    fn start() -> Dashboard {
        let env = TestEnv::bare();
        copy_dir(&demo_project(), &env.root());
        let started: Value = serde_json::from_str(&env.run(&["dashboard", "--json"]).ok().stdout).unwrap();
        assert_eq!(started["started"], true, "{started}");
        let port = started["port"].as_u64().unwrap() as u16;
        let pid = started["pid"].as_u64().unwrap() as u32;
        Dashboard { env, port, pid }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn get(&self, path: &str) -> (u16, String) {
        request(self.port, "GET", path, &self.host(), &[], "")
    }

    fn json(&self, path: &str) -> Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    /// A JSON answer with this machine's paths, the pid and file times replaced.
    fn snapshot(&self, path: &str) -> String {
        let text = serde_json::to_string_pretty(&self.json(path)).unwrap();
        let root = self.env.root().canonicalize().unwrap().display().to_string();
        let home = self.env.home().display().to_string();
        let text = text.replace(&root, "[ROOT]").replace(&home, "[HOME]").replace(&self.pid.to_string(), "[PID]");
        let mtime = regex_lite_replace(&text, "\"mtime\": ", "[MTIME]");
        regex_lite_replace(&mtime, "\"time_in_lane_seconds\": ", "[SECONDS]")
    }

    fn record(&self) -> PathBuf {
        self.env.path(".kittify/.dashboard")
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        let _ = self.env.run(&["dashboard", "--kill"]);
    }
}

/// Replaces the number after each `key` with `mask` (a float or integer; `null` is kept).
fn regex_lite_replace(text: &str, key: &str, mask: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(key) {
        let (head, tail) = rest.split_at(at + key.len());
        out.push_str(head);
        let end = tail.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(tail.len());
        out.push_str(if end == 0 { "" } else { mask });
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// One HTTP/1.1 request with the given Host header; returns the status and the body.
fn request(port: u16, method: &str, path: &str, host: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut text =
        format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(body);
    stream.write_all(text.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(body) } else { body.to_owned() };
    (status, body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

fn alive(pid: u32) -> bool {
    unsafe { libc::kill(pid as i32, 0) == 0 }
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..100 {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting until {what}");
}

#[test]
fn starts_once_is_reused_and_stops_with_kill() {
    let dashboard = Dashboard::start();
    let record = std::fs::read_to_string(dashboard.record()).unwrap();
    let lines: Vec<&str> = record.lines().collect();
    assert_eq!(lines.len(), 4, "upstream's four lines: URL, port, token, pid: {record:?}");
    assert_eq!(lines[0], format!("http://127.0.0.1:{}", dashboard.port));
    assert_eq!((lines[1], lines[3]), (dashboard.port.to_string().as_str(), dashboard.pid.to_string().as_str()));
    let token = lines[2];
    assert!(token.len() >= 32, "a real token: {token:?}");

    let health = dashboard.json("/api/health");
    assert_eq!(health["status"], "ok");
    assert!(!serde_json::to_string(&health).unwrap().contains(token), "health never reveals the token");

    let again: Value = serde_json::from_str(&dashboard.env.run(&["dashboard", "--json"]).ok().stdout).unwrap();
    assert_eq!((again["started"].as_bool(), again["pid"].as_u64()), (Some(false), Some(dashboard.pid as u64)));
    let text = dashboard.env.run(&["dashboard", "--no-open"]).ok().stdout;
    assert!(text.contains(&format!("Dashboard already running on port {}", dashboard.port)), "{text}");

    let killed = dashboard.env.run(&["dashboard", "--kill"]).ok();
    assert!(killed.stdout.contains("Dashboard stopped"), "{}", killed.stdout);
    wait_until("the server exits", || !alive(dashboard.pid));
    assert!(!dashboard.record().exists(), "the record is removed");
    let again = dashboard.env.run(&["dashboard", "--kill"]).ok();
    assert!(again.stdout.contains("No dashboard"), "{}", again.stdout);
}

#[test]
fn a_stale_record_is_replaced_by_a_new_server() {
    let env = TestEnv::bare();
    copy_dir(&demo_project(), &env.root());
    // A record left by a server that died: its port answers nothing and its pid is gone.
    env.write(".kittify/.dashboard", "http://127.0.0.1:9\n9\nold-token\n999999999\n");
    let started: Value = serde_json::from_str(&env.run(&["dashboard", "--json"]).ok().stdout).unwrap();
    assert_eq!(started["started"], true);
    let record = env.read(".kittify/.dashboard");
    assert!(!record.contains("old-token"), "{record}");
    env.run(&["dashboard", "--kill"]).ok();
}

#[test]
fn security_rules_hold() {
    let dashboard = Dashboard::start();
    let port = dashboard.port;
    let token = std::fs::read_to_string(dashboard.record()).unwrap().lines().nth(2).unwrap().to_owned();

    // DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends its own Host.
    let (status, body) = request(port, "GET", "/api/features", &format!("evil.example:{port}"), &[], "");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("host_not_allowed"), "{body}");
    assert_eq!(request(port, "GET", "/api/health", &format!("localhost:{port}"), &[], "").0, 200);

    // State changes need the token.
    let host = dashboard.host();
    assert_eq!(request(port, "POST", "/api/shutdown", &host, &[], "").0, 403);
    assert_eq!(request(port, "POST", "/api/shutdown", &host, &[("X-Spec-Kitty-Token", "wrong")], "").0, 403);
    assert_eq!(request(port, "POST", "/api/shutdown", &host, &[], r#"{"token": "wrong"}"#).0, 403);
    assert_eq!(request(port, "GET", "/api/shutdown", &host, &[], "").0, 405, "only POST stops it");
    assert!(alive(dashboard.pid), "nothing stopped the server yet");

    // Paths never leave the feature directory.
    for path in [
        "/api/research/001-bookmark-capture/..%2Fspec.md",
        "/api/research/001-bookmark-capture/../../../../etc/passwd",
        "/api/contracts/001-bookmark-capture/%2E%2E/%2E%2E/.kittify/.dashboard",
        "/api/artifact/..%2F..%2Fetc/spec",
        "/api/kanban/..%2F.kittify",
    ] {
        let (status, body) = dashboard.get(path);
        assert!(matches!(status, 400 | 403 | 404), "{path}: {status} {body}");
        assert!(!body.contains(&token) && !body.contains("root:"), "{path} leaked: {body}");
    }
    std::fs::create_dir_all(dashboard.env.path("kitty-specs/001-bookmark-capture/research")).unwrap();
    let (status, body) = dashboard.get("/api/research/001-bookmark-capture/..%2F..%2F..%2F.kittify%2F.dashboard");
    assert_eq!(status, 403, "{body}");

    // With the token it stops, and removes its record.
    let (status, _) = request(port, "POST", "/api/shutdown", &host, &[("X-Spec-Kitty-Token", &token)], "");
    assert_eq!(status, 200);
    wait_until("the server exits", || !alive(dashboard.pid));
    assert!(!dashboard.record().exists());
}

#[test]
fn api_answers_match_the_cli_reports() {
    let dashboard = Dashboard::start();
    insta::assert_snapshot!("dashboard_kanban", dashboard.snapshot("/api/kanban/002-tags-and-search"));
    insta::assert_snapshot!("dashboard_costs_by_role", dashboard.snapshot("/api/costs?group_by=role"));
    insta::assert_snapshot!("dashboard_sync", dashboard.snapshot("/api/sync"));

    // One source of truth: the rows are what `agent telemetry cost --json` prints.
    let cli: Value = serde_json::from_str(
        &dashboard.env.run(&["agent", "telemetry", "cost", "--group-by", "agent,model", "--json"]).ok().stdout,
    )
    .unwrap();
    let api = dashboard.json("/api/costs?group_by=agent,model");
    assert_eq!(api["rows"], cli);
    let cli: Value = serde_json::from_str(&dashboard.env.run(&["sync", "status", "--json"]).ok().stdout).unwrap();
    assert_eq!(dashboard.json("/api/sync"), cli);

    let features = dashboard.json("/api/features");
    let ids: Vec<&str> = features["features"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["003-reading-list-export", "002-tags-and-search", "001-bookmark-capture"]);
    let events = dashboard.json("/api/events?feature=001-bookmark-capture");
    let flow = &events["cumulative_flow"];
    let last = flow["days"].as_array().unwrap().len() - 1;
    assert_eq!(flow["series"]["done"][last], 4, "all four WPs of 001 end done: {flow}");

    let (status, body) = dashboard.get("/api/costs?group_by=colour");
    assert_eq!(status, 400, "{body}");
    let (status, body) = dashboard.get("/api/artifact/001-bookmark-capture/spec?format=html");
    assert_eq!(status, 200);
    assert!(
        body.contains(">Feature Specification: Bookmark Capture</h1>") && body.contains("&quot;I want to save a link"),
        "{body}"
    );
}

/// Headless Chromium (Debian's `chromium-headless-shell` or `chromium`), if installed.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium-headless-shell", "chromium", "chromium-browser"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

#[test]
fn the_page_renders_cards_and_charts_in_a_real_browser() {
    let Some(browser) = chromium() else {
        eprintln!("notice: no headless Chromium on PATH; the browser test is skipped (.ci/run installs it)");
        return;
    };
    let dashboard = Dashboard::start();
    let profile = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--virtual-time-budget=8000"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--dump-dom", &format!("http://127.0.0.1:{}/", dashboard.port)])
        .output()
        .expect("run chromium");
    let dom = String::from_utf8_lossy(&output.stdout);
    assert!(dom.contains(r#"data-ready="true""#), "the script ran to the end:\n{dom}");
    // The latest feature is selected first: its three WPs are cards.
    for wp in ["WP01", "WP02", "WP03"] {
        assert!(dom.contains(&format!(r#"data-wp="{wp}""#)), "card {wp} missing:\n{dom}");
    }
    assert!(dom.contains("Markdown Export"), "a card's title");
    for chart in ["svg-cost-role", "svg-cost-wp", "svg-cost-day", "svg-tokens-day", "svg-flow"] {
        assert!(dom.contains(&format!(r#"id="{chart}""#)), "chart {chart} missing:\n{dom}");
    }
    assert!(dom.matches(r#"class="seg""#).count() > 20, "the charts have bars");
    assert!(dom.contains("$8.83 over 42 events"), "the cost total of the demo");
    assert!(dom.contains(r#"id="agent-table""#) && dom.contains("gpt-5.1-codex"), "agents and models");
    assert!(dom.contains(r#"id="sync-queue""#), "the sync panel");
    assert!(!dom.contains("Some panels could not refresh"), "every panel loaded");
}

#[test]
fn concurrent_starts_share_one_server() {
    let env = TestEnv::bare();
    copy_dir(&demo_project(), &env.root());
    let children: Vec<_> = (0..4)
        .map(|_| {
            let mut cmd = env.command();
            cmd.args(["dashboard", "--json"]).stdout(std::process::Stdio::piped()).spawn().unwrap()
        })
        .collect();
    let answers = crate::support::json_outputs(children);
    let started = answers.iter().filter(|a| a["started"] == true).count();
    let pids: std::collections::BTreeSet<u64> = answers.iter().map(|a| a["pid"].as_u64().unwrap()).collect();
    env.run(&["dashboard", "--kill"]).ok();
    assert_eq!((started, pids.len()), (1, 1), "one server started, every caller got it: {answers:?}");
}

#[test]
fn a_server_whose_record_is_removed_stops_by_itself() {
    // An orphan: its record was deleted (a `git clean`, a hand cleanup), so nothing could find or stop it.
    let dashboard = Dashboard::start();
    std::fs::remove_file(dashboard.record()).unwrap();
    wait_until("the orphaned server exits", || !alive(dashboard.pid));
}
