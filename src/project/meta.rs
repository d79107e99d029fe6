//! `kitty-specs/<feature>/meta.json`: feature metadata. Read as an ordered JSON object so that keys we
//! do not know survive a rewrite in their original order.

use crate::events::pyjson;
use crate::workflow::lock::FeatureLock;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

pub const META_FILE: &str = "meta.json";

#[derive(Debug, Clone, PartialEq)]
pub struct FeatureMeta {
    pub fields: Map<String, Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{} is not a JSON object ({message}); fix or restore it", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
}

impl crate::error::Diagnose for MetaError {}

impl FeatureMeta {
    /// The metadata of a feature directory; `None` when it has no meta.json.
    pub fn load(feature_dir: &Path) -> Result<Option<FeatureMeta>, MetaError> {
        let path = feature_dir.join(META_FILE);
        let text = match crate::fsutil::read_small_string(&path, crate::fsutil::SMALL_FILE_CAP) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(MetaError::Read { path, source }),
        };
        match serde_json::from_str(&text) {
            Ok(Value::Object(fields)) => Ok(Some(FeatureMeta { fields })),
            Ok(_) => Err(MetaError::Invalid { path, message: "top level is not an object".into() }),
            Err(e) => Err(MetaError::Invalid { path, message: e.to_string() }),
        }
    }

    /// What create-feature writes, in upstream's key order.
    pub fn for_new_feature(number: &str, slug: &str, mission: &str, target_branch: &str, created_at: &str) -> Self {
        let friendly_name = slug.split_once('-').map_or(slug, |(_, rest)| rest).replace('-', " ");
        let mut fields = Map::new();
        for (key, value) in [
            ("feature_number", number.to_owned()),
            ("slug", slug.to_owned()),
            ("feature_slug", slug.to_owned()),
            ("friendly_name", friendly_name),
            ("mission", mission.to_owned()),
            ("target_branch", target_branch.to_owned()),
            ("created_at", created_at.to_owned()),
        ] {
            fields.insert(key.into(), Value::String(value));
        }
        if mission == "documentation" {
            // Upstream's initial documentation state, which the documentation mission's later steps update.
            let state = serde_json::json!({
                "iteration_mode": "initial",
                "divio_types_selected": [],
                "generators_configured": [],
                "target_audience": "developers",
                "last_audit_date": null,
                "coverage_percentage": 0.0,
            });
            fields.insert("documentation_state".into(), state);
        }
        FeatureMeta { fields }
    }

    pub fn str(&self, key: &str) -> Option<&str> {
        self.fields.get(key).and_then(Value::as_str)
    }

    /// Writes `json.dumps(meta, indent=2[, sort_keys=True]) + "\n"` (create-feature keeps insertion order;
    /// accept sorts keys, as upstream does).
    pub fn write(&self, lock: &FeatureLock, sort_keys: bool) -> Result<(), MetaError> {
        let style = pyjson::Style { sort_keys, ensure_ascii: true, indent: Some(2) };
        let text = pyjson::to_string(&Value::Object(self.fields.clone()), style) + "\n";
        let path = lock.feature_dir().join(META_FILE);
        lock.write(&path, text.as_bytes()).map_err(|source| MetaError::Write { path, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_feature_meta_has_upstreams_shape() {
        let meta = FeatureMeta::for_new_feature(
            "049",
            "049-bookmark-capture",
            "software-dev",
            "main",
            "2026-02-16T11:12:33+00:00",
        );
        let dir = tempfile::tempdir().unwrap();
        meta.write(&FeatureLock::acquire(dir.path(), std::time::Duration::from_secs(30)).unwrap(), false).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join(META_FILE)).unwrap(),
            "{\n  \"feature_number\": \"049\",\n  \"slug\": \"049-bookmark-capture\",\n  \"feature_slug\": \"049-bookmark-capture\",\n  \"friendly_name\": \"bookmark capture\",\n  \"mission\": \"software-dev\",\n  \"target_branch\": \"main\",\n  \"created_at\": \"2026-02-16T11:12:33+00:00\"\n}\n"
        );
        let loaded = FeatureMeta::load(dir.path()).unwrap().unwrap();
        assert_eq!(loaded, meta);
    }

    #[test]
    fn documentation_features_start_with_upstreams_documentation_state() {
        let meta =
            FeatureMeta::for_new_feature("002", "002-guide", "documentation", "main", "2026-02-16T11:12:33+00:00");
        let dir = tempfile::tempdir().unwrap();
        meta.write(&FeatureLock::acquire(dir.path(), std::time::Duration::from_secs(30)).unwrap(), false).unwrap();
        let text = std::fs::read_to_string(dir.path().join(META_FILE)).unwrap();
        assert!(
            text.ends_with(
                "\"created_at\": \"2026-02-16T11:12:33+00:00\",\n  \"documentation_state\": {\n    \"iteration_mode\": \"initial\",\n    \"divio_types_selected\": [],\n    \"generators_configured\": [],\n    \"target_audience\": \"developers\",\n    \"last_audit_date\": null,\n    \"coverage_percentage\": 0.0\n  }\n}\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn invalid_meta_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        assert!(FeatureMeta::load(dir.path()).unwrap().is_none());
        std::fs::write(dir.path().join(META_FILE), "[1]").unwrap();
        let err = FeatureMeta::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("meta.json is not a JSON object"), "{err}");
    }
}
