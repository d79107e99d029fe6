//! `spec-kitty validate-encoding`: find (and with `--fix` repair) encoding problems in a feature's planning
//! documents — every `*.md` under `kitty-specs/<feature>/`, as upstream scans them.
//!
//! What counts as a problem and how a repair reads the bytes is described in `crate::workflow::encoding`.
//! Differences from upstream, on purpose: valid UTF-8 typographic characters (smart quotes, dashes, …) are
//! problems only with `--ascii` (upstream flags them always, which fails every work package its own
//! templates generate), Activity Log separators are never rewritten, invalid bytes are decoded one by one
//! so the valid UTF-8 around them survives, repairs are atomic and keep the file's permissions, and a file
//! that cannot be read or written makes the command fail instead of being skipped with exit 0.
//! As upstream: `<file>.bak` backups by default (`--no-backup`), exit 1 while problems remain.

use super::common::{FeatureArg, discover, json_aware, print_json_line, resolve_feature};
use super::output;
use crate::context::Context;
use crate::error::CliError;
use crate::project::Project;
use crate::workflow::encoding::{self, FeatureOutcome, Options};
use clap::Args;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct ValidateEncodingArgs {
    #[command(flatten)]
    feature: FeatureArg,
    /// Check every feature under kitty-specs/ (--feature is then ignored).
    #[arg(long)]
    all: bool,
    /// Repair the files: invalid bytes are read as Windows-1252 and written as UTF-8 (smart punctuation
    /// as ASCII, as upstream writes it); the file is replaced atomically.
    #[arg(long)]
    fix: bool,
    /// Also count the valid typographic characters upstream normalises (smart quotes, en/em dashes, …, ±,
    /// ×, °, no-break space, ™ © ®) as problems, and replace them with ASCII on --fix. Activity Log
    /// separators are kept.
    #[arg(long)]
    ascii: bool,
    /// Do not keep a <file>.bak copy of each repaired file.
    #[arg(long)]
    no_backup: bool,
    /// Keep a <file>.bak copy of each repaired file (the default).
    #[arg(long, hide = true, overrides_with = "no_backup")]
    backup: bool,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &Context, args: ValidateEncodingArgs) -> Result<(), CliError> {
    json_aware(args.json, || validate(ctx, &args))
}

fn validate(ctx: &Context, args: &ValidateEncodingArgs) -> Result<(), CliError> {
    let project = discover(ctx)?;
    let features: Vec<(String, PathBuf)> = if args.all {
        encoding::all_feature_dirs(&project)
    } else {
        let feature = resolve_feature(ctx, &project, args.feature.slug.as_deref())?;
        vec![(feature.slug, feature.dir)]
    };
    let options = Options { ascii: args.ascii };
    let backup = !args.no_backup;
    let outcomes: Vec<FeatureOutcome> =
        features.into_iter().map(|(slug, dir)| encoding::check_feature(slug, dir, options, args.fix, backup)).collect();

    let with_problems = outcomes.iter().flat_map(|f| &f.files).filter(|f| !f.checked.problems.is_empty()).count();
    let fixed = outcomes.iter().flat_map(|f| &f.files).filter(|f| f.fixed).count();
    let errors = outcomes.iter().flat_map(|f| &f.files).filter(|f| f.error.is_some()).count();
    let notes: usize = outcomes.iter().flat_map(|f| &f.files).map(|f| f.checked.typographic_notes).sum();
    let remaining = with_problems - fixed;
    let result = match (errors, remaining, fixed) {
        (0, 0, 0) => "clean",
        (0, 0, _) => "fixed",
        (0, _, _) => "issues",
        _ => "error",
    };

    if args.json {
        print_json_line(&json!({
            "result": result,
            "fix": args.fix,
            "ascii": args.ascii,
            "features": outcomes.iter().map(|f| feature_json(&project, f)).collect::<Vec<_>>(),
            "files_with_issues": with_problems,
            "files_fixed": fixed,
            "errors": errors,
            "typographic_characters": notes,
        }))?;
    } else {
        output::print(&render_text(&outcomes, args, notes, fixed))?;
    }

    let failure = if errors > 0 {
        Some(CliError::failure(format!("{errors} file(s) could not be checked or repaired")))
    } else if remaining > 0 {
        let scope = if args.all { "--all".to_owned() } else { format!("--feature {}", outcomes[0].slug) };
        let ascii = if args.ascii { " --ascii" } else { "" };
        Some(
            CliError::failure(format!("{remaining} file(s) with encoding problems"))
                .hint(format!("repair them with: spec-kitty validate-encoding {scope}{ascii} --fix")),
        )
    } else {
        None
    };
    match failure {
        Some(error) => Err(CliError { result_printed: args.json, ..error }),
        None => Ok(()),
    }
}

