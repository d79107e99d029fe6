//! `spec-kitty orchestrate`: runs implementation and review agents over a feature's work-package graph.
pub mod agents;
pub mod invoke;
pub mod prompt;
pub mod settings;
pub mod usage;
pub mod verdict;
