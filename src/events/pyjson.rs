//! A JSON writer that reproduces Python's `json.dumps` byte for byte.
//!
//! Upstream writes every event line with `json.dumps(obj, sort_keys=True)` (separators `", "` and `": "`,
//! `ensure_ascii=True`, floats in `repr` form) and its reports with `indent=2`. Files written by the Python
//! CLI and by us must be indistinguishable, so this module owns those rules in one place.
//!
//! There is one implementation: [`PyFormatter`], a `serde_json` [`Formatter`] that any `T: Serialize`
//! goes through ([`to_string_of`], [`to_writer_of`]); [`to_string`] and [`push_object`] are thin
//! wrappers for `serde_json::Value`s. For a `T`, `sort_keys` is done inside the formatter: while an
//! object is open its entries are written to a buffer, and at its end they are copied out in key order.
//! A `Value` is already in memory, so its wrappers hand the formatter its objects in key order instead
//! ([`SortedKeys`]: the same order, without copying every entry through a buffer; the event-log writer
//! depends on that speed).
//!
//! Differences from `json.dumps` that a `Serialize` type can reach (a `Value` cannot): non-finite floats
//! are written as `null` (serde_json never hands them to a formatter; Python writes the non-JSON
//! `NaN`/`Infinity`), byte arrays become arrays of integers, a `RawValue` is copied verbatim, and with
//! `sort_keys` integer map keys sort numerically (as Python sorts int keys) while float keys sort as
//! their text.

use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter};
use serde_json::{Map, Value};
use std::fmt::Write as _;
use std::io::{self, Write};

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
    let written = if style.sort_keys {
        to_string_of(&SortedKeys(value), Style { sort_keys: false, ..style })
    } else {
        to_string_of(value, style)
    };
    written.expect("a serde_json::Value always serializes")
}

/// Appends a JSON object in the given style (at nesting depth 0).
pub fn push_object(out: &mut String, map: &Map<String, Value>, style: Style) {
    let written = if style.sort_keys {
        to_string_of(&SortedKeys(map), Style { sort_keys: false, ..style })
    } else {
        to_string_of(map, style)
    };
    out.push_str(&written.expect("a serde_json::Map always serializes"));
}

/// A `Value` (or `Map`) that serialises with the keys of every object in Python's `sort_keys` order
/// (code point order, which is UTF-8 byte order), whatever the formatter's style.
#[derive(Debug, Clone, Copy)]
pub struct SortedKeys<'a, T: ?Sized>(pub &'a T);

impl Serialize for SortedKeys<'_, Value> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(map) => SortedKeys(map).serialize(serializer),
            Value::Array(items) => serializer.collect_seq(items.iter().map(SortedKeys)),
            scalar => scalar.serialize(serializer),
        }
    }
}

impl Serialize for SortedKeys<'_, Map<String, Value>> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut entries: Vec<(&String, &Value)> = self.0.iter().collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut map = serializer.serialize_map(Some(entries.len()))?;
        for (key, value) in entries {
            map.serialize_entry(key, &SortedKeys(value))?;
        }
        map.end()
    }
}

/// Serialises any `T: Serialize` exactly as `json.dumps` would write the equivalent Python object.
/// Fails only when `T`'s `Serialize` fails or a map key is not a string, number, bool or char.
pub fn to_string_of<T: Serialize + ?Sized>(value: &T, style: Style) -> serde_json::Result<String> {
    let mut bytes = Vec::with_capacity(256);
    to_writer_of(&mut bytes, value, style)?;
    Ok(String::from_utf8(bytes).expect("the formatter writes UTF-8"))
}

/// [`to_string_of`] into any writer.
pub fn to_writer_of<W: Write, T: Serialize + ?Sized>(writer: W, value: &T, style: Style) -> serde_json::Result<()> {
    let mut serializer = serde_json::Serializer::with_formatter(writer, PyFormatter::new(style));
    value.serialize(&mut serializer)
}

