//! `.kittify/.dashboard`: where a project's running dashboard is, in upstream's four-line format —
//!
//! ```text
//! http://127.0.0.1:9237
//! 9237
//! 3f6c…(32 hex digits: the token that /api/shutdown requires)
//! 48213
//! ```
//!
//! (URL, port, token, pid). Upstream reads lines 3 and 4 as optional and skips blank lines; so do we.
//! The server writes the file once it listens (mode 0600, replaced atomically) and removes it when it
//! stops, if it still names that server.

use std::io;
use std::path::{Path, PathBuf};

/// The record, relative to the project root (as upstream).
pub const RECORD_FILE: &str = ".kittify/.dashboard";
/// Our runtime files (the background server's log, the start lock), relative to the project root.
pub const RUNTIME_DIR: &str = ".kittify/runtime";
pub const LOG_FILE: &str = "dashboard.log";
pub const LOCK_FILE: &str = "dashboard.lock";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub url: String,
    pub port: Option<u16>,
    pub token: Option<String>,
    pub pid: Option<u32>,
}

impl Record {
    pub fn new(port: u16, token: &str, pid: u32) -> Self {
        Record { url: url_of(port), port: Some(port), token: Some(token.to_owned()), pid: Some(pid) }
    }

    /// Parses the file as upstream's `_parse_dashboard_file` does: blank lines skipped, line 2 the
    /// port, line 3 the token, line 4 the pid; unparsable numbers are absent. `None` for an empty file.
    pub fn parse(text: &str) -> Option<Record> {
        let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        let url = (*lines.first()?).to_owned();
        Some(Record {
            url,
            port: lines.get(1).and_then(|p| p.parse().ok()).filter(|&p| p != 0),
            token: lines.get(2).map(|t| (*t).to_owned()),
            pid: lines.get(3).and_then(|p| p.parse().ok()).filter(|&p| p != 0),
        })
    }

    /// The file's bytes: the lines present, each ending in a newline.
    pub fn to_text(&self) -> String {
        let mut lines = vec![self.url.clone()];
        if let Some(port) = self.port {
            lines.push(port.to_string());
            if let Some(token) = &self.token {
                lines.push(token.clone());
                if let Some(pid) = self.pid {
                    lines.push(pid.to_string());
                }
            }
        }
        lines.join("\n") + "\n"
    }
}

pub fn url_of(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

pub fn record_path(root: &Path) -> PathBuf {
    root.join(RECORD_FILE)
}

pub fn runtime_dir(root: &Path) -> PathBuf {
    root.join(RUNTIME_DIR)
}

/// The record, `Ok(None)` when there is none (or it is empty).
pub fn read(root: &Path) -> io::Result<Option<Record>> {
    match crate::fsutil::read_small_string(&record_path(root), crate::fsutil::SMALL_FILE_CAP) {
        Ok(text) => Ok(Record::parse(&text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes the record (0600: it holds the token), creating `.kittify/` when needed.
pub fn write(root: &Path, record: &Record) -> io::Result<()> {
    let path = record_path(root);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    crate::fsutil::ensure_within(root, &path)?;
    crate::fsutil::write_private(&path, record.to_text().as_bytes())
}

/// Removes the record; with `only_pid`, only when it still names that process.
pub fn remove(root: &Path, only_pid: Option<u32>) {
    if let Some(pid) = only_pid
        && !matches!(read(root), Ok(Some(record)) if record.pid == Some(pid))
    {
        return;
    }
    let _ = std::fs::remove_file(record_path(root));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_upstreams_four_lines() {
        let record = Record::new(9237, "ab12", 4242);
        assert_eq!(record.to_text(), "http://127.0.0.1:9237\n9237\nab12\n4242\n");
        assert_eq!(Record::parse(&record.to_text()), Some(record));
        // Upstream's older files have no pid, or no token; blank lines are skipped.
        let old = Record::parse("\nhttp://127.0.0.1:9240\n\n9240\n").unwrap();
        assert_eq!((old.port, old.token, old.pid), (Some(9240), None, None));
        let odd = Record::parse("http://127.0.0.1:x\nnot-a-port\ntok\nnot-a-pid\n").unwrap();
        assert_eq!((odd.port, odd.token.as_deref(), odd.pid), (None, Some("tok"), None));
        assert_eq!(Record::parse(" \n"), None);
    }

    #[test]
    fn written_private_and_removed_only_when_it_names_the_pid() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &Record::new(9300, "t", 7)).unwrap();
        let mode = std::fs::metadata(record_path(dir.path())).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        remove(dir.path(), Some(8));
        assert!(read(dir.path()).unwrap().is_some(), "another server's record stays");
        remove(dir.path(), Some(7));
        assert!(read(dir.path()).unwrap().is_none());
    }
}
