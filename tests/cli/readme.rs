//! The README is the user's front door: its demo output and its example commands must stay true.

use crate::support::TestEnv;
use std::path::Path;

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap()
}

pub fn demo_project() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-project")
}

#[test]
fn quick_start_output_matches_the_demo_report() {
    let readme = readme();
    let shown = readme.split("The first command prints:\n\n```text\n").nth(1).expect("README shows the demo output");
    let shown = &shown[..shown.find("```").unwrap()];
    let env = TestEnv::bare();
    let run =
        env.run(&["-C", demo_project().to_str().unwrap(), "agent", "telemetry", "cost", "--group-by", "role"]).ok();
    assert_eq!(run.stdout, shown, "README quick-start output is stale; paste the new report into README.md");
}

/// Every `spec-kitty …` example in a ```sh block runs successfully, in order, on a copy of the demo
/// project committed to a fresh git repository.
#[test]
fn example_commands_run() {
    let env = TestEnv::new();
    copy_dir(&demo_project(), &env.root());
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git").current_dir(env.root()).args(args).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    env.write(
        "litellm-prices.json",
        r#"{"claude-sonnet-4-5": {"input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05}}"#,
    );
    git(&["init", "--quiet", "--initial-branch", "main"]);
    git(&["config", "user.email", "demo@example.com"]);
    git(&["config", "user.name", "Demo"]);
    git(&["add", "-A"]);
    git(&["commit", "--quiet", "-m", "Demo project"]);

    let commands = example_commands(&readme());
    assert!(commands.len() >= 8, "found the README examples: {commands:?}");
    for command in commands {
        let words = shell_words(&command);
        let mut cmd = env.command();
        cmd.args(&words[1..]);
        let out = cmd.output().unwrap();
        let run = crate::support::Run {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            code: out.status.code().unwrap_or(-1),
        };
        assert_eq!(run.code, 0, "README example failed: {command}\n{}", run.render());
    }
}

/// Splits a command line on spaces, keeping "double-quoted words" together.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for ch in line.chars() {
        match ch {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !current.is_empty() {
                    words.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// Lines starting with `spec-kitty ` inside ```sh blocks, with `\` continuations joined and trailing
/// `# comments` removed.
fn example_commands(readme: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut in_sh = false;
    let mut pending = String::new();
    for line in readme.lines() {
        if line.starts_with("```") {
            in_sh = line == "```sh";
            continue;
        }
        if !in_sh {
            continue;
        }
        let code = line.split("  #").next().unwrap().trim_end();
        if pending.is_empty() && !code.starts_with("spec-kitty ") {
            continue;
        }
        match code.strip_suffix('\\') {
            Some(head) => pending.push_str(head),
            None => {
                pending.push_str(code);
                commands.push(std::mem::take(&mut pending));
            }
        }
    }
    commands
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
