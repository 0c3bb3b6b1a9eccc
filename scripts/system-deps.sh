#!/bin/bash
# Installs the Debian packages the tests drive for real: chromium for the page test,
# buildah/podman/runc/debootstrap for the image tests, redis-server for the stream worker.
# Skips apt entirely when everything is present; needs root otherwise.
set -euo pipefail
log() { echo "---> $*" >&2; }
packages=()
command -v chromium >/dev/null 2>&1 || packages+=(chromium)
command -v chromedriver >/dev/null 2>&1 || packages+=(chromium-driver)
# image builds and runs (docs/images.md): no Docker daemon is needed
command -v buildah >/dev/null 2>&1 || packages+=(buildah)
command -v podman >/dev/null 2>&1 || packages+=(podman)
command -v runc >/dev/null 2>&1 || packages+=(runc)
command -v debootstrap >/dev/null 2>&1 || packages+=(debootstrap)
# the stream worker's tests start their own redis-server on a loopback port
command -v redis-server >/dev/null 2>&1 || packages+=(redis-server)
if [ "${#packages[@]}" -eq 0 ]; then
  exit 0
fi
log "Installing with apt: ${packages[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
