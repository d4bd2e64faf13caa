//! The Kubernetes objects a `Performance` stands for, built as plain values (no API calls), so
//! the reconcile applies them and `marquee-operator render` prints them for offline validation.

use std::collections::BTreeMap;

use gateway_api::httproutes::{
    HttpRoute, HttpRouteParentRefs, HttpRouteRules, HttpRouteRulesBackendRefs, HttpRouteRulesMatches,
    HttpRouteRulesMatchesPath, HttpRouteRulesMatchesPathType, HttpRouteSpec,
};
use gateway_api::referencegrants::{ReferenceGrant, ReferenceGrantFrom, ReferenceGrantSpec, ReferenceGrantTo};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource, HTTPGetAction, Lifecycle, LifecycleHandler, Namespace,
    PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ResourceRequirements, SeccompProfile, SecretKeySelector, SecurityContext,
    Service, ServiceAccount, ServicePort, ServiceSpec, SleepAction, Volume, VolumeMount,
};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicySpec,
};
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::{Resource, ResourceExt};

pub use crate::crd::PERFORMANCE_LABEL;
use crate::crd::{Backend, Performance};

/// The seller's ServiceAccount and its RoleBinding, in the performance's namespace.
pub const SELLER: &str = crate::crd::SELLER_ACCOUNT;
/// The ClusterRole (in the base) the seller's account is bound to in its namespace only.
pub const SELLER_ROLE: &str = "marquee-seller";
/// The ClusterRole (in the base) that lets its holder ask a token for an account named
/// `seller`, bound to the control plane in each performance's namespace only.
pub const SELLER_TOKEN_ROLE: &str = "marquee-seller-token";
/// The control plane's ServiceAccount in the platform's namespace, and its binding there.
pub const CONTROL: &str = "marquee-control";
/// The performance's Service, its dedicated Deployment and the Secret that Deployment reads.
pub const RUNTIME: &str = "runtime";
/// The Secret holding a dedicated runtime's store address.
pub const STORE_SECRET: &str = "runtime-store";
/// The key of Prometheus's bearer token in the store Secret.
const METRICS_TOKEN_KEY: &str = "metrics-token";
/// The performance's HTTPRoute.
pub const ROUTE: &str = "performance";
/// The performance namespace's NetworkPolicy.
pub const NETWORK_POLICY: &str = "isolate";
/// Where a runtime keeps its lock and compiled components (the root file system is read-only).
pub const DATA_DIR: &str = "/var/lib/marquee";

/// What the operator knows of the platform it runs in.
#[derive(Clone, Debug)]
pub struct Platform {
    /// The namespace of the control plane, the runtime pool, Redis and the Gateway.
    pub namespace: String,
    /// What every performance's namespace is named with before its name (`mq-`).
    pub namespace_prefix: String,
    /// The Gateway every performance's route attaches to, in `namespace`.
    pub gateway: String,
    /// The runtime pool's Service in `namespace`.
    pub pool_service: String,
    /// The port every runtime listens on.
    pub port: i32,
    /// The `marquee` image a dedicated runtime runs.
    pub image: String,
    /// The store every runtime shares (`redis://…`); handed to dedicated runtimes in a Secret.
    pub store: String,
    /// Namespaces besides the platform's whose pods may reach a performance's pods: where the
    /// Gateway implementation runs its proxies (Envoy Gateway: `envoy-gateway-system`).
    pub admit: Vec<String>,
    /// The Gateway's proxies (CIDR ranges), whose forwarded headers a dedicated runtime reads
    /// the real client from, as the pool does.
    pub trusted_proxies: Option<String>,
    /// Prometheus's bearer token, which a dedicated runtime takes as the pool does (through its
    /// store Secret, never its pod spec).
    pub metrics_token: Option<String>,
}

impl Platform {
    /// The performance's own namespace.
    pub fn namespace_of(&self, perf: &Performance) -> String {
        crate::crd::namespace_of(&self.namespace_prefix, &perf.name_any())
    }

