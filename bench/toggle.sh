#!/usr/bin/env bash
# Status-toggle benchmark (see bench/README.md). For SQLite (WAL) and then PostgreSQL: migrate + seed,
# start `gunicorn -w 2` for the portal and for bench/bare_app.py on the same database, log in, warm up,
# drive each with `wrk -t2 -c8 -d10s --latency -s bench/toggle.lua`, print req/s, p99, the ratio and
# the workers' CPU per request.
# Starts its own Redis and PostgreSQL on free loopback ports and stops everything on exit.
# BENCH_DURATION (10s), BENCH_WARMUP (3s) and BENCH_BACKENDS ("sqlite postgres") change the run.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -n ${BENCH_NO_BOOTSTRAP:-} ]] || scripts/bootstrap.sh --test  # .venv, Redis, PostgreSQL, compiled translations (BENCH_NO_BOOTSTRAP=1: a shared .venv is left alone)
sudo=(); [[ $(id -u) -ne 0 ]] && sudo=(sudo)
command -v wrk >/dev/null || { "${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y -qq wrk >/dev/null; }
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
  server_pid=$!
  for _ in $(seq 100); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/") != 000 ]] && return 0
    sleep 0.1
  done
  echo "$name did not start; its log:" >&2; cat "$work/$name.log" >&2; return 1
}

csrf_of() { grep -o 'name="csrf_token"[^>]*' | head -n 1 | sed -E 's/.*value="([^"]*)".*/\1/'; }

# to_ms VALUE — wrk's "850.00us" / "12.34ms" / "1.02s" in milliseconds.
to_ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /[0-9]s$/) n *= 1000; if (v ~ /m$/) n *= 60000; printf "%.2f", n }'; }

# worker_ticks PID — CPU clock ticks used so far by the gunicorn workers (children) of master PID.
worker_ticks() {
  local total=0 child
  for child in $(pgrep -P "$1"); do total=$(( total + $(sed 's/.*) //' "/proc/$child/stat" | awk '{ print $12 + $13 }') )); done
  echo "$total"
}

warm() { wrk -t2 -c8 -d"$warmup" -s bench/toggle.lua "$1" >/dev/null; }

# drive NAME URL PID — the measured wrk run against gunicorn PID; sets rps, p99 (ms), bad (answers other
# than 200), requests and cpu (worker CPU ms per request: steadier than req/s on a busy machine).
drive() {
  local ticks
  ticks=$(worker_ticks "$3")
  wrk -t2 -c8 -d"$duration" --latency -s bench/toggle.lua "$2" | tee "$work/$1.wrk" | sed 's/^/    /'
  ticks=$(( $(worker_ticks "$3") - ticks ))
  rps=$(awk '/^Requests\/sec:/ { print $2 }' "$work/$1.wrk")
  p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$work/$1.wrk")")
  bad=$(awk '/^not-200 answers:/ { print $3 }' "$work/$1.wrk")
  requests=$(awk '/requests in/ { print $1 }' "$work/$1.wrk")
  cpu=$(awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" -v n="$requests" 'BEGIN { printf "%.2f", t * 1000 / hz / n }')
}

# activity_rows — how many status changes the activity trail holds.
activity_rows() {
  .venv/bin/python -c 'import os, sqlalchemy as sa
url = os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1)
with sa.create_engine(url).connect() as c:
    print(c.scalar(sa.text("select count(*) from activity where action in (:a, :b)"), {"a": "service.suspended", "b": "service.resumed"}))'
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
  portal_pid=$server_pid
  serve "$backend-bare" "$bare_port" --pythonpath bench bare_app:app
  bare_pid=$server_pid
  base="http://127.0.0.1:$portal_port"

  jar="$work/$backend.cookies"
  token=$(curl -sSf -A portal-bench -c "$jar" "$base/login" | csrf_of)
  code=$(curl -s -A portal-bench -b "$jar" -c "$jar" -o /dev/null -w '%{http_code}' --data-urlencode "csrf_token=$token" \
    -d organization=demo -d login_id=admin -d password=demo-pass-1234 "$base/login")
  [[ $code == 303 ]] || { echo "log-in answered $code, not 303" >&2; exit 1; }
  BENCH_CSRF=$(curl -sSf -A portal-bench -b "$jar" -c "$jar" "$base/admin/services" | csrf_of)  # login starts a new session
  BENCH_COOKIE="session=$(awk '$6 == "session" { print $7 }' "$jar")"
  export BENCH_CSRF BENCH_COOKIE
  url="$base/admin/services/support/status"
  for to in suspended active; do  # the request wrk will send must really toggle and render the row
    row=$(curl -s -A portal-bench -D "$work/headers" -w " HTTP %{http_code}" -H 'HX-Request: true' -H "X-CSRFToken: $BENCH_CSRF" -H "Cookie: $BENCH_COOKIE" -d "to=$to" "$url")
    grep -q "status-row-$to" <<<"$row" || { echo "toggle to $to did not render the row: $row" >&2; exit 1; }
    if grep -qi '^set-cookie' "$work/headers"; then echo "  warning: the toggle re-sends the session cookie" >&2; fi
  done

  echo "  portal: POST $url"
  warm "$url"
  before=$(activity_rows)
  drive "$backend-portal" "$url" "$portal_pid"
  portal_rps=$rps portal_p99=$p99 portal_bad=$bad portal_cpu=$cpu
  echo "  activity rows written: $(( $(activity_rows) - before )) for $requests requests"
  echo "  bare: POST http://127.0.0.1:$bare_port/flip"
  warm "http://127.0.0.1:$bare_port/flip"
  drive "$backend-bare" "http://127.0.0.1:$bare_port/flip" "$bare_pid"
  ratio=$(awk -v p="$portal_rps" -v b="$rps" 'BEGIN { printf "%.2f", p / b }')
  met=$(awk -v p="$portal_rps" -v b="$rps" -v l="$portal_p99" \
    'BEGIN { printf "ratio>=0.50 %s, p99<25ms %s", (p >= 0.5 * b ? "yes" : "NO"), (l < 25 ? "yes" : "NO") }')
  results+=("$backend|portal toggle|$portal_rps|$portal_p99|$ratio|$met|$portal_cpu|$portal_bad")
  results+=("$backend|bare flip|$rps|$p99| | |$cpu|$bad")

  for pid in "${pids[@]}"; do kill "$pid"; wait "$pid" 2>/dev/null || true; done
  pids=()
done

echo
commit=$(git describe --always --dirty 2>/dev/null || echo "no git")
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit, $(nproc) CPUs, gunicorn -w 2, wrk -t2 -c8 -d$duration"
row='| %-8s | %-13s | %8s | %7s | %11s | %-28s | %10s | %7s |\n'
printf "$row" backend endpoint 'req/s' 'p99 ms' 'portal/bare' targets 'CPU ms/req' 'not-200'
printf '|%s|%s|%s|%s|%s|%s|%s|%s|\n' ---------- --------------- ---------: --------: ------------: \
  ------------------------------ -----------: --------:
for result in "${results[@]}"; do
  IFS='|' read -r -a cells <<<"$result"
  printf "$row" "${cells[@]}"
done
