//! `spec-kitty auth login | logout | status`: the session with the sync server. Messages follow
//! upstream's (reference/sync.md §7.3); errors go to stderr as `error: …` like every other command.

use super::common::print_json_line;
use super::output;
use crate::context::Context;
use crate::error::CliError;
use crate::sync::auth::{Credentials, Secret};
use crate::sync::config::UserConfig;
use crate::sync::runner::{self, Logout, RunnerError};
use chrono::{DateTime, SecondsFormat, Utc};
use clap::{Args, Subcommand};
use serde_json::json;
use std::io::{BufRead, IsTerminal, Read};

mod terminal;

#[derive(Debug, Args)]
pub struct AuthArgs {
    #[command(subcommand)]
    command: AuthCommand,
}

#[derive(Debug, Subcommand)]
enum AuthCommand {
    /// Log in to the sync server (prompts on a terminal; scripts pass the password with --password-stdin).
    Login(LoginArgs),
    /// Forget the stored credentials.
    Logout,
    /// Show whether you are logged in, as whom, and how long the tokens last.
    Status(StatusArgs),
}

#[derive(Debug, Args)]
struct LoginArgs {
    /// Account name (prompted for on a terminal when missing).
    #[arg(short, long)]
    username: Option<String>,
    /// Read the password from standard input (everything up to end of input, one trailing newline removed).
    #[arg(long)]
    password_stdin: bool,
    /// Log in again even if a session is active.
    #[arg(short, long)]
    force: bool,
}

#[derive(Debug, Args)]
struct StatusArgs {
    /// Print the status as JSON (never includes tokens).
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &Context, args: AuthArgs) -> Result<(), CliError> {
    match args.command {
        AuthCommand::Login(a) => login(ctx, a),
        AuthCommand::Logout => logout(ctx),
        AuthCommand::Status(a) => status(ctx, a),
    }
}

fn login(ctx: &Context, args: LoginArgs) -> Result<(), CliError> {
    let home = ctx.home.as_deref().ok_or(RunnerError::NoHome)?;
    let config = UserConfig::load(home)?;
    let server = runner::server(ctx, &config)?.ok_or(RunnerError::NotConfigured)?;
    if !args.force
        && let Some(existing) = runner::credentials(ctx)?
        && existing.issued_by(&server)
        && existing.is_authenticated(ctx.now())
    {
        output::print("✅ Already authenticated.\nUse --force to re-authenticate or 'auth logout' first.\n")?;
        return Ok(());
    }
    let stdin_tty = std::io::stdin().is_terminal();
    let username = match args.username.filter(|u| !u.trim().is_empty()) {
        Some(username) => username,
        None if stdin_tty && !args.password_stdin => prompt("Username: ")?,
        None => {
            return Err(CliError::usage("no username: pass --username (there is no terminal to ask on)"));
        }
    };
    let password = if args.password_stdin {
        read_password_stdin()?
    } else if stdin_tty {
        prompt_hidden("Password: ")?
    } else {
        return Err(CliError::usage("no terminal to ask for the password on")
            .hint("pipe it in with `--password-stdin` (e.g. `printf %s \"$PW\" | spec-kitty auth login -u NAME --password-stdin`)"));
    };
    if password.expose().is_empty() {
        return Err(CliError::usage("the password is empty"));
    }
    output::print(&format!("Authenticating with {server}...\n"))?;
    let (_, credentials) = runner::login(ctx, &username, &password)?;
    output::print(&format!("✅ Login successful!\n   Logged in as: {}\n", credentials.username))?;
    Ok(())
}

fn logout(ctx: &Context) -> Result<(), CliError> {
    match runner::logout(ctx)? {
        Logout::NotLoggedIn => output::print("ℹ️  No active session. Already logged out.\n")?,
        Logout::LoggedOut(credentials) => output::print(&format!(
            "✅ Logged out successfully.\n   Cleared credentials for: {}\n",
            credentials.username
        ))?,
        Logout::RemovedUnreadable { path, reason } => output::print(&format!(
            "✅ Logged out successfully.\n   removed unreadable credentials file {} ({reason})\n",
            path.display()
        ))?,
    }
    Ok(())
}

