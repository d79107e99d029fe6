//! The cost report: stream every selected log once, group, sum exactly, price what was not priced.
//!
//! Semantics kept from upstream: only `ExecutionEvent`s count; a reported `cost_usd` is used as is (an
//! explicit 0 stays 0); a `null` cost is estimated from the tokens and the pricing table. Fixed: money
//! is exact ([`Money`]); `null` and missing group values are both `unknown`; events whose model has no
//! price are counted and reported instead of silently costing $0; cache tokens are priced at their
//! own rates; an event id seen twice in a log counts once; sums are checked, so a total that would
//! overflow is an error rather than a silently saturated number, and a single amount beyond what can be
//! totalled (tokens past `i64::MAX`, a cost past [`Money::MAX`]) makes its line malformed.
//!
//! Rows are ordered by total cost (descending), then event count (descending), then group key
//! (ascending), so equal-cost groups always come out in the same order.

use super::money::Money;
use super::pricing::{Price, PricingTable, Tokens};
use super::query::EventFilter;
use super::record::EVENT_TYPE;
use crate::events::Event;
use crate::store::{self, FxHashMap, PayloadKind, ScanReport};
use chrono::{DateTime, Datelike, Utc};
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, Visitor};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What rows are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupKey {
    Agent,
    Model,
    Feature,
    Role,
    Wp,
    Day,
    Week,
    Month,
}

impl GroupKey {
    pub const ALL: [GroupKey; 8] = [
        GroupKey::Agent,
        GroupKey::Model,
        GroupKey::Feature,
        GroupKey::Role,
        GroupKey::Wp,
        GroupKey::Day,
        GroupKey::Week,
        GroupKey::Month,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GroupKey::Agent => "agent",
            GroupKey::Model => "model",
            GroupKey::Feature => "feature",
            GroupKey::Role => "role",
            GroupKey::Wp => "wp",
            GroupKey::Day => "day",
            GroupKey::Week => "week",
            GroupKey::Month => "month",
        }
    }

    /// Parses `agent` or a comma-separated list such as `feature,role` (no repeats).
    pub fn parse_list(text: &str) -> Result<Vec<GroupKey>, String> {
        let mut keys = Vec::new();
        for part in text.split(',').map(str::trim) {
            let key: GroupKey = part.parse()?;
            if keys.contains(&key) {
                return Err(format!("group key {part:?} is listed twice"));
            }
            keys.push(key);
        }
        Ok(keys)
    }
}

impl FromStr for GroupKey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        GroupKey::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| {
            format!("unknown group key {s:?}; expected agent, model, feature, role, wp, day, week or month (comma-separated for several)")
        })
    }
}

impl fmt::Display for GroupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Sums for one group (or the whole report).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_tokens: i64,
    /// Reported plus estimated cost.
    pub cost: Money,
    /// The estimated part of `cost`.
    pub estimated: Money,
    pub events: u64,
    /// Events with tokens but neither a reported cost nor a price for their model.
    pub unpriced_events: u64,
}

