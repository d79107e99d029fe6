use super::*;

const WAIT: Duration = Duration::from_secs(30);
use serde_json::json;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

fn ts(text: &str) -> Timestamp {
    Timestamp::parse(text).unwrap()
}

fn event(id: u128, wp: &str, from: Lane, to: Lane, at: &str) -> StatusEvent {
    StatusEvent {
        actor: "user".into(),
        at: ts(at),
        event_id: EventId::Ulid(id),
        evidence: None,
        execution_mode: "worktree".into(),
        feature_slug: "001-demo".into(),
        force: false,
        from_lane: from,
        policy_metadata: None,
        reason: None,
        review_ref: None,
        to_lane: to,
        wp_id: wp.into(),
    }
}

// ---- the event line ------------------------------------------------------------------------------

#[test]
fn writes_every_key_sorted_with_policy_metadata_null() {
    let mut e = event(1, "WP01", Lane::ForReview, Lane::Done, "2026-02-16T15:49:53.976032+00:00");
    e.force = true;
    e.reason = Some("Review passed – ok".into());
    e.evidence = Some(json!({"review": {"reviewer": "Zoë", "verdict": "approved", "reference": "PR 1"}}));
    assert_eq!(
        e.to_line(),
        concat!(
            r#"{"actor": "user", "at": "2026-02-16T15:49:53.976032+00:00", "event_id": "00000000000000000000000001", "#,
            r#""evidence": {"review": {"reference": "PR 1", "reviewer": "Zo\u00eb", "verdict": "approved"}}, "#,
            r#""execution_mode": "worktree", "feature_slug": "001-demo", "force": true, "from_lane": "for_review", "#,
            r#""policy_metadata": null, "reason": "Review passed \u2013 ok", "review_ref": null, "to_lane": "done", "#,
            r#""wp_id": "WP01"}"#
        )
    );
    assert_eq!(StatusEvent::from_line(e.to_line().as_bytes()).unwrap(), e);
}

