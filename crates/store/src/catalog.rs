//! What the control plane keeps about the platform: performances (live, and archived for their
//! orders), admins' templates, uploaded components' records, deploy tokens and posters. Behind
//! [`Catalog`], so every control plane of a shared store reads and writes the same one.

use serde::{Deserialize, Serialize};

use crate::BoxFuture;

/// A performance as stored (and as the directory of a Redis store hands it to runtimes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PerformanceRow {
    /// Its name (its namespace).
    pub namespace: String,
    /// Unique per deploy, so a later performance of the same name starts empty.
    pub deployment: String,
    /// The owner's account id.
    pub owner: String,
    /// The template it was deployed from.
    pub template: String,
    /// Its validated parameters as JSON.
    pub params: String,
    /// The functions it runs, pinned at deploy: the runtime's `Spec` as JSON.
    pub spec: String,
    /// When it was deployed, in seconds since the Unix epoch.
    pub created_at: i64,
}

/// A performance, live or archived: (namespace, deployment, params, archived_at).
pub type DeploymentRow = (String, String, String, Option<i64>);

/// What a namespace token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenScope {
    /// Read and change its performance, for the seller's CI (a deploy token).
    #[default]
    Deploy,
    /// Check tickets in at its performance's door, and nothing else (a door token).
    Door,
}

impl TokenScope {
    /// The scope as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Deploy => "deploy",
            TokenScope::Door => "door",
        }
    }

    /// A stored scope; a token stored before scopes existed is a deploy token.
    pub fn parse(text: Option<&str>) -> Option<Self> {
        match text {
            None | Some("deploy") => Some(TokenScope::Deploy),
            Some("door") => Some(TokenScope::Door),
            Some(_) => None,
        }
    }
}

/// A token bound to one performance: a deploy token for a seller's CI, or a door token for
/// the staff at its door.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceToken {
    /// The token's id (its secret is stored only as a hash).
    pub id: String,
    /// The deployment it works on.
    pub deployment: String,
    /// That deployment's performance.
    pub namespace: String,
    /// The account that issued it.
    pub created_by: String,
    /// What it may do.
    pub scope: TokenScope,
    /// The issuer's name for it (`door B`); may be empty.
    pub label: String,
}

/// An uploaded component as its owner named it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentRow {
    /// The uploader's account id.
    pub owner: String,
    /// The name the uploader gave it.
    pub name: String,
    /// Its version; an owner's name and version name one component.
    pub version: String,
    /// The sha256 of its bytes.
    pub digest: String,
    /// The WIT world it targets.
    pub world: String,
    /// Its size in bytes.
    pub size: i64,
    /// When it was uploaded, in seconds since the Unix epoch.
    pub created_at: i64,
}

/// The control plane's catalog.
pub trait Catalog: Send + Sync {
    /// Adds a live performance; `false` when a live one has its namespace.
    fn insert_performance<'a>(&'a self, row: &'a PerformanceRow) -> BoxFuture<'a, bool>;
    /// Sets a live performance's params and spec (nothing if it is not live).
    fn update_performance<'a>(&'a self, namespace: &'a str, params: &'a str, spec: &'a str) -> BoxFuture<'a, ()>;
    /// Takes the performance `deployment` out of the live ones (nothing if another deployment
    /// has the name); with `archive` it is kept (with `now` as its `archived_at`) for its
    /// buyers' orders. Its namespace is free again either way.
    fn remove_performance<'a>(&'a self, namespace: &'a str, deployment: &'a str, now: i64, archive: bool) -> BoxFuture<'a, ()>;
    /// The live performances, oldest first.
    fn performances(&self) -> BoxFuture<'_, Vec<PerformanceRow>>;
    /// Every performance, live or archived.
    fn deployments(&self) -> BoxFuture<'_, Vec<DeploymentRow>>;
    /// Records an upload; `false` when the owner has this name and version already.
    fn insert_component<'a>(&'a self, component: &'a ComponentRow) -> BoxFuture<'a, bool>;
    /// Uploaded components, an owner's or (with `None`) everyone's, oldest first.
    fn components<'a>(&'a self, owner: Option<&'a str>) -> BoxFuture<'a, Vec<ComponentRow>>;
    /// Adds or replaces an admin's template (its JSON).
    fn put_template<'a>(&'a self, name: &'a str, body: &'a str, now: i64) -> BoxFuture<'a, ()>;
    /// Removes an admin's template (nothing if there is none).
    fn delete_template<'a>(&'a self, name: &'a str) -> BoxFuture<'a, ()>;
    /// The admins' templates as stored JSON, by name.
    fn templates(&self) -> BoxFuture<'_, Vec<String>>;
    /// Records a deploy token by the hash of its secret.
    fn insert_namespace_token<'a>(&'a self, token: &'a NamespaceToken, hash: &'a str, now: i64) -> BoxFuture<'a, ()>;
    /// A live (not revoked) deploy token by id, with its secret's hash.
    fn namespace_token<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Option<(NamespaceToken, String)>>;
    /// Revokes a live token of `deployment`; `false` when there is no such live token.
    fn revoke_namespace_token<'a>(&'a self, deployment: &'a str, id: &'a str) -> BoxFuture<'a, bool>;
    /// Keeps a poster's bytes under their digest (nothing when they are kept already): public
    /// images shown on performances' pages, unlike a component, which is its seller's code.
    fn put_poster<'a>(&'a self, digest: &'a str, bytes: &'a [u8], now: i64) -> BoxFuture<'a, ()>;
    /// A poster's bytes by digest.
    fn poster<'a>(&'a self, digest: &'a str) -> BoxFuture<'a, Option<Vec<u8>>>;
}
