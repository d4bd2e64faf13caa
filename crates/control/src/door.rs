//! The door: door tokens, checking a ticket in by its pass or its typed code, and undoing a
//! mistaken scan.

use marquee_ticketing::Presented;

use super::*;

/// Whether `text` is printable characters, as many as `lengths` allows.
fn printable(text: &str, lengths: std::ops::RangeInclusive<usize>) -> bool {
    lengths.contains(&text.chars().count()) && !text.chars().any(char::is_control)
}

/// The performance, if the caller may keep its door (a door token, the owner or an admin).
fn at_the_door(app: &App, caller: &Caller, name: &str) -> ApiResult<Arc<Namespace>> {
    let ns = find(app, name)?;
    caller.may_keep_door(&ns)?;
    Ok(ns)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DoorTokenRequest {
    /// Which door or person it is for (`door B`).
    label: String,
}

/// Issues a door token for this performance (owner or admin): it can check tickets in here
/// and nothing else. Shown once.
pub(crate) async fn issue_door_token(State(app): State<AppState>, caller: Caller, Path(name): Path<String>, body: Bytes) -> ApiResult {
    let ns = owned(&app, &caller, &name)?;
    let req: DoorTokenRequest = parse_request(&body, Code::InvalidRequest)?;
    if !printable(&req.label, 1..=64) {
        return Err(ApiError::bad_request(Code::InvalidRequest, "label is 1 to 64 printable characters").field("label").into());
    }
    let issuer = &caller.account()?.sub;
    let (id, token) = app.shared.auth.issue_namespace_token(&ns.name, &ns.deployment, issuer, TokenScope::Door, &req.label).await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id, "namespace": ns.name, "token": token, "label": req.label }))).into_response())
}

/// Revokes one of this performance's door tokens (owner or admin).
pub(crate) async fn revoke_door_token(State(app): State<AppState>, caller: Caller, Path((name, id)): Path<(String, String)>) -> ApiResult {
    let ns = owned(&app, &caller, &name)?;
    let door_token = app.shared.catalog.namespace_token(&id).await?.is_some_and(|(t, _)| t.scope == TokenScope::Door);
    if !door_token || !app.shared.catalog.revoke_namespace_token(&ns.deployment, &id).await? {
        return Err(ApiError::not_found("no such live door token for this performance").into());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckinRequest {
    /// The ticket's pass: the text of its QR code.
    #[serde(default, deserialize_with = "present")]
    ticket: Option<String>,
    /// Or, typed in: the order, the ticket's name and its printed code.
    #[serde(default, deserialize_with = "present")]
    order_id: Option<String>,
    #[serde(default, deserialize_with = "present")]
    seat: Option<String>,
    #[serde(default, deserialize_with = "present")]
    code: Option<String>,
    /// Which entrance scanned it, if the door says.
    #[serde(default)]
    door: Option<String>,
}

/// Checks a ticket in at the door (a door token, the owner or an admin): a genuine pass or
/// code of a confirmed order admits once; every later scan answers `already_used` with the
/// first entry, until the scan is undone. The answer names the ticket and its session.
pub(crate) async fn checkin(State(app): State<AppState>, caller: Caller, Path(name): Path<String>, body: Bytes) -> ApiResult<Json<Value>> {
    let ns = at_the_door(&app, &caller, &name)?;
    let req: CheckinRequest = parse_request(&body, Code::InvalidRequest)?;
    if req.door.as_ref().is_some_and(|d| !printable(d, 0..=64)) {
        return Err(ApiError::bad_request(Code::InvalidDoor, "door is at most 64 printable characters").field("door").into());
    }
    let presented = match (&req.ticket, &req.order_id, &req.seat, &req.code) {
        (Some(pass), None, None, None) => Presented::Pass(pass),
        (None, Some(order), Some(ticket), Some(code)) => Presented::Code { order, ticket, code },
        _ => {
            let message = "send the ticket's pass (\"ticket\": the text of its QR code) or its order_id, seat and code";
            return Err(ApiError::bad_request(Code::InvalidRequest, message).into());
        }
    };
    let Some(scan) = ns.inventory.check_in(presented, req.door.as_deref()).await? else {
        return Ok(Json(json!({ "valid": false, "status": "unknown" })));
    };
    let named = |mut view: Value| {
        view["order_id"] = json!(scan.order);
        view["seat"] = json!(scan.ticket);
        view["session"] = json!(scan.session);
        view
    };
    Ok(Json(match &scan.outcome {
        CheckIn::Admitted => named(entry_view(&scan.entry, json!({ "valid": true, "status": "checked_in" }))),
        CheckIn::Used(first) => named(entry_view(first, json!({ "valid": false, "status": "already_used" }))),
        CheckIn::NotConfirmed(status) => named(json!({ "valid": false, "status": status.as_str() })),
        CheckIn::NotFound => json!({ "valid": false, "status": "unknown" }),
    }))
}

/// How many tickets of each session were checked in, across every door (a door token, the
/// owner or an admin).
pub(crate) async fn arrivals(State(app): State<AppState>, caller: Caller, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    let ns = at_the_door(&app, &caller, &name)?;
    let sessions: Vec<Value> = ns.inventory.arrivals().await?.into_iter().map(|(id, arrived)| json!({ "id": id, "arrived": arrived })).collect();
    Ok(Json(json!({ "sessions": sessions })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UndoCheckinRequest {
    order_id: String,
    seat: String,
}

/// Undoes a mistaken scan, so the ticket admits again (a door token, the owner or an admin).
pub(crate) async fn undo_checkin(State(app): State<AppState>, caller: Caller, Path(name): Path<String>, body: Bytes) -> ApiResult<Json<Value>> {
    let ns = at_the_door(&app, &caller, &name)?;
    let req: UndoCheckinRequest = parse(&body)?;
    if !ns.inventory.has_ticket(&req.order_id, &req.seat).await? {
        return Err(ApiError::not_found("no such ticket in this performance").into());
    }
    match ns.inventory.undo_check_in(&req.order_id, &req.seat).await? {
        Some(entry) => Ok(Json(entry_view(&entry, json!({ "status": "undone" })))),
        None => Err(ApiError::new(StatusCode::CONFLICT, Code::NotCheckedIn, "this ticket has not been checked in").into()),
    }
}
