//! `spec-kitty research`: scaffold the feature's research artefacts (Phase 0 of planning) —
//! `research.md`, `data-model.md`, `research/evidence-log.csv`, `research/source-register.csv` — from the
//! project's templates or built-in stubs (see `crate::workflow::research`). Existing files are kept unless
//! `--force`. As upstream, an unfilled plan.md (still the template) is refused and nothing is committed.
//! Left out on purpose: upstream's banner, governance diagnostics, and the legacy per-feature worktree
//! location (`.worktrees/<feature>/kitty-specs/…`); planning files always live in the main checkout here.

use super::common::{FeatureArg, discover, json_aware, print_json_line, resolve_feature};
use super::output;
use crate::context::Context;
use crate::error::CliError;
use crate::project::meta::FeatureMeta;
use crate::workflow::research::{self, Action, Source};
use clap::Args;
use serde_json::json;

#[derive(Debug, Args)]
pub struct ResearchArgs {
    #[command(flatten)]
    feature: FeatureArg,
    /// Overwrite existing research artefacts with fresh templates.
    #[arg(long)]
    force: bool,
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &Context, args: ResearchArgs) -> Result<(), CliError> {
    json_aware(args.json, || scaffold(ctx, &args))
}

fn scaffold(ctx: &Context, args: &ResearchArgs) -> Result<(), CliError> {
    let project = discover(ctx)?;
    let feature = resolve_feature(ctx, &project, args.feature.slug.as_deref())?;
    let mission = FeatureMeta::load(&feature.dir)
        .ok()
        .flatten()
        .and_then(|meta| meta.str("mission").filter(|m| !m.is_empty()).map(str::to_owned))
        .unwrap_or_else(|| "software-dev".to_owned());
    let outcomes = research::scaffold(&project.root, &feature.slug, &feature.dir, &mission, args.force)?;

    let list = |action: Action| -> Vec<&str> {
        outcomes.iter().filter(|o| o.action == action).map(|o| o.artifact.relative).collect()
    };
    if args.json {
        return print_json_line(&json!({
            "result": "success",
            "feature": feature.slug,
            "mission": mission,
            "feature_dir": feature.dir.display().to_string(),
            "created": list(Action::Created),
            "replaced": list(Action::Replaced),
            "skipped": list(Action::Skipped),
            "files": outcomes.iter().map(|o| json!({
                "path": o.artifact.relative,
                "action": o.action.as_str(),
                "source": match &o.source {
                    Some(Source::Template(path)) => json!(project.display_path(path)),
                    Some(Source::BuiltIn) => json!("built-in"),
                    None => json!(null),
                },
            })).collect::<Vec<_>>(),
        }));
    }
    let mut text =
        format!("Research artefacts for {} (mission {mission}) in {}:\n", feature.slug, feature.dir.display());
    for outcome in &outcomes {
        let from = match &outcome.source {
            Some(Source::Template(path)) => format!(" (from {})", project.display_path(path)),
            Some(Source::BuiltIn) => " (built-in stub)".to_owned(),
            None => " (exists; --force replaces it)".to_owned(),
        };
        let mark = if outcome.action == Action::Skipped { "·" } else { "✓" };
        text.push_str(&format!("  {mark} {:<8} {}{from}\n", outcome.action.as_str(), outcome.artifact.relative));
    }
    text.push_str(
        "Next: record decisions in research.md, entities in data-model.md and every source and finding in the \
         CSV logs, then continue with /spec-kitty.plan.\n",
    );
    output::print(&text)?;
    Ok(())
}
