//! Offline checks of everything we hand to Kubernetes, against the real schemas: built-in kinds
//! with `kubernetes-validate --strict` (PyPI), Gateway API kinds with the Gateway API CRDs'
//! schemas (`tests/cluster/validate-gateway.mjs`), Performance objects with the generated CRD's
//! `openAPIV3Schema` (`tests/cluster/validate-performance.py`). `.ci/run` installs the tools.

use std::path::{Path, PathBuf};
use std::process::Command;

use kube::CustomResourceExt;
use marquee_operator::crd::Performance;
use marquee_operator::objects::Platform;

/// The Kubernetes release the objects are checked against.
const KUBERNETES: &str = "1.34.0";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tool(env: &str, default: &str) -> String {
    std::env::var(env).unwrap_or_else(|_| default.to_owned())
}

/// Runs a checker and fails the test with its output unless it succeeds.
fn check(what: &str, command: &mut Command) -> String {
    let output = command.output().unwrap_or_else(|e| panic!("{what}: could not start {command:?}: {e} (.ci/run installs it)"));
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{what} failed:\n{text}");
    text
}

fn kubernetes_validate(file: &Path) -> String {
    check(
        "kubernetes-validate",
        Command::new(tool("MARQUEE_KUBERNETES_VALIDATE", "kubernetes-validate")).args(["--strict", "-k", KUBERNETES]).arg(file),
    )
}

/// Runs a check of `tests/cluster/` with the cluster tools' Python; its output.
fn cluster_python(script: &str, files: &[&Path]) -> std::process::Output {
    Command::new(tool("MARQUEE_CLUSTER_PYTHON", "python3"))
        .arg(root().join("tests/cluster").join(script))
        .args(files)
        .output()
        .expect("the cluster tools' Python (.ci/run installs it)")
}

/// Runs the "restricted" Pod Security check (`tests/cluster/restricted.py`); its report.
fn restricted(file: &Path) -> std::process::Output {
    cluster_python("restricted.py", &[file])
}

/// Every pod template in `file` meets the "restricted" profile and every namespace enforces
/// it: `pods` templates and `namespaces` namespaces were checked.
fn assert_restricted(file: &Path, pods: usize, namespaces: usize) {
    let output = restricted(file);
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "not restricted:\n{report}{}", String::from_utf8_lossy(&output.stderr));
    assert!(report.contains(&format!("checked {pods} pod templates and {namespaces} namespaces: 0 violations")), "{report}");
}

fn gateway_validate(file: &Path) -> String {
    check("the Gateway API check", Command::new("node").arg(root().join("tests/cluster/validate-gateway.mjs")).arg(file))
}

/// What kubernetes-validate reports as checked, one entry per object ("kind/name").
fn passed(report: &str) -> Vec<String> {
    report.lines().filter(|l| l.contains(" passed for resource ")).map(|l| l.split(" passed for resource ").nth(1).unwrap().split(' ').next().unwrap().to_owned()).collect()
}

/// `kubectl kustomize dir`, written to the temp file `name`.
fn render(dir: &Path, name: &str) -> PathBuf {
    let output = Command::new("kubectl").arg("kustomize").arg(dir).output().expect("kubectl renders kustomize offline");
    assert!(output.status.success(), "kubectl kustomize {}: {}", dir.display(), String::from_utf8_lossy(&output.stderr));
    temp(name, &String::from_utf8(output.stdout).unwrap())
}

/// The base, rendered once for every test that reads it (tests run side by side: each writing
/// the same file again would let one read it half-written).
fn rendered_base() -> &'static Path {
    static BASE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BASE.get_or_init(|| render(&root().join("cluster/deploy"), "base.yaml"))
}

