//! Line-preserving editor for work-package prompt files (`tasks/WPxx-*.md`).
//!
//! A prompt file is `---` + YAML frontmatter + `---` + a Markdown body. Upstream edits the frontmatter with a
//! regex line editor (`tasks_support.py`: `split_frontmatter`, `extract_scalar`, `set_scalar`,
//! `build_document`) and, for `dependencies`, with ruamel. Both Python writers and ours work on the same
//! files, so we never re-serialise YAML: a [`WpDocument`] keeps every line exactly as read (line endings,
//! quoting, comments, blank lines, key order, a missing final newline, a BOM) and an edit replaces only the
//! lines of the key it touches. Parsing and rendering without edits gives back the input byte for byte.
//!
//! Where upstream's regexes misread valid YAML we follow YAML instead (see the notes on each method): a `#`
//! starts a comment only after whitespace, quoted values are unescaped, values written by
//! [`WpDocument::set_scalar`] are escaped so they always read back unchanged, and a key whose value spans
//! several lines (a block list) is replaced as a whole.

use thiserror::Error;

/// The line that opens and closes the frontmatter.
const DELIMITER: &str = "---";
/// Upstream reads prompt files as `utf-8-sig`; we accept a BOM and keep it.
const BOM: char = '\u{feff}';
/// Top-level key before which upstream's `set_scalar` inserts new keys.
const HISTORY_KEY: &str = "history";
/// Key after which a missing list key goes (ruamel's field order: work_package_id, title, lane, dependencies).
const LANE_KEY: &str = "lane";
/// The order in which upstream's ruamel writer (`FrontmatterManager`) lays out the known keys.
const RUAMEL_KEY_ORDER: [&str; 15] = [
    "work_package_id",
    "title",
    "lane",
    "dependencies",
    "base_branch",
    "base_commit",
    "created_at",
    "subtasks",
    "phase",
    "assignee",
    "agent",
    "shell_pid",
    "review_status",
    "reviewed_by",
    "history",
];

/// Why a text is not a work-package prompt file.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrontmatterError {
    #[error("no YAML frontmatter: the first line must be `---`, followed by the keys and a closing `---` line")]
    MissingOpening,
    #[error("the frontmatter is never closed: add a `---` line after its last key")]
    MissingClosing,
}

/// A work-package prompt file, split into frontmatter lines and body, editable line by line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WpDocument {
    /// An optional BOM plus the opening `---` line with its line break.
    opening: String,
    /// Frontmatter lines, each with its own line break, so files with mixed endings survive untouched.
    lines: Vec<String>,
    /// The closing `---` line with its line break (none when the file ends right after it).
    closing: String,
    /// Everything after the closing line, including any blank lines right after it.
    body: String,
}

impl WpDocument {
    /// Splits `text` into frontmatter and body. The first line must be `---` (after an optional BOM) and the
    /// frontmatter ends at the next line that is `---`; trailing spaces on either delimiter are tolerated.
    pub fn parse(text: &str) -> Result<Self, FrontmatterError> {
        let bom_len = if text.starts_with(BOM) { BOM.len_utf8() } else { 0 };
        let mut pieces = text[bom_len..].split_inclusive('\n');
        let opening_line = pieces.next().filter(|line| is_delimiter(line)).ok_or(FrontmatterError::MissingOpening)?;
        let mut consumed = bom_len + opening_line.len();
        let mut lines = Vec::new();
        for piece in pieces {
            if is_delimiter(piece) {
                let body_start = consumed + piece.len();
                return Ok(Self {
                    opening: text[..bom_len + opening_line.len()].to_string(),
                    lines,
                    closing: piece.to_string(),
                    body: text[body_start..].to_string(),
                });
            }
            consumed += piece.len();
            lines.push(piece.to_string());
        }
        Err(FrontmatterError::MissingClosing)
    }

    /// The whole file again: identical to the parsed text unless something was edited.
    pub fn render(&self) -> String {
        let front_len: usize = self.lines.iter().map(String::len).sum();
        let mut out = String::with_capacity(self.opening.len() + front_len + self.closing.len() + self.body.len());
        out.push_str(&self.opening);
        self.lines.iter().for_each(|line| out.push_str(line));
        out.push_str(&self.closing);
        out.push_str(&self.body);
        out
    }

    /// The YAML text between the delimiters (for callers that need a full YAML parse).
    pub fn frontmatter(&self) -> String {
        self.lines.concat()
    }

