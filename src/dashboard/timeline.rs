//! `/api/events`: what happened over time — the work packages' lane transitions, the cumulative flow
//! (work packages per lane at the end of each day) built from them, the execution events per day (the
//! cost engine grouped by day, through the same cache as `/api/costs`) and the latest execution events.
//!
//! Transitions come from each feature's `status.events.jsonl`, replayed with the reducer's rules
//! (repeated event ids count once; order by time then id; a forward move stamped with the same instant
//! as a review rollback does not override it). A feature without a status log (projects from before
//! upstream's status model, like the demo) falls back to its work packages' Activity Log lines
//! (`lane=…` with a timestamp), marked `"source": "activity_log"`.
//!
//! The latest execution events are read from the end of each log only (its last 64 KiB), so they cost
//! the same whatever the size of the log; they are cached per log by size and modification time.

use super::costs::{CostCache, CostQuery, Stamp};
use super::paths::{ApiError, feature_dirs};
use crate::events::{Event, Timestamp};
use crate::telemetry::{FeatureSelection, GroupKey};
use crate::workflow::activity::parse_activity;
use crate::workflow::lanes::Lane;
use crate::workflow::status::{self, StatusEvent};
use crate::workflow::wp::WorkPackage;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// How much of a log's end is read for the latest events.
const TAIL_BYTES: u64 = 64 << 10;
/// At most this many points on the cumulative-flow chart (longer spans use wider buckets).
const MAX_POINTS: i64 = 180;
/// At most this many transitions are listed (the latest).
const MAX_TRANSITIONS: usize = 500;

/// One lane change of one work package.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub feature: String,
    pub wp_id: String,
    pub from: Lane,
    pub to: Lane,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub force: bool,
    /// `status_log` or `activity_log`.
    pub source: &'static str,
    /// The status event id (activity entries get a synthetic one), for ordering and de-duplication.
    pub id: String,
    pub rollback: bool,
}

/// The transitions of every selected feature, in replay order, and the problems met on the way.
pub fn transitions(root: &Path, selection: &FeatureSelection) -> (Vec<Transition>, Vec<String>) {
    let mut all = Vec::new();
    let mut problems = Vec::new();
    for feature in feature_dirs(root).into_values() {
        if let FeatureSelection::Matching(prefix) = selection
            && !crate::project::glob_match(&format!("{prefix}*"), &feature.id)
        {
            continue;
        }
        match status::read_events(&feature.dir, std::time::Duration::from_millis(500)) {
            Ok(events) if !events.is_empty() => {
                all.extend(events.iter().map(|e| from_status_event(&feature.id, e)));
                continue;
            }
            Ok(_) => {}
            Err(e) => problems.push(e.to_string()),
        }
        all.extend(from_activity_logs(&feature.id, &feature.dir));
    }
    let mut seen = HashSet::new();
    all.retain(|t| seen.insert((t.feature.clone(), t.id.clone())));
    all.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
    (all, problems)
}

fn from_status_event(feature: &str, e: &StatusEvent) -> Transition {
    Transition {
        feature: feature.to_owned(),
        wp_id: e.wp_id.clone(),
        from: e.from_lane,
        to: e.to_lane,
        at: e.at.to_utc(),
        actor: e.actor.clone(),
        force: e.force,
        source: "status_log",
        id: e.event_id.to_string(),
        rollback: e.is_rollback(),
    }
}

/// Lane changes recorded in the work packages' Activity Logs: the first entry puts the work package in
/// its lane, later ones count when the lane changes.
fn from_activity_logs(feature: &str, dir: &Path) -> Vec<Transition> {
    let mut out = Vec::new();
    for wp in WorkPackage::all(dir).into_iter().flatten() {
        let mut current: Option<Lane> = None;
        for (index, entry) in parse_activity(wp.doc.body()).iter().enumerate() {
            let (Ok(lane), Ok(at)) = (Lane::parse(&entry.lane), Timestamp::parse(&entry.timestamp)) else { continue };
            if current == Some(lane) {
                continue;
            }
            out.push(Transition {
                feature: feature.to_owned(),
                wp_id: wp.id.clone(),
                from: current.unwrap_or(Lane::Planned),
                to: lane,
                at: at.to_utc(),
                actor: entry.agent.clone(),
                force: false,
                source: "activity_log",
                id: format!("{}-activity-{index:05}", wp.id),
                rollback: false,
            });
            current = Some(lane);
        }
    }
    out
}

