//! Cluster mode's mirror as the platform sees it: told of every change to a performance, asked
//! before a new name is taken. Its Kubernetes side lives in `marquee-control`.

use marquee_store::BoxFuture;

/// Where performances are mirrored (cluster mode's `Performance` objects).
pub trait Mirror: Send + Sync {
    /// The performance changed (deployed, patched, rolled, deleted): its object will follow.
    fn changed(&self, namespace: &str);
    /// Whether a new performance may be called `name` in the cluster.
    fn may_take<'a>(&'a self, name: &'a str) -> std::pin::Pin<Box<dyn Future<Output = Result<(), Refused>> + Send + 'a>>;
    /// A short-lived token of the performance's seller account: (token, expiry as RFC 3339),
    /// or `None` while the account is not made yet.
    fn seller_token<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Option<(String, Option<String>)>>;
    /// The cluster namespace of the performance `name`.
    fn namespace_of(&self, name: &str) -> String;
}

/// Why a performance may not have a name in this cluster.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// Too long for a namespace, or one Kubernetes or the platform keeps.
    #[error("{0}")]
    Reserved(String),
    /// A namespace of that name exists and is not a performance's of that name.
    #[error("{0}")]
    Taken(String),
    /// The Kubernetes API did not answer.
    #[error("the Kubernetes API did not answer: {0:#}")]
    Unavailable(anyhow::Error),
}
