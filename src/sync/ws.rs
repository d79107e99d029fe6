//! The WebSocket fast path to the team server (reference/sync.md §6), kept open by the background
//! service so that new events reach the dashboard within a second of being queued.
//!
//! Handshake: a single-use ws token from `POST /api/v1/ws-token/` (Bearer access token; a 401 refreshes
//! the session once), then an upgrade of `wss://…/ws/v1/events/` (`ws://` only for the loopback hosts
//! the URL policy admits) carrying the ws token in the `Authorization: Bearer` header — never in the URL,
//! which ends up in proxy and server logs — over the same rustls trust store as the HTTP client. The
//! first frame must be the server's `{"type":"snapshot",…}`.
//!
//! Then: `{"type":"ping","timestamp":X}` is answered with `{"type":"pong","timestamp":X}`, queued
//! envelopes go out as text frames exactly as queued (with the team filled in as the batch does), and
//! nothing is acknowledged: a pushed event stays queued until a batch gets `success` or `duplicate` for
//! it (DESIGN §3: the socket is a fast path, the server deduplicates by event id). Upstream handed events
//! to the socket *instead of* the queue and lost them when the socket failed (sync.md §12.1).
//!
//! [`maintain`] keeps the link up: reconnects with exponential backoff and jitter (0.5 s · 2^n, capped
//! at 30 s, retrying forever); after [`RECONNECT_ATTEMPTS`] failures in a row, or when the server refuses
//! our credentials for a socket, the status is Offline-BatchMode (events still go by batch); without a
//! server or a login it is Offline and waits for `auth login` / `sync server` to change that.

use super::auth::{AuthError, Secret, Session};
use super::backoff::{NETWORK as RECONNECT, jittered};
use super::daemon::ConnectionStatus;
use super::delivery;
use super::http::{self, ServerUrl, describe, read_body};
use super::queue::QueueRow;
use super::runner::SyncEnv;
use crate::diagnostics::Ms;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, header};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

pub const WS_TOKEN_PATH: &str = "api/v1/ws-token/";
pub const EVENTS_PATH: &str = "ws/v1/events/";
/// Connect timeout for the ws-token request; a healthy server answers in milliseconds.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The ws-token request, connect included.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(10);
/// TCP, TLS and the upgrade together; then the same again for the snapshot frame.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Writing frames (events, pongs, a close) to a socket that stopped draining.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// After this long without sending anything we send a protocol ping, so an idle link keeps proving
/// itself alive (the server answers pings whatever its own application-level ping schedule).
const KEEPALIVE: Duration = Duration::from_secs(30);
/// Nothing received for this long (not even the pong to our keepalive): a half-open connection.
const IDLE_TIMEOUT: Duration = Duration::from_secs(75);
const MAX_TOKEN_RESPONSE: usize = 64 * 1024;
/// Failed attempts in a row after which the status becomes Offline-BatchMode (upstream gave up after
/// 10). We keep trying at the cap: a daemon outlives any outage.
pub const RECONNECT_ATTEMPTS: u32 = 10;
/// When the server refuses us a socket (or has no endpoint), ask again this much later (or as soon as
/// the login changes).
const REFUSED_RETRY: Duration = Duration::from_secs(300);

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

#[derive(Debug, thiserror::Error)]
pub enum WsError {
    /// No usable login (not logged in, another server's tokens, the session expired): nothing can be
    /// sent until the user logs in.
    #[error(transparent)]
    Session(AuthError),
    /// Logged in, but the server will not give us a socket (ws token or upgrade refused twice).
    #[error("the server refused the WebSocket credentials (HTTP {status})")]
    Refused { status: u16 },
    #[error("the server has no WebSocket endpoint (HTTP {status})")]
    NoEndpoint { status: u16 },
    /// Worth retrying soon: network errors, timeouts, 5xx, dropped connections.
    #[error("{0}")]
    Transient(String),
}

fn auth_error(error: AuthError) -> WsError {
    match error {
        e if e.is_transient() => WsError::Transient(e.to_string()),
        // The credentials file or its lock: a local hiccup, not a verdict on the login.
        e @ (AuthError::Storage { .. } | AuthError::LockTimeout { .. }) => WsError::Transient(e.to_string()),
        e => WsError::Session(e),
    }
}

