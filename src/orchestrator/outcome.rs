//! What one agent invocation amounted to: success, exit code, duration, output excerpts, errors, the
//! usage the agent reported, and for a review its verdict — and the ExecutionEvent that records it.
//! Pure: the engine hands in the finished process and acts on the result.

use super::invoke::{self, ProcessResult};
use super::scheduler::Phase;
use super::usage::{self, OutputFormat, Usage};
use super::verdict::{self, FailureKind, Verdict};
use crate::telemetry::{ExecutionRecord, Role};
use std::time::Duration;

/// How much of stdout and stderr a result keeps (the whole output is in the invocation's log).
const EXCERPT_CHARS: usize = 2000;

#[derive(Debug, Clone, PartialEq)]
pub struct InvocationResult {
    /// The agent did its job: exit 0, not stopped, no error in its output, and for a review a verdict.
    pub success: bool,
    pub exit_code: i64,
    pub duration: Duration,
    pub timed_out: bool,
    /// Stopped because the run was interrupted (not the agent's failure).
    pub interrupted: bool,
    /// The ends of stdout and stderr.
    pub stdout_excerpt: String,
    pub stderr_excerpt: String,
    /// Most telling first.
    pub errors: Vec<String>,
    pub usage: Usage,
    pub verdict: Option<Verdict>,
    /// Why it failed, when it did.
    pub failure: Option<FailureKind>,
}

/// Reads a finished process as an invocation of `phase` by an agent printing `format`.
pub fn interpret(phase: Phase, process: &ProcessResult, format: OutputFormat, timeout: Duration) -> InvocationResult {
    let output = usage::parse(format, &process.stdout);
    let clean = process.exit_code == 0
        && process.spawn_error.is_none()
        && !process.timed_out
        && !process.interrupted
        && output.reported_error.is_none();
    let mut errors = Vec::new();
    errors.extend(process.spawn_error.clone());
    if process.timed_out {
        errors.push(format!("timed out after {}", invoke::format_duration(timeout)));
    }
    if process.interrupted {
        errors.push("interrupted: the run was stopped".to_owned());
    }
    errors.extend(output.reported_error.clone());
    let stderr_errors = process.stderr.lines().map(str::trim).filter(|l| l.to_lowercase().contains("error"));
    errors.extend(stderr_errors.take(5).map(str::to_owned));
    if errors.is_empty() && process.exit_code != 0 {
        errors.push(match process.stderr.lines().map(str::trim).rfind(|l| !l.is_empty()) {
            Some(line) => format!("exited with code {}: {line}", process.exit_code),
            None => format!("exited with code {}", process.exit_code),
        });
    }
    let verdict = match phase {
        Phase::Review if clean => output.response.as_deref().and_then(verdict::parse_verdict),
        _ => None,
    };
    if phase == Phase::Review && clean && verdict.is_none() {
        errors.insert(
            0,
            if format != OutputFormat::Auto && !output.recognised {
                format!("the reviewer's output is not {} JSON, so it has no verdict", format_name(format))
            } else {
                "no verdict in the review (expected a line starting with APPROVED or REJECTED)".to_owned()
            },
        );
    }
    let success = clean && (phase == Phase::Implementation || verdict.is_some());
    // Classified from errors and stderr, never stdout, whose JSON is full of numbers like 401.
    let failure = (!success && !process.interrupted)
        .then(|| verdict::classify(process.exit_code, &format!("{}\n{}", errors.join("\n"), process.stderr)));
    InvocationResult {
        success,
        exit_code: process.exit_code,
        duration: process.duration,
        timed_out: process.timed_out,
        interrupted: process.interrupted,
        stdout_excerpt: tail(&process.stdout),
        stderr_excerpt: tail(&process.stderr),
        errors,
        usage: output.usage,
        verdict,
        failure,
    }
}

impl InvocationResult {
    /// The first error's first line (the ExecutionEvent's `error`, the progress line).
    pub fn error(&self) -> Option<&str> {
        self.errors.first().map(|e| e.trim().lines().next().unwrap_or_default())
    }

    /// The ExecutionEvent of this invocation: role from the phase, the usage the agent reported (the
    /// configured model when the output names none), duration in whole milliseconds (rounded).
    pub fn record(&self, wp_id: &str, agent: &str, phase: Phase, configured_model: Option<&str>) -> ExecutionRecord {
        ExecutionRecord {
            wp_id: wp_id.to_owned(),
            agent: agent.to_owned(),
            role: match phase {
                Phase::Implementation => Role::Implementer,
                Phase::Review => Role::Reviewer,
            },
            model: self.usage.model.clone().or_else(|| configured_model.map(str::to_owned)),
            input_tokens: self.usage.input_tokens,
            output_tokens: self.usage.output_tokens,
            cache_read_tokens: self.usage.cache_read_tokens,
            cache_write_tokens: self.usage.cache_write_tokens,
            cost_usd: self.usage.cost_usd,
            duration_ms: (self.duration.as_secs_f64() * 1000.0).round() as u64,
            success: self.success,
            error: if self.success { None } else { self.error().map(str::to_owned) },
            exit_code: self.exit_code,
        }
    }
}

