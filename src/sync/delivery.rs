//! Delivering the offline queue to the server's batch endpoint (`POST /api/v1/events/batch/`).
//!
//! One run walks the queue once in FIFO order (a cursor, not "the head of the queue"), so an event the
//! server rejects or leaves unanswered stays queued for the next run without blocking the events
//! behind it, and the run always ends (upstream looped forever on a 200 with missing results, §5.3).
//! A row leaves the queue only when the server answered `success` or `duplicate` for its id.
//!
//! Per request: at most `max_events` events and `max_bytes` of uncompressed JSON, gzip, a Bearer
//! token. Answers:
//! - 200: per-event results; `rejected` counts towards the dead-letter limit;
//! - 401: refresh the session once and retry; a second 401 stops the run ("login required");
//! - 429: wait `Retry-After`; 408/5xx, timeouts and dropped connections: exponential backoff with
//!   jitter, a bounded number of consecutive attempts, and an overall deadline;
//! - 413: halve the batch (and keep the smaller size for the rest of the run);
//! - 400/422 for the whole batch: split it (first around the events the server named, then by
//!   bisection) until the offending events are alone, and reject only those, with the server's text.
//!
//! Transient failures never count as rejections (upstream bumped every event's retry count during an
//! outage, which dead-lettered healthy events).

use super::auth::{AuthError, Renewal, Secret, Session};
use super::backoff::Backoff;
use super::emit::SPOOL_FILE;
use super::http::{describe, read_body, retry_after};
use super::queue::{OfflineQueue, QueueError, QueuePosition, QueueRow, QueuedEvent};
use crate::diagnostics::Ms;
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::io::{Read, Seek, Write};
use std::path::Path;
use std::time::Duration;
use tokio::time::Instant;

pub const BATCH_PATH: &str = "api/v1/events/batch/";
/// 1000 results of a few hundred bytes each fit easily; more is not a batch response.
const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;
/// Token renewals one run may make; far more than token lifetimes ever need.
const MAX_RENEWALS: u32 = 16;
/// Attempts in a row when no connection can be made and none has been this run (nobody listening).
const UNREACHABLE_ATTEMPTS: u32 = 3;
/// `{"events": [` + `]}` and the `, ` separators.
const BODY_OVERHEAD: usize = 16;

/// What the server answered to one POST.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

#[derive(Debug)]
pub enum PostError {
    /// The request did not get an answer (timeout, dropped connection, …).
    Transport(String),
    /// No connection could be made at all (refused, unresolvable, TLS handshake failed).
    Unreachable(String),
    /// No usable token.
    Auth(AuthError),
}

/// Where batches go: [`HttpEndpoint`] in production, scripted fakes in tests.
pub trait Endpoint {
    /// POSTs a gzip-compressed `{"events": [...]}` body, giving up after `timeout`.
    fn post(&mut self, gzipped: &[u8], timeout: Duration) -> impl Future<Output = Result<Reply, PostError>>;
    /// Renews the credentials after a 401.
    fn reauthenticate(&mut self) -> impl Future<Output = Result<Renewal, AuthError>>;
    /// The logged-in team, when the server named one.
    fn team(&self) -> Option<String>;
}

/// The batch endpoint of the session's server.
pub struct HttpEndpoint {
    session: Session,
}

impl HttpEndpoint {
    pub fn new(session: Session) -> HttpEndpoint {
        HttpEndpoint { session }
    }
}

impl Endpoint for HttpEndpoint {
    async fn post(&mut self, gzipped: &[u8], timeout: Duration) -> Result<Reply, PostError> {
        let token: Secret = self.session.access_token().await.map_err(PostError::Auth)?;
        let url = self.session.server().endpoint(BATCH_PATH);
        let request = self
            .session
            .http()
            .post(url)
            .bearer_auth(token.expose())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::CONTENT_ENCODING, "gzip")
            .body(gzipped.to_vec())
            .timeout(timeout);
        let response = super::http::send(request).await.map_err(|e| {
            if e.is_connect() { PostError::Unreachable(describe(&e)) } else { PostError::Transport(describe(&e)) }
        })?;
        let status = response.status().as_u16();
        let retry_after = retry_after(response.headers());
        let body = read_body(response, MAX_RESPONSE_BYTES).await.map_err(PostError::Transport)?;
        Ok(Reply { status, retry_after, body })
    }

    async fn reauthenticate(&mut self) -> Result<Renewal, AuthError> {
        self.session.refresh().await
    }

    fn team(&self) -> Option<String> {
        self.session.credentials().team_slug.clone()
    }
}

/// How a run behaves.
#[derive(Debug, Clone)]
pub struct DeliveryOptions {
    /// Events per request (≤ 1000).
    pub max_events: usize,
    /// Uncompressed body bytes per request (the server refuses more than 1 MiB).
    pub max_bytes: usize,
    /// Minimum time between the starts of two requests.
    pub spacing: Duration,
    /// The run stops (events stay queued) when this passes; no request outlives it.
    pub deadline: Option<Instant>,
    pub request_timeout: Duration,
    /// Consecutive failed attempts (network, 5xx, 429) before the run gives up as offline.
    pub max_attempts: u32,
    /// The wait between failed attempts (jittered).
    pub backoff: Backoff,
    /// Batches in a row that settled no event (all results missing) before the run gives up.
    pub max_idle_batches: u32,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        DeliveryOptions {
            max_events: super::config::MAX_BATCH_EVENTS,
            max_bytes: super::config::DEFAULT_BATCH_MAX_BYTES,
            spacing: Duration::ZERO,
            deadline: None,
            request_timeout: Duration::from_secs(30),
            max_attempts: 6,
            backoff: super::backoff::NETWORK,
            max_idle_batches: 3,
        }
    }
}

/// Upstream's `categorize_error`: the first matching keyword group wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorCategory {
    SchemaMismatch,
    AuthExpired,
    ServerError,
    Unknown,
}

impl ErrorCategory {
    pub fn of(error: &str) -> ErrorCategory {
        let text = error.to_lowercase();
        let any = |words: &[&str]| words.iter().any(|w| text.contains(w));
        if any(&["invalid", "schema", "field", "missing", "type"]) {
            ErrorCategory::SchemaMismatch
        } else if any(&["token", "expired", "unauthorized", "401"]) {
            ErrorCategory::AuthExpired
        } else if any(&["internal", "500", "timeout", "unavailable"]) {
            ErrorCategory::ServerError
        } else {
            ErrorCategory::Unknown
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCategory::SchemaMismatch => "schema_mismatch",
            ErrorCategory::AuthExpired => "auth_expired",
            ErrorCategory::ServerError => "server_error",
            ErrorCategory::Unknown => "unknown",
        }
    }

