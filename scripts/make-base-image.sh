#!/bin/bash
# Builds the stand-in base image (Debian bookworm + python3 + venv + CA bundle) to build
# FROM where no registry can be pulled from (`make base-image`; `make images` calls it when
# the Dockerfile's base cannot be pulled). Once per machine: skips when the image exists.
# Reads ENGINE (podman or docker; buildah's images are podman's) and BASE_IMAGE.
set -euo pipefail
engine="${ENGINE:-podman}"
[ "$engine" = buildah ] && engine=podman
image="${BASE_IMAGE:-localhost/nbs2i-base:bookworm}"
log() { echo "---> $*" >&2; }
die() { echo "ERROR: $*" >&2; exit 1; }

if "$engine" image inspect "$image" >/dev/null 2>&1; then
  log "$image exists; skipping"
  exit 0
fi
command -v debootstrap >/dev/null || die "debootstrap is missing: apt-get install debootstrap"
rootfs="$(mktemp -d /var/tmp/nbs2i-rootfs.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT
log "debootstrap bookworm into $rootfs (about a minute)"
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
  bookworm "$rootfs" http://deb.debian.org/debian >/dev/null
# PyPI is reached through a proxy whose certificate only the host's bundle trusts.
chmod 755 "$rootfs"  # mktemp made it 0700: it becomes the image's /
cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
log "importing as $image"
tar -C "$rootfs" -c . | "$engine" import - "$image" >/dev/null
