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

mod body;
mod endpoint;
mod outcome;
mod report;
mod results;
mod run;
mod screen;
mod spool;
#[cfg(test)]
mod tests;

pub use endpoint::{Endpoint, HttpEndpoint, PostError, Reply};
pub use outcome::{FailureFile, RunSummary, Undelivered};
pub use report::{DeliveryReport, ErrorCategory, Failure, StopReason};
pub use run::{DeliveryOptions, Progress, deliver};
pub use screen::sendable;
pub use spool::{SpoolError, SpoolImport, import_spool};

// The moved code still says `super::config` and `super::backoff`, as it did in one file.
use super::{backoff, config};

pub const BATCH_PATH: &str = "api/v1/events/batch/";
/// 1000 results of a few hundred bytes each fit easily; more is not a batch response.
const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;
/// Token renewals one run may make; far more than token lifetimes ever need.
const MAX_RENEWALS: u32 = 16;
/// Attempts in a row when no connection can be made and none has been this run (nobody listening).
const UNREACHABLE_ATTEMPTS: u32 = 3;
/// `{"events": [` + `]}` and the `, ` separators.
const BODY_OVERHEAD: usize = 16;
