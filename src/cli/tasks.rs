//! (being built)

use crate::context::Context;
use crate::error::CliError;
use clap::Args;

#[derive(Debug, Args)]
pub struct TasksArgs {}

pub fn run(_ctx: &Context, _args: TasksArgs) -> Result<(), CliError> {
    Err(CliError::failure("not implemented yet"))
}
