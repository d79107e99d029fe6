//! `spec-kitty dashboard`: a local web dashboard for the project — its features, a kanban board per
//! feature, the planning documents, costs and tokens over time, the work packages' flow through the
//! lanes and the sync state.
//!
//! - [`lifecycle`]: starting it in the background, reusing a healthy one, stopping it (`--kill`);
//! - [`record`]: `.kittify/.dashboard`, upstream's four-line record of the running server;
//! - [`server`]: the axum server and its security rules, over the data modules:
//!   [`features`] (features, kanban, documents), [`costs`] (the cost report with its per-log cache),
//!   [`timeline`] (transitions, cumulative flow, recent executions), [`diagnostics`], and
//!   `crate::sync::status` for the sync panel — the same code the CLI reports use;
//! - [`markdown`]: the safe renderer for documents; [`assets`]: the embedded page.
//!
//! Nothing here runs unless the `dashboard` command does.

pub mod assets;
pub mod client;
pub mod costs;
pub mod diagnostics;
pub mod features;
pub mod lifecycle;
pub mod markdown;
pub mod paths;
pub mod record;
pub mod server;
pub mod timeline;
