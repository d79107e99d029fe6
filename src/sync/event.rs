//! The eight sync event types: their payloads, the rules a payload must satisfy before it may be
//! queued (reference/sync.md §1.4), and the envelope that carries them to the team server.

use serde_json::{Map, Value};
use std::fmt;

pub const LANES: [&str; 7] = ["planned", "claimed", "in_progress", "for_review", "done", "blocked", "canceled"];

/// A workflow fact to publish, as produced by a command. The envelope (ids, clocks, identity) is added
/// when the event is queued.
#[derive(Debug, Clone, PartialEq)]
pub enum SyncEvent {
    WpStatusChanged {
        feature_slug: String,
        wp_id: String,
        from_lane: String,
        to_lane: String,
        actor: String,
        policy_metadata: Option<Value>,
    },
    WpCreated {
        feature_slug: String,
        wp_id: String,
        title: String,
        dependencies: Vec<String>,
    },
    WpAssigned {
        wp_id: String,
        agent_id: String,
        phase: AssignmentPhase,
        retry_count: u32,
    },
    FeatureCreated {
        feature_slug: String,
        feature_number: String,
        target_branch: String,
        wp_count: usize,
        created_at: Option<String>,
    },
    FeatureCompleted {
        feature_slug: String,
        total_wps: usize,
        completed_at: Option<String>,
        total_duration: Option<String>,
    },
    HistoryAdded {
        wp_id: String,
        entry_type: EntryType,
        entry_content: String,
        author: String,
    },
    ErrorLogged {
        error_type: ErrorType,
        error_message: String,
        wp_id: Option<String>,
        stack_trace: Option<String>,
        agent_id: Option<String>,
    },
    DependencyResolved {
        wp_id: String,
        dependency_wp_id: String,
        resolution_type: ResolutionType,
    },
}

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($variant),+ }
        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// Which phase an agent was assigned for.
    AssignmentPhase { Implementation => "implementation", Review => "review" }
);
string_enum!(
    /// The kind of a history entry.
    EntryType { Note => "note", Review => "review", Error => "error", Comment => "comment" }
);
string_enum!(
    /// The category of a logged error.
    ErrorType { Validation => "validation", Runtime => "runtime", Network => "network", Auth => "auth", Unknown => "unknown" }
);
string_enum!(
    /// How a dependency stopped blocking its dependent.
    ResolutionType { Completed => "completed", Skipped => "skipped", Merged => "merged" }
);

/// Why an event may not be queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{event_type} payload field '{field}' has invalid value: {value}")]
pub struct PayloadError {
    pub event_type: &'static str,
    pub field: &'static str,
    pub value: String,
}

