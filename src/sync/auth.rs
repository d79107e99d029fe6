//! Logging in to the sync server and keeping the session alive.
//!
//! Credentials live in `~/.spec-kitty/credentials` in upstream's TOML shape (`[tokens]`, `[user]`,
//! `[server]`), so the Python CLI and ours share a login. Beyond upstream:
//! - the file is created 0600 from the first byte (a temp file made 0600, then renamed over the old
//!   one), inside a 0700 directory; readers never see a half-written file, so they take no lock;
//! - a refresh holds the exclusive `credentials.lock` for the whole exchange and re-reads the file
//!   after acquiring it. The server rotates refresh tokens, so when two processes refresh at once the
//!   second finds the first one's new tokens and uses them instead of presenting a refresh token the
//!   server has just retired. Only a 401 for the refresh token that is *still* current ends the
//!   session (upstream deleted the credentials in the losing process — its bug §12.11);
//! - tokens are wrapped in [`Secret`], whose `Debug` is redacted, and no error message contains one.

use super::http::{ServerUrl, describe, read_body};
use crate::context::Clock;
use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use serde::Serialize;
use serde_json::Value;
use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const CREDENTIALS_FILE: &str = "credentials";
pub const LOCK_FILE: &str = "credentials.lock";
/// Lifetimes the server implies when it does not say (upstream's defaults: 15 minutes, 7 days).
const DEFAULT_ACCESS_LIFETIME: i64 = 900;
const DEFAULT_REFRESH_LIFETIME: i64 = 604_800;
/// How long to wait for another process's refresh before giving up.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(10);
/// Token responses are small; anything bigger is not a token response.
const MAX_TOKEN_RESPONSE: usize = 64 * 1024;

/// A token or password. It is only readable through [`Secret::expose`], and prints as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A stored login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access: Secret,
    pub refresh: Secret,
    pub access_expires_at: DateTime<Utc>,
    pub refresh_expires_at: DateTime<Utc>,
    pub username: String,
    pub team_slug: Option<String>,
    /// The server that issued the tokens; they are never sent anywhere else.
    pub server_url: Option<String>,
}

impl Credentials {
    pub fn access_valid(&self, now: DateTime<Utc>) -> bool {
        now < self.access_expires_at
    }

    pub fn refresh_valid(&self, now: DateTime<Utc>) -> bool {
        now < self.refresh_expires_at
    }

    /// Upstream's `is_authenticated`: either token is unexpired by the local clock.
    pub fn is_authenticated(&self, now: DateTime<Utc>) -> bool {
        self.access_valid(now) || self.refresh_valid(now)
    }

    /// Whether these tokens were issued by `server`.
    pub fn issued_by(&self, server: &ServerUrl) -> bool {
        self.server_url.as_deref().and_then(|u| ServerUrl::parse(u).ok()).is_some_and(|u| &u == server)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid username or password")]
    InvalidCredentials,
    #[error("not logged in")]
    NotLoggedIn,
    #[error("the session has expired; log in again")]
    SessionExpired,
    #[error("logged in to {logged_in}, but the sync server is {configured}")]
    OtherServer { logged_in: String, configured: String },
    #[error("cannot reach {server}: {detail}")]
    Unreachable { server: String, detail: String },
    #[error("the server is temporarily unavailable (HTTP {status})")]
    Unavailable { status: u16 },
    #[error("unexpected answer from the server (HTTP {status})")]
    UnexpectedStatus { status: u16 },
    #[error("invalid server response: {0}")]
    InvalidResponse(String),
    #[error("cannot {action} {}: {message}", path.display())]
    Storage { action: &'static str, path: PathBuf, message: String },
    #[error("timed out after {}s waiting for {} (another spec-kitty process holds it)", timeout.as_secs(), path.display())]
    LockTimeout { path: PathBuf, timeout: Duration },
}

impl crate::error::Diagnose for AuthError {
    fn hints(&self) -> Vec<String> {
        let hint = match self {
            AuthError::Unreachable { .. } => "check your connection and the server URL (`spec-kitty sync server`)",
            AuthError::SessionExpired | AuthError::OtherServer { .. } => "run `spec-kitty auth login --force`",
            AuthError::NotLoggedIn => "run `spec-kitty auth login`",
            AuthError::Storage { action: "read", .. } => {
                "`spec-kitty auth logout` removes the unreadable file; then log in again"
            }
            _ => return Vec::new(),
        };
        vec![hint.to_owned()]
    }
}

impl AuthError {
    /// A network or server hiccup: worth retrying later, the session is intact.
    pub fn is_transient(&self) -> bool {
        matches!(self, AuthError::Unreachable { .. } | AuthError::Unavailable { .. })
    }
}

/// `~/.spec-kitty/credentials` and its lock.
#[derive(Debug, Clone)]
pub struct CredentialStore {
    home: PathBuf,
}

/// The exclusive credentials lock; released on drop.
#[derive(Debug)]
pub struct StoreLock<'a> {
    store: &'a CredentialStore,
    _file: File,
}

impl CredentialStore {
    pub fn new(home: &Path) -> CredentialStore {
        CredentialStore { home: home.to_owned() }
    }

