//! The event envelope shared by every line of `execution.events.jsonl`, read as leniently as upstream's
//! pydantic model and written in its exact byte format.

use super::ids::EventId;
use super::pyjson;
use super::timestamp::Timestamp;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;

/// A generic payload: any JSON object, kept with all its keys.
pub type Payload = Map<String, Value>;

/// One event. `P` is the payload representation: the full JSON object by default, or a typed borrowed
/// view when a reader only needs a few fields (the cost report reads millions of lines).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(bound(deserialize = "P: Deserialize<'de> + Default"))]
pub struct Event<'a, P = Payload> {
    pub event_id: EventId,
    #[serde(borrow, deserialize_with = "non_empty")]
    pub event_type: Cow<'a, str>,
    #[serde(borrow, deserialize_with = "non_empty")]
    pub aggregate_id: Cow<'a, str>,
    #[serde(default = "default_payload::<P>")]
    pub payload: P,
    pub timestamp: Timestamp,
    #[serde(borrow, deserialize_with = "non_empty")]
    pub node_id: Cow<'a, str>,
    #[serde(deserialize_with = "lax_non_negative_int")]
    pub lamport_clock: u64,
    #[serde(default)]
    pub causation_id: Option<EventId>,
}

fn default_payload<P: Default>() -> P {
    P::default()
}

/// Why a line is not an event; reported with the line number, never fatal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LineError(pub String);

impl<'a, P: Deserialize<'a> + Default> Event<'a, P> {
    /// Parses one log line (without its newline).
    pub fn from_line(line: &'a [u8]) -> Result<Self, LineError> {
        // One UTF-8 check of the whole line is much cheaper than serde_json's check of every string.
        let text = std::str::from_utf8(line).map_err(|_| LineError("not valid UTF-8".into()))?;
        serde_json::from_str(text).map_err(|e| LineError(describe_json_error(&e)))
    }
}

impl Event<'_, Payload> {
    /// The exact bytes upstream's store writes for this event (without the trailing newline):
    /// `json.dumps(event, sort_keys=True)`.
    pub fn to_line(&self) -> String {
        let line = Line {
            aggregate_id: &self.aggregate_id,
            causation_id: self.causation_id.as_ref().map(Shown),
            event_id: Shown(&self.event_id),
            event_type: &self.event_type,
            lamport_clock: self.lamport_clock,
            node_id: &self.node_id,
            payload: pyjson::SortedKeys(&self.payload),
            timestamp: Shown(&self.timestamp),
        };
        // LOG_LINE without its sort: `Line` declares its fields in key order and the payload comes
        // sorted, so nothing is copied through the formatter's sort buffers.
        let style = pyjson::Style { sort_keys: false, ..pyjson::LOG_LINE };
        pyjson::to_string_of(&line, style).expect("an event line always serializes")
    }

    /// Detaches the event from the line buffer it was parsed from.
    pub fn into_owned(self) -> Event<'static, Payload> {
        Event {
            event_id: self.event_id,
            event_type: Cow::Owned(self.event_type.into_owned()),
            aggregate_id: Cow::Owned(self.aggregate_id.into_owned()),
            payload: self.payload,
            timestamp: self.timestamp,
            node_id: Cow::Owned(self.node_id.into_owned()),
            lamport_clock: self.lamport_clock,
            causation_id: self.causation_id,
        }
    }
}

/// The fields of a log line, in key order (`json.dumps(sort_keys=True)` order).
#[derive(Serialize)]
struct Line<'a> {
    aggregate_id: &'a str,
    causation_id: Option<Shown<'a, EventId>>,
    event_id: Shown<'a, EventId>,
    event_type: &'a str,
    lamport_clock: u64,
    node_id: &'a str,
    payload: pyjson::SortedKeys<'a, Payload>,
    timestamp: Shown<'a, Timestamp>,
}

/// Serialises as the string its `Display` writes, without building that string first.
struct Shown<'a, T>(&'a T);

impl<T: fmt::Display> Serialize for Shown<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self.0)
    }
}

/// serde_json's messages mention Rust types; keep them short and about the line.
pub(crate) fn describe_json_error(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.split_once(" at line ") {
        Some((message, _)) => message.to_owned(),
        None => text,
    }
}

fn non_empty<'de: 'a, 'a, D: Deserializer<'de>>(deserializer: D) -> Result<Cow<'a, str>, D::Error> {
    let value: Cow<'a, str> = BorrowedStr::deserialize(deserializer)?.0;
    if value.is_empty() {
        return Err(de::Error::custom("empty string where a value is required"));
    }
    Ok(value)
}

/// A string that borrows from the input when it has no escapes.
struct BorrowedStr<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for BorrowedStr<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Cow<'de, str>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Cow::Borrowed(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Cow::Owned(v.to_owned()))
            }
        }
        deserializer.deserialize_str(V).map(BorrowedStr)
    }
}

