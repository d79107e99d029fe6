//! `/api/costs`: the cost report of `agent telemetry cost`, built by the same engine
//! ([`crate::telemetry::cost_report`]) with the same pricing ([`PricingTable::for_project`]) and served
//! as the same JSON rows ([`crate::telemetry::cost_json::rows_json`]) — plus the total, the unpriced
//! models and the scan warnings the command prints around its table.
//!
//! A page polls this every few seconds over logs that may hold millions of events, so reports are
//! cached **per log**: one entry per feature log, keyed by the log's path and stamped with its size and
//! modification time, holding one report per query (filter and grouping). A request stats every
//! selected log, rebuilds only the logs whose stamp changed (in parallel), and merges the per-log
//! reports with [`merge_reports`], which sums exactly as one report over all the logs would. A refresh
//! with no new events therefore reads no event at all. The pricing override files are stamped the same
//! way; a change there drops every cached report.

use super::paths::ApiError;
use crate::events::Timestamp;
use crate::telemetry::cost::{CostError, CostReport, merge_reports};
use crate::telemetry::pricing::{PricingTable, override_paths};
use crate::telemetry::{EventFilter, FeatureSelection, GroupKey, TimeRange, cost_report, feature_logs};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// A cost query, as `agent telemetry cost` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostQuery {
    pub group_by: Vec<GroupKey>,
    pub selection: FeatureSelection,
    pub filter: EventFilter,
}

impl CostQuery {
    /// From the query string's parameters: `group_by` (default `agent`; `feature,role` for several),
    /// `feature` (a prefix), `since`, `until` (ISO 8601; a date-only `until` includes that day), `agent`,
    /// `model`, `role`, `wp_id`.
    pub fn from_params(params: &HashMap<String, String>) -> Result<CostQuery, ApiError> {
        let text = |key: &str| params.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()).map(str::to_owned);
        let group_by =
            GroupKey::parse_list(text("group_by").as_deref().unwrap_or("agent")).map_err(ApiError::BadRequest)?;
        let bound = |key: &str| -> Result<Option<(Timestamp, bool)>, ApiError> {
            text(key)
                .map(|v| {
                    Timestamp::parse_bound(&v)
                        .map_err(|_| ApiError::BadRequest(format!("{key}={v:?} is not an ISO 8601 date or time")))
                })
                .transpose()
        };
        let since = bound("since")?;
        let until = bound("until")?;
        let time = TimeRange::new(
            since.map(|(at, _)| at.to_utc()),
            until.map(|(at, _)| at.to_utc()),
            until.is_some_and(|(_, date_only)| date_only),
        );
        Ok(CostQuery {
            group_by,
            selection: text("feature").map_or(FeatureSelection::All, FeatureSelection::Matching),
            filter: EventFilter {
                time,
                agent: text("agent"),
                model: text("model"),
                role: text("role"),
                wp_id: text("wp_id"),
            },
        })
    }

    /// The per-log cache key: everything but the feature selection (which picks logs, not events).
    fn key(&self) -> String {
        format!("{:?}|{:?}", self.group_by, self.filter)
    }
}

/// A file's identity for caching: its size and modification time (`None` when it does not exist).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp(Option<(u64, SystemTime)>);

impl Stamp {
    pub fn of(path: &Path) -> Stamp {
        Stamp(std::fs::metadata(path).ok().map(|m| (m.len(), m.modified().unwrap_or(SystemTime::UNIX_EPOCH))))
    }
}

/// Reports cached per log (see the module documentation).
#[derive(Default)]
pub struct CostCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    pricing: Option<(Vec<Stamp>, Arc<PricingTable>)>,
    logs: HashMap<PathBuf, LogEntry>,
}

struct LogEntry {
    stamp: Stamp,
    reports: HashMap<String, Arc<CostReport>>,
}

/// At most this many distinct queries are kept per log; the oldest are dropped beyond.
const QUERIES_PER_LOG: usize = 64;

