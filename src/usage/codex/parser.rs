//! Codex rollout lines → usage rows.
//!
//! Codex reports usage as `event_msg` lines of type `token_count` whose `info.total_token_usage` is the
//! thread's running total. Per file, in line order: a total equal to the previous one is a re-emit
//! (skipped); a larger one gives the difference; a smaller one (a reset) gives `last_token_usage`. The
//! previous total is kept in the ledger between imports, so a growing rollout continues where it
//! stopped. A spawned subagent's or a forked thread's rollout opens with a burst of token counts replayed
//! from its parent within the same second: they only seed the running total. Forked copies of a parent's
//! lines elsewhere are recognised by their timestamp and totals ([`Dedup::Once`]).
//!
//! Cached tokens: Codex's `input_tokens` include `cached_input_tokens`, so our input is the difference
//! and the cached part is a cache read (Codex reports no cache writes). `output_tokens` include
//! `reasoning_output_tokens`, which are priced as output; the reasoning part is kept for information.

use crate::usage::lines::{self, LineReader};
use crate::usage::scope::ProjectScope;
use crate::usage::{Agent, Dedup, FileRead, RecordKey, Tokens, UsageRow, de, open_at, parse_time};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;

/// What is remembered of a rollout between imports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The last cumulative total: input, cached input, output, reasoning output, total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<[u64; 5]>,
    /// A subagent or forked rollout whose opening replay burst may not be over yet.
    #[serde(default)]
    pub replay: bool,
    /// The second (`YYYY-MM-DDTHH:MM:SS`) of the replay burst, once its first count was seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst_second: Option<String>,
}

#[derive(Deserialize)]
struct RawLine<'a> {
    #[serde(borrow, default)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    payload: Option<RawPayload<'a>>,
}

#[derive(Deserialize)]
struct RawPayload<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    cwd: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    git: Option<serde_json::Value>,
    #[serde(default)]
    source: Option<serde_json::Value>,
    #[serde(default)]
    forked_from_id: Option<serde_json::Value>,
    #[serde(default)]
    info: Option<RawInfo>,
}

#[derive(Deserialize)]
struct RawInfo {
    #[serde(default)]
    total_token_usage: Option<RawUsage>,
    #[serde(default)]
    last_token_usage: Option<RawUsage>,
}

#[derive(Deserialize, Clone, Copy)]
struct RawUsage {
    #[serde(default, deserialize_with = "de::count")]
    input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "de::count")]
    cached_input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "de::count")]
    output_tokens: Option<u64>,
    #[serde(default, deserialize_with = "de::count")]
    reasoning_output_tokens: Option<u64>,
    #[serde(default, deserialize_with = "de::count")]
    total_tokens: Option<u64>,
}

impl RawUsage {
    fn tuple(&self) -> [u64; 5] {
        [
            self.input_tokens.unwrap_or(0),
            self.cached_input_tokens.unwrap_or(0),
            self.output_tokens.unwrap_or(0),
            self.reasoning_output_tokens.unwrap_or(0),
            self.total_tokens.unwrap_or(0),
        ]
    }
}

/// Our tokens from a Codex usage tuple (input includes cached; output includes reasoning).
fn tokens_of(t: [u64; 5]) -> Tokens {
    Tokens {
        input: t[0].saturating_sub(t[1]),
        output: t[2],
        cache_read: t[1],
        cache_write: 0,
        cache_write_1h: 0,
        reasoning: t[3].min(t[2]),
    }
}

/// The thread id at the end of `rollout-<time>-<thread id>.jsonl[.zst]`.
pub fn thread_of_path(path: &Path) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = name.trim_end_matches(".zst").trim_end_matches(".jsonl");
    match stem.len() {
        n if n >= 36 && stem.starts_with("rollout-") => stem[n - 36..].to_owned(),
        _ => stem.to_owned(),
    }
}

