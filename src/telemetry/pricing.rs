//! The pricing table: which model costs what, and how a model name an agent reports finds its price.
//!
//! Upstream looked prices up by exact key in an 8-entry table, so the names agents really report
//! (`claude-sonnet-4.5`, `claude-opus-4-6`, `anthropic/claude-…[1m]`) never matched and almost nothing was
//! priced. We match exactly, then by a normalised name (case, `.`/`_` vs `-`, provider prefix, context
//! suffix), then with any date suffix removed; aliases take part in every step.

use super::money::Money;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// The table compiled into the binary (`pricing.yaml` at the repository root).
const BUILTIN_YAML: &str = include_str!("../../pricing.yaml");

/// Per-token prices of one model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Price {
    pub input: Money,
    pub output: Money,
    pub cache_read: Money,
    pub cache_write: Money,
    /// Writes to Anthropic's 1-hour cache (default: the `cache_write` rate).
    pub cache_write_1h: Money,
}

impl Price {
    /// The estimated cost of a call with these token counts; `None` when it exceeds [`Money::MAX`].
    pub fn estimate(&self, tokens: &Tokens) -> Option<Money> {
        // The 1-hour part of the cache writes (never more than all of them) at its own rate.
        let one_hour = tokens.cache_write_1h.clamp(0, tokens.cache_write.max(0));
        self.input
            .checked_times(tokens.input)?
            .checked_add(self.output.checked_times(tokens.output)?)?
            .checked_add(self.cache_read.checked_times(tokens.cache_read)?)?
            .checked_add(self.cache_write.checked_times(tokens.cache_write - one_hour)?)?
            .checked_add(self.cache_write_1h.checked_times(one_hour)?)
    }
}

/// Token counts of one call; input excludes cache reads and writes; `cache_write_1h` is the part of
/// `cache_write` written to Anthropic's 1-hour cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    pub input: i64,
    pub output: i64,
    pub cache_read: i64,
    pub cache_write: i64,
    pub cache_write_1h: i64,
}

