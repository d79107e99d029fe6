//! The `## Activity Log` and `## Review Feedback` sections of a work-package prompt body.
//!
//! Mirrors upstream's `tasks_support.append_activity_log` / `activity_entries` and move-task's review
//! feedback upsert. All functions take and return the body text (see [`super::frontmatter::WpDocument`]),
//! touch only the lines they add or replace, and write new lines with the body's own line ending.

use chrono::{DateTime, Utc};

use super::frontmatter::line_content;

/// The header of the Activity Log section (upstream matches it as a prefix).
pub const ACTIVITY_LOG_HEADER: &str = "## Activity Log";
/// The title of the Review Feedback section (the header is `## Review Feedback`).
pub const REVIEW_FEEDBACK_TITLE: &str = "Review Feedback";
/// Timestamps of Activity Log entries (UTC, whole seconds).
pub const TIMESTAMP_FORMAT: &str = "%Y-%m-%dT%H:%M:%SZ";
/// Field separator of entries written by upstream: an EN DASH (U+2013) between spaces.
const SEPARATOR: &str = " \u{2013} ";

/// One Activity Log line: `- {timestamp} – {agent} – [shell_pid={pid} – ]lane={lane} – {note}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityEntry {
    /// `%Y-%m-%dT%H:%M:%SZ`, see [`ActivityEntry::timestamp_at`].
    pub timestamp: String,
    pub agent: String,
    /// `None` (or empty) leaves the `shell_pid=` part out.
    pub shell_pid: Option<String>,
    pub lane: String,
    pub note: String,
}

impl ActivityEntry {
    /// `at` in the entry timestamp format.
    pub fn timestamp_at(at: DateTime<Utc>) -> String {
        at.format(TIMESTAMP_FORMAT).to_string()
    }

    /// The entry as upstream writes it. Line breaks inside a field become spaces, so an entry is always
    /// one line (upstream writes them raw, which splits the entry and hides its tail from the parser).
    pub fn format(&self) -> String {
        let shell = match self.shell_pid.as_deref() {
            Some(pid) if !pid.is_empty() => format!("shell_pid={}{SEPARATOR}", one_line(pid)),
            _ => String::new(),
        };
        format!(
            "- {}{SEPARATOR}{}{SEPARATOR}{shell}lane={}{SEPARATOR}{}",
            one_line(&self.timestamp),
            one_line(&self.agent),
            one_line(&self.lane),
            one_line(&self.note)
        )
    }
}

/// Appends `entry` as the last line of the Activity Log section.
///
/// With a section (the first line starting with `## Activity Log`; it runs to the next `## ` line or the
/// end) the entry goes right after its last non-blank line, so blank lines before the next header stay
/// where they are (upstream strips them; in the common one-blank-line and end-of-file cases the result is
/// the same). Without one, upstream's block `## Activity Log\n\n{entry}\n` is appended: after the body as is
/// when it ends in a blank line, else after the body with its trailing whitespace trimmed and one blank line.
pub fn append_activity(body: &str, entry: &ActivityEntry) -> String {
    let eol = line_ending_of(body);
    let entry_line = entry.format();
    match find_section(body, is_activity_log_header) {
        Some(section) => insert_after_last_content(body, section, &entry_line, eol),
        None => append_activity_section(body, &entry_line, eol),
    }
}

/// Every Activity Log entry in `body`, in file order, read like upstream's `activity_entries`: separators
/// may be `–` or `-`, the agent may contain spaces and hyphens (the shortest agent that lets the rest of the
/// line match wins), the `shell_pid=` part is optional and the lane is `[a-z_]+`. Lines anywhere in the body
/// count, as upstream scans the whole body; lines that do not match are skipped.
pub fn parse_activity(body: &str) -> Vec<ActivityEntry> {
    body.lines().filter_map(parse_entry_line).collect()
}

