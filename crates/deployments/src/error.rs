//! The platform's error shape: `{"error": code, "message": text}` (plus `field` where one
//! input is at fault), with a 4xx status for anything a caller can fix.

use http::StatusCode;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Seconds, for a 429's `Retry-After`.
    pub retry_after: Option<u64>,
    /// One more member of the body (`"orders": 3`); boxed, as few errors carry one.
    pub extra: Option<Box<(&'static str, serde_json::Value)>>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), field: None, retry_after: None, extra: None }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn with(mut self, name: &'static str, value: serde_json::Value) -> Self {
        self.extra = Some(Box::new((name, value)));
        self
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 429: a rate limit was hit; try again after `wait`.
    pub fn too_many(wait: std::time::Duration) -> Self {
        let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", format!("too many requests; retry in {seconds} s"));
        e.retry_after = Some(seconds);
        e
    }

    /// A fault of ours: logged with its cause, answered without internals.
    pub fn internal(error: anyhow::Error) -> Self {
        tracing::error!(error = format!("{error:#}"), "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error; see the server log")
    }

    /// A request body past `limit` bytes.
    pub fn body_too_large(limit: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", format!("request bodies are limited to {limit} bytes"))
    }

    /// A request body that did not arrive within [`BODY_TIMEOUT`] (a client sending a byte
    /// at a time holds nothing for long).
    pub fn body_timeout() -> Self {
        Self::new(StatusCode::REQUEST_TIMEOUT, "body_timeout", format!("the request body did not arrive within {} s", BODY_TIMEOUT.as_secs()))
    }

    /// The shared store did not answer; the call may be retried.
    pub fn store_unavailable() -> Self {
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", "the shared store did not answer; try again");
        e.retry_after = Some(1);
        e
    }
}

/// How long any request body may take to arrive, on every route that reads one whole.
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A parameter that failed a template's validation: 400 `invalid_params` naming the field.
impl From<marquee_ticketing::templates::FieldError> for ApiError {
    fn from(e: marquee_ticketing::templates::FieldError) -> Self {
        Self::bad_request("invalid_params", format!("{}: {}", e.field, e.message)).field(e.field)
    }
}

/// A fault: 503 when the shared store did not answer, else 500.
impl From<anyhow::Error> for ApiError {
    fn from(error: anyhow::Error) -> Self {
        if !marquee_store::unavailable(&error) {
            return Self::internal(error);
        }
        tracing::error!(error = format!("{error:#}"), "store unavailable");
        Self::store_unavailable()
    }
}

impl ApiError {
    /// The answer as HTTP: the JSON body, its status, and `Retry-After` where there is a wait.
    /// The control plane and the trigger each serve it in their own body type.
    pub fn response(self) -> http::Response<String> {
        let body = marquee_api::ErrorBody { error: self.code.into(), message: self.message, field: self.field };
        let mut body = serde_json::to_value(body).expect("an error body serializes");
        if let Some(extra) = self.extra {
            let (name, value) = *extra;
            body[name] = value;
        }
        let mut response = http::Response::new(body.to_string());
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
        if let Some(seconds) = self.retry_after {
            headers.insert(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
        }
        response
    }
}
