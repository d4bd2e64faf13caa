//! Mail to buyers as the control plane writes it: the postman that sends the outbox to the
//! relay (`--smtp-url`), the seller's view of a performance's outbox, and a preview of each
//! kind of mail.

use std::sync::Weak;

use anyhow::Context;

use marquee_mail::{Author, Details, Letter, Postman, Relay, Ticket};
use marquee_store::{BoxFuture, Delivery, OrderRow};
use marquee_ticketing::templates::PerformanceParams;
use marquee_store::clock::now_ms;
use marquee_ticketing::{Kind, MAIL, Notice, Pass, reminder_due, ticket_label};

use super::*;

/// Messages of a performance's outbox the desk lists.
const LISTED: usize = 100;
/// Tries before the notice of an order that is not stored is dropped (14 s of backoff: far
/// past any commit that landed).
const UNSTORED_TRIES: u32 = 4;

/// Sends the platform's outbox to `relay` for as long as the process runs. Any number of
/// control planes may: each message is leased to one.
pub fn start_postman(app: &AppState, relay: Relay) {
    let author = Arc::new(Writer(Arc::downgrade(app)));
    tokio::spawn(Postman { outbox: app.shared.commerce.outbox.clone(), relay, author }.run());
}

/// Writes each notice from the platform as it is when the mail goes out.
struct Writer(Weak<App>);

impl Author for Writer {
    fn write<'a>(&'a self, notice: &'a Notice, attempts: u32) -> BoxFuture<'a, Option<Letter>> {
        Box::pin(async move {
            let Some(app) = self.0.upgrade() else { anyhow::bail!("the platform is stopping") };
            let Some((order, details)) = details(&app, notice).await? else {
                // Its commit may not have landed yet; an order never stored is given up.
                anyhow::ensure!(attempts >= UNSTORED_TRIES, "order {} is not stored (yet)", notice.order);
                return Ok(None);
            };
            // Tickets that no longer admit are not sent, nor reminded of; a refund is told.
            let standing = order.status == OrderStatus::Confirmed;
            Ok(match notice.kind {
                Kind::Confirmation if standing => {
                    // Its reminder, once: put as the confirmation goes out (again, on a retry:
                    // the id is taken then).
                    if let Some(due) = reminder_due(&details.starts_at, order.created_at) {
                        let reminder = Notice { kind: Kind::Reminder, ..notice.clone() };
                        app.shared.commerce.outbox.put(MAIL, &reminder.id(0), &notice.deployment, &serde_json::to_string(&reminder)?, now_ms(), due).await?;
                    }
                    Some(marquee_mail::confirmation(&details)?)
                }
                Kind::Reminder if standing => Some(marquee_mail::reminder(&details)),
                Kind::Refund { amount } => Some(marquee_mail::refund(&details, amount)),
                Kind::Confirmation | Kind::Reminder => None,
            })
        })
    }
}

/// The order a notice tells of and what its mail says; `None` when the order or its buyer is
/// gone. A performance cancelled since is read from its archive through its buyer's orders.
async fn details(app: &App, notice: &Notice) -> anyhow::Result<Option<(OrderRow, Details)>> {
    let live = app.registry.by_deployment(&notice.deployment);
    let found = match live {
        Some(ns) => ns.inventory.order(&notice.order).await?.map(|order| (order, ns.name.clone(), ns.params_json.clone())),
        None => {
            let mine = app.orders_of_buyer(&notice.buyer).await?;
            mine.into_iter().find(|b| b.order.id == notice.order).map(|b| (b.order, b.namespace, b.params))
        }
    };
    let Some((order, namespace, params)) = found else { return Ok(None) };
    let Some(buyer) = app.shared.auth.identity().account_by_id(&notice.buyer).await? else { return Ok(None) };
    let params: PerformanceParams = serde_json::from_str(&params).context("a performance's stored params")?;
    let standing: Vec<&str> = order.tickets.iter().filter(|t| !order.is_refunded(&t.seat)).map(|t| t.seat.as_str()).collect();
    let details = letter_details(app, &namespace, &params, &order, &standing, buyer.email);
    Ok(Some((order, details)))
}

