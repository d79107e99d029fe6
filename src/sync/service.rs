//! The background sync service: `spec-kitty sync daemon`, and the same loop inside long commands
//! (`orchestrate`) through [`BackgroundSync`].
//!
//! One service runs per spec-kitty home (`daemon.lock`, see [`super::daemon`]); an embedded service that
//! finds a daemon running stays passive and takes over only if the daemon goes away. While it runs:
//!
//! - it holds the WebSocket ([`ws::maintain`]) and pushes each newly queued event over it within
//!   [`POLL_INTERVAL`]: it polls `PRAGMA data_version` on its own queue connection (a read of the WAL
//!   index in shared memory, no disk I/O, and it changes whenever another connection commits) and then
//!   reads the rows past the last row id it has seen. That cursor is the only record of what went over
//!   the socket and lives in memory: the rows stay queued until a batch acknowledges them;
//! - it delivers the queue by batch ([`runner::deliver_queue`], at most one request per
//!   `batch_interval_ms`, default 5 s, FR-033): [`ACK_DELAY`] after a push (the server answers
//!   `duplicate` for the pushed events, which acknowledges them), promptly for new events while no
//!   socket is open, when a socket opens, at start, and every `daemon_interval_secs` (default 300 s) in
//!   any case. After a failed run it retries with exponential backoff and jitter (0.5 s doubling to
//!   30 s, FR-032), counted from the end of the failed run, so a slow run never causes a burst of
//!   catch-up runs (atuin's `MissedTickBehavior::Skip`). Without a server or a login it waits for `auth
//!   login` or `sync server`: it watches the credentials and config files (their size and mtime, each
//!   poll) and applies a change at once — server, login, spacing and interval;
//! - it rewrites its heartbeat every [`daemon::HEARTBEAT_INTERVAL`] and on every connection change;
//! - when stopped it closes the socket, abandons a running batch (acknowledgements are committed per
//!   request, so nothing is left half-done), makes a final flush bounded by `exit_flush_ms`, removes its
//!   heartbeat and releases the lock.
//!
//! The service runs on a single-threaded runtime with a `LocalSet` (the daemon's main thread, or a
//! thread of its own inside a long command), so neither the queue connection nor the batch loop needs
//! to be `Send`, and it never competes with the host command's own runtime.

use super::auth::CredentialStore;
use super::backoff::NETWORK as RETRY;
use super::config::{CONFIG_FILE, UserConfig};
use super::daemon::{self, ConnectionStatus, Heartbeat, ServiceLock};
use super::delivery::{DeliveryOptions, DeliveryReport, Progress, StopReason};
use super::queue::{OfflineQueue, QueueError, QueueRow};
use super::runner::{self, RunnerError, SyncEnv};
use super::ws::{self, LinkChannels, LinkEvent};
use crate::context::Context;
use chrono::Utc;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinError, JoinHandle, LocalSet};
use tokio::time::Instant;

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

/// When the next batch run may start.
#[derive(Debug)]
struct Schedule {
    interval: Duration,
    spacing: Duration,
    /// The next run that happens whatever else does.
    periodic_at: Instant,
    /// Events are waiting: a run is wanted at this time.
    wanted_at: Option<Instant>,
    /// After failures, no run before this.
    retry_at: Option<Instant>,
    failures: u32,
    /// No server or no login: wanted runs wait for a change (or the periodic run).
    blocked: bool,
    last_start: Option<Instant>,
}

/// How a run went, as far as scheduling cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunClass {
    Done,
    Blocked,
    Transient,
    Slow,
}

impl Schedule {
    fn new(interval: Duration, spacing: Duration, now: Instant) -> Schedule {
        Schedule {
            interval,
            spacing,
            periodic_at: now + interval,
            wanted_at: Some(now),
            retry_at: None,
            failures: 0,
            blocked: false,
            last_start: None,
        }
    }

    fn want(&mut self, at: Instant) {
        self.wanted_at = Some(self.wanted_at.map_or(at, |wanted| wanted.min(at)));
    }

    fn unblock(&mut self, now: Instant) {
        self.blocked = false;
        self.retry_at = None;
        self.want(now);
    }

