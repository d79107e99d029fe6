use super::*;
use Lane::*;
use serde_json::json;

#[test]
fn parse_normalises_and_resolves_the_alias() {
    for (input, lane) in [
        ("planned", Planned),
        (" Claimed ", Claimed),
        ("IN_PROGRESS", InProgress),
        ("doing", InProgress),
        ("\tDoing\n", InProgress),
        ("for_review", ForReview),
        ("in_review", InReview),
        (" APPROVED", Approved),
        ("done", Done),
        ("blocked", Blocked),
        ("canceled", Canceled),
    ] {
        assert_eq!(Lane::parse(input), Ok(lane), "{input:?}");
        assert_eq!(input.parse::<Lane>(), Ok(lane));
    }
    for lane in Lane::ALL {
        assert_eq!(Lane::parse(lane.as_str()), Ok(lane));
        assert_eq!(lane.to_string(), lane.as_str());
    }
}

#[test]
fn unknown_lanes_are_named_with_the_valid_ones() {
    for input in ["", "review", "cancelled", "in progress", "in-progress"] {
        let err = Lane::parse(input).unwrap_err();
        let message = err.to_string();
        assert!(message.starts_with(&format!("Unknown lane: {input} (expected one of planned,")), "{message}");
        assert!(message.contains("canceled") && message.contains("\"doing\""), "{message}");
    }
}

