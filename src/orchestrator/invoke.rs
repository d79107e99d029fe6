//! Running one agent process: prompt on stdin, stdout and stderr captured (and written to the invocation's
//! log file), a timeout that ends in SIGTERM, a grace period, then SIGKILL (exit code 124, as upstream),
//! and cancellation when the run is interrupted (exit code 130).
//!
//! The agent gets its own process group, so a Ctrl-C on the terminal reaches only the orchestrator, which
//! then stops each agent itself (grace, then kill), and so that stopping an agent also stops whatever it
//! started (a shell's children, test runners).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

/// `timeout(1)`'s exit code, which upstream used for an agent that ran out of time.
pub const EXIT_TIMEOUT: i64 = 124;
/// The shell convention for "ended by SIGINT".
pub const EXIT_INTERRUPTED: i64 = 130;
/// How long to keep reading output after the agent exited (something it started may hold the pipes).
const OUTPUT_DRAIN: Duration = Duration::from_secs(2);

/// How far the run wants running agents stopped; only ever increases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stop {
    Run,
    /// SIGTERM, then SIGKILL after the grace period.
    Terminate,
    /// SIGKILL now (a second Ctrl-C).
    Kill,
}

/// One agent invocation, fully described.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    pub stdin: String,
    pub env: Vec<(String, String)>,
    /// Variables of ours the agent must not inherit.
    pub env_remove: Vec<String>,
    pub timeout: Duration,
    pub grace: Duration,
    /// Wait this long before starting (a retry of the same agent).
    pub delay: Duration,
    pub log_path: PathBuf,
    /// Lines describing the invocation, written at the top of the log.
    pub log_header: String,
}

/// What happened to the process.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcessResult {
    pub exit_code: i64,
    pub timed_out: bool,
    pub interrupted: bool,
    /// Interrupted while waiting to start: no process ran.
    pub never_started: bool,
    /// The program could not be started.
    pub spawn_error: Option<String>,
    pub duration: Duration,
    pub stdout: String,
    pub stderr: String,
    /// The log file could not be written.
    pub log_error: Option<String>,
}

pub async fn run(invocation: Invocation, mut stop: watch::Receiver<Stop>) -> ProcessResult {
    if !invocation.delay.is_zero() {
        tokio::select! {
            () = tokio::time::sleep(invocation.delay) => {}
            _ = stop.wait_for(|s| *s >= Stop::Terminate) => {
                return ProcessResult {
                    exit_code: EXIT_INTERRUPTED,
                    interrupted: true,
                    never_started: true,
                    ..ProcessResult::default()
                };
            }
        }
    }
    let started = Instant::now();
    let mut result = execute(&invocation, &mut stop).await;
    result.duration = started.elapsed();
    result.log_error =
        write_log(&invocation, &result).err().map(|e| format!("cannot write {}: {e}", invocation.log_path.display()));
    result
}

async fn execute(invocation: &Invocation, stop: &mut watch::Receiver<Stop>) -> ProcessResult {
    let Some((program, args)) = invocation.argv.split_first() else {
        return spawn_failed("empty command line".to_owned());
    };
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .current_dir(&invocation.cwd)
        .envs(invocation.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    for name in &invocation.env_remove {
        command.env_remove(name);
    }
    #[cfg(unix)]
    command.process_group(0);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => return spawn_failed(format!("cannot start `{program}`: {e}")),
    };
    let pid = child.id();
    let writer = child.stdin.take().map(|mut stdin| {
        let prompt = invocation.stdin.clone().into_bytes();
        // An agent that exits without reading its prompt closes the pipe: that is not our error.
        tokio::spawn(async move {
            let _ = stdin.write_all(&prompt).await;
            let _ = stdin.shutdown().await;
        })
    });
    let stdout = Capture::start(child.stdout.take());
    let stderr = Capture::start(child.stderr.take());

    enum Ended {
        Exited(Option<std::process::ExitStatus>),
        TimedOut,
        Interrupted,
    }
    let ended = tokio::select! {
        status = child.wait() => Ended::Exited(status.ok()),
        () = tokio::time::sleep(invocation.timeout) => Ended::TimedOut,
        _ = stop.wait_for(|s| *s >= Stop::Terminate) => Ended::Interrupted,
    };
    let (timed_out, interrupted) = (matches!(ended, Ended::TimedOut), matches!(ended, Ended::Interrupted));
    let status = match ended {
        Ended::Exited(status) => status,
        Ended::TimedOut | Ended::Interrupted => terminate(&mut child, pid, invocation.grace, stop).await,
    };
    if let Some(writer) = writer {
        writer.abort();
    }
    let exit_code = if timed_out {
        EXIT_TIMEOUT
    } else if interrupted {
        EXIT_INTERRUPTED
    } else {
        status.map_or(-1, exit_code_of)
    };
    ProcessResult {
        exit_code,
        timed_out,
        interrupted,
        stdout: stdout.finish().await,
        stderr: stderr.finish().await,
        ..ProcessResult::default()
    }
}

