//! The run loop: one walk over the queue, batch by batch, with splitting, retries and renewals.

use super::body::{body, body_len, gzip};
use super::endpoint::{Endpoint, PostError};
use super::report::{DeliveryReport, ErrorCategory, Failure, StopReason};
use super::results::{BadRequest, Verdict, parse_bad_request, parse_results};
use super::screen::{Screen, screen};
use super::{BODY_OVERHEAD, MAX_RENEWALS, UNREACHABLE_ATTEMPTS};
use crate::diagnostics::Ms;
use crate::sync::auth::{AuthError, Renewal};
use crate::sync::backoff::Backoff;
use crate::sync::queue::{OfflineQueue, QueueError, QueuePosition, QueueRow};
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

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