/// Writes the `## Review Feedback` section move-task adds when a work package goes back to `planned`:
///
/// ```text
/// ## Review Feedback
///
/// **Reviewed by**: {reviewer}
/// **Status**: ❌ Changes Requested
/// **Date**: {date}
/// **Feedback file**: `{feedback_file}`
///
/// {content}
///
/// ```
///
/// An existing section (a `## Review Feedback` line, up to the next `## ` line or the end) is replaced.
/// Otherwise the section goes before the Activity Log, or at the end, after one blank line. `content` is
/// trimmed (upstream trims the feedback file) and its line endings follow the body's. The section always
/// ends in exactly one blank line before the next header; some of upstream's code paths leave two.
pub fn upsert_review_feedback(body: &str, reviewer: &str, date: &str, feedback_file: &str, content: &str) -> String {
    let eol = line_ending_of(body);
    let section = review_feedback_section(reviewer, date, feedback_file, content).replace('\n', eol);
    if let Some(existing) = find_section(body, is_review_feedback_header) {
        return [&body[..existing.start], &section, &body[existing.end..]].concat();
    }
    let (before, after) = match find_section(body, is_activity_log_header) {
        Some(log) => body.split_at(log.start),
        None => (body, ""),
    };
    let before = before.trim_end();
    let separator = if before.is_empty() { String::new() } else { eol.repeat(2) };
    [before, &separator, &section, after].concat()
}

/// Byte range of a section: its header line up to the next `## ` line (or the end of the body).
#[derive(Debug, Clone, Copy)]
struct Section {
    start: usize,
    end: usize,
}

fn find_section(body: &str, is_header: fn(&str) -> bool) -> Option<Section> {
    let mut lines = lines_with_offsets(body);
    let (start, _) = lines.by_ref().find(|(_, line)| is_header(line_content(line)))?;
    let end = lines.find(|(_, line)| line.starts_with("## ")).map_or(body.len(), |(offset, _)| offset);
    Some(Section { start, end })
}

fn is_activity_log_header(content: &str) -> bool {
    content.starts_with(ACTIVITY_LOG_HEADER)
}

/// `## Review Feedback` with any spacing, as upstream's `^##\s+Review Feedback\s*$`; not the
/// `## ⚠️ IMPORTANT: Review Feedback Status` notice.
fn is_review_feedback_header(content: &str) -> bool {
    content
        .strip_prefix("##")
        .filter(|rest| rest.starts_with(char::is_whitespace))
        .is_some_and(|rest| rest.trim() == REVIEW_FEEDBACK_TITLE)
}

/// Lines of `text` with their line breaks, paired with their byte offsets.
fn lines_with_offsets(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split_inclusive('\n').scan(0, |offset, line| {
        let start = *offset;
        *offset += line.len();
        Some((start, line))
    })
}

/// The body's line break, from its first line; `\n` for a body without one.
fn line_ending_of(text: &str) -> &'static str {
    match text.find('\n') {
        Some(index) if text[..index].ends_with('\r') => "\r\n",
        _ => "\n",
    }
}

fn insert_after_last_content(body: &str, section: Section, entry_line: &str, eol: &str) -> String {
    let last_content = lines_with_offsets(&body[section.start..section.end])
        .filter(|(_, line)| !line.trim().is_empty())
        .last()
        .map(|(offset, line)| (section.start + offset + line.len(), line.ends_with('\n')));
    // The header line itself is never blank, so the fallback is only for safety.
    let (insert_at, ends_with_break) = last_content.unwrap_or((section.start, true));
    let missing_break = if ends_with_break { "" } else { eol };
    [&body[..insert_at], missing_break, entry_line, eol, &body[insert_at..]].concat()
}

/// Upstream's branch for a body without an Activity Log.
fn append_activity_section(body: &str, entry_line: &str, eol: &str) -> String {
    let block = format!("{ACTIVITY_LOG_HEADER}{eol}{eol}{entry_line}{eol}");
    // Upstream's body excludes the blank lines right after the frontmatter; ours includes them, so a
    // whitespace-only body here is upstream's empty body.
    if body.trim().is_empty() {
        return [body, &block].concat();
    }
    if body.ends_with(&eol.repeat(2)) {
        return [body, eol, &block].concat();
    }
    [body.trim_end(), eol, eol, &block].concat()
}

fn review_feedback_section(reviewer: &str, date: &str, feedback_file: &str, content: &str) -> String {
    let content = content.trim().replace("\r\n", "\n");
    format!(
        "## {REVIEW_FEEDBACK_TITLE}\n\n**Reviewed by**: {reviewer}\n**Status**: \u{274c} Changes Requested\n\
         **Date**: {date}\n**Feedback file**: `{feedback_file}`\n\n{content}\n\n"
    )
}

/// `text` with each run of line breaks replaced by one space.
fn one_line(text: &str) -> String {
    if !text.contains(['\n', '\r']) {
        return text.to_string();
    }
    text.split(['\n', '\r']).filter(|part| !part.is_empty()).collect::<Vec<_>>().join(" ")
}

