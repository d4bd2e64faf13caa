"""Checks Performance objects against the CRD's openAPIV3Schema (the schema the API server
enforces), with unknown fields refused as the API server prunes and, with strict field
validation, rejects them. Usage: validate-performance.py CRD valid|invalid FILE...; exits
non-zero when a file does not come out as expected."""
import json
import sys

import jsonschema


def closed(schema):
    """Refuses unknown properties wherever the schema lists its properties (structural schemas
    prune anything else)."""
    if isinstance(schema, dict):
        if "properties" in schema and "additionalProperties" not in schema:
            schema = {**schema, "additionalProperties": False}
        return {k: closed(v) for k, v in schema.items()}
    if isinstance(schema, list):
        return [closed(v) for v in schema]
    return schema


crd_path, expect, *files = sys.argv[1:]
crd = json.load(open(crd_path))
schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
# metadata is the API server's to check; the schema only says it is an object.
schema = closed({**schema, "properties": {k: v for k, v in schema["properties"].items() if k != "metadata"}})
validator = jsonschema.Draft7Validator(schema)
wrong = 0
for path in files:
    obj = json.load(open(path))
    obj.pop("metadata", None)
    errors = []
    # apiVersion and kind are the API server's too, and must name this CRD's kind.
    api_version = f"{crd['spec']['group']}/{crd['spec']['versions'][0]['name']}"
    if (obj.pop("apiVersion", None), obj.pop("kind", None)) != (api_version, crd["spec"]["names"]["kind"]):
        errors.append(f"not a {api_version} {crd['spec']['names']['kind']}")
    errors += [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj)]
    ok = (not errors) if expect == "valid" else bool(errors)
    wrong += not ok
    print(("ok" if ok else "WRONG"), path, "; ".join(errors) or "valid")
sys.exit(1 if wrong else 0)
