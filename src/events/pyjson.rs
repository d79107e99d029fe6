//! A JSON writer that reproduces Python's `json.dumps` byte for byte.
//!
//! Upstream writes every event line with `json.dumps(obj, sort_keys=True)` (separators `", "` and `": "`,
//! `ensure_ascii=True`, floats in `repr` form) and its reports with `indent=2`. Files written by the Python
//! CLI and by us must be indistinguishable, so this module owns those rules in one place.

use serde_json::{Map, Value};
use std::fmt::Write as _;

/// How a value is laid out; the presets mirror the `json.dumps` calls upstream makes.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub sort_keys: bool,
    pub ensure_ascii: bool,
    /// `None` writes one line with `", "`/`": "`; `Some(n)` pretty-prints with `n` spaces.
    pub indent: Option<usize>,
}

/// `json.dumps(obj, sort_keys=True)`: the event-log line format.
pub const LOG_LINE: Style = Style { sort_keys: true, ensure_ascii: true, indent: None };
/// `json.dumps(obj)`: one-line command results in insertion order.
pub const COMPACT: Style = Style { sort_keys: false, ensure_ascii: true, indent: None };
/// `json.dumps(obj, indent=2, ensure_ascii=False)`: pretty reports in insertion order.
pub const PRETTY: Style = Style { sort_keys: false, ensure_ascii: false, indent: Some(2) };
/// `json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False)`: materialised snapshots (`status.json`).
pub const PRETTY_SORTED: Style = Style { sort_keys: true, ensure_ascii: false, indent: Some(2) };

/// Serialises `value` in the given style.
pub fn to_string(value: &Value, style: Style) -> String {
    let mut out = String::with_capacity(256);
    write_value(&mut out, value, style, 0);
    out
}

fn write_value(out: &mut String, value: &Value, style: Style, depth: usize) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                let _ = write!(out, "{i}");
            } else if let Some(u) = n.as_u64() {
                let _ = write!(out, "{u}");
            } else {
                push_float(out, n.as_f64().unwrap_or(f64::NAN));
            }
        }
        Value::String(s) => push_str_literal(out, s, style.ensure_ascii),
        Value::Array(items) => write_array(out, items, style, depth),
        Value::Object(map) => write_object(out, map, style, depth),
    }
}

fn write_array(out: &mut String, items: &[Value], style: Style, depth: usize) {
    if items.is_empty() {
        out.push_str("[]");
        return;
    }
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        separator(out, style, depth + 1, i == 0);
        write_value(out, item, style, depth + 1);
    }
    closing(out, style, depth);
    out.push(']');
}

/// Appends a JSON object in the given style (at nesting depth 0).
pub fn push_object(out: &mut String, map: &Map<String, Value>, style: Style) {
    write_object(out, map, style, 0);
}

fn write_object(out: &mut String, map: &Map<String, Value>, style: Style, depth: usize) {
    if map.is_empty() {
        out.push_str("{}");
        return;
    }
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    if style.sort_keys {
        // Python sorts str keys by code point, which is UTF-8 byte order.
        entries.sort_by(|a, b| a.0.cmp(b.0));
    }
    out.push('{');
    for (i, (key, item)) in entries.into_iter().enumerate() {
        separator(out, style, depth + 1, i == 0);
        push_str_literal(out, key, style.ensure_ascii);
        out.push_str(": ");
        write_value(out, item, style, depth + 1);
    }
    closing(out, style, depth);
    out.push('}');
}

fn separator(out: &mut String, style: Style, depth: usize, first: bool) {
    match style.indent {
        None if !first => out.push_str(", "),
        None => {}
        Some(width) => {
            if !first {
                out.push(',');
            }
            out.push('\n');
            out.extend(std::iter::repeat_n(' ', width * depth));
        }
    }
}

fn closing(out: &mut String, style: Style, depth: usize) {
    if let Some(width) = style.indent {
        out.push('\n');
        out.extend(std::iter::repeat_n(' ', width * depth));
    }
}

/// Writes a JSON string literal with Python's escaping rules.
pub fn push_str_literal(out: &mut String, s: &str, ensure_ascii: bool) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => push_unicode_escape(out, c as u32),
            // With ensure_ascii Python escapes everything outside ' '..='~', DEL included.
            c if ensure_ascii && !(' '..='~').contains(&c) => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    push_unicode_escape(out, u32::from(*unit));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn push_unicode_escape(out: &mut String, unit: u32) {
    let _ = write!(out, "\\u{unit:04x}");
}

