//! Appending one line to a shared JSONL file without ever gluing it onto another.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// An exclusively locked log file, open for appending. The lock is advisory (`flock`) and is released
/// when the value is dropped; every writer of ours takes it, so appends and the bookkeeping done under
/// it (such as a Lamport clock) are serialised across processes.
#[derive(Debug)]
pub struct LockedLog {
    file: File,
    path: PathBuf,
}

impl LockedLog {
    /// Opens (creating if needed) and locks `path`. Blocks while another process holds the lock.
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new().read(true).append(true).create(true).open(path)?;
        file.lock()?;
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
    /// readers to report.
    pub fn append_line(&mut self, line: &str) -> io::Result<()> {
        debug_assert!(!line.contains('\n'));
        let torn = self.tail(1)?.first().is_some_and(|&b| b != b'\n');
        let mut buf = Vec::with_capacity(line.len() + 2);
        if torn {
            buf.push(b'\n');
        }
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        self.file.write_all(&buf)
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
        let mut log = LockedLog::open(&path).unwrap();
        log.append_line("{\"b\": 2}").unwrap();
        log.append_line("{\"c\": 3}").unwrap();
        drop(log);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"a\": 1}\n{\"torn\n{\"b\": 2}\n{\"c\": 3}\n");
    }

    #[test]
    fn tail_reads_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let mut log = LockedLog::open(&path).unwrap();
        assert!(log.is_empty().unwrap());
        assert_eq!(log.tail(10).unwrap(), b"");
        log.append_line("hello").unwrap();
        assert_eq!(log.tail(3).unwrap(), b"lo\n");
        assert_eq!(log.tail(100).unwrap(), b"hello\n");
    }
}
