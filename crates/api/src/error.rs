//! The platform's error shape: `{"error": code, "message": text}` (plus `field` where one
//! input is at fault), with a 4xx status for anything a caller can fix.

use http::StatusCode;

/// Declares [`Code`]: each variant with the text the API answers.
macro_rules! codes {
    ($($variant:ident = $text:literal,)*) => {
        /// Every error code the API answers with (the body's `error`): stable and machine-readable.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Code {
            $(#[doc = $text] $variant,)*
        }

        impl Code {
            /// The code as the API writes it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $text,)*
                }
            }
        }
    };
}

codes! {
    BadRequest = "bad_request",
    BodyTimeout = "body_timeout",
    BodyTooLarge = "body_too_large",
    BuiltinTemplate = "builtin_template",
    ClusterUnavailable = "cluster_unavailable",
    ComponentNotYours = "component_not_yours",
    EmailTaken = "email_taken",
    Forbidden = "forbidden",
    FunctionError = "function_error",
    FunctionOutOfMemory = "function_out_of_memory",
    FunctionTrap = "function_trap",
    HasOrders = "has_orders",
    HeadersTooLarge = "headers_too_large",
    Internal = "internal",
    InvalidBody = "invalid_body",
    InvalidComponent = "invalid_component",
    InvalidDoor = "invalid_door",
    InvalidEmail = "invalid_email",
    InvalidImage = "invalid_image",
    InvalidJson = "invalid_json",
    InvalidNamespace = "invalid_namespace",
    InvalidPage = "invalid_page",
    InvalidParams = "invalid_params",
    InvalidPath = "invalid_path",
    InvalidRange = "invalid_range",
    InvalidRequest = "invalid_request",
    InvalidRole = "invalid_role",
    InvalidTemplate = "invalid_template",
    MethodNotAllowed = "method_not_allowed",
    NamespaceTaken = "namespace_taken",
    NotCheckedIn = "not_checked_in",
    NothingToRefund = "nothing_to_refund",
    NotFound = "not_found",
    NotPatchable = "not_patchable",
    NotProvisioned = "not_provisioned",
    NotReady = "not_ready",
    Overloaded = "overloaded",
    PasswordChangeRequired = "password_change_required",
    PriceLocked = "price_locked",
    QuotaExceeded = "quota_exceeded",
    RateLimited = "rate_limited",
    SignInOnPlatform = "sign_in_on_platform",
    StoreUnavailable = "store_unavailable",
    TemplateExists = "template_exists",
    TemplateGone = "template_gone",
    Timeout = "timeout",
    TooLarge = "too_large",
    Unauthorized = "unauthorized",
    UnknownComponent = "unknown_component",
    UnknownFunction = "unknown_function",
    UnknownNamespace = "unknown_namespace",
    UnknownTemplate = "unknown_template",
    UnsupportedMediaType = "unsupported_media_type",
    UriTooLong = "uri_too_long",
    VersionTaken = "version_taken",
    WeakPassword = "weak_password",
}

#[derive(Debug)]
/// An error answer: its status and the body's code, message and field.
pub struct ApiError {
    /// The HTTP status: 4xx for anything the caller can fix.
    pub status: StatusCode,
    /// The body's `error`.
    pub code: Code,
    /// The body's `message`: a sentence for a person.
    pub message: String,
    /// The body's `field`: the request field at fault, when there is one.
    pub field: Option<String>,
    /// Seconds, for a 429's `Retry-After`.
    pub retry_after: Option<u64>,
    /// One more member of the body (`"orders": 3`); boxed, as few errors carry one.
    pub extra: Option<Box<(&'static str, serde_json::Value)>>,
}

impl ApiError {
    /// An answer with this status, code and message.
    pub fn new(status: StatusCode, code: Code, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), field: None, retry_after: None, extra: None }
    }

    /// A 400 with this code and message.
    pub fn bad_request(code: Code, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// Names the request field at fault.
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Adds one member to the body (`"orders": 3`).
    pub fn with(mut self, name: &'static str, value: serde_json::Value) -> Self {
        self.extra = Some(Box::new((name, value)));
        self
    }

    /// A 401 `unauthorized`: no credentials, or credentials that do not verify.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, Code::Unauthorized, message)
    }

    /// A 403 `forbidden`: the caller may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, Code::Forbidden, message)
    }

    /// A 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, Code::NotFound, message)
    }

    /// 429: a rate limit was hit; try again after `wait`.
    pub fn too_many(wait: std::time::Duration) -> Self {
        let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, Code::RateLimited, format!("too many requests; retry in {seconds} s"));
        e.retry_after = Some(seconds);
        e
    }

    /// A fault of ours: logged with its cause, answered without internals.
    pub fn internal(error: anyhow::Error) -> Self {
        tracing::error!(error = format!("{error:#}"), "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, Code::Internal, "internal error; see the server log")
    }

    /// A request body past `limit` bytes.
    pub fn body_too_large(limit: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, Code::BodyTooLarge, format!("request bodies are limited to {limit} bytes"))
    }

    /// A request body that did not arrive within [`BODY_TIMEOUT`] (a client sending a byte
    /// at a time holds nothing for long).
    pub fn body_timeout() -> Self {
        Self::new(StatusCode::REQUEST_TIMEOUT, Code::BodyTimeout, format!("the request body did not arrive within {} s", BODY_TIMEOUT.as_secs()))
    }

    /// The shared store did not answer; the call may be retried.
    pub fn store_unavailable() -> Self {
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, Code::StoreUnavailable, "the shared store did not answer; try again");
        e.retry_after = Some(1);
        e
    }
}

/// How long any request body may take to arrive, on every route that reads one whole.
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

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
        let body = crate::ErrorBody { error: self.code.as_str().into(), message: self.message, field: self.field };
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
