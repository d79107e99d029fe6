//! The end-of-run summary (`--json`): the run's counters and, per work package, who did what and what
//! went wrong. Built from the state alone, so `--status` and the final report agree.

use super::engine::LOGS_DIR;
use super::state::{RunState, STATE_FILE};
use serde_json::{Value, json};

/// The summary object, keys in a fixed order.
pub fn summary(state: &RunState, total_duration: Option<&str>) -> Value {
    let work_packages: Vec<Value> = state
        .work_packages
        .values()
        .map(|wp| {
            json!({
                "wp_id": wp.wp_id,
                "status": wp.status.as_str(),
                "implementation_agent": wp.implementation_agent,
                "review_agent": wp.review_agent,
                "implementation_retries": wp.implementation_retries,
                "review_retries": wp.review_retries,
                "rework_count": wp.rework_count,
                "fallback_agents_tried": wp.fallback_agents_tried,
                "last_error": wp.last_error,
                "log_file": wp.log_file,
            })
        })
        .collect();
    json!({
        "run_id": state.run_id,
        "feature_slug": state.feature_slug,
        "status": state.status.as_str(),
        "started_at": state.started_at,
        "completed_at": state.completed_at,
        "total_duration": total_duration,
        "wps_total": state.wps_total,
        "wps_completed": state.wps_completed,
        "wps_failed": state.wps_failed,
        "wps_blocked": state.wps_blocked,
        "wps_skipped": state.wps_skipped,
        "parallel_peak": state.parallel_peak,
        "total_agent_invocations": state.total_agent_invocations,
        "work_packages": work_packages,
        "state_file": STATE_FILE,
        "logs": LOGS_DIR,
    })
}

/// `12.3s` between two of the state's ISO timestamps.
pub fn duration_between(started_at: &str, completed_at: &str) -> Option<String> {
    use crate::events::Timestamp;
    let start = Timestamp::parse(started_at).ok()?.to_utc();
    let end = Timestamp::parse(completed_at).ok()?.to_utc();
    let seconds = (end - start).num_milliseconds().max(0) as f64 / 1000.0;
    Some(format!("{seconds:.1}s"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orchestrator::state::WpExecution;

    #[test]
    fn summarises_the_state() {
        let mut state = RunState { run_id: "r".into(), feature_slug: "001-x".into(), ..RunState::default() };
        state.work_packages.insert("WP01".into(), WpExecution::new("WP01"));
        state.recount();
        let value = summary(&state, Some("1.5s"));
        assert_eq!(value["wps_total"], 1);
        assert_eq!(value["work_packages"][0]["status"], "pending");
        assert_eq!(value["total_duration"], "1.5s");
        assert_eq!(
            duration_between("2026-02-16T11:12:33+00:00", "2026-02-16T11:12:45.25+00:00").as_deref(),
            Some("12.2s")
        );
        assert_eq!(duration_between("x", "y"), None);
    }
}
