//! The dashboard's HTTP server: axum on a small tokio runtime, bound to 127.0.0.1 only.
//!
//! Safe by default:
//! - **loopback only**: the socket is bound to 127.0.0.1, never to another interface;
//! - **the Host header is checked** on every request (`127.0.0.1:<port>` or `localhost:<port>`), so a
//!   web page that rebinds its own DNS name to 127.0.0.1 cannot read anything (DNS rebinding);
//! - **the token is required for anything that changes state**: the only such endpoint is
//!   `POST /api/shutdown`; other methods and cross-origin writes (an `Origin` that is not this server)
//!   are refused; `/api/health` never reveals the token (it only says whether a presented one is right);
//! - **read-only otherwise**, and document paths can never leave their feature directory
//!   (see [`super::paths`]);
//! - every response carries `X-Content-Type-Options: nosniff`, `Cache-Control: no-store`, a
//!   Content-Security-Policy without inline scripts or third-party origins, and frame denial.
//!
//! Lifetime: the server writes `.kittify/.dashboard` once it listens and removes it when it stops. It
//! stops on `POST /api/shutdown` with the token, SIGTERM or SIGINT, and by itself when its record is
//! removed or names another process or the project's `.kittify/` disappears, so a dashboard whose
//! record was lost never lingers as an orphan.

use super::client::TOKEN_HEADER;
use super::costs::{CostCache, CostQuery, answer_json};
use super::features::{self, ARTIFACTS};
use super::paths::{ApiError, resolve_feature, safe_join};
use super::timeline::{self, RecentCache};
use super::{assets, markdown, record};
use crate::context::Context;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path as UrlPath, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The first port tried when none is asked for (upstream's), and how many after it.
pub const FIRST_PORT: u16 = 9237;
pub const PORT_ATTEMPTS: u16 = 100;
/// How often the server checks that its record still names it.
const WATCH_INTERVAL: Duration = Duration::from_secs(2);

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on 127.0.0.1: {0}")]
    Bind(std::io::Error),
    #[error("cannot write {}: {source}", record::RECORD_FILE)]
    Record { source: std::io::Error },
    #[error("cannot start the server runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot make a token: {0}")]
    Token(std::io::Error),
    #[error("the server failed: {0}")]
    Serve(std::io::Error),
}

impl crate::error::Diagnose for ServeError {
    fn hints(&self) -> Vec<String> {
        match self {
            ServeError::Bind(_) => vec!["pick another port with --port N".into()],
            _ => Vec::new(),
        }
    }
}

/// Binds 127.0.0.1: the `preferred` port when it is free, else the first free one from
/// [`FIRST_PORT`] (100 tries), else any port the system gives.
pub fn bind(preferred: Option<u16>) -> Result<(TcpListener, u16), ServeError> {
    let try_port = |port: u16| TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).ok();
    let candidates = preferred.into_iter().chain(FIRST_PORT..FIRST_PORT.saturating_add(PORT_ATTEMPTS));
    let listener = match candidates.filter(|&p| p != 0).find_map(try_port) {
        Some(listener) => listener,
        None => TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).map_err(ServeError::Bind)?,
    };
    let port = listener.local_addr().map_err(ServeError::Bind)?.port();
    Ok((listener, port))
}

/// 16 random bytes as 32 hex digits (upstream's `secrets.token_hex(16)`).
pub fn new_token() -> Result<String, ServeError> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)).map_err(ServeError::Token)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// What a listening server tells its caller.
#[derive(Debug, Clone)]
pub struct Listening {
    pub url: String,
    pub port: u16,
    pub pid: u32,
}

/// Everything the handlers share.
pub struct AppState {
    root: PathBuf,
    port: u16,
    token: String,
    pid: u32,
    /// The environment the server started with; each request builds its [`Context`] from it.
    vars: HashMap<String, OsString>,
    costs: CostCache,
    recent: RecentCache,
    stop: tokio::sync::watch::Sender<Option<&'static str>>,
}

impl AppState {
    fn context(&self) -> Result<Context, ApiError> {
        Context::from_vars(Some(&self.root), |name| self.vars.get(name).cloned())
            .map_err(|e| ApiError::Internal(e.to_string()))
    }