/// Work packages per lane at the end of each day (or wider bucket) from the first transition to the
/// last: `{days, lanes, series: {lane: [count per day]}, work_packages}`.
pub fn cumulative_flow(transitions: &[Transition]) -> Value {
    let (Some(first), Some(last)) = (transitions.first(), transitions.last()) else {
        return json!({"days": [], "lanes": [], "series": {}, "work_packages": 0, "bucket_days": 1});
    };
    let start = first.at.date_naive();
    let end = last.at.date_naive();
    let span = (end - start).num_days() + 1;
    let step = (span + MAX_POINTS - 1) / MAX_POINTS;
    // (feature, wp) → (lane, at, set by a rollback)
    let mut state: HashMap<(&str, &str), (Lane, DateTime<Utc>, bool)> = HashMap::new();
    let mut next = 0;
    let mut days = Vec::new();
    let mut counts: Vec<BTreeMap<Lane, u64>> = Vec::new();
    let mut day = start + Duration::days(step - 1);
    loop {
        let point = day.min(end);
        let cutoff = day_end(point);
        while next < transitions.len() && transitions[next].at < cutoff {
            let t = &transitions[next];
            let key = (t.feature.as_str(), t.wp_id.as_str());
            // The reducer's tie-break: a forward move at the instant of a rollback does not override it.
            let rollback_stands = matches!(state.get(&key), Some((_, at, true)) if *at == t.at && !t.rollback);
            if !rollback_stands {
                state.insert(key, (t.to, t.at, t.rollback));
            }
            next += 1;
        }
        let mut per_lane = BTreeMap::new();
        for (lane, _, _) in state.values() {
            *per_lane.entry(*lane).or_insert(0) += 1;
        }
        days.push(point.to_string());
        counts.push(per_lane);
        match day.checked_add_signed(Duration::days(step)) {
            Some(later) if point < end => day = later,
            _ => break,
        }
    }
    let lanes: Vec<Lane> = Lane::ALL.into_iter().filter(|lane| counts.iter().any(|c| c.contains_key(lane))).collect();
    let series: Map<String, Value> = lanes
        .iter()
        .map(|lane| {
            (
                lane.as_str().to_owned(),
                json!(counts.iter().map(|c| c.get(lane).copied().unwrap_or(0)).collect::<Vec<_>>()),
            )
        })
        .collect();
    json!({
        "days": days,
        "lanes": lanes.iter().map(|l| l.as_str()).collect::<Vec<_>>(),
        "series": series,
        "work_packages": state.len(),
        "bucket_days": step,
    })
}

fn day_end(day: NaiveDate) -> DateTime<Utc> {
    (day + Duration::days(1)).and_hms_opt(0, 0, 0).expect("midnight exists").and_utc()
}

/// A log's latest execution events, with the stamp of the log they were read from.
type Recent = (Stamp, Arc<Vec<Value>>);

/// The latest execution events of each log, cached by the log's stamp.
#[derive(Default)]
pub struct RecentCache {
    logs: Mutex<HashMap<PathBuf, Recent>>,
}

impl RecentCache {
    fn recent(&self, path: &Path, feature: &str) -> Arc<Vec<Value>> {
        let stamp = Stamp::of(path);
        if let Some((cached, events)) = self.logs.lock().unwrap_or_else(|e| e.into_inner()).get(path)
            && *cached == stamp
        {
            return events.clone();
        }
        let events = Arc::new(read_tail(path, feature));
        self.logs.lock().unwrap_or_else(|e| e.into_inner()).insert(path.to_owned(), (stamp, events.clone()));
        events
    }
}

