//! Diagnostics on stderr (issue 11 item 3): `-v`/`-vv` and `SPEC_KITTY_LOG` show what a command does
//! underneath (HTTP attempts and retries, git invocations, lock acquisitions), a default run shows
//! none of it and prints exactly what it printed before, an invalid `SPEC_KITTY_LOG` is a usage error,
//! and no secret (password, access or refresh token, Authorization header) ever reaches the log.

use crate::server::{ServerConfig, ServerHandle};
use crate::support::{Run, TestEnv};
use crate::sync_support::{configure, login, queue_events, spawn, state_dir, tokens};

/// A diagnostics line: `<time> <LEVEL> <module>: …` (see `spec_kitty::diagnostics`).
fn is_diagnostic(line: &str) -> bool {
    let mut parts = line.splitn(3, ' ');
    let (time, level) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    time.len() == "2026-02-16T11:12:33.123Z".len()
        && time.ends_with('Z')
        && ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"].contains(&level)
}

/// The lines of stderr that are not diagnostics.
fn without_diagnostics(stderr: &str) -> String {
    stderr.lines().filter(|l| !is_diagnostic(l)).map(|l| format!("{l}\n")).collect()
}

#[track_caller]
fn assert_quiet(run: &Run) {
    assert!(
        !run.stderr.lines().any(is_diagnostic) && !run.stderr.contains("spec_kitty::"),
        "diagnostics without -v or SPEC_KITTY_LOG:\n{}",
        run.render()
    );
}