impl Totals {
    /// Adds `other` in; on overflow names the sum that overflowed and leaves `self` unchanged.
    fn merge(&mut self, other: &Totals) -> Result<(), &'static str> {
        let tokens = |a: i64, b: i64, what: &'static str| a.checked_add(b).ok_or(what);
        let money = |a: Money, b: Money, what: &'static str| a.checked_add(b).ok_or(what);
        let merged = Totals {
            input_tokens: tokens(self.input_tokens, other.input_tokens, "input-token")?,
            output_tokens: tokens(self.output_tokens, other.output_tokens, "output-token")?,
            cache_read_tokens: tokens(self.cache_read_tokens, other.cache_read_tokens, "cache-read-token")?,
            cache_write_tokens: tokens(self.cache_write_tokens, other.cache_write_tokens, "cache-write-token")?,
            cost: money(self.cost, other.cost, "cost")?,
            estimated: money(self.estimated, other.estimated, "estimated-cost")?,
            events: self.events + other.events,
            unpriced_events: self.unpriced_events + other.unpriced_events,
        };
        *self = merged;
        Ok(())
    }

    pub fn has_cache_tokens(&self) -> bool {
        self.cache_read_tokens != 0 || self.cache_write_tokens != 0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostRow {
    /// One value per group key, in the order of [`CostReport::group_by`].
    pub keys: Vec<String>,
    pub totals: Totals,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostReport {
    pub group_by: Vec<GroupKey>,
    pub rows: Vec<CostRow>,
    /// Unpriced events per model name (`(no model)` when the event names none).
    pub unpriced_models: BTreeMap<String, u64>,
    /// One per log read, in the order given.
    pub scans: Vec<ScanReport>,
    /// The sums over every row (checked when the report was built).
    total: Totals,
}

impl CostReport {
    pub fn total(&self) -> Totals {
        self.total.clone()
    }

    /// "3 events unpriced: claude-x (2), (no model) (1)" when any event could not be priced.
    pub fn unpriced_summary(&self) -> Option<String> {
        let count: u64 = self.unpriced_models.values().sum();
        if count == 0 {
            return None;
        }
        let mut models: Vec<(&String, &u64)> = self.unpriced_models.iter().collect();
        models.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        let list: Vec<String> = models.iter().map(|(m, n)| format!("{m} ({n})")).collect();
        let noun = if count == 1 { "event" } else { "events" };
        Some(format!("{count} {noun} unpriced: {}", list.join(", ")))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CostError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    /// A sum does not fit: tokens beyond `i64::MAX` or money beyond [`Money::MAX`].
    #[error("cannot total the report: {0}")]
    Overflow(String),
}

impl crate::error::Diagnose for CostError {
    fn hints(&self) -> Vec<String> {
        vec![match self {
            CostError::Read { .. } => "fix its permissions, or narrow the report with --feature".into(),
            CostError::Overflow(_) => "some events report implausible amounts: fix or remove those lines, or narrow \
                                       the report with --feature, --since or --until"
                .into(),
        }]
    }
}

fn overflow(what: &str, group: &str) -> CostError {
    let limit =
        if what.ends_with("cost") { format!("{} USD", Money::MAX.to_fixed(2)) } else { format!("{} tokens", i64::MAX) };
    let group = if group.is_empty() {
        "the report".to_owned()
    } else {
        format!("group {:?}", group.replace(KEY_SEPARATOR, " / "))
    };
    CostError::Overflow(format!("the {what} total of {group} exceeds {limit}, the most that can be summed exactly"))
}

/// Builds the report over `logs`, reading up to one log per CPU in parallel.
pub fn cost_report(
    logs: &[PathBuf],
    filter: &EventFilter,
    group_by: &[GroupKey],
    pricing: &PricingTable,
) -> Result<CostReport, CostError> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(logs.len()).max(1);
    let next = AtomicUsize::new(0);
    let results: Vec<Result<WorkerOutput, CostError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut acc = Accumulator::new(filter, group_by, pricing);
                    let mut scans = Vec::new();
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(path) = logs.get(index) else { break };
                        scans.push((index, acc.read(path)?));
                    }
                    Ok(WorkerOutput { acc, scans })
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("cost worker panicked")).collect()
    });

    let mut groups: FxHashMap<String, Totals> = FxHashMap::default();
    let mut unpriced_models = BTreeMap::new();
    let mut scans = Vec::new();
    for result in results {
        let WorkerOutput { acc, scans: worker_scans } = result?;
        if let Some(error) = acc.overflow {
            return Err(error);
        }
        for (key, totals) in acc.groups {
            groups.entry(key.clone()).or_default().merge(&totals).map_err(|what| overflow(what, &key))?;
        }
        for (model, count) in acc.unpriced_models {
            *unpriced_models.entry(model).or_insert(0) += count;
        }
        scans.extend(worker_scans);
    }
    scans.sort_by_key(|(index, _)| *index);
    finish(group_by, groups, unpriced_models, scans.into_iter().map(|(_, s)| s).collect())
}

/// Combines reports built with the same grouping over disjoint sets of logs (for instance one report
/// per log, cached separately) into the report [`cost_report`] would build over all of them: the same
/// sums, the same overflow checks, the same row order; the scans follow `parts`' order.
pub fn merge_reports(group_by: &[GroupKey], parts: &[&CostReport]) -> Result<CostReport, CostError> {
    let mut groups: FxHashMap<String, Totals> = FxHashMap::default();
    let mut unpriced_models = BTreeMap::new();
    let mut scans = Vec::new();
    for part in parts {
        debug_assert_eq!(part.group_by, group_by, "merged reports must share their grouping");
        for row in &part.rows {
            let key = row.keys.join(&KEY_SEPARATOR.to_string());
            groups.entry(key.clone()).or_default().merge(&row.totals).map_err(|what| overflow(what, &key))?;
        }
        for (model, count) in &part.unpriced_models {
            *unpriced_models.entry(model.clone()).or_insert(0) += count;
        }
        scans.extend(part.scans.iter().cloned());
    }
    finish(group_by, groups, unpriced_models, scans)
}

