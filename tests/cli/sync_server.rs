//! Contract tests of the reference sync server itself (reference/sync.md §5–§7, §13): what the client
//! tests rely on must hold here first. Each test drives its own server with reqwest and tungstenite.

use crate::server::{self, FaultKind, Faults, ServerConfig, ServerHandle};
use crate::sync_support::spawn;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::future::Future;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest, http::HeaderValue};

const BATCH: &str = "/api/v1/events/batch/";

// --- helpers -----------------------------------------------------------------------------------------

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
}

/// Fast WebSocket pings so the protocol tests finish in milliseconds; a pong timeout generous enough
/// that a loaded machine does not close sockets the tests still use.
fn config() -> ServerConfig {
    ServerConfig {
        ws_ping_interval: Duration::from_millis(50),
        ws_pong_timeout: Duration::from_secs(10),
        ..ServerConfig::default()
    }
}

fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn http() -> reqwest::Client {
    install_crypto();
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(5)).build().unwrap()
}

/// A deterministic ULID.
fn id(n: u64) -> String {
    ulid::Ulid::from_parts(1_771_240_353_000 + n, u128::from(n)).to_string()
}

/// A WPStatusChanged envelope as an unauthenticated CLI outside a project queues it (sync.md §1.5).
fn envelope(event_id: &str) -> Value {
    json!({
        "event_id": event_id,
        "event_type": "WPStatusChanged",
        "aggregate_id": "WP01",
        "aggregate_type": "WorkPackage",
        "payload": {"wp_id": "WP01", "from_lane": "planned", "to_lane": "in_progress", "actor": "user",
                    "feature_slug": "028-cli-event-emission-sync", "policy_metadata": null},
        "node_id": "10de6763124b",
        "lamport_clock": 42,
        "causation_id": null,
        "timestamp": "2026-02-18T14:03:22.123456+00:00",
        "team_slug": "local",
        "project_uuid": null,
        "project_slug": null,
        "git_branch": null,
        "head_commit_sha": null,
        "repo_slug": null
    })
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

async fn post_json(client: &reqwest::Client, url: String, body: Value) -> Reply {
    reply(client.post(url).json(&body).send().await.unwrap()).await
}

async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap();
    Reply { status, headers, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
}

/// A server started with `config`, a fresh HTTP client, and the tokens of the default user, who logged
/// in before the test starts (with a client and a runtime of its own).
struct Session {
    server: ServerHandle,
    client: reqwest::Client,
    access: String,
    refresh: String,
}

impl Session {
    fn start(config: ServerConfig) -> Session {
        let server = spawn(config);
        let (access, refresh) = block_on(async { login(&http(), server.url()).await });
        Session { server, client: http(), access, refresh }
    }
}

/// Logs in as the default user: `(access, refresh)`.
async fn login(client: &reqwest::Client, url: &str) -> (String, String) {
    let r = post_json(client, format!("{url}/api/v1/token/"), json!({"username": "alice", "password": "secret"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    (r.body["access"].as_str().unwrap().to_owned(), r.body["refresh"].as_str().unwrap().to_owned())
}

/// Posts a raw batch body (`gzip` → compressed with `Content-Encoding: gzip`, as the CLI sends it).
async fn post_raw(client: &reqwest::Client, url: &str, token: Option<&str>, body: Vec<u8>, gzip_it: bool) -> Reply {
    let mut request = client.post(format!("{url}{BATCH}")).header("Content-Type", "application/json");
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let body = if gzip_it {
        request = request.header("Content-Encoding", "gzip");
        gzip(&body)
    } else {
        body
    };
    reply(request.body(body).send().await.unwrap()).await
}

async fn post_events(client: &reqwest::Client, url: &str, token: &str, events: &[Value]) -> Reply {
    let body = serde_json::to_vec(&json!({ "events": events })).unwrap();
    post_raw(client, url, Some(token), body, true).await
}

/// `(event_id, status)` of every result.
fn statuses(body: &Value) -> Vec<(String, String)> {
    body["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results in {body}"))
        .iter()
        .map(|r| (r["event_id"].as_str().unwrap_or("").to_owned(), r["status"].as_str().unwrap().to_owned()))
        .collect()
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn ws_request(url: &str, path: &str, bearer: Option<&str>) -> tungstenite::handshake::client::Request {
    let ws_url = url.replacen("https://", "wss://", 1).replacen("http://", "ws://", 1);
    let mut request = format!("{ws_url}{path}").into_client_request().unwrap();
    if let Some(token) = bearer {
        request.headers_mut().insert("Authorization", HeaderValue::from_str(&format!("Bearer {token}")).unwrap());
    }
    request
}

async fn ws_token(client: &reqwest::Client, url: &str, access: &str) -> String {
    let response = client.post(format!("{url}/api/v1/ws-token/")).bearer_auth(access).send().await.unwrap();
    let r = reply(response).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["expires_in"], 60);
    r.body["ws_token"].as_str().unwrap().to_owned()
}

/// The next text frame as JSON (skipping protocol-level frames).
async fn next_json(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(3), socket.next()).await.expect("a frame in time");
        match frame.expect("socket open").expect("frame") {
            Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
            Message::Close(frame) => panic!("closed: {frame:?}"),
            _ => {}
        }
    }
}

fn handshake_status(result: Result<(Socket, tungstenite::handshake::client::Response), tungstenite::Error>) -> u16 {
    match result {
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("unexpected handshake error: {other}"),
        Ok(_) => 101,
    }
}

fn trusting(cert_pem: &str) -> rustls::ClientConfig {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    install_crypto();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(cert_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth()
}

// --- auth --------------------------------------------------------------------------------------------

#[test]
fn login_returns_both_tokens_and_refuses_bad_credentials() {
    let server = spawn(ServerConfig { team_slug: "team-x".into(), ..config() });
    let client = http();
    block_on(async {
        let url = server.url();
        let ok = post_json(&client, format!("{url}/api/v1/token/"), json!({"username": "alice", "password": "secret"}))
            .await;
        assert_eq!(ok.status, 200);
        assert_eq!(ok.body["access_lifetime"], 900);
        assert_eq!(ok.body["refresh_lifetime"], 604_800);
        assert_eq!(ok.body["team_slug"], "team-x");
        assert_ne!(ok.body["access"], ok.body["refresh"]);
        assert_eq!(ok.body["access"].as_str().unwrap().split('.').count(), 3, "a JWT");

        let bad =
            post_json(&client, format!("{url}/api/v1/token/"), json!({"username": "alice", "password": "nope"})).await;
        assert_eq!(bad.status, 401);
        assert_eq!(bad.body["detail"], "No active account found with the given credentials");

        let missing = post_json(&client, format!("{url}/api/v1/token/"), json!({"username": "alice"})).await;
        assert_eq!(missing.status, 400);
        let garbage = reply(client.post(format!("{url}/api/v1/token/")).body("{").send().await.unwrap()).await;
        assert_eq!(garbage.status, 400);
    });
}

#[test]
fn refresh_rotates_and_a_reused_refresh_token_is_refused() {
    let Session { server, client, access, refresh } = Session::start(config());
    block_on(async {
        let url = server.url();
        let refresh_url = format!("{url}/api/v1/token/refresh/");

        let rotated = post_json(&client, refresh_url.clone(), json!({ "refresh": refresh })).await;
        assert_eq!(rotated.status, 200, "{}", rotated.body);
        let new_refresh = rotated.body["refresh"].as_str().unwrap().to_owned();
        assert_ne!(new_refresh, refresh, "rotation hands out a new refresh token");
        assert_ne!(rotated.body["access"].as_str().unwrap(), access);
        assert_eq!(rotated.body["team_slug"], "acme");
        assert_eq!(rotated.body["access_lifetime"], 900);

        let reused = post_json(&client, refresh_url.clone(), json!({ "refresh": refresh })).await;
        assert_eq!(reused.status, 401, "strict rotation: the old refresh token is dead");

        // Token types do not mix.
        let access_as_refresh = post_json(&client, refresh_url.clone(), json!({ "refresh": access })).await;
        assert_eq!(access_as_refresh.status, 401);
        let refresh_as_access = post_raw(&client, url, Some(&new_refresh), br#"{"events": []}"#.to_vec(), false).await;
        assert_eq!(refresh_as_access.status, 401);

        // Two racing refreshes with one token: exactly one wins (the client must serialise them).
        let racers = (0..6).map(|_| post_json(&client, refresh_url.clone(), json!({ "refresh": new_refresh })));
        let mut codes: Vec<u16> = futures_util::future::join_all(racers).await.iter().map(|r| r.status).collect();
        codes.sort_unstable();
        assert_eq!(codes, [200, 401, 401, 401, 401, 401]);
    });
}

#[test]
fn expired_tokens_are_refused() {
    let server = spawn(ServerConfig { access_lifetime: Duration::from_millis(300), ..config() });
    let client = http();
    block_on(async {
        let url = server.url();
        // Logged in here, not before: the access token lives 300 ms from now.
        let (access, refresh) = login(&client, url).await;
        let empty = || br#"{"events": []}"#.to_vec();
        assert_eq!(post_raw(&client, url, Some(&access), empty(), false).await.status, 200);
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(post_raw(&client, url, Some(&access), empty(), false).await.status, 401, "lifetime passed");

        let (access, _) = login(&client, url).await;
        server.expire_access_tokens();
        let expired = post_raw(&client, url, Some(&access), empty(), false).await;
        assert_eq!(expired.status, 401);
        assert!(expired.headers.contains_key("www-authenticate"));
        // A refresh still works and yields a usable access token.
        let fresh = post_json(&client, format!("{url}/api/v1/token/refresh/"), json!({ "refresh": refresh })).await;
        assert_eq!(fresh.status, 200);
        let access = fresh.body["access"].as_str().unwrap();
        assert_eq!(post_raw(&client, url, Some(access), empty(), false).await.status, 200);

        server.expire_refresh_tokens();
        let refresh = fresh.body["refresh"].as_str().unwrap();
        let ended = post_json(&client, format!("{url}/api/v1/token/refresh/"), json!({ "refresh": refresh })).await;
        assert_eq!(ended.status, 401, "session over: log in again");
    });
}

#[test]
fn ws_token_needs_a_valid_access_token() {
    let Session { server, client, access, refresh } = Session::start(config());
    block_on(async {
        let url = server.url();
        let token = ws_token(&client, url, &access).await;
        assert_eq!(token.len(), 36, "a UUID: {token}");
        for bearer in [None, Some("garbage"), Some(refresh.as_str())] {
            let mut request = client.post(format!("{url}/api/v1/ws-token/"));
            if let Some(bearer) = bearer {
                request = request.bearer_auth(bearer);
            }
            assert_eq!(request.send().await.unwrap().status().as_u16(), 401);
        }
    });
}

// --- batch -------------------------------------------------------------------------------------------

#[test]
fn batch_accepts_plain_and_gzip_bodies_and_answers_once_per_event() {
    let Session { server, client, access, .. } = Session::start(config());
    block_on(async {
        let url = server.url();
        let mut legacy = envelope(&id(3));
        // A 028-era 4-lane payload, an unknown key, and no correlation_id/schema_version: all accepted.
        legacy["payload"] = json!({"wp_id": "WP01", "previous_status": "planned", "new_status": "doing",
                                   "changed_by": "user", "feature_slug": "028-x"});
        legacy["future_field"] = json!({"nested": true});
        let events = [envelope(&id(1)), envelope(&id(2)), legacy.clone()];

        let first = post_events(&client, url, &access, &events).await;
        assert_eq!(first.status, 200);
        let expected = |status: &str| (1..=3).map(|n| (id(n), status.to_owned())).collect::<Vec<_>>();
        assert_eq!(statuses(&first.body), expected("success"));

        // The same batch again, uncompressed this time: every event is a duplicate, none stored twice.
        let body = serde_json::to_vec(&json!({ "events": events })).unwrap();
        let again = post_raw(&client, url, Some(&access), body, false).await;
        assert_eq!(statuses(&again.body), expected("duplicate"));

        // Within one batch, the second copy is the duplicate.
        let twice = post_events(&client, url, &access, &[envelope(&id(4)), envelope(&id(4))]).await;
        assert_eq!(statuses(&twice.body), [(id(4), "success".into()), (id(4), "duplicate".into())]);

        assert_eq!(server.event_count(), 4);
        assert_eq!(server.stored_event_ids(), (1..=4).map(id).collect());
        assert_eq!(server.delivery_count(&id(1)), 2);
        assert_eq!(server.delivery_count(&id(4)), 2);
        assert_eq!(server.delivery_count(&id(99)), 0);
        // Stored exactly as sent, key order included.
        assert_eq!(server.stored_events()[2], legacy);
        assert_eq!(serde_json::to_string(&server.stored_events()[0]).unwrap(), envelope(&id(1)).to_string());
    });
}

#[test]
fn the_empty_probe_gets_an_empty_result_list() {
    let Session { server, client, access, .. } = Session::start(config());
    block_on(async {
        let url = server.url();
        // `sync status --check` posts this uncompressed.
        let probe = post_raw(&client, url, Some(&access), br#"{"events": []}"#.to_vec(), false).await;
        assert_eq!((probe.status, probe.body), (200, json!({"results": []})));
    });
}

#[test]
fn malformed_events_are_rejected_one_by_one() {
    let Session { server, client, access, .. } = Session::start(config());
    block_on(async {
        let url = server.url();
        let mut no_type = envelope(&id(2));
        no_type.as_object_mut().unwrap().remove("event_type");
        let mut no_payload = envelope(&id(3));
        no_payload.as_object_mut().unwrap().remove("payload");
        let mut no_id = envelope(&id(4));
        no_id.as_object_mut().unwrap().remove("event_id");
        let uuid = "550E8400-E29B-41D4-A716-446655440000";
        let events = [
            envelope(&id(1)),
            no_type,
            no_payload,
            no_id,
            envelope("not-an-id"),
            json!("just a string"),
            envelope(uuid),
            envelope(&uuid.to_lowercase()),
        ];
        let r = post_events(&client, url, &access, &events).await;
        assert_eq!(r.status, 200);
        let results = r.body["results"].as_array().unwrap();
        assert_eq!(results.len(), events.len(), "exactly one result per event");
        let got: Vec<&str> = results.iter().map(|r| r["status"].as_str().unwrap()).collect();
        assert_eq!(
            got,
            ["success", "rejected", "rejected", "rejected", "rejected", "rejected", "success", "duplicate"]
        );
        assert_eq!(results[1]["error"], "missing field: event_type");
        assert_eq!(results[2]["error"], "missing field: payload");
        assert_eq!(results[3], json!({"event_id": null, "status": "rejected", "error": "missing field: event_id"}));
        assert!(results[4]["error"].as_str().unwrap().starts_with("invalid field: event_id"));
        assert_eq!(results[6]["event_id"], uuid, "results echo the id as sent");
        let expected = [id(1), uuid.to_lowercase()].into_iter().collect();
        assert_eq!(server.stored_event_ids(), expected, "ids are stored normalised");
    });
}

#[test]
fn payload_validation_is_opt_in() {
    let mut bad_lane = envelope(&id(2));
    bad_lane["payload"]["to_lane"] = json!("doing");
    let events = [envelope(&id(1)), bad_lane];
    let client = http();
    for (validate, second) in [(false, "success"), (true, "rejected")] {
        let server = spawn(ServerConfig { validate_payloads: validate, ..config() });
        block_on(async {
            let (access, _) = login(&client, server.url()).await;
            let r = post_events(&client, server.url(), &access, &events).await;
            assert_eq!(statuses(&r.body), [(id(1), "success".into()), (id(2), second.into())]);
            if validate {
                let error = r.body["results"][1]["error"].as_str().unwrap();
                assert!(error.contains("invalid field") && error.contains("to_lane"), "{error}");
            }
        });
    }
}

#[test]
fn batch_needs_a_valid_access_token() {
    let server = spawn(config());
    let other = spawn(config());
    let client = http();
    block_on(async {
        let url = server.url();
        let (foreign, _) = login(&client, other.url()).await;
        let body = || serde_json::to_vec(&json!({"events": [envelope(&id(1))]})).unwrap();
        for token in [None, Some("garbage"), Some("a.b.c"), Some(foreign.as_str())] {
            let r = post_raw(&client, url, token, body(), true).await;
            assert_eq!(r.status, 401, "token {token:?}");
        }
        let basic = client.post(format!("{url}{BATCH}")).basic_auth("alice", Some("secret")).body(body());
        assert_eq!(basic.send().await.unwrap().status().as_u16(), 401);
        assert_eq!(server.event_count(), 0, "nothing stored without authentication");
    });
}

#[test]
fn bad_bodies_get_400_and_oversized_batches_413() {
    let max = 64 * 1024;
    let Session { server, client, access, .. } = Session::start(ServerConfig { max_batch_bytes: max, ..config() });
    block_on(async {
        let url = server.url();
        let token = Some(access.as_str());
        for (body, gzip_it) in [
            (b"{not json".to_vec(), false),
            (b"[1, 2]".to_vec(), true),
            (br#"{"events": "nope"}"#.to_vec(), false),
            (b"\x1f\x8b garbage".to_vec(), false),
        ] {
            let r = post_raw(&client, url, token, body.clone(), gzip_it).await;
            assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&body));
            assert!(r.body["error"].is_string() && r.body["details"].is_array(), "{}", r.body);
        }
        let not_gzip = client
            .post(format!("{url}{BATCH}"))
            .bearer_auth(&access)
            .header("Content-Encoding", "gzip")
            .body(r#"{"events": []}"#);
        assert_eq!(reply(not_gzip.send().await.unwrap()).await.status, 400);
        let brotli = client.post(format!("{url}{BATCH}")).bearer_auth(&access).header("Content-Encoding", "br");
        assert_eq!(brotli.body("x").send().await.unwrap().status().as_u16(), 415);

        // Over the decompressed limit: plain, and as a tiny gzip bomb.
        let padding = "x".repeat(max);
        let mut fat = envelope(&id(1));
        fat["payload"]["padding"] = json!(padding);
        let body = serde_json::to_vec(&json!({ "events": [fat] })).unwrap();
        for gzip_it in [false, true] {
            let r = post_raw(&client, url, token, body.clone(), gzip_it).await;
            assert_eq!(r.status, 413);
            assert_eq!(r.body["error"], "payload_too_large");
            assert_eq!(r.body["max_decompressed_bytes_per_batch"], max);
        }
        let huge_plain = post_raw(&client, url, token, vec![b' '; 4 * max], false).await;
        assert_eq!(huge_plain.status, 413, "rejected before it is read whole");
        assert_eq!(server.event_count(), 0);
    });
}

// --- faults ------------------------------------------------------------------------------------------

#[test]
fn every_nth_batch_is_rate_limited_with_retry_after() {
    let faults = Faults { rate_limit_every: Some(3), ..Faults::default() };
    let Session { server, client, access, .. } = Session::start(config().with_faults(faults));
    block_on(async {
        let url = server.url();
        let mut codes = Vec::new();
        for n in 1..=6 {
            let r = post_events(&client, url, &access, &[envelope(&id(n))]).await;
            if r.status == 429 {
                assert_eq!(r.headers["retry-after"], "1");
            }
            codes.push(r.status);
        }
        assert_eq!(codes, [200, 200, 429, 200, 200, 429]);
        assert_eq!(server.event_count(), 4, "a throttled batch is not processed");
        let throttled = server.requests().iter().filter(|r| r.fault == Some(FaultKind::RateLimited)).count();
        assert_eq!(throttled, 2);
    });
}

#[test]
fn a_poison_event_fails_the_whole_batch_with_details() {
    let poison = id(2);
    let faults = Faults { poison_event_ids: [poison.clone()].into(), ..Faults::default() };
    let Session { server, client, access, .. } = Session::start(config().with_faults(faults));
    block_on(async {
        let url = server.url();
        let whole = post_events(&client, url, &access, &[envelope(&id(1)), envelope(&poison), envelope(&id(3))]).await;
        assert_eq!(whole.status, 400);
        assert!(whole.body["error"].is_string());
        let details = whole.body["details"].as_array().unwrap();
        assert_eq!(details.len(), 1);
        assert_eq!(details[0]["event_id"], poison.as_str());
        assert!(details[0]["error"].as_str().unwrap().contains("invalid"));
        assert_eq!(server.event_count(), 0, "all-or-nothing");
        assert_eq!(server.requests().last().unwrap().events, Some(3));

        // Bisected halves: the healthy part goes through, the poison alone keeps failing.
        let healthy = post_events(&client, url, &access, &[envelope(&id(1)), envelope(&id(3))]).await;
        assert_eq!(healthy.status, 200);
        assert_eq!(post_events(&client, url, &access, &[envelope(&poison)]).await.status, 400);
        assert_eq!(server.stored_event_ids(), [id(1), id(3)].into());
    });
}

#[test]
fn a_forbidden_team_space_gets_403_after_authentication() {
    let Session { server, client, access, .. } =
        Session::start(config().with_faults(Faults { forbidden: true, ..Faults::default() }));
    block_on(async {
        let url = server.url();
        let r = post_events(&client, url, &access, &[envelope(&id(1))]).await;
        assert_eq!(r.status, 403);
        assert!(r.body["detail"].is_string());
        assert_eq!(post_raw(&client, url, None, br#"{"events": []}"#.to_vec(), false).await.status, 401);
        assert_eq!(server.event_count(), 0);
    });
}

#[test]
fn a_results_limit_answers_for_part_of_the_batch_only() {
    let Session { server, client, access, .. } =
        Session::start(config().with_faults(Faults { results_limit: Some(2), ..Faults::default() }));
    block_on(async {
        let url = server.url();
        let events: Vec<Value> = (1..=5).map(|n| envelope(&id(n))).collect();
        let r = post_events(&client, url, &access, &events).await;
        assert_eq!(statuses(&r.body), [(id(1), "success".into()), (id(2), "success".into())]);
        assert_eq!(server.stored_event_ids(), [id(1), id(2)].into(), "the unanswered rest is not stored");

        // Upstream's endless-loop trigger: 200, no results, nothing processed.
        server.set_faults(Faults { results_limit: Some(0), ..Faults::default() });
        server.take_requests();
        let r = post_events(&client, url, &access, &events).await;
        assert_eq!((r.status, r.body), (200, json!({"results": []})));
        assert_eq!(server.event_count(), 2);
        let logged = server.take_requests();
        assert_eq!(logged.len(), 1);
        assert_eq!(logged[0].fault, Some(FaultKind::MissingResults));
        assert!(server.requests().is_empty());
    });
}

/// The outcome of each of `n` empty batches: the status, or 0 when the response was cut off.
async fn outcomes(client: &reqwest::Client, url: &str, access: &str, n: usize) -> Vec<u16> {
    let mut seen = Vec::new();
    for _ in 0..n {
        let sent = client.post(format!("{url}{BATCH}")).bearer_auth(access).body(r#"{"events": []}"#).send().await;
        let status = match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                if response.bytes().await.is_ok() { status } else { 0 }
            }
            Err(_) => 0,
        };
        seen.push(status);
    }
    seen
}

#[test]
fn random_faults_are_reproducible_from_the_seed() {
    let faults = |seed| Faults { error_rate: 0.4, drop_rate: 0.2, seed, ..Faults::default() };
    let first = spawn(config().with_faults(faults(7)));
    let second = spawn(config().with_faults(faults(7)));
    let third = spawn(config().with_faults(faults(8)));
    let client = http();
    block_on(async {
        let mut runs = Vec::new();
        for server in [&first, &second, &third] {
            let (access, _) = login(&client, server.url()).await;
            runs.push(outcomes(&client, server.url(), &access, 40).await);
        }
        assert_eq!(runs[0], runs[1], "same seed, same faults");
        assert_ne!(runs[0], runs[2], "another seed, other faults");
        let errors = runs[0].iter().filter(|s| [500, 502, 503].contains(*s)).count();
        let drops = runs[0].iter().filter(|s| **s == 0).count();
        assert!((6..=26).contains(&errors), "about 40% errors: {:?}", runs[0]);
        assert!(drops >= 1, "some drops: {:?}", runs[0]);
        assert!(runs[0].iter().all(|s| [0, 200, 500, 502, 503].contains(s)));

        // set_faults restarts the sequence.
        first.set_faults(faults(7));
        let (access, _) = login(&client, first.url()).await;
        assert_eq!(outcomes(&client, first.url(), &access, 40).await, runs[0]);
    });
}

#[test]
fn a_dropped_response_still_stores_the_batch() {
    let Session { server, client, access, .. } =
        Session::start(config().with_faults(Faults { drop_rate: 1.0, ..Faults::default() }));
    block_on(async {
        let url = server.url();
        let body = serde_json::to_vec(&json!({"events": [envelope(&id(1))]})).unwrap();
        let request = client.post(format!("{url}{BATCH}")).bearer_auth(&access).body(body.clone());
        let outcome = match request.send().await {
            Ok(response) => response.bytes().await.map(|_| ()),
            Err(e) => Err(e),
        };
        assert!(outcome.is_err(), "the client never gets the results");
        assert_eq!(server.stored_event_ids(), [id(1)].into(), "but the server stored the event");

        server.set_faults(Faults::default());
        let resent = post_raw(&client, url, Some(&access), body, false).await;
        assert_eq!(statuses(&resent.body), [(id(1), "duplicate".into())]);
        assert_eq!(server.delivery_count(&id(1)), 2);
        assert_eq!(server.event_count(), 1);
        assert!(server.requests().iter().any(|r| r.fault == Some(FaultKind::Drop)));
    });
}

#[test]
fn server_errors_leave_the_batch_unprocessed() {
    let Session { server, client, access, .. } =
        Session::start(config().with_faults(Faults { error_rate: 1.0, ..Faults::default() }));
    block_on(async {
        let r = post_events(&client, server.url(), &access, &[envelope(&id(1))]).await;
        assert!([500, 502, 503].contains(&r.status));
        assert_eq!(server.event_count(), 0);
        assert_eq!(server.delivery_count(&id(1)), 0);
    });
}

#[test]
fn a_hanging_server_never_answers() {
    let mut server = spawn(config().with_faults(Faults { hang: true, ..Faults::default() }));
    install_crypto();
    let client = reqwest::Client::builder().no_proxy().timeout(Duration::from_millis(300)).build().unwrap();
    block_on(async {
        let url = server.url();
        let started = Instant::now();
        let body = json!({"username": "alice", "password": "secret"});
        let error = client.post(format!("{url}/api/v1/token/")).json(&body).send().await.unwrap_err();
        assert!(error.is_timeout(), "{error}");
        assert!(started.elapsed() >= Duration::from_millis(300));
    });
    let records = server.requests();
    assert_eq!(records.len(), 1);
    assert_eq!((records[0].status, records[0].fault), (0, Some(FaultKind::Hang)));
    let stopping = Instant::now();
    server.shutdown();
    assert!(stopping.elapsed() < Duration::from_secs(2), "hung requests do not block shutdown");
}

#[test]
fn latency_delays_every_answer() {
    let latency = Duration::from_millis(200);
    let server = spawn(config().with_faults(Faults { latency, ..Faults::default() }));
    let client = http();
    block_on(async {
        let started = Instant::now();
        login(&client, server.url()).await;
        assert!(started.elapsed() >= latency);
    });
}

// --- WebSocket ---------------------------------------------------------------------------------------

#[test]
fn websocket_speaks_the_protocol_with_header_auth() {
    let Session { server, client, access, .. } = Session::start(config());
    block_on(async {
        let url = server.url();
        let token = ws_token(&client, url, &access).await;
        let (mut socket, response) =
            tokio_tungstenite::connect_async(ws_request(url, "/ws/v1/events/", Some(&token))).await.unwrap();
        assert_eq!(response.status().as_u16(), 101);
        assert_eq!(next_json(&mut socket).await, json!({"type": "snapshot", "work_packages": []}), "snapshot first");

        let ping = next_json(&mut socket).await;
        assert_eq!(ping["type"], "ping");
        assert!(ping["timestamp"].is_number());
        let pong = json!({"type": "pong", "timestamp": ping["timestamp"]});
        socket.send(Message::Text(pong.to_string().into())).await.unwrap();

        // Inbound frames are bare envelopes: stored, deduplicated, never acknowledged. Frames are
        // handled in order, so once the last one has arrived the others have been handled too.
        socket.send(Message::Text(r#"{"no": "event"}"#.into())).await.unwrap();
        for n in [1, 1, 2] {
            socket.send(Message::Text(envelope(&id(n)).to_string().into())).await.unwrap();
        }
        assert!(server.wait_for_ws_event(&id(2), Duration::from_secs(5)).await);
        assert_eq!(server.ws_received(), [id(1), id(1), id(2)]);
        assert_eq!(server.stored_event_ids(), [id(1), id(2)].into());
        assert_eq!(server.delivery_count(&id(1)), 2);
        assert_eq!(server.ws_rejected(), ["missing field: event_id"]);
        assert!(server.ws_pongs() >= 1);
        assert_eq!(server.ws_connections(), 1);
        // Nothing but pings comes back: no acks.
        assert_eq!(next_json(&mut socket).await["type"], "ping");
        socket.close(None).await.unwrap();

        // ws tokens are single-use; a missing or foreign bearer is refused.
        for bearer in [Some(token.as_str()), None, Some(access.as_str())] {
            let refused = tokio_tungstenite::connect_async(ws_request(url, "/ws/v1/events/", bearer)).await;
            assert_eq!(handshake_status(refused), 401, "bearer {bearer:?}");
        }
    });
    assert!(server.wait_for_ws_event_blocking(&id(2), Duration::ZERO));
    assert!(!server.wait_for_ws_event_blocking(&id(9), Duration::from_millis(20)));
    assert!(!server.token_seen_in_url());
}

#[test]
fn websocket_refuses_tokens_in_the_url() {
    let Session { server, client, access, .. } = Session::start(config());
    block_on(async {
        let url = server.url();
        let token = ws_token(&client, url, &access).await;
        let in_query = ws_request(url, &format!("/ws/v1/events/?token={token}"), None);
        assert_eq!(handshake_status(tokio_tungstenite::connect_async(in_query).await), 401);
        // Even with the header as well, a token in the URL has leaked: refused.
        let both = ws_request(url, &format!("/ws/v1/events/?token={token}"), Some(&token));
        assert_eq!(handshake_status(tokio_tungstenite::connect_async(both).await), 401);
    });
    assert!(server.token_seen_in_url());
    let logged = server.requests();
    let ws: Vec<_> = logged.iter().filter(|r| r.path_and_query.starts_with("/ws/")).collect();
    assert_eq!(ws.len(), 2);
    assert!(ws.iter().all(|r| r.path_and_query == "/ws/v1/events/?token=[REDACTED]" && r.status == 401));
}

#[test]
fn websocket_closes_when_pings_go_unanswered() {
    let Session { server, client, access, .. } =
        Session::start(ServerConfig { ws_pong_timeout: Duration::from_millis(200), ..config() });
    block_on(async {
        let url = server.url();
        let token = ws_token(&client, url, &access).await;
        let (mut socket, _) =
            tokio_tungstenite::connect_async(ws_request(url, "/ws/v1/events/", Some(&token))).await.unwrap();
        let close = tokio::time::timeout(Duration::from_secs(3), async {
            while let Some(Ok(frame)) = socket.next().await {
                if let Message::Close(frame) = frame {
                    return frame.map(|f| u16::from(f.code));
                }
            }
            None
        });
        assert_eq!(close.await.unwrap(), Some(1008));
    });
}

// --- TLS, logging, persistence -----------------------------------------------------------------------

#[test]
fn tls_with_a_self_signed_certificate() {
    let (cert, key) = server::self_signed_localhost().unwrap();
    let server = spawn(config().with_tls(cert.clone(), key));
    assert!(server.url().starts_with("https://localhost:"), "{}", server.url());
    let tls = trusting(&cert);
    let client = reqwest::Client::builder().tls_backend_preconfigured(tls.clone()).no_proxy().build().unwrap();
    block_on(async {
        let url = server.url();
        let (access, _) = login(&client, url).await;
        let r = post_events(&client, url, &access, &[envelope(&id(1))]).await;
        assert_eq!(statuses(&r.body), [(id(1), "success".into())]);

        let token = ws_token(&client, url, &access).await;
        let connector = tokio_tungstenite::Connector::Rustls(Arc::new(tls));
        let request = ws_request(url, "/ws/v1/events/", Some(&token));
        let (mut socket, _) =
            tokio_tungstenite::connect_async_tls_with_config(request, None, false, Some(connector)).await.unwrap();
        assert_eq!(next_json(&mut socket).await["type"], "snapshot");

        // A client that does not trust the certificate cannot talk to it.
        let stranger = reqwest::Client::builder()
            .tls_backend_preconfigured(trusting(&server::self_signed_localhost().unwrap().0))
            .no_proxy()
            .build()
            .unwrap();
        assert!(stranger.post(format!("{url}/api/v1/token/")).send().await.is_err());
    });
}

#[test]
fn the_request_log_never_holds_token_values() {
    let Session { server, client, access, refresh } = Session::start(config());
    let tokens = block_on(async {
        let url = server.url();
        let rotated = post_json(&client, format!("{url}/api/v1/token/refresh/"), json!({ "refresh": refresh })).await;
        let ws = ws_token(&client, url, &access).await;
        post_events(&client, url, &access, &[envelope(&id(1))]).await;
        let missing = client.get(format!("{url}/api/v1/token")).send().await.unwrap();
        assert_eq!(missing.status().as_u16(), 404);
        let wrong_method = client.get(format!("{url}{BATCH}")).send().await.unwrap();
        assert_eq!(wrong_method.status().as_u16(), 405);
        vec![access, refresh, ws, rotated.body["access"].as_str().unwrap().to_owned()]
    });
    let records = server.requests();
    let summary: Vec<(String, String, u16, bool)> = records
        .iter()
        .map(|r| (r.method.clone(), r.path_and_query.clone(), r.status, r.authorization_present))
        .collect();
    let row = |m: &str, p: &str, s, a| (m.to_owned(), p.to_owned(), s, a);
    assert_eq!(
        summary,
        [
            row("POST", "/api/v1/token/", 200, false),
            row("POST", "/api/v1/token/refresh/", 200, false),
            row("POST", "/api/v1/ws-token/", 200, true),
            row("POST", BATCH, 200, true),
            row("GET", "/api/v1/token", 404, false),
            row("GET", BATCH, 405, false),
        ]
    );
    assert!(records[3].body_bytes > 0);
    assert_eq!(records[3].events, Some(1));
    assert!(records.iter().enumerate().all(|(i, r)| (i == 3) == r.events.is_some()));
    let rendered = records.iter().map(|r| format!("{r:?} {r}")).collect::<String>();
    assert!(tokens.iter().all(|t| !rendered.contains(t.as_str())));
    assert!(!server.token_seen_in_url());
}

#[test]
fn a_file_backed_store_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.db");
    let client = http();
    for expected in ["success", "duplicate"] {
        let server = spawn(ServerConfig { db_path: Some(db.clone()), ..config() });
        block_on(async {
            let (access, _) = login(&client, server.url()).await;
            let r = post_events(&client, server.url(), &access, &[envelope(&id(1))]).await;
            assert_eq!(statuses(&r.body), [(id(1), expected.into())]);
        });
    }
}

#[test]
fn the_server_also_runs_on_the_callers_runtime() {
    let client = http();
    block_on(async {
        let mut server = server::start(config()).await.unwrap();
        let (access, _) = login(&client, server.url()).await;
        assert_eq!(post_events(&client, server.url(), &access, &[envelope(&id(1))]).await.status, 200);
        server.shutdown();
    });
}
