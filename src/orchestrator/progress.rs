//! What the engine tells its observer while it runs. The command decides how to show it (a live table on
//! a terminal, plain lines otherwise); the engine never prints.

use super::scheduler::Phase;
use super::state::RunState;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Something that happened in the run.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    RunStarted {
        run_id: String,
        feature_slug: String,
        resumed: bool,
    },
    PhaseStarted {
        wp_id: String,
        phase: Phase,
        agent: String,
        retry_count: u32,
    },
    Implemented {
        wp_id: String,
        agent: String,
        duration: Duration,
    },
    Approved {
        wp_id: String,
        agent: String,
        duration: Duration,
    },
    Rejected {
        wp_id: String,
        agent: String,
        reason: String,
        rework: u32,
        max_reworks: u32,
    },
    PhaseFailed {
        wp_id: String,
        phase: Phase,
        agent: String,
        error: String,
        next: NextStep,
    },
    Completed {
        wp_id: String,
    },
    Failed {
        wp_id: String,
        reason: String,
    },
    Blocked {
        wp_id: String,
        by: String,
    },
    Skipped {
        wp_id: String,
    },
    /// A signal arrived: no new work starts, running agents are being stopped.
    Interrupting {
        signal: &'static str,
    },
    Warning(String),
}

/// What follows a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextStep {
    FallBackTo(String),
    RetryWith(String),
    GiveUp,
}

/// An agent invocation in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningAgent {
    pub phase: Phase,
    pub agent: String,
    pub since: Instant,
}

/// The run as the observer may look at it.
pub struct View<'a> {
    pub state: &'a RunState,
    pub running: &'a BTreeMap<String, RunningAgent>,
}

pub trait Observer {
    fn progress(&mut self, event: &Progress, view: &View<'_>);
    /// Called about once a second while agents run (for elapsed-time displays).
    fn tick(&mut self, _view: &View<'_>) {}
}

/// An observer that ignores everything.
pub struct Silent;

impl Observer for Silent {
    fn progress(&mut self, _event: &Progress, _view: &View<'_>) {}
}