/// Python's `repr(float)` as `json.dumps` writes it: the shortest digits that round-trip (exact ties
/// broken to even, as David Gay's dtoa does), in fixed notation while the decimal exponent is in
/// (-4, 16], otherwise `1e-05` / `1.5e+16` style.
pub fn push_float(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
        return;
    }
    if value.is_infinite() {
        out.push_str(if value > 0.0 { "Infinity" } else { "-Infinity" });
        return;
    }
    if value.is_sign_negative() {
        out.push('-');
    }
    if value == 0.0 {
        out.push_str("0.0");
        return;
    }
    let (digits, decpt) = shortest_digits(value.abs());
    let len = digits.len() as i32;
    if -4 < decpt && decpt <= 16 {
        if decpt <= 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-decpt) as usize));
            out.push_str(&digits);
        } else if decpt >= len {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', (decpt - len) as usize));
            out.push_str(".0");
        } else {
            let (int_part, frac_part) = digits.split_at(decpt as usize);
            out.push_str(int_part);
            out.push('.');
            out.push_str(frac_part);
        }
    } else {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let exponent = decpt - 1;
        let sign = if exponent < 0 { '-' } else { '+' };
        let _ = write!(out, "e{sign}{:02}", exponent.abs());
    }
}

/// The shortest round-trip significant digits of a positive finite `value` and the position of the
/// decimal point relative to them (dtoa's `decpt`: value = 0.d1d2… × 10^decpt). zmij (the formatter
/// serde_json uses) breaks exact ties to even like Python; Rust's `{:e}` does not.
fn shortest_digits(value: f64) -> (String, i32) {
    let mut buffer = zmij::Buffer::new();
    let text = buffer.format_finite(value);
    let (mantissa, exponent) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.trim_start_matches('+').parse::<i32>().expect("formatter writes an integer exponent")),
        None => (text, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all: String = int_part.chars().chain(frac_part.chars()).collect();
    let leading_zeros = all.len() - all.trim_start_matches('0').len();
    let digits = all.trim_start_matches('0').trim_end_matches('0').to_owned();
    (digits, int_part.len() as i32 + exponent - leading_zeros as i32)
}

/// Convenience wrapper around [`push_float`].
pub fn float_repr(value: f64) -> String {
    let mut out = String::new();
    push_float(&mut out, value);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_follow_python_repr() {
        let cases = [
            (0.015, "0.015"),
            (15.6, "15.6"),
            (1.0, "1.0"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1e-05, "1e-05"),
            (0.0001, "0.0001"),
            (1.5e-07, "1.5e-07"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123456789.125, "123456789.125"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (-2.5e-10, "-2.5e-10"),
            (0.1 + 0.2, "0.30000000000000004"),
            (100.0, "100.0"),
            (1e-4 * 3.0, "0.00030000000000000003"),
            // Exact ties between two shortest candidates go to the even digit, as in Python.
            (2f64.powi(49) + 0.25, "562949953421312.2"),
        ];
        for (value, expected) in cases {
            assert_eq!(float_repr(value), expected, "repr of {value:?}");
        }
    }

    #[test]
    fn log_line_sorts_keys_and_uses_python_separators() {
        let value = json!({"b": 1, "a": {"z": null, "y": [1, 2.5, true]}, "é": "ü"});
        assert_eq!(
            to_string(&value, LOG_LINE),
            r#"{"a": {"y": [1, 2.5, true], "z": null}, "b": 1, "\u00e9": "\u00fc"}"#
        );
    }

    #[test]
    fn ascii_escapes_match_python() {
        let value = Value::String("tab\t quote\" back\\ nl\n del\u{7f} bell\u{7} emoji😀".into());
        assert_eq!(
            to_string(&value, LOG_LINE),
            r#""tab\t quote\" back\\ nl\n del\u007f bell\u0007 emoji\ud83d\ude00""#
        );
        assert_eq!(to_string(&Value::String("é".into()), PRETTY), "\"é\"");
    }

    #[test]
    fn pretty_matches_indent_2() {
        let value = json!([{"k": "v", "n": 31.2, "e": []}]);
        assert_eq!(to_string(&value, PRETTY), "[\n  {\n    \"k\": \"v\",\n    \"n\": 31.2,\n    \"e\": []\n  }\n]");
        assert_eq!(to_string(&json!([]), PRETTY), "[]");
    }
}
