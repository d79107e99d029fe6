//! Writing to stdout/stderr, CSV fields and number formatting shared by commands; tables are
//! [`crate::table`].

pub use crate::table::{Align, Color, Column, Frame, Table, Term, cut_line, fit_line};
use std::io::{self, Write};

/// One CSV record (RFC 4180 quoting).
pub fn csv_record<S: AsRef<str>>(fields: &[S]) -> String {
    let quoted: Vec<String> = fields
        .iter()
        .map(|f| {
            let f = f.as_ref();
            if f.contains([',', '"', '\n', '\r']) { format!("\"{}\"", f.replace('"', "\"\"")) } else { f.to_owned() }
        })
        .collect();
    quoted.join(",")
}

/// Formats an integer with thousands separators, as Python's `f"{n:,}"`.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Writes `text` to stdout; a closed pipe surfaces as an error the caller maps to a quiet exit.
pub fn print(text: &str) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()
}

/// A `warning: …` line on stderr.
pub fn warn(message: &str) {
    eprintln!("warning: {message}");
}

/// An informational line on stderr (never stdout, so `--json` output stays one parseable object).
pub fn note(message: &str) {
    eprintln!("{message}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_when_needed() {
        assert_eq!(csv_record(&["a", "b,c", "d\"e", ""]), "a,\"b,c\",\"d\"\"e\",");
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(76_330_500), "76,330,500");
        assert_eq!(thousands(-1234), "-1,234");
    }
}
