//! A performance's buyer-facing account calls (`/p/{ns}/api/auth/…`) over the host identity
//! interface. Signing up and logging in are the platform's (`/api/v1/auth/…`): a component
//! never receives a password or a token, only the caller the host verified. The `auth`
//! component serves `me` as it is; `presale` adds an admission gate.

use marquee_sdk::identity::Principal;
use marquee_sdk::{Request, Response};
use serde_json::{Value, json};

/// What a component adds to the common calls.
pub trait Gate {
    /// Extra fields for `GET /api/auth/me`.
    fn describe(principal: &Principal) -> Value;
    /// Routes of the component's own; `None` when the path is not one of them.
    fn route(req: &Request) -> Option<Response>;
}

/// Serves the common calls, then the gate's own routes.
pub fn handle<G: Gate>(req: Request) -> Response {
    let result = match (req.method.as_str(), req.segments().as_slice()) {
        ("GET", ["api", "auth", "me"]) => me::<G>(),
        (_, ["api", "auth", "me"]) => Err(Response::method_not_allowed("GET")),
        _ => Err(G::route(&req).unwrap_or_else(Response::not_found)),
    };
    result.unwrap_or_else(|response| response)
}

fn me<G: Gate>() -> Result<Response, Response> {
    let p = marquee_sdk::caller()?;
    let mut body = json!({"id": p.id, "email": p.email, "role": p.role});
    if let (Value::Object(body), Value::Object(extra)) = (&mut body, G::describe(&p)) {
        body.extend(extra);
    }
    Ok(Response::json(200, &body))
}
