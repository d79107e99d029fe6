//! Small file-system helpers shared by the stores.

use std::io::Write;
use std::path::Path;

/// Replaces `path` atomically: write a sibling temp file, rename it over `path`. Readers see the old or
/// the new content, never a torn mix. The temp name is unique per process so concurrent writers of one
/// file cannot clobber each other's temp file. No fsync, as upstream: these are project files under
/// git, and ext4 and its peers flush a replaced file's data before the rename becomes durable.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let temp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let result = std::fs::File::create(&temp)
        .and_then(|mut file| file.write_all(bytes))
        .and_then(|()| std::fs::rename(&temp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// Replaces `path` via `<path>.tmp` + rename, the way upstream replaces its views (`tmp` +
/// `os.replace`). The temp name is fixed, so the caller must hold the lock that serialises writers of
/// this file; a temp file left by a writer killed between the two steps is overwritten by the next
/// write. No fsync: files written this way are views or caches that can be rebuilt.
pub fn replace_locked(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    let temp = Path::new(&temp);
    std::fs::write(temp, bytes).and_then(|()| std::fs::rename(temp, path)).inspect_err(|_| {
        let _ = std::fs::remove_file(temp);
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn replace_locked_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("view.json");
        super::replace_locked(&path, b"one").unwrap();
        super::replace_locked(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(super::replace_locked(&dir.path().join("missing/view.json"), b"x").is_err());
    }

    #[test]
    fn replaces_content_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        super::write_atomic(&path, b"one").unwrap();
        super::write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
