"""Reads every Role and ClusterRole in the YAML files named, rule by rule, and refuses what would
let a stolen token of ours reach past Marquee: wildcards, reading Secrets, and minting tokens,
binding, escalating or impersonating without naming the object. Prints each violation and
exits non-zero if there is one; prints how many roles it checked.

    python rbac.py FILE...
"""
import sys

from report import objects, report

READ = {"get", "list", "watch"}
NAMED_ONLY = {"bind", "escalate", "impersonate"}


def violations(rule):
    verbs, resources = set(rule.get("verbs", [])), set(rule.get("resources", []))
    named = bool(rule.get("resourceNames"))
    found = []
    for field in ("verbs", "resources", "apiGroups"):
        if "*" in rule.get(field, []):
            found.append(f"a wildcard in {field}")
    if "secrets" in resources and verbs & READ:
        found.append(f"reads Secrets ({', '.join(sorted(verbs & READ))})")
    if "serviceaccounts/token" in resources and "create" in verbs and not named:
        found.append("creates a token for any account")
    if verbs & NAMED_ONLY and not named:
        found.append(f"{', '.join(sorted(verbs & NAMED_ONLY))} without resourceNames")
    if rule.get("nonResourceURLs"):
        found.append("non-resource URLs")
    return found


def main(paths):
    roles, found = 0, []
    for doc in objects(paths):
        if doc.get("kind") not in ("Role", "ClusterRole"):
            continue
        roles += 1
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        for rule in doc.get("rules") or []:
            found += [f"{where}: {v}" for v in violations(rule)]
        if doc.get("aggregationRule"):
            found.append(f"{where}: aggregates other roles")
    return report(found, f"{roles} roles")

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