    pub fn path(&self) -> PathBuf {
        self.home.join(CREDENTIALS_FILE)
    }

    /// The stored login, if any. Writers replace the file atomically, so no lock is needed to read.
    pub fn load(&self) -> Result<Option<Credentials>, AuthError> {
        let path = self.path();
        match crate::fsutil::read_small_string(&path, crate::fsutil::SMALL_FILE_CAP) {
            Ok(text) => parse_credentials(&text).map(Some).map_err(|message| AuthError::Storage {
                action: "read",
                path,
                message,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(AuthError::Storage { action: "read", path, message: e.to_string() }),
        }
    }

    /// Takes the lock, waiting up to `timeout` without blocking the async runtime.
    pub async fn lock(&self, timeout: Duration) -> Result<StoreLock<'_>, AuthError> {
        let file = self.open_lock_file()?;
        let start = Instant::now();
        let mut announced = false;
        loop {
            if self.try_lock(&file)? {
                self.locked(start);
                return Ok(StoreLock { store: self, _file: file });
            }
            self.contended(&file, start, timeout, &mut announced)?;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Takes the lock from synchronous code (logout).
    pub fn lock_blocking(&self, timeout: Duration) -> Result<StoreLock<'_>, AuthError> {
        let file = self.open_lock_file()?;
        let start = Instant::now();
        let mut announced = false;
        loop {
            if self.try_lock(&file)? {
                self.locked(start);
                return Ok(StoreLock { store: self, _file: file });
            }
            self.contended(&file, start, timeout, &mut announced)?;
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn locked(&self, start: Instant) {
        let waited = crate::diagnostics::Ms(start.elapsed());
        tracing::debug!(path = %self.home.join(LOCK_FILE).display(), %waited, "credentials lock acquired");
    }

    /// Another process holds the lock: says so once (with its pid), and gives up after `timeout`.
    fn contended(&self, file: &File, start: Instant, timeout: Duration, announced: &mut bool) -> Result<(), AuthError> {
        let path = self.home.join(LOCK_FILE);
        let waited = start.elapsed();
        let timed_out = waited >= timeout;
        if (!*announced || timed_out) && tracing::enabled!(tracing::Level::DEBUG) {
            let holder_pid = crate::fsutil::lock_holder(file);
            let waited = crate::diagnostics::Ms(waited);
            let what = if timed_out {
                "gave up waiting for the credentials lock"
            } else {
                "credentials lock held by another process; waiting"
            };
            tracing::debug!(path = %path.display(), holder_pid, %waited, "{what}");
        }
        *announced = true;
        if timed_out {
            return Err(AuthError::LockTimeout { path, timeout });
        }
        Ok(())
    }

    fn open_lock_file(&self) -> Result<File, AuthError> {
        let path = self.home.join(LOCK_FILE);
        private_dir(&self.home).map_err(|e| storage("create", &self.home, e))?;
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| storage("open", &path, e))
    }

    fn try_lock(&self, file: &File) -> Result<bool, AuthError> {
        match file.try_lock() {
            Ok(()) => Ok(true),
            Err(TryLockError::WouldBlock) => Ok(false),
            Err(TryLockError::Error(e)) => Err(storage("lock", &self.home.join(LOCK_FILE), e)),
        }
    }
}

impl StoreLock<'_> {
    pub fn load(&self) -> Result<Option<Credentials>, AuthError> {
        self.store.load()
    }

    /// Replaces the credentials file; it is 0600 from creation, synced, and never visible half-written
    /// (an exclusively created temp file renamed over it, see [`crate::fsutil::write_private`]).
    pub fn save(&self, credentials: &Credentials) -> Result<(), AuthError> {
        let path = self.store.path();
        crate::fsutil::write_private(&path, render_credentials(credentials).as_bytes())
            .map_err(|e| storage("write", &path, e))
    }

    /// Deletes the credentials; `true` when there were some.
    pub fn clear(&self) -> Result<bool, AuthError> {
        let path = self.store.path();
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(storage("delete", &path, e)),
        }
    }
}

fn storage(action: &'static str, path: &Path, error: std::io::Error) -> AuthError {
    AuthError::Storage { action, path: path.to_owned(), message: error.to_string() }
}

/// Creates `dir` (0700) if needed and makes sure only the user can enter it: it holds credentials.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let mode = std::fs::metadata(dir)?.permissions().mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Exchanges a username and password for tokens (`POST /api/v1/token/`) and stores them.
pub async fn login(
    http: &reqwest::Client,
    server: &ServerUrl,
    store: &CredentialStore,
    username: &str,
    password: &Secret,
    clock: Clock,
) -> Result<Credentials, AuthError> {
    let body = serde_json::json!({"username": username, "password": password.expose()});
    let (status, reply) = post_json(http, server, "api/v1/token/", &body).await?;
    match status {
        200..=299 => {}
        401 => return Err(AuthError::InvalidCredentials),
        _ => return Err(status_error(status)),
    }
    let grant = parse_grant(&reply)?;
    let credentials = grant.into_credentials(username.to_owned(), None, server, clock.now());
    tracing::debug!(username, team = credentials.team_slug.as_deref(), "logged in");
    let lock = store.lock(LOCK_TIMEOUT).await?;
    lock.save(&credentials)?;
    Ok(credentials)
}

/// How a refresh got its tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// We exchanged the refresh token for a new pair.
    Rotated,
    /// Another process had already rotated them; we took its pair from the file.
    Adopted,
}

/// Renews the tokens `stale` holds (`POST /api/v1/token/refresh/`), coordinating with other processes
/// through the credentials lock; returns the credentials to use from now on.
pub async fn refresh(
    http: &reqwest::Client,
    server: &ServerUrl,
    store: &CredentialStore,
    stale: &Credentials,
    clock: Clock,
) -> Result<(Credentials, Renewal), AuthError> {
    let lock = store.lock(LOCK_TIMEOUT).await?;
    let current = lock.load()?.ok_or(AuthError::NotLoggedIn)?;
    if current.access != stale.access || current.refresh != stale.refresh {
        // Another process refreshed (or logged in) while we waited: its tokens are the live ones.
        tracing::debug!("another process renewed the tokens meanwhile; using them");
        return Ok((current, Renewal::Adopted));
    }
    if !current.issued_by(server) {
        return Err(other_server(&current, server));
    }
    let body = serde_json::json!({"refresh": current.refresh.expose()});
    let (status, reply) = post_json(http, server, "api/v1/token/refresh/", &body).await?;
    match status {
        200..=299 => {}
        401 => {
            // We hold the lock and this refresh token is still the stored one: the session is over.
            tracing::debug!("the server refused the refresh token: the session is over");
            lock.clear()?;
            return Err(AuthError::SessionExpired);
        }
        _ => return Err(status_error(status)),
    }
    let grant = parse_grant(&reply)?;
    let renewed = grant.into_credentials(current.username.clone(), current.team_slug.clone(), server, clock.now());
    lock.save(&renewed)?;
    tracing::debug!(access_expires_at = %renewed.access_expires_at, "tokens renewed");
    Ok((renewed, Renewal::Rotated))
}

fn other_server(credentials: &Credentials, server: &ServerUrl) -> AuthError {
    AuthError::OtherServer {
        logged_in: credentials.server_url.clone().unwrap_or_else(|| "an unknown server".into()),
        configured: server.to_string(),
    }
}

fn status_error(status: u16) -> AuthError {
    match status {
        408 | 429 | 500..=599 => AuthError::Unavailable { status },
        _ => AuthError::UnexpectedStatus { status },
    }
}

async fn post_json(
    http: &reqwest::Client,
    server: &ServerUrl,
    path: &str,
    body: &Value,
) -> Result<(u16, Vec<u8>), AuthError> {
    let unreachable = |detail: String| AuthError::Unreachable { server: server.to_string(), detail };
    let response =
        super::http::send(http.post(server.endpoint(path)).json(body)).await.map_err(|e| unreachable(describe(&e)))?;
    let status = response.status().as_u16();
    let reply = read_body(response, MAX_TOKEN_RESPONSE).await.map_err(unreachable)?;
    Ok((status, reply))
}

/// Tokens as the server granted them.
struct Grant {
    access: String,
    refresh: String,
    access_lifetime: i64,
    refresh_lifetime: i64,
    team_slug: Option<String>,
}

impl Grant {
    fn into_credentials(
        self,
        username: String,
        previous_team: Option<String>,
        server: &ServerUrl,
        now: DateTime<Utc>,
    ) -> Credentials {
        Credentials {
            access: Secret(self.access),
            refresh: Secret(self.refresh),
            access_expires_at: now + TimeDelta::seconds(self.access_lifetime),
            refresh_expires_at: now + TimeDelta::seconds(self.refresh_lifetime),
            username,
            team_slug: self.team_slug.or(previous_team),
            server_url: Some(server.to_string()),
        }
    }
}

/// `{access, refresh, access_lifetime|expires_in, refresh_lifetime|refresh_expires_in, team_slug}`;
/// both tokens are required (the server rotates refresh tokens).
fn parse_grant(body: &[u8]) -> Result<Grant, AuthError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| AuthError::InvalidResponse("not JSON".into()))?;
    let token = |key: &str| {
        value
            .get(key)
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| AuthError::InvalidResponse(format!("no {key} token")))
    };
    // Lifetimes may come as numbers or numeric strings; anything absurd is clamped to ten years.
    let lifetime = |keys: [&str; 2], default: i64| {
        keys.iter()
            .find_map(|k| {
                let v = value.get(*k)?;
                v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)).or_else(|| v.as_str()?.trim().parse().ok())
            })
            .unwrap_or(default)
            .clamp(0, 10 * 365 * 86_400)
    };
    Ok(Grant {
        access: token("access")?,
        refresh: token("refresh")?,
        access_lifetime: lifetime(["access_lifetime", "expires_in"], DEFAULT_ACCESS_LIFETIME),
        refresh_lifetime: lifetime(["refresh_lifetime", "refresh_expires_in"], DEFAULT_REFRESH_LIFETIME),
        team_slug: value.get("team_slug").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned),
    })
}

