//! Event primitives shared by the telemetry log and (later) the sync events: ids, timestamps, the
//! envelope, and the Python-compatible JSON writer.

pub mod envelope;
pub mod ids;
pub mod pyjson;
pub mod timestamp;

pub use envelope::{Event, LineError, Payload};
pub use ids::{EventId, IdGenerator};
pub use timestamp::Timestamp;
