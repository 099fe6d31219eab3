#!/usr/bin/env bash
# My performance / supervisor board benchmark (see bench/README.md): bench/performance.py on SQLite (a temp
# file), then on a throwaway PostgreSQL cluster from scripts/lib.sh on a free loopback port, stopped on exit.
# Arguments go to bench/performance.py (e.g. --runs 20, --profile, --tickets 500000).
# BENCH_BACKENDS ("sqlite postgres") picks the backends. Needs .venv (scripts/bootstrap.sh --test) and, for
# PostgreSQL, the server binaries under /usr/lib/postgresql.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh  # free_port, start_postgres/stop_postgres (throwaway cluster, fsync off)

backends=${BENCH_BACKENDS:-sqlite postgres}
work=$(mktemp -d /tmp/perf-bench.XXXXXX)
chmod 755 "$work"
cleanup() {
  stop_postgres "$work/pg"
  rm -rf "$work"
}
trap cleanup EXIT
export PORTAL_DOTENV=/dev/null SECRET_KEY=bench-secret-key

for backend in $backends; do
  echo "== $backend"
  if [[ $backend == postgres ]]; then
    port=$(free_port)
    start_postgres "$work/pg" "$port"
    BENCH_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:$port/portal_test" .venv/bin/python bench/performance.py "$@"
  else
    .venv/bin/python bench/performance.py "$@"
  fi
done