/// The events socket of a server: `https://` → `wss://`, `http://` (loopback only) → `ws://`.
pub fn events_url(server: &ServerUrl) -> String {
    let url = server.endpoint(EVENTS_PATH);
    match url.strip_prefix("https://") {
        Some(rest) => format!("wss://{rest}"),
        None => format!("ws://{}", url.trim_start_matches("http://")),
    }
}

/// `POST /api/v1/ws-token/` with the session's access token; a 401 refreshes the session and retries
/// once (upstream's `obtain_ws_token`).
pub async fn obtain_ws_token(session: &mut Session) -> Result<Secret, WsError> {
    let mut refreshed = false;
    loop {
        let access = session.access_token().await.map_err(auth_error)?;
        let request = session
            .http()
            .post(session.server().endpoint(WS_TOKEN_PATH))
            .bearer_auth(access.expose())
            .timeout(TOKEN_TIMEOUT);
        let response = http::send(request).await.map_err(|e| WsError::Transient(describe(&e)))?;
        let status = response.status().as_u16();
        let body = read_body(response, MAX_TOKEN_RESPONSE).await.map_err(WsError::Transient)?;
        match status {
            200..=299 => return parse_ws_token(&body),
            401 if !refreshed => {
                refreshed = true;
                tracing::debug!("ws-token request got HTTP 401: renewing the session");
                session.refresh().await.map_err(auth_error)?;
            }
            401 | 403 => return Err(WsError::Refused { status }),
            404 | 405 => return Err(WsError::NoEndpoint { status }),
            _ => return Err(WsError::Transient(format!("HTTP {status} for a WebSocket token"))),
        }
    }
}

fn parse_ws_token(body: &[u8]) -> Result<Secret, WsError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|_| WsError::Transient("the ws-token answer is not JSON".into()))?;
    value
        .get("ws_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(Secret::new)
        .ok_or_else(|| WsError::Transient("the ws-token answer has no ws_token".into()))
}

/// An open events socket, past the snapshot.
pub struct Connection {
    socket: Socket,
    url: String,
    /// Work packages in the snapshot (upstream printed the count; the content is not used).
    pub snapshot_work_packages: Option<usize>,
    /// The first frame's type when it was not a snapshot (upstream warned and carried on).
    pub unexpected_first_frame: Option<String>,
    /// The logged-in team, for [`delivery::sendable`].
    team: Option<String>,
    username: String,
    server: ServerUrl,
}

impl Connection {
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// Opens the events socket for `session`. A refused upgrade gets one more try with a fresh ws token (a
/// ws token is single-use and short-lived; upstream refreshed and retried once as well).
pub async fn open(session: &mut Session, tls: Arc<rustls::ClientConfig>) -> Result<Connection, WsError> {
    let url = events_url(session.server());
    let mut refused_once = false;
    loop {
        let token = obtain_ws_token(session).await?;
        let started = std::time::Instant::now();
        tracing::debug!(%url, "opening the WebSocket");
        let socket = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(&url, &token, tls.clone())).await {
            Err(_) => return Err(WsError::Transient("timed out opening the WebSocket".into())),
            Ok(Ok(socket)) => socket,
            Ok(Err(tungstenite::Error::Http(response))) => {
                let status = response.status().as_u16();
                tracing::debug!(%url, status, elapsed = %Ms(started.elapsed()), "the server refused the WebSocket upgrade");
                match status {
                    401 | 403 if !refused_once => {
                        refused_once = true;
                        continue;
                    }
                    401 | 403 => return Err(WsError::Refused { status }),
                    404 | 405 => return Err(WsError::NoEndpoint { status }),
                    _ => return Err(WsError::Transient(format!("HTTP {status} for the WebSocket upgrade"))),
                }
            }
            Ok(Err(e)) => return Err(WsError::Transient(describe_ws(&e))),
        };
        let credentials = session.credentials();
        let mut connection = Connection {
            socket,
            url: url.clone(),
            snapshot_work_packages: None,
            unexpected_first_frame: None,
            team: credentials.team_slug.clone(),
            username: credentials.username.clone(),
            server: session.server().clone(),
        };
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, connection.socket.next()).await {
            Err(_) => return Err(WsError::Transient("no snapshot from the server".into())),
            Ok(None) => return Err(WsError::Transient("the server closed the WebSocket before its snapshot".into())),
            Ok(Some(Err(e))) => return Err(WsError::Transient(describe_ws(&e))),
            Ok(Some(Ok(Message::Text(text)))) => {
                let frame: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
                match frame.get("type").and_then(Value::as_str) {
                    Some("snapshot") => {
                        connection.snapshot_work_packages =
                            frame.get("work_packages").and_then(Value::as_array).map(Vec::len);
                    }
                    other => connection.unexpected_first_frame = Some(other.unwrap_or("(none)").to_owned()),
                }
            }
            Ok(Some(Ok(other))) => connection.unexpected_first_frame = Some(frame_kind(&other).to_owned()),
        }
        tracing::debug!(
            %url,
            elapsed = %Ms(started.elapsed()),
            snapshot_work_packages = connection.snapshot_work_packages,
            unexpected_first_frame = connection.unexpected_first_frame.as_deref(),
            "WebSocket open"
        );
        return Ok(connection);
    }
}

