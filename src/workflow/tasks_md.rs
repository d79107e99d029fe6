//! `tasks.md`: the feature's plan, one `## Work Package WPxx: Title` section per work package, each with its
//! subtask checkboxes (`- [ ] T001 …`) and a `### Dependencies` part. Pure functions over the text, no I/O.
//!
//! Upstream parses this file in four places with four different regexes (reference/workflow.md §3). We use one
//! section model for all of them, so that move-task, mark-status and finalize-tasks agree on which lines belong
//! to which work package:
//!
//! * A **WP header** is a heading of level 2 or deeper (`##`, `###`, …) whose title starts with the WP id,
//!   optionally after `Work Package`: `## Work Package WP02: Query Layer (Priority: P0)`, `### WP02 – Query`.
//!   Headings inside fenced code blocks are not headings.
//! * A **WP section** runs from its header to the next WP header or the next heading of the same or a higher
//!   level (`## Dependency & Execution Summary` ends the last WP's section). Upstream's finalize-tasks let the last
//!   section run to the end of the file, so prose in the summary ("they both depend on WP03") was attributed to
//!   the last work package; `status/emit.py` already stopped at the next `## ` heading, as we do.
//! * A **subtask** is a checkbox list item inside a section: `- [ ]`, `- []` (open) or `- [x]`, `- [X]` (done).
//!
//! The legacy `agent tasks finalize-tasks` parser (any line containing `WPxx` and `##` or `Work Package` starts a
//! work package) is kept separately as [`parse_dependencies_legacy`], because only that command used it.

use std::collections::BTreeMap;
use std::ops::Range;

/// One work package's section of `tasks.md`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WpSection {
    /// `WP02`.
    pub id: String,
    /// The header text after the id, without the `(Priority: …)` suffix: `Query Layer`.
    pub title: String,
    /// `P0` from `(Priority: P0)`, when present.
    pub priority: Option<String>,
    /// Number of `#` of the header.
    pub heading_level: usize,
    /// 0-based line indices: the header line up to (excluding) the first line of the next section.
    pub lines: Range<usize>,
    /// Byte range of the same lines in the text (including their line breaks).
    pub bytes: Range<usize>,
    /// Checkbox items of the section, in document order.
    pub subtasks: Vec<Subtask>,
    /// Declared dependencies, sorted and deduplicated (see [`parse_dependencies`] for the rules).
    pub dependencies: Vec<String>,
}

/// One checkbox item (`- [ ] T001 Create the store`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subtask {
    /// `T001` when the item starts with a subtask id.
    pub id: Option<String>,
    /// What upstream's move-task prints for the item: the id, else the item's first word, else the whole line.
    pub label: String,
    pub done: bool,
    /// 0-based line index.
    pub line: usize,
}

/// Result of [`mark_status`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkOutcome {
    /// The new document; identical to the input except for the checkboxes of `updated`.
    pub text: String,
    /// Ids whose checkbox was set (also when it already had the requested state), in request order.
    pub updated: Vec<String>,
    /// Ids without a checkbox line, in request order.
    pub not_found: Vec<String>,
}

// ---------------------------------------------------------------------------------------------------------------
// Sections

/// All WP sections of the document, in document order. A WP id that has two headers yields two sections.
pub fn wp_sections(text: &str) -> Vec<WpSection> {
    let mut sections = Vec::new();
    let mut open: Option<SectionBuilder> = None;
    let mut fence = FenceTracker::default();
    for line in lines(text) {
        let content = line.content();
        if fence.is_code(content) {
            continue;
        }
        if let Some(heading) = heading(content) {
            let header = wp_header(&heading);
            let ends_open = header.is_some() || open.as_ref().is_some_and(|s| heading.level <= s.heading_level);
            if ends_open && let Some(done) = open.take() {
                sections.push(done.finish(text, line.index, line.start));
            }
            if let Some((id, rest)) = header {
                open = Some(SectionBuilder::new(id, rest, heading.level, &line, offset_in(text, rest)));
            }
            continue;
        }
        if let Some(section) = open.as_mut()
            && let Some(subtask) = subtask(content, line.index)
        {
            section.subtasks.push(subtask);
        }
    }
    if let Some(last) = open {
        let (line_count, len) = (lines(text).count(), text.len());
        sections.push(last.finish(text, line_count, len));
    }
    sections
}

/// The first section of `wp`, if the document has one.
pub fn wp_section(text: &str, wp: &str) -> Option<WpSection> {
    wp_sections(text).into_iter().find(|s| s.id == wp)
}

struct SectionBuilder {
    id: String,
    title: String,
    priority: Option<String>,
    heading_level: usize,
    first_line: usize,
    start: usize,
    /// Where dependency statements may start: right after the id in the header line, so that
    /// `## WP03 (depends on WP02)` counts, as it did upstream.
    scope_start: usize,
    subtasks: Vec<Subtask>,
}

impl SectionBuilder {
    fn new(id: &str, rest: &str, heading_level: usize, line: &Line<'_>, scope_start: usize) -> Self {
        let (title, priority) = split_title(rest);
        SectionBuilder {
            id: id.to_string(),
            title,
            priority,
            heading_level,
            first_line: line.index,
            start: line.start,
            scope_start,
            subtasks: Vec::new(),
        }
    }

    fn finish(self, text: &str, end_line: usize, end_byte: usize) -> WpSection {
        let dependencies = declared_dependencies(&text[self.scope_start..end_byte], &self.id);
        WpSection {
            id: self.id,
            title: self.title,
            priority: self.priority,
            heading_level: self.heading_level,
            lines: self.first_line..end_line,
            bytes: self.start..end_byte,
            subtasks: self.subtasks,
            dependencies,
        }
    }
}

/// `Query Layer (Priority: P0) 🎯 MVP` → (`Query Layer`, `P0`); leading `:`/dashes are separators, not title.
fn split_title(rest: &str) -> (String, Option<String>) {
    let rest = rest.trim_start_matches(|c: char| c == ':' || is_dash(c) || c.is_whitespace());
    let Some(open) = find_ascii_ci(rest, "(priority:") else {
        return (rest.trim().to_string(), None);
    };
    let inside = &rest[open + "(priority:".len()..];
    let priority = inside.split(')').next().map(str::trim).filter(|p| !p.is_empty() && !p.contains('\n'));
    (rest[..open].trim().to_string(), priority.map(str::to_string))
}

// ---------------------------------------------------------------------------------------------------------------
// Dependencies

