//! Synthetic Codex `token_count` lines (the shape of reference/session-logs.md §2.2, made-up values),
//! written by the Codex parser's unit tests, the usage-import CLI tests and the usage benchmark alike.

/// A `token_count` event with the thread's cumulative `total` and the latest request's `last`, each
/// `[input incl. cached, cached, output incl. reasoning, reasoning]`, and `rate_limits` (raw JSON).
pub fn codex_token_count(ts: &str, total: [u64; 4], last: [u64; 4], rate_limits: &str) -> String {
    format!(
        r#"{{"timestamp":"{ts}","type":"event_msg","payload":{{"type":"token_count","info":{{"total_token_usage":{},"last_token_usage":{},"model_context_window":272000}},"rate_limits":{rate_limits}}}}}"#,
        token_usage(total),
        token_usage(last)
    )
}

/// A `TokenUsage` object (`total_tokens` = input + output).
fn token_usage(u: [u64; 4]) -> String {
    format!(
        r#"{{"input_tokens":{},"cached_input_tokens":{},"output_tokens":{},"reasoning_output_tokens":{},"total_tokens":{}}}"#,
        u[0],
        u[1],
        u[2],
        u[3],
        u[0] + u[2]
    )
}
