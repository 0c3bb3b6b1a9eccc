#!/bin/bash
# The npm packages the deploy tests validate custom resources with (test/crd_models.js):
# the typed models of KEDA's and Knative's CRDs. Installed once into VENV/node.
set -euo pipefail
prefix="${1:?usage: scripts/test-node-deps.sh VENV}/node"
if [ -d "$prefix/node_modules/@kubernetes-models/keda" ] && [ -d "$prefix/node_modules/@kubernetes-models/knative" ]; then
  exit 0
fi
echo "---> Installing with npm into $prefix: @kubernetes-models/keda, @kubernetes-models/knative" >&2
mkdir -p "$prefix"
npm install --prefix "$prefix" --no-audit --no-fund --silent "@kubernetes-models/keda@^0.4" "@kubernetes-models/knative@^2.4"
