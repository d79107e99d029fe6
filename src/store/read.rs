//! Streaming reads of JSONL event logs. Memory stays bounded by the longest accepted line, whatever the
//! file size; bad lines are counted and reported, never fatal.

use crate::events::{Event, EventId, LineError, Payload};
use serde::Deserialize;
use std::collections::HashSet;
use std::fmt;
use std::fs::File;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

/// Lines longer than this are reported as malformed without being buffered (a binary file given as a
/// log must not exhaust memory).
const MAX_LINE_BYTES: usize = 8 << 20;

/// The first malformed line of a file and why it was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    pub line: u64,
    pub reason: String,
}

/// What a scan of one file saw besides the events it delivered.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScanReport {
    pub path: PathBuf,
    pub events: u64,
    pub duplicates: u64,
    pub malformed: u64,
    pub first_malformed: Option<Malformed>,
}

impl ScanReport {
    fn reject(&mut self, line: u64, reason: impl Into<String>) {
        self.malformed += 1;
        if self.first_malformed.is_none() {
            self.first_malformed = Some(Malformed { line, reason: reason.into() });
        }
    }

    /// A one-line warning when lines were skipped.
    pub fn warning(&self) -> Option<String> {
        let first = self.first_malformed.as_ref()?;
        Some(format!(
            "skipped {} malformed line(s) in {} (first at line {}: {})",
            self.malformed,
            self.path.display(),
            first.line,
            first.reason
        ))
    }
}

/// Calls `on_line` with every non-blank line of `path` (trimmed, without its newline) and its 1-based
/// number. Lines the callback rejects, lines that are not UTF-8 and over-long lines are recorded in the
/// report. A missing file is an empty log.
pub fn for_each_line(
    path: &Path,
    mut on_line: impl FnMut(u64, &[u8]) -> Result<(), LineError>,
) -> io::Result<ScanReport> {
    let mut report = ScanReport { path: path.to_owned(), ..ScanReport::default() };
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(report),
        Err(e) => return Err(e),
    };
    let mut reader = BufReader::with_capacity(256 << 10, file);
    let mut buf = Vec::with_capacity(4096);
    let mut line_no = 0u64;
    loop {
        buf.clear();
        let outcome = read_bounded_line(&mut reader, &mut buf)?;
        if outcome == LineRead::Eof {
            break;
        }
        line_no += 1;
        if outcome == LineRead::TooLong {
            report.reject(line_no, format!("line longer than {} MiB", MAX_LINE_BYTES >> 20));
            continue;
        }
        let mut line = buf.trim_ascii();
        if line_no == 1 {
            line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        }
        if line.is_empty() {
            continue;
        }
        if std::str::from_utf8(line).is_err() {
            report.reject(line_no, "not valid UTF-8");
            continue;
        }
        if let Err(e) = on_line(line_no, line) {
            report.reject(line_no, e.0);
        }
    }
    Ok(report)
}

#[derive(Debug, PartialEq, Eq)]
enum LineRead {
    Line,
    TooLong,
    Eof,
}

/// Reads up to and including the next `\n` into `buf`, giving up on buffering after [`MAX_LINE_BYTES`]
/// (the rest of that line is skipped).
fn read_bounded_line(reader: &mut impl BufRead, buf: &mut Vec<u8>) -> io::Result<LineRead> {
    let mut too_long = false;
    let mut read_any = false;
    loop {
        let chunk = match reader.fill_buf() {
            Ok(chunk) => chunk,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok(match (read_any, too_long) {
                (false, _) => LineRead::Eof,
                (true, true) => LineRead::TooLong,
                (true, false) => LineRead::Line,
            });
        }
        read_any = true;
        let (used, done) = match memchr(chunk) {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        if !too_long {
            if buf.len() + used > MAX_LINE_BYTES {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(&chunk[..used]);
            }
        }
        reader.consume(used);
        if done {
            return Ok(if too_long { LineRead::TooLong } else { LineRead::Line });
        }
    }
}

fn memchr(haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == b'\n')
}

/// Chooses the payload representation a scan deserialises (the full object, or a typed view).
pub trait PayloadKind {
    type Payload<'a>: Deserialize<'a> + Default;
}

/// Scans with the payload kept as a complete JSON object.
pub struct FullPayload;

impl PayloadKind for FullPayload {
    type Payload<'a> = Payload;
}

/// A payload that must be a JSON object (as upstream requires) but whose contents are not needed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ignored;

