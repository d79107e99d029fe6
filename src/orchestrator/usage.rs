//! Reading what an agent printed: its token usage and cost, its final answer (the review verdict lives
//! there), and any error it reported. Pure functions over stdout, one per output shape of
//! reference/agent-outputs.md; fields come and go between CLI versions, so everything is optional and a
//! shape that cannot be read yields no usage rather than a guess.

use serde_json::{Map, Value};

/// The output shape an agent is expected to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// `claude -p --output-format json` (one result object) or `stream-json` (the last `type: result` line).
    Claude,
    /// `codex exec --json`: JSON Lines with `turn.completed` usage.
    Codex,
    /// `gemini --output-format json`: one object with `stats.models`.
    Gemini,
    /// A generic command: whichever of the shapes above it printed, else plain text.
    Auto,
}

/// Token counts and cost in our convention: `input_tokens` excludes cache reads and writes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    pub model: Option<String>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cache_read_tokens: Option<u64>,
    pub cache_write_tokens: Option<u64>,
    /// `None` when the agent does not report cost (the cost report then estimates it).
    pub cost_usd: Option<f64>,
}

/// What was read from an agent's stdout.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentOutput {
    /// The output had a recognised shape (false: malformed or absent, so no usage).
    pub recognised: bool,
    pub usage: Usage,
    /// The agent's final answer (claude `result`, codex's last agent message, gemini `response`; the
    /// whole stdout for a generic command that printed plain text).
    pub response: Option<String>,
    /// An error the agent reported in its output (claude `is_error`, codex `turn.failed`, gemini `error`).
    pub reported_error: Option<String>,
}

