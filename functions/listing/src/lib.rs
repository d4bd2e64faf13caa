//! The storefront of a performance: its page, its info and live availability.

use marquee_sdk::{Handler, Request, Response, config, inventory};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Params {
    title: String,
    venue: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    cast: Vec<String>,
    #[serde(default)]
    running_minutes: Option<u32>,
    #[serde(default)]
    poster: Option<String>,
    /// Performances from before currencies default to the euro, which they sold in.
    #[serde(default = "euro")]
    currency: String,
    #[serde(default = "utc")]
    time_zone: String,
    sessions: Vec<Session>,
    sections: Vec<Section>,
    #[serde(default)]
    goods: Vec<Goods>,
    #[serde(default)]
    presale_codes: Vec<String>,
    per_buyer_limit: u32,
}

#[derive(Deserialize, Serialize)]
struct Goods {
    name: String,
    price: u64,
    stock: u32,
    /// Most of these one buyer may hold or own; without it, the performance's limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    per_buyer_limit: Option<u32>,
}

fn euro() -> String {
    "EUR".into()
}

fn utc() -> String {
    "UTC".into()
}

#[derive(Deserialize, Serialize)]
struct Session {
    id: String,
    starts_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    label: Option<String>,
}

#[derive(Deserialize)]
struct Section {
    name: String,
    price: u64,
    rows: Option<u32>,
    seats_per_row: Option<u32>,
    capacity: Option<u32>,
}

impl Section {
    fn capacity(&self) -> u64 {
        match (self.rows, self.seats_per_row, self.capacity) {
            (Some(rows), Some(per_row), _) => u64::from(rows) * u64::from(per_row),
            (_, _, Some(capacity)) => capacity.into(),
            _ => 0,
        }
    }
}

#[derive(Serialize)]
struct Info<'a> {
    title: &'a str,
    venue: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    cast: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    running_minutes: Option<u32>,
    /// Where the platform serves its poster.
    #[serde(skip_serializing_if = "Option::is_none")]
    poster: Option<String>,
    /// ISO 4217: prices are in its minor units.
    currency: &'a str,
    /// The venue's IANA time zone, in which pages show the sessions.
    time_zone: &'a str,
    sessions: &'a [Session],
    sections: Vec<SectionInfo<'a>>,
    #[serde(skip_serializing_if = "<[Goods]>::is_empty")]
    goods: &'a [Goods],
    /// Whether booking needs a presale code (never the codes themselves).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    presale: bool,
    /// Most tickets one buyer may hold or own in a session, so a page offers no more.
    per_buyer_limit: u32,
}

#[derive(Serialize)]
struct SectionInfo<'a> {
    name: &'a str,
    price: u64,
    capacity: u64,
    numbered: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    rows: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seats_per_row: Option<u32>,
}

fn params() -> Result<Params, Response> {
    serde_json::from_str(&config::params())
        .map_err(|e| Response::error(500, "invalid_config", &e.to_string()))
}

const STOREFRONT_MODULE: &str = include_str!("storefront.js");
const PAGE_API_MODULE: &str = include_str!("page-api.js");

/// A JavaScript module, revalidated on every load so a version switch shows at once.
fn module(source: &str) -> Result<Response, Response> {
    Ok(Response::new(200, "text/javascript; charset=utf-8", source.as_bytes().to_vec()).with_header("cache-control", "no-cache"))
}

struct Listing;

impl Handler for Listing {
    fn handle(req: Request) -> Response {
        if req.method != "GET" && req.method != "HEAD" {
            return Response::method_not_allowed("GET, HEAD");
        }
        let result = match req.segments().as_slice() {
            [] => storefront(),
            // The storefront the page runs, and its session (see page-api.js).
            ["storefront.js"] => module(STOREFRONT_MODULE),
            ["page-api.js"] => module(PAGE_API_MODULE),
            ["api", "info"] => info(),
            ["api", "sessions", session, "availability"] => availability(session),
            _ => Err(Response::not_found()),
        };
        result.unwrap_or_else(|response| response)
    }
}

