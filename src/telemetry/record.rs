//! What one agent invocation reports: the `ExecutionEvent` payload.

use crate::events::Payload;
use serde_json::{Number, Value};
use std::fmt;
use std::str::FromStr;

pub const EVENT_TYPE: &str = "ExecutionEvent";

/// The most tokens of each kind (input, output, cache read, cache write) one event may report: 10^15,
/// a thousand times what a busy team spends in a year, yet far from where totals could overflow.
pub const MAX_TOKENS: u64 = 1_000_000_000_000_000;
/// The largest cost one event may report, in USD (10^9).
pub const MAX_COST_USD: f64 = 1e9;
/// The work-package id of feature-level phases (upstream's default).
pub const NO_WP: &str = "N/A";

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
    #[error("cost {0} exceeds the maximum of 1000000000 USD per event")]
    CostTooLarge(f64),
    #[error("{field} {count} exceeds the maximum of {MAX_TOKENS} tokens per event")]
    TooManyTokens { field: &'static str, count: u64 },
    #[error("work package id must not be empty (use N/A for feature-level phases)")]
    EmptyWpId,
    #[error("{} is not a work package id (WP01…, or N/A for feature-level phases)", shorten(.0))]
    BadWpId(String),
}

/// `text` quoted for a message, cut to a readable length.
fn shorten(text: &str) -> String {
    const MAX: usize = 40;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}… ({} bytes)", &text[..cut], text.len()),
        None => format!("{text:?}"),
    }
}

/// Checks a `--wp-id` value: `N/A`, or a work-package id (`WP01`, `wp1`, … normalised to `WP01`).
pub fn parse_wp_id(text: &str) -> Result<String, RecordError> {
    if text.trim().is_empty() {
        return Err(RecordError::EmptyWpId);
    }
    if text.trim() == NO_WP {
        return Ok(NO_WP.to_owned());
    }
    crate::workflow::wp::normalize_wp_id(text).map_err(|_| RecordError::BadWpId(text.to_owned()))
}

/// Checks one token count against [`MAX_TOKENS`].
pub fn check_tokens(field: &'static str, count: u64) -> Result<u64, RecordError> {
    if count > MAX_TOKENS { Err(RecordError::TooManyTokens { field, count }) } else { Ok(count) }
}

/// Checks a reported cost: finite, non-negative, at most [`MAX_COST_USD`].
pub fn check_cost(cost: f64) -> Result<f64, RecordError> {
    if !(cost.is_finite() && cost >= 0.0) {
        Err(RecordError::Cost(cost))
    } else if cost > MAX_COST_USD {
        Err(RecordError::CostTooLarge(cost))
    } else {
        Ok(cost)
    }
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

    /// The checks every stored event passes: a cost within [`check_cost`], token counts within
    /// [`MAX_TOKENS`], and a work-package id that is `N/A` or a canonical `WPnn`.
    pub fn validate(&self) -> Result<(), RecordError> {
        if let Some(cost) = self.cost_usd {
            check_cost(cost)?;
        }
        for (field, count) in [
            ("input_tokens", self.input_tokens),
            ("output_tokens", self.output_tokens),
            ("cache_read_tokens", self.cache_read_tokens),
            ("cache_write_tokens", self.cache_write_tokens),
        ] {
            if let Some(count) = count {
                check_tokens(field, count)?;
            }
        }
        if parse_wp_id(&self.wp_id)? != self.wp_id {
            return Err(RecordError::BadWpId(self.wp_id.clone()));
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
        record.cost_usd = Some(1e308);
        assert_eq!(record.validate(), Err(RecordError::CostTooLarge(1e308)));
        record.cost_usd = Some(MAX_COST_USD);
        assert!(record.validate().is_ok());
        assert!("boss".parse::<Role>().is_err());
        assert_eq!("merger".parse::<Role>(), Ok(Role::Merger));
    }

    #[test]
    fn validation_bounds_tokens_and_wp_ids() {
        let mut record = ExecutionRecord::new(Role::Implementer);
        record.input_tokens = Some(MAX_TOKENS);
        assert!(record.validate().is_ok());
        record.cache_write_tokens = Some(u64::MAX);
        let err = record.validate().unwrap_err();
        assert_eq!(
            err.to_string(),
            "cache_write_tokens 18446744073709551615 exceeds the maximum of 1000000000000000 tokens per event"
        );
        let mut record = ExecutionRecord::new(Role::Implementer);
        for (given, stored) in [("N/A", "N/A"), ("WP07", "WP07"), ("wp7", "WP07"), (" WP12 ", "WP12")] {
            assert_eq!(parse_wp_id(given).unwrap(), stored);
        }
        for bad in ["../x", "WP01\nWP02", "WP100", "x"] {
            assert!(matches!(parse_wp_id(bad), Err(RecordError::BadWpId(_))), "{bad:?}");
        }
        assert_eq!(parse_wp_id(" "), Err(RecordError::EmptyWpId));
        let long = parse_wp_id(&"A".repeat(10_000)).unwrap_err().to_string();
        assert!(long.len() < 200 && long.contains("(10000 bytes)"), "{long}");
        record.wp_id = "wp1".into();
        assert!(record.validate().is_err(), "the library stores canonical ids only");
    }
}
