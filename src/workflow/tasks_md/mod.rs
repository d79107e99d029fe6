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

mod dependencies;
mod scan;
mod subtasks;

pub use dependencies::{parse_dependencies, parse_dependencies_legacy};
pub use subtasks::{
    CLARIFICATION_MARKER, clarification_marker_lines, has_clarification_marker, has_unchecked, mark_status, owning_wp,
    subtasks_complete, unchecked_lines, unchecked_subtasks,
};

use dependencies::declared_dependencies;
pub(crate) use scan::is_wp_id;
use scan::*;
use std::ops::Range;
use subtasks::subtask;

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

#[cfg(test)]
mod tests;