fn info() -> Result<Response, Response> {
    let params = params()?;
    let info = Info {
        title: &params.title,
        venue: &params.venue,
        description: params.description.as_deref(),
        cast: &params.cast,
        running_minutes: params.running_minutes,
        poster: params.poster.as_deref().map(|digest| format!("/api/v1/posters/{digest}")),
        currency: &params.currency,
        time_zone: &params.time_zone,
        sessions: &params.sessions,
        sections: params
            .sections
            .iter()
            .map(|s| SectionInfo {
                name: &s.name,
                price: s.price,
                capacity: s.capacity(),
                numbered: s.rows.is_some(),
                rows: s.rows,
                seats_per_row: s.seats_per_row,
            })
            .collect(),
        goods: &params.goods,
        presale: !params.presale_codes.is_empty(),
        per_buyer_limit: params.per_buyer_limit,
    };
    Ok(Response::json(200, &info))
}

#[derive(Serialize)]
struct Availability {
    sections: Vec<SectionAvailability>,
    taken: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    goods: Vec<SectionAvailability>,
}

fn counts(list: Vec<inventory::SectionAvailability>) -> Vec<SectionAvailability> {
    list.into_iter().map(|s| SectionAvailability { name: s.name, capacity: s.capacity, available: s.available }).collect()
}

#[derive(Serialize)]
struct SectionAvailability {
    name: String,
    capacity: u32,
    available: u32,
}

fn availability(session: &str) -> Result<Response, Response> {
    match inventory::availability(session) {
        Ok(a) => Ok(Response::json(
            200,
            &Availability { sections: counts(a.sections), taken: a.taken, goods: counts(a.goods) },
        )),
        Err(inventory::Error::UnknownSession) => {
            Err(Response::error(404, "unknown_session", &format!("no session {session:?}")))
        }
        Err(e) => Err(Response::error(400, "inventory", &format!("{e:?}"))),
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn storefront() -> Result<Response, Response> {
    let params = params()?;
    let sessions: String = params
        .sessions
        .iter()
        .map(|s| {
            format!(
                "<option value=\"{id}\">{id} — <time>{at}</time></option>",
                id = escape(&s.id),
                at = escape(&s.starts_at)
            )
        })
        .collect();
    let sections: String = params
        .sections
        .iter()
        .map(|s| {
            format!(
                "<tr data-section=\"{name}\"><td>{name}</td><td>{price}</td><td>{capacity}</td></tr>",
                name = escape(&s.name),
                price = s.price,
                capacity = s.capacity()
            )
        })
        .collect();
    let namespace = serde_json::to_string(&config::namespace()).map_err(|e| Response::error(500, "invalid_config", &e.to_string()))?;
    // The storefront itself, over a table that says the same without JavaScript.
    let page = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><link rel="icon" href="data:,">
<style>body{{font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem}}table{{border-collapse:collapse;width:100%}}td,th{{border-bottom:1px solid #ddd;padding:.4rem;text-align:left}}
.card{{border:1px solid #ddd;border-radius:.75rem;padding:1rem;margin:1rem 0}}button.primary{{background:#7e22ce;border-color:#7e22ce;color:#fff}}label{{display:flex;gap:.5rem;align-items:center;margin:.5rem 0}}
.notice:empty{{display:none}}.notice.error{{color:#b91c1c}}.notice.ok{{color:#15803d}}.seatmap{{width:100%;height:auto;display:block}}.seatmap .stage,.seatmap .row{{font-size:9px;fill:#666}}
.seat{{cursor:pointer;stroke:#7e22ce}}.seat.free{{fill:#f3e8ff}}.seat.picked{{fill:#7e22ce}}.seat.taken{{fill:#d4d4d8;stroke:#a1a1aa;cursor:not-allowed}}.qty input{{width:5rem}}</style>
<script type="importmap">{{"imports": {{"@marquee/api": "./page-api.js", "@marquee/ui": "/console/modules/ui.js"}}}}</script>
<script type="module">
import {{ mount }} from "./storefront.js";
const app = document.getElementById("app");
app.replaceChildren();
mount(app, {{ args: [{namespace}], navigate: (hash) => {{ location.href = "/console/" + hash; }} }});
</script>
</head><body>
<main id="app">
<h1>{title}</h1><p class="venue">{venue}</p>
<label>Session <select id="session">{sessions}</select></label>
<table><thead><tr><th>Section</th><th>Price</th><th>Capacity</th></tr></thead><tbody>{sections}</tbody></table>
</main>
</body></html>"#,
        title = escape(&params.title),
        venue = escape(&params.venue),
    );
    Ok(Response::html(200, page))
}

marquee_sdk::export!(Listing);
