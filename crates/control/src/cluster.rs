//! Cluster mode (`--kube`): the control plane mirrors every performance into a `Performance`
//! object, which the operator turns into its namespace, account, route and pods, and asks the
//! API server for a seller's short-lived namespace token. The mirror runs off the request path:
//! a deploy is served by the runtimes as soon as Redis has it; the objects follow.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Weak};
use std::time::Duration;

use anyhow::{Context, Result};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use marquee_crd::{PERFORMANCE_LABEL, Performance, PerformanceSpec, SELLER_ACCOUNT};
use marquee_host::App;
use marquee_deployments::Refused;
use marquee_host::Namespace as Live;
use tokio::sync::mpsc;

/// The control plane's field manager on `Performance` specs (the operator writes the status).
const MANAGER: &str = "marquee-control";
/// How long a seller's namespace token lives; revoking early means deleting the account.
const TOKEN_SECONDS: i64 = 600;
/// How soon a failed write is tried again.
const RETRY: Duration = Duration::from_secs(1);
/// How often every object is compared with what the control plane serves, which also catches a
/// change made while the API server was away or this process was down.
const RESYNC: Duration = Duration::from_secs(60);

/// The cluster's API server and where performances live in it, as cluster mode's settings hold it.
#[derive(Clone)]
pub struct Cluster {
    client: Client,
    /// What each performance's namespace is named with before its name.
    prefix: String,
    /// The platform's own namespace, which no performance may have.
    platform: String,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cluster")
    }
}

/// Connects to the cluster's API server: `api` (a URL, for a test's mock server) or the pod's
/// own service account.
pub async fn connect(api: Option<&str>, prefix: String, platform: String) -> Result<Cluster> {
    let client = match api {
        Some(url) => {
            let config = kube::Config::new(url.parse().with_context(|| format!("bad Kubernetes API address {url}"))?);
            Client::try_from(config).context("failed to make a Kubernetes client")?
        }
        None => Client::try_default().await.context("no Kubernetes API to talk to (not in a pod, no kubeconfig)")?,
    };
    Ok(Cluster { client, prefix, platform })
}

/// What the control plane serves, as `Performance` specs; `None` once the platform is gone.
trait Desired: Send + Sync + 'static {
    fn performance(&self, name: &str) -> Option<Option<PerformanceSpec>>;
    fn performances(&self) -> Option<BTreeMap<String, PerformanceSpec>>;
}

struct Mirror {
    cluster: Cluster,
    changes: mpsc::UnboundedSender<String>,
}

/// Mirrors what `app` serves into the cluster from now on (the control plane's part).
pub fn start_mirror(cluster: Cluster, app: &Arc<App>) {
    let _ = app.mirror.set(Arc::new(Mirror::start(cluster, Served(Arc::downgrade(app)))));
}

/// What the control plane serves.
struct Served(Weak<App>);

impl Served {
    fn spec(app: &App, ns: &Live) -> PerformanceSpec {
        let template = app.templates.get(&ns.template);
        PerformanceSpec {
            owner: ns.owner.clone(),
            template: ns.template.clone(),
            digest: ns.digest().to_owned(),
            placement: match template.as_ref().map(|t| t.placement).unwrap_or_default() {
                marquee_api::Placement::Shared => marquee_crd::Placement::Shared,
                marquee_api::Placement::Dedicated => marquee_crd::Placement::Dedicated,
            },
            runtime: template.and_then(|t| t.runtime).map(|r| marquee_crd::DedicatedRuntime {
                replicas: r.replicas,
                cpu: Quantity(r.cpu),
                memory: Quantity(r.memory),
            }),
        }
    }
}

impl Desired for Served {
    fn performance(&self, name: &str) -> Option<Option<PerformanceSpec>> {
        let app = self.0.upgrade()?;
        Some(app.registry.get(name).map(|ns| Self::spec(&app, &ns)))
    }

    fn performances(&self) -> Option<BTreeMap<String, PerformanceSpec>> {
        let app = self.0.upgrade()?;
        Some(app.registry.all().iter().map(|ns| (ns.name.clone(), Self::spec(&app, ns))).collect())
    }
}

impl marquee_deployments::Mirror for Mirror {
    fn changed(&self, namespace: &str) {
        let _ = self.changes.send(namespace.to_owned());
    }

    fn may_take<'a>(&'a self, name: &'a str) -> std::pin::Pin<Box<dyn Future<Output = Result<(), Refused>> + Send + 'a>> {
        Box::pin(self.may_take(name))
    }

    fn seller_token<'a>(&'a self, name: &'a str) -> marquee_store::BoxFuture<'a, Option<(String, Option<String>)>> {
        Box::pin(self.seller_token(name))
    }