/// A live session for one run: the current tokens, renewed on demand.
pub struct Session {
    http: reqwest::Client,
    server: ServerUrl,
    store: CredentialStore,
    clock: Clock,
    credentials: Credentials,
}

impl Session {
    /// The stored login for `server`: `NotLoggedIn` without one, `OtherServer` when the tokens were
    /// issued elsewhere (they are never sent to another origin), `SessionExpired` when both expired.
    pub fn open(
        http: reqwest::Client,
        server: ServerUrl,
        store: CredentialStore,
        clock: Clock,
    ) -> Result<Session, AuthError> {
        let credentials = store.load()?.ok_or(AuthError::NotLoggedIn)?;
        if !credentials.issued_by(&server) {
            return Err(other_server(&credentials, &server));
        }
        if !credentials.is_authenticated(clock.now()) {
            return Err(AuthError::SessionExpired);
        }
        Ok(Session { http, server, store, clock, credentials })
    }

    pub fn server(&self) -> &ServerUrl {
        &self.server
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The access token to present, refreshed first when the local clock says it has expired.
    pub async fn access_token(&mut self) -> Result<Secret, AuthError> {
        if !self.credentials.access_valid(self.clock.now()) {
            tracing::debug!(expired_at = %self.credentials.access_expires_at, "the access token has expired; renewing it");
            self.refresh().await?;
        }
        Ok(self.credentials.access.clone())
    }

    /// Renews the tokens (after the server answered 401).
    pub async fn refresh(&mut self) -> Result<Renewal, AuthError> {
        let (credentials, renewal) =
            refresh(&self.http, &self.server, &self.store, &self.credentials, self.clock).await?;
        self.credentials = credentials;
        Ok(renewal)
    }
}

/// Python's naive `datetime.isoformat()` in UTC: microseconds only when non-zero.
fn naive_iso(at: DateTime<Utc>) -> String {
    let naive = at.naive_utc();
    if naive.and_utc().timestamp_subsec_micros() == 0 {
        naive.format("%Y-%m-%dT%H:%M:%S").to_string()
    } else {
        naive.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
    }
}

/// Accepts naive (UTC), `Z` and offset forms, as upstream's reader does.
fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").ok().map(|n| n.and_utc()))
        .or_else(|| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").ok().map(|n| n.and_utc()))
}

fn render_credentials(c: &Credentials) -> String {
    #[derive(Serialize)]
    struct Tokens<'a> {
        access: &'a str,
        refresh: &'a str,
        access_expires_at: String,
        refresh_expires_at: String,
    }
    #[derive(Serialize)]
    struct User<'a> {
        username: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        team_slug: Option<&'a str>,
    }
    #[derive(Serialize)]
    struct Server<'a> {
        url: &'a str,
    }
    #[derive(Serialize)]
    struct FileShape<'a> {
        tokens: Tokens<'a>,
        user: User<'a>,
        #[serde(skip_serializing_if = "Option::is_none")]
        server: Option<Server<'a>>,
    }
    let shape = FileShape {
        tokens: Tokens {
            access: c.access.expose(),
            refresh: c.refresh.expose(),
            access_expires_at: naive_iso(c.access_expires_at),
            refresh_expires_at: naive_iso(c.refresh_expires_at),
        },
        user: User { username: &c.username, team_slug: c.team_slug.as_deref() },
        server: c.server_url.as_deref().map(|url| Server { url }),
    };
    // Serialising plain strings into TOML cannot fail.
    toml::to_string(&shape).unwrap_or_default()
}

