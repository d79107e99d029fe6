use super::*;
use crate::sync::auth::{AuthError, Renewal};
use crate::sync::backoff::Backoff;
use crate::sync::emit::SPOOL_FILE;
use crate::sync::queue::QueueLimits;
use crate::sync::queue::{OfflineQueue, QueuedEvent};
use flate2::read::GzDecoder;
use serde_json::Value;
use std::io::Read;
use std::path::Path;
use std::time::Duration;
use tokio::time::Instant;

fn queue(dir: &Path, n: usize, max_rejections: u32) -> OfflineQueue {
    let limits = QueueLimits { max_rejections, ..QueueLimits::default() };
    let mut q = OfflineQueue::open(&dir.join("queue.db"), limits).unwrap();
    let events: Vec<QueuedEvent> = (0..n)
        .map(|i| {
            let id = format!("01KHRH{i:020}");
            QueuedEvent {
                data: format!(
                    "{{\"event_id\": \"{id}\", \"event_type\": \"HistoryAdded\", \"n\": {i}, \"team_slug\": \"local\", \"project_uuid\": \"p\"}}"
                ),
                event_id: id,
                event_type: "HistoryAdded".into(),
                lamport_clock: i as u64,
            }
        })
        .collect();
    q.enqueue(&events, 1).unwrap();
    q
}

/// A scripted server: `answer` sees the event ids of each request and the request number.
struct Fake<F> {
    answer: F,
    requests: usize,
    refreshes: usize,
    refresh_fails: bool,
    sent: Vec<Value>,
}

impl<F: FnMut(&[String], usize) -> Result<Reply, PostError>> Fake<F> {
    fn new(answer: F) -> Self {
        Fake { answer, requests: 0, refreshes: 0, refresh_fails: false, sent: Vec::new() }
    }
}

impl<F: FnMut(&[String], usize) -> Result<Reply, PostError>> Endpoint for Fake<F> {
    async fn post(&mut self, gzipped: &[u8], _timeout: Duration) -> Result<Reply, PostError> {
        let mut text = String::new();
        GzDecoder::new(gzipped).read_to_string(&mut text).unwrap();
        let body: Value = serde_json::from_str(&text).unwrap();
        let ids: Vec<String> =
            body["events"].as_array().unwrap().iter().map(|e| e["event_id"].as_str().unwrap().to_owned()).collect();
        self.sent.extend(body["events"].as_array().unwrap().iter().cloned());
        self.requests += 1;
        (self.answer)(&ids, self.requests)
    }

    async fn reauthenticate(&mut self) -> Result<Renewal, AuthError> {
        self.refreshes += 1;
        if self.refresh_fails { Err(AuthError::SessionExpired) } else { Ok(Renewal::Rotated) }
    }

    fn team(&self) -> Option<String> {
        Some("acme".into())
    }
}

fn reply(status: u16, body: Value) -> Result<Reply, PostError> {
    Ok(Reply { status, retry_after: None, body: body.to_string().into_bytes() })
}

fn results(ids: &[String], status: impl Fn(&str) -> &'static str) -> Result<Reply, PostError> {
    let results: Vec<Value> =
        ids.iter().map(|id| json!({"event_id": id, "status": status(id), "error": "invalid field lamport"})).collect();
    reply(200, json!({ "results": results }))
}

fn fast() -> DeliveryOptions {
    DeliveryOptions { backoff: Backoff::new(Duration::from_millis(1), Duration::from_millis(4)), ..Default::default() }
}

async fn run<F: FnMut(&[String], usize) -> Result<Reply, PostError>>(
    q: &mut OfflineQueue,
    fake: &mut Fake<F>,
    options: &DeliveryOptions,
) -> DeliveryReport {
    deliver(q, fake, options, 100, &mut |_| {}).await
}

use serde_json::json;

#[tokio::test]
async fn batches_by_count_and_acknowledges_success_and_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let mut q = queue(dir.path(), 2500, 5);
    let mut sizes = Vec::new();
    let mut fake = Fake::new(|ids: &[String], _| {
        sizes.push(ids.len());
        results(ids, |id| if id.ends_with('7') { "duplicate" } else { "success" })
    });
    let report = run(&mut q, &mut fake, &fast()).await;
    assert_eq!(report.stop, StopReason::Drained);
    assert_eq!((report.delivered + report.duplicates, report.duplicates, report.remaining), (2500, 250, 0));
    assert_eq!(sizes, [1000, 1000, 500]);
    assert!(q.is_empty().unwrap());
}

