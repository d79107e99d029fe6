//! Streaming reads of JSONL event logs. Memory stays bounded by the longest accepted line, whatever the
//! file size; bad lines are counted and reported, never fatal.

use crate::events::{Event, EventId, LineError, Payload};
use serde::Deserialize;
use std::collections::HashSet;
use std::fmt;
use std::fs::File;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, Read};
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
/// number. Lines the callback rejects and over-long lines are recorded in the report. A missing file is
/// an empty log; anything but a regular file (a device such as `/dev/zero`, a FIFO) is an error, found
/// without blocking. (UTF-8 is left to the callback: the JSON parser validates it anyway.)
pub fn for_each_line(
    path: &Path,
    mut on_line: impl FnMut(u64, &[u8]) -> Result<(), LineError>,
) -> io::Result<ScanReport> {
    let mut report = ScanReport { path: path.to_owned(), ..ScanReport::default() };
    let file: File = match crate::fsutil::open_regular(path, std::fs::OpenOptions::new().read(true)) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(report),
        Err(e) => return Err(e),
    };
    let mut lines = LineSplitter::new(file);
    let mut line_no = 0u64;
    while let Some(line) = lines.next_line()? {
        line_no += 1;
        let Some(line) = line else {
            report.reject(line_no, format!("line longer than {} MiB", MAX_LINE_BYTES >> 20));
            continue;
        };
        let mut line = line.trim_ascii();
        if line_no == 1 {
            line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        }
        if line.is_empty() {
            continue;
        }
        if let Err(e) = on_line(line_no, line) {
            report.reject(line_no, e.0);
        }
    }
    Ok(report)
}

/// Splits a byte stream into lines, lending each line straight out of one reusable buffer (no per-line
/// copy). Lines longer than [`MAX_LINE_BYTES`] are skipped and reported as `None`.
struct LineSplitter<R> {
    source: R,
    buf: Vec<u8>,
    /// Unconsumed data is `buf[start..end]`.
    start: usize,
    end: usize,
    eof: bool,
}

const CHUNK_BYTES: usize = 1 << 20;

impl<R: Read> LineSplitter<R> {
    fn new(source: R) -> Self {
        LineSplitter { source, buf: vec![0; CHUNK_BYTES], start: 0, end: 0, eof: false }
    }

    /// The next line without its `\n`: `Some(Some(line))`, `Some(None)` for an over-long line, or
    /// `None` at the end of the stream.
    fn next_line(&mut self) -> io::Result<Option<Option<&[u8]>>> {
        let mut skipping = false;
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf[self.start..self.end]) {
                let line_start = self.start;
                self.start += i + 1;
                return Ok(Some((!skipping).then(|| &self.buf[line_start..line_start + i])));
            }
            if self.eof {
                if self.start == self.end && !skipping {
                    return Ok(None);
                }
                let line_start = self.start;
                self.start = self.end;
                return Ok(Some((!skipping).then(|| &self.buf[line_start..self.end])));
            }
            // No newline in what is buffered: make room and read more.
            let pending = self.end - self.start;
            if skipping || pending >= MAX_LINE_BYTES {
                skipping = true;
                self.start = self.end;
            }
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.end == self.buf.len() {
                self.buf.resize((self.buf.len() * 2).min(MAX_LINE_BYTES + CHUNK_BYTES), 0);
            }
            let read = match self.source.read(&mut self.buf[self.end..]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.end += read;
            self.eof = read == 0;
        }
    }
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

/// A fast non-cryptographic hasher (FxHash) for short keys we control, such as group keys and model
/// names in a report; SipHash's DoS resistance buys nothing there and costs noticeable time.
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

impl Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let word = u64::from_le_bytes(chunk.try_into().expect("8-byte chunk"));
            self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(K);
        }
        for &byte in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(byte)).wrapping_mul(K);
        }
    }
    fn write_u8(&mut self, byte: u8) {
        self.write(&[byte]);
    }
}

/// `HashMap` with [`FxHasher`].
pub type FxHashMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<FxHasher>>;

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

/// Splits `data` the way the reader does, with a tiny buffer to exercise refills; for tests.
#[cfg(test)]
fn lines_of(data: &[u8]) -> Vec<Option<Vec<u8>>> {
    let mut splitter = LineSplitter { source: data, buf: vec![0; 4], start: 0, end: 0, eof: false };
    let mut out = Vec::new();
    while let Some(line) = splitter.next_line().unwrap() {
        out.push(line.map(<[u8]>::to_vec));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_across_buffer_boundaries() {
        let lines = lines_of(b"first line is long\nsecond\n\nlast without newline");
        let texts: Vec<&[u8]> = lines.iter().map(|l| l.as_deref().unwrap()).collect();
        assert_eq!(texts, [&b"first line is long"[..], b"second", b"", b"last without newline"]);
        assert_eq!(lines_of(b"a\n"), [Some(b"a".to_vec())]);
        assert!(lines_of(b"").is_empty());
    }

    #[test]
    fn over_long_lines_are_skipped_not_buffered() {
        let mut data = vec![b'x'; MAX_LINE_BYTES + 10];
        data.extend_from_slice(b"\nok\n");
        data.extend(std::iter::repeat_n(b'y', MAX_LINE_BYTES + 1));
        let lines = lines_of(&data);
        assert_eq!(lines, [None, Some(b"ok".to_vec()), None]);
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
