use clap::Parser;
use spec_kitty::cli::{Cli, run_then};
use spec_kitty::diagnostics;
use spec_kitty::error::CliError;
use std::process::ExitCode;

fn main() -> ExitCode {
    // A file-size limit (`ulimit -f`) must surface as an EFBIG write error, which appends undo, rather
    // than kill the process mid-line with SIGXFSZ.
    // SAFETY: changing a signal's disposition to SIG_IGN before any other thread exists.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    let cli = Cli::parse();
    // Diagnostics only when asked (-v, SPEC_KITTY_LOG) or for the daemon's log; otherwise nothing is built.
    if let Err(error) = diagnostics::install(cli.log_profile(), cli.verbose, std::env::var_os(diagnostics::LOG_VAR)) {
        let error = CliError::usage(error.to_string()).hint(
            "unset SPEC_KITTY_LOG, or set it to directives such as `debug` (see the README's Diagnostics section)",
        );
        eprintln!("{}", error.render());
        return ExitCode::from(error.code);
    }
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
