//! `spec-kitty dashboard [--port N] [--kill] [--open|--no-open] [--foreground] [--json]`: start (or
//! reuse) the project's local web dashboard and print its URL, or stop it. See `crate::dashboard`.

use super::common::{discover, print_json_line};
use super::output;
use crate::context::Context;
use crate::dashboard::{lifecycle, server};
use crate::error::CliError;
use clap::Args;
use serde_json::json;
use std::path::Path;
use std::process::{Command, Stdio};

#[derive(Debug, Args)]
#[command(
    after_help = "The dashboard listens on 127.0.0.1 only: on --port if it is free, else on the first free port \
from 9237. It runs in the background and records itself in .kittify/.dashboard (URL, port, token, pid; its log \
is .kittify/runtime/dashboard.log); a second call reuses it while it answers. The browser opens on a desktop \
session (DISPLAY or WAYLAND_DISPLAY set, or macOS) unless --no-open. --kill stops it."
)]
pub struct DashboardArgs {
    /// Preferred port (falls back to the first free port from 9237).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    port: Option<u16>,
    /// Stop the running dashboard for this project and clear its metadata.
    #[arg(long, conflicts_with_all = ["foreground", "open"])]
    kill: bool,
    /// Open the dashboard in a browser even without a desktop session.
    #[arg(long, overrides_with = "no_open")]
    open: bool,
    /// Do not open a browser.
    #[arg(long, overrides_with = "open")]
    no_open: bool,
    /// Serve from this process until Ctrl-C instead of starting a background server.
    #[arg(long)]
    foreground: bool,
    /// Print the result as one JSON object ({url, port, pid, started, project_path}).
    #[arg(long)]
    json: bool,
    /// Internal: this process was started by `dashboard` to serve in the background.
    #[arg(long, hide = true, requires = "foreground")]
    spawned: bool,
}

impl DashboardArgs {
    /// This process will serve (and should keep a log).
    pub fn serves(&self) -> bool {
        self.foreground && !self.kill
    }
}

pub fn run(ctx: &Context, args: DashboardArgs) -> Result<(), CliError> {
    let project = discover(ctx)?;
    let root = project.root.canonicalize().unwrap_or(project.root);
    if args.kill {
        let stopped = lifecycle::stop(&root)?;
        if args.json {
            return print_json_line(&json!({"stopped": stopped.stopped, "message": stopped.message}));
        }
        let mark = if stopped.stopped { "✅" } else { "⚠️ " };
        output::print(&format!("{mark} {}\n", stopped.message))?;
        return Ok(());
    }
    if args.foreground {
        return run_foreground(&root, &args);
    }
    let exe = std::env::current_exe()
        .map_err(|e| CliError::failure(format!("cannot find the spec-kitty executable to start the dashboard: {e}")))?;
    let running = lifecycle::ensure_running(&root, &exe, args.port)?;
    if args.json {
        return print_json_line(&json!({
            "url": running.url,
            "port": running.port,
            "pid": running.pid,
            "started": running.started,
            "project_path": root.display().to_string(),
        }));
    }
    let status = if running.started {
        format!("Started new dashboard instance on port {}", running.port)
    } else {
        format!("Dashboard already running on port {}", running.port)
    };
    let mut text = banner(&root, &running.url, running.port, args.port, &status);
    text.push_str(&open_browser(&running.url, &args));
    text.push_str("Stop it with: spec-kitty dashboard --kill\n");
    output::print(&text)?;
    Ok(())
}

fn run_foreground(root: &Path, args: &DashboardArgs) -> Result<(), CliError> {
    if let Some((record, _)) = lifecycle::find_running(root)?
        && record.pid != Some(std::process::id())
    {
        return Err(lifecycle::DashboardError::AlreadyRunning {
            url: record.url,
            pid: record.pid.map_or_else(|| "unknown".into(), |p| p.to_string()),
        }
        .into());
    }
    if args.spawned {
        // Leave the starting command's session, so closing its terminal does not stop the server.
        let _ = rustix::process::setsid();
    }
    let (listener, port) = server::bind(args.port)?;
    server::serve(root, listener, port, |listening| {
        let text = if args.json {
            json!({
                "url": listening.url,
                "port": listening.port,
                "pid": listening.pid,
                "started": true,
                "project_path": root.display().to_string(),
            })
            .to_string()
                + "\n"
        } else if args.spawned {
            String::new()
        } else {
            let status = format!("Serving on port {port} from this process (pid {}); Ctrl-C stops it", listening.pid);
            banner(root, &listening.url, port, args.port, &status) + &open_browser(&listening.url, args)
        };
        let _ = output::print(&text);
    })?;
    Ok(())
}

fn banner(root: &Path, url: &str, port: u16, requested: Option<u16>, status: &str) -> String {
    let rule = "=".repeat(60);
    let mut text =
        format!("Spec Kitty Dashboard\n{rule}\n\n  Project Root: {}\n  URL: {url}\n  Port: {port}\n", root.display());
    if let Some(requested) = requested.filter(|&r| r != port) {
        text.push_str(&format!("  ⚠️ Requested port {requested} was unavailable; using {port} instead.\n"));
    }
    text.push_str(&format!("\n  ✅ Status: {status}\n\n{rule}\n\n"));
    text
}

/// A desktop session a browser can open on.
fn desktop() -> bool {
    cfg!(target_os = "macos")
        || ["DISPLAY", "WAYLAND_DISPLAY"].iter().any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
}

/// Opens `url` when asked (or on a desktop) and says what happened.
fn open_browser(url: &str, args: &DashboardArgs) -> String {
    if args.no_open || !(args.open || desktop()) {
        return format!("Open {url} in your browser.\n");
    }
    let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
    match Command::new(opener).arg(url).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn() {
        Ok(mut child) => {
            // Reaped in the background, so a foreground server leaves no zombie.
            std::thread::spawn(move || child.wait());
            "✅ Opening dashboard in your browser...\n".to_owned()
        }
        Err(e) => format!("⚠️  Could not open a browser ({opener}: {e}); open {url} manually.\n"),
    }
}
