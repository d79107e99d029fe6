//! The usage an agent reports for a workflow phase (the `--agent --model --input-tokens …` flags of the
//! workflow commands), and when it becomes an ExecutionEvent.

use super::record::{ExecutionRecord, NO_WP, Role};

/// What the agent said it spent. Every field is optional: agents running from templates often know
/// none of it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    pub agent: Option<String>,
    pub model: Option<String>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cache_read_tokens: Option<u64>,
    pub cache_write_tokens: Option<u64>,
    pub cost_usd: Option<f64>,
    pub duration_ms: Option<u64>,
}

impl Usage {
    /// Whether anything was reported. Workflow commands record an ExecutionEvent only then, as upstream's
    /// `_should_emit_execution_event` does: an event with no agent, model or tokens says nothing, and one
    /// per phase would inflate every cost report's event counts.
    pub fn given(&self) -> bool {
        *self != Usage::default()
    }

    /// The ExecutionEvent for `role` (agent defaults to `fallback_agent`, then "unknown"), or `None` when
    /// nothing was reported (see [`Usage::given`]).
    pub fn record(&self, role: Role, wp_id: &str, fallback_agent: Option<&str>) -> Option<ExecutionRecord> {
        if !self.given() {
            return None;
        }
        let agent = self.agent.as_deref().or(fallback_agent).filter(|a| !a.trim().is_empty()).unwrap_or("unknown");
        Some(ExecutionRecord {
            wp_id: if wp_id.is_empty() { NO_WP } else { wp_id }.to_owned(),
            agent: agent.to_owned(),
            model: self.model.clone(),
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cache_read_tokens: self.cache_read_tokens,
            cache_write_tokens: self.cache_write_tokens,
            cost_usd: self.cost_usd,
            duration_ms: self.duration_ms.unwrap_or(0),
            ..ExecutionRecord::new(role)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_reported_records_nothing() {
        assert_eq!(Usage::default().record(Role::Planner, NO_WP, Some("claude")), None);
        let usage = Usage { model: Some("gpt-5".into()), ..Usage::default() };
        let record = usage.record(Role::Reviewer, "WP01", Some("codex")).unwrap();
        assert_eq!(
            (record.agent.as_str(), record.wp_id.as_str(), record.model.as_deref()),
            ("codex", "WP01", Some("gpt-5"))
        );
        let record = Usage { agent: Some(" ".into()), ..usage }.record(Role::Planner, NO_WP, None).unwrap();
        assert_eq!(record.agent, "unknown");
    }
}
