//! Who runs the background sync service for a spec-kitty home, and how its connection is:
//! `~/.spec-kitty/daemon.lock` and `~/.spec-kitty/daemon.json`.
//!
//! - The lock (an exclusive `flock` held for the service's lifetime) makes the service a singleton per
//!   home: a second `sync daemon` refuses to start, and `orchestrate`'s embedded service stays passive
//!   while a daemon runs. The kernel releases it when the process dies, so a crash never leaves it held.
//! - The heartbeat file is what other processes read: `sync status` (Connection and Daemon rows), the
//!   stderr indicator of emitting commands, and the exit flush, which short commands skip while a live
//!   service will deliver their events within a second. It is rewritten on every connection change and
//!   every [`HEARTBEAT_INTERVAL`], and never holds a token.
//!
//! Liveness is judged on the wall clock (not `SPEC_KITTY_NOW`, which pins event timestamps in tests): a
//! heartbeat older than [`STALE_AFTER`], or one whose pid is gone, means no service is running.
//! Readers never take the lock: testing it would mean briefly holding it, and a daemon starting at that
//! moment would wrongly believe another one runs.

use super::state::rfc3339;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const HEARTBEAT_FILE: &str = "daemon.json";
pub const LOCK_FILE: &str = "daemon.lock";
/// How often a running service rewrites its heartbeat.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(2);
/// A heartbeat older than this is a dead or stuck service. Generous (several missed beats) because a
/// service may wait out a busy queue (`queue_busy_timeout_ms`) between beats.
pub const STALE_AFTER: Duration = Duration::from_secs(15);

/// The connection states of FR-036, spelled as the spec spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConnectionStatus {
    /// The WebSocket is open: new events reach the server as they are queued.
    Connected,
    /// The WebSocket dropped or cannot be opened yet; retrying with backoff.
    Reconnecting,
    /// Nothing is sent: no service runs, no server is configured, or nobody is logged in.
    Offline,
    /// Logged in, but the WebSocket is unavailable (refused, or retries exhausted): events go by batch.
    #[serde(rename = "Offline-BatchMode")]
    OfflineBatchMode,
}

impl ConnectionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionStatus::Connected => "Connected",
            ConnectionStatus::Reconnecting => "Reconnecting",
            ConnectionStatus::Offline => "Offline",
            ConnectionStatus::OfflineBatchMode => "Offline-BatchMode",
        }
    }
}

