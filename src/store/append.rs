//! Appending one line to a shared JSONL file without ever gluing it onto another.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// An exclusively locked log file, open for appending. The lock is advisory (`flock`) and is released
/// when the value is dropped; every writer of ours takes it, so appends and the bookkeeping done under
/// it (such as a Lamport clock) are serialised across processes.
///
/// The log must be a regular file (a FIFO or device is refused) and may be a symbolic link only to a
/// file in its own directory (see [`crate::fsutil`]).
#[derive(Debug)]
pub struct LockedLog {
    file: File,
    path: PathBuf,
}

impl LockedLog {
    /// Opens (creating if needed) and locks `path`, waiting at most `timeout` for another process's
    /// lock (then an error of kind `TimedOut` carrying a [`crate::fsutil::LockTimeout`]).
    pub fn open(path: &Path, timeout: Duration) -> io::Result<Self> {
        crate::fsutil::refuse_escaping_link(path)?;
        let file = crate::fsutil::open_regular(path, OpenOptions::new().read(true).append(true).create(true))?;
        crate::fsutil::lock_exclusive(&file, path, timeout)?;
        Ok(LockedLog { file, path: path.to_owned() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    pub fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Up to `max_bytes` from the end of the file.
    pub fn tail(&self, max_bytes: u64) -> io::Result<Vec<u8>> {
        let len = self.len()?;
        let start = len.saturating_sub(max_bytes);
        let mut buf = vec![0; (len - start) as usize];
        self.file.read_exact_at(&mut buf, start)?;
        Ok(buf)
    }

    /// Appends `line` plus a newline in a single write. If the file ends in a torn line (a writer died
    /// mid-write), the new line starts on a fresh line so it stays parseable; the torn one is left for
    /// readers to report. A write that fails (disk full, file-size limit) or stops short is undone: the
    /// file is truncated back to its length before the write, still under the lock, and the error is
    /// returned, so a failed append leaves nothing behind.
    pub fn append_line(&mut self, line: &str) -> io::Result<()> {
        debug_assert!(!line.contains('\n'));
        let torn = self.tail(1)?.first().is_some_and(|&b| b != b'\n');
        let mut buf = Vec::with_capacity(line.len() + 2);
        if torn {
            buf.push(b'\n');
        }
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        let before = self.len()?;
        let Err(error) = self.file.write_all(&buf) else { return Ok(()) };
        match self.file.set_len(before) {
            Ok(()) => Err(error),
            Err(undo) => Err(io::Error::new(
                error.kind(),
                format!("{error} (and the partial line could not be removed: {undo})"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_repairs_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        std::fs::write(&path, "{\"a\": 1}\n{\"torn").unwrap();
        let mut log = LockedLog::open(&path, Duration::from_secs(5)).unwrap();
        log.append_line("{\"b\": 2}").unwrap();
        log.append_line("{\"c\": 3}").unwrap();
        drop(log);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"a\": 1}\n{\"torn\n{\"b\": 2}\n{\"c\": 3}\n");
    }

    #[test]
    fn tail_reads_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let mut log = LockedLog::open(&path, Duration::from_secs(5)).unwrap();
        assert!(log.is_empty().unwrap());
        assert_eq!(log.tail(10).unwrap(), b"");
        log.append_line("hello").unwrap();
        assert_eq!(log.tail(3).unwrap(), b"lo\n");
        assert_eq!(log.tail(100).unwrap(), b"hello\n");
    }

    #[test]
    fn devices_and_fifos_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("log.jsonl");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = LockedLog::open(&fifo, Duration::from_secs(1)).unwrap_err();
        assert!(err.to_string().contains("a FIFO"), "{err}");
    }

    const WORKER_ENV: &str = "SPEC_KITTY_APPEND_TEST_WORKER";

    #[test]
    fn a_failed_append_leaves_nothing() {
        // Child mode: this test binary re-run under a 4 KiB file-size limit, SIGXFSZ ignored (as main does).
        if let Ok(path) = std::env::var(WORKER_ENV) {
            let limit = libc::rlimit { rlim_cur: 4096, rlim_max: 4096 };
            // SAFETY: plain system calls on this dedicated child process.
            unsafe {
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
            }
            let mut log = LockedLog::open(Path::new(&path), Duration::from_secs(5)).unwrap();
            let err = log.append_line(&"x".repeat(5000)).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EFBIG), "{err}");
            log.append_line("{\"small\": 1}").unwrap();
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        std::fs::write(&path, "{\"a\": 1}\n{\"torn").unwrap();
        let test_name = format!("{}::a_failed_append_leaves_nothing", module_path!());
        let test_name = test_name.split_once("::").map_or(test_name.as_str(), |(_, rest)| rest).to_owned();
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", &test_name, "--test-threads=1", "--quiet"])
            .env(WORKER_ENV, &path)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "worker failed: {status}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"a\": 1}\n{\"torn\n{\"small\": 1}\n");
    }
}