    /// Why the performance may not have its namespace, if it may not.
    pub fn refused(&self, perf: &Performance) -> Option<String> {
        crate::crd::refused_namespace(&self.namespace_of(perf), &self.namespace)
    }
}

/// Whether `perf` made this namespace: it names the performance's uid as its owner. A
/// namespace that was there before (or another performance's) is never adopted.
pub fn made_by(namespace: &Namespace, perf: &Performance) -> bool {
    let uid = perf.metadata.uid.as_deref();
    uid.is_some() && namespace.owner_references().iter().any(|o| Some(o.uid.as_str()) == uid && o.kind == "Performance")
}

fn owner(perf: &Performance) -> OwnerReference {
    perf.controller_owner_ref(&()).expect("a Performance read from the API has a name and a uid")
}

fn labels(perf: &Performance) -> BTreeMap<String, String> {
    BTreeMap::from([
        (PERFORMANCE_LABEL.to_owned(), perf.name_any()),
        ("app.kubernetes.io/managed-by".to_owned(), "marquee-operator".to_owned()),
    ])
}

fn meta(perf: &Performance, name: &str, namespace: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        labels: Some(labels(perf)),
        owner_references: Some(vec![owner(perf)]),
        ..ObjectMeta::default()
    }
}

/// How long a dedicated runtime keeps serving after it is marked for removal (the base's pods
/// wait as long), before SIGTERM starts its drain.
const PRE_STOP_SECONDS: i64 = 10;
/// The user a dedicated runtime runs as (the image's own non-root user, as in the pool).
const RUNTIME_USER: i64 = 65532;

/// The performance's namespace, labelled so that the Gateway admits its route: every pod in it
/// must meet the "restricted" Pod Security profile, whoever writes it.
pub fn namespace(perf: &Performance, platform: &Platform) -> Namespace {
    let mut metadata = meta(perf, &platform.namespace_of(perf), None);
    metadata.labels.get_or_insert_default().insert("pod-security.kubernetes.io/enforce".to_owned(), "restricted".to_owned());
    Namespace { metadata, ..Namespace::default() }
}

/// The account the control plane asks a short-lived token for (TokenRequest) on the seller's
/// behalf; it carries no token Secret of its own.
pub fn service_account(perf: &Performance, platform: &Platform) -> ServiceAccount {
    ServiceAccount {
        metadata: meta(perf, SELLER, Some(&platform.namespace_of(perf))),
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    }
}

/// A binding in the performance's namespace of a ClusterRole the base defines: the operator
/// holds `bind` on those two by name, and no right of its own to grant.
fn binding(perf: &Performance, platform: &Platform, name: &str, role: &str, account: &str, account_namespace: String) -> RoleBinding {
    RoleBinding {
        metadata: meta(perf, name, Some(&platform.namespace_of(perf))),
        role_ref: RoleRef { api_group: "rbac.authorization.k8s.io".to_owned(), kind: "ClusterRole".to_owned(), name: role.to_owned() },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".to_owned(),
            name: account.to_owned(),
            namespace: Some(account_namespace),
            ..Subject::default()
        }]),
    }
}

/// The seller's token may look at its own namespace's workloads and logs (`marquee-seller`):
/// no Secrets (the dedicated runtime's store address is one), nothing outside it.
pub fn role_binding(perf: &Performance, platform: &Platform) -> RoleBinding {
    binding(perf, platform, SELLER, SELLER_ROLE, SELLER, platform.namespace_of(perf))
}

/// The control plane may ask a token for this namespace's `seller` account, and for no other
/// account anywhere (`marquee-seller-token` names it).
pub fn token_binding(perf: &Performance, platform: &Platform) -> RoleBinding {
    binding(perf, platform, SELLER_TOKEN_ROLE, SELLER_TOKEN_ROLE, CONTROL, platform.namespace.clone())
}