/// Declared dependencies of every WP section: `{"WP01": [], "WP02": ["WP01"], …}`, each list sorted and
/// deduplicated, a WP without declarations mapped to `[]` (feature.py `_parse_dependencies_from_tasks_md`).
///
/// What counts as a declaration inside a section:
/// * `Depends on WP01`, `Depend on WP01, WP02` (case-insensitive verb, upper-case ids, as upstream), extended to
///   lists joined by `and`, `&`, `+` with a parenthetical note after an id (`Depends on WP02 (query layer) and
///   WP04 (cost aggregation)` → both; upstream kept only WP02) and an optional colon (`Depends on: WP01`).
/// * The WP ids on the first `Dependencies:` line (also `**Dependencies**:`); when that line has no value,
///   the bullet list right below it.
///
/// What does not (upstream's false positives):
/// * A statement negated within its clause: one of `not`, `no`, `never`, `nor`, `without`, `cannot`, `none`,
///   `nothing`, `neither` or a `…n't` word among the three words before `depend` (`Does NOT depend on WP03`,
///   `doesn't directly depend on WP03`). A clause ends at a line break or `.`, `;`, `:`, `!`, `?`.
/// * A statement about another work package (`WP05 depends on WP04` inside WP03's section).
/// * A `Dependencies:` value that starts with `None`, `No`, `N/A`, `Nothing` or a dash, and an id with a
///   negation word among the two words before it (`Dependencies: WP01 (not even WP03)` → WP01).
///
/// Self-references are kept so that [`crate::workflow::graph::validate_dependencies`] reports them, as upstream.
pub fn parse_dependencies(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut graph: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for section in wp_sections(text) {
        graph.entry(section.id).or_default().extend(section.dependencies);
    }
    for deps in graph.values_mut() {
        deps.sort();
        deps.dedup();
    }
    graph
}

fn declared_dependencies(scope: &str, own_id: &str) -> Vec<String> {
    let mut deps = depends_on_statements(scope, own_id);
    deps.extend(dependencies_label(scope));
    deps.sort();
    deps.dedup();
    deps
}

/// Ids of every affirmative `depend(s) on WPxx[, WPyy …]` statement in `scope`.
fn depends_on_statements(scope: &str, own_id: &str) -> Vec<String> {
    let lower = scope.to_ascii_lowercase(); // same byte offsets as `scope`
    let mut deps = Vec::new();
    for (at, _) in lower.match_indices("depend") {
        if !starts_word(scope, at) {
            continue;
        }
        let Some(list_start) = after_depends_on(&lower, at + "depend".len()) else { continue };
        let ids = id_list_at(&scope[list_start..]);
        if ids.is_empty() || is_about_other_or_negated(&scope[..at], own_id) {
            continue;
        }
        deps.extend(ids);
    }
    deps
}

/// After `depend`: optional `s`, whitespace (line breaks too, as upstream's `\s+`), `on`, then either
/// whitespace or a colon. Returns where the id list starts.
fn after_depends_on(lower: &str, mut at: usize) -> Option<usize> {
    let bytes = lower.as_bytes();
    if bytes.get(at) == Some(&b's') {
        at += 1;
    }
    let spaced = skip_whitespace(lower, at);
    if spaced == at || !lower[spaced..].starts_with("on") {
        return None;
    }
    let after_on = spaced + 2;
    let colon = bytes.get(after_on) == Some(&b':');
    let list_start = skip_whitespace(lower, after_on + usize::from(colon));
    (colon || list_start > after_on).then_some(list_start)
}

/// Looks at the clause before a `depend` match: is its subject another WP, or is it negated?
fn is_about_other_or_negated(before: &str, own_id: &str) -> bool {
    let clause = current_clause(before);
    let words: Vec<&str> = clause.split_whitespace().collect();
    let last_three = &words[words.len().saturating_sub(3)..];
    let subject = last_three.last().map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()));
    let about_other = subject.is_some_and(|s| is_wp_id(s) && s != own_id);
    about_other || last_three.iter().any(|w| is_negation(w))
}

/// The text after the last clause boundary (line break or sentence punctuation).
fn current_clause(before: &str) -> &str {
    let cut = before.rfind(['\n', '.', ';', ':', '!', '?']).map_or(0, |i| i + 1);
    &before[cut..]
}

/// The first `Dependencies:` label of the scope and the ids it declares.
fn dependencies_label(scope: &str) -> Vec<String> {
    let lower = scope.to_ascii_lowercase();
    for (at, _) in lower.match_indices("dependencies") {
        if !starts_word(scope, at) {
            continue;
        }
        let Some(value_start) = after_label_colon(scope, at + "dependencies".len()) else { continue };
        let line_end = scope[value_start..].find('\n').map_or(scope.len(), |i| value_start + i);
        let value = &scope[value_start..line_end];
        if !strip_decoration(value).is_empty() {
            return ids_in_value(value);
        }
        return ids_in_list_below(&scope[line_end..]);
    }
    Vec::new()
}

/// `Dependencies` + optional `**`/`__` + optional spaces + `:` + optional `**`. Returns the value start.
fn after_label_colon(scope: &str, at: usize) -> Option<usize> {
    let rest = &scope[at..];
    let rest = rest.trim_start_matches(['*', '_']).trim_start_matches([' ', '\t']);
    let rest = rest.strip_prefix(':')?.trim_start_matches(['*', '_']);
    Some(scope.len() - rest.len())
}

/// The value under an empty `Dependencies:` label: the bullets right below it, else the next non-blank line
/// (which is what upstream's `Dependencies:\s*(.+)` captured).
fn ids_in_list_below(below: &str) -> Vec<String> {
    let mut following = below.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).skip(1);
    let Some(first) = following.by_ref().find(|l| !l.trim().is_empty()) else { return Vec::new() };
    if heading(first).is_some() {
        return Vec::new();
    }
    if !is_bullet(first) {
        return ids_in_value(first);
    }
    let bullets = std::iter::once(first).chain(following.take_while(|l| is_bullet(l)));
    bullets.flat_map(ids_in_value).collect()
}

/// WP ids of a dependency value (`WP01, WP02`, `- WP01 (store)`), minus those negated.
fn ids_in_value(value: &str) -> Vec<String> {
    let value = strip_decoration(value);
    if starts_with_none(value) {
        return Vec::new();
    }
    let mut ids = Vec::new();
    let mut previous_end = 0;
    for (at, id) in wp_ids_in(value) {
        let window: Vec<&str> = value[previous_end..at].split_whitespace().collect();
        if !window[window.len().saturating_sub(2)..].iter().any(|w| is_negation(w)) {
            ids.push(id.to_string());
        }
        previous_end = at + id.len();
    }
    ids
}

