//! The reference sync server: the SaaS side of the sync wire contract (reference/sync.md §5–§7 and the
//! §13 checklist) on loopback, with a real SQLite event store and injectable faults. The integration
//! tests include this file as a module; `cargo run --example sync-server` wraps it in a developer CLI.
//!
//! Endpoints:
//! - `POST /api/v1/token/` `{username, password}` → `{access, refresh, access_lifetime, refresh_lifetime,
//!   team_slug}`, 401 on bad credentials.
//! - `POST /api/v1/token/refresh/` `{refresh}` → a new pair. Rotation is strict: the presented refresh
//!   token is revoked at once and any reuse is a 401 (no grace window), so a client must serialise its
//!   refreshes (one lock, re-read the credentials after waiting) or it logs itself out.
//! - `POST /api/v1/ws-token/` (Bearer access) → `{ws_token, expires_in: 60}`; ws tokens are single-use.
//! - `POST /api/v1/events/batch/` (Bearer access; gzip or identity body) → one result per event.
//! - `GET /ws/v1/events/` with `Authorization: Bearer <ws_token>`: snapshot first, then pings; inbound
//!   frames are bare envelopes, stored like batch events, never acknowledged.
//!
//! Tokens are HS256 JWTs signed with a per-server random secret and also registered server-side, so the
//! server can revoke them (rotation, [`ServerHandle::expire_access_tokens`]). Token values are never
//! logged: a request URL that carries one is redacted and remembered ([`ServerHandle::token_seen_in_url`]).

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};
use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const ACCESS: &str = "access";
const REFRESH: &str = "refresh";

// ---------------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------------

/// Called once per finished request (the developer CLI prints them).
pub type RequestObserver = Arc<dyn Fn(&RequestRecord) + Send + Sync>;

/// How to run a server. `Default` gives one user `alice`/`secret` in team `acme`, the SaaS lifetimes
/// (access 900 s, refresh 7 days), a 1 MiB decompressed batch limit and an in-memory store.
#[derive(Clone)]
pub struct ServerConfig {
    /// `(username, password)` pairs that may log in.
    pub users: Vec<(String, String)>,
    pub team_slug: String,
    /// 0 picks a free port.
    pub port: u16,
    pub access_lifetime: Duration,
    pub refresh_lifetime: Duration,
    pub ws_token_lifetime: Duration,
    /// Largest accepted batch body after decompression (the SaaS advertises 1 MiB); larger → 413.
    pub max_batch_bytes: usize,
    /// SQLite file for the event store; `None` keeps it in memory.
    pub db_path: Option<PathBuf>,
    /// `(certificate chain PEM, private key PEM)`: serve HTTPS/WSS instead of plain HTTP.
    pub tls: Option<(String, String)>,
    pub ws_ping_interval: Duration,
    /// A ping unanswered for this long closes the WebSocket (code 1008).
    pub ws_pong_timeout: Duration,
    /// Also run the client's own envelope checks (`diagnose_envelope`) and reject events failing them.
    /// Off by default: the SaaS accepts legacy 4-lane payloads and unknown keys (sync.md §13).
    pub validate_payloads: bool,
    /// Faults active from the start (see [`ServerHandle::set_faults`]).
    pub faults: Faults,
    pub on_request: Option<RequestObserver>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            users: vec![("alice".to_owned(), "secret".to_owned())],
            team_slug: "acme".to_owned(),
            port: 0,
            access_lifetime: Duration::from_secs(900),
            refresh_lifetime: Duration::from_secs(604_800),
            ws_token_lifetime: Duration::from_secs(60),
            max_batch_bytes: 1024 * 1024,
            db_path: None,
            tls: None,
            ws_ping_interval: Duration::from_secs(5),
            ws_pong_timeout: Duration::from_secs(15),
            validate_payloads: false,
            faults: Faults::default(),
            on_request: None,
        }
    }
}

impl ServerConfig {
    /// Replaces the accounts with a single one.
    pub fn with_user(mut self, username: &str, password: &str) -> Self {
        self.users = vec![(username.to_owned(), password.to_owned())];
        self
    }

    pub fn with_tls(mut self, cert_pem: String, key_pem: String) -> Self {
        self.tls = Some((cert_pem, key_pem));
        self
    }

    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// The raw request body cap. A gzip body can only be slightly larger than its content, so a body
    /// beyond this bound is certainly over `max_batch_bytes` once decompressed.
    fn request_body_limit(&self) -> usize {
        self.max_batch_bytes.saturating_add(self.max_batch_bytes / 64).saturating_add(64 * 1024)
    }
}

/// Misbehaviour to inject. Random decisions come from `seed` and the number of the batch request
/// (counted from the last [`ServerHandle::set_faults`]), so a sequential client sees the same faults
/// on every run.
///
/// `hang` and `latency` apply to every request. A batch request meets the rest in this order, each
/// ending it: `rate_limit_every` (429) → `error_rate` (5xx) → authentication (401) → `forbidden` (403)
/// → body limits and syntax (413/415/400) → `poison_event_ids` (400) → `results_limit` → storage →
/// `drop_rate`. So throttled and 5xx batches are never processed (like a gateway failing), while a
/// dropped one always was.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Probability (0..1) that a batch request gets 500, 502 or 503 before it is processed.
    pub error_rate: f64,
    /// Delay before every request is handled.
    pub latency: Duration,
    /// Probability that a batch is processed (events stored) and then the connection is cut in the
    /// middle of the response: the client cannot know it succeeded and must re-send (→ `duplicate`).
    pub drop_rate: f64,
    /// Every Nth batch request gets 429 with `Retry-After: 1`, unprocessed.
    pub rate_limit_every: Option<u32>,
    /// A batch containing one of these event ids fails whole (400 with per-event details), as the
    /// SaaS validates all-or-nothing; nothing in it is stored.
    pub poison_event_ids: BTreeSet<String>,
    /// Read every request and never answer (until shutdown).
    pub hang: bool,
    /// Authenticated batch requests get 403, as the SaaS answers for a team space the user may not
    /// sync to (upstream issue #889).
    pub forbidden: bool,
    /// Process and answer at most this many events of each batch; the rest are neither stored nor
    /// mentioned in `results`. `Some(0)` is a 200 with an empty result list for any batch, the answer
    /// that sent upstream's client into an endless loop (sync.md §5.3).
    pub results_limit: Option<usize>,
    pub seed: u64,
}

