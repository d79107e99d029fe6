//! Append-only JSON Lines files: a locked, torn-tail-safe appender and a streaming, tolerant reader.

mod append;
mod read;

pub use append::LockedLog;
pub use read::{
    FullPayload, FxHashMap, Ignored, IgnoredPayload, Malformed, PayloadKind, ScanReport, SeenIds, for_each_line,
    scan_events,
};
