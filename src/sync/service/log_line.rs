//! The daemon's log line for each [`ServiceEvent`].

use super::ServiceEvent;
use std::fmt;
use std::time::Duration;

/// One line of the daemon's log (stderr); never carries a token, as the events do not.
impl fmt::Display for ServiceEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = |d: Duration| format!("{:.1}s", d.as_secs_f64());
        let line = match self {
            ServiceEvent::Started { pid, home, interval, spacing } => format!(
                "sync daemon started (pid {pid}) for {}; batch delivery every {}s, at most one request per {}",
                home.display(),
                interval.as_secs(),
                seconds(*spacing)
            ),
            ServiceEvent::Passive { holder } => match holder {
                Some(h) => format!("another sync service runs (pid {}, `spec-kitty {}`); waiting", h.pid, h.command),
                None => "another sync service runs; waiting".into(),
            },
            ServiceEvent::TookOver => "the other sync service stopped; taking over".into(),
            ServiceEvent::Connection { status, detail: Some(detail) } => format!("connection: {status} ({detail})"),
            ServiceEvent::Connection { status, detail: None } => format!("connection: {status}"),
            ServiceEvent::SocketOpened { url, snapshot_work_packages, unexpected_first_frame } => {
                let mut line = format!("WebSocket open: {url}");
                if let Some(n) = snapshot_work_packages {
                    line.push_str(&format!(" (snapshot: {n} work package(s))"));
                }
                if let Some(kind) = unexpected_first_frame {
                    line.push_str(&format!("; expected a snapshot first, got {kind}"));
                }
                line
            }
            ServiceEvent::Pushed { events } => format!("pushed {events} event(s) over the WebSocket"),
            ServiceEvent::Delivered { delivered, duplicates, rejected, dead_lettered, remaining } => {
                let mut line = format!("batch: {delivered} delivered, {duplicates} already there, {rejected} rejected");
                if *dead_lettered > 0 {
                    line.push_str(&format!(" ({dead_lettered} moved to the dead letters)"));
                }
                line.push_str(&format!("; {remaining} left in the queue"));
                line
            }
            ServiceEvent::NotDelivered { reason, detail, remaining, retry_in } => {
                let next = match retry_in {
                    Some(wait) => format!("next try in {}", seconds(*wait)),
                    None if matches!(*reason, "not_logged_in" | "login_required") => {
                        "waiting for `spec-kitty auth login`".to_owned()
                    }
                    None if *reason == "not_configured" => "waiting for `spec-kitty sync server URL`".to_owned(),
                    None => "next try at the next interval".to_owned(),
                };
                format!("batch not delivered: {detail}; {remaining} event(s) stay queued; {next}")
            }
            ServiceEvent::Problem(text) => format!("warning: {text}"),
            ServiceEvent::Stopping => "stopping".into(),
            ServiceEvent::FinalFlush { delivered, remaining, outcome } => {
                format!("final flush: {delivered} delivered, {remaining} left in the queue ({outcome})")
            }
            ServiceEvent::Stopped => "sync daemon stopped".into(),
        };
        f.write_str(&line)
    }
}
