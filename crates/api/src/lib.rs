//! The `/api/v1` control plane's request and answer bodies (../shared/API.md), as the server
//! writes and reads them and as the CLI and the bench send and read them: one definition, so
//! the three cannot drift apart. Fields a client does not know are ignored when reading.

mod error;
mod identifier;
mod placement;

pub use error::{ApiError, BODY_TIMEOUT, Code};
pub use identifier::Identifier;
pub use placement::{DedicatedRuntime, Placement};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A stable machine-readable code, e.g. `invalid_namespace`.
    pub error: String,
    /// A sentence for a person.
    pub message: String,
    /// The request field at fault, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// `POST /api/v1/auth/signup`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignupRequest {
    /// The sign-in email.
    pub email: String,
    /// At least 8 characters.
    pub password: String,
    /// `buyer` or `seller`; checked by the server so that a wrong one is a clear 400.
    pub role: String,
}

/// An account as the API shows it (the signup answer).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Account {
    /// The account's id.
    pub id: String,
    /// Its sign-in email.
    pub email: String,
    /// `buyer`, `seller` or `admin`.
    pub role: String,
}

/// How a session's tokens travel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionMode {
    /// Both tokens in the answer's body.
    #[default]
    Api,
    /// A split-token browser session: the page gets `header.payload` of the access token; the
    /// signature and the refresh token travel in HttpOnly cookies.
    Browser,
}

impl SessionMode {
    fn is_api(&self) -> bool {
        *self == Self::Api
    }
}

/// `POST /api/v1/auth/login`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginRequest {
    /// The sign-in email.
    pub email: String,
    /// The password.
    pub password: String,
    #[serde(default, skip_serializing_if = "SessionMode::is_api")]
    /// How the session's tokens travel (API mode when absent).
    pub mode: SessionMode,
}

/// `POST /api/v1/auth/password`: the current password proves the account is the caller's.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordRequest {
    /// The sign-in email.
    pub email: String,
    /// The current password.
    pub password: String,
    /// The password to set (at least 8 characters).
    pub new_password: String,
    #[serde(default, skip_serializing_if = "SessionMode::is_api")]
    /// How the new session's tokens travel (API mode when absent).
    pub mode: SessionMode,
}

/// `POST /api/v1/auth/refresh` and `/logout` from an API client (a browser sends its cookie).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshRequest {
    /// The refresh token to spend (or, for `/logout`, to revoke with its family).
    pub refresh_token: String,
}

/// `POST /api/v1/auth/namespace-token`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamespaceTokenRequest {
    /// The performance the token may deploy to.
    pub namespace: String,
}

/// A fresh access + refresh token pair (an API-mode session).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenPair {
    /// A short-lived token for `Authorization: Bearer`.
    pub access_token: String,
    /// The one-use token that gets the next pair.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

/// `POST /api/v1/performances`. The server checks each field on its own, in this order, so
/// that each mistake gets its own code and `field` (a missing name is an invalid one).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployRequest {
    #[serde(default)]
    /// The performance's name, which is its namespace (1-63 lower-case letters, digits or `-`).
    pub namespace: String,
    #[serde(default)]
    /// The template it is deployed from.
    pub template: String,
    /// The template's parameters (`GET /api/v1/templates/{name}` has their schema).
    #[serde(default)]
    pub params: Value,
    /// Function role -> component reference (`name@version` or a digest) replacing the
    /// template's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub components: BTreeMap<String, String>,
}

/// `PATCH /api/v1/performances/{ns}`: display parameters and/or functions of a live performance.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchRequest {
    /// Parameters to change, merged into the performance's (`null` removes an optional one).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub params: serde_json::Map<String, Value>,
    /// Function role -> component reference, rolling forward or back to another version.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub components: BTreeMap<String, String>,
}

/// The answer to a deploy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deployed {
    /// The performance's name.
    pub namespace: String,
    /// `running`.
    pub status: String,
    /// The performance's pages, relative to the platform's address.
    pub url: String,
    /// The same pages where buyers reach them, when the control plane knows (`--public-url`):
    /// with split roles, that is the runtimes' address, not the control plane's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// From the request's arrival to the performance being served.
    pub deploy_ms: f64,
}

/// A performance as its seller and admins see it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Performance {
    /// The performance's name.
    pub namespace: String,
    /// `running`, or `archived` once taken down with orders.
    pub status: String,
    /// Its pages, relative to the platform's address.
    pub url: String,
    /// Where buyers reach its pages, when the control plane knows (`--public-url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// The template it was deployed from.
    pub template: String,
    /// The owner's account id.
    pub owner: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Its validated parameters.
    pub params: Value,
    /// Function role -> the digest it is pinned to.
    pub components: BTreeMap<String, String>,
    /// The sha256 of the performance's spec as stored: what runtimes report serving, and what
    /// a `Performance` object carries on Kubernetes.
    pub digest: String,
    /// The public key (Ed25519, base64url) that checks its tickets' passes, so a door can
    /// check them offline.
    #[serde(default)]
    pub ticket_key: String,
    /// In a PATCH's answer: how long the switch to the new version took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switch_ms: Option<f64>,
}

/// A component in the registry; built-ins have no world or size and belong to `marquee`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Component {
    /// The sha256 of its bytes, `sha256:…`.
    pub digest: String,
    /// Its name.
    pub name: String,
    /// Its version (one name may have many).
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The WIT world it targets (uploads only).
    pub world: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Its size in bytes (uploads only).
    pub size: Option<u64>,
    /// The uploader's account id, or `marquee` for a built-in.
    pub owner: String,
}

/// A template in the catalogue, as far as a listing needs it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TemplateSummary {
    /// The template's name.
    pub name: String,
    #[serde(default)]
    /// What it deploys, in a sentence.
    pub description: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies_have_the_wire_shape_of_the_contract() {
        let error = ErrorBody { error: "invalid_namespace".into(), message: "m".into(), field: None };
        assert_eq!(serde_json::to_value(&error).unwrap(), json!({"error": "invalid_namespace", "message": "m"}));
        let deploy = DeployRequest { namespace: "gala".into(), template: "seated".into(), params: json!({}), components: BTreeMap::new() };
        assert_eq!(serde_json::to_value(&deploy).unwrap(), json!({"namespace": "gala", "template": "seated", "params": {}}));
        let login = LoginRequest { email: "a@example.com".into(), password: "p".into(), mode: SessionMode::Api };
        assert_eq!(serde_json::to_value(&login).unwrap(), json!({"email": "a@example.com", "password": "p"}));
        let browser: LoginRequest = serde_json::from_value(json!({"email": "a", "password": "p", "mode": "browser"})).unwrap();
        assert_eq!(browser.mode, SessionMode::Browser);
        // A client reads answers that carry more than it knows.
        let component: Component = serde_json::from_value(json!({"digest": "d", "name": "n", "version": "builtin", "owner": "marquee", "new": 1})).unwrap();
        assert_eq!((component.world, component.size), (None, None));
    }
}
