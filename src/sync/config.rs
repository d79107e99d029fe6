//! `~/.spec-kitty/config.toml`: the user's sync settings.
//!
//! ```toml
//! [sync]
//! server_url = "https://spec-kitty.example.com"
//! max_queue_size = 100000   # events kept offline before new ones are dropped (and counted)
//! max_rejections = 5        # rejections before an event moves to the dead letters
//! queue_busy_timeout_ms = 10000  # how long a command waits for another process's queue write
//! events = true             # false: commands queue no sync events at all
//! ca_file = "/etc/ssl/team-ca.pem"  # an extra CA to trust (besides the public web roots)
//! batch_max_events = 1000   # events per request (at most 1000)
//! batch_max_bytes = 921600  # uncompressed request body budget (the server accepts 1 MiB)
//! batch_interval_ms = 0     # minimum spacing between requests (default: none for `sync now`, 5 s background)
//! exit_flush_ms = 2000      # how long a workflow command may spend delivering its events; 0 disables
//! request_timeout_ms = 30000  # one HTTP request, connect included
//! daemon_interval_secs = 300  # the background service's batch interval when nothing else triggers one
//! websocket = true          # false: the background service delivers by batch only (no WebSocket)
//! ```

use super::queue::{DEFAULT_MAX_EVENTS, DEFAULT_MAX_REJECTIONS, QueueLimits};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const CONFIG_FILE: &str = "config.toml";
/// The server's batch endpoint takes at most this many events per request.
pub const MAX_BATCH_EVENTS: usize = 1000;
/// The server refuses bodies above 1 MiB decompressed; stay below it with room for the envelope.
pub const DEFAULT_BATCH_MAX_BYTES: usize = 900 * 1024;
/// Background delivery sends at most one batch per this interval (FR-033); `sync now` does not wait.
pub const BACKGROUND_BATCH_INTERVAL: Duration = Duration::from_secs(5);
/// The background service delivers the queue at least this often (upstream's and atuin's 5 minutes).
pub const DEFAULT_DAEMON_INTERVAL_SECS: u64 = 300;

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct UserConfig {
    pub sync: SyncSettings,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct SyncSettings {
    pub server_url: Option<String>,
    pub max_queue_size: u64,
    pub max_rejections: u32,
    pub queue_busy_timeout_ms: u64,
    pub events: bool,
    pub ca_file: Option<PathBuf>,
    pub batch_max_events: usize,
    pub batch_max_bytes: usize,
    /// Unset: `sync now` sends back to back, background delivery waits [`BACKGROUND_BATCH_INTERVAL`].
    pub batch_interval_ms: Option<u64>,
    pub exit_flush_ms: u64,
    pub request_timeout_ms: u64,
    pub daemon_interval_secs: u64,
    pub websocket: bool,
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            server_url: None,
            max_queue_size: DEFAULT_MAX_EVENTS,
            max_rejections: DEFAULT_MAX_REJECTIONS,
            queue_busy_timeout_ms: 10_000,
            events: true,
            ca_file: None,
            batch_max_events: MAX_BATCH_EVENTS,
            batch_max_bytes: DEFAULT_BATCH_MAX_BYTES,
            batch_interval_ms: None,
            exit_flush_ms: 2000,
            request_timeout_ms: 30_000,
            daemon_interval_secs: DEFAULT_DAEMON_INTERVAL_SECS,
            websocket: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid {}: {message}", path.display())]
pub struct ConfigError {
    pub path: PathBuf,
    pub message: String,
}

impl crate::error::Diagnose for ConfigError {
    fn hints(&self) -> Vec<String> {
        vec![format!("fix or remove {}; the README lists its settings", self.path.display())]
    }
}

impl UserConfig {
    /// The settings in `home`; a missing file gives the defaults.
    pub fn load(home: &Path) -> Result<UserConfig, ConfigError> {
        let path = home.join(CONFIG_FILE);
        match crate::fsutil::read_small_string(&path, crate::fsutil::SMALL_FILE_CAP) {
            Ok(text) => toml::from_str(&text).map_err(|e| ConfigError { path, message: e.message().to_owned() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(UserConfig::default()),
            Err(e) => Err(ConfigError { path, message: e.to_string() }),
        }
    }

    pub fn queue_limits(&self) -> QueueLimits {
        QueueLimits {
            max_events: self.sync.max_queue_size,
            max_rejections: self.sync.max_rejections.max(1),
            busy_timeout: Duration::from_millis(self.sync.queue_busy_timeout_ms),
        }
    }

    /// Events per request, clamped to what the server accepts.
    pub fn batch_max_events(&self) -> usize {
        self.sync.batch_max_events.clamp(1, MAX_BATCH_EVENTS)
    }

    /// Uncompressed bytes per request; never so small that an ordinary event cannot be sent.
    pub fn batch_max_bytes(&self) -> usize {
        self.sync.batch_max_bytes.max(4096)
    }

    /// The configured spacing between requests, if any.
    pub fn batch_interval(&self) -> Option<Duration> {
        self.sync.batch_interval_ms.map(Duration::from_millis)
    }

    pub fn exit_flush_budget(&self) -> Duration {
        Duration::from_millis(self.sync.exit_flush_ms)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.sync.request_timeout_ms.max(100))
    }

    /// How often the background service delivers when no new event asks for it sooner (at least 1 s).
    pub fn daemon_interval(&self) -> Duration {
        Duration::from_secs(self.sync.daemon_interval_secs.max(1))
    }
}

/// Sets `[sync] server_url` in `home/config.toml`, keeping every other key. Comments are not kept (as
/// upstream's `toml.dump`); the file is replaced atomically.
pub fn set_server_url(home: &Path, url: &str) -> Result<PathBuf, ConfigError> {
    let path = home.join(CONFIG_FILE);
    let error = |message: String| ConfigError { path: path.clone(), message };
    let mut table = match crate::fsutil::read_small_string(&path, crate::fsutil::SMALL_FILE_CAP) {
        Ok(text) => text.parse::<toml::Table>().map_err(|e| error(e.message().to_owned()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => toml::Table::new(),
        Err(e) => return Err(error(e.to_string())),
    };
    let sync = table.entry("sync").or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let toml::Value::Table(sync) = sync else {
        return Err(error("`sync` is not a table".into()));
    };
    sync.insert("server_url".into(), toml::Value::String(url.to_owned()));
    let text = toml::to_string(&table).map_err(|e| error(e.to_string()))?;
    std::fs::create_dir_all(home).map_err(|e| error(e.to_string()))?;
    crate::fsutil::write_atomic(&path, text.as_bytes()).map_err(|e| error(e.to_string()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_settings_with_defaults() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(UserConfig::load(dir.path()).unwrap(), UserConfig::default());
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "[sync]\nserver_url = \"https://x.example\"\nmax_queue_size = 10\n",
        )
        .unwrap();
        let config = UserConfig::load(dir.path()).unwrap();
        assert_eq!(config.sync.server_url.as_deref(), Some("https://x.example"));
        assert_eq!(config.queue_limits().max_events, 10);
        assert_eq!(config.queue_limits().max_rejections, DEFAULT_MAX_REJECTIONS);
        std::fs::write(dir.path().join(CONFIG_FILE), "[sync\n").unwrap();
        assert!(UserConfig::load(dir.path()).unwrap_err().to_string().contains("config.toml"));
    }

    #[test]
    fn batch_limits_are_clamped() {
        let mut config = UserConfig::default();
        config.sync.batch_max_events = 5000;
        config.sync.batch_max_bytes = 10;
        assert_eq!((config.batch_max_events(), config.batch_max_bytes()), (1000, 4096));
        assert_eq!(config.batch_interval(), None);
        assert_eq!(config.exit_flush_budget(), Duration::from_secs(2));
        assert_eq!(config.daemon_interval(), Duration::from_secs(300));
        config.sync.daemon_interval_secs = 0;
        assert_eq!(config.daemon_interval(), Duration::from_secs(1));
        assert!(config.sync.websocket);
    }

    #[test]
    fn setting_the_server_keeps_other_keys() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CONFIG_FILE), "top = 1\n[sync]\nmax_rejections = 2\n[other]\nx = \"y\"\n")
            .unwrap();
        set_server_url(dir.path(), "https://a.example").unwrap();
        let config = UserConfig::load(dir.path()).unwrap();
        assert_eq!(config.sync.server_url.as_deref(), Some("https://a.example"));
        assert_eq!(config.sync.max_rejections, 2);
        let text = std::fs::read_to_string(dir.path().join(CONFIG_FILE)).unwrap();
        assert!(text.contains("top = 1") && text.contains("[other]"), "{text}");
        let fresh = tempfile::tempdir().unwrap();
        set_server_url(&fresh.path().join("sub"), "http://127.0.0.1:1").unwrap();
        assert!(fresh.path().join("sub").join(CONFIG_FILE).exists());
    }
}
