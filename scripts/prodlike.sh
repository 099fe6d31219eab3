#!/usr/bin/env bash
# The production-shaped run (issue 15): PostgreSQL, Redis without persistence, two gunicorn web processes and two
# RQ workers with their scheduler, on loopback; a migration and CTI traffic through both web processes while a
# worker, a web process and Redis die on the way; then the invariants and the recovery times (scripts/prodlike.py
# says what exactly). About 4 minutes; exit 1 names each invariant that failed. Stops everything it started.
#   scripts/prodlike.sh [--rows N] [--calls N] [--agents N] [--out-of-order N] [--timeout S]
# PRODLIKE_SKIP_BOOTSTRAP=1 skips scripts/bootstrap.sh (scripts/test.sh has run it); PRODLIKE_REDIS_PORT and
# PRODLIKE_PG_PORT choose the ports (default: free ones); PRODLIKE_KEEP=1 keeps the logs in the work directory.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ ${PRODLIKE_SKIP_BOOTSTRAP:-0} == 1 ]] || scripts/bootstrap.sh --test
source scripts/lib.sh

work=$(mktemp -d /tmp/portal-prodlike.XXXXXX)
chmod 755 "$work"
mkdir -p "$work/redis"
redis_port=${PRODLIKE_REDIS_PORT:-$(free_port)}
pg_port=${PRODLIKE_PG_PORT:-$(free_port)}

# kill_marked — SIGKILL every process the driver started (it marks them PRODLIKE_RUN=$work, and work horses inherit
# it), should the driver itself have died before stopping them. Bash builtins only: a child of this shell must not
# match.
kill_marked() {
  local dir pid var
  for dir in /proc/[0-9]*; do
    pid=${dir#/proc/}
    [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
    while IFS= read -r -d '' var; do
      if [[ $var == "PRODLIKE_RUN=$work" ]]; then kill -9 "$pid" 2>/dev/null || true; break; fi
    done 2>/dev/null <"$dir/environ" || true
  done
}

driver=""
cleanup() {
  if [[ -n $driver ]] && kill -0 "$driver" 2>/dev/null; then  # interrupted: the driver stops its processes first
    kill -TERM "$driver" 2>/dev/null || true
    for _ in $(seq 75); do kill -0 "$driver" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$driver" 2>/dev/null || true
  fi
  kill_marked
  stop_postgres "$work/pg"
  stop_redis "$work/redis"
  if [[ ${PRODLIKE_KEEP:-0} == 1 ]]; then echo "logs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "==> prod-like run: Redis on 127.0.0.1:$redis_port (no persistence), PostgreSQL on 127.0.0.1:$pg_port"
start_redis "$work/redis" "$redis_port"
start_postgres "$work/pg" "$pg_port"
# In the background and waited for, so that INT or TERM reach the trap at once (bash runs traps between commands).
DATABASE_URL="postgresql://postgres@127.0.0.1:$pg_port/portal_test" REDIS_URL="redis://127.0.0.1:$redis_port/0" \
  PRODLIKE_WORK="$work" PRODLIKE_REDIS_DIR="$work/redis" PRODLIKE_REDIS_PORT="$redis_port" \
  .venv/bin/python scripts/prodlike.py "$@" &
driver=$!
wait "$driver"
