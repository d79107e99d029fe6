//! Upstream's slash-command templates are our real clients: every `spec-kitty …` command line they tell
//! an agent to run must parse, and every one that prints JSON must print one object with upstream's keys.
//!
//! Each template (`../shared/fixtures/upstream-592dca5eb/command-templates/**.md`) is read, its command
//! lines are extracted from code (fenced blocks, inline code, the frontmatter's `sh:` scripts), the
//! placeholders are replaced by realistic arguments, and the commands run in order against a fresh copy
//! of a git project with several features in different states (`multi_feature::project`). A command
//! may fail because of the state it finds (a WP already moved, a merge with nothing to merge): that is
//! the command working. What must never happen is a parse error — an unknown subcommand or flag.

use crate::multi_feature::{LATEST_INCOMPLETE, project};
use crate::support::{Run, TestEnv, upstream_fixture};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Template commands deliberately not run, with the reason (also listed in the README).
const UNSUPPORTED: [(&str, &str); 4] = [
    // The legacy templates' positional `move-task <FEATURE> <TASK_ID> <lane>` predates `--to`, and their
    // `agent move-task` / `agent mark-status` predate the `tasks` group: upstream's CLI of this version
    // rejects them as well.
    ("spec-kitty agent tasks move-task <FEATURE>", "legacy positional form, rejected by upstream too"),
    ("spec-kitty agent move-task", "legacy form without `tasks`, rejected by upstream too"),
    ("spec-kitty agent mark-status", "legacy form without `tasks`, rejected by upstream too"),
    ("spec-kitty agent -", "PowerShell-style flags (-TaskId), not a command line"),
];

/// Inline mentions of a command's name in prose ("use `spec-kitty agent tasks move-task`"), not
/// invocations.
const MENTIONS: [&str; 2] = ["spec-kitty agent tasks move-task", "spec-kitty agent telemetry emit"];

/// One command line as a template states it.
#[derive(Debug, Clone)]
struct TemplateCommand {
    template: String,
    line: usize,
    text: String,
}

/// Every template file, sorted.
fn templates(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(root).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(templates(&path));
        } else if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The command lines of one template: in fenced code blocks (backslash continuations joined), in inline
/// code, and in the frontmatter's `sh:` scripts. Prose that merely mentions spec-kitty is not code.
fn extract(template: &str, text: &str) -> Vec<TemplateCommand> {
    let mut commands = Vec::new();
    let mut in_fence = false;
    let mut in_frontmatter = text.starts_with("---\n");
    let lines: Vec<&str> = text.lines().collect();
    let mut index = 0;
    while index < lines.len() {
        let number = index + 1;
        let mut line = lines[index].to_owned();
        index += 1;
        if in_frontmatter && index > 1 && line == "---" {
            in_frontmatter = false;
            continue;
        }
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        while in_fence && line.trim_end().ends_with('\\') && index < lines.len() {
            line = format!("{} {}", line.trim_end().trim_end_matches('\\').trim_end(), lines[index].trim());
            index += 1;
        }
        if in_frontmatter {
            if let Some(script) = line.trim().strip_prefix("sh:") {
                push_command(&mut commands, template, number, script.trim().trim_matches('"'));
            }
            continue;
        }
        let mut rest = line.as_str();
        let mut ticks_before = 0;
        while let Some(at) = rest.find("spec-kitty ") {
            ticks_before += rest[..at].matches('`').count();
            let candidate = &rest[at..];
            let inline = ticks_before % 2 == 1;
            // In a code block, a command starts the line (after a prompt or a `&&`); elsewhere on the
            // line it is text, such as a quoted sample file that mentions spec-kitty.
            let before = rest[..at].trim_end();
            let starts_line = before.is_empty() || ["$", "&&", ";", "|"].iter().any(|s| before.ends_with(s));
            if (in_fence && starts_line && rest.len() == line.len()) || inline {
                let end = if inline { candidate.find('`').unwrap_or(candidate.len()) } else { candidate.len() };
                push_command(&mut commands, template, number, &candidate[..end]);
            }
            rest = &candidate["spec-kitty ".len()..];
        }
    }
    commands
}

fn push_command(commands: &mut Vec<TemplateCommand>, template: &str, line: usize, raw: &str) {
    let mut text = raw;
    for stop in [" #", " →", "  "] {
        if let Some(at) = text.find(stop) {
            text = &text[..at];
        }
    }
    let text = text.trim().trim_end_matches(['"', ',', '.', ')']);
    let starts_like_a_command =
        text["spec-kitty ".len().min(text.len())..].starts_with(|c: char| c.is_ascii_lowercase());
    if text.starts_with("spec-kitty ") && starts_like_a_command {
        commands.push(TemplateCommand { template: template.to_owned(), line, text: text.to_owned() });
    }
}

