//! `spec-kitty implement <WP>`: create (or reuse) a work package's workspace and claim the work package
//! ([`crate::ops::implement`]); this module renders the result.

use super::common::{self, FeatureArg, discover, print_json_line, resolve_feature};
use super::output;
use crate::context::Context;
use crate::error::CliError;
use crate::ops::implement::{Implement, ImplementOutcome};
use crate::ops::{self, Scope};
use crate::sync::Causation;
use clap::Args;
use serde_json::json;

#[derive(Debug, Args)]
pub struct ImplementArgs {
    /// Work package to implement (WP01, wp1, WP01-slug, …).
    wp: String,
    #[command(flatten)]
    feature: FeatureArg,
    /// Start from this work package's branch (default: the work package's only dependency).
    #[arg(long, value_name = "WPxx")]
    base: Option<String>,
    /// Go ahead although every dependency is done (normally they are merged first).
    #[arg(long)]
    force: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &Context, args: ImplementArgs) -> Result<(), CliError> {
    let wp_arg = args.wp.clone();
    common::logged(ctx, args.json, Some(&wp_arg), None, || implement(ctx, &args))
}

fn implement(ctx: &Context, args: &ImplementArgs) -> Result<(), CliError> {
    let project = discover(ctx)?;
    let feature = resolve_feature(ctx, &project, args.feature.slug.as_deref())?;
    let request = Implement { wp: args.wp.clone(), base: args.base.clone(), force: args.force };
    let outcome = ops::implement::implement(&Scope::new(ctx, &project, &feature), &request)?;
    outcome.warnings.iter().for_each(|w| output::warn(w));
    common::publish(ctx, Some(&project), &outcome.events, Causation::None);
    let workspace = &outcome.prepared.workspace;
    if args.json {
        return print_json_line(&json!({
            "workspace": workspace.relative,
            "workspace_path": workspace.path.display().to_string(),
            "branch": workspace.branch,
            "feature": feature.slug,
            "wp_id": outcome.wp.id,
            "base": outcome.prepared.base_label,
            "status": if workspace.created { "created" } else { "reused" },
        }));
    }
    output::print(&summary(&outcome))?;
    Ok(())
}

fn summary(outcome: &ImplementOutcome) -> String {
    let ws = &outcome.prepared.workspace;
    let mut text = match (&ws.branch, ws.created) {
        (Some(branch), true) => {
            let base = outcome.prepared.base_label.as_deref().unwrap_or("the current branch");
            format!("✓ Created workspace {} on branch {branch} (from {base})\n", ws.relative)
        }
        (Some(branch), false) => format!("✓ Reusing workspace {} (branch {branch})\n", ws.relative),
        (None, true) => format!("✓ Created workspace {} (a plain directory: no git repository)\n", ws.relative),
        (None, false) => format!("✓ Reusing workspace {}\n", ws.relative),
    };
    if outcome.claimed {
        text.push_str(&format!("✓ {} claimed for implementation (lane: doing)\n", outcome.wp.id));
    }
    text.push_str(&format!("\nNext: cd {}\n", ws.path.display()));
    text
}