    /// The line break this file uses (`"\r\n"` or `"\n"`), taken from the opening line; new lines use it.
    pub fn line_ending(&self) -> &'static str {
        if self.opening.ends_with("\r\n") { "\r\n" } else { "\n" }
    }

    /// Everything after the closing `---` line.
    pub fn body(&self) -> &str {
        &self.body
    }

    /// Replaces the body, leaving the frontmatter as it is.
    pub fn set_body(&mut self, body: String) {
        // A file that ended right after `---` needs a line break before body text can follow.
        if !body.is_empty() && !self.closing.ends_with('\n') {
            self.closing.push_str(self.line_ending());
        }
        self.body = body;
    }

    /// The value of a top-level scalar key, unquoted, or `None` when the key is missing or its value is
    /// empty (`''`, `""`, nothing, or only a comment).
    ///
    /// Like upstream's `extract_scalar` the first `key:` line at column 0 wins and flow values come back
    /// raw (`[WP01]`). Unlike it, a `#` only starts a comment after whitespace (`C#` stays `C#`), `''` and
    /// backslash escapes are decoded, quoted text is not trimmed, and a key whose value is an indented block
    /// (`subtasks:` followed by `- T001`) is not a scalar (upstream's `\s*` ran into the next line).
    pub fn scalar(&self, key: &str) -> Option<String> {
        let entry = self.find_entry(key)?;
        let value = InlineValue::split(entry.after_key(&self.lines, key));
        Some(value.text).filter(|text| !text.is_empty())
    }

    /// Sets a top-level key to `"value"` (YAML double quotes, as upstream's `set_scalar` writes).
    ///
    /// An existing key keeps its spacing after the colon and its trailing `# comment`; its continuation
    /// lines (an old block value) are dropped so the YAML stays valid. A missing key is inserted right
    /// before a top-level `history:` line (and above the blank lines just before it, as upstream's
    /// `^\s*history:` does), else after the last non-blank frontmatter line. `"`, `\` and control
    /// characters are escaped, so [`WpDocument::scalar`] (and any YAML parser) reads `value` back unchanged.
    pub fn set_scalar(&mut self, key: &str, value: &str) {
        let at = self.before_history().unwrap_or_else(|| self.after_last_content());
        self.write_scalar(key, &double_quoted(value), at);
    }

    /// Sets a top-level key the way upstream's ruamel writer (`frontmatter.update_fields`, used by
    /// `implement` for `base_branch`, `base_commit` and `created_at`) writes it: plain when the text reads
    /// back as the same string (`main`, a commit sha), else single-quoted (`'2026-02-16T14:22:42+00:00'`,
    /// which plain would read as a timestamp), else double-quoted. A missing key goes where ruamel's field
    /// order puts it (`base_branch` after `dependencies`, …); only this key's lines change, unlike ruamel,
    /// which rewrites the whole frontmatter.
    pub fn set_scalar_ruamel_style(&mut self, key: &str, value: &str) {
        let at = self
            .after_ruamel_predecessor(key)
            .or_else(|| self.before_history())
            .unwrap_or_else(|| self.after_last_content());
        self.write_scalar(key, &ruamel_scalar(value), at);
    }

    /// Replaces the value of `key` with the already-rendered `rendered` (keeping spacing and comment), or
    /// inserts `key: rendered` at line index `insert_at` when the key is missing.
    fn write_scalar(&mut self, key: &str, rendered: &str, insert_at: usize) {
        match self.find_entry(key) {
            Some(entry) => {
                let line = &self.lines[entry.first];
                let after_key = entry.after_key(&self.lines, key);
                let spacing = leading_blanks(after_key);
                let spacing = if spacing.is_empty() { " " } else { spacing };
                let comment = InlineValue::split(after_key).comment;
                let eol = self.terminator_of(line);
                let new_line = format!("{key}:{spacing}{rendered}{comment}{eol}");
                self.lines.splice(entry.first..entry.end, [new_line]);
            }
            None => {
                let new_line = format!("{key}: {rendered}{}", self.line_ending());
                self.lines.insert(insert_at, new_line);
            }
        }
    }

    /// Just after the entry of the nearest key that precedes `key` in ruamel's field order and is present.
    fn after_ruamel_predecessor(&self, key: &str) -> Option<usize> {
        let position = RUAMEL_KEY_ORDER.iter().position(|k| *k == key)?;
        RUAMEL_KEY_ORDER[..position].iter().rev().find_map(|k| self.find_entry(k)).map(|entry| entry.end)
    }

    /// The items of a top-level list key: a flow list (`[WP01, "WP02"]`, may continue on indented lines),
    /// a block list (`- WP01` lines at any indentation, items at deeper indentation ignored), or an empty
    /// value / `null` / `~` (empty list). `None` when the key is missing, its value is a plain scalar, or a
    /// flow list is not closed.
    pub fn list(&self, key: &str) -> Option<Vec<String>> {
        let entry = self.find_entry(key)?;
        let after_key = entry.after_key(&self.lines, key);
        if after_key.trim_start().starts_with('[') {
            let flow_text = self.joined_flow_text(&entry, after_key);
            let (items, tail) = split_flow_sequence(&flow_text)?;
            return is_blank_or_comment(tail).then_some(items);
        }
        match InlineValue::split(after_key).text.as_str() {
            "" => Some(self.block_items(&entry)),
            "~" | "null" | "Null" | "NULL" => Some(Vec::new()),
            _ => None,
        }
    }

    /// Rewrites a top-level list key the way upstream's ruamel writer does: `key: []` when empty, else
    /// `key:` followed by one `- item` line per item. The item lines copy the indentation and quoting of
    /// the key's current block items, else of the file's first block list (028-style files use
    /// `  - "T001"`), else ruamel's defaults (no indent, plain). Items that would not read back as the same
    /// string in plain style are double-quoted. Only this key's lines change; a trailing comment on the key
    /// line is kept. A missing key goes after the `lane:` entry, else before `history:`, else at the end.
    pub fn set_list<S: AsRef<str>>(&mut self, key: &str, items: &[S]) {
        let style = self.block_list_style(key);
        let entry = self.find_entry(key);
        let (comment, eol) = match &entry {
            Some(entry) => {
                let after_key = entry.after_key(&self.lines, key);
                (key_line_comment(after_key), self.terminator_of(&self.lines[entry.first]))
            }
            None => (String::new(), self.line_ending()),
        };
        let new_lines = render_list(key, items, &style, &comment, eol);
        match entry {
            Some(entry) => {
                self.lines.splice(entry.first..entry.end, new_lines);
            }
            None => {
                let at = self
                    .find_entry(LANE_KEY)
                    .map(|lane| lane.end)
                    .or_else(|| self.before_history())
                    .unwrap_or_else(|| self.after_last_content());
                self.lines.splice(at..at, new_lines);
            }
        }
    }

    /// The first top-level line for `key` and the continuation lines that belong to its value.
    fn find_entry(&self, key: &str) -> Option<Entry> {
        if key.is_empty() {
            return None;
        }
        let first = self.lines.iter().position(|line| value_after_key(line, key).is_some())?;
        Some(Entry { first, end: self.continuation_end(first) })
    }

    /// One past the last line that continues the value started on line `first`: indented lines and
    /// column-0 `- item` lines (YAML allows a mapping's block list at the key's own indentation). Blank and
    /// comment lines count only when more value lines follow them.
    fn continuation_end(&self, first: usize) -> usize {
        let mut end = first + 1;
        for (index, line) in self.lines.iter().enumerate().skip(first + 1) {
            let content = line_content(line);
            if is_value_continuation(content) {
                end = index + 1;
            } else if !is_blank_or_comment(content) {
                break;
            }
        }
        end
    }

    /// Upstream inserts new keys before `history:`; its `^\s*` also swallows the blank lines above it.
    fn before_history(&self) -> Option<usize> {
        let mut at = self.lines.iter().position(|line| value_after_key(line, HISTORY_KEY).is_some())?;
        while at > 0 && is_blank(line_content(&self.lines[at - 1])) {
            at -= 1;
        }
        Some(at)
    }

    /// Index just past the last non-blank frontmatter line (0 when there is none).
    fn after_last_content(&self) -> usize {
        self.lines.iter().rposition(|line| !is_blank(line_content(line))).map_or(0, |index| index + 1)
    }

    fn terminator_of(&self, line: &str) -> &'static str {
        match line_terminator(line) {
            "" => self.line_ending(),
            "\r\n" => "\r\n",
            _ => "\n",
        }
    }

    /// A flow list may wrap onto continuation lines; YAML folds those breaks into spaces.
    fn joined_flow_text(&self, entry: &Entry, after_key: &str) -> String {
        let mut text = after_key.trim().to_string();
        for line in &self.lines[entry.first + 1..entry.end] {
            text.push(' ');
            text.push_str(line_content(line).trim());
        }
        text
    }

    /// The `- item` values of a block list, at the indentation of its first item.
    fn block_items(&self, entry: &Entry) -> Vec<String> {
        let value_lines = || self.lines[entry.first + 1..entry.end].iter().map(|line| line_content(line));
        let Some(item_indent) = value_lines().find_map(block_item).map(|(indent, _)| indent) else {
            return Vec::new();
        };
        value_lines()
            .filter_map(block_item)
            .filter(|(indent, _)| *indent == item_indent)
            .map(|(_, item)| InlineValue::split(item).text)
            .filter(|item| !item.is_empty())
            .collect()
    }

    /// How this file writes block-list items, so a rewritten list looks like its neighbours.
    fn block_list_style(&self, key: &str) -> BlockListStyle {
        let own_first_item = self.find_entry(key).and_then(|entry| {
            self.lines[entry.first + 1..entry.end].iter().map(|line| line_content(line)).find_map(block_item)
        });
        let first_item_in_file = || {
            self.lines.windows(2).find_map(|pair| {
                let is_list_key = is_top_level_key_without_value(line_content(&pair[0]));
                is_list_key.then(|| block_item(line_content(&pair[1]))).flatten()
            })
        };
        own_first_item.or_else(first_item_in_file).map_or_else(BlockListStyle::default, |(indent, item)| {
            BlockListStyle { indent: indent.to_string(), quoted: item.trim_start().starts_with('"') }
        })
    }
}