impl<'de> Deserialize<'de> for Ignored {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Ignored;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Ignored, A::Error> {
                while map.next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?.is_some() {}
                Ok(Ignored)
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// Scans validating the envelope only.
pub struct IgnoredPayload;

impl PayloadKind for IgnoredPayload {
    type Payload<'a> = Ignored;
}

/// Streams the events of one log, each event id delivered once (first occurrence wins; duplicates are
/// counted). Malformed lines are skipped and reported.
pub fn scan_events<K: PayloadKind>(
    path: &Path,
    mut on_event: impl for<'a> FnMut(Event<'a, K::Payload<'a>>),
) -> io::Result<ScanReport> {
    let mut seen = SeenIds::default();
    let mut events = 0;
    let mut duplicates = 0;
    let mut report = for_each_line(path, |_, line| {
        let event = Event::<K::Payload<'_>>::from_line(line)?;
        if seen.first_time(&event.event_id) {
            events += 1;
            on_event(event);
        } else {
            duplicates += 1;
        }
        Ok(())
    })?;
    report.events = events;
    report.duplicates = duplicates;
    Ok(report)
}

/// A set of event ids, compact enough for millions of entries (16 bytes per id).
#[derive(Default)]
pub struct SeenIds {
    ulids: HashSet<u128, BuildHasherDefault<IdHasher>>,
    uuids: HashSet<u128, BuildHasherDefault<IdHasher>>,
    wide: HashSet<String>,
}

impl SeenIds {
    /// True the first time an id is offered.
    pub fn first_time(&mut self, id: &EventId) -> bool {
        match id {
            EventId::Ulid(v) => self.ulids.insert(*v),
            EventId::Uuid(v) => self.uuids.insert(*v),
            EventId::Wide(s) => self.wide.insert(s.clone()),
        }
    }
}

impl fmt::Debug for SeenIds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeenIds").field("len", &(self.ulids.len() + self.uuids.len() + self.wide.len())).finish()
    }
}

/// Ids are mostly random bits already; a multiply-mix of both halves is plenty and far cheaper than SipHash.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3);
        }
    }
    fn write_u128(&mut self, v: u128) {
        let mixed = (v as u64) ^ ((v >> 64) as u64).rotate_left(29);
        self.0 = mixed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (mixed >> 32);
    }
}

/// Splits `data` the way the reader does; for tests.
#[cfg(test)]
fn lines_of(data: &[u8]) -> Vec<(LineRead, Vec<u8>)> {
    let mut reader = BufReader::with_capacity(16, data);
    let mut out = Vec::new();
    loop {
        let mut buf = Vec::new();
        let r = read_bounded_line(&mut reader, &mut buf).unwrap();
        if r == LineRead::Eof {
            return out;
        }
        out.push((r, buf));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_across_buffer_boundaries() {
        let lines = lines_of(b"first line is long\nsecond\n\nlast without newline");
        let texts: Vec<&[u8]> = lines.iter().map(|(_, b)| b.as_slice()).collect();
        assert_eq!(texts, [&b"first line is long\n"[..], b"second\n", b"\n", b"last without newline"]);
    }

    #[test]
    fn reports_malformed_lines_and_keeps_going() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.jsonl");
        std::fs::write(&path, b"\xEF\xBB\xBFok\n\n  bad \n\xff\xfe\nok\r\n").unwrap();
        let mut seen = Vec::new();
        let report = for_each_line(&path, |n, line| {
            if line == b"ok" {
                seen.push(n);
                Ok(())
            } else {
                Err(LineError("not ok".into()))
            }
        })
        .unwrap();
        assert_eq!(seen, [1, 5]);
        assert_eq!(report.malformed, 2);
        assert_eq!(report.first_malformed, Some(Malformed { line: 3, reason: "not ok".into() }));
        assert!(report.warning().unwrap().contains("skipped 2 malformed line(s)"));
    }

    #[test]
    fn missing_file_is_empty() {
        let report = for_each_line(Path::new("/nonexistent/x.jsonl"), |_, _| Ok(())).unwrap();
        assert_eq!(report.malformed, 0);
    }

    #[test]
    fn seen_ids_dedupe_across_spellings() {
        let mut seen = SeenIds::default();
        assert!(seen.first_time(&EventId::parse("01KHK2DVHCVJFXTV0HH3QMBSYT").unwrap()));
        assert!(!seen.first_time(&EventId::parse("01khk2dvhcvjfxtv0hh3qmbsyt").unwrap()));
        assert!(seen.first_time(&EventId::parse("8a4a7da6a97c4bb4893ab31664abfee4").unwrap()));
        assert!(!seen.first_time(&EventId::parse("8a4a7da6-a97c-4bb4-893a-b31664abfee4").unwrap()));
    }
}
