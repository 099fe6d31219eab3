#!/usr/bin/env bash
# Install everything and run the whole test suite twice: on SQLite, then on PostgreSQL; then the prod-like run
# (scripts/prodlike.sh: the Procfile's processes with a worker, a web process and Redis killed on the way).
# Starts its own Redis and PostgreSQL on free loopback ports and stops them when done.
# Extra arguments go to pytest (e.g. scripts/test.sh -x -k login); PRODLIKE=0 skips the prod-like run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --test
source scripts/lib.sh

work=$(mktemp -d /tmp/portal-test.XXXXXX)
chmod 755 "$work"
redis_port=$(free_port)
pg_port=$(free_port)
cleanup() {
  stop_postgres "$work/pg"
  stop_redis "$work"
  rm -rf "$work"
}
trap cleanup EXIT

echo "==> starting Redis on 127.0.0.1:$redis_port and PostgreSQL on 127.0.0.1:$pg_port"
start_redis "$work" "$redis_port"
start_postgres "$work/pg" "$pg_port"

export TEST_REDIS_URL="redis://127.0.0.1:$redis_port/0"
export PORTAL_DOTENV=/dev/null  # a developer's .env must not leak into the tests

echo "==> test suite on SQLite"
.venv/bin/python -m pytest "$@"
echo "==> test suite on PostgreSQL"
TEST_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:$pg_port/portal_test" .venv/bin/python -m pytest "$@"
if [[ ${PRODLIKE:-1} == 1 ]]; then
  echo "==> prod-like run"
  PRODLIKE_SKIP_BOOTSTRAP=1 scripts/prodlike.sh
  echo "==> all green on SQLite and PostgreSQL, and the prod-like run"
else
  echo "==> all green on SQLite and PostgreSQL (prod-like run skipped)"
fi
