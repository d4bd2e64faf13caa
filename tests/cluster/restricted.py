"""Checks every pod template in the YAML files named against the Pod Security "restricted"
profile (Kubernetes 1.30+), and that every Namespace enforces it. Prints each violation and
exits non-zero if there is one; prints how many pod templates and namespaces it checked.

    python restricted.py FILE...
"""
import sys

from report import objects, report

ALLOWED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
TEMPLATED = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


def pod_specs(obj):
    """(where, pod spec) of an object: a Pod's own, a workload's template's, a CronJob's job's."""
    kind, name = obj.get("kind"), obj.get("metadata", {}).get("name")
    spec = obj.get("spec") or {}
    if kind == "Pod":
        yield f"Pod/{name}", spec
    elif kind in TEMPLATED:
        yield f"{kind}/{name}", spec.get("template", {}).get("spec", {})
    elif kind == "CronJob":
        yield f"CronJob/{name}", spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec", {})


def violations(where, pod):
    context = pod.get("securityContext") or {}
    found = []
    if pod.get("hostNetwork") or pod.get("hostPID") or pod.get("hostIPC"):
        found.append("host namespaces")
    for volume in pod.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= ALLOWED_VOLUMES:
            found.append(f"volume {volume['name']} of kind {sorted(kinds - ALLOWED_VOLUMES)}")
    for container in (pod.get("initContainers") or []) + (pod.get("containers") or []):
        own = container.get("securityContext") or {}
        name = container.get("name")
        if own.get("privileged"):
            found.append(f"{name}: privileged")
        if own.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation is not false")
        capabilities = own.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            found.append(f"{name}: capabilities do not drop ALL")
        if set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}:
            found.append(f"{name}: adds capabilities {capabilities['add']}")
        if own.get("runAsNonRoot", context.get("runAsNonRoot")) is not True:
            found.append(f"{name}: runAsNonRoot is not true")
        if own.get("runAsUser", context.get("runAsUser")) == 0:
            found.append(f"{name}: runs as user 0")
        seccomp = (own.get("seccompProfile") or context.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            found.append(f"{name}: seccompProfile is {seccomp}")
    return [f"{where}: {v}" for v in found]


def main(paths):
    failures, pods, namespaces = [], 0, 0
    for obj in objects(paths):
        if obj.get("kind") == "Namespace":
            namespaces += 1
            labels = obj.get("metadata", {}).get("labels") or {}
            if labels.get("pod-security.kubernetes.io/enforce") != "restricted":
                failures.append(f"Namespace/{obj['metadata']['name']}: does not enforce restricted")
        for where, pod in pod_specs(obj):
            pods += 1
            failures.extend(violations(where, pod))
    return report(failures, f"{pods} pod templates and {namespaces} namespaces")

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