/// Lines `first..end` of the frontmatter hold one top-level key and its value.
#[derive(Debug, Clone, Copy)]
struct Entry {
    first: usize,
    end: usize,
}

impl Entry {
    fn after_key<'a>(&self, lines: &'a [String], key: &str) -> &'a str {
        lines.get(self.first).and_then(|line| value_after_key(line, key)).unwrap_or("")
    }
}

/// Indentation and quoting of block-list items (`- T001` vs `  - "T001"`).
#[derive(Debug, Clone, Default)]
struct BlockListStyle {
    indent: String,
    quoted: bool,
}

/// An inline YAML value split into its decoded text and what follows it: a trailing comment, starting
/// with the whitespace that separates it from the value, or nothing.
struct InlineValue {
    text: String,
    comment: String,
}

impl InlineValue {
    fn split(after_key: &str) -> Self {
        let rest = after_key.trim_start_matches([' ', '\t']);
        let quoted = match rest.chars().next() {
            Some('"') => decode_double_quoted(rest),
            Some('\'') => decode_single_quoted(rest),
            _ => None,
        };
        if let Some((text, consumed)) = quoted {
            let tail = &rest[consumed..];
            // Text after a closing quote that is not a comment is invalid YAML; it is dropped on rewrite.
            let comment = if tail.trim_start_matches([' ', '\t']).starts_with('#') { tail } else { "" };
            return Self { text, comment: separated_comment(comment) };
        }
        // An unterminated quote falls through to a plain value, as upstream's `[^#\n]*` alternative does.
        let comment_at = plain_comment_start(rest);
        Self { text: rest[..comment_at].trim().to_string(), comment: separated_comment(&rest[comment_at..]) }
    }
}

/// The comment on a key line, also when the value is a flow list whose quoted items contain ` #`.
fn key_line_comment(after_key: &str) -> String {
    match split_flow_sequence(after_key) {
        Some((_, tail)) if tail.trim_start().starts_with('#') => separated_comment(tail),
        Some(_) => String::new(),
        None => InlineValue::split(after_key).comment,
    }
}

/// A comment always needs whitespace before its `#`, also when it is glued to a rewritten value.
fn separated_comment(comment: &str) -> String {
    if comment.is_empty() || comment.starts_with([' ', '\t']) { comment.to_string() } else { format!(" {comment}") }
}

/// The text after `key:` when `line` is a top-level (column 0) line for `key`.
fn value_after_key<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line_content(line).strip_prefix(key)?.strip_prefix(':')
}

/// A line without its `\n` or `\r\n`.
pub(crate) fn line_content(line: &str) -> &str {
    let line = line.strip_suffix('\n').unwrap_or(line);
    line.strip_suffix('\r').unwrap_or(line)
}

fn line_terminator(line: &str) -> &str {
    &line[line_content(line).len()..]
}

fn is_delimiter(line: &str) -> bool {
    line_content(line).trim_end_matches([' ', '\t']) == DELIMITER
}

fn is_blank(content: &str) -> bool {
    content.trim().is_empty()
}

fn is_blank_or_comment(text: &str) -> bool {
    let text = text.trim_start();
    text.is_empty() || text.starts_with('#')
}

fn leading_blanks(text: &str) -> &str {
    &text[..text.len() - text.trim_start_matches([' ', '\t']).len()]
}

/// Indented non-blank lines, and `- item` lines at column 0.
fn is_value_continuation(content: &str) -> bool {
    let indented = content.starts_with([' ', '\t']) && !is_blank(content);
    indented || block_item(content).is_some_and(|(indent, _)| indent.is_empty())
}