pub fn parse(format: OutputFormat, stdout: &str) -> AgentOutput {
    match format {
        OutputFormat::Claude => parse_claude(stdout),
        OutputFormat::Codex => parse_codex(stdout),
        OutputFormat::Gemini => parse_gemini(stdout),
        OutputFormat::Auto => {
            for parsed in [parse_claude(stdout), parse_codex(stdout), parse_gemini(stdout)] {
                if parsed.recognised {
                    return parsed;
                }
            }
            let text = stdout.trim();
            AgentOutput { response: (!text.is_empty()).then(|| text.to_owned()), ..AgentOutput::default() }
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// claude

fn parse_claude(stdout: &str) -> AgentOutput {
    let Some(result) = claude_result(stdout) else { return AgentOutput::default() };
    let usage = result.get("usage").and_then(Value::as_object);
    let model_usage = result.get("modelUsage").and_then(Value::as_object);
    let from_usage = |key: &str| usage.and_then(|u| count(u.get(key)));
    // Older or partial results may carry only the per-model totals.
    let from_models = |key: &str| model_usage.and_then(|m| sum(m.values().map(|v| count(v.get(key)))));
    let tokens = |usage_key: &str, model_key: &str| from_usage(usage_key).or_else(|| from_models(model_key));
    let model = model_usage
        .and_then(main_claude_model)
        .or_else(|| result.get("model").and_then(Value::as_str).map(str::to_owned))
        .map(|m| strip_context_suffix(&m));
    let usage = Usage {
        model,
        input_tokens: tokens("input_tokens", "inputTokens"),
        output_tokens: tokens("output_tokens", "outputTokens"),
        cache_read_tokens: tokens("cache_read_input_tokens", "cacheReadInputTokens"),
        cache_write_tokens: tokens("cache_creation_input_tokens", "cacheCreationInputTokens"),
        cost_usd: cost(result.get("total_cost_usd")).or_else(|| cost(result.get("cost_usd"))),
    };
    let response = result.get("result").and_then(Value::as_str).map(str::to_owned);
    let subtype = result.get("subtype").and_then(Value::as_str);
    let is_error =
        result.get("is_error").and_then(Value::as_bool) == Some(true) || subtype.is_some_and(|s| s != "success");
    let reported_error = is_error.then(|| {
        let kind = subtype.unwrap_or("error");
        match response.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
            Some(text) => format!("claude reported {kind}: {}", first_line(text)),
            None => format!("claude reported {kind}"),
        }
    });
    AgentOutput { recognised: true, usage, response, reported_error }
}

/// The result object: the whole output (an object, or the last result of an array of messages), else
/// the last `"type": "result"` line of stream-json.
fn claude_result(stdout: &str) -> Option<Map<String, Value>> {
    let is_result = |v: &Value| v.get("type").and_then(Value::as_str) == Some("result");
    match serde_json::from_str::<Value>(stdout.trim()) {
        Ok(Value::Object(object)) => return is_result(&Value::Object(object.clone())).then_some(object),
        Ok(Value::Array(items)) => {
            return items.into_iter().rev().find(is_result).and_then(|v| v.as_object().cloned());
        }
        _ => {}
    }
    json_lines(stdout).rev().find(is_result).and_then(|v| v.as_object().cloned())
}

/// The model that did the work: the `modelUsage` key with the most input tokens (cache included, since
/// with prompt caching most of the main model's input is cache reads). Ties go to the first listed.
fn main_claude_model(models: &Map<String, Value>) -> Option<String> {
    let input = |v: &Value| {
        ["inputTokens", "cacheReadInputTokens", "cacheCreationInputTokens"]
            .iter()
            .filter_map(|k| count(v.get(*k)))
            .sum::<u64>()
    };
    let mut best: Option<(&String, u64)> = None;
    for (name, usage) in models {
        let tokens = input(usage);
        if best.is_none_or(|(_, most)| tokens > most) {
            best = Some((name, tokens));
        }
    }
    best.map(|(name, _)| name.clone())
}

/// `claude-opus-4-7[1m]` → `claude-opus-4-7`: the context-size variant is the same model, and one id per
/// model keeps cost reports grouped (the pricing lookup ignores the suffix too).
fn strip_context_suffix(model: &str) -> String {
    match model.find('[') {
        Some(open) if model.ends_with(']') && open > 0 => model[..open].to_owned(),
        _ => model.to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------------
// codex

fn parse_codex(stdout: &str) -> AgentOutput {
    let events: Vec<Value> = json_lines(stdout).filter(|v| v.get("type").and_then(Value::as_str).is_some()).collect();
    let is_codex = events.iter().any(|e| {
        let kind = e["type"].as_str().unwrap_or_default();
        kind.starts_with("turn.") || kind.starts_with("thread.") || kind.starts_with("item.")
    });
    if !is_codex {
        return AgentOutput::default();
    }
    let (mut input, mut cached, mut output) = (None::<u64>, None::<u64>, None::<u64>);
    let add = |total: &mut Option<u64>, value: Option<u64>| {
        if let Some(v) = value {
            *total = Some(total.unwrap_or(0).saturating_add(v));
        }
    };
    let mut response = None;
    let mut reported_error = None;
    let mut model = None;
    for event in &events {
        match event["type"].as_str().unwrap_or_default() {
            "turn.completed" => {
                let usage = &event["usage"];
                add(&mut input, count(usage.get("input_tokens")));
                add(&mut cached, count(usage.get("cached_input_tokens")));
                add(&mut output, count(usage.get("output_tokens")));
            }
            "turn.failed" | "error" => {
                let message = event
                    .get("error")
                    .and_then(|e| e.get("message").or(Some(e)))
                    .and_then(Value::as_str)
                    .or_else(|| event.get("message").and_then(Value::as_str))
                    .unwrap_or("turn failed");
                reported_error = Some(format!("codex reported an error: {}", first_line(message)));
            }
            "item.completed" if event["item"]["type"].as_str() == Some("agent_message") => {
                response = event["item"]["text"].as_str().map(str::to_owned);
            }
            _ => {}
        }
        if model.is_none() {
            model = event.get("model").and_then(Value::as_str).map(str::to_owned);
        }
    }
    // OpenAI counts cached input inside input_tokens; we store input without the cache, else costs
    // would count the cached part twice.
    let usage = Usage {
        model,
        input_tokens: input.map(|i| i.saturating_sub(cached.unwrap_or(0))),
        output_tokens: output,
        cache_read_tokens: cached,
        cache_write_tokens: None,
        cost_usd: None,
    };
    AgentOutput { recognised: true, usage, response, reported_error }
}

// ---------------------------------------------------------------------------------------------------
// gemini

fn parse_gemini(stdout: &str) -> AgentOutput {
    let object = match serde_json::from_str::<Value>(stdout.trim()) {
        Ok(Value::Object(object)) => object,
        _ => match json_lines(stdout).last() {
            Some(Value::Object(object)) => object,
            _ => return AgentOutput::default(),
        },
    };
    let models = object.get("stats").and_then(|s| s.get("models")).and_then(Value::as_object);
    let has_error = object.get("error").is_some_and(|e| !e.is_null());
    if models.is_none() && !object.contains_key("response") && !has_error {
        return AgentOutput::default();
    }
    let mut usage = Usage::default();
    let mut most_input = None::<u64>;
    for (name, stats) in models.into_iter().flatten() {
        let tokens = &stats["tokens"];
        let get = |key: &str| count(tokens.get(key));
        let cached = get("cached");
        // Newer versions report `input` (prompt minus cache); older ones only `prompt`, which includes it.
        let input = get("input").or_else(|| get("prompt").map(|p| p.saturating_sub(cached.unwrap_or(0))));
        // Thinking tokens are billed as output.
        let output = sum([get("candidates").or_else(|| get("output")), get("thoughts")].into_iter());
        accumulate(&mut usage.input_tokens, input);
        accumulate(&mut usage.output_tokens, output);
        accumulate(&mut usage.cache_read_tokens, cached);
        let total_input = input.unwrap_or(0) + cached.unwrap_or(0);
        if most_input.is_none_or(|most| total_input > most) {
            most_input = Some(total_input);
            usage.model = Some(name.clone());
        }
    }
    let reported_error = has_error.then(|| {
        let error = &object["error"];
        let message = error.get("message").and_then(Value::as_str).or_else(|| error.as_str()).unwrap_or("error");
        format!("gemini reported an error: {}", first_line(message))
    });
    let response = object.get("response").and_then(Value::as_str).map(str::to_owned);
    AgentOutput { recognised: true, usage, response, reported_error }
}

// ---------------------------------------------------------------------------------------------------
// helpers

fn json_lines(stdout: &str) -> impl DoubleEndedIterator<Item = Value> + '_ {
    stdout.lines().filter(|l| l.trim_start().starts_with('{')).filter_map(|l| serde_json::from_str(l.trim()).ok())
}

/// A non-negative whole number (a float with no fraction counts: some tools print `12.0`).
fn count(value: Option<&Value>) -> Option<u64> {
    let value = value?;
    value.as_u64().or_else(|| value.as_f64().filter(|f| *f >= 0.0 && f.fract() == 0.0 && *f < 1e18).map(|f| f as u64))
}

fn cost(value: Option<&Value>) -> Option<f64> {
    value?.as_f64().filter(|c| c.is_finite() && *c >= 0.0)
}

fn sum(values: impl Iterator<Item = Option<u64>>) -> Option<u64> {
    values.fold(None, |total, v| match (total, v) {
        (None, None) => None,
        (t, v) => Some(t.unwrap_or(0).saturating_add(v.unwrap_or(0))),
    })
}

fn accumulate(total: &mut Option<u64>, value: Option<u64>) {
    *total = sum([*total, value].into_iter());
}

fn first_line(text: &str) -> &str {
    text.trim().lines().next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLAUDE: &str = r#"{"type":"result","subtype":"success","is_error":false,"api_error_status":null,
 "duration_ms":2191,"num_turns":1,"result":"APPROVED - fine","stop_reason":"end_turn","session_id":"s",
 "total_cost_usd":0.088202,
 "usage":{"input_tokens":11,"output_tokens":2,"cache_read_input_tokens":10,"cache_creation_input_tokens":0},
 "modelUsage":{"claude-haiku-4-5":{"inputTokens":300,"outputTokens":5},"claude-opus-4-7[1m]":{"inputTokens":500,"outputTokens":16}},
 "permission_denials":[],"terminal_reason":"completed"}"#;

    #[test]
    fn claude_result_object() {
        let out = parse(OutputFormat::Claude, CLAUDE);
        assert!(out.recognised);
        assert_eq!(
            out.usage,
            Usage {
                model: Some("claude-opus-4-7".into()),
                input_tokens: Some(11),
                output_tokens: Some(2),
                cache_read_tokens: Some(10),
                cache_write_tokens: Some(0),
                cost_usd: Some(0.088202),
            }
        );
        assert_eq!(out.response.as_deref(), Some("APPROVED - fine"));
        assert_eq!(out.reported_error, None);
    }

    #[test]
    fn claude_model_counts_cached_input() {
        let text = r#"{"type":"result","subtype":"success","is_error":false,"result":"ok",
          "modelUsage":{"claude-haiku-4-5":{"inputTokens":900,"outputTokens":5},
                        "claude-sonnet-4-5":{"inputTokens":40,"cacheReadInputTokens":5000,"outputTokens":700}}}"#;
        let out = parse(OutputFormat::Claude, text);
        assert_eq!(out.usage.model.as_deref(), Some("claude-sonnet-4-5"));
        assert_eq!(
            (out.usage.input_tokens, out.usage.cache_read_tokens),
            (Some(940), Some(5000)),
            "totals from modelUsage"
        );
        assert_eq!(out.usage.cost_usd, None);
    }

    #[test]
    fn claude_errors_and_stream_json() {
        let text = "{\"type\":\"system\",\"subtype\":\"init\"}\n{\"type\":\"assistant\",\"message\":{}}\n\
            {\"type\":\"result\",\"subtype\":\"error_max_turns\",\"is_error\":true,\"total_cost_usd\":0.5,\"usage\":{\"input_tokens\":3,\"output_tokens\":4}}\n";
        let out = parse(OutputFormat::Claude, text);
        assert!(out.recognised);
        assert_eq!(out.reported_error.as_deref(), Some("claude reported error_max_turns"));
        assert_eq!(
            (out.usage.input_tokens, out.usage.output_tokens, out.usage.cost_usd),
            (Some(3), Some(4), Some(0.5))
        );
        let array = r#"[{"type":"system"},{"type":"result","subtype":"success","is_error":false,"result":"done","total_cost_usd":0.1}]"#;
        assert_eq!(parse(OutputFormat::Claude, array).usage.cost_usd, Some(0.1));
    }

    #[test]
    fn codex_jsonl_sums_turns_and_excludes_cached_input() {
        let text = r#"{"type":"thread.started","thread_id":"t"}
{"type":"turn.started"}
{"type":"item.completed","item":{"type":"agent_message","text":"first"}}
{"type":"turn.completed","usage":{"input_tokens":1200,"cached_input_tokens":800,"output_tokens":90}}
{"type":"turn.started"}
{"type":"item.completed","item":{"type":"reasoning","text":"hmm"}}
{"type":"item.completed","item":{"type":"agent_message","text":"REJECTED - no tests"}}
{"type":"turn.completed","usage":{"input_tokens":300,"cached_input_tokens":100,"output_tokens":10}}
"#;
        let out = parse(OutputFormat::Codex, text);
        assert!(out.recognised);
        assert_eq!(
            out.usage,
            Usage {
                model: None,
                input_tokens: Some(600),
                output_tokens: Some(100),
                cache_read_tokens: Some(900),
                cache_write_tokens: None,
                cost_usd: None
            }
        );
        assert_eq!(out.response.as_deref(), Some("REJECTED - no tests"));
        assert_eq!(out.reported_error, None);
    }

    #[test]
    fn codex_turn_failed_is_an_error() {
        let text =
            "{\"type\":\"turn.started\"}\n{\"type\":\"turn.failed\",\"error\":{\"message\":\"stream disconnected\"}}\n";
        let out = parse(OutputFormat::Codex, text);
        assert_eq!(out.reported_error.as_deref(), Some("codex reported an error: stream disconnected"));
        assert_eq!(out.usage, Usage::default());
    }

    #[test]
    fn gemini_token_names_of_both_versions() {
        let old = r#"{"session_id":"s","response":"APPROVED - ok","stats":{"models":{"gemini-2.5-pro":{"api":{},"tokens":{"prompt":24939,"candidates":20,"total":25113,"cached":21263,"thoughts":154,"tool":0}}}}}"#;
        let out = parse(OutputFormat::Gemini, old);
        assert_eq!(
            out.usage,
            Usage {
                model: Some("gemini-2.5-pro".into()),
                input_tokens: Some(3676),
                output_tokens: Some(174),
                cache_read_tokens: Some(21263),
                cache_write_tokens: None,
                cost_usd: None
            }
        );
        assert_eq!(out.response.as_deref(), Some("APPROVED - ok"));
        let new = r#"{"response":"x","stats":{"models":{"gemini-2.5-flash":{"tokens":{"input":100,"prompt":150,"output":7,"cached":50,"total":157}},
            "gemini-2.5-pro":{"tokens":{"input":1000,"prompt":1000,"candidates":70,"cached":0}}}}}"#;
        let out = parse(OutputFormat::Gemini, new);
        assert_eq!(out.usage.model.as_deref(), Some("gemini-2.5-pro"));
        assert_eq!(
            (out.usage.input_tokens, out.usage.output_tokens, out.usage.cache_read_tokens),
            (Some(1100), Some(77), Some(50))
        );
        let error = r#"{"error":{"type":"FatalAuthenticationError","message":"API key not valid","code":41}}"#;
        assert_eq!(
            parse(OutputFormat::Gemini, error).reported_error.as_deref(),
            Some("gemini reported an error: API key not valid")
        );
    }

    #[test]
    fn malformed_or_absent_output_has_no_usage() {
        for format in [OutputFormat::Claude, OutputFormat::Codex, OutputFormat::Gemini] {
            for text in [
                "",
                "Traceback (most recent call last):\n  boom",
                "{\"type\": \"result\"",
                "[1, 2]",
                "{\"unrelated\": 1}",
            ] {
                let out = parse(format, text);
                assert_eq!(out, AgentOutput::default(), "{format:?} {text:?}");
            }
        }
    }

    #[test]
    fn auto_recognises_each_shape_or_keeps_the_text() {
        assert_eq!(parse(OutputFormat::Auto, CLAUDE).usage.cost_usd, Some(0.088202));
        let codex = "{\"type\":\"turn.completed\",\"usage\":{\"input_tokens\":10,\"cached_input_tokens\":4,\"output_tokens\":1}}";
        assert_eq!(parse(OutputFormat::Auto, codex).usage.input_tokens, Some(6));
        let plain = parse(OutputFormat::Auto, "Looks right.\nAPPROVED - ship it\n");
        assert!(!plain.recognised);
        assert_eq!(plain.response.as_deref(), Some("Looks right.\nAPPROVED - ship it"));
        assert_eq!(parse(OutputFormat::Auto, "  \n").response, None);
    }

    #[test]
    fn counts_are_lenient_but_never_negative() {
        assert_eq!(count(Some(&serde_json::json!(12.0))), Some(12));
        assert_eq!(count(Some(&serde_json::json!(-1))), None);
        assert_eq!(count(Some(&serde_json::json!(1.5))), None);
        assert_eq!(count(Some(&serde_json::json!("3"))), None);
        assert_eq!(cost(Some(&serde_json::json!(-0.1))), None);
    }
}
