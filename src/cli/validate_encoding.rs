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
use crate::workflow::encoding::{self, EncodingReport, Options, relative};
use clap::Args;
use std::path::PathBuf;

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
    let features =
        features.into_iter().map(|(slug, dir)| encoding::check_feature(slug, dir, options, args.fix, backup)).collect();
    let report = EncodingReport { features, options, fix: args.fix };
    if args.json {
        print_json_line(&report.to_json(&project.root))?;
    } else {
        output::print(&render_text(&report, args))?;
    }
    let (errors, remaining) = (report.errors(), report.remaining());
    let failure = if errors > 0 {
        Some(CliError::failure(format!("{errors} file(s) could not be checked or repaired")))
    } else if remaining > 0 {
        let scope = if args.all { "--all".to_owned() } else { format!("--feature {}", report.features[0].slug) };
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

/// Issue lines shown per file in text mode.
const SHOWN_ISSUES: usize = 10;

fn render_text(report: &EncodingReport, args: &ValidateEncodingArgs) -> String {
    let (notes, fixed) = (report.notes(), report.fixed());
    let mut text = String::new();
    for feature in &report.features {
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
    let problems = report.with_problems() + report.errors() > 0;
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