fn starts_with_none(value: &str) -> bool {
    let first = value.split_whitespace().next().unwrap_or("");
    let word = first.trim_end_matches(|c: char| !c.is_alphanumeric() && c != '/').to_ascii_lowercase();
    matches!(word.as_str(), "none" | "no" | "n/a" | "nothing") || first.starts_with(is_dash)
}

/// `WP01`, `WP01, WP02`, `WP02 (query layer) and WP04`: the ids of a list starting at `s`, on one line.
fn id_list_at(s: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut rest = s;
    while let Some(id) = wp_id_prefix(rest) {
        ids.push(id.to_string());
        rest = skip_note(skip_blanks(&rest[id.len()..]));
        match after_list_separator(rest) {
            Some(next) => rest = next,
            None => break,
        }
    }
    ids
}

/// `, `, `, and `, ` and `, ` & `, ` + ` → the text after it; anything else ends the list.
fn after_list_separator(s: &str) -> Option<&str> {
    let s = skip_blanks(s);
    if let Some(after_comma) = s.strip_prefix(',') {
        let after_comma = skip_blanks(after_comma);
        return Some(strip_word_ci(after_comma, "and").map_or(after_comma, skip_blanks));
    }
    if let Some(after_and) = strip_word_ci(s, "and") {
        return Some(skip_blanks(after_and));
    }
    s.strip_prefix(['&', '+']).map(skip_blanks)
}