    /// Upstream's suggested action.
    pub fn action(self) -> &'static str {
        match self {
            ErrorCategory::SchemaMismatch => "Run `spec-kitty sync diagnose` to inspect invalid events",
            ErrorCategory::AuthExpired => "Run `spec-kitty auth login` to refresh credentials",
            ErrorCategory::ServerError => "Retry later or check server status",
            ErrorCategory::Unknown => "Inspect the failure report for details: --report <file.json>",
        }
    }
}

/// One rejected event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub event_id: String,
    pub error: String,
    pub category: ErrorCategory,
}

/// Why a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// Every queued event was offered once.
    Drained,
    /// No server is configured.
    NotConfigured,
    /// No usable login for this server.
    NotLoggedIn { detail: String },
    /// The server refused our tokens even after a refresh, or the session expired.
    LoginRequired { detail: String },
    /// The server could not be reached (or kept failing) for `max_attempts` attempts.
    Offline { detail: String },
    /// The server refused the requests outright (403, 404, …).
    Refused { status: u16, detail: String },
    /// The deadline passed.
    Deadline,
    /// Several batches in a row got no result for any of their events.
    Stalled,
    /// A local problem (queue, credentials file).
    Failed { detail: String },
}

impl StopReason {
    pub fn as_str(&self) -> &'static str {
        match self {
            StopReason::Drained => "drained",
            StopReason::NotConfigured => "not_configured",
            StopReason::NotLoggedIn { .. } => "not_logged_in",
            StopReason::LoginRequired { .. } => "login_required",
            StopReason::Offline { .. } => "offline",
            StopReason::Refused { .. } => "refused",
            StopReason::Deadline => "deadline",
            StopReason::Stalled => "stalled",
            StopReason::Failed { .. } => "failed",
        }
    }

    /// The reason in a sentence, for people.
    pub fn describe(&self) -> String {
        match self {
            StopReason::Drained => "all queued events were offered to the server".into(),
            StopReason::NotConfigured => "no sync server is configured".into(),
            StopReason::NotLoggedIn { detail } => format!("not logged in ({detail})"),
            StopReason::LoginRequired { detail } => format!("login required ({detail})"),
            StopReason::Offline { detail } => format!("the server is unreachable ({detail})"),
            StopReason::Refused { status, detail } => format!("the server refused the request (HTTP {status}{detail})"),
            StopReason::Deadline => "the time allowed for this sync ran out".into(),
            StopReason::Stalled => "the server answered without results for the events sent".into(),
            StopReason::Failed { detail } => detail.clone(),
        }
    }
}

/// Events found in the spool file and moved into the queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpoolImport {
    pub imported: usize,
    pub duplicates: usize,
    /// Lines that were not events; moved to `queue-spool.bad.jsonl`.
    pub unreadable: usize,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Queued events when the run started.
    pub total: u64,
    pub delivered: u64,
    pub duplicates: u64,
    /// Rejections in this run (each also counts towards the event's dead-letter limit).
    pub rejected: u64,
    pub dead_lettered: u64,
    /// Events the server did not answer for (left queued).
    pub unanswered: u64,
    /// Events left queued because they belong to another team's login.
    pub held_back: u64,
    pub held_for_teams: std::collections::BTreeSet<String>,
    /// Events still queued when the run ended.
    pub remaining: u64,
    pub batches: u64,
    pub requests: u64,
    pub failures: Vec<Failure>,
    pub stop: StopReason,
    pub spool: SpoolImport,
}

impl DeliveryReport {
    pub fn new(total: u64, stop: StopReason) -> DeliveryReport {
        DeliveryReport {
            total,
            delivered: 0,
            duplicates: 0,
            rejected: 0,
            dead_lettered: 0,
            unanswered: 0,
            held_back: 0,
            held_for_teams: Default::default(),
            remaining: total,
            batches: 0,
            requests: 0,
            failures: Vec::new(),
            stop,
            spool: SpoolImport::default(),
        }
    }

    /// Rejections per category, most frequent first (upstream's summary order).
    pub fn categories(&self) -> Vec<(ErrorCategory, u64)> {
        let mut counts: HashMap<ErrorCategory, u64> = HashMap::new();
        for failure in &self.failures {
            *counts.entry(failure.category).or_default() += 1;
        }
        let mut counts: Vec<_> = counts.into_iter().collect();
        counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        counts
    }
}

/// Progress after each settled request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub total: u64,
    /// Events the server answered for (delivered, duplicate or rejected).
    pub processed: u64,
    pub delivered: u64,
    pub batches: u64,
}

/// Delivers the queue through `endpoint`. Queue rows are only removed on `success`/`duplicate`.
pub async fn deliver<E: Endpoint>(
    queue: &mut OfflineQueue,
    endpoint: &mut E,
    options: &DeliveryOptions,
    now_epoch: i64,
    progress: &mut dyn FnMut(&Progress),
) -> DeliveryReport {
    let total = match queue.len() {
        Ok(n) => n,
        Err(e) => return DeliveryReport::new(0, StopReason::Failed { detail: e.to_string() }),
    };
    let mut run = Run {
        queue,
        endpoint,
        options,
        now_epoch,
        report: DeliveryReport::new(total, StopReason::Drained),
        max_events: options.max_events.clamp(1, super::config::MAX_BATCH_EVENTS),
        max_bytes: options.max_bytes.max(1024),
        failures_in_row: 0,
        reauthenticated: false,
        reached_server: false,
        renewals: 0,
        last_post: None,
    };
    tracing::debug!(
        queued = total,
        max_events = run.max_events,
        max_bytes = run.max_bytes,
        max_attempts = options.max_attempts,
        spacing = %Ms(options.spacing),
        "delivering the queue"
    );
    let stop = run.walk(progress).await;
    let mut report = run.report;
    report.stop = stop;
    report.remaining = queue.len().unwrap_or(report.remaining);
    tracing::debug!(
        stop = %report.stop.as_str(),
        delivered = report.delivered,
        duplicates = report.duplicates,
        rejected = report.rejected,
        unanswered = report.unanswered,
        held_back = report.held_back,
        remaining = report.remaining,
        requests = report.requests,
        "delivery ended: {}",
        report.stop.describe()
    );
    report
}

