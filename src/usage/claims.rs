//! Usage an agent already reported through `emit` (or a workflow command's usage flags, or the
//! orchestrator) is not imported again.
//!
//! **The rule.** An ExecutionEvent that was not imported (no `source: import:…` key) and reports tokens
//! (input or output above 0) or a positive cost *claims* its agent's usage for its feature, work package
//! and role over a window: the `duration_ms` before its timestamp when it has a duration, otherwise
//! everything since the previous claim of the same feature, work package, role and agent (from the
//! beginning for the first). An imported record attributed to the same feature, work package and role,
//! by the same agent (a claim by agent `unknown` matches every agent), whose time lies in a claim's window
//! is not imported: it is counted as "already reported through emit". Claims are read when the import
//! runs, so usage imported *before* an agent reports the same phase (a hook fired first) is not taken
//! back; the README says how to avoid that (let either the agent or the import report a phase).

use super::Agent;
use crate::events::Event;
use crate::project::Project;
use crate::store::{self, PayloadKind};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Scope {
    feature: String,
    wp: String,
    role: String,
    /// `claude`, `codex`, `gemini`, `*` (any: `unknown` or no agent), or another name.
    agent: String,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    /// Exclusive start (`None`: from the beginning).
    after: Option<DateTime<Utc>>,
    /// Inclusive end.
    until: DateTime<Utc>,
}

/// The claims found in the project's feature logs.
#[derive(Debug, Default)]
pub struct Claims {
    windows: HashMap<Scope, Vec<Window>>,
    count: usize,
}

struct ClaimView;

impl PayloadKind for ClaimView {
    type Payload<'a> = ClaimPayload<'a>;
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ClaimPayload<'a> {
    #[serde(borrow)]
    source: Option<Cow<'a, str>>,
    #[serde(borrow)]
    agent: Option<Cow<'a, str>>,
    #[serde(borrow)]
    role: Option<Cow<'a, str>>,
    #[serde(borrow)]
    wp_id: Option<Cow<'a, str>>,
    input_tokens: Option<serde_json::Value>,
    output_tokens: Option<serde_json::Value>,
    cost_usd: Option<serde_json::Value>,
    duration_ms: Option<serde_json::Value>,
}

fn positive(value: &Option<serde_json::Value>) -> bool {
    value.as_ref().and_then(serde_json::Value::as_f64).is_some_and(|v| v > 0.0)
}

/// The agent family a reported agent name stands for.
fn family(agent: &str) -> String {
    let lower = agent.trim().to_lowercase();
    for known in Agent::ALL {
        if lower.contains(known.as_str()) {
            return known.as_str().to_owned();
        }
    }
    if lower.is_empty() || lower == "unknown" { "*".into() } else { lower }
}

