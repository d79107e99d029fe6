//! Which work packages each section of tasks.md depends on (`feature finalize-tasks`), and the legacy
//! parser of `agent tasks finalize-tasks`.

use super::scan::*;
use super::wp_sections;
use std::collections::BTreeMap;

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

pub(super) fn declared_dependencies(scope: &str, own_id: &str) -> Vec<String> {
    let mut deps = depends_on_statements(scope, own_id);
    deps.extend(dependencies_label(scope));
    deps.sort();
    deps.dedup();
    deps
}

/// Ids of every affirmative `depend(s) on WPxx[, WPyy …]` statement in `scope`.
pub(super) fn depends_on_statements(scope: &str, own_id: &str) -> Vec<String> {
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
pub(super) fn after_depends_on(lower: &str, mut at: usize) -> Option<usize> {
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
pub(super) fn is_about_other_or_negated(before: &str, own_id: &str) -> bool {
    let clause = current_clause(before);
    let words: Vec<&str> = clause.split_whitespace().collect();
    let last_three = &words[words.len().saturating_sub(3)..];
    let subject = last_three.last().map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()));
    let about_other = subject.is_some_and(|s| is_wp_id(s) && s != own_id);
    about_other || last_three.iter().any(|w| is_negation(w))
}

/// The text after the last clause boundary (line break or sentence punctuation).
pub(super) fn current_clause(before: &str) -> &str {
    let cut = before.rfind(['\n', '.', ';', ':', '!', '?']).map_or(0, |i| i + 1);
    &before[cut..]
}

/// The first `Dependencies:` label of the scope and the ids it declares.
pub(super) fn dependencies_label(scope: &str) -> Vec<String> {
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
pub(super) fn after_label_colon(scope: &str, at: usize) -> Option<usize> {
    let rest = &scope[at..];
    let rest = rest.trim_start_matches(['*', '_']).trim_start_matches([' ', '\t']);
    let rest = rest.strip_prefix(':')?.trim_start_matches(['*', '_']);
    Some(scope.len() - rest.len())
}

/// The value under an empty `Dependencies:` label: the bullets right below it, else the next non-blank line
/// (which is what upstream's `Dependencies:\s*(.+)` captured).
pub(super) fn ids_in_list_below(below: &str) -> Vec<String> {
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
pub(super) fn ids_in_value(value: &str) -> Vec<String> {
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

pub(super) fn starts_with_none(value: &str) -> bool {
    let first = value.split_whitespace().next().unwrap_or("");
    let word = first.trim_end_matches(|c: char| !c.is_alphanumeric() && c != '/').to_ascii_lowercase();
    matches!(word.as_str(), "none" | "no" | "n/a" | "nothing") || first.starts_with(is_dash)
}

/// `WP01`, `WP01, WP02`, `WP02 (query layer) and WP04`: the ids of a list starting at `s`, on one line.
pub(super) fn id_list_at(s: &str) -> Vec<String> {
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
pub(super) fn after_list_separator(s: &str) -> Option<&str> {
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
pub(super) fn skip_note(s: &str) -> &str {
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

pub(super) fn legacy_declaration(line: &str) -> Vec<String> {
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
