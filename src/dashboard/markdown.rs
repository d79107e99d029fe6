//! A small, safe Markdown renderer for the planning documents the dashboard shows.
//!
//! Safe by construction: every piece of document text goes through [`escape`]; raw HTML in the document
//! is shown as text (HTML comments, such as the status-block markers, are dropped), never passed
//! through; links keep an `href` only for `http:`, `https:`, `mailto:` and in-page `#…` targets; images
//! are not loaded (their alt text is shown). The page serves this HTML under a Content-Security-Policy
//! that forbids inline scripts as a second line of defence.
//!
//! Covered: ATX headings, paragraphs, emphasis (`*`, `_`, `**`, `__`, `~~`), code spans, fenced code,
//! block quotes, ordered and unordered lists (nested by indentation, with task checkboxes), pipe tables,
//! horizontal rules, a leading YAML frontmatter block (shown as code), hard line breaks.

/// Renders `text` to an HTML fragment.
pub fn render(text: &str) -> String {
    let text = text.replace("\r\n", "\n");
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::with_capacity(text.len() * 3 / 2);
    let mut start = 0;
    if lines.first().is_some_and(|l| l.trim_end() == "---")
        && let Some(end) = lines.iter().skip(1).position(|l| l.trim_end() == "---")
    {
        out.push_str("<pre class=\"frontmatter\"><code>");
        out.push_str(&escape(&lines[1..=end].join("\n")));
        out.push_str("</code></pre>\n");
        start = end + 2;
    }
    blocks(&lines[start..], &mut out);
    out
}

/// HTML-escapes text for element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn blocks(lines: &[&str], out: &mut String) {
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        if trimmed.is_empty() {
            i += 1;
        } else if let Some(fence) = fence_of(trimmed) {
            let lang: String = trimmed[fence.len()..]
                .trim()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+'))
                .collect();
            let end = lines[i + 1..]
                .iter()
                .position(|l| l.trim_start().starts_with(fence))
                .map_or(lines.len(), |p| i + 1 + p);
            let class = if lang.is_empty() { String::new() } else { format!(" class=\"lang-{}\"", escape(&lang)) };
            out.push_str(&format!("<pre><code{class}>"));
            out.push_str(&escape(&lines[i + 1..end].join("\n")));
            out.push_str("</code></pre>\n");
            i = end + 1;
        } else if is_comment_only(trimmed) {
            i += 1;
        } else if let Some((level, title)) = heading(trimmed) {
            out.push_str(&format!("<h{level} id=\"{}\">{}</h{level}>\n", escape(&anchor(title)), inline(title)));
            i += 1;
        } else if is_rule(trimmed) {
            out.push_str("<hr>\n");
            i += 1;
        } else if trimmed.starts_with('>') {
            let end = lines[i..].iter().position(|l| !l.trim_start().starts_with('>')).map_or(lines.len(), |p| i + p);
            let inner: Vec<&str> = lines[i..end]
                .iter()
                .map(|l| {
                    let rest = &l.trim_start()[1..];
                    rest.strip_prefix(' ').unwrap_or(rest)
                })
                .collect();
            out.push_str("<blockquote>\n");
            blocks(&inner, out);
            out.push_str("</blockquote>\n");
            i = end;
        } else if list_item(line).is_some() {
            i = list(lines, i, out);
        } else if line.contains('|') && lines.get(i + 1).is_some_and(|next| is_table_separator(next)) {
            i = table(lines, i, out);
        } else {
            let end = lines[i..]
                .iter()
                .position(|l| {
                    let t = l.trim_start();
                    t.is_empty()
                        || fence_of(t).is_some()
                        || heading(t).is_some()
                        || t.starts_with('>')
                        || is_rule(t)
                        || list_item(l).is_some()
                })
                .map_or(lines.len(), |p| i + p.max(1));
            out.push_str("<p>");
            for (n, l) in lines[i..end].iter().enumerate() {
                if n > 0 {
                    out.push(if lines[i + n - 1].ends_with("  ") { '\u{0}' } else { '\n' });
                }
                out.push_str(&inline(l.trim()));
            }
            out.push_str("</p>\n");
            i = end;
        }
    }
    // Hard breaks were marked with NUL above (never in escaped text, which has no control characters
    // left from the document: NUL is dropped by `inline`).
    if out.contains('\u{0}') {
        *out = out.replace('\u{0}', "<br>\n");
    }
}

