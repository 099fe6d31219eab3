#!/usr/bin/env bash
# Install everything and run the portal: web (gunicorn), RQ worker with its scheduler, and a local
# Redis when REDIS_URL is unset. SQLite in instance/ unless DATABASE_URL says otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
source scripts/lib.sh

mkdir -p instance
redis_dir=""
honcho_pid=""
cleanup() {
  if [[ -n "$honcho_pid" ]]; then kill -TERM "$honcho_pid" 2>/dev/null || true; wait "$honcho_pid" 2>/dev/null || true; fi
  if [[ -n "$redis_dir" ]]; then stop_redis "$redis_dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export FLASK_APP=app
export PORT="${PORT:-5000}"
export PORTAL_URL="${PORTAL_URL:-http://127.0.0.1:$PORT}"

if [[ -z "${REDIS_URL:-}" ]]; then
  redis_port=6379
  redis-cli -p "$redis_port" ping >/dev/null 2>&1 && redis_port=$(free_port)  # someone else's Redis: keep off it
  redis_dir="$PWD/instance"
  start_redis "$redis_dir" "$redis_port"
  export REDIS_URL="redis://127.0.0.1:$redis_port/0"
fi

.venv/bin/flask db upgrade
seeded=$(.venv/bin/flask seed-demo | tee /dev/stderr)
.venv/bin/flask jobs schedule
echo
echo "==> Open $PORTAL_URL/login  (organization: demo)"
echo
.venv/bin/honcho start -f Procfile -p "$PORT" &
honcho_pid=$!
if [[ "$seeded" == *"Demo data created."* ]]; then
  # A fresh demo gets a morning of calls (through the real ingest) so calls, tickets, the supervisor board and
  # My performance have something to show; this issues the demo's organization API key and prints it. Then a
  # stream of web and e-mail tickets through the Open API with that key, assigned as they come to the support
  # agents at work (the demo seeds a few as ready).
  (for _ in $(seq 60); do
     .venv/bin/python -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" \
       "$PORTAL_URL/healthz" 2>/dev/null && break
     sleep 0.5
   done
   calls=$(.venv/bin/flask cti simulate --service support --domain demo --agents 2 --calls 24 --seed 7 --rotate-key 2>&1)
   sed 's/^/[demo calls] /' <<<"$calls"
   PORTAL_API_KEY=$(sed -n 's/^New organization API key.*: //p' <<<"$calls") \
     .venv/bin/flask tickets simulate --service support --domain demo --count 20 --rate 4 --seed 7 2>&1 \
     | sed 's/^/[demo tickets] /') &
fi
wait "$honcho_pid"
