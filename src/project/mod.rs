//! The spec-kitty project on disk: finding its root and its features under `kitty-specs/`.

mod feature;
mod root;

pub use feature::{FeatureSlug, SlugError, glob_match};
pub use root::{DiscoveryError, Project};
