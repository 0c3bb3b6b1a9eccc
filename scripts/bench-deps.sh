#!/bin/bash
# Installs what `make bench` needs beyond the test tools: wrk (apt) and matplotlib
# (into the dev venv). MLflow gets its own venv, made by bench/run.py. Args: VENV.
set -euo pipefail
venv="${1:-.venv}"
log() { echo "---> $*" >&2; }
# uv trusts the system CA store (as pip does), not only its bundled roots
export UV_SYSTEM_CERTS="${UV_SYSTEM_CERTS:-1}"
if ! command -v wrk >/dev/null 2>&1; then
  log "Installing wrk with apt"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null
fi
uv pip install --quiet --python "$venv/bin/python" matplotlib
