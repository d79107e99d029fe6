//! (being built)

use crate::context::Context;
use crate::error::CliError;
use clap::Args;

#[derive(Debug, Args)]
pub struct MergeArgs {}

pub fn run(_ctx: &Context, _args: MergeArgs) -> Result<(), CliError> {
    Err(CliError::failure("not implemented yet"))
}