/// `(indentation, text after the dash)` when the line is a block-sequence item (`- x`, `  - x`, `-`).
fn block_item(content: &str) -> Option<(&str, &str)> {
    let indent = leading_blanks(content);
    let after_dash = content[indent.len()..].strip_prefix('-')?;
    (after_dash.is_empty() || after_dash.starts_with([' ', '\t'])).then_some((indent, after_dash))
}

/// `subtasks:` alone on a column-0 line (possibly with a comment): a key whose value follows below.
fn is_top_level_key_without_value(content: &str) -> bool {
    if content.starts_with([' ', '\t', '-', '#']) {
        return false;
    }
    content.split_once(':').is_some_and(|(key, value)| !key.is_empty() && InlineValue::split(value).text.is_empty())
}

/// Where the comment of a plain value starts, including the whitespace before the `#`; `text.len()` when
/// there is none. YAML only treats `#` as a comment at the start or after whitespace.
fn plain_comment_start(text: &str) -> usize {
    let mut previous_is_blank = true;
    let mut blank_run_start = 0;
    for (index, c) in text.char_indices() {
        if c == '#' && previous_is_blank {
            return if index == 0 { 0 } else { blank_run_start };
        }
        let is_blank_char = c == ' ' || c == '\t';
        if is_blank_char && !previous_is_blank {
            blank_run_start = index;
        }
        previous_is_blank = is_blank_char;
    }
    text.len()
}

