//! YAML scalars as the two upstream writers spell them: decoding quoted values, and quoting values so
//! they read back unchanged (double quotes as the regex editor writes them, ruamel's plain-or-quoted choice).

/// Decodes a YAML double-quoted scalar at the start of `text`: `(value, bytes consumed)`, or `None` when
/// the closing quote is not on this line.
pub(super) fn decode_double_quoted(text: &str) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut chars = text.char_indices().skip(1).peekable();
    while let Some((index, c)) = chars.next() {
        match c {
            '"' => return Some((out, index + 1)),
            '\\' => {
                let (_, escape) = chars.next()?;
                let hex_digits = match escape {
                    'x' => 2,
                    'u' => 4,
                    'U' => 8,
                    other => {
                        push_simple_escape(&mut out, other);
                        continue;
                    }
                };
                let mut hex = String::new();
                while hex.len() < hex_digits {
                    let Some((_, digit)) = chars.next_if(|(_, c)| c.is_ascii_hexdigit()) else { break };
                    hex.push(digit);
                }
                let decoded = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32);
                match decoded {
                    Some(c) if hex.len() == hex_digits => out.push(c),
                    // Not a valid escape: keep its text so nothing is lost.
                    _ => {
                        out.push('\\');
                        out.push(escape);
                        out.push_str(&hex);
                    }
                }
            }
            c => out.push(c),
        }
    }
    None
}

/// Decodes `\<c>`; an unknown escape is kept as written.
pub(super) fn push_simple_escape(out: &mut String, c: char) {
    match simple_escape(c) {
        Some(decoded) => out.push(decoded),
        None => {
            out.push('\\');
            out.push(c);
        }
    }
}

/// The one-character escapes of YAML double-quoted scalars.
pub(super) fn simple_escape(c: char) -> Option<char> {
    Some(match c {
        '0' => '\0',
        'a' => '\u{7}',
        'b' => '\u{8}',
        't' | '\t' => '\t',
        'n' => '\n',
        'v' => '\u{b}',
        'f' => '\u{c}',
        'r' => '\r',
        'e' => '\u{1b}',
        ' ' => ' ',
        '"' => '"',
        '/' => '/',
        '\\' => '\\',
        'N' => '\u{85}',
        '_' => '\u{a0}',
        'L' => '\u{2028}',
        'P' => '\u{2029}',
        _ => return None,
    })
}

/// Decodes a YAML single-quoted scalar at the start of `text` (`''` is one quote): `(value, bytes
/// consumed)`, or `None` when the closing quote is not on this line.
pub(super) fn decode_single_quoted(text: &str) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut chars = text.char_indices().skip(1).peekable();
    while let Some((index, c)) = chars.next() {
        if c != '\'' {
            out.push(c);
        } else if chars.next_if(|&(_, next)| next == '\'').is_some() {
            out.push('\'');
        } else {
            return Some((out, index + 1));
        }
    }
    None
}

/// `value` as a YAML double-quoted scalar that every YAML reader (PyYAML, ruamel, ours) decodes back to
/// `value`, on one line. Upstream writes the value raw, which breaks on `"`, `\` and line breaks.
pub(super) fn double_quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // C0/C1 controls and U+FFFE/U+FFFF are not printable for PyYAML's reader; YAML 1.1 reads NEL
            // (a C1 control), LS and PS as line breaks; a BOM inside a value is easy to lose.
            c if c.is_control() => out.push_str(&format!("\\x{:02X}", c as u32)),
            '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}' => {
                out.push_str(&format!("\\u{:04X}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether `item` reads back as the same string when written plain (unquoted) in a YAML 1.1 reader:
/// identifier-like text that is not a boolean or null word (`WP01`, `T001`, `feature/x-y`).
pub(super) fn is_plain_safe(item: &str) -> bool {
    let mut chars = item.chars();
    let starts_well = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'));
    let reserved = ["y", "n", "yes", "no", "true", "false", "on", "off", "null"];
    starts_well && rest_ok && !reserved.iter().any(|word| item.eq_ignore_ascii_case(word))
}

/// `value` as ruamel dumps a string: plain when that reads back as the same string, single-quoted when it is
/// one printable line, else double-quoted.
pub(super) fn ruamel_scalar(value: &str) -> String {
    if is_plain_safe(value) || is_plain_safe_from_digit(value) {
        return value.to_string();
    }
    let single_quotable = !value.is_empty()
        && value.trim() == value
        && !value
            .chars()
            .any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'));
    if single_quotable { format!("'{}'", value.replace('\'', "''")) } else { double_quoted(value) }
}

/// Identifier-like text starting with a digit that no YAML 1.1 or 1.2 reader takes for a number or a date:
/// a commit sha that is not all digits (`8af8eb8…`), a WP branch (`001-x-WP01`).
pub(super) fn is_plain_safe_from_digit(value: &str) -> bool {
    let identifier_like = value.starts_with(|c: char| c.is_ascii_digit())
        && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'));
    if !identifier_like {
        return false;
    }
    // `0b101` is a YAML 1.1 binary integer although every character is a hex digit (a sha such as
    // `0be5073d…` is not: only 0, 1 and _ may follow the prefix).
    let binary = value.len() > 2
        && value[..2].eq_ignore_ascii_case("0b")
        && value[2..].bytes().all(|b| matches!(b, b'0' | b'1' | b'_'));
    let hex_sha = value.bytes().all(|b| b.is_ascii_hexdigit()) && value.parse::<f64>().is_err() && !binary;
    // Letters that cannot appear in a number (hex digits, exponents and base prefixes can).
    let has_non_numeric_letter =
        value.chars().any(|c| c.is_ascii_alphabetic() && !matches!(c.to_ascii_lowercase(), 'a'..='f' | 'o' | 'x'));
    let date_like = value.len() > 5 && value[..4].bytes().all(|b| b.is_ascii_digit()) && value.as_bytes()[4] == b'-';
    hex_sha || (has_non_numeric_letter && !date_like)
}