/// A fault the server injected into a request (see [`Faults`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Never answered.
    Hang,
    /// Processed, then the response was cut off.
    Drop,
    /// 500, 502 or 503.
    ServerError,
    /// 429.
    RateLimited,
    /// Whole-batch 400.
    Poison,
    /// 403.
    Forbidden,
    /// 200 with results for only part of the batch.
    MissingResults,
}

/// One request as the server saw it. Never holds a token value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    pub method: String,
    /// With any issued token replaced by `[REDACTED]`.
    pub path_and_query: String,
    /// 0 when the request was never answered.
    pub status: u16,
    pub authorization_present: bool,
    /// Body size as received (compressed, if it was).
    pub body_bytes: usize,
    /// Events in a batch body, when the server got as far as decoding it (after authentication).
    pub events: Option<usize>,
    pub fault: Option<FaultKind>,
}

impl fmt::Display for RequestRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = if self.status == 0 { "---".to_owned() } else { self.status.to_string() };
        write!(f, "{} {} {status} {}B", self.method, self.path_and_query, self.body_bytes)?;
        if let Some(events) = self.events {
            write!(f, " {events} events")?;
        }
        if self.authorization_present {
            f.write_str(" bearer")?;
        }
        match self.fault {
            Some(fault) => write!(f, " [fault: {fault:?}]"),
            None => Ok(()),
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// The handle
// ---------------------------------------------------------------------------------------------------

/// A running server. Dropping it shuts the server down.
pub struct ServerHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    url: String,
    /// Signalled when the serve loop has finished.
    done: Mutex<mpsc::Receiver<()>>,
    /// The server's own runtime, for [`ServerHandle::spawn`].
    runtime: Option<tokio::runtime::Runtime>,
}

/// Binds `127.0.0.1:<port>` and serves on a task of the current tokio runtime.
pub async fn start(config: ServerConfig) -> io::Result<ServerHandle> {
    let tls = config.tls.as_ref().map(|(cert, key)| tls_acceptor(cert, key)).transpose()?;
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, config.port)).await?;
    let addr = listener.local_addr()?;
    let store = EventStore::open(config.db_path.as_deref()).map_err(io::Error::other)?;
    let shared = Arc::new(Shared::new(config, store));
    let app = router(shared.clone());
    let (done_tx, done) = mpsc::channel();
    let url = match tls {
        None => {
            serve_in_background(listener, app, shared.clone(), done_tx);
            format!("http://127.0.0.1:{}", addr.port())
        }
        Some(acceptor) => {
            serve_in_background(
                TlsListener::new(listener, addr, acceptor, shared.clone()),
                app,
                shared.clone(),
                done_tx,
            );
            // The certificate names `localhost`; the socket is still loopback-only.
            format!("https://localhost:{}", addr.port())
        }
    };
    Ok(ServerHandle { shared, addr, url, done: Mutex::new(done), runtime: None })
}

/// Serves until shutdown is requested, then reports on `done`.
fn serve_in_background<L>(listener: L, app: Router, shared: Arc<Shared>, done: mpsc::Sender<()>)
where
    L: axum::serve::Listener,
    L::Addr: fmt::Debug,
{
    tokio::spawn(async move {
        let stop = shared.clone();
        let _ = axum::serve(listener, app).with_graceful_shutdown(async move { stop.stopped().await }).await;
        let _ = done.send(());
    });
}

