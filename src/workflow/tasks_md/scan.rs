//! Line, heading, fence and word scanning shared by the tasks.md parsers.

// Scanning helpers

/// A line without its `\n`; `raw` keeps a trailing `\r` so byte offsets stay exact.
pub(super) struct Line<'a> {
    pub(super) index: usize,
    pub(super) start: usize,
    pub(super) raw: &'a str,
}

impl<'a> Line<'a> {
    /// The line without `\r` (and without a byte-order mark on the first line).
    pub(super) fn content(&self) -> &'a str {
        let text = self.raw.strip_suffix('\r').unwrap_or(self.raw);
        if self.index == 0 { text.trim_start_matches('\u{feff}') } else { text }
    }

    /// Where [`Line::content`] starts in the whole text (after a first line's byte-order mark), so offsets
    /// into the content map back to the text.
    pub(super) fn content_start(&self) -> usize {
        let text = self.raw.strip_suffix('\r').unwrap_or(self.raw);
        self.start + (text.len() - self.content().len())
    }
}

pub(super) fn lines(text: &str) -> impl Iterator<Item = Line<'_>> {
    let mut start = 0;
    text.split('\n').enumerate().map(move |(index, raw)| {
        let line = Line { index, start, raw };
        start += raw.len() + 1;
        line
    })
}

/// Lines as Python's `str.splitlines()` cuts them (accept reads tasks.md that way).
pub(super) fn python_lines(text: &str) -> impl Iterator<Item = &str> {
    const BREAKS: [char; 10] =
        ['\n', '\r', '\u{b}', '\u{c}', '\u{1c}', '\u{1d}', '\u{1e}', '\u{85}', '\u{2028}', '\u{2029}'];
    text.split(BREAKS)
}

pub(super) struct Heading<'a> {
    pub(super) level: usize,
    pub(super) title: &'a str,
}

/// `## Title` (1–6 `#`, then whitespace or end of line), at the start of the line as upstream's `^##`.
pub(super) fn heading(line: &str) -> Option<Heading<'_>> {
    let level = line.bytes().take_while(|&b| b == b'#').count();
    let rest = &line[level..];
    let well_formed = (1..=6).contains(&level) && (rest.is_empty() || rest.starts_with(char::is_whitespace));
    well_formed.then(|| Heading { level, title: rest.trim() })
}

/// A WP header: level ≥ 2 and the title starts with the id, optionally after `Work Package`. Returns the id and
/// the title after it.
pub(super) fn wp_header<'a>(heading: &Heading<'a>) -> Option<(&'a str, &'a str)> {
    if heading.level < 2 {
        return None;
    }
    let title = match strip_word_ci(heading.title, "work package") {
        Some(after) if after.starts_with(char::is_whitespace) => after.trim_start(),
        _ => heading.title,
    };
    let id = wp_id_prefix(title)?;
    Some((id, &title[id.len()..]))
}

/// Tracks fenced code blocks (``` or ~~~) so that `## lines` inside them are not taken for headings.
#[derive(Default)]
pub(super) struct FenceTracker {
    pub(super) open: Option<char>,
}

impl FenceTracker {
    /// Feeds one line; true when it is part of a fenced block (including the fence lines themselves).
    pub(super) fn is_code(&mut self, line: &str) -> bool {
        let trimmed = line.trim_start();
        let marker = if trimmed.starts_with("```") {
            Some('`')
        } else if trimmed.starts_with("~~~") {
            Some('~')
        } else {
            None
        };
        match (self.open, marker) {
            (None, Some(c)) => self.open = Some(c),
            (Some(open), Some(c)) if open == c => self.open = None,
            (None, None) => return false,
            _ => {}
        }
        true
    }
}

/// `WP` + two digits at the start of `s`, not followed by another word char (`WP012` is not `WP01`).
pub(super) fn wp_id_prefix(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    let shaped = b.len() >= 4 && b.starts_with(b"WP") && b[2].is_ascii_digit() && b[3].is_ascii_digit();
    (shaped && !s[4..].starts_with(is_word_char)).then(|| &s[..4])
}

/// Every WP id of `s` that stands as a word, with its byte offset.
pub(super) fn wp_ids_in(s: &str) -> impl Iterator<Item = (usize, &str)> {
    s.match_indices("WP")
        .filter(|&(at, _)| starts_word(s, at))
        .filter_map(|(at, _)| Some((at, wp_id_prefix(&s[at..])?)))
}

/// Exactly `WP` + two digits (the format `validate_dependencies` accepts).
pub(crate) fn is_wp_id(s: &str) -> bool {
    wp_id_prefix(s).is_some_and(|id| id.len() == s.len())
}

pub(super) fn is_negation(word: &str) -> bool {
    let word = word.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'' && c != '’').to_lowercase();
    const WORDS: [&str; 9] = ["not", "no", "never", "nor", "without", "cannot", "none", "nothing", "neither"];
    WORDS.contains(&word.as_str()) || word.ends_with("n't") || word.ends_with("n’t")
}

/// True when no word char precedes byte `at` (regex `\b` before a word).
pub(super) fn starts_word(s: &str, at: usize) -> bool {
    !s[..at].chars().next_back().is_some_and(is_word_char)
}

/// Python's `\w` for `str` patterns: Unicode letters and digits, and `_`.
pub(super) fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

pub(super) fn is_dash(c: char) -> bool {
    matches!(c, '-' | '–' | '—')
}

/// `word` at the start of `s`, ASCII case-insensitively, ending at a word boundary.
pub(super) fn strip_word_ci<'a>(s: &'a str, word: &str) -> Option<&'a str> {
    let head = s.get(..word.len())?;
    let rest = &s[word.len()..];
    (head.eq_ignore_ascii_case(word) && !rest.starts_with(is_word_char)).then_some(rest)
}

pub(super) fn find_ascii_ci(haystack: &str, needle: &str) -> Option<usize> {
    haystack.to_ascii_lowercase().find(needle)
}

/// Leading whitespace, list bullets and emphasis markers removed: `- **WP01** x` → `WP01** x`.
pub(super) fn strip_decoration(s: &str) -> &str {
    s.trim_start_matches(|c: char| c.is_whitespace() || matches!(c, '-' | '*' | '+' | '_' | '`')).trim_end()
}

pub(super) fn is_bullet(line: &str) -> bool {
    let rest = line.trim_start();
    rest.strip_prefix(['-', '*', '+']).is_some_and(|r| r.starts_with(char::is_whitespace))
}

/// Byte offset after the whitespace (any, line breaks included) starting at `at`.
pub(super) fn skip_whitespace(s: &str, at: usize) -> usize {
    s.len() - skip_whitespace_str(&s[at..]).len()
}

pub(super) fn skip_whitespace_str(s: &str) -> &str {
    s.trim_start_matches(char::is_whitespace)
}

/// Spaces and tabs only: lists do not continue on the next line.
pub(super) fn skip_blanks(s: &str) -> &str {
    s.trim_start_matches([' ', '\t'])
}

/// Offset of `sub` inside `text`; `sub` must be a subslice of `text`.
pub(super) fn offset_in(text: &str, sub: &str) -> usize {
    let offset = (sub.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
    debug_assert!(offset <= text.len(), "offset_in called with a foreign slice");
    offset
}
