#!/bin/bash
# Installs the Debian packages the tests drive for real: chromium for the page test,
# buildah/podman/runc/debootstrap for the image tests, redis-server for the stream worker.
# Skips apt entirely when everything is present; needs root otherwise. When another
# program holds apt's or dpkg's lock (unattended upgrades on CI machines), waits for it
# (up to APT_LOCK_TIMEOUT seconds, 600) instead of failing. SYSTEM_DEPS_ALSO adds packages.
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
# the deploy tests validate KEDA and Knative objects with their npm typed models
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)
read -r -a also <<< "${SYSTEM_DEPS_ALSO:-}"
packages+=("${also[@]}")
if [ "${#packages[@]}" -eq 0 ]; then
  exit 0
fi
apt_get() {
  DEBIAN_FRONTEND=noninteractive apt-get -o "DPkg::Lock::Timeout=${APT_LOCK_TIMEOUT:-600}" "$@"
}
install() {
  apt_get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
}
log "Installing with apt: ${packages[*]}"
# Package lists are fetched only when the install needs them (none yet, or stale).
install 2>/dev/null || { apt_get update -qq && install; }
