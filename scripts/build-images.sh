#!/bin/bash
# Builds nb-builder and nb-runtime from the Dockerfile with podman, buildah or docker.
# Reads ENGINE (default: the first found), BASE_IMAGE (default: the Dockerfile's, or the
# stand-in base when that cannot be pulled), BUILDER_TAG (nb-builder), RUNTIME_TAG (nb-runtime).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
log() { echo "---> $*" >&2; }
die() { echo "ERROR: $*" >&2; exit 1; }

engine="${ENGINE:-}"
if [ -z "$engine" ]; then
  for candidate in podman buildah docker; do
    if command -v "$candidate" >/dev/null 2>&1 && { [ "$candidate" != docker ] || docker info >/dev/null 2>&1; }; then
      engine="$candidate"; break
    fi
  done
fi
[ -n "$engine" ] || die "no container engine: install podman or buildah (apt-get install podman buildah), or set ENGINE"

# podman's and buildah's defaults fail on hosts whose root lacks CAP_SYS_RESOURCE or that
# have a hybrid cgroup tree (many VMs and CI runners): use settings that work there.
host_needs_settings() {
  local caps; caps=$(awk '/^CapEff/ {print $2}' /proc/self/status)
  (( (16#$caps >> 24) & 1 )) || return 0
  [ -d /sys/fs/cgroup/unified ]
}
if [ "$engine" != docker ] && [ -z "${CONTAINERS_CONF:-}" ] && host_needs_settings; then
  log "this host needs $engine settings of its own (no CAP_SYS_RESOURCE or hybrid cgroups): scripts/containers/*.conf"
  export CONTAINERS_CONF="$here/containers/containers.conf" CONTAINERS_STORAGE_CONF="$here/containers/storage.conf"
  export BUILDAH_ISOLATION="${BUILDAH_ISOLATION:-chroot}"
fi

image_exists() {
  case "$engine" in
    podman) podman image exists "$1" ;;
    buildah) buildah inspect --type image "$1" >/dev/null 2>&1 ;;
    *) docker image inspect "$1" >/dev/null 2>&1 ;;
  esac
}
base="${BASE_IMAGE:-}"
if [ -z "$base" ]; then
  base="$(sed -n 's/^ARG BASE_IMAGE=//p' Dockerfile | head -1)"
  if ! image_exists "$base" && ! timeout 120 "$engine" pull -q "$base" >/dev/null 2>&1; then
    stand_in="localhost/nbs2i-base:bookworm"
    log "cannot pull $base (no registry reachable?): building FROM the stand-in $stand_in (make base-image); set BASE_IMAGE=... for another"
    BASE_IMAGE="$stand_in" ENGINE="$engine" "$here/make-base-image.sh"
    base="$stand_in"
  fi
fi
build=(build)
[ "$engine" = buildah ] && build=(bud)
for target in builder runtime; do
  tag="nb-$target"
  [ "$target" = builder ] && tag="${BUILDER_TAG:-$tag}"
  [ "$target" = runtime ] && tag="${RUNTIME_TAG:-$tag}"
  log "$engine: building $tag (target $target) FROM $base"
  "$engine" "${build[@]}" --build-arg "BASE_IMAGE=$base" --target "$target" -t "$tag" -f Dockerfile .
done