/// pydantic's lax `int` with `ge=0`: `5`, `5.0`, `"5"` and `true` are 5, 5, 5 and 1; `5.5` and `-1` are errors.
pub fn lax_non_negative_int<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = u64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a non-negative integer")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::custom(format!("{v} is negative")))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<u64, E> {
            if v.fract() == 0.0 && (0.0..1.8e19).contains(&v) {
                Ok(v as u64)
            } else {
                Err(E::custom(format!("{v} is not a non-negative integer")))
            }
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<u64, E> {
            Ok(u64::from(v))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
            v.trim().parse().map_err(|_| E::custom(format!("{v:?} is not a non-negative integer")))
        }
    }
    deserializer.deserialize_any(V)
}

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = EventId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a ULID or UUID string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<EventId, E> {
                EventId::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an ISO 8601 timestamp or epoch seconds")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
                Timestamp::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Timestamp, E> {
                self.visit_f64(v as f64)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Timestamp, E> {
                self.visit_f64(v as f64)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Timestamp, E> {
                Timestamp::from_epoch(v).ok_or_else(|| E::custom(format!("epoch value {v} is out of range")))
            }
        }
        deserializer.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPSTREAM_LINE: &str = r#"{"aggregate_id": "048-full-lifecycle-telemetry-events", "causation_id": null, "event_id": "01KHK2DVHCVJFXTV0HH3QMBSYT", "event_type": "ExecutionEvent", "lamport_clock": 1, "node_id": "cli:N/A", "payload": {"agent": "claude", "cost_usd": null, "duration_ms": 90014, "error": null, "exit_code": 0, "input_tokens": 64163, "model": "claude-opus-4-6", "output_tokens": null, "role": "specifier", "success": true, "wp_id": "N/A"}, "timestamp": "2026-02-16T11:12:33.324349+00:00"}"#;

    #[test]
    fn upstream_line_round_trips_byte_for_byte() {
        let event: Event = Event::from_line(UPSTREAM_LINE.as_bytes()).unwrap();
        assert_eq!(event.to_line(), UPSTREAM_LINE);
    }

    #[test]
    fn lenient_fields_are_normalised_and_unknown_keys_ignored() {
        let line = r#"{"event_id": "01khk2dvhcvjfxtv0hh3qmbsyt", "event_type": "ExecutionEvent", "aggregate_id": "x",
            "timestamp": "2026-02-16T11:12:33Z", "node_id": "n", "lamport_clock": "7", "schema_version": "3.0.0",
            "causation_id": "8A4A7DA6A97C4BB4893AB31664ABFEE4"}"#;
        let event: Event = Event::from_line(line.as_bytes()).unwrap();
        assert_eq!(event.lamport_clock, 7);
        assert_eq!(
            event.to_line(),
            r#"{"aggregate_id": "x", "causation_id": "8a4a7da6-a97c-4bb4-893a-b31664abfee4", "event_id": "01KHK2DVHCVJFXTV0HH3QMBSYT", "event_type": "ExecutionEvent", "lamport_clock": 7, "node_id": "n", "payload": {}, "timestamp": "2026-02-16T11:12:33+00:00"}"#
        );
    }

    #[test]
    fn invalid_lines_are_rejected_with_a_reason() {
        let cases = [
            ("[1, 2]", "invalid type"),
            ("42", "invalid type"),
            (r#"{"event_id": "01KHK2DVHCVJFXTV0HH3QMBSYT"}"#, "missing field"),
            (
                r#"{"event_id": "x", "event_type": "E", "aggregate_id": "a", "timestamp": "2026-01-01", "node_id": "n", "lamport_clock": 1}"#,
                "invalid event id",
            ),
            (
                r#"{"event_id": "01KHK2DVHCVJFXTV0HH3QMBSYT", "event_type": "E", "aggregate_id": "a", "timestamp": "2026-01-01", "node_id": "n", "lamport_clock": -1}"#,
                "negative",
            ),
            (
                r#"{"event_id": "01KHK2DVHCVJFXTV0HH3QMBSYT", "event_type": "E", "aggregate_id": "a", "timestamp": "2026-01-01", "node_id": "n", "lamport_clock": 1, "payload": null}"#,
                "invalid type",
            ),
            (
                r#"{"event_id": "01KHK2DVHCVJFXTV0HH3QMBSYT", "event_type": "", "aggregate_id": "a", "timestamp": "2026-01-01", "node_id": "n", "lamport_clock": 1}"#,
                "empty string",
            ),
        ];
        for (line, reason) in cases {
            let err = Event::<Payload>::from_line(line.as_bytes()).unwrap_err();
            assert!(err.0.contains(reason), "{line}: {err}");
        }
    }
}
