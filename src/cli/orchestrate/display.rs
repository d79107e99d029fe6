//! How `orchestrate` shows a run: plain progress lines (pipes, CI, `--json` on stderr), or on a terminal a
//! small table of work packages redrawn in place; plus the end-of-run and `--status` texts.

use super::super::output::{Align, Color, Column, Table, Term, cut_line};
use crate::orchestrator::engine::LOGS_DIR;
use crate::orchestrator::progress::{NextStep, Observer, Progress, View};
use crate::orchestrator::scheduler::Phase;
use crate::orchestrator::state::{RunState, RunStatus, STATE_FILE, WpStatus};
use std::collections::VecDeque;
use std::io::Write;
use std::time::Duration;

/// One line per event.
pub struct PlainLines<W: Write> {
    pub out: W,
}

impl<W: Write> Observer for PlainLines<W> {
    fn progress(&mut self, event: &Progress, view: &View<'_>) {
        if let Progress::Warning(message) = event {
            eprintln!("warning: {message}");
            return;
        }
        if let Some(line) = line_for(event, view) {
            // A closed pipe must not stop the run; the summary reports the outcome anyway.
            let _ = writeln!(self.out, "{line}");
            let _ = self.out.flush();
        }
    }
}

/// The progress line for an event (`None` for events only the live view shows).
pub fn line_for(event: &Progress, view: &View<'_>) -> Option<String> {
    let state = view.state;
    Some(match event {
        Progress::RunStarted { run_id, feature_slug, resumed } => {
            let verb = if *resumed { "Resuming" } else { "Orchestrating" };
            let done = state.wps_completed + state.wps_skipped;
            let already = if done > 0 { format!(" ({done} already done)") } else { String::new() };
            format!(
                "{verb} {feature_slug} (run {run_id}): {} work packages{already}, up to {} at a time",
                state.wps_total, state.concurrency_limit
            )
        }
        Progress::PhaseStarted { wp_id, phase, agent, retry_count } => {
            let retry = if *retry_count > 0 { format!(", retry {retry_count}") } else { String::new() };
            format!("{wp_id} {} started ({agent}{retry})", phase.as_str())
        }
        Progress::Implemented { wp_id, agent, duration } => {
            format!("{wp_id} implementation finished ({agent}, {})", seconds(*duration))
        }
        Progress::Approved { wp_id, agent, duration } => {
            format!("{wp_id} approved by {agent} ({})", seconds(*duration))
        }
        Progress::Rejected { wp_id, agent, reason, rework, max_reworks } => {
            format!("{wp_id} rejected by {agent}: {reason} (rework {rework} of {max_reworks})")
        }
        Progress::PhaseFailed { wp_id, phase, agent, error, next } => {
            let then = match next {
                NextStep::FallBackTo(other) => format!("falling back to {other}"),
                NextStep::RetryWith(same) => format!("retrying with {same}"),
                NextStep::GiveUp => "giving up".to_owned(),
            };
            format!("{wp_id} {} failed ({agent}): {error}; {then}", phase.as_str())
        }
        Progress::Completed { wp_id } => format!("{wp_id} done"),
        Progress::Failed { wp_id, reason } => format!("{wp_id} failed: {reason}"),
        Progress::Blocked { wp_id, by } => format!("{wp_id} blocked by failed dependency {by}"),
        Progress::Skipped { wp_id } => format!("{wp_id} skipped"),
        Progress::Interrupting { signal } => {
            let n = view.running.len();
            format!(
                "{signal} received: no new work starts; stopping {n} running agent(s) (press Ctrl-C again to kill them now)"
            )
        }
        Progress::Warning(message) => format!("warning: {message}"),
    })
}

fn seconds(duration: Duration) -> String {
    format!("{:.1}s", duration.as_secs_f64())
}

/// A table of work packages redrawn in place, with the latest events under it.
pub struct LiveTable<W: Write> {
    out: W,
    /// Fixed colour and width; `None` follows stdout (the width is read again for every frame, so the
    /// view keeps fitting a resized terminal).
    term: Option<Term>,
    drawn_lines: usize,
    recent: VecDeque<String>,
}

const RECENT_LINES: usize = 5;