/// Upstream's entry regex, `^\s*-\s*(ts)\s+[–-]\s+(agent)\s+[–-]\s+(?:shell_pid=(\S*)\s+[–-]\s+)?`
/// `lane=([a-z_]+)\s+[–-]\s+(note)$`, applied to one line.
fn parse_entry_line(line: &str) -> Option<ActivityEntry> {
    let rest = line.trim_start().strip_prefix('-')?.trim_start();
    let timestamp_len =
        rest.find(|c: char| !(c.is_ascii_digit() || matches!(c, 'T' | ':' | '-'))).unwrap_or(rest.len());
    if timestamp_len == 0 || !rest[timestamp_len..].starts_with('Z') {
        return None;
    }
    let timestamp = &rest[..=timestamp_len];
    let after_timestamp = strip_separator(&rest[timestamp_len + 1..])?;
    // The agent is lazy in upstream's regex: try the shortest run of words first.
    word_ends(after_timestamp).find_map(|agent_end| {
        let (shell_pid, lane, note) = parse_after_agent(&after_timestamp[agent_end..])?;
        Some(ActivityEntry {
            timestamp: timestamp.to_string(),
            agent: after_timestamp[..agent_end].trim().to_string(),
            shell_pid: shell_pid.filter(|pid| !pid.is_empty()).map(str::to_string),
            lane: lane.to_string(),
            note: note.trim().to_string(),
        })
    })
}

/// `\s+[–-]\s+`: the text after the separator, or `None` when `text` does not start with one.
fn strip_separator(text: &str) -> Option<&str> {
    let after_space = text.trim_start();
    if after_space.len() == text.len() {
        return None;
    }
    let after_dash = after_space.strip_prefix(['\u{2013}', '-'])?;
    let after_second_space = after_dash.trim_start();
    (after_second_space.len() < after_dash.len()).then_some(after_second_space)
}

/// Byte offsets where a word ends (followed by whitespace), in order.
fn word_ends(text: &str) -> impl Iterator<Item = usize> + '_ {
    let mut previous_is_word = false;
    text.char_indices().filter_map(move |(index, c)| {
        let ends_word = previous_is_word && c.is_whitespace();
        previous_is_word = !c.is_whitespace();
        ends_word.then_some(index)
    })
}

/// `\s+[–-]\s+(?:shell_pid=(\S*)\s+[–-]\s+)?lane=([a-z_]+)\s+[–-]\s+(.*)`, as `(shell_pid, lane, note)`.
fn parse_after_agent(text: &str) -> Option<(Option<&str>, &str, &str)> {
    let fields = strip_separator(text)?;
    let with_shell = fields.strip_prefix("shell_pid=").and_then(|after_key| {
        let pid_len = after_key.find(char::is_whitespace).unwrap_or(after_key.len());
        let (lane, note) = parse_lane_and_note(strip_separator(&after_key[pid_len..])?)?;
        Some((Some(&after_key[..pid_len]), lane, note))
    });
    with_shell.or_else(|| parse_lane_and_note(fields).map(|(lane, note)| (None, lane, note)))
}

/// `lane=([a-z_]+)\s+[–-]\s+(.*)`.
fn parse_lane_and_note(text: &str) -> Option<(&str, &str)> {
    let after_key = text.strip_prefix("lane=")?;
    let lane_len = after_key.find(|c: char| !(c.is_ascii_lowercase() || c == '_')).unwrap_or(after_key.len());
    if lane_len == 0 {
        return None;
    }
    let note = strip_separator(&after_key[lane_len..])?;
    Some((&after_key[..lane_len], note))
}

#[cfg(test)]
mod tests {
    use super::super::frontmatter::WpDocument;
    use super::super::frontmatter::fixtures::{assert_one_line_inserted, lines, to_crlf, wp_files};
    use super::*;
    use proptest::prelude::*;

    fn entry(agent: &str, shell_pid: Option<&str>, lane: &str, note: &str) -> ActivityEntry {
        ActivityEntry {
            timestamp: "2026-02-16T14:22:43Z".to_string(),
            agent: agent.to_string(),
            shell_pid: shell_pid.map(str::to_string),
            lane: lane.to_string(),
            note: note.to_string(),
        }
    }

    fn body_of(text: &str) -> String {
        WpDocument::parse(text).expect("fixture parses").body().to_string()
    }

