//! Misbehaves on request (`?do=…`), so the tests can show the platform contains each case:
//! `spin` (an endless loop), `bomb` (allocates until memory runs out), `recurse` (unbounded
//! recursion), `huge` (a 256 MiB response), `panic`, `drip` (one byte every 100 ms, forever),
//! `hostcalls` (host calls in an endless loop). Anything else answers 200 "fine".

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
    let response = OutgoingResponse::new(Fields::new());
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
        let action = query.split("do=").nth(1).unwrap_or("");
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
            _ => stream(out, b"fine", 1, std::time::Duration::ZERO),
        }
    }
}

marquee_sdk::bindings::export_incoming_handler!(Hostile with_types_in marquee_sdk::bindings);
