#!/usr/bin/env bash
# Starts the Debian PostgreSQL cluster for the broker tests on a fresh machine (run as root), creates a role and a
# database for them, and prints the URL to export as the last line of stdout:
#
#   eval "$(scripts/ci/start-postgres.sh)"     # sets MV_PG_URL
#
# Idempotent: an already running cluster, role or database is reused. The password is generated once per machine
# and kept in /var/lib/postgresql/.mv-test-password (mode 600); it is a throwaway for a local test database.
set -euo pipefail
VERSION="${MV_PG_VERSION:-15}"
CLUSTER="${MV_PG_CLUSTER:-main}"
ROLE="${MV_PG_ROLE:-model_vault_test}"
DB="${MV_PG_DB:-model_vault_test}"

if [ "$(id -u)" != "0" ]; then
  echo "start-postgres.sh: run as root (it starts the system cluster with pg_ctlcluster)" >&2
  exit 1
fi
if ! command -v pg_ctlcluster >/dev/null; then
  echo "start-postgres.sh: PostgreSQL is not installed; apt-get install postgresql" >&2
  exit 1
fi
if ! pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1==v && $2==c {found=1} END {exit !found}'; then
  pg_createcluster "$VERSION" "$CLUSTER" >&2
fi
if ! pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1==v && $2==c && $4=="online" {found=1} END {exit !found}'; then
  pg_ctlcluster "$VERSION" "$CLUSTER" start >&2
fi
PORT=$(pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1==v && $2==c {print $3}')

PWFILE=/var/lib/postgresql/.mv-test-password
if [ ! -s "$PWFILE" ]; then
  umask 077
  head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$PWFILE"
  chown postgres:postgres "$PWFILE"
fi
PASSWORD=$(cat "$PWFILE")

psql_admin() { su postgres -c "psql -p $PORT -v ON_ERROR_STOP=1 -qtA $*"; }
for _ in $(seq 1 30); do
  if su postgres -c "pg_isready -q -p $PORT"; then break; fi
  sleep 0.5
done
if [ "$(psql_admin "-c \"SELECT 1 FROM pg_roles WHERE rolname='$ROLE'\"")" != "1" ]; then
  psql_admin "-c \"CREATE ROLE $ROLE LOGIN PASSWORD '$PASSWORD'\"" >&2
else
  psql_admin "-c \"ALTER ROLE $ROLE LOGIN PASSWORD '$PASSWORD'\"" >&2
fi
if [ "$(psql_admin "-c \"SELECT 1 FROM pg_database WHERE datname='$DB'\"")" != "1" ]; then
  psql_admin "-c \"CREATE DATABASE $DB OWNER $ROLE\"" >&2
fi
echo "export MV_PG_URL=postgres://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DB"
