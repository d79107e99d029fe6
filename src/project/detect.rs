//! Which feature a command acts on, with upstream's priorities (reference/workflow.md, "How upstream picks
//! the feature when `--feature` is absent"): `--feature`, then `$SPECIFY_FEATURE`, the git branch, the
//! working directory, the only feature, and finally the highest-numbered incomplete feature.
//!
//! Two deliberate differences from upstream, both more lenient, never stricter:
//! - a bare number (`--feature 48`, `048`) names the one feature with that number; several or none is an
//!   error listing the candidates (upstream rejects numbers as "invalid slug format");
//! - a branch or directory that only *looks* like a feature (a `123-fix-login` branch with no
//!   `kitty-specs/123-fix-login/`) falls through to the next rule instead of failing the command.

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
    #[error("Feature directory not found: kitty-specs/{slug}")]
    NotFound { slug: String, available: Vec<String> },
    #[error("Invalid feature slug format: {0} (expected ###-feature-name, e.g. 020-my-feature)")]
    BadSlug(String),
    #[error("No features found in kitty-specs/")]
    NoFeatures,
    #[error("All features are complete ({} features); say which one to act on", .0.len())]
    AllComplete(Vec<String>),
    #[error("several features are numbered {number}: {}", .candidates.join(", "))]
    AmbiguousNumber { number: String, candidates: Vec<String> },
    #[error("no feature is numbered {number}")]
    UnknownNumber { number: String, available: Vec<String> },
}

impl DetectError {
    /// The features the user could have meant (for hints and `--json` error objects).
    pub fn candidates(&self) -> &[String] {
        match self {
            DetectError::NotFound { available: list, .. }
            | DetectError::AllComplete(list)
            | DetectError::AmbiguousNumber { candidates: list, .. }
            | DetectError::UnknownNumber { available: list, .. } => list,
            DetectError::BadSlug(_) | DetectError::NoFeatures => &[],
        }
    }
}

impl crate::error::Diagnose for DetectError {
    fn hints(&self) -> Vec<String> {
        let candidates = self.candidates();
        vec![match self {
            DetectError::BadSlug(_) => "feature slugs look like 001-my-feature".to_owned(),
            _ if candidates.is_empty() => "create one with `spec-kitty agent feature create-feature <slug>`".to_owned(),
            _ => format!("pass --feature (or set SPECIFY_FEATURE) to one of: {}", candidates.join(", ")),
        }]
    }

    fn error_code(&self) -> Option<&'static str> {
        Some("FEATURE_CONTEXT_UNRESOLVED")
    }

    /// Upstream's `candidate_features` key of the `--json` error object.
    fn details(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        let mut details = serde_json::Map::new();
        details.insert("candidate_features".to_owned(), serde_json::json!(self.candidates()));
        Some(details)
    }
}

/// Inputs to detection besides the project itself.
#[derive(Debug, Clone, Default)]
pub struct DetectOptions<'a> {
    pub explicit: Option<&'a str>,
    pub environment: Option<&'a str>,
    pub git_branch: Option<&'a str>,
    pub cwd: Option<&'a Path>,
}

/// Resolves the feature. `is_complete` tells whether a feature directory is finished (every WP done),
/// used only for the latest-incomplete fallback.
pub fn detect_feature(
    project: &Project,
    options: &DetectOptions<'_>,
    is_complete: impl Fn(&Path) -> bool,
) -> Result<(Feature, Detected), DetectError> {
    let existing = |slug: &str| -> Result<Feature, DetectError> {
        let slug = resolve_number(project, slug)?;
        if !is_feature_slug(&slug) {
            return Err(DetectError::BadSlug(slug));
        }
        let dir = project.feature_dir(&slug);
        if dir.is_dir() {
            Ok(Feature { slug, dir })
        } else {
            Err(DetectError::NotFound { slug, available: list_features(project) })
        }
    };
    if let Some(explicit) = options.explicit.map(str::trim).filter(|e| !e.is_empty()) {
        return existing(explicit).map(|f| (f, Detected::Explicit));
    }
    if let Some(env) = options.environment.map(str::trim).filter(|e| !e.is_empty()) {
        return existing(env).map(|f| (f, Detected::Environment));
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
        _ => match latest_incomplete(&features, |slug| is_complete(&project.feature_dir(slug))) {
            Some(slug) => existing(slug).map(|f| (f, Detected::LatestIncomplete)),
            None => Err(DetectError::AllComplete(features)),
        },
    }
}