impl ServerHandle {
    /// Starts a server on its own multi-thread runtime, for plain `#[test]` functions and other
    /// synchronous callers (which may block, e.g. on CLI child processes, without starving it).
    pub fn spawn(config: ServerConfig) -> io::Result<ServerHandle> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sync-server")
            .enable_all()
            .build()?;
        let mut handle = runtime.block_on(start(config))?;
        handle.runtime = Some(runtime);
        Ok(handle)
    }

    /// `http://127.0.0.1:PORT`, or `https://localhost:PORT` with TLS. No trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces the active faults and restarts the batch-request count their randomness is keyed on.
    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.shared.faults) = FaultState { faults, batch_requests: 0 };
    }

    /// Every access token issued so far is rejected from now on (401); new logins and refreshes work.
    pub fn expire_access_tokens(&self) {
        self.shared.revoke_all(ACCESS);
    }

    /// Every refresh token issued so far is rejected from now on: the session is over, log in again.
    pub fn expire_refresh_tokens(&self) {
        self.shared.revoke_all(REFRESH);
    }

    pub fn stored_event_ids(&self) -> BTreeSet<String> {
        lock(&self.shared.store).ids().unwrap_or_default()
    }

    /// Stored envelopes, as received, in arrival order.
    pub fn stored_events(&self) -> Vec<Value> {
        lock(&self.shared.store).events().unwrap_or_default()
    }

    pub fn event_count(&self) -> usize {
        lock(&self.shared.store).count().unwrap_or(0)
    }

    /// How many times an event reached the store (batch or WebSocket, duplicates included); 0 if never.
    /// Events in a batch answered with an error status do not count: that batch was not processed.
    pub fn delivery_count(&self, event_id: &str) -> u32 {
        lock(&self.shared.store).deliveries(event_id).unwrap_or(0)
    }

    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared.requests).clone()
    }

    /// The requests logged so far, clearing the log (to count what one step of a test sends).
    pub fn take_requests(&self) -> Vec<RequestRecord> {
        std::mem::take(&mut *lock(&self.shared.requests))
    }

    /// Whether any request URL carried an access, refresh or ws token this server issued.
    pub fn token_seen_in_url(&self) -> bool {
        self.shared.token_in_url.load(Ordering::SeqCst)
    }

    /// Ids of the event envelopes received over WebSockets and stored, in arrival order.
    pub fn ws_received(&self) -> Vec<String> {
        lock(&self.shared.ws).received.clone()
    }

    /// Inbound WebSocket frames that were not storable events, with the reason.
    pub fn ws_rejected(&self) -> Vec<String> {
        lock(&self.shared.ws).rejected.clone()
    }

    /// Pongs received that echoed an outstanding ping.
    pub fn ws_pongs(&self) -> usize {
        lock(&self.shared.ws).pongs
    }

    /// WebSocket sessions accepted so far.
    pub fn ws_connections(&self) -> usize {
        lock(&self.shared.ws).connections
    }

    /// Waits until `event_id` has arrived over a WebSocket; false on timeout.
    pub async fn wait_for_ws_event(&self, event_id: &str, timeout: Duration) -> bool {
        let mut changed = self.shared.ws_changed.subscribe();
        let arrived = changed.wait_for(|_| lock(&self.shared.ws).received.iter().any(|id| id == event_id));
        matches!(tokio::time::timeout(timeout, arrived).await, Ok(Ok(_)))
    }

    /// [`ServerHandle::wait_for_ws_event`] for synchronous callers (polls).
    pub fn wait_for_ws_event_blocking(&self, event_id: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if lock(&self.shared.ws).received.iter().any(|id| id == event_id) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stops accepting, ends hung requests and WebSocket sessions, closes idle connections. With its
    /// own runtime (`spawn`) it waits up to 2 s for that and then drops the runtime. Idempotent.
    pub fn shutdown(&mut self) {
        self.shared.stop.send_replace(true);
        if let Some(runtime) = self.runtime.take() {
            let _ = lock(&self.done).recv_timeout(Duration::from_secs(2));
            // Never blocks, so it is safe even when the handle is dropped inside another runtime.
            runtime.shutdown_background();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A self-signed certificate for `localhost` and `127.0.0.1`: `(cert PEM, key PEM)`.
pub fn self_signed_localhost() -> io::Result<(String, String)> {
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let certified = rcgen::generate_simple_self_signed(names).map_err(io::Error::other)?;
    Ok((certified.cert.pem(), certified.signing_key.serialize_pem()))
}

// ---------------------------------------------------------------------------------------------------
// Shared state
// ---------------------------------------------------------------------------------------------------

struct Shared {
    config: ServerConfig,
    /// HS256 key, random per server: tokens from another server (or run) never verify.
    secret: [u8; 64],
    tokens: Mutex<TokenRegistry>,
    store: Mutex<EventStore>,
    faults: Mutex<FaultState>,
    requests: Mutex<Vec<RequestRecord>>,
    token_in_url: AtomicBool,
    ws: Mutex<WsLog>,
    /// Bumped whenever `ws` changes, so waiters need not poll.
    ws_changed: watch::Sender<u64>,
    stop: watch::Sender<bool>,
}

struct FaultState {
    faults: Faults,
    batch_requests: u64,
}

#[derive(Default)]
struct TokenRegistry {
    /// Issued JWTs by `jti`.
    jwts: HashMap<String, IssuedJwt>,
    /// Unused ws tokens and their expiry.
    ws_tokens: HashMap<String, Instant>,
    /// Every token value handed out, to recognise one in a URL.
    handed_out: Vec<String>,
}

struct IssuedJwt {
    kind: &'static str,
    expires: Instant,
    revoked: bool,
}

#[derive(Default)]
struct WsLog {
    connections: usize,
    pongs: usize,
    received: Vec<String>,
    rejected: Vec<String>,
}

/// What the fault plan decided for one batch request.
struct BatchPlan {
    rate_limited: bool,
    server_error: Option<StatusCode>,
    drop: bool,
}

/// Mutex access that survives a poisoned lock: a panicking handler must not take the server down.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn new(config: ServerConfig, store: EventStore) -> Self {
        let mut secret = [0u8; 64];
        for chunk in secret.chunks_mut(16) {
            chunk.copy_from_slice(&random_u128().to_le_bytes());
        }
        let faults = FaultState { faults: config.faults.clone(), batch_requests: 0 };
        Shared {
            config,
            secret,
            tokens: Mutex::default(),
            store: Mutex::new(store),
            faults: Mutex::new(faults),
            requests: Mutex::default(),
            token_in_url: AtomicBool::new(false),
            ws: Mutex::default(),
            ws_changed: watch::Sender::new(0),
            stop: watch::Sender::new(false),
        }
    }

    async fn stopped(&self) {
        let _ = self.stop.subscribe().wait_for(|stopped| *stopped).await;
    }

    fn record(&self, record: RequestRecord) {
        if let Some(observer) = &self.config.on_request {
            observer(&record);
        }
        lock(&self.requests).push(record);
    }

    /// The URL with every issued token blanked out; notes the leak.
    fn redact(&self, url: &str) -> String {
        let tokens = lock(&self.tokens);
        let mut redacted = Cow::Borrowed(url);
        for token in tokens.handed_out.iter().filter(|t| url.contains(t.as_str())) {
            redacted = Cow::Owned(redacted.replace(token.as_str(), "[REDACTED]"));
            self.token_in_url.store(true, Ordering::SeqCst);
        }
        redacted.into_owned()
    }

    fn carries_issued_token(&self, text: &str) -> bool {
        lock(&self.tokens).handed_out.iter().any(|t| text.contains(t.as_str()))
    }

    fn plan_batch(&self) -> BatchPlan {
        let mut state = lock(&self.faults);
        state.batch_requests += 1;
        let n = state.batch_requests;
        let f = &state.faults;
        let rate_limited = f.rate_limit_every.is_some_and(|every| every > 0 && n.is_multiple_of(u64::from(every)));
        let server_error = (unit(f.seed, n, 1) < f.error_rate).then(|| {
            [StatusCode::INTERNAL_SERVER_ERROR, StatusCode::BAD_GATEWAY, StatusCode::SERVICE_UNAVAILABLE]
                [(mix(f.seed, n, 2) % 3) as usize]
        });
        let drop = unit(f.seed, n, 3) < f.drop_rate;
        BatchPlan { rate_limited, server_error, drop }
    }

    // --- tokens ---

    fn issue_pair(&self, username: &str) -> Value {
        let access = self.issue_jwt(username, ACCESS, self.config.access_lifetime);
        let refresh = self.issue_jwt(username, REFRESH, self.config.refresh_lifetime);
        json!({
            "access": access,
            "refresh": refresh,
            "access_lifetime": ceil_secs(self.config.access_lifetime),
            "refresh_lifetime": ceil_secs(self.config.refresh_lifetime),
            "team_slug": self.config.team_slug,
        })
    }

    fn issue_jwt(&self, username: &str, kind: &'static str, lifetime: Duration) -> String {
        let jti = format!("{:032x}", random_u128());
        let now = unix_now();
        let claims = json!({
            "sub": username,
            "team": self.config.team_slug,
            "typ": kind,
            "jti": jti,
            "iat": now.as_secs(),
            "exp": (now + lifetime).as_secs_f64().ceil() as u64,
        });
        let token = jwt::encode(&self.secret, &claims);
        let mut tokens = lock(&self.tokens);
        tokens.jwts.insert(jti, IssuedJwt { kind, expires: Instant::now() + lifetime, revoked: false });
        tokens.handed_out.push(token.clone());
        token
    }

    /// Checks signature, type, expiry and revocation; returns the claims.
    fn verify_jwt(&self, token: &str, kind: &str) -> Option<Map<String, Value>> {
        self.check_jwt(token, kind, false)
    }

    /// Verifies a refresh token and revokes it in the same critical section, so of two concurrent
    /// refreshes with one token exactly one succeeds (strict rotation).
    fn redeem_refresh(&self, token: &str) -> Option<Map<String, Value>> {
        self.check_jwt(token, REFRESH, true)
    }

    fn check_jwt(&self, token: &str, kind: &str, revoke: bool) -> Option<Map<String, Value>> {
        let claims = jwt::decode(&self.secret, token)?;
        let claim = |key: &str| claims.get(key).and_then(Value::as_str);
        if claim("typ") != Some(kind) || claims.get("exp").and_then(Value::as_u64)? < unix_now().as_secs() {
            return None;
        }
        let mut tokens = lock(&self.tokens);
        let issued = tokens.jwts.get_mut(claim("jti")?)?;
        if issued.kind != kind || issued.revoked || issued.expires <= Instant::now() {
            return None;
        }
        issued.revoked |= revoke;
        Some(claims)
    }

    fn revoke_all(&self, kind: &str) {
        for issued in lock(&self.tokens).jwts.values_mut().filter(|i| i.kind == kind) {
            issued.revoked = true;
        }
    }

    /// The Bearer access token's claims, or the 401 to send.
    fn authenticate(&self, headers: &HeaderMap) -> Result<Map<String, Value>, Reject> {
        let Some(token) = bearer(headers) else {
            return Err(not_authenticated().into());
        };
        self.verify_jwt(token, ACCESS).ok_or_else(|| unauthorized("Given token not valid for any token type").into())
    }

    fn issue_ws_token(&self) -> String {
        let token = uuid_v4();
        let mut tokens = lock(&self.tokens);
        tokens.ws_tokens.insert(token.clone(), Instant::now() + self.config.ws_token_lifetime);
        tokens.handed_out.push(token.clone());
        token
    }

    /// Single use: a ws token is spent by the handshake it authorises.
    fn consume_ws_token(&self, token: Option<&str>) -> bool {
        let mut tokens = lock(&self.tokens);
        token.and_then(|t| tokens.ws_tokens.remove(t)).is_some_and(|expires| expires > Instant::now())
    }

    // --- events ---

    fn ingest(&self, events: &[Value], channel: &str) -> Result<Vec<Value>, rusqlite::Error> {
        lock(&self.store).ingest(events, channel, self.config.validate_payloads)
    }

    fn ws_update(&self, change: impl FnOnce(&mut WsLog)) {
        change(&mut lock(&self.ws));
        self.ws_changed.send_modify(|version| *version += 1);
    }
}

// ---------------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------------

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/v1/token/", post(login))
        .route("/api/v1/token/refresh/", post(refresh))
        .route("/api/v1/ws-token/", post(ws_token))
        .route("/api/v1/events/batch/", post(batch))
        .route("/ws/v1/events/", get(ws_endpoint))
        .fallback(|| async { json_response(StatusCode::NOT_FOUND, json!({"detail": "Not found."})) })
        // `observe` has already read the body under our own limit.
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn_with_state(shared.clone(), observe))
        .with_state(shared)
}