impl std::fmt::Display for ConnectionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The contents of `daemon.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub pid: u32,
    /// `sync daemon`, or the long command that embeds the service (e.g. `orchestrate`).
    pub command: String,
    #[serde(with = "rfc3339")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(with = "rfc3339")]
    pub heartbeat_at: Option<DateTime<Utc>>,
    pub connection: ConnectionStatus,
    /// Why the connection is not `Connected` (e.g. "connection refused"), never a secret.
    #[serde(default)]
    pub connection_detail: Option<String>,
    #[serde(default)]
    pub server_url: Option<String>,
    /// Seconds between batch deliveries when nothing triggers one sooner.
    #[serde(default)]
    pub interval_secs: u64,
    #[serde(default, with = "rfc3339")]
    pub last_push_at: Option<DateTime<Utc>>,
    /// Events sent over the WebSocket since the service started.
    #[serde(default)]
    pub events_pushed: u64,
    #[serde(default, with = "rfc3339")]
    pub last_batch_at: Option<DateTime<Utc>>,
    /// How the last batch run ended (`drained`, `offline`, …; see `StopReason::as_str`).
    #[serde(default)]
    pub last_batch_outcome: Option<String>,
}

impl Heartbeat {
    /// How long ago the heartbeat was written (zero when it claims to be from the future).
    pub fn age(&self, now: DateTime<Utc>) -> Duration {
        self.heartbeat_at.map_or(Duration::MAX, |at| (now - at).to_std().unwrap_or(Duration::ZERO))
    }

    fn is_fresh(&self, now: DateTime<Utc>) -> bool {
        let stale = TimeDelta::from_std(STALE_AFTER).unwrap_or(TimeDelta::MAX);
        // A heartbeat far in the future comes from a clock that jumped; do not trust it either.
        self.heartbeat_at.is_some_and(|at| now - at <= stale && at - now <= stale)
    }
}

/// Whether a service runs for a home.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    /// A live service: fresh heartbeat, process alive.
    Running(Heartbeat),
    /// A heartbeat file left by a service that died or stopped beating.
    Stale(Heartbeat),
    Absent,
}

impl Presence {
    pub fn running(&self) -> Option<&Heartbeat> {
        match self {
            Presence::Running(heartbeat) => Some(heartbeat),
            _ => None,
        }
    }
}

/// Reads the heartbeat file of `home` and judges it at `now` (the wall clock).
pub fn presence(home: &Path, now: DateTime<Utc>) -> Presence {
    match read(home) {
        Some(heartbeat) if heartbeat.is_fresh(now) && pid_alive(heartbeat.pid) => Presence::Running(heartbeat),
        Some(heartbeat) => Presence::Stale(heartbeat),
        None => Presence::Absent,
    }
}

/// The live service of `home`, if any (the check short commands make before their exit flush).
pub fn running(home: &Path) -> Option<Heartbeat> {
    match presence(home, Utc::now()) {
        Presence::Running(heartbeat) => Some(heartbeat),
        _ => None,
    }
}

pub fn read(home: &Path) -> Option<Heartbeat> {
    let bytes = crate::fsutil::read_small(&home.join(HEARTBEAT_FILE), crate::fsutil::SMALL_FILE_CAP).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Replaces the heartbeat file atomically (only the lock holder writes it).
pub fn write(home: &Path, heartbeat: &Heartbeat) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(heartbeat).map_err(std::io::Error::other)?;
    crate::fsutil::write_atomic_locked(&home.join(HEARTBEAT_FILE), text.as_bytes())
}

/// Removes the heartbeat file if it is `pid`'s (a successor's file is left alone).
pub fn remove(home: &Path, pid: u32) {
    if read(home).is_none_or(|heartbeat| heartbeat.pid == pid) {
        let _ = std::fs::remove_file(home.join(HEARTBEAT_FILE));
    }
}

fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    if pid <= 0 {
        return false;
    }
    // Signal 0 only checks that the process exists; EPERM means it exists but belongs to someone else.
    // SAFETY: kill(2) with signal 0 has no side effects.
    let result = unsafe { libc::kill(pid, 0) };
    result == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The exclusive service lock of a home; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct ServiceLock {
    _file: File,
    home: PathBuf,
}

impl ServiceLock {
    /// Takes the lock without waiting; `Ok(None)` when another service holds it.
    pub fn try_acquire(home: &Path) -> std::io::Result<Option<ServiceLock>> {
        std::fs::create_dir_all(home)?;
        let file = OpenOptions::new().create(true).truncate(false).write(true).open(home.join(LOCK_FILE))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(ServiceLock { _file: file, home: home.to_owned() })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }

    pub fn home(&self) -> &Path {
        &self.home
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beat(pid: u32, at: DateTime<Utc>) -> Heartbeat {
        Heartbeat {
            pid,
            command: "sync daemon".into(),
            started_at: Some(at),
            heartbeat_at: Some(at),
            connection: ConnectionStatus::OfflineBatchMode,
            connection_detail: None,
            server_url: Some("http://127.0.0.1:1".into()),
            interval_secs: 300,
            last_push_at: None,
            events_pushed: 0,
            last_batch_at: None,
            last_batch_outcome: None,
        }
    }

    #[test]
    fn a_fresh_heartbeat_of_a_live_process_is_a_running_service() {
        let dir = tempfile::tempdir().unwrap();
        // Whole seconds: the file keeps microseconds.
        let now = DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap();
        assert_eq!(presence(dir.path(), now), Presence::Absent);
        let mine = beat(std::process::id(), now);
        write(dir.path(), &mine).unwrap();
        let text = std::fs::read_to_string(dir.path().join(HEARTBEAT_FILE)).unwrap();
        assert!(text.contains("\"connection\": \"Offline-BatchMode\""), "{text}");
        assert_eq!(presence(dir.path(), now + TimeDelta::seconds(3)), Presence::Running(mine.clone()));
        assert!(matches!(presence(dir.path(), now + TimeDelta::seconds(60)), Presence::Stale(_)));
        assert!(matches!(presence(dir.path(), now - TimeDelta::seconds(60)), Presence::Stale(_)), "from the future");
        assert_eq!(mine.age(now + TimeDelta::seconds(3)), Duration::from_secs(3));

        // A pid that cannot exist (above the kernel's pid_max) is a dead service.
        write(dir.path(), &beat(i32::MAX as u32, now)).unwrap();
        assert!(matches!(presence(dir.path(), now), Presence::Stale(_)));
        remove(dir.path(), std::process::id());
        assert!(read(dir.path()).is_some(), "another pid's file is left alone");
        remove(dir.path(), i32::MAX as u32);
        assert_eq!(presence(dir.path(), now), Presence::Absent);
        std::fs::write(dir.path().join(HEARTBEAT_FILE), "{oops").unwrap();
        assert_eq!(presence(dir.path(), now), Presence::Absent);
    }

    #[test]
    fn the_lock_admits_one_service_per_home() {
        let dir = tempfile::tempdir().unwrap();
        let first = ServiceLock::try_acquire(dir.path()).unwrap().expect("free");
        assert!(ServiceLock::try_acquire(dir.path()).unwrap().is_none());
        drop(first);
        assert!(ServiceLock::try_acquire(dir.path()).unwrap().is_some());
    }
}
