//! Claude Code transcript lines → usage rows.
//!
//! Only `type: "assistant"` lines carry usage (`message.usage`). Claude writes one line per content
//! block of a response, all with the same `message.id` and `requestId` and a growing `output_tokens`:
//! they are one record ([`Dedup::Grow`] keyed by the message id, the request id as `aux`), of which the
//! largest copy counts. Copies in one file are merged here; copies across files and imports are merged
//! against the ledger (see `import`). Side-chain lines (`isSidechain`) are real usage (subagents) unless
//! they replay a response already counted.
//!
//! Cached tokens: Anthropic's `input_tokens` already excludes cache reads and writes, as ours does.
//! Cache writes are the 5-minute plus 1-hour `cache_creation` breakdown when present, else
//! `cache_creation_input_tokens`; the 1-hour part is kept apart because it is priced higher.

use crate::usage::lines::{self, LineReader};
use crate::usage::{Agent, Dedup, FileRead, RecordKey, Tokens, UsageRow, de, open_at, parse_time};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::Arc;

#[derive(Deserialize)]
struct RawLine<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(rename = "sessionId", borrow, default)]
    session_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    cwd: Option<Cow<'a, str>>,
    #[serde(rename = "gitBranch", borrow, default)]
    git_branch: Option<Cow<'a, str>>,
    #[serde(rename = "isSidechain", default)]
    is_sidechain: Option<bool>,
    #[serde(rename = "requestId", borrow, default)]
    request_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    message: Option<RawMessage<'a>>,
}

#[derive(Deserialize)]
struct RawMessage<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    usage: Option<RawUsage>,
}

#[derive(Deserialize, Default)]
struct RawUsage {
    #[serde(default, deserialize_with = "de::count")]
    input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "de::count")]
    output_tokens: Option<u64>,
    #[serde(default, deserialize_with = "de::count")]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "de::count")]
    cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    cache_creation: Option<RawCacheCreation>,
}

#[derive(Deserialize, Default)]
struct RawCacheCreation {
    #[serde(default, deserialize_with = "de::count")]
    ephemeral_5m_input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "de::count")]
    ephemeral_1h_input_tokens: Option<u64>,
}

impl RawUsage {
    fn tokens(&self) -> Tokens {
        let breakdown = self
            .cache_creation
            .as_ref()
            .filter(|c| c.ephemeral_5m_input_tokens.is_some() || c.ephemeral_1h_input_tokens.is_some());
        let (cache_write, cache_write_1h) = match breakdown {
            Some(c) => {
                let one_hour = c.ephemeral_1h_input_tokens.unwrap_or(0);
                (c.ephemeral_5m_input_tokens.unwrap_or(0).saturating_add(one_hour), one_hour)
            }
            None => (self.cache_creation_input_tokens.unwrap_or(0), 0),
        };
        Tokens {
            input: self.input_tokens.unwrap_or(0),
            output: self.output_tokens.unwrap_or(0),
            cache_read: self.cache_read_input_tokens.unwrap_or(0),
            cache_write,
            cache_write_1h,
            reasoning: 0,
        }
    }
}