/// The report and how it was produced.
pub struct Answer {
    pub report: CostReport,
    /// Logs whose report had to be built (0 on a refresh with no new events).
    pub rebuilt: usize,
    pub logs: usize,
}

impl CostCache {
    /// The pricing of the project (`home` is the spec-kitty home), reloaded when an override file changes.
    fn pricing(&self, home: Option<&Path>, root: &Path) -> Result<Arc<PricingTable>, ApiError> {
        let paths = override_paths(home, root);
        let stamps: Vec<Stamp> = paths.iter().map(|p| Stamp::of(p)).collect();
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((cached, table)) = &inner.pricing
            && *cached == stamps
        {
            return Ok(table.clone());
        }
        let table =
            Arc::new(PricingTable::for_project(home, root, None).map_err(|e| ApiError::Internal(e.to_string()))?);
        inner.pricing = Some((stamps, table.clone()));
        inner.logs.clear();
        Ok(table)
    }

    /// The report for `query` over the project at `root`.
    pub fn report(&self, home: Option<&Path>, root: &Path, query: &CostQuery) -> Result<Answer, ApiError> {
        let pricing = self.pricing(home, root)?;
        let project = crate::project::Project { root: root.to_owned() };
        let logs = feature_logs(&project, &query.selection).map_err(|e| ApiError::Internal(e.to_string()))?;
        let key = query.key();
        // Stamp first, read after: a log that grows while it is read gets a new stamp next time.
        let stamped: Vec<(PathBuf, Stamp)> = logs
            .into_iter()
            .map(|l| {
                let s = Stamp::of(&l.path);
                (l.path, s)
            })
            .collect();
        let mut parts: Vec<Option<Arc<CostReport>>> = {
            let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            stamped
                .iter()
                .map(|(path, stamp)| {
                    inner.logs.get(path).filter(|e| e.stamp == *stamp).and_then(|e| e.reports.get(&key).cloned())
                })
                .collect()
        };
        let missing: Vec<usize> = (0..parts.len()).filter(|&i| parts[i].is_none()).collect();
        let built = build_reports(&missing.iter().map(|&i| stamped[i].0.clone()).collect::<Vec<_>>(), query, &pricing)?;
        {
            let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            for (&i, report) in missing.iter().zip(built) {
                let (path, stamp) = &stamped[i];
                let report = Arc::new(report);
                let entry = inner
                    .logs
                    .entry(path.clone())
                    .or_insert_with(|| LogEntry { stamp: *stamp, reports: HashMap::new() });
                if entry.stamp != *stamp {
                    *entry = LogEntry { stamp: *stamp, reports: HashMap::new() };
                }
                if entry.reports.len() >= QUERIES_PER_LOG {
                    entry.reports.clear();
                }
                entry.reports.insert(key.clone(), report.clone());
                parts[i] = Some(report);
            }
        }
        let parts: Vec<Arc<CostReport>> = parts.into_iter().flatten().collect();
        let refs: Vec<&CostReport> = parts.iter().map(Arc::as_ref).collect();
        let report = merge_reports(&query.group_by, &refs).map_err(cost_error)?;
        Ok(Answer { report, rebuilt: missing.len(), logs: stamped.len() })
    }
}

fn cost_error(e: CostError) -> ApiError {
    ApiError::Internal(e.to_string())
}

/// One report per log, built on up to one thread per CPU.
fn build_reports(paths: &[PathBuf], query: &CostQuery, pricing: &PricingTable) -> Result<Vec<CostReport>, ApiError> {
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(paths.len());
    let next = AtomicUsize::new(0);
    let mut results: Vec<(usize, Result<CostReport, CostError>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(path) = paths.get(i) else { break };
                        done.push((
                            i,
                            cost_report(std::slice::from_ref(path), &query.filter, &query.group_by, pricing),
                        ));
                    }
                    done
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("cost worker panicked")).collect()
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r.map_err(cost_error)).collect()
}

