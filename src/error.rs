//! The command-boundary error and the one table of exit codes.
//!
//! Core modules return their own `thiserror` enums and implement [`Diagnose`] for them: what the user
//! can do about the error (hints), which exit code it means, and a stable code for `--json` output.
//! `?` then turns any of them into a [`CliError`] through the single `From` below, which also keeps the
//! chain of underlying causes.

use std::fmt;
use std::io;

/// Exit codes (documented in the README, and in `spec-kitty --help`).
pub const EXIT_SUCCESS: u8 = 0;
/// The command failed (not in a project, unreadable file, refused transition, strict write failure, …).
pub const EXIT_FAILURE: u8 = 1;
/// Usage error: unknown flag, invalid value or environment variable (clap's, and our own validation).
pub const EXIT_USAGE: u8 = 2;
/// `sync now`: some events were rejected (they wait for a retry, or are in the dead letters).
pub const EXIT_SYNC_REJECTED: u8 = 3;
/// `sync now`: nothing more could be delivered (offline, not logged in); the events stay queued.
pub const EXIT_SYNC_UNDELIVERED: u8 = 4;
/// Interrupted by Ctrl-C or SIGTERM (`orchestrate`, the password prompt), as a shell reports it.
pub const EXIT_INTERRUPTED: u8 = 130;

/// What a core error tells the user beyond its message. Implemented by every error type a command can
/// return with `?`.
pub trait Diagnose: std::error::Error {
    /// What to do about it, one sentence each.
    fn hints(&self) -> Vec<String> {
        Vec::new()
    }

    fn exit_code(&self) -> u8 {
        EXIT_FAILURE
    }

    /// A stable machine-readable name (e.g. `SPEC_FILE_MISSING`) for `--json` error output.
    fn error_code(&self) -> Option<&'static str> {
        None
    }

    /// The input was checked and found invalid (logged as a `validation` error rather than `runtime`).
    fn invalid_input(&self) -> bool {
        false
    }

    /// Extra keys for the `--json` error object (e.g. upstream's `cycles`).
    fn details(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        None
    }
}

#[derive(Debug)]
pub struct CliError {
    pub code: u8,
    pub message: String,
    /// Underlying causes not already spelled out in `message`, outermost first.
    pub causes: Vec<String>,
    pub hints: Vec<String>,
    /// A stable machine-readable name (e.g. `SPEC_FILE_MISSING`) for `--json` error output.
    pub error_code: Option<&'static str>,
    /// Extra keys for the `--json` error object (e.g. upstream's `cycles`).
    pub details: Option<Box<serde_json::Map<String, serde_json::Value>>>,
    /// The input was checked and found invalid (logged as a `validation` error rather than `runtime`).
    pub invalid_input: bool,
    /// The command already printed its full result on stdout (no extra `{"error": …}` line).
    pub result_printed: bool,
}

impl CliError {
    fn new(code: u8, message: String) -> Self {
        CliError {
            code,
            message,
            causes: Vec::new(),
            hints: Vec::new(),
            error_code: None,
            details: None,
            invalid_input: false,
            result_printed: false,
        }
    }

    pub fn failure(message: impl Into<String>) -> Self {
        CliError::new(EXIT_FAILURE, message.into())
    }

    /// A failure caused by invalid input that was checked (exit 1, logged as a validation error).
    pub fn invalid(message: impl Into<String>) -> Self {
        CliError { invalid_input: true, ..CliError::failure(message) }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        CliError::new(EXIT_USAGE, message.into())
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    /// Adds a key to the `--json` error object.
    pub fn detail(mut self, key: &str, value: serde_json::Value) -> Self {
        self.details.get_or_insert_default().insert(key.to_owned(), value);
        self
    }

    pub fn with_code(mut self, error_code: &'static str) -> Self {
        self.error_code = Some(error_code);
        self
    }

    /// A closed stdout (`spec-kitty … | head`) is not a failure.
    pub fn is_broken_pipe(&self) -> bool {
        self.code == EXIT_SUCCESS
    }

    /// Renders `error: …`, one `caused by: …` line per cause, and one `hint: …` line per hint.
    pub fn render(&self) -> String {
        let mut text = format!("error: {}", self.message);
        for (prefix, lines) in [("caused by", &self.causes), ("hint", &self.hints)] {
            for line in lines {
                text.push_str(&format!("\n{prefix}: {line}"));
            }
        }
        text
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

impl<E: Diagnose> From<E> for CliError {
    fn from(error: E) -> Self {
        let message = error.to_string();
        let mut causes = Vec::new();
        let mut source = error.source();
        while let Some(cause) = source {
            let text = cause.to_string();
            // Most messages already quote their cause ("cannot read x: permission denied").
            if !message.contains(&text) && !causes.contains(&text) {
                causes.push(text);
            }
            source = cause.source();
        }
        CliError {
            causes,
            hints: error.hints(),
            error_code: error.error_code(),
            invalid_input: error.invalid_input(),
            details: error.details().map(Box::new),
            ..CliError::new(error.exit_code(), message)
        }
    }
}

impl From<io::Error> for CliError {
    /// Only for writes to stdout/stderr; file errors are mapped with their path where they happen.
    fn from(error: io::Error) -> Self {
        if error.kind() == io::ErrorKind::BrokenPipe {
            CliError::new(EXIT_SUCCESS, String::new())
        } else {
            CliError::failure(format!("cannot write output: {error}"))
        }
    }
}

impl Diagnose for crate::context::ContextError {
    fn exit_code(&self) -> u8 {
        EXIT_USAGE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Inner {
        #[error("disk on fire")]
        Fire,
    }

    #[derive(Debug, thiserror::Error)]
    enum Outer {
        #[error("cannot save the plan")]
        Save(#[source] Inner),
        #[error("cannot read x: {0}")]
        Read(#[source] Inner),
    }

    impl Diagnose for Outer {
        fn hints(&self) -> Vec<String> {
            vec!["free some space".into()]
        }
        fn exit_code(&self) -> u8 {
            EXIT_USAGE
        }
        fn error_code(&self) -> Option<&'static str> {
            Some("SAVE_FAILED")
        }
    }

    #[test]
    fn core_errors_convert_with_their_hints_code_and_causes() {
        let cli = CliError::from(Outer::Save(Inner::Fire));
        assert_eq!((cli.code, cli.error_code), (EXIT_USAGE, Some("SAVE_FAILED")));
        assert_eq!(cli.render(), "error: cannot save the plan\ncaused by: disk on fire\nhint: free some space");
        let quoted = CliError::from(Outer::Read(Inner::Fire));
        assert!(quoted.causes.is_empty(), "a cause already in the message is not repeated");
    }

    #[test]
    fn a_closed_pipe_is_not_a_failure() {
        let cli = CliError::from(io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(cli.is_broken_pipe());
    }
}