/// Every request passes here: read the body (bounded), apply hang/latency, log the outcome.
async fn observe(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut record = RequestRecord {
        method: parts.method.to_string(),
        path_and_query: shared.redact(path),
        status: 0,
        authorization_present: parts.headers.contains_key(header::AUTHORIZATION),
        body_bytes: 0,
        events: None,
        fault: None,
    };
    let bytes = match read_body(body, shared.config.request_body_limit()).await {
        Ok(Some(bytes)) => bytes,
        outcome => {
            let response = match outcome {
                Ok(_) => payload_too_large(shared.config.max_batch_bytes),
                Err(e) => json_response(StatusCode::BAD_REQUEST, json!({"detail": format!("reading the body: {e}")})),
            };
            record.status = response.status().as_u16();
            shared.record(record);
            return response;
        }
    };
    record.body_bytes = bytes.len();
    let (hang, latency) = {
        let state = lock(&shared.faults);
        (state.faults.hang, state.faults.latency)
    };
    if hang {
        record.fault = Some(FaultKind::Hang);
        shared.record(record);
        shared.stopped().await;
        return json_response(StatusCode::SERVICE_UNAVAILABLE, json!({"detail": "Server shutting down."}));
    }
    if !latency.is_zero() {
        tokio::select! {
            () = tokio::time::sleep(latency) => {}
            () = shared.stopped() => {}
        }
    }
    let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    record.status = response.status().as_u16();
    record.fault = response.extensions().get::<FaultKind>().copied();
    record.events = response.extensions().get::<EventCount>().map(|count| count.0);
    shared.record(record);
    response
}