impl SyncEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            SyncEvent::WpStatusChanged { .. } => "WPStatusChanged",
            SyncEvent::WpCreated { .. } => "WPCreated",
            SyncEvent::WpAssigned { .. } => "WPAssigned",
            SyncEvent::FeatureCreated { .. } => "FeatureCreated",
            SyncEvent::FeatureCompleted { .. } => "FeatureCompleted",
            SyncEvent::HistoryAdded { .. } => "HistoryAdded",
            SyncEvent::ErrorLogged { .. } => "ErrorLogged",
            SyncEvent::DependencyResolved { .. } => "DependencyResolved",
        }
    }

    /// `(aggregate_type, aggregate_id)`: the work package, or the feature; an ErrorLogged without a WP
    /// is filed under the feature aggregate `error`, as upstream does.
    pub fn aggregate(&self) -> (&'static str, String) {
        match self {
            SyncEvent::FeatureCreated { feature_slug, .. } | SyncEvent::FeatureCompleted { feature_slug, .. } => {
                ("Feature", feature_slug.clone())
            }
            SyncEvent::ErrorLogged { wp_id: None, .. } => ("Feature", "error".to_owned()),
            SyncEvent::ErrorLogged { wp_id: Some(wp), .. } => ("WorkPackage", wp.clone()),
            SyncEvent::WpStatusChanged { wp_id, .. }
            | SyncEvent::WpCreated { wp_id, .. }
            | SyncEvent::WpAssigned { wp_id, .. }
            | SyncEvent::HistoryAdded { wp_id, .. }
            | SyncEvent::DependencyResolved { wp_id, .. } => ("WorkPackage", wp_id.clone()),
        }
    }

    /// The payload object, keys in upstream's order; optional keys are omitted when absent, as upstream
    /// does for them.
    pub fn payload(&self) -> Map<String, Value> {
        let mut p = Map::new();
        let mut put = |k: &str, v: Value| {
            p.insert(k.to_owned(), v);
        };
        let s = |v: &str| Value::String(v.to_owned());
        match self {
            SyncEvent::WpStatusChanged { feature_slug, wp_id, from_lane, to_lane, actor, policy_metadata } => {
                put("wp_id", s(wp_id));
                put("from_lane", s(from_lane));
                put("to_lane", s(to_lane));
                put("actor", s(actor));
                put("feature_slug", s(feature_slug));
                put("policy_metadata", policy_metadata.clone().unwrap_or(Value::Null));
            }
            SyncEvent::WpCreated { feature_slug, wp_id, title, dependencies } => {
                put("wp_id", s(wp_id));
                put("title", s(title));
                put("dependencies", Value::from(dependencies.clone()));
                put("feature_slug", s(feature_slug));
            }
            SyncEvent::WpAssigned { wp_id, agent_id, phase, retry_count } => {
                put("wp_id", s(wp_id));
                put("agent_id", s(agent_id));
                put("phase", s(phase.as_str()));
                put("retry_count", Value::from(*retry_count));
            }
            SyncEvent::FeatureCreated { feature_slug, feature_number, target_branch, wp_count, created_at } => {
                put("feature_slug", s(feature_slug));
                put("feature_number", s(feature_number));
                put("target_branch", s(target_branch));
                put("wp_count", Value::from(*wp_count));
                if let Some(at) = created_at {
                    put("created_at", s(at));
                }
            }
            SyncEvent::FeatureCompleted { feature_slug, total_wps, completed_at, total_duration } => {
                put("feature_slug", s(feature_slug));
                put("total_wps", Value::from(*total_wps));
                if let Some(at) = completed_at {
                    put("completed_at", s(at));
                }
                if let Some(d) = total_duration {
                    put("total_duration", s(d));
                }
            }
            SyncEvent::HistoryAdded { wp_id, entry_type, entry_content, author } => {
                put("wp_id", s(wp_id));
                put("entry_type", s(entry_type.as_str()));
                put("entry_content", s(entry_content));
                put("author", s(author));
            }
            SyncEvent::ErrorLogged { error_type, error_message, wp_id, stack_trace, agent_id } => {
                put("error_type", s(error_type.as_str()));
                put("error_message", s(error_message));
                for (key, value) in [("wp_id", wp_id), ("stack_trace", stack_trace), ("agent_id", agent_id)] {
                    if let Some(v) = value {
                        put(key, s(v));
                    }
                }
            }
            SyncEvent::DependencyResolved { wp_id, dependency_wp_id, resolution_type } => {
                put("wp_id", s(wp_id));
                put("dependency_wp_id", s(dependency_wp_id));
                put("resolution_type", s(resolution_type.as_str()));
            }
        }
        p
    }

    /// Upstream's payload rules (`_PAYLOAD_RULES`), checked before anything is queued.
    pub fn validate(&self) -> Result<(), PayloadError> {
        let event_type = self.event_type();
        let bad = |field: &'static str, value: &str| PayloadError { event_type, field, value: format!("{value:?}") };
        let wp = |field: &'static str, v: &str| if is_wp_id(v) { Ok(()) } else { Err(bad(field, v)) };
        let non_empty = |field: &'static str, v: &str| if v.is_empty() { Err(bad(field, v)) } else { Ok(()) };
        let lane = |field: &'static str, v: &str| if LANES.contains(&v) { Ok(()) } else { Err(bad(field, v)) };
        match self {
            SyncEvent::WpStatusChanged { wp_id, from_lane, to_lane, .. } => {
                wp("wp_id", wp_id)?;
                lane("from_lane", from_lane)?;
                lane("to_lane", to_lane)
            }
            SyncEvent::WpCreated { feature_slug, wp_id, title, dependencies } => {
                wp("wp_id", wp_id)?;
                non_empty("title", title)?;
                non_empty("feature_slug", feature_slug)?;
                dependencies.iter().try_for_each(|d| wp("dependencies", d))
            }
            SyncEvent::WpAssigned { wp_id, agent_id, .. } => {
                wp("wp_id", wp_id)?;
                non_empty("agent_id", agent_id)
            }
            SyncEvent::FeatureCreated { feature_slug, feature_number, target_branch, created_at, .. } => {
                if !is_feature_slug(feature_slug) {
                    return Err(bad("feature_slug", feature_slug));
                }
                if feature_number.len() != 3 || !feature_number.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad("feature_number", feature_number));
                }
                non_empty("target_branch", target_branch)?;
                created_at.as_deref().map_or(Ok(()), |at| datetime("created_at", at).map_err(|_| bad("created_at", at)))
            }
            SyncEvent::FeatureCompleted { feature_slug, completed_at, .. } => {
                non_empty("feature_slug", feature_slug)?;
                completed_at
                    .as_deref()
                    .map_or(Ok(()), |at| datetime("completed_at", at).map_err(|_| bad("completed_at", at)))
            }
            SyncEvent::HistoryAdded { wp_id, entry_content, .. } => {
                wp("wp_id", wp_id)?;
                non_empty("entry_content", entry_content)
            }
            SyncEvent::ErrorLogged { error_message, .. } => non_empty("error_message", error_message),
            SyncEvent::DependencyResolved { wp_id, dependency_wp_id, .. } => {
                wp("wp_id", wp_id)?;
                wp("dependency_wp_id", dependency_wp_id)
            }
        }
    }
}

