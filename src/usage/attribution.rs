//! Which feature, work package and workflow role a usage record was spent on, and why we think so.
//!
//! The rules, first match wins (README "Attribution"):
//!
//! 1. **Worktree**: the record's working directory is `.worktrees/<feature>-<WP>` (or below): that
//!    feature and work package. `.worktrees/<feature>` names the feature only.
//! 2. **Directory**: a working directory under `kitty-specs/<feature>/` names the feature.
//! 3. **Branch**: the git branch the agent logged (`<feature>-<WP>` or `<feature>`).
//! 4. **Status timeline**: otherwise (the main checkout on `main`), the work package that was active
//!    (claimed, in progress, under review or approved) at that moment, in any feature; when several
//!    were, the one whose last transition was made by this agent; else the feature in planning at that
//!    moment (from `meta.json`'s `created_at` to its first lane change); else the feature being merged
//!    (from its last work package reaching `done` to 12 hours after its acceptance).
//!
//! The role is the work package's lane at that moment: `planned`, `claimed`, `in_progress`, `blocked`
//! or `canceled` → implementer, `for_review`, `in_review`, `approved` → reviewer, `done` → merger. For
//! a feature without a work package: before `plan.md` existed → specifier, then planner until the first
//! lane change (writing tasks counts as planning, as upstream); the single active work package when
//! there is one; merger once every work package is done; implementer in between.
//!
//! Everything else is **unattributed**, with the reason: no feature active at that moment, several
//! features active at once, a worktree or branch naming a feature that does not exist.

use super::Agent;
use super::scope::Place;
use crate::project::Project;
use crate::telemetry::Role;
use crate::workflow::lanes::Lane;
use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// How long after the last edit of its planning documents a feature without lane changes still counts
/// as being planned.
const PLANNING_GRACE: Duration = Duration::hours(1);
/// How long after acceptance (or after the last work package was done) merging may go on.
const MERGE_WINDOW: Duration = Duration::hours(12);

/// The outcome for one record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attribution {
    /// `None`: unattributed.
    pub feature: Option<String>,
    /// `N/A` when no work package.
    pub wp_id: String,
    pub role: Option<Role>,
    pub reason: String,
}

impl Attribution {
    fn unattributed(reason: impl Into<String>) -> Self {
        Attribution { feature: None, wp_id: crate::telemetry::record::NO_WP.into(), role: None, reason: reason.into() }
    }
}

#[derive(Debug, Clone)]
struct Transition {
    at: DateTime<Utc>,
    lane: Lane,
    actor: String,
}

/// What the project's files say about one feature's phases.
#[derive(Debug, Clone, Default)]
struct FeatureTimeline {
    /// When `plan.md` came into being (its birth time, else its modification time).
    plan_at: Option<DateTime<Utc>>,
    planning: Option<(DateTime<Utc>, DateTime<Utc>)>,
    merging: Option<(DateTime<Utc>, DateTime<Utc>)>,
    wps: BTreeMap<String, Vec<Transition>>,
}

impl FeatureTimeline {
    fn lane_at(&self, wp: &str, at: DateTime<Utc>) -> Option<&Transition> {
        let transitions = self.wps.get(wp)?;
        let index = transitions.partition_point(|t| t.at <= at);
        index.checked_sub(1).map(|i| &transitions[i])
    }

    fn in_planning(&self, at: DateTime<Utc>) -> bool {
        self.planning.is_some_and(|(start, end)| start <= at && at < end)
    }

    fn in_merging(&self, at: DateTime<Utc>) -> bool {
        self.merging.is_some_and(|(start, end)| start <= at && at < end)
    }

    fn planning_role(&self, at: DateTime<Utc>) -> Role {
        if self.plan_at.is_none_or(|plan| at < plan) { Role::Specifier } else { Role::Planner }
    }

    /// Work packages in an active lane at `at`, with that transition.
    fn active(&self, at: DateTime<Utc>) -> Vec<(&str, &Transition)> {
        self.wps
            .keys()
            .filter_map(|wp| Some((wp.as_str(), self.lane_at(wp, at)?)))
            .filter(|(_, t)| is_active(t.lane))
            .collect()
    }

    /// All change points (for the cache of results between them).
    fn change_points(&self, out: &mut Vec<DateTime<Utc>>) {
        out.extend(self.plan_at);
        for (start, end) in self.planning.iter().chain(&self.merging) {
            out.push(*start);
            out.push(*end);
        }
        out.extend(self.wps.values().flatten().map(|t| t.at));
    }
}