fn relative(base: &Path, path: &Path) -> String {
    path.strip_prefix(base).unwrap_or(path).display().to_string()
}

fn feature_json(project: &Project, feature: &FeatureOutcome) -> Value {
    let files: Vec<Value> = feature
        .files
        .iter()
        .filter(|f| !f.checked.problems.is_empty() || f.error.is_some())
        .map(|f| {
            let status = match (&f.error, f.fixed) {
                (Some(_), _) => "error",
                (None, true) => "fixed",
                (None, false) => "needs_fix",
            };
            json!({
                "path": relative(&project.root, &f.path),
                "status": status,
                "backup": f.backup.as_ref().map(|b| relative(&project.root, b)),
                "error": f.error,
                "issues": f.checked.problems.iter().map(|i| json!({
                    "kind": i.kind.as_str(),
                    "line": i.line,
                    "column": i.column,
                    "offset": i.offset,
                    "found": i.found,
                    "character": i.character.to_string(),
                    "replacement": i.replacement,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "feature": feature.slug,
        "feature_dir": feature.dir.display().to_string(),
        "files_checked": feature.files_checked,
        "files": files,
    })
}

/// Issue lines shown per file in text mode.
const SHOWN_ISSUES: usize = 10;

fn render_text(outcomes: &[FeatureOutcome], args: &ValidateEncodingArgs, notes: usize, fixed: usize) -> String {
    let mut text = String::new();
    for feature in outcomes {
        text.push_str(&format!("Checking {} ({} file(s))\n", feature.slug, feature.files_checked));
        for file in &feature.files {
            let name = relative(&feature.dir, &file.path);
            if let Some(error) = &file.error {
                text.push_str(&format!("  ✗ {name}: {error}\n"));
                continue;
            }
            if file.checked.problems.is_empty() {
                continue;
            }
            let count = file.checked.problems.len();
            match (&file.fixed, &file.backup) {
                (true, Some(backup)) => text.push_str(&format!(
                    "  ✓ {name}: repaired {count} problem(s) (backup: {})\n",
                    relative(&feature.dir, backup)
                )),
                (true, None) => text.push_str(&format!("  ✓ {name}: repaired {count} problem(s)\n")),
                _ => text.push_str(&format!("  ✗ {name}: {count} problem(s)\n")),
            }
            for issue in file.checked.problems.iter().take(SHOWN_ISSUES) {
                let what = match issue.kind {
                    encoding::IssueKind::InvalidUtf8 => {
                        format!("byte {} ({} in Windows-1252)", issue.found, issue.character)
                    }
                    encoding::IssueKind::Typographic => format!("{} ({})", issue.character, issue.found),
                };
                text.push_str(&format!(
                    "      line {}, column {} (offset {}): {what} → {}\n",
                    issue.line, issue.column, issue.offset, issue.replacement
                ));
            }
            if count > SHOWN_ISSUES {
                text.push_str(&format!("      … and {} more\n", count - SHOWN_ISSUES));
            }
        }
    }
    let problems = outcomes.iter().flat_map(|f| &f.files).any(|f| !f.checked.problems.is_empty() || f.error.is_some());
    if !problems {
        text.push_str("✓ All files are valid UTF-8.\n");
    } else if fixed > 0 {
        text.push_str(&format!("✓ Repaired {fixed} file(s).\n"));
    }
    if notes > 0 && !args.ascii {
        text.push_str(&format!(
            "ℹ {notes} typographic character(s) (smart quotes, dashes, …) are valid UTF-8 and were left alone; \
             --ascii reports and replaces them as upstream does.\n"
        ));
    }
    text
}
