//! Rendering helpers shared by commands: a Rich-style table (upstream prints its reports with Rich's
//! heavy-head box), CSV fields, and writing to stdout/stderr.

use std::io::{self, IsTerminal, Write};
use unicode_width::UnicodeWidthStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
    Center,
}

#[derive(Debug, Clone)]
pub struct Column {
    pub header: String,
    pub align: Align,
    /// ANSI SGR code applied to body cells when colour is on (e.g. "36" cyan).
    pub color: Option<&'static str>,
}

impl Column {
    pub fn new(header: impl Into<String>, align: Align) -> Self {
        Column { header: header.into(), align, color: None }
    }

    pub fn colored(mut self, sgr: &'static str) -> Self {
        self.color = Some(sgr);
        self
    }
}

/// A table with an optional title and an optional footer row set off by a rule (Rich's `add_section`).
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub title: Option<String>,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<String>>,
    pub footer: Option<Vec<String>>,
}

impl Table {
    pub fn render(&self, color: bool) -> String {
        let widths: Vec<usize> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                self.rows
                    .iter()
                    .chain(self.footer.iter())
                    .map(|r| r[i].width())
                    .chain([c.header.width()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let rule = |left: &str, fill: &str, mid: &str, right: &str| {
            let parts: Vec<String> = widths.iter().map(|w| fill.repeat(w + 2)).collect();
            format!("{left}{}{right}\n", parts.join(mid))
        };
        let line = |cells: &[String], bar: &str, style: &dyn Fn(usize) -> Option<&'static str>| {
            let mut out = String::from(bar);
            for (i, cell) in cells.iter().enumerate() {
                let padded = pad(cell, widths[i], self.columns[i].align);
                let styled = match style(i).filter(|_| color) {
                    Some(sgr) => format!("\x1b[{sgr}m{padded}\x1b[0m"),
                    None => padded,
                };
                out.push(' ');
                out.push_str(&styled);
                out.push(' ');
                out.push_str(bar);
            }
            out.push('\n');
            out
        };

        let total_width: usize = widths.iter().map(|w| w + 3).sum::<usize>() + 1;
        let mut out = String::new();
        if let Some(title) = &self.title {
            let indent = total_width.saturating_sub(title.width()) / 2;
            out.push_str(&" ".repeat(indent));
            out.push_str(title);
            out.push('\n');
        }
        let headers: Vec<String> = self.columns.iter().map(|c| c.header.clone()).collect();
        out.push_str(&rule("┏", "━", "┳", "┓"));
        out.push_str(&line(&headers, "┃", &|_| Some("1")));
        out.push_str(&rule("┡", "━", "╇", "┩"));
        for row in &self.rows {
            out.push_str(&line(row, "│", &|i| self.columns[i].color));
        }
        if let Some(footer) = &self.footer {
            out.push_str(&rule("├", "─", "┼", "┤"));
            out.push_str(&line(footer, "│", &|_| Some("1")));
        }
        out.push_str(&rule("└", "─", "┴", "┘"));
        out
    }
}

fn pad(text: &str, width: usize, align: Align) -> String {
    let gap = width.saturating_sub(text.width());
    let (left, right) = match align {
        Align::Left => (0, gap),
        Align::Right => (gap, 0),
        Align::Center => (gap / 2, gap - gap / 2),
    };
    format!("{}{text}{}", " ".repeat(left), " ".repeat(right))
}

/// Whether stdout should get ANSI colour: a terminal, and `NO_COLOR` unset.
pub fn stdout_color() -> bool {
    io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

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
    fn renders_like_rich_heavy_head() {
        let table = Table {
            title: Some("T".into()),
            columns: vec![
                Column::new("Group", Align::Left),
                Column::new("N", Align::Right),
                Column::new("E", Align::Center),
            ],
            rows: vec![vec!["é".into(), "1,000".into(), "~".into()]],
            footer: Some(vec!["TOTAL".into(), "1,000".into(), "".into()]),
        };
        let expected = "          T\n\
┏━━━━━━━┳━━━━━━━┳━━━┓
┃ Group ┃     N ┃ E ┃
┡━━━━━━━╇━━━━━━━╇━━━┩
│ é     │ 1,000 │ ~ │
├───────┼───────┼───┤
│ TOTAL │ 1,000 │   │
└───────┴───────┴───┘
";
        assert_eq!(table.render(false), expected);
    }

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
