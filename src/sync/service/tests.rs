use super::schedule::{RunClass, Schedule, classify};
use super::*;
use crate::context::Context;
use crate::sync::backoff::NETWORK as RETRY;
use crate::sync::daemon;
use crate::sync::delivery::StopReason;
use tokio::time::Instant;

fn schedule() -> (Schedule, Instant) {
    let now = Instant::now();
    (Schedule::new(Duration::from_secs(300), Duration::from_secs(5), now), now)
}

#[test]
fn the_first_run_is_at_once_then_runs_are_spaced() {
    let (mut s, now) = schedule();
    assert_eq!(s.next_run(), now);
    s.started(now);
    assert_eq!(s.next_run(), now + Duration::from_secs(300), "nothing wanted: the periodic run");
    s.want(now + Duration::from_secs(1));
    assert_eq!(s.next_run(), now + Duration::from_secs(5), "at most one run per spacing");
    s.started(now + Duration::from_secs(5));
    assert_eq!(s.finished(RunClass::Done, now + Duration::from_secs(6)), None);
    assert_eq!(s.next_run(), now + Duration::from_secs(306), "the interval counts from the end of a run");
    s.want(now + Duration::from_secs(12));
    assert_eq!(s.next_run(), now + Duration::from_secs(12));
}

#[test]
fn failures_back_off_up_to_the_cap_and_success_resets() {
    let (mut s, now) = schedule();
    s.started(now);
    let first = s.finished(RunClass::Transient, now).unwrap();
    assert!(first >= Duration::from_millis(250) && first <= Duration::from_millis(500), "{first:?}");
    for _ in 0..20 {
        s.finished(RunClass::Transient, now);
    }
    let capped = s.retry_at.unwrap() - now;
    assert!(capped >= RETRY.cap / 2 && capped <= RETRY.cap, "{capped:?}");
    s.want(now);
    assert_eq!(s.next_run(), s.retry_at.unwrap(), "new events do not bypass the backoff");
    s.finished(RunClass::Done, now);
    assert_eq!((s.failures, s.retry_at), (0, None));
}

#[test]
fn without_a_login_runs_wait_for_a_change_or_the_interval() {
    let (mut s, now) = schedule();
    s.started(now);
    assert_eq!(s.finished(RunClass::Blocked, now), None);
    s.want(now + Duration::from_secs(1));
    assert_eq!(s.next_run(), now + Duration::from_secs(300));
    s.unblock(now + Duration::from_secs(2));
    assert_eq!(s.next_run(), now + Duration::from_secs(5), "a login change: at once (spacing permitting)");
}

#[test]
fn stop_reasons_map_to_scheduling() {
    assert_eq!(classify(&StopReason::Drained), RunClass::Done);
    assert_eq!(classify(&StopReason::NotLoggedIn { detail: String::new() }), RunClass::Blocked);
    assert_eq!(classify(&StopReason::Offline { detail: String::new() }), RunClass::Transient);
    assert_eq!(classify(&StopReason::Refused { status: 403, detail: String::new() }), RunClass::Slow);
}

#[test]
fn an_embedded_service_without_a_server_is_inert() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let ctx = Context::from_vars(None, |name| match name {
        "SPEC_KITTY_HOME" => Some(home.clone().into_os_string()),
        _ => None,
    })
    .unwrap();
    let service = BackgroundSync::start(&ctx, "orchestrate", None);
    assert!(!service.is_running());
    assert_eq!(service.status(), ConnectionStatus::Offline);
    service.stop_blocking();
    assert!(!home.join(daemon::LOCK_FILE).exists(), "nothing was written");
}
