//! Screening queued rows before they are sent: no project identity, another team's event.

use crate::sync::queue::QueueRow;
use serde_json::Value;

/// What happens to a queued row before it is sent.
pub(super) enum Screen {
    Send(QueueRow),
    /// Stamped for another team than the session's: sending it with this login would file it under
    /// the wrong account (upstream's account-switch bug, §12.12). It stays queued for that login.
    Hold {
        team: String,
    },
    /// Never to be sent as it is; straight to the dead letters with this reason.
    Refuse(QueueRow, String),
}

/// The row as it may be sent with the login of `team` (see [`screen`]), or `None` when it must not be
/// sent now (another team's event, or one never to be transmitted). The WebSocket fast path uses it so
/// that a pushed envelope is byte for byte what the batch will send.
pub fn sendable(row: QueueRow, team: Option<&str>) -> Option<QueueRow> {
    match screen(row, team) {
        Screen::Send(row) => Some(row),
        Screen::Hold { .. } | Screen::Refuse(..) => None,
    }
}

/// Checks a row against the session: it must be a JSON object with a project identity (the contract
/// says events without `project_uuid` are never transmitted; upstream sent them, §12.9), and it must
/// belong to the logged-in team. Events queued while logged out (`team_slug: "local"`) get the
/// session's team, which is what FR-028b asks for once the team is known.
pub(super) fn screen(mut row: QueueRow, team: Option<&str>) -> Screen {
    let Ok(mut event) = serde_json::from_str::<serde_json::Map<String, Value>>(&row.data) else {
        return Screen::Refuse(row, "the queued event is not a valid JSON object".into());
    };
    if event.get("project_uuid").and_then(Value::as_str).is_none_or(|u| u.trim().is_empty()) {
        let error = "missing project_uuid: the event was recorded outside a spec-kitty project, and such events are never transmitted";
        return Screen::Refuse(row, error.into());
    }
    let own = event.get("team_slug").and_then(Value::as_str).filter(|t| !t.is_empty() && *t != "local");
    match (own, team) {
        (Some(own), Some(team)) if own != team => Screen::Hold { team: own.to_owned() },
        (None, Some(team)) => {
            event.insert("team_slug".into(), Value::String(team.to_owned()));
            row.data = Value::Object(event).to_string();
            Screen::Send(row)
        }
        _ => Screen::Send(row),
    }
}
