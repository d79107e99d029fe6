//! Reading an agent's log line by line from a byte offset, so a growing file is read only where it grew.
//!
//! Only complete lines (ended by `\n`) are handed out: a last line without its newline may be one the
//! agent is still writing, so it is left for the next import (its offset is where the next read starts).
//! Lines longer than [`MAX_LINE_BYTES`] are skipped without being buffered and reported as such, so an
//! 87 MB transcript or a 16 MB Codex line never costs more than that cap in memory.

use super::Skipped;
use serde::Deserialize;
use std::io::{self, Read};

/// The longest line parsed. Longer lines (huge tool outputs pasted into one JSON line) are skipped and
/// counted; usage lines are a few kilobytes.
pub const MAX_LINE_BYTES: usize = 16 << 20;

const CHUNK_BYTES: usize = 256 << 10;

/// One step of a [`LineReader`].
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// A complete line (without its `\n`; a `\r` before it is kept) and the offset just after its `\n`.
    Complete { bytes: &'a [u8], end: u64 },
    /// A complete line longer than the cap; only its end offset is known.
    TooLong { end: u64 },
}

/// Splits a byte stream into lines, lending each from one reusable buffer.
pub struct LineReader<R> {
    source: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    /// The stream offset of `buf[start]`.
    offset: u64,
    max_line: usize,
}

impl<R: Read> LineReader<R> {
    /// A reader of `source`, whose first byte is at `offset` of the file.
    pub fn new(source: R, offset: u64) -> Self {
        Self::with_limit(source, offset, MAX_LINE_BYTES)
    }

    pub fn with_limit(source: R, offset: u64, max_line: usize) -> Self {
        LineReader { source, buf: vec![0; CHUNK_BYTES], start: 0, end: 0, eof: false, offset, max_line }
    }

    /// The offset up to which complete lines have been handed out: where the next import starts.
    pub fn consumed(&self) -> u64 {
        self.offset
    }

    /// Bytes after the last complete line (a line still being written, or a torn last line).
    pub fn pending_tail(&self) -> usize {
        self.end - self.start
    }

    /// The next complete line within the cap, or `None` at the end of the stream; lines over the cap
    /// are passed over and counted in `skipped`.
    pub fn next_parsable(&mut self, skipped: &mut Skipped) -> io::Result<Option<&[u8]>> {
        let len = loop {
            match self.next_line()? {
                None => return Ok(None),
                Some(Line::TooLong { .. }) => skipped.too_long += 1,
                Some(Line::Complete { bytes, .. }) => break bytes.len(),
            }
        };
        // The line just handed out ends before `start` (its `\n`); lent again outside the loop, which the
        // borrow checker cannot see through.
        let end = self.start - 1;
        Ok(Some(&self.buf[end - len..end]))
    }

    /// The next complete line, or `None` at the end of the stream (an unterminated tail stays unread).
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        let mut skipping = false;
        let mut scanned = 0usize;
        let line_offset = self.offset;
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf[self.start + scanned..self.end]) {
                let line_start = self.start;
                let line_end = self.start + scanned + i;
                self.start = line_end + 1;
                self.offset += (line_end + 1 - line_start) as u64;
                if skipping {
                    return Ok(Some(Line::TooLong { end: self.offset }));
                }
                return Ok(Some(Line::Complete { bytes: &self.buf[line_start..line_end], end: self.offset }));
            }
            scanned = self.end - self.start;
            if self.eof {
                return Ok(None);
            }
            if skipping || scanned >= self.max_line {
                // Drop what is buffered of the over-long line, but keep counting its bytes.
                skipping = true;
                self.offset += scanned as u64;
                self.start = self.end;
                scanned = 0;
            }
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.end == self.buf.len() {
                let grown = (self.buf.len() * 2).min(self.max_line + CHUNK_BYTES);
                self.buf.resize(grown, 0);
            }
            match self.source.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    if skipping {
                        // An over-long line that never ended: leave it for the next import.
                        self.offset = line_offset;
                        return Ok(None);
                    }
                }
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Shrinks the buffer back after an unusually long line, so a worker does not keep 16 MiB around.
    pub fn shrink(&mut self) {
        if self.buf.len() > 4 * CHUNK_BYTES && self.end - self.start < CHUNK_BYTES {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            self.buf.truncate(CHUNK_BYTES);
            self.buf.shrink_to_fit();
        }
    }
}

/// A line as a JSON record of type `T`; a line that is not UTF-8 or not such a record is counted as
/// malformed in `skipped`.
pub fn parse<'a, T: Deserialize<'a>>(bytes: &'a [u8], skipped: &mut Skipped) -> Option<T> {
    let parsed = std::str::from_utf8(bytes.trim_ascii()).ok().and_then(|text| serde_json::from_str(text).ok());
    if parsed.is_none() {
        skipped.malformed += 1;
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(data: &[u8], offset: u64, limit: usize) -> (Vec<String>, u64) {
        let mut reader = LineReader::with_limit(data, offset, limit);
        let mut out = Vec::new();
        while let Some(line) = reader.next_line().unwrap() {
            out.push(match line {
                Line::Complete { bytes, end } => format!("{}@{end}", String::from_utf8_lossy(bytes)),
                Line::TooLong { end } => format!("<long>@{end}"),
            });
        }
        (out, reader.consumed())
    }

    #[test]
    fn complete_lines_only_and_offsets() {
        let (lines, consumed) = collect(b"a\nbb\n\ncc", 10, 100);
        assert_eq!(lines, ["a@12", "bb@15", "@16"]);
        assert_eq!(consumed, 16, "the unterminated tail is left for later");
    }

    #[test]
    fn long_lines_are_skipped_and_counted() {
        let mut data = b"x\n".to_vec();
        data.extend(std::iter::repeat_n(b'y', 1_000_000));
        data.extend(b"\nz\n");
        let (lines, consumed) = collect(&data, 0, 1000);
        assert_eq!(lines, ["x@2", "<long>@1000003", "z@1000005"]);
        assert_eq!(consumed, data.len() as u64);
        // An over-long line still being written is not consumed.
        let (lines, consumed) = collect(&data[..500_000], 0, 1000);
        assert_eq!((lines.len(), consumed), (1, 2));
    }

    #[test]
    fn lines_across_chunk_boundaries() {
        let line = "k".repeat(CHUNK_BYTES - 3);
        let data = format!("{line}\n{line}\nend\n");
        let (lines, consumed) = collect(data.as_bytes(), 0, MAX_LINE_BYTES);
        assert_eq!(lines.len(), 3);
        assert!(lines[1].starts_with("kkk"));
        assert_eq!(consumed, data.len() as u64);
    }
}