fn status(ctx: &Context, args: StatusArgs) -> Result<(), CliError> {
    let credentials = runner::credentials(ctx)?;
    let now = ctx.now();
    let configured = ctx
        .home
        .as_deref()
        .and_then(|home| UserConfig::load(home).ok())
        .and_then(|config| runner::server(ctx, &config).ok().flatten());
    let live = credentials.as_ref().filter(|c| c.is_authenticated(now));
    if args.json {
        let token = |valid: bool, at: DateTime<Utc>| json!({"valid": valid, "expires_at": at.to_rfc3339_opts(SecondsFormat::Secs, true)});
        let value = match live {
            None => json!({"authenticated": false}),
            Some(c) => json!({
                "authenticated": true,
                "username": c.username,
                "server_url": c.server_url,
                "team_slug": c.team_slug,
                "access_token": token(c.access_valid(now), c.access_expires_at),
                "refresh_token": token(c.refresh_valid(now), c.refresh_expires_at),
                "matches_configured_server": configured.as_ref().is_some_and(|s| c.issued_by(s)),
            }),
        };
        return print_json_line(&value);
    }
    let Some(c) = live else {
        output::print("❌ Not authenticated\n   Run 'spec-kitty auth login' to authenticate.\n")?;
        return Ok(());
    };
    output::print(&status_text(c, now, configured.as_ref().map(|s| s.as_str())))?;
    Ok(())
}

fn status_text(c: &Credentials, now: DateTime<Utc>, configured: Option<&str>) -> String {
    let server = c.server_url.as_deref().unwrap_or("(unknown)");
    let mut text = format!("✅ Authenticated\n   Username: {}\n   Server:   {server}\n", c.username);
    if let Some(team) = &c.team_slug {
        text.push_str(&format!("   Team:     {team}\n"));
    }
    if c.access_valid(now) {
        text.push_str(&format!("   Access token: valid ({} remaining)\n", remaining(c.access_expires_at - now)));
    } else {
        text.push_str("   Access token: expired (will refresh automatically)\n");
    }
    if c.refresh_valid(now) {
        let left = if c.refresh_expires_at == DateTime::<Utc>::MAX_UTC {
            "expiry unknown".to_owned()
        } else {
            format!("{} remaining", remaining(c.refresh_expires_at - now))
        };
        text.push_str(&format!("   Refresh token: valid ({left})\n"));
    } else {
        text.push_str("   Refresh token: expired (re-login required)\n");
    }
    let elsewhere = |s: &&str| crate::sync::http::ServerUrl::parse(s).is_ok_and(|s| !c.issued_by(&s));
    if let Some(configured) = configured.filter(elsewhere) {
        text.push_str(&format!(
            "   Note: the sync server is now {configured}; run 'spec-kitty auth login --force' to log in there.\n"
        ));
    }
    text
}

/// Upstream's durations: the largest whole unit (`45s`, `14m`, `3h`, `6d`).
fn remaining(left: chrono::TimeDelta) -> String {
    let s = left.num_seconds().max(0);
    match s {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

fn prompt(label: &str) -> Result<String, CliError> {
    eprint!("{label}");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| CliError::failure(format!("cannot read input: {e}")))?;
    Ok(line.trim().to_owned())
}

/// The hidden password prompt (echo off, the terminal restored even on Ctrl-C: see [`terminal`]).
fn prompt_hidden(label: &str) -> Result<Secret, CliError> {
    let line =
        terminal::read_hidden_line(label).map_err(|e| CliError::failure(format!("cannot read the password: {e}")))?;
    Ok(Secret::new(line))
}

/// The password from stdin: all of it (bounded), minus one trailing newline.
fn read_password_stdin() -> Result<Secret, CliError> {
    let mut text = String::new();
    std::io::stdin()
        .lock()
        .take(64 * 1024)
        .read_to_string(&mut text)
        .map_err(|e| CliError::failure(format!("cannot read the password from stdin: {e}")))?;
    let trimmed = text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&text);
    Ok(Secret::new(trimmed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_use_the_largest_unit() {
        let d = chrono::TimeDelta::seconds;
        assert_eq!(remaining(d(59)), "59s");
        assert_eq!(remaining(d(14 * 60 + 59)), "14m");
        assert_eq!(remaining(d(3 * 3600 + 1)), "3h");
        assert_eq!(remaining(d(6 * 86_400 + 80_000)), "6d");
        assert_eq!(remaining(d(-5)), "0s");
    }
}