fn is_active(lane: Lane) -> bool {
    matches!(lane, Lane::Claimed | Lane::InProgress | Lane::ForReview | Lane::InReview | Lane::Approved)
}

/// The role of work on a work package in `lane`.
pub fn role_for_lane(lane: Lane) -> Role {
    match lane {
        Lane::Planned | Lane::Claimed | Lane::InProgress | Lane::Blocked | Lane::Canceled => Role::Implementer,
        Lane::ForReview | Lane::InReview | Lane::Approved => Role::Reviewer,
        Lane::Done => Role::Merger,
    }
}

/// Attributes records of one project; results are cached between change points of the timelines.
pub struct Attributor {
    features: BTreeMap<String, FeatureTimeline>,
    change_points: Vec<DateTime<Utc>>,
    cache: HashMap<(CacheKey, usize), Attribution>,
    /// Status logs that could not be read (their features have no lane timeline).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    agent: Agent,
    place: String,
    branch: Option<String>,
}

impl Attributor {
    /// Reads every feature's `meta.json`, planning documents and status log.
    pub fn load(project: &Project) -> Attributor {
        let mut warnings = Vec::new();
        let mut features = BTreeMap::new();
        for slug in crate::project::detect::list_features(project) {
            let dir = project.feature_dir(&slug);
            features.insert(slug.clone(), load_feature(&dir, &mut warnings));
        }
        let mut change_points = Vec::new();
        for timeline in features.values() {
            timeline.change_points(&mut change_points);
        }
        change_points.sort();
        change_points.dedup();
        Attributor { features, change_points, cache: HashMap::new(), warnings }
    }

    /// The slugs of the features (for the claims and worktree candidates).
    pub fn feature_slugs(&self) -> impl Iterator<Item = &str> {
        self.features.keys().map(String::as_str)
    }

    /// The work packages each feature's status log mentions (for candidate worktree paths).
    pub fn work_packages(&self) -> impl Iterator<Item = (&str, &str)> {
        self.features.iter().flat_map(|(slug, t)| t.wps.keys().map(move |wp| (slug.as_str(), wp.as_str())))
    }

    pub fn attribute(
        &mut self,
        agent: Agent,
        at: DateTime<Utc>,
        place: &Place<'_>,
        branch: Option<&str>,
    ) -> Attribution {
        let key = CacheKey {
            agent,
            place: match place {
                Place::Root(relative) => {
                    // Only the kitty-specs/<feature> part matters.
                    let mut parts = relative.split('/');
                    match (parts.next(), parts.next()) {
                        (Some("kitty-specs"), Some(slug)) => format!("kitty-specs/{slug}"),
                        _ => String::new(),
                    }
                }
                Place::Worktree(name) => format!(".worktrees/{name}"),
            },
            branch: branch.map(str::to_owned),
        };
        let interval = self.change_points.partition_point(|p| *p <= at);
        if let Some(hit) = self.cache.get(&(key.clone(), interval)) {
            return hit.clone();
        }
        let result = self.resolve(agent, at, &key);
        self.cache.insert((key, interval), result.clone());
        result
    }

    fn resolve(&self, agent: Agent, at: DateTime<Utc>, key: &CacheKey) -> Attribution {
        if let Some(name) = key.place.strip_prefix(".worktrees/") {
            return match self.parse_name(name) {
                Named::Wp(slug, wp) => self.for_wp(slug, wp, at, format!("worktree .worktrees/{name}")),
                Named::Feature(slug) => self.for_feature(slug, agent, at, format!("worktree .worktrees/{name}")),
                Named::Unknown => {
                    Attribution::unattributed(format!("worktree .worktrees/{name} names no feature of this project"))
                }
            };
        }
        if let Some(slug) = key.place.strip_prefix("kitty-specs/")
            && self.features.contains_key(slug)
        {
            return self.for_feature(slug, agent, at, format!("directory kitty-specs/{slug}"));
        }
        if let Some(branch) = &key.branch {
            match self.parse_name(branch) {
                Named::Wp(slug, wp) => return self.for_wp(slug, wp, at, format!("branch {branch}")),
                Named::Feature(slug) => return self.for_feature(slug, agent, at, format!("branch {branch}")),
                Named::Unknown if looks_like_feature(branch) => {
                    return Attribution::unattributed(format!("branch {branch} names no feature of this project"));
                }
                Named::Unknown => {}
            }
        }
        self.by_timeline(agent, at)
    }

