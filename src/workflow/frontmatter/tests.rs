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
        Value::Array(items) => Some(items.iter().map(|item| item.as_str().unwrap_or_default().to_string()).collect()),
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
        ("0b1_0", "'0b1_0'"),
        // A commit sha that starts like a binary prefix (this once made a CI run flaky).
        ("0be5073d95e1d13a72b56d271a4ff66beb1d2c21", "0be5073d95e1d13a72b56d271a4ff66beb1d2c21"),
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