struct Run<'a, E> {
    queue: &'a mut OfflineQueue,
    endpoint: &'a mut E,
    options: &'a DeliveryOptions,
    now_epoch: i64,
    report: DeliveryReport,
    max_events: usize,
    max_bytes: usize,
    failures_in_row: u32,
    /// A refresh happened since the last answered request: another 401 means the login is gone.
    reauthenticated: bool,
    /// Some request of this run got an HTTP answer.
    reached_server: bool,
    /// Token renewals this run (bounded, whatever other processes do).
    renewals: u32,
    last_post: Option<Instant>,
}

/// How the server answered for one group of events.
enum Answer {
    Results(HashMap<String, Verdict>),
    TooLarge,
    BadRequest(BadRequest),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Delivered,
    Duplicate,
    Rejected(String),
}

impl<E: Endpoint> Run<'_, E> {
    async fn walk(&mut self, progress: &mut dyn FnMut(&Progress)) -> StopReason {
        let mut cursor: Option<QueuePosition> = None;
        let mut idle_batches = 0;
        self.notify(progress);
        loop {
            if self.past_deadline() {
                return StopReason::Deadline;
            }
            let budget = self.max_bytes.saturating_sub(BODY_OVERHEAD + 2 * self.max_events);
            let (rows, last) = match self.queue.take_batch_after(cursor, self.max_events, budget) {
                Ok(taken) => taken,
                Err(e) => return StopReason::Failed { detail: e.to_string() },
            };
            if rows.is_empty() {
                return StopReason::Drained;
            }
            cursor = last;
            let (settled, unanswered) = (self.settled(), self.report.unanswered);
            let outcome = self.send(rows, progress).await;
            self.report.batches += 1;
            self.notify(progress);
            if let Err(stop) = outcome {
                return stop;
            }
            // Idle: the server answered, but for none of the events (held-back rows do not count).
            if self.settled() == settled && self.report.unanswered > unanswered {
                idle_batches += 1;
                if idle_batches >= self.options.max_idle_batches.max(1) {
                    return StopReason::Stalled;
                }
            } else {
                idle_batches = 0;
            }
        }
    }

    fn settled(&self) -> u64 {
        self.report.delivered + self.report.duplicates + self.report.rejected
    }

    fn notify(&self, progress: &mut dyn FnMut(&Progress)) {
        progress(&Progress {
            total: self.report.total,
            processed: self.settled(),
            delivered: self.report.delivered + self.report.duplicates,
            batches: self.report.batches,
        });
    }

    /// Sends one batch, splitting it as the server requires, until every part has an answer.
    async fn send(&mut self, rows: Vec<QueueRow>, progress: &mut dyn FnMut(&Progress)) -> Result<(), StopReason> {
        let team = self.endpoint.team();
        let mut sendable = Vec::with_capacity(rows.len());
        let mut refused = Vec::new();
        for row in rows {
            match screen(row, team.as_deref()) {
                Screen::Send(row) => sendable.push(row),
                Screen::Hold { team } => {
                    self.report.held_back += 1;
                    self.report.held_for_teams.insert(team);
                }
                Screen::Refuse(row, error) => refused.push((row.event_id, error)),
            }
        }
        if !refused.is_empty() {
            let buried =
                self.queue.bury(&refused, self.now_epoch).map_err(|e| StopReason::Failed { detail: e.to_string() })?;
            self.report.rejected += refused.len() as u64;
            self.report.dead_lettered += buried as u64;
            self.report.failures.extend(refused.into_iter().map(|(event_id, error)| Failure {
                category: ErrorCategory::of(&error),
                event_id,
                error,
            }));
        }
        let mut stack = vec![sendable];
        while let Some(mut part) = stack.pop() {
            if part.is_empty() {
                continue;
            }
            if part.len() > self.max_events {
                // A 413 earlier in this batch lowered the size: do not send a part known to be too big.
                stack.push(part.split_off(self.max_events));
            }
            match self.post_part(&part).await? {
                Answer::Results(verdicts) => self.settle_rows(&part, &verdicts)?,
                Answer::TooLarge if part.len() == 1 => {
                    let verdict = Verdict::Rejected("the event is larger than the server accepts (HTTP 413)".into());
                    self.settle_rows(&part, &HashMap::from([(part[0].event_id.clone(), verdict)]))?;
                }
                Answer::TooLarge => {
                    // Keep the smaller size for the rest of the run: the next batches would fail too.
                    tracing::debug!(events = part.len(), "HTTP 413: halving the batch for the rest of the run");
                    self.max_events = (part.len() / 2).max(1);
                    self.max_bytes = (body_len(&part) / 2).max(1024);
                    let mut first = part;
                    let second = first.split_off(first.len() / 2);
                    stack.push(second);
                    stack.push(first);
                }
                Answer::BadRequest(bad) if part.len() == 1 => {
                    let error = bad.error_for(&part[0].event_id);
                    self.settle_rows(&part, &HashMap::from([(part[0].event_id.clone(), Verdict::Rejected(error))]))?;
                }
                Answer::BadRequest(bad) => {
                    // Send the events the server named on their own, the rest together; without
                    // names (or when they are wrong), bisect.
                    tracing::debug!(
                        events = part.len(),
                        named = bad.per_event.len(),
                        "the server refused the whole batch: splitting it"
                    );
                    let (named, rest): (Vec<QueueRow>, Vec<QueueRow>) =
                        part.into_iter().partition(|r| bad.per_event.contains_key(&r.event_id));
                    if !named.is_empty() && !rest.is_empty() {
                        stack.push(rest);
                        stack.extend(named.into_iter().rev().map(|r| vec![r]));
                    } else {
                        let mut first = if named.is_empty() { rest } else { named };
                        let second = first.split_off(first.len() / 2);
                        stack.push(second);
                        stack.push(first);
                    }
                }
            }
            self.notify(progress);
        }
        Ok(())
    }

    /// Records the verdicts for `part`: acknowledged rows leave the queue, rejected ones count towards
    /// the dead-letter limit, unanswered ones stay as they are.
    fn settle_rows(&mut self, part: &[QueueRow], verdicts: &HashMap<String, Verdict>) -> Result<(), StopReason> {
        let mut acknowledged = Vec::new();
        let mut rejected = Vec::new();
        for row in part {
            match verdicts.get(&row.event_id) {
                Some(Verdict::Delivered) => {
                    self.report.delivered += 1;
                    acknowledged.push(row.event_id.clone());
                }
                Some(Verdict::Duplicate) => {
                    self.report.duplicates += 1;
                    acknowledged.push(row.event_id.clone());
                }
                Some(Verdict::Rejected(error)) => rejected.push((row.event_id.clone(), error.clone())),
                None => self.report.unanswered += 1,
            }
        }
        tracing::debug!(
            events = part.len(),
            acknowledged = acknowledged.len(),
            rejected = rejected.len(),
            unanswered = part.len() - acknowledged.len() - rejected.len(),
            "batch answered"
        );
        let failed = |e: QueueError| StopReason::Failed { detail: e.to_string() };
        if !acknowledged.is_empty() {
            self.queue.acknowledge(&acknowledged).map_err(failed)?;
        }
        if !rejected.is_empty() {
            let outcome = self.queue.reject(&rejected, self.now_epoch).map_err(failed)?;
            self.report.dead_lettered += outcome.dead_lettered as u64;
            self.report.rejected += rejected.len() as u64;
            self.report.failures.extend(rejected.into_iter().map(|(event_id, error)| Failure {
                category: ErrorCategory::of(&error),
                event_id,
                error,
            }));
        }
        Ok(())
    }

    /// Posts one part until the server gives an answer about its events (or the run must stop).
    async fn post_part(&mut self, part: &[QueueRow]) -> Result<Answer, StopReason> {
        let body = gzip(&body(part)).map_err(|e| StopReason::Failed { detail: format!("cannot compress: {e}") })?;
        loop {
            self.wait_for_spacing().await?;
            let left = self.time_left();
            let timeout = left.map_or(self.options.request_timeout, |left| left.min(self.options.request_timeout));
            if timeout.is_zero() {
                return Err(StopReason::Deadline);
            }
            // When the deadline is what bounds this request, running out of time is the deadline.
            let bounded_by_deadline = left.is_some_and(|left| left <= self.options.request_timeout);
            self.last_post = Some(Instant::now());
            self.report.requests += 1;
            tracing::trace!(events = part.len(), gzipped = body.len(), timeout = %Ms(timeout), "posting a batch");
            // The endpoint applies the timeout to the request; this one also covers a token refresh.
            let reply = match tokio::time::timeout(timeout, self.endpoint.post(&body, timeout)).await {
                Err(_) => Err(PostError::Transport("timed out".into())),
                Ok(reply) => reply,
            };
            let reply = match reply {
                Ok(reply) => {
                    self.reached_server = true;
                    reply
                }
                Err(PostError::Transport(_) | PostError::Unreachable(_))
                    if bounded_by_deadline && self.nearly_past_deadline() =>
                {
                    return Err(StopReason::Deadline);
                }
                Err(PostError::Unreachable(detail)) if !self.reached_server => {
                    // Nobody is listening and nobody has been this run: a few quick tries settle it,
                    // rather than the full backoff meant for a server that is up but struggling.
                    self.pause_after_failure_within(detail, None, UNREACHABLE_ATTEMPTS).await?;
                    continue;
                }
                Err(PostError::Transport(detail) | PostError::Unreachable(detail)) => {
                    self.pause_after_failure(detail, None).await?;
                    continue;
                }
                Err(PostError::Auth(error)) => {
                    self.after_auth_error(error).await?;
                    continue;
                }
            };
            match reply.status {
                200..=299 => match parse_results(&reply.body) {
                    Ok(verdicts) => {
                        self.answered();
                        return Ok(Answer::Results(verdicts));
                    }
                    Err(problem) => self.pause_after_failure(problem, None).await?,
                },
                400 | 422 => {
                    self.answered();
                    return Ok(Answer::BadRequest(parse_bad_request(&reply.body, reply.status)));
                }
                413 => {
                    self.answered();
                    return Ok(Answer::TooLarge);
                }
                401 => {
                    if self.reauthenticated || self.renewals >= MAX_RENEWALS {
                        return Err(StopReason::LoginRequired {
                            detail: "the server refused a freshly refreshed token (HTTP 401)".into(),
                        });
                    }
                    self.renewals += 1;
                    tracing::debug!("HTTP 401: renewing the session");
                    let left = self.time_left();
                    let renewal = self.endpoint.reauthenticate();
                    let renewed = match left {
                        Some(left) => tokio::time::timeout(left, renewal).await.map_err(|_| StopReason::Deadline)?,
                        None => renewal.await,
                    };
                    match renewed {
                        // Our own rotation: if the server refuses even this token, the login is gone.
                        Ok(Renewal::Rotated) => self.reauthenticated = true,
                        // Another process's fresh pair: it may itself have been revoked since, so a
                        // rotation of our own is still allowed.
                        Ok(Renewal::Adopted) => {}
                        Err(error) => self.after_auth_error(error).await?,
                    }
                }
                429 => self.pause_after_failure("rate limited (HTTP 429)".into(), reply.retry_after).await?,
                408 | 500 | 502..=504 | 506..=599 => {
                    self.pause_after_failure(format!("HTTP {}", reply.status), reply.retry_after).await?
                }
                status => {
                    let detail = match status {
                        403 => ": permission denied; check your team membership for this project".to_owned(),
                        404 => ": no batch endpoint at this URL; check the server URL".to_owned(),
                        _ => String::new(),
                    };
                    return Err(StopReason::Refused { status, detail });
                }
            }
        }
    }

    /// The server answered about the events: the failure streak and the refresh allowance reset.
    fn answered(&mut self) {
        self.failures_in_row = 0;
        self.reauthenticated = false;
    }

    async fn after_auth_error(&mut self, error: AuthError) -> Result<(), StopReason> {
        match error {
            e if e.is_transient() => self.pause_after_failure(e.to_string(), None).await,
            // The credentials file or its lock: a local problem, not a login problem.
            e @ (AuthError::Storage { .. } | AuthError::LockTimeout { .. }) => {
                Err(StopReason::Failed { detail: e.to_string() })
            }
            // Expired, revoked, logged out elsewhere, or a server that will not renew: log in again.
            e => Err(StopReason::LoginRequired { detail: e.to_string() }),
        }
    }

    /// Counts a failed attempt and waits before the next one (the server's `Retry-After` when given,
    /// else exponential backoff with jitter); gives up after `max_attempts` in a row.
    async fn pause_after_failure(&mut self, detail: String, retry_after: Option<Duration>) -> Result<(), StopReason> {
        self.pause_after_failure_within(detail, retry_after, u32::MAX).await
    }

    /// As [`Run::pause_after_failure`], with at most `limit` attempts in a row.
    async fn pause_after_failure_within(
        &mut self,
        detail: String,
        retry_after: Option<Duration>,
        limit: u32,
    ) -> Result<(), StopReason> {
        self.failures_in_row += 1;
        let attempts = self.options.max_attempts.min(limit).max(1);
        if self.failures_in_row >= attempts {
            tracing::debug!(attempt = self.failures_in_row, attempts, %detail, "request failed; giving up");
            return Err(StopReason::Offline {
                detail: match self.failures_in_row {
                    1 => detail,
                    n => format!("{detail}; gave up after {n} attempts in a row"),
                },
            });
        }
        let wait = match retry_after {
            // Honour the server, within reason: a confused server must not park us for hours.
            Some(wait) => wait.min(Duration::from_secs(300)),
            None => self.options.backoff.jittered_delay(self.failures_in_row),
        };
        if self.time_left().is_some_and(|left| left <= wait) {
            tracing::debug!(attempt = self.failures_in_row, %detail, wait = %Ms(wait), "request failed; no time left to retry");
            return Err(StopReason::Deadline);
        }
        tracing::debug!(
            attempt = self.failures_in_row,
            attempts,
            %detail,
            wait = %Ms(wait),
            server_asked = retry_after.is_some(),
            "request failed; retrying after a backoff"
        );
        tokio::time::sleep(wait).await;
        Ok(())
    }

    async fn wait_for_spacing(&self) -> Result<(), StopReason> {
        let Some(last) = self.last_post else { return Ok(()) };
        let ready = last + self.options.spacing;
        if self.options.deadline.is_some_and(|deadline| ready >= deadline) {
            return Err(StopReason::Deadline);
        }
        if ready > Instant::now() {
            tracing::trace!(wait = %Ms(ready - Instant::now()), "spacing requests");
        }
        tokio::time::sleep_until(ready).await;
        Ok(())
    }

    fn time_left(&self) -> Option<Duration> {
        self.options.deadline.map(|deadline| deadline.saturating_duration_since(Instant::now()))
    }

    /// Within timer precision of the deadline.
    fn nearly_past_deadline(&self) -> bool {
        self.time_left().is_some_and(|left| left < Duration::from_millis(20))
    }

    fn past_deadline(&self) -> bool {
        self.time_left().is_some_and(|left| left.is_zero())
    }
}

