//! `spec-kitty sync daemon`: the service alone on the calling thread until SIGINT or SIGTERM.

use super::worker::Service;
use super::{Observer, ServiceOptions};
use crate::context::Context;
use crate::error::Diagnose;
use crate::sync::daemon::{self, Heartbeat, ServiceLock};
use crate::sync::runner::{RunnerError, SyncEnv};
use std::path::PathBuf;
use tokio::sync::watch;
use tokio::task::LocalSet;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// Another service holds the lock of this home.
    #[error("a sync service is already running for {}{}", home.display(), describe_holder(holder.as_deref()))]
    AlreadyRunning { home: PathBuf, holder: Option<Box<Heartbeat>> },
    #[error("cannot take the sync service lock in {}: {source}", home.display())]
    Lock { home: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Runner(#[from] RunnerError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot listen for SIGINT/SIGTERM: {0}")]
    Signals(std::io::Error),
}

impl Diagnose for DaemonError {
    fn hints(&self) -> Vec<String> {
        match self {
            DaemonError::AlreadyRunning { .. } => vec![
                "`spec-kitty sync status` shows it; stop it with SIGTERM (kill <pid>) before starting another".into(),
            ],
            DaemonError::Runner(e) => e.hints(),
            _ => Vec::new(),
        }
    }
}

fn describe_holder(holder: Option<&Heartbeat>) -> String {
    match holder {
        Some(h) => format!(" (pid {}, `spec-kitty {}`)", h.pid, h.command),
        None => String::new(),
    }
}

/// `spec-kitty sync daemon`: runs the service on this thread until SIGINT or SIGTERM, then stops it
/// cleanly (final bounded flush, heartbeat removed). Refuses to start when a service already runs for
/// the home.
pub fn run_daemon(ctx: &Context, options: ServiceOptions, observer: Observer) -> Result<(), DaemonError> {
    let env = SyncEnv::from_context(ctx)?;
    let lock = match ServiceLock::try_acquire(&env.home) {
        Ok(Some(lock)) => lock,
        Ok(None) => {
            return Err(DaemonError::AlreadyRunning { holder: daemon::read(&env.home).map(Box::new), home: env.home });
        }
        Err(source) => return Err(DaemonError::Lock { home: env.home, source }),
    };
    let runtime = super::http::runtime().map_err(DaemonError::Runtime)?;
    let local = LocalSet::new();
    let result = local.block_on(&runtime, async move {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt()).map_err(DaemonError::Signals)?;
        let mut terminate = signal(SignalKind::terminate()).map_err(DaemonError::Signals)?;
        let (stop, stop_rx) = watch::channel(false);
        tokio::task::spawn_local(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            let _ = stop.send(true);
        });
        Service::new(env, options, observer).run(Some(lock), stop_rx).await;
        Ok(())
    });
    // Nothing may outlive the service: a stuck connection attempt is simply dropped.
    runtime.shutdown_background();
    result
}