/// The objects of a YAML file, as JSON.
fn objects_of(file: &Path) -> Vec<serde_json::Value> {
    let output = cluster_python("to-json.py", &[file]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn temp(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("marquee-manifests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_operator_does_not_link_wasmtime() {
    let output = Command::new(env!("CARGO"))
        .args(["tree", "--offline", "--locked", "-e", "normal", "-p", "marquee-operator", "--prefix", "none"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(output.status.success(), "cargo tree: {}", String::from_utf8_lossy(&output.stderr));
    let tree = String::from_utf8(output.stdout).unwrap();
    assert!(tree.lines().any(|l| l.starts_with("kube ")), "{tree}");
    assert!(!tree.lines().any(|l| l.starts_with("wasmtime") || l.starts_with("marquee ")), "{tree}");
}

#[test]
fn the_crd_in_the_base_is_the_one_the_types_generate() {
    let generated = serde_json::to_string_pretty(&Performance::crd()).unwrap() + "\n";
    let committed = std::fs::read_to_string(root().join("cluster/deploy/crd.json")).unwrap();
    assert!(
        generated == committed,
        "cluster/deploy/crd.json is stale: run `cargo run -p marquee-operator -- crd > cluster/deploy/crd.json`"
    );
}

#[test]
fn the_kustomize_base_validates_against_the_real_schemas() {
    let file = rendered_base();
    let checked = passed(&kubernetes_validate(file));
    for object in [
        "customresourcedefinition/performances.marquee.dev",
        "deployment/marquee-control",
        "deployment/marquee-runtime",
        "deployment/marquee-operator",
        "statefulset/marquee-redis",
        "poddisruptionbudget/marquee-runtime",
        "horizontalpodautoscaler/marquee-runtime",
        "clusterrole/marquee-operator",
        "clusterrole/marquee-seller-token",
        "networkpolicy/marquee-redis",
        "poddisruptionbudget/marquee-redis",
        "validatingadmissionpolicy/marquee-operator-scope",
        "validatingadmissionpolicybinding/marquee-operator-scope",
        "configmap/marquee-grafana-dashboard",
        "configmap/marquee-prometheus",
    ] {
        assert!(checked.iter().any(|c| c == object), "{object} was not checked: {checked:?}");
    }
    let gateway = gateway_validate(file);
    assert!(gateway.contains("ok ") && gateway.contains("Gateway/marquee") && gateway.contains("HTTPRoute/marquee-control"), "{gateway}");
    // Control plane, runtime pool, operator and Redis; marquee-system enforces the profile.
    assert_restricted(file, 4, 1);
}

/// The "restricted" check itself refuses what the profile refuses.
#[test]
fn the_restricted_check_refuses_a_pod_the_profile_refuses() {
    let file = temp(
        "unrestricted.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: loose}\n---\n\
         apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: loose}\nspec:\n  template:\n    spec:\n\
         \x20     containers: [{name: app, image: x, securityContext: {privileged: true}}]\n\
         \x20     volumes: [{name: host, hostPath: {path: /}}]\n",
    );
    let output = restricted(&file);
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{report}");
    for violation in ["does not enforce restricted", "privileged", "allowPrivilegeEscalation", "drop ALL", "runAsNonRoot", "seccompProfile", "hostPath"] {
        assert!(report.contains(violation), "no {violation} in {report}");
    }
}

#[test]
fn what_the_operator_applies_validates_against_the_real_schemas() {
    let platform = Platform {
        namespace: "marquee-system".into(),
        namespace_prefix: "mq-".into(),
        gateway: "marquee".into(),
        pool_service: "marquee-runtime".into(),
        port: 8080,
        image: "ghcr.io/marquee-dev/marquee:latest".into(),
        store: "redis://marquee-redis:6379".into(),
        admit: vec!["envoy-gateway-system".into()],
        metrics_token: Some("scrape-token".into()),
        trusted_proxies: Some("10.0.0.0/8".into()),
    };
    // Each sample with the objects only it gets and its pod templates (a dedicated runtime's).
    // The hostile one is named after the Gateway implementation's namespace.
    let dedicated = &["secret/runtime-store", "deployment/runtime"][..];
    for (sample, extra, pods) in [("shared", &[][..], 0), ("dedicated", dedicated, 1), ("hostile", dedicated, 1)] {
        let text = std::fs::read_to_string(root().join(format!("tests/cluster/performances/valid/{sample}.json"))).unwrap();
        let perf: Performance = serde_json::from_str(&text).unwrap();
        let objects = marquee_operator::reconcile::render(&perf, &platform);
        let documents: Vec<String> = objects.iter().map(|o| o.to_string()).collect();
        let file = temp(&format!("{sample}.yaml"), &documents.join("\n---\n"));
        let checked = passed(&kubernetes_validate(&file));
        let name = perf.metadata.name.as_deref().unwrap();
        let own = format!("mq-{name}");
        let mut expected: Vec<String> =
            ["serviceaccount/seller", "rolebinding/seller", "rolebinding/marquee-seller-token", "networkpolicy/isolate", "service/runtime"]
                .iter()
                .chain(extra)
                .map(|s| s.to_string())
                .collect();
        expected.push(format!("namespace/{own}"));
        for object in &expected {
            assert!(checked.contains(object), "{sample}: {object} was not checked: {checked:?}");
        }
        // Nothing lands outside the namespace it makes, but its grant beside the pool; it binds
        // only the base's two seller roles.
        for object in &objects {
            let (kind, namespace) = (object["kind"].as_str().unwrap(), object["metadata"]["namespace"].as_str());
            match kind {
                "Namespace" => assert_eq!(object["metadata"]["name"], own.as_str()),
                "ReferenceGrant" => assert_eq!(namespace, Some("marquee-system")),
                _ => assert_eq!(namespace, Some(own.as_str()), "{sample}: {kind}"),
            }
            if kind == "RoleBinding" {
                let role = &object["roleRef"];
                assert!(role["kind"] == "ClusterRole" && ["marquee-seller", "marquee-seller-token"].contains(&role["name"].as_str().unwrap()), "{role}");
            }
            assert!(!["Role", "ClusterRole", "ClusterRoleBinding"].contains(&kind), "{sample}: the operator writes a {kind}");
        }
        let gateway = gateway_validate(&file);
        assert!(gateway.contains(&format!("ReferenceGrant/{name}")) && gateway.contains("HTTPRoute/performance"), "{gateway}");
        assert_restricted(&file, pods, 1);
    }
}

#[test]
fn no_role_of_ours_reads_secrets_or_mints_a_token_for_an_account_it_does_not_name() {
    let output = cluster_python("rbac.py", &[rendered_base()]);
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{report}{}", String::from_utf8_lossy(&output.stderr));
    // The control plane's and the operator's, the Role beside the pool, the two seller roles.
    assert!(report.contains("checked 5 roles: 0 violations"), "{report}");

    // The check refuses what the last base had.
    let loose = temp(
        "loose-roles.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: loose}\nrules:\n\
         - {apiGroups: [''], resources: [serviceaccounts/token], verbs: [create]}\n\
         - {apiGroups: [''], resources: [secrets], verbs: [get, list]}\n\
         - {apiGroups: [rbac.authorization.k8s.io], resources: [clusterroles], verbs: [bind]}\n\
         - {apiGroups: ['*'], resources: [pods], verbs: [get]}\n",
    );
    let output = cluster_python("rbac.py", &[&loose]);
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{report}");
    for violation in ["creates a token for any account", "reads Secrets", "bind without resourceNames", "a wildcard in apiGroups"] {
        assert!(report.contains(violation), "no {violation} in {report}");
    }
}

/// The rendered base's objects, as JSON.
fn base_objects() -> Vec<serde_json::Value> {
    objects_of(rendered_base())
}

#[test]
fn redis_is_fenced_and_needs_a_password() {
    let objects = base_objects();
    let find = |kind: &str, name: &str| {
        objects.iter().find(|o| o["kind"] == kind && o["metadata"]["name"] == name).unwrap_or_else(|| panic!("no {kind}/{name}")).clone()
    };
    // Only Marquee's pods reach it: the platform's three roles, and runtimes in performances' namespaces.
    let policy = find("NetworkPolicy", "marquee-redis");
    assert_eq!(policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"], "marquee-redis");
    assert_eq!(policy["spec"]["policyTypes"], serde_json::json!(["Ingress"]));
    let rule = &policy["spec"]["ingress"][0];
    assert_eq!(policy["spec"]["ingress"].as_array().unwrap().len(), 1);
    assert_eq!(rule["ports"], serde_json::json!([{"port": "redis"}]));
    let peers = rule["from"].as_array().unwrap();
    assert_eq!(peers[0]["podSelector"]["matchExpressions"][0]["values"], serde_json::json!(["control", "runtime", "operator"]));
    assert!(peers[0].get("namespaceSelector").is_none(), "same namespace only");
    assert_eq!(peers[1]["namespaceSelector"]["matchExpressions"][0]["key"], "marquee.dev/performance");
    assert_eq!(peers[1]["podSelector"]["matchLabels"]["app.kubernetes.io/component"], "runtime");
    // Its users come from a Secret (no password in the base); the default user is not open.
    let config = find("ConfigMap", "marquee-redis")["data"]["redis.conf"].as_str().unwrap().to_owned();
    for line in ["aclfile /etc/redis-acl/users.acl", "maxmemory-policy noeviction", "appendfsync always"] {
        assert!(config.lines().any(|l| l.trim() == line), "no {line:?} in {config}");
    }
    let redis = find("StatefulSet", "marquee-redis");
    assert_eq!(redis["spec"]["template"]["spec"]["volumes"][1]["secret"]["secretName"], "marquee-redis-acl");
    assert!(!objects.iter().any(|o| o["kind"] == "Secret"), "no Secret, so no password, is committed");
    assert_eq!(find("PodDisruptionBudget", "marquee-redis")["spec"]["maxUnavailable"], 0);
}

/// A pod that compiles many components is not killed while it starts, keeps serving while the
/// Gateway still sends to it, and the pool's size is the autoscaler's alone.
#[test]
fn pods_start_unhurried_leave_gently_the_autoscaler_sizes_the_pool_and_two_control_planes_keep_no_volume() {
    let objects = base_objects();
    let deployment = |name: &str| objects.iter().find(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == name).unwrap().clone();
    for name in ["marquee-control", "marquee-runtime"] {
        let container = &deployment(name)["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["startupProbe"]["httpGet"]["path"], "/healthz", "{name}");
        assert!(container["startupProbe"]["failureThreshold"].as_i64().unwrap() * container["startupProbe"]["periodSeconds"].as_i64().unwrap() >= 300, "{name}");
        assert_eq!(container["lifecycle"]["preStop"], serde_json::json!({"sleep": {"seconds": 10}}), "{name}");
    }
    assert!(deployment("marquee-runtime")["spec"].get("replicas").is_none(), "the HPA sizes the pool");
    // Control planes keep nothing but a cache: two of them, no claim on a volume, one always up.
    let control = deployment("marquee-control");
    assert_eq!(control["spec"]["replicas"], 2);
    assert!(control["spec"]["template"]["spec"]["volumes"].as_array().unwrap().iter().all(|v| v.get("persistentVolumeClaim").is_none()));
    assert!(!objects.iter().any(|o| o["kind"] == "PersistentVolumeClaim"), "no volume claim in the base");
    let budget = objects.iter().find(|o| o["kind"] == "PodDisruptionBudget" && o["metadata"]["name"] == "marquee-control").expect("a PDB for the control planes");
    assert_eq!(budget["spec"]["minAvailable"], 1);
    let hpa = objects.iter().find(|o| o["kind"] == "HorizontalPodAutoscaler").unwrap();
    assert_eq!((hpa["spec"]["scaleTargetRef"]["name"].as_str(), hpa["spec"]["minReplicas"].as_i64()), (Some("marquee-runtime"), Some(2)));
}

/// Buyers and the console are served over HTTPS (cert-manager issues the certificates), and the
/// class both Gateways name ships with them.
#[test]
fn the_gateways_serve_https_and_their_class_ships_with_them() {
    let objects = base_objects();
    let class = objects.iter().find(|o| o["kind"] == "GatewayClass").expect("a GatewayClass in the base");
    for name in ["marquee", "marquee-control"] {
        let gateway = objects.iter().find(|o| o["kind"] == "Gateway" && o["metadata"]["name"] == name).unwrap();
        assert_eq!(gateway["spec"]["gatewayClassName"], class["metadata"]["name"], "{name}");
        assert!(gateway["metadata"]["annotations"]["cert-manager.io/cluster-issuer"].is_string(), "{name}");
        let https = gateway["spec"]["listeners"].as_array().unwrap().iter().find(|l| l["protocol"] == "HTTPS").unwrap_or_else(|| panic!("{name}: no HTTPS listener"));
        assert_eq!(https["tls"]["mode"], "Terminate");
        assert!(https["hostname"].is_string() && https["tls"]["certificateRefs"][0]["name"].is_string(), "{name}: {https}");
    }
}

/// Prometheus is let into performances' namespaces and sends the bearer token every process
/// takes as --metrics-token (the PodMonitor, for the Prometheus operator, the same).
#[test]
fn prometheus_reaches_every_runtime_with_its_token() {
    let objects = base_objects();
    let config = objects.iter().find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == "marquee-cluster").unwrap();
    assert!(config["data"]["admit-namespaces"].as_str().unwrap().split(',').any(|ns| ns == "monitoring"));
    let scrape = objects.iter().find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == "marquee-prometheus").unwrap();
    let job = scrape["data"]["marquee-scrape.yml"].as_str().unwrap();
    assert!(job.contains("type: Bearer") && job.contains("credentials_file: /etc/prometheus/secrets/marquee-metrics/token"), "{job}");
    for name in ["marquee-control", "marquee-runtime", "marquee-operator"] {
        let deployment = objects.iter().find(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == name).unwrap();
        let env = deployment["spec"]["template"]["spec"]["containers"][0]["env"].as_array().unwrap();
        let token = env.iter().find(|e| e["name"] == "MARQUEE_METRICS_TOKEN").unwrap_or_else(|| panic!("{name}"));
        assert_eq!(token["valueFrom"]["secretKeyRef"], serde_json::json!({"name": "marquee-metrics", "key": "token", "optional": true}));
    }
    let monitor = objects_of(&root().join("cluster/monitoring/podmonitor.yaml"));
    let endpoint = &monitor[0]["spec"]["podMetricsEndpoints"][0];
    assert_eq!((endpoint["port"].as_str(), endpoint["honorLabels"].as_bool()), (Some("http"), Some(true)));
    assert_eq!(endpoint["authorization"]["credentials"], serde_json::json!({"name": "marquee-metrics", "key": "token"}));
}

/// A retag with `images:` (in the base or in an overlay) reaches the dedicated runtimes too: the
/// operator's MARQUEE_IMAGE is the image its own container runs.
#[test]
fn a_retag_reaches_the_image_of_dedicated_runtimes() {
    let operator_image = |objects: &[serde_json::Value]| {
        let operator = objects.iter().find(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == "marquee-operator").unwrap();
        let container = &operator["spec"]["template"]["spec"]["containers"][0];
        let env = container["env"].as_array().unwrap().iter().find(|e| e["name"] == "MARQUEE_IMAGE").unwrap()["value"].clone();
        (container["image"].as_str().unwrap().to_owned(), env.as_str().unwrap().to_owned())
    };
    assert_eq!(operator_image(&base_objects()), ("ghcr.io/marquee-dev/marquee:latest".into(), "ghcr.io/marquee-dev/marquee:latest".into()));
    // kustomize takes an overlay's base only by a relative path.
    let overlay = root().join("target/kustomize-retag");
    std::fs::create_dir_all(&overlay).unwrap();
    std::fs::write(
        overlay.join("kustomization.yaml"),
        "resources: [../../cluster/deploy]\nimages:\n  - {name: ghcr.io/marquee-dev/marquee, newName: registry.example/marquee, newTag: \"2.0\"}\n",
    )
    .unwrap();
    let objects = objects_of(&render(&overlay, "retagged.yaml"));
    assert_eq!(operator_image(&objects), ("registry.example/marquee:2.0".into(), "registry.example/marquee:2.0".into()));
}

/// There is no API server here to enforce the admission policy: its CEL is run on the requests
/// a stolen operator token would send (and the operator's own), with cel-python.
#[test]
fn the_admission_policy_keeps_the_operator_inside_namespaces_it_made() {
    let output = cluster_python("admission.py", &[rendered_base()]);
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{report}{}", String::from_utf8_lossy(&output.stderr));
    assert!(report.contains("checked 14 requests: 0 wrong"), "{report}");
}

#[test]
fn performance_samples_meet_the_crd_schema_and_bad_ones_do_not() {
    let python = tool("MARQUEE_CLUSTER_PYTHON", "python3");
    let crd = temp("crd.json", &serde_json::to_string(&Performance::crd()).unwrap());
    for expect in ["valid", "invalid"] {
        let dir = root().join(format!("tests/cluster/performances/{expect}"));
        let mut samples: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        samples.sort();
        assert!(samples.len() >= 2, "samples in {}", dir.display());
        let report = check(
            &format!("the {expect} Performance samples"),
            Command::new(&python).arg(root().join("tests/cluster/validate-performance.py")).arg(&crd).arg(expect).args(&samples),
        );
        assert_eq!(report.lines().filter(|l| l.starts_with("ok ")).count(), samples.len(), "{report}");
    }
}
