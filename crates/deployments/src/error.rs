//! Why a change to the platform's performances or templates was refused, or failed. The
//! control plane answers each in the API's one error shape.

use std::time::Duration;

use marquee_ticketing::templates::FieldError;

/// A refused or failed deploy, patch, take-down or template change.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The seller deployed too often; they may try again after the wait.
    #[error("too many deploys; retry in {} s", .0.as_secs().max(1))]
    TooMany(Duration),
    /// The name is not a namespace's.
    #[error("namespace must be 1-63 lower-case letters, digits or '-', not starting or ending with '-'")]
    InvalidNamespace,
    /// The cluster keeps this name for itself.
    #[error("{name:?} cannot be a performance here: {why}")]
    Reserved {
        /// The name asked for.
        name: String,
        /// Why the cluster keeps it.
        why: String,
    },
    /// Another performance, or in a cluster another namespace, has the name; says which.
    #[error("{0}")]
    NamespaceTaken(String),
    /// The Kubernetes API did not answer whether the name is free.
    #[error("the Kubernetes API did not answer; try again")]
    ClusterUnavailable,
    /// The seller has as many live performances as one may have.
    #[error("a seller may have at most {0} live performances; delete or cancel one first")]
    QuotaExceeded(usize),
    /// A deploy named a template there is none of.
    #[error("no template named {0:?}")]
    UnknownTemplate(String),
    /// A parameter the template refuses.
    #[error(transparent)]
    InvalidParams(#[from] FieldError),
    /// A template that could not deploy, or whose name does not fit.
    #[error("{}", .0.message)]
    InvalidTemplate(FieldError),
    /// A template names a component that is neither built in nor in the pool.
    #[error("template {template} names {component:?}, which is neither a built-in nor a component in the pool")]
    UnknownComponent {
        /// The template.
        template: String,
        /// The function it names the component for.
        role: String,
        /// The component it names.
        component: String,
    },
    /// Built-in templates are part of the binary.
    #[error("built-in templates cannot {0}")]
    BuiltinTemplate(&'static str),
    /// There is no template by that name to delete.
    #[error("no template named {0:?}")]
    TemplateNotFound(String),
    /// There is no live performance by that name.
    #[error("no performance {0:?}")]
    PerformanceNotFound(String),
    /// A performance's template was deleted, so it can only be redeployed.
    #[error("template {0} was deleted; redeploy to change this performance")]
    TemplateGone(String),
    /// A parameter that cannot change on a live performance.
    #[error("{0} cannot change on a live performance; patchable: {patchable} (of sessions only labels, of sections and goods only prices)", patchable = crate::app::PATCHABLE.join(", "))]
    NotPatchable(String),
    /// A new price for a section or goods that has sold or holds some.
    #[error("{} {} has {} sold or held: its price stays what they were bought at", if .0.goods { "goods" } else { "section" }, .0.name, if .0.goods { "units" } else { "tickets" })]
    PriceLocked(marquee_ticketing::templates::Repriced),
    /// A component swap for a function the performance does not have.
    #[error("there is no function {0}")]
    UnknownFunction(String),
    /// A component reference that is neither built in nor the caller's upload.
    #[error("{reference:?} is neither a built-in nor a component you uploaded")]
    ComponentNotYours {
        /// The function it was meant for.
        role: String,
        /// The reference given.
        reference: String,
    },
    /// A take-down while orders are confirmed: only cancelling (which refunds them) ends those.
    #[error("{namespace} has {orders} confirmed orders; cancel the performance (POST .../cancel) to refund them first")]
    HasOrders {
        /// The performance.
        namespace: String,
        /// How many confirmed orders it has.
        orders: usize,
    },
    /// A fault of the store or of ours, not of the request.
    #[error(transparent)]
    Fault(#[from] anyhow::Error),
}