/// The session a file belongs to when its lines do not say: `<session>.jsonl`, or the folder above
/// `subagents/` for `<session>/subagents/agent-<id>.jsonl`.
pub fn session_of_path(path: &Path) -> String {
    let parent = path.parent();
    if parent.and_then(Path::file_name).is_some_and(|n| n == "subagents")
        && let Some(session) = parent.and_then(Path::parent).and_then(Path::file_name)
    {
        return session.to_string_lossy().into_owned();
    }
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Reads `path` from `offset`.
pub fn read(path: &Path, offset: u64) -> io::Result<FileRead> {
    let file = open_at(path, offset)?;
    let mut reader = LineReader::new(file, offset);
    let mut out = FileRead::default();
    let fallback_session: Arc<str> = session_of_path(path).into();
    let finder = memchr::memmem::Finder::new(b"\"usage\"");
    // Interned strings: a file has one session, one cwd, a few models and branches.
    let mut interned: HashMap<String, Arc<str>> = HashMap::new();
    let mut intern = |text: &str| -> Arc<str> {
        if let Some(arc) = interned.get(text) {
            return arc.clone();
        }
        let arc: Arc<str> = text.into();
        interned.insert(text.to_owned(), arc.clone());
        arc
    };
    // Streaming copies within this file: (key, aux, sidechain) → index in `out.rows`.
    let mut copies: HashMap<(RecordKey, u64, bool), usize> = HashMap::new();
    while let Some(bytes) = reader.next_parsable(&mut out.skipped)? {
        if finder.find(bytes).is_none() {
            continue;
        }
        let Some(raw) = lines::parse::<RawLine<'_>>(bytes, &mut out.skipped) else { continue };
        if raw.kind.as_deref() != Some("assistant") {
            continue;
        }
        let Some(message) = raw.message else { continue };
        let Some(usage) = message.usage else { continue };
        if message.model.as_deref() == Some("<synthetic>") {
            out.skipped.synthetic += 1;
            continue;
        }
        let Some(at) = raw.timestamp.as_deref().and_then(parse_time) else {
            out.skipped.no_timestamp += 1;
            continue;
        };
        let tokens = usage.tokens();
        let sidechain = raw.is_sidechain.unwrap_or(false);
        let dedup = match message.id.as_deref().filter(|id| !id.is_empty()) {
            Some(id) => Dedup::Grow {
                key: RecordKey::of(&[b"claude", id.as_bytes()]),
                aux: raw.request_id.as_deref().filter(|r| !r.is_empty()).map_or(0, RecordKey::small),
                sidechain,
            },
            None => Dedup::None,
        };
        if let Dedup::Grow { key, aux, sidechain } = dedup
            && let Some(&index) = copies.get(&(key, aux, sidechain))
        {
            let row = &mut out.rows[index];
            row.tokens = row.tokens.max(&tokens);
            row.at = row.at.max(at);
            out.skipped.duplicates += 1;
            continue;
        }
        let row = UsageRow {
            agent: Agent::Claude,
            at,
            session: raw
                .session_id
                .as_deref()
                .filter(|s| !s.is_empty())
                .map_or_else(|| fallback_session.clone(), &mut intern),
            cwd: raw.cwd.as_deref().filter(|c| !c.is_empty()).map(&mut intern),
            branch: raw.git_branch.as_deref().filter(|b| !b.is_empty() && *b != "HEAD").map(&mut intern),
            model: message.model.as_deref().filter(|m| !m.is_empty()).map(&mut intern),
            tokens,
            dedup,
        };
        if let Dedup::Grow { key, aux, sidechain } = dedup {
            copies.insert((key, aux, sidechain), out.rows.len());
        }
        out.rows.push(row);
        reader.shrink();
    }
    out.consumed = reader.consumed();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINES: &str = r#"{"type":"assistant","uuid":"u-0001","parentUuid":"u-0000","isSidechain":false,"userType":"external","cwd":"/home/dev/demo-app","sessionId":"11111111-aaaa-4bbb-8ccc-000000000001","version":"2.1.99","gitBranch":"feat/SYN-42","requestId":"req_SYNTH0001","timestamp":"2026-01-02T03:04:05.000Z","message":{"id":"msg_SYNTH0001","model":"claude-sonnet-x","role":"assistant","content":[{"type":"thinking","thinking":"…"}],"usage":{"input_tokens":7,"cache_creation_input_tokens":900,"cache_read_input_tokens":20000,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":900},"output_tokens":3,"service_tier":"standard"}}}
{"type":"assistant","uuid":"u-0002","parentUuid":"u-0001","isSidechain":false,"cwd":"/home/dev/demo-app","sessionId":"11111111-aaaa-4bbb-8ccc-000000000001","gitBranch":"feat/SYN-42","requestId":"req_SYNTH0001","timestamp":"2026-01-02T03:04:09.000Z","message":{"id":"msg_SYNTH0001","model":"claude-sonnet-x","content":[{"type":"tool_use","id":"toolu_SYN","name":"Bash","input":{}}],"usage":{"input_tokens":7,"cache_creation_input_tokens":900,"cache_read_input_tokens":20000,"output_tokens":412}}}
{"type":"user","message":{"role":"user","content":"x"},"toolUseResult":{"usage":{"input_tokens":99}},"timestamp":"2026-01-02T03:04:10.000Z"}
{"type":"assistant","timestamp":"2026-01-02T03:04:11.000Z","message":{"id":"msg_err","model":"<synthetic>","usage":{"input_tokens":0,"output_tokens":0}}}
{"type":"assistant","timestamp":"2026-01-02T03:04:12.000Z","message":{"model":"claude-sonnet-x","usage":{"input_tokens":1,"output_tokens":"2","cache_creation_input_tokens":30}}}
{"type":"assistant","timestamp":"2026-01-02T03:04"#;

    #[test]
    fn streaming_copies_keep_the_largest_and_cache_semantics() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("11111111-aaaa-4bbb-8ccc-000000000001.jsonl");
        std::fs::write(&path, LINES).unwrap();
        let read = read(&path, 0).unwrap();
        assert_eq!(read.rows.len(), 2, "{:?}", read.rows);
        let first = &read.rows[0];
        assert_eq!(
            first.tokens,
            Tokens { input: 7, output: 412, cache_read: 20000, cache_write: 900, cache_write_1h: 900, reasoning: 0 }
        );
        assert_eq!(first.at.to_rfc3339(), "2026-01-02T03:04:09+00:00");
        assert_eq!(first.branch.as_deref(), Some("feat/SYN-42"));
        let second = &read.rows[1];
        assert_eq!((second.tokens.output, second.tokens.cache_write, second.tokens.cache_write_1h), (2, 30, 0));
        assert_eq!(second.dedup, Dedup::None);
        assert_eq!(&*second.session, "11111111-aaaa-4bbb-8ccc-000000000001", "from the file name");
        assert_eq!((read.skipped.synthetic, read.skipped.duplicates), (1, 1));
        let complete = LINES.rfind('\n').unwrap() + 1;
        assert_eq!(read.consumed, complete as u64, "the torn last line is left for later");
    }

    #[test]
    fn subagent_files_take_the_parent_session() {
        assert_eq!(session_of_path(Path::new("/p/abc/subagents/agent-1.jsonl")), "abc");
        assert_eq!(session_of_path(Path::new("/p/abc.jsonl")), "abc");
    }
}
