//! The cost report as upstream's `cost --json` prints it: one object per group, costs rounded to six
//! decimals, and (when grouped by several keys) the group's keys by name.

use super::cost::{CostReport, CostRow, Totals};
use crate::json_map::Entries;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct CostRowJson<'a> {
    pub group_key: String,
    /// The grouping keys, comma-separated (`agent`, `feature,role`).
    pub group_by: String,
    #[serde(flatten)]
    pub totals: CostTotalJson,
    /// Key name → value, when grouped by more than one key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<Entries<&'static str, &'a str>>,
}

/// A group's (or the report's) sums in upstream's units: costs rounded to six decimals.
#[derive(Debug, Serialize)]
pub struct CostTotalJson {
    pub total_input_tokens: i64,
    pub total_output_tokens: i64,
    pub total_cost_usd: f64,
    pub estimated_cost_usd: f64,
    pub event_count: u64,
    pub total_cache_read_tokens: i64,
    pub total_cache_write_tokens: i64,
    pub unpriced_event_count: u64,
}

impl CostTotalJson {
    fn of(t: &Totals) -> CostTotalJson {
        CostTotalJson {
            total_input_tokens: t.input_tokens,
            total_output_tokens: t.output_tokens,
            total_cost_usd: t.cost.to_f64_rounded(6),
            estimated_cost_usd: t.estimated.to_f64_rounded(6),
            event_count: t.events,
            total_cache_read_tokens: t.cache_read_tokens,
            total_cache_write_tokens: t.cache_write_tokens,
            unpriced_event_count: t.unpriced_events,
        }
    }
}

impl CostReport {
    /// The report's grand total.
    pub fn json_total(&self) -> CostTotalJson {
        CostTotalJson::of(&self.total())
    }

    pub fn json_rows(&self) -> Vec<CostRowJson<'_>> {
        let group_by = self.group_by.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(",");
        self.rows.iter().map(|row| self.json_row(row, &group_by)).collect()
    }

    fn json_row<'a>(&self, row: &'a CostRow, group_by: &str) -> CostRowJson<'a> {
        CostRowJson {
            group_key: row.keys.join(" / "),
            group_by: group_by.to_owned(),
            totals: CostTotalJson::of(&row.totals),
            group: (self.group_by.len() > 1)
                .then(|| self.group_by.iter().zip(&row.keys).map(|(k, v)| (k.as_str(), v.as_str())).collect()),
        }
    }
}