/// Skips one `(note)` that closes on the same line.
fn skip_note(s: &str) -> &str {
    let Some(inner) = s.strip_prefix('(') else { return s };
    match inner.find([')', '(', '\n']) {
        Some(i) if inner.as_bytes()[i] == b')' => &inner[i + 1..],
        _ => s,
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Legacy parser (`agent tasks finalize-tasks`, tasks.py)

/// The older `agent tasks finalize-tasks` parser, kept for that command only: any line that contains a WP id
/// and `##` or `Work Package` switches the current work package (first id of the line); a line with
/// `depends on:`, `dependency:`, `dependencies:` or `requires:` (colon required, case-insensitive) followed by
/// a list of ids adds them to the current work package. Dependencies keep declaration order, deduplicated, as
/// upstream wrote them. Fixes over upstream: `dependency:` no longer needs a doubled colon, and a negated
/// statement (`does not depend on: WP03`) adds nothing.
pub fn parse_dependencies_legacy(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut graph: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in lines(text) {
        let content = line.content();
        if (content.contains("##") || content.contains("Work Package"))
            && let Some((_, id)) = wp_ids_in(content).next()
        {
            graph.entry(id.to_string()).or_default();
            current = Some(id.to_string());
        }
        let Some(wp) = current.as_ref() else { continue };
        let deps = graph.entry(wp.clone()).or_default();
        for dep in legacy_declaration(content) {
            if !deps.contains(&dep) {
                deps.push(dep);
            }
        }
    }
    graph
}

fn legacy_declaration(line: &str) -> Vec<String> {
    let lower = line.to_ascii_lowercase();
    const KEYWORDS: [&str; 4] = ["depends on", "dependency", "dependencies", "requires"];
    let found = KEYWORDS
        .iter()
        .flat_map(|k| lower.match_indices(k).map(|(at, _)| (at, at + k.len())))
        .filter(|&(_, end)| lower[end..].starts_with(':'))
        .min();
    let Some((at, end)) = found else { return Vec::new() };
    let words: Vec<&str> = current_clause(&line[..at]).split_whitespace().collect();
    if words[words.len().saturating_sub(3)..].iter().any(|w| is_negation(w)) {
        return Vec::new();
    }
    id_list_at(skip_whitespace_str(&line[end + 1..]))
}

// ---------------------------------------------------------------------------------------------------------------
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

fn subtask(line: &str, index: usize) -> Option<Subtask> {
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
fn checkbox_item(line: &str) -> Option<(bool, &str)> {
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
fn subtask_id_prefix(s: &str) -> Option<&str> {
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
fn find_checkbox_line(text: &str, id: &str) -> Option<(usize, Range<usize>)> {
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
fn checkbox_for(line: &str, id: &str) -> Option<Range<usize>> {
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
fn is_word_boundary(id: &str, after: &str) -> bool {
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

fn is_open_checkbox_line(line: &str) -> bool {
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

// ---------------------------------------------------------------------------------------------------------------
// Scanning helpers

/// A line without its `\n`; `raw` keeps a trailing `\r` so byte offsets stay exact.
struct Line<'a> {
    index: usize,
    start: usize,
    raw: &'a str,
}

impl<'a> Line<'a> {
    /// The line without `\r` (and without a byte-order mark on the first line).
    fn content(&self) -> &'a str {
        let text = self.raw.strip_suffix('\r').unwrap_or(self.raw);
        if self.index == 0 { text.trim_start_matches('\u{feff}') } else { text }
    }

    /// Where [`Line::content`] starts in the whole text (after a first line's byte-order mark), so offsets
    /// into the content map back to the text.
    fn content_start(&self) -> usize {
        let text = self.raw.strip_suffix('\r').unwrap_or(self.raw);
        self.start + (text.len() - self.content().len())
    }
}

fn lines(text: &str) -> impl Iterator<Item = Line<'_>> {
    let mut start = 0;
    text.split('\n').enumerate().map(move |(index, raw)| {
        let line = Line { index, start, raw };
        start += raw.len() + 1;
        line
    })
}

/// Lines as Python's `str.splitlines()` cuts them (accept reads tasks.md that way).
fn python_lines(text: &str) -> impl Iterator<Item = &str> {
    const BREAKS: [char; 10] =
        ['\n', '\r', '\u{b}', '\u{c}', '\u{1c}', '\u{1d}', '\u{1e}', '\u{85}', '\u{2028}', '\u{2029}'];
    text.split(BREAKS)
}

struct Heading<'a> {
    level: usize,
    title: &'a str,
}

/// `## Title` (1–6 `#`, then whitespace or end of line), at the start of the line as upstream's `^##`.
fn heading(line: &str) -> Option<Heading<'_>> {
    let level = line.bytes().take_while(|&b| b == b'#').count();
    let rest = &line[level..];
    let well_formed = (1..=6).contains(&level) && (rest.is_empty() || rest.starts_with(char::is_whitespace));
    well_formed.then(|| Heading { level, title: rest.trim() })
}

/// A WP header: level ≥ 2 and the title starts with the id, optionally after `Work Package`. Returns the id and
/// the title after it.
fn wp_header<'a>(heading: &Heading<'a>) -> Option<(&'a str, &'a str)> {
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
struct FenceTracker {
    open: Option<char>,
}

impl FenceTracker {
    /// Feeds one line; true when it is part of a fenced block (including the fence lines themselves).
    fn is_code(&mut self, line: &str) -> bool {
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
fn wp_id_prefix(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    let shaped = b.len() >= 4 && b.starts_with(b"WP") && b[2].is_ascii_digit() && b[3].is_ascii_digit();
    (shaped && !s[4..].starts_with(is_word_char)).then(|| &s[..4])
}

/// Every WP id of `s` that stands as a word, with its byte offset.
fn wp_ids_in(s: &str) -> impl Iterator<Item = (usize, &str)> {
    s.match_indices("WP")
        .filter(|&(at, _)| starts_word(s, at))
        .filter_map(|(at, _)| Some((at, wp_id_prefix(&s[at..])?)))
}

/// Exactly `WP` + two digits (the format `validate_dependencies` accepts).
pub(crate) fn is_wp_id(s: &str) -> bool {
    wp_id_prefix(s).is_some_and(|id| id.len() == s.len())
}

fn is_negation(word: &str) -> bool {
    let word = word.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'' && c != '’').to_lowercase();
    const WORDS: [&str; 9] = ["not", "no", "never", "nor", "without", "cannot", "none", "nothing", "neither"];
    WORDS.contains(&word.as_str()) || word.ends_with("n't") || word.ends_with("n’t")
}

/// True when no word char precedes byte `at` (regex `\b` before a word).
fn starts_word(s: &str, at: usize) -> bool {
    !s[..at].chars().next_back().is_some_and(is_word_char)
}

/// Python's `\w` for `str` patterns: Unicode letters and digits, and `_`.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_dash(c: char) -> bool {
    matches!(c, '-' | '–' | '—')
}

/// `word` at the start of `s`, ASCII case-insensitively, ending at a word boundary.
fn strip_word_ci<'a>(s: &'a str, word: &str) -> Option<&'a str> {
    let head = s.get(..word.len())?;
    let rest = &s[word.len()..];
    (head.eq_ignore_ascii_case(word) && !rest.starts_with(is_word_char)).then_some(rest)
}

fn find_ascii_ci(haystack: &str, needle: &str) -> Option<usize> {
    haystack.to_ascii_lowercase().find(needle)
}

/// Leading whitespace, list bullets and emphasis markers removed: `- **WP01** x` → `WP01** x`.
fn strip_decoration(s: &str) -> &str {
    s.trim_start_matches(|c: char| c.is_whitespace() || matches!(c, '-' | '*' | '+' | '_' | '`')).trim_end()
}

fn is_bullet(line: &str) -> bool {
    let rest = line.trim_start();
    rest.strip_prefix(['-', '*', '+']).is_some_and(|r| r.starts_with(char::is_whitespace))
}

/// Byte offset after the whitespace (any, line breaks included) starting at `at`.
fn skip_whitespace(s: &str, at: usize) -> usize {
    s.len() - skip_whitespace_str(&s[at..]).len()
}

fn skip_whitespace_str(s: &str) -> &str {
    s.trim_start_matches(char::is_whitespace)
}

/// Spaces and tabs only: lists do not continue on the next line.
fn skip_blanks(s: &str) -> &str {
    s.trim_start_matches([' ', '\t'])
}

/// Offset of `sub` inside `text`; `sub` must be a subslice of `text`.
fn offset_in(text: &str, sub: &str) -> usize {
    let offset = (sub.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
    debug_assert!(offset <= text.len(), "offset_in called with a foreign slice");
    offset
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    /// Our own small plan in upstream's template shape: three WPs, a trailing summary section and a stray item.
    const PLAN: &str = "\
# Work Packages: Demo

## Work Package WP01: Storage Layer (Priority: P0)
**Goal**: keep events.
### Included Subtasks
- [x] T001 Create the store
- [ ] T002 [P] Add an index
### Dependencies
- None (starting package).

## Work Package WP02: Reports (Priority: P1) 🎯 MVP
### Included Subtasks
- [X] T003 Render a table
- [ ] T004 Export CSV
### Dependencies
- Depends on WP01 (storage).
- Does NOT depend on WP03 — reports read the store directly.

## Work Package WP03: Sync (Priority: P2)
### Included Subtasks
- [x] T005 Queue events
### Dependencies
- Depends on WP01, WP02.

## Dependency & Execution Summary
- WP03 and WP02 both depend on WP01.
- [ ] T099 stray item outside any WP
";

    fn strings(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    fn deps_of(text: &str, wp: &str) -> Vec<String> {
        parse_dependencies(text).remove(wp).unwrap_or_else(|| panic!("{wp} has no section"))
    }

    // ---- sections -------------------------------------------------------------------------------------------

    #[test]
    fn sections_have_ids_titles_priorities_and_line_ranges() {
        let sections = wp_sections(PLAN);
        let ids: Vec<&str> = sections.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["WP01", "WP02", "WP03"]);
        assert_eq!(sections[0].title, "Storage Layer");
        assert_eq!(sections[0].priority.as_deref(), Some("P0"));
        assert_eq!(sections[1].title, "Reports", "emoji suffix after the priority is not title");
        assert_eq!(sections[0].heading_level, 2);
        assert_eq!(sections[0].lines, 2..10);
        let lines: Vec<&str> = PLAN.split('\n').collect();
        assert!(lines[sections[0].lines.start].starts_with("## Work Package WP01"));
        assert!(lines[sections[1].lines.start].starts_with("## Work Package WP02"));
        assert!(PLAN[sections[2].bytes.clone()].starts_with("## Work Package WP03"));
        assert!(PLAN[sections[2].bytes.clone()].ends_with("- Depends on WP01, WP02.\n\n"));
    }

    #[test]
    fn subtasks_are_checkbox_items_with_ids_and_state() {
        let wp01 = wp_section(PLAN, "WP01").unwrap();
        let got: Vec<(Option<&str>, bool)> = wp01.subtasks.iter().map(|t| (t.id.as_deref(), t.done)).collect();
        assert_eq!(got, [(Some("T001"), true), (Some("T002"), false)]);
        assert_eq!(wp01.subtasks[0].line, 5);
        let wp02 = wp_section(PLAN, "WP02").unwrap();
        assert!(wp02.subtasks[0].done, "[X] counts as done");
    }

    #[test]
    fn a_same_level_heading_ends_the_last_section() {
        let wp03 = wp_section(PLAN, "WP03").unwrap();
        assert!(wp03.subtasks.iter().all(|t| t.label != "T099"));
        assert_eq!(deps_of(PLAN, "WP03"), ["WP01", "WP02"], "summary prose is not WP03's");
    }

    #[test]
    fn header_variants() {
        let text = "\
# Plan WP09 (level 1 is the document title, not a WP)
### WP01 – Setup
- [ ] T001 a
#### Work package WP02: Lower-case keyword
- [ ] T002 b
## WP012 is not an id
- [ ] T003 c
## Work Packages WP03 overview
## WP04: Last (Priority: P3)
";
        let ids: Vec<String> = wp_sections(text).into_iter().map(|s| s.id).collect();
        assert_eq!(ids, ["WP01", "WP02", "WP04"]);
        let wp01 = wp_section(text, "WP01").unwrap();
        assert_eq!(wp01.title, "Setup");
        assert_eq!(wp01.heading_level, 3);
        assert_eq!(unchecked_subtasks(text, "WP01"), ["T001"], "a deeper WP header starts a new section");
        assert_eq!(unchecked_subtasks(text, "WP02"), ["T002"], "`## WP012` is a plain heading and ends WP02");
    }

    #[test]
    fn a_byte_order_mark_does_not_hide_the_first_header() {
        let text = "\u{feff}## WP01: A\n- [ ] T001 a\n";
        assert_eq!(unchecked_subtasks(text, "WP01"), ["T001"]);
        assert_eq!(wp_section(text, "WP02"), None);
    }

    #[test]
    fn headings_inside_code_fences_are_ignored() {
        let text =
            "## Work Package WP01: A\n```markdown\n## Work Package WP02: example\n- [ ] T009 x\n```\n- [ ] T001 a\n";
        let sections = wp_sections(text);
        assert_eq!(sections.len(), 1);
        assert_eq!(unchecked_subtasks(text, "WP01"), ["T001"]);
    }

    #[test]
    fn duplicate_sections_merge_for_dependencies_and_subtasks() {
        let text =
            "## WP01: A\n- [ ] T001 a\n## WP02: B\nDepends on WP01\n## WP01: A again\n- [ ] T002 b\nDepends on WP02\n";
        assert_eq!(wp_sections(text).len(), 3);
        assert_eq!(unchecked_subtasks(text, "WP01"), ["T001", "T002"]);
        assert_eq!(deps_of(text, "WP01"), ["WP02"]);
    }

    // ---- dependencies ---------------------------------------------------------------------------------------

    #[test]
    fn dependencies_of_the_template_shapes() {
        let graph = parse_dependencies(PLAN);
        let expected: BTreeMap<String, Vec<String>> = [
            ("WP01".to_string(), vec![]),
            ("WP02".to_string(), strings(&["WP01"])),
            ("WP03".to_string(), strings(&["WP01", "WP02"])),
        ]
        .into();
        assert_eq!(graph, expected);
    }

    #[test]
    fn negated_statements_add_nothing() {
        for sentence in [
            "Does NOT depend on WP03 (emission).",
            "does not directly depend on WP03",
            "It doesn't depend on WP03.",
            "It doesn’t depend on WP03.",
            "This WP does not, in fact, depend on WP03.",
            "No longer depends on WP03.",
            "Never depends on WP03",
        ] {
            let text = format!("## WP04: X\n- Depends on WP01.\n- {sentence}\n");
            assert_eq!(deps_of(&text, "WP04"), ["WP01"], "{sentence}");
        }
    }

    #[test]
    fn negation_is_scoped_to_its_clause() {
        let text = "## WP04: X\nThe API is not final; depends on WP02.\nNo UI work here at all, depends on WP03.\n";
        assert_eq!(deps_of(text, "WP04"), ["WP02", "WP03"]);
    }

    #[test]
    fn lists_joined_by_and_with_notes_are_read_whole() {
        let cases = [
            ("Depends on WP02 (query layer) and WP04 (cost aggregation).", vec!["WP02", "WP04"]),
            ("Depends on WP02 and WP03.", vec!["WP02", "WP03"]),
            ("Depends on WP01, WP02, and WP03", vec!["WP01", "WP02", "WP03"]),
            ("Depend on WP01 & WP02 + WP03", vec!["WP01", "WP02", "WP03"]),
            ("depends on: WP01", vec!["WP01"]),
            ("DEPENDS ON WP01,WP02", vec!["WP01", "WP02"]),
            ("Depends on WP01, not WP02", vec!["WP01"]),
            ("Depends on WP01 or WP02", vec!["WP01"]),
            ("Depends on wp01", vec![]),
            ("Dependson WP01", vec![]),
            ("Independent on WP01", vec![]),
            ("Depends on the store (WP01)", vec![]),
        ];
        for (sentence, expected) in cases {
            let text = format!("## WP05: X\n{sentence}\n");
            assert_eq!(deps_of(&text, "WP05"), strings(&expected), "{sentence}");
        }
    }

    #[test]
    fn statements_about_other_work_packages_are_not_declarations() {
        let text = "## WP03: X\nWP05 depends on WP04 later on.\n**WP06** depends on WP03.\nWP03 depends on WP01.\n";
        assert_eq!(deps_of(text, "WP03"), ["WP01"]);
    }

    #[test]
    fn a_statement_in_the_header_line_counts() {
        assert_eq!(deps_of("## WP03 (depends on WP02)\n", "WP03"), ["WP02"]);
    }

    #[test]
    fn a_statement_may_wrap_between_verb_and_id() {
        assert_eq!(deps_of("## WP03: X\nThis depends\non WP02.\n", "WP03"), ["WP02"]);
    }

    #[test]
    fn self_dependencies_are_kept_for_validation_to_report() {
        assert_eq!(deps_of("## WP03: X\nDepends on WP03\n", "WP03"), ["WP03"]);
    }

    #[test]
    fn dependencies_label_line() {
        let cases = [
            ("Dependencies: WP01, WP02", vec!["WP01", "WP02"]),
            ("**Dependencies**: WP01", vec!["WP01"]),
            ("**Dependencies:** WP02 (after the schema)", vec!["WP02"]),
            ("dependencies: WP01", vec!["WP01"]),
            ("Dependencies: None", vec![]),
            ("Dependencies: none — WP02 can run alongside", vec![]),
            ("Dependencies: N/A", vec![]),
            ("Dependencies: WP01 (not WP03)", vec!["WP01"]),
            ("Dependencies: WP01 but not even WP03", vec!["WP01"]),
            ("Dependencies: cannot start until WP01 lands", vec!["WP01"]),
        ];
        for (line, expected) in cases {
            let text = format!("## WP05: X\n{line}\n");
            assert_eq!(deps_of(&text, "WP05"), strings(&expected), "{line}");
        }
    }

    #[test]
    fn only_the_first_dependencies_label_counts() {
        let text = "## WP05: X\nDependencies: WP01\nDependencies: WP02\n";
        assert_eq!(deps_of(text, "WP05"), ["WP01"]);
    }

    #[test]
    fn an_empty_dependencies_label_takes_the_list_below() {
        let text = "## WP05: X\n**Dependencies:**\n\n- WP01 (store)\n- WP02\n\nWP03 is mentioned later.\n";
        assert_eq!(deps_of(text, "WP05"), ["WP01", "WP02"]);
        let none = "## WP05: X\nDependencies:\n- None\n";
        assert_eq!(deps_of(none, "WP05"), Vec::<String>::new());
        let heading_next = "## WP05: X\nDependencies:\n### Risks\n- WP01 is risky\n";
        assert_eq!(deps_of(heading_next, "WP05"), Vec::<String>::new());
        let plain_next = "## WP05: X\nDependencies:\nWP01, WP02\n";
        assert_eq!(deps_of(plain_next, "WP05"), ["WP01", "WP02"]);
    }

    #[test]
    fn a_dependencies_heading_is_not_a_label() {
        let text = "## WP05: X\n### Dependencies\n- WP01 can run in parallel\n";
        assert_eq!(deps_of(text, "WP05"), Vec::<String>::new());
    }

    #[test]
    fn text_without_sections_has_no_graph() {
        assert!(parse_dependencies("").is_empty());
        assert!(parse_dependencies("# Title\nDepends on WP01\n").is_empty());
    }

    #[test]
    fn legacy_parser_follows_the_old_command() {
        let text = "\
Intro mentions WP09 without a header marker.
## WP01 Setup
Depends on WP00 without a colon does not count.
## Phase 2 — WP02 and WP03
Requires: WP01
### Work Package WP03
depends on: WP02, WP01
Dependency: WP02
Does not depend on: WP04
";
        let graph = parse_dependencies_legacy(text);
        let expected: BTreeMap<String, Vec<String>> = [
            ("WP01".to_string(), vec![]),
            ("WP02".to_string(), strings(&["WP01"])),
            ("WP03".to_string(), strings(&["WP02", "WP01"])),
        ]
        .into();
        assert_eq!(graph, expected, "declaration order kept, duplicates dropped, negation ignored");
    }

    // ---- subtasks -------------------------------------------------------------------------------------------

    #[test]
    fn unchecked_subtasks_of_a_section() {
        assert_eq!(unchecked_subtasks(PLAN, "WP01"), ["T002"]);
        assert_eq!(unchecked_subtasks(PLAN, "WP02"), ["T004"]);
        assert!(unchecked_subtasks(PLAN, "WP03").is_empty());
        assert!(unchecked_subtasks(PLAN, "WP07").is_empty(), "no section: nothing to check");
        assert!(!subtasks_complete(PLAN, "WP01"));
        assert!(subtasks_complete(PLAN, "WP03"));
        assert!(subtasks_complete(PLAN, "WP07"));
    }

    #[test]
    fn labels_of_items_without_ids_follow_upstream() {
        let text = "## WP01: A\n- [ ] Write docs now\n- []\n-[ ]T0001 long id\n- [ ] **T002** bold\n  - [ ] T003 nested\n- [x ] odd\n";
        assert_eq!(unchecked_subtasks(text, "WP01"), ["Write", "- []", "T0001", "T002", "T003"]);
    }

    #[test]
    fn owning_wp_follows_the_section_not_the_digits() {
        assert_eq!(owning_wp(PLAN, "T001").as_deref(), Some("WP01"));
        assert_eq!(owning_wp(PLAN, "T004").as_deref(), Some("WP02"));
        assert_eq!(owning_wp(PLAN, "T005").as_deref(), Some("WP03"));
        assert_eq!(owning_wp(PLAN, "T099"), None, "outside every WP section");
        assert_eq!(owning_wp(PLAN, "T777"), None);
        assert_eq!(owning_wp(PLAN, ""), None);
    }

    // ---- mark-status ----------------------------------------------------------------------------------------

    /// Lines that differ between two texts with the same number of lines.
    fn changed_lines(before: &str, after: &str) -> Vec<usize> {
        let (a, b): (Vec<&str>, Vec<&str>) = (before.split('\n').collect(), after.split('\n').collect());
        assert_eq!(a.len(), b.len(), "line count changed");
        (0..a.len()).filter(|&i| a[i] != b[i]).collect()
    }

    #[test]
    fn mark_done_changes_only_the_target_line() {
        let out = mark_status(PLAN, ["T002"], true);
        assert_eq!(out.updated, ["T002"]);
        assert!(out.not_found.is_empty());
        assert_eq!(changed_lines(PLAN, &out.text), [6]);
        assert!(out.text.contains("- [x] T002 [P] Add an index\n"));
        let back = mark_status(&out.text, ["T002"], false);
        assert_eq!(back.text, PLAN);
    }

    #[test]
    fn mark_keeps_a_byte_order_mark_and_finds_the_box_after_it() {
        // Found by the property test: the first line's BOM shifted the rewritten range (and panicked).
        let out = mark_status("\u{feff}- [ ] T001 Build\n", ["T001"], true);
        assert_eq!(out.text, "\u{feff}- [x] T001 Build\n");
        let out = mark_status("\u{feff}:- [ ] T001:", ["T001"], true);
        assert_eq!(out.text, "\u{feff}:- [x] T001:");
    }

    #[test]
    fn mark_preserves_crlf_and_a_missing_final_newline() {
        let text = "## WP01: A\r\n- [ ] T001 one\r\n- [ ] T002 two";
        let out = mark_status(text, ["T002", "T001"], true);
        assert_eq!(out.text, "## WP01: A\r\n- [x] T001 one\r\n- [x] T002 two");
        assert_eq!(out.updated, ["T002", "T001"]);
    }

    #[test]
    fn mark_reports_unknown_ids_and_ignores_repeats() {
        let out = mark_status(PLAN, ["T004", "T404", "T004", "T404"], true);
        assert_eq!(out.updated, ["T004"]);
        assert_eq!(out.not_found, ["T404"]);
        assert_eq!(changed_lines(PLAN, &out.text), [13]);
    }

    #[test]
    fn mark_matches_whole_ids_on_the_first_matching_line() {
        let text = "- [ ] T0012 longer id\n- [ ] T001 first\n- [ ] T001 second\n";
        let out = mark_status(text, ["T001"], true);
        assert_eq!(out.text, "- [ ] T0012 longer id\n- [x] T001 first\n- [ ] T001 second\n");
    }

    #[test]
    fn mark_normalises_only_the_matched_checkbox() {
        let text = "  -   [ ]T001 see - [ ] T002 inline\n";
        let out = mark_status(text, ["T001"], true);
        assert_eq!(out.text, "  - [x]T001 see - [ ] T002 inline\n");
        let out = mark_status(text, ["T002"], true);
        assert_eq!(out.text, "  -   [ ]T001 see - [x] T002 inline\n");
    }

    #[test]
    fn mark_counts_an_already_set_box_as_updated() {
        let out = mark_status(PLAN, ["T001"], true);
        assert_eq!(out.updated, ["T001"]);
        assert_eq!(out.text, PLAN);
        let upper = mark_status("- [X] T001 a\n", ["T001"], true);
        assert_eq!(upper.text, "- [x] T001 a\n", "rewritten to the canonical form");
    }

    #[test]
    fn mark_ids_follow_python_word_boundaries() {
        assert_eq!(mark_status("- [ ] T001.5\n", ["T001"], true).updated, ["T001"], "`.` is not a word char");
        assert_eq!(mark_status("- [ ] T001_b\n", ["T001"], true).not_found, ["T001"], "`_` is a word char");
        assert_eq!(mark_status("- [ ] T001é\n", ["T001"], true).not_found, ["T001"], "letters are Unicode");
        assert_eq!(mark_status("- [ ] T00.\n", ["T00."], true).not_found, ["T00."], "needs a word char next");
        assert_eq!(mark_status("- [ ] T00.x\n", ["T00."], true).updated, ["T00."]);
        assert_eq!(mark_status("- [ ] T001\n", [""], true).not_found, [""]);
    }

    #[test]
    fn mark_ignores_other_box_contents() {
        let out = mark_status("- [-] T001\n- [ ] T001 real\n", ["T001"], true);
        assert_eq!(out.text, "- [-] T001\n- [x] T001 real\n");
    }

    // ---- accept ---------------------------------------------------------------------------------------------

    #[test]
    fn accept_checks_any_open_box_anywhere() {
        assert!(has_unchecked(PLAN));
        assert_eq!(
            unchecked_lines(PLAN),
            ["- [ ] T002 [P] Add an index", "- [ ] T004 Export CSV", "- [ ] T099 stray item outside any WP"]
        );
        assert!(!has_unchecked("- [x] T001\n- [] T002\n-  [  ] T003\n"), "accept wants exactly `[ ]`");
        assert!(has_unchecked("intro\r  -[ ] old-mac line break\r"));
        assert!(!has_unchecked("text - [ ] not at line start\n"));
    }

    #[test]
    fn clarification_markers() {
        let text = "ok\n[NEEDS CLARIFICATION: which store?]\nfine\nAlso [NEEDS CLARIFICATION]\n";
        assert!(has_clarification_marker(text));
        assert_eq!(clarification_marker_lines(text), [2, 4]);
        assert!(!has_clarification_marker("needs clarification, lower case\n"));
    }

    // ---- upstream fixtures ----------------------------------------------------------------------------------

    fn shared_dir(relative: &str) -> Option<PathBuf> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared").join(relative);
        if dir.exists() {
            Some(dir)
        } else {
            eprintln!("skipping: {} is absent", dir.display());
            None
        }
    }

    #[derive(serde::Deserialize)]
    struct WpFrontmatter {
        work_package_id: String,
        #[serde(default)]
        dependencies: Vec<String>,
        #[serde(default)]
        subtasks: Vec<String>,
    }

    fn frontmatter(path: &Path) -> WpFrontmatter {
        let text = std::fs::read_to_string(path).unwrap();
        let yaml = text.strip_prefix("---\n").and_then(|rest| rest.split("\n---").next()).unwrap();
        serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    struct Feature {
        slug: String,
        tasks_md: String,
        wps: BTreeMap<String, WpFrontmatter>,
    }

    fn fixture_features() -> Vec<Feature> {
        let Some(root) = shared_dir("fixtures/upstream-592dca5eb/kitty-specs") else { return Vec::new() };
        let mut features = Vec::new();
        for entry in std::fs::read_dir(root).unwrap() {
            let dir = entry.unwrap().path();
            let Ok(tasks_md) = std::fs::read_to_string(dir.join("tasks.md")) else { continue };
            let mut wps = BTreeMap::new();
            for file in std::fs::read_dir(dir.join("tasks")).unwrap() {
                let path = file.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().to_string();
                if name.starts_with("WP") && name.ends_with(".md") {
                    let front = frontmatter(&path);
                    wps.insert(front.work_package_id.clone(), front);
                }
            }
            let slug = dir.file_name().unwrap().to_string_lossy().to_string();
            features.push(Feature { slug, tasks_md, wps });
        }
        features.sort_by(|a, b| a.slug.cmp(&b.slug));
        features
    }

    /// Where our parse legitimately differs from the `dependencies:` finalize-tasks wrote. Both come from a
    /// `Depends on WPxx … and WPyy …` sentence that upstream's comma-only regex cut after the first id; the
    /// sections' own text declares both ids. (045's summary claims WP05 does not need WP04, contradicting
    /// WP05's section; we follow the section.)
    const KNOWN_DIFFERENCES: [(&str, &str, &[&str]); 2] = [
        ("045-constitution-doctrine-config-sync", "WP05", &["WP03", "WP04"]),
        ("053-doctrine-governance-layer-refactor", "WP04", &["WP02", "WP03"]),
    ];

    #[test]
    fn fixtures_parse_into_their_work_packages() {
        let features = fixture_features();
        for feature in &features {
            let ids: Vec<String> = wp_sections(&feature.tasks_md).into_iter().map(|s| s.id).collect();
            let files: Vec<String> = feature.wps.keys().cloned().collect();
            assert_eq!(ids, files, "{}: sections vs tasks/WP*.md", feature.slug);
        }
        if !features.is_empty() {
            assert_eq!(features.len(), 5);
        }
    }

    #[test]
    fn fixture_dependencies_match_finalize_tasks_output() {
        for feature in fixture_features() {
            let graph = parse_dependencies(&feature.tasks_md);
            for (wp, front) in &feature.wps {
                let known = KNOWN_DIFFERENCES.iter().find(|(slug, id, _)| *slug == feature.slug && id == wp);
                let expected = match known {
                    Some((_, _, ours)) => strings(ours),
                    None => front.dependencies.clone(),
                };
                assert_eq!(graph[wp], expected, "{} {wp}", feature.slug);
            }
        }
    }

    #[test]
    fn fixture_subtasks_match_the_wp_files() {
        for feature in fixture_features() {
            for section in wp_sections(&feature.tasks_md) {
                let ids: Vec<String> = section.subtasks.iter().map(|t| t.id.clone().unwrap()).collect();
                assert_eq!(ids, feature.wps[&section.id].subtasks, "{} {}", feature.slug, section.id);
                for id in &ids {
                    assert_eq!(owning_wp(&feature.tasks_md, id).as_deref(), Some(section.id.as_str()));
                }
            }
        }
    }

    #[test]
    fn fixture_graphs_validate_and_order() {
        use crate::workflow::graph::{detect_cycles, topological_order, validate_dependencies};
        for feature in fixture_features() {
            let graph = parse_dependencies(&feature.tasks_md);
            assert!(detect_cycles(&graph).is_empty(), "{}", feature.slug);
            for (wp, deps) in &graph {
                assert!(validate_dependencies(wp, deps, &graph).is_empty(), "{} {wp}", feature.slug);
            }
            let order = topological_order(&graph).unwrap();
            assert_eq!(order.len(), graph.len());
        }
    }

    #[test]
    fn seed_001_does_not_depend_on_wp03() {
        let Some(seeds) = shared_dir("seeds") else { return };
        let seed = std::fs::read_dir(seeds)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("001_"))
            .expect("seed 001");
        let text = std::fs::read_to_string(seed).unwrap();
        let wp04 = wp_section(&text, "WP04").unwrap();
        assert!(wp04.dependencies.contains(&"WP01".to_string()));
        assert_eq!(wp04.dependencies, ["WP01"], "the `Does NOT depend on WP03` line must not add WP03");
        assert_eq!(deps_of(&text, "WP05"), ["WP02", "WP04"]);
    }

    #[test]
    fn fixture_mark_status_is_byte_stable() {
        for feature in fixture_features() {
            let text = &feature.tasks_md;
            for section in wp_sections(text) {
                for subtask in &section.subtasks {
                    let id = subtask.id.clone().unwrap();
                    let flipped = mark_status(text, [&id], !subtask.done);
                    assert_eq!(changed_lines(text, &flipped.text), [subtask.line], "{} {id}", feature.slug);
                    let restored = mark_status(&flipped.text, [&id], subtask.done);
                    assert_eq!(&restored.text, text, "{} {id}", feature.slug);
                }
            }
            let crlf = text.replace('\n', "\r\n");
            let all: Vec<String> =
                wp_sections(&crlf).iter().flat_map(|s| s.subtasks.iter()).map(|t| t.label.clone()).collect();
            let done = mark_status(&crlf, &all, true);
            assert!(done.not_found.is_empty());
            assert_eq!(done.text.matches("\r\n").count(), crlf.matches("\r\n").count());
            assert!(!unchecked_lines(&done.text).iter().any(|l| l.contains(" T0")), "{}", feature.slug);
        }
    }

    // ---- robustness -----------------------------------------------------------------------------------------

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Text made of the tokens the scanners react to, so random documents exercise the interesting paths.
        fn markdownish() -> impl Strategy<Value = String> {
            let token = prop::sample::select(vec![
                "## ",
                "### ",
                "#",
                "Work Package ",
                "WP01",
                "WP02",
                "WP1",
                "WP012",
                ":",
                " ",
                "\n",
                "\r\n",
                "\r",
                "- [ ] ",
                "- [x] ",
                "-[X]",
                "[",
                "]",
                "T001",
                "T0012",
                "Depends on ",
                "depends",
                " on ",
                "not ",
                "Dependencies:",
                "**",
                "(",
                ")",
                ",",
                " and ",
                "```",
                "~~~",
                "é",
                "—",
                "\u{feff}",
                "\u{2028}",
                "None",
            ]);
            prop::collection::vec(token, 0..60).prop_map(|tokens| tokens.concat())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn scanners_never_panic(text in markdownish(), noise in "\\PC{0,40}") {
                for text in [text.as_str(), noise.as_str()] {
                    let sections = wp_sections(text);
                    for section in &sections {
                        prop_assert!(section.bytes.end <= text.len());
                        prop_assert!(section.lines.start < section.lines.end);
                    }
                    let _ = parse_dependencies(text);
                    let _ = parse_dependencies_legacy(text);
                    let _ = unchecked_subtasks(text, "WP01");
                    let _ = owning_wp(text, "T001");
                    let _ = has_unchecked(text);
                    let _ = unchecked_lines(text);
                    let _ = clarification_marker_lines(text);
                }
            }

            #[test]
            fn mark_status_touches_at_most_the_marked_line(text in markdownish(), done in any::<bool>()) {
                let out = mark_status(&text, ["T001"], done);
                let changed = changed_lines(&text, &out.text);
                prop_assert!(changed.len() <= 1);
                prop_assert_eq!(out.updated.is_empty(), out.not_found.len() == 1);
                if out.not_found.len() == 1 {
                    prop_assert_eq!(&out.text, &text);
                }
            }

            #[test]
            fn dependencies_are_sorted_unique_wp_ids(text in markdownish()) {
                for deps in parse_dependencies(&text).values() {
                    prop_assert!(deps.windows(2).all(|w| w[0] < w[1]));
                    prop_assert!(deps.iter().all(|d| is_wp_id(d)));
                }
            }
        }
    }
}