/// The whole body, or `None` as soon as it exceeds `limit` (the rest is never read).
async fn read_body(body: Body, limit: usize) -> Result<Option<Bytes>, axum::Error> {
    use futures_util::StreamExt;
    let mut chunks = body.into_data_stream();
    let mut data = Vec::new();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk?;
        if data.len() + chunk.len() > limit {
            return Ok(None);
        }
        data.extend_from_slice(&chunk);
    }
    Ok(Some(Bytes::from(data)))
}

async fn login(State(shared): State<Arc<Shared>>, body: Bytes) -> Result<Response, Reject> {
    let fields = json_fields(&body, &["username", "password"])?;
    let (username, password) = (&fields[0], &fields[1]);
    if !shared.config.users.iter().any(|(u, p)| u == username && p == password) {
        return Err(unauthorized("No active account found with the given credentials").into());
    }
    Ok(json_response(StatusCode::OK, shared.issue_pair(username)))
}

async fn refresh(State(shared): State<Arc<Shared>>, body: Bytes) -> Result<Response, Reject> {
    let fields = json_fields(&body, &["refresh"])?;
    let claims = shared.redeem_refresh(&fields[0]).ok_or_else(|| unauthorized("Token is invalid or expired"))?;
    let username = claims.get("sub").and_then(Value::as_str).unwrap_or_default();
    Ok(json_response(StatusCode::OK, shared.issue_pair(username)))
}

async fn ws_token(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Result<Response, Reject> {
    shared.authenticate(&headers)?;
    let expires_in = ceil_secs(shared.config.ws_token_lifetime);
    Ok(json_response(StatusCode::OK, json!({"ws_token": shared.issue_ws_token(), "expires_in": expires_in})))
}

/// How many events a batch body held, passed from the handler to the request log.
#[derive(Clone, Copy)]
struct EventCount(usize);

/// `POST /api/v1/events/batch/`.
async fn batch(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let mut count = None;
    let mut response = process_batch(&shared, &headers, &body, &mut count).into_response();
    if let Some(count) = count {
        response.extensions_mut().insert(EventCount(count));
    }
    response
}

/// Faults first (as a flaky gateway would), then auth, then the body; the order is documented on
/// [`Faults`]. `count` learns the number of events once the body is decoded.
fn process_batch(
    shared: &Shared,
    headers: &HeaderMap,
    body: &[u8],
    count: &mut Option<usize>,
) -> Result<Response, Reject> {
    let plan = shared.plan_batch();
    if plan.rate_limited {
        let mut response = json_response(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"detail": "Request was throttled. Expected available in 1 second."}),
        );
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return Err(with_fault(response, FaultKind::RateLimited).into());
    }
    if let Some(status) = plan.server_error {
        let response = json_response(status, json!({"detail": "Injected server error"}));
        return Err(with_fault(response, FaultKind::ServerError).into());
    }
    shared.authenticate(headers)?;
    let (forbidden, results_limit) = {
        let state = lock(&shared.faults);
        (state.faults.forbidden, state.faults.results_limit)
    };
    if forbidden {
        let response = json_response(
            StatusCode::FORBIDDEN,
            json!({"detail": "You do not have permission to perform this action."}),
        );
        return Err(with_fault(response, FaultKind::Forbidden).into());
    }
    let mut events = decode_batch(headers, body, shared.config.max_batch_bytes)?;
    *count = Some(events.len());
    if let Some(response) = poisoned(shared, &events) {
        return Err(with_fault(response, FaultKind::Poison).into());
    }
    let truncated = results_limit.is_some_and(|limit| limit < events.len());
    if let Some(limit) = results_limit {
        events.truncate(limit);
    }
    let results = shared.ingest(&events, "batch").map_err(|e| {
        json_response(StatusCode::INTERNAL_SERVER_ERROR, json!({"detail": format!("event store: {e}")}))
    })?;
    let body = json!({ "results": results }).to_string();
    if plan.drop {
        return Ok(with_fault(cut_off(body), FaultKind::Drop));
    }
    let mut response = Response::new(Body::from(body));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(if truncated { with_fault(response, FaultKind::MissingResults) } else { response })
}

/// The events of a batch body: gzip or identity, bounded after decompression.
fn decode_batch(headers: &HeaderMap, body: &[u8], max: usize) -> Result<Vec<Value>, Reject> {
    let raw = decompress(headers, body, max)?;
    let value: Value =
        serde_json::from_slice(&raw).map_err(|e| batch_error(&format!("Invalid JSON body: {e}"), Vec::new()))?;
    match value {
        Value::Object(mut object) => match object.remove("events") {
            Some(Value::Array(events)) => Ok(events),
            _ => Err(batch_error("Request body must contain an 'events' list", Vec::new()).into()),
        },
        _ => Err(batch_error("Request body must be a JSON object", Vec::new()).into()),
    }
}