/// Orders the groups into rows and checks the grand total.
fn finish(
    group_by: &[GroupKey],
    groups: FxHashMap<String, Totals>,
    unpriced_models: BTreeMap<String, u64>,
    scans: Vec<ScanReport>,
) -> Result<CostReport, CostError> {
    let mut rows: Vec<CostRow> = groups
        .into_iter()
        .map(|(key, totals)| CostRow { keys: key.split(KEY_SEPARATOR).map(str::to_owned).collect(), totals })
        .collect();
    rows.sort_by(|a, b| {
        b.totals.cost.cmp(&a.totals.cost).then(b.totals.events.cmp(&a.totals.events)).then_with(|| a.keys.cmp(&b.keys))
    });
    let mut total = Totals::default();
    for row in &rows {
        total.merge(&row.totals).map_err(|what| overflow(what, ""))?;
    }
    Ok(CostReport { group_by: group_by.to_vec(), rows, unpriced_models, scans, total })
}

/// What one worker thread gathered: its partial sums and the scan reports of the logs it read (with
/// their index in the input, to restore the order).
struct WorkerOutput<'r> {
    acc: Accumulator<'r>,
    scans: Vec<(usize, ScanReport)>,
}

/// How unpriced events without a model are listed.
pub const NO_MODEL: &str = "(no model)";

/// Joins the key parts of a group (a control character no key plausibly contains).
const KEY_SEPARATOR: char = '\u{1f}';

struct Accumulator<'r> {
    filter: &'r EventFilter,
    group_by: &'r [GroupKey],
    pricing: &'r PricingTable,
    groups: FxHashMap<String, Totals>,
    prices: FxHashMap<String, Option<&'r Price>>,
    unpriced_models: FxHashMap<String, u64>,
    key: String,
    /// The first sum that overflowed; the report fails with it.
    overflow: Option<CostError>,
}

impl<'r> Accumulator<'r> {
    fn new(filter: &'r EventFilter, group_by: &'r [GroupKey], pricing: &'r PricingTable) -> Self {
        Accumulator {
            filter,
            group_by,
            pricing,
            groups: FxHashMap::default(),
            prices: FxHashMap::default(),
            unpriced_models: FxHashMap::default(),
            key: String::new(),
            overflow: None,
        }
    }

    fn read(&mut self, path: &Path) -> Result<ScanReport, CostError> {
        store::scan_events::<CostView>(path, |event| self.add(&event))
            .map_err(|source| CostError::Read { path: path.to_owned(), source })
    }

    fn add(&mut self, event: &Event<'_, CostPayload<'_>>) {
        if self.overflow.is_some() || event.event_type != EVENT_TYPE || !self.matches(event) {
            return;
        }
        let p = &event.payload;
        self.key.clear();
        for (i, key) in self.group_by.iter().enumerate() {
            if i > 0 {
                self.key.push(KEY_SEPARATOR);
            }
            match key {
                GroupKey::Agent => self.key.push_str(p.agent.label()),
                GroupKey::Model => self.key.push_str(p.model.label()),
                GroupKey::Role => self.key.push_str(p.role.label()),
                GroupKey::Wp => self.key.push_str(p.wp_id.label()),
                GroupKey::Feature => self.key.push_str(&event.aggregate_id),
                GroupKey::Day | GroupKey::Week | GroupKey::Month => {
                    push_period(&mut self.key, *key, event.timestamp.to_utc())
                }
            }
        }

        let tokens = Tokens {
            input: p.input_tokens,
            output: p.output_tokens,
            cache_read: p.cache_read_tokens,
            cache_write: p.cache_write_tokens,
            cache_write_1h: p.cache_write_1h_tokens,
        };
        let (cost, estimated, unpriced) = match p.cost_usd {
            Some(reported) => (reported, Money::ZERO, false),
            None if tokens.is_zero() => (Money::ZERO, Money::ZERO, false),
            None => match self.price_of(p.model.text()) {
                Some(price) => {
                    let Some(estimate) = price.estimate(&tokens) else {
                        self.overflow = Some(overflow("estimated-cost", &self.key));
                        return;
                    };
                    (estimate, estimate, false)
                }
                None => {
                    let model = p.model.text().unwrap_or(NO_MODEL);
                    *self.unpriced_models.entry(model.to_owned()).or_insert(0) += 1;
                    (Money::ZERO, Money::ZERO, true)
                }
            },
        };

        let totals = match self.groups.get_mut(self.key.as_str()) {
            Some(totals) => totals,
            None => self.groups.entry(self.key.clone()).or_default(),
        };
        let event_totals = Totals {
            input_tokens: tokens.input,
            output_tokens: tokens.output,
            cache_read_tokens: tokens.cache_read,
            cache_write_tokens: tokens.cache_write,
            cost,
            estimated,
            events: 1,
            unpriced_events: u64::from(unpriced),
        };
        if let Err(what) = totals.merge(&event_totals) {
            self.overflow = Some(overflow(what, &self.key));
        }
    }

