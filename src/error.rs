//! The command-boundary error: a message, optional hints, and the exit code it maps to.
//!
//! Exit codes (documented in the README):
//! - 0 success (also when stdout is a closed pipe)
//! - 1 the command failed (not in a project, unreadable file, strict-mode write failure, …)
//! - 2 usage error: unknown flag, invalid value (clap, and our own flag validation)

use std::fmt;
use std::io;

pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

#[derive(Debug)]
pub struct CliError {
    pub code: u8,
    pub message: String,
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
    pub fn failure(message: impl Into<String>) -> Self {
        CliError {
            code: EXIT_FAILURE,
            message: message.into(),
            hints: Vec::new(),
            error_code: None,
            details: None,
            invalid_input: false,
            result_printed: false,
        }
    }

    /// A failure caused by invalid input that was checked (exit 1, logged as a validation error).
    pub fn invalid(message: impl Into<String>) -> Self {
        CliError { invalid_input: true, ..CliError::failure(message) }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        CliError {
            code: EXIT_USAGE,
            message: message.into(),
            hints: Vec::new(),
            error_code: None,
            details: None,
            invalid_input: false,
            result_printed: false,
        }
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
        self.code == 0
    }

    /// Renders `error: …` plus one `hint: …` line per hint.
    pub fn render(&self) -> String {
        let mut text = format!("error: {}", self.message);
        for hint in &self.hints {
            text.push_str("\nhint: ");
            text.push_str(hint);
        }
        text
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

impl From<io::Error> for CliError {
    /// Only for writes to stdout/stderr; file errors are mapped with their path where they happen.
    fn from(error: io::Error) -> Self {
        if error.kind() == io::ErrorKind::BrokenPipe {
            CliError {
                code: 0,
                message: String::new(),
                hints: Vec::new(),
                error_code: None,
                details: None,
                invalid_input: false,
                result_printed: false,
            }
        } else {
            CliError::failure(format!("cannot write output: {error}"))
        }
    }
}

impl From<crate::context::ContextError> for CliError {
    fn from(error: crate::context::ContextError) -> Self {
        CliError::usage(error.to_string())
    }
}
