//! spec-kitty: the agent-facing command line of spec-driven development, in Rust.
//!
//! The binary is a thin shell over this library: `cli` parses and renders, everything else is core
//! logic that never prints and never touches clap.

pub mod cli;
pub mod context;
pub mod dashboard;
pub mod diagnostics;
pub mod error;
pub mod events;
pub mod fsutil;
pub mod git;
pub mod json_map;
pub mod ops;
pub mod orchestrator;
pub mod project;
pub mod store;
pub mod sync;
pub mod table;
pub mod telemetry;
pub mod usage;
pub mod workflow;