/// Decodes a YAML double-quoted scalar at the start of `text`: `(value, bytes consumed)`, or `None` when
/// the closing quote is not on this line.
fn decode_double_quoted(text: &str) -> Option<(String, usize)> {
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
fn push_simple_escape(out: &mut String, c: char) {
    match simple_escape(c) {
        Some(decoded) => out.push(decoded),
        None => {
            out.push('\\');
            out.push(c);
        }
    }
}

/// The one-character escapes of YAML double-quoted scalars.
fn simple_escape(c: char) -> Option<char> {
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
fn decode_single_quoted(text: &str) -> Option<(String, usize)> {
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
fn double_quoted(value: &str) -> String {
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
fn is_plain_safe(item: &str) -> bool {
    let mut chars = item.chars();
    let starts_well = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'));
    let reserved = ["y", "n", "yes", "no", "true", "false", "on", "off", "null"];
    starts_well && rest_ok && !reserved.iter().any(|word| item.eq_ignore_ascii_case(word))
}

/// `value` as ruamel dumps a string: plain when that reads back as the same string, single-quoted when it is
/// one printable line, else double-quoted.
fn ruamel_scalar(value: &str) -> String {
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
fn is_plain_safe_from_digit(value: &str) -> bool {
    let identifier_like = value.starts_with(|c: char| c.is_ascii_digit())
        && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'));
    if !identifier_like {
        return false;
    }
    // `0b101` is a YAML 1.1 binary integer although every character is a hex digit.
    let binary_prefix = value.len() > 2 && value[..2].eq_ignore_ascii_case("0b");
    let hex_sha = value.bytes().all(|b| b.is_ascii_hexdigit()) && value.parse::<f64>().is_err() && !binary_prefix;
    // Letters that cannot appear in a number (hex digits, exponents and base prefixes can).
    let has_non_numeric_letter =
        value.chars().any(|c| c.is_ascii_alphabetic() && !matches!(c.to_ascii_lowercase(), 'a'..='f' | 'o' | 'x'));
    let date_like = value.len() > 5 && value[..4].bytes().all(|b| b.is_ascii_digit()) && value.as_bytes()[4] == b'-';
    hex_sha || (has_non_numeric_letter && !date_like)
}

/// The lines of a list key in ruamel's style (`key: []` or `key:` + `- item` lines).
fn render_list<S: AsRef<str>>(key: &str, items: &[S], style: &BlockListStyle, comment: &str, eol: &str) -> Vec<String> {
    if items.is_empty() {
        return vec![format!("{key}: []{comment}{eol}")];
    }
    let item_text = |item: &str| {
        if style.quoted || !is_plain_safe(item) { double_quoted(item) } else { item.to_string() }
    };
    let mut lines = Vec::with_capacity(items.len() + 1);
    lines.push(format!("{key}:{comment}{eol}"));
    lines.extend(items.iter().map(|item| format!("{}- {}{eol}", style.indent, item_text(item.as_ref()))));
    lines
}

/// The items of the flow sequence (`[a, "b", 'c']`) that starts `text`, and the text after its `]`;
/// `None` when it is not closed or an item is malformed.
fn split_flow_sequence(text: &str) -> Option<(Vec<String>, &str)> {
    let mut rest = text.trim_start().strip_prefix('[')?;
    let mut items = Vec::new();
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix(']') {
            return Some((items, after));
        }
        let (item, consumed) = match rest.chars().next()? {
            '"' => decode_double_quoted(rest)?,
            '\'' => decode_single_quoted(rest)?,
            _ => {
                let end = rest.find([',', ']']).unwrap_or(rest.len());
                (rest[..end].trim().to_string(), end)
            }
        };
        if !item.is_empty() {
            items.push(item);
        }
        rest = rest[consumed..].trim_start();
        if let Some(after_comma) = rest.strip_prefix(',') {
            rest = after_comma;
        } else if !rest.starts_with(']') {
            return None;
        }
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! The real upstream prompt files under `../shared/fixtures` (never copied into this repository).

    use std::path::{Path, PathBuf};

    /// `(path, text)` of every `kitty-specs/*/tasks/WP*.md` fixture; empty (with a notice) when absent.
    pub(crate) fn wp_files() -> Vec<(PathBuf, String)> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/upstream-592dca5eb/kitty-specs");
        let Ok(features) = std::fs::read_dir(&root) else {
            eprintln!("skipping fixture checks: {} is absent", root.display());
            return Vec::new();
        };
        let mut paths: Vec<PathBuf> = features
            .flatten()
            .filter_map(|feature| std::fs::read_dir(feature.path().join("tasks")).ok())
            .flat_map(|tasks| tasks.flatten().map(|file| file.path()))
            .filter(|path| {
                let name = path.file_name().and_then(|name| name.to_str()).unwrap_or("");
                name.starts_with("WP") && name.ends_with(".md")
            })
            .collect();
        assert!(!paths.is_empty(), "{} holds no tasks/WP*.md files", root.display());
        paths.sort();
        paths
            .into_iter()
            .map(|path| {
                let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                (path, text)
            })
            .collect()
    }

    pub(crate) fn to_crlf(text: &str) -> String {
        text.replace("\r\n", "\n").replace('\n', "\r\n")
    }

    /// The line vectors of two texts, for line-level diffs.
    pub(crate) fn lines(text: &str) -> Vec<&str> {
        text.split_inclusive('\n').collect()
    }

    /// `after` equals `before` with exactly `inserted` added at line index `at`.
    pub(crate) fn assert_one_line_inserted(before: &str, after: &str, at: usize, inserted: &str, context: &Path) {
        let mut expected = lines(before);
        expected.insert(at, inserted);
        assert_eq!(lines(after), expected, "{}", context.display());
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{assert_one_line_inserted, lines, to_crlf, wp_files};
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    fn doc(text: &str) -> WpDocument {
        WpDocument::parse(text).expect("valid prompt file")
    }

    /// The frontmatter as a real YAML parser sees it: the oracle for our line editor.
    fn yaml(document: &WpDocument) -> serde_json::Map<String, Value> {
        match serde_saphyr::from_str::<Value>(&document.frontmatter()) {
            Ok(Value::Object(map)) => map,
            Ok(Value::Null) => serde_json::Map::new(),
            other => panic!("frontmatter is not a YAML mapping: {other:?}\n{}", document.frontmatter()),
        }
    }

    fn yaml_string(map: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
        match map.get(key)? {
            Value::String(text) if text.is_empty() => None,
            Value::String(text) => Some(text.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    fn yaml_list(map: &serde_json::Map<String, Value>, key: &str) -> Option<Vec<String>> {
        match map.get(key)? {
            Value::Array(items) => {
                Some(items.iter().map(|item| item.as_str().unwrap_or_default().to_string()).collect())
            }
            Value::Null => Some(Vec::new()),
            _ => None,
        }
    }

    fn index_of_line(text: &str, predicate: impl Fn(&str) -> bool) -> usize {
        lines(text).iter().position(|line| predicate(line_content(line))).expect("line present")
    }

    /// Each fixture as it is, converted to CRLF, and without its final newline.
    fn fixture_variants() -> Vec<(std::path::PathBuf, String)> {
        wp_files()
            .into_iter()
            .flat_map(|(path, text)| {
                let crlf = to_crlf(&text);
                let no_final_newline = text.trim_end_matches('\n').to_string();
                [(path.clone(), text), (path.clone(), crlf), (path, no_final_newline)]
            })
            .collect()
    }

    #[test]
    fn fixtures_round_trip_byte_for_byte_in_every_variant() {
        for (path, text) in fixture_variants() {
            let document = WpDocument::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(document.render(), text, "{}", path.display());
        }
    }

    #[test]
    fn fixtures_setting_lane_changes_exactly_the_lane_line() {
        for (path, text) in fixture_variants() {
            let mut document = doc(&text);
            document.set_scalar("lane", "for_review");
            let rendered = document.render();
            let (before, after) = (lines(&text), lines(&rendered));
            assert_eq!(before.len(), after.len(), "{}", path.display());
            let changed: Vec<usize> = (0..before.len()).filter(|&i| before[i] != after[i]).collect();
            assert_eq!(changed.len(), 1, "{}: changed lines {changed:?}", path.display());
            let eol = if text.contains("\r\n") { "\r\n" } else { "\n" };
            assert_eq!(after[changed[0]], format!("lane: \"for_review\"{eol}"), "{}", path.display());
            assert_eq!(document.scalar("lane").as_deref(), Some("for_review"));
            assert_eq!(yaml_string(&yaml(&document), "lane").as_deref(), Some("for_review"));
        }
    }

    #[test]
    fn fixtures_new_key_is_one_line_inserted_before_history() {
        for (path, text) in fixture_variants() {
            let mut document = doc(&text);
            document.set_scalar("review_feedback_file", "/tmp/feedback.md");
            let history = index_of_line(&text, |line| line == "history:");
            let eol = document.line_ending();
            let inserted = format!("review_feedback_file: \"/tmp/feedback.md\"{eol}");
            assert_one_line_inserted(&text, &document.render(), history, &inserted, &path);
        }
    }

    #[test]
    fn fixtures_scalars_match_a_yaml_parser() {
        let files = wp_files();
        let mut quoting_styles = std::collections::BTreeSet::new();
        for (path, text) in &files {
            let document = doc(text);
            let parsed = yaml(&document);
            for key in ["work_package_id", "title", "lane", "agent", "shell_pid", "review_status", "reviewed_by"] {
                assert_eq!(document.scalar(key), yaml_string(&parsed, key), "{}: {key}", path.display());
                if let Some(raw) = document.frontmatter().lines().find_map(|line| value_after_key(line, key)) {
                    quoting_styles.insert(raw.trim_start().chars().next().filter(|c| *c == '"' || *c == '\''));
                }
            }
            assert_eq!(document.scalar("assignee"), None, "{}: empty assignee", path.display());
            assert_eq!(document.scalar("subtasks"), None, "{}: a block list is not a scalar", path.display());
        }
        if !files.is_empty() {
            assert_eq!(quoting_styles.len(), 3, "fixtures should cover plain, '…' and \"…\" values");
        }
    }

    #[test]
    fn fixtures_lists_match_a_yaml_parser_in_every_style() {
        let files = wp_files();
        let (mut flow, mut block, mut empty) = (0, 0, 0);
        for (path, text) in &files {
            let document = doc(text);
            let parsed = yaml(&document);
            for key in ["dependencies", "subtasks"] {
                assert_eq!(document.list(key), yaml_list(&parsed, key), "{}: {key}", path.display());
            }
            let front = document.frontmatter();
            match front.lines().find_map(|line| value_after_key(line, "dependencies")).map(str::trim) {
                Some("[]") => empty += 1,
                Some("") => block += 1,
                Some(_) => flow += 1,
                None => {}
            }
        }
        if !files.is_empty() {
            assert!(flow > 0 && block > 0 && empty > 0, "styles seen: flow {flow}, block {block}, empty {empty}");
        }
    }

    #[test]
    fn fixtures_set_list_changes_only_the_dependencies_lines() {
        for (path, text) in fixture_variants() {
            for new_deps in [vec![], vec!["WP01", "WP02"]] {
                let mut document = doc(&text);
                let before_yaml = yaml(&document);
                document.set_list("dependencies", &new_deps);
                let rendered = document.render();
                let (before, after) = (lines(&text), lines(&rendered));
                // Everything before and after the dependencies entry is untouched.
                let start = index_of_line(&text, |line| line.starts_with("dependencies:"));
                let old_end =
                    start + 1 + before[start + 1..].iter().take_while(|l| l.trim_start().starts_with("- W")).count();
                let new_len = if new_deps.is_empty() { 1 } else { 1 + new_deps.len() };
                assert_eq!(before[..start], after[..start], "{}", path.display());
                assert_eq!(before[old_end..], after[start + new_len..], "{}", path.display());
                assert_eq!(document.list("dependencies").unwrap(), new_deps, "{}", path.display());
                let mut after_yaml = yaml(&document);
                assert_eq!(yaml_list(&after_yaml, "dependencies").unwrap(), new_deps, "{}", path.display());
                after_yaml.remove("dependencies");
                let mut expected = before_yaml.clone();
                expected.remove("dependencies");
                assert_eq!(after_yaml, expected, "{}: other keys changed", path.display());
            }
        }
    }

    #[test]
    fn set_list_copies_the_files_block_list_style() {
        let quoted_style = "---\nsubtasks:\n  - \"T001\"\nlane: \"done\"\ndependencies: []\n---\n";
        let mut document = doc(quoted_style);
        document.set_list("dependencies", &["WP01"]);
        assert_eq!(document.frontmatter(), "subtasks:\n  - \"T001\"\nlane: \"done\"\ndependencies:\n  - \"WP01\"\n");

        let plain_style = "---\nlane: done\ndependencies: [WP01]\nsubtasks:\n- T001\n---\n";
        let mut document = doc(plain_style);
        document.set_list("dependencies", &["WP01", "WP03"]);
        assert_eq!(document.frontmatter(), "lane: done\ndependencies:\n- WP01\n- WP03\nsubtasks:\n- T001\n");

        let no_lists = "---\nlane: done\n---\n";
        let mut document = doc(no_lists);
        document.set_list("dependencies", &["WP01", "yes", "has space"]);
        assert_eq!(document.frontmatter(), "lane: done\ndependencies:\n- WP01\n- \"yes\"\n- \"has space\"\n");
        assert_eq!(document.list("dependencies").unwrap(), ["WP01", "yes", "has space"]);
    }

    #[test]
    fn set_list_keeps_the_own_block_style_and_the_key_comment() {
        let text = "---\nsubtasks:\n- T001\ndependencies: # set by finalize-tasks\n    - WP01\nhistory:\n- a: b\n---\n";
        let mut document = doc(text);
        document.set_list("dependencies", &["WP02"]);
        assert_eq!(
            document.frontmatter(),
            "subtasks:\n- T001\ndependencies: # set by finalize-tasks\n    - WP02\nhistory:\n- a: b\n"
        );
        document.set_list("dependencies", &[] as &[&str]);
        assert_eq!(
            document.frontmatter(),
            "subtasks:\n- T001\ndependencies: [] # set by finalize-tasks\nhistory:\n- a: b\n"
        );
    }

    #[test]
    fn set_list_keeps_a_comment_after_a_flow_list_but_not_a_hash_inside_it() {
        let mut document = doc("---\ndependencies: [WP01, \"a # b\"]  # deps\n---\n");
        assert_eq!(document.list("dependencies").unwrap(), ["WP01", "a # b"]);
        document.set_list("dependencies", &["WP02"]);
        assert_eq!(document.frontmatter(), "dependencies:  # deps\n- WP02\n");

        let mut document = doc("---\ndependencies: [WP01, \"a # b\"]\n---\n");
        document.set_list("dependencies", &[] as &[&str]);
        assert_eq!(document.frontmatter(), "dependencies: []\n");
    }

    #[test]
    fn set_list_inserts_a_missing_key_after_lane_else_before_history_else_at_the_end() {
        let mut after_lane = doc("---\ntitle: x\nlane: planned\nagent: a\nhistory:\n- a: b\n---\nbody\n");
        after_lane.set_list("dependencies", &["WP01"]);
        assert_eq!(
            after_lane.frontmatter(),
            "title: x\nlane: planned\ndependencies:\n- WP01\nagent: a\nhistory:\n- a: b\n"
        );

        let mut before_history = doc("---\ntitle: x\n\nhistory:\n- a: b\n---\n");
        before_history.set_list("dependencies", &[] as &[&str]);
        assert_eq!(before_history.frontmatter(), "title: x\ndependencies: []\n\nhistory:\n- a: b\n");

        let mut at_end = doc("---\ntitle: x\n\n---\n");
        at_end.set_list("dependencies", &[] as &[&str]);
        assert_eq!(at_end.render(), "---\ntitle: x\ndependencies: []\n\n---\n");
    }

    #[test]
    fn parse_rejects_files_without_frontmatter_with_a_helpful_message() {
        assert_eq!(WpDocument::parse("# Title\n"), Err(FrontmatterError::MissingOpening));
        assert_eq!(WpDocument::parse(""), Err(FrontmatterError::MissingOpening));
        assert_eq!(WpDocument::parse("----\nx: 1\n---\n"), Err(FrontmatterError::MissingOpening));
        assert_eq!(WpDocument::parse("---\nlane: done\n# body\n"), Err(FrontmatterError::MissingClosing));
        assert_eq!(WpDocument::parse("---"), Err(FrontmatterError::MissingClosing));
        let message = FrontmatterError::MissingClosing.to_string();
        assert!(message.contains("never closed") && message.contains("`---`"), "{message}");
        assert!(FrontmatterError::MissingOpening.to_string().contains("first line must be `---`"));
    }

    #[test]
    fn parse_splits_at_the_first_closing_line_and_keeps_everything() {
        let text = "\u{feff}---  \r\nlane: done\r\n---\r\n\r\nBody\n---\nmore\n";
        let document = doc(text);
        assert_eq!(document.frontmatter(), "lane: done\r\n");
        assert_eq!(document.body(), "\r\nBody\n---\nmore\n");
        assert_eq!(document.line_ending(), "\r\n");
        assert_eq!(document.render(), text);
    }

    #[test]
    fn empty_frontmatter_parses_and_accepts_new_keys() {
        let mut document = doc("---\n---\nbody");
        assert_eq!(document.frontmatter(), "");
        assert_eq!(document.scalar("lane"), None);
        assert_eq!(document.list("dependencies"), None);
        document.set_scalar("lane", "planned");
        assert_eq!(document.render(), "---\nlane: \"planned\"\n---\nbody");
    }

    #[test]
    fn set_body_after_a_file_that_ends_at_the_closing_line() {
        let mut document = doc("---\r\nlane: done\r\n---");
        assert_eq!(document.body(), "");
        document.set_body("text\r\n".to_string());
        assert_eq!(document.render(), "---\r\nlane: done\r\n---\r\ntext\r\n");
    }

    #[test]
    fn scalar_reads_every_quoting_style() {
        let document = doc(concat!(
            "---\n",
            "plain: done\n",
            "double: \"done\"\n",
            "single: 'done'\n",
            "spaced:    done   \n",
            "commented: done # moved by hand\n",
            "quoted_commented: \"done\"  # note\n",
            "hash_inside: C# guide\n",
            "empty:\n",
            "empty_single: ''\n",
            "empty_double: \"\"\n",
            "only_comment: # nothing\n",
            "escaped_single: 'it''s'\n",
            "escaped_double: \"say \\\"hi\\\" \\\\ \\u00e9\\x41\\n\"\n",
            "colon: 'a: b'\n",
            "unicode: Stijn Dejongh – ü\n",
            "unterminated: \"abc\n",
            "inner_spaces: \"  x  \"\n",
            "  nested: no\n",
            "---\n",
        ));
        let expectations = [
            ("plain", Some("done")),
            ("double", Some("done")),
            ("single", Some("done")),
            ("spaced", Some("done")),
            ("commented", Some("done")),
            ("quoted_commented", Some("done")),
            ("hash_inside", Some("C# guide")),
            ("empty", None),
            ("empty_single", None),
            ("empty_double", None),
            ("only_comment", None),
            ("escaped_single", Some("it's")),
            ("escaped_double", Some("say \"hi\" \\ éA\n")),
            ("colon", Some("a: b")),
            ("unicode", Some("Stijn Dejongh – ü")),
            ("unterminated", Some("\"abc")),
            ("inner_spaces", Some("  x  ")),
            ("nested", None),
            ("missing", None),
        ];
        for (key, expected) in expectations {
            assert_eq!(document.scalar(key).as_deref(), expected, "{key}");
        }
    }

    #[test]
    fn scalar_takes_the_first_top_level_line_for_the_key() {
        let document = doc("---\nlane_x: a\nlane: b\nhistory:\n- lane: c\nlane: d\n---\n");
        assert_eq!(document.scalar("lane").as_deref(), Some("b"));
    }

    #[test]
    fn set_scalar_keeps_spacing_and_comment_and_line_ending() {
        let mut document = doc("---\r\nlane:   doing   # claimed\r\nagent: 'x' # who\r\n---\r\n");
        document.set_scalar("lane", "for_review");
        document.set_scalar("agent", "claude");
        assert_eq!(document.frontmatter(), "lane:   \"for_review\"   # claimed\r\nagent: \"claude\" # who\r\n");
    }

    #[test]
    fn set_scalar_escapes_values_so_they_read_back_unchanged() {
        let values = ["say \"hi\"", "C:\\path\\x", "a: b # not a comment", "ü – 日本", "two\nlines", "tab\there", ""];
        for value in values {
            let mut document = doc("---\nreviewed_by: someone\nhistory:\n- a: b\n---\nbody\n");
            document.set_scalar("reviewed_by", value);
            let expected = Some(value.to_string()).filter(|v| !v.is_empty());
            assert_eq!(document.scalar("reviewed_by"), expected, "{value:?}");
            assert_eq!(yaml_string(&yaml(&document), "reviewed_by"), expected, "{value:?} via a YAML parser");
            assert_eq!(document.frontmatter().lines().count(), 3, "{value:?} stays on one line");
        }
    }

    #[test]
    fn set_scalar_replaces_a_block_value_as_a_whole() {
        let mut document = doc("---\nsubtasks:\n- T001\n- T002\n\nlane: done\n---\n");
        document.set_scalar("subtasks", "none");
        assert_eq!(document.frontmatter(), "subtasks: \"none\"\n\nlane: done\n");
    }

    #[test]
    fn ruamel_style_scalars_go_where_ruamel_puts_them_and_quote_like_it() {
        let text = "---\nwork_package_id: WP01\ntitle: A\nlane: \"planned\"\ndependencies: []\nsubtasks:\n- T001\n\
                    history:\n- lane: planned\n---\nbody\n";
        let mut document = doc(text);
        document.set_scalar_ruamel_style("base_branch", "main");
        document.set_scalar_ruamel_style("base_commit", "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567");
        document.set_scalar_ruamel_style("created_at", "2026-02-16T14:22:42.307280+00:00");
        let expected_inserted = [
            "base_branch: main\n",
            "base_commit: 0a1b2c3d4e5f60718293a4b5c6d7e8f901234567\n",
            "created_at: '2026-02-16T14:22:42.307280+00:00'\n",
        ];
        let mut expected = lines(text);
        for (offset, line) in expected_inserted.iter().enumerate() {
            expected.insert(5 + offset, line);
        }
        assert_eq!(lines(&document.render()), expected);
        let parsed = yaml(&document);
        assert_eq!(yaml_string(&parsed, "created_at").as_deref(), Some("2026-02-16T14:22:42.307280+00:00"));
        assert_eq!(yaml_string(&parsed, "base_commit").as_deref(), Some("0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"));

        // An existing key is rewritten in place; values a plain scalar would misread are quoted.
        let cases = [
            ("1234567", "'1234567'"),
            ("1e10", "'1e10'"),
            ("0b101", "'0b101'"),
            ("2026-02-16", "'2026-02-16'"),
            ("2026-02-16x", "'2026-02-16x'"),
            ("001-x-WP01", "001-x-WP01"),
            ("8af8eb8c", "8af8eb8c"),
            ("it's", "'it''s'"),
            ("yes", "'yes'"),
            (" x", "\" x\""),
        ];
        for (value, rendered) in cases {
            document.set_scalar_ruamel_style("base_branch", value);
            assert!(document.frontmatter().contains(&format!("\nbase_branch: {rendered}\n")), "{value:?}");
            assert_eq!(yaml_string(&yaml(&document), "base_branch").as_deref(), Some(value), "{value:?}");
        }
    }

    #[test]
    fn ruamel_style_scalars_without_known_neighbours_go_before_history() {
        let mut document = doc("---\nfoo: 1\nhistory:\n- a: b\n---\n");
        document.set_scalar_ruamel_style("created_at", "2026-02-16T14:22:42+00:00");
        assert_eq!(document.frontmatter(), "foo: 1\ncreated_at: '2026-02-16T14:22:42+00:00'\nhistory:\n- a: b\n");
    }

    #[test]
    fn set_scalar_inserts_before_history_above_its_blank_lines_else_at_the_end() {
        let mut with_history = doc("---\nlane: done\n\nhistory:\n- lane: planned\n---\n");
        with_history.set_scalar("agent", "codex");
        assert_eq!(with_history.frontmatter(), "lane: done\nagent: \"codex\"\n\nhistory:\n- lane: planned\n");

        let mut nested_history_only = doc("---\nlane: done\nmeta:\n  history:\n---\n");
        nested_history_only.set_scalar("agent", "codex");
        assert_eq!(nested_history_only.frontmatter(), "lane: done\nmeta:\n  history:\nagent: \"codex\"\n");
    }

    #[test]
    fn list_reads_flow_block_and_empty_values() {
        let document = doc(concat!(
            "---\n",
            "flow: [WP01, \"WP02\", 'WP03',]\n",
            "wrapped: [WP01,\n  WP02]\n",
            "block:\n- WP01\n-   \"WP02\"\n",
            "indented:\n  - WP01\n  - nested:\n      - deep\n  - WP02\n",
            "commented: # deps\n  # first\n  - WP01\n",
            "empty_flow: []\n",
            "empty:\n",
            "null_value: null\n",
            "scalar: WP01\n",
            "broken: [WP01\n",
            "---\n",
        ));
        let strings = |items: &[&str]| Some(items.iter().map(|item| item.to_string()).collect::<Vec<_>>());
        assert_eq!(document.list("flow"), strings(&["WP01", "WP02", "WP03"]));
        assert_eq!(document.list("wrapped"), strings(&["WP01", "WP02"]));
        assert_eq!(document.list("block"), strings(&["WP01", "WP02"]));
        assert_eq!(document.list("indented"), strings(&["WP01", "nested:", "WP02"]));
        assert_eq!(document.list("commented"), strings(&["WP01"]));
        assert_eq!(document.list("empty_flow"), strings(&[]));
        assert_eq!(document.list("empty"), strings(&[]));
        assert_eq!(document.list("null_value"), strings(&[]));
        assert_eq!(document.list("scalar"), None);
        assert_eq!(document.list("broken"), None);
        assert_eq!(document.list("missing"), None);
    }

    /// Texts shaped like prompt files: an opening line, arbitrary lines, a closing line, an arbitrary body.
    fn prompt_like() -> impl Strategy<Value = String> {
        let line = prop_oneof![
            "[a-z_]{1,8}:[ \t]*[^\r\n]{0,12}",
            "[ \t]*- [^\r\n]{0,10}",
            "[ \t#\"'\\[\\]:,-]{0,6}",
            any::<String>().prop_map(|s| s.replace(['\n', '\r'], "")),
        ];
        let eol = prop_oneof!["\n", "\r\n"];
        (prop::collection::vec((line, eol.clone()), 0..8), eol, any::<String>()).prop_map(|(lines, eol, body)| {
            let front: String = lines.into_iter().filter(|(l, _)| l.trim_end() != "---").map(|(l, e)| l + &e).collect();
            format!("---{eol}{front}---{eol}{body}")
        })
    }

    proptest! {
        #[test]
        fn parse_then_render_is_identity(text in prompt_like()) {
            prop_assert_eq!(doc(&text).render(), text);
        }

        #[test]
        fn arbitrary_input_never_panics(text in prop_oneof![any::<String>(), prompt_like()], key in "[a-z_]{0,6}", value in any::<String>()) {
            if let Ok(mut document) = WpDocument::parse(&text) {
                let _ = (document.scalar(&key), document.list(&key));
                document.set_list(&key, &[value.as_str()]);
                document.set_scalar(&key, &value);
                let _ = document.render();
            }
        }

        #[test]
        fn set_scalar_round_trips_any_value(text in prompt_like(), value in any::<String>()) {
            let mut document = doc(&text);
            document.set_scalar("reviewed_by", &value);
            prop_assert_eq!(document.scalar("reviewed_by"), Some(value).filter(|v| !v.is_empty()));
            let original = doc(&text);
            prop_assert_eq!(document.body(), original.body());
        }

        #[test]
        fn set_scalar_values_read_back_through_a_yaml_parser(value in any::<String>()) {
            let mut document = doc("---\nlane: planned\nhistory:\n- lane: planned\n---\n");
            document.set_scalar("reviewed_by", &value);
            prop_assert_eq!(yaml_string(&yaml(&document), "reviewed_by"), Some(value).filter(|v| !v.is_empty()));
        }

        #[test]
        fn set_list_round_trips_any_items(text in prompt_like(), items in prop::collection::vec("[^\r\n]{1,8}", 0..4)) {
            let mut document = doc(&text);
            document.set_list("dependencies", &items);
            prop_assert_eq!(document.list("dependencies"), Some(items));
        }
    }
}