/// Reads upstream's shape leniently. A missing or unreadable expiry counts as expired for the access
/// token (so it is refreshed) and as unknown-but-valid for the refresh token (the server decides).
fn parse_credentials(text: &str) -> Result<Credentials, String> {
    let value: toml::Table = text.parse().map_err(|e: toml::de::Error| format!("not valid TOML: {}", e.message()))?;
    let section = |name: &str| value.get(name).and_then(toml::Value::as_table);
    let field = |table: &str, key: &str| section(table).and_then(|t| t.get(key)).and_then(toml::Value::as_str);
    let token = |key: &str| field("tokens", key).filter(|t| !t.is_empty()).map(Secret::new);
    let access = token("access").ok_or("no [tokens] access")?;
    let refresh = token("refresh").ok_or("no [tokens] refresh")?;
    Ok(Credentials {
        access,
        refresh,
        access_expires_at: field("tokens", "access_expires_at").and_then(parse_time).unwrap_or(DateTime::UNIX_EPOCH),
        refresh_expires_at: field("tokens", "refresh_expires_at")
            .and_then(parse_time)
            .unwrap_or(DateTime::<Utc>::MAX_UTC),
        username: field("user", "username").unwrap_or_default().to_owned(),
        team_slug: field("user", "team_slug").filter(|s| !s.is_empty()).map(str::to_owned),
        server_url: field("server", "url").map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(now: DateTime<Utc>) -> Credentials {
        Credentials {
            access: Secret::new("acc.ess.tok"),
            refresh: Secret::new("ref.resh.tok"),
            access_expires_at: now + TimeDelta::seconds(900),
            refresh_expires_at: now + TimeDelta::days(7),
            username: "alice@example.com".into(),
            team_slug: Some("acme".into()),
            server_url: Some("https://sync.example.com".into()),
        }
    }

    fn now() -> DateTime<Utc> {
        "2026-02-18T14:03:22.123456Z".parse().unwrap()
    }

    #[test]
    fn credentials_round_trip_in_upstreams_shape() {
        let dir = tempfile::tempdir().unwrap();
        let store = CredentialStore::new(&dir.path().join("home"));
        assert!(store.load().unwrap().is_none());
        let credentials = sample(now());
        store.lock_blocking(LOCK_TIMEOUT).unwrap().save(&credentials).unwrap();
        let text = std::fs::read_to_string(store.path()).unwrap();
        assert!(text.contains("[tokens]\naccess = \"acc.ess.tok\""), "{text}");
        assert!(text.contains("access_expires_at = \"2026-02-18T14:18:22.123456\""), "{text}");
        assert!(text.contains("[user]\nusername = \"alice@example.com\"\nteam_slug = \"acme\""), "{text}");
        assert!(text.contains("[server]\nurl = \"https://sync.example.com\""), "{text}");
        assert_eq!(store.load().unwrap().unwrap(), credentials);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&store.path()), 0o600);
        assert_eq!(mode(&dir.path().join("home")), 0o700);
        assert_eq!(std::fs::read_dir(dir.path().join("home")).unwrap().count(), 2, "credentials + lock, no temp");
        assert!(store.lock_blocking(LOCK_TIMEOUT).unwrap().clear().unwrap());
        assert!(store.load().unwrap().is_none());
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let text = format!("{:?}", sample(now()));
        assert!(!text.contains("acc.ess.tok") && !text.contains("ref.resh.tok"), "{text}");
    }

    #[test]
    fn reads_upstream_variants() {
        let text = "[tokens]\naccess = \"a\"\nrefresh = \"r\"\naccess_expires_at = \"2026-02-18T14:18:22Z\"\n[user]\nusername = \"u\"\n";
        let c = parse_credentials(text).unwrap();
        assert_eq!(c.access_expires_at, "2026-02-18T14:18:22Z".parse::<DateTime<Utc>>().unwrap());
        assert!(c.refresh_valid(now()), "a missing refresh expiry is left to the server");
        assert_eq!((c.team_slug, c.server_url), (None, None));
        assert!(parse_credentials("[tokens]\naccess = \"a\"\n").unwrap_err().contains("refresh"));
        assert!(parse_credentials("not toml [").is_err());
    }

    #[test]
    fn grants_need_both_tokens_and_take_lifetimes_in_any_form() {
        let grant = parse_grant(br#"{"access": "a", "refresh": "r", "expires_in": "60", "team_slug": "t"}"#).unwrap();
        assert_eq!((grant.access_lifetime, grant.refresh_lifetime), (60, DEFAULT_REFRESH_LIFETIME));
        assert!(matches!(parse_grant(br#"{"access": "a"}"#), Err(AuthError::InvalidResponse(_))));
        assert!(parse_grant(b"<html>").is_err());
        let huge = parse_grant(br#"{"access": "a", "refresh": "r", "access_lifetime": 1e300}"#).unwrap();
        assert_eq!(huge.access_lifetime, 10 * 365 * 86_400);
    }

    #[test]
    fn tokens_belong_to_their_server() {
        let credentials = sample(now());
        assert!(credentials.issued_by(&ServerUrl::parse("https://sync.example.com/").unwrap()));
        assert!(!credentials.issued_by(&ServerUrl::parse("https://evil.example.com").unwrap()));
    }

    #[test]
    fn the_lock_times_out_instead_of_hanging() {
        let dir = tempfile::tempdir().unwrap();
        let store = CredentialStore::new(dir.path());
        let _held = store.lock_blocking(LOCK_TIMEOUT).unwrap();
        let other = CredentialStore::new(dir.path());
        let err = other.lock_blocking(Duration::from_millis(60)).unwrap_err();
        assert!(matches!(err, AuthError::LockTimeout { .. }), "{err}");
    }
}