fn spawn_failed(message: String) -> ProcessResult {
    ProcessResult { exit_code: -1, spawn_error: Some(message), ..ProcessResult::default() }
}

/// SIGTERM to the agent's process group; SIGKILL after the grace period (or at once when the run asks).
async fn terminate(
    child: &mut tokio::process::Child,
    pid: Option<u32>,
    grace: Duration,
    stop: &mut watch::Receiver<Stop>,
) -> Option<std::process::ExitStatus> {
    signal_group(pid, Signal::Terminate);
    let status = tokio::select! {
        status = child.wait() => status.ok(),
        () = tokio::time::sleep(grace) => None,
        _ = stop.wait_for(|s| *s >= Stop::Kill) => None,
    };
    // Whatever the agent started goes too, even when the agent itself already exited.
    signal_group(pid, Signal::Kill);
    match status {
        Some(status) => Some(status),
        None => child.wait().await.ok(),
    }
}

#[derive(Clone, Copy)]
enum Signal {
    Terminate,
    Kill,
}

fn signal_group(pid: Option<u32>, signal: Signal) {
    #[cfg(unix)]
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()).filter(|p| *p > 0) {
        let number = match signal {
            Signal::Terminate => libc::SIGTERM,
            Signal::Kill => libc::SIGKILL,
        };
        // SAFETY: kill(2) with a negative pid signals the process group we created for this agent
        // (process_group(0) made its group id equal to its pid); it has no memory-safety preconditions.
        unsafe {
            libc::kill(-pid, number);
        }
    }
    #[cfg(not(unix))]
    let _ = (pid, signal);
}

fn exit_code_of(status: std::process::ExitStatus) -> i64 {
    if let Some(code) = status.code() {
        return i64::from(code);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return 128 + i64::from(signal);
        }
    }
    -1
}

