//! Guest side of Marquee: the generated bindings of `wit/` and a small buffered
//! request/response layer over `wasi:http`, so a component is a plain function from
//! [`Request`] to [`Response`].
//!
//! ```ignore
//! struct Hello;
//! impl marquee_sdk::Handler for Hello {
//!     fn handle(req: marquee_sdk::Request) -> marquee_sdk::Response {
//!         marquee_sdk::Response::text(200, format!("hello from {}", req.path))
//!     }
//! }
//! marquee_sdk::export!(Hello);
//! ```

/// Bindings generated from the `guest` world of `wit/`: every interface a Marquee
/// component may import, and the `wasi:http/incoming-handler` export.
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "marquee:platform/guest",
        generate_all,
        pub_export_macro: true,
        export_macro_name: "export_incoming_handler",
        default_bindings_module: "marquee_sdk::bindings",
    });
}

pub use bindings::marquee::platform::{config, identity, inventory, kv, log};

use bindings::wasi::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use bindings::wasi::io::streams::StreamError;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A request whose body has been read in full.
pub struct Request {
    /// Upper-case method name (`GET`, `POST`, ...).
    pub method: String,
    /// Path inside the namespace: `/p/{ns}/api/info` arrives as `/api/info`.
    pub path: String,
    /// The query string without `?`, empty when there is none.
    pub query: String,
    /// Header names are lower case.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The whole body.
    pub body: Vec<u8>,
}

impl Request {
    /// The first value of a header, if it is valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// The path split into its non-empty segments.
    pub fn segments(&self) -> Vec<&str> {
        self.path.split('/').filter(|s| !s.is_empty()).collect()
    }

    /// Parses the body as JSON, or answers the 400 the caller should return.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Response> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Response::error(400, "invalid_json", &format!("request body: {e}")))
    }
}

/// A response to be written in one piece.
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// Header name and value pairs.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The whole body.
    pub body: Vec<u8>,
}

impl Response {
    /// A response with a body and a content type.
    pub fn new(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), content_type.as_bytes().to_vec())],
            body,
        }
    }

    /// A JSON response.
    pub fn json(status: u16, value: &impl Serialize) -> Self {
        let body = serde_json::to_vec(value).expect("serializing to a Vec cannot fail");
        Self::new(status, "application/json", body)
    }

    /// An HTML page.
    pub fn html(status: u16, page: String) -> Self {
        Self::new(status, "text/html; charset=utf-8", page.into_bytes())
    }

    /// Plain text.
    pub fn text(status: u16, text: String) -> Self {
        Self::new(status, "text/plain; charset=utf-8", text.into_bytes())
    }

    /// The platform's error shape: `{"error": code, "message": message}`.
    pub fn error(status: u16, code: &str, message: &str) -> Self {
        Self::json(status, &serde_json::json!({ "error": code, "message": message }))
    }

    /// A 404 for a path this component does not serve.
    pub fn not_found() -> Self {
        Self::error(404, "not_found", "no such route")
    }

    /// A 405 for a known path with another method; `allow` lists the methods it takes.
    pub fn method_not_allowed(allow: &str) -> Self {
        Self::error(405, "method_not_allowed", &format!("this route takes {allow}")).with_header("allow", allow)
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.as_bytes().to_vec()));
        self
    }
}

/// The caller of this request as the host verified it, or the 401 to answer. A component
/// never sees the credentials themselves.
pub fn caller() -> Result<identity::Principal, Response> {
    match identity::caller() {
        Ok(principal) => Ok(principal),
        Err(identity::Error::Missing) => {
            Err(Response::error(401, "unauthorized", "log in first: Authorization: Bearer <access_token>"))
        }
        Err(_) => Err(Response::error(401, "unauthorized", "the access token is invalid, expired or for another performance")),
    }
}

/// A component's request handler.
pub trait Handler {
    /// Answers one request.
    fn handle(request: Request) -> Response;
}

/// Reads the request, runs `H`, writes the response. Called by [`export!`].
pub fn serve<H: Handler>(request: IncomingRequest, out: ResponseOutparam) {
    let response = match read_request(request) {
        Ok(request) => H::handle(request),
        Err(message) => Response::error(400, "bad_request", &message),
    };
    write_response(response, out);
}

fn read_request(request: IncomingRequest) -> Result<Request, String> {
    let method = match request.method() {
        Method::Get => "GET".to_string(),
        Method::Head => "HEAD".into(),
        Method::Post => "POST".into(),
        Method::Put => "PUT".into(),
        Method::Delete => "DELETE".into(),
        Method::Connect => "CONNECT".into(),
        Method::Options => "OPTIONS".into(),
        Method::Trace => "TRACE".into(),
        Method::Patch => "PATCH".into(),
        Method::Other(other) => other,
    };
    let target = request.path_with_query().unwrap_or_else(|| "/".into());
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path.to_string(), query.to_string()),
        None => (target, String::new()),
    };
    let headers = request.headers().entries();
    let mut body = Vec::new();
    let incoming = request.consume().map_err(|()| "request body already taken")?;
    {
        let stream = incoming.stream().map_err(|()| "request body stream already taken")?;
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => body.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(format!("reading the request body failed: {}", e.to_debug_string()));
                }
            }
        }
    }
    bindings::wasi::http::types::IncomingBody::finish(incoming);
    Ok(Request { method, path, query, headers, body })
}

fn write_response(response: Response, out: ResponseOutparam) {
    let headers = match Fields::from_list(&response.headers) {
        Ok(headers) => headers,
        Err(e) => {
            let fallback = Response::error(500, "invalid_header", &format!("{e:?}"));
            return write_response(fallback, out);
        }
    };
    let outgoing = OutgoingResponse::new(headers);
    outgoing
        .set_status_code(response.status)
        .expect("status codes come from our own constants");
    let body = outgoing.body().expect("a new response has a body");
    ResponseOutparam::set(out, Ok(outgoing));
    {
        let stream = body.write().expect("a new body has a stream");
        // The host accepts at most 4096 bytes per blocking write.
        for chunk in response.body.chunks(4096) {
            if stream.blocking_write_and_flush(chunk).is_err() {
                // The client went away; nothing is left to tell it.
                return;
            }
        }
    }
    let _ = OutgoingBody::finish(body, None);
}

/// Exports a [`Handler`] as the component's `wasi:http/incoming-handler`.
#[macro_export]
macro_rules! export {
    ($handler:ident) => {
        impl $crate::bindings::exports::wasi::http::incoming_handler::Guest for $handler {
            fn handle(
                request: $crate::bindings::wasi::http::types::IncomingRequest,
                out: $crate::bindings::wasi::http::types::ResponseOutparam,
            ) {
                $crate::serve::<$handler>(request, out)
            }
        }
        $crate::bindings::export_incoming_handler!($handler with_types_in $crate::bindings);
    };
}

/// UTC timestamps in the one spelling the control plane stores (`2027-03-01T19:00:00Z`), so
/// comparing two of them as strings compares them in time.
pub mod clock {
    /// Milliseconds since the Unix epoch.
    pub fn now_ms() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }

    /// Formats milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`.
    pub fn format_ms(ms: u64) -> String {
        let secs = ms / 1000;
        let (days, rem) = (secs / 86_400, secs % 86_400);
        // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
        let z = days as i64 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
    }

    /// The current time, formatted.
    pub fn now() -> String {
        format_ms(now_ms())
    }
}
