//! The `presale` auth component: only buyers holding a code the seller issued (the
//! performance's `presale_codes`) are admitted, with `POST /api/auth/admit {code}` once signed
//! in on the platform. Admission is kept in the namespace's key-value store, where the booking
//! component checks it. The host rate-limits this route like every credential check.

use auth_core::Gate;
use marquee_sdk::identity::Principal;
use marquee_sdk::{Handler, Request, Response, config, kv};
use serde::Deserialize;
use serde_json::{Value, json};

/// The key-value entry that marks a buyer as admitted (shared with `booking`).
fn admitted_key(buyer: &str) -> String {
    format!("presale-admitted/{buyer}")
}

#[derive(Deserialize)]
struct Params {
    #[serde(default)]
    presale_codes: Vec<String>,
}

fn admit(buyer: &str, code: &str) -> Result<(), Response> {
    let params: Params = serde_json::from_str(&config::params())
        .map_err(|e| Response::error(500, "invalid_config", &e.to_string()))?;
    if !params.presale_codes.iter().any(|c| c == code) {
        return Err(Response::error(403, "presale_code_invalid", "this presale code is not valid"));
    }
    kv::set(&admitted_key(buyer), b"1")
        .map_err(|e| Response::error(503, "unavailable", &format!("could not record the admission: {e:?}")))
}

fn is_admitted(buyer: &str) -> bool {
    matches!(kv::get(&admitted_key(buyer)), Ok(Some(_)))
}

struct Presale;

impl Gate for Presale {
    fn describe(principal: &Principal) -> Value {
        json!({"admitted": is_admitted(&principal.id)})
    }

    fn route(req: &Request) -> Option<Response> {
        match (req.method.as_str(), req.segments().as_slice()) {
            ("POST", ["api", "auth", "admit"]) => {}
            (_, ["api", "auth", "admit"]) => return Some(Response::method_not_allowed("POST")),
            _ => return None,
        }
        #[derive(Deserialize)]
        struct Admit {
            code: String,
        }
        let result = marquee_sdk::caller().and_then(|p| {
            let body: Admit = req.json()?;
            admit(&p.id, &body.code)?;
            Ok(Response::json(200, &json!({"admitted": true})))
        });
        Some(result.unwrap_or_else(|response| response))
    }
}

struct Auth;

impl Handler for Auth {
    fn handle(req: Request) -> Response {
        auth_core::handle::<Presale>(req)
    }
}

marquee_sdk::export!(Auth);