/// The `serde_json` formatter behind every function of this module; usable directly with
/// `serde_json::Serializer::with_formatter`.
#[derive(Debug)]
pub struct PyFormatter {
    style: Style,
    /// Nesting depth of the container being written (for `indent`).
    depth: usize,
    /// Whether the innermost open container got a value (for `indent`: `[]` vs `[\n…\n]`).
    has_value: bool,
    /// With `sort_keys`, one frame per open object, innermost last; empty otherwise.
    open: Vec<ObjectFrame>,
    /// Frames of closed objects, kept for their allocations.
    spare: Vec<ObjectFrame>,
}

/// The entries of one open object under `sort_keys`, written to `bytes` until the object ends.
#[derive(Debug)]
struct ObjectFrame {
    /// Each entry's `"key": value` bytes, back to back.
    bytes: Vec<u8>,
    /// Each entry's unescaped key text (what Python sorts by), back to back.
    keys: String,
    entries: Vec<Entry>,
    /// Inside a key: its text is also recorded in `keys`.
    in_key: bool,
    /// The key being written is an integer (Python sorts int keys by value).
    int_key: Option<i128>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    start: usize,
    end: usize,
    key_start: usize,
    key_end: usize,
    int_key: Option<i128>,
}

impl ObjectFrame {
    /// Sized for an event payload, so a log line's object needs no regrowth.
    fn new() -> Self {
        ObjectFrame {
            bytes: Vec::with_capacity(512),
            keys: String::with_capacity(256),
            entries: Vec::with_capacity(16),
            in_key: false,
            int_key: None,
        }
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.keys.clear();
        self.entries.clear();
        self.in_key = false;
        self.int_key = None;
    }
}

impl PyFormatter {
    pub fn new(style: Style) -> Self {
        PyFormatter { style, depth: 0, has_value: false, open: Vec::new(), spare: Vec::new() }
    }

    /// Where output goes now: the innermost open sorted object, or the writer.
    #[inline]
    fn sink<'a, W: ?Sized + Write>(&'a mut self, writer: &'a mut W) -> Sink<'a, W> {
        match self.open.last_mut() {
            Some(frame) => Sink::Frame(frame),
            None => Sink::Writer(writer),
        }
    }

    #[inline]
    fn write<W: ?Sized + Write>(&mut self, writer: &mut W, bytes: &[u8]) -> io::Result<()> {
        self.sink(writer).write(bytes)
    }

    /// Writes scalar text; inside a key it is also the key's text (numbers and bools as map keys).
    fn write_scalar<W: ?Sized + Write>(&mut self, writer: &mut W, text: &str) -> io::Result<()> {
        match self.sink(writer) {
            Sink::Frame(frame) => {
                frame.bytes.extend_from_slice(text.as_bytes());
                if frame.in_key {
                    frame.keys.push_str(text);
                }
                Ok(())
            }
            Sink::Writer(writer) => writer.write_all(text.as_bytes()),
        }
    }

    fn write_int<W: ?Sized + Write>(&mut self, writer: &mut W, value: i128, text: &str) -> io::Result<()> {
        if let Some(frame) = self.open.last_mut().filter(|f| f.in_key) {
            frame.int_key = Some(value);
        }
        self.write_scalar(writer, text)
    }

    #[inline]
    fn newline_indent<W: ?Sized + Write>(&mut self, writer: &mut W, first: bool, depth: usize) -> io::Result<()> {
        if let Some(width) = self.style.indent {
            let mut sink = self.sink(writer);
            sink.write(if first { b"\n" } else { b",\n" })?;
            sink.write_spaces(width * depth)?;
        } else if !first {
            self.write(writer, b", ")?;
        }
        Ok(())
    }

    /// Writes the closing bracket of a container that ends at `self.depth` (already decremented).
    fn close<W: ?Sized + Write>(&mut self, writer: &mut W, bracket: &[u8]) -> io::Result<()> {
        let had_value = std::mem::replace(&mut self.has_value, true);
        let (indent, depth) = (self.style.indent, self.depth);
        let mut sink = self.sink(writer);
        if let (Some(width), true) = (indent, had_value) {
            sink.write(b"\n")?;
            sink.write_spaces(width * depth)?;
        }
        sink.write(bracket)
    }

