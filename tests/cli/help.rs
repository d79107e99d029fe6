//! `--help` and `--version` are part of the user interface: snapshot them so drift shows up in review.

use crate::support::TestEnv;

#[test]
fn top_level_help() {
    let env = TestEnv::bare();
    insta::assert_snapshot!("help_top_level", env.run(&["--help"]).ok().render());
}

#[test]
fn telemetry_help() {
    let env = TestEnv::bare();
    insta::assert_snapshot!("help_telemetry", env.run(&["agent", "telemetry", "--help"]).ok().render());
}

#[test]
fn emit_help() {
    let env = TestEnv::bare();
    insta::assert_snapshot!("help_emit", env.run(&["agent", "telemetry", "emit", "--help"]).ok().render());
}

#[test]
fn cost_help() {
    let env = TestEnv::bare();
    insta::assert_snapshot!("help_cost", env.run(&["agent", "telemetry", "cost", "--help"]).ok().render());
}

#[test]
fn version() {
    let env = TestEnv::bare();
    let run = env.run(&["--version"]).ok();
    assert_eq!(run.stdout, format!("spec-kitty {}\n", env!("CARGO_PKG_VERSION")));
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