    /// Index of the line after the Activity Log section's last non-blank line.
    fn end_of_log_content(body: &str) -> usize {
        let all = lines(body);
        let header = all.iter().position(|line| line.starts_with(ACTIVITY_LOG_HEADER)).expect("fixture has a log");
        let section_end =
            all.iter().skip(header + 1).position(|line| line.starts_with("## ")).map_or(all.len(), |i| header + 1 + i);
        (header..section_end).rev().find(|&i| !all[i].trim().is_empty()).map_or(header + 1, |i| i + 1)
    }

    #[test]
    fn format_writes_upstreams_line_with_en_dashes() {
        let with_pid = entry("claude", Some("807657"), "doing", "Assigned agent via workflow command");
        assert_eq!(
            with_pid.format(),
            "- 2026-02-16T14:22:43Z \u{2013} claude \u{2013} shell_pid=807657 \u{2013} lane=doing \u{2013} \
             Assigned agent via workflow command"
        );
        let without_pid = entry("system", None, "planned", "Prompt created.");
        assert_eq!(without_pid.format(), "- 2026-02-16T14:22:43Z – system – lane=planned – Prompt created.");
        assert_eq!(
            entry("system", Some(""), "planned", "x").format(),
            "- 2026-02-16T14:22:43Z – system – lane=planned – x"
        );
        assert_eq!(
            entry("a", None, "done", "two\r\nlines\n").format(),
            "- 2026-02-16T14:22:43Z – a – lane=done – two lines"
        );
    }

    #[test]
    fn timestamp_uses_whole_seconds_and_z() {
        let at = DateTime::parse_from_rfc3339("2026-02-16T14:22:43.987654+00:00").unwrap().with_timezone(&Utc);
        assert_eq!(ActivityEntry::timestamp_at(at), "2026-02-16T14:22:43Z");
    }

    #[test]
    fn fixtures_every_log_line_parses_and_en_dash_lines_format_back_identically() {
        for (path, text) in wp_files() {
            let body = body_of(&text);
            let entry_lines: Vec<&str> =
                body.lines().filter(|line| line.starts_with("- 20") && line.contains("lane=")).collect();
            let entries = parse_activity(&body);
            assert_eq!(entries.len(), entry_lines.len(), "{}", path.display());
            assert!(!entries.is_empty(), "{}", path.display());
            for (line, parsed) in entry_lines.iter().zip(&entries) {
                assert!(line.contains(&format!("lane={} ", parsed.lane)), "{}: {line}", path.display());
                if line.contains('\u{2013}') {
                    assert_eq!(parsed.format(), *line, "{}", path.display());
                }
            }
        }
    }

    #[test]
    fn fixtures_append_adds_one_line_at_the_end_of_the_log() {
        let new_entry = entry("codex", Some("4242"), "for_review", "Ready for review");
        for (path, text) in wp_files() {
            for variant in [text.clone(), to_crlf(&text)] {
                let body = body_of(&variant);
                let appended = append_activity(&body, &new_entry);
                let eol = if variant.contains("\r\n") { "\r\n" } else { "\n" };
                let inserted = format!("{}{eol}", new_entry.format());
                assert_one_line_inserted(&body, &appended, end_of_log_content(&body), &inserted, &path);
                let (before, after) = (parse_activity(&body), parse_activity(&appended));
                assert_eq!(after.len(), before.len() + 1, "{}", path.display());
                assert_eq!(after.last(), Some(&new_entry), "{}", path.display());
            }
            // Without a final newline the last line gets one, as upstream writes it.
            let body = body_of(text.trim_end_matches('\n'));
            let appended = append_activity(&body, &new_entry);
            assert_eq!(appended, format!("{body}\n{}\n", new_entry.format()), "{}", path.display());
        }
    }

    #[test]
    fn fixtures_review_feedback_replaces_the_section_or_goes_before_the_log() {
        for (path, text) in wp_files() {
            for variant in [text.clone(), to_crlf(&text)] {
                let body = body_of(&variant);
                let eol = if variant.contains("\r\n") { "\r\n" } else { "\n" };
                let updated = upsert_review_feedback(&body, "Reviewer", "2026-02-20", "/tmp/f.md", "**Issue**: x");
                let section = format!(
                    "## Review Feedback{eol}{eol}**Reviewed by**: Reviewer{eol}**Status**: ❌ Changes Requested{eol}\
                     **Date**: 2026-02-20{eol}**Feedback file**: `/tmp/f.md`{eol}{eol}**Issue**: x{eol}{eol}"
                );
                let (before, after) = match find_section(&body, is_review_feedback_header) {
                    Some(old) => (body[..old.start].to_string(), body[old.end..].to_string()),
                    None => {
                        let log = body.find("\n## Activity Log").expect("fixture has a log") + 1;
                        (format!("{}{eol}{eol}", body[..log].trim_end()), body[log..].to_string())
                    }
                };
                assert_eq!(updated, format!("{before}{section}{after}"), "{}", path.display());
                assert_eq!(parse_activity(&updated), parse_activity(&body), "{}", path.display());
            }
        }
    }