/// `^WP\d{2}$`
pub fn is_wp_id(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 4 && b.starts_with(b"WP") && b[2].is_ascii_digit() && b[3].is_ascii_digit()
}

/// `^\d{3}-[a-z0-9-]+$`
fn is_feature_slug(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() > 4
        && b[..3].iter().all(u8::is_ascii_digit)
        && b[3] == b'-'
        && b[4..].iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

fn datetime(_field: &str, value: &str) -> Result<(), ()> {
    crate::events::Timestamp::parse(value).map(|_| ()).map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::pyjson;

    fn status_changed(from: &str, to: &str) -> SyncEvent {
        SyncEvent::WpStatusChanged {
            feature_slug: "028-cli-event-emission-sync".into(),
            wp_id: "WP01".into(),
            from_lane: from.into(),
            to_lane: to.into(),
            actor: "user".into(),
            policy_metadata: None,
        }
    }

    #[test]
    fn payloads_match_upstreams_shapes() {
        let json = |e: &SyncEvent| pyjson::to_string(&Value::Object(e.payload()), pyjson::COMPACT);
        assert_eq!(
            json(&status_changed("planned", "in_progress")),
            r#"{"wp_id": "WP01", "from_lane": "planned", "to_lane": "in_progress", "actor": "user", "feature_slug": "028-cli-event-emission-sync", "policy_metadata": null}"#
        );
        let error = SyncEvent::ErrorLogged {
            error_type: ErrorType::Runtime,
            error_message: "boom".into(),
            wp_id: None,
            stack_trace: None,
            agent_id: None,
        };
        assert_eq!(json(&error), r#"{"error_type": "runtime", "error_message": "boom"}"#);
        assert_eq!(error.aggregate(), ("Feature", "error".to_owned()));
        let created = SyncEvent::FeatureCreated {
            feature_slug: "028-x".into(),
            feature_number: "028".into(),
            target_branch: "main".into(),
            wp_count: 7,
            created_at: None,
        };
        assert_eq!(
            json(&created),
            r#"{"feature_slug": "028-x", "feature_number": "028", "target_branch": "main", "wp_count": 7}"#
        );
    }

    #[test]
    fn validation_follows_the_payload_rules() {
        assert!(status_changed("planned", "in_progress").validate().is_ok());
        let err = status_changed("planned", "doing").validate().unwrap_err();
        assert_eq!(err.to_string(), "WPStatusChanged payload field 'to_lane' has invalid value: \"doing\"");
        let wp100 = SyncEvent::HistoryAdded {
            wp_id: "WP100".into(),
            entry_type: EntryType::Note,
            entry_content: "x".into(),
            author: "user".into(),
        };
        assert!(wp100.validate().is_err());
        let empty = SyncEvent::HistoryAdded {
            wp_id: "WP01".into(),
            entry_type: EntryType::Note,
            entry_content: "".into(),
            author: "user".into(),
        };
        assert!(empty.validate().is_err());
        let bad_number = SyncEvent::FeatureCreated {
            feature_slug: "028-x".into(),
            feature_number: "28".into(),
            target_branch: "main".into(),
            wp_count: 0,
            created_at: None,
        };
        assert!(bad_number.validate().is_err());
        let bad_dep = SyncEvent::WpCreated {
            feature_slug: "028-x".into(),
            wp_id: "WP02".into(),
            title: "T".into(),
            dependencies: vec!["X".into()],
        };
        assert!(bad_dep.validate().is_err());
    }
}