    fn sorted(&self) -> bool {
        self.style.sort_keys
    }
}

/// The current output of the formatter.
enum Sink<'a, W: ?Sized> {
    Frame(&'a mut ObjectFrame),
    Writer(&'a mut W),
}

impl<W: ?Sized + Write> Sink<'_, W> {
    #[inline]
    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Sink::Frame(frame) => {
                frame.bytes.extend_from_slice(bytes);
                Ok(())
            }
            Sink::Writer(writer) => writer.write_all(bytes),
        }
    }

    fn write_spaces(&mut self, count: usize) -> io::Result<()> {
        const SPACES: &[u8] = &[b' '; 64];
        let mut left = count;
        while left > 0 {
            let n = left.min(SPACES.len());
            self.write(&SPACES[..n])?;
            left -= n;
        }
        Ok(())
    }
}

impl Formatter for PyFormatter {
    fn write_null<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.write(writer, b"null")
    }

    fn write_bool<W: ?Sized + Write>(&mut self, writer: &mut W, value: bool) -> io::Result<()> {
        self.write_scalar(writer, if value { "true" } else { "false" })
    }

    fn write_i8<W: ?Sized + Write>(&mut self, writer: &mut W, value: i8) -> io::Result<()> {
        self.write_i64(writer, value.into())
    }

    fn write_i16<W: ?Sized + Write>(&mut self, writer: &mut W, value: i16) -> io::Result<()> {
        self.write_i64(writer, value.into())
    }

    fn write_i32<W: ?Sized + Write>(&mut self, writer: &mut W, value: i32) -> io::Result<()> {
        self.write_i64(writer, value.into())
    }

    fn write_i64<W: ?Sized + Write>(&mut self, writer: &mut W, value: i64) -> io::Result<()> {
        self.write_int(writer, value.into(), itoa::Buffer::new().format(value))
    }

    fn write_i128<W: ?Sized + Write>(&mut self, writer: &mut W, value: i128) -> io::Result<()> {
        self.write_int(writer, value, itoa::Buffer::new().format(value))
    }

    fn write_u8<W: ?Sized + Write>(&mut self, writer: &mut W, value: u8) -> io::Result<()> {
        self.write_u64(writer, value.into())
    }

    fn write_u16<W: ?Sized + Write>(&mut self, writer: &mut W, value: u16) -> io::Result<()> {
        self.write_u64(writer, value.into())
    }

    fn write_u32<W: ?Sized + Write>(&mut self, writer: &mut W, value: u32) -> io::Result<()> {
        self.write_u64(writer, value.into())
    }

    fn write_u64<W: ?Sized + Write>(&mut self, writer: &mut W, value: u64) -> io::Result<()> {
        self.write_int(writer, value.into(), itoa::Buffer::new().format(value))
    }

    fn write_u128<W: ?Sized + Write>(&mut self, writer: &mut W, value: u128) -> io::Result<()> {
        let key = i128::try_from(value).ok();
        if let Some(frame) = self.open.last_mut().filter(|f| f.in_key) {
            frame.int_key = key;
        }
        self.write_scalar(writer, itoa::Buffer::new().format(value))
    }

    fn write_f32<W: ?Sized + Write>(&mut self, writer: &mut W, value: f32) -> io::Result<()> {
        self.write_f64(writer, value.into())
    }

    fn write_f64<W: ?Sized + Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        let mut text = String::with_capacity(24);
        push_float(&mut text, value);
        self.write_scalar(writer, &text)
    }

    fn write_number_str<W: ?Sized + Write>(&mut self, writer: &mut W, value: &str) -> io::Result<()> {
        self.write_scalar(writer, value)
    }

    fn begin_string<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.write(writer, b"\"")
    }

    fn end_string<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.write(writer, b"\"")
    }

    fn write_string_fragment<W: ?Sized + Write>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()> {
        let ensure_ascii = self.style.ensure_ascii;
        let mut sink = self.sink(writer);
        if let Sink::Frame(frame) = &mut sink
            && frame.in_key
        {
            frame.keys.push_str(fragment);
        }
        if !ensure_ascii {
            return sink.write(fragment.as_bytes());
        }
        // With ensure_ascii Python escapes everything outside ' '..='~' (DEL included); serde_json has
        // already escaped quotes, backslashes and control characters.
        let bytes = fragment.as_bytes();
        // serde_json has taken out everything below ' ', so printable ASCII is everything below DEL.
        if bytes.iter().all(|&b| b < 0x7f) {
            return sink.write(bytes);
        }
        let (mut i, mut run_start) = (0, 0);
        while i < bytes.len() {
            if (b' '..=b'~').contains(&bytes[i]) {
                i += 1;
                continue;
            }
            sink.write(&bytes[run_start..i])?;
            let ch = fragment[i..].chars().next().expect("i is at a character boundary");
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                sink.write(&unicode_escape(u32::from(*unit)))?;
            }
            i += ch.len_utf8();
            run_start = i;
        }
        sink.write(&bytes[run_start..])
    }

    fn write_char_escape<W: ?Sized + Write>(&mut self, writer: &mut W, escape: CharEscape) -> io::Result<()> {
        let (text, raw): (&[u8], char) = match escape {
            CharEscape::Quote => (b"\\\"", '"'),
            CharEscape::ReverseSolidus => (b"\\\\", '\\'),
            CharEscape::Solidus => (b"/", '/'),
            CharEscape::Backspace => (b"\\b", '\u{8}'),
            CharEscape::FormFeed => (b"\\f", '\u{c}'),
            CharEscape::LineFeed => (b"\\n", '\n'),
            CharEscape::CarriageReturn => (b"\\r", '\r'),
            CharEscape::Tab => (b"\\t", '\t'),
            CharEscape::AsciiControl(byte) => {
                let mut sink = self.sink(writer);
                if let Sink::Frame(frame) = &mut sink
                    && frame.in_key
                {
                    frame.keys.push(char::from(byte));
                }
                return sink.write(&unicode_escape(u32::from(byte)));
            }
        };
        let mut sink = self.sink(writer);
        if let Sink::Frame(frame) = &mut sink
            && frame.in_key
        {
            frame.keys.push(raw);
        }
        sink.write(text)
    }

    fn begin_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        self.write(writer, b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.depth -= 1;
        self.close(writer, b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        self.newline_indent(writer, first, self.depth)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        if self.sorted() {
            let frame = self.spare.pop().unwrap_or_else(ObjectFrame::new);
            self.open.push(frame);
            return Ok(());
        }
        self.write(writer, b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.depth -= 1;
        if !self.sorted() {
            return self.close(writer, b"}");
        }
        let mut frame = self.open.pop().expect("end_object follows begin_object");
        // Python sorts str keys by code point (UTF-8 byte order) and int keys by value.
        let keys = &frame.keys;
        frame.entries.sort_by(|a, b| match (a.int_key, b.int_key) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => keys[a.key_start..a.key_end].cmp(&keys[b.key_start..b.key_end]),
        });
        let result = (|| {
            self.write(writer, b"{")?;
            for (i, entry) in frame.entries.iter().enumerate() {
                self.newline_indent(writer, i == 0, self.depth + 1)?;
                self.write(writer, &frame.bytes[entry.start..entry.end])?;
            }
            self.has_value = !frame.entries.is_empty();
            self.close(writer, b"}")
        })();
        frame.clear();
        self.spare.push(frame);
        result
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        match self.open.last_mut() {
            Some(frame) => {
                // The separator is written when the sorted entries are copied out.
                frame.entries.push(Entry {
                    start: frame.bytes.len(),
                    end: 0,
                    key_start: frame.keys.len(),
                    key_end: 0,
                    int_key: None,
                });
                frame.in_key = true;
                frame.int_key = None;
                Ok(())
            }
            None => self.newline_indent(writer, first, self.depth),
        }
    }

    fn end_object_key<W: ?Sized + Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        if let Some(frame) = self.open.last_mut() {
            frame.in_key = false;
            let key_end = frame.keys.len();
            let int_key = frame.int_key.take();
            let entry = frame.entries.last_mut().expect("a key follows begin_object_key");
            entry.key_end = key_end;
            entry.int_key = int_key;
        }
        Ok(())
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.write(writer, b": ")
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        if let Some(frame) = self.open.last_mut() {
            let end = frame.bytes.len();
            frame.entries.last_mut().expect("a value follows its key").end = end;
        }
        Ok(())
    }

    fn write_raw_fragment<W: ?Sized + Write>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()> {
        self.write(writer, fragment.as_bytes())
    }
}