    fn parse_name<'n>(&self, name: &'n str) -> Named<'n> {
        if let Some((slug, wp)) = name.rsplit_once('-')
            && crate::sync::event::is_wp_id(wp)
            && self.features.contains_key(slug)
        {
            return Named::Wp(slug, wp);
        }
        if self.features.contains_key(name) { Named::Feature(name) } else { Named::Unknown }
    }

    fn for_wp(&self, slug: &str, wp: &str, at: DateTime<Utc>, why: String) -> Attribution {
        let timeline = &self.features[slug];
        let (role, lane) = match timeline.lane_at(wp, at) {
            Some(t) => (role_for_lane(t.lane), t.lane.as_str().to_owned()),
            None => (Role::Implementer, "no lane change yet".to_owned()),
        };
        Attribution {
            feature: Some(slug.to_owned()),
            wp_id: wp.to_owned(),
            role: Some(role),
            reason: format!("{why}; {wp} {lane}"),
        }
    }

    fn for_feature(&self, slug: &str, agent: Agent, at: DateTime<Utc>, why: String) -> Attribution {
        let timeline = &self.features[slug];
        let feature = |wp: &str, role: Role, detail: String| Attribution {
            feature: Some(slug.to_owned()),
            wp_id: wp.to_owned(),
            role: Some(role),
            reason: format!("{why}; {detail}"),
        };
        let na = crate::telemetry::record::NO_WP;
        if timeline.in_planning(at) {
            let role = timeline.planning_role(at);
            return feature(na, role, planning_detail(role));
        }
        let active = timeline.active(at);
        if let Some((wp, t)) = pick(&active, agent) {
            return feature(wp, role_for_lane(t.lane), format!("{wp} {} (the active work package)", t.lane.as_str()));
        }
        if !active.is_empty() {
            let roles: Vec<Role> = active.iter().map(|(_, t)| role_for_lane(t.lane)).collect();
            if roles.iter().all(|r| *r == roles[0]) {
                return feature(na, roles[0], format!("{} work packages active, all {}", active.len(), roles[0]));
            }
            return feature(na, Role::Implementer, format!("{} work packages active", active.len()));
        }
        if timeline.in_merging(at) {
            return feature(na, Role::Merger, "merging: every work package done".into());
        }
        let started = timeline.wps.values().flatten().any(|t| t.at <= at);
        if !started {
            let role = timeline.planning_role(at);
            return feature(na, role, format!("{} (no lane change yet)", planning_detail(role)));
        }
        feature(na, Role::Implementer, "work packages started, none active".into())
    }

    fn by_timeline(&self, agent: Agent, at: DateTime<Utc>) -> Attribution {
        let na = crate::telemetry::record::NO_WP;
        let mut active: Vec<(&str, &str, &Transition)> = Vec::new();
        for (slug, timeline) in &self.features {
            active.extend(timeline.active(at).into_iter().map(|(wp, t)| (slug.as_str(), wp, t)));
        }
        let by_agent: Vec<&(&str, &str, &Transition)> =
            active.iter().filter(|(_, _, t)| t.actor.to_lowercase().contains(agent.as_str())).collect();
        let chosen = match (active.as_slice(), by_agent.as_slice()) {
            ([only], _) => Some((only, "the only active work package")),
            (_, [only]) => Some((*only, "the active work package last moved by this agent")),
            _ => None,
        };
        if let Some(((slug, wp, t), how)) = chosen {
            return Attribution {
                feature: Some((*slug).to_owned()),
                wp_id: (*wp).to_owned(),
                role: Some(role_for_lane(t.lane)),
                reason: format!("status log: {wp} {}, {how}", t.lane.as_str()),
            };
        }
        if !active.is_empty() {
            let first = active[0].0;
            if active.iter().all(|(slug, _, _)| *slug == first) {
                let roles: Vec<Role> = active.iter().map(|(_, _, t)| role_for_lane(t.lane)).collect();
                let role = if roles.iter().all(|r| *r == roles[0]) { roles[0] } else { Role::Implementer };
                return Attribution {
                    feature: Some(first.to_owned()),
                    wp_id: na.into(),
                    role: Some(role),
                    reason: format!("status log: {} work packages of this feature active", active.len()),
                };
            }
            let mut names: Vec<String> = active.iter().map(|(s, w, _)| format!("{s} {w}")).collect();
            names.truncate(4);
            return Attribution::unattributed(format!(
                "ambiguous: {} work packages of different features active ({})",
                active.len(),
                names.join(", ")
            ));
        }
        let planning: Vec<&str> =
            self.features.iter().filter(|(_, t)| t.in_planning(at)).map(|(s, _)| s.as_str()).collect();
        if let [slug] = planning.as_slice() {
            let role = self.features[*slug].planning_role(at);
            return Attribution {
                feature: Some((*slug).to_owned()),
                wp_id: na.into(),
                role: Some(role),
                reason: format!("status log: the only feature in planning; {}", planning_detail(role)),
            };
        }
        if planning.len() > 1 {
            return Attribution::unattributed(format!("ambiguous: {} features in planning at once", planning.len()));
        }
        let merging: Vec<&str> =
            self.features.iter().filter(|(_, t)| t.in_merging(at)).map(|(s, _)| s.as_str()).collect();
        if let [slug] = merging.as_slice() {
            return Attribution {
                feature: Some((*slug).to_owned()),
                wp_id: na.into(),
                role: Some(Role::Merger),
                reason: "status log: the only feature being merged".into(),
            };
        }
        if merging.len() > 1 {
            return Attribution::unattributed(format!("ambiguous: {} features being merged at once", merging.len()));
        }
        Attribution::unattributed("no feature was being specified, planned, implemented, reviewed or merged then")
    }
}

