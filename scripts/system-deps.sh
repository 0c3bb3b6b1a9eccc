#!/bin/bash
# Installs the Debian packages the tests drive for real (browser for the page test).
# Skips apt entirely when everything is present; needs root otherwise.
set -euo pipefail
log() { echo "---> $*" >&2; }
packages=()
command -v chromium >/dev/null 2>&1 || packages+=(chromium)
command -v chromedriver >/dev/null 2>&1 || packages+=(chromium-driver)
if [ "${#packages[@]}" -eq 0 ]; then
  exit 0
fi
log "Installing with apt: ${packages[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
