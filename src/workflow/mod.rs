//! The spec-kitty workflow model: work-package prompt files, `tasks.md`, lanes and the canonical status
//! log. Pure file-format and domain logic; commands compose these pieces (see `crate::cli`).

pub mod acceptance;
pub mod activity;
pub mod board;
pub mod encoding;
pub mod frontmatter;
pub mod graph;
pub mod lanes;
pub mod lock;
pub mod next;
pub mod prerequisites;
pub mod research;
pub mod status;
pub mod tasks_md;
pub mod transition;
pub mod workspace;
pub mod wp;

use std::path::Path;

/// A feature is complete when it has work packages and every `tasks/WP*.md` is in lane `done`.
pub fn feature_is_complete(feature_dir: &Path) -> bool {
    let packages = wp::WorkPackage::all(feature_dir);
    !packages.is_empty()
        && packages.iter().all(|wp| wp.as_ref().is_ok_and(|wp| wp.raw_lane().as_deref() == Some("done")))
}

/// The work-package prompt files of a feature (`tasks/WP*.md`, README excluded), sorted by name.
pub fn wp_files(feature_dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(feature_dir.join("tasks"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("WP") && n.ends_with(".md")))
        .collect();
    files.sort();
    files
}
