//! Which events a report looks at: the feature logs to read and the per-event filter.

use super::emit::LOG_FILE;
use crate::project::{Project, glob_match};
use chrono::{DateTime, Days, Utc};
use std::path::PathBuf;

/// An inclusive time window; a date-only upper bound covers that whole day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// `until` is the (exclusive) start of the day after a date-only bound.
    pub until_exclusive: bool,
}

impl TimeRange {
    /// Builds the window from `--since`/`--until` values already parsed; `until_is_date` marks a
    /// date-only `--until`, which then includes that day.
    pub fn new(since: Option<DateTime<Utc>>, until: Option<DateTime<Utc>>, until_is_date: bool) -> Self {
        match until {
            Some(day_start) if until_is_date => TimeRange {
                since,
                until: Some(day_start.checked_add_days(Days::new(1)).unwrap_or(day_start)),
                until_exclusive: true,
            },
            _ => TimeRange { since, until, until_exclusive: false },
        }
    }

    pub fn is_unbounded(&self) -> bool {
        self.since.is_none() && self.until.is_none()
    }

    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.since.is_none_or(|since| at >= since)
            && self.until.is_none_or(|until| if self.until_exclusive { at < until } else { at <= until })
    }
}

/// Event predicates (all must hold). String filters match the payload value exactly, as upstream does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub time: TimeRange,
    pub agent: Option<String>,
    pub model: Option<String>,
    pub role: Option<String>,
    pub wp_id: Option<String>,
}

/// Every feature, or those whose directory name matches `<pattern>*` (upstream's `--feature` glob).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeatureSelection {
    All,
    Matching(String),
}

/// A feature's telemetry log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureLog {
    pub slug: String,
    pub path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot list features in {}: {source}", path.display())]
pub struct ListError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

impl crate::error::Diagnose for ListError {}

/// The logs of the selected features, sorted by directory name. A project without `kitty-specs/` has none.
pub fn feature_logs(project: &Project, selection: &FeatureSelection) -> Result<Vec<FeatureLog>, ListError> {
    let specs = project.kitty_specs();
    let entries = match std::fs::read_dir(&specs) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(ListError { path: specs, source }),
    };
    let pattern = match selection {
        FeatureSelection::All => None,
        FeatureSelection::Matching(prefix) => Some(format!("{prefix}*")),
    };
    let mut logs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| ListError { path: specs.clone(), source })?;
        let Ok(slug) = entry.file_name().into_string() else { continue };
        if !entry.path().is_dir() || pattern.as_deref().is_some_and(|p| !glob_match(p, &slug)) {
            continue;
        }
        logs.push(FeatureLog { path: entry.path().join(LOG_FILE), slug });
    }
    logs.sort_by(|a, b| a.slug.cmp(&b.slug));
    Ok(logs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn date_only_until_includes_the_day() {
        let range = TimeRange::new(None, Some(utc("2026-02-16T00:00:00Z")), true);
        assert!(range.contains(utc("2026-02-16T23:59:59.999Z")));
        assert!(!range.contains(utc("2026-02-17T00:00:00Z")));
        let exact = TimeRange::new(Some(utc("2026-02-16T10:30:00Z")), Some(utc("2026-02-16T11:30:00Z")), false);
        assert!(exact.contains(utc("2026-02-16T10:30:00Z")) && exact.contains(utc("2026-02-16T11:30:00Z")));
        assert!(!exact.contains(utc("2026-02-16T11:30:00.000001Z")));
    }

    #[test]
    fn lists_features_by_prefix() {
        let tmp = tempfile::tempdir().unwrap();
        for dir in ["043-telemetry", "045-config", "048-events", "100-other"] {
            std::fs::create_dir_all(tmp.path().join("kitty-specs").join(dir)).unwrap();
        }
        std::fs::write(tmp.path().join("kitty-specs/README.md"), "").unwrap();
        let project = Project { root: tmp.path().to_owned() };
        let slugs = |sel| feature_logs(&project, &sel).unwrap().into_iter().map(|l| l.slug).collect::<Vec<_>>();
        assert_eq!(slugs(FeatureSelection::Matching("04".into())), ["043-telemetry", "045-config", "048-events"]);
        assert_eq!(slugs(FeatureSelection::Matching("043".into())), ["043-telemetry"]);
        assert_eq!(slugs(FeatureSelection::All).len(), 4);
        assert!(slugs(FeatureSelection::Matching("9".into())).is_empty());
    }
}
