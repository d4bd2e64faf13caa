//! Misbehaves on request (`?do=…`), so the tests can show the platform contains each case:
//! `spin` (an endless loop), `bomb` (allocates until memory runs out), `recurse` (unbounded
//! recursion), `huge` (a 256 MiB response), `panic`, `drip` (one byte every 100 ms, forever),
//! `hostcalls` (host calls in an endless loop), `echo` (answers with every request header it
//! was given, as `name: value` lines, then the body), `headers` (tries to set a platform
//! cookie and to override the security headers), `set` (answers with the status `status=N`
//! and every header `h=Name:Value` of its query), `script` (JavaScript that would take over
//! the page that runs it). As a performance's `booking` it also holds (`POST /api/holds
//! {"seat"}`), releases (`DELETE /api/holds/{id}`) and confirms (`POST /api/holds/{id}/<anything>`, passing on the body it got)
//! what it is asked to, answering with everything it was given beside the outcome. Anything
//! else answers 200 "fine".

use marquee_sdk::bindings::exports::wasi::http::incoming_handler::Guest;
use marquee_sdk::bindings::wasi::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};
use marquee_sdk::inventory::{self, Claim};
use marquee_sdk::{Handler, Request, Response, config};

struct Hostile;

#[expect(unconditional_recursion, reason = "the point: a stack overflow")]
fn recurse(depth: u64) -> u64 {
    std::hint::black_box(recurse(depth + 1)) + 1
}

/// Sends a head, then `chunks` writes of `chunk`, pausing `pause` between them.
fn stream(out: ResponseOutparam, chunk: &[u8], chunks: usize, pause: std::time::Duration) {
    stream_with(out, Fields::new(), chunk, chunks, pause);
}

/// Answers `body` at once with these headers.
fn answer(out: ResponseOutparam, headers: &[(&str, &str)], body: &[u8]) {
    let entries: Vec<(String, Vec<u8>)> = headers.iter().map(|(n, v)| (n.to_string(), v.as_bytes().to_vec())).collect();
    stream_with(out, Fields::from_list(&entries).unwrap(), body, 1, std::time::Duration::ZERO);
}

fn stream_with(out: ResponseOutparam, headers: Fields, chunk: &[u8], chunks: usize, pause: std::time::Duration) {
    let response = OutgoingResponse::new(headers);
    let body = response.body().unwrap();
    ResponseOutparam::set(out, Ok(response));
    let stream = body.write().unwrap();
    for _ in 0..chunks {
        if stream.blocking_write_and_flush(chunk).is_err() {
            return;
        }
        std::thread::sleep(pause);
    }
    drop(stream);
    let _ = OutgoingBody::finish(body, None);
}

impl Guest for Hostile {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let query = request.path_with_query().unwrap_or_default();
        // A module it serves (`/storefront.js`) is the takeover script.
        let path = query.split('?').next().unwrap_or("");
        let action = query.split("do=").nth(1).map_or(if path.ends_with(".js") { "script" } else { "" }, |a| a.split('&').next().unwrap_or(""));
        match action {
            "spin" => loop {
                std::hint::black_box(());
            },
            "bomb" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "recurse" => {
                std::hint::black_box(recurse(0));
            }
            "huge" => stream(out, &[b'x'; 4096], 65_536, std::time::Duration::ZERO),
            "panic" => panic!("a guest panic"),
            "drip" => stream(out, b".", usize::MAX, std::time::Duration::from_millis(100)),
            "hostcalls" => loop {
                std::hint::black_box(config::params());
            },
            "echo" | "set" => marquee_sdk::serve::<Told>(request, out),
            _ if path.to_ascii_lowercase().contains("/api/holds") => marquee_sdk::serve::<Told>(request, out),
            "headers" => answer(
                out,
                &[
                    ("set-cookie", "mq_sig=stolen; Path=/"),
                    ("set-cookie", "MQ_REFRESH=stolen; Path=/api/v1/auth"),
                    ("set-cookie", "=mq_sig=stolen; Path=/"),
                    ("set-cookie", &format!("theme=dark; Path=/p/{}/", config::namespace())),
                    ("set-cookie", "bomb=AAAA; Path=/; Max-Age=31536000"),
                    ("content-security-policy", "script-src *"),
                    ("access-control-allow-origin", "https://evil.example"),
                    ("access-control-allow-credentials", "true"),
                    ("x-frame-options", "ALLOWALL"),
                    ("clear-site-data", "\"cookies\""),
                ],
                b"set",
            ),
            "script" => answer(
                out,
                &[("content-type", "text/javascript")],
                b"window.pwned = document.cookie || 'ran'; export function mount(root) { root.textContent = 'pwned'; }",
            ),
            _ => stream(out, b"fine", 1, std::time::Duration::ZERO),
        }
    }
}

/// The actions that read the whole request: they answer with all of it.
struct Told;

impl Handler for Told {
    fn handle(req: Request) -> Response {
        let mut seen: String = req.headers.iter().map(|(name, value)| format!("{name}: {}\n", String::from_utf8_lossy(value))).collect();
        seen.push('\n');
        seen.push_str(&String::from_utf8_lossy(&req.body));
        let segments: Vec<String> = req.segments().iter().map(|s| s.to_ascii_lowercase()).collect();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        match segments.as_slice() {
            ["api", "holds"] => {
                let seat = req.json::<serde_json::Value>().ok().and_then(|b| b["seat"].as_str().map(str::to_string)).unwrap_or_default();
                let claim = Claim { seats: vec![seat], sections: vec![], goods: vec![] };
                return match inventory::hold("s1", &claim, None, 10) {
                    Ok(hold) => Response::json(201, &serde_json::json!({"hold_id": hold.id})),
                    Err(e) => Response::text(409, format!("{e:?}")),
                };
            }
            ["api", "holds", id] if req.method == "DELETE" => {
                return match inventory::release(id) {
                    Ok(()) => Response::text(204, String::new()),
                    Err(e) => Response::text(409, format!("{e:?}")),
                };
            }
            // Any spelling of a confirm, and a route of its own that passes on what it got.
            ["api", "holds", id, _] => {
                let outcome = inventory::confirm(id, &String::from_utf8_lossy(&req.body));
                return Response::text(200, format!("{seen}\n\n{outcome:?}"));
            }
            _ => {}
        }
        let mut response = Response::text(200, seen);
        for pair in req.query.split('&') {
            let decoded = percent_decode(pair);
            if let Some(status) = decoded.strip_prefix("status=") {
                response.status = status.parse().unwrap_or(200);
            } else if let Some((name, value)) = decoded.strip_prefix("h=").and_then(|h| h.split_once(':')) {
                response = response.with_header(name, value);
            }
        }
        response
    }
}

/// `%XX` and `+` of a query, decoded.
fn percent_decode(text: &str) -> String {
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        let hex = tail.get(..2).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok());
        rest = tail;
        match (b, hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                rest = &tail[2..];
            }
            (b'+', _) => out.push(b' '),
            _ => out.push(b),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

marquee_sdk::bindings::export_incoming_handler!(Hostile with_types_in marquee_sdk::bindings);
