// Validates every Gateway API object in the given YAML or JSON documents against the Gateway API
// CRDs' schemas (as @kubernetes-models/gateway-api ships them). Prints one line per object and
// exits non-zero when any fails, or when a file holds a Gateway API kind it cannot check.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import * as v1 from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1";
import * as v1beta1 from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1beta1";

const models = { "gateway.networking.k8s.io/v1": v1, "gateway.networking.k8s.io/v1beta1": v1beta1 };
let failed = 0;
let checked = 0;
for (const file of process.argv.slice(2)) {
  for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
    const object = doc.toJS();
    if (!object || !String(object.apiVersion).startsWith("gateway.networking.k8s.io/")) continue;
    const name = `${object.kind}/${object.metadata?.name}`;
    const Model = models[object.apiVersion]?.[object.kind];
    if (!Model) {
      console.log(`FAIL ${file} ${name}: no schema for ${object.apiVersion} ${object.kind}`);
      failed++;
      continue;
    }
    try {
      new Model(object).validate();
      console.log(`ok ${file} ${name}`);
      checked++;
    } catch (error) {
      console.log(`FAIL ${file} ${name}: ${error.message}`);
      failed++;
    }
  }
}
console.log(`${checked} Gateway API objects valid, ${failed} failed`);
process.exit(failed ? 1 : 0);