fn format_name(format: OutputFormat) -> &'static str {
    match format {
        OutputFormat::Claude => "claude",
        OutputFormat::Codex => "codex",
        OutputFormat::Gemini => "gemini",
        OutputFormat::Auto => "agent",
    }
}

fn tail(text: &str) -> String {
    let count = text.chars().count();
    if count <= EXCERPT_CHARS {
        text.to_owned()
    } else {
        format!("…{}", text.chars().skip(count - EXCERPT_CHARS).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(exit_code: i64, stdout: &str, stderr: &str) -> ProcessResult {
        ProcessResult {
            exit_code,
            stdout: stdout.into(),
            stderr: stderr.into(),
            duration: Duration::from_micros(12_345_600),
            ..ProcessResult::default()
        }
    }

    const CLAUDE_APPROVAL: &str = r#"{"type":"result","subtype":"success","is_error":false,"result":"Fine.\nAPPROVED - ok","total_cost_usd":0.5,"usage":{"input_tokens":7,"output_tokens":3}}"#;

    #[test]
    fn a_clean_implementation_succeeds_and_records_its_usage() {
        let result = interpret(
            Phase::Implementation,
            &process(0, CLAUDE_APPROVAL, ""),
            OutputFormat::Claude,
            Duration::from_secs(9),
        );
        assert!(result.success && result.errors.is_empty() && result.failure.is_none());
        let record = result.record("WP01", "claude", Phase::Implementation, Some("claude-opus-4-7"));
        assert_eq!(
            (record.role, record.model.as_deref(), record.input_tokens, record.cost_usd),
            (Role::Implementer, Some("claude-opus-4-7"), Some(7), Some(0.5))
        );
        assert_eq!((record.duration_ms, record.success, record.error), (12_346, true, None), "milliseconds rounded");
    }

    #[test]
    fn failures_carry_their_cause_first() {
        let result = interpret(
            Phase::Implementation,
            &process(3, "", "warming up\nsomething broke\n"),
            OutputFormat::Auto,
            Duration::ZERO,
        );
        assert_eq!(result.errors, ["exited with code 3: something broke"]);
        assert_eq!(result.failure, Some(FailureKind::General));
        let timed_out = ProcessResult { timed_out: true, ..process(124, "", "Error: slow\n") };
        let result = interpret(Phase::Implementation, &timed_out, OutputFormat::Auto, Duration::from_millis(300));
        assert_eq!(result.errors, ["timed out after 0.3s", "Error: slow"]);
        assert_eq!((result.failure, result.error()), (Some(FailureKind::Timeout), Some("timed out after 0.3s")));
        let auth = interpret(
            Phase::Implementation,
            &process(1, "", "Invalid API key\n"),
            OutputFormat::Claude,
            Duration::ZERO,
        );
        assert_eq!(auth.failure, Some(FailureKind::Auth));
        let reported = r#"{"type":"result","subtype":"error_max_turns","is_error":true,"usage":{"input_tokens":1401}}"#;
        let result = interpret(Phase::Implementation, &process(0, reported, ""), OutputFormat::Claude, Duration::ZERO);
        assert_eq!((result.success, result.error()), (false, Some("claude reported error_max_turns")));
        assert_eq!(result.failure, Some(FailureKind::General), "1401 in stdout is not an auth failure");
        assert_eq!(result.usage.input_tokens, Some(1401), "a failed run still reports what it spent");
    }

    #[test]
    fn reviews_need_a_verdict() {
        let approved = interpret(Phase::Review, &process(0, CLAUDE_APPROVAL, ""), OutputFormat::Claude, Duration::ZERO);
        assert_eq!(approved.verdict, Some(Verdict::Approved { summary: "ok".into() }));
        assert!(approved.success);
        let garbage = interpret(Phase::Review, &process(0, "oops {", ""), OutputFormat::Codex, Duration::ZERO);
        assert!(!garbage.success && garbage.usage == Usage::default());
        assert_eq!(garbage.error(), Some("the reviewer's output is not codex JSON, so it has no verdict"));
        let vague = interpret(Phase::Review, &process(0, "I had a look.", ""), OutputFormat::Auto, Duration::ZERO);
        assert_eq!(
            vague.error(),
            Some("no verdict in the review (expected a line starting with APPROVED or REJECTED)")
        );
        let failed = interpret(Phase::Review, &process(2, "APPROVED - ok", ""), OutputFormat::Auto, Duration::ZERO);
        assert_eq!(
            (failed.verdict.clone(), failed.success),
            (None, false),
            "a verdict from a failed run does not count"
        );
        let stopped = ProcessResult { interrupted: true, ..process(130, "", "") };
        let stopped = interpret(Phase::Review, &stopped, OutputFormat::Auto, Duration::ZERO);
        assert_eq!((stopped.failure, stopped.error()), (None, Some("interrupted: the run was stopped")));
    }

    #[test]
    fn excerpts_keep_the_end() {
        let long = "x".repeat(EXCERPT_CHARS + 10) + "END";
        let result = interpret(Phase::Implementation, &process(0, &long, ""), OutputFormat::Auto, Duration::ZERO);
        assert!(result.stdout_excerpt.starts_with('…') && result.stdout_excerpt.ends_with("END"));
        assert_eq!(result.stdout_excerpt.chars().count(), EXCERPT_CHARS + 1);
    }
}
