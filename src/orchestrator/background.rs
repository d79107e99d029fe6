//! The background sync service runs for the duration of the run (DESIGN.md §3: "the background service
//! runs inside long-lived commands (`orchestrate`)").
//!
//! HOOK: this is where `crate::sync`'s background service plugs in. [`BackgroundSync::start`] should
//! start it (it drains the offline queue to the server while agents work, and is a no-op when offline or
//! logged out); [`BackgroundSync::stop`] should stop it with its bounded final flush. Until that service
//! exists, every event the run emits is durable in the queue and leaves with the next `spec-kitty sync now`.

use crate::context::Context;
use crate::project::Project;

/// The sync service's handle for one run.
#[derive(Debug)]
pub struct BackgroundSync {
    _private: (),
}

impl BackgroundSync {
    pub fn start(_ctx: &Context, _project: &Project) -> BackgroundSync {
        BackgroundSync { _private: () }
    }

    pub async fn stop(self) {}
}