impl LiveTable<std::io::Stdout> {
    /// The live view on stdout, fitted to the terminal as it is at each frame.
    pub fn stdout() -> Self {
        LiveTable::new(std::io::stdout(), None)
    }
}

impl<W: Write> LiveTable<W> {
    /// `term: None` follows stdout.
    pub fn new(out: W, term: Option<Term>) -> Self {
        LiveTable { out, term, drawn_lines: 0, recent: VecDeque::new() }
    }

    fn redraw(&mut self, view: &View<'_>) {
        let term = self.term.unwrap_or_else(Term::stdout);
        let mut text = render_live(view, &term);
        for line in &self.recent {
            // A line wider than the terminal would wrap and throw off the count of lines to redraw.
            text.push_str(&term.width.map_or_else(|| line.clone(), |width| cut_line(line, width)));
            text.push('\n');
        }
        let mut frame = String::new();
        if self.drawn_lines > 0 {
            // Up to the first line of the previous frame, then clear everything below the cursor.
            frame.push_str(&format!("\x1b[{}A\r\x1b[J", self.drawn_lines));
        }
        frame.push_str(&text);
        self.drawn_lines = text.lines().count();
        let _ = self.out.write_all(frame.as_bytes());
        let _ = self.out.flush();
    }
}

impl<W: Write> Observer for LiveTable<W> {
    fn progress(&mut self, event: &Progress, view: &View<'_>) {
        if let Some(line) = line_for(event, view) {
            self.recent.push_back(line);
            while self.recent.len() > RECENT_LINES {
                self.recent.pop_front();
            }
        }
        self.redraw(view);
    }

    fn tick(&mut self, view: &View<'_>) {
        self.redraw(view);
    }
}

/// The live table: one row per work package with what it is doing now, one line each.
pub fn render_live(view: &View<'_>, term: &Term) -> String {
    let rows = view
        .state
        .work_packages
        .values()
        .map(|wp| {
            let running = view.running.get(&wp.wp_id);
            let (status, agent, elapsed) = match running {
                Some(r) => {
                    let doing = if r.phase == Phase::Implementation { "implementing" } else { "reviewing" };
                    (doing.to_owned(), r.agent.clone(), format!("{}s", r.since.elapsed().as_secs()))
                }
                None => {
                    let status = match wp.status {
                        WpStatus::Review => "waiting for review".to_owned(),
                        other => other.as_str().to_owned(),
                    };
                    let agent = match (wp.status, &wp.implementation_agent, &wp.review_agent) {
                        (WpStatus::Completed, Some(implementer), Some(reviewer)) => {
                            format!("{implementer} + {reviewer}")
                        }
                        (WpStatus::Completed, Some(implementer), None) => implementer.clone(),
                        _ => String::new(),
                    };
                    (status, agent, String::new())
                }
            };
            let note =
                wp.last_error.as_deref().or(wp.review_feedback.as_deref().filter(|_| wp.status == WpStatus::Rework));
            vec![wp.wp_id.clone(), status, agent, elapsed, cut_line(note.unwrap_or_default(), 60)]
        })
        .collect();
    let table = Table {
        title: Some(format!(
            "{} · {} of {} done · {} running",
            view.state.feature_slug,
            view.state.wps_completed + view.state.wps_skipped,
            view.state.wps_total,
            view.running.len()
        )),
        columns: vec![
            Column::new("WP", Align::Left).colored(Color::DarkCyan),
            Column::new("Status", Align::Left),
            Column::new("Agent", Align::Left).wrapping(),
            Column::new("Time", Align::Right),
            Column::new("Note", Align::Left).wrapping(),
        ],
        rows,
        single_line_rows: true,
        ..Table::default()
    };
    table.render(term)
}