    fn allowed_host(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        let port = self.port.to_string();
        ["127.0.0.1", "localhost"].iter().any(|name| {
            host.strip_prefix(name)
                .is_some_and(|rest| rest == format!(":{port}") || (rest.is_empty() && self.port == 80))
        })
    }

    fn same_origin(&self, origin: &str) -> bool {
        let origin = origin.trim().to_ascii_lowercase();
        origin == format!("http://127.0.0.1:{}", self.port) || origin == format!("http://localhost:{}", self.port)
    }

    fn token_matches(&self, presented: &str) -> bool {
        let (a, b) = (self.token.as_bytes(), presented.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// Serves the project at `root` on `listener` until it is told to stop; `ready` runs once the record
/// is written (the command prints the URL there). The record is removed on the way out.
pub fn serve(root: &Path, listener: TcpListener, port: u16, ready: impl FnOnce(&Listening)) -> Result<(), ServeError> {
    let token = new_token()?;
    let pid = std::process::id();
    let (stop, _) = tokio::sync::watch::channel(None);
    let state = Arc::new(AppState {
        root: root.to_owned(),
        port,
        token,
        pid,
        vars: std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v))).collect(),
        costs: CostCache::default(),
        recent: RecentCache::default(),
        stop,
    });
    listener.set_nonblocking(true).map_err(ServeError::Bind)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("dashboard")
        .build()
        .map_err(ServeError::Runtime)?;
    let result = runtime.block_on(async {
        let listener = tokio::net::TcpListener::from_std(listener).map_err(ServeError::Bind)?;
        record::write(root, &record::Record::new(port, &state.token, pid))
            .map_err(|source| ServeError::Record { source })?;
        let url = record::url_of(port);
        tracing::info!("dashboard for {} listening on {url} (pid {pid})", root.display());
        ready(&Listening { url, port, pid });
        tokio::spawn(watch(state.clone()));
        tokio::spawn(signals(state.clone()));
        let mut stopped = state.stop.subscribe();
        let until_stopped = async move {
            let _ = stopped.wait_for(Option::is_some).await;
        };
        let mut deadline = state.stop.subscribe();
        let server = axum::serve(listener, router(state.clone())).with_graceful_shutdown(until_stopped);
        tokio::select! {
            result = server => result.map_err(ServeError::Serve),
            // Connections that do not close in time (a browser keeping one open) do not hold us up.
            _ = async move {
                let _ = deadline.wait_for(Option::is_some).await;
                tokio::time::sleep(Duration::from_secs(2)).await;
            } => Ok(()),
        }
    });
    let reason = *state.stop.borrow();
    tracing::info!("dashboard stopped ({})", reason.unwrap_or("server ended"));
    record::remove(root, Some(pid));
    runtime.shutdown_timeout(Duration::from_millis(200));
    result
}

/// Stops the server when its record no longer names it or the project is gone.
async fn watch(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(WATCH_INTERVAL);
    tick.tick().await;
    loop {
        tick.tick().await;
        let root = state.root.clone();
        let ours = tokio::task::spawn_blocking(move || {
            root.join(".kittify").is_dir()
                && matches!(record::read(&root), Ok(Some(r)) if r.pid == Some(std::process::id()))
        })
        .await
        .unwrap_or(true);
        if !ours {
            let _ = state.stop.send(Some("its record was removed or taken over"));
            return;
        }
    }
}

async fn signals(state: Arc<AppState>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        return;
    };
    let reason = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    let _ = state.stop.send(Some(reason));
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/static/{file}", get(asset))
        .route("/api/health", get(health))
        .route("/api/shutdown", post(shutdown).layer(DefaultBodyLimit::max(4096)))
        .route("/api/features", get(features_list))
        .route("/api/kanban/{feature}", get(kanban))
        .route("/api/prompt/{feature}/{wp}", get(prompt))
        .route("/api/artifact/{feature}/{name}", get(artifact))
        .route("/api/research/{feature}", get(research_list))
        .route("/api/research/{feature}/{*path}", get(folder_file))
        .route("/api/contracts/{feature}", get(contracts_list))
        .route("/api/contracts/{feature}/{*path}", get(folder_file))
        .route("/api/checklists/{feature}", get(checklists_list))
        .route("/api/checklists/{feature}/{*path}", get(folder_file))
        .route("/api/constitution", get(constitution))
        .route("/api/diagnostics", get(diagnostics))
        .route("/api/costs", get(costs))
        .route("/api/events", get(events))
        .route("/api/sync", get(sync_status))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// The checks every request passes, and the headers every response carries.