    #[test]
    fn append_creates_the_section_like_upstream() {
        let line = entry("a", None, "planned", "n").format();
        let block = format!("## Activity Log\n\n{line}\n");
        assert_eq!(append_activity("", &entry("a", None, "planned", "n")), block);
        assert_eq!(append_activity("\n", &entry("a", None, "planned", "n")), format!("\n{block}"));
        assert_eq!(append_activity("# T\n", &entry("a", None, "planned", "n")), format!("# T\n\n{block}"));
        assert_eq!(append_activity("# T", &entry("a", None, "planned", "n")), format!("# T\n\n{block}"));
        assert_eq!(append_activity("# T  \n\n", &entry("a", None, "planned", "n")), format!("# T  \n\n\n{block}"));
        assert_eq!(append_activity("# T\n \n", &entry("a", None, "planned", "n")), format!("# T\n\n{block}"));
        let crlf = append_activity("# T\r\n", &entry("a", None, "planned", "n"));
        assert_eq!(crlf, format!("# T\r\n\r\n## Activity Log\r\n\r\n{line}\r\n"));
    }

    #[test]
    fn append_goes_to_the_end_of_the_log_section_not_the_file() {
        let new = entry("b", Some("1"), "done", "ok");
        let body = "# T\n\n## Activity Log\n\n- 2026-01-01T00:00:00Z – a – lane=planned – x\n\n\n## Notes\n\ntext\n";
        let expected = format!(
            "# T\n\n## Activity Log\n\n- 2026-01-01T00:00:00Z – a – lane=planned – x\n{}\n\n\n## Notes\n\ntext\n",
            new.format()
        );
        assert_eq!(append_activity(body, &new), expected);

        let empty_log = "## Activity Log\n## Next\n";
        assert_eq!(append_activity(empty_log, &new), format!("## Activity Log\n{}\n## Next\n", new.format()));

        // A `###` subsection stays inside the log, as in upstream (`\n## ` ends a section, `\n### ` does not).
        let with_subsection = "## Activity Log\n\n### How to update\n\ntext\n";
        assert_eq!(append_activity(with_subsection, &new), format!("{with_subsection}{}\n", new.format()));
    }

    #[test]
    fn append_ignores_a_header_mentioned_inside_a_line() {
        let new = entry("b", None, "done", "ok");
        let body = "Append to the `## Activity Log` section.\n";
        assert_eq!(append_activity(body, &new), format!("{body}\n## Activity Log\n\n{}\n", new.format()));
    }

    #[test]
    fn parse_accepts_upstreams_variants() {
        let body = concat!(
            "- 2026-02-03T18:58:09Z - system - lane=planned - Prompt created.\n",
            "  -   2026-02-03T19:29:53Z – claude opus – shell_pid=64523 – lane=doing – Started – again  \n",
            "- 2026-02-04T10:46:03Z – cursor-agent – shell_pid= – lane=for_review – note\r\n",
            "- 2026-02-04T10:46:03Z – a – b – lane=in_progress – agent has a dash\n",
            "- 2026-02-04T10:46:03Z – a – lane=Done – uppercase lane\n",
            "- 2026-02-04T10:46:03 – a – lane=done – no Z\n",
            "- 2026-02-04T10:46:03Z – a – lane=done –\n",
            "- 2026-02-04T10:46:03Z — a — lane=done — em dashes\n",
            "prose – lane=done – not an entry\n",
        );
        let parsed = parse_activity(body);
        let expected = [
            ("2026-02-03T18:58:09Z", "system", None, "planned", "Prompt created."),
            ("2026-02-03T19:29:53Z", "claude opus", Some("64523"), "doing", "Started – again"),
            ("2026-02-04T10:46:03Z", "cursor-agent", None, "for_review", "note"),
            ("2026-02-04T10:46:03Z", "a – b", None, "in_progress", "agent has a dash"),
        ];
        let expected: Vec<ActivityEntry> = expected
            .iter()
            .map(|(timestamp, agent, shell_pid, lane, note)| ActivityEntry {
                timestamp: timestamp.to_string(),
                agent: agent.to_string(),
                shell_pid: shell_pid.map(str::to_string),
                lane: lane.to_string(),
                note: note.to_string(),
            })
            .collect();
        assert_eq!(parsed, expected);
    }

