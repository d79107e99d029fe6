//! What one agent invocation reports: the `ExecutionEvent` payload.

use crate::events::Payload;
use serde_json::{Number, Value};
use std::fmt;
use std::str::FromStr;

pub const EVENT_TYPE: &str = "ExecutionEvent";

/// The workflow phase an invocation belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Specifier,
    Planner,
    Implementer,
    Reviewer,
    Merger,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::Specifier, Role::Planner, Role::Implementer, Role::Reviewer, Role::Merger];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Specifier => "specifier",
            Role::Planner => "planner",
            Role::Implementer => "implementer",
            Role::Reviewer => "reviewer",
            Role::Merger => "merger",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| {
            format!("unknown role {s:?}; expected one of specifier, planner, implementer, reviewer, merger")
        })
    }
}

/// One invocation's telemetry. Optional counts stay `null` in the log rather than becoming 0, so "not
/// reported" remains distinguishable from "zero".
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionRecord {
    /// `N/A` for feature-level phases.
    pub wp_id: String,
    /// `unknown` when the caller did not say.
    pub agent: String,
    pub role: Role,
    pub model: Option<String>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cache_read_tokens: Option<u64>,
    pub cache_write_tokens: Option<u64>,
    /// `None` means "estimate from the pricing table"; an explicit 0 stays 0.
    pub cost_usd: Option<f64>,
    pub duration_ms: u64,
    pub success: bool,
    pub error: Option<String>,
    pub exit_code: i64,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecordError {
    #[error("cost must be a finite, non-negative number of dollars, got {0}")]
    Cost(f64),
    #[error("work package id must not be empty (use N/A for feature-level phases)")]
    EmptyWpId,
}

impl ExecutionRecord {
    /// A record with upstream's defaults: agent `unknown`, wp `N/A`, success, exit code 0.
    pub fn new(role: Role) -> Self {
        ExecutionRecord {
            wp_id: "N/A".into(),
            agent: "unknown".into(),
            role,
            model: None,
            input_tokens: None,
            output_tokens: None,
            cache_read_tokens: None,
            cache_write_tokens: None,
            cost_usd: None,
            duration_ms: 0,
            success: true,
            error: None,
            exit_code: 0,
        }
    }

    pub fn validate(&self) -> Result<(), RecordError> {
        if let Some(cost) = self.cost_usd
            && !(cost.is_finite() && cost >= 0.0)
        {
            return Err(RecordError::Cost(cost));
        }
        if self.wp_id.trim().is_empty() {
            return Err(RecordError::EmptyWpId);
        }
        Ok(())
    }

    /// The event's node id, as upstream derives it: `cli:<wp_id>`.
    pub fn node_id(&self) -> String {
        format!("cli:{}", self.wp_id)
    }

    /// Upstream's 11 payload keys (nulls kept), plus the cache counts when they were reported.
    pub fn payload(&self) -> Payload {
        let opt_str = |v: &Option<String>| v.clone().map_or(Value::Null, Value::String);
        let opt_int = |v: Option<u64>| v.map_or(Value::Null, |n| Value::Number(n.into()));
        let mut payload = Payload::new();
        payload.insert("wp_id".into(), Value::String(self.wp_id.clone()));
        payload.insert("agent".into(), Value::String(self.agent.clone()));
        payload.insert("role".into(), Value::String(self.role.as_str().into()));
        payload.insert("model".into(), opt_str(&self.model));
        payload.insert("input_tokens".into(), opt_int(self.input_tokens));
        payload.insert("output_tokens".into(), opt_int(self.output_tokens));
        payload.insert("cost_usd".into(), self.cost_usd.and_then(Number::from_f64).map_or(Value::Null, Value::Number));
        payload.insert("duration_ms".into(), Value::Number(self.duration_ms.into()));
        payload.insert("success".into(), Value::Bool(self.success));
        payload.insert("error".into(), opt_str(&self.error));
        payload.insert("exit_code".into(), Value::Number(self.exit_code.into()));
        if self.cache_read_tokens.is_some() {
            payload.insert("cache_read_tokens".into(), opt_int(self.cache_read_tokens));
        }
        if self.cache_write_tokens.is_some() {
            payload.insert("cache_write_tokens".into(), opt_int(self.cache_write_tokens));
        }
        payload
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::pyjson;

    #[test]
    fn minimal_payload_has_upstreams_eleven_keys() {
        let payload = ExecutionRecord::new(Role::Planner).payload();
        assert_eq!(
            pyjson::to_string(&Value::Object(payload), pyjson::LOG_LINE),
            r#"{"agent": "unknown", "cost_usd": null, "duration_ms": 0, "error": null, "exit_code": 0, "input_tokens": null, "model": null, "output_tokens": null, "role": "planner", "success": true, "wp_id": "N/A"}"#
        );
    }

    #[test]
    fn cache_counts_are_added_only_when_reported() {
        let mut record = ExecutionRecord::new(Role::Implementer);
        record.cache_read_tokens = Some(10);
        let payload = record.payload();
        assert_eq!(payload.get("cache_read_tokens"), Some(&Value::from(10)));
        assert!(!payload.contains_key("cache_write_tokens"));
    }

    #[test]
    fn validation_rejects_bad_costs() {
        let mut record = ExecutionRecord::new(Role::Merger);
        for bad in [f64::NAN, f64::INFINITY, -0.5] {
            record.cost_usd = Some(bad);
            assert!(record.validate().is_err());
        }
        record.cost_usd = Some(0.0);
        assert!(record.validate().is_ok());
        assert!("boss".parse::<Role>().is_err());
        assert_eq!("merger".parse::<Role>(), Ok(Role::Merger));
    }
}
