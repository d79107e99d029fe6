//! The feature lock: the one way to change a feature's workflow files.
//!
//! Every command that edits `kitty-specs/<feature>/` — WP prompt files, `tasks.md`, `meta.json`, the
//! status log and `status.json` — holds this lock for its whole read-modify-write: it takes the lock,
//! reads what it will change, and writes before letting go. Two commands on one feature (an agent's
//! `add-history` racing a `move-task`, the orchestrator moving one WP while a person moves another) are
//! therefore serialised, and neither writes back a stale copy of what the other changed.
//!
//! The lock is an advisory `flock` on the feature directory itself, so it leaves no file behind in the
//! project (a lock file would show up in `git status`). The writes go through [`FeatureLock`], so a write
//! without the lock does not compile.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// Proof that this process holds the feature's lock; released on drop.
#[derive(Debug)]
pub struct FeatureLock {
    /// Kept open: the lock lives as long as this descriptor.
    _dir: File,
    feature_dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot lock feature directory {}: {source}", path.display())]
    Lock { path: PathBuf, source: io::Error },
}

impl FeatureLock {
    /// Takes the lock of `feature_dir` (which must exist), waiting while another process holds it.
    pub fn acquire(feature_dir: &Path) -> Result<FeatureLock, LockError> {
        let error = |source| LockError::Lock { path: feature_dir.to_owned(), source };
        let dir = File::open(feature_dir).map_err(error)?;
        dir.lock().map_err(error)?;
        Ok(FeatureLock { _dir: dir, feature_dir: feature_dir.to_owned() })
    }

    pub fn feature_dir(&self) -> &Path {
        &self.feature_dir
    }

    /// Replaces `path` (a file of this feature) atomically with `bytes`.
    pub fn write(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        debug_assert!(
            path.starts_with(&self.feature_dir),
            "{} is outside {}",
            path.display(),
            self.feature_dir.display()
        );
        crate::fsutil::write_atomic(path, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Barrier};

    #[test]
    fn a_second_holder_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let first = FeatureLock::acquire(dir.path()).unwrap();
        let released = Arc::new(AtomicBool::new(false));
        let barrier = Arc::new(Barrier::new(2));
        let waiter = {
            let (path, released, barrier) = (dir.path().to_owned(), released.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let _second = FeatureLock::acquire(&path).unwrap();
                released.load(Ordering::SeqCst)
            })
        };
        barrier.wait();
        std::thread::sleep(std::time::Duration::from_millis(50));
        released.store(true, Ordering::SeqCst);
        drop(first);
        assert!(waiter.join().unwrap(), "the second lock was granted while the first was held");
    }

    #[test]
    fn writes_replace_files_and_a_missing_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let lock = FeatureLock::acquire(dir.path()).unwrap();
        lock.write(&dir.path().join("tasks.md"), b"x").unwrap();
        assert_eq!(std::fs::read(dir.path().join("tasks.md")).unwrap(), b"x");
        let err = FeatureLock::acquire(&dir.path().join("missing")).unwrap_err();
        assert!(err.to_string().starts_with("cannot lock feature directory"), "{err}");
    }
}