    #[test]
    fn review_feedback_replaces_an_existing_section_up_to_the_next_header() {
        let body = concat!(
            "# WP01\n\n## Review Feedback\n\n**Reviewed by**: Old\n\n### Issue 1\nold text\n\n",
            "## Objectives\n\ngoals\n\n## Activity Log\n\n- entry\n"
        );
        let updated = upsert_review_feedback(body, "New", "2026-02-20", "/abs/f.md", "\n  new text\n\n");
        assert_eq!(
            updated,
            concat!(
                "# WP01\n\n## Review Feedback\n\n**Reviewed by**: New\n**Status**: ❌ Changes Requested\n",
                "**Date**: 2026-02-20\n**Feedback file**: `/abs/f.md`\n\nnew text\n\n",
                "## Objectives\n\ngoals\n\n## Activity Log\n\n- entry\n"
            )
        );
        // At the end of the body the section simply ends the file.
        let at_end = upsert_review_feedback("# WP01\n\n## Review Feedback\n\nold\n", "R", "2026-02-20", "f", "new");
        assert!(at_end.ends_with("`f`\n\nnew\n\n") && at_end.starts_with("# WP01\n\n## Review Feedback\n\n**"));
        // The notice that mentions Review Feedback in its title is a different section.
        let notice = "## ⚠️ IMPORTANT: Review Feedback Status\n\ntext\n";
        assert!(upsert_review_feedback(notice, "R", "d", "f", "c").starts_with(notice));
    }

    #[test]
    fn review_feedback_is_inserted_before_the_log_or_at_the_end() {
        let section = |eol: &str| {
            format!(
                "## Review Feedback{eol}{eol}**Reviewed by**: R{eol}**Status**: ❌ Changes Requested{eol}\
                 **Date**: 2026-02-20{eol}**Feedback file**: `f`{eol}{eol}line 1{eol}line 2{eol}{eol}"
            )
        };
        let content = "line 1\r\nline 2";
        let with_log = "# WP\n\ntext\n\n---\n\n## Activity Log\n\n- e\n";
        assert_eq!(
            upsert_review_feedback(with_log, "R", "2026-02-20", "f", content),
            format!("# WP\n\ntext\n\n---\n\n{}## Activity Log\n\n- e\n", section("\n"))
        );
        assert_eq!(
            upsert_review_feedback("# WP\r\ntext  \r\n\r\n", "R", "2026-02-20", "f", content),
            format!("# WP\r\ntext\r\n\r\n{}", section("\r\n"))
        );
        assert_eq!(upsert_review_feedback("", "R", "2026-02-20", "f", content), section("\n"));
        assert_eq!(
            upsert_review_feedback("## Activity Log\n", "R", "2026-02-20", "f", content),
            format!("{}## Activity Log\n", section("\n"))
        );
    }

    fn arbitrary_entry() -> impl Strategy<Value = ActivityEntry> {
        (
            "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z",
            "[a-z][a-z0-9_-]{0,8}( [a-z][a-z0-9_-]{0,8})?",
            prop::option::of("[0-9]{1,7}"),
            "[a-z_]{1,12}",
            "[^\\s]([^\r\n]{0,20}[^\\s])?",
        )
            .prop_map(|(timestamp, agent, shell_pid, lane, note)| ActivityEntry {
                timestamp,
                agent,
                shell_pid,
                lane,
                note,
            })
    }

    proptest! {
        #[test]
        fn formatted_entries_parse_back(entry in arbitrary_entry()) {
            prop_assert_eq!(parse_activity(&entry.format()), vec![entry]);
        }

        #[test]
        fn append_adds_exactly_one_parsed_entry(body in any::<String>(), entry in arbitrary_entry()) {
            let appended = append_activity(&body, &entry);
            let (before, after) = (parse_activity(&body), parse_activity(&appended));
            prop_assert_eq!(after.len(), before.len() + 1);
            prop_assert!(after.contains(&entry));
        }

        #[test]
        fn review_feedback_never_panics(body in any::<String>(), content in any::<String>()) {
            let updated = upsert_review_feedback(&body, "R", "2026-02-20", "f", &content);
            prop_assert!(updated.contains("**Status**: ❌ Changes Requested"));
        }
    }
}
