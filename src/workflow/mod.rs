//! The spec-kitty workflow model: work-package prompt files, `tasks.md`, lanes and the canonical status
//! log. Pure file-format and domain logic; commands compose these pieces (see `crate::cli`).

pub mod activity;
pub mod frontmatter;
pub mod graph;
pub mod lanes;
pub mod status;
pub mod tasks_md;
