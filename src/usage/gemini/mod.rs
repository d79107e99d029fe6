//! Gemini CLI: chats under `~/.gemini/tmp/<project id>/chats/` (`session-*.jsonl`, older `session-*.json`,
//! subagents in `chats/<parent session>/`).

pub mod parser;
pub mod paths;
