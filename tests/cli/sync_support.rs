//! The loopback sync fixture of the tests that drive the binary against the reference server: start the
//! server on 127.0.0.1 (one user in one team), point `~/.spec-kitty/config.toml` at it and log in through
//! `spec-kitty auth login --password-stdin`, plus the helpers those tests share (the state directory,
//! the credentials' tokens, stdin and terminal runs, queueing through the library).
//!
//! ```ignore
//! let SyncFixture { server, env, .. } = SyncFixture::logged_in();
//! let SyncFixture { server, env, login, .. } =
//!     SyncFixture::builder().env(feature_with_wps(3)).config("exit_flush_ms = 0\n").logged_in();
//! let (server, _login) = SyncFixture::builder().log_in(&env_owned_elsewhere);
//! ```

use crate::server::{ServerConfig, ServerHandle};
use crate::support::{Run, TestEnv};
use serde_json::Value;
use spec_kitty::sync::queue::{OfflineQueue, QueueLimits, QueuedEvent};
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// An account the reference server accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub username: String,
    pub password: String,
}

/// A project and home (`env`) configured for a running reference server (`server`) and logged in to it
/// as `user`; `login` is the output of that `auth login`.
pub struct SyncFixture {
    pub server: ServerHandle,
    pub env: TestEnv,
    pub user: User,
    pub login: Run,
}

impl SyncFixture {
    /// The default server (`alice`/`secret` in team `acme`), a fresh project ([`TestEnv::new`]), nothing
    /// in `[sync]` but `server_url`, logged in.
    pub fn logged_in() -> SyncFixture {
        SyncFixture::builder().logged_in()
    }

    pub fn builder() -> SyncSetup {
        SyncSetup { server: ServerConfig::default(), env: None, config: String::new() }
    }
}

/// How to build a [`SyncFixture`]: the server's configuration, the project, extra `[sync]` lines.
#[must_use]
pub struct SyncSetup {
    server: ServerConfig,
    env: Option<TestEnv>,
    config: String,
}

impl SyncSetup {
    /// The server's configuration (default: [`ServerConfig::default`]); its first user logs in.
    pub fn server(mut self, config: ServerConfig) -> SyncSetup {
        self.server = config;
        self
    }

    /// The project to use (default: [`TestEnv::new`]), e.g. `feature_with_wps(1)`.
    pub fn env(mut self, env: TestEnv) -> SyncSetup {
        self.env = Some(env);
        self
    }

    /// Extra lines for the `[sync]` table of `config.toml`, each ending in a newline.
    pub fn config(mut self, lines: &str) -> SyncSetup {
        self.config = lines.to_owned();
        self
    }

    /// Starts the server, configures the project's home for it and logs in through the binary.
    pub fn logged_in(mut self) -> SyncFixture {
        let env = self.env.take().unwrap_or_else(TestEnv::new);
        let user = self.user();
        let (server, login) = self.log_in(&env);
        SyncFixture { server, env, user, login }
    }

    /// [`SyncSetup::logged_in`] for a project owned elsewhere (the builder's own `env` is ignored):
    /// the running server and the output of the login.
    pub fn log_in(self, env: &TestEnv) -> (ServerHandle, Run) {
        let user = self.user();
        let server = spawn(self.server);
        configure(env, server.url(), &self.config);
        let login = login_as(env, &user);
        (server, login)
    }

    fn user(&self) -> User {
        let (username, password) = self.server.users.first().expect("the server has a user");
        User { username: username.clone(), password: password.clone() }
    }
}

/// Starts the reference server on loopback.
pub fn spawn(config: ServerConfig) -> ServerHandle {
    ServerHandle::spawn(config).expect("start the sync server")
}

/// `$SPEC_KITTY_HOME` of the test: `~/.spec-kitty`.
pub fn state_dir(env: &TestEnv) -> PathBuf {
    env.home().join(".spec-kitty")
}

/// Writes `~/.spec-kitty/config.toml` with the server URL and extra `[sync]` lines.
pub fn configure(env: &TestEnv, url: &str, extra: &str) {
    std::fs::create_dir_all(state_dir(env)).unwrap();
    std::fs::write(state_dir(env).join("config.toml"), format!("[sync]\nserver_url = \"{url}\"\n{extra}")).unwrap();
}

