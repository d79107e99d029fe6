//! `--help` and `--version` are part of the user interface: one snapshot holds the help of every command
//! and subcommand, found by walking clap's command tree, so drift shows up in review and a new command
//! cannot be left out.

use crate::support::TestEnv;
use clap::CommandFactory;

/// Every command path below the binary, parents before children, in clap's order (hidden commands
/// included: the legacy templates still call them).
fn command_paths() -> Vec<Vec<String>> {
    fn walk(command: &clap::Command, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        out.push(path.clone());
        for sub in command.get_subcommands() {
            path.push(sub.get_name().to_owned());
            walk(sub, path, out);
            path.pop();
        }
    }
    let mut out = Vec::new();
    walk(&spec_kitty::cli::Cli::command(), &mut Vec::new(), &mut out);
    out
}

#[test]
fn help_of_every_command() {
    let env = TestEnv::bare();
    let paths = command_paths();
    assert!(paths.len() > 40, "the whole tree, not just the top level: {paths:?}");
    let mut all = String::new();
    for path in &paths {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let run = env.run(&args).ok();
        assert!(run.stdout.contains("Usage: spec-kitty"), "spec-kitty {}:\n{}", args.join(" "), run.render());
        all.push_str(&format!("==================== spec-kitty {}\n", args.join(" ")));
        all.push_str(&run.render());
        all.push('\n');
    }
    insta::assert_snapshot!("help_every_command", all);
}

#[test]
fn version() {
    let env = TestEnv::bare();
    let run = env.run(&["--version"]).ok();
    assert_eq!(run.stdout, format!("spec-kitty {}\n", env!("CARGO_PKG_VERSION")));
}

#[test]
fn top_level_help_names_the_exit_codes_and_the_environment() {
    let env = TestEnv::bare();
    let help = env.run(&["--help"]).ok().stdout;
    assert!(help.contains("Exit codes: 0 success, 1 failure, 2 usage error"), "{help}");
    for var in ["SPEC_KITTY_HOME", "SPECIFY_REPO_ROOT", "SPEC_KITTY_NOW", "SPEC_KITTY_ID_SEED"] {
        assert!(help.contains(var), "{var} missing from --help");
    }
    // `help <command>` is clap's alias of `<command> --help`.
    assert_eq!(env.run(&["help", "sync", "now"]).ok().stdout, env.run(&["sync", "now", "--help"]).ok().stdout);
}

#[test]
fn completions_are_generated_for_every_shell() {
    let env = TestEnv::bare();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let run = env.run(&["completions", shell]).ok();
        assert!(run.stdout.contains("spec-kitty"), "{shell} completions mention the binary");
        assert!(run.stdout.contains("telemetry"), "{shell} completions include subcommands");
    }
    let run = env.run(&["completions", "tcsh"]).expect_code(2);
    assert!(run.stderr.contains("invalid value 'tcsh'"), "{}", run.stderr);
}
