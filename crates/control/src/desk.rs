//! The seller's desk: sales figures, the orders list with search and paging, an order's
//! detail and history, refunds, and the CSV exports (owner or admin).

use std::collections::HashMap;

use futures_util::{StreamExt, TryStreamExt};
use marquee_store::OrderRow;

use super::*;

/// Orders read from the store at a time when a list is walked or exported.
const WALK: usize = 500;

/// What a performance sold: money per session and in all, and per section sold, held and
/// free; goods (whose stock every session shares) in each session and at the top.
pub(crate) async fn sales(State(app): State<AppState>, caller: Caller, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    let ns = owned(&app, &caller, &name)?;
    let report = ns.inventory.report().await?;
    let counted = |c: &marquee_ticketing::Counted| {
        let free = c.capacity.saturating_sub(c.sold + c.held);
        json!({ "name": c.name, "capacity": c.capacity, "sold": c.sold, "held": c.held, "free": free, "left": free })
    };
    let goods: Vec<Value> = report.goods.iter().map(counted).collect();
    let sessions: Vec<Value> = report
        .sessions
        .iter()
        .map(|s| {
            let param = ns.params.sessions.iter().find(|p| p.id == s.id);
            json!({
                "id": s.id,
                "label": param.and_then(|p| p.label.clone()).unwrap_or_else(|| s.id.clone()),
                "starts_at": param.map(|p| p.starts_at.clone()),
                "gross": s.money.gross,
                "refunded": s.money.refunded,
                "net": s.money.gross.saturating_sub(s.money.refunded),
                "sections": s.sections.iter().map(counted).collect::<Vec<_>>(),
                "goods": goods,
            })
        })
        .collect();
    let money = report.money();
    Ok(Json(json!({
        "currency": ns.params.currency,
        "time_zone": ns.params.time_zone,
        "gross": money.gross,
        "refunded": money.refunded,
        "net": money.gross.saturating_sub(money.refunded),
        "sessions": sessions,
        "goods": goods,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrderQuery {
    /// A buyer's email, an order id or a ticket's seat id.
    q: Option<String>,
    session: Option<String>,
    status: Option<String>,
    /// Confirmed at or after this time (RFC 3339).
    from: Option<String>,
    /// Confirmed before this time (RFC 3339).
    to: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

/// What an order must be to be listed.
struct Filter {
    /// The buyer's account id when `q` is an email (`Some(None)`: no such account, none match).
    buyer: Option<Option<String>>,
    /// An order id or a seat id, as `q` gave it, when `q` is not an email.
    text: Option<String>,
    session: Option<String>,
    status: Option<OrderStatus>,
    from_ms: u64,
    to_ms: u64,
}

impl Filter {
    fn matches(&self, o: &OrderRow) -> bool {
        let found = match (&self.buyer, &self.text) {
            (Some(buyer), _) => buyer.as_deref() == Some(o.buyer.as_str()),
            (None, Some(text)) => o.id.eq_ignore_ascii_case(text) || o.tickets.iter().any(|t| t.seat.eq_ignore_ascii_case(text)),
            (None, None) => true,
        };
        found
            && self.session.as_ref().is_none_or(|s| *s == o.session)
            && self.status.is_none_or(|s| s == o.status)
            && (self.from_ms..self.to_ms).contains(&o.created_at)
    }
}

fn time_ms(text: &str, field: &str) -> Result<u64, ApiError> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        // Orders are from after 1970: an earlier time bounds nothing.
        .map(|t| u64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0))
        .ok_or_else(|| ApiError::bad_request(Code::InvalidRequest, format!("{field} must be an RFC 3339 date-time")).field(field))
}

async fn filter(app: &App, query: &OrderQuery) -> Result<Filter, Rejected> {
    let q = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let buyer = match q.filter(|q| q.contains('@')) {
        Some(email) => Some(app.shared.auth.identity().account_by_email(&email.to_ascii_lowercase()).await?.map(|a| a.id)),
        None => None,
    };
    let status = match query.status.as_deref() {
        None | Some("") => None,
        Some(text) => Some(OrderStatus::parse(text).ok_or_else(|| {
            ApiError::bad_request(Code::InvalidRequest, "status is confirmed, cancelled or refunded").field("status")
        })?),
    };
    Ok(Filter {
        text: if buyer.is_none() { q.map(str::to_string) } else { None },
        buyer,
        session: query.session.clone().filter(|s| !s.is_empty()),
        status,
        from_ms: query.from.as_deref().map(|t| time_ms(t, "from")).transpose()?.unwrap_or(0),
        to_ms: query.to.as_deref().map(|t| time_ms(t, "to")).transpose()?.unwrap_or(u64::MAX),
    })
}

/// Every order of a performance, oldest first, as pages of [`WALK`] read from the store as
/// they are taken: a long list is never in memory at once.
fn pages(ns: Arc<Namespace>) -> impl futures_util::Stream<Item = anyhow::Result<Vec<OrderRow>>> {
    futures_util::stream::try_unfold(Some(None::<(u64, String)>), move |cursor| {
        let ns = ns.clone();
        async move {
            let Some(after) = cursor else { return Ok(None) };
            let page = ns.inventory.orders_after(after.as_ref().map(|(at, id)| (*at, id.as_str())), WALK).await?;
            let Some(last) = page.last() else { return Ok(None) };
            let next = (page.len() == WALK).then(|| (last.created_at, last.id.clone()));
            Ok(Some((page, next.map(Some))))
        }
    })
}

/// The email of each buyer of `orders`, read a few at a time.
async fn emails(app: &App, orders: &[OrderRow]) -> anyhow::Result<HashMap<String, Option<String>>> {
    let buyers: std::collections::BTreeSet<&str> = orders.iter().map(|o| o.buyer.as_str()).collect();
    let identity = app.shared.auth.identity();
    let accounts = marquee_store::a_few_at_a_time(buyers.iter().map(|id| identity.account_by_id(id)).collect()).await?;
    Ok(buyers.into_iter().zip(accounts).map(|(id, account)| (id.to_string(), account.map(|a| a.email))).collect())
}

/// The performance's orders matching the query, oldest first, a page at a time: `q` is a
/// buyer's email, an order id or a seat id; `X-Total-Count` says how many match and a `Link`
/// header names the next page.
pub(crate) async fn performance_orders(
    State(app): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    axum::extract::Query(query): axum::extract::Query<OrderQuery>,
) -> ApiResult {
    let ns = owned(&app, &caller, &name)?;
    let (limit, offset) = page_bounds(query.limit, query.offset)?;
    let filter = filter(&app, &query).await?;
    let (mut total, mut listed) = (0usize, Vec::new());
    let mut all = std::pin::pin!(pages(ns.clone()));
    while let Some(page) = all.try_next().await? {
        for o in page.into_iter().filter(|o| filter.matches(o)) {
            if (offset..offset + limit).contains(&total) {
                listed.push(o);
            }
            total += 1;
        }
    }
    let emails = emails(&app, &listed).await?;
    let entries = ns.inventory.entries().await?;
    let list: Vec<Value> = listed
        .iter()
        .map(|o| {
            let mut view = order_view(o, &ns.name, ns.inventory.pass_key(), Some(&entries));
            view["buyer"] = json!({"id": o.buyer, "email": emails[&o.buyer]});
            view
        })
        .collect();
    let mut response = Json(Value::Array(list)).into_response();
    let headers = response.headers_mut();
    headers.insert("x-total-count", http::HeaderValue::from(total));
    if offset + limit < total {
        let mut next = url_query(&query);
        next.push(format!("limit={limit}"));
        next.push(format!("offset={}", offset + limit));
        let link = format!("</api/v1/performances/{}/orders?{}>; rel=\"next\"", ns.name, next.join("&"));
        headers.insert(http::header::LINK, http::HeaderValue::try_from(link).map_err(anyhow::Error::from)?);
    }
    Ok(response)
}

/// The query's filters as URL query pairs, for the next page's link.
fn url_query(query: &OrderQuery) -> Vec<String> {
    let pairs = [("q", &query.q), ("session", &query.session), ("status", &query.status), ("from", &query.from), ("to", &query.to)];
    pairs.iter().filter_map(|(key, value)| value.as_ref().map(|v| format!("{key}={}", encode(v)))).collect()
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}


/// One order with its buyer and its history: confirmed, each refund, each entry at the door,
/// and its end when it no longer stands.
pub(crate) async fn performance_order(
    State(app): State<AppState>,
    caller: Caller,
    Path((name, order_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let ns = owned(&app, &caller, &name)?;
    let order = ns.inventory.order(&order_id).await?.ok_or_else(|| ApiError::not_found("no such order in this performance"))?;
    let entries = ns.inventory.entries().await?;
    Ok(Json(detail(&app, &ns, &order, &entries).await?))
}

async fn detail(app: &App, ns: &Namespace, o: &OrderRow, entries: &HashMap<(String, String), Entry>) -> anyhow::Result<Value> {
    let mut view = order_view(o, &ns.name, ns.inventory.pass_key(), Some(entries));
    let email = emails(app, std::slice::from_ref(o)).await?.remove(&o.buyer).flatten();
    view["buyer"] = json!({"id": o.buyer, "email": email});
    let mut history = vec![(o.created_at, json!({"event": "confirmed", "amount": o.amount, "at": rfc3339_ms(o.created_at as i64)}))];
    for r in &o.refunds {
        history.push((r.at, json!({"event": "refunded", "tickets": r.tickets, "amount": r.amount, "at": rfc3339_ms(r.at as i64)})));
    }
    for ((_, ticket), entry) in entries.iter().filter(|((order, _), _)| *order == o.id) {
        history.push((entry.at, entry_view(entry, json!({"event": "checked_in", "seat": ticket, "at": rfc3339_ms(entry.at as i64)}))));
    }
    history.sort_by_key(|(at, _)| *at);
    if o.status == OrderStatus::Cancelled {
        // A cancel keeps no time of its own: it ends the history.
        history.push((u64::MAX, json!({"event": "cancelled", "at": null})));
    }
    view["history"] = Value::Array(history.into_iter().map(|(_, event)| event).collect());
    Ok(view)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RefundBody {
    /// The tickets to refund by name; left out, every ticket not refunded yet.
    #[serde(default, deserialize_with = "present")]
    seats: Option<Vec<String>>,
}

/// Refunds a whole order or the tickets named: their seats go back on sale and the buyer is
/// paid back what they cost, never more than was paid; 409 when nothing named is left.
pub(crate) async fn refund(
    State(app): State<AppState>,
    caller: Caller,
    Path((name, order_id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let ns = owned(&app, &caller, &name)?;
    let req: RefundBody = if body.is_empty() { RefundBody { seats: None } } else { parse_request(&body, Code::InvalidRequest)? };
    if req.seats.as_ref().is_some_and(|s| s.is_empty() || s.len() > 1000) {
        return Err(ApiError::bad_request(Code::InvalidRequest, "seats names 1 to 1000 tickets; leave it out to refund the whole order").field("seats").into());
    }
    let (order, refund) = match ns.inventory.refund(&order_id, req.seats.as_deref()).await? {
        Ok(done) => done,
        Err(e) => return Err(sale_error(e)),
    };
    let entries = ns.inventory.entries().await?;
    let mut view = detail(&app, &ns, &order, &entries).await?;
    view["refund"] = json!({"tickets": refund.tickets, "amount": refund.amount, "at": rfc3339_ms(refund.at as i64)});
    Ok(Json(view))
}

/// A sale's refusal as the seller's error.
fn sale_error(e: marquee_ticketing::SaleError) -> Rejected {
    use marquee_ticketing::SaleError;
    match e {
        SaleError::NotFound => ApiError::not_found("no such order in this performance"),
        SaleError::UnknownSeat(seat) => ApiError::not_found(format!("this order has no ticket {seat:?}")).field("seats"),
        SaleError::Invalid(message) => ApiError::bad_request(Code::InvalidRequest, message).field("seats"),
        other => ApiError::new(StatusCode::CONFLICT, Code::NothingToRefund, other.to_string()),
    }
    .into()
}

/// Which export: one row per order, or one per ticket.
#[derive(Clone, Copy)]
enum Export {
    Orders,
    Attendees,
}

impl Export {
    fn file(self) -> &'static str {
        match self {
            Export::Orders => "orders",
            Export::Attendees => "attendees",
        }
    }

    fn header(self) -> &'static [&'static str] {
        match self {
            Export::Orders => &["order_id", "created_at", "session", "status", "buyer_email", "tickets", "seats", "amount", "refunded", "currency"],
            Export::Attendees => &["order_id", "session", "seat", "status", "buyer_email", "code", "checked_in_at", "door"],
        }
    }

    /// The rows of one order.
    fn rows(self, o: &OrderRow, email: &str, currency: &str, entries: &HashMap<(String, String), Entry>) -> Vec<Vec<String>> {
        match self {
            Export::Orders => {
                let seats: Vec<&str> = o.tickets.iter().map(|t| t.seat.as_str()).collect();
                vec![vec![
                    o.id.clone(),
                    rfc3339_ms(o.created_at as i64).unwrap_or_default(),
                    o.session.clone(),
                    o.status.as_str().into(),
                    email.into(),
                    o.tickets.len().to_string(),
                    seats.join(" "),
                    o.amount.to_string(),
                    o.refunded().to_string(),
                    currency.into(),
                ]]
            }
            Export::Attendees => o
                .tickets
                .iter()
                .map(|t| {
                    let status = if o.status == OrderStatus::Confirmed && o.is_refunded(&t.seat) { "refunded" } else { o.status.as_str() };
                    let entry = entries.get(&(o.id.clone(), t.seat.clone()));
                    vec![
                        o.id.clone(),
                        o.session.clone(),
                        t.seat.clone(),
                        status.into(),
                        email.into(),
                        t.code.clone(),
                        entry.and_then(|e| rfc3339_ms(e.at as i64)).unwrap_or_default(),
                        entry.and_then(|e| e.door.clone()).unwrap_or_default(),
                    ]
                })
                .collect(),
        }
    }
}

/// A cell as a spreadsheet may read it: text that would start a formula gets a leading `'`.
fn cell(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{text}").into() } else { text.into() }
}

fn csv_bytes(rows: &[Vec<String>]) -> anyhow::Result<Bytes> {
    let mut out = csv::Writer::from_writer(Vec::new());
    for row in rows {
        out.write_record(row.iter().map(|c| cell(c).into_owned()))?;
    }
    Ok(Bytes::from(out.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?))
}

pub(crate) async fn orders_csv(state: State<AppState>, caller: Caller, name: Path<String>) -> ApiResult {
    export(state, caller, name, Export::Orders).await
}

pub(crate) async fn attendees_csv(state: State<AppState>, caller: Caller, name: Path<String>) -> ApiResult {
    export(state, caller, name, Export::Attendees).await
}

/// Streams a CSV of every order or ticket: the store is read [`WALK`] orders at a time as the
/// client takes the body, so 100,000 orders never sit in memory at once.
async fn export(State(app): State<AppState>, caller: Caller, Path(name): Path<String>, what: Export) -> ApiResult {
    let ns = owned(&app, &caller, &name)?;
    let entries = Arc::new(match what {
        Export::Attendees => ns.inventory.entries().await?,
        Export::Orders => HashMap::new(),
    });
    let header = csv_bytes(&[what.header().iter().map(|h| h.to_string()).collect()])?;
    let first = futures_util::stream::once(std::future::ready(Ok::<Bytes, anyhow::Error>(header)));
    let disposition = format!("attachment; filename=\"{}-{}.csv\"", ns.name, what.file());
    let currency = ns.params.currency.clone();
    let pages = pages(ns).and_then(move |page| {
        let (app, entries, currency) = (app.clone(), entries.clone(), currency.clone());
        async move {
            let emails = emails(&app, &page).await?;
            let rows: Vec<Vec<String>> = page.iter().flat_map(|o| what.rows(o, emails[&o.buyer].as_deref().unwrap_or(""), &currency, &entries)).collect();
            csv_bytes(&rows)
        }
    });
    let body = axum::body::Body::from_stream(first.chain(pages).map(|chunk| chunk.map_err(std::io::Error::other)));
    Ok((
        [(http::header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (http::header::CONTENT_DISPOSITION, disposition)],
        body,
    )
        .into_response())
}
