//! Execution telemetry: the `ExecutionEvent` log per feature, and the cost report over it.

pub mod clock;
pub mod cost;
pub mod cost_json;
pub mod emit;
pub mod money;
pub mod pricing;
pub mod query;
pub mod record;
pub mod usage;

pub use cost::{CostReport, CostRow, GroupKey, Totals, cost_report};
pub use emit::{EmitError, Emitted, LOG_FILE, emit};
pub use money::Money;
pub use pricing::PricingTable;
pub use query::{EventFilter, FeatureLog, FeatureSelection, TimeRange, feature_logs};
pub use record::{ExecutionRecord, Role};
pub use usage::Usage;
