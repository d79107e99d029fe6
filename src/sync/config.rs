//! `~/.spec-kitty/config.toml`: the user's sync settings.
//!
//! ```toml
//! [sync]
//! server_url = "https://spec-kitty.example.com"
//! max_queue_size = 100000   # events kept offline before new ones are dropped (and counted)
//! max_rejections = 5        # rejections before an event moves to the dead letters
//! queue_busy_timeout_ms = 10000  # how long a command waits for another process's queue write
//! events = true             # false: commands queue no sync events at all
//! ```

use super::queue::{DEFAULT_MAX_EVENTS, DEFAULT_MAX_REJECTIONS, QueueLimits};
use serde::Deserialize;
use std::path::{Path, PathBuf};

pub const CONFIG_FILE: &str = "config.toml";

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
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            server_url: None,
            max_queue_size: DEFAULT_MAX_EVENTS,
            max_rejections: DEFAULT_MAX_REJECTIONS,
            queue_busy_timeout_ms: 10_000,
            events: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid {}: {message}", path.display())]
pub struct ConfigError {
    pub path: PathBuf,
    pub message: String,
}

impl UserConfig {
    /// The settings in `home`; a missing file gives the defaults.
    pub fn load(home: &Path) -> Result<UserConfig, ConfigError> {
        let path = home.join(CONFIG_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| ConfigError { path, message: e.message().to_owned() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(UserConfig::default()),
            Err(e) => Err(ConfigError { path, message: e.to_string() }),
        }
    }

    pub fn queue_limits(&self) -> QueueLimits {
        QueueLimits {
            max_events: self.sync.max_queue_size,
            max_rejections: self.sync.max_rejections.max(1),
            busy_timeout: std::time::Duration::from_millis(self.sync.queue_busy_timeout_ms),
        }
    }
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
}
