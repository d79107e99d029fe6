//! Codex CLI: rollouts under `$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<thread>.jsonl[.zst]` and
//! `$CODEX_HOME/archived_sessions/`.

pub mod parser;
pub mod paths;