/// What happens to a queued row before it is sent.
enum Screen {
    Send(QueueRow),
    /// Stamped for another team than the session's: sending it with this login would file it under
    /// the wrong account (upstream's account-switch bug, §12.12). It stays queued for that login.
    Hold {
        team: String,
    },
    /// Never to be sent as it is; straight to the dead letters with this reason.
    Refuse(QueueRow, String),
}

/// The row as it may be sent with the login of `team` (see [`screen`]), or `None` when it must not be
/// sent now (another team's event, or one never to be transmitted). The WebSocket fast path uses it so
/// that a pushed envelope is byte for byte what the batch will send.
pub fn sendable(row: QueueRow, team: Option<&str>) -> Option<QueueRow> {
    match screen(row, team) {
        Screen::Send(row) => Some(row),
        Screen::Hold { .. } | Screen::Refuse(..) => None,
    }
}

/// Checks a row against the session: it must be a JSON object with a project identity (the contract
/// says events without `project_uuid` are never transmitted; upstream sent them, §12.9), and it must
/// belong to the logged-in team. Events queued while logged out (`team_slug: "local"`) get the
/// session's team, which is what FR-028b asks for once the team is known.
fn screen(mut row: QueueRow, team: Option<&str>) -> Screen {
    let Ok(mut event) = serde_json::from_str::<serde_json::Map<String, Value>>(&row.data) else {
        return Screen::Refuse(row, "the queued event is not a valid JSON object".into());
    };
    if event.get("project_uuid").and_then(Value::as_str).is_none_or(|u| u.trim().is_empty()) {
        let error = "missing project_uuid: the event was recorded outside a spec-kitty project, and such events are never transmitted";
        return Screen::Refuse(row, error.into());
    }
    let own = event.get("team_slug").and_then(Value::as_str).filter(|t| !t.is_empty() && *t != "local");
    match (own, team) {
        (Some(own), Some(team)) if own != team => Screen::Hold { team: own.to_owned() },
        (None, Some(team)) => {
            event.insert("team_slug".into(), Value::String(team.to_owned()));
            row.data = Value::Object(event).to_string();
            Screen::Send(row)
        }
        _ => Screen::Send(row),
    }
}