#[tokio::test]
async fn the_byte_budget_limits_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut q = queue(dir.path(), 100, 5);
    let mut sizes = Vec::new();
    let mut fake = Fake::new(|ids: &[String], _| {
        sizes.push(ids.len());
        results(ids, |_| "success")
    });
    let report = run(&mut q, &mut fake, &DeliveryOptions { max_bytes: 2000, ..fast() }).await;
    assert_eq!(report.delivered, 100);
    assert!(sizes.iter().all(|&n| n * 70 <= 2000), "{sizes:?}");
}

#[tokio::test]
async fn rejections_count_towards_dead_letters_without_blocking_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let mut q = queue(dir.path(), 30, 2);
    let poison = "01KHRH00000000000000000003".to_owned();
    let mut fake =
        Fake::new(|ids: &[String], _| results(ids, |id| if id.ends_with("03") { "rejected" } else { "success" }));
    let first = run(&mut q, &mut fake, &fast()).await;
    assert_eq!((first.delivered, first.rejected, first.dead_lettered, first.remaining), (29, 1, 0, 1));
    assert_eq!(first.failures[0].event_id, poison);
    assert_eq!(first.failures[0].category, ErrorCategory::SchemaMismatch);
    let second = run(&mut q, &mut fake, &fast()).await;
    assert_eq!((second.rejected, second.dead_lettered, second.remaining), (1, 1, 0));
    assert_eq!(q.dead_letters().unwrap()[0].1.as_deref(), Some("invalid field lamport"));
}

#[tokio::test]
async fn missing_results_never_loop_forever() {
    let dir = tempfile::tempdir().unwrap();
    let mut q = queue(dir.path(), 5000, 5);
    let mut fake = Fake::new(|_: &[String], _| reply(200, json!({"results": []})));
    let report = run(&mut q, &mut fake, &fast()).await;
    assert_eq!(report.stop, StopReason::Stalled);
    assert_eq!((fake.requests, report.remaining, report.unanswered), (3, 5000, 3000));
    // Partly answered batches make progress; the run still ends after one pass.
    let mut fake = Fake::new(|ids: &[String], _| results(&ids[..1], |_| "success"));
    let report = run(&mut q, &mut fake, &fast()).await;
    assert_eq!((report.stop, report.delivered, fake.requests), (StopReason::Drained, 5, 5));
}

#[tokio::test]
async fn a_whole_batch_400_is_split_until_the_poison_is_alone() {
    let dir = tempfile::tempdir().unwrap();
    let mut q = queue(dir.path(), 1000, 5);
    let poison = "01KHRH00000000000000000500";
    for named in [true, false] {
        let mut fake = Fake::new(|ids: &[String], _| {
            if ids.iter().any(|id| id == poison) {
                let details = if named { json!([{"event_id": poison, "error": "invalid lane"}]) } else { json!("bad") };
                reply(400, json!({"error": "Batch validation failed", "details": details}))
            } else {
                results(ids, |_| "success")
            }
        });
        let report = run(&mut q, &mut fake, &fast()).await;
        assert_eq!(report.stop, StopReason::Drained);
        assert_eq!((report.rejected, report.remaining), (1, 1));
        let error = &report.failures[0].error;
        if named {
            assert_eq!(error, "invalid lane");
            assert_eq!(fake.requests, 3, "the whole batch, the rest, the named event");
        } else {
            assert_eq!(error, "Batch validation failed\nDetails: bad");
            assert!(fake.requests <= 2 * 10 + 1, "bisection: {}", fake.requests);
        }
    }
}

#[tokio::test]
async fn a_413_halves_the_batch_for_the_rest_of_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut q = queue(dir.path(), 2000, 5);
    let mut sizes = Vec::new();
    let mut fake = Fake::new(|ids: &[String], _| {
        sizes.push(ids.len());
        if ids.len() > 300 { reply(413, json!({"error": "payload_too_large"})) } else { results(ids, |_| "success") }
    });
    let report = run(&mut q, &mut fake, &fast()).await;
    assert_eq!((report.stop, report.delivered), (StopReason::Drained, 2000));
    assert_eq!(&sizes[..4], [1000, 500, 250, 250]);
    assert!(sizes[4..].iter().all(|&n| n <= 250), "{sizes:?}");
}