/// Reads a rollout from `offset` with the state left by the previous import. A `.jsonl.zst` is always
/// read whole (offset 0, fresh state): compressed rollouts are finished ones, and the record keys make a
/// re-read add nothing.
pub fn read(path: &Path, offset: u64, state: Option<&str>, scope: &ProjectScope) -> io::Result<FileRead> {
    let state: State = state.and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default();
    if path.extension().is_some_and(|e| e == "zst") {
        let file = open_at(path, 0)?;
        let frames = Frames::new(BufReader::new(file));
        let mut out = read_lines(frames, 0, State::default(), path, scope)?;
        // Offsets of a compressed file are in the decompressed stream; the whole file was read.
        out.consumed = std::fs::metadata(path)?.len();
        return Ok(out);
    }
    read_lines(open_at(path, offset)?, offset, state, path, scope)
}

fn read_lines(
    source: impl Read,
    offset: u64,
    mut state: State,
    path: &Path,
    scope: &ProjectScope,
) -> io::Result<FileRead> {
    let mut reader = LineReader::new(source, offset);
    let mut out = FileRead::default();
    let token_count = memchr::memmem::Finder::new(b"\"token_count\"");
    let mut session: Arc<str> = state.session.clone().unwrap_or_else(|| thread_of_path(path)).into();
    let mut cwd: Option<Arc<str>> = state.cwd.as_deref().map(Arc::from);
    let mut branch: Option<Arc<str>> = state.branch.as_deref().map(Arc::from);
    let mut model: Option<Arc<str>> = state.model.as_deref().map(Arc::from);
    while let Some(bytes) = reader.next_parsable(&mut out.skipped)? {
        // The record type is the second key of every line; look only near the start for it.
        let head = &bytes[..bytes.len().min(96)];
        let wanted = memchr::memmem::find(head, b"\"session_meta\"").is_some()
            || memchr::memmem::find(head, b"\"turn_context\"").is_some()
            || (memchr::memmem::find(head, b"\"event_msg\"").is_some() && token_count.find(bytes).is_some());
        if !wanted {
            continue;
        }
        let Some(raw) = lines::parse::<RawLine<'_>>(bytes, &mut out.skipped) else { continue };
        let Some(payload) = raw.payload else { continue };
        match raw.kind.as_deref() {
            Some("session_meta") => {
                if let Some(id) = payload.id.as_deref().filter(|id| !id.is_empty()) {
                    session = id.into();
                }
                if let Some(dir) = payload.cwd.as_deref().filter(|d| !d.is_empty()) {
                    cwd = Some(dir.into());
                }
                if let Some(name) = payload
                    .git
                    .as_ref()
                    .and_then(|g| g.get("branch"))
                    .and_then(|b| b.as_str())
                    .filter(|b| !b.is_empty() && *b != "HEAD")
                {
                    branch = Some(name.into());
                }
                let spawned = payload.source.as_ref().and_then(|s| s.get("subagent")).is_some();
                let forked = payload.forked_from_id.as_ref().is_some_and(|f| !f.is_null());
                if (spawned || forked) && state.prev.is_none() {
                    state.replay = true;
                }
                if let Some(dir) = &cwd
                    && !scope.contains(dir)
                {
                    // Another project's thread: never read further.
                    out.foreign = true;
                    break;
                }
            }
            Some("turn_context") => {
                if let Some(name) = payload.model.as_deref().filter(|m| !m.is_empty()) {
                    model = Some(name.into());
                }
                if let Some(dir) = payload.cwd.as_deref().filter(|d| !d.is_empty()) {
                    cwd = Some(dir.into());
                }
            }
            Some("event_msg") if payload.kind.as_deref() == Some("token_count") => {
                let Some(info) = payload.info else { continue }; // a rate-limit-only update
                let timestamp = raw.timestamp.as_deref().unwrap_or("");
                let Some(at) = parse_time(timestamp) else {
                    out.skipped.no_timestamp += 1;
                    continue;
                };
                let delta = match (info.total_token_usage, info.last_token_usage) {
                    (Some(total), last) => {
                        let total = total.tuple();
                        if state.prev == Some(total) {
                            out.skipped.reemitted += 1;
                            continue;
                        }
                        if state.replay {
                            let second = timestamp.get(..19).unwrap_or(timestamp).to_owned();
                            if state.burst_second.as_deref().is_none_or(|s| s == second) {
                                state.burst_second = Some(second);
                                state.prev = Some(total);
                                out.skipped.replayed += 1;
                                continue;
                            }
                            state.replay = false;
                        }
                        let delta = match state.prev {
                            None => total,
                            Some(prev) if total.iter().zip(prev).all(|(t, p)| *t >= p) => {
                                std::array::from_fn(|i| total[i] - prev[i])
                            }
                            Some(_) => last.map_or(total, |l| l.tuple()),
                        };
                        state.prev = Some(total);
                        (delta, Some(total))
                    }
                    (None, Some(last)) => (last.tuple(), None),
                    (None, None) => continue,
                };
                let (delta, total) = delta;
                let tokens = tokens_of(delta);
                if tokens.is_zero() {
                    continue;
                }
                let total = total.unwrap_or(delta);
                let total_text: Vec<u8> = total.iter().flat_map(|n| n.to_le_bytes()).collect();
                out.rows.push(UsageRow {
                    agent: Agent::Codex,
                    at,
                    session: session.clone(),
                    cwd: cwd.clone(),
                    branch: branch.clone(),
                    model: model.clone(),
                    tokens,
                    dedup: Dedup::Once { key: RecordKey::of(&[b"codex", timestamp.as_bytes(), &total_text]) },
                });
            }
            _ => {}
        }
        reader.shrink();
    }
    out.consumed = reader.consumed();
    state.session = Some(session.to_string());
    state.cwd = cwd.map(|c| c.to_string());
    state.branch = branch.map(|b| b.to_string());
    state.model = model.map(|m| m.to_string());
    out.state = serde_json::to_string(&state).ok();
    Ok(out)
}

