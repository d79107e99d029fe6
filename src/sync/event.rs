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

/// The sync event announcing a lane transition the status log recorded. The wire contract knows the
/// seven classic lanes only, so the newer review lanes (`in_review`, `approved`) travel as `for_review`,
/// the lane they refine, rather than being rejected by the server.
impl From<&crate::workflow::status::StatusEvent> for SyncEvent {
    fn from(e: &crate::workflow::status::StatusEvent) -> SyncEvent {
        use crate::workflow::lanes::Lane;
        let wire = |lane: Lane| if lane.is_review_extension() { Lane::ForReview } else { lane }.as_str().to_owned();
        SyncEvent::WpStatusChanged {
            feature_slug: e.feature_slug.clone(),
            wp_id: e.wp_id.clone(),
            from_lane: wire(e.from_lane),
            to_lane: wire(e.to_lane),
            actor: e.actor.clone(),
            policy_metadata: e.policy_metadata.clone(),
        }
    }
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

impl SyncEvent {
    /// Reads an event back from its type and payload (as queued or as received by a server), checking
    /// required keys, types and enum values; the payload rules themselves are [`SyncEvent::validate`].
    pub fn from_payload(event_type: &str, payload: &Map<String, Value>) -> Result<SyncEvent, ReadError> {
        let missing = |key: &str| ReadError::Missing { event_type: event_type.to_owned(), key: key.to_owned() };
        let invalid = |key: &str, value: String| ReadError::Invalid {
            event_type: event_type.to_owned(),
            key: key.to_owned(),
            value,
        };
        let text = |key: &str| -> Result<String, ReadError> {
            match payload.get(key) {
                Some(Value::String(s)) => Ok(s.clone()),
                Some(other) => Err(invalid(key, other.to_string())),
                None => Err(missing(key)),
            }
        };
        let opt_text = |key: &str| -> Result<Option<String>, ReadError> {
            match payload.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(invalid(key, other.to_string())),
            }
        };
        let count = |key: &str, required: bool| -> Result<u64, ReadError> {
            match payload.get(key) {
                None if !required => Ok(0),
                None => Err(missing(key)),
                Some(v) => v.as_u64().ok_or_else(|| invalid(key, v.to_string())),
            }
        };
        let choice = |key: &str, allowed: &[&'static str]| -> Result<&'static str, ReadError> {
            let value = text(key)?;
            allowed.iter().copied().find(|a| *a == value).ok_or_else(|| invalid(key, format!("{value:?}")))
        };
        Ok(match event_type {
            "WPStatusChanged" => SyncEvent::WpStatusChanged {
                wp_id: text("wp_id")?,
                from_lane: text("from_lane")?,
                to_lane: text("to_lane")?,
                actor: opt_text("actor")?.unwrap_or_default(),
                feature_slug: opt_text("feature_slug")?.unwrap_or_default(),
                policy_metadata: payload.get("policy_metadata").filter(|v| !v.is_null()).cloned(),
            },
            "WPCreated" => SyncEvent::WpCreated {
                wp_id: text("wp_id")?,
                title: text("title")?,
                feature_slug: text("feature_slug")?,
                dependencies: match payload.get("dependencies") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::Array(items)) => items
                        .iter()
                        .map(|i| i.as_str().map(str::to_owned).ok_or_else(|| invalid("dependencies", i.to_string())))
                        .collect::<Result<_, _>>()?,
                    Some(other) => {
                        return Err(invalid("dependencies", other.to_string()));
                    }
                },
            },
            "WPAssigned" => SyncEvent::WpAssigned {
                wp_id: text("wp_id")?,
                agent_id: text("agent_id")?,
                phase: match choice("phase", &["implementation", "review"])? {
                    "implementation" => AssignmentPhase::Implementation,
                    _ => AssignmentPhase::Review,
                },
                retry_count: u32::try_from(count("retry_count", false)?).unwrap_or(u32::MAX),
            },
            "FeatureCreated" => SyncEvent::FeatureCreated {
                feature_slug: text("feature_slug")?,
                feature_number: text("feature_number")?,
                target_branch: text("target_branch")?,
                wp_count: count("wp_count", true)? as usize,
                created_at: opt_text("created_at")?,
            },
            "FeatureCompleted" => SyncEvent::FeatureCompleted {
                feature_slug: text("feature_slug")?,
                total_wps: count("total_wps", true)? as usize,
                completed_at: opt_text("completed_at")?,
                total_duration: opt_text("total_duration")?,
            },
            "HistoryAdded" => SyncEvent::HistoryAdded {
                wp_id: text("wp_id")?,
                entry_type: match choice("entry_type", &["note", "review", "error", "comment"])? {
                    "note" => EntryType::Note,
                    "review" => EntryType::Review,
                    "error" => EntryType::Error,
                    _ => EntryType::Comment,
                },
                entry_content: text("entry_content")?,
                author: opt_text("author")?.unwrap_or_else(|| "user".into()),
            },
            "ErrorLogged" => SyncEvent::ErrorLogged {
                error_type: match choice("error_type", &["validation", "runtime", "network", "auth", "unknown"])? {
                    "validation" => ErrorType::Validation,
                    "runtime" => ErrorType::Runtime,
                    "network" => ErrorType::Network,
                    "auth" => ErrorType::Auth,
                    _ => ErrorType::Unknown,
                },
                error_message: text("error_message")?,
                wp_id: opt_text("wp_id")?,
                stack_trace: opt_text("stack_trace")?,
                agent_id: opt_text("agent_id")?,
            },
            "DependencyResolved" => SyncEvent::DependencyResolved {
                wp_id: text("wp_id")?,
                dependency_wp_id: text("dependency_wp_id")?,
                resolution_type: match choice("resolution_type", &["completed", "skipped", "merged"])? {
                    "completed" => ResolutionType::Completed,
                    "skipped" => ResolutionType::Skipped,
                    _ => ResolutionType::Merged,
                },
            },
            other => return Err(ReadError::UnknownType(other.to_owned())),
        })
    }
}