/// Realistic values for the templates' placeholders.
fn substitute(text: &str, feedback: &Path) -> String {
    let feedback = feedback.display().to_string();
    let replacements: [(&str, &str); 23] = [
        ("$ARGUMENTS", "WP01"),
        ("{{wp_id}}", "WP01"),
        ("<WPID>", "WP01"),
        ("<WP-ID>", "WP01"),
        ("WP##", "WP01"),
        ("WPXX", "WP01"),
        ("--task-id <TASK_ID>", "--task-id T001"),
        ("T###", "T001"),
        ("<lane>", "for_review"),
        ("<temp-file-path>", &feedback),
        ("<your-name>", "claude"),
        ("<your-agent-name>", "claude"),
        ("<name>", "claude"),
        ("__AGENT__", "claude"),
        ("<your-model-id>", "claude-sonnet-4-5"),
        ("<feature-slug>", LATEST_INCOMPLETE),
        ("###-feature-slug", LATEST_INCOMPLETE),
        ("017-feature-slug", LATEST_INCOMPLETE),
        ("001-cli-hello-world", LATEST_INCOMPLETE),
        ("\"<slug>\"", "widget-search"),
        ("{project-name}", "widgets"),
        ("{ARGS}", ""),
        ("[OPTIONS]", ""),
    ];
    let mut out = text.to_owned();
    for (placeholder, value) in replacements {
        out = out.replace(placeholder, value);
    }
    if out.ends_with("--note") {
        out.push_str(" \"Ready for review\"");
    }
    if out.ends_with("create-feature") {
        out.push_str(" widget-search --json");
    }
    out
}

/// Splits a command line the way a POSIX shell splits simple words and quotes.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    let mut started = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                started = true;
            }
            (None, c) if c.is_whitespace() => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            (None, c) => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        words.push(word);
    }
    words
}

/// What a clap parse error looks like: the failure this test exists to catch.
fn parse_error(run: &Run) -> bool {
    run.code == 2
        && ["unrecognized subcommand", "unexpected argument", "required arguments were not provided", "invalid value"]
            .iter()
            .any(|text| run.stderr.contains(text))
}

/// The keys a command's JSON success object must have (upstream's), by command.
fn required_keys(args: &[String], object: &serde_json::Map<String, Value>) -> &'static [&'static str] {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let has = |flag: &str| words.contains(&flag);
    match words.as_slice() {
        _ if object.contains_key("error") => &["error"],
        ["agent", "feature", "check-prerequisites", ..] | ["agent", "check-prerequisites", ..]
            if has("--paths-only") =>
        {
            &["feature_dir"]
        }
        ["agent", "feature", "check-prerequisites", ..] | ["agent", "check-prerequisites", ..] => {
            &["valid", "errors", "warnings", "paths"]
        }
        ["agent", "feature", "create-feature", ..] => &["result", "feature", "feature_dir"],
        ["agent", "feature", "setup-plan", ..] => &["result", "plan_file", "feature_dir"],
        ["agent", "feature", "finalize-tasks", ..] => {
            &["result", "updated_wp_count", "tasks_dir", "commit_created", "commit_hash", "files_committed"]
        }
        ["agent", "feature", "accept", ..] if object.contains_key("summary") => {
            &["accepted_at", "accepted_by", "mode", "parent_commit", "accept_commit", "commit_created", "summary"]
        }
        ["agent", "feature", "accept", ..] => &["feature", "lanes", "work_packages", "ok", "path_violations"],
        ["next", ..] => &["kind", "agent", "feature_slug", "mission", "action", "wp_id", "step_id", "progress"],
        _ => &[],
    }
}