    fn namespace_of(&self, name: &str) -> String {
        marquee_crd::namespace_of(&self.cluster.prefix, name)
    }
}

impl Mirror {
    /// Starts the task that writes each changed performance, then every [`RESYNC`] all of them.
    fn start(cluster: Cluster, desired: impl Desired) -> Self {
        let (changes, received) = mpsc::unbounded_channel();
        tokio::spawn(mirror(Api::all(cluster.client.clone()), desired, received, changes.clone()));
        Self { cluster, changes }
    }

    /// Whether a new performance may be called `name`: its namespace is neither reserved nor
    /// there already (the operator would refuse it, and leave the performance unserved by
    /// Kubernetes). A namespace a going performance of that name left is the operator's to wait for.
    async fn may_take(&self, name: &str) -> Result<(), Refused> {
        let namespace = marquee_crd::namespace_of(&self.cluster.prefix, name);
        if let Some(why) = marquee_crd::refused_namespace(&namespace, &self.cluster.platform) {
            return Err(Refused::Reserved(why));
        }
        let api: Api<Namespace> = Api::all(self.cluster.client.clone());
        let existing = api.get_opt(&namespace).await.map_err(|e| Refused::Unavailable(e.into()))?;
        match existing {
            Some(ns) if ns.metadata.labels.as_ref().and_then(|l| l.get(PERFORMANCE_LABEL)).map(String::as_str) != Some(name) => {
                Err(Refused::Taken(format!("the Kubernetes namespace {namespace} exists already and is not this platform's")))
            }
            _ => Ok(()),
        }
    }

    /// A short-lived token of the performance's `seller` account, whose Role reaches only its
    /// namespace: (token, expiry as RFC 3339), or `None` while the operator has not made the
    /// account yet.
    async fn seller_token(&self, name: &str) -> Result<Option<(String, Option<String>)>> {
        let namespace = marquee_crd::namespace_of(&self.cluster.prefix, name);
        let accounts: Api<ServiceAccount> = Api::namespaced(self.cluster.client.clone(), &namespace);
        let request = TokenRequest {
            spec: TokenRequestSpec { expiration_seconds: Some(TOKEN_SECONDS), ..TokenRequestSpec::default() },
            ..TokenRequest::default()
        };
        let answer = match accounts.create_token_request(SELLER_ACCOUNT, &PostParams::default(), &request).await {
            Err(kube::Error::Api(status)) if status.code == 404 => return Ok(None),
            answer => answer?,
        };
        let status = answer.status.context("the API server answered a TokenRequest without a token")?;
        Ok(Some((status.token, Some(status.expiration_timestamp.0.to_string()))))
    }
}

async fn mirror(
    api: Api<Performance>,
    desired: impl Desired,
    mut received: mpsc::UnboundedReceiver<String>,
    again: mpsc::UnboundedSender<String>,
) {
    let mut resync = tokio::time::interval(RESYNC);
    loop {
        let mut pending = BTreeSet::new();
        tokio::select! {
            Some(name) = received.recv() => {
                pending.insert(name);
                while let Ok(name) = received.try_recv() {
                    pending.insert(name);
                }
            }
            _ = resync.tick() => match resync_all(&api, &desired).await {
                Ok(names) => pending = names,
                Err(e) => tracing::warn!(error = format!("{e:#}"), "could not compare Performance objects; retrying at the next resync"),
            },
        }
        for name in pending {
            let Some(spec) = desired.performance(&name) else { return };
            if let Err(e) = write(&api, &name, spec).await {
                tracing::warn!(namespace = %name, error = format!("{e:#}"), "could not write its Performance; retrying");
                let again = again.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(RETRY).await;
                    let _ = again.send(name);
                });
            }
        }
    }
}

/// The names whose object differs from what is served, or that no longer should exist.
async fn resync_all(api: &Api<Performance>, desired: &impl Desired) -> Result<BTreeSet<String>> {
    let Some(served) = desired.performances() else { return Ok(BTreeSet::new()) };
    let listed: BTreeMap<String, PerformanceSpec> =
        api.list(&ListParams::default()).await?.items.into_iter().filter_map(|p| Some((p.metadata.name?, p.spec))).collect();
    let mut stale: BTreeSet<String> = listed.keys().filter(|name| !served.contains_key(*name)).cloned().collect();
    stale.extend(served.into_iter().filter(|(name, spec)| listed.get(name) != Some(spec)).map(|(name, _)| name));
    Ok(stale)
}

async fn write(api: &Api<Performance>, name: &str, spec: Option<PerformanceSpec>) -> Result<()> {
    match spec {
        Some(spec) => {
            api.patch(name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&Performance::new(name, spec))).await?;
        }
        None => match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e.into()),
        },
    }
    Ok(())
}