/// Runs with `stdin` piped in.
pub fn run_stdin(env: &TestEnv, args: &[&str], stdin: &str) -> Run {
    let mut cmd = env.command();
    cmd.args(args);
    let out = assert_cmd::Command::from_std(cmd).write_stdin(stdin).output().expect("spawn spec-kitty");
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

/// Logs in as the default user (`alice`) through the binary, asserting success.
pub fn login(env: &TestEnv) -> Run {
    run_stdin(env, &["auth", "login", "--username", "alice", "--password-stdin"], "secret\n").ok()
}

/// Logs in as `user` through the binary, asserting success.
pub fn login_as(env: &TestEnv, user: &User) -> Run {
    let stdin = format!("{}\n", user.password);
    run_stdin(env, &["auth", "login", "--username", &user.username, "--password-stdin"], &stdin).ok()
}

/// The access and refresh tokens in the credentials file.
pub fn tokens(env: &TestEnv) -> (String, String) {
    let text = std::fs::read_to_string(state_dir(env).join("credentials")).unwrap();
    let value: toml::Table = text.parse().unwrap();
    let get = |k: &str| value["tokens"][k].as_str().unwrap().to_owned();
    (get("access"), get("refresh"))
}

/// A deterministic, valid-looking ULID.
pub fn ulid(n: u64) -> String {
    ulid::Ulid::from_parts(1_771_240_353_000 + n, u128::from(n) + 1).to_string()
}

/// A HistoryAdded envelope as the CLI queues it.
pub fn envelope(event_id: &str, n: u64) -> String {
    format!(
        "{{\"event_id\": \"{event_id}\", \"event_type\": \"HistoryAdded\", \"aggregate_id\": \"WP01\", \"aggregate_type\": \"WorkPackage\", \"payload\": {{\"wp_id\": \"WP01\", \"entry_type\": \"note\", \"entry_content\": \"offline note {n}\", \"author\": \"user\"}}, \"node_id\": \"10de6763124b\", \"lamport_clock\": {n}, \"causation_id\": null, \"timestamp\": \"2026-02-16T11:12:33+00:00\", \"team_slug\": \"local\", \"project_uuid\": \"550e8400-e29b-41d4-a716-446655440000\", \"project_slug\": \"demo\", \"git_branch\": null, \"head_commit_sha\": null, \"repo_slug\": null}}"
    )
}

/// Queues `count` events through the library (as many offline commands would); returns their ids.
pub fn queue_events(env: &TestEnv, first: u64, count: u64) -> Vec<String> {
    let mut queue = OfflineQueue::open(&state_dir(env).join("queue.db"), QueueLimits::default()).unwrap();
    let events: Vec<QueuedEvent> = (first..first + count)
        .map(|n| {
            let id = ulid(n);
            QueuedEvent { data: envelope(&id, n), event_id: id, event_type: "HistoryAdded".into(), lamport_clock: n }
        })
        .collect();
    assert_eq!(queue.enqueue(&events, 1_771_240_000).unwrap().inserted, count as usize);
    events.into_iter().map(|e| e.event_id).collect()
}

/// The command's stdout as JSON.
pub fn json(run: &Run) -> Value {
    serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", run.render()))
}

/// Every regular file under `dir`.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Runs `cmd` with stderr on a pseudo-terminal; returns the run (stderr empty) and what the terminal got.
pub fn run_with_terminal_stderr(mut cmd: std::process::Command) -> (Run, String) {
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty fills two descriptors we then own; the name/termios/winsize arguments are optional.
    let rc =
        unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors are fresh from openpty and owned by nobody else.
    let (master, slave) = unsafe { (std::fs::File::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    cmd.stderr(Stdio::from(slave)).stdout(Stdio::piped()).stdin(Stdio::null());
    let child = cmd.spawn().expect("spawn spec-kitty");
    drop(cmd); // closes our copy of the terminal's slave side, so reading ends when the child exits
    let reader = std::thread::spawn(move || {
        let mut master = master;
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        // Linux reports EIO once the last slave descriptor is closed.
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&out).into_owned()
    });
    let output = child.wait_with_output().unwrap();
    let terminal = reader.join().unwrap();
    let run = Run {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::new(),
        code: output.status.code().unwrap_or(-1),
    };
    (run, terminal)
}