/// `\uXXXX` with lower-case hex digits, as Python writes it.
fn unicode_escape(unit: u32) -> [u8; 6] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digit = |shift: u32| HEX[((unit >> shift) & 0xf) as usize];
    [b'\\', b'u', digit(12), digit(8), digit(4), digit(0)]
}

/// Writes a JSON string literal with Python's escaping rules.
pub fn push_str_literal(out: &mut String, s: &str, ensure_ascii: bool) {
    let style = Style { sort_keys: false, ensure_ascii, indent: None };
    out.push_str(&to_string_of(s, style).expect("a str always serializes"));
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

    #[derive(serde::Serialize)]
    struct Outer {
        zulu: u8,
        alpha: Inner,
        list: Vec<Inner>,
        none: Option<u8>,
    }

    #[derive(serde::Serialize)]
    struct Inner {
        y: &'static str,
        x: f64,
    }

    fn outer() -> Outer {
        Outer { zulu: 1, alpha: Inner { y: "é", x: 1e-05 }, list: vec![Inner { y: "", x: 1e16 }], none: None }
    }

    #[test]
    fn structs_serialize_without_a_value() {
        assert_eq!(
            to_string_of(&outer(), LOG_LINE).unwrap(),
            r#"{"alpha": {"x": 1e-05, "y": "\u00e9"}, "list": [{"x": 1e+16, "y": ""}], "none": null, "zulu": 1}"#
        );
        assert_eq!(
            to_string_of(&outer(), COMPACT).unwrap(),
            r#"{"zulu": 1, "alpha": {"y": "\u00e9", "x": 1e-05}, "list": [{"y": "", "x": 1e+16}], "none": null}"#
        );
        let pretty = "{\n  \"alpha\": {\n    \"x\": 1e-05,\n    \"y\": \"é\"\n  },\n  \"list\": [\n    {\n      \"x\": \
                      1e+16,\n      \"y\": \"\"\n    }\n  ],\n  \"none\": null,\n  \"zulu\": 1\n}";
        assert_eq!(to_string_of(&outer(), PRETTY_SORTED).unwrap(), pretty);
    }

    #[test]
    fn value_shortcut_and_formatter_sort_agree() {
        let value = json!({"b": [{"d": {}, "c": []}, 1.5], "a": {"z": null, "é": "x", "A": true}, "": 0});
        for style in [LOG_LINE, PRETTY_SORTED] {
            assert_eq!(to_string(&value, style), to_string_of(&value, style).unwrap());
        }
        let mut out = String::from("x");
        push_object(&mut out, value.as_object().unwrap(), LOG_LINE);
        assert_eq!(out, format!("x{}", to_string(&value, LOG_LINE)));
    }

    /// serde_json hands a formatter no NaN or infinity (it writes `null`); Python would write `NaN`, which
    /// is not JSON. A `Value` cannot hold them at all.
    #[test]
    fn non_finite_floats_are_null() {
        assert_eq!(to_string_of(&[f64::NAN, f64::INFINITY], COMPACT).unwrap(), "[null, null]");
    }

    #[test]
    fn pretty_matches_indent_2() {
        let value = json!([{"k": "v", "n": 31.2, "e": []}]);
        assert_eq!(to_string(&value, PRETTY), "[\n  {\n    \"k\": \"v\",\n    \"n\": 31.2,\n    \"e\": []\n  }\n]");
        assert_eq!(to_string(&json!([]), PRETTY), "[]");
    }
}
