//! [`BackgroundSync`]: the service on a thread of its own inside a long-running command.

use super::worker::Service;
use super::{FLUSH_GRACE, LINK_CLOSE_TIMEOUT, Observer, STOP_SLACK, ServiceEvent, ServiceOptions};
use crate::context::Context;
use crate::sync::daemon::ConnectionStatus;
use crate::sync::runner::SyncEnv;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::LocalSet;
use tokio::time::Instant;

/// The background service inside a long-running command (`orchestrate`): it runs on a thread of its
/// own for as long as this handle lives. [`BackgroundSync::stop`] stops it with its bounded final flush;
/// dropping the handle asks it to stop without waiting.
///
/// It is inert (does nothing) when this process queues no sync events (`SPEC_KITTY_SYNC_EVENTS=0`,
/// `[sync] events = false`), when no server is configured, or without a home directory: the events stay
/// queued for the exit flush or `sync now`. When a `sync daemon` already runs, the embedded service
/// stays passive (the daemon delivers) and takes over only if the daemon exits.
pub struct BackgroundSync {
    stop: Option<watch::Sender<bool>>,
    thread: Option<std::thread::JoinHandle<()>>,
    status: Option<watch::Receiver<ConnectionStatus>>,
    /// The longest [`BackgroundSync::stop`] waits: the final flush budget plus the socket's close.
    stop_timeout: Duration,
}

impl BackgroundSync {
    /// Starts the service for `ctx`'s home, named `command` in the heartbeat (e.g. `"orchestrate"`).
    /// Must not be called from a thread that will block on it; it never blocks itself.
    pub fn start(ctx: &Context, command: &str, observer: Option<Observer>) -> BackgroundSync {
        let inert = BackgroundSync { stop: None, thread: None, status: None, stop_timeout: Duration::ZERO };
        let Ok(env) = SyncEnv::from_context(ctx) else { return inert };
        let Ok(config) = env.config() else { return inert };
        if ctx.sync_events_disabled || !config.sync.events || !matches!(env.server(&config), Ok(Some(_))) {
            return inert;
        }
        let (stop, stop_rx) = watch::channel(false);
        let (status, status_rx) = watch::channel(ConnectionStatus::Offline);
        let options = ServiceOptions::new(command);
        let observer = observer.unwrap_or_else(|| Box::new(|_: &ServiceEvent| {}));
        let thread = std::thread::Builder::new().name("spec-kitty-sync".into()).spawn(move || {
            let Ok(runtime) = super::http::runtime() else { return };
            let mut service = Service::new(env, options, observer);
            service.status = Some(status);
            LocalSet::new().block_on(&runtime, service.run(None, stop_rx));
            runtime.shutdown_background();
        });
        match thread {
            Ok(thread) => BackgroundSync {
                stop: Some(stop),
                thread: Some(thread),
                status: Some(status_rx),
                stop_timeout: (config.exit_flush_budget() + FLUSH_GRACE).max(LINK_CLOSE_TIMEOUT) + STOP_SLACK,
            },
            Err(_) => inert,
        }
    }

    /// Whether a service thread runs (it may still be passive behind a daemon).
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// The service's connection status (Offline when inert).
    pub fn status(&self) -> ConnectionStatus {
        self.status.as_ref().map_or(ConnectionStatus::Offline, |s| *s.borrow())
    }

    /// Stops the service and waits (bounded) for its final flush, without blocking the async runtime.
    pub async fn stop(mut self) {
        self.signal();
        let deadline = Instant::now() + self.stop_timeout;
        while self.is_running() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// [`BackgroundSync::stop`] for synchronous callers.
    pub fn stop_blocking(mut self) {
        self.signal();
        let deadline = std::time::Instant::now() + self.stop_timeout;
        while self.is_running() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn signal(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
    }
}

impl std::fmt::Debug for BackgroundSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackgroundSync")
            .field("running", &self.is_running())
            .field("status", &self.status())
            .field("stop_timeout", &self.stop_timeout)
            .finish()
    }
}

impl Drop for BackgroundSync {
    fn drop(&mut self) {
        self.signal();
    }
}