/// What a mail of `order` says, its tickets those named in `tickets`, each with its pass.
fn letter_details(app: &App, namespace: &str, params: &PerformanceParams, order: &OrderRow, tickets: &[&str], to: String) -> Details {
    let session = params.sessions.iter().find(|s| s.id == order.session);
    let passes = app.shared.commerce.signer.pass_key(&order.deployment);
    let tickets = tickets
        .iter()
        .map(|seat| {
            let pass = Pass { namespace: namespace.into(), session: order.session.clone(), order: order.id.clone(), ticket: seat.to_string() };
            Ticket { label: ticket_label(seat), pass: passes.write(&pass) }
        })
        .collect();
    Details {
        to,
        title: params.title.clone(),
        venue: params.venue.clone(),
        time_zone: params.time_zone.clone(),
        currency: params.currency.clone(),
        session: session.and_then(|s| s.label.clone()).unwrap_or_else(|| order.session.clone()),
        starts_at: session.map(|s| s.starts_at.clone()).unwrap_or_default(),
        running_minutes: params.running_minutes,
        order: order.id.clone(),
        amount: order.amount,
        tickets,
        link: app.public_url(namespace),
    }
}

/// A performance's outbox, newest first: mail to its buyers and refunds the payment provider
/// failed, what was done, what waits and why (owner or admin). Without a relay (`relay:
/// false`) every mail waits here, none is lost.
pub(crate) async fn outbox(State(app): State<AppState>, caller: Caller, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    let ns = owned(&app, &caller, &name)?;
    let messages = app.shared.commerce.outbox.recent(&ns.deployment, LISTED).await?;
    let listed: Vec<Value> = messages
        .iter()
        .map(|m| {
            // Every body names its kind and order (a notice, a queued refund).
            let body: Value = serde_json::from_str(&m.body).unwrap_or_default();
            json!({
                "id": m.id,
                "kind": body["kind"],
                "order_id": body["order"],
                "state": m.state.as_str(),
                "attempts": m.attempts,
                "last_error": m.last_error,
                "created_at": rfc3339_ms(m.created_at as i64),
                // Queued: when it is next tried; sent or dropped: when that was.
                (if m.state == Delivery::Queued { "due_at" } else { "settled_at" }): rfc3339_ms(m.due_at as i64),
            })
        })
        .collect();
    Ok(Json(json!({ "relay": app.settings.mail_relay, "messages": listed })))
}

/// A mail of this performance as a buyer would get it (`confirmation`, `refund`,
/// `reminder`), for a made-up order of one ticket in its first session (owner or admin).
pub(crate) async fn mail_preview(State(app): State<AppState>, caller: Caller, Path((name, kind)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    let ns = owned(&app, &caller, &name)?;
    let params = &ns.params;
    let (seat, price) = match params.sections.first() {
        Some(s) if s.rows.is_some() => (format!("{}-1-1", s.name), s.price as u64),
        Some(s) => (format!("{}#1", s.name), s.price as u64),
        None => ("ticket".into(), 0),
    };
    let order = OrderRow {
        id: "o_preview".into(),
        deployment: ns.deployment.clone(),
        session: params.sessions.first().map(|s| s.id.clone()).unwrap_or_default(),
        buyer: String::new(),
        hold_id: String::new(),
        amount: price,
        status: OrderStatus::Confirmed,
        tickets: Vec::new(),
        charge_id: String::new(),
        created_at: 0,
        refunds: Vec::new(),
    };
    let details = letter_details(&app, &ns.name, params, &order, &[seat.as_str()], "buyer@example.com".into());
    let letter = match kind.as_str() {
        "confirmation" => marquee_mail::confirmation(&details)?,
        "refund" => marquee_mail::refund(&Details { tickets: Vec::new(), ..details }, price),
        "reminder" => marquee_mail::reminder(&details),
        _ => return Err(ApiError::not_found("no such mail: the kinds are confirmation, refund and reminder").into()),
    };
    let files: Vec<Value> = letter.attachments.iter().map(|a| json!({"name": a.name, "content_type": a.content_type, "size": a.bytes.len()})).collect();
    Ok(Json(json!({ "to": letter.to, "subject": letter.subject, "text": letter.text, "attachments": files })))
}
