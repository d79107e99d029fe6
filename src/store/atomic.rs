//! Replacing a whole file so that readers see either the old or the new contents, never a mix.

use std::io;
use std::path::Path;

/// Writes `contents` to `<path>.tmp`, then renames it over `path` (upstream's `tmp` + `os.replace`).
///
/// The temp name is fixed, so concurrent writers of the same file must be serialised by the caller (our
/// writers hold the owning log's lock); a temp file left by a writer killed between the two steps is
/// overwritten by the next write. No fsync: the files written this way are views that can be rebuilt.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    let temp = Path::new(&temp);
    std::fs::write(temp, contents).and_then(|()| std::fs::rename(temp, path)).inspect_err(|_| {
        let _ = std::fs::remove_file(temp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("view.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_missing_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(write_atomic(&dir.path().join("missing/view.json"), b"x").is_err());
    }
}
