//! Subtask checkboxes: which are open, which WP owns one, checking them off (`mark-status`), and the
//! document-wide checks `accept` makes.

use super::scan::*;
use super::{MarkOutcome, Subtask, wp_sections};
use std::ops::Range;

// Subtasks

/// Labels of the open checkboxes in `wp`'s section(s): what move-task lists when it refuses `for_review`/`done`.
/// Empty when the WP has no section (upstream: "can't check").
pub fn unchecked_subtasks(text: &str, wp: &str) -> Vec<String> {
    wp_sections(text)
        .into_iter()
        .filter(|s| s.id == wp)
        .flat_map(|s| s.subtasks)
        .filter(|t| !t.done)
        .map(|t| t.label)
        .collect()
}

/// True when `wp`'s section has no open checkbox, or there is no such section (`status/emit.py`'s inference of
/// `subtasks_complete` for in_progress → for_review).
pub fn subtasks_complete(text: &str, wp: &str) -> bool {
    unchecked_subtasks(text, wp).is_empty()
}

/// The WP whose section holds the checkbox of `subtask_id` (the line [`mark_status`] would edit). Upstream
/// derived it from the id's digits (`T001` → `WP00`); mark-status uses this to attribute its history event.
pub fn owning_wp(text: &str, subtask_id: &str) -> Option<String> {
    let (line_index, _) = find_checkbox_line(text, subtask_id)?;
    wp_sections(text).into_iter().find(|s| s.lines.contains(&line_index)).map(|s| s.id)
}

pub(super) fn subtask(line: &str, index: usize) -> Option<Subtask> {
    let (done, rest) = checkbox_item(line)?;
    let rest = rest.trim();
    let id = subtask_id_prefix(rest.trim_start_matches(['*', '`'])).map(str::to_string);
    let label = match &id {
        Some(id) => id.clone(),
        None => rest.split_whitespace().next().unwrap_or(line.trim()).to_string(),
    };
    Some(Subtask { id, label, done, line: index })
}

/// `- [ ] rest`, `- [] rest`, `-[x]rest`, `  - [X] rest` → (done, rest).
pub(super) fn checkbox_item(line: &str) -> Option<(bool, &str)> {
    let rest = line.trim_start().strip_prefix('-')?.trim_start().strip_prefix('[')?;
    let close = rest.find(']')?;
    let inner = &rest[..close];
    let done = match inner.trim() {
        "" => false,
        "x" | "X" if inner.len() == 1 => true,
        _ => return None,
    };
    Some((done, &rest[close + 1..]))
}

/// `T001` (T + at least three digits, then a word boundary).
pub(super) fn subtask_id_prefix(s: &str) -> Option<&str> {
    let digits = s.strip_prefix('T')?.bytes().take_while(u8::is_ascii_digit).count();
    let end = 1 + digits;
    (digits >= 3 && !s[end..].starts_with(is_word_char)).then(|| &s[..end])
}

// ---------------------------------------------------------------------------------------------------------------
// mark-status

/// Sets the checkbox of each id to done (`- [x]`) or pending (`- [ ]`). For each id (duplicates ignored), the
/// first line containing `-\s*\[[ xX]\]\s*<ID>\b` has that checkbox rewritten to the canonical form; the rest of
/// the line and every other byte (CRLF line ends, a missing final newline) are left as they are. Upstream
/// rewrote every checkbox of the matched line; only the matched one changes here.
pub fn mark_status<I, S>(text: &str, ids: I, done: bool) -> MarkOutcome
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let replacement = if done { "- [x]" } else { "- [ ]" };
    let mut outcome = MarkOutcome { text: text.to_string(), updated: Vec::new(), not_found: Vec::new() };
    for id in ids {
        let id = id.as_ref();
        if outcome.updated.iter().chain(&outcome.not_found).any(|seen| seen == id) {
            continue;
        }
        match find_checkbox_line(&outcome.text, id) {
            Some((_, checkbox)) => {
                outcome.text.replace_range(checkbox, replacement);
                outcome.updated.push(id.to_string());
            }
            None => outcome.not_found.push(id.to_string()),
        }
    }
    outcome
}

/// The first line with a checkbox for `id`: (line index, byte range of its `-\s*\[.\]` in `text`).
pub(super) fn find_checkbox_line(text: &str, id: &str) -> Option<(usize, Range<usize>)> {
    if id.is_empty() {
        return None;
    }
    lines(text).find_map(|line| {
        let found = checkbox_for(line.content(), id)?;
        let start = line.content_start();
        Some((line.index, start + found.start..start + found.end))
    })
}

/// Byte range of the first `-\s*\[[ xX]\]` in `line` that is followed by `\s*<id>\b`.
pub(super) fn checkbox_for(line: &str, id: &str) -> Option<Range<usize>> {
    line.match_indices('-').find_map(|(dash, _)| {
        let open = skip_whitespace(line, dash + 1);
        let rest = line[open..].strip_prefix('[')?;
        let (mark, after_mark) = rest.split_at_checked(1)?;
        if !matches!(mark, " " | "x" | "X") || !after_mark.starts_with(']') {
            return None;
        }
        let end = open + 3;
        let id_at = skip_whitespace(line, end);
        (line[id_at..].starts_with(id) && is_word_boundary(id, &line[id_at + id.len()..])).then_some(dash..end)
    })
}

/// Python's `\b` right after `id`: the last char of `id` and the next char differ in being word chars.
pub(super) fn is_word_boundary(id: &str, after: &str) -> bool {
    let last_is_word = id.chars().next_back().is_some_and(is_word_char);
    let next_is_word = after.chars().next().is_some_and(is_word_char);
    last_is_word != next_is_word
}

// ---------------------------------------------------------------------------------------------------------------
// accept

/// Any line of the form `^\s*-\s*\[ \]` anywhere in the document (accept's check, lines as Python's
/// `splitlines` cuts them).
pub fn has_unchecked(text: &str) -> bool {
    python_lines(text).any(is_open_checkbox_line)
}

/// The stripped open-checkbox lines, as accept lists them under `unchecked_tasks`.
pub fn unchecked_lines(text: &str) -> Vec<String> {
    python_lines(text).filter(|l| is_open_checkbox_line(l)).map(|l| l.trim().to_string()).collect()
}

pub(super) fn is_open_checkbox_line(line: &str) -> bool {
    line.trim_start().strip_prefix('-').is_some_and(|rest| rest.trim_start().starts_with("[ ]"))
}

/// The marker accept looks for in spec, plan, tasks, research, data-model and quickstart.
pub const CLARIFICATION_MARKER: &str = "[NEEDS CLARIFICATION";

/// Whether the document still has a `[NEEDS CLARIFICATION` marker (accept fails the feature if so).
pub fn has_clarification_marker(text: &str) -> bool {
    text.contains(CLARIFICATION_MARKER)
}

/// 1-based numbers of the lines holding a `[NEEDS CLARIFICATION` marker, for messages that point at them.
pub fn clarification_marker_lines(text: &str) -> Vec<usize> {
    lines(text).filter(|l| l.content().contains(CLARIFICATION_MARKER)).map(|l| l.index + 1).collect()
}
