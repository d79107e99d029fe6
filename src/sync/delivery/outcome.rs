//! How a finished run is reported: its exit code, the `sync now --json` summary, upstream's
//! `--report` failure file, and the error a run that left events behind turns into.

use super::report::{DeliveryReport, StopReason};
use crate::error::{Diagnose, EXIT_FAILURE, EXIT_SUCCESS, EXIT_SYNC_REJECTED, EXIT_SYNC_UNDELIVERED};
use crate::json_map::Entries;
use serde::Serialize;

impl DeliveryReport {
    /// The documented exit code of a `sync now` run.
    pub fn exit_code(&self) -> u8 {
        match &self.stop {
            StopReason::Failed { .. } => EXIT_FAILURE,
            StopReason::NotConfigured
            | StopReason::NotLoggedIn { .. }
            | StopReason::LoginRequired { .. }
            | StopReason::Offline { .. }
            | StopReason::Refused { .. }
            | StopReason::Deadline => EXIT_SYNC_UNDELIVERED,
            StopReason::Stalled => EXIT_SYNC_REJECTED,
            StopReason::Drained if self.rejected > 0 || self.unanswered > 0 || self.held_back > 0 => EXIT_SYNC_REJECTED,
            StopReason::Drained => EXIT_SUCCESS,
        }
    }

    /// `sync now --json`.
    pub fn summary(&self) -> RunSummary {
        RunSummary {
            total: self.total,
            synced: self.delivered,
            duplicates: self.duplicates,
            failed: self.rejected,
            categories: categories(self),
            dead_lettered: self.dead_lettered,
            unanswered: self.unanswered,
            held_back: self.held_back,
            remaining: self.remaining,
            batches: self.batches,
            requests: self.requests,
            spool_imported: self.spool.imported,
            stop: self.stop.as_str(),
            detail: self.stop.describe(),
            exit_code: self.exit_code(),
        }
    }

    /// Upstream's `--report` file (§5.2).
    pub fn failure_file(&self, generated_at: String) -> FailureFile<'_> {
        FailureFile {
            generated_at,
            summary: FailureSummary {
                total_events: self.total,
                synced: self.delivered,
                duplicates: self.duplicates,
                failed: self.rejected,
                categories: categories(self),
            },
            failures: self
                .failures
                .iter()
                .map(|f| FailureEntry { event_id: &f.event_id, error: &f.error, category: f.category.as_str() })
                .collect(),
        }
    }

    /// The teams whose events were held back, comma-separated.
    pub fn held_teams(&self) -> String {
        self.held_for_teams.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}

#[derive(Debug, Serialize)]
pub struct RunSummary {
    pub total: u64,
    pub synced: u64,
    pub duplicates: u64,
    pub failed: u64,
    pub categories: Categories,
    pub dead_lettered: u64,
    pub unanswered: u64,
    pub held_back: u64,
    pub remaining: u64,
    pub batches: u64,
    pub requests: u64,
    pub spool_imported: usize,
    pub stop: &'static str,
    pub detail: String,
    pub exit_code: u8,
}

#[derive(Debug, Serialize)]
pub struct FailureFile<'a> {
    pub generated_at: String,
    pub summary: FailureSummary,
    pub failures: Vec<FailureEntry<'a>>,
}

#[derive(Debug, Serialize)]
pub struct FailureSummary {
    pub total_events: u64,
    pub synced: u64,
    pub duplicates: u64,
    pub failed: u64,
    pub categories: Categories,
}

#[derive(Debug, Serialize)]
pub struct FailureEntry<'a> {
    pub event_id: &'a str,
    pub error: &'a str,
    pub category: &'static str,
}

/// Rejections per category as a JSON object, most frequent first.
pub type Categories = Entries<&'static str, u64>;

fn categories(report: &DeliveryReport) -> Categories {
    report.categories().into_iter().map(|(category, count)| (category.as_str(), count)).collect()
}

/// A run that did not deliver everything: what happened, what to do, and its exit code (3 or 4).
#[derive(Debug, thiserror::Error)]
#[error("{}", describe(.0))]
pub struct Undelivered(pub DeliveryReport);

fn describe(report: &DeliveryReport) -> String {
    match &report.stop {
        StopReason::Drained | StopReason::Stalled => {
            let mut parts = Vec::new();
            if report.rejected > 0 {
                parts.push(format!("{} event(s) were rejected by the server", report.rejected));
            }
            if report.unanswered > 0 || report.stop == StopReason::Stalled {
                parts.push(format!("the server did not answer for {} event(s)", report.unanswered));
            }
            if report.held_back > 0 {
                parts.push(format!(
                    "{} event(s) belong to another team's login ({}) and were not sent with this one",
                    report.held_back,
                    report.held_teams()
                ));
            }
            parts.join("; ")
        }
        stop => stop.describe(),
    }
}

impl Diagnose for Undelivered {
    fn hints(&self) -> Vec<String> {
        let report = &self.0;
        let safe = format!("{} event(s) are safe in the queue", report.remaining);
        match &report.stop {
            StopReason::Drained | StopReason::Stalled => {
                let mut hints = Vec::new();
                if report.dead_lettered > 0 {
                    hints.push(format!(
                        "{} event(s) moved to the dead letters: see `spec-kitty sync status`, re-queue them with `spec-kitty sync retry-dead`",
                        report.dead_lettered
                    ));
                }
                if report.remaining > 0 {
                    hints.push(format!("{safe}; the next `spec-kitty sync now` retries them"));
                }
                if report.held_back > 0 {
                    hints.push(format!(
                        "log in to the account of team {} to deliver the held events",
                        report.held_teams()
                    ));
                }
                hints
            }
            StopReason::NotConfigured => vec![format!(
                "{safe}; set a server with `spec-kitty sync server https://…`, then run `spec-kitty sync now`"
            )],
            StopReason::NotLoggedIn { .. } | StopReason::LoginRequired { .. } => {
                vec![format!("{safe}; run `spec-kitty auth login`, then `spec-kitty sync now`")]
            }
            StopReason::Offline { .. } | StopReason::Refused { .. } | StopReason::Deadline => {
                vec![format!("{safe}; run `spec-kitty sync now` again when the server is reachable")]
            }
            StopReason::Failed { .. } => Vec::new(),
        }
    }

    fn exit_code(&self) -> u8 {
        self.0.exit_code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_stop_reason() {
        let mut report = DeliveryReport::new(10, StopReason::Drained);
        assert_eq!(report.exit_code(), EXIT_SUCCESS);
        report.rejected = 1;
        assert_eq!(report.exit_code(), EXIT_SYNC_REJECTED);
        report.stop = StopReason::Offline { detail: "x".into() };
        assert_eq!(report.exit_code(), EXIT_SYNC_UNDELIVERED);
        report.stop = StopReason::NotLoggedIn { detail: "x".into() };
        assert_eq!(report.exit_code(), EXIT_SYNC_UNDELIVERED);
        report.stop = StopReason::Failed { detail: "x".into() };
        assert_eq!(report.exit_code(), EXIT_FAILURE);
    }

    #[test]
    fn an_undelivered_run_says_why_and_how_many_are_safe() {
        let mut report = DeliveryReport::new(4, StopReason::Drained);
        report.rejected = 2;
        report.dead_lettered = 1;
        report.remaining = 3;
        let error = Undelivered(report);
        assert_eq!(error.to_string(), "2 event(s) were rejected by the server");
        assert_eq!(error.hints().len(), 2);
        assert!(error.hints()[1].starts_with("3 event(s) are safe in the queue"));
        assert_eq!(error.exit_code(), EXIT_SYNC_REJECTED);
    }
}
