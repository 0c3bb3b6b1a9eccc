#!/bin/bash
# Builds nb-builder and nb-runtime from the Dockerfile with podman, buildah or docker.
# Reads ENGINE (default: the first found), BASE_IMAGE (default: the Dockerfile's),
# BUILDER_TAG (nb-builder), RUNTIME_TAG (nb-runtime).
set -euo pipefail
log() { echo "---> $*" >&2; }
die() { echo "ERROR: $*" >&2; exit 1; }

engine="${ENGINE:-}"
if [ -z "$engine" ]; then
  for candidate in podman buildah docker; do
    if command -v "$candidate" >/dev/null 2>&1; then engine="$candidate"; break; fi
  done
fi
[ -n "$engine" ] || die "no container engine: install podman, buildah or docker, or set ENGINE"
build=(build)
[ "$engine" = buildah ] && build=(bud)
args=()
[ -n "${BASE_IMAGE:-}" ] && args+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
for target in builder runtime; do
  tag="nb-$target"
  [ "$target" = builder ] && tag="${BUILDER_TAG:-$tag}"
  [ "$target" = runtime ] && tag="${RUNTIME_TAG:-$tag}"
  log "$engine: building $tag (target $target)"
  "$engine" "${build[@]}" "${args[@]}" --target "$target" -t "$tag" -f Dockerfile .
done
