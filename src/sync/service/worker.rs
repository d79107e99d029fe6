//! The service loop: the WebSocket link, pushing new events, batch runs, the heartbeat, the final flush.

use super::schedule::{RunClass, Schedule, classify};
use super::{
    ACK_DELAY, FLUSH_GRACE, LINK_CLOSE_TIMEOUT, OUTBOX_CAPACITY, Observer, PASSIVE_CHECK, POLL_INTERVAL,
    PUSH_MAX_EVENTS, RUN_ATTEMPTS, ServiceEvent, ServiceOptions,
};
use crate::sync::auth::CredentialStore;
use crate::sync::config::{CONFIG_FILE, UserConfig};
use crate::sync::daemon::{self, ConnectionStatus, Heartbeat, ServiceLock};
use crate::sync::delivery::{DeliveryOptions, DeliveryReport, Progress, StopReason};
use crate::sync::queue::{OfflineQueue, QueueError, QueueRow};
use crate::sync::runner::{self, RunnerError, SyncEnv};
use crate::sync::ws::{self, LinkChannels, LinkEvent};
use chrono::Utc;
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinError, JoinHandle};
use tokio::time::Instant;

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

pub(super) struct Service {
    env: SyncEnv,
    options: ServiceOptions,
    observer: Observer,
    pub(super) status: Option<watch::Sender<ConnectionStatus>>,
    heartbeat: Heartbeat,
    /// A heartbeat write failed; said once.
    beat_failed: bool,
}

impl Service {
    pub(super) fn new(env: SyncEnv, options: ServiceOptions, observer: Observer) -> Service {
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
    pub(super) async fn run(mut self, lock: Option<ServiceLock>, mut stop: watch::Receiver<bool>) {
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
                // Written now rather than at the next beat, so `sync status` counts a push as soon as
                // the server has it.
                self.beat();
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