    fn matches(&self, event: &Event<'_, CostPayload<'_>>) -> bool {
        let f = self.filter;
        let p = &event.payload;
        let field_is =
            |wanted: &Option<String>, field: &Field<'_>| wanted.as_deref().is_none_or(|w| field.text() == Some(w));
        field_is(&f.agent, &p.agent)
            && field_is(&f.model, &p.model)
            && field_is(&f.role, &p.role)
            && field_is(&f.wp_id, &p.wp_id)
            && (f.time.is_unbounded() || f.time.contains(event.timestamp.to_utc()))
    }

    fn price_of(&mut self, model: Option<&str>) -> Option<&'r Price> {
        let model = model?;
        if let Some(price) = self.prices.get(model) {
            return *price;
        }
        let price = self.pricing.resolve(model);
        self.prices.insert(model.to_owned(), price);
        price
    }
}

fn push_period(out: &mut String, key: GroupKey, at: DateTime<Utc>) {
    use std::fmt::Write as _;
    let _ = match key {
        GroupKey::Day => write!(out, "{:04}-{:02}-{:02}", at.year(), at.month(), at.day()),
        GroupKey::Week => {
            let week = at.iso_week();
            write!(out, "{:04}-W{:02}", week.year(), week.week())
        }
        _ => write!(out, "{:04}-{:02}", at.year(), at.month()),
    };
}

/// The payload fields a cost report needs, borrowed from the line.
struct CostView;

impl PayloadKind for CostView {
    type Payload<'a> = CostPayload<'a>;
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CostPayload<'a> {
    #[serde(borrow)]
    wp_id: Field<'a>,
    #[serde(borrow)]
    agent: Field<'a>,
    #[serde(borrow)]
    role: Field<'a>,
    #[serde(borrow)]
    model: Field<'a>,
    #[serde(deserialize_with = "token_count")]
    input_tokens: i64,
    #[serde(deserialize_with = "token_count")]
    output_tokens: i64,
    #[serde(deserialize_with = "token_count")]
    cache_read_tokens: i64,
    #[serde(deserialize_with = "token_count")]
    cache_write_tokens: i64,
    /// The part of `cache_write_tokens` written to Anthropic's 1-hour cache (imported usage).
    #[serde(deserialize_with = "token_count")]
    cache_write_1h_tokens: i64,
    #[serde(deserialize_with = "reported_cost")]
    cost_usd: Option<Money>,
}

/// A payload value used as a group key. Upstream's payload is free-form, so non-strings are kept as
/// their JSON text rather than rejected.
#[derive(Debug, Default)]
enum Field<'a> {
    #[default]
    Missing,
    Null,
    Text(Cow<'a, str>),
    Other(String),
}

