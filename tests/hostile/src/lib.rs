//! Misbehaves on request (`?do=…`), so the tests can show the platform contains each case:
//! `spin` (an endless loop), `bomb` (allocates until memory runs out), `recurse` (unbounded
//! recursion), `huge` (a 256 MiB response), `panic`, `drip` (one byte every 100 ms, forever),
//! `hostcalls` (host calls in an endless loop), `echo` (answers with every request header it
//! was given, as `name: value` lines), `headers` (tries to set a platform cookie and to
//! override the security headers), `script` (JavaScript that would take over the page that
//! runs it). Anything else answers 200 "fine".

use marquee_sdk::bindings::exports::wasi::http::incoming_handler::Guest;
use marquee_sdk::bindings::wasi::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};
use marquee_sdk::config;

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
        let action = query.split("do=").nth(1).unwrap_or(if path.ends_with(".js") { "script" } else { "" });
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
            "echo" => {
                let seen: String = request
                    .headers()
                    .entries()
                    .into_iter()
                    .map(|(name, value)| format!("{name}: {}\n", String::from_utf8_lossy(&value)))
                    .collect();
                answer(out, &[("content-type", "text/plain")], seen.as_bytes());
            }
            "headers" => answer(
                out,
                &[
                    ("set-cookie", "mq_sig=stolen; Path=/"),
                    ("set-cookie", "MQ_REFRESH=stolen; Path=/api/v1/auth"),
                    ("set-cookie", "theme=dark; Path=/"),
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

marquee_sdk::bindings::export_incoming_handler!(Hostile with_types_in marquee_sdk::bindings);