impl Tokens {
    pub fn is_zero(&self) -> bool {
        *self == Tokens::default()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PricingError {
    #[error("cannot read pricing file {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid pricing file {origin}: {message}")]
    Invalid { origin: String, message: String },
}

impl crate::error::Diagnose for PricingError {
    fn hints(&self) -> Vec<String> {
        vec![
            "a pricing file is a pricing.yaml (models: {id: {input_per_1k, output_per_1k}}) or a LiteLLM JSON \
              price list; fix it, or remove an override file"
                .into(),
        ]
    }
}

#[derive(Debug, Clone)]
struct Entry {
    id: String,
    price: Price,
    aliases: Vec<String>,
}

/// Model prices with the indexes that resolve reported names to entries.
#[derive(Debug, Clone, Default)]
pub struct PricingTable {
    entries: Vec<Entry>,
    exact: HashMap<String, usize>,
    normalised: HashMap<String, usize>,
    undated: HashMap<String, usize>,
}

impl PricingTable {
    /// The built-in table.
    pub fn builtin() -> Self {
        Self::from_yaml(BUILTIN_YAML, "built-in pricing.yaml").expect("the embedded pricing.yaml is valid")
    }

    /// Reads our YAML shape or a LiteLLM price list (JSON, per-token prices); the format is detected
    /// from the content.
    pub fn load(path: &Path) -> Result<Self, PricingError> {
        let text = crate::fsutil::read_small_string(path, crate::fsutil::LARGE_FILE_CAP)
            .map_err(|source| PricingError::Read { path: path.to_owned(), source })?;
        let origin = path.display().to_string();
        if looks_like_litellm(&text) {
            Self::from_litellm_json(&text, &origin)
        } else {
            Self::from_yaml(&text, &origin)
        }
    }

    /// `models: {id: {input_per_1k, output_per_1k, cache_read_per_1k?, cache_write_per_1k?,
    /// cache_write_1h_per_1k?, aliases?}}`.
    /// An empty document is an empty table.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Self, PricingError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            #[serde(default)]
            models: Option<BTreeMap<String, YamlEntry>>,
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct YamlEntry {
            input_per_1k: Option<f64>,
            output_per_1k: Option<f64>,
            cache_read_per_1k: Option<f64>,
            cache_write_per_1k: Option<f64>,
            cache_write_1h_per_1k: Option<f64>,
            #[serde(default)]
            aliases: Vec<String>,
        }
        if text.trim().is_empty() {
            return Ok(PricingTable::default());
        }
        let invalid = |message: String| PricingError::Invalid { origin: origin.to_owned(), message };
        let file: Option<File> = serde_saphyr::from_str(text).map_err(|e| invalid(first_line(&e.to_string())))?;
        let mut table = PricingTable::default();
        for (id, e) in file.and_then(|f| f.models).unwrap_or_default() {
            let per_1k = |field: &str, value: Option<f64>| -> Result<Option<Money>, PricingError> {
                value
                    .map(|v| {
                        per_token_from(v, 1000)
                            .ok_or_else(|| invalid(format!("{id}.{field} must be a non-negative number, got {v}")))
                    })
                    .transpose()
            };
            let input = per_1k("input_per_1k", e.input_per_1k)?.unwrap_or_default();
            let cache_write = per_1k("cache_write_per_1k", e.cache_write_per_1k)?.unwrap_or(input);
            let price = Price {
                input,
                output: per_1k("output_per_1k", e.output_per_1k)?.unwrap_or_default(),
                cache_read: per_1k("cache_read_per_1k", e.cache_read_per_1k)?.unwrap_or(input),
                cache_write,
                cache_write_1h: per_1k("cache_write_1h_per_1k", e.cache_write_1h_per_1k)?.unwrap_or(cache_write),
            };
            table.entries.push(Entry { id, price, aliases: e.aliases });
        }
        table.reindex();
        Ok(table)
    }

    /// A LiteLLM `model_prices_and_context_window.json` (optionally wrapped in `{"models": …}`); entries
    /// without `input_cost_per_token` (images, embeddings, the `sample_spec`) are skipped.
    pub fn from_litellm_json(text: &str, origin: &str) -> Result<Self, PricingError> {
        let invalid = |message: String| PricingError::Invalid { origin: origin.to_owned(), message };
        let root: serde_json::Value = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let models = root.get("models").filter(|m| m.is_object()).unwrap_or(&root);
        let models = models.as_object().ok_or_else(|| invalid("expected a JSON object of models".into()))?;
        let mut table = PricingTable::default();
        for (id, spec) in models {
            let Some(input) = spec.get("input_cost_per_token").and_then(|v| v.as_f64()) else { continue };
            let rate = |field: &str| -> Result<Option<Money>, PricingError> {
                match spec.get(field).and_then(|v| v.as_f64()) {
                    None => Ok(None),
                    Some(v) => per_token_from(v, 1)
                        .map(Some)
                        .ok_or_else(|| invalid(format!("{id}.{field} must be a non-negative number, got {v}"))),
                }
            };
            let input = per_token_from(input, 1)
                .ok_or_else(|| invalid(format!("{id}.input_cost_per_token must be a non-negative number")))?;
            let cache_write = rate("cache_creation_input_token_cost")?.unwrap_or(input);
            let price = Price {
                input,
                output: rate("output_cost_per_token")?.unwrap_or_default(),
                cache_read: rate("cache_read_input_token_cost")?.unwrap_or(input),
                cache_write,
                cache_write_1h: rate("cache_creation_input_token_cost_above_1hr")?.unwrap_or(cache_write),
            };
            table.entries.push(Entry { id: id.clone(), price, aliases: Vec::new() });
        }
        table.reindex();
        Ok(table)
    }

    /// What a report prices with: `explicit` alone when given; else the built-in table overridden per
    /// model by [`override_paths`] that exist, in order.
    pub fn for_project(
        home: Option<&Path>,
        project_root: &Path,
        explicit: Option<&Path>,
    ) -> Result<PricingTable, PricingError> {
        if let Some(path) = explicit {
            return PricingTable::load(path);
        }
        let mut table = PricingTable::builtin();
        for path in override_paths(home, project_root).into_iter().filter(|p| p.is_file()) {
            table.apply_overrides(PricingTable::load(&path)?);
        }
        Ok(table)
    }

    /// Entries of `overrides` replace same-id entries here (keeping our aliases unless they bring
    /// their own) or are added.
    pub fn apply_overrides(&mut self, overrides: PricingTable) {
        for entry in overrides.entries {
            match self.entries.iter_mut().find(|e| e.id == entry.id) {
                Some(existing) => {
                    existing.price = entry.price;
                    existing.aliases.extend(entry.aliases);
                }
                None => self.entries.push(entry),
            }
        }
        self.reindex();
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The price of a reported model name: exact id or alias, then normalised, then without a date suffix.
    pub fn resolve(&self, model: &str) -> Option<&Price> {
        self.index_of(model).map(|i| &self.entries[i].price)
    }

    /// The entry id a reported model name resolves to.
    pub fn resolve_id(&self, model: &str) -> Option<&str> {
        self.index_of(model).map(|i| self.entries[i].id.as_str())
    }

    fn index_of(&self, model: &str) -> Option<usize> {
        if let Some(&i) = self.exact.get(model) {
            return Some(i);
        }
        let normalised = normalise(model);
        self.normalised.get(&normalised).or_else(|| self.undated.get(strip_date(&normalised))).copied()
    }

    /// Rebuilds the lookup maps. Ids win over aliases at every level, and an undated id wins the
    /// date-stripped slot over dated ones.
    fn reindex(&mut self) {
        let ids = self.entries.iter().enumerate().map(|(i, e)| (i, e.id.as_str()));
        let aliases = self.entries.iter().enumerate().flat_map(|(i, e)| e.aliases.iter().map(move |a| (i, a.as_str())));
        let names: Vec<(usize, &str)> = ids.chain(aliases).collect();
        self.exact.clear();
        self.normalised.clear();
        self.undated.clear();
        for &(i, name) in &names {
            self.exact.entry(name.to_owned()).or_insert(i);
            self.normalised.entry(normalise(name)).or_insert(i);
        }
        for undated_pass in [true, false] {
            for &(i, name) in &names {
                let norm = normalise(name);
                let stripped = strip_date(&norm);
                if (stripped.len() == norm.len()) == undated_pass {
                    self.undated.entry(stripped.to_owned()).or_insert(i);
                }
            }
        }
    }
}

fn per_token_from(value: f64, tokens_per_unit: i64) -> Option<Money> {
    if !(value.is_finite() && value >= 0.0) {
        return None;
    }
    // per 1k → per token is exact for every price with at most 18 decimals per 1k tokens.
    Some(Money::from_f64(value)?.divided_by(i128::from(tokens_per_unit)))
}

fn looks_like_litellm(text: &str) -> bool {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    trimmed.starts_with('{') && text.contains("input_cost_per_token")
}

fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or(message).to_owned()
}

/// Lower-case; drop a provider prefix (`anthropic/`), a context-size suffix (`[1m]`) and a Vertex `@date`
/// separator; unify `.`, `_` and spaces to `-`.
pub fn normalise(model: &str) -> String {
    let mut name = model.trim();
    if let Some(open) = name.rfind('[')
        && name.ends_with(']')
    {
        name = &name[..open];
    }
    if let Some(slash) = name.rfind('/') {
        name = &name[slash + 1..];
    }
    name.chars()
        .map(|c| match c {
            '.' | '_' | ' ' | '@' => '-',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// Removes a trailing `-YYYYMMDD` or `-YYYY-MM-DD` (after normalisation).
pub fn strip_date(name: &str) -> &str {
    let b = name.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    if b.len() > 9 && b[b.len() - 9] == b'-' && digits(&b[b.len() - 8..]) {
        return &name[..name.len() - 9];
    }
    if b.len() > 11 {
        let tail = &b[b.len() - 11..];
        if tail[0] == b'-'
            && digits(&tail[1..5])
            && tail[5] == b'-'
            && digits(&tail[6..8])
            && tail[8] == b'-'
            && digits(&tail[9..])
        {
            return &name[..name.len() - 11];
        }
    }
    name
}

/// The files that override the built-in prices, in the order they apply: `<home>/pricing.yaml` (the
/// spec-kitty home), then the project's `.kittify/pricing.yaml`. They need not exist.
pub fn override_paths(home: Option<&Path>, project_root: &Path) -> Vec<PathBuf> {
    home.map(|h| h.join("pricing.yaml")).into_iter().chain([project_root.join(".kittify/pricing.yaml")]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> PricingTable {
        PricingTable::from_yaml(
            "models:\n  claude-sonnet-4-5:\n    input_per_1k: 0.003\n    output_per_1k: 0.015\n    cache_read_per_1k: 0.0003\n    aliases: [sonnet]\n  gpt-4o:\n    input_per_1k: 0.0025\n    output_per_1k: 0.01\n  gpt-4o-2024-05-13:\n    input_per_1k: 0.005\n    output_per_1k: 0.015\n  claude-opus-4-20250514:\n    input_per_1k: 0.015\n    output_per_1k: 0.075\n",
            "test",
        )
        .unwrap()
    }

    #[test]
    fn resolves_reported_names() {
        let t = table();
        for (reported, id) in [
            ("claude-sonnet-4-5", "claude-sonnet-4-5"),
            ("claude-sonnet-4.5", "claude-sonnet-4-5"),
            ("Claude-Sonnet-4.5", "claude-sonnet-4-5"),
            ("anthropic/claude-sonnet-4-5[1m]", "claude-sonnet-4-5"),
            ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
            ("claude-sonnet-4-5@20250929", "claude-sonnet-4-5"),
            ("sonnet", "claude-sonnet-4-5"),
            ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),
            ("gpt-4o-2024-11-20", "gpt-4o"),
            ("openai/gpt-4o", "gpt-4o"),
            ("claude-opus-4", "claude-opus-4-20250514"),
        ] {
            assert_eq!(t.resolve_id(reported), Some(id), "{reported}");
        }
        // A different version must never borrow a neighbour's price.
        for unknown in ["claude-opus-4-6", "gpt-4", "gpt-4o-mini", "", "claude-sonnet"] {
            assert_eq!(t.resolve_id(unknown), None, "{unknown}");
        }
    }

    #[test]
    fn estimates_with_cache_rates_and_input_fallback() {
        let t = table();
        let tokens = Tokens { input: 1000, output: 500, cache_read: 10_000, cache_write: 1000, cache_write_1h: 0 };
        // 1000×0.000003 + 500×0.000015 + 10000×0.0000003 + 1000×0.000003 (write falls back to input)
        assert_eq!(t.resolve("claude-sonnet-4-5").unwrap().estimate(&tokens).unwrap().to_fixed(6), "0.016500");
    }

    #[test]
    fn one_hour_cache_writes_have_their_own_rate() {
        let t = PricingTable::builtin();
        let price = t.resolve("claude-sonnet-4-5").unwrap();
        // 5-minute writes at 1.25 × input, 1-hour writes at 2 × input (LiteLLM's rates).
        let five = price.estimate(&Tokens { cache_write: 1_000_000, ..Tokens::default() }).unwrap();
        let mixed =
            price.estimate(&Tokens { cache_write: 1_000_000, cache_write_1h: 400_000, ..Tokens::default() }).unwrap();
        assert_eq!((five.to_fixed(2), mixed.to_fixed(2)), ("3.75".to_owned(), "4.65".to_owned()));
        let yaml =
            PricingTable::from_yaml("models:\n  m:\n    input_per_1k: 1\n    cache_write_per_1k: 2\n", "t").unwrap();
        let all_1h = Tokens { cache_write: 1000, cache_write_1h: 5000, ..Tokens::default() };
        assert_eq!(
            yaml.resolve("m").unwrap().estimate(&all_1h).unwrap().to_fixed(0),
            "2",
            "defaults to the write rate, capped"
        );
    }

    #[test]
    fn upstream_worked_example() {
        let t = PricingTable::from_yaml(
            "models:\n  claude-sonnet-4-20250514:\n    input_per_1k: 0.003\n    output_per_1k: 0.015\n",
            "t",
        )
        .unwrap();
        let price = t.resolve("claude-sonnet-4-20250514").unwrap();
        let a = price.estimate(&Tokens { input: 1, output: 1, ..Tokens::default() }).unwrap();
        let b = price.estimate(&Tokens { input: 333, output: 77, ..Tokens::default() }).unwrap();
        assert_eq!(a.checked_add(b).unwrap().to_fixed(6), "0.002172");
        let c = price.estimate(&Tokens { input: 1000, output: 500, ..Tokens::default() }).unwrap();
        assert_eq!(c.to_fixed(6), "0.010500");
    }

    #[test]
    fn litellm_json_is_per_token() {
        let t = PricingTable::from_litellm_json(
            r#"{"sample_spec": {"mode": "chat"}, "claude-haiku-4-5": {"input_cost_per_token": 1e-06, "output_cost_per_token": 5e-06, "cache_read_input_token_cost": 1e-07}}"#,
            "t",
        )
        .unwrap();
        assert_eq!(t.len(), 1);
        let price = t.resolve("claude-haiku-4.5").unwrap();
        assert_eq!(
            price
                .estimate(&Tokens { input: 1_000_000, cache_read: 1_000_000, ..Tokens::default() })
                .unwrap()
                .to_fixed(2),
            "1.10"
        );
    }

    #[test]
    fn overrides_replace_and_add() {
        let mut t = table();
        t.apply_overrides(
            PricingTable::from_yaml(
                "models:\n  gpt-4o:\n    input_per_1k: 1\n  local-llama:\n    input_per_1k: 0\n",
                "o",
            )
            .unwrap(),
        );
        assert_eq!(t.resolve("gpt-4o").unwrap().input, Money::parse("0.001").unwrap());
        assert!(t.resolve("local-llama").is_some());
        assert!(t.resolve("sonnet").is_some());
    }

    #[test]
    fn bad_files_name_the_problem() {
        let err = PricingTable::from_yaml("models:\n  x:\n    input_per_1k: -1\n", "f.yaml").unwrap_err().to_string();
        assert!(err.contains("f.yaml") && err.contains("x.input_per_1k"), "{err}");
        let err = PricingTable::from_yaml("models:\n  x:\n    input_per_1K: 1\n", "f.yaml").unwrap_err().to_string();
        assert!(err.contains("f.yaml") && err.contains("input_per_1K"), "{err}");
        assert!(PricingTable::from_yaml("models: [1, 2", "f.yaml").is_err());
        assert!(PricingTable::from_yaml("", "f.yaml").unwrap().is_empty());
        assert!(PricingTable::from_yaml("models:\n", "f.yaml").unwrap().is_empty());
    }

    #[test]
    fn builtin_table_covers_current_models() {
        let t = PricingTable::builtin();
        for model in [
            "claude-opus-4-6",
            "claude-sonnet-4.5",
            "claude-haiku-4-5-20251001",
            "gpt-5",
            "gpt-5.1-codex",
            "gpt-4.1",
            "gemini-2.5-pro",
            "gemini-3.1-pro-preview",
            "o3",
        ] {
            assert!(t.resolve(model).is_some(), "{model} should be priced");
        }
    }
}
