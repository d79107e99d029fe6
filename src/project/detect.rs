//! Which feature a command acts on, with upstream's priorities (reference/workflow.md §1.2):
//! `--feature`, then `$SPECIFY_FEATURE`, the git branch, the working directory, the only feature, and
//! (where allowed) the highest-numbered incomplete feature.

use super::Project;
use std::path::{Path, PathBuf};

/// A resolved feature directory under `kitty-specs/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feature {
    pub slug: String,
    pub dir: PathBuf,
}

impl Feature {
    /// The three-digit number of `NNN-slug`.
    pub fn number(&self) -> &str {
        &self.slug[..3.min(self.slug.len())]
    }
}

/// How the feature was chosen; commands mention an automatic choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detected {
    Explicit,
    Environment,
    GitBranch,
    WorkingDirectory,
    OnlyFeature,
    LatestIncomplete,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DetectError {
    #[error("feature '{0}' not found in kitty-specs/")]
    NotFound(String),
    #[error("'{0}' is not a feature slug (expected NNN-name, e.g. 001-my-feature)")]
    BadSlug(String),
    #[error("no features in kitty-specs/")]
    NoFeatures,
    #[error("several features exist ({}); say which with --feature", .0.join(", "))]
    Ambiguous(Vec<String>),
}

/// Inputs to detection besides the project itself.
#[derive(Debug, Clone, Default)]
pub struct DetectOptions<'a> {
    pub explicit: Option<&'a str>,
    pub environment: Option<&'a str>,
    pub git_branch: Option<&'a str>,
    pub cwd: Option<&'a Path>,
    pub allow_latest_incomplete: bool,
}

/// Resolves the feature. `is_complete` tells whether a feature directory is finished (every WP done),
/// used only for the latest-incomplete fallback.
pub fn detect_feature(
    project: &Project,
    options: &DetectOptions<'_>,
    is_complete: impl Fn(&Path) -> bool,
) -> Result<(Feature, Detected), DetectError> {
    let existing = |slug: &str| -> Result<Feature, DetectError> {
        if !is_feature_slug(slug) {
            return Err(DetectError::BadSlug(slug.to_owned()));
        }
        let dir = project.feature_dir(slug);
        if dir.is_dir() {
            Ok(Feature { slug: slug.to_owned(), dir })
        } else {
            Err(DetectError::NotFound(slug.to_owned()))
        }
    };
    if let Some(explicit) = options.explicit {
        let slug = resolve_number(project, explicit.trim());
        return existing(&slug).map(|f| (f, Detected::Explicit));
    }
    if let Some(env) = options.environment.filter(|e| !e.trim().is_empty()) {
        return existing(env.trim()).map(|f| (f, Detected::Environment));
    }
    if let Some(slug) = options.git_branch.and_then(feature_of_branch)
        && let Ok(feature) = existing(&slug)
    {
        return Ok((feature, Detected::GitBranch));
    }
    if let Some(slug) = options.cwd.and_then(|cwd| feature_of_path(project, cwd))
        && let Ok(feature) = existing(&slug)
    {
        return Ok((feature, Detected::WorkingDirectory));
    }
    let features = list_features(project);
    match features.as_slice() {
        [] => Err(DetectError::NoFeatures),
        [only] => existing(only).map(|f| (f, Detected::OnlyFeature)),
        _ if options.allow_latest_incomplete => features
            .iter()
            .rev()
            .find(|slug| !is_complete(&project.feature_dir(slug)))
            .ok_or_else(|| DetectError::Ambiguous(features.clone()))
            .and_then(|slug| existing(slug))
            .map(|f| (f, Detected::LatestIncomplete)),
        _ => Err(DetectError::Ambiguous(features)),
    }
}

/// `NNN-name`: three digits, a dash, something.
pub fn is_feature_slug(slug: &str) -> bool {
    let b = slug.as_bytes();
    b.len() > 4 && b[..3].iter().all(u8::is_ascii_digit) && b[3] == b'-'
}

/// Feature directories (`NNN-*`) under kitty-specs/, sorted.
pub fn list_features(project: &Project) -> Vec<String> {
    let mut slugs: Vec<String> = std::fs::read_dir(project.kitty_specs())
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| is_feature_slug(name))
        .collect();
    slugs.sort();
    slugs
}

/// `048` → the one feature `048-…`, when exactly one exists; anything else unchanged.
fn resolve_number(project: &Project, wanted: &str) -> String {
    if wanted.len() != 3 || !wanted.bytes().all(|b| b.is_ascii_digit()) {
        return wanted.to_owned();
    }
    let prefix = format!("{wanted}-");
    let matches: Vec<String> = list_features(project).into_iter().filter(|s| s.starts_with(&prefix)).collect();
    match matches.as_slice() {
        [only] => only.clone(),
        _ => wanted.to_owned(),
    }
}

/// `048-name-WP01` → `048-name`; `048-name` → itself.
pub fn feature_of_branch(branch: &str) -> Option<String> {
    let base = strip_wp_suffix(branch);
    is_feature_slug(base).then(|| base.to_owned())
}