/// The text printed when a run ends.
pub fn final_text(state: &RunState, duration: &str, signal: Option<&str>) -> String {
    let done = state.wps_completed + state.wps_skipped;
    let skipped = if state.wps_skipped > 0 { format!(", {} skipped", state.wps_skipped) } else { String::new() };
    let mut text = match state.status {
        RunStatus::Completed => format!(
            "✓ Orchestration of {} completed: {} of {} work packages done{skipped} in {duration} ({} agent invocations, up to {} at a time).\n",
            state.feature_slug,
            state.wps_completed,
            state.wps_total,
            state.total_agent_invocations,
            state.parallel_peak
        ),
        RunStatus::Paused => format!(
            "⏸ Orchestration of {} paused ({}): {done} of {} work packages done.\n",
            state.feature_slug,
            signal.unwrap_or("interrupted"),
            state.wps_total
        ),
        _ => format!(
            "✗ Orchestration of {} failed: {done} of {} work packages done, {} failed, {} blocked.\n",
            state.feature_slug, state.wps_total, state.wps_failed, state.wps_blocked
        ),
    };
    for wp in state.work_packages.values() {
        match wp.status {
            WpStatus::Failed => text.push_str(&format!(
                "  ✗ {} failed: {}\n",
                wp.wp_id,
                wp.last_error.as_deref().unwrap_or("unknown error")
            )),
            WpStatus::Blocked => {
                text.push_str(&format!("  ⊘ {} {}\n", wp.wp_id, wp.last_error.as_deref().unwrap_or("blocked")))
            }
            _ => {}
        }
    }
    if state.status != RunStatus::Completed {
        text.push_str(&format!("Agent logs: {LOGS_DIR}/ · state: {STATE_FILE}\n"));
    }
    text
}

