//! The entry points commands call: `sync now`, the exit flush of short commands, and login. They
//! resolve the environment (home, config, server URL, credentials, CA file), run the async core on a
//! small runtime, and record the outcome in the state file. Nothing here prints.

use super::auth::{self, AuthError, CredentialStore, Credentials, Secret, Session};
use super::config::{BACKGROUND_BATCH_INTERVAL, ConfigError, UserConfig};
use super::delivery::{self, DeliveryOptions, DeliveryReport, HttpEndpoint, Progress, SpoolError, StopReason};
use super::emit::QUEUE_FILE;
use super::http::{self, HttpError, HttpSettings, ServerUrl, UrlError};
use super::queue::{OfflineQueue, QueueError};
use super::state::{Attempt, SyncState};
use crate::context::{Clock, Context};
use crate::diagnostics::Ms;
use crate::error::Diagnose;
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Connecting to a healthy server takes milliseconds; one that needs longer is treated as down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Serialises exit flushes: when one process is already delivering, the others need not.
const FLUSH_LOCK_FILE: &str = "sync.lock";

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("no home directory for spec-kitty's state (set HOME or SPEC_KITTY_HOME)")]
    NoHome,
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error(transparent)]
    Url(#[from] UrlError),
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("cannot start the network runtime: {0}")]
    Runtime(std::io::Error),
    #[error("no sync server is configured")]
    NotConfigured,
}

impl Diagnose for RunnerError {
    fn hints(&self) -> Vec<String> {
        match self {
            RunnerError::NotConfigured => {
                vec!["set one with `spec-kitty sync server https://…` or SPEC_KITTY_SAAS_URL".into()]
            }
            RunnerError::Url(e) => e.hints(),
            RunnerError::Auth(e) => e.hints(),
            RunnerError::Config(e) => e.hints(),
            RunnerError::Queue(e) | RunnerError::Spool(SpoolError::Queue(e)) => e.hints(),
            _ => Vec::new(),
        }
    }
}

/// Options of an explicit `sync now`.
#[derive(Debug, Clone, Default)]
pub struct SyncNowOptions {
    /// Spacing between requests; default: `[sync] batch_interval_ms`, else none.
    pub spacing: Option<Duration>,
    /// Give up (events stay queued) after this long.
    pub timeout: Option<Duration>,
}

fn home(ctx: &Context) -> Result<&Path, RunnerError> {
    ctx.home.as_deref().ok_or(RunnerError::NoHome)
}

/// `$SPEC_KITTY_SAAS_URL`, else `[sync] server_url`, checked against the URL policy.
pub fn server(ctx: &Context, config: &UserConfig) -> Result<Option<ServerUrl>, UrlError> {
    super::server_url(ctx, config).map(|url| ServerUrl::parse(&url)).transpose()
}

/// `$SPEC_KITTY_CA_FILE`, else `[sync] ca_file` (relative paths are relative to the spec-kitty home).
pub fn ca_file(ctx: &Context, config: &UserConfig) -> Option<PathBuf> {
    resolve_ca_file(ctx.ca_file_override.as_deref(), config, ctx.home.as_deref())
}

fn resolve_ca_file(explicit: Option<&Path>, config: &UserConfig, home: Option<&Path>) -> Option<PathBuf> {
    match (explicit, &config.sync.ca_file, home) {
        (Some(path), _, _) => Some(path.to_owned()),
        (None, Some(path), Some(home)) => Some(home.join(path)),
        (None, Some(path), None) => Some(path.clone()),
        (None, None, _) => None,
    }
}

fn client(
    ctx: &Context,
    config: &UserConfig,
    connect: Duration,
    request: Duration,
) -> Result<reqwest::Client, HttpError> {
    http::client(&HttpSettings { ca_file: ca_file(ctx, config), connect_timeout: connect, request_timeout: request })
}

/// The environment of sync work, taken from the context once: owned, cheap to clone and `Send`, so a
/// long-lived service (the daemon, or the one inside `orchestrate`) can keep it. It re-reads
/// config.toml and the credentials whenever it uses them, so `sync server` and `auth login` take effect
/// without a restart; the environment overrides are fixed for the process, as for every command.
#[derive(Debug, Clone)]
pub struct SyncEnv {
    pub home: PathBuf,
    pub clock: Clock,
    server_url_override: Option<String>,
    ca_file_override: Option<PathBuf>,
}