fn decompress<'a>(headers: &HeaderMap, body: &'a [u8], max: usize) -> Result<Cow<'a, [u8]>, Reject> {
    let encoding = headers.get(header::CONTENT_ENCODING).map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase());
    let data = match encoding.as_deref() {
        None | Some("" | "identity") => Cow::Borrowed(body),
        Some("gzip" | "x-gzip") => {
            let mut out = Vec::new();
            // Read one byte past the limit to tell "exactly max" from "too large" without inflating a bomb.
            flate2::read::MultiGzDecoder::new(body)
                .take(max as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| batch_error(&format!("Invalid gzip body: {e}"), Vec::new()))?;
            Cow::Owned(out)
        }
        Some(other) => {
            let detail = format!("Unsupported Content-Encoding: {other}");
            return Err(json_response(StatusCode::UNSUPPORTED_MEDIA_TYPE, json!({ "error": detail })).into());
        }
    };
    if data.len() > max {
        return Err(payload_too_large(max).into());
    }
    Ok(data)
}

/// The whole-batch 400 when the batch holds a poison event (nothing in it is stored).
fn poisoned(shared: &Shared, events: &[Value]) -> Option<Response> {
    let poison = lock(&shared.faults).faults.poison_event_ids.clone();
    let details: Vec<Value> = events
        .iter()
        .filter_map(|e| e.get("event_id").and_then(Value::as_str))
        .filter(|id| poison.contains(*id))
        .map(|id| json!({"event_id": id, "error": "invalid field: payload rejected by server validation"}))
        .collect();
    if details.is_empty() {
        return None;
    }
    let error = format!("Batch rejected: {} invalid event(s); no event was stored", details.len());
    Some(batch_error(&error, details))
}

/// A 200 whose connection dies halfway through the body: the client sees a status but no results.
fn cut_off(body: String) -> Response {
    let full_length = body.len();
    let mut half = body.into_bytes();
    half.truncate(full_length / 2);
    let chunks: [Result<Bytes, io::Error>; 2] =
        [Ok(Bytes::from(half)), Err(io::Error::new(io::ErrorKind::ConnectionAborted, "injected connection drop"))];
    let mut response = Response::new(Body::from_stream(futures_util::stream::iter(chunks)));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(full_length));
    response
}

/// The string fields of a JSON object body, DRF-style 400s when one is missing.
fn json_fields(body: &[u8], names: &[&str]) -> Result<Vec<String>, Reject> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| json_response(StatusCode::BAD_REQUEST, json!({"detail": format!("JSON parse error - {e}")})))?;
    names
        .iter()
        .map(|name| match value.get(name).and_then(Value::as_str) {
            Some(text) if !text.is_empty() => Ok(text.to_owned()),
            _ => Err(json_response(StatusCode::BAD_REQUEST, json!({ *name: ["This field is required."] })).into()),
        })
        .collect()
}

/// An early answer to a request (always an error status). Boxed: `Response` is large and would bloat
/// every `Result` that can carry one.
struct Reject(Box<Response>);

impl From<Response> for Reject {
    fn from(response: Response) -> Self {
        Reject(Box::new(response))
    }
}

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        *self.0
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// A 401 for a token that was presented but is not valid (simplejwt's shape).
fn unauthorized(detail: &str) -> Response {
    challenge(json!({"detail": detail, "code": "token_not_valid"}))
}

/// A 401 for a request without credentials.
fn not_authenticated() -> Response {
    challenge(json!({"detail": "Authentication credentials were not provided."}))
}

fn challenge(body: Value) -> Response {
    let mut response = json_response(StatusCode::UNAUTHORIZED, body);
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"api\""));
    response
}

fn batch_error(error: &str, details: Vec<Value>) -> Response {
    json_response(StatusCode::BAD_REQUEST, json!({"error": error, "details": details}))
}

fn payload_too_large(max: usize) -> Response {
    let detail = format!("Batch exceeds {max} bytes after decompression; send fewer events per batch");
    json_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        json!({"error": "payload_too_large", "detail": detail, "max_decompressed_bytes_per_batch": max}),
    )
}

fn with_fault(mut response: Response, fault: FaultKind) -> Response {
    response.extensions_mut().insert(fault);
    response
}

// ---------------------------------------------------------------------------------------------------
// WebSocket
// ---------------------------------------------------------------------------------------------------

async fn ws_endpoint(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    uri: Uri,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    // URLs end up in proxy and server logs, so a token there counts as leaked: refuse it outright.
    if uri.query().is_some_and(|query| query_names_a_token(query) || shared.carries_issued_token(query)) {
        return unauthorized("Tokens in the URL are refused: send Authorization: Bearer <ws_token>");
    }
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    if !shared.consume_ws_token(bearer(&headers)) {
        return unauthorized("Invalid, expired or already used ws token");
    }
    upgrade.on_upgrade(move |socket| ws_session(shared, socket))
}

fn query_names_a_token(query: &str) -> bool {
    query.split('&').filter_map(|pair| pair.split('=').next()).any(|name| {
        let name = name.to_ascii_lowercase();
        name.contains("token") || name.contains("auth") || name == "jwt" || name == "access"
    })
}

