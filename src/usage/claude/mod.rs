//! Claude Code: transcripts under `<config>/projects/<encoded cwd>/<session>.jsonl`, subagents under
//! `<session>/subagents/agent-<id>.jsonl`.

pub mod parser;
pub mod paths;