/// The `/api/costs` body: `rows` exactly as `agent telemetry cost --json` prints them, then the total,
/// the unpriced events and the warnings the command prints beside its table.
pub fn answer_json(answer: &Answer) -> Value {
    let report = &answer.report;
    let group_by: Vec<&str> = report.group_by.iter().map(|k| k.as_str()).collect();
    let unpriced: u64 = report.unpriced_models.values().sum();
    json!({
        "group_by": group_by.join(","),
        "rows": report.json_rows(),
        "total": report.json_total(),
        "unpriced": {
            "event_count": unpriced,
            "models": report.unpriced_models,
            "summary": report.unpriced_summary(),
        },
        "logs": answer.logs,
        "malformed_lines": report.scans.iter().map(|s| s.malformed).sum::<u64>(),
        "warnings": report.scans.iter().filter_map(|s| s.warning()).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn queries_parse_like_the_command_line() {
        let q =
            CostQuery::from_params(&params(&[("group_by", "day,role"), ("until", "2026-03-01"), ("feature", "00")]))
                .unwrap();
        assert_eq!(q.group_by, [GroupKey::Day, GroupKey::Role]);
        assert!(q.filter.time.until_exclusive);
        assert_eq!(q.selection, FeatureSelection::Matching("00".into()));
        assert_eq!(CostQuery::from_params(&params(&[])).unwrap().group_by, [GroupKey::Agent]);
        assert!(matches!(CostQuery::from_params(&params(&[("group_by", "colour")])), Err(ApiError::BadRequest(_))));
        assert!(matches!(CostQuery::from_params(&params(&[("since", "yesterday")])), Err(ApiError::BadRequest(_))));
    }

    #[test]
    fn rebuilds_only_logs_that_changed() {
        let dir = tempfile::tempdir().unwrap();
        let line = |id: u32, feature: &str| {
            format!(
                r#"{{"aggregate_id": "{feature}", "causation_id": null, "event_id": "01HXYZ{id:020}", "event_type": "ExecutionEvent", "lamport_clock": {id}, "node_id": "cli:N/A", "payload": {{"agent": "claude", "cost_usd": 1.5}}, "timestamp": "2026-02-16T11:00:00+00:00"}}"#
            ) + "\n"
        };
        for (feature, id) in [("001-a", 1), ("002-b", 2)] {
            std::fs::create_dir_all(dir.path().join("kitty-specs").join(feature)).unwrap();
            std::fs::write(
                dir.path().join("kitty-specs").join(feature).join("execution.events.jsonl"),
                line(id, feature),
            )
            .unwrap();
        }
        let cache = CostCache::default();
        let query = CostQuery::from_params(&params(&[])).unwrap();
        let first = cache.report(None, dir.path(), &query).unwrap();
        assert_eq!((first.rebuilt, first.logs, first.report.total().events), (2, 2, 2));
        let again = cache.report(None, dir.path(), &query).unwrap();
        assert_eq!((again.rebuilt, again.report.total().events), (0, 2));
        use std::io::Write;
        let log = dir.path().join("kitty-specs/002-b/execution.events.jsonl");
        std::fs::OpenOptions::new().append(true).open(&log).unwrap().write_all(line(3, "002-b").as_bytes()).unwrap();
        let after = cache.report(None, dir.path(), &query).unwrap();
        assert_eq!((after.rebuilt, after.report.total().events), (1, 3));
        assert_eq!(after.report.total().cost.to_fixed(2), "4.50");
        let by_role = CostQuery::from_params(&params(&[("group_by", "role")])).unwrap();
        assert_eq!(cache.report(None, dir.path(), &by_role).unwrap().rebuilt, 2, "another query is built once");
        // A project pricing override invalidates everything.
        std::fs::create_dir_all(dir.path().join(".kittify")).unwrap();
        std::fs::write(dir.path().join(".kittify/pricing.yaml"), "models: {}\n").unwrap();
        assert_eq!(cache.report(None, dir.path(), &query).unwrap().rebuilt, 2);
    }
}