async fn handshake(url: &str, token: &Secret, tls: Arc<rustls::ClientConfig>) -> Result<Socket, tungstenite::Error> {
    let mut request = url.into_client_request()?;
    // The error names no value, so a malformed token cannot leak through it.
    let mut bearer = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
        .map_err(|e| tungstenite::Error::HttpFormat(e.into()))?;
    // Keeps the value out of any debug rendering of the request.
    bearer.set_sensitive(true);
    request.headers_mut().insert(header::AUTHORIZATION, bearer);
    request
        .headers_mut()
        .insert(header::USER_AGENT, HeaderValue::from_static(concat!("spec-kitty/", env!("CARGO_PKG_VERSION"))));
    let connector = if url.starts_with("wss://") { Connector::Rustls(tls) } else { Connector::Plain };
    let (socket, _response) =
        tokio_tungstenite::connect_async_tls_with_config(request, None, true, Some(connector)).await?;
    Ok(socket)
}

fn frame_kind(message: &Message) -> &'static str {
    match message {
        Message::Text(_) => "text",
        Message::Binary(_) => "binary",
        Message::Ping(_) => "ping",
        Message::Pong(_) => "pong",
        Message::Close(_) => "close",
        Message::Frame(_) => "frame",
    }
}

/// A one-line description of a socket failure (URLs carry no token, so nothing secret can appear).
fn describe_ws(error: &tungstenite::Error) -> String {
    match error {
        tungstenite::Error::Io(e) => format!("cannot connect: {e}"),
        tungstenite::Error::Tls(e) => format!("TLS: {e}"),
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => "connection closed".into(),
        tungstenite::Error::Protocol(e) => format!("WebSocket protocol: {e}"),
        other => other.to_string(),
    }
}

/// The pong for a server ping frame, echoing its timestamp exactly (it is the same JSON number).
fn pong_for(text: &str) -> Option<String> {
    let frame: Value = serde_json::from_str(text).ok()?;
    if frame.get("type").and_then(Value::as_str) != Some("ping") {
        return None;
    }
    let timestamp = frame.get("timestamp").cloned().unwrap_or(Value::Null);
    Some(serde_json::json!({"type": "pong", "timestamp": timestamp}).to_string())
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// The service is stopping (or went away).
    Stopped,
    /// The connection broke; reconnect.
    Lost(String),
    /// The stored login changed (logout, another account): reconnect with the new one, if any.
    LoginChanged,
}

/// What the link reports to the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    /// The connection state changed; `detail` says why it is not Connected (never a secret).
    Status { status: ConnectionStatus, detail: Option<String> },
    /// A socket opened (after its snapshot).
    Opened { url: String, snapshot_work_packages: Option<usize>, unexpected_first_frame: Option<String> },
    /// Events written to the socket (they stay queued until a batch acknowledges them).
    Pushed { events: usize },
}