enum Named<'n> {
    Wp(&'n str, &'n str),
    Feature(&'n str),
    Unknown,
}

fn looks_like_feature(name: &str) -> bool {
    crate::project::detect::is_feature_slug(name)
}

fn planning_detail(role: Role) -> String {
    match role {
        Role::Specifier => "planning: plan.md not written yet".into(),
        _ => "planning: plan.md written, no lane change yet".into(),
    }
}

/// One active work package: the only one, or the only one last moved by this agent.
fn pick<'a>(active: &'a [(&'a str, &'a Transition)], agent: Agent) -> Option<(&'a str, &'a Transition)> {
    if let [only] = active {
        return Some(*only);
    }
    let mine: Vec<_> = active.iter().filter(|(_, t)| t.actor.to_lowercase().contains(agent.as_str())).collect();
    if let [only] = mine.as_slice() { Some(**only) } else { None }
}

fn file_times(path: &Path) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let meta = std::fs::metadata(path).ok()?;
    let modified: DateTime<Utc> = meta.modified().ok()?.into();
    let born: DateTime<Utc> = meta.created().map(DateTime::<Utc>::from).unwrap_or(modified);
    Some((born.min(modified), modified))
}

fn load_feature(dir: &Path, warnings: &mut Vec<String>) -> FeatureTimeline {
    let meta = crate::project::meta::FeatureMeta::load(dir).ok().flatten();
    let meta_time = |key: &str| meta.as_ref().and_then(|m| m.str(key)).and_then(super::parse_time);
    let docs = ["spec.md", "plan.md", "tasks.md", "meta.json"].map(|f| file_times(&dir.join(f)));
    let mut last_edit = docs.iter().flatten().map(|(_, m)| *m).max();
    if let Ok(entries) = std::fs::read_dir(dir.join("tasks")) {
        for entry in entries.flatten() {
            if let Some((_, modified)) = file_times(&entry.path()) {
                last_edit = last_edit.max(Some(modified));
            }
        }
    }
    let created = meta_time("created_at").or_else(|| docs.iter().flatten().map(|(b, _)| *b).min());
    let plan_at = docs[1].map(|(born, _)| born);

    let mut wps: BTreeMap<String, Vec<Transition>> = BTreeMap::new();
    match crate::workflow::status::read_events(dir, std::time::Duration::from_secs(2)) {
        Ok(events) => {
            for event in events {
                wps.entry(event.wp_id.clone()).or_default().push(Transition {
                    at: event.at.to_utc(),
                    lane: event.to_lane,
                    actor: event.actor,
                });
            }
        }
        Err(e) => warnings.push(format!("no lane timeline for {}: {e}", dir.display())),
    }
    for transitions in wps.values_mut() {
        transitions.sort_by_key(|t| t.at);
    }
    let first_event = wps.values().flatten().map(|t| t.at).min();
    let planning = created.map(|start| {
        let end = first_event.or(last_edit.map(|m| m + PLANNING_GRACE)).unwrap_or(start);
        (start, end.max(start))
    });
    let all_done = !wps.is_empty() && wps.values().all(|t| t.last().is_some_and(|t| t.lane == Lane::Done));
    let merging = all_done.then(|| {
        let done_at = wps.values().filter_map(|t| t.last()).map(|t| t.at).max().expect("non-empty");
        let accepted = meta_time("accepted_at").unwrap_or(done_at).max(done_at);
        (done_at, accepted + MERGE_WINDOW)
    });
    FeatureTimeline { plan_at, planning, merging, wps }
}

#[cfg(test)]
mod tests;