/// The highest-numbered feature that is not complete (upstream compares the numbers, so among features
/// sharing a number the first in name order wins).
fn latest_incomplete(features: &[String], is_complete: impl Fn(&str) -> bool) -> Option<&String> {
    let number = |slug: &str| slug.get(..3).and_then(|n| n.parse::<u32>().ok()).unwrap_or(0);
    features.iter().filter(|slug| !is_complete(slug)).fold(None, |best: Option<&String>, slug| match best {
        Some(b) if number(b) >= number(slug) => Some(b),
        _ => Some(slug),
    })
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

/// A bare number (`48`, `048`) → the one feature numbered so; anything else unchanged. Several features
/// share a number after concurrent creation (upstream's own repository has two `041-…`), so both
/// "several" and "none" are errors that list the candidates rather than a guess.
pub fn resolve_number(project: &Project, wanted: &str) -> Result<String, DetectError> {
    if wanted.is_empty() || !wanted.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(wanted.to_owned());
    }
    let number = wanted.trim_start_matches('0');
    let features = list_features(project);
    let matches: Vec<String> =
        features.iter().filter(|slug| slug[..3].trim_start_matches('0') == number).cloned().collect();
    match matches.len() {
        1 => Ok(matches.into_iter().next().unwrap_or_default()),
        0 => Err(DetectError::UnknownNumber { number: wanted.to_owned(), available: features }),
        _ => Err(DetectError::AmbiguousNumber { number: wanted.to_owned(), candidates: matches }),
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
        detect_feature(project, &options, |dir| dir.ends_with("003-c")).map(|(f, how)| (f.slug, how))
    }

    #[test]
    fn priorities() {
        let (_tmp, p) = project(&["001-a", "002-b", "003-c"]);
        let opts =
            || DetectOptions { environment: Some("002-b"), git_branch: Some("003-c-WP02"), ..Default::default() };
        assert_eq!(
            detect(&p, DetectOptions { explicit: Some(" 001-a "), ..opts() }),
            Ok(("001-a".into(), Detected::Explicit))
        );
        assert_eq!(
            detect(&p, DetectOptions { explicit: Some("1"), ..opts() }),
            Ok(("001-a".into(), Detected::Explicit))
        );
        assert_eq!(detect(&p, opts()), Ok(("002-b".into(), Detected::Environment)));
        assert_eq!(
            detect(&p, DetectOptions { environment: Some("  "), ..opts() }),
            Ok(("003-c".into(), Detected::GitBranch))
        );
        assert_eq!(
            detect(&p, DetectOptions { git_branch: Some("003-c"), ..Default::default() }),
            Ok(("003-c".into(), Detected::GitBranch))
        );
        let cwd = p.root.join(".worktrees/001-a-WP01/src");
        assert_eq!(
            detect(&p, DetectOptions { git_branch: Some("main"), cwd: Some(&cwd), ..Default::default() }),
            Ok(("001-a".into(), Detected::WorkingDirectory))
        );
        let cwd = p.root.join("kitty-specs/002-b/tasks");
        assert_eq!(
            detect(&p, DetectOptions { cwd: Some(&cwd), ..Default::default() }),
            Ok(("002-b".into(), Detected::WorkingDirectory))
        );
        // 003-c is complete (see `detect`), so the latest incomplete one is 002-b.
        assert_eq!(detect(&p, DetectOptions::default()), Ok(("002-b".into(), Detected::LatestIncomplete)));
    }

    #[test]
    fn a_branch_or_directory_that_only_looks_like_a_feature_falls_through() {
        let (_tmp, p) = project(&["001-a"]);
        let cwd = p.root.join("src/123-legacy");
        assert_eq!(
            detect(&p, DetectOptions { git_branch: Some("123-fix-login"), cwd: Some(&cwd), ..Default::default() }),
            Ok(("001-a".into(), Detected::OnlyFeature))
        );
    }

    #[test]
    fn latest_incomplete_compares_numbers_and_all_complete_is_an_error() {
        let (_tmp, p) = project(&["001-a", "009-z", "010-b", "010-c"]);
        assert_eq!(detect_feature(&p, &DetectOptions::default(), |_| false).map(|(f, _)| f.slug), Ok("010-b".into()));
        assert_eq!(
            detect_feature(&p, &DetectOptions::default(), |dir| dir.to_string_lossy().contains("010"))
                .map(|(f, _)| f.slug),
            Ok("009-z".into())
        );
        let all = detect_feature(&p, &DetectOptions::default(), |_| true).unwrap_err();
        assert_eq!(all, DetectError::AllComplete(vec!["001-a".into(), "009-z".into(), "010-b".into(), "010-c".into()]));
        assert!(all.to_string().starts_with("All features are complete (4 features)"), "{all}");
    }

    #[test]
    fn bare_numbers_must_name_exactly_one_feature() {
        let (_tmp, p) = project(&["001-a", "041-x", "041-y"]);
        assert_eq!(resolve_number(&p, "01"), Ok("001-a".into()));
        assert_eq!(
            resolve_number(&p, "041"),
            Err(DetectError::AmbiguousNumber {
                number: "041".into(),
                candidates: vec!["041-x".into(), "041-y".into()]
            })
        );
        let unknown = resolve_number(&p, "0").unwrap_err();
        assert!(matches!(&unknown, DetectError::UnknownNumber { number, .. } if number == "0"), "{unknown:?}");
        assert_eq!(unknown.candidates(), ["001-a", "041-x", "041-y"]);
        assert_eq!(resolve_number(&p, "041-x"), Ok("041-x".into()));
        assert_eq!(resolve_number(&p, ""), Ok("".into()));
    }

    #[test]
    fn errors_and_single_feature() {
        let (_tmp, p) = project(&["001-a"]);
        assert_eq!(detect(&p, DetectOptions::default()), Ok(("001-a".into(), Detected::OnlyFeature)));
        assert_eq!(
            detect(&p, DetectOptions { explicit: Some("009-x"), ..Default::default() }),
            Err(DetectError::NotFound { slug: "009-x".into(), available: vec!["001-a".into()] })
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
