//! Checking (and repairing) whole features, and the report `validate-encoding` prints.

use super::{Checked, Options, check_bytes, markdown_files, write_repair};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The outcome for one file that has something to report.
pub struct FileOutcome {
    pub path: PathBuf,
    pub checked: Checked,
    pub fixed: bool,
    pub backup: Option<PathBuf>,
    pub error: Option<String>,
}

pub struct FeatureOutcome {
    pub slug: String,
    pub dir: PathBuf,
    pub files_checked: usize,
    pub files: Vec<FileOutcome>,
}

/// Every directory under kitty-specs/, sorted (upstream checks them all, numbered or not).
pub fn all_feature_dirs(project: &crate::project::Project) -> Vec<(String, PathBuf)> {
    let mut dirs: Vec<(String, PathBuf)> = std::fs::read_dir(project.kitty_specs())
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
        .collect();
    dirs.sort();
    dirs
}

/// Checks every Markdown file of a feature directory and, with `fix`, repairs each file that has problems
/// (keeping a `.bak` with `backup`). Unreadable files are reported, never fatal.
pub fn check_feature(slug: String, dir: PathBuf, options: Options, fix: bool, backup: bool) -> FeatureOutcome {
    let files = markdown_files(&dir);
    let mut outcomes = Vec::new();
    for path in &files {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) => {
                outcomes.push(FileOutcome {
                    path: path.clone(),
                    checked: Checked::default(),
                    fixed: false,
                    backup: None,
                    error: Some(format!("cannot read: {e}")),
                });
                continue;
            }
        };
        let checked = check_bytes(&bytes, options);
        if checked.problems.is_empty() && checked.typographic_notes == 0 {
            continue;
        }
        let mut outcome = FileOutcome { path: path.clone(), checked, fixed: false, backup: None, error: None };
        if fix && let Some(repaired) = &outcome.checked.repaired {
            match write_repair(path, &bytes, repaired, backup) {
                Ok(backup) => {
                    outcome.fixed = true;
                    outcome.backup = backup;
                }
                Err(e) => outcome.error = Some(format!("cannot write the repair: {e}")),
            }
        }
        outcomes.push(outcome);
    }
    FeatureOutcome { slug, dir, files_checked: files.len(), files: outcomes }
}

/// The outcome of a run over one or more features, with upstream's `--json` shape.
pub struct EncodingReport {
    pub features: Vec<FeatureOutcome>,
    pub options: Options,
    pub fix: bool,
}

impl EncodingReport {
    fn files(&self) -> impl Iterator<Item = &FileOutcome> {
        self.features.iter().flat_map(|f| &f.files)
    }

    pub fn with_problems(&self) -> usize {
        self.files().filter(|f| !f.checked.problems.is_empty()).count()
    }

    pub fn fixed(&self) -> usize {
        self.files().filter(|f| f.fixed).count()
    }

    /// Files that could not be read or repaired.
    pub fn errors(&self) -> usize {
        self.files().filter(|f| f.error.is_some()).count()
    }

    /// Typographic characters left alone (outside ASCII mode).
    pub fn notes(&self) -> usize {
        self.files().map(|f| f.checked.typographic_notes).sum()
    }

    /// Files whose problems are still in them.
    pub fn remaining(&self) -> usize {
        self.with_problems() - self.fixed()
    }

    /// `clean`, `fixed`, `issues` or `error`.
    pub fn result(&self) -> &'static str {
        match (self.errors(), self.remaining(), self.fixed()) {
            (0, 0, 0) => "clean",
            (0, 0, _) => "fixed",
            (0, _, _) => "issues",
            _ => "error",
        }
    }

    /// The `--json` document, paths relative to `root`.
    pub fn to_json(&self, root: &Path) -> ReportJson {
        ReportJson {
            result: self.result(),
            fix: self.fix,
            ascii: self.options.ascii,
            features: self.features.iter().map(|f| FeatureJson::of(f, root)).collect(),
            files_with_issues: self.with_problems(),
            files_fixed: self.fixed(),
            errors: self.errors(),
            typographic_characters: self.notes(),
        }
    }
}

/// `path` relative to `base` when it is under it.
pub fn relative(base: &Path, path: &Path) -> String {
    path.strip_prefix(base).unwrap_or(path).display().to_string()
}

#[derive(Serialize)]
pub struct ReportJson {
    result: &'static str,
    fix: bool,
    ascii: bool,
    features: Vec<FeatureJson>,
    files_with_issues: usize,
    files_fixed: usize,
    errors: usize,
    typographic_characters: usize,
}

#[derive(Serialize)]
struct FeatureJson {
    feature: String,
    feature_dir: String,
    files_checked: usize,
    files: Vec<FileJson>,
}

#[derive(Serialize)]
struct FileJson {
    path: String,
    /// `needs_fix`, `fixed` or `error`.
    status: &'static str,
    backup: Option<String>,
    error: Option<String>,
    issues: Vec<IssueJson>,
}

#[derive(Serialize)]
struct IssueJson {
    kind: &'static str,
    line: usize,
    column: usize,
    offset: usize,
    found: String,
    character: String,
    replacement: String,
}

impl FeatureJson {
    fn of(feature: &FeatureOutcome, root: &Path) -> FeatureJson {
        let files = feature
            .files
            .iter()
            .filter(|f| !f.checked.problems.is_empty() || f.error.is_some())
            .map(|f| FileJson {
                path: relative(root, &f.path),
                status: match (&f.error, f.fixed) {
                    (Some(_), _) => "error",
                    (None, true) => "fixed",
                    (None, false) => "needs_fix",
                },
                backup: f.backup.as_ref().map(|b| relative(root, b)),
                error: f.error.clone(),
                issues: f
                    .checked
                    .problems
                    .iter()
                    .map(|i| IssueJson {
                        kind: i.kind.as_str(),
                        line: i.line,
                        column: i.column,
                        offset: i.offset,
                        found: i.found.clone(),
                        character: i.character.to_string(),
                        replacement: i.replacement.clone(),
                    })
                    .collect(),
            })
            .collect();
        FeatureJson {
            feature: feature.slug.clone(),
            feature_dir: feature.dir.display().to_string(),
            files_checked: feature.files_checked,
            files,
        }
    }
}