/// A zstd stream of one or more frames.
struct Frames<R: BufRead> {
    current: Option<ruzstd::decoding::StreamingDecoder<R, ruzstd::decoding::FrameDecoder>>,
    pending: Option<R>,
}

impl<R: BufRead> Frames<R> {
    fn new(source: R) -> Self {
        Frames { current: None, pending: Some(source) }
    }
}

impl<R: BufRead> Read for Frames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(decoder) = &mut self.current {
                let n = decoder.read(buf)?;
                if n > 0 {
                    return Ok(n);
                }
                let decoder = self.current.take().expect("present");
                self.pending = Some(decoder.into_inner());
            }
            let Some(mut source) = self.pending.take() else { return Ok(0) };
            if source.fill_buf()?.is_empty() {
                return Ok(0);
            }
            let decoder = ruzstd::decoding::StreamingDecoder::new(source)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("bad zstd frame: {e}")))?;
            self.current = Some(decoder);
        }
    }
}

#[cfg(test)]
#[path = "../../../tests/cli/usage_fixtures/codex_lines.rs"]
mod codex_lines;

#[cfg(test)]
mod tests {
    use super::*;

    fn tc(ts: &str, total: [u64; 4], last: [u64; 4]) -> String {
        super::codex_lines::codex_token_count(ts, total, last, "null")
    }

    const META: &str = r#"{"timestamp":"2026-01-02T10:00:00.000Z","type":"session_meta","payload":{"id":"0190aaaa-0000-7000-8000-00000000synt","timestamp":"2026-01-02T10:00:00.000Z","cwd":"/home/dev/demo-app","originator":"codex_cli_rs","cli_version":"0.999.0","source":"cli","git":{"commit_hash":"deadbeef","branch":"feat/SYN-42","repository_url":"git@example.com:org/demo.git"}}}"#;
    const TURN: &str = r#"{"timestamp":"2026-01-02T10:00:05.000Z","type":"turn_context","payload":{"turn_id":"turn-syn-1","cwd":"/home/dev/demo-app","model":"gpt-x-codex","approval_policy":"on-request"}}"#;

    fn scope() -> ProjectScope {
        ProjectScope::new(Path::new("/home/dev/demo-app"))
    }