#[test]
fn lanes_deserialize_leniently() {
    let lanes: Vec<Lane> = serde_json::from_str(r#"["doing", "DONE", "for_review"]"#).unwrap();
    assert_eq!(lanes, [InProgress, Done, ForReview]);
    let err = serde_json::from_str::<Lane>(r#""nope""#).unwrap_err();
    assert!(err.to_string().contains("Unknown lane: nope"));
    assert!(serde_json::from_str::<Lane>("3").is_err());
}

#[test]
fn only_done_and_canceled_are_terminal() {
    let terminal: Vec<Lane> = Lane::ALL.into_iter().filter(|l| l.is_terminal()).collect();
    assert_eq!(terminal, [Done, Canceled]);
    for lane in terminal {
        assert_eq!(lane.allowed_targets().count(), 0, "nothing leaves {lane} without force");
    }
}

#[test]
fn the_matrix_has_the_sixteen_upstream_pairs_plus_the_review_lanes() {
    let pairs: Vec<(Lane, Lane)> =
        Lane::ALL.into_iter().flat_map(|from| Lane::ALL.into_iter().map(move |to| (from, to))).collect();
    let classic = |l: Lane| !l.is_review_extension();
    let allowed: Vec<_> = pairs.into_iter().filter(|&(a, b)| is_allowed(a, b)).collect();
    assert_eq!(allowed.iter().filter(|(a, b)| classic(*a) && classic(*b)).count(), 16);
    assert_eq!(allowed.len(), 29);
    let targets = |from: Lane| from.allowed_targets().collect::<Vec<_>>();
    assert_eq!(targets(Planned), [Claimed, Blocked, Canceled]);
    assert_eq!(targets(Claimed), [InProgress, Blocked, Canceled]);
    assert_eq!(targets(InProgress), [Planned, ForReview, Approved, Blocked, Canceled]);
    assert_eq!(targets(ForReview), [InProgress, InReview, Done, Blocked, Canceled]);
    assert_eq!(targets(InReview), [Planned, InProgress, Approved, Done, Blocked, Canceled]);
    assert_eq!(targets(Approved), [Planned, InProgress, Done, Blocked, Canceled]);
    assert_eq!(targets(Blocked), [InProgress, Canceled]);
}

/// A context that satisfies every guard, so a test can knock out one fact at a time.
fn all_facts(evidence: &Value) -> TransitionContext<'_> {
    TransitionContext {
        force: false,
        actor: Some("claude"),
        reason: Some("because"),
        workspace_context: Some(".worktrees/001-x-WP01"),
        subtasks_complete: Some(true),
        implementation_evidence_present: Some(true),
        review_ref: Some("feedback.md"),
        evidence: Some(evidence),
    }
}

fn approval() -> Value {
    json!({"review": {"reviewer": "Ada", "verdict": "approved", "reference": "PR #1"}})
}

#[test]
fn every_allowed_pair_passes_with_its_facts() {
    let evidence = approval();
    for (from, to) in ALLOWED_TRANSITIONS {
        assert_eq!(validate_transition(from, to, &all_facts(&evidence)), Ok(()), "{from} -> {to}");
    }
}

#[test]
fn unguarded_pairs_need_no_facts() {
    let guarded = [
        (Planned, Claimed),
        (Claimed, InProgress),
        (InProgress, ForReview),
        (ForReview, Done),
        (ForReview, InProgress),
        (InProgress, Planned),
        (ForReview, InReview),
        (InProgress, Approved),
        (InReview, Approved),
        (InReview, Done),
        (InReview, InProgress),
        (InReview, Planned),
        (InReview, Blocked),
        (InReview, Canceled),
        (Approved, Done),
        (Approved, InProgress),
        (Approved, Planned),
    ];
    for (from, to) in ALLOWED_TRANSITIONS.into_iter().filter(|pair| !guarded.contains(pair)) {
        assert_eq!(validate_transition(from, to, &TransitionContext::default()), Ok(()), "{from} -> {to}");
    }
}

#[test]
fn illegal_pairs_are_refused_with_the_way_out() {
    let ctx = TransitionContext { actor: Some("a"), reason: Some("r"), ..TransitionContext::default() };
    for (from, to) in [
        (Planned, InProgress),
        (Planned, Done),
        (ForReview, Planned),
        (Done, Planned),
        (Canceled, InProgress),
        (Blocked, Planned),
        (Claimed, Planned),
        (InProgress, InProgress),
        (Done, Done),
    ] {
        let err = validate_transition(from, to, &ctx).unwrap_err();
        assert_eq!(err, TransitionError::Illegal { from, to });
        let message = err.to_string();
        assert!(message.starts_with(&format!("Illegal transition: {from} -> {to} (")), "{message}");
        assert!(message.contains("--force with --note"), "{message}");
    }
    let message = validate_transition(ForReview, Planned, &ctx).unwrap_err().to_string();
    assert!(message.contains("may move to in_progress, in_review, done, blocked, canceled"), "{message}");
    let message = validate_transition(Done, Planned, &ctx).unwrap_err().to_string();
    assert!(message.contains("done is a terminal lane"), "{message}");
}

#[test]
fn each_guard_fails_without_its_fact() {
    let evidence = approval();
    let full = all_facts(&evidence);
    let blank = Some("  ");
    let cases: Vec<(Lane, Lane, TransitionContext<'_>, TransitionError)> = vec![
        (
            Planned,
            Claimed,
            TransitionContext { actor: None, ..full },
            TransitionError::ActorRequired { from: Planned, to: Claimed },
        ),
        (
            Planned,
            Claimed,
            TransitionContext { actor: blank, ..full },
            TransitionError::ActorRequired { from: Planned, to: Claimed },
        ),
        (
            ForReview,
            InReview,
            TransitionContext { actor: None, ..full },
            TransitionError::ActorRequired { from: ForReview, to: InReview },
        ),
        (
            InReview,
            Done,
            TransitionContext { evidence: None, ..full },
            TransitionError::ApprovalRequired { from: InReview, to: Done },
        ),
        (
            InProgress,
            Approved,
            TransitionContext { evidence: None, ..full },
            TransitionError::ApprovalRequired { from: InProgress, to: Approved },
        ),
        (
            Approved,
            Planned,
            TransitionContext { review_ref: blank, ..full },
            TransitionError::ReviewOutcomeRequired { from: Approved, to: Planned },
        ),
        (
            InReview,
            Canceled,
            TransitionContext { reason: None, ..full },
            TransitionError::ReviewReasonRequired { to: Canceled },
        ),
        (
            Claimed,
            InProgress,
            TransitionContext { workspace_context: None, ..full },
            TransitionError::WorkspaceContextRequired,
        ),
        (
            Claimed,
            InProgress,
            TransitionContext { workspace_context: Some(""), ..full },
            TransitionError::WorkspaceContextRequired,
        ),
        (
            InProgress,
            ForReview,
            TransitionContext { subtasks_complete: Some(false), ..full },
            TransitionError::SubtasksIncomplete,
        ),
        (
            InProgress,
            ForReview,
            TransitionContext { subtasks_complete: None, ..full },
            TransitionError::SubtasksIncomplete,
        ),
        (
            InProgress,
            ForReview,
            TransitionContext { implementation_evidence_present: None, ..full },
            TransitionError::ImplementationEvidenceMissing,
        ),
        (
            InProgress,
            ForReview,
            TransitionContext { implementation_evidence_present: Some(false), ..full },
            TransitionError::ImplementationEvidenceMissing,
        ),
        (ForReview, Done, TransitionContext { evidence: None, ..full }, TransitionError::ReviewEvidenceRequired),
        (ForReview, InProgress, TransitionContext { review_ref: None, ..full }, TransitionError::ReviewRefRequired),
        (ForReview, InProgress, TransitionContext { review_ref: blank, ..full }, TransitionError::ReviewRefRequired),
        (InProgress, Planned, TransitionContext { reason: None, ..full }, TransitionError::ReasonRequired),
        (InProgress, Planned, TransitionContext { reason: blank, ..full }, TransitionError::ReasonRequired),
    ];
    for (from, to, ctx, expected) in cases {
        let err = validate_transition(from, to, &ctx).unwrap_err();
        assert_eq!(err, expected, "{from} -> {to}");
        let message = err.to_string();
        assert!(message.contains(&format!("{from} -> {to}")), "{message}");
        assert!(message.contains("--force with --note"), "every guard names the override: {message}");
    }
}

#[test]
fn done_needs_a_reviewer_and_a_reference() {
    let ok = |evidence: Value| {
        let ctx = TransitionContext { evidence: Some(&evidence), ..TransitionContext::default() };
        validate_transition(ForReview, Done, &ctx).is_ok()
    };
    assert!(ok(approval()));
    assert!(ok(json!({"review": {"reviewer": "Ada", "reference": "r"}})), "verdict is not checked");
    assert!(!ok(json!({"review": {"reviewer": "Ada", "verdict": "approved"}})));
    assert!(!ok(json!({"review": {"reviewer": " ", "reference": "r"}})));
    assert!(!ok(json!({"review": {"reviewer": "Ada", "reference": ""}})));
    assert!(!ok(json!({"review": null})));
    assert!(!ok(json!({"repos": []})));
    assert!(!ok(json!("approved")));
}

#[test]
fn force_bypasses_matrix_and_guards_but_needs_actor_and_reason() {
    let forced = TransitionContext { force: true, actor: Some("user"), reason: Some("hotfix"), ..Default::default() };
    for from in Lane::ALL {
        for to in Lane::ALL {
            assert_eq!(validate_transition(from, to, &forced), Ok(()), "{from} -> {to}");
        }
    }
    for (actor, reason) in [(None, Some("r")), (Some("a"), None), (Some(""), Some("r")), (Some("a"), Some(" \t"))] {
        let ctx = TransitionContext { force: true, actor, reason, ..Default::default() };
        for (from, to) in [(Done, Planned), (Planned, Claimed), (ForReview, Done)] {
            let err = validate_transition(from, to, &ctx).unwrap_err();
            assert_eq!(err, TransitionError::ForceNeedsActorAndReason);
            assert!(err.to_string().starts_with("Force transitions require actor and reason"));
        }
    }
}

#[test]
fn forward_chain_lists_every_hop_of_a_forward_move() {
    assert_eq!(forward_chain(Planned, InProgress), [Claimed, InProgress]);
    assert_eq!(forward_chain(Planned, Done), [Claimed, InProgress, ForReview, Done]);
    assert_eq!(forward_chain(Planned, Claimed), [Claimed]);
    assert_eq!(forward_chain(Claimed, ForReview), [InProgress, ForReview]);
    assert_eq!(forward_chain(ForReview, Done), [Done]);
    // Anything that is not a forward move along the chain is one hop.
    assert_eq!(forward_chain(ForReview, InProgress), [InProgress]);
    assert_eq!(forward_chain(Done, Planned), [Planned]);
    assert_eq!(forward_chain(InProgress, InProgress), [InProgress]);
    assert_eq!(forward_chain(Blocked, Done), [Done]);
    assert_eq!(forward_chain(Planned, Blocked), [Blocked]);
    assert_eq!(forward_chain(InProgress, Canceled), [Canceled]);
}

#[test]
fn every_forward_chain_hop_is_an_allowed_transition() {
    for from in Lane::ALL {
        for to in Lane::ALL {
            let hops = forward_chain(from, to);
            if hops.len() > 1 {
                let mut current = from;
                for hop in hops {
                    assert!(is_allowed(current, hop), "{current} -> {hop} in chain {from} -> {to}");
                    current = hop;
                }
            }
        }
    }
}
