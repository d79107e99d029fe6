//! Gemini CLI chat files → usage rows.
//!
//! Current builds append JSON lines: a metadata line (`sessionId`, `projectHash`, …), message lines
//! (`id`, `timestamp`, `type`, `model`, `tokens`) and control lines (`$set`, `$rewindTo`). A message is
//! appended again whenever tokens or tool calls are attached to it, so the last copy of an id counts
//! ([`Dedup::Grow`] keyed by session and message id: a later, larger copy adds only what it has
//! beyond the copy already imported). Rewound turns were still billed and are kept. Older builds wrote
//! one `session-*.json` object with a `messages` array, rewritten as the chat grew: it is read whole
//! each time it changes, and the keys make the re-read add only what is new.
//!
//! Cached tokens: `tokens.input` (promptTokenCount) includes `cached`, so our input is the difference
//! plus `tool` (tool-use prompt tokens) and `cached` is a cache read; when `total` shows the input was
//! already exclusive of `cached`, input is taken as is. `thoughts` are priced as output.

use crate::usage::lines::{self, LineReader};
use crate::usage::{Agent, Dedup, FileRead, RecordKey, Tokens, UsageRow, de, open_at, parse_time};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;

/// The largest legacy whole-file chat read.
const MAX_JSON_FILE: u64 = 64 << 20;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
}

#[derive(Deserialize)]
struct RawRecord<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(rename = "sessionId", borrow, default)]
    session_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    tokens: Option<RawTokens>,
}

#[derive(Deserialize, Default, Clone, Copy)]
struct RawTokens {
    #[serde(default, deserialize_with = "de::count")]
    input: Option<u64>,
    #[serde(default, deserialize_with = "de::count")]
    output: Option<u64>,
    #[serde(default, deserialize_with = "de::count")]
    cached: Option<u64>,
    #[serde(default, deserialize_with = "de::count")]
    thoughts: Option<u64>,
    #[serde(default, deserialize_with = "de::count")]
    tool: Option<u64>,
    #[serde(default, deserialize_with = "de::count")]
    total: Option<u64>,
}

impl RawTokens {
    fn tokens(&self) -> Tokens {
        let input = self.input.unwrap_or(0);
        let output = self.output.unwrap_or(0);
        let cached = self.cached.unwrap_or(0);
        let thoughts = self.thoughts.unwrap_or(0);
        let tool = self.tool.unwrap_or(0);
        let exclusive_total = input + cached + output + thoughts;
        let exclusive = cached > 0 && self.total.is_some_and(|t| t == exclusive_total || t == exclusive_total + tool);
        let uncached = if exclusive { input } else { input.saturating_sub(cached) };
        Tokens {
            input: uncached.saturating_add(tool),
            output: output.saturating_add(thoughts),
            cache_read: cached,
            cache_write: 0,
            cache_write_1h: 0,
            reasoning: thoughts,
        }
    }
}

/// The session a chat file belongs to: the metadata's `sessionId`; for a subagent's file
/// (`chats/<parent session>/<session>.jsonl`) the parent's, so its usage joins the parent session.
fn parent_session(path: &Path) -> Option<String> {
    let parent = path.parent()?;
    (parent.file_name()? != "chats").then(|| parent.file_name().map(|n| n.to_string_lossy().into_owned()))?
}

struct Builder {
    out: FileRead,
    session: Arc<str>,
    cwd: Option<Arc<str>>,
    by_id: HashMap<RecordKey, usize>,
    models: HashMap<String, Arc<str>>,
    subagent: bool,
}

impl Builder {
    fn record(&mut self, raw: RawRecord<'_>) {
        if let Some(session) = raw.session_id.as_deref().filter(|s| !s.is_empty())
            && raw.kind.is_none()
            && !self.subagent
        {
            self.session = session.into();
        }
        let Some(tokens) = raw.tokens else { return };
        if raw.kind.as_deref().is_some_and(|k| k != "gemini") {
            return;
        }
        let Some(at) = raw.timestamp.as_deref().and_then(parse_time) else {
            self.out.skipped.no_timestamp += 1;
            return;
        };
        let model = raw
            .model
            .as_deref()
            .filter(|m| !m.is_empty())
            .map(|m| self.models.entry(m.to_owned()).or_insert_with(|| Arc::from(m)).clone());
        let dedup = match raw.id.as_deref().filter(|id| !id.is_empty()) {
            Some(id) => Dedup::Grow {
                key: RecordKey::of(&[b"gemini", self.session.as_bytes(), id.as_bytes()]),
                aux: 0,
                sidechain: false,
            },
            None => Dedup::None,
        };
        let row = UsageRow {
            agent: Agent::Gemini,
            at,
            session: self.session.clone(),
            cwd: self.cwd.clone(),
            branch: None,
            model,
            tokens: tokens.tokens(),
            dedup,
        };
        if let Dedup::Grow { key, .. } = dedup {
            if let Some(&index) = self.by_id.get(&key) {
                // The last copy of a message is the complete one.
                self.out.rows[index] = row;
                self.out.skipped.duplicates += 1;
                return;
            }
            self.by_id.insert(key, self.out.rows.len());
        }
        self.out.rows.push(row);
    }
}