#[test]
fn every_template_command_parses_and_json_output_is_one_object_with_upstreams_keys() {
    let Some(fixture) = upstream_fixture() else { return };
    let root = fixture.join("command-templates");
    let files = templates(&root);
    // Templates are independent (each runs in its own project), so they run on every core.
    let workers = std::thread::available_parallelism().map_or(2, usize::from);
    let reports: Vec<TemplateReport> = std::thread::scope(|scope| {
        let chunks: Vec<_> = files
            .chunks(files.len().div_ceil(workers))
            .map(|chunk| scope.spawn(|| chunk.iter().map(|path| run_template(&root, path)).collect::<Vec<_>>()))
            .collect();
        chunks.into_iter().flat_map(|c| c.join().unwrap()).collect()
    });
    let ran: usize = reports.iter().map(|r| r.ran).sum();
    let skipped: Vec<&String> = reports.iter().flat_map(|r| &r.skipped).collect();
    let failures: Vec<&String> = reports.iter().flat_map(|r| &r.failures).collect();
    eprintln!("ran {ran} template commands; skipped {}:", skipped.len());
    skipped.iter().for_each(|s| eprintln!("  {s}"));
    assert!(ran > 100, "only {ran} template commands were found");
    let failures: Vec<&str> = failures.iter().map(|f| f.as_str()).collect();
    assert!(failures.is_empty(), "{} template command(s) failed:\n\n{}", failures.len(), failures.join("\n\n"));
}

#[derive(Default)]
struct TemplateReport {
    ran: usize,
    skipped: Vec<String>,
    failures: Vec<String>,
}

/// Runs one template's commands, in order, in a fresh project.
fn run_template(root: &Path, path: &Path) -> TemplateReport {
    let mut report = TemplateReport::default();
    let name = path.strip_prefix(root).unwrap().display().to_string();
    let commands = extract(&name, &std::fs::read_to_string(path).unwrap());
    if commands.is_empty() {
        return report;
    }
    let env = project();
    env.write("review-feedback.md", "**Issue**: the widget name is not validated.\n");
    for command in commands {
        if MENTIONS.contains(&command.text.as_str()) {
            continue;
        }
        if let Some((_, why)) = UNSUPPORTED.iter().find(|(prefix, _)| command.text.starts_with(prefix)) {
            report.skipped.push(format!("{}:{} `{}` ({why})", command.template, command.line, command.text));
            continue;
        }
        let line = substitute(&command.text, &env.path("review-feedback.md"));
        let args = shell_words(&line);
        let run = run_template_command(&env, &args[1..]);
        report.ran += 1;
        if std::env::var_os("SPEC_KITTY_TEMPLATE_TRACE").is_some() {
            eprintln!("{}:{} $ {line} → {}", command.template, command.line, run.code);
        }
        if let Some(problem) = judge(&args[1..], &run) {
            report.failures.push(format!(
                "{}:{}: `{line}`: {problem}\n{}",
                command.template,
                command.line,
                run.render()
            ));
        }
    }
    report
}

/// Runs a template's command (without the leading `spec-kitty`) with a short sync flush so the suite
/// never waits on the network.
fn run_template_command(env: &TestEnv, args: &[String]) -> Run {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    env.run_with_env(&args, &[("SPEC_KITTY_SYNC_EVENTS", "0")])
}

/// `None` when the command behaved; else what went wrong.
fn judge(args: &[String], run: &Run) -> Option<String> {
    if parse_error(run) {
        return Some("the command line does not parse".to_owned());
    }
    if run.stderr.contains("panicked") {
        return Some("panic".to_owned());
    }
    if !args.iter().any(|a| a == "--json") || run.stdout.is_empty() {
        return None;
    }
    let value: Value = match serde_json::from_str(run.stdout.trim()) {
        Ok(value) => value,
        Err(e) => return Some(format!("stdout is not one JSON value: {e}")),
    };
    let Value::Object(object) = value else { return Some("the JSON output is not an object".to_owned()) };
    let missing: Vec<&&str> = required_keys(args, &object).iter().filter(|k| !object.contains_key(**k)).collect();
    (!missing.is_empty()).then(|| format!("JSON output lacks upstream's keys {missing:?}"))
}

#[test]
fn extraction_finds_code_not_prose() {
    let text = "---\nscripts:\n  sh: \"spec-kitty agent feature merge\"\n  ps: spec-kitty agent -Json\n---\n\
All spec-kitty commands work without it.\n\
Run `spec-kitty agent tasks status` then `spec-kitty merge --dry-run  # look first`.\n\
```bash\nspec-kitty agent telemetry emit \\\n  --feature <feature-slug> \\\n  --role planner\n```\n";
    let found: Vec<String> = extract("t.md", text).into_iter().map(|c| c.text).collect();
    assert_eq!(
        found,
        [
            "spec-kitty agent feature merge",
            "spec-kitty agent tasks status",
            "spec-kitty merge --dry-run",
            "spec-kitty agent telemetry emit --feature <feature-slug> --role planner"
        ]
    );
    assert_eq!(
        shell_words("move-task WP01 --note \"a b\" --x 'c d'"),
        ["move-task", "WP01", "--note", "a b", "--x", "c d"]
    );
}
