//! Work-package prompt files `kitty-specs/<feature>/tasks/WPxx-<slug>.md`: finding, reading and saving
//! them. Edits go through [`WpDocument`], so a save changes only the lines that were edited.

use super::frontmatter::{FrontmatterError, WpDocument};
use super::lanes::{Lane, UnknownLane};
use super::lock::FeatureLock;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum WpError {
    #[error("work package id '{0}' is not valid (expected WP01 … WP99)")]
    BadId(String),
    #[error("no tasks/ directory in {}", .0.display())]
    NoTasksDir(PathBuf),
    #[error("work package {wp} not found in {}", dir.display())]
    NotFound { wp: String, dir: PathBuf },
    #[error("several files match {wp}: {}", files.join(", "))]
    Ambiguous { wp: String, files: Vec<String> },
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}: {source}", path.display())]
    Frontmatter { path: PathBuf, source: FrontmatterError },
    #[error("{}: lane: {source}", path.display())]
    Lane { path: PathBuf, source: UnknownLane },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
}

impl crate::error::Diagnose for WpError {
    fn exit_code(&self) -> u8 {
        match self {
            WpError::BadId(_) => crate::error::EXIT_USAGE,
            _ => crate::error::EXIT_FAILURE,
        }
    }
}

/// `WP1`, `wp01`, `WP01` → `WP01`.
pub fn normalize_wp_id(input: &str) -> Result<String, WpError> {
    let trimmed = input.trim();
    let digits = trimmed.get(..2).filter(|p| p.eq_ignore_ascii_case("wp")).map(|_| &trimmed[2..]);
    match digits.and_then(|d| (!d.is_empty() && d.len() <= 2 && d.bytes().all(|b| b.is_ascii_digit())).then_some(d)) {
        Some(d) => Ok(format!("WP{:0>2}", d)),
        None => Err(WpError::BadId(input.to_owned())),
    }
}

/// One work-package prompt file, parsed.
#[derive(Debug, Clone)]
pub struct WorkPackage {
    pub id: String,
    pub path: PathBuf,
    pub doc: WpDocument,
}

impl WorkPackage {
    /// The file of `wp_id` in `feature_dir/tasks/`: a name starting `WPxx-`, `WPxx_`, `WPxx.` (README
    /// excluded), exactly one.
    pub fn locate(feature_dir: &Path, wp_id: &str) -> Result<PathBuf, WpError> {
        let tasks = feature_dir.join("tasks");
        if !tasks.is_dir() {
            return Err(WpError::NoTasksDir(feature_dir.to_owned()));
        }
        let mut matches: Vec<PathBuf> = super::wp_files(feature_dir)
            .into_iter()
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|name| file_is_wp(name, wp_id)))
            .collect();
        match matches.len() {
            0 => Err(WpError::NotFound { wp: wp_id.to_owned(), dir: tasks }),
            1 => Ok(matches.remove(0)),
            _ => Err(WpError::Ambiguous {
                wp: wp_id.to_owned(),
                files: matches.iter().filter_map(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()).collect(),
            }),
        }
    }

    pub fn load(feature_dir: &Path, wp_id: &str) -> Result<WorkPackage, WpError> {
        let id = normalize_wp_id(wp_id)?;
        let path = Self::locate(feature_dir, &id)?;
        Self::load_path(&path, id)
    }

    pub fn load_path(path: &Path, id: String) -> Result<WorkPackage, WpError> {
        let text = crate::fsutil::read_small_string(path, crate::fsutil::LARGE_FILE_CAP)
            .map_err(|source| WpError::Read { path: path.to_owned(), source })?;
        let doc = WpDocument::parse(&text).map_err(|source| WpError::Frontmatter { path: path.to_owned(), source })?;
        Ok(WorkPackage { id, path: path.to_owned(), doc })
    }

    /// Every work package of a feature, by id. Files that fail to parse are returned as errors so
    /// callers can report them.
    pub fn all(feature_dir: &Path) -> Vec<Result<WorkPackage, WpError>> {
        super::wp_files(feature_dir)
            .iter()
            .filter_map(|path| {
                let name = path.file_name()?.to_str()?;
                let id = normalize_wp_id(name.get(..4)?).ok()?;
                Some(Self::load_path(path, id))
            })
            .collect()
    }

    /// The frontmatter lane as written (`doing` stays `doing`).
    pub fn raw_lane(&self) -> Option<String> {
        self.doc.scalar("lane")
    }

    /// The canonical lane; a missing lane is `planned`, as upstream reads it.
    pub fn lane(&self) -> Result<Lane, WpError> {
        match self.raw_lane() {
            None => Ok(Lane::Planned),
            Some(raw) => Lane::parse(&raw).map_err(|source| WpError::Lane { path: self.path.clone(), source }),
        }
    }

    pub fn title(&self) -> String {
        self.doc.scalar("title").unwrap_or_else(|| self.id.clone())
    }

    pub fn dependencies(&self) -> Vec<String> {
        self.doc.list("dependencies").unwrap_or_default()
    }

    /// Writes the document back (only edited lines differ from what was read). The feature lock must be
    /// held since before the file was read, so no other writer's change is overwritten.
    pub fn save(&self, lock: &FeatureLock) -> Result<(), WpError> {
        lock.write(&self.path, self.doc.render().as_bytes())
            .map_err(|source| WpError::Write { path: self.path.clone(), source })
    }
}

fn file_is_wp(name: &str, wp_id: &str) -> bool {
    name.strip_prefix(wp_id).is_some_and(|rest| rest.starts_with(['-', '_', '.']))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_normalise() {
        assert_eq!(normalize_wp_id("wp1").unwrap(), "WP01");
        assert_eq!(normalize_wp_id(" WP07 ").unwrap(), "WP07");
        for bad in ["WP", "WP123", "1", "WPx1", "", "T001"] {
            assert!(normalize_wp_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn locates_loads_and_saves() {
        let dir = tempfile::tempdir().unwrap();
        let tasks = dir.path().join("tasks");
        std::fs::create_dir_all(&tasks).unwrap();
        std::fs::write(
            tasks.join("WP01-storage.md"),
            "---\nwork_package_id: WP01\ntitle: Storage\nlane: \"doing\"\ndependencies: []\n---\nbody\n",
        )
        .unwrap();
        std::fs::write(tasks.join("WP010-not-it.md"), "---\n---\n").unwrap();
        std::fs::write(tasks.join("README.md"), "x").unwrap();
        let mut wp = WorkPackage::load(dir.path(), "wp1").unwrap();
        assert_eq!((wp.id.as_str(), wp.title().as_str()), ("WP01", "Storage"));
        assert_eq!(wp.lane().unwrap(), Lane::InProgress);
        assert_eq!(wp.raw_lane().as_deref(), Some("doing"));
        wp.doc.set_scalar("lane", "for_review");
        wp.save(&FeatureLock::acquire(dir.path(), std::time::Duration::from_secs(30)).unwrap()).unwrap();
        assert!(std::fs::read_to_string(tasks.join("WP01-storage.md")).unwrap().contains("lane: \"for_review\"\n"));
        assert!(matches!(WorkPackage::load(dir.path(), "WP02"), Err(WpError::NotFound { .. })));
        std::fs::write(tasks.join("WP01_copy.md"), "---\n---\n").unwrap();
        assert!(matches!(WorkPackage::load(dir.path(), "WP01"), Err(WpError::Ambiguous { .. })));
    }
}