/// Why a payload read back is not an event of its type (upstream's messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("{event_type} payload missing required field: {key}")]
    Missing { event_type: String, key: String },
    #[error("{event_type} payload field '{key}' has invalid value: {value}")]
    Invalid { event_type: String, key: String, value: String },
    #[error("Unknown event_type: {0}")]
    UnknownType(String),
}

/// Checks a whole queued envelope as upstream's emitter and `sync diagnose` do: ids, type, aggregate
/// type, and the payload. Returns every problem found.
pub fn diagnose_envelope(envelope: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let Some(object) = envelope.as_object() else {
        return vec!["the event is not a JSON object".into()];
    };
    let field = |key: &str| object.get(key).and_then(Value::as_str);
    match field("event_id") {
        Some(id) if crate::events::EventId::parse(id).is_ok() => {}
        other => errors.push(format!("Invalid event_id: {other:?}")),
    }
    if let Some(causation) = object.get("causation_id").filter(|v| !v.is_null())
        && causation.as_str().is_none_or(|c| crate::events::EventId::parse(c).is_err())
    {
        errors.push(format!("Invalid causation_id: {causation}"));
    }
    if let Some(aggregate_type) = object.get("aggregate_type")
        && !matches!(aggregate_type.as_str(), Some("WorkPackage" | "Feature"))
    {
        errors.push(format!("Invalid aggregate_type: {aggregate_type}"));
    }
    for key in ["aggregate_id", "node_id"] {
        if field(key).is_none_or(str::is_empty) {
            errors.push(format!("missing or empty {key}"));
        }
    }
    if object.get("lamport_clock").and_then(Value::as_u64).is_none() {
        errors.push("lamport_clock must be a non-negative integer".into());
    }
    if field("timestamp").is_none_or(|t| crate::events::Timestamp::parse(t).is_err()) {
        errors.push("timestamp is not an ISO 8601 date-time".into());
    }
    let payload = object.get("payload").and_then(Value::as_object);
    match (field("event_type"), payload) {
        (Some(event_type), Some(payload)) => match SyncEvent::from_payload(event_type, payload) {
            Ok(event) => {
                if let Err(e) = event.validate() {
                    errors.push(e.to_string());
                }
            }
            Err(e) => errors.push(e.to_string()),
        },
        (None, _) => errors.push("missing event_type".into()),
        (_, None) => errors.push("payload must be a JSON object".into()),
    }
    errors
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
    fn review_lanes_travel_as_for_review_so_the_server_accepts_them() {
        let line = br#"{"actor": "codex", "at": "2026-02-10T10:00:00+00:00", "event_id": "01KHKGT029N50VDTFKTJ56TDW5", "execution_mode": "worktree", "force": false, "from_lane": "in_review", "feature_slug": "001-x", "to_lane": "approved", "wp_id": "WP01"}"#;
        let event = SyncEvent::from(&crate::workflow::status::StatusEvent::from_line(line).unwrap());
        let SyncEvent::WpStatusChanged { from_lane, to_lane, .. } = &event else { panic!("{event:?}") };
        assert_eq!((from_lane.as_str(), to_lane.as_str()), ("for_review", "for_review"));
        assert!(event.validate().is_ok());
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
    fn payloads_read_back_to_the_same_event() {
        let events = [
            status_changed("planned", "claimed"),
            SyncEvent::WpCreated {
                feature_slug: "028-x".into(),
                wp_id: "WP02".into(),
                title: "T".into(),
                dependencies: vec!["WP01".into()],
            },
            SyncEvent::WpAssigned {
                wp_id: "WP02".into(),
                agent_id: "claude".into(),
                phase: AssignmentPhase::Review,
                retry_count: 2,
            },
            SyncEvent::FeatureCreated {
                feature_slug: "028-x".into(),
                feature_number: "028".into(),
                target_branch: "main".into(),
                wp_count: 3,
                created_at: Some("2026-02-18T14:03:22+00:00".into()),
            },
            SyncEvent::FeatureCompleted {
                feature_slug: "028-x".into(),
                total_wps: 3,
                completed_at: None,
                total_duration: Some("12.0s".into()),
            },
            SyncEvent::HistoryAdded {
                wp_id: "WP01".into(),
                entry_type: EntryType::Review,
                entry_content: "x".into(),
                author: "a".into(),
            },
            SyncEvent::ErrorLogged {
                error_type: ErrorType::Validation,
                error_message: "m".into(),
                wp_id: Some("WP01".into()),
                stack_trace: None,
                agent_id: Some("codex".into()),
            },
            SyncEvent::DependencyResolved {
                wp_id: "WP02".into(),
                dependency_wp_id: "WP01".into(),
                resolution_type: ResolutionType::Merged,
            },
        ];
        for event in events {
            assert_eq!(SyncEvent::from_payload(event.event_type(), &event.payload()), Ok(event.clone()));
        }
        let mut bad = status_changed("planned", "claimed").payload();
        bad.remove("to_lane");
        assert_eq!(
            SyncEvent::from_payload("WPStatusChanged", &bad).unwrap_err().to_string(),
            "WPStatusChanged payload missing required field: to_lane"
        );
        assert_eq!(SyncEvent::from_payload("Nope", &bad).unwrap_err().to_string(), "Unknown event_type: Nope");
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
