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
use std::time::Duration;

/// What to do when another process holds a feature's lock (or its status log's) for too long.
pub const BUSY_HINT: &str = "another spec-kitty command is changing this feature; retry when it is done, or wait \
                             longer with SPEC_KITTY_LOCK_TIMEOUT_MS";

/// Proof that this process holds the feature's lock; released on drop.
#[derive(Debug)]
pub struct FeatureLock {
    /// Kept open: the lock lives as long as this descriptor.
    _dir: File,
    feature_dir: PathBuf,
    timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process held the lock for longer than we were willing to wait; the message names the
    /// feature directory and, when known, the holder's pid.
    #[error("{0}")]
    TimedOut(io::Error),
    #[error("cannot lock feature directory {}: {source}", path.display())]
    Lock { path: PathBuf, source: io::Error },
}

impl crate::error::Diagnose for LockError {
    fn hints(&self) -> Vec<String> {
        match self {
            LockError::TimedOut(_) => vec![BUSY_HINT.into()],
            LockError::Lock { .. } => Vec::new(),
        }
    }
}

impl FeatureLock {
    /// Takes the lock of `feature_dir` (which must exist), waiting at most `timeout` while another
    /// process holds it (`SPEC_KITTY_LOCK_TIMEOUT_MS`, see [`crate::context`]).
    pub fn acquire(feature_dir: &Path, timeout: Duration) -> Result<FeatureLock, LockError> {
        let error = |source| LockError::Lock { path: feature_dir.to_owned(), source };
        let dir = File::open(feature_dir).map_err(error)?;
        crate::fsutil::lock_exclusive(&dir, feature_dir, timeout).map_err(|e| match e.kind() {
            io::ErrorKind::TimedOut => LockError::TimedOut(e),
            _ => error(e),
        })?;
        Ok(FeatureLock { _dir: dir, feature_dir: feature_dir.to_owned(), timeout })
    }

    pub fn feature_dir(&self) -> &Path {
        &self.feature_dir
    }

    /// How long the holder is willing to wait for the other locks it takes while holding this one.
    pub fn timeout(&self) -> Duration {
        self.timeout
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

    const WAIT: Duration = Duration::from_secs(30);

    #[test]
    fn a_second_holder_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let first = FeatureLock::acquire(dir.path(), WAIT).unwrap();
        let released = Arc::new(AtomicBool::new(false));
        let barrier = Arc::new(Barrier::new(2));
        let waiter = {
            let (path, released, barrier) = (dir.path().to_owned(), released.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let _second = FeatureLock::acquire(&path, WAIT).unwrap();
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
        let lock = FeatureLock::acquire(dir.path(), WAIT).unwrap();
        lock.write(&dir.path().join("tasks.md"), b"x").unwrap();
        assert_eq!(std::fs::read(dir.path().join("tasks.md")).unwrap(), b"x");
        let err = FeatureLock::acquire(&dir.path().join("missing"), WAIT).unwrap_err();
        assert!(err.to_string().starts_with("cannot lock feature directory"), "{err}");
    }

    #[test]
    fn a_held_lock_is_waited_for_only_as_long_as_allowed_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let _held = FeatureLock::acquire(dir.path(), WAIT).unwrap();
        let err = FeatureLock::acquire(dir.path(), Duration::from_millis(30)).unwrap_err();
        assert!(matches!(err, LockError::TimedOut(_)), "{err:?}");
        assert!(err.to_string().contains(&dir.path().display().to_string()), "{err}");
    }
}
