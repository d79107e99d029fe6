//! The import driver: find the logs, read what is new in them (in parallel), keep this project's
//! records, drop what was counted before, attribute, skip what `emit` already reported, and write the
//! events through the ledger's journal.

use super::attribution::{Attribution, Attributor};
use super::claims::Claims;
use super::ledger::{FileState, Ledger, LedgerError, PendingEvent, Seen};
use super::scope::{Place, ProjectScope};
use super::writer::Writer;
use super::{Agent, AgentHomes, Dedup, FileRead, RecordKey, Skipped, Tokens, UsageRow};
use crate::context::Context;
use crate::events::Event;
use crate::project::Project;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Which logs to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportSource {
    /// Every log of these agents.
    Agents(Vec<Agent>),
    /// These files only (a hook's transcript).
    Files(Vec<(Agent, PathBuf)>),
}

#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub source: ImportSource,
    /// Usage before this instant is neither imported nor marked as read (a later import without
    /// `--since` still finds it).
    pub since: Option<DateTime<Utc>>,
    /// Read and attribute, write nothing (neither events nor the ledger).
    pub dry_run: bool,
    pub homes: AgentHomes,
    /// How long to wait for another import holding the ledger.
    pub lock_timeout: Duration,
}

/// Per-agent figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct AgentSummary {
    pub files: u64,
    pub files_read: u64,
    pub records: u64,
    pub tokens: Tokens,
}

/// Usage records found but not imported, by why.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct NotImported {
    /// Records already imported by an earlier run.
    pub already_imported: u64,
    /// Records already reported through `emit` (see [`super::claims`]).
    #[serde(rename = "reported_through_emit")]
    pub claimed: u64,
    /// Records whose working directory is outside this project.
    pub other_projects: u64,
    /// Records before `--since`.
    pub before_since: u64,
}

/// What an import did (its JSON form is `agent telemetry import --json`'s output).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ImportReport {
    pub dry_run: bool,
    /// New usage records imported (including unattributed ones).
    pub records: u64,
    pub events: u64,
    /// Events per feature directory (`unattributed` included).
    pub events_by_feature: BTreeMap<String, u64>,
    pub tokens: Tokens,
    pub agents: BTreeMap<Agent, AgentSummary>,
    /// Records that could not be attributed, by reason.
    pub unattributed: BTreeMap<String, u64>,
    pub not_imported: NotImported,
    pub skipped: Skipped,
    pub files_unchanged: u64,
    pub bytes_read: u64,
    /// Events of an interrupted import written now from the ledger's journal.
    #[serde(rename = "recovered_events")]
    pub recovered: u64,
    /// Printed on stderr, not part of the JSON.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("no home directory: set HOME or SPEC_KITTY_HOME (the usage ledger lives there)")]
    NoHome,
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl crate::error::Diagnose for ImportError {
    fn hints(&self) -> Vec<String> {
        match self {
            ImportError::NoHome => Vec::new(),
            ImportError::Ledger(e) => e.hints(),
        }
    }
}

/// A log to look at.
struct Candidate {
    agent: Agent,
    path: PathBuf,
    /// Gemini: the directory the chat ran in.
    cwd: Option<Arc<str>>,
}

/// A log to read, from where.
struct Job {
    agent: Agent,
    path: PathBuf,
    key: String,
    cwd: Option<Arc<str>>,
    now: FileState,
    offset: u64,
    state: Option<String>,
}