fn fence_of(line: &str) -> Option<&'static str> {
    if line.starts_with("```") {
        Some("```")
    } else if line.starts_with("~~~") {
        Some("~~~")
    } else {
        None
    }
}

fn is_comment_only(line: &str) -> bool {
    line.starts_with("<!--") && line.trim_end().ends_with("-->")
}

fn heading(line: &str) -> Option<(usize, &str)> {
    let level = line.bytes().take_while(|&b| b == b'#').count();
    if !(1..=6).contains(&level) {
        return None;
    }
    let rest = &line[level..];
    if !(rest.is_empty() || rest.starts_with(' ')) {
        return None;
    }
    Some((level, rest.trim().trim_end_matches('#').trim_end()))
}

fn anchor(title: &str) -> String {
    let mut slug = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').to_owned()
}

fn is_rule(line: &str) -> bool {
    let compact: String = line.chars().filter(|c| !c.is_whitespace()).collect();
    compact.len() >= 3 && ['-', '*', '_'].iter().any(|&m| compact.chars().all(|c| c == m))
}

/// `(indent, ordered, content)` of a list item line.
fn list_item(line: &str) -> Option<(usize, bool, &str)> {
    let indent = line.len() - line.trim_start().len();
    let rest = line.trim_start();
    for bullet in ["- ", "* ", "+ "] {
        if let Some(content) = rest.strip_prefix(bullet) {
            return Some((indent, false, content));
        }
    }
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if (1..=9).contains(&digits) {
        let after = &rest[digits..];
        if let Some(content) = after.strip_prefix(". ").or_else(|| after.strip_prefix(") ")) {
            return Some((indent, true, content));
        }
    }
    None
}

/// Renders the list starting at `start` (nested lists by deeper indentation); returns the next line.
fn list(lines: &[&str], start: usize, out: &mut String) -> usize {
    let (indent, ordered, _) = list_item(lines[start]).expect("a list item");
    out.push_str(if ordered { "<ol>\n" } else { "<ul>\n" });
    let mut i = start;
    while i < lines.len() {
        let Some((item_indent, item_ordered, content)) = list_item(lines[i]) else {
            // A continuation line of the previous item, or the end of the list.
            if !lines[i].trim().is_empty() && lines[i].starts_with(' ') && out.ends_with("</li>\n") {
                out.truncate(out.len() - "</li>\n".len());
                out.push(' ');
                out.push_str(&inline(lines[i].trim()));
                out.push_str("</li>\n");
                i += 1;
                continue;
            }
            break;
        };
        if item_indent < indent || (item_indent == indent && item_ordered != ordered) {
            break;
        }
        if item_indent > indent {
            // Nested: inside the previous item.
            if out.ends_with("</li>\n") {
                out.truncate(out.len() - "</li>\n".len());
                out.push('\n');
            } else {
                out.push_str("<li>");
            }
            i = list(lines, i, out);
            out.push_str("</li>\n");
            continue;
        }
        let (checkbox, text) = match content.get(..4) {
            Some("[ ] ") => ("<input type=\"checkbox\" disabled> ", &content[4..]),
            Some("[x] " | "[X] ") => ("<input type=\"checkbox\" disabled checked> ", &content[4..]),
            _ => ("", content),
        };
        let class = if checkbox.is_empty() { "" } else { " class=\"task\"" };
        out.push_str(&format!("<li{class}>{checkbox}{}</li>\n", inline(text)));
        i += 1;
    }
    out.push_str(if ordered { "</ol>\n" } else { "</ul>\n" });
    i
}

fn is_table_separator(line: &str) -> bool {
    let t = line.trim();
    t.contains('-') && t.chars().all(|c| matches!(c, '|' | '-' | ':' | ' ')) && t.contains('|')
}

fn cells(line: &str) -> Vec<&str> {
    let t = line.trim();
    let t = t.strip_prefix('|').unwrap_or(t);
    let t = t.strip_suffix('|').unwrap_or(t);
    t.split('|').map(str::trim).collect()
}