/// One accepted socket: snapshot first, then application pings; inbound envelopes are stored.
async fn ws_session(shared: Arc<Shared>, mut socket: WebSocket) {
    shared.ws_update(|ws| ws.connections += 1);
    let snapshot = json!({"type": "snapshot", "work_packages": []});
    if socket.send(Message::Text(snapshot.to_string().into())).await.is_err() {
        return;
    }
    let interval = shared.config.ws_ping_interval.max(Duration::from_millis(1));
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    // Pings sent and not yet answered: (timestamp sent, when).
    let mut outstanding: VecDeque<(f64, Instant)> = VecDeque::new();
    let close = loop {
        tokio::select! {
            _ = ticker.tick() => {
                if outstanding.front().is_some_and(|(_, sent)| sent.elapsed() >= shared.config.ws_pong_timeout) {
                    break Some((1008, "pong timeout"));
                }
                let timestamp = unix_now().as_secs_f64();
                let ping = json!({"type": "ping", "timestamp": timestamp});
                if socket.send(Message::Text(ping.to_string().into())).await.is_err() {
                    break None;
                }
                outstanding.push_back((timestamp, Instant::now()));
            }
            frame = socket.recv() => match frame {
                Some(Ok(Message::Text(text))) => ws_frame(&shared, text.as_str(), &mut outstanding),
                Some(Ok(Message::Binary(_))) => shared.ws_update(|ws| ws.rejected.push("binary frame".into())),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_)) | Err(_)) | None => break None,
            },
            () = shared.stopped() => break Some((1001, "server shutting down")),
        }
    };
    if let Some((code, reason)) = close {
        let _ = socket.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
    }
}

/// A text frame from the client: a pong echoing one of our pings, or a bare event envelope.
fn ws_frame(shared: &Shared, text: &str, outstanding: &mut VecDeque<(f64, Instant)>) {
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return shared.ws_update(|ws| ws.rejected.push("frame is not JSON".into()));
    };
    if value.get("type").and_then(Value::as_str) == Some("pong") {
        let echoed = value.get("timestamp").and_then(Value::as_f64);
        // A pong answers its ping and every older one; one echoing nothing we sent is ignored.
        if let Some(index) = echoed.and_then(|t| outstanding.iter().position(|(sent, _)| (sent - t).abs() < 1e-3)) {
            outstanding.drain(..=index);
            shared.ws_update(|ws| ws.pongs += 1);
        }
        return;
    }
    match shared.ingest(std::slice::from_ref(&value), "ws") {
        Ok(results) => {
            let result = results.into_iter().next().unwrap_or(Value::Null);
            match (result.get("status").and_then(Value::as_str), result.get("event_id").and_then(Value::as_str)) {
                (Some("success" | "duplicate"), Some(id)) => {
                    let id = id.to_owned();
                    shared.ws_update(|ws| ws.received.push(id));
                }
                _ => {
                    let error = result.get("error").and_then(Value::as_str).unwrap_or("rejected").to_owned();
                    shared.ws_update(|ws| ws.rejected.push(error));
                }
            }
        }
        Err(e) => shared.ws_update(|ws| ws.rejected.push(format!("store: {e}"))),
    }
}

// ---------------------------------------------------------------------------------------------------
// Event store
// ---------------------------------------------------------------------------------------------------

/// Stored events keyed by normalised event id; `deliveries` counts every arrival, so tests can tell
/// "stored once, delivered twice" from "stored twice".
struct EventStore {
    conn: rusqlite::Connection,
}

impl EventStore {
    fn open(path: Option<&Path>) -> rusqlite::Result<Self> {
        let conn = match path {
            Some(path) => rusqlite::Connection::open(path)?,
            None => rusqlite::Connection::open_in_memory()?,
        };
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS events (
                 seq INTEGER PRIMARY KEY AUTOINCREMENT,
                 event_id TEXT NOT NULL UNIQUE,
                 event_type TEXT NOT NULL,
                 body TEXT NOT NULL,
                 channel TEXT NOT NULL,
                 received_at REAL NOT NULL,
                 deliveries INTEGER NOT NULL DEFAULT 1
             );",
        )?;
        Ok(EventStore { conn })
    }

    /// One result per event, in order, in one transaction.
    fn ingest(&mut self, events: &[Value], channel: &str, strict: bool) -> rusqlite::Result<Vec<Value>> {
        let tx = self.conn.transaction()?;
        let mut results = Vec::with_capacity(events.len());
        {
            let mut upsert = tx.prepare_cached(
                "INSERT INTO events (event_id, event_type, body, channel, received_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(event_id) DO UPDATE SET deliveries = deliveries + 1
                 RETURNING deliveries",
            )?;
            let now = unix_now().as_secs_f64();
            for event in events {
                let echoed_id = event.get("event_id").cloned().unwrap_or(Value::Null);
                let result = match check_event(event, strict) {
                    Ok((key, event_type)) => {
                        let params = rusqlite::params![key, event_type, event.to_string(), channel, now];
                        let deliveries: i64 = upsert.query_row(params, |row| row.get(0))?;
                        let status = if deliveries == 1 { "success" } else { "duplicate" };
                        json!({"event_id": echoed_id, "status": status})
                    }
                    Err(error) => json!({"event_id": echoed_id, "status": "rejected", "error": error}),
                };
                results.push(result);
            }
        }
        tx.commit()?;
        Ok(results)
    }

    fn ids(&self) -> rusqlite::Result<BTreeSet<String>> {
        let mut stmt = self.conn.prepare("SELECT event_id FROM events")?;
        stmt.query_map([], |row| row.get(0))?.collect()
    }

    fn events(&self) -> rusqlite::Result<Vec<Value>> {
        let mut stmt = self.conn.prepare("SELECT body FROM events ORDER BY seq")?;
        let bodies: Vec<String> = stmt.query_map([], |row| row.get(0))?.collect::<Result<_, _>>()?;
        Ok(bodies.iter().filter_map(|body| serde_json::from_str(body).ok()).collect())
    }

    fn count(&self) -> rusqlite::Result<usize> {
        self.conn.query_row("SELECT COUNT(*) FROM events", [], |row| row.get::<_, i64>(0)).map(|n| n as usize)
    }

    fn deliveries(&self, event_id: &str) -> rusqlite::Result<u32> {
        let key = normalised_id(event_id).unwrap_or_else(|| event_id.to_owned());
        let mut stmt = self.conn.prepare("SELECT deliveries FROM events WHERE event_id = ?1")?;
        let found: Option<i64> = stmt.query_map([key], |row| row.get(0))?.next().transpose()?;
        Ok(found.map_or(0, |n| n as u32))
    }
}

