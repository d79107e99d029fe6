//! The reference sync server as a developer tool: `cargo run --example sync-server -- --help`.
//!
//! Loopback only. Prints the URL, then one line per request (tokens are never printed); Ctrl-C stops it.

/// The server proper, shared with the integration tests (which use more of its API than this CLI).
#[allow(dead_code)]
mod server;

use server::{Faults, ServerConfig};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const USAGE: &str = "\
usage: cargo run --example sync-server -- [options]

  --port N                 listen on 127.0.0.1:N (default 8765; 0 = any free port)
  --user NAME:PASSWORD     an account that may log in (repeatable; default alice:secret)
  --team SLUG              the team every account belongs to (default acme)
  --db FILE                keep events in this SQLite file (default: in memory)
  --tls-cert FILE --tls-key FILE
                           serve https/wss with this certificate chain and key (PEM)
  --tls-self-signed FILE   serve https/wss with a fresh self-signed certificate for localhost;
                           its PEM is written to FILE for the client to trust
  --access-lifetime SECS   access token lifetime (default 900)
  --refresh-lifetime SECS  refresh token lifetime (default 604800)
  --max-batch-bytes N      decompressed batch limit, larger batches get 413 (default 1048576)
  --ws-ping-secs SECS      WebSocket ping interval (default 5)
  --validate-payloads      reject events that fail the CLI's own envelope and payload checks
faults:
  --error-rate P           answer this share of batch requests with 500/502/503 (0..1)
  --drop-rate P            store the batch, then cut the response off mid-body (0..1)
  --rate-limit-every N     every Nth batch request gets 429 with Retry-After: 1
  --poison EVENT_ID        a batch containing this event fails whole with 400 (repeatable)
  --latency-ms MS          delay every request
  --hang                   read requests and never answer
  --seed N                 seed for the random faults (default 0)
  -q, --quiet              do not print the request log";

#[tokio::main]
async fn main() {
    let config = match parse(std::env::args().skip(1)) {
        Ok(Some(config)) => config,
        Ok(None) => return println!("{USAGE}"),
        Err(message) => {
            eprintln!("sync-server: {message}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    let users: Vec<&str> = config.users.iter().map(|(u, _)| u.as_str()).collect();
    let summary = format!("users {} in team {}", users.join(", "), config.team_slug);
    let mut handle = match server::start(config).await {
        Ok(handle) => handle,
        Err(e) => {
            eprintln!("sync-server: cannot start: {e}");
            std::process::exit(1);
        }
    };
    println!("sync-server listening on {} ({summary}); Ctrl-C to stop", handle.url());
    let _ = tokio::signal::ctrl_c().await;
    println!("sync-server: stopping ({} events stored)", handle.event_count());
    handle.shutdown();
}

/// The configuration the arguments ask for; `None` for `--help`.
fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<ServerConfig>, String> {
    let mut config = ServerConfig { port: 8765, ..ServerConfig::default() };
    let mut users = Vec::new();
    let mut faults = Faults::default();
    let (mut cert, mut key, mut quiet) = (None, None, false);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--port" => config.port = number(&flag, &value()?)?,
            "--user" => {
                let pair = value()?;
                let (name, password) = pair.split_once(':').ok_or("--user takes NAME:PASSWORD")?;
                users.push((name.to_owned(), password.to_owned()));
            }
            "--team" => config.team_slug = value()?,
            "--db" => config.db_path = Some(PathBuf::from(value()?)),
            "--tls-cert" => cert = Some(read(&value()?)?),
            "--tls-key" => key = Some(read(&value()?)?),
            "--tls-self-signed" => {
                let path = value()?;
                let (cert_pem, key_pem) = server::self_signed_localhost().map_err(|e| e.to_string())?;
                std::fs::write(&path, &cert_pem).map_err(|e| format!("cannot write {path}: {e}"))?;
                eprintln!("sync-server: self-signed certificate for localhost written to {path}");
                (cert, key) = (Some(cert_pem), Some(key_pem));
            }
            "--access-lifetime" => config.access_lifetime = Duration::from_secs(number(&flag, &value()?)?),
            "--refresh-lifetime" => config.refresh_lifetime = Duration::from_secs(number(&flag, &value()?)?),
            "--max-batch-bytes" => config.max_batch_bytes = number(&flag, &value()?)?,
            "--ws-ping-secs" => config.ws_ping_interval = Duration::from_secs(number(&flag, &value()?)?),
            "--validate-payloads" => config.validate_payloads = true,
            "--error-rate" => faults.error_rate = probability(&flag, &value()?)?,
            "--drop-rate" => faults.drop_rate = probability(&flag, &value()?)?,
            "--rate-limit-every" => faults.rate_limit_every = Some(number(&flag, &value()?)?),
            "--poison" => {
                faults.poison_event_ids.insert(value()?);
            }
            "--latency-ms" => faults.latency = Duration::from_millis(number(&flag, &value()?)?),
            "--hang" => faults.hang = true,
            "--seed" => faults.seed = number(&flag, &value()?)?,
            "-q" | "--quiet" => quiet = true,
            other => return Err(format!("unknown option {other}")),
        }
    }
    if !users.is_empty() {
        config.users = users;
    }
    config.tls = match (cert, key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    config.faults = faults;
    if !quiet {
        config.on_request = Some(Arc::new(|record| {
            println!("{} {record}", chrono::Utc::now().format("%H:%M:%S%.3f"));
        }));
    }
    Ok(Some(config))
}

fn number<T: std::str::FromStr>(flag: &str, text: &str) -> Result<T, String> {
    text.parse().map_err(|_| format!("{flag}: {text:?} is not a valid number"))
}

fn probability(flag: &str, text: &str) -> Result<f64, String> {
    let p: f64 = number(flag, text)?;
    if (0.0..=1.0).contains(&p) { Ok(p) } else { Err(format!("{flag}: {text} is not between 0 and 1")) }
}

fn read(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))
}
