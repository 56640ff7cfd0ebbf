#!/bin/sh
# First start: initdb into the (empty) volume with the user and password prepare wrote to config/db/env
# (database.username; database.password, or one generated once), and the database Berth uses
# (database.name). Every start: serve on the compose network.
#
# Authentication: scram-sha-256 with that password from every address, never trust. The network is
# private to the deployment, but any container attached to it later (a debugging shell, a sidecar) would
# otherwise own the database; a password costs nothing here, since prepare writes it for the services.
set -eu
: "${POSTGRES_PASSWORD:?is not set (prepare writes it to config/db/env)}"
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-berth}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" --auth-local=peer --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pwfile"
  printf 'host all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
  # Single-user mode: the database exists before the server first accepts a connection.
  echo "CREATE DATABASE \"$db\"" | postgres --single -D "$PGDATA" postgres >/dev/null
  echo "berth-db: initialised $PGDATA with database $db"
fi
# jit=off: the JIT provider is not in the image (see services/deploy/rootfs.py).
exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/tmp -c jit=off
