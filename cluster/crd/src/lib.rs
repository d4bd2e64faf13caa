//! The `Performance` custom resource: one per deployed performance, written by the control plane
//! (spec, under its own field manager) and by the operator (status). Cluster-scoped, named after
//! the performance, so it can own the namespace it makes for it (`mq-<name>`) and everything in it.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "marquee.dev",
    version = "v1alpha1",
    kind = "Performance",
    doc = "A deployed performance: its namespace, the seller's scoped account, its route and its runtime",
    plural = "performances",
    shortname = "perf",
    status = "PerformanceStatus",
    printcolumn = r#"{"name":"Template","type":"string","jsonPath":".spec.template"}"#,
    printcolumn = r#"{"name":"Placement","type":"string","jsonPath":".spec.placement"}"#,
    printcolumn = r#"{"name":"Backend","type":"string","jsonPath":".status.backend"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
/// What the control plane asks of the cluster for one performance.
pub struct PerformanceSpec {
    /// The seller's account id on the control plane.
    #[schemars(length(min = 1))]
    pub owner: String,
    /// The template it was deployed from.
    #[schemars(length(min = 1))]
    pub template: String,
    /// The sha256 of the performance's record in the store as the control plane wrote it.
    /// `Ready` waits for a runtime that reports serving this digest.
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub digest: String,
    /// `shared` (the runtime pool serves it) or `dedicated` (its own runtime Deployment too).
    #[serde(default)]
    pub placement: Placement,
    /// Size of the dedicated runtime; only read with `placement: dedicated`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<DedicatedRuntime>,
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
/// How a performance is served.
pub enum Placement {
    #[default]
    /// The shared runtime pool serves it.
    Shared,
    /// Its own runtime Deployment serves it too.
    Dedicated,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
/// The size of a dedicated performance's runtime.
pub struct DedicatedRuntime {
    #[schemars(range(min = 1, max = 50))]
    /// How many runtime pods.
    pub replicas: i32,
    /// CPU per pod, requested and the limit (`500m`, `2`).
    pub cpu: Quantity,
    /// Memory per pod, requested and the limit (`256Mi`).
    pub memory: Quantity,
}

/// Where the performance's route sends its traffic: the shared runtime pool's Service or the
/// performance's own. (Its variants have no docs of their own: with them, the schema of an
/// optional `Backend` loses its `null`.)
#[allow(missing_docs)]
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Pool,
    Dedicated,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
/// What the operator last saw of a performance.
pub struct PerformanceStatus {
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Accepted`, `Routed` and `Ready`.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Where the performance's route sends its traffic now.
    pub backend: Option<Backend>,
    /// Ready pods of the dedicated Deployment; absent when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedicated_ready: Option<i32>,
    /// Runtime processes that serve `spec.digest`, as they last reported to the store.
    #[serde(default)]
    pub serving: Vec<String>,
}

impl Performance {
    /// The status condition of this type (`Accepted`, `Routed`, `Ready`), if set.
    pub fn condition(&self, kind: &str) -> Option<&Condition> {
        self.status.as_ref()?.conditions.iter().find(|c| c.type_ == kind)
    }
}

/// The prefix of every namespace a performance gets, unless the platform is told another:
/// performances live in namespaces of their own making, never in one that was there before.
pub const NAMESPACE_PREFIX: &str = "mq-";
/// The namespace of the control plane, the runtime pool, Redis and the Gateway, unless the
/// platform is told another; no performance may have it.
pub const PLATFORM_NAMESPACE: &str = "marquee-system";
/// The seller's account in each performance's namespace: the operator makes it, the control
/// plane asks tokens for it (and may for no other account).
pub const SELLER_ACCOUNT: &str = "seller";
/// Label on every object the operator writes (its namespace included), with the performance's name.
pub const PERFORMANCE_LABEL: &str = "marquee.dev/performance";
/// The longest name Kubernetes allows a namespace.
pub const NAMESPACE_MAX: usize = 63;

/// The Kubernetes namespace of the performance `name`.
pub fn namespace_of(prefix: &str, name: &str) -> String {
    format!("{prefix}{name}")
}

/// Why no performance may have the namespace `namespace`: too long for Kubernetes, or one
/// Kubernetes or the platform (in `platform`) keeps for itself. `None` if it may.
pub fn refused_namespace(namespace: &str, platform: &str) -> Option<String> {
    if namespace.len() > NAMESPACE_MAX {
        Some(format!("the Kubernetes namespace {namespace} would be longer than {NAMESPACE_MAX} characters"))
    } else if namespace == "default" || namespace.starts_with("kube-") || namespace == platform {
        Some(format!("{namespace} is a namespace Kubernetes or the platform keeps for itself"))
    } else {
        None
    }
}
