//! The spec-kitty project on disk: finding its root, its features under `kitty-specs/`, their
//! metadata, and the project configuration and identity.

pub mod config;
pub mod detect;
mod feature;
pub mod identity;
pub mod meta;
mod root;
pub mod verify;

pub use detect::{DetectError, DetectOptions, Detected, Feature, detect_feature};
pub use feature::{FeatureSlug, SlugError, glob_match};
pub use root::{DiscoveryError, Project};