/// `{"events": [<row>, <row>]}` with the rows exactly as queued.
fn body(rows: &[QueueRow]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body_len(rows));
    out.extend_from_slice(b"{\"events\": [");
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(row.data.as_bytes());
    }
    out.extend_from_slice(b"]}");
    out
}

fn body_len(rows: &[QueueRow]) -> usize {
    BODY_OVERHEAD + rows.iter().map(|r| r.data.len() + 2).sum::<usize>()
}

fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    // Fast compression: JSON events shrink ~8× even at level 1, and throughput matters more.
    let mut encoder = GzEncoder::new(Vec::with_capacity(bytes.len() / 4), Compression::fast());
    encoder.write_all(bytes)?;
    encoder.finish()
}

/// `{"results": [{"event_id", "status", "error"?, "error_message"?}]}`. Results for ids not sent are
/// ignored by the caller; a repeated id keeps its first result.
fn parse_results(body: &[u8]) -> Result<HashMap<String, Verdict>, String> {
    let value: Value = serde_json::from_slice(body).map_err(|_| "the server's answer is not JSON".to_owned())?;
    let results = value.get("results").and_then(Value::as_array).ok_or("the server's answer has no results list")?;
    let mut verdicts = HashMap::with_capacity(results.len());
    for result in results {
        let Some(id) = result.get("event_id").and_then(Value::as_str) else { continue };
        let status = result.get("status").and_then(Value::as_str).unwrap_or_default().to_ascii_lowercase();
        let verdict = match status.as_str() {
            "success" | "accepted" | "warning" | "skipped" => Verdict::Delivered,
            "duplicate" => Verdict::Duplicate,
            _ => Verdict::Rejected(
                ["error_message", "error"]
                    .iter()
                    .find_map(|k| result.get(*k).filter(|v| !v.is_null()).map(text_of))
                    .unwrap_or_else(|| "Unknown error".to_owned()),
            ),
        };
        verdicts.entry(id.to_owned()).or_insert(verdict);
    }
    Ok(verdicts)
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A whole-batch 400: `{"error": str, "details": [ {event_id, error|reason} ] | str}`.
#[derive(Debug, Clone, Default)]
struct BadRequest {
    error: String,
    per_event: HashMap<String, String>,
}

impl BadRequest {
    fn error_for(&self, event_id: &str) -> String {
        self.per_event.get(event_id).cloned().unwrap_or_else(|| self.error.clone())
    }
}

fn parse_bad_request(body: &[u8], status: u16) -> BadRequest {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        // Not JSON: keep a short, printable excerpt of what the server said.
        let text: String = String::from_utf8_lossy(body).chars().filter(|c| !c.is_control()).take(200).collect();
        let error = if text.trim().is_empty() { format!("HTTP {status}") } else { format!("HTTP {status}: {text}") };
        return BadRequest { error, per_event: HashMap::new() };
    };
    let mut error = value.get("error").map(text_of).unwrap_or_else(|| format!("HTTP {status}"));
    let mut details = value.get("details").cloned().unwrap_or(Value::Null);
    if let Value::String(text) = &details {
        match serde_json::from_str::<Value>(text) {
            Ok(list @ Value::Array(_)) => details = list,
            _ => error = format!("{error}\nDetails: {text}"),
        }
    }
    let per_event = details
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| {
                    let id = item.get("event_id")?.as_str()?;
                    let text = item.get("error").or_else(|| item.get("reason")).map(text_of)?;
                    Some((id.to_owned(), text))
                })
                .collect()
        })
        .unwrap_or_default();
    BadRequest { error, per_event }
}

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("cannot read the spool file {}: {source}", path.display())]
    Io { path: std::path::PathBuf, source: std::io::Error },
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Moves events from `queue-spool.jsonl` (written when the queue was unusable) into the queue, then
/// empties the file. The spool's own lock is held throughout, so an event appended meanwhile waits
/// and is not truncated away. If the queue is full, the file is kept whole (re-importing is harmless:
/// queued ids are ignored).
pub fn import_spool(home: &Path, queue: &mut OfflineQueue, now_epoch: i64) -> Result<SpoolImport, SpoolError> {
    let path = home.join(SPOOL_FILE);
    let io = |source| SpoolError::Io { path: path.clone(), source };
    let mut file = match std::fs::OpenOptions::new().read(true).write(true).open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(SpoolImport::default()),
        Err(e) => return Err(io(e)),
    };
    crate::fsutil::lock_exclusive(&file, &path, crate::context::DEFAULT_LOCK_TIMEOUT).map_err(io)?;
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(io)?;
    let mut events = Vec::new();
    let mut bad = String::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match spooled_event(line) {
            Some(event) => events.push(event),
            None => {
                bad.push_str(line);
                bad.push('\n');
            }
        }
    }
    tracing::debug!(path = %path.display(), events = events.len(), unreadable = bad.lines().count(), "importing the spool");
    let mut import = SpoolImport::default();
    if !events.is_empty() {
        let outcome = queue.enqueue(&events, now_epoch)?;
        import.imported = outcome.inserted;
        import.duplicates = outcome.duplicates;
        if outcome.dropped > 0 {
            return Ok(import);
        }
    }
    if !bad.is_empty() {
        let bad_path = home.join("queue-spool.bad.jsonl");
        let mut log = std::fs::OpenOptions::new().create(true).append(true).open(&bad_path).map_err(io)?;
        log.write_all(bad.as_bytes()).map_err(io)?;
        import.unreadable = bad.lines().count();
    }
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    Ok(import)
}

