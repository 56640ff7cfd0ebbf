#!/usr/bin/env bash
# Build Berth's images from a bundle directory (VERSION, wheels/, rootfs/berth-rootfs-*.tar) with nothing
# but a Docker engine: no image registry is needed or asked. `make images` and install.sh call it.
#
#   berth-base:V      the Debian root filesystem tarball, `docker import`ed (skipped when already imported)
#   berth-python:V    + a venv installed from wheels/ with --no-index
#   berth-{log,token,core,registry,jobservice,proxy}:V   FROM berth-python: command, user, HEALTHCHECK
#   berth-{db,redis}:V                        FROM berth-base: PostgreSQL 15 and Redis from Debian
#
# Few layers on purpose: with the vfs storage driver (no overlay filesystem, as on this CI) every layer
# and every build step's container is a full copy of the tree.
set -euo pipefail
bundle=$(cd "${1:?usage: build.sh BUNDLE_DIR}" && pwd)
images=$(cd "$(dirname "$0")" && pwd)
docker=${DOCKER:-docker}
version=$(cat "$bundle/VERSION")
# BuildKit when the CLI can drive it (20.10's built in, or a newer one with the buildx plugin): it writes
# the configuration-only steps (CMD, HEALTHCHECK, USER, ...) without a container, where the classic builder
# creates and commits one per step, a full copy of the tree each under vfs. The classic builder otherwise.
if [ -z "${DOCKER_BUILDKIT:-}" ]; then
  client=$($docker version -f '{{.Client.Version}}' 2>/dev/null || echo 0)
  if [ "${client%%.*}" -lt 23 ] 2>/dev/null || $docker buildx version >/dev/null 2>&1; then
    export DOCKER_BUILDKIT=1
  else
    export DOCKER_BUILDKIT=0
  fi
fi

rootfs=$(ls "$bundle"/rootfs/berth-rootfs-*.tar 2>/dev/null | head -n1)
[ -n "$rootfs" ] || { echo "build.sh: no rootfs/berth-rootfs-*.tar in $bundle" >&2; exit 1; }
key=$(basename "$rootfs" .tar)
have=$($docker image inspect -f '{{index .Config.Labels "berth.rootfs"}}' "berth-base:$version" 2>/dev/null || true)
if [ "$have" != "$key" ]; then
  echo "build.sh: importing $(basename "$rootfs") as berth-base:$version"
  $docker import --change "LABEL berth.rootfs=$key" --change 'CMD ["/bin/bash"]' "$rootfs" "berth-base:$version" >/dev/null
fi

build() {  # name dockerfile context
  echo "build.sh: berth-$1:$version"
  # --network none: everything comes from the bundle; a build that tried to download would fail here.
  $docker build --quiet --network none --build-arg "VERSION=$version" -f "$images/$2" -t "berth-$1:$version" "$3" >/dev/null
}
build python python.Dockerfile "$bundle/wheels"
for name in log token core registry jobservice proxy db redis; do
  build "$name" "$name.Dockerfile" "$images"
done