#[tokio::test]
async fn one_refresh_per_401_then_login_required() {
    let dir = tempfile::tempdir().unwrap();
    let mut q = queue(dir.path(), 10, 5);
    let mut fake =
        Fake::new(|ids: &[String], n| if n == 1 { reply(401, json!({})) } else { results(ids, |_| "success") });
    let report = run(&mut q, &mut fake, &fast()).await;
    assert_eq!((report.stop, report.delivered, fake.refreshes), (StopReason::Drained, 10, 1));

    let mut q = queue(dir.path(), 10, 5);
    let mut fake = Fake::new(|_: &[String], _| reply(401, json!({})));
    let report = run(&mut q, &mut fake, &fast()).await;
    assert!(matches!(report.stop, StopReason::LoginRequired { .. }), "{:?}", report.stop);
    assert_eq!((fake.requests, fake.refreshes, report.remaining), (2, 1, 10));

    let mut fake = Fake::new(|_: &[String], _| reply(401, json!({})));
    fake.refresh_fails = true;
    let report = run(&mut q, &mut fake, &fast()).await;
    assert!(matches!(report.stop, StopReason::LoginRequired { .. }));
    assert_eq!(q.len().unwrap(), 10, "nothing counted as rejected");
    assert_eq!(q.take_batch(1, usize::MAX).unwrap()[0].retry_count, 0);
}

#[tokio::test]
async fn transient_failures_back_off_then_give_up_without_touching_retry_counts() {
    let dir = tempfile::tempdir().unwrap();
    let mut q = queue(dir.path(), 10, 5);
    let mut fake = Fake::new(|ids: &[String], n| match n {
        1 => reply(503, json!({})),
        2 => Err(PostError::Transport("connection reset".into())),
        3 => Ok(Reply { status: 429, retry_after: Some(Duration::from_millis(5)), body: Vec::new() }),
        _ => results(ids, |_| "success"),
    });
    let report = run(&mut q, &mut fake, &fast()).await;
    assert_eq!((report.stop, report.delivered, report.requests), (StopReason::Drained, 10, 4));

    let mut q = queue(dir.path(), 10, 5);
    let mut fake = Fake::new(|_: &[String], _| Err(PostError::Transport("connection reset".into())));
    let report = run(&mut q, &mut fake, &DeliveryOptions { max_attempts: 5, ..fast() }).await;
    match &report.stop {
        StopReason::Offline { detail } => assert!(detail.contains("connection reset"), "{detail}"),
        other => panic!("{other:?}"),
    }
    assert_eq!((fake.requests, report.remaining), (5, 10));
    // Nobody listening at all: fewer tries.
    let mut fake = Fake::new(|_: &[String], _| Err(PostError::Unreachable("connection refused".into())));
    let report = run(&mut q, &mut fake, &DeliveryOptions { max_attempts: 6, ..fast() }).await;
    assert!(matches!(report.stop, StopReason::Offline { .. }));
    assert_eq!(fake.requests, 3);
    assert_eq!(q.take_batch(1, usize::MAX).unwrap()[0].retry_count, 0);
}

#[tokio::test]
async fn the_deadline_ends_a_hanging_request() {
    let dir = tempfile::tempdir().unwrap();
    let mut q = queue(dir.path(), 10, 5);
    struct Hang;
    impl Endpoint for Hang {
        async fn post(&mut self, _: &[u8], _: Duration) -> Result<Reply, PostError> {
            std::future::pending().await
        }
        async fn reauthenticate(&mut self) -> Result<Renewal, AuthError> {
            Ok(Renewal::Rotated)
        }
        fn team(&self) -> Option<String> {
            None
        }
    }
    let start = std::time::Instant::now();
    let options = DeliveryOptions { deadline: Some(Instant::now() + Duration::from_millis(200)), ..fast() };
    let report = deliver(&mut q, &mut Hang, &options, 0, &mut |_| {}).await;
    assert_eq!(report.stop, StopReason::Deadline);
    assert!(start.elapsed() < Duration::from_millis(600), "{:?}", start.elapsed());
    assert_eq!(report.remaining, 10);
}