    fn next_run(&self) -> Instant {
        let wanted = self.wanted_at.filter(|_| !self.blocked);
        let mut due = wanted.map_or(self.periodic_at, |wanted| wanted.min(self.periodic_at));
        if let Some(retry) = self.retry_at {
            due = due.max(retry);
        }
        if let Some(last) = self.last_start {
            due = due.max(last + self.spacing);
        }
        due
    }

    fn started(&mut self, now: Instant) {
        self.last_start = Some(now);
        self.wanted_at = None;
    }

    /// Folds a finished run in; returns when the next try is due after a failure.
    fn finished(&mut self, class: RunClass, now: Instant) -> Option<Duration> {
        self.periodic_at = now + self.interval;
        match class {
            RunClass::Done => {
                self.failures = 0;
                self.retry_at = None;
                self.blocked = false;
                None
            }
            RunClass::Blocked => {
                self.blocked = true;
                self.retry_at = None;
                self.want(now);
                None
            }
            RunClass::Transient | RunClass::Slow => {
                self.failures = self.failures.saturating_add(1);
                let wait = match class {
                    RunClass::Transient => RETRY.jittered_delay(self.failures),
                    _ => self.interval,
                };
                self.retry_at = Some(now + wait);
                self.want(now);
                Some(wait)
            }
        }
    }
}

fn classify(stop: &StopReason) -> RunClass {
    match stop {
        StopReason::Drained => RunClass::Done,
        StopReason::NotConfigured | StopReason::NotLoggedIn { .. } | StopReason::LoginRequired { .. } => {
            RunClass::Blocked
        }
        StopReason::Offline { .. } | StopReason::Deadline | StopReason::Stalled => RunClass::Transient,
        // The server refuses us outright (403, 404) or something local is broken: do not hammer.
        StopReason::Refused { .. } | StopReason::Failed { .. } => RunClass::Slow,
    }
}

/// The service's own queue connection, for noticing and reading new events.
struct Reader {
    path: PathBuf,
    queue: Option<OfflineQueue>,
    /// The last row id seen; rows past it are new.
    cursor: i64,
    version: Option<i64>,
    /// Reading failed once (said once).
    failed: bool,
}

impl Reader {
    fn new(path: PathBuf) -> Reader {
        Reader { path, queue: None, cursor: 0, version: None, failed: false }
    }

    /// Rows committed since the last call (at most [`PUSH_MAX_EVENTS`]; beyond that the cursor jumps to
    /// the end and the batch delivers the rest). The first call only sets the cursor: what was queued
    /// before the service started goes by its first batch.
    fn new_rows(&mut self, config: &UserConfig) -> Result<Vec<QueueRow>, QueueError> {
        let queue = match &mut self.queue {
            Some(queue) => queue,
            None => {
                let queue = OfflineQueue::open(&self.path, config.queue_limits())?;
                self.cursor = queue.last_row_id()?;
                self.version = Some(queue.data_version()?);
                self.queue.insert(queue)
            }
        };
        let version = queue.data_version()?;
        if self.version == Some(version) {
            return Ok(Vec::new());
        }
        self.version = Some(version);
        let (rows, last) = queue.rows_after_row_id(self.cursor, PUSH_MAX_EVENTS, config.batch_max_bytes())?;
        self.cursor = if rows.len() == PUSH_MAX_EVENTS { queue.last_row_id()? } else { last };
        Ok(rows)
    }
}

/// What identifies a version of a file cheaply: existence, length, modification time.
type Stamp = Option<(u64, Option<SystemTime>)>;

fn stamp(path: &Path) -> Stamp {
    std::fs::metadata(path).ok().map(|m| (m.len(), m.modified().ok()))
}

/// The credentials and config files: `auth login`/`logout` and `sync server` change them.
fn login_stamps(home: &Path) -> [Stamp; 2] {
    [stamp(&CredentialStore::new(home).path()), stamp(&home.join(CONFIG_FILE))]
}

struct Service {
    env: SyncEnv,
    options: ServiceOptions,
    observer: Observer,
    status: Option<watch::Sender<ConnectionStatus>>,
    heartbeat: Heartbeat,
    /// A heartbeat write failed; said once.
    beat_failed: bool,
}

