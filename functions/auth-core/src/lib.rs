//! A performance's buyer-facing account calls (`/p/{ns}/api/auth/…`) over the host identity
//! interface: the host hashes passwords and signs tokens, so no key enters Wasm memory.
//! The `auth` component serves them as they are; `presale` adds an admission gate.

use marquee_sdk::identity::{self, Principal};
use marquee_sdk::{Request, Response};
use serde::Deserialize;
use serde_json::{Value, json};

/// Email and password, as sign-up and log-in take them; `extra` keeps anything else
/// (a presale code, say) for the component's own gate.
#[derive(Deserialize)]
pub struct Credentials {
    pub email: String,
    pub password: String,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

/// What a component adds to the common calls.
pub trait Gate {
    /// Runs after a correct password, before the session is handed out.
    fn admit(principal: &Principal, credentials: &Credentials) -> Result<(), Response>;
    /// Extra fields for `GET /api/auth/me`.
    fn describe(principal: &Principal) -> Value;
    /// Routes of the component's own; `None` when the path is not one of them.
    fn route(req: &Request) -> Option<Response>;
}

/// Serves the common calls, then the gate's own routes.
pub fn handle<G: Gate>(req: Request) -> Response {
    let result = match (req.method.as_str(), req.segments().as_slice()) {
        ("POST", ["api", "auth", "signup"]) => sign_up(&req),
        ("POST", ["api", "auth", "login"]) => log_in::<G>(&req),
        ("GET", ["api", "auth", "me"]) => me::<G>(&req),
        _ => Err(G::route(&req).unwrap_or_else(Response::not_found)),
    };
    result.unwrap_or_else(|response| response)
}

fn sign_up(req: &Request) -> Result<Response, Response> {
    let c: Credentials = req.json()?;
    match identity::sign_up(&c.email, &c.password) {
        Ok(p) => Ok(Response::json(201, &json!({"id": p.id, "email": p.email, "role": p.role}))),
        Err(identity::Error::Taken) => Err(Response::error(409, "email_taken", "an account with this email exists")),
        Err(identity::Error::Rejected(reason)) => Err(Response::error(400, "invalid_account", &reason)),
        Err(_) => Err(Response::error(400, "invalid_account", "sign-up refused")),
    }
}

fn log_in<G: Gate>(req: &Request) -> Result<Response, Response> {
    let c: Credentials = req.json()?;
    let session = identity::log_in(&c.email, &c.password)
        .map_err(|_| Response::error(401, "unauthorized", "wrong email or password"))?;
    let principal = identity::authenticate(&format!("Bearer {}", session.access_token))
        .map_err(|_| Response::error(401, "unauthorized", "the new session did not verify"))?;
    G::admit(&principal, &c)?;
    Ok(Response::json(
        200,
        &json!({
            "access_token": session.access_token,
            "refresh_token": session.refresh_token,
            "token_type": "Bearer",
            "expires_in": session.expires_in,
        }),
    ))
}

fn me<G: Gate>(req: &Request) -> Result<Response, Response> {
    let p = marquee_sdk::caller(req)?;
    let mut body = json!({"id": p.id, "email": p.email, "role": p.role});
    if let (Value::Object(body), Value::Object(extra)) = (&mut body, G::describe(&p)) {
        body.extend(extra);
    }
    Ok(Response::json(200, &body))
}
