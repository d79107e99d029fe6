//! Reading the server's answers: per-event results of a 200, the details of a whole-batch 400.

use serde_json::Value;
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    Delivered,
    Duplicate,
    Rejected(String),
}

/// `{"results": [{"event_id", "status", "error"?, "error_message"?}]}`. Results for ids not sent are
/// ignored by the caller; a repeated id keeps its first result.
pub(super) fn parse_results(body: &[u8]) -> Result<HashMap<String, Verdict>, String> {
    let value: Value = serde_json::from_slice(body).map_err(|_| "the server's answer is not JSON".to_owned())?;
    let results = value.get("results").and_then(Value::as_array).ok_or("the server's answer has no results list")?;
    let mut verdicts = HashMap::with_capacity(results.len());
    for result in results {
        let Some(id) = result.get("event_id").and_then(Value::as_str) else { continue };
        let status = result.get("status").and_then(Value::as_str).unwrap_or_default().to_ascii_lowercase();
        let verdict = match status.as_str() {
            "success" | "accepted" | "warning" | "skipped" => Verdict::Delivered,
            "duplicate" => Verdict::Duplicate,
            _ => Verdict::Rejected(
                ["error_message", "error"]
                    .iter()
                    .find_map(|k| result.get(*k).filter(|v| !v.is_null()).map(text_of))
                    .unwrap_or_else(|| "Unknown error".to_owned()),
            ),
        };
        verdicts.entry(id.to_owned()).or_insert(verdict);
    }
    Ok(verdicts)
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A whole-batch 400: `{"error": str, "details": [ {event_id, error|reason} ] | str}`.
#[derive(Debug, Clone, Default)]
pub(super) struct BadRequest {
    error: String,
    pub(super) per_event: HashMap<String, String>,
}

impl BadRequest {
    pub(super) fn error_for(&self, event_id: &str) -> String {
        self.per_event.get(event_id).cloned().unwrap_or_else(|| self.error.clone())
    }
}

pub(super) fn parse_bad_request(body: &[u8], status: u16) -> BadRequest {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        // Not JSON: keep a short, printable excerpt of what the server said.
        let text: String = String::from_utf8_lossy(body).chars().filter(|c| !c.is_control()).take(200).collect();
        let error = if text.trim().is_empty() { format!("HTTP {status}") } else { format!("HTTP {status}: {text}") };
        return BadRequest { error, per_event: HashMap::new() };
    };
    let mut error = value.get("error").map(text_of).unwrap_or_else(|| format!("HTTP {status}"));
    let mut details = value.get("details").cloned().unwrap_or(Value::Null);
    if let Value::String(text) = &details {
        match serde_json::from_str::<Value>(text) {
            Ok(list @ Value::Array(_)) => details = list,
            _ => error = format!("{error}\nDetails: {text}"),
        }
    }
    let per_event = details
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| {
                    let id = item.get("event_id")?.as_str()?;
                    let text = item.get("error").or_else(|| item.get("reason")).map(text_of)?;
                    Some((id.to_owned(), text))
                })
                .collect()
        })
        .unwrap_or_default();
    BadRequest { error, per_event }
}
