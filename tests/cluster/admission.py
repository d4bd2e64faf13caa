"""Evaluates the base's ValidatingAdmissionPolicy (its CEL, with cel-python) against requests an
API server would send it, and checks each is admitted or denied as expected. Prints each case
and exits non-zero if one is wrong: there is no API server here to enforce it.

    python admission.py BASE.yaml
"""
import sys

import celpy

from report import objects

OPERATOR = "system:serviceaccount:marquee-system:marquee-operator"
# (group, resource) of each kind in the cases.
RESOURCES = {
    "Namespace": ("", "namespaces"), "Secret": ("", "secrets"), "ServiceAccount": ("", "serviceaccounts"),
    "Service": ("", "services"), "RoleBinding": ("rbac.authorization.k8s.io", "rolebindings"),
    "NetworkPolicy": ("networking.k8s.io", "networkpolicies"), "Deployment": ("apps", "deployments"),
    "HTTPRoute": ("gateway.networking.k8s.io", "httproutes"), "ReferenceGrant": ("gateway.networking.k8s.io", "referencegrants"),
}
MADE = {"app.kubernetes.io/managed-by": "marquee-operator", "marquee.dev/performance": "gala"}


def namespace(name, labels=None):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, **({"labels": labels} if labels else {})}}


def evaluate(env, expression, activation):
    return env.program(env.compile(expression)).evaluate(activation)


def admitted(policy, params, user, operation, kind, name, ns=None, obj=None, old=None, ns_obj=None):
    """None if the policy does not apply, else (admitted, failed messages)."""
    group, resource = RESOURCES[kind]
    spec = policy["spec"]
    if not any(group in r["apiGroups"] and resource in r["resources"] and operation in r["operations"]
               for r in spec["matchConstraints"]["resourceRules"]):
        return None
    env = celpy.Environment()
    request = {"kind": {"group": group, "version": "v1", "kind": kind}, "operation": operation, "name": name,
               "namespace": ns or "", "userInfo": {"username": user}}
    activation = {k: celpy.json_to_cel(v) for k, v in
                  {"request": request, "object": obj, "oldObject": old, "namespaceObject": ns_obj, "params": params}.items()}
    if not all(evaluate(env, c["expression"], activation) for c in spec.get("matchConditions", [])):
        return None
    variables = {}
    for variable in spec.get("variables", []):
        activation["variables"] = celpy.celtypes.MapType(variables)
        variables[celpy.celtypes.StringType(variable["name"])] = evaluate(env, variable["expression"], activation)
    activation["variables"] = celpy.celtypes.MapType(variables)
    failed = [v["message"] for v in spec["validations"] if not evaluate(env, v["expression"], activation)]
    return (not failed, failed)


def main(path):
    documents = list(objects([path]))
    policy = next(d for d in documents if d["kind"] == "ValidatingAdmissionPolicy")
    binding = next(d for d in documents if d["kind"] == "ValidatingAdmissionPolicyBinding")
    assert binding["spec"]["policyName"] == policy["metadata"]["name"] and binding["spec"]["validationActions"] == ["Deny"], binding
    ref = binding["spec"]["paramRef"]
    params = next(d for d in documents if d["kind"] == "ConfigMap" and d["metadata"]["name"] == ref["name"]
                  and d["metadata"]["namespace"] == ref["namespace"])
    prefix = params["data"]["namespace-prefix"]
    ours, theirs = namespace(f"{prefix}gala", MADE), namespace("envoy-gateway-system", {"team": "edge"})
    system = namespace(params["metadata"]["namespace"])
    secret = {"kind": "Secret", "metadata": {"name": "runtime-store"}}
    def req(operation, kind, name, ns=None, obj=None, old=None, ns_obj=None, user=OPERATOR):
        return dict(user=user, operation=operation, kind=kind, name=name, ns=ns, obj=obj, old=old, ns_obj=ns_obj)

    made, system_name = ours["metadata"]["name"], system["metadata"]["name"]
    cases = [
        # (what, expected: True admitted / False denied / None not the policy's business, request)
        ("the operator makes a prefixed namespace", True, req("CREATE", "Namespace", made, obj=ours)),
        ("the operator makes a namespace without the prefix", False, req("CREATE", "Namespace", "gala", obj=namespace("gala", MADE))),
        ("the operator applies to a namespace it made", True, req("UPDATE", "Namespace", made, obj=ours, old=ours)),
        ("the operator takes over an existing namespace by labelling it", False,
         req("UPDATE", "Namespace", "envoy-gateway-system", obj=namespace("envoy-gateway-system", MADE), old=theirs)),
        ("the operator deletes a namespace it made", True, req("DELETE", "Namespace", made, old=ours)),
        ("the operator deletes kube-system", False, req("DELETE", "Namespace", "kube-system", old=namespace("kube-system"))),
        ("the operator writes a Secret where it made the namespace", True, req("CREATE", "Secret", "runtime-store", made, obj=secret, ns_obj=ours)),
        ("the operator writes a Secret in another namespace", False,
         req("CREATE", "Secret", "runtime-store", "envoy-gateway-system", obj=secret, ns_obj=theirs)),
        ("the operator binds a role in kube-system", False,
         req("CREATE", "RoleBinding", "seller", "kube-system", obj={"kind": "RoleBinding"}, ns_obj=namespace("kube-system"))),
        ("the operator deletes a Deployment in another namespace", False,
         req("DELETE", "Deployment", "envoy", "envoy-gateway-system", old={"kind": "Deployment"}, ns_obj=theirs)),
        ("the operator writes a ReferenceGrant in the platform's namespace", True,
         req("CREATE", "ReferenceGrant", "gala", system_name, obj={"kind": "ReferenceGrant"}, ns_obj=system)),
        ("the operator writes a ReferenceGrant elsewhere", False,
         req("CREATE", "ReferenceGrant", "gala", "envoy-gateway-system", obj={"kind": "ReferenceGrant"}, ns_obj=theirs)),
        ("the operator writes a Service in the platform's namespace", False,
         req("CREATE", "Service", "x", system_name, obj={"kind": "Service"}, ns_obj=system)),
        ("someone else is not the policy's business", None,
         req("DELETE", "Namespace", "envoy-gateway-system", old=theirs, user="system:serviceaccount:kube-system:namespace-controller")),
    ]
    wrong = 0
    said = {True: "admitted", False: "denied", None: "not matched"}
    for what, expected, request in cases:
        outcome = admitted(policy, params, **request)
        got = None if outcome is None else outcome[0]
        ok = got == expected
        wrong += not ok
        print(f"{'ok' if ok else 'WRONG'}: {what}: {said[got]}" + ("" if ok else f" (expected {said[expected]}; {outcome})"))
    print(f"checked {len(cases)} requests: {wrong} wrong")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