fn strip_wp_suffix(name: &str) -> &str {
    let b = name.as_bytes();
    if b.len() > 5 && name.is_char_boundary(b.len() - 5) {
        let tail = &b[b.len() - 5..];
        if tail[0] == b'-' && tail[1] == b'W' && tail[2] == b'P' && tail[3..].iter().all(u8::is_ascii_digit) {
            return &name[..name.len() - 5];
        }
    }
    name
}

/// The feature a working directory belongs to: the component after `.worktrees/` or `kitty-specs/`, or
/// any ancestor named like a feature.
fn feature_of_path(project: &Project, cwd: &Path) -> Option<String> {
    let relative = cwd.strip_prefix(&project.root).unwrap_or(cwd);
    let parts: Vec<String> = relative.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    for window in parts.windows(2) {
        if window[0] == ".worktrees" || window[0] == "kitty-specs" {
            let candidate = strip_wp_suffix(&window[1]);
            if is_feature_slug(candidate) {
                return Some(candidate.to_owned());
            }
        }
    }
    parts.iter().rev().map(|p| strip_wp_suffix(p)).find(|p| is_feature_slug(p)).map(str::to_owned)
}

/// The next feature number: one more than the largest three-digit prefix in kitty-specs/ and
/// .worktrees/, zero-padded.
pub fn next_feature_number(project: &Project) -> String {
    let max = [project.kitty_specs(), project.root.join(".worktrees")]
        .iter()
        .flat_map(|dir| std::fs::read_dir(dir).into_iter().flatten().flatten())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|name| {
            name.get(..3).filter(|p| p.bytes().all(|b| b.is_ascii_digit())).and_then(|p| p.parse::<u32>().ok())
        })
        .max()
        .unwrap_or(0);
    format!("{:03}", max + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(features: &[&str]) -> (tempfile::TempDir, Project) {
        let tmp = tempfile::tempdir().unwrap();
        for f in features {
            std::fs::create_dir_all(tmp.path().join("kitty-specs").join(f)).unwrap();
        }
        let project = Project { root: tmp.path().to_owned() };
        (tmp, project)
    }

    fn detect(project: &Project, options: DetectOptions<'_>) -> Result<(String, Detected), DetectError> {
        detect_feature(project, &options, |dir| dir.ends_with("002-b")).map(|(f, how)| (f.slug, how))
    }

    #[test]
    fn priorities() {
        let (_tmp, p) = project(&["001-a", "002-b", "003-c"]);
        let opts =
            || DetectOptions { environment: Some("002-b"), git_branch: Some("003-c-WP02"), ..Default::default() };
        assert_eq!(
            detect(&p, DetectOptions { explicit: Some("001-a"), ..opts() }),
            Ok(("001-a".into(), Detected::Explicit))
        );
        assert_eq!(
            detect(&p, DetectOptions { explicit: Some("001"), ..opts() }),
            Ok(("001-a".into(), Detected::Explicit))
        );
        assert_eq!(detect(&p, opts()), Ok(("002-b".into(), Detected::Environment)));
        assert_eq!(
            detect(&p, DetectOptions { git_branch: Some("003-c-WP02"), ..Default::default() }),
            Ok(("003-c".into(), Detected::GitBranch))
        );
        let cwd = p.root.join(".worktrees/001-a-WP01/src");
        assert_eq!(
            detect(&p, DetectOptions { git_branch: Some("main"), cwd: Some(&cwd), ..Default::default() }),
            Ok(("001-a".into(), Detected::WorkingDirectory))
        );
        assert_eq!(
            detect(&p, DetectOptions { allow_latest_incomplete: true, ..Default::default() }),
            Ok(("003-c".into(), Detected::LatestIncomplete))
        );
        assert_eq!(
            detect(&p, DetectOptions::default()),
            Err(DetectError::Ambiguous(vec!["001-a".into(), "002-b".into(), "003-c".into()]))
        );
    }

    #[test]
    fn errors_and_single_feature() {
        let (_tmp, p) = project(&["001-a"]);
        assert_eq!(detect(&p, DetectOptions::default()), Ok(("001-a".into(), Detected::OnlyFeature)));
        assert_eq!(
            detect(&p, DetectOptions { explicit: Some("009-x"), ..Default::default() }),
            Err(DetectError::NotFound("009-x".into()))
        );
        assert_eq!(
            detect(&p, DetectOptions { explicit: Some("../x"), ..Default::default() }),
            Err(DetectError::BadSlug("../x".into()))
        );
        let (_tmp, empty) = project(&[]);
        assert_eq!(detect(&empty, DetectOptions::default()), Err(DetectError::NoFeatures));
    }

    #[test]
    fn numbering_looks_at_specs_and_worktrees() {
        let (tmp, p) = project(&["001-a", "041-x", "041-y"]);
        assert_eq!(next_feature_number(&p), "042");
        std::fs::create_dir_all(tmp.path().join(".worktrees/057-z-WP01")).unwrap();
        assert_eq!(next_feature_number(&p), "058");
        let (_t, empty) = project(&[]);
        assert_eq!(next_feature_number(&empty), "001");
    }
}
