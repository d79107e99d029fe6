//! What a run did and why it ended: the report, the stop reasons and the rejected events by category.

use super::spool::SpoolImport;
use std::collections::HashMap;

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
            // The detail is the login's own message ("not logged in", "logged in to X, but …").
            StopReason::NotLoggedIn { detail } if !detail.is_empty() => detail.clone(),
            StopReason::NotLoggedIn { .. } => "not logged in".into(),
            StopReason::LoginRequired { detail } if !detail.is_empty() => detail.clone(),
            StopReason::LoginRequired { .. } => "login required".into(),
            StopReason::Offline { detail } => format!("the server is unreachable ({detail})"),
            StopReason::Refused { status, detail } => format!("the server refused the request (HTTP {status}{detail})"),
            StopReason::Deadline => "the time allowed for this sync ran out".into(),
            StopReason::Stalled => "the server answered without results for the events sent".into(),
            StopReason::Failed { detail } => detail.clone(),
        }
    }
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