impl Field<'_> {
    fn text(&self) -> Option<&str> {
        match self {
            Field::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The group label: `unknown` for missing and null alike.
    fn label(&self) -> &str {
        match self {
            Field::Missing | Field::Null => "unknown",
            Field::Text(s) => s,
            Field::Other(s) => s,
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Field<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Field<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Field::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Field::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Field::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Field::Null)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Field::Other(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Field::Other(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Field::Other(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Field::Other(crate::events::pyjson::float_repr(v)))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Field::Other("[…]".into()))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Field::Other("{…}".into()))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// `null` is 0 (as upstream's `or 0`); integral floats are accepted; anything else makes the line malformed.
fn token_count<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = i64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a token count")
        }
        fn visit_unit<E: de::Error>(self) -> Result<i64, E> {
            Ok(0)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
            Ok(v)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
            i64::try_from(v).map_err(|_| E::custom(format!("token count {v} is too large to total")))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
            if !(v.is_finite() && v.fract() == 0.0) {
                Err(E::custom(format!("token count {v} is not a whole number")))
            } else if v.abs() >= 9.2e18 {
                Err(E::custom(format!("token count {v} is too large to total")))
            } else {
                Ok(v as i64)
            }
        }
    }
    deserializer.deserialize_any(V)
}

/// A reported cost, exactly as [`Money`]; one too large to total makes the line malformed.
fn reported_cost<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Money>, D::Error> {
    struct V;
    fn money<E: de::Error>(value: Option<Money>, v: impl fmt::Display) -> Result<Option<Money>, E> {
        value.map(Some).ok_or_else(|| E::custom(format!("cost_usd {v} is too large to total")))
    }
    impl Visitor<'_> for V {
        type Value = Option<Money>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a cost in USD or null")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            money(Money::parse(&v.to_string()), v)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            money(Money::parse(&v.to_string()), v)
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            money(Money::from_f64(v), crate::events::pyjson::float_repr(v))
        }
    }
    deserializer.deserialize_any(V)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::query::TimeRange;
    use std::io::Write;

    fn line(id: u32, feature: &str, payload: &str, ts: &str) -> String {
        format!(
            r#"{{"aggregate_id": "{feature}", "causation_id": null, "event_id": "01HXYZ{id:020}", "event_type": "ExecutionEvent", "lamport_clock": {id}, "node_id": "cli:N/A", "payload": {payload}, "timestamp": "{ts}"}}"#
        )
    }

    fn log(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
        let path = dir.join(name);
        let mut file = std::fs::File::create(&path).unwrap();
        for l in lines {
            writeln!(file, "{l}").unwrap();
        }
        path
    }

    fn pricing() -> PricingTable {
        PricingTable::from_yaml(
            "models:\n  claude-sonnet-4-20250514:\n    input_per_1k: 0.003\n    output_per_1k: 0.015\n",
            "t",
        )
        .unwrap()
    }

    const TS: &str = "2026-02-16T11:00:00+00:00";

    #[test]
    fn groups_sums_and_estimates_like_upstream() {
        let dir = tempfile::tempdir().unwrap();
        let path = log(
            dir.path(),
            "a.jsonl",
            &[
                line(
                    1,
                    "f",
                    r#"{"agent": "claude", "role": "specifier", "model": "claude-sonnet-4-20250514", "input_tokens": 1000, "output_tokens": 500, "cost_usd": null}"#,
                    TS,
                ),
                line(2, "f", r#"{"agent": "claude", "role": "planner", "cost_usd": 0.15}"#, TS),
                line(3, "f", r#"{"agent": "codex", "role": "planner", "model": null, "cost_usd": 0.25}"#, TS),
                line(
                    4,
                    "f",
                    r#"{"agent": "codex", "model": "claude-sonnet-4-20250514", "input_tokens": 100, "cost_usd": 0.0}"#,
                    TS,
                ),
                line(4, "f", r#"{"agent": "codex", "cost_usd": 99}"#, TS),
                r#"{"event_type": "ExecutionEvent"}"#.to_owned(),
            ],
        );
        let report = cost_report(&[path], &EventFilter::default(), &[GroupKey::Agent], &pricing()).unwrap();
        assert_eq!(report.scans[0].duplicates, 1);
        assert_eq!(report.scans[0].malformed, 1);
        let by: std::collections::HashMap<&str, &Totals> =
            report.rows.iter().map(|r| (r.keys[0].as_str(), &r.totals)).collect();
        assert_eq!(by["codex"].cost.to_fixed(6), "0.250000");
        assert_eq!(by["codex"].estimated, Money::ZERO);
        assert_eq!(by["codex"].events, 2);
        assert_eq!(by["claude"].cost.to_fixed(6), "0.160500");
        assert_eq!(by["claude"].estimated.to_fixed(6), "0.010500");
        assert_eq!(report.rows[0].keys, ["codex"]);

        let report =
            cost_report(&[dir.path().join("a.jsonl")], &EventFilter::default(), &[GroupKey::Role], &pricing()).unwrap();
        let keys: Vec<&str> = report.rows.iter().map(|r| r.keys[0].as_str()).collect();
        assert_eq!(keys, ["planner", "specifier", "unknown"]);
        assert_eq!(report.total().cost.to_fixed(6), "0.410500");
    }

    #[test]
    fn null_and_missing_keys_are_unknown_and_unpriced_models_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = log(
            dir.path(),
            "a.jsonl",
            &[
                line(1, "f", r#"{"model": null, "input_tokens": 5}"#, TS),
                line(2, "f", r#"{"input_tokens": 5}"#, TS),
                line(3, "f", r#"{"model": "mystery-1", "output_tokens": 5}"#, TS),
                line(4, "f", r#"{"model": "mystery-1"}"#, TS),
            ],
        );
        let report = cost_report(&[path], &EventFilter::default(), &[GroupKey::Model], &pricing()).unwrap();
        let unknown = report.rows.iter().find(|r| r.keys == ["unknown"]).unwrap();
        assert_eq!((unknown.totals.events, unknown.totals.unpriced_events), (2, 2));
        assert_eq!(report.unpriced_summary().unwrap(), "3 events unpriced: (no model) (2), mystery-1 (1)");
    }

    #[test]
    fn filters_and_multi_key_periods() {
        let dir = tempfile::tempdir().unwrap();
        let a = log(
            dir.path(),
            "a.jsonl",
            &[line(1, "f1", r#"{"agent": "claude", "role": "planner", "cost_usd": 1}"#, "2026-02-16T23:59:59+00:00")],
        );
        let b = log(
            dir.path(),
            "b.jsonl",
            &[
                line(2, "f2", r#"{"agent": "claude", "role": "planner", "cost_usd": 2}"#, "2026-02-17T00:00:00Z"),
                line(3, "f2", r#"{"agent": "codex", "role": "planner", "cost_usd": 4}"#, "2026-03-02T10:00:00"),
            ],
        );
        let filter = EventFilter { agent: Some("claude".into()), ..EventFilter::default() };
        let report =
            cost_report(&[a.clone(), b.clone()], &filter, &[GroupKey::Feature, GroupKey::Day], &pricing()).unwrap();
        let keys: Vec<Vec<String>> = report.rows.iter().map(|r| r.keys.clone()).collect();
        assert_eq!(
            keys,
            [vec!["f2".to_owned(), "2026-02-17".to_owned()], vec!["f1".to_owned(), "2026-02-16".to_owned()]]
        );

        let until = TimeRange::new(None, Some("2026-02-16T00:00:00Z".parse().unwrap()), true);
        let report = cost_report(
            &[a.clone(), b.clone()],
            &EventFilter { time: until, ..EventFilter::default() },
            &[GroupKey::Month],
            &pricing(),
        )
        .unwrap();
        assert_eq!(report.total().events, 1);

        let report = cost_report(&[a, b], &EventFilter::default(), &[GroupKey::Week], &pricing()).unwrap();
        let weeks: Vec<&str> = report.rows.iter().map(|r| r.keys[0].as_str()).collect();
        assert_eq!(weeks, ["2026-W10", "2026-W08"]);
    }

    #[test]
    fn bad_payload_values_make_the_line_malformed() {
        let dir = tempfile::tempdir().unwrap();
        let path = log(
            dir.path(),
            "a.jsonl",
            &[
                line(1, "f", r#"{"input_tokens": "many"}"#, TS),
                line(2, "f", r#"{"cost_usd": "free"}"#, TS),
                line(3, "f", r#"{"agent": 7}"#, TS),
            ],
        );
        let report = cost_report(&[path], &EventFilter::default(), &[GroupKey::Agent], &pricing()).unwrap();
        assert_eq!(report.scans[0].malformed, 2);
        assert_eq!(report.rows[0].keys, ["7"]);
    }

    #[test]
    fn merged_per_log_reports_equal_one_report_over_all_logs() {
        let dir = tempfile::tempdir().unwrap();
        let a = log(
            dir.path(),
            "a.jsonl",
            &[
                line(1, "f1", r#"{"agent": "claude", "role": "planner", "cost_usd": 1}"#, TS),
                line(2, "f1", r#"{"agent": "codex", "role": "planner", "model": "mystery", "input_tokens": 3}"#, TS),
            ],
        );
        let b = log(
            dir.path(),
            "b.jsonl",
            &[
                line(3, "f2", r#"{"agent": "claude", "role": "planner", "cost_usd": 2}"#, TS),
                line(
                    4,
                    "f2",
                    r#"{"agent": "claude", "role": "reviewer", "model": "claude-sonnet-4-20250514", "input_tokens": 1000, "cost_usd": null}"#,
                    TS,
                ),
                "not json".to_owned(),
            ],
        );
        let group_by = [GroupKey::Agent, GroupKey::Role];
        let filter = EventFilter::default();
        let whole = cost_report(&[a.clone(), b.clone()], &filter, &group_by, &pricing()).unwrap();
        let parts = [
            cost_report(&[a], &filter, &group_by, &pricing()).unwrap(),
            cost_report(&[b], &filter, &group_by, &pricing()).unwrap(),
        ];
        let merged = merge_reports(&group_by, &[&parts[0], &parts[1]]).unwrap();
        assert_eq!(merged, whole);
        assert_eq!(merged.total().events, 4);
        assert_eq!(merged.scans[1].malformed, 1);
        // Sums that overflow only together are still errors.
        let big = format!(r#"{{"agent": "a", "input_tokens": {}, "cost_usd": 0}}"#, i64::MAX - 1);
        let c = log(dir.path(), "c.jsonl", &[line(5, "f3", &big, TS)]);
        let one = cost_report(&[c], &filter, &[GroupKey::Agent], &pricing()).unwrap();
        assert!(matches!(merge_reports(&[GroupKey::Agent], &[&one, &one]), Err(CostError::Overflow(_))));
    }

    #[test]
    fn group_list_parsing() {
        assert_eq!(GroupKey::parse_list("feature, role").unwrap(), [GroupKey::Feature, GroupKey::Role]);
        assert!(GroupKey::parse_list("agent,agent").is_err());
        assert!(GroupKey::parse_list("colour").unwrap_err().contains("unknown group key"));
    }

    #[test]
    fn totals_never_saturate() {
        let dir = tempfile::tempdir().unwrap();
        let report = |lines: &[String]| {
            let path = log(dir.path(), "a.jsonl", lines);
            cost_report(&[path], &EventFilter::default(), &[GroupKey::Agent], &pricing())
        };
        // One amount too large to total is a malformed line, reported and skipped.
        let r = report(&[
            line(1, "f", r#"{"agent": "a", "input_tokens": 18446744073709551615}"#, TS),
            line(2, "f", r#"{"agent": "a", "cost_usd": 1e308}"#, TS),
            line(3, "f", r#"{"agent": "a", "cost_usd": 18446744073709551615}"#, TS),
            line(4, "f", r#"{"agent": "a", "input_tokens": 5, "cost_usd": 1}"#, TS),
        ])
        .unwrap();
        assert_eq!(r.scans[0].malformed, 3, "{:?}", r.scans[0]);
        assert!(r.scans[0].warning().unwrap().contains("too large to total"), "{:?}", r.scans[0].warning());
        assert_eq!((r.total().input_tokens, r.total().cost.to_fixed(0)), (5, "1".to_owned()));
        // Sums that do not fit are errors, not saturated totals.
        let tokens = format!(r#"{{"agent": "a", "input_tokens": {}, "cost_usd": 0}}"#, i64::MAX - 1);
        let err = report(&[line(1, "f", &tokens, TS), line(2, "f", &tokens, TS)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot total the report: the input-token total of group \"a\" exceeds 9223372036854775807 tokens, the \
             most that can be summed exactly"
        );
        let costly = r#"{"agent": "a", "cost_usd": 1e17}"#;
        let err = report(&[line(1, "f", costly, TS), line(2, "f", costly, TS)]).unwrap_err();
        assert!(err.to_string().contains("the cost total of group \"a\" exceeds 170141183460469231"), "{err}");
        // Groups that fit on their own but not together.
        let other = r#"{"agent": "b", "cost_usd": 1e17}"#;
        let err = report(&[line(1, "f", costly, TS), line(2, "f", other, TS)]).unwrap_err();
        assert!(err.to_string().contains("the cost total of the report exceeds"), "{err}");
    }
}