/// Reads a chat file from `offset`; `cwd` is the directory Gemini ran in (from its project folder).
pub fn read(path: &Path, offset: u64, state: Option<&str>, cwd: Option<Arc<str>>) -> io::Result<FileRead> {
    let state: State = state.and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default();
    let subagent = parent_session(path);
    let session = subagent
        .clone()
        .or(state.session.clone())
        .unwrap_or_else(|| path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default());
    let mut builder = Builder {
        out: FileRead::default(),
        session: session.into(),
        cwd,
        by_id: HashMap::new(),
        models: HashMap::new(),
        subagent: subagent.is_some(),
    };
    if path.extension().is_some_and(|e| e == "json") {
        read_legacy(path, &mut builder)?;
    } else {
        let mut reader = LineReader::new(open_at(path, offset)?, offset);
        while let Some(bytes) = reader.next_parsable(&mut builder.out.skipped)? {
            let bytes = bytes.trim_ascii();
            if bytes.is_empty() || bytes.starts_with(b"{\"$") {
                continue; // `$set` / `$rewindTo` control lines
            }
            let wanted = memchr::memmem::find(bytes, b"\"tokens\"").is_some()
                || memchr::memmem::find(bytes, b"\"sessionId\"").is_some();
            if !wanted {
                continue;
            }
            if let Some(raw) = lines::parse::<RawRecord<'_>>(bytes, &mut builder.out.skipped) {
                builder.record(raw);
            }
        }
        builder.out.consumed = reader.consumed();
    }
    let mut out = builder.out;
    out.state = serde_json::to_string(&State { session: Some(builder.session.to_string()) }).ok();
    Ok(out)
}

/// A whole-file `ConversationRecord` of older builds: `{sessionId, …, messages: [...]}`.
fn read_legacy(path: &Path, builder: &mut Builder) -> io::Result<()> {
    #[derive(Deserialize)]
    struct Conversation<'a> {
        #[serde(rename = "sessionId", borrow, default)]
        session_id: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        messages: Vec<RawRecord<'a>>,
    }
    let file = open_at(path, 0)?;
    let len = file.metadata()?.len();
    builder.out.consumed = len;
    if len > MAX_JSON_FILE {
        builder.out.skipped.too_long += 1;
        return Ok(());
    }
    let mut text = Vec::with_capacity(len as usize);
    file.take(MAX_JSON_FILE).read_to_end(&mut text)?;
    let Some(conversation) = lines::parse::<Conversation<'_>>(&text, &mut builder.out.skipped) else {
        return Ok(());
    };
    if let Some(session) = conversation.session_id.as_deref().filter(|s| !s.is_empty())
        && !builder.subagent
    {
        builder.session = session.into();
    }
    for message in conversation.messages {
        builder.record(message);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_copy_per_id_and_inclusive_cache() {
        let dir = tempfile::tempdir().unwrap();
        let chats = dir.path().join("chats");
        std::fs::create_dir_all(&chats).unwrap();
        let path = chats.join("session-2026-01-02T11-00-22222222.jsonl");
        let lines = [
            r#"{"sessionId":"22222222-synt-4hex-8abc-000000000002","projectHash":"abc","startTime":"2026-01-02T11:00:00.000Z","lastUpdated":"2026-01-02T11:00:00.000Z"}"#,
            r#"{"id":"m-syn-1","timestamp":"2026-01-02T11:00:10.000Z","type":"user","content":[{"text":"hi"}]}"#,
            r#"{"id":"m-syn-2","timestamp":"2026-01-02T11:00:20.000Z","type":"gemini","content":[],"model":"gemini-x-pro"}"#,
            r#"{"id":"m-syn-2","timestamp":"2026-01-02T11:00:20.000Z","type":"gemini","content":[{"text":"done"}],"model":"gemini-x-pro","thoughts":[],"tokens":{"input":15000,"output":600,"cached":12000,"thoughts":250,"tool":0,"total":15850}}"#,
            r#"{"$rewindTo":"m-syn-2"}"#,
            r#"{"id":"m-syn-3","timestamp":"2026-01-02T11:01:00.000Z","type":"gemini","model":"gemini-x-pro","tokens":{"input":100,"output":10,"cached":40,"thoughts":0,"tool":5,"total":155}}"#,
            r#"{"id":"m-syn-3","timestamp":"2026-01-02T11:01:00.000Z","type":"gemini","model":"gemini-x-pro","tokens":{"input":100,"output":20,"cached":40,"thoughts":0,"tool":5,"total":165}}"#,
            r#"{"id":"m-syn-4","type":"gemini","tokens":{"input":1"#,
        ];
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        let read = read(&path, 0, None, Some("/home/dev/demo-app".into())).unwrap();
        assert_eq!(read.rows.len(), 2);
        assert_eq!(&*read.rows[0].session, "22222222-synt-4hex-8abc-000000000002");
        // total 15850 = input + output + thoughts: input includes cached.
        assert_eq!(
            read.rows[0].tokens,
            Tokens { input: 3000, output: 850, cache_read: 12000, reasoning: 250, ..Tokens::default() }
        );
        // total 165 = input + cached + output + tool: input already excluded cached.
        assert_eq!(read.rows[1].tokens, Tokens { input: 105, output: 20, cache_read: 40, ..Tokens::default() });
        assert_eq!((read.skipped.duplicates, read.skipped.malformed), (1, 1));
    }
}
