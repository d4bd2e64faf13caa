//! The reconcile: a `Performance` in, its objects applied (server-side apply, one field manager,
//! owned by the `Performance`) and its status written. A finalizer removes what garbage
//! collection would leave behind, and the cross-namespace ReferenceGrant, before the object goes.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use gateway_api::httproutes::{HttpRoute, HttpRouteStatusParents};
use gateway_api::referencegrants::ReferenceGrant;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event, finalizer};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::crd::{Backend, Performance, PerformanceStatus, Placement};
use crate::objects::{self, Platform};

/// The one field manager of every object the operator writes.
pub const MANAGER: &str = "marquee-operator";
/// Holds a performance until the operator has removed what it made for it.
pub const FINALIZER: &str = "marquee.dev/cleanup";
/// How soon to look again while no runtime serves the current spec yet.
pub const WAIT_FOR_SERVING: Duration = Duration::from_secs(2);
/// How often a settled performance is checked anyway (a runtime may have died).
pub const RESYNC: Duration = Duration::from_secs(60);
/// The pause after an API error before the reconcile runs again.
pub const RETRY: Duration = Duration::from_secs(5);

/// Which runtime processes serve a performance's spec (by digest), as they report it to the store.
pub trait Serving: Send + Sync {
    /// The runtime processes serving `digest` of `namespace`.
    fn serving<'a>(&'a self, namespace: &'a str, digest: &'a str) -> BoxFuture<'a, anyhow::Result<Vec<String>>>;
}

/// What every reconcile uses.
pub struct Context {
    /// The Kubernetes API.
    pub client: Client,
    /// How the platform is laid out in the cluster.
    pub platform: Platform,
    /// Who serves what, from the store.
    pub serving: Arc<dyn Serving>,
}