fn runtime_selector(perf: &Performance) -> BTreeMap<String, String> {
    BTreeMap::from([
        (PERFORMANCE_LABEL.to_owned(), perf.name_any()),
        ("app.kubernetes.io/component".to_owned(), RUNTIME.to_owned()),
    ])
}

/// The Service in front of the performance's dedicated runtime pods (none while it is shared).
pub fn service(perf: &Performance, platform: &Platform) -> Service {
    Service {
        metadata: meta(perf, RUNTIME, Some(&platform.namespace_of(perf))),
        spec: Some(ServiceSpec {
            selector: Some(runtime_selector(perf)),
            ports: Some(vec![ServicePort {
                name: Some("http".to_owned()),
                port: platform.port,
                target_port: Some(IntOrString::String("http".to_owned())),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// Other namespaces are kept out: only the platform's namespace (the control plane), the
/// Gateway's proxies and the performance's own pods reach its pods.
pub fn network_policy(perf: &Performance, platform: &Platform) -> NetworkPolicy {
    let from_namespace = |name: &str| NetworkPolicyPeer {
        namespace_selector: Some(LabelSelector {
            match_labels: Some(BTreeMap::from([("kubernetes.io/metadata.name".to_owned(), name.to_owned())])),
            ..LabelSelector::default()
        }),
        ..NetworkPolicyPeer::default()
    };
    let own_pods = NetworkPolicyPeer { pod_selector: Some(LabelSelector::default()), ..NetworkPolicyPeer::default() };
    NetworkPolicy {
        metadata: meta(perf, NETWORK_POLICY, Some(&platform.namespace_of(perf))),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: Some(vec!["Ingress".to_owned()]),
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: Some(
                    std::iter::once(&platform.namespace)
                        .chain(&platform.admit)
                        .map(|name| from_namespace(name))
                        .chain([own_pods])
                        .collect(),
                ),
                ..NetworkPolicyIngressRule::default()
            }]),
            ..NetworkPolicySpec::default()
        }),
    }
}

/// Lets the performance's HttpRoute send traffic to the pool's Service in the platform's
/// namespace; it lives there, named after the performance.
pub fn reference_grant(perf: &Performance, platform: &Platform) -> ReferenceGrant {
    ReferenceGrant {
        metadata: meta(perf, &perf.name_any(), Some(&platform.namespace)),
        spec: ReferenceGrantSpec {
            from: vec![ReferenceGrantFrom {
                group: "gateway.networking.k8s.io".to_owned(),
                kind: "HTTPRoute".to_owned(),
                namespace: platform.namespace_of(perf),
            }],
            to: vec![ReferenceGrantTo {
                group: String::new(),
                kind: "Service".to_owned(),
                name: Some(platform.pool_service.clone()),
            }],
        },
    }
}

/// `/p/<name>/…` on the platform's Gateway, to the pool or to the dedicated runtime.
pub fn http_route(perf: &Performance, platform: &Platform, backend: Backend) -> HttpRoute {
    let name = perf.name_any();
    let backend_ref = match backend {
        Backend::Pool => HttpRouteRulesBackendRefs {
            name: platform.pool_service.clone(),
            namespace: Some(platform.namespace.clone()),
            port: Some(platform.port),
            ..HttpRouteRulesBackendRefs::default()
        },
        Backend::Dedicated => HttpRouteRulesBackendRefs {
            name: RUNTIME.to_owned(),
            port: Some(platform.port),
            ..HttpRouteRulesBackendRefs::default()
        },
    };
    HttpRoute {
        metadata: meta(perf, ROUTE, Some(&platform.namespace_of(perf))),
        spec: HttpRouteSpec {
            parent_refs: Some(vec![HttpRouteParentRefs {
                group: Some("gateway.networking.k8s.io".to_owned()),
                kind: Some("Gateway".to_owned()),
                name: platform.gateway.clone(),
                namespace: Some(platform.namespace.clone()),
                ..HttpRouteParentRefs::default()
            }]),
            rules: Some(vec![HttpRouteRules {
                matches: Some(vec![HttpRouteRulesMatches {
                    path: Some(HttpRouteRulesMatchesPath {
                        r#type: Some(HttpRouteRulesMatchesPathType::PathPrefix),
                        value: Some(format!("/p/{name}/")),
                    }),
                    ..HttpRouteRulesMatches::default()
                }]),
                backend_refs: Some(vec![backend_ref]),
                ..HttpRouteRules::default()
            }]),
            ..HttpRouteSpec::default()
        },
        status: None,
    }
}

/// The store's address for the dedicated runtime, kept out of its pod spec (which the seller may
/// read) and out of the seller's Role.
pub fn store_secret(perf: &Performance, platform: &Platform) -> Secret {
    Secret {
        metadata: meta(perf, STORE_SECRET, Some(&platform.namespace_of(perf))),
        string_data: Some(
            [("store", Some(qualified_store(&platform.store, &platform.namespace))), (METRICS_TOKEN_KEY, platform.metrics_token.clone())]
                .into_iter()
                .filter_map(|(key, value)| Some((key.to_owned(), value?)))
                .collect(),
        ),
        ..Secret::default()
    }
}

/// The store's address as a pod in another namespace reaches it: a Service's short name
/// (`marquee-redis`, which resolves only in its own namespace) gets `.<namespace>.svc`. An
/// address with a dot, an IPv6 literal or a Unix socket is left as it is.
pub fn qualified_store(url: &str, namespace: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    if !scheme.starts_with("redis") {
        return url.to_owned();
    }
    let (credentials, address) = match rest.rsplit_once('@') {
        Some((credentials, address)) => (Some(credentials), address),
        None => (None, rest),
    };
    let end = address.find([':', '/']).unwrap_or(address.len());
    let (host, tail) = address.split_at(end);
    if host.is_empty() || host.contains('.') || host.starts_with('[') || host == "localhost" {
        return url.to_owned();
    }
    let credentials = credentials.map(|c| format!("{c}@")).unwrap_or_default();
    format!("{scheme}://{credentials}{host}.{namespace}.svc{tail}")
}

/// `marquee runtime --only <name>`, sized by the spec. Its readiness probe asks the runtime
/// whether it serves every performance it was told to, so Ready pods are serving pods.
pub fn deployment(perf: &Performance, platform: &Platform) -> Deployment {
    let name = perf.name_any();
    let size = perf.spec.runtime.clone();
    let replicas = size.as_ref().map_or(1, |s| s.replicas);
    let resources = size.map(|s| {
        let amounts = BTreeMap::from([("cpu".to_owned(), s.cpu), ("memory".to_owned(), s.memory)]);
        ResourceRequirements { requests: Some(amounts.clone()), limits: Some(amounts), ..ResourceRequirements::default() }
    });
    let probe = |path: &str, period: i32, failures: Option<i32>| Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::String("http".to_owned()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        failure_threshold: failures,
        ..Probe::default()
    };
    let mut pod_labels = runtime_selector(perf);
    pod_labels.extend(labels(perf));
    Deployment {
        metadata: meta(perf, RUNTIME, Some(&platform.namespace_of(perf))),
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector { match_labels: Some(runtime_selector(perf)), ..LabelSelector::default() },
            // A new pod must serve before an old one goes: the route stays on Ready pods.
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".to_owned()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_unavailable: Some(IntOrString::Int(0)),
                    max_surge: Some(IntOrString::Int(1)),
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(pod_labels), ..ObjectMeta::default() }),
                spec: Some(PodSpec {
                    automount_service_account_token: Some(false),
                    // The "restricted" Pod Security profile, which the namespace enforces.
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        run_as_user: Some(RUNTIME_USER),
                        seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".to_owned(), ..SeccompProfile::default() }),
                        ..PodSecurityContext::default()
                    }),
                    containers: vec![Container {
                        name: "runtime".to_owned(),
                        image: Some(platform.image.clone()),
                        args: Some(
                            ["runtime", "--listen", &format!("0.0.0.0:{}", platform.port), "--only", &name]
                                .map(String::from)
                                .to_vec(),
                        ),
                        env: Some(vec![
                            secret_env("MARQUEE_STORE", "store"),
                            EnvVar { name: "MARQUEE_DATA_DIR".to_owned(), value: Some(DATA_DIR.to_owned()), ..EnvVar::default() },
                        ]
                        .into_iter()
                        .chain(platform.trusted_proxies.as_ref().map(|cidrs| EnvVar {
                            name: "MARQUEE_TRUSTED_PROXIES".to_owned(),
                            value: Some(cidrs.clone()),
                            ..EnvVar::default()
                        }))
                        .chain(platform.metrics_token.is_some().then(|| secret_env("MARQUEE_METRICS_TOKEN", METRICS_TOKEN_KEY)))
                        .collect()),
                        volume_mounts: Some(vec![VolumeMount {
                            name: "data".to_owned(),
                            mount_path: DATA_DIR.to_owned(),
                            ..VolumeMount::default()
                        }]),
                        ports: Some(vec![ContainerPort {
                            name: Some("http".to_owned()),
                            container_port: platform.port,
                            ..ContainerPort::default()
                        }]),
                        // Compiling the performance's components comes before the port opens:
                        // liveness waits for the start (up to 5 minutes).
                        startup_probe: Some(probe("/healthz", 2, Some(150))),
                        readiness_probe: Some(probe("/readyz", 2, None)),
                        liveness_probe: Some(probe("/healthz", 10, None)),
                        // The Gateway keeps sending to a pod for a few seconds after a rollout
                        // marks it for removal: the listener stays open until then.
                        lifecycle: Some(Lifecycle {
                            pre_stop: Some(LifecycleHandler { sleep: Some(SleepAction { seconds: PRE_STOP_SECONDS }), ..LifecycleHandler::default() }),
                            ..Lifecycle::default()
                        }),
                        resources,
                        security_context: Some(SecurityContext {
                            allow_privilege_escalation: Some(false),
                            read_only_root_filesystem: Some(true),
                            capabilities: Some(Capabilities { drop: Some(vec!["ALL".to_owned()]), ..Capabilities::default() }),
                            ..SecurityContext::default()
                        }),
                        ..Container::default()
                    }],
                    volumes: Some(vec![Volume {
                        name: "data".to_owned(),
                        empty_dir: Some(EmptyDirVolumeSource::default()),
                        ..Volume::default()
                    }]),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        status: None,
    }
}

/// An environment variable from a key of the store Secret.
fn secret_env(name: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector { name: STORE_SECRET.to_owned(), key: key.to_owned(), ..SecretKeySelector::default() }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

#[cfg(test)]
mod tests {
    use super::qualified_store;

    #[test]
    fn a_short_store_name_is_qualified_with_the_platform_s_namespace() {
        let q = |url: &str| qualified_store(url, "marquee-system");
        assert_eq!(q("redis://marquee-redis:6379"), "redis://marquee-redis.marquee-system.svc:6379");
        assert_eq!(q("redis://marquee-redis"), "redis://marquee-redis.marquee-system.svc");
        assert_eq!(q("rediss://user:p%40ss@cache:6380/2"), "rediss://user:p%40ss@cache.marquee-system.svc:6380/2");
        for kept in ["redis://marquee-redis.marquee-system.svc:6379", "redis://10.0.0.7:6379", "redis://[fd00::7]:6379", "unix:///run/redis.sock", "redis://localhost:6379"] {
            assert_eq!(q(kept), kept);
        }
    }
}
