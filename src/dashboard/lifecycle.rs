//! Starting, finding and stopping a project's dashboard from the `dashboard` command.
//!
//! A dashboard runs as its own process (`spec-kitty -C <root> dashboard --foreground --no-open
//! --spawned`, detached into its own session, its output in `.kittify/runtime/dashboard.log`). Once it
//! listens it writes `.kittify/.dashboard` (see [`super::record`]); the command waits for that record to
//! name the process it started and for `/api/health` to confirm the project and the token, then returns.
//!
//! Reuse and clean-up, as upstream: a healthy dashboard named by the record is reused; a record whose
//! process is dead is removed; a live process that no longer answers is stopped when it is one of our
//! dashboards (its command line says so), never otherwise. Orphans clean themselves up: a server whose
//! record disappears or names another process stops within seconds (see [`super::server`]), so no port
//! scan for strays is needed. Starts are serialised by a lock file, so two concurrent `dashboard`
//! calls end with one server.

use super::client::{self, TOKEN_HEADER};
use super::record::{self, LOCK_FILE, LOG_FILE, Record};
use serde_json::Value;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a start may take before the command gives up (upstream waits about 20 s).
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a graceful stop may take before the process is terminated.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
const HEALTH_TIMEOUT: Duration = Duration::from_millis(800);
const LOCK_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error("cannot prepare {}: {source}", path.display())]
    Runtime { path: PathBuf, source: std::io::Error },
    #[error("cannot start the dashboard ({}): {source}", exe.display())]
    Spawn { exe: PathBuf, source: std::io::Error },
    #[error("the dashboard process exited during start-up ({status}){}", log_excerpt(.log_tail))]
    Exited { status: String, log_tail: String },
    #[error("the dashboard did not become ready within {}s{}", START_TIMEOUT.as_secs(), log_excerpt(.log_tail))]
    NotReady { log_tail: String },
    #[error("cannot read {}: {source}", path.display())]
    Record { path: PathBuf, source: std::io::Error },
    #[error("a dashboard already runs for this project at {url} (pid {pid})")]
    AlreadyRunning { url: String, pid: String },
}

impl crate::error::Diagnose for DashboardError {
    fn hints(&self) -> Vec<String> {
        match self {
            DashboardError::Exited { .. } | DashboardError::NotReady { .. } => vec![format!(
                "the whole log is in {}/{LOG_FILE}; try another port with `spec-kitty dashboard --port N`",
                record::RUNTIME_DIR
            )],
            DashboardError::AlreadyRunning { .. } => {
                vec!["open that URL, or stop it first with `spec-kitty dashboard --kill`".into()]
            }
            DashboardError::Record { .. } => vec![format!("remove {} and retry", record::RECORD_FILE)],
            _ => Vec::new(),
        }
    }
}

fn log_excerpt(tail: &str) -> String {
    if tail.trim().is_empty() { String::new() } else { format!("; its log ends with:\n{}", tail.trim_end()) }
}

/// A dashboard that answers for this project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    pub url: String,
    pub port: u16,
    pub pid: Option<u32>,
    /// Started by this call (false: an existing one is reused).
    pub started: bool,
}

/// What `--kill` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped {
    pub stopped: bool,
    pub message: String,
}

/// Whether the dashboard on `port` serves the project at `root` and knows `token`.
pub fn healthy(port: u16, root: &Path, token: Option<&str>) -> bool {
    let headers: Vec<(&str, &str)> = token.map(|t| vec![(TOKEN_HEADER, t)]).unwrap_or_default();
    let Ok(response) = client::request(port, "GET", "/api/health", &headers, None, HEALTH_TIMEOUT) else {
        return false;
    };
    let Ok(body) = serde_json::from_str::<Value>(&response.body) else { return false };
    let same_project = body["project_path"].as_str().is_some_and(|p| same_path(Path::new(p), root));
    response.status == 200
        && body["status"] == "ok"
        && same_project
        && (token.is_none() || body["token_valid"] == Value::Bool(true))
}

