//! Workflow events for the team dashboard: the eight event types, and (next) their durable offline
//! queue and delivery to the sync server.

pub mod event;

pub use event::SyncEvent;