/// The store key (normalised id) and type of a storable event, or why it is rejected. The wording
/// uses the keywords ("missing", "invalid field") the client's error categories key on.
fn check_event(event: &Value, strict: bool) -> Result<(String, String), String> {
    let object = event.as_object().ok_or("invalid event: not a JSON object")?;
    let id = match object.get("event_id") {
        None | Some(Value::Null) => return Err("missing field: event_id".into()),
        Some(Value::String(id)) => id,
        Some(other) => return Err(format!("invalid field: event_id {other} is not a string")),
    };
    let key = normalised_id(id).ok_or_else(|| format!("invalid field: event_id {id:?} is not a ULID or UUID"))?;
    let event_type = match object.get("event_type") {
        Some(Value::String(t)) if !t.is_empty() => t.clone(),
        Some(Value::String(_)) | None | Some(Value::Null) => return Err("missing field: event_type".into()),
        Some(other) => return Err(format!("invalid field: event_type {other} is not a string")),
    };
    match object.get("payload") {
        Some(Value::Object(_)) => {}
        None | Some(Value::Null) => return Err("missing field: payload".into()),
        Some(_) => return Err("invalid field: payload must be an object".into()),
    }
    if strict {
        let problems = spec_kitty::sync::event::diagnose_envelope(event);
        if !problems.is_empty() {
            return Err(format!("invalid field: {}", problems.join("; ")));
        }
    }
    Ok((key, event_type))
}

/// Upstream's `normalize_event_id`: ULIDs upper-case, UUIDs hyphenated lower-case.
fn normalised_id(id: &str) -> Option<String> {
    spec_kitty::events::EventId::parse(id).ok().map(|id| id.to_string())
}

// ---------------------------------------------------------------------------------------------------
// JWT (HS256)
// ---------------------------------------------------------------------------------------------------

mod jwt {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use hmac::{Hmac, KeyInit, Mac};
    use serde_json::{Map, Value};
    use sha2::Sha256;

    const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

    fn mac(secret: &[u8], signing_input: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts keys of any length");
        mac.update(signing_input.as_bytes());
        mac
    }

    pub fn encode(secret: &[u8], claims: &Value) -> String {
        let signing_input = format!("{}.{}", B64.encode(HEADER), B64.encode(claims.to_string()));
        let signature = mac(secret, &signing_input).finalize().into_bytes();
        format!("{signing_input}.{}", B64.encode(signature))
    }

    /// The claims of a token signed with `secret` (constant-time check), or `None`.
    pub fn decode(secret: &[u8], token: &str) -> Option<Map<String, Value>> {
        let (signing_input, signature) = token.rsplit_once('.')?;
        let (header, claims) = signing_input.split_once('.')?;
        mac(secret, signing_input).verify_slice(&B64.decode(signature).ok()?).ok()?;
        let header: Value = serde_json::from_slice(&B64.decode(header).ok()?).ok()?;
        if header.get("alg").and_then(Value::as_str) != Some("HS256") {
            return None;
        }
        serde_json::from_slice(&B64.decode(claims).ok()?).ok()
    }
}

// ---------------------------------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------------------------------

fn tls_acceptor(cert_pem: &str, key_pem: &str) -> io::Result<tokio_rustls::TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let invalid = |e: &dyn fmt::Display| io::Error::new(io::ErrorKind::InvalidInput, format!("TLS: {e}"));
    let certs =
        CertificateDer::pem_slice_iter(cert_pem.as_bytes()).collect::<Result<Vec<_>, _>>().map_err(|e| invalid(&e))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| invalid(&e))?;
    // An explicit provider: the server must not depend on a process-wide default being installed.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(&e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| invalid(&e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Accepts TCP connections and hands out finished TLS sessions. Handshakes run on their own tasks so
/// a client that stalls mid-handshake cannot block everyone else.
struct TlsListener {
    local: SocketAddr,
    sessions: tokio::sync::mpsc::Receiver<(tokio_rustls::server::TlsStream<TcpStream>, SocketAddr)>,
}

impl TlsListener {
    fn new(tcp: TcpListener, local: SocketAddr, acceptor: tokio_rustls::TlsAcceptor, shared: Arc<Shared>) -> Self {
        let (tx, sessions) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = tokio::select! {
                    accepted = tcp.accept() => match accepted {
                        Ok(connection) => connection,
                        // e.g. too many open files: back off instead of spinning.
                        Err(_) => { tokio::time::sleep(Duration::from_millis(50)).await; continue; }
                    },
                    () = shared.stopped() => return,
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    let handshake = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream));
                    if let Ok(Ok(session)) = handshake.await {
                        let _ = tx.send((session, peer)).await;
                    }
                });
            }
        });
        TlsListener { local, sessions }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.sessions.recv().await {
            Some(session) => session,
            // The accept loop ended (shutdown): nothing more will ever arrive.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}

// ---------------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------------

fn unix_now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

fn ceil_secs(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

/// 128 random bits from the OS-seeded generator behind `ulid` (no extra dependency).
fn random_u128() -> u128 {
    (ulid::Ulid::generate().random() << 48) ^ ulid::Ulid::generate().random()
}

fn uuid_v4() -> String {
    let bits = (random_u128() & !(0xF000 << 64) & !(0xC << 60)) | (0x4000 << 64) | (0x8 << 60);
    let hex = format!("{bits:032x}");
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// splitmix64 over (seed, request number, purpose): independent, reproducible draws.
fn mix(seed: u64, n: u64, salt: u64) -> u64 {
    let mut z = seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform draw in [0, 1).
fn unit(seed: u64, n: u64, salt: u64) -> f64 {
    (mix(seed, n, salt) >> 11) as f64 / (1u64 << 53) as f64
}