/// Runs `args` with `vars` and `stdin` piped in.
fn run_stdin_with_env(env: &TestEnv, args: &[&str], vars: &[(&str, &str)], stdin: &str) -> Run {
    let mut cmd = env.command();
    cmd.args(args);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = assert_cmd::Command::from_std(cmd).write_stdin(stdin).output().expect("spawn spec-kitty");
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

/// `sync now` against a 127.0.0.1 port nobody listens on: `-v` and `SPEC_KITTY_LOG=debug` show each
/// connection attempt, the backoff before each retry and the decision to give up; the default run
/// shows none of it, and all three print the same outcome and exit 4.
#[test]
fn sync_now_against_a_dead_port_shows_the_attempts_and_retries_only_when_asked() {
    let mut server = spawn(ServerConfig::default());
    let env = TestEnv::new();
    configure(&env, server.url(), "");
    login(&env);
    queue_events(&env, 1, 3);
    let batch_url = format!("{}/api/v1/events/batch/", server.url());
    server.shutdown();
    drop(server);

    let quiet = env.run(&["sync", "now"]).expect_code(4);
    assert_quiet(&quiet);
    assert!(quiet.stderr.starts_with("error: the server is unreachable (cannot connect"), "{}", quiet.render());

    for (args, vars) in [
        (&["-v", "sync", "now"][..], &[][..]),
        (&["sync", "now", "-v"][..], &[][..]),
        (&["sync", "now"][..], &[("SPEC_KITTY_LOG", "debug")][..]),
    ] {
        let run = env.run_with_env(args, vars).expect_code(4);
        let stderr = &run.stderr;
        let attempts = stderr
            .lines()
            .filter(|l| {
                is_diagnostic(l)
                    && l.contains(" DEBUG spec_kitty::sync::http: ")
                    && l.contains(&format!("POST {batch_url} failed error=cannot connect"))
            })
            .count();
        assert_eq!(attempts, 3, "three quick attempts when nobody listens ({args:?} {vars:?}):\n{stderr}");
        for retry in ["attempt=1 attempts=3", "attempt=2 attempts=3"] {
            assert!(
                stderr.lines().any(|l| l.contains("request failed; retrying after a backoff")
                    && l.contains(retry)
                    && l.contains(" wait=")),
                "the backoff before each retry ({retry}):\n{stderr}"
            );
        }
        assert!(stderr.contains("request failed; giving up attempt=3 attempts=3"), "{stderr}");
        assert!(stderr.contains("delivery ended: the server is unreachable"), "{stderr}");
        // The command's own output is unchanged: same stdout, same error lines, same exit code.
        assert_eq!(run.stdout, quiet.stdout, "{args:?} {vars:?}");
        assert_eq!(without_diagnostics(stderr), quiet.stderr, "{args:?} {vars:?}");
    }
}

/// A git project with one feature of three planned work packages (subtasks done), committed.
fn git_feature() -> TestEnv {
    let env = TestEnv::new();
    env.init_git();
    env.run(&["init"]).ok();
    env.commit_all("spec-kitty init");
    env.run(&["agent", "feature", "create-feature", "demo"]).ok();
    let mut tasks = String::from("# Work Packages: Demo\n");
    for n in 1..=3 {
        tasks.push_str(&format!(
            "\n## Work Package WP{n:02}: Part {n} (Priority: P1)\n\n### Included Subtasks\n- [x] T{n:03} Build part {n}\n"
        ));
        env.write(
            &format!("kitty-specs/001-demo/tasks/WP{n:02}-part-{n}.md"),
            format!("---\nwork_package_id: WP{n:02}\ntitle: Part {n}\nlane: \"planned\"\nagent: ''\nshell_pid: ''\n---\n\n# Part {n}\n\n## Activity Log\n\n- 2026-02-16T10:00:00Z – system – lane=planned – Prompt generated\n"),
        );
    }
    env.write("kitty-specs/001-demo/tasks.md", tasks);
    env.commit_all("Work packages");
    env
}

/// `move-task` with `-v` or `SPEC_KITTY_LOG=debug` shows the feature lock being taken and every git
/// invocation (arguments, exit status, duration); without them it shows nothing, and the output is the
/// same either way.
#[test]
fn move_task_shows_git_invocations_and_the_lock_only_when_asked() {
    let env = git_feature();
    let feature_dir = env.path("kitty-specs/001-demo").canonicalize().unwrap();
    let quiet = env.run(&["agent", "tasks", "move-task", "WP01", "--to", "doing", "--note", "go"]).ok();
    assert_quiet(&quiet);
    assert!(quiet.stdout.contains("WP01"), "{}", quiet.render());

    for (wp, args, vars) in [("WP02", &["-v"][..], &[][..]), ("WP03", &[][..], &[("SPEC_KITTY_LOG", "debug")][..])] {
        let mut full = args.to_vec();
        full.extend(["agent", "tasks", "move-task", wp, "--to", "doing", "--note", "go"]);
        let run = env.run_with_env(&full, vars).ok();
        let stderr = &run.stderr;
        assert!(
            stderr.lines().any(|l| is_diagnostic(l)
                && l.contains(" DEBUG spec_kitty::fsutil: exclusive lock acquired")
                && l.ends_with(&format!("path={}", feature_dir.display()))),
            "the feature lock ({wp}):\n{stderr}"
        );
        let git: Vec<&str> = stderr.lines().filter(|l| l.contains(" DEBUG spec_kitty::git: git ")).collect();
        let wp_file = format!("kitty-specs/001-demo/tasks/{wp}-part-{}.md", &wp[3..]);
        for expected in [format!("git add -- {wp_file}"), "git commit --quiet --no-verify -m '".to_owned()] {
            assert!(
                git.iter().any(|l| l.contains(&expected) && l.contains(" status=0 elapsed=")),
                "{expected}:\n{stderr}"
            );
        }
        assert!(git.iter().all(|l| l.contains(" status=") && l.contains(" elapsed=")), "{stderr}");
        assert_eq!(run.stdout, quiet.stdout.replace("WP01", wp), "the output does not change ({wp})");
        assert_eq!(without_diagnostics(stderr), quiet.stderr.replace("WP01", wp));
    }
    let log = env.git(&["log", "--format=%s"]);
    assert_eq!(log.lines().filter(|l| l.contains("to in_progress")).count(), 3, "{log}");
}

/// An invalid `SPEC_KITTY_LOG` is a usage error (exit 2) naming the variable, before anything runs;
/// an empty one counts as unset.
#[test]
fn an_invalid_spec_kitty_log_is_a_usage_error() {
    let env = TestEnv::new();
    let run = env.run_with_env(&["agent", "tasks", "status"], &[("SPEC_KITTY_LOG", "spec_kitty=loud")]).expect_code(2);
    assert_eq!(run.stdout, "");
    assert!(run.stderr.starts_with("error: invalid SPEC_KITTY_LOG=\"spec_kitty=loud\": "), "{}", run.stderr);
    assert!(run.stderr.contains("\nhint: "), "{}", run.stderr);
    let run = env.run_with_env(&["sync", "status"], &[("SPEC_KITTY_LOG", "")]).ok();
    assert_quiet(&run);
}

/// No secret reaches the diagnostics even at the most verbose: a login and a `sync now` that has to
/// renew its session (the server revoked the access token, so the refresh token travels and a new pair
/// comes back) with `-vv` and `SPEC_KITTY_LOG=trace` (every module, dependencies included) never show
/// the password, any access or refresh token, or an Authorization header.
#[test]
fn no_secret_is_ever_logged() {
    const PASSWORD: &str = "pw-Zq8!correct-horse-battery";
    let server = ServerHandle::spawn(ServerConfig {
        users: vec![("alice".to_owned(), PASSWORD.to_owned())],
        ..ServerConfig::default()
    })
    .expect("start the sync server");
    let env = TestEnv::new();
    configure(&env, server.url(), "exit_flush_ms = 0\n");
    let trace = [("SPEC_KITTY_LOG", "trace")];
    let login = run_stdin_with_env(
        &env,
        &["-vv", "auth", "login", "--username", "alice", "--password-stdin"],
        &trace,
        &format!("{PASSWORD}\n"),
    )
    .ok();
    assert!(login.stderr.contains("POST http://127.0.0.1:"), "diagnostics were on:\n{}", login.stderr);
    let first = tokens(&env);

    queue_events(&env, 1, 3);
    server.expire_access_tokens();
    let sync = env.run_with_env(&["-vv", "sync", "now"], &trace).ok();
    assert!(sync.stderr.contains("HTTP 401: renewing the session"), "{}", sync.stderr);
    assert!(sync.stderr.contains("/api/v1/token/refresh/"), "{}", sync.stderr);
    assert!(sync.stderr.contains("tokens renewed"), "{}", sync.stderr);
    let second = tokens(&env);
    assert_ne!(first, second, "the session was renewed");
    let status = env.run_with_env(&["-vv", "auth", "status"], &trace).ok();

    let credentials = std::fs::read_to_string(state_dir(&env).join("credentials")).unwrap();
    let secrets = [PASSWORD, &first.0, &first.1, &second.0, &second.1];
    for run in [&login, &sync, &status] {
        let text = format!("{}{}", run.stdout, run.stderr);
        for secret in secrets {
            assert!(!text.contains(secret), "a secret leaked:\n{text}");
        }
        assert!(!text.to_ascii_lowercase().contains("authorization"), "{text}");
        assert!(!text.contains("Bearer"), "{text}");
        for line in credentials.lines().filter(|l| l.contains(" = ")) {
            assert!(!text.contains(line), "credentials file content leaked ({line}):\n{text}");
        }
    }
}

/// A lock another process holds: `-v` says whose it is and how long the command was willing to wait,
/// then that it gave up (the error itself is unchanged).
#[test]
fn a_contended_lock_names_its_holder_and_the_wait() {
    let env = crate::sync_queue::feature_with_wps(1);
    let feature_dir = env.path("kitty-specs/001-demo");
    let held = std::fs::File::open(&feature_dir).unwrap();
    held.lock().unwrap();
    let args = ["agent", "tasks", "add-history", "WP01", "--note", "waiting"];
    let timeout = [("SPEC_KITTY_LOCK_TIMEOUT_MS", "300")];
    let quiet = env.run_with_env(&args, &timeout).expect_code(1);
    assert_quiet(&quiet);
    let verbose = env.run_with_env(&[&["-v"][..], &args].concat(), &timeout).expect_code(1);
    let holder = format!("holder_pid={}", std::process::id());
    let waiting = verbose
        .stderr
        .lines()
        .find(|l| l.contains("DEBUG spec_kitty::fsutil: exclusive lock held by another process; waiting"))
        .unwrap_or_else(|| panic!("{}", verbose.stderr));
    assert!(waiting.contains(&holder) && waiting.contains("timeout=300.0ms"), "{waiting}");
    let gave_up = verbose
        .stderr
        .lines()
        .find(|l| l.contains("DEBUG spec_kitty::fsutil: exclusive lock wait timed out"))
        .unwrap_or_else(|| panic!("{}", verbose.stderr));
    assert!(gave_up.contains(&holder) && gave_up.contains(" waited="), "{gave_up}");
    assert_eq!(without_diagnostics(&verbose.stderr), quiet.stderr);
    assert_eq!(verbose.stdout, quiet.stdout);
    drop(held);
    let run = env.run_with_env(&[&["-v"][..], &args].concat(), &timeout).ok();
    assert!(run.stderr.contains("DEBUG spec_kitty::fsutil: exclusive lock acquired"), "{}", run.stderr);
}
