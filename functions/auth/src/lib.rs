//! The default `auth` component: who the caller is (`GET /api/auth/me`).

use auth_core::Gate;
use marquee_sdk::identity::Principal;
use marquee_sdk::{Handler, Request, Response};
use serde_json::{Value, json};

struct Open;

impl Gate for Open {
    fn describe(_: &Principal) -> Value {
        json!({})
    }

    fn route(_: &Request) -> Option<Response> {
        None
    }
}

struct Auth;

impl Handler for Auth {
    fn handle(req: Request) -> Response {
        auth_core::handle::<Open>(req)
    }
}

marquee_sdk::export!(Auth);