/// The link's side of its channels with the service.
pub struct LinkChannels {
    /// Queue rows to push; only read while connected (rows arriving otherwise are dropped: the batch
    /// delivers them).
    pub outbox: mpsc::Receiver<Vec<QueueRow>>,
    /// Bumped when the credentials or config.toml change: retry at once instead of waiting out a backoff.
    pub changed: watch::Receiver<u64>,
    /// `true` (or the sender gone): close the socket and return.
    pub stop: watch::Receiver<bool>,
    pub events: mpsc::UnboundedSender<LinkEvent>,
}

impl LinkChannels {
    fn stopping(&self) -> bool {
        *self.stop.borrow() || self.stop.has_changed().is_err()
    }

    fn report(
        &self,
        last: &mut Option<(ConnectionStatus, Option<String>)>,
        status: ConnectionStatus,
        detail: Option<String>,
    ) {
        let next = Some((status, detail.clone()));
        if *last != next {
            *last = next;
            let _ = self.events.send(LinkEvent::Status { status, detail });
        }
    }

    /// Waits `delay` (`None`: until something changes), discarding rows sent meanwhile; `false` when
    /// the service is stopping.
    async fn pause(&mut self, delay: Option<Duration>) -> bool {
        let sleep = async {
            match delay {
                Some(delay) => tokio::time::sleep(delay).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                changed = self.stop.changed() => if changed.is_err() || *self.stop.borrow() { return false },
                changed = self.changed.changed() => return changed.is_ok(),
                rows = self.outbox.recv() => if rows.is_none() { return false },
                () = &mut sleep => return true,
            }
        }
    }
}

/// Keeps the events socket open for as long as the service runs (see the module docs), reporting every
/// status change and push on `channels.events`.
pub async fn maintain(env: SyncEnv, mut channels: LinkChannels) {
    let mut last = None;
    let mut failures: u32 = 0;
    while !channels.stopping() {
        let (mut session, tls) = match prepare(&env) {
            Ok(prepared) => prepared,
            Err(Prepare::Offline(detail)) => {
                tracing::debug!(%detail, "no WebSocket: waiting for a login or a server");
                channels.report(&mut last, ConnectionStatus::Offline, Some(detail));
                failures = 0;
                if !channels.pause(None).await {
                    break;
                }
                continue;
            }
            Err(Prepare::BatchOnly(detail)) => {
                tracing::debug!(%detail, "no WebSocket: batch delivery only");
                channels.report(&mut last, ConnectionStatus::OfflineBatchMode, Some(detail));
                if !channels.pause(None).await {
                    break;
                }
                continue;
            }
        };
        let opened = tokio::select! {
            opened = open(&mut session, tls) => opened,
            _ = channels.stop.changed() => break,
        };
        match opened {
            Ok(connection) => {
                failures = 0;
                let _ = channels.events.send(LinkEvent::Opened {
                    url: connection.url.clone(),
                    snapshot_work_packages: connection.snapshot_work_packages,
                    unexpected_first_frame: connection.unexpected_first_frame.clone(),
                });
                channels.report(&mut last, ConnectionStatus::Connected, None);
                match serve(connection, &env, &mut channels).await {
                    Ended::Stopped => {
                        tracing::debug!("WebSocket closed: the service is stopping");
                        break;
                    }
                    Ended::Lost(detail) => {
                        let delay = jittered(RECONNECT.base);
                        tracing::debug!(%detail, reconnect_in = %Ms(delay), "WebSocket lost");
                        channels.report(&mut last, ConnectionStatus::Reconnecting, Some(detail));
                        failures = 1;
                        if !channels.pause(Some(delay)).await {
                            break;
                        }
                    }
                    Ended::LoginChanged => {
                        tracing::debug!("WebSocket closed: the server or the login changed; reconnecting");
                        channels.report(
                            &mut last,
                            ConnectionStatus::Reconnecting,
                            Some("the server or the login changed".into()),
                        );
                    }
                }
            }
            Err(WsError::Session(error)) => {
                tracing::debug!(%error, "no WebSocket: no usable login; waiting for a change");
                channels.report(&mut last, ConnectionStatus::Offline, Some(error.to_string()));
                failures = 0;
                if !channels.pause(None).await {
                    break;
                }
            }
            Err(error @ (WsError::Refused { .. } | WsError::NoEndpoint { .. })) => {
                tracing::debug!(%error, retry_in = %Ms(REFUSED_RETRY), "no WebSocket: batch delivery only");
                channels.report(&mut last, ConnectionStatus::OfflineBatchMode, Some(error.to_string()));
                if !channels.pause(Some(REFUSED_RETRY)).await {
                    break;
                }
            }
            Err(WsError::Transient(detail)) => {
                failures = failures.saturating_add(1);
                let status = if failures >= RECONNECT_ATTEMPTS {
                    ConnectionStatus::OfflineBatchMode
                } else {
                    ConnectionStatus::Reconnecting
                };
                let delay = reconnect_delay(failures);
                tracing::debug!(attempt = failures, %detail, reconnect_in = %Ms(delay), "WebSocket connection failed");
                let detail = format!("attempt {failures}: {detail}; next try in {:.1}s", delay.as_secs_f64());
                channels.report(&mut last, status, Some(detail));
                if !channels.pause(Some(delay)).await {
                    break;
                }
            }
        }
    }
}

