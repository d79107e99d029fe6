use clap::Parser;
use spec_kitty::cli::{Cli, run_then};
use std::process::ExitCode;

fn main() -> ExitCode {
    // A file-size limit (`ulimit -f`) must surface as an EFBIG write error, which appends undo, rather
    // than kill the process mid-line with SIGXFSZ.
    // SAFETY: changing a signal's disposition to SIG_IGN before any other thread exists.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
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
