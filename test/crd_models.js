// Validates Kubernetes custom resources with the typed models published on npm
// (@kubernetes-models/keda, @kubernetes-models/knative), whose validate() checks an object
// against the CRD's own OpenAPI schema. Usage: node test/crd_models.js objects.json
// Prints one JSON line per object: {"kind", "name", "error"} (error null when valid).
const fs = require("fs");

const PACKAGES = {
  "keda.sh/v1alpha1": "@kubernetes-models/keda/keda.sh/v1alpha1/",
  "serving.knative.dev/v1": "@kubernetes-models/knative/serving.knative.dev/v1/",
};

for (const object of JSON.parse(fs.readFileSync(process.argv[2], "utf8"))) {
  const name = (object.metadata || {}).name || (object.metadata || {}).generateName;
  const prefix = PACKAGES[object.apiVersion];
  let error = null;
  if (!prefix) {
    error = `no typed model for ${object.apiVersion}`;
  } else {
    try {
      const Model = require(prefix + object.kind)[object.kind];
      new Model(object).validate();
    } catch (e) {
      error = e.message;
    }
  }
  console.log(JSON.stringify({ kind: object.kind, name: name, error: error }));
}