/// `0.5 s · 2^(n-1)`, capped at 30 s, with jitter so clients that lost the server together do not
/// come back together.
pub fn reconnect_delay(failures: u32) -> Duration {
    RECONNECT.jittered_delay(failures)
}

enum Prepare {
    /// Nothing can be sent (no server, no login): wait for a change.
    Offline(String),
    /// Logged in, but no socket is wanted or possible: batch delivery only.
    BatchOnly(String),
}

/// The session and TLS settings for one connection attempt, from the current config and credentials.
fn prepare(env: &SyncEnv) -> Result<(Session, Arc<rustls::ClientConfig>), Prepare> {
    let config = env.config().map_err(|e| Prepare::Offline(e.to_string()))?;
    let server = match env.server(&config) {
        Ok(Some(server)) => server,
        Ok(None) => return Err(Prepare::Offline("no sync server is configured".into())),
        Err(e) => return Err(Prepare::Offline(e.to_string())),
    };
    let http = env.client(&config, CONNECT_TIMEOUT, TOKEN_TIMEOUT).map_err(|e| Prepare::Offline(e.to_string()))?;
    let session =
        Session::open(http, server, env.credential_store(), env.clock).map_err(|e| Prepare::Offline(e.to_string()))?;
    if !config.sync.websocket {
        return Err(Prepare::BatchOnly("the WebSocket is turned off ([sync] websocket = false)".into()));
    }
    let tls = http::tls_config(env.ca_file(&config).as_deref()).map_err(|e| Prepare::Offline(e.to_string()))?;
    Ok((session, Arc::new(tls)))
}

/// Runs one open connection until it breaks, the login changes or the service stops.
async fn serve(mut connection: Connection, env: &SyncEnv, channels: &mut LinkChannels) -> Ended {
    let mut last_received = Instant::now();
    let mut last_sent = Instant::now();
    loop {
        tokio::select! {
            changed = channels.stop.changed() => if changed.is_err() || *channels.stop.borrow() {
                // A polite close, bounded: the server may be the reason we are stopping.
                let _ = tokio::time::timeout(Duration::from_secs(1), connection.socket.close(None)).await;
                return Ended::Stopped;
            },
            changed = channels.changed.changed() => {
                if changed.is_err() {
                    return Ended::Stopped;
                }
                if !still_current(env, &connection) {
                    let _ = tokio::time::timeout(Duration::from_secs(1), connection.socket.close(None)).await;
                    return Ended::LoginChanged;
                }
            }
            frame = connection.socket.next() => {
                last_received = Instant::now();
                match frame {
                    None => return Ended::Lost("the server closed the connection".into()),
                    Some(Err(e)) => return Ended::Lost(describe_ws(&e)),
                    Some(Ok(Message::Close(frame))) => {
                        let why = frame.map(|f| format!(" ({} {})", u16::from(f.code), f.reason)).unwrap_or_default();
                        return Ended::Lost(format!("the server closed the connection{why}"));
                    }
                    Some(Ok(Message::Text(text))) => {
                        if let Some(pong) = pong_for(text.as_str()) {
                            tracing::trace!("answering the server's ping");
                            if let Err(e) = send(&mut connection.socket, vec![Message::text(pong)]).await {
                                return Ended::Lost(e);
                            }
                            last_sent = Instant::now();
                        }
                        // Server-pushed events and other frames are not used (as upstream).
                    }
                    Some(Ok(_)) => {}
                }
            }
            rows = channels.outbox.recv() => {
                let Some(rows) = rows else { return Ended::Stopped };
                let frames: Vec<Message> = rows
                    .into_iter()
                    .filter_map(|row| delivery::sendable(row, connection.team.as_deref()))
                    .map(|row| Message::text(row.data))
                    .collect();
                let count = frames.len();
                if count > 0 {
                    if let Err(e) = send(&mut connection.socket, frames).await {
                        return Ended::Lost(e);
                    }
                    last_sent = Instant::now();
                    tracing::debug!(events = count, "pushed over the WebSocket");
                    let _ = channels.events.send(LinkEvent::Pushed { events: count });
                }
            }
            () = tokio::time::sleep_until(last_sent + KEEPALIVE) => {
                tracing::trace!("keepalive ping");
                if let Err(e) = send(&mut connection.socket, vec![Message::Ping(Default::default())]).await {
                    return Ended::Lost(e);
                }
                last_sent = Instant::now();
            }
            () = tokio::time::sleep_until(last_received + IDLE_TIMEOUT) => {
                return Ended::Lost(format!("nothing from the server for {}s", IDLE_TIMEOUT.as_secs()));
            }
        }
    }
}