impl SyncEnv {
    pub fn from_context(ctx: &Context) -> Result<SyncEnv, RunnerError> {
        Ok(SyncEnv {
            home: home(ctx)?.to_owned(),
            clock: ctx.clock,
            server_url_override: ctx.server_url_override.clone(),
            ca_file_override: ctx.ca_file_override.clone(),
        })
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn config(&self) -> Result<UserConfig, ConfigError> {
        UserConfig::load(&self.home)
    }

    /// As [`server`]: the override, else `[sync] server_url`, checked against the URL policy.
    pub fn server(&self, config: &UserConfig) -> Result<Option<ServerUrl>, UrlError> {
        let url = self.server_url_override.clone().or_else(|| config.sync.server_url.clone());
        url.map(|url| ServerUrl::parse(&url)).transpose()
    }

    pub fn ca_file(&self, config: &UserConfig) -> Option<PathBuf> {
        resolve_ca_file(self.ca_file_override.as_deref(), config, Some(&self.home))
    }

    pub fn client(
        &self,
        config: &UserConfig,
        connect: Duration,
        request: Duration,
    ) -> Result<reqwest::Client, HttpError> {
        let settings =
            HttpSettings { ca_file: self.ca_file(config), connect_timeout: connect, request_timeout: request };
        http::client(&settings)
    }

    pub fn credential_store(&self) -> CredentialStore {
        CredentialStore::new(&self.home)
    }

    pub fn queue_path(&self) -> PathBuf {
        self.home.join(QUEUE_FILE)
    }
}

/// Runs `work` on a fresh single-threaded runtime, then drops the runtime without waiting for
/// leftover tasks (idle connections, a stuck DNS lookup): every wait is bounded by `work` itself.
fn block_on<F: std::future::Future>(work: F) -> Result<F::Output, RunnerError> {
    let runtime = http::runtime().map_err(RunnerError::Runtime)?;
    let output = runtime.block_on(work);
    runtime.shutdown_background();
    Ok(output)
}

/// Logs in to the configured server and stores the credentials.
pub fn login(ctx: &Context, username: &str, password: &Secret) -> Result<(ServerUrl, Credentials), RunnerError> {
    let home = home(ctx)?;
    let config = UserConfig::load(home)?;
    let server = server(ctx, &config)?.ok_or(RunnerError::NotConfigured)?;
    let http = client(ctx, &config, CONNECT_TIMEOUT, config.request_timeout())?;
    let store = CredentialStore::new(home);
    let credentials = block_on(auth::login(&http, &server, &store, username, password, ctx.clock))??;
    // A new login is a new chance: forget the backoff a lost session may have left behind.
    let mut state = SyncState::load(home);
    if state.backoff_until.is_some() {
        state.backoff_until = None;
        state.consecutive_failures = 0;
        let _ = state.save(home);
    }
    Ok((server, credentials))
}

/// What `auth logout` did.
#[derive(Debug)]
pub enum Logout {
    /// There were no credentials.
    NotLoggedIn,
    /// These credentials were deleted.
    LoggedOut(Credentials),
    /// The credentials file could not be read (corrupt, not a file we understand, too large); it was
    /// deleted so the user can log in again.
    RemovedUnreadable { path: std::path::PathBuf, reason: String },
}

/// Deletes the stored credentials, readable or not.
pub fn logout(ctx: &Context) -> Result<Logout, RunnerError> {
    let store = CredentialStore::new(home(ctx)?);
    let lock = store.lock_blocking(auth::LOCK_TIMEOUT)?;
    let outcome = match lock.load() {
        Ok(Some(credentials)) => Logout::LoggedOut(credentials),
        Ok(None) => Logout::NotLoggedIn,
        Err(AuthError::Storage { action: "read", path, message }) => {
            Logout::RemovedUnreadable { path, reason: message }
        }
        Err(other) => return Err(other.into()),
    };
    lock.clear()?;
    Ok(outcome)
}

/// The stored credentials, if any.
pub fn credentials(ctx: &Context) -> Result<Option<Credentials>, RunnerError> {
    Ok(CredentialStore::new(home(ctx)?).load()?)
}

/// Delivers the whole queue now (`spec-kitty sync now`).
pub fn sync_now(
    ctx: &Context,
    options: &SyncNowOptions,
    progress: &mut dyn FnMut(&Progress),
) -> Result<DeliveryReport, RunnerError> {
    let env = SyncEnv::from_context(ctx)?;
    let delivery_options = |config: &UserConfig| DeliveryOptions {
        max_events: config.batch_max_events(),
        max_bytes: config.batch_max_bytes(),
        spacing: options.spacing.or(config.batch_interval()).unwrap_or(Duration::ZERO),
        request_timeout: config.request_timeout(),
        deadline: options.timeout.map(|t| tokio::time::Instant::now() + t),
        ..DeliveryOptions::default()
    };
    block_on(deliver_queue(&env, delivery_options, progress))?
}

/// The async core of `sync now` and of the background service's batch runs: imports spooled events,
/// then, when a server is configured and we are logged in to it, delivers the queue with the options
/// `options` makes from the current config, and records the attempt in the state file. Without a
/// server or a login it returns at once with the reason (nothing is recorded: nothing was tried).
pub async fn deliver_queue(
    env: &SyncEnv,
    options: impl FnOnce(&UserConfig) -> DeliveryOptions,
    progress: &mut dyn FnMut(&Progress),
) -> Result<DeliveryReport, RunnerError> {
    let config = env.config()?;
    let mut queue = OfflineQueue::open(&env.queue_path(), config.queue_limits())?;
    let spool = delivery::import_spool(&env.home, &mut queue, env.now().timestamp())?;
    let total = queue.len()?;
    let early = |stop| DeliveryReport { spool: spool.clone(), ..DeliveryReport::new(total, stop) };
    if total == 0 {
        tracing::debug!("the queue is empty: nothing to deliver");
        return Ok(early(StopReason::Drained));
    }
    let Some(server) = env.server(&config)? else {
        tracing::debug!(queued = total, "no sync server is configured: nothing is sent");
        return Ok(early(StopReason::NotConfigured));
    };
    let http = env.client(&config, CONNECT_TIMEOUT, config.request_timeout())?;
    let session = match Session::open(http, server, env.credential_store(), env.clock) {
        Ok(session) => session,
        Err(e @ (AuthError::NotLoggedIn | AuthError::OtherServer { .. })) => {
            tracing::debug!(queued = total, error = %e, "no usable login: nothing is sent");
            return Ok(early(StopReason::NotLoggedIn { detail: e.to_string() }));
        }
        Err(e @ AuthError::SessionExpired) => return Ok(early(StopReason::LoginRequired { detail: e.to_string() })),
        Err(e) => return Err(e.into()),
    };
    let options = options(&config);
    let mut endpoint = HttpEndpoint::new(session);
    let mut report = delivery::deliver(&mut queue, &mut endpoint, &options, env.now().timestamp(), progress).await;
    report.spool = spool;
    record(&env.home, &report, env.now());
    Ok(report)
}

/// The default spacing of background delivery (one batch per 5 s, FR-033) unless configured.
pub fn background_spacing(config: &UserConfig) -> Duration {
    config.batch_interval().unwrap_or(BACKGROUND_BATCH_INTERVAL)
}

/// After a workflow command queued events: deliver what is queued within `[sync] exit_flush_ms`
/// (default 2 s), if a server is configured, we are logged in to it, and the last attempts did not
/// put us in a backoff window. Never fails and never prints; a failure only extends the backoff.
pub fn exit_flush(ctx: &Context) -> Option<DeliveryReport> {
    let started = std::time::Instant::now();
    let report = try_exit_flush(ctx, started);
    if let Err(reason) = &report {
        tracing::debug!(elapsed = %Ms(started.elapsed()), "exit flush skipped: {reason}");
    }
    report.ok()
}

/// The exit flush, or why it was not made (for the diagnostics).
fn try_exit_flush(ctx: &Context, started: std::time::Instant) -> Result<DeliveryReport, String> {
    if ctx.sync_events_disabled {
        return Err("sync events are disabled (SPEC_KITTY_SYNC_EVENTS)".into());
    }
    let home = ctx.home.as_deref().ok_or("no home directory")?;
    let config = UserConfig::load(home).map_err(|e| e.to_string())?;
    let budget = config.exit_flush_budget();
    if !config.sync.events {
        return Err("sync events are disabled ([sync] events = false)".into());
    }
    if budget.is_zero() {
        return Err("[sync] exit_flush_ms = 0".into());
    }
    // A live background service (`sync daemon`, or the one inside `orchestrate`) pushes the events
    // within a second of their being queued: this command need not spend any time on the network.
    if let Some(service) = super::daemon::running(home) {
        return Err(format!("a background sync service runs (pid {}, `spec-kitty {}`)", service.pid, service.command));
    }
    let server = server(ctx, &config).map_err(|e| e.to_string())?.ok_or("no sync server is configured")?;
    let store = CredentialStore::new(home);
    let credentials = store.load().map_err(|e| e.to_string())?.ok_or("not logged in")?;
    if !credentials.issued_by(&server) {
        return Err("the stored login is for another server".into());
    }
    if !credentials.is_authenticated(ctx.now()) {
        return Err("the session has expired".into());
    }
    let state = SyncState::load(home);
    if state.in_backoff(ctx.now()) {
        let until = state.backoff_until.map(|t| t.to_rfc3339()).unwrap_or_default();
        return Err(format!("backing off after {} failed attempt(s), until {until}", state.consecutive_failures));
    }
    let _flushing = try_lock(&home.join(FLUSH_LOCK_FILE)).ok_or("another process is flushing")?;
    let mut queue = OfflineQueue::open(&home.join(QUEUE_FILE), config.queue_limits()).map_err(|e| e.to_string())?;
    let spool = delivery::import_spool(home, &mut queue, ctx.now().timestamp()).unwrap_or_default();
    let queued = queue.len().map_err(|e| e.to_string())?;
    if queued == 0 {
        return Err("the queue is empty".into());
    }
    let left = budget.checked_sub(started.elapsed()).ok_or("the time budget ran out before sending")?;
    tracing::debug!(queued, %server, budget = %Ms(left), "exit flush: delivering the queue");
    let http = client(ctx, &config, left.min(CONNECT_TIMEOUT), left).map_err(|e| e.to_string())?;
    let session = Session::open(http, server, store, ctx.clock).map_err(|e| e.to_string())?;
    let report = block_on(async {
        let deadline = tokio::time::Instant::now() + left;
        let options = DeliveryOptions {
            max_events: config.batch_max_events(),
            max_bytes: config.batch_max_bytes(),
            deadline: Some(deadline),
            request_timeout: left,
            // One failure is enough to know the server is not there right now; the backoff in the
            // state file keeps the next commands from trying again straight away.
            max_attempts: 1,
            ..DeliveryOptions::default()
        };
        let mut endpoint = HttpEndpoint::new(session);
        let mut quiet = |_: &Progress| {};
        let run = delivery::deliver(&mut queue, &mut endpoint, &options, ctx.now().timestamp(), &mut quiet);
        // `deliver` honours the deadline itself; this guard covers anything that might not.
        tokio::time::timeout_at(deadline + Duration::from_millis(50), run).await.ok()
    })
    .map_err(|e| e.to_string())?;
    let mut report = report.unwrap_or_else(|| DeliveryReport::new(0, StopReason::Deadline));
    report.spool = spool;
    record(home, &report, ctx.now());
    tracing::debug!(
        stop = %report.stop.as_str(),
        delivered = report.delivered + report.duplicates,
        remaining = report.remaining,
        elapsed = %Ms(started.elapsed()),
        "exit flush done"
    );
    Ok(report)
}

/// Records an attempt that reached (or failed to reach) the server in the state file.
pub(crate) fn record(home: &Path, report: &DeliveryReport, now: DateTime<Utc>) {
    let attempt = match &report.stop {
        StopReason::NotConfigured | StopReason::NotLoggedIn { .. } => return,
        StopReason::Drained => Attempt::Reached { delivered: report.delivered + report.duplicates },
        other => Attempt::Failed { category: other.as_str().to_owned(), detail: other.describe() },
    };
    SyncState::update(home, &attempt, now);
}

/// An exclusive lock without waiting; `None` when someone else holds it.
fn try_lock(path: &Path) -> Option<std::fs::File> {
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(path).ok()?;
    file.try_lock().ok()?;
    Some(file)
}