/// `--status` as text.
pub fn status_text(state: &RunState, holder: Option<&str>, term: &Term) -> String {
    let status = match (state.status, holder) {
        (RunStatus::Running | RunStatus::Pending, Some(pid)) => format!("running (process {pid})"),
        (RunStatus::Running | RunStatus::Pending, None) => "interrupted (no process is running it)".to_owned(),
        (status, _) => status.as_str().to_owned(),
    };
    let mut text = format!("Orchestration of {} (run {}): {status}\n", state.feature_slug, state.run_id);
    text.push_str(&format!("Started {}", state.started_at));
    if let Some(completed) = &state.completed_at {
        text.push_str(&format!(", ended {completed}"));
    }
    text.push('\n');
    let finished = state.wps_completed + state.wps_failed + state.wps_blocked + state.wps_skipped;
    let waiting = state.wps_total.saturating_sub(finished);
    text.push_str(&format!(
        "Work packages: {} total · {} completed · {} failed · {} blocked · {} skipped · {waiting} to do\n",
        state.wps_total, state.wps_completed, state.wps_failed, state.wps_blocked, state.wps_skipped
    ));
    text.push_str(&format!(
        "Agent invocations: {} · peak parallelism: {} of {}\n\n",
        state.total_agent_invocations, state.parallel_peak, state.concurrency_limit
    ));
    let rows = state
        .work_packages
        .values()
        .map(|wp| {
            let retries = wp.implementation_retries + wp.review_retries;
            let fallbacks = wp.fallback_agents_tried.len() + wp.review_fallback_agents_tried.len();
            vec![
                wp.wp_id.clone(),
                wp.status.as_str().to_owned(),
                wp.implementation_agent.clone().unwrap_or_default(),
                wp.review_agent.clone().unwrap_or_default(),
                format!("{retries}/{fallbacks}"),
                cut_line(wp.last_error.as_deref().unwrap_or_default(), 60),
            ]
        })
        .collect();
    let table = Table {
        columns: vec![
            Column::new("WP", Align::Left).colored(Color::DarkCyan),
            Column::new("Status", Align::Left),
            Column::new("Implementer", Align::Left).wrapping(),
            Column::new("Reviewer", Align::Left).wrapping(),
            Column::new("Retries/fallbacks", Align::Right).compact("Retries/\nfallbacks"),
            Column::new("Last error", Align::Left).wrapping(),
        ],
        rows,
        ..Table::default()
    };
    text.push_str(&table.render(term));
    match state.status {
        RunStatus::Paused | RunStatus::Failed => text.push_str("\nContinue with: spec-kitty orchestrate --resume\n"),
        RunStatus::Running | RunStatus::Pending if holder.is_none() => {
            text.push_str("\nContinue with: spec-kitty orchestrate --resume\n")
        }
        _ => {}
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orchestrator::progress::RunningAgent;
    use crate::orchestrator::state::WpExecution;
    use std::collections::BTreeMap;

    fn state() -> RunState {
        let mut state =
            RunState { feature_slug: "001-x".into(), run_id: "R".into(), concurrency_limit: 2, ..RunState::default() };
        for (id, status) in
            [("WP01", WpStatus::Completed), ("WP02", WpStatus::Implementation), ("WP03", WpStatus::Failed)]
        {
            let mut exec = WpExecution::new(id);
            exec.status = status;
            exec.implementation_agent = Some("claude".into());
            if status == WpStatus::Failed {
                exec.last_error = Some("implementation failed after 2 attempts: boom".into());
            }
            state.work_packages.insert(id.into(), exec);
        }
        state.recount();
        state
    }

    #[test]
    fn plain_lines_read_well() {
        let state = state();
        let running = BTreeMap::new();
        let view = View { state: &state, running: &running };
        let line = |event: Progress| line_for(&event, &view).unwrap();
        assert_eq!(
            line(Progress::PhaseStarted {
                wp_id: "WP01".into(),
                phase: Phase::Implementation,
                agent: "claude".into(),
                retry_count: 0
            }),
            "WP01 implementation started (claude)"
        );
        assert_eq!(
            line(Progress::PhaseFailed {
                wp_id: "WP02".into(),
                phase: Phase::Review,
                agent: "codex".into(),
                error: "timed out after 0.3s".into(),
                next: NextStep::FallBackTo("claude".into())
            }),
            "WP02 review failed (codex): timed out after 0.3s; falling back to claude"
        );
        assert_eq!(
            line(Progress::RunStarted { run_id: "R".into(), feature_slug: "001-x".into(), resumed: true }),
            "Resuming 001-x (run R): 3 work packages (1 already done), up to 2 at a time"
        );
    }

    #[test]
    fn the_live_table_shows_running_agents() {
        let state = state();
        let running = BTreeMap::from([(
            "WP02".to_owned(),
            RunningAgent { phase: Phase::Implementation, agent: "claude".into(), since: std::time::Instant::now() },
        )]);
        let text = render_live(&View { state: &state, running: &running }, &Term::PLAIN);
        assert!(text.contains("001-x · 1 of 3 done · 1 running"), "{text}");
        assert!(text.contains("│ WP02 │ implementing │ claude │   0s │"), "{text}");
        assert!(
            text.contains("│ WP03 │ failed       │        │      │ implementation failed after 2 attempts: boom │"),
            "{text}"
        );
        let mut live = LiveTable::new(Vec::new(), Some(Term::PLAIN));
        live.tick(&View { state: &state, running: &running });
        live.tick(&View { state: &state, running: &running });
        let out = String::from_utf8(live.out).unwrap();
        assert_eq!(out.matches("\x1b[J").count(), 1, "the second frame replaces the first");
    }

    #[test]
    fn the_live_table_fits_a_narrow_terminal_one_line_per_work_package() {
        let state = state();
        let running = BTreeMap::new();
        let text = render_live(&View { state: &state, running: &running }, &Term::width(60));
        for line in text.lines() {
            assert!(unicode_width::UnicodeWidthStr::width(line) <= 60, "{line:?} in\n{text}");
        }
        // Title (wrapped), 3 border lines, header, 3 rows.
        assert_eq!(text.lines().filter(|l| l.starts_with('│')).count(), 3, "{text}");
        assert!(text.contains("│ WP03 │ failed"), "{text}");
        assert!(text.contains("│ implementation…  │"), "the long error is cut: {text}");
    }

    #[test]
    fn final_and_status_texts() {
        let mut state = state();
        state.status = RunStatus::Failed;
        let text = final_text(&state, "1.0s", None);
        assert!(
            text.starts_with("✗ Orchestration of 001-x failed: 1 of 3 work packages done, 1 failed, 0 blocked.\n"),
            "{text}"
        );
        assert!(text.contains("  ✗ WP03 failed: implementation failed after 2 attempts: boom\n"));
        let status = status_text(&state, None, &Term::PLAIN);
        assert!(status.starts_with("Orchestration of 001-x (run R): failed\n"), "{status}");
        assert!(status.ends_with("Continue with: spec-kitty orchestrate --resume\n"));
        state.status = RunStatus::Running;
        assert!(status_text(&state, Some("42"), &Term::PLAIN).contains("running (process 42)"));
        assert!(status_text(&state, None, &Term::PLAIN).contains("interrupted (no process is running it)"));
    }
}