/// Imports the agents' usage into `project`'s feature logs.
pub fn import(project: &Project, options: &ImportOptions, ctx: &Context) -> Result<ImportReport, ImportError> {
    let home = ctx.home.clone().ok_or(ImportError::NoHome)?;
    let root = project.root.to_string_lossy().into_owned();
    let mut report = ImportReport { dry_run: options.dry_run, ..ImportReport::default() };
    let mut ledger = if options.dry_run {
        Ledger::open_read_only(&home, &root)?
    } else {
        Some(Ledger::open(&home, &root, options.lock_timeout)?)
    };
    if let Some(ledger) = ledger.as_mut().filter(|_| !options.dry_run) {
        recover(project, ledger, ctx, &mut report)?;
    }
    let mut scope = ProjectScope::new(&project.root);

    // The hook's fast path: one file, unchanged since it was read.
    let full = matches!(options.source, ImportSource::Agents(_));
    let mut attributor: Option<Attributor> = None;
    let candidates: Vec<Candidate> =
        match &options.source {
            ImportSource::Agents(agents) => {
                let loaded = Attributor::load(project);
                for (slug, wp) in loaded.work_packages() {
                    scope.add_gemini_candidate(&project.root.join(".worktrees").join(format!("{slug}-{wp}")));
                }
                attributor = Some(loaded);
                let mut list = Vec::new();
                for agent in agents {
                    match agent {
                        Agent::Claude => list.extend(
                            super::claude::paths::files(&options.homes, &scope).into_iter().map(|path| Candidate {
                                agent: *agent,
                                path,
                                cwd: None,
                            }),
                        ),
                        Agent::Codex => {
                            list.extend(super::codex::paths::files(&options.homes).into_iter().map(|path| Candidate {
                                agent: *agent,
                                path,
                                cwd: None,
                            }))
                        }
                        Agent::Gemini => list.extend(
                            super::gemini::paths::files(&options.homes, &scope)
                                .into_iter()
                                .map(|(path, cwd)| Candidate { agent: *agent, path, cwd: Some(cwd) }),
                        ),
                    }
                }
                list
            }
            ImportSource::Files(files) => files
                .iter()
                .map(|(agent, path)| Candidate {
                    agent: *agent,
                    path: path.clone(),
                    cwd: match agent {
                        Agent::Gemini => super::gemini::paths::cwd_of_chat(&options.homes, &scope, path).map(Arc::from),
                        _ => None,
                    },
                })
                .collect(),
        };

    let known: HashMap<String, FileState> = match (&ledger, full) {
        (Some(ledger), true) => ledger.files()?,
        (Some(ledger), false) => {
            let mut known = HashMap::new();
            for candidate in &candidates {
                let key = candidate.path.to_string_lossy().into_owned();
                if let Some(state) = ledger.file(&key)? {
                    known.insert(key, state);
                }
            }
            known
        }
        (None, _) => HashMap::new(),
    };
    let by_identity: HashMap<(u64, u64), &FileState> = known.values().map(|s| ((s.dev, s.ino), s)).collect();

    let mut jobs = Vec::new();
    let mut file_updates: Vec<(String, FileState)> = Vec::new();
    for candidate in candidates {
        report.agents.entry(candidate.agent).or_default().files += 1;
        let key = candidate.path.to_string_lossy().into_owned();
        let Ok(meta) = std::fs::metadata(&candidate.path) else {
            report.skipped.unreadable_files += 1;
            continue;
        };
        let now = FileState::of(&meta);
        if let Some(since) = options.since
            && meta.modified().is_ok_and(|m| DateTime::<Utc>::from(m) < since)
        {
            report.files_unchanged += 1;
            continue;
        }
        let previous = known.get(&key).or_else(|| by_identity.get(&(now.dev, now.ino)).copied());
        let (offset, state) = match previous {
            Some(prev) if prev.unchanged(&now) => {
                report.files_unchanged += 1;
                if !known.contains_key(&key) {
                    // Moved (e.g. archived by Codex): remember it under its new name.
                    file_updates.push((
                        key,
                        FileState { offset: prev.offset, state: prev.state.clone(), foreign: prev.foreign, ..now },
                    ));
                }
                continue;
            }
            Some(prev) if prev.foreign => {
                report.files_unchanged += 1;
                file_updates.push((key, FileState { offset: now.size, foreign: true, ..now }));
                continue;
            }
            Some(prev) if prev.same_file(&now) && now.size >= prev.offset => (prev.offset, prev.state.clone()),
            _ => (0, None),
        };
        jobs.push(Job { agent: candidate.agent, path: candidate.path, key, cwd: candidate.cwd, now, offset, state });
    }

    if jobs.is_empty() && file_updates.is_empty() {
        return Ok(report);
    }

    let attributor = attributor.get_or_insert_with(|| Attributor::load(project));
    report.warnings.append(&mut attributor.warnings);
    let mut merger = Merger {
        ledger: ledger.as_ref(),
        ledger_has_records: match &ledger {
            Some(l) => l.has_records()?,
            None => false,
        },
        seen: HashMap::new(),
        once: HashMap::new(),
        dirty: HashSet::new(),
    };
    let mut claims: Option<Claims> = None;
    let mut writer = Writer::default();

    // Read in parallel; merge in the files' order (main transcripts before subagents), so the outcome
    // does not depend on which worker finishes first.
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(jobs.len()).max(1);
    let next = AtomicUsize::new(0);
    let (sender, receiver) = std::sync::mpsc::sync_channel::<(usize, std::io::Result<FileRead>)>(workers * 2);
    let scope_ref = &scope;
    let jobs_ref = &jobs;
    let mut merge_error: Option<LedgerError> = None;
    std::thread::scope(|threads| {
        for _ in 0..workers {
            let sender = sender.clone();
            let next = &next;
            threads.spawn(move || {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs_ref.get(index) else { break };
                    let read = match job.agent {
                        Agent::Claude => super::claude::parser::read(&job.path, job.offset),
                        Agent::Codex => {
                            super::codex::parser::read(&job.path, job.offset, job.state.as_deref(), scope_ref)
                        }
                        Agent::Gemini => {
                            super::gemini::parser::read(&job.path, job.offset, job.state.as_deref(), job.cwd.clone())
                        }
                    };
                    if sender.send((index, read)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(sender);
        let mut waiting: BTreeMap<usize, std::io::Result<FileRead>> = BTreeMap::new();
        let mut expected = 0usize;
        for (index, read) in receiver {
            waiting.insert(index, read);
            while let Some(read) = waiting.remove(&expected) {
                let index = expected;
                expected += 1;
                let job = &jobs[index];
                let read = match read {
                    Ok(read) => read,
                    Err(e) => {
                        tracing::debug!(path = %job.path.display(), error = %e, "usage log unreadable");
                        report.skipped.unreadable_files += 1;
                        continue;
                    }
                };
                let summary = report.agents.entry(job.agent).or_default();
                summary.files_read += 1;
                report.bytes_read += read.consumed.saturating_sub(job.offset);
                report.skipped.add(&read.skipped);
                let mut before_since = false;
                for row in &read.rows {
                    if merge_error.is_some() {
                        break;
                    }
                    let place = match row.cwd.as_deref() {
                        Some(cwd) => match scope.place(cwd) {
                            Some(place) => place,
                            None => {
                                report.not_imported.other_projects += 1;
                                continue;
                            }
                        },
                        None => Place::Root(""),
                    };
                    if options.since.is_some_and(|since| row.at < since) {
                        report.not_imported.before_since += 1;
                        before_since = true;
                        continue;
                    }
                    let tokens = match merger.count(row, &mut report.skipped) {
                        Ok(Outcome::New(tokens)) => tokens,
                        Ok(Outcome::Seen) => continue,
                        Ok(Outcome::Imported) => {
                            report.not_imported.already_imported += 1;
                            continue;
                        }
                        Err(e) => {
                            merge_error = Some(e);
                            break;
                        }
                    };
                    let attribution = attributor.attribute(row.agent, row.at, &place, row.branch.as_deref());
                    if let (Some(feature), Some(role)) = (&attribution.feature, attribution.role) {
                        let claims = claims.get_or_insert_with(|| Claims::load(project, attributor.feature_slugs()));
                        if claims.covers(feature, &attribution.wp_id, role.as_str(), row.agent, row.at) {
                            report.not_imported.claimed += 1;
                            continue;
                        }
                    }
                    count_row(&mut report, row, &attribution, &tokens);
                    writer.add(row, &attribution, tokens);
                }
                let state = FileState {
                    offset: if read.foreign { job.now.size } else { read.consumed },
                    state: read.state,
                    foreign: read.foreign,
                    ..job.now.clone()
                };
                if !before_since {
                    file_updates.push((job.key.clone(), state));
                }
            }
        }
    });
    if let Some(e) = merge_error {
        return Err(e.into());
    }

    let pending = writer.events(ctx);
    report.events = pending.len() as u64;
    for event in &pending {
        *report.events_by_feature.entry(event.feature.clone()).or_default() += 1;
    }
    if options.dry_run {
        return Ok(report);
    }
    let records = merger.dirty_records();
    drop(merger);
    let ledger = ledger.as_mut().expect("opened for writing");
    ledger.commit(&file_updates, &records, &pending)?;
    let written = write_events(project, pending, ctx, &mut report.warnings);
    ledger.clear_pending(&written)?;
    Ok(report)
}

fn count_row(report: &mut ImportReport, row: &UsageRow, attribution: &Attribution, tokens: &Tokens) {
    report.records += 1;
    report.tokens.add(tokens);
    let summary = report.agents.entry(row.agent).or_default();
    summary.records += 1;
    summary.tokens.add(tokens);
    if attribution.feature.is_none() {
        *report.unattributed.entry(attribution.reason.clone()).or_default() += 1;
    }
}

/// Appends the journal's events feature by feature; returns the features whose events are all stored.
fn write_events(
    project: &Project,
    events: Vec<PendingEvent>,
    ctx: &Context,
    warnings: &mut Vec<String>,
) -> Vec<String> {
    let mut by_feature: BTreeMap<String, Vec<PendingEvent>> = BTreeMap::new();
    for event in events {
        by_feature.entry(event.feature.clone()).or_default().push(event);
    }
    let mut written = Vec::new();
    for (feature, pending) in by_feature {
        let events: Vec<Event<'static>> = pending
            .iter()
            .filter_map(|e| Event::<crate::events::Payload>::from_line(e.line.as_bytes()).ok().map(Event::into_owned))
            .collect();
        let dir = project.feature_dir(&feature);
        match crate::telemetry::emit::append_events(&project.root, &dir, events, ctx) {
            Ok(appended) => {
                warnings.extend(appended.warnings);
                written.push(feature);
            }
            Err(e) => warnings.push(format!(
                "events for {feature} not written yet ({e}); they stay in the ledger's journal and the next import writes them"
            )),
        }
    }
    written
}

/// Appends the journal's events that an interrupted import did not get to write.
fn recover(
    project: &Project,
    ledger: &mut Ledger,
    ctx: &Context,
    report: &mut ImportReport,
) -> Result<(), LedgerError> {
    let pending = ledger.pending()?;
    if pending.is_empty() {
        return Ok(());
    }
    let mut by_feature: BTreeMap<String, Vec<PendingEvent>> = BTreeMap::new();
    for event in pending {
        by_feature.entry(event.feature.clone()).or_default().push(event);
    }
    let mut done = Vec::new();
    for (feature, events) in by_feature {
        let log = project.feature_dir(&feature).join(crate::telemetry::LOG_FILE);
        let wanted: HashSet<String> = events.iter().map(|e| e.event_id.clone()).collect();
        let mut present = HashSet::new();
        let scanned = crate::store::scan_events::<crate::store::IgnoredPayload>(&log, |event| {
            let id = event.event_id.to_string();
            if wanted.contains(&id) {
                present.insert(id);
            }
        });
        if let Err(e) = scanned {
            report.warnings.push(format!("cannot check {} for interrupted import events: {e}", log.display()));
            continue;
        }
        let missing: Vec<Event<'static>> = events
            .iter()
            .filter(|e| !present.contains(&e.event_id))
            .filter_map(|e| Event::<crate::events::Payload>::from_line(e.line.as_bytes()).ok().map(Event::into_owned))
            .collect();
        let count = missing.len() as u64;
        if count > 0 {
            let dir = project.feature_dir(&feature);
            if let Err(e) = crate::telemetry::emit::append_events(&project.root, &dir, missing, ctx) {
                report.warnings.push(format!("events for {feature} still not written ({e})"));
                continue;
            }
        }
        report.recovered += count;
        done.push(feature);
    }
    ledger.clear_pending(&done)
}

/// What part of a record is new.
enum Outcome {
    New(Tokens),
    /// A copy of a record counted earlier in this run (counted in `skipped`).
    Seen,
    /// Counted by an earlier import.
    Imported,
}

/// A copy of a record as this run knows it.
#[derive(Clone, Copy)]
struct Copy {
    seen: Seen,
    /// Counted by an earlier import and not grown since.
    stored: bool,
}

/// Cross-file and cross-import dedup: what part of a record has not been counted yet.
struct Merger<'l> {
    ledger: Option<&'l Ledger>,
    ledger_has_records: bool,
    /// Grow records looked up or counted in this run.
    seen: HashMap<RecordKey, Vec<Copy>>,
    /// Once records known in this run: whether an earlier import counted them.
    once: HashMap<RecordKey, bool>,
    /// Keys whose entries changed in this run.
    dirty: HashSet<RecordKey>,
}

impl Merger<'_> {
    /// The tokens of `row` not counted before.
    fn count(&mut self, row: &UsageRow, skipped: &mut Skipped) -> Result<Outcome, LedgerError> {
        match row.dedup {
            Dedup::None => Ok(if row.tokens.is_zero() { Outcome::Seen } else { Outcome::New(row.tokens) }),
            Dedup::Once { key } => {
                if let Some(&stored) = self.once.get(&key) {
                    if stored {
                        return Ok(Outcome::Imported);
                    }
                    skipped.duplicates += 1;
                    return Ok(Outcome::Seen);
                }
                let stored = self.ledger_has_records
                    && match self.ledger {
                        Some(ledger) => !ledger.seen(&key)?.is_empty(),
                        None => false,
                    };
                self.once.insert(key, stored);
                if stored {
                    return Ok(Outcome::Imported);
                }
                self.dirty.insert(key);
                Ok(Outcome::New(row.tokens))
            }
            Dedup::Grow { key, aux, sidechain } => {
                if !self.seen.contains_key(&key) {
                    let stored = match self.ledger {
                        Some(ledger) if self.ledger_has_records => ledger.seen(&key)?,
                        _ => Vec::new(),
                    };
                    self.seen.insert(key, stored.into_iter().map(|seen| Copy { seen, stored: true }).collect());
                }
                let copies = self.seen.get_mut(&key).expect("inserted");
                let same = copies.iter_mut().find(|c| {
                    let c = &c.seen;
                    c.aux == aux || c.aux == 0 || aux == 0 || c.sidechain || sidechain
                });
                let Some(copy) = same else {
                    copies.push(Copy { seen: Seen { aux, sidechain, tokens: row.tokens }, stored: false });
                    self.dirty.insert(key);
                    return Ok(if row.tokens.is_zero() { Outcome::Seen } else { Outcome::New(row.tokens) });
                };
                let new = row.tokens.beyond(&copy.seen.tokens);
                let replay = sidechain && copy.seen.aux != aux;
                if new.is_zero() {
                    if replay {
                        skipped.sidechain_replays += 1;
                        return Ok(Outcome::Seen);
                    }
                    if copy.stored {
                        return Ok(Outcome::Imported);
                    }
                    skipped.duplicates += 1;
                    return Ok(Outcome::Seen);
                }
                copy.seen.tokens = copy.seen.tokens.max(&row.tokens);
                copy.seen.sidechain &= sidechain;
                copy.stored = false;
                self.dirty.insert(key);
                Ok(Outcome::New(new))
            }
        }
    }

    fn dirty_records(&self) -> Vec<(RecordKey, Seen)> {
        let mut out = Vec::new();
        for key in &self.dirty {
            match self.seen.get(key) {
                Some(copies) => out.extend(copies.iter().map(|c| (*key, c.seen))),
                None => out.push((*key, Seen::default())),
            }
        }
        out.sort_by_key(|(k, s)| (*k, s.aux));
        out
    }
}