/// The ExecutionEvents among the last [`TAIL_BYTES`] of a log, newest first.
fn read_tail(path: &Path, feature: &str) -> Vec<Value> {
    let Ok(mut file) = crate::fsutil::open_regular(path, std::fs::OpenOptions::new().read(true)) else {
        return Vec::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(TAIL_BYTES);
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(start)).is_err() || file.take(TAIL_BYTES).read_to_end(&mut bytes).is_err() {
        return Vec::new();
    }
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    if start > 0 && !lines.is_empty() {
        lines.remove(0); // cut mid-line
    }
    let mut out: Vec<Value> = lines
        .iter()
        .rev()
        .filter_map(|line| {
            let event = Event::<crate::events::Payload>::from_line(line.trim_ascii()).ok()?;
            (event.event_type == crate::telemetry::record::EVENT_TYPE).then(|| {
                let p = &event.payload;
                let field = |key: &str| p.get(key).cloned().unwrap_or(Value::Null);
                json!({
                    "event_id": event.event_id.to_string(),
                    "feature": if event.aggregate_id.is_empty() { feature.to_owned() } else { event.aggregate_id.to_string() },
                    "timestamp": event.timestamp.isoformat(),
                    "wp_id": field("wp_id"),
                    "role": field("role"),
                    "agent": field("agent"),
                    "model": field("model"),
                    "input_tokens": field("input_tokens"),
                    "output_tokens": field("output_tokens"),
                    "cache_read_tokens": field("cache_read_tokens"),
                    "cost_usd": field("cost_usd"),
                    "duration_ms": field("duration_ms"),
                    "success": field("success"),
                })
            })
        })
        .collect();
    out.truncate(500);
    out
}