/// Reads a pipe into a shared buffer, so that whatever arrived can be taken even when the pipe stays
/// open after the agent exited.
struct Capture {
    buffer: Arc<Mutex<Vec<u8>>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Capture {
    fn start<R: AsyncRead + Unpin + Send + 'static>(pipe: Option<R>) -> Capture {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let task = pipe.map(|mut pipe| {
            let buffer = Arc::clone(&buffer);
            tokio::spawn(async move {
                let mut chunk = vec![0u8; 16 * 1024];
                while let Ok(n) = pipe.read(&mut chunk).await {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut buffer) = buffer.lock() {
                        buffer.extend_from_slice(&chunk[..n]);
                    }
                }
            })
        });
        Capture { buffer, task }
    }

    async fn finish(mut self) -> String {
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(OUTPUT_DRAIN, &mut task).await.is_err()
        {
            task.abort();
        }
        let bytes = self.buffer.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

fn write_log(invocation: &Invocation, result: &ProcessResult) -> std::io::Result<()> {
    let mut text = invocation.log_header.clone();
    let mut outcome = format!("# exit code: {} ({:.2}s)", result.exit_code, result.duration.as_secs_f64());
    if result.timed_out {
        outcome.push_str(&format!(", timed out after {}", format_duration(invocation.timeout)));
    }
    if result.interrupted {
        outcome.push_str(", interrupted");
    }
    if let Some(error) = &result.spawn_error {
        outcome.push_str(&format!(", {error}"));
    }
    text.push_str(&outcome);
    text.push_str("\n\n===== stdout =====\n");
    text.push_str(&result.stdout);
    if !result.stdout.is_empty() && !result.stdout.ends_with('\n') {
        text.push('\n');
    }
    text.push_str("===== stderr =====\n");
    text.push_str(&result.stderr);
    if let Some(parent) = invocation.log_path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    crate::fsutil::write_atomic(&invocation.log_path, text.as_bytes())
}

/// `0.3s`, `5s`, `600s`: the configured value as people write it.
pub fn format_duration(duration: Duration) -> String {
    let seconds = duration.as_secs_f64();
    if seconds.fract() == 0.0 { format!("{seconds:.0}s") } else { format!("{}s", (seconds * 1000.0).round() / 1000.0) }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn invocation(dir: &std::path::Path, script: &str, timeout_ms: u64) -> Invocation {
        Invocation {
            argv: vec!["sh".into(), "-c".into(), script.into()],
            cwd: dir.to_owned(),
            stdin: "the prompt\n".into(),
            env: vec![("SPEC_KITTY_ROLE".into(), "implementation".into())],
            env_remove: Vec::new(),
            timeout: Duration::from_millis(timeout_ms),
            grace: Duration::from_millis(200),
            delay: Duration::ZERO,
            log_path: dir.join("logs/WP01-implementation.log"),
            log_header: "# header\n".into(),
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
    }

    #[test]
    fn captures_output_exit_code_and_writes_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let (_tx, rx) = watch::channel(Stop::Run);
        let script = "read line; echo \"got $line in $(basename \"$PWD\") as $SPEC_KITTY_ROLE\"; echo oops >&2; exit 3";
        let result = runtime().block_on(run(invocation(dir.path(), script, 5000), rx));
        assert_eq!((result.exit_code, result.timed_out, result.interrupted), (3, false, false));
        let name = dir.path().file_name().unwrap().to_str().unwrap().to_owned();
        assert_eq!(result.stdout, format!("got the prompt in {name} as implementation\n"));
        assert_eq!(result.stderr, "oops\n");
        let log = std::fs::read_to_string(dir.path().join("logs/WP01-implementation.log")).unwrap();
        assert!(log.starts_with("# header\n# exit code: 3 ("), "{log}");
        assert!(
            log.ends_with("===== stdout =====\ngot the prompt in ") || log.contains("===== stderr =====\noops\n"),
            "{log}"
        );
    }

    #[test]
    fn a_timeout_terminates_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let (_tx, rx) = watch::channel(Stop::Run);
        // The shell ignores SIGTERM, so only SIGKILL after the grace period ends it and its sleep.
        let script = "trap '' TERM; echo started; sleep 30; echo never";
        let started = Instant::now();
        let result = runtime().block_on(run(invocation(dir.path(), script, 200), rx));
        assert_eq!((result.exit_code, result.timed_out), (EXIT_TIMEOUT, true));
        assert_eq!(result.stdout, "started\n");
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
        let log = std::fs::read_to_string(dir.path().join("logs/WP01-implementation.log")).unwrap();
        assert!(log.contains(", timed out after 0.2s"), "{log}");
    }

    #[test]
    fn a_stop_request_interrupts() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, rx) = watch::channel(Stop::Run);
        let rt = runtime();
        let result = rt.block_on(async move {
            let task = tokio::spawn(run(invocation(dir.path(), "sleep 30", 60_000), rx));
            tokio::time::sleep(Duration::from_millis(100)).await;
            tx.send(Stop::Terminate).unwrap();
            task.await.unwrap()
        });
        assert_eq!((result.exit_code, result.interrupted), (EXIT_INTERRUPTED, true));
        assert!(result.duration < Duration::from_secs(2));
    }

    #[test]
    fn a_missing_program_is_a_spawn_error() {
        let dir = tempfile::tempdir().unwrap();
        let (_tx, rx) = watch::channel(Stop::Run);
        let mut inv = invocation(dir.path(), "", 1000);
        inv.argv = vec!["/nonexistent/agent".into()];
        let result = runtime().block_on(run(inv, rx));
        assert_eq!(result.exit_code, -1);
        assert!(result.spawn_error.unwrap().starts_with("cannot start `/nonexistent/agent`: "));
    }

    #[test]
    fn durations_print_as_configured() {
        assert_eq!(format_duration(Duration::from_secs(600)), "600s");
        assert_eq!(format_duration(Duration::from_millis(300)), "0.3s");
        assert_eq!(format_duration(Duration::from_millis(1250)), "1.25s");
    }
}
