//! When the next batch run may start: wanted runs, spacing, the periodic run and the backoff.

use crate::sync::backoff::NETWORK as RETRY;
use crate::sync::delivery::StopReason;
use std::time::Duration;
use tokio::time::Instant;

/// When the next batch run may start.
#[derive(Debug)]
pub(super) struct Schedule {
    pub(super) interval: Duration,
    pub(super) spacing: Duration,
    /// The next run that happens whatever else does.
    periodic_at: Instant,
    /// Events are waiting: a run is wanted at this time.
    wanted_at: Option<Instant>,
    /// After failures, no run before this.
    pub(super) retry_at: Option<Instant>,
    pub(super) failures: u32,
    /// No server or no login: wanted runs wait for a change (or the periodic run).
    pub(super) blocked: bool,
    last_start: Option<Instant>,
}

/// How a run went, as far as scheduling cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RunClass {
    Done,
    Blocked,
    Transient,
    Slow,
}

impl Schedule {
    pub(super) fn new(interval: Duration, spacing: Duration, now: Instant) -> Schedule {
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

    pub(super) fn want(&mut self, at: Instant) {
        self.wanted_at = Some(self.wanted_at.map_or(at, |wanted| wanted.min(at)));
    }

    pub(super) fn unblock(&mut self, now: Instant) {
        self.blocked = false;
        self.retry_at = None;
        self.want(now);
    }

    pub(super) fn next_run(&self) -> Instant {
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

    pub(super) fn started(&mut self, now: Instant) {
        self.last_start = Some(now);
        self.wanted_at = None;
    }

    /// Folds a finished run in; returns when the next try is due after a failure.
    pub(super) fn finished(&mut self, class: RunClass, now: Instant) -> Option<Duration> {
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

pub(super) fn classify(stop: &StopReason) -> RunClass {
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
