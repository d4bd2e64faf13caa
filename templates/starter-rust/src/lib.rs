//! A custom storefront: replaces the `listing` function of a performance with the seller's
//! own page, and still serves the info and availability calls buyers' apps use.

use marquee_sdk::{Handler, Request, Response, config, inventory};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
struct Params {
    title: String,
    venue: String,
    sessions: Vec<Session>,
}

#[derive(Deserialize)]
struct Session {
    id: String,
    starts_at: String,
}

struct Storefront;

impl Handler for Storefront {
    fn handle(req: Request) -> Response {
        let params: Params = match serde_json::from_str(&config::params()) {
            Ok(p) => p,
            Err(e) => return Response::error(500, "invalid_config", &e.to_string()),
        };
        match req.segments().as_slice() {
            [] => page(&params),
            ["api", "info"] => Response::json(200, &json!({"title": params.title, "venue": params.venue, "theme": "starter"})),
            ["api", "sessions", session, "availability"] => match inventory::availability(session) {
                Ok(a) => Response::json(
                    200,
                    &json!({
                        "sections": a.sections.iter().map(|s| json!({"name": s.name, "capacity": s.capacity, "available": s.available})).collect::<Vec<_>>(),
                        "taken": a.taken,
                    }),
                ),
                Err(_) => Response::error(404, "unknown_session", "no such session"),
            },
            _ => Response::not_found(),
        }
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn page(params: &Params) -> Response {
    let sessions: String = params
        .sessions
        .iter()
        .map(|s| format!("<li>{} at {}</li>", escape(&s.id), escape(&s.starts_at)))
        .collect();
    Response::html(
        200,
        format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
             <body><h1 class=\"starter\">{title}</h1><p>{venue}</p><ul>{sessions}</ul></body></html>",
            title = escape(&params.title),
            venue = escape(&params.venue),
        ),
    )
}

marquee_sdk::export!(Storefront);