async fn guard(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default().to_owned();
    let mut response = if !state.allowed_host(&host) {
        error_response(
            StatusCode::FORBIDDEN,
            "host_not_allowed",
            "this dashboard only answers to 127.0.0.1 and localhost",
        )
    } else if !matches!(method, Method::GET | Method::HEAD)
        && request
            .headers()
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok())
            .is_some_and(|origin| !state.same_origin(origin))
    {
        error_response(StatusCode::FORBIDDEN, "cross_origin", "cross-origin requests cannot change anything")
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CONTENT_SECURITY_POLICY, CSP),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    tracing::debug!(%method, path, status = response.status().as_u16(), elapsed_ms = started.elapsed().as_secs_f64() * 1e3, "request");
    response
}

fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], json!({"error": code, "message": message}).to_string())
        .into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        error_response(status, code, &self.to_string())
    }
}

fn json_response(value: &Value) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_default();
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A document as markdown text, or rendered (`?format=html`).
fn document_response(text: String, params: &HashMap<String, String>) -> Response {
    if params.get("format").is_some_and(|f| f == "html") {
        ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], markdown::render(&text)).into_response()
    } else {
        ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
    }
}

/// Runs file-reading work off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| ApiError::Internal(format!("the request failed: {e}")))?
}

async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "not_found", "no such page")
}

async fn index() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], assets::INDEX_HTML).into_response()
}

async fn asset(UrlPath(file): UrlPath<String>) -> Response {
    match assets::get(&file) {
        Some((content_type, body)) => ([(header::CONTENT_TYPE, content_type)], body).into_response(),
        None => error_response(StatusCode::NOT_FOUND, "not_found", "no such file"),
    }
}

/// `{status, project_path, pid, version}`, plus `token_valid` when the request presents a token in
/// the `X-Spec-Kitty-Token` header. The token itself is never sent.
async fn health(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let mut body = json!({
        "status": "ok",
        "project_path": state.root.display().to_string(),
        "pid": state.pid,
        "version": env!("CARGO_PKG_VERSION"),
    });
    if let Some(presented) = headers.get(TOKEN_HEADER).and_then(|t| t.to_str().ok()) {
        body["token_valid"] = json!(state.token_matches(presented));
    }
    json_response(&body)
}

/// Stops the server: the token in the `X-Spec-Kitty-Token` header or as `{"token": …}` (upstream's body).
async fn shutdown(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let mut presented = headers.get(TOKEN_HEADER).and_then(|t| t.to_str().ok()).map(str::to_owned);
    if presented.is_none() && !body.is_empty() {
        match serde_json::from_slice::<Value>(&body) {
            Ok(value) => presented = value["token"].as_str().map(str::to_owned),
            Err(_) => return error_response(StatusCode::BAD_REQUEST, "invalid_payload", "the body is not JSON"),
        }
    }
    if !presented.is_some_and(|t| state.token_matches(&t)) {
        return error_response(StatusCode::FORBIDDEN, "invalid_token", "the shutdown token is missing or wrong");
    }
    let _ = state.stop.send(Some("shutdown requested"));
    json_response(&json!({"status": "stopping"}))
}

async fn features_list(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let value = blocking(move || {
        let ctx = state.context()?;
        Ok(features::features_json(&state.root, ctx.home.as_deref(), ctx.feature_override.as_deref()))
    })
    .await?;
    Ok(json_response(&value))
}

async fn kanban(State(state): State<Arc<AppState>>, UrlPath(feature): UrlPath<String>) -> Result<Response, ApiError> {
    let value = blocking(move || {
        let now = state.context()?.now();
        features::kanban_json(&state.root, &feature, now)
    })
    .await?;
    Ok(json_response(&value))
}

async fn prompt(
    State(state): State<Arc<AppState>>,
    UrlPath((feature, wp)): UrlPath<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let text = blocking(move || {
        let feature = resolve_feature(&state.root, &feature)?;
        let id = crate::workflow::wp::normalize_wp_id(&wp).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let wp =
            crate::workflow::wp::WorkPackage::load(&feature.dir, &id).map_err(|e| ApiError::NotFound(e.to_string()))?;
        crate::fsutil::ensure_within(&feature.dir, &wp.path).map_err(|e| ApiError::Forbidden(e.to_string()))?;
        Ok(wp.doc.body().trim().to_owned())
    })
    .await?;
    Ok(document_response(text, &params))
}