#[test]
fn reads_older_newer_and_aliased_lines() {
    // No policy_metadata (pre-P lines), `doing`, an unknown key, mission_slug instead of feature_slug.
    let line = br#"{"actor": "a", "at": "2026-02-16T15:23:51Z", "event_id": "01khkgt029n50vdtfktj56tdw5", "evidence": null, "execution_mode": "direct_repo", "mission_slug": "002-x", "force": false, "from_lane": "doing", "to_lane": "for_review", "wp_id": "WP02", "mission_id": "01KHKGT029N50VDTFKTJ56TDW5"}"#;
    let e = StatusEvent::from_line(line).unwrap();
    assert_eq!((e.from_lane, e.to_lane), (Lane::InProgress, Lane::ForReview));
    assert_eq!(e.feature_slug, "002-x");
    assert_eq!((e.reason.as_deref(), e.review_ref.as_deref(), e.policy_metadata.as_ref()), (None, None, None));
    let written = e.to_line();
    assert!(written.contains(r#""at": "2026-02-16T15:23:51+00:00""#), "{written}");
    assert!(written.contains(r#""event_id": "01KHKGT029N50VDTFKTJ56TDW5""#), "{written}");
    assert!(written.contains(r#""from_lane": "in_progress""#) && !written.contains("mission"), "{written}");
    let with_policy = br#"{"actor": "a", "at": "2026-02-16T15:23:51+00:00", "event_id": "01KHKGT029N50VDTFKTJ56TDW5", "execution_mode": "worktree", "feature_slug": "002-x", "force": true, "from_lane": "planned", "policy_metadata": {"k": [1, 2.5]}, "to_lane": "claimed", "wp_id": "WP02"}"#;
    let e = StatusEvent::from_line(with_policy).unwrap();
    assert_eq!(e.policy_metadata, Some(json!({"k": [1, 2.5]})));
    assert!(e.to_line().contains(r#""policy_metadata": {"k": [1, 2.5]}"#));
}

#[test]
fn reads_the_lanes_current_upstream_writes() {
    // spec-kitty-cli 3.x: a genesis seed, the review lanes and a structured review result.
    let seed = br#"{"actor": "finalize-tasks", "at": "2026-05-01T10:00:00+00:00", "event_id": "01KHKGT029N50VDTFKTJ56TDW5", "evidence": null, "execution_mode": "worktree", "force": false, "from_lane": "genesis", "mission_slug": "002-x", "policy_metadata": null, "reason": null, "review_ref": null, "to_lane": "planned", "wp_id": "WP01"}"#;
    assert_eq!(StatusEvent::from_line(seed).unwrap().from_lane, Lane::Planned);
    let review = br#"{"actor": "codex", "at": "2026-05-01T11:00:00+00:00", "event_id": "01KHKGT06RKTWR9ZAFZVSQ00M2", "evidence": null, "execution_mode": "worktree", "force": false, "from_lane": "in_review", "mission_slug": "002-x", "policy_metadata": null, "reason": "ok", "review_ref": "PR #3", "review_result": {"reference": "PR #3", "reviewer": "codex", "verdict": "approved"}, "to_lane": "approved", "wp_id": "WP01"}"#;
    let e = StatusEvent::from_line(review).unwrap();
    assert_eq!((e.from_lane, e.to_lane), (Lane::InReview, Lane::Approved));
    let snapshot = materialize(&[e], ts("2026-05-01T12:00:00+00:00"));
    let text = snapshot.to_file_text();
    assert!(text.contains("\"approved\": 1,\n") && !text.contains("in_review"), "{text}");
}

#[test]
fn rejects_broken_lines_with_a_reason() {
    let good = r#"{"actor": "a", "at": "2026-02-16T15:23:51+00:00", "event_id": "01KHKGT029N50VDTFKTJ56TDW5", "execution_mode": "w", "feature_slug": "s", "force": false, "from_lane": "planned", "to_lane": "claimed", "wp_id": "WP01"}"#;
    assert!(StatusEvent::from_line(good.as_bytes()).is_ok());
    for (line, reason) in [
        ("{not json", "key must be a string"),
        ("[1]", "invalid type"),
        (&good.replace(r#", "wp_id": "WP01""#, ""), "missing field `wp_id`"),
        (&good.replace("claimed", "review"), "Unknown lane: review"),
        (&good.replace("01KHKGT029N50VDTFKTJ56TDW5", "x"), "invalid event id"),
        (&good.replace("2026-02-16T15:23:51+00:00", "yesterday"), "invalid timestamp"),
        (&good.replace("false", "\"no\""), "invalid type"),
    ] {
        let err = StatusEvent::from_line(line.as_bytes()).unwrap_err();
        assert!(err.0.contains(reason), "{line}: {err}");
    }
    assert_eq!(StatusEvent::from_line(b"\xff").unwrap_err().0, "not valid UTF-8");
}

// ---- reading and appending -------------------------------------------------------------------------

#[test]
fn blank_lines_are_skipped_and_a_missing_log_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    assert!(read_events(dir.path(), WAIT).unwrap().is_empty());
    let a = event(1, "WP01", Lane::Planned, Lane::Claimed, "2026-01-01T00:00:00+00:00");
    let b = event(2, "WP01", Lane::Claimed, Lane::InProgress, "2026-01-01T00:00:01+00:00");
    std::fs::write(events_path(dir.path()), format!("\n{}\n  \n\n{}\n\n", a.to_line(), b.to_line())).unwrap();
    assert_eq!(read_events(dir.path(), WAIT).unwrap(), [a, b]);
}

#[test]
fn a_malformed_line_is_a_hard_error_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let a = event(1, "WP01", Lane::Planned, Lane::Claimed, "2026-01-01T00:00:00+00:00").to_line();
    std::fs::write(events_path(dir.path()), format!("{a}\n\n{{\"oops\": 1}}\n{a}\nnope\n")).unwrap();
    let err = read_events(dir.path(), WAIT).unwrap_err();
    assert!(matches!(err, StatusError::Malformed { line: 3, others: 1, .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("status.events.jsonl line 3 is not a valid status event (missing field"), "{message}");
    assert!(message.contains("and 1 more malformed line(s)") && message.contains("fix or delete"), "{message}");
    assert!(
        lock(&FeatureLock::acquire(dir.path(), WAIT).unwrap()).is_err(),
        "a transaction refuses to build on a corrupt log"
    );
}

#[test]
fn a_torn_last_line_gets_its_own_advice() {
    let dir = tempfile::tempdir().unwrap();
    let a = event(1, "WP01", Lane::Planned, Lane::Claimed, "2026-01-01T00:00:00+00:00").to_line();
    std::fs::write(events_path(dir.path()), format!("{a}\n{}", &a[..40])).unwrap();
    let err = read_events(dir.path(), WAIT).unwrap_err();
    assert!(matches!(err, StatusError::TornTail { line: 2, .. }), "{err:?}");
    assert!(err.to_string().contains("ends in an incomplete line 2"), "{err}");
    // A complete final line that merely lacks its newline is fine, and the next append keeps it whole.
    std::fs::write(events_path(dir.path()), &a).unwrap();
    let b = event(2, "WP01", Lane::Claimed, Lane::InProgress, "2026-01-01T00:00:01+00:00");
    transaction(dir.path()).append(std::slice::from_ref(&b)).unwrap();
    assert_eq!(read_events(dir.path(), WAIT).unwrap().len(), 2);
}

/// The status log of `feature_dir` under a freshly taken feature lock.
fn transaction(feature_dir: &Path) -> LockedStatus {
    lock(&FeatureLock::acquire(feature_dir, WAIT).unwrap()).unwrap()
}

#[test]
fn append_creates_the_log_and_writes_one_line_per_event() {
    let dir = tempfile::tempdir().unwrap();
    let feature = dir.path().join("kitty-specs/001-demo");
    std::fs::create_dir_all(&feature).unwrap();
    let events = [
        event(1, "WP01", Lane::Planned, Lane::Claimed, "2026-01-01T00:00:00+00:00"),
        event(2, "WP01", Lane::Claimed, Lane::InProgress, "2026-01-01T00:00:01+00:00"),
    ];
    let mut tx = transaction(&feature);
    tx.append(&events).unwrap();
    tx.append(&[]).unwrap();
    drop(tx);
    let text = std::fs::read_to_string(events_path(&feature)).unwrap();
    assert_eq!(text, format!("{}\n{}\n", events[0].to_line(), events[1].to_line()));
    assert_eq!(read_events(&feature, WAIT).unwrap(), events);
}

#[test]
fn a_transaction_reads_appends_and_materialises() {
    let dir = tempfile::tempdir().unwrap();
    let now = ts("2026-01-02T00:00:00+00:00");
    {
        let mut tx = transaction(dir.path());
        assert!(tx.events().is_empty());
        assert_eq!(tx.current_lane("WP01"), None);
        tx.append(&[event(1, "WP01", Lane::Planned, Lane::Claimed, "2026-01-01T00:00:00+00:00")]).unwrap();
        assert_eq!(tx.current_lane("WP01"), Some(Lane::Claimed));
        let snapshot = tx.materialize_and_write(now).unwrap();
        assert_eq!(snapshot.event_count, 1);
    }
    let tx = transaction(dir.path());
    assert_eq!(tx.events().len(), 1);
    assert_eq!(tx.current_lane("WP01"), Some(Lane::Claimed));
    let written = std::fs::read_to_string(dir.path().join(SNAPSHOT_FILE)).unwrap();
    assert_eq!(written, tx.snapshot(now).to_file_text());
    assert!(!dir.path().join("status.json.tmp").exists());
}

// ---- the reducer -----------------------------------------------------------------------------------

#[test]
fn empty_log_materialises_to_an_empty_view() {
    let snapshot = materialize(&[], ts("2026-01-01T00:00:00+00:00"));
    assert_eq!(
        snapshot.to_file_text(),
        "{\n  \"event_count\": 0,\n  \"feature_slug\": \"\",\n  \"last_event_id\": null,\n  \"materialized_at\": \
         \"2026-01-01T00:00:00+00:00\",\n  \"summary\": {\n    \"blocked\": 0,\n    \"canceled\": 0,\n    \
         \"claimed\": 0,\n    \"done\": 0,\n    \"for_review\": 0,\n    \"in_progress\": 0,\n    \"planned\": 0\n  \
         },\n  \"work_packages\": {}\n}\n"
    );
}

#[test]
fn reducer_sorts_by_time_then_id_and_counts_forces() {
    let mut first = event(9, "WP01", Lane::Planned, Lane::InProgress, "2026-01-01T10:00:00+00:00");
    first.force = true;
    let mut second = event(3, "WP01", Lane::InProgress, Lane::ForReview, "2026-01-01T11:00:00+00:00");
    second.actor = "claude".into();
    // Same instant as `second`, written with another offset; the larger id sorts after it.
    let mut third = event(4, "WP01", Lane::ForReview, Lane::Done, "2026-01-01T12:00:00+01:00");
    third.force = true;
    let other = event(5, "WP02", Lane::Planned, Lane::Claimed, "2026-01-01T09:00:00+00:00");
    // File order is not time order.
    let snapshot = materialize(&[third.clone(), other, second, first], ts("2026-01-02T00:00:00+00:00"));
    let wp1 = &snapshot.work_packages["WP01"];
    assert_eq!(wp1.lane, Lane::Done);
    assert_eq!(wp1.force_count, 2);
    assert_eq!(wp1.actor, "user");
    assert_eq!(wp1.last_event_id, third.event_id);
    assert_eq!(snapshot.work_packages["WP02"].lane, Lane::Claimed);
    assert_eq!(snapshot.feature_slug, "001-demo");
    assert_eq!(snapshot.event_count, 4);
    assert_eq!(snapshot.last_event_id, Some(third.event_id));
    assert_eq!(snapshot.summary[&Lane::Done], 1);
    assert_eq!(snapshot.summary[&Lane::Claimed], 1);
    assert_eq!(snapshot.summary.values().sum::<u64>(), 2);
    assert_eq!(snapshot.summary.len(), 7);
}

#[test]
fn duplicate_event_ids_count_once_and_the_first_wins() {
    let original = event(1, "WP01", Lane::Planned, Lane::Claimed, "2026-01-01T00:00:00+00:00");
    let mut copy = event(1, "WP01", Lane::Planned, Lane::Blocked, "2026-01-01T05:00:00+00:00");
    copy.force = true;
    let snapshot = materialize(&[original.clone(), copy, original], ts("2026-01-02T00:00:00+00:00"));
    assert_eq!(snapshot.event_count, 1);
    assert_eq!(snapshot.work_packages["WP01"].lane, Lane::Claimed);
    assert_eq!(snapshot.work_packages["WP01"].force_count, 0);
}

#[test]
fn a_rollback_beats_a_concurrent_forward_move_in_either_order() {
    let at = "2026-01-01T00:00:00+00:00";
    let mut rollback = event(0, "WP01", Lane::ForReview, Lane::InProgress, at);
    rollback.review_ref = Some("feedback.md".into());
    let forward = event(0, "WP01", Lane::ForReview, Lane::Done, at);
    let earlier = event(1, "WP01", Lane::InProgress, Lane::ForReview, "2025-12-31T00:00:00+00:00");
    for (rollback_id, forward_id) in [(10, 20), (20, 10)] {
        let rollback = StatusEvent { event_id: EventId::Ulid(rollback_id), ..rollback.clone() };
        let forward = StatusEvent { event_id: EventId::Ulid(forward_id), ..forward.clone() };
        let snapshot = materialize(&[earlier.clone(), forward, rollback.clone()], ts(at));
        let wp = &snapshot.work_packages["WP01"];
        assert_eq!(wp.lane, Lane::InProgress, "rollback id {rollback_id}");
        assert_eq!(wp.last_event_id, rollback.event_id);
        assert_eq!(snapshot.event_count, 3, "a skipped event still counts as an event");
    }
    // Without a review_ref it is not a rollback: plain (time, id) order decides.
    let plain = StatusEvent { event_id: EventId::Ulid(10), ..event(0, "WP01", Lane::ForReview, Lane::InProgress, at) };
    let forward = StatusEvent { event_id: EventId::Ulid(20), ..forward };
    let snapshot = materialize(&[plain, forward], ts(at));
    assert_eq!(snapshot.work_packages["WP01"].lane, Lane::Done);
}

#[test]
fn a_skipped_forward_move_does_not_count_its_force() {
    let at = "2026-01-01T00:00:00+00:00";
    let mut rollback = event(1, "WP01", Lane::ForReview, Lane::InProgress, at);
    rollback.review_ref = Some("r".into());
    let mut forced = event(2, "WP01", Lane::ForReview, Lane::Done, at);
    forced.force = true;
    let snapshot = materialize(&[rollback, forced], ts(at));
    assert_eq!(snapshot.work_packages["WP01"].force_count, 0);
    assert_eq!(snapshot.last_event_id, Some(EventId::Ulid(2)), "the view's last id is the last in order");
}

#[test]
fn lock_waits_are_bounded_and_name_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let _held = transaction(dir.path());
    let err = read_events(dir.path(), Duration::from_millis(50)).unwrap_err();
    assert!(matches!(err, StatusError::Locked(_)) && !err.is_damaged_log(), "{err:?}");
    let expected = format!("status.events.jsonl is locked by another process (pid {})", std::process::id());
    assert!(err.to_string().contains(&expected), "{err}");
}

#[test]
fn a_log_or_view_linked_outside_the_feature_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let feature = dir.path().join("feature");
    std::fs::create_dir(&feature).unwrap();
    std::os::unix::fs::symlink(&victim, feature.join(SNAPSHOT_FILE)).unwrap();
    let err = transaction(&feature).materialize_and_write(ts("2026-01-01T00:00:00+00:00")).unwrap_err();
    assert!(err.to_string().contains("status.json is a symbolic link to"), "{err}");
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::os::unix::fs::symlink(&victim, events_path(&other)).unwrap();
    let err = lock(&FeatureLock::acquire(&other, WAIT).unwrap()).unwrap_err();
    assert!(err.to_string().contains("status.events.jsonl is a symbolic link to"), "{err}");
    assert!(!err.is_damaged_log());
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
}

// ---- upstream fixtures (read from ../shared, never copied) --------------------------------------------

fn fixture_features() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/upstream-592dca5eb/kitty-specs");
    let Ok(entries) = std::fs::read_dir(&root) else {
        eprintln!("note: ../shared is absent; skipping a comparison against upstream status files");
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).filter(|dir| events_path(dir).is_file()).collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "fixture features with a status log");
    dirs
}

#[test]
fn fixture_lines_parse_and_rewrite_in_upstream_format() {
    for dir in fixture_features() {
        let text = std::fs::read_to_string(events_path(&dir)).unwrap();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let parsed = StatusEvent::from_line(line.as_bytes()).unwrap();
            assert_eq!(StatusEvent::from_line(parsed.to_line().as_bytes()).unwrap(), parsed);
            // These lines predate policy_metadata; otherwise ours are the same bytes.
            assert!(!line.contains("policy_metadata"));
            let expected = line.replacen(r#", "reason": "#, r#", "policy_metadata": null, "reason": "#, 1);
            assert_eq!(parsed.to_line(), expected, "{}", dir.display());
        }
    }
}

#[test]
fn fixture_status_json_is_reproduced_byte_for_byte() {
    for dir in fixture_features() {
        let expected = std::fs::read_to_string(dir.join(SNAPSHOT_FILE)).unwrap();
        let upstream: Value = serde_json::from_str(&expected).unwrap();
        let materialized_at = ts(upstream["materialized_at"].as_str().unwrap());
        let snapshot = materialize(&read_events(&dir, WAIT).unwrap(), materialized_at);
        assert_eq!(snapshot.to_file_text(), expected, "{}", dir.display());
    }
}

#[test]
fn fixture_tasks_md_blocks_are_what_we_generate() {
    for dir in fixture_features() {
        let tasks_md = std::fs::read_to_string(dir.join("tasks.md")).unwrap();
        let lanes = materialize(&read_events(&dir, WAIT).unwrap(), ts("2026-01-01T00:00:00+00:00")).lanes();
        assert_eq!(upsert_status_block(&tasks_md, &lanes), tasks_md, "{}", dir.display());
    }
}

// ---- the tasks.md block ------------------------------------------------------------------------------

fn lanes(pairs: &[(&str, Lane)]) -> BTreeMap<String, Lane> {
    pairs.iter().map(|(wp, lane)| (wp.to_string(), *lane)).collect()
}

const BLOCK: &str = "<!-- status-model:start -->\n## Canonical Status (Generated)\n- WP01: done\n- WP02: \
                     in_progress\n<!-- status-model:end -->";

#[test]
fn status_block_is_appended_after_a_blank_line() {
    let map = lanes(&[("WP02", Lane::InProgress), ("WP01", Lane::Done)]);
    assert_eq!(upsert_status_block("# Tasks\n\nbody\n", &map), format!("# Tasks\n\nbody\n\n{BLOCK}\n"));
    assert_eq!(upsert_status_block("# Tasks\nbody  \n\n\n", &map), format!("# Tasks\nbody\n\n{BLOCK}\n"));
    assert_eq!(upsert_status_block("no newline", &map), format!("no newline\n\n{BLOCK}\n"));
    assert_eq!(upsert_status_block("", &map), format!("{BLOCK}\n"));
    assert_eq!(upsert_status_block(" \n\t\n", &map), format!("{BLOCK}\n"));
    let empty = upsert_status_block("x\n", &BTreeMap::new());
    assert_eq!(empty, "x\n\n<!-- status-model:start -->\n## Canonical Status (Generated)\n<!-- status-model:end -->\n");
}

#[test]
fn status_block_is_replaced_in_place_and_the_rest_kept() {
    let old =
        "<!-- status-model:start -->\n## Canonical Status (Generated)\n- WP01: planned\n<!-- status-model:end -->";
    let map = lanes(&[("WP01", Lane::Done), ("WP02", Lane::InProgress)]);
    let text = format!("# Tasks\n\n## WP01 – ünïcode\n- [ ] T001\n\n\n{old}\n\n## After\ntail text\n");
    let updated = upsert_status_block(&text, &map);
    assert_eq!(updated, format!("# Tasks\n\n## WP01 – ünïcode\n- [ ] T001\n\n{BLOCK}\n\n## After\ntail text\n"));
    assert_eq!(upsert_status_block(&updated, &map), updated, "idempotent");
    // At the very end, and with a tail lacking its final newline.
    assert_eq!(upsert_status_block(&format!("a\n\n{old}\n"), &map), format!("a\n\n{BLOCK}\n"));
    assert_eq!(upsert_status_block(&format!("{old}\nz"), &map), format!("{BLOCK}\n\nz\n"));
    // An end marker without a start marker is not a block.
    let stray = format!("a\n{STATUS_BLOCK_END}\n");
    assert_eq!(upsert_status_block(&stray, &map), format!("a\n{STATUS_BLOCK_END}\n\n{BLOCK}\n"));
}

#[test]
fn status_block_keeps_crlf_files_crlf() {
    let map = lanes(&[("WP01", Lane::Done), ("WP02", Lane::InProgress)]);
    let crlf_block = BLOCK.replace('\n', "\r\n");
    let appended = upsert_status_block("# Tasks\r\n\r\nbody\r\n", &map);
    assert_eq!(appended, format!("# Tasks\r\n\r\nbody\r\n\r\n{crlf_block}\r\n"));
    let old = "<!-- status-model:start -->\r\n## Canonical Status (Generated)\r\n- WP01: planned\r\n<!-- status-model:end -->";
    let text = format!("head\r\n\r\n{old}\r\n\r\nafter\r\n");
    let replaced = upsert_status_block(&text, &map);
    assert_eq!(replaced, format!("head\r\n\r\n{crlf_block}\r\n\r\nafter\r\n"));
    assert_eq!(upsert_status_block(&replaced, &map), replaced);
}

// ---- concurrency ---------------------------------------------------------------------------------------

const PER_WRITER: usize = 200;

/// One writer's work: `count` transactions on `wp`, each moving it (forced) to the next lane.
fn run_transactions(feature_dir: &Path, wp: &str, seed: u64, count: usize) {
    let ids = crate::events::IdGenerator::seeded(seed);
    for _ in 0..count {
        let feature = FeatureLock::acquire(feature_dir, WAIT).unwrap();
        let mut tx = lock(&feature).unwrap();
        let from = tx.current_lane(wp).unwrap_or(Lane::Planned);
        let to = Lane::ALL[(Lane::ALL.iter().position(|&l| l == from).unwrap() + 1) % Lane::ALL.len()];
        let now = Utc::now();
        let mut e = event(0, wp, from, to, "2026-01-01T00:00:00+00:00");
        e.event_id = EventId::Ulid(ids.ulid(u64::try_from(now.timestamp_millis()).unwrap()).0);
        e.at = Timestamp::from_utc(now);
        e.force = true;
        e.reason = Some("concurrency test".into());
        tx.append(&[e]).unwrap();
        tx.materialize_and_write(Timestamp::from_utc(now)).unwrap();
    }
}

/// Every line parses, nothing was lost, and each work package's events form one unbroken chain — which
/// only holds if every read-decide-append ran under the lock.
fn assert_complete_history(feature_dir: &Path, wps: &[&str]) {
    let text = std::fs::read_to_string(events_path(feature_dir)).unwrap();
    assert_eq!(text.lines().count(), wps.len() * PER_WRITER);
    let events = read_events(feature_dir, WAIT).unwrap();
    for wp in wps {
        let mut lane = Lane::Planned;
        for e in events.iter().filter(|e| e.wp_id == *wp) {
            assert_eq!(e.from_lane, lane, "{wp}: every transition starts where the previous one ended");
            lane = e.to_lane;
        }
    }
    let view: Value = serde_json::from_str(&std::fs::read_to_string(feature_dir.join(SNAPSHOT_FILE)).unwrap())
        .expect("status.json is complete JSON");
    assert_eq!(view["event_count"], json!(wps.len() * PER_WRITER));
    for wp in wps {
        assert_eq!(view["work_packages"][wp]["force_count"], json!(PER_WRITER));
    }
    assert_eq!(view, materialize(&events, ts(view["materialized_at"].as_str().unwrap())).to_json());
}

#[test]
fn concurrent_threads_never_lose_an_event_or_tear_the_view() {
    let dir = tempfile::tempdir().unwrap();
    let feature = Arc::new(dir.path().to_owned());
    let done = Arc::new(AtomicBool::new(false));
    // A reader that keeps parsing status.json while it is being replaced.
    let reader = {
        let (feature, done) = (Arc::clone(&feature), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut reads = 0;
            while !done.load(Ordering::Relaxed) {
                if let Ok(text) = std::fs::read_to_string(feature.join(SNAPSHOT_FILE)) {
                    serde_json::from_str::<Value>(&text).expect("never a torn status.json");
                    reads += 1;
                }
            }
            reads
        })
    };
    let writers: Vec<_> = [("WP01", 1), ("WP02", 2)]
        .into_iter()
        .map(|(wp, seed)| {
            let feature = Arc::clone(&feature);
            std::thread::spawn(move || run_transactions(&feature, wp, seed, PER_WRITER))
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    done.store(true, Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
    assert_complete_history(&feature, &["WP01", "WP02"]);
}

#[test]
fn writers_of_one_work_package_form_one_unbroken_chain() {
    // Both writers read the same work package's lane and move it on: without the lock across read and
    // append, two events would start from the same lane.
    let dir = tempfile::tempdir().unwrap();
    let feature = Arc::new(dir.path().to_owned());
    let writers: Vec<_> = [1, 2]
        .into_iter()
        .map(|seed| {
            let feature = Arc::clone(&feature);
            std::thread::spawn(move || run_transactions(&feature, "WP01", seed, PER_WRITER / 2))
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    let events = read_events(&feature, WAIT).unwrap();
    assert_eq!(events.len(), PER_WRITER);
    let mut lane = Lane::Planned;
    for e in &events {
        assert_eq!(e.from_lane, lane, "every transition starts where the previous one ended");
        lane = e.to_lane;
    }
    let view = materialize(&events, ts("2026-01-01T00:00:00+00:00"));
    assert_eq!(view.work_packages["WP01"].lane, lane);
}

const WORKER_ENV: &str = "SPEC_KITTY_STATUS_TEST_WORKER";

#[test]
fn concurrent_processes_never_lose_an_event() {
    // Child mode: this same test binary, re-run with the worker variable set, is one writer process.
    if let Ok(spec) = std::env::var(WORKER_ENV) {
        let mut parts = spec.splitn(3, '|');
        let (seed, wp, dir) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
        run_transactions(Path::new(dir), wp, seed.parse().unwrap(), PER_WRITER);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let test_name = format!("{}::concurrent_processes_never_lose_an_event", module_path!());
    let test_name = test_name.split_once("::").map_or(test_name.as_str(), |(_, rest)| rest).to_owned();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = [("WP01", 1), ("WP02", 2)]
        .into_iter()
        .map(|(wp, seed)| {
            Command::new(&exe)
                .args(["--exact", &test_name, "--test-threads=1", "--quiet"])
                .env(WORKER_ENV, format!("{seed}|{wp}|{}", dir.path().display()))
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success(), "writer process failed");
    }
    assert_complete_history(dir.path(), &["WP01", "WP02"]);
}