fn table(lines: &[&str], start: usize, out: &mut String) -> usize {
    let aligns: Vec<&str> = cells(lines[start + 1])
        .iter()
        .map(|c| match (c.starts_with(':'), c.ends_with(':')) {
            (true, true) => " class=\"center\"",
            (false, true) => " class=\"right\"",
            _ => "",
        })
        .collect();
    out.push_str("<table>\n<thead><tr>");
    for (n, cell) in cells(lines[start]).iter().enumerate() {
        out.push_str(&format!("<th{}>{}</th>", aligns.get(n).copied().unwrap_or(""), inline(cell)));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    let mut i = start + 2;
    while i < lines.len() && lines[i].contains('|') && !lines[i].trim().is_empty() {
        out.push_str("<tr>");
        for (n, cell) in cells(lines[i]).iter().enumerate() {
            out.push_str(&format!("<td{}>{}</td>", aligns.get(n).copied().unwrap_or(""), inline(cell)));
        }
        out.push_str("</tr>\n");
        i += 1;
    }
    out.push_str("</tbody>\n</table>\n");
    i
}

/// A link target we are willing to put in an `href`.
fn safe_href(url: &str) -> Option<String> {
    let url = url.trim();
    let lower = url.to_ascii_lowercase();
    let allowed = ["http://", "https://", "mailto:"].iter().any(|s| lower.starts_with(s)) || url.starts_with('#');
    (allowed && !url.chars().any(|c| c.is_control() || c == ' ')).then(|| escape(url))
}

/// Inline markup of one line (or table cell), escaped.
fn inline(text: &str) -> String {
    let chars: Vec<char> = text.chars().filter(|&c| c != '\u{0}').collect();
    let mut out = String::with_capacity(text.len() + 16);
    let mut i = 0;
    let rest_starts = |i: usize, s: &str| s.chars().enumerate().all(|(k, c)| chars.get(i + k) == Some(&c));
    let find = |from: usize, s: &str| (from..chars.len()).find(|&j| rest_starts(j, s));
    let collect = |a: usize, b: usize| chars[a..b].iter().collect::<String>();
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && chars.get(i + 1).is_some_and(|n| n.is_ascii_punctuation()) {
            out.push_str(&escape(&chars[i + 1].to_string()));
            i += 2;
        } else if c == '`' {
            let run = chars[i..].iter().take_while(|&&c| c == '`').count();
            let fence: String = "`".repeat(run);
            match find(i + run, &fence) {
                Some(end) => {
                    out.push_str("<code>");
                    out.push_str(&escape(collect(i + run, end).trim()));
                    out.push_str("</code>");
                    i = end + run;
                }
                None => {
                    out.push_str(&fence);
                    i += run;
                }
            }
        } else if (c == '!' && chars.get(i + 1) == Some(&'[')) || c == '[' {
            let image = c == '!';
            let open = if image { i + 1 } else { i };
            let parsed = find(open + 1, "](").and_then(|close| find(close + 2, ")").map(|end| (close, end)));
            match parsed {
                Some((close, end)) => {
                    let label = collect(open + 1, close);
                    let url = collect(close + 2, end);
                    let url = url.split_whitespace().next().unwrap_or_default();
                    match (image, safe_href(url)) {
                        (true, _) => out.push_str(&format!("<span class=\"img-alt\">[{}]</span>", escape(&label))),
                        (false, Some(href)) => out.push_str(&format!(
                            "<a href=\"{href}\" rel=\"noopener noreferrer nofollow\" target=\"_blank\">{}</a>",
                            inline(&label)
                        )),
                        (false, None) => out.push_str(&format!("<span class=\"link\">{}</span>", inline(&label))),
                    }
                    i = end + 1;
                }
                None => {
                    out.push_str(&escape(&c.to_string()));
                    i += 1;
                }
            }
        } else if c == '<' && (rest_starts(i + 1, "http://") || rest_starts(i + 1, "https://")) {
            match find(i + 1, ">") {
                Some(end) => {
                    let url = collect(i + 1, end);
                    match safe_href(&url) {
                        Some(href) => out.push_str(&format!(
                            "<a href=\"{href}\" rel=\"noopener noreferrer nofollow\" target=\"_blank\">{}</a>",
                            escape(&url)
                        )),
                        None => out.push_str(&escape(&collect(i, end + 1))),
                    }
                    i = end + 1;
                }
                None => {
                    out.push_str("&lt;");
                    i += 1;
                }
            }
        } else if let Some((marker, tag)) = emphasis_at(&chars, i) {
            let closing = find(i + marker.len(), marker).filter(|&end| end > i + marker.len());
            match closing {
                Some(end) if closes_emphasis(&chars, end, marker) => {
                    out.push_str(&format!("<{tag}>{}</{tag}>", inline(&collect(i + marker.len(), end))));
                    i = end + marker.len();
                }
                _ => {
                    out.push_str(&escape(marker));
                    i += marker.len();
                }
            }
        } else {
            let mut buf = [0u8; 4];
            out.push_str(&escape(c.encode_utf8(&mut buf)));
            i += 1;
        }
    }
    out
}