async fn artifact(
    State(state): State<Arc<AppState>>,
    UrlPath((feature, name)): UrlPath<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let text = blocking(move || {
        let feature = resolve_feature(&state.root, &feature)?;
        let file = ARTIFACTS.iter().find(|(key, _)| *key == name).map(|(_, file)| *file).ok_or_else(|| {
            ApiError::NotFound(format!("no artifact {name:?} (spec, plan, tasks, research, quickstart, data-model)"))
        })?;
        let path = safe_join(&feature.dir, file)?;
        super::paths::read_document(&path)
    })
    .await?;
    Ok(document_response(text, &params))
}

async fn listing(state: Arc<AppState>, feature: String, folder: &'static str) -> Result<Response, ApiError> {
    let value = blocking(move || features::listing_json(&state.root, &feature, folder)).await?;
    Ok(json_response(&value))
}

async fn research_list(
    State(state): State<Arc<AppState>>,
    UrlPath(feature): UrlPath<String>,
) -> Result<Response, ApiError> {
    listing(state, feature, "research").await
}

async fn contracts_list(
    State(state): State<Arc<AppState>>,
    UrlPath(feature): UrlPath<String>,
) -> Result<Response, ApiError> {
    listing(state, feature, "contracts").await
}

async fn checklists_list(
    State(state): State<Arc<AppState>>,
    UrlPath(feature): UrlPath<String>,
) -> Result<Response, ApiError> {
    listing(state, feature, "checklists").await
}

/// One file of a feature's research/contracts/checklists area; the path is relative to the feature
/// directory (as the listings give it) and may not leave it.
async fn folder_file(
    State(state): State<Arc<AppState>>,
    UrlPath((feature, path)): UrlPath<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let text = blocking(move || {
        let feature = resolve_feature(&state.root, &feature)?;
        let file = safe_join(&feature.dir, &path)?;
        if !file.is_file() {
            return Err(ApiError::NotFound(format!("{path} is not a file")));
        }
        super::paths::read_document(&file)
    })
    .await?;
    Ok(document_response(text, &params))
}

async fn constitution(
    State(state): State<Arc<AppState>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let text = blocking(move || {
        let path = features::constitution_path(&state.root);
        crate::fsutil::ensure_within(&state.root, &path).map_err(|e| ApiError::Forbidden(e.to_string()))?;
        super::paths::read_document(&path).map_err(|e| match e {
            ApiError::NotFound(_) => ApiError::NotFound("Constitution not found".into()),
            other => other,
        })
    })
    .await?;
    Ok(document_response(text, &params))
}

async fn diagnostics(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let value = blocking(move || {
        let ctx = state.context()?;
        Ok(super::diagnostics::diagnostics_json(&state.root, ctx.feature_override.as_deref(), state.pid, state.port))
    })
    .await?;
    Ok(json_response(&value))
}

async fn costs(
    State(state): State<Arc<AppState>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let body = blocking(move || {
        let query = CostQuery::from_params(&params)?;
        let ctx = state.context()?;
        let answer = state.costs.report(ctx.home.as_deref(), &state.root, &query)?;
        Ok(serde_json::to_vec(&answer_json(&answer)).unwrap_or_default())
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], Body::from(body)).into_response())
}

async fn events(
    State(state): State<Arc<AppState>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let value = blocking(move || {
        let ctx = state.context()?;
        timeline::events_json(&state.root, ctx.home.as_deref(), &params, &state.costs, &state.recent)
    })
    .await?;
    Ok(json_response(&value))
}

/// What `spec-kitty sync status --json` prints, from the same code.
async fn sync_status(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let value = blocking(move || {
        let ctx = state.context()?;
        crate::sync::status::SyncStatus::gather(&ctx)
            .map_err(|e| ApiError::Internal(e.to_string()))
            .and_then(|s| serde_json::to_value(&s).map_err(|e| ApiError::Internal(e.to_string())))
    })
    .await?;
    Ok(json_response(&value))
}