/// The `/api/events` body.
pub fn events_json(
    root: &Path,
    home: Option<&Path>,
    params: &HashMap<String, String>,
    costs: &CostCache,
    recent: &RecentCache,
) -> Result<Value, ApiError> {
    let feature = params.get("feature").map(|f| f.trim()).filter(|f| !f.is_empty()).map(str::to_owned);
    let limit = match params.get("limit") {
        Some(text) => text
            .trim()
            .parse::<usize>()
            .map_err(|_| ApiError::BadRequest(format!("limit={text:?} is not a number")))?
            .min(500),
        None => 50,
    };
    let selection = feature.clone().map_or(FeatureSelection::All, FeatureSelection::Matching);
    let (transitions, problems) = transitions(root, &selection);
    let flow = cumulative_flow(&transitions);
    let listed: Vec<Value> = transitions[transitions.len().saturating_sub(MAX_TRANSITIONS)..]
        .iter()
        .map(|t| {
            json!({
                "feature": t.feature, "wp_id": t.wp_id, "from_lane": t.from.as_str(), "to_lane": t.to.as_str(),
                "at": Timestamp::from_utc(t.at).isoformat(), "actor": t.actor, "force": t.force, "source": t.source,
            })
        })
        .collect();

    let mut query = CostQuery::from_params(&HashMap::new())?;
    query.group_by = vec![GroupKey::Day];
    query.selection = selection.clone();
    let per_day = costs.report(home, root, &query)?;
    let mut days: Vec<Value> =
        per_day.report.json_rows().iter().filter_map(|row| serde_json::to_value(row).ok()).collect();
    days.sort_by(|a, b| a["group_key"].as_str().cmp(&b["group_key"].as_str()));

    let project = crate::project::Project { root: root.to_owned() };
    let logs = crate::telemetry::feature_logs(&project, &selection).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut latest: Vec<Value> =
        logs.iter().flat_map(|log| recent.recent(&log.path, &log.slug).as_ref().clone()).collect();
    latest.sort_by(|a, b| b["timestamp"].as_str().cmp(&a["timestamp"].as_str()));
    let mut seen = HashSet::new();
    latest.retain(|e| seen.insert(e["event_id"].as_str().unwrap_or_default().to_owned()));
    latest.truncate(limit);

    Ok(json!({
        "status_events": listed,
        "status_event_count": transitions.len(),
        "cumulative_flow": flow,
        "execution_per_day": days,
        "recent_execution_events": latest,
        "problems": problems,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(wp: &str, to: Lane, at: &str, id: &str, rollback: bool) -> Transition {
        Transition {
            feature: "001-x".into(),
            wp_id: wp.into(),
            from: Lane::Planned,
            to,
            at: at.parse().unwrap(),
            actor: "a".into(),
            force: false,
            source: "status_log",
            id: id.into(),
            rollback,
        }
    }

    #[test]
    fn flow_counts_lanes_at_each_days_end() {
        let ts = [
            t("WP01", Lane::Planned, "2026-03-01T09:00:00Z", "01", false),
            t("WP02", Lane::Planned, "2026-03-01T09:00:00Z", "02", false),
            t("WP01", Lane::InProgress, "2026-03-02T10:00:00Z", "03", false),
            t("WP01", Lane::Done, "2026-03-04T23:59:59Z", "04", false),
            // A rollback and a forward move at the same instant: the rollback stands.
            t("WP02", Lane::InProgress, "2026-03-04T12:00:00Z", "05", true),
            t("WP02", Lane::ForReview, "2026-03-04T12:00:00Z", "06", false),
        ];
        let flow = cumulative_flow(&ts);
        assert_eq!(flow["days"], json!(["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"]));
        assert_eq!(flow["lanes"], json!(["planned", "in_progress", "done"]));
        assert_eq!(flow["series"]["planned"], json!([2, 1, 1, 0]));
        assert_eq!(flow["series"]["in_progress"], json!([0, 1, 1, 1]));
        assert_eq!(flow["series"]["done"], json!([0, 0, 0, 1]));
        assert_eq!(cumulative_flow(&[])["days"], json!([]));
    }

    #[test]
    fn long_spans_use_wider_buckets() {
        let ts = [
            t("WP01", Lane::Planned, "2025-01-01T00:00:00Z", "01", false),
            t("WP01", Lane::Done, "2026-01-01T00:00:00Z", "02", false),
        ];
        let flow = cumulative_flow(&ts);
        let days = flow["days"].as_array().unwrap();
        assert!(days.len() <= MAX_POINTS as usize, "{}", days.len());
        assert_eq!(days.last().unwrap(), "2026-01-01");
        assert_eq!(flow["series"]["done"].as_array().unwrap().last().unwrap(), 1);
    }

    #[test]
    fn activity_logs_stand_in_for_a_missing_status_log() {
        let dir = tempfile::tempdir().unwrap();
        let tasks = dir.path().join("kitty-specs/001-x/tasks");
        std::fs::create_dir_all(&tasks).unwrap();
        std::fs::write(
            tasks.join("WP01-a.md"),
            "---\nwork_package_id: WP01\nlane: doing\n---\n## Activity Log\n\n\
             - 2026-03-01T09:00:00Z – system – lane=planned – Prompt generated\n\
             - 2026-03-02T09:00:00Z – codex – shell_pid=1 – lane=doing – Started\n\
             - 2026-03-02T10:00:00Z – codex – shell_pid=1 – lane=doing – Progress\n",
        )
        .unwrap();
        let (ts, problems) = transitions(dir.path(), &FeatureSelection::All);
        assert!(problems.is_empty());
        let lanes: Vec<(Lane, Lane, &str)> = ts.iter().map(|t| (t.from, t.to, t.source)).collect();
        assert_eq!(
            lanes,
            [(Lane::Planned, Lane::Planned, "activity_log"), (Lane::Planned, Lane::InProgress, "activity_log")]
        );
    }
}
