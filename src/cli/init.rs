//! `spec-kitty init`: make the current directory a spec-kitty project.

use super::common::print_json_line;
use super::output;
use crate::context::Context;
use crate::error::CliError;
use crate::git::Repo;
use crate::project::config::{self, CONFIG_FILE, ProjectConfig};
use crate::project::identity;
use clap::Args;
use serde_json::json;

#[derive(Debug, Args)]
#[command(
    after_help = "Creates .kittify/config.yaml (with a project identity: uuid, slug, node_id) and kitty-specs/.\n\
Safe to re-run: existing files are never overwritten, and an existing config.yaml only gains the\n\
identity keys it lacks (its other lines and comments are kept byte for byte)."
)]
pub struct InitArgs {
    /// Project slug for the identity (default: from the git remote `origin`, else the directory name).
    #[arg(long)]
    slug: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &Context, args: InitArgs) -> Result<(), CliError> {
    let root = ctx.cwd.clone();
    let mut created = Vec::new();
    for dir in [".kittify", "kitty-specs"] {
        let path = root.join(dir);
        if !path.is_dir() {
            std::fs::create_dir_all(&path)
                .map_err(|e| CliError::failure(format!("cannot create {}: {e}", path.display())))?;
            created.push(format!("{dir}/"));
        }
    }

    let config_path = root.join(CONFIG_FILE);
    let existing_text = match crate::fsutil::read_small_string(&config_path, crate::fsutil::SMALL_FILE_CAP) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(CliError::failure(format!("cannot read {}: {e}", config_path.display()))),
    };
    let text = existing_text.clone().unwrap_or_default();
    let current = ProjectConfig::parse(&text).map_err(|message| {
        CliError::failure(format!("invalid YAML in {}: {message}", config_path.display()))
            .hint("fix the file by hand; init never rewrites an existing config")
    })?;
    let mut wanted = current.project.clone();
    if wanted.slug.is_none() {
        wanted.slug = args.slug.clone();
    }
    let origin = Repo::at(&root).and_then(|repo| repo.run(&["remote", "get-url", "origin"]).ok());
    let identity = identity::complete_identity(&wanted, ctx, &root, origin.as_deref());
    if let Some(updated) = config::add_missing_identity(&text, &identity) {
        crate::fsutil::write_atomic(&config_path, updated.as_bytes())
            .map_err(|e| CliError::failure(format!("cannot write {}: {e}", config_path.display())))?;
        created.push(if existing_text.is_some() {
            format!("{CONFIG_FILE} (project identity)")
        } else {
            CONFIG_FILE.to_owned()
        });
    }
    let identity = ProjectConfig::load(&root).map(|c| c.project).unwrap_or(identity);

    if args.json {
        return print_json_line(&json!({
            "result": "success",
            "project_root": root.display().to_string(),
            "created": created,
            "project": {"uuid": identity.uuid, "slug": identity.slug, "node_id": identity.node_id},
        }));
    }
    let text = if created.is_empty() {
        format!("✓ spec-kitty project already initialized in {}\n", root.display())
    } else {
        let mut text = format!("✓ Initialized spec-kitty project in {}\n", root.display());
        for item in &created {
            text.push_str(&format!("  created {item}\n"));
        }
        text
    };
    output::print(&text)?;
    Ok(())
}