impl Service {
    fn new(env: SyncEnv, options: ServiceOptions, observer: Observer) -> Service {
        let now = Utc::now();
        let heartbeat = Heartbeat {
            pid: std::process::id(),
            command: options.command.clone(),
            started_at: Some(now),
            heartbeat_at: Some(now),
            connection: ConnectionStatus::Offline,
            connection_detail: None,
            server_url: None,
            interval_secs: 0,
            last_push_at: None,
            events_pushed: 0,
            last_batch_at: None,
            last_batch_outcome: None,
        };
        Service { env, options, observer, status: None, heartbeat, beat_failed: false }
    }

    fn emit(&mut self, event: ServiceEvent) {
        (self.observer)(&event);
    }

    fn config(&mut self) -> UserConfig {
        match self.env.config() {
            Ok(config) => config,
            Err(e) => {
                self.emit(ServiceEvent::Problem(format!("{e}; using the default sync settings")));
                UserConfig::default()
            }
        }
    }

    fn beat(&mut self) {
        self.heartbeat.heartbeat_at = Some(Utc::now());
        match daemon::write(&self.env.home, &self.heartbeat) {
            Ok(()) => self.beat_failed = false,
            Err(e) if !self.beat_failed => {
                self.beat_failed = true;
                let path = self.env.home.join(daemon::HEARTBEAT_FILE);
                self.emit(ServiceEvent::Problem(format!("cannot write {}: {e}", path.display())));
            }
            Err(_) => {}
        }
    }

    /// Runs until `stop` turns true (or its sender goes away). Without `lock`, it takes the home's
    /// service lock itself, waiting passively while another service holds it.
    async fn run(mut self, lock: Option<ServiceLock>, mut stop: watch::Receiver<bool>) {
        let lock = match lock {
            Some(lock) => lock,
            None => match self.wait_for_lock(&mut stop).await {
                Some(lock) => lock,
                None => return,
            },
        };
        self.run_active(&mut stop).await;
        drop(lock);
        self.emit(ServiceEvent::Stopped);
    }

    async fn wait_for_lock(&mut self, stop: &mut watch::Receiver<bool>) -> Option<ServiceLock> {
        let mut announced = false;
        loop {
            match ServiceLock::try_acquire(&self.env.home) {
                Ok(Some(lock)) => {
                    if announced {
                        self.emit(ServiceEvent::TookOver);
                    }
                    return Some(lock);
                }
                Ok(None) if !announced => {
                    announced = true;
                    self.emit(ServiceEvent::Passive { holder: daemon::read(&self.env.home) });
                }
                Ok(None) => {}
                Err(e) => {
                    self.emit(ServiceEvent::Problem(format!("cannot take the sync service lock: {e}")));
                    return None;
                }
            }
            tokio::select! {
                changed = stop.changed() => if changed.is_err() || *stop.borrow() { return None },
                () = tokio::time::sleep(PASSIVE_CHECK) => {}
            }
        }
    }