#[derive(Debug, thiserror::Error)]
/// Why a reconcile failed.
pub enum Error {
    #[error("kubernetes API: {0}")]
    /// The Kubernetes API refused or did not answer.
    Kube(#[from] kube::Error),
    #[error("finalizer: {0}")]
    /// Adding or removing the finalizer failed.
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
}

/// Makes the cluster hold what a performance asks for (or, once it is deleted, nothing of it).
pub async fn reconcile(perf: Arc<Performance>, ctx: Arc<Context>) -> Result<Action, Error> {
    let api: Api<Performance> = Api::all(ctx.client.clone());
    finalizer(&api, FINALIZER, perf, |event| async {
        match event {
            Event::Apply(perf) => apply(&perf, &ctx).await,
            Event::Cleanup(perf) => cleanup(&perf, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

/// Every failure is retried after a pause: API errors and conflicts are usually passing.
pub fn error_policy(perf: Arc<Performance>, error: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(performance = %perf.name_any(), error = %error, "reconcile failed; retrying");
    Action::requeue(RETRY)
}

async fn put<K>(client: &Client, namespace: Option<&str>, object: &K) -> Result<K, kube::Error>
where
    K: Resource<DynamicType = ()> + Serialize + DeserializeOwned + Clone + std::fmt::Debug,
    K::Scope: ScopeApi,
{
    let api = K::Scope::api::<K>(client.clone(), namespace);
    let name = object.meta().name.clone().expect("every object we build has a name");
    api.patch(&name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(object)).await
}

/// `Api::all` for cluster-scoped kinds and `Api::namespaced` for the rest, chosen by the type.
pub trait ScopeApi {
    /// An `Api` over kind `K` in `namespace` (ignored for cluster-scoped kinds).
    fn api<K: Resource<DynamicType = (), Scope = Self>>(client: Client, namespace: Option<&str>) -> Api<K>;
}

impl ScopeApi for k8s_openapi::ClusterResourceScope {
    fn api<K: Resource<DynamicType = (), Scope = Self>>(client: Client, _: Option<&str>) -> Api<K> {
        Api::all(client)
    }
}

impl ScopeApi for k8s_openapi::NamespaceResourceScope {
    fn api<K: Resource<DynamicType = (), Scope = Self>>(client: Client, namespace: Option<&str>) -> Api<K> {
        Api::namespaced(client, namespace.expect("a namespaced object has a namespace"))
    }
}

async fn remove<K>(api: Api<K>, name: &str) -> Result<(), kube::Error>
where
    K: Resource + DeserializeOwned + Clone + std::fmt::Debug,
{
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

async fn apply(perf: &Performance, ctx: &Context) -> Result<Action, Error> {
    let name = perf.name_any();
    let (client, platform) = (&ctx.client, &ctx.platform);
    let mut status = PerformanceStatus { observed_generation: perf.metadata.generation, ..PerformanceStatus::default() };
    let refused = match platform.refused(perf) {
        Some(why) => Some(("ReservedName", why)),
        None => claim_namespace(perf, ctx).await?.map(|why| ("NamespaceTaken", why)),
    };
    if let Some((reason, message)) = refused {
        status.conditions = vec![
            condition(perf, "Accepted", false, reason, &message),
            condition(perf, "Routed", false, "NotAccepted", ""),
            condition(perf, "Ready", false, "NotAccepted", ""),
        ];
        write_status(perf, ctx, status).await?;
        // A taken namespace may be freed (a previous performance's going away): look again.
        return Ok(Action::requeue(RESYNC));
    }
    let namespace = platform.namespace_of(perf);
    let ns = Some(namespace.as_str());
    put(client, None, &objects::namespace(perf, platform)).await?;
    put(client, ns, &objects::service_account(perf, platform)).await?;
    put(client, ns, &objects::role_binding(perf, platform)).await?;
    put(client, ns, &objects::token_binding(perf, platform)).await?;
    put(client, ns, &objects::network_policy(perf, platform)).await?;
    put(client, ns, &objects::service(perf, platform)).await?;
    put(client, Some(&platform.namespace), &objects::reference_grant(perf, platform)).await?;

    let backend = match perf.spec.placement {
        Placement::Dedicated => {
            put(client, ns, &objects::store_secret(perf, platform)).await?;
            let deployment = put(client, ns, &objects::deployment(perf, platform)).await?;
            let ready = serving_pods(&deployment);
            status.dedicated_ready = Some(ready);
            if ready > 0 { Backend::Dedicated } else { Backend::Pool }
        }
        Placement::Shared => {
            if perf.status.as_ref().is_some_and(|s| s.dedicated_ready.is_some()) {
                remove(Api::<Deployment>::namespaced(client.clone(), &namespace), objects::RUNTIME).await?;
                remove(Api::<Secret>::namespaced(client.clone(), &namespace), objects::STORE_SECRET).await?;
            }
            Backend::Pool
        }
    };
    let route = put(client, ns, &objects::http_route(perf, platform, backend)).await?;
    let taken = route_taken(&route, platform);
    status.backend = Some(backend);

    let (serving, trouble) = match ctx.serving.serving(&name, &perf.spec.digest).await {
        Ok(pods) => (pods, None),
        Err(e) => (Vec::new(), Some(format!("the store did not say who serves it: {e:#}"))),
    };
    let (routed_reason, routed) = match backend {
        Backend::Pool => ("Pool", "to the runtime pool"),
        Backend::Dedicated => ("Dedicated", "to its dedicated runtime"),
    };
    let ready = !serving.is_empty();
    let ready_message = match (&trouble, ready) {
        (Some(t), _) => t.clone(),
        (None, true) => format!("its current spec is served by {}", serving.join(", ")),
        (None, false) => "no runtime serves its current spec yet".to_owned(),
    };
    let routed = match &taken {
        Ok(()) => condition(perf, "Routed", true, routed_reason, routed),
        Err((reason, message)) => condition(perf, "Routed", false, reason, message),
    };
    status.conditions = vec![
        condition(perf, "Accepted", true, "Applied", "its namespace, account, role bindings, service and policy are applied"),
        routed,
        condition(perf, "Ready", ready, if ready { "Serving" } else { "NotServing" }, &ready_message),
    ];
    status.serving = serving;
    write_status(perf, ctx, status).await?;
    Ok(Action::requeue(if ready && taken.is_ok() { RESYNC } else { WAIT_FOR_SERVING }))
}

/// Whether the platform's Gateway took the route, as the route's own status says: `Accepted`
/// and `ResolvedRefs` true for its current spec. Otherwise the Gateway's reason and message
/// (`Pending` while it has said nothing yet).
fn route_taken(route: &HttpRoute, platform: &Platform) -> Result<(), (String, String)> {
    let pending = |what: &str| Err(("Pending".to_owned(), format!("the Gateway {} has not {what} yet", platform.gateway)));
    let ours = |p: &&HttpRouteStatusParents| {
        p.parent_ref.name == platform.gateway && p.parent_ref.namespace.as_deref().is_none_or(|ns| ns == platform.namespace)
    };
    let Some(parent) = route.status.as_ref().and_then(|s| s.parents.iter().find(ours)) else {
        return pending("taken up the route");
    };
    for kind in ["Accepted", "ResolvedRefs"] {
        match parent.conditions.iter().find(|c| c.type_ == kind) {
            Some(c) if c.status != "True" => return Err((c.reason.clone(), format!("{kind}: {}", c.message))),
            Some(c) if c.observed_generation >= route.metadata.generation => {}
            _ => return pending(&format!("reported {kind} for the route's current spec")),
        }
    }
    Ok(())
}

/// Ready pods of the dedicated Deployment's current revision: the ones a rollout waits for, so
/// the route never moves onto pods of a spec that is going away.
fn serving_pods(deployment: &Deployment) -> i32 {
    let Some(status) = &deployment.status else { return 0 };
    let current = status.observed_generation == deployment.metadata.generation;
    if current { status.ready_replicas.unwrap_or(0).min(status.updated_replicas.unwrap_or(0)) } else { 0 }
}

/// Creates the performance's namespace if there is none; `Some(why)` if one is there that this
/// performance did not make, which is left as it is. Creating (not applying) is what tells the
/// two apart: an apply would take over whatever namespace has the name.
async fn claim_namespace(perf: &Performance, ctx: &Context) -> Result<Option<String>, Error> {
    let api = Api::<Namespace>::all(ctx.client.clone());
    let name = ctx.platform.namespace_of(perf);
    let existing = match api.get_opt(&name).await? {
        Some(existing) => existing,
        None => {
            // One made meanwhile by someone else fails the create: whose it is decides on the next run.
            let params = PostParams { field_manager: Some(MANAGER.to_owned()), ..PostParams::default() };
            api.create(&params, &objects::namespace(perf, &ctx.platform)).await?;
            return Ok(None);
        }
    };
    Ok((!objects::made_by(&existing, perf)).then(|| format!("the namespace {name} exists and was not made for this performance; it is left alone")))
}

async fn cleanup(perf: &Performance, ctx: &Context) -> Result<Action, Error> {
    if ctx.platform.refused(perf).is_some() {
        return Ok(Action::await_change());
    }
    let grants = Api::<ReferenceGrant>::namespaced(ctx.client.clone(), &ctx.platform.namespace);
    remove(grants, &perf.name_any()).await?;
    // Only the namespace this performance made goes, and only that one (its uid a precondition):
    // a namespace of the same name that was there before, or made since, stays.
    let namespaces = Api::<Namespace>::all(ctx.client.clone());
    if let Some(existing) = namespaces.get_opt(&ctx.platform.namespace_of(perf)).await?.filter(|ns| objects::made_by(ns, perf)) {
        let preconditions = Preconditions { uid: existing.metadata.uid.clone(), resource_version: None };
        let params = DeleteParams { preconditions: Some(preconditions), ..DeleteParams::background() };
        match namespaces.delete(&existing.name_any(), &params).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Action::await_change())
}

/// A condition whose transition time moves only when its status does.
fn condition(perf: &Performance, kind: &str, status: bool, reason: &str, message: &str) -> Condition {
    let status = if status { "True" } else { "False" }.to_owned();
    let since = perf
        .condition(kind)
        .filter(|c| c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| Time(Timestamp::now()));
    Condition {
        type_: kind.to_owned(),
        status,
        reason: reason.to_owned(),
        message: message.to_owned(),
        observed_generation: perf.metadata.generation,
        last_transition_time: since,
    }
}

async fn write_status(perf: &Performance, ctx: &Context, status: PerformanceStatus) -> Result<(), Error> {
    let api: Api<Performance> = Api::all(ctx.client.clone());
    let patch = serde_json::json!({ "status": status });
    api.patch_status(&perf.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
    Ok(())
}

/// The objects a `Performance` stands for, as `marquee-operator render` prints them.
pub fn render(perf: &Performance, platform: &Platform) -> Vec<serde_json::Value> {
    let json = |v: serde_json::Result<serde_json::Value>| v.expect("our objects serialize");
    let backend = if perf.spec.placement == Placement::Dedicated { Backend::Dedicated } else { Backend::Pool };
    let mut all = vec![
        json(serde_json::to_value(objects::namespace(perf, platform))),
        json(serde_json::to_value(objects::service_account(perf, platform))),
        json(serde_json::to_value(objects::role_binding(perf, platform))),
        json(serde_json::to_value(objects::token_binding(perf, platform))),
        json(serde_json::to_value(objects::network_policy(perf, platform))),
        json(serde_json::to_value(objects::service(perf, platform))),
        json(serde_json::to_value(objects::reference_grant(perf, platform))),
        json(serde_json::to_value(objects::http_route(perf, platform, backend))),
    ];
    if perf.spec.placement == Placement::Dedicated {
        all.push(json(serde_json::to_value(objects::store_secret(perf, platform))));
        all.push(json(serde_json::to_value(objects::deployment(perf, platform))));
    }
    all
}
