//! List values: ruamel's block layout for `dependencies`/`subtasks`, and reading inline flow sequences.

use super::BlockListStyle;
use super::yaml_scalar::{decode_double_quoted, decode_single_quoted, double_quoted, is_plain_safe};

/// The lines of a list key in ruamel's style (`key: []` or `key:` + `- item` lines).
pub(super) fn render_list<S: AsRef<str>>(
    key: &str,
    items: &[S],
    style: &BlockListStyle,
    comment: &str,
    eol: &str,
) -> Vec<String> {
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
pub(super) fn split_flow_sequence(text: &str) -> Option<(Vec<String>, &str)> {
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
