//! The door: checking a ticket in, and undoing a mistaken scan.

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckinRequest {
    order_id: String,
    seat: String,
    code: String,
    /// Which entrance scanned it, if the door says.
    #[serde(default)]
    door: Option<String>,
}

/// Checks a ticket in at the door: a genuine code of a confirmed order admits once; every
/// later scan answers `already_used` with the first entry, until the seller undoes it.
pub(crate) async fn checkin(State(app): State<AppState>, caller: Caller, Path(name): Path<String>, body: Bytes) -> ApiResult<Json<Value>> {
    let ns = owned(&app, &caller, &name)?;
    let req: CheckinRequest = parse(&body)?;
    if req.door.as_ref().is_some_and(|d| d.chars().count() > 64 || d.chars().any(char::is_control)) {
        return Err(ApiError::bad_request(Code::InvalidDoor, "door is at most 64 printable characters").field("door").into());
    }
    let unknown = json!({ "valid": false, "status": "unknown" });
    let Some((outcome, entry)) = ns.inventory.check_in(&req.order_id, &req.seat, &req.code, req.door.as_deref()).await? else {
        return Ok(Json(unknown));
    };
    Ok(Json(match outcome {
        CheckIn::Admitted => entry_view(&entry, json!({ "valid": true, "status": "checked_in" })),
        CheckIn::Used(first) => entry_view(&first, json!({ "valid": false, "status": "already_used" })),
        CheckIn::NotConfirmed(status) => json!({ "valid": false, "status": status.as_str() }),
        CheckIn::NotFound => unknown,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UndoCheckinRequest {
    order_id: String,
    seat: String,
}

/// Undoes a mistaken scan, so the ticket admits again (owner or admin).
pub(crate) async fn undo_checkin(State(app): State<AppState>, caller: Caller, Path(name): Path<String>, body: Bytes) -> ApiResult<Json<Value>> {
    let ns = owned(&app, &caller, &name)?;
    let req: UndoCheckinRequest = parse(&body)?;
    if !ns.inventory.has_ticket(&req.order_id, &req.seat).await? {
        return Err(ApiError::not_found("no such ticket in this performance").into());
    }
    match ns.inventory.undo_check_in(&req.order_id, &req.seat).await? {
        Some(entry) => Ok(Json(entry_view(&entry, json!({ "status": "undone" })))),
        None => Err(ApiError::new(StatusCode::CONFLICT, Code::NotCheckedIn, "this ticket has not been checked in").into()),
    }
}
