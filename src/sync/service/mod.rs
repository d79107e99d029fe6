//! The background sync service: `spec-kitty sync daemon`, and the same loop inside long commands
//! (`orchestrate`) through [`BackgroundSync`].
//!
//! One service runs per spec-kitty home (`daemon.lock`, see [`super::daemon`]); an embedded service that
//! finds a daemon running stays passive and takes over only if the daemon goes away. While it runs:
//!
//! - it holds the WebSocket ([`ws::maintain`](super::ws::maintain)) and pushes each newly queued event over it within
//!   [`POLL_INTERVAL`]: it polls `PRAGMA data_version` on its own queue connection (a read of the WAL
//!   index in shared memory, no disk I/O, and it changes whenever another connection commits) and then
//!   reads the rows past the last row id it has seen. That cursor is the only record of what went over
//!   the socket and lives in memory: the rows stay queued until a batch acknowledges them;
//! - it delivers the queue by batch ([`runner::deliver_queue`](super::runner::deliver_queue), at most one request per
//!   `batch_interval_ms`, default 5 s, FR-033): [`ACK_DELAY`] after a push (the server answers
//!   `duplicate` for the pushed events, which acknowledges them), promptly for new events while no
//!   socket is open, when a socket opens, at start, and every `daemon_interval_secs` (default 300 s) in
//!   any case. After a failed run it retries with exponential backoff and jitter (0.5 s doubling to
//!   30 s, FR-032), counted from the end of the failed run, so a slow run never causes a burst of
//!   catch-up runs (atuin's `MissedTickBehavior::Skip`). Without a server or a login it waits for `auth
//!   login` or `sync server`: it watches the credentials and config files (their size and mtime, each
//!   poll) and applies a change at once — server, login, spacing and interval;
//! - it rewrites its heartbeat every [`daemon::HEARTBEAT_INTERVAL`](super::daemon::HEARTBEAT_INTERVAL) and on
//!   every connection change;
//! - when stopped it closes the socket, abandons a running batch (acknowledgements are committed per
//!   request, so nothing is left half-done), makes a final flush bounded by `exit_flush_ms`, removes its
//!   heartbeat and releases the lock.
//!
//! The service runs on a single-threaded runtime with a `LocalSet` (the daemon's main thread, or a
//! thread of its own inside a long command), so neither the queue connection nor the batch loop needs
//! to be `Send`, and it never competes with the host command's own runtime.

mod embedded;
mod log_line;
mod schedule;
mod standalone;
#[cfg(test)]
mod tests;
mod worker;

pub use embedded::BackgroundSync;
pub use standalone::{DaemonError, run_daemon};

use super::daemon::{ConnectionStatus, Heartbeat};
use std::path::PathBuf;
use std::time::Duration;
// The moved code still says `super::http`, as it did in one file.
use super::http;

/// How often the service looks for new events (and for login or config changes).
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// The batch that acknowledges pushed events waits this long, so that a burst of commands (an agent
/// moving several work packages) is acknowledged by one request.
pub const ACK_DELAY: Duration = Duration::from_secs(1);
/// Consecutive failed requests within one background run before it ends as offline; the service's own
/// backoff takes over from there.
const RUN_ATTEMPTS: u32 = 3;
/// How often a passive service checks whether it can take over.
const PASSIVE_CHECK: Duration = Duration::from_secs(2);
/// The socket's polite close at shutdown (it runs alongside the final flush).
const LINK_CLOSE_TIMEOUT: Duration = Duration::from_millis(1500);
/// The final flush's local steps (opening the queue and the credentials) beyond its network budget.
const FLUSH_GRACE: Duration = Duration::from_millis(200);
/// What [`BackgroundSync::stop`] allows beyond the flush or the close for the thread to wind down.
const STOP_SLACK: Duration = Duration::from_millis(300);
/// At most this many events are pushed per poll; a bigger burst (a bulk re-queue) goes by batch only.
const PUSH_MAX_EVENTS: usize = 1000;
const OUTBOX_CAPACITY: usize = 16;

/// How a service presents itself.
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    /// Shown in the heartbeat and by `sync status`: `sync daemon`, `orchestrate`, …
    pub command: String,
    /// Overrides `[sync] daemon_interval_secs`.
    pub interval: Option<Duration>,
}

impl ServiceOptions {
    pub fn new(command: impl Into<String>) -> ServiceOptions {
        ServiceOptions { command: command.into(), interval: None }
    }
}

/// Something worth a line in the daemon's log. Never carries a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceEvent {
    Started {
        pid: u32,
        home: PathBuf,
        interval: Duration,
        spacing: Duration,
    },
    /// Another service holds the lock; this one waits and takes over if it goes away.
    Passive {
        holder: Option<Heartbeat>,
    },
    TookOver,
    Connection {
        status: ConnectionStatus,
        detail: Option<String>,
    },
    SocketOpened {
        url: String,
        snapshot_work_packages: Option<usize>,
        unexpected_first_frame: Option<String>,
    },
    Pushed {
        events: usize,
    },
    /// A batch run ended with every queued event offered to the server.
    Delivered {
        delivered: u64,
        duplicates: u64,
        rejected: u64,
        dead_lettered: u64,
        remaining: u64,
    },
    /// A batch run could not deliver; the next one starts after `retry_in` (`None`: after a login or
    /// config change, or the interval).
    NotDelivered {
        reason: &'static str,
        detail: String,
        remaining: u64,
        retry_in: Option<Duration>,
    },
    /// A local problem (unreadable queue, config or heartbeat file).
    Problem(String),
    Stopping,
    FinalFlush {
        delivered: u64,
        remaining: u64,
        outcome: &'static str,
    },
    Stopped,
}

/// Receives the service's events (the daemon logs them; an embedded service may ignore them).
pub type Observer = Box<dyn FnMut(&ServiceEvent) + Send>;