/// Whether the configured server and the stored login are still the ones this connection was opened
/// with (`sync server` or `auth login`/`logout` since then mean: reconnect, or go offline).
fn still_current(env: &SyncEnv, connection: &Connection) -> bool {
    let server = env.config().ok().and_then(|config| env.server(&config).ok().flatten());
    let stored = env.credential_store().load().ok().flatten();
    server.as_ref() == Some(&connection.server)
        && stored.is_some_and(|c| {
            c.username == connection.username && c.team_slug == connection.team && c.issued_by(&connection.server)
        })
}

/// Writes `frames` and flushes, within [`SEND_TIMEOUT`].
async fn send(socket: &mut Socket, frames: Vec<Message>) -> Result<(), String> {
    let write = async {
        for frame in frames {
            socket.feed(frame).await?;
        }
        socket.flush().await
    };
    match tokio::time::timeout(SEND_TIMEOUT, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(describe_ws(&e)),
        Err(_) => Err("timed out writing to the WebSocket".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_url_follows_the_server_url_policy() {
        let https = ServerUrl::parse("https://sync.example.com/team/").unwrap();
        assert_eq!(events_url(&https), "wss://sync.example.com/team/ws/v1/events/");
        let local = ServerUrl::parse("http://127.0.0.1:8000").unwrap();
        assert_eq!(events_url(&local), "ws://127.0.0.1:8000/ws/v1/events/");
    }

    #[test]
    fn pings_are_answered_with_their_exact_timestamp() {
        assert_eq!(
            pong_for(r#"{"type": "ping", "timestamp": 1771240353.123456}"#).unwrap(),
            r#"{"type":"pong","timestamp":1771240353.123456}"#
        );
        assert_eq!(pong_for(r#"{"type":"ping"}"#).unwrap(), r#"{"type":"pong","timestamp":null}"#);
        assert_eq!(pong_for(r#"{"type":"event","event_id":"x"}"#), None);
        assert_eq!(pong_for("not json"), None);
    }

    #[test]
    fn ws_tokens_are_read_from_the_answer() {
        assert_eq!(parse_ws_token(br#"{"ws_token": "abc", "expires_in": 60}"#).unwrap().expose(), "abc");
        assert!(matches!(parse_ws_token(br#"{"ws_token": ""}"#), Err(WsError::Transient(_))));
        assert!(parse_ws_token(b"<html>").is_err());
    }

    #[test]
    fn reconnect_delays_grow_to_the_cap_with_jitter() {
        let first = reconnect_delay(1);
        assert!(first >= Duration::from_millis(250) && first <= RECONNECT.base, "{first:?}");
        let later = reconnect_delay(30);
        assert!(later >= RECONNECT.cap / 2 && later <= RECONNECT.cap, "{later:?}");
    }
}
