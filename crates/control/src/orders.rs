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
            let ticket = json!({"seat": t.seat, "code": t.code, "qr": passes.write(&pass)});
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
    if o.status == OrderStatus::Cancelled {
        view["refunded"] = json!(o.amount);
    }
    view
}

/// The performance's orders (owner or admin), with each buyer's email and the tickets used.
pub(crate) async fn performance_orders(State(app): State<AppState>, caller: Caller, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    let ns = owned(&app, &caller, &name)?;
    let orders = ns.inventory.all_orders().await?;
    let buyers: std::collections::BTreeSet<&str> = orders.iter().map(|o| o.buyer.as_str()).collect();
    let identity = app.shared.auth.identity();
    let asks: Vec<_> = buyers.iter().map(|id| identity.account_by_id(id)).collect();
    let accounts = marquee_store::a_few_at_a_time(asks).await?;
    let emails: std::collections::HashMap<&str, Option<String>> =
        buyers.into_iter().zip(accounts).map(|(id, account)| (id, account.map(|a| a.email))).collect();
    let entries = ns.inventory.entries().await?;
    let list = orders
        .iter()
        .map(|o| {
            let mut view = order_view(o, &ns.name, ns.inventory.pass_key(), Some(&entries));
            view["buyer"] = json!({"id": o.buyer, "email": emails[o.buyer.as_str()]});
            view
        })
        .collect();
    Ok(Json(Value::Array(list)))
}

/// The caller's orders in every performance, cancelled ones included, newest first: the
/// console's "my tickets". Cancelling stays with each performance's booking function.
pub(crate) async fn my_orders(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let account = caller.require_role(&[Role::Buyer])?;
    let orders = app.orders_of_buyer(&account.sub).await?;
    let list = orders
        .iter()
        .map(|o| {
            let params: Value = serde_json::from_str(&o.params).unwrap_or_default();
            let passes = app.shared.commerce.signer.pass_key(&o.order.deployment);
            let mut view = order_view(&o.order, &o.namespace, &passes, None);
            view["namespace"] = json!(o.namespace);
            view["title"] = params["title"].clone();
            view["venue"] = params["venue"].clone();
            view["performance_status"] = json!(if o.archived_at.is_some() { "cancelled" } else { "live" });
            view
        })
        .collect();
    Ok(Json(Value::Array(list)))
}