    async fn run_active(&mut self, stop: &mut watch::Receiver<bool>) {
        let mut config = self.config();
        let interval = self.options.interval.unwrap_or_else(|| config.daemon_interval());
        let spacing = runner::background_spacing(&config);
        self.heartbeat.interval_secs = interval.as_secs();
        self.heartbeat.server_url = self.env.server(&config).ok().flatten().map(|s| s.to_string());
        self.emit(ServiceEvent::Started { pid: self.heartbeat.pid, home: self.env.home.clone(), interval, spacing });
        self.beat();

        let (outbox, outbox_rx) = mpsc::channel(OUTBOX_CAPACITY);
        let (changed, changed_rx) = watch::channel(0u64);
        let (link_stop, link_stop_rx) = watch::channel(false);
        let (link_tx, mut link_events) = mpsc::unbounded_channel();
        let channels = LinkChannels { outbox: outbox_rx, changed: changed_rx, stop: link_stop_rx, events: link_tx };
        let mut link = tokio::task::spawn_local(ws::maintain(self.env.clone(), channels));

        let mut schedule = Schedule::new(interval, spacing, Instant::now());
        let mut reader = Reader::new(self.env.queue_path());
        let mut stamps = login_stamps(&self.env.home);
        let mut ticker = tokio::time::interval(POLL_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut next_beat = Instant::now() + daemon::HEARTBEAT_INTERVAL;
        let mut batch: Option<JoinHandle<Result<DeliveryReport, RunnerError>>> = None;

        loop {
            let next_run = schedule.next_run();
            tokio::select! {
                changed = stop.changed() => if changed.is_err() || *stop.borrow() { break },
                Some(event) = link_events.recv() => self.on_link(event, &mut schedule),
                _ = ticker.tick() => {
                    let now = Instant::now();
                    let current = login_stamps(&self.env.home);
                    if current != stamps {
                        stamps = current;
                        config = self.config();
                        self.heartbeat.server_url = self.env.server(&config).ok().flatten().map(|s| s.to_string());
                        schedule.spacing = runner::background_spacing(&config);
                        if self.options.interval.is_none() {
                            schedule.interval = config.daemon_interval();
                            self.heartbeat.interval_secs = schedule.interval.as_secs();
                        }
                        changed.send_modify(|n| *n += 1);
                        schedule.unblock(now);
                    }
                    self.push_new_events(&mut reader, &config, &outbox, &mut schedule);
                    if now >= next_beat {
                        next_beat = now + daemon::HEARTBEAT_INTERVAL;
                        self.beat();
                    }
                }
                done = join(batch.as_mut()) => {
                    batch = None;
                    self.on_batch_done(done, &mut schedule);
                }
                () = tokio::time::sleep_until(next_run), if batch.is_none() => {
                    // Events committed since the last poll go over the socket first: the batch would
                    // otherwise deliver (and dequeue) them before they were ever pushed.
                    self.push_new_events(&mut reader, &config, &outbox, &mut schedule);
                    schedule.started(Instant::now());
                    batch = Some(tokio::task::spawn_local(background_run(self.env.clone())));
                }
            }
        }

        self.emit(ServiceEvent::Stopping);
        let _ = link_stop.send(true);
        if let Some(batch) = batch.take() {
            batch.abort();
        }
        // The socket closes while the final flush runs: stopping takes the longer of the two, not both.
        let close = async {
            if tokio::time::timeout(LINK_CLOSE_TIMEOUT, &mut link).await.is_err() {
                link.abort();
            }
        };
        let config = self.config();
        tokio::join!(self.final_flush(&config), close);
        daemon::remove(&self.env.home, self.heartbeat.pid);
    }

    /// Pushes the events committed since the last look over the socket (when it is open) and asks for
    /// the batch that will acknowledge them; without a socket, asks for a batch at once.
    fn push_new_events(
        &mut self,
        reader: &mut Reader,
        config: &UserConfig,
        outbox: &mpsc::Sender<Vec<QueueRow>>,
        schedule: &mut Schedule,
    ) {
        let now = Instant::now();
        match reader.new_rows(config) {
            Ok(rows) if rows.is_empty() => {}
            Ok(rows) => {
                let connected = self.heartbeat.connection == ConnectionStatus::Connected;
                if connected && outbox.try_send(rows).is_ok() {
                    schedule.want(now + ACK_DELAY);
                } else {
                    schedule.want(now);
                }
            }
            Err(e) if !reader.failed => {
                reader.failed = true;
                self.emit(ServiceEvent::Problem(format!("{e}; new events go by batch only")));
            }
            Err(_) => {}
        }
    }

    fn set_status(&mut self, status: ConnectionStatus, detail: Option<String>) {
        self.heartbeat.connection = status;
        self.heartbeat.connection_detail = detail;
        if let Some(sender) = &self.status {
            sender.send_replace(status);
        }
        self.beat();
    }

    fn on_link(&mut self, event: LinkEvent, schedule: &mut Schedule) {
        match event {
            LinkEvent::Status { status, detail } => {
                self.set_status(status, detail.clone());
                if status == ConnectionStatus::Connected {
                    // What was queued while the socket was down goes now.
                    schedule.want(Instant::now());
                }
                self.emit(ServiceEvent::Connection { status, detail });
            }
            LinkEvent::Opened { url, snapshot_work_packages, unexpected_first_frame } => {
                self.emit(ServiceEvent::SocketOpened { url, snapshot_work_packages, unexpected_first_frame });
            }
            LinkEvent::Pushed { events } => {
                self.heartbeat.events_pushed += events as u64;
                self.heartbeat.last_push_at = Some(Utc::now());
                self.emit(ServiceEvent::Pushed { events });
            }
        }
    }

    fn on_batch_done(&mut self, done: Result<Result<DeliveryReport, RunnerError>, JoinError>, schedule: &mut Schedule) {
        let now = Instant::now();
        self.heartbeat.last_batch_at = Some(Utc::now());
        let report = match done {
            Ok(Ok(report)) => report,
            Ok(Err(error)) => {
                self.heartbeat.last_batch_outcome = Some("failed".into());
                let retry_in = schedule.finished(RunClass::Slow, now);
                self.emit(ServiceEvent::NotDelivered {
                    reason: "failed",
                    detail: error.to_string(),
                    remaining: 0,
                    retry_in,
                });
                return;
            }
            // Aborted (only at shutdown) or panicked: try again at the next interval.
            Err(_) => {
                schedule.finished(RunClass::Slow, now);
                return;
            }
        };
        self.heartbeat.last_batch_outcome = Some(report.stop.as_str().to_owned());
        let class = classify(&report.stop);
        let was_blocked = schedule.blocked;
        let retry_in = schedule.finished(class, now);
        match class {
            RunClass::Done if report.delivered + report.duplicates + report.rejected > 0 => {
                self.emit(ServiceEvent::Delivered {
                    delivered: report.delivered,
                    duplicates: report.duplicates,
                    rejected: report.rejected,
                    dead_lettered: report.dead_lettered,
                    remaining: report.remaining,
                });
            }
            RunClass::Done => {}
            // Said once, until a change unblocks it.
            RunClass::Blocked if was_blocked => {}
            RunClass::Blocked | RunClass::Transient | RunClass::Slow => {
                self.emit(ServiceEvent::NotDelivered {
                    reason: report.stop.as_str(),
                    detail: report.stop.describe(),
                    remaining: report.remaining,
                    retry_in,
                });
            }
        }
        self.beat();
    }

    /// One last delivery within `exit_flush_ms` (skipped when it is 0), as a short command would do.
    async fn final_flush(&mut self, config: &UserConfig) {
        let budget = config.exit_flush_budget();
        if budget.is_zero() {
            return;
        }
        let deadline = Instant::now() + budget;
        let options = |config: &UserConfig| DeliveryOptions {
            max_events: config.batch_max_events(),
            max_bytes: config.batch_max_bytes(),
            deadline: Some(deadline),
            request_timeout: budget,
            max_attempts: 1,
            ..DeliveryOptions::default()
        };
        let mut quiet = |_: &Progress| {};
        let flush = runner::deliver_queue(&self.env, options, &mut quiet);
        // `deliver` honours the deadline itself; this guard covers the local steps before it.
        let report = match tokio::time::timeout(budget + FLUSH_GRACE, flush).await {
            Ok(Ok(report)) => report,
            Ok(Err(e)) => return self.emit(ServiceEvent::Problem(format!("final flush: {e}"))),
            Err(_) => DeliveryReport::new(0, StopReason::Deadline),
        };
        if report.total > 0 {
            self.emit(ServiceEvent::FinalFlush {
                delivered: report.delivered + report.duplicates,
                remaining: report.remaining,
                outcome: report.stop.as_str(),
            });
        }
    }
}

/// Waits for the running batch, or forever when there is none.
async fn join<T>(handle: Option<&mut JoinHandle<T>>) -> Result<T, JoinError> {
    match handle {
        Some(handle) => handle.await,
        None => std::future::pending().await,
    }
}

/// One background batch run: the configured spacing (FR-033), a few attempts, then back to the service.
async fn background_run(env: SyncEnv) -> Result<DeliveryReport, RunnerError> {
    let options = |config: &UserConfig| DeliveryOptions {
        max_events: config.batch_max_events(),
        max_bytes: config.batch_max_bytes(),
        spacing: runner::background_spacing(config),
        request_timeout: config.request_timeout(),
        max_attempts: RUN_ATTEMPTS,
        ..DeliveryOptions::default()
    };
    let mut quiet = |_: &Progress| {};
    runner::deliver_queue(&env, options, &mut quiet).await
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// Another service holds the lock of this home.
    #[error("a sync service is already running for {}{}", home.display(), describe_holder(holder.as_deref()))]
    AlreadyRunning { home: PathBuf, holder: Option<Box<Heartbeat>> },
    #[error("cannot take the sync service lock in {}: {source}", home.display())]
    Lock { home: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Runner(#[from] RunnerError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot listen for SIGINT/SIGTERM: {0}")]
    Signals(std::io::Error),
}

fn describe_holder(holder: Option<&Heartbeat>) -> String {
    match holder {
        Some(h) => format!(" (pid {}, `spec-kitty {}`)", h.pid, h.command),
        None => String::new(),
    }
}

/// `spec-kitty sync daemon`: runs the service on this thread until SIGINT or SIGTERM, then stops it
/// cleanly (final bounded flush, heartbeat removed). Refuses to start when a service already runs for
/// the home.
pub fn run_daemon(ctx: &Context, options: ServiceOptions, observer: Observer) -> Result<(), DaemonError> {
    let env = SyncEnv::from_context(ctx)?;
    let lock = match ServiceLock::try_acquire(&env.home) {
        Ok(Some(lock)) => lock,
        Ok(None) => {
            return Err(DaemonError::AlreadyRunning { holder: daemon::read(&env.home).map(Box::new), home: env.home });
        }
        Err(source) => return Err(DaemonError::Lock { home: env.home, source }),
    };
    let runtime = super::http::runtime().map_err(DaemonError::Runtime)?;
    let local = LocalSet::new();
    let result = local.block_on(&runtime, async move {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt()).map_err(DaemonError::Signals)?;
        let mut terminate = signal(SignalKind::terminate()).map_err(DaemonError::Signals)?;
        let (stop, stop_rx) = watch::channel(false);
        tokio::task::spawn_local(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            let _ = stop.send(true);
        });
        Service::new(env, options, observer).run(Some(lock), stop_rx).await;
        Ok(())
    });
    // Nothing may outlive the service: a stuck connection attempt is simply dropped.
    runtime.shutdown_background();
    result
}

/// The background service inside a long-running command (`orchestrate`): it runs on a thread of its
/// own for as long as this handle lives. [`BackgroundSync::stop`] stops it with its bounded final flush;
/// dropping the handle asks it to stop without waiting.
///
/// It is inert (does nothing) when this process queues no sync events (`SPEC_KITTY_SYNC_EVENTS=0`,
/// `[sync] events = false`), when no server is configured, or without a home directory: the events stay
/// queued for the exit flush or `sync now`. When a `sync daemon` already runs, the embedded service
/// stays passive (the daemon delivers) and takes over only if the daemon exits.
pub struct BackgroundSync {
    stop: Option<watch::Sender<bool>>,
    thread: Option<std::thread::JoinHandle<()>>,
    status: Option<watch::Receiver<ConnectionStatus>>,
    /// The longest [`BackgroundSync::stop`] waits: the final flush budget plus the socket's close.
    stop_timeout: Duration,
}

impl BackgroundSync {
    /// Starts the service for `ctx`'s home, named `command` in the heartbeat (e.g. `"orchestrate"`).
    /// Must not be called from a thread that will block on it; it never blocks itself.
    pub fn start(ctx: &Context, command: &str, observer: Option<Observer>) -> BackgroundSync {
        let inert = BackgroundSync { stop: None, thread: None, status: None, stop_timeout: Duration::ZERO };
        let Ok(env) = SyncEnv::from_context(ctx) else { return inert };
        let Ok(config) = env.config() else { return inert };
        if ctx.sync_events_disabled || !config.sync.events || !matches!(env.server(&config), Ok(Some(_))) {
            return inert;
        }
        let (stop, stop_rx) = watch::channel(false);
        let (status, status_rx) = watch::channel(ConnectionStatus::Offline);
        let options = ServiceOptions::new(command);
        let observer = observer.unwrap_or_else(|| Box::new(|_: &ServiceEvent| {}));
        let thread = std::thread::Builder::new().name("spec-kitty-sync".into()).spawn(move || {
            let Ok(runtime) = super::http::runtime() else { return };
            let mut service = Service::new(env, options, observer);
            service.status = Some(status);
            LocalSet::new().block_on(&runtime, service.run(None, stop_rx));
            runtime.shutdown_background();
        });
        match thread {
            Ok(thread) => BackgroundSync {
                stop: Some(stop),
                thread: Some(thread),
                status: Some(status_rx),
                stop_timeout: (config.exit_flush_budget() + FLUSH_GRACE).max(LINK_CLOSE_TIMEOUT) + STOP_SLACK,
            },
            Err(_) => inert,
        }
    }