fn spooled_event(line: &str) -> Option<QueuedEvent> {
    let value: Value = serde_json::from_str(line).ok()?;
    Some(QueuedEvent {
        event_id: value.get("event_id")?.as_str()?.to_owned(),
        event_type: value.get("event_type")?.as_str()?.to_owned(),
        lamport_clock: value.get("lamport_clock").and_then(Value::as_u64).unwrap_or(0),
        data: line.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::queue::QueueLimits;
    use flate2::read::GzDecoder;

    fn queue(dir: &Path, n: usize, max_rejections: u32) -> OfflineQueue {
        let limits = QueueLimits { max_rejections, ..QueueLimits::default() };
        let mut q = OfflineQueue::open(&dir.join("queue.db"), limits).unwrap();
        let events: Vec<QueuedEvent> = (0..n)
            .map(|i| {
                let id = format!("01KHRH{i:020}");
                QueuedEvent {
                    data: format!(
                        "{{\"event_id\": \"{id}\", \"event_type\": \"HistoryAdded\", \"n\": {i}, \"team_slug\": \"local\", \"project_uuid\": \"p\"}}"
                    ),
                    event_id: id,
                    event_type: "HistoryAdded".into(),
                    lamport_clock: i as u64,
                }
            })
            .collect();
        q.enqueue(&events, 1).unwrap();
        q
    }

    /// A scripted server: `answer` sees the event ids of each request and the request number.
    struct Fake<F> {
        answer: F,
        requests: usize,
        refreshes: usize,
        refresh_fails: bool,
        sent: Vec<Value>,
    }

    impl<F: FnMut(&[String], usize) -> Result<Reply, PostError>> Fake<F> {
        fn new(answer: F) -> Self {
            Fake { answer, requests: 0, refreshes: 0, refresh_fails: false, sent: Vec::new() }
        }
    }

    impl<F: FnMut(&[String], usize) -> Result<Reply, PostError>> Endpoint for Fake<F> {
        async fn post(&mut self, gzipped: &[u8], _timeout: Duration) -> Result<Reply, PostError> {
            let mut text = String::new();
            GzDecoder::new(gzipped).read_to_string(&mut text).unwrap();
            let body: Value = serde_json::from_str(&text).unwrap();
            let ids: Vec<String> =
                body["events"].as_array().unwrap().iter().map(|e| e["event_id"].as_str().unwrap().to_owned()).collect();
            self.sent.extend(body["events"].as_array().unwrap().iter().cloned());
            self.requests += 1;
            (self.answer)(&ids, self.requests)
        }

        async fn reauthenticate(&mut self) -> Result<Renewal, AuthError> {
            self.refreshes += 1;
            if self.refresh_fails { Err(AuthError::SessionExpired) } else { Ok(Renewal::Rotated) }
        }

        fn team(&self) -> Option<String> {
            Some("acme".into())
        }
    }

    fn reply(status: u16, body: Value) -> Result<Reply, PostError> {
        Ok(Reply { status, retry_after: None, body: body.to_string().into_bytes() })
    }

    fn results(ids: &[String], status: impl Fn(&str) -> &'static str) -> Result<Reply, PostError> {
        let results: Vec<Value> = ids
            .iter()
            .map(|id| json!({"event_id": id, "status": status(id), "error": "invalid field lamport"}))
            .collect();
        reply(200, json!({ "results": results }))
    }

    fn fast() -> DeliveryOptions {
        DeliveryOptions {
            backoff: Backoff::new(Duration::from_millis(1), Duration::from_millis(4)),
            ..Default::default()
        }
    }

    async fn run<F: FnMut(&[String], usize) -> Result<Reply, PostError>>(
        q: &mut OfflineQueue,
        fake: &mut Fake<F>,
        options: &DeliveryOptions,
    ) -> DeliveryReport {
        deliver(q, fake, options, 100, &mut |_| {}).await
    }

    use serde_json::json;

    #[tokio::test]
    async fn batches_by_count_and_acknowledges_success_and_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = queue(dir.path(), 2500, 5);
        let mut sizes = Vec::new();
        let mut fake = Fake::new(|ids: &[String], _| {
            sizes.push(ids.len());
            results(ids, |id| if id.ends_with('7') { "duplicate" } else { "success" })
        });
        let report = run(&mut q, &mut fake, &fast()).await;
        assert_eq!(report.stop, StopReason::Drained);
        assert_eq!((report.delivered + report.duplicates, report.duplicates, report.remaining), (2500, 250, 0));
        assert_eq!(sizes, [1000, 1000, 500]);
        assert!(q.is_empty().unwrap());
    }

    #[tokio::test]
    async fn the_byte_budget_limits_a_batch() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = queue(dir.path(), 100, 5);
        let mut sizes = Vec::new();
        let mut fake = Fake::new(|ids: &[String], _| {
            sizes.push(ids.len());
            results(ids, |_| "success")
        });
        let report = run(&mut q, &mut fake, &DeliveryOptions { max_bytes: 2000, ..fast() }).await;
        assert_eq!(report.delivered, 100);
        assert!(sizes.iter().all(|&n| n * 70 <= 2000), "{sizes:?}");
    }

    #[tokio::test]
    async fn rejections_count_towards_dead_letters_without_blocking_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = queue(dir.path(), 30, 2);
        let poison = "01KHRH00000000000000000003".to_owned();
        let mut fake =
            Fake::new(|ids: &[String], _| results(ids, |id| if id.ends_with("03") { "rejected" } else { "success" }));
        let first = run(&mut q, &mut fake, &fast()).await;
        assert_eq!((first.delivered, first.rejected, first.dead_lettered, first.remaining), (29, 1, 0, 1));
        assert_eq!(first.failures[0].event_id, poison);
        assert_eq!(first.failures[0].category, ErrorCategory::SchemaMismatch);
        let second = run(&mut q, &mut fake, &fast()).await;
        assert_eq!((second.rejected, second.dead_lettered, second.remaining), (1, 1, 0));
        assert_eq!(q.dead_letters().unwrap()[0].1.as_deref(), Some("invalid field lamport"));
    }

    #[tokio::test]
    async fn missing_results_never_loop_forever() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = queue(dir.path(), 5000, 5);
        let mut fake = Fake::new(|_: &[String], _| reply(200, json!({"results": []})));
        let report = run(&mut q, &mut fake, &fast()).await;
        assert_eq!(report.stop, StopReason::Stalled);
        assert_eq!((fake.requests, report.remaining, report.unanswered), (3, 5000, 3000));
        // Partly answered batches make progress; the run still ends after one pass.
        let mut fake = Fake::new(|ids: &[String], _| results(&ids[..1], |_| "success"));
        let report = run(&mut q, &mut fake, &fast()).await;
        assert_eq!((report.stop, report.delivered, fake.requests), (StopReason::Drained, 5, 5));
    }

    #[tokio::test]
    async fn a_whole_batch_400_is_split_until_the_poison_is_alone() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = queue(dir.path(), 1000, 5);
        let poison = "01KHRH00000000000000000500";
        for named in [true, false] {
            let mut fake = Fake::new(|ids: &[String], _| {
                if ids.iter().any(|id| id == poison) {
                    let details =
                        if named { json!([{"event_id": poison, "error": "invalid lane"}]) } else { json!("bad") };
                    reply(400, json!({"error": "Batch validation failed", "details": details}))
                } else {
                    results(ids, |_| "success")
                }
            });
            let report = run(&mut q, &mut fake, &fast()).await;
            assert_eq!(report.stop, StopReason::Drained);
            assert_eq!((report.rejected, report.remaining), (1, 1));
            let error = &report.failures[0].error;
            if named {
                assert_eq!(error, "invalid lane");
                assert_eq!(fake.requests, 3, "the whole batch, the rest, the named event");
            } else {
                assert_eq!(error, "Batch validation failed\nDetails: bad");
                assert!(fake.requests <= 2 * 10 + 1, "bisection: {}", fake.requests);
            }
        }
    }

    #[tokio::test]
    async fn a_413_halves_the_batch_for_the_rest_of_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = queue(dir.path(), 2000, 5);
        let mut sizes = Vec::new();
        let mut fake = Fake::new(|ids: &[String], _| {
            sizes.push(ids.len());
            if ids.len() > 300 {
                reply(413, json!({"error": "payload_too_large"}))
            } else {
                results(ids, |_| "success")
            }
        });
        let report = run(&mut q, &mut fake, &fast()).await;
        assert_eq!((report.stop, report.delivered), (StopReason::Drained, 2000));
        assert_eq!(&sizes[..4], [1000, 500, 250, 250]);
        assert!(sizes[4..].iter().all(|&n| n <= 250), "{sizes:?}");
    }

    #[tokio::test]
    async fn one_refresh_per_401_then_login_required() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = queue(dir.path(), 10, 5);
        let mut fake =
            Fake::new(|ids: &[String], n| if n == 1 { reply(401, json!({})) } else { results(ids, |_| "success") });
        let report = run(&mut q, &mut fake, &fast()).await;
        assert_eq!((report.stop, report.delivered, fake.refreshes), (StopReason::Drained, 10, 1));

        let mut q = queue(dir.path(), 10, 5);
        let mut fake = Fake::new(|_: &[String], _| reply(401, json!({})));
        let report = run(&mut q, &mut fake, &fast()).await;
        assert!(matches!(report.stop, StopReason::LoginRequired { .. }), "{:?}", report.stop);
        assert_eq!((fake.requests, fake.refreshes, report.remaining), (2, 1, 10));

        let mut fake = Fake::new(|_: &[String], _| reply(401, json!({})));
        fake.refresh_fails = true;
        let report = run(&mut q, &mut fake, &fast()).await;
        assert!(matches!(report.stop, StopReason::LoginRequired { .. }));
        assert_eq!(q.len().unwrap(), 10, "nothing counted as rejected");
        assert_eq!(q.take_batch(1, usize::MAX).unwrap()[0].retry_count, 0);
    }

    #[tokio::test]
    async fn transient_failures_back_off_then_give_up_without_touching_retry_counts() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = queue(dir.path(), 10, 5);
        let mut fake = Fake::new(|ids: &[String], n| match n {
            1 => reply(503, json!({})),
            2 => Err(PostError::Transport("connection reset".into())),
            3 => Ok(Reply { status: 429, retry_after: Some(Duration::from_millis(5)), body: Vec::new() }),
            _ => results(ids, |_| "success"),
        });
        let report = run(&mut q, &mut fake, &fast()).await;
        assert_eq!((report.stop, report.delivered, report.requests), (StopReason::Drained, 10, 4));

        let mut q = queue(dir.path(), 10, 5);
        let mut fake = Fake::new(|_: &[String], _| Err(PostError::Transport("connection reset".into())));
        let report = run(&mut q, &mut fake, &DeliveryOptions { max_attempts: 5, ..fast() }).await;
        match &report.stop {
            StopReason::Offline { detail } => assert!(detail.contains("connection reset"), "{detail}"),
            other => panic!("{other:?}"),
        }
        assert_eq!((fake.requests, report.remaining), (5, 10));
        // Nobody listening at all: fewer tries.
        let mut fake = Fake::new(|_: &[String], _| Err(PostError::Unreachable("connection refused".into())));
        let report = run(&mut q, &mut fake, &DeliveryOptions { max_attempts: 6, ..fast() }).await;
        assert!(matches!(report.stop, StopReason::Offline { .. }));
        assert_eq!(fake.requests, 3);
        assert_eq!(q.take_batch(1, usize::MAX).unwrap()[0].retry_count, 0);
    }

    #[tokio::test]
    async fn the_deadline_ends_a_hanging_request() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = queue(dir.path(), 10, 5);
        struct Hang;
        impl Endpoint for Hang {
            async fn post(&mut self, _: &[u8], _: Duration) -> Result<Reply, PostError> {
                std::future::pending().await
            }
            async fn reauthenticate(&mut self) -> Result<Renewal, AuthError> {
                Ok(Renewal::Rotated)
            }
            fn team(&self) -> Option<String> {
                None
            }
        }
        let start = std::time::Instant::now();
        let options = DeliveryOptions { deadline: Some(Instant::now() + Duration::from_millis(200)), ..fast() };
        let report = deliver(&mut q, &mut Hang, &options, 0, &mut |_| {}).await;
        assert_eq!(report.stop, StopReason::Deadline);
        assert!(start.elapsed() < Duration::from_millis(600), "{:?}", start.elapsed());
        assert_eq!(report.remaining, 10);
    }

    #[tokio::test]
    async fn unparseable_rows_are_rejected_locally() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = queue(dir.path(), 3, 1);
        q.enqueue(
            &[QueuedEvent { event_id: "X".into(), event_type: "T".into(), data: "{not json".into(), lamport_clock: 0 }],
            1,
        )
        .unwrap();
        let mut fake = Fake::new(|ids: &[String], _| results(ids, |_| "success"));
        let report = run(&mut q, &mut fake, &fast()).await;
        assert_eq!((report.delivered, report.rejected, report.dead_lettered, report.remaining), (3, 1, 1, 0));
    }

    #[tokio::test]
    async fn events_need_a_project_and_go_only_to_their_own_team() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = queue(dir.path(), 2, 5);
        let extra = |id: &str, tail: &str| QueuedEvent {
            event_id: id.into(),
            event_type: "HistoryAdded".into(),
            data: format!("{{\"event_id\": \"{id}\"{tail}}}"),
            lamport_clock: 0,
        };
        q.enqueue(
            &[
                extra("NOPROJECT", ", \"project_uuid\": null, \"team_slug\": \"acme\""),
                extra("OTHERTEAM", ", \"project_uuid\": \"p\", \"team_slug\": \"beta\""),
                extra("OWNTEAM", ", \"project_uuid\": \"p\", \"team_slug\": \"acme\""),
            ],
            2,
        )
        .unwrap();
        let mut teams = Vec::new();
        let mut fake = Fake::new(|ids: &[String], _| results(ids, |_| "success"));
        let report = deliver(&mut q, &mut fake, &fast(), 100, &mut |_| {}).await;
        assert_eq!((report.delivered, report.rejected, report.dead_lettered, report.held_back), (3, 1, 1, 1));
        assert_eq!(report.held_for_teams.iter().collect::<Vec<_>>(), ["beta"]);
        assert!(report.failures[0].error.starts_with("missing project_uuid"), "{:?}", report.failures);
        assert_eq!(q.all_rows().unwrap().iter().map(|r| r.event_id.as_str()).collect::<Vec<_>>(), ["OTHERTEAM"]);
        assert_eq!(q.dead_letters().unwrap()[0].0.event_id, "NOPROJECT");
        // Events queued while logged out are sent with the session's team.
        let sent = fake.sent.clone();
        teams.extend(sent.iter().map(|e| e["team_slug"].as_str().unwrap().to_owned()));
        assert_eq!(teams, ["acme", "acme", "acme"]);
    }

    #[test]
    fn categories_follow_upstreams_keywords() {
        assert_eq!(ErrorCategory::of("Missing field wp_id"), ErrorCategory::SchemaMismatch);
        assert_eq!(ErrorCategory::of("Token expired"), ErrorCategory::AuthExpired);
        assert_eq!(ErrorCategory::of("Internal server error"), ErrorCategory::ServerError);
        assert_eq!(ErrorCategory::of("nope"), ErrorCategory::Unknown);
    }

    #[test]
    fn the_spool_moves_into_the_queue_and_is_emptied() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = queue(dir.path(), 0, 5);
        std::fs::write(
            dir.path().join(SPOOL_FILE),
            "{\"event_id\": \"01A\", \"event_type\": \"HistoryAdded\", \"lamport_clock\": 4}\nnot json\n\n",
        )
        .unwrap();
        let import = import_spool(dir.path(), &mut q, 5).unwrap();
        assert_eq!(import, SpoolImport { imported: 1, duplicates: 0, unreadable: 1 });
        assert_eq!(std::fs::read_to_string(dir.path().join(SPOOL_FILE)).unwrap(), "");
        assert_eq!(std::fs::read_to_string(dir.path().join("queue-spool.bad.jsonl")).unwrap(), "not json\n");
        assert_eq!(q.len().unwrap(), 1);
        assert_eq!(import_spool(dir.path(), &mut q, 5).unwrap(), SpoolImport::default());
    }
}
