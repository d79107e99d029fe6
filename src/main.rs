use clap::Parser;
use spec_kitty::cli::{Cli, run_then};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Errors are printed as soon as the command ends, before any exit flush of queued sync events.
    let result = run_then(cli, |result| {
        if let Err(error) = result
            && !error.is_broken_pipe()
        {
            eprintln!("{}", error.render());
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.is_broken_pipe() => ExitCode::SUCCESS,
        Err(error) => ExitCode::from(error.code),
    }
}
