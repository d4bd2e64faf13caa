//! Orders as the API shows them: a performance's (its seller) and a buyer's own, across
//! performances.

use marquee_ticketing::{Pass, PassKey};

use super::*;

/// Milliseconds since the epoch as RFC 3339, as the API shows times.
pub(crate) fn rfc3339_ms(ms: i64) -> Option<String> {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
}

/// An entry at the door as the API shows it, with `more` members (`{"status": ...}`) first.
pub(crate) fn entry_view(entry: &Entry, more: Value) -> Value {
    let mut view = more;
    view["checked_in_at"] = json!(rfc3339_ms(entry.at as i64));
    view["door"] = json!(entry.door);
    view
}

/// A stored order of performance `namespace` as the API shows it, each ticket with its pass
/// (`qr`: the text its QR code carries, signed with `passes`); `entries` marks the tickets
/// used at the door.
pub(crate) fn order_view(
    o: &marquee_store::OrderRow,
    namespace: &str,
    passes: &PassKey,
    entries: Option<&std::collections::HashMap<(String, String), Entry>>,
) -> Value {
    let tickets: Vec<Value> = o
        .tickets
        .iter()
        .map(|t| {
            let pass = Pass { namespace: namespace.into(), session: o.session.clone(), order: o.id.clone(), ticket: t.seat.clone() };
            let ticket = json!({"seat": t.seat, "code": t.code, "qr": passes.write(&pass), "price": t.price, "refunded": o.is_refunded(&t.seat)});
            match entries.and_then(|e| e.get(&(o.id.clone(), t.seat.clone()))) {
                Some(entry) => entry_view(entry, ticket),
                None => ticket,
            }
        })
        .collect();
    let mut view = json!({
        "order_id": o.id,
        "session": o.session,
        "amount": o.amount,
        "status": o.status.as_str(),
        "tickets": tickets,
        "created_at": rfc3339_ms(o.created_at as i64),
    });
    view["refunded"] = json!(o.refunded());
    view
}

/// The caller's orders in every performance, cancelled ones included, newest first: the
/// console's "my tickets". Cancelling stays with each performance's booking function.
pub(crate) async fn my_orders(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let account = caller.require_role(&[Role::Buyer])?;
    let orders = app.orders_of_buyer(&account.sub).await?;
    // One key derivation per performance, not per order.
    let mut keys: std::collections::HashMap<&str, PassKey> = std::collections::HashMap::new();
    let list = orders
        .iter()
        .map(|o| {
            let params: Value = serde_json::from_str(&o.params).unwrap_or_default();
            let passes = keys.entry(&o.order.deployment).or_insert_with(|| app.shared.commerce.signer.pass_key(&o.order.deployment));
            let mut view = order_view(&o.order, &o.namespace, passes, None);
            view["namespace"] = json!(o.namespace);
            view["title"] = params["title"].clone();
            view["venue"] = params["venue"].clone();
            // What a ticket shows: its session's date and name, in the venue's time zone and
            // the performance's currency (from before either was named: UTC, euros).
            let session = params["sessions"].as_array().and_then(|all| all.iter().find(|s| s["id"] == o.order.session.as_str()));
            view["starts_at"] = session.map_or(Value::Null, |s| s["starts_at"].clone());
            view["session_label"] = session.map_or(Value::Null, |s| s["label"].clone());
            view["currency"] = json!(params["currency"].as_str().unwrap_or("EUR"));
            view["time_zone"] = json!(params["time_zone"].as_str().unwrap_or("UTC"));
            view["performance_status"] = json!(if o.archived_at.is_some() { "cancelled" } else { "live" });
            view
        })
        .collect();
    Ok(Json(Value::Array(list)))
}