    /// Whether a service thread runs (it may still be passive behind a daemon).
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// The service's connection status (Offline when inert).
    pub fn status(&self) -> ConnectionStatus {
        self.status.as_ref().map_or(ConnectionStatus::Offline, |s| *s.borrow())
    }

    /// Stops the service and waits (bounded) for its final flush, without blocking the async runtime.
    pub async fn stop(mut self) {
        self.signal();
        let deadline = Instant::now() + self.stop_timeout;
        while self.is_running() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// [`BackgroundSync::stop`] for synchronous callers.
    pub fn stop_blocking(mut self) {
        self.signal();
        let deadline = std::time::Instant::now() + self.stop_timeout;
        while self.is_running() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn signal(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
    }
}

impl std::fmt::Debug for BackgroundSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackgroundSync")
            .field("running", &self.is_running())
            .field("status", &self.status())
            .field("stop_timeout", &self.stop_timeout)
            .finish()
    }
}

impl Drop for BackgroundSync {
    fn drop(&mut self) {
        self.signal();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule() -> (Schedule, Instant) {
        let now = Instant::now();
        (Schedule::new(Duration::from_secs(300), Duration::from_secs(5), now), now)
    }

    #[test]
    fn the_first_run_is_at_once_then_runs_are_spaced() {
        let (mut s, now) = schedule();
        assert_eq!(s.next_run(), now);
        s.started(now);
        assert_eq!(s.next_run(), now + Duration::from_secs(300), "nothing wanted: the periodic run");
        s.want(now + Duration::from_secs(1));
        assert_eq!(s.next_run(), now + Duration::from_secs(5), "at most one run per spacing");
        s.started(now + Duration::from_secs(5));
        assert_eq!(s.finished(RunClass::Done, now + Duration::from_secs(6)), None);
        assert_eq!(s.next_run(), now + Duration::from_secs(306), "the interval counts from the end of a run");
        s.want(now + Duration::from_secs(12));
        assert_eq!(s.next_run(), now + Duration::from_secs(12));
    }

    #[test]
    fn failures_back_off_up_to_the_cap_and_success_resets() {
        let (mut s, now) = schedule();
        s.started(now);
        let first = s.finished(RunClass::Transient, now).unwrap();
        assert!(first >= Duration::from_millis(250) && first <= Duration::from_millis(500), "{first:?}");
        for _ in 0..20 {
            s.finished(RunClass::Transient, now);
        }
        let capped = s.retry_at.unwrap() - now;
        assert!(capped >= RETRY.cap / 2 && capped <= RETRY.cap, "{capped:?}");
        s.want(now);
        assert_eq!(s.next_run(), s.retry_at.unwrap(), "new events do not bypass the backoff");
        s.finished(RunClass::Done, now);
        assert_eq!((s.failures, s.retry_at), (0, None));
    }

    #[test]
    fn without_a_login_runs_wait_for_a_change_or_the_interval() {
        let (mut s, now) = schedule();
        s.started(now);
        assert_eq!(s.finished(RunClass::Blocked, now), None);
        s.want(now + Duration::from_secs(1));
        assert_eq!(s.next_run(), now + Duration::from_secs(300));
        s.unblock(now + Duration::from_secs(2));
        assert_eq!(s.next_run(), now + Duration::from_secs(5), "a login change: at once (spacing permitting)");
    }

    #[test]
    fn stop_reasons_map_to_scheduling() {
        assert_eq!(classify(&StopReason::Drained), RunClass::Done);
        assert_eq!(classify(&StopReason::NotLoggedIn { detail: String::new() }), RunClass::Blocked);
        assert_eq!(classify(&StopReason::Offline { detail: String::new() }), RunClass::Transient);
        assert_eq!(classify(&StopReason::Refused { status: 403, detail: String::new() }), RunClass::Slow);
    }

    #[test]
    fn an_embedded_service_without_a_server_is_inert() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let ctx = Context::from_vars(None, |name| match name {
            "SPEC_KITTY_HOME" => Some(home.clone().into_os_string()),
            _ => None,
        })
        .unwrap();
        let service = BackgroundSync::start(&ctx, "orchestrate", None);
        assert!(!service.is_running());
        assert_eq!(service.status(), ConnectionStatus::Offline);
        service.stop_blocking();
        assert!(!home.join(daemon::LOCK_FILE).exists(), "nothing was written");
    }
}
