//! Finding log files: a bounded walk of an agent's folders.

use std::fs::FileType;
use std::path::{Path, PathBuf};

/// Appends to `out` the files below `dir` that `keep` accepts, descending at most `depth` folders and
/// into none that `enter` refuses (by name). Unreadable folders are passed over: a log folder may vanish
/// while it is listed.
pub fn files(
    dir: &Path,
    depth: usize,
    enter: &dyn Fn(&std::ffi::OsStr) -> bool,
    keep: &dyn Fn(&Path, FileType) -> bool,
    out: &mut Vec<PathBuf>,
) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else { continue };
        let path = entry.path();
        if kind.is_dir() {
            if depth > 0 && enter(&entry.file_name()) {
                files(&path, depth - 1, enter, keep, out);
            }
        } else if keep(&path, kind) {
            out.push(path);
        }
    }
}

/// Every folder may be entered.
pub fn any_folder(_: &std::ffi::OsStr) -> bool {
    true
}
