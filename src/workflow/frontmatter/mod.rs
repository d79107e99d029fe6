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

mod lists;
mod yaml_scalar;

use lists::{render_list, split_flow_sequence};
use thiserror::Error;
use yaml_scalar::{decode_double_quoted, decode_single_quoted, double_quoted, ruamel_scalar};

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
mod tests;
