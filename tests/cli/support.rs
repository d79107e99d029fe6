//! The hermetic environment every integration test runs the real binary in: a temporary project and
//! home directory, a fixed clock that advances one second per command, and a per-command id seed.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::Output;

/// Start of the test clock; command n runs at this time + n seconds.
const EPOCH: i64 = 1_771_240_353; // 2026-02-16T11:12:33Z

pub struct TestEnv {
    dir: tempfile::TempDir,
    commands: Cell<i64>,
}

/// The outcome of one command, rendered for snapshots as stdout, stderr and the exit status.
pub struct Run {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

impl Run {
    fn from_output(output: Output) -> Self {
        Run {
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            code: output.status.code().unwrap_or(-1),
        }
    }

    /// Panics with the whole output unless the command exited with `code`.
    #[track_caller]
    pub fn expect_code(self, code: i32) -> Self {
        assert_eq!(self.code, code, "unexpected exit status\n{}", self.render());
        self
    }

    #[track_caller]
    pub fn ok(self) -> Self {
        self.expect_code(0)
    }

    /// stdout, then stderr and the exit status when they are notable (the snapshot format).
    pub fn render(&self) -> String {
        let mut text = self.stdout.clone();
        if !self.stderr.is_empty() {
            text.push_str("------- stderr -------\n");
            text.push_str(&self.stderr);
        }
        if self.code != 0 {
            text.push_str(&format!("[exit status: {}]\n", self.code));
        }
        text
    }
}

impl TestEnv {
    /// A project directory with `.kittify/` and `kitty-specs/`.
    pub fn new() -> Self {
        let env = Self::bare();
        std::fs::create_dir_all(env.root().join(".kittify")).unwrap();
        std::fs::create_dir_all(env.root().join("kitty-specs")).unwrap();
        env
    }

    /// An empty directory that is not a project.
    pub fn bare() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("project")).unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
        TestEnv { dir, commands: Cell::new(0) }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("project")
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.root().join(relative)
    }

    pub fn write(&self, relative: &str, contents: impl AsRef<[u8]>) {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }

    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.path(relative)).unwrap_or_else(|e| panic!("read {relative}: {e}"))
    }

    /// A command for the binary, run in the project root with the pinned environment.
    pub fn command(&self) -> std::process::Command {
        let n = self.commands.get() + 1;
        self.commands.set(n);
        let now =
            chrono::DateTime::from_timestamp(EPOCH + n, 0).unwrap().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut cmd = std::process::Command::new(binary());
        cmd.current_dir(self.root())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .env("SPEC_KITTY_HOME", self.home().join(".spec-kitty"))
            // Prompt files and other temporaries stay inside the test's directory, never in /tmp.
            .env("TMPDIR", self.dir.path().join("tmp"))
            .env("SPEC_KITTY_NOW", now)
            .env("SPEC_KITTY_ID_SEED", n.to_string())
            .env("COLUMNS", "100");
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let mut cmd = self.command();
        cmd.args(args);
        Run::from_output(assert_cmd::Command::from_std(cmd).output().expect("spawn spec-kitty"))
    }

    /// Runs with extra environment variables.
    pub fn run_with_env(&self, args: &[&str], vars: &[(&str, &str)]) -> Run {
        let mut cmd = self.command();
        cmd.args(args);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        Run::from_output(assert_cmd::Command::from_std(cmd).output().expect("spawn spec-kitty"))
    }

    /// Runs git in `dir` with the test's home and no system configuration, asserting success; returns the
    /// trimmed stdout.
    pub fn git_in(&self, dir: &Path, args: &[&str]) -> String {
        let output = std::process::Command::new("git")
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .args(args)
            .output()
            .expect("run git");
        assert!(output.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).trim_end().to_owned()
    }

    /// Runs git in the project root (see [`TestEnv::git_in`]).
    pub fn git(&self, args: &[&str]) -> String {
        self.git_in(&self.root(), args)
    }

    /// Makes the project a git repository on `main` with a fixed identity, and commits everything in it.
    pub fn init_git(&self) {
        self.git(&["init", "--quiet", "-b", "main"]);
        for (key, value) in
            [("user.name", "Test User"), ("user.email", "test@example.com"), ("commit.gpgsign", "false")]
        {
            self.git(&["config", key, value]);
        }
        self.commit_all("Initial commit");
    }

    pub fn commit_all(&self, message: &str) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "--quiet", "--allow-empty", "-m", message]);
    }

    /// Emits an execution event through the binary and asserts success.
    pub fn emit(&self, args: &[&str]) -> Run {
        let mut full = vec!["agent", "telemetry", "emit"];
        full.extend_from_slice(args);
        self.run(&full).ok()
    }
}

pub fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_spec-kitty"))
}

/// The size of a stress test. CI sets `SPEC_KITTY_TEST_STRESS=full` and runs every stress test at the
/// size the budgets in DESIGN.md name (`full`); by default a fifth of it, so that a local `cargo test`
/// stays quick while still exercising every race.
pub fn stress<T: TryFrom<u64> + Into<u64> + Copy>(full: T) -> T {
    if std::env::var("SPEC_KITTY_TEST_STRESS").is_ok_and(|v| v == "full") {
        return full;
    }
    T::try_from((full.into() / 5).max(1)).unwrap_or(full)
}

/// `../shared` next to the repository, when present (CI always has it).
pub fn shared_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("note: ../shared is absent; skipping a comparison against upstream reference data");
        None
    }
}

/// The upstream fixture project, when `../shared` is present.
pub fn upstream_fixture() -> Option<PathBuf> {
    shared_dir().map(|d| d.join("fixtures/upstream-592dca5eb"))
}

/// Parses every line of a JSONL file as JSON.
pub fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

/// Waits for processes started at once (stdout piped) and parses each one's stdout as one JSON value;
/// every one must have succeeded.
pub fn json_outputs(children: Vec<std::process::Child>) -> Vec<serde_json::Value> {
    children
        .into_iter()
        .map(|child| {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            serde_json::from_slice(&out.stdout).unwrap()
        })
        .collect()
}