impl Claims {
    /// Reads the claims of `features`' logs.
    pub fn load<'s>(project: &Project, features: impl Iterator<Item = &'s str>) -> Claims {
        let mut claims: HashMap<Scope, Vec<(DateTime<Utc>, u64)>> = HashMap::new();
        let mut count = 0;
        for slug in features {
            let path = project.feature_dir(slug).join(crate::telemetry::LOG_FILE);
            let _ = store::scan_events::<ClaimView>(&path, |event: Event<'_, ClaimPayload<'_>>| {
                let p = &event.payload;
                if event.event_type != crate::telemetry::record::EVENT_TYPE
                    || p.source.as_deref().is_some_and(|s| s.starts_with("import:"))
                    || !(positive(&p.input_tokens) || positive(&p.output_tokens) || positive(&p.cost_usd))
                {
                    return;
                }
                let scope = Scope {
                    feature: slug.to_owned(),
                    wp: p.wp_id.as_deref().unwrap_or("N/A").to_owned(),
                    role: p.role.as_deref().unwrap_or("").to_owned(),
                    agent: family(p.agent.as_deref().unwrap_or("")),
                };
                let duration = p.duration_ms.as_ref().and_then(serde_json::Value::as_u64).unwrap_or(0);
                claims.entry(scope).or_default().push((event.timestamp.to_utc(), duration));
                count += 1;
            });
        }
        let windows = claims
            .into_iter()
            .map(|(scope, mut list)| {
                list.sort();
                let mut previous = None;
                let windows = list
                    .into_iter()
                    .map(|(at, duration)| {
                        let after = if duration > 0 {
                            Some(
                                at - Duration::milliseconds(
                                    i64::try_from(duration).unwrap_or(i64::MAX / 2).min(1 << 50),
                                ) - Duration::nanoseconds(1),
                            )
                        } else {
                            previous
                        };
                        previous = Some(at);
                        Window { after, until: at }
                    })
                    .collect();
                (scope, windows)
            })
            .collect();
        Claims { windows, count }
    }

    /// How many claiming events were found.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Whether a record of `agent` at `at`, attributed to `feature`/`wp`/`role`, was already reported.
    pub fn covers(&self, feature: &str, wp: &str, role: &str, agent: Agent, at: DateTime<Utc>) -> bool {
        if self.count == 0 {
            return false;
        }
        [agent.as_str(), "*"].into_iter().any(|family| {
            let scope = Scope {
                feature: feature.to_owned(),
                wp: wp.to_owned(),
                role: role.to_owned(),
                agent: family.to_owned(),
            };
            self.windows
                .get(&scope)
                .is_some_and(|windows| windows.iter().any(|w| w.after.is_none_or(|a| at > a) && at <= w.until))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_by_duration_or_since_the_previous_claim() {
        let dir = tempfile::tempdir().unwrap();
        let feature = dir.path().join("kitty-specs/001-x");
        std::fs::create_dir_all(&feature).unwrap();
        let line = |id: &str, ts: &str, payload: &str| {
            format!(
                r#"{{"aggregate_id": "001-x", "causation_id": null, "event_id": "{id}", "event_type": "ExecutionEvent", "lamport_clock": 1, "node_id": "cli:WP01", "payload": {payload}, "timestamp": "{ts}"}}"#
            )
        };
        let text = [
            line("01KHK2DVHCVJFXTV0HH3QMBSY1", "2026-01-02T10:00:00+00:00", r#"{"agent": "claude", "role": "implementer", "wp_id": "WP01", "input_tokens": 10, "duration_ms": 0}"#),
            line("01KHK2DVHCVJFXTV0HH3QMBSY2", "2026-01-02T12:00:00+00:00", r#"{"agent": "codex", "role": "implementer", "wp_id": "WP01", "input_tokens": 10, "duration_ms": 600000}"#),
            line("01KHK2DVHCVJFXTV0HH3QMBSY3", "2026-01-02T13:00:00+00:00", r#"{"agent": "unknown", "role": "reviewer", "wp_id": "WP01", "cost_usd": 0.5}"#),
            line("01KHK2DVHCVJFXTV0HH3QMBSY4", "2026-01-02T14:00:00+00:00", r#"{"agent": "claude", "role": "merger", "wp_id": "N/A", "input_tokens": null, "cost_usd": 0}"#),
            line("01KHK2DVHCVJFXTV0HH3QMBSY5", "2026-01-02T15:00:00+00:00", r#"{"agent": "claude", "role": "reviewer", "wp_id": "WP02", "output_tokens": 5, "source": "import:claude"}"#),
        ]
        .join("\n");
        std::fs::write(feature.join("execution.events.jsonl"), text + "\n").unwrap();
        let claims = Claims::load(&Project { root: dir.path().to_owned() }, ["001-x"].into_iter());
        assert_eq!(claims.len(), 3);
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let covers = |role, agent, at| claims.covers("001-x", "WP01", role, agent, t(at));
        assert!(covers("implementer", Agent::Claude, "2025-01-01T00:00:00Z"), "from the beginning");
        assert!(covers("implementer", Agent::Claude, "2026-01-02T10:00:00Z"));
        assert!(!covers("implementer", Agent::Claude, "2026-01-02T10:00:01Z"));
        assert!(!covers("implementer", Agent::Codex, "2026-01-02T11:49:59Z"));
        assert!(covers("implementer", Agent::Codex, "2026-01-02T11:50:00Z"));
        assert!(covers("reviewer", Agent::Gemini, "2026-01-02T12:59:00Z"), "unknown matches any agent");
        assert!(
            !claims.covers("001-x", "N/A", "merger", Agent::Claude, t("2026-01-02T13:00:00Z")),
            "a zero cost claims nothing"
        );
    }
}