#[tokio::test]
async fn unparseable_rows_are_rejected_locally() {
    let dir = tempfile::tempdir().unwrap();
    let mut q = queue(dir.path(), 3, 1);
    q.enqueue(
        &[QueuedEvent { event_id: "X".into(), event_type: "T".into(), data: "{not json".into(), lamport_clock: 0 }],
        1,
    )
    .unwrap();
    let mut fake = Fake::new(|ids: &[String], _| results(ids, |_| "success"));
    let report = run(&mut q, &mut fake, &fast()).await;
    assert_eq!((report.delivered, report.rejected, report.dead_lettered, report.remaining), (3, 1, 1, 0));
}

#[tokio::test]
async fn events_need_a_project_and_go_only_to_their_own_team() {
    let dir = tempfile::tempdir().unwrap();
    let mut q = queue(dir.path(), 2, 5);
    let extra = |id: &str, tail: &str| QueuedEvent {
        event_id: id.into(),
        event_type: "HistoryAdded".into(),
        data: format!("{{\"event_id\": \"{id}\"{tail}}}"),
        lamport_clock: 0,
    };
    q.enqueue(
        &[
            extra("NOPROJECT", ", \"project_uuid\": null, \"team_slug\": \"acme\""),
            extra("OTHERTEAM", ", \"project_uuid\": \"p\", \"team_slug\": \"beta\""),
            extra("OWNTEAM", ", \"project_uuid\": \"p\", \"team_slug\": \"acme\""),
        ],
        2,
    )
    .unwrap();
    let mut teams = Vec::new();
    let mut fake = Fake::new(|ids: &[String], _| results(ids, |_| "success"));
    let report = deliver(&mut q, &mut fake, &fast(), 100, &mut |_| {}).await;
    assert_eq!((report.delivered, report.rejected, report.dead_lettered, report.held_back), (3, 1, 1, 1));
    assert_eq!(report.held_for_teams.iter().collect::<Vec<_>>(), ["beta"]);
    assert!(report.failures[0].error.starts_with("missing project_uuid"), "{:?}", report.failures);
    assert_eq!(q.all_rows().unwrap().iter().map(|r| r.event_id.as_str()).collect::<Vec<_>>(), ["OTHERTEAM"]);
    assert_eq!(q.dead_letters().unwrap()[0].0.event_id, "NOPROJECT");
    // Events queued while logged out are sent with the session's team.
    let sent = fake.sent.clone();
    teams.extend(sent.iter().map(|e| e["team_slug"].as_str().unwrap().to_owned()));
    assert_eq!(teams, ["acme", "acme", "acme"]);
}

#[test]
fn categories_follow_upstreams_keywords() {
    assert_eq!(ErrorCategory::of("Missing field wp_id"), ErrorCategory::SchemaMismatch);
    assert_eq!(ErrorCategory::of("Token expired"), ErrorCategory::AuthExpired);
    assert_eq!(ErrorCategory::of("Internal server error"), ErrorCategory::ServerError);
    assert_eq!(ErrorCategory::of("nope"), ErrorCategory::Unknown);
}

#[test]
fn the_spool_moves_into_the_queue_and_is_emptied() {
    let dir = tempfile::tempdir().unwrap();
    let mut q = queue(dir.path(), 0, 5);
    std::fs::write(
        dir.path().join(SPOOL_FILE),
        "{\"event_id\": \"01A\", \"event_type\": \"HistoryAdded\", \"lamport_clock\": 4}\nnot json\n\n",
    )
    .unwrap();
    let import = import_spool(dir.path(), &mut q, 5).unwrap();
    assert_eq!(import, SpoolImport { imported: 1, duplicates: 0, unreadable: 1 });
    assert_eq!(std::fs::read_to_string(dir.path().join(SPOOL_FILE)).unwrap(), "");
    assert_eq!(std::fs::read_to_string(dir.path().join("queue-spool.bad.jsonl")).unwrap(), "not json\n");
    assert_eq!(q.len().unwrap(), 1);
    assert_eq!(import_spool(dir.path(), &mut q, 5).unwrap(), SpoolImport::default());
}