/// The emphasis marker opening at `i`, if any: `**`/`__` strong, `~~` strike, `*`/`_` emphasis.
/// Underscores only open at a word boundary (`snake_case_names` stay as they are).
fn emphasis_at(chars: &[char], i: usize) -> Option<(&'static str, &'static str)> {
    let next = chars.get(i + 1).copied();
    let after_word = i > 0 && chars[i - 1].is_alphanumeric();
    let marker = match (chars[i], next) {
        ('*', Some('*')) => ("**", "strong"),
        ('_', Some('_')) if !after_word => ("__", "strong"),
        ('~', Some('~')) => ("~~", "del"),
        ('*', _) => ("*", "em"),
        ('_', _) if !after_word => ("_", "em"),
        _ => return None,
    };
    // The marker must be followed by text, not a space.
    chars.get(i + marker.0.len()).filter(|c| !c.is_whitespace())?;
    Some(marker)
}

fn closes_emphasis(chars: &[char], end: usize, marker: &str) -> bool {
    let before_space = end > 0 && chars[end - 1].is_whitespace();
    let underscore_in_word =
        marker.starts_with('_') && chars.get(end + marker.len()).is_some_and(|c| c.is_alphanumeric());
    !before_space && !underscore_in_word
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_html_is_shown_never_executed() {
        let html = render("# Title <img src=x onerror=alert(1)>\n\n<script>alert(1)</script>\n\n*<b>x</b>*\n");
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<b>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{html}");
        assert!(html.contains("<em>&lt;b&gt;x&lt;/b&gt;</em>"), "{html}");
    }

    #[test]
    fn links_keep_only_safe_targets() {
        let html =
            render("[a](javascript:alert(1)) [b](https://example.com/x?a=1&b=\"2\") [c](plan.md) ![d](http://t/x.png)");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(html.contains("<a href=\"https://example.com/x?a=1&amp;b=&quot;2&quot;\""), "{html}");
        assert!(html.contains("<span class=\"link\">c</span>"), "{html}");
        assert!(html.contains("<span class=\"img-alt\">[d]</span>"), "{html}");
        assert!(!html.contains("src="), "{html}");
        let attr = render("[x](https://a.b/\"onmouseover=\"alert(1))");
        assert!(!attr.contains("\"onmouseover"), "{attr}");
    }

    #[test]
    fn renders_the_planning_document_subset() {
        let doc = "---\ntitle: x\n---\n# Plan\n\nSome **bold**, _em_, `co<de>` and snake_case_name.\nNext line.\n\n\
                   - [x] T001 done\n- [ ] T002 open\n  - nested\n1. first\n2. second\n\n> quoted\n\n```rust\nfn main() {}\n```\n\n\
                   | a | b |\n|---|--:|\n| 1 | 2 |\n\n<!-- status-model:start -->\n---\n";
        let html = render(doc);
        for expected in [
            "<pre class=\"frontmatter\"><code>title: x</code></pre>",
            "<h1 id=\"plan\">Plan</h1>",
            "<strong>bold</strong>",
            "<em>em</em>",
            "<code>co&lt;de&gt;</code>",
            "snake_case_name",
            "<li class=\"task\"><input type=\"checkbox\" disabled checked> T001 done</li>",
            "<li class=\"task\"><input type=\"checkbox\" disabled> T002 open\n<ul>\n<li>nested</li>\n</ul>\n</li>",
            "<ol>\n<li>first</li>",
            "<blockquote>\n<p>quoted</p>\n</blockquote>",
            "<pre><code class=\"lang-rust\">fn main() {}</code></pre>",
            "<th>a</th><th class=\"right\">b</th>",
            "<td>1</td><td class=\"right\">2</td>",
            "<hr>",
        ] {
            assert!(html.contains(expected), "missing {expected:?} in\n{html}");
        }
        assert!(!html.contains("status-model"), "comments are dropped: {html}");
    }
}
