#!/usr/bin/env bash
# Berth's installer, as Harbor's: run it in the unpacked offline bundle (make bundle, or `make images` for
# dist/bundle). It checks Docker and Compose, builds the images from the bundle (no image registry
# needed), renders every container's configuration from berth.yml, and starts the stack:
#
#   ./install.sh          berth.yml next to this script (created from berth.yml.tmpl when absent)
#
# Environment: DOCKER (the docker CLI), DOCKER_HOST and COMPOSE_PROJECT_NAME are honoured.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
docker=${DOCKER:-docker}

die() { echo "install.sh: $*" >&2; exit 1; }

command -v "$docker" >/dev/null || die "docker is not installed (Debian: apt-get install docker.io)"
$docker info >/dev/null 2>&1 || die "cannot reach the Docker engine (is dockerd running? DOCKER_HOST=${DOCKER_HOST:-})"
if $docker compose version >/dev/null 2>&1; then
  compose=("$docker" compose)
elif command -v docker-compose >/dev/null; then
  compose=(docker-compose)
else
  die "neither 'docker compose' nor docker-compose is installed (Debian: apt-get install docker-compose)"
fi

if [ ! -f berth.yml ]; then
  cp berth.yml.tmpl berth.yml
  echo "install.sh: created $here/berth.yml from the template; set hostname (and admin_password) in it"
fi
version=$(cat VERSION)

echo "install.sh: images"
DOCKER=$docker images/build.sh "$here"

# prepare runs in the berth-python image, as Harbor's prepare container: the host needs no Python. The
# host's / is mounted read-only at /hostfs for https.certificate and https.private_key; it runs as root
# so the files it writes can be given to the containers' account (uid 10000).
echo "install.sh: prepare"
$docker run --rm --user 0 --network none -v "$here":/install -v /:/hostfs:ro "berth-python:$version" \
  python -m services.deploy.prepare --config /install/berth.yml --out /install --host-root /hostfs

echo "install.sh: starting"
"${compose[@]}" up -d
url=$(sed -n 's/^BERTH_URL=//p' .env)
echo "install.sh: Berth is up at $url (user admin, password admin_password from berth.yml)"
echo "install.sh: stop with: cd $here && ${compose[*]} down   (add -v to delete the data volumes too)"
