//! Which files the dashboard may serve: features resolved by name inside the project, and documents
//! resolved inside their feature directory. A request can never name a path that leaves the feature
//! directory: `..`, absolute paths and backslashes are refused before anything is touched, and a
//! symbolic link that resolves outside the directory is refused after resolution.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// Why a request for data cannot be answered; the server maps each kind to an HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 400: a malformed query (`group_by=colour`, `since=yesterday`).
    #[error("{0}")]
    BadRequest(String),
    /// 403: a path that would leave the feature directory.
    #[error("{0}")]
    Forbidden(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 500: something on disk could not be read.
    #[error("{0}")]
    Internal(String),
}

/// A feature directory the dashboard shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureDir {
    pub id: String,
    pub dir: PathBuf,
    /// `main` (`kitty-specs/`) or `worktree` (`.worktrees/*/kitty-specs/`, a feature not yet merged).
    pub location: &'static str,
}

/// Every feature, by id, as upstream gathers them: those in `.worktrees/*/kitty-specs/` first, then
/// those in `kitty-specs/`, which win. A directory counts when its name starts with a digit or it has
/// a `tasks/` directory.
pub fn feature_dirs(root: &Path) -> BTreeMap<String, FeatureDir> {
    let mut found = BTreeMap::new();
    let mut scan = |specs: PathBuf, location: &'static str| {
        for entry in std::fs::read_dir(&specs).into_iter().flatten().flatten() {
            let Ok(id) = entry.file_name().into_string() else { continue };
            let dir = entry.path();
            let counts = id.starts_with(|c: char| c.is_ascii_digit()) || dir.join("tasks").is_dir();
            if dir.is_dir() && counts && !id.starts_with('.') {
                found.insert(id.clone(), FeatureDir { id, dir, location });
            }
        }
    };
    let worktrees = root.join(crate::workflow::workspace::WORKTREES_DIR);
    let mut trees: Vec<PathBuf> = std::fs::read_dir(&worktrees)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    trees.sort();
    for tree in trees {
        scan(tree.join("kitty-specs"), "worktree");
    }
    scan(root.join("kitty-specs"), "main");
    found
}

/// The feature named `id` (a directory name: no `/`, `..` or leading dot), which must stay inside the
/// project even through symbolic links.
pub fn resolve_feature(root: &Path, id: &str) -> Result<FeatureDir, ApiError> {
    let slug = crate::project::FeatureSlug::parse(id).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let feature = feature_dirs(root)
        .remove(slug.as_str())
        .ok_or_else(|| ApiError::NotFound(format!("no feature {:?} in kitty-specs/", slug.as_str())))?;
    let canonical_root = root.canonicalize().map_err(|e| ApiError::Internal(e.to_string()))?;
    let canonical = feature.dir.canonicalize().map_err(|e| ApiError::Internal(e.to_string()))?;
    if !canonical.starts_with(&canonical_root) {
        return Err(ApiError::Forbidden(format!("feature {id} leads outside the project")));
    }
    Ok(feature)
}

/// `relative` (as the request spelled it, already percent-decoded) inside `base`: only plain names
/// separated by `/` are accepted, and the resolved file must still be inside `base`.
pub fn safe_join(base: &Path, relative: &str) -> Result<PathBuf, ApiError> {
    let refuse = || ApiError::Forbidden(format!("{relative:?} leaves the feature directory"));
    if relative.is_empty() {
        return Err(ApiError::NotFound("no file named".into()));
    }
    if relative.contains(['\\', '\0']) || relative.starts_with('/') {
        return Err(refuse());
    }
    let path = Path::new(relative);
    if !path.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(refuse());
    }
    let joined = base.join(path);
    let canonical_base = base.canonicalize().map_err(|e| ApiError::Internal(e.to_string()))?;
    match joined.canonicalize() {
        Ok(resolved) if resolved.starts_with(&canonical_base) => Ok(resolved),
        Ok(_) => Err(refuse()),
        Err(_) => Err(ApiError::NotFound(format!("{relative} not found"))),
    }
}

/// A document as text: UTF-8 as it is, anything else decoded lossily behind a note saying how to fix
/// the file (upstream's dashboard does the same, without repairing the file behind the user's back).
pub fn read_document(path: &Path) -> Result<String, ApiError> {
    let bytes = crate::fsutil::read_small(path, crate::fsutil::LARGE_FILE_CAP).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ApiError::NotFound(format!("{} not found", file_name(path))),
        _ => ApiError::Internal(format!("cannot read {}: {e}", file_name(path))),
    })?;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text.to_owned()),
        Err(e) => Ok(format!(
            "> ⚠️ **Encoding error in {}**: the file is not UTF-8 (first bad byte at {}). Run \
             `spec-kitty validate-encoding --fix` to repair it; shown here with the bad bytes replaced.\n\n{}",
            file_name(path),
            e.valid_up_to(),
            String::from_utf8_lossy(bytes)
        )),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_only_inside_the_base() {
        let dir = tempfile::tempdir().unwrap();
        let feature = dir.path().join("kitty-specs/001-x");
        std::fs::create_dir_all(feature.join("research")).unwrap();
        std::fs::write(feature.join("research/notes.md"), "n").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "s").unwrap();
        assert!(safe_join(&feature, "research/notes.md").unwrap().ends_with("research/notes.md"));
        for bad in ["../../secret.txt", "research/../../../secret.txt", "/etc/passwd", "./research/notes.md", "a\\b"] {
            assert!(matches!(safe_join(&feature, bad), Err(ApiError::Forbidden(_))), "{bad}");
        }
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), feature.join("research/link.md")).unwrap();
        assert!(matches!(safe_join(&feature, "research/link.md"), Err(ApiError::Forbidden(_))));
        assert!(matches!(safe_join(&feature, "research/missing.md"), Err(ApiError::NotFound(_))));
    }

    #[test]
    fn features_come_from_kitty_specs_and_worktrees_and_names_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("kitty-specs/001-a")).unwrap();
        std::fs::create_dir_all(dir.path().join("kitty-specs/notes")).unwrap();
        std::fs::create_dir_all(dir.path().join(".worktrees/002-b/kitty-specs/002-b/tasks")).unwrap();
        std::fs::create_dir_all(dir.path().join(".worktrees/001-a-WP01/kitty-specs/001-a")).unwrap();
        let found = feature_dirs(dir.path());
        assert_eq!(found.keys().collect::<Vec<_>>(), ["001-a", "002-b"]);
        assert_eq!((found["001-a"].location, found["002-b"].location), ("main", "worktree"));
        assert!(matches!(resolve_feature(dir.path(), ".."), Err(ApiError::BadRequest(_))));
        assert!(matches!(resolve_feature(dir.path(), "a/b"), Err(ApiError::BadRequest(_))));
        assert!(matches!(resolve_feature(dir.path(), "003-c"), Err(ApiError::NotFound(_))));
        assert_eq!(resolve_feature(dir.path(), "001-a").unwrap().location, "main");
    }
}