fn same_path(a: &Path, b: &Path) -> bool {
    let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_owned());
    canonical(a) == canonical(b)
}

/// The project's dashboard when its record names one that is healthy.
pub fn find_running(root: &Path) -> Result<Option<(Record, u16)>, DashboardError> {
    let record =
        record::read(root).map_err(|source| DashboardError::Record { path: record::record_path(root), source })?;
    Ok(record.and_then(|r| {
        let port = r.port?;
        healthy(port, root, r.token.as_deref()).then_some((r, port))
    }))
}

/// Reuses the project's healthy dashboard, or cleans up after a dead one and starts a new one with
/// `exe` (our own binary), preferring `port`.
pub fn ensure_running(root: &Path, exe: &Path, port: Option<u16>) -> Result<Running, DashboardError> {
    let runtime = record::runtime_dir(root);
    let runtime_error = |path: &Path| {
        let path = path.to_owned();
        move |source| DashboardError::Runtime { path, source }
    };
    std::fs::create_dir_all(&runtime).map_err(runtime_error(&runtime))?;
    crate::fsutil::ensure_within(root, &runtime).map_err(runtime_error(&runtime))?;
    let lock_path = runtime.join(LOCK_FILE);
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(runtime_error(&lock_path))?;
    crate::fsutil::lock_exclusive(&lock, &lock_path, LOCK_TIMEOUT).map_err(runtime_error(&lock_path))?;

    if let Some((record, port)) = find_running(root)? {
        return Ok(Running { url: record.url, port, pid: record.pid, started: false });
    }
    clean_up_stale(root);

    let log_path = runtime.join(LOG_FILE);
    let log =
        OpenOptions::new().create(true).truncate(true).write(true).open(&log_path).map_err(runtime_error(&log_path))?;
    let mut command = Command::new(exe);
    command.arg("-C").arg(root).args(["dashboard", "--foreground", "--no-open", "--spawned"]);
    if let Some(port) = port {
        command.args(["--port", &port.to_string()]);
    }
    let stderr = log.try_clone().map_err(runtime_error(&log_path))?;
    command.stdin(Stdio::null()).stdout(log).stderr(stderr);
    let mut child = command.spawn().map_err(|source| DashboardError::Spawn { exe: exe.to_owned(), source })?;
    let pid = child.id();
    tracing::debug!(pid, exe = %exe.display(), "dashboard process started; waiting for it to listen");

    let deadline = Instant::now() + START_TIMEOUT;
    let mut pause = Duration::from_millis(10);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(DashboardError::Exited { status: status.to_string(), log_tail: log_tail(&log_path) });
        }
        if let Ok(Some(record)) = record::read(root)
            && record.pid == Some(pid)
            && let Some(port) = record.port
            && healthy(port, root, record.token.as_deref())
        {
            // The child lives on in its own session; it is reaped by init when we exit.
            return Ok(Running { url: record.url, port, pid: Some(pid), started: true });
        }
        if Instant::now() >= deadline {
            terminate(pid);
            return Err(DashboardError::NotReady { log_tail: log_tail(&log_path) });
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// Removes a record whose dashboard does not answer, stopping its process first when it is alive and
/// one of ours.
fn clean_up_stale(root: &Path) {
    if let Ok(Some(record)) = record::read(root) {
        if let Some(pid) = record.pid
            && pid_alive(pid)
            && is_our_dashboard(pid)
        {
            tracing::debug!(pid, "stopping an unresponsive dashboard");
            terminate(pid);
        }
        record::remove(root, None);
    }
}

/// Stops the project's dashboard: `POST /api/shutdown` with the token, then SIGTERM (and SIGKILL) to
/// the recorded process if it is our dashboard and does not stop; the record is removed.
pub fn stop(root: &Path) -> Result<Stopped, DashboardError> {
    let record =
        record::read(root).map_err(|source| DashboardError::Record { path: record::record_path(root), source })?;
    let Some(record) = record else {
        return Ok(Stopped { stopped: false, message: "No dashboard metadata found.".into() });
    };
    let Some(port) = record.port else {
        record::remove(root, None);
        return Ok(Stopped { stopped: false, message: "Dashboard metadata was invalid and has been cleared.".into() });
    };
    let ours = |pid: u32| pid_alive(pid) && is_our_dashboard(pid);
    if !healthy(port, root, record.token.as_deref()) {
        record::remove(root, None);
        if let Some(pid) = record.pid.filter(|&pid| ours(pid)) {
            terminate(pid);
            return Ok(Stopped {
                stopped: true,
                message: format!("Stopped the unresponsive dashboard process (pid {pid}); metadata cleared."),
            });
        }
        return Ok(Stopped {
            stopped: false,
            message: "Dashboard was already stopped. Metadata has been cleared.".into(),
        });
    }
    let body = serde_json::json!({"token": record.token}).to_string();
    let asked =
        client::request(port, "POST", "/api/shutdown", &[], Some(&body), HEALTH_TIMEOUT).is_ok_and(|r| r.status == 200);
    let deadline = Instant::now() + STOP_TIMEOUT;
    while asked && Instant::now() < deadline {
        let gone = client::request(port, "GET", "/api/health", &[], None, HEALTH_TIMEOUT).is_err();
        if gone && record.pid.is_none_or(|pid| !pid_alive(pid)) {
            record::remove(root, None);
            return Ok(Stopped {
                stopped: true,
                message: format!("Dashboard stopped and metadata cleared (port {port})."),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    match record.pid.filter(|&pid| ours(pid)) {
        Some(pid) => {
            terminate(pid);
            record::remove(root, None);
            Ok(Stopped { stopped: true, message: format!("Dashboard stopped via process termination (pid {pid}).") })
        }
        None if asked => {
            record::remove(root, None);
            Ok(Stopped { stopped: true, message: format!("Dashboard stopped and metadata cleared (port {port}).") })
        }
        None => Ok(Stopped { stopped: false, message: format!("Dashboard on port {port} refused to shut down.") }),
    }
}

/// The last lines of the start-up log.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}

fn pid_of(pid: u32) -> Option<rustix::process::Pid> {
    i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw)
}

pub fn pid_alive(pid: u32) -> bool {
    pid_of(pid).is_some_and(|p| match rustix::process::test_kill_process(p) {
        Ok(()) => true,
        Err(e) => e == rustix::io::Errno::PERM,
    }) && !is_zombie(pid)
}

/// A zombie (exited, not yet reaped) is not alive.
fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next().map(|s| s == "Z")))
        .unwrap_or(false)
}

/// Whether `pid` runs a dashboard server of ours (`spec-kitty … dashboard --foreground …`), judged by
/// its command line: a recycled pid is never signalled.
pub fn is_our_dashboard(pid: u32) -> bool {
    let args: Vec<String> = match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(raw) => raw.split(|&b| b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect(),
        Err(_) => match Command::new("ps").args(["-o", "command=", "-p", &pid.to_string()]).output() {
            Ok(out) => String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_owned).collect(),
            Err(_) => return false,
        },
    };
    let program = args.first().map(|a| a.rsplit('/').next().unwrap_or(a).to_owned()).unwrap_or_default();
    program.starts_with("spec-kitty")
        && args.iter().any(|a| a == "dashboard")
        && args.iter().any(|a| a == "--foreground")
}

/// SIGTERM, a few seconds' grace, then SIGKILL.
fn terminate(pid: u32) {
    use rustix::process::{Signal, kill_process};
    let Some(target) = pid_of(pid) else { return };
    let _ = kill_process(target, Signal::TERM);
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if !pid_alive(pid) {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let _ = kill_process(target, Signal::KILL);
}