    #[test]
    fn cumulative_totals_become_deltas() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rollout-2026-01-02T10-00-00-0190aaaa-0000-7000-8000-00000000synt.jsonl");
        let lines = [
            META.to_owned(),
            TURN.to_owned(),
            r#"{"timestamp":"2026-01-02T10:00:10.000Z","type":"event_msg","payload":{"type":"token_count","info":null,"rate_limits":{}}}"#.to_owned(),
            tc("2026-01-02T10:00:30.000Z", [12000, 9000, 800, 300], [12000, 9000, 800, 300]),
            tc("2026-01-02T10:00:31.000Z", [12000, 9000, 800, 300], [12000, 9000, 800, 300]),
            tc("2026-01-02T10:01:30.000Z", [20000, 15000, 1000, 350], [8000, 6000, 200, 50]),
        ];
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        let read = read(&path, 0, None, &scope()).unwrap();
        let tokens: Vec<Tokens> = read.rows.iter().map(|r| r.tokens).collect();
        assert_eq!(
            tokens,
            [
                Tokens { input: 3000, output: 800, cache_read: 9000, reasoning: 300, ..Tokens::default() },
                Tokens { input: 2000, output: 200, cache_read: 6000, reasoning: 50, ..Tokens::default() },
            ]
        );
        assert_eq!(read.skipped.reemitted, 1);
        assert_eq!(read.rows[0].model.as_deref(), Some("gpt-x-codex"));
        assert_eq!(read.rows[0].branch.as_deref(), Some("feat/SYN-42"));
        assert_eq!(&*read.rows[0].session, "0190aaaa-0000-7000-8000-00000000synt");

        // Appending continues from the remembered total.
        let consumed = read.consumed;
        let more = tc("2026-01-02T10:02:00.000Z", [20500, 15000, 1100, 350], [500, 0, 100, 0]);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(&more);
        text.push('\n');
        std::fs::write(&path, text).unwrap();
        let again = super::read(&path, consumed, read.state.as_deref(), &scope()).unwrap();
        assert_eq!(again.rows.len(), 1);
        assert_eq!(again.rows[0].tokens, Tokens { input: 500, output: 100, ..Tokens::default() });
        assert_eq!(again.rows[0].model.as_deref(), Some("gpt-x-codex"));
    }

    #[test]
    fn subagent_replay_burst_only_seeds_the_total() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rollout-sub.jsonl");
        let meta =
            META.replace(r#""source":"cli""#, r#""source":{"subagent":{"thread_spawn":{"parent_thread_id":"p"}}}"#);
        let lines = [
            meta,
            tc("2026-01-02T10:05:00.100Z", [1000, 0, 100, 0], [1000, 0, 100, 0]),
            tc("2026-01-02T10:05:00.200Z", [5000, 1000, 300, 0], [4000, 1000, 200, 0]),
            TURN.to_owned(),
            tc("2026-01-02T10:05:09.000Z", [6000, 1500, 400, 0], [1000, 500, 100, 0]),
        ];
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        let read = read(&path, 0, None, &scope()).unwrap();
        assert_eq!(read.skipped.replayed, 2);
        assert_eq!(read.rows.len(), 1);
        assert_eq!(read.rows[0].tokens, Tokens { input: 500, output: 100, cache_read: 500, ..Tokens::default() });
    }

    #[test]
    fn foreign_threads_stop_after_the_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rollout-x.jsonl");
        let lines = [
            META.replace("/home/dev/demo-app", "/elsewhere"),
            tc("2026-01-02T10:00:30.000Z", [1, 0, 1, 0], [1, 0, 1, 0]),
        ];
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        let read = read(&path, 0, None, &scope()).unwrap();
        assert!(read.foreign && read.rows.is_empty());
    }

    #[test]
    fn thread_ids_from_file_names() {
        assert_eq!(
            thread_of_path(Path::new("/x/rollout-2026-01-02T10-00-00-0190aaaa-0000-7000-8000-000000000001.jsonl.zst")),
            "0190aaaa-0000-7000-8000-000000000001"
        );
    }
}
