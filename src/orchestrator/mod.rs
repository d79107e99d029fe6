//! `spec-kitty orchestrate`: runs implementation and review agents over a feature's work-package graph
//! (upstream's orchestrator, reference/workflow.md §5), with real usage capture.
//!
//! - [`settings`]: agents, roles, limits and who implements/reviews, from `.kittify/config.yaml`.
//! - [`agents`], [`usage`], [`verdict`], [`prompt`]: command lines, reading agent output, review verdicts,
//!   prompts (pure).
//! - [`invoke`], [`outcome`]: running one agent process (timeout, grace, kill, logs), and what it amounted
//!   to (success, errors, usage, verdict, its ExecutionEvent).
//! - [`plan`], [`scheduler`], [`state`]: the work-package graph, the scheduling rules (pure) and the
//!   persisted run state.
//! - [`effects`], [`engine`]: lane moves and events in-process, and the async run loop.
//! - [`progress`], [`summary`]: what the command shows (the core never prints).

pub mod agents;
pub mod control;
pub mod effects;
pub mod engine;
pub mod invoke;
pub mod outcome;
pub mod plan;
pub mod progress;
pub mod prompt;
pub mod scheduler;
pub mod settings;
pub mod state;
pub mod summary;
pub mod usage;
pub mod verdict;
