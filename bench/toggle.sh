#!/usr/bin/env bash
# Status-toggle benchmark (see bench/README.md). For SQLite (WAL) and then PostgreSQL: migrate + seed,
# start `gunicorn -w 2` for the portal and for bench/bare_app.py on the same database, log in, warm up,
# drive each with `wrk -t2 -c8 -d10s --latency -s bench/toggle.lua`, print req/s, p99 and the ratio.
# Starts its own Redis and PostgreSQL on free loopback ports and stops everything on exit.
# BENCH_DURATION (10s), BENCH_WARMUP (3s) and BENCH_BACKENDS ("sqlite postgres") change the run.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh  # free_port, start_redis/stop_redis, start_postgres/stop_postgres (throwaway cluster)

duration=${BENCH_DURATION:-10s}
warmup=${BENCH_WARMUP:-3s}
backends=${BENCH_BACKENDS:-sqlite postgres}
work=$(mktemp -d /tmp/portal-bench.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  stop_postgres "$work/pg"
  stop_redis "$work"
  rm -rf "$work"
}
trap cleanup EXIT

redis_port=$(free_port)
start_redis "$work" "$redis_port"
export REDIS_URL="redis://127.0.0.1:$redis_port/0" SECRET_KEY=bench-secret-key PASSWORD_HASH_PROFILE=fast \
  RATELIMIT_ENABLED=false PORTAL_DOTENV=/dev/null

# serve NAME PORT ARGS… — gunicorn with 2 workers in the background; returns once it answers HTTP.
serve() {
  local name=$1 port=$2
  shift 2
  .venv/bin/gunicorn -w 2 -b "127.0.0.1:$port" "$@" >"$work/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/") != 000 ]] && return 0
    sleep 0.1
  done
  echo "$name did not start; its log:" >&2; cat "$work/$name.log" >&2; return 1
}

csrf_of() { grep -o 'name="csrf_token"[^>]*' | head -n 1 | sed -E 's/.*value="([^"]*)".*/\1/'; }

# to_ms VALUE — wrk's "850.00us" / "12.34ms" / "1.02s" in milliseconds.
to_ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /[0-9]s$/) n *= 1000; if (v ~ /m$/) n *= 60000; printf "%.2f", n }'; }

# drive NAME URL — warm up, then the measured wrk run; sets rps, p99 and bad (answers other than 200).
drive() {
  wrk -t2 -c8 -d"$warmup" -s bench/toggle.lua "$2" >/dev/null
  wrk -t2 -c8 -d"$duration" --latency -s bench/toggle.lua "$2" | tee "$work/$1.wrk" | sed 's/^/    /'
  rps=$(awk '/^Requests\/sec:/ { print $2 }' "$work/$1.wrk")
  p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$work/$1.wrk")")
  bad=$(awk '/^not-200 answers:/ { print $3 }' "$work/$1.wrk")
  requests=$(awk '/requests in/ { print $1 }' "$work/$1.wrk")
}

activity_rows() {
  .venv/bin/python -c 'import os, sqlalchemy as sa; from portal.config import _normalise_db_url as n
e = sa.create_engine(n(os.environ["DATABASE_URL"]))
with e.connect() as c: print(c.scalar(sa.text("select count(*) from activity where action in (:a, :b)"), {"a": "service.suspended", "b": "service.resumed"}))'
}

results=()
for backend in $backends; do
  echo "==> $backend"
  if [[ $backend == sqlite ]]; then
    export DATABASE_URL="sqlite:///$work/bench.db"
  else
    pg_port=$(free_port)
    start_postgres "$work/pg" "$pg_port"  # creates the database portal_test
    export DATABASE_URL="postgresql://postgres@127.0.0.1:$pg_port/portal_test"
  fi
  .venv/bin/flask --app app db upgrade >"$work/$backend-migrate.log" 2>&1
  .venv/bin/flask --app app seed-demo --password demo-pass-1234 >/dev/null
  .venv/bin/python bench/bare_app.py
  portal_port=$(free_port); bare_port=$(free_port)
  serve "$backend-portal" "$portal_port" app:app
  serve "$backend-bare" "$bare_port" --pythonpath bench bare_app:app
  base="http://127.0.0.1:$portal_port"

  jar="$work/$backend.cookies"
  token=$(curl -sSf -c "$jar" "$base/login" | csrf_of)
  code=$(curl -s -b "$jar" -c "$jar" -o /dev/null -w '%{http_code}' --data-urlencode "csrf_token=$token" \
    -d organization=demo -d login_id=admin -d password=demo-pass-1234 "$base/login")
  [[ $code == 303 ]] || { echo "log-in answered $code, not 303" >&2; exit 1; }
  BENCH_CSRF=$(curl -sSf -b "$jar" -c "$jar" "$base/admin/services" | csrf_of)  # login starts a new session
  BENCH_COOKIE="session=$(awk '$6 == "session" { print $7 }' "$jar")"
  export BENCH_CSRF BENCH_COOKIE
  url="$base/admin/services/support/status"
  for to in suspended active; do  # the request wrk will send must really toggle and render the row
    row=$(curl -s -w " HTTP %{http_code}" -H 'HX-Request: true' -H "X-CSRFToken: $BENCH_CSRF" -H "Cookie: $BENCH_COOKIE" -d "to=$to" "$url")
    grep -q "status-row-$to" <<<"$row" || { echo "toggle to $to did not render the row: $row" >&2; exit 1; }
  done

  before=$(activity_rows)
  echo "  portal: POST $url"
  drive "$backend-portal" "$url"
  portal_rps=$rps portal_p99=$p99 portal_bad=$bad
  flips=$(( $(activity_rows) - before ))
  echo "  status changes written: $flips of $requests requests (the rest found the status already set)"
  echo "  bare: POST http://127.0.0.1:$bare_port/flip"
  drive "$backend-bare" "http://127.0.0.1:$bare_port/flip"
  ratio=$(awk -v p="$portal_rps" -v b="$rps" 'BEGIN { printf "%.2f", p / b }')
  met=$(awk -v r="$ratio" -v p="$portal_p99" 'BEGIN { printf "ratio>=0.50 %s, p99<25ms %s", (r >= 0.5 ? "yes" : "NO"), (p < 25 ? "yes" : "NO") }')
  results+=("$backend|portal toggle|$portal_rps|$portal_p99|$ratio|$met|$portal_bad")
  results+=("$backend|bare flip|$rps|$p99| | |$bad")

  for pid in "${pids[@]}"; do kill "$pid"; wait "$pid" 2>/dev/null || true; done
  pids=()
done

echo
echo "wrk -t2 -c8 -d$duration, gunicorn -w 2, $(nproc) CPUs, $(date -u '+%Y-%m-%d %H:%M UTC')"
printf '| %-8s | %-13s | %8s | %7s | %11s | %-30s | %7s |\n' backend endpoint 'req/s' 'p99 ms' 'portal/bare' 'targets' 'not-200'
printf '|%s|%s|%s|%s|%s|%s|%s|\n' ---------- --------------- ---------: --------: ------------: -------------------------------- --------:
for row in "${results[@]}"; do
  IFS='|' read -r b e r p q m n <<<"$row"
  printf '| %-8s | %-13s | %8s | %7s | %11s | %-30s | %7s |\n' "$b" "$e" "$r" "$p" "$q" "$m" "$n"
done
