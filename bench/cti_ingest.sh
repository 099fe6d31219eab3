#!/usr/bin/env bash
# CTI ingest benchmark (see bench/README.md). For SQLite (WAL) and then PostgreSQL: migrate + seed the demo, give
# BENCH_AGENTS phone agents of `support` CTI credentials, issue an organization API key, start `gunicorn -w 2` for
# the portal and for bench/cti_ingest_bare.py on the same database, and post the same simulated event streams
# (`flask cti simulate`) to the portal and to the bare app's two endpoints (same rows; insert only): on 4
# connections in batches of 20 and of 1, and on one connection. Prints events/s, request p50/p99, the ratios
# portal/same-rows (the target) and portal/insert-only, the workers' CPU per event and the rows each wrote.
# Starts its own Redis and PostgreSQL on free loopback ports and stops everything on exit.
# BENCH_RUNS ("4x20 4x1 1x20": connections x events per request), BENCH_CALLS (1000 calls ≈ 4,000 events on
# BENCH_AGENTS connections at batch 20; fewer on fewer connections, a quarter at batch 1), BENCH_AGENTS (4: the
# streams, one per agent; never more connections than agents) and BENCH_BACKENDS ("sqlite postgres").
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --test  # .venv, Redis, PostgreSQL, compiled translations
source scripts/lib.sh  # free_port, start_redis/stop_redis, start_postgres/stop_postgres (throwaway cluster)

calls=${BENCH_CALLS:-1000}
agents=${BENCH_AGENTS:-4}
runs=${BENCH_RUNS:-4x20 4x1 1x20}
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

# worker_ticks PID — CPU clock ticks used so far by the gunicorn workers (children) of master PID.
worker_ticks() {
  local total=0 child
  for child in $(pgrep -P "$1"); do total=$(( total + $(sed 's/.*) //' "/proc/$child/stat" | awk '{ print $12 + $13 }') )); done
  echo "$total"
}

# setup_agents — BENCH_AGENTS phone agents of `support` with CTI credentials (the demo has three: agent01,
# agent201, manager01; more are created as cti01, cti02, …), then a new organization API key, printed. For the
# bare app's same-rows endpoint: as many members of its own (bare01, …), one per CTI ID, and the demo's `shop` as
# its service, written to $BARE_CONFIG.
setup_agents() {
  BENCH_AGENTS=$agents .venv/bin/python - <<'EOF'
import json
import os

from sqlalchemy import select

from app import app
from portal.devtools.demo import DEMO_DOMAIN, demo_cti_agents
from portal.extensions import db
from portal.models import Organization, Service
from portal.services import Actor
from portal.services.accounts import create_member
from portal.services.organizations import rotate_api_key

with app.app_context():
    cti_ids = demo_cti_agents(int(os.environ["BENCH_AGENTS"]))
    org = db.session.scalars(select(Organization).where(Organization.domain == DEMO_DOMAIN)).one()
    shop = db.session.scalars(select(Service).where(Service.organization_id == org.id,
                                                    Service.service_key == "shop")).one()
    bare = {cti_id: create_member(org.id, login_id=f"bare{n:02d}", name=f"Bare {n}", email=f"bare{n:02d}@demo.example")
            for n, cti_id in enumerate(cti_ids, 1)}
    key = rotate_api_key(Actor(org.id, None), org)
    db.session.commit()
    with open(os.environ["BARE_CONFIG"], "w") as f:
        json.dump({"organization_id": org.id, "service_id": shop.id,
                   "agents": {cti_id: member.id for cti_id, member in bare.items()}}, f)
    print(key)
EOF
}

# row_counts — rows in the tables the ingest writes, the portal's (service `support`) and then the same-rows
# floor's (service `shop`): events, calls, tickets, state intervals; then bench_cti_event (insert only).
row_counts() {
  .venv/bin/python -c 'import json, os, sqlalchemy as sa
url = os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1)
bare = json.load(open(os.environ["BARE_CONFIG"]))
with sa.create_engine(url).connect() as c:
    counts = []
    for service in (c.scalar(sa.text("select id from service where service_key = :k"), {"k": "support"}), bare["service_id"]):
        counts += [c.scalar(sa.text(f"select count(*) from {t} where service_id = :s"), {"s": service})
                   for t in ("cti_event", "call", "ticket", "agent_state_interval")]
    print(*counts, c.scalar(sa.text("select count(*) from bench_cti_event")))'
}

# reset_agents — every agent back to no state and no telephony event seen (no interval, no last_cti_event_at).
# Each run's streams end just before now and start hours earlier, so without this every event of a run would be
# older than the previous run's last one: late (SPEC 4.3), stored with an error and driving no state.
reset_agents() {
  .venv/bin/python -c 'import os, sqlalchemy as sa
url = os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1)
with sa.create_engine(url).begin() as c:
    c.execute(sa.text("delete from agent_state_interval"))
    c.execute(sa.text("update member set last_cti_event_at = null"))'
}

# simulate URL CONNECTIONS BATCH CALLS — `flask cti simulate` against URL: the same BENCH_AGENTS agents every time,
# and a fixed seed, so portal and bare get the same mix of events.
simulate() {
  .venv/bin/flask --app app cti simulate --service support --domain demo --agents "$agents" --concurrency "$2" \
    --calls "$4" --url "$1" --key "$key" --batch "$3" --seed 7
}

# drive NAME URL PID CONNECTIONS BATCH CALLS — one measured run; sets rate, p50, p99, events, errors (rejected +
# kept with an error) and cpu (worker CPU ms per event: steadier than events/s on a busy machine). When the
# simulator gives up (an answer other than 200/422/429), rate is "FAILED" and the server's last error is shown.
drive() {
  local ticks out summary
  ticks=$(worker_ticks "$3")
  if ! out=$(simulate "$2" "$4" "$5" "$6" 2>&1); then
    sed 's/^/    /' <<<"$out" | cut -c 1-200
    echo "    the server's last error: $(grep -E '^[a-zA-Z_.]+(Error|Exception):' "$work/$1.log" | tail -n 1 | cut -c 1-200)"
    { grep -E '^DETAIL:' "$work/$1.log" || true; } | tail -n 1 | sed 's/^/      /'
    rate=FAILED p50=- p99=- events=- errors=- cpu=-
    return 0
  fi
  ticks=$(( $(worker_ticks "$3") - ticks ))
  sed 's/^/    /' <<<"$out"
  summary=$(grep 'events/s' <<<"$out")
  events=$(sed -E 's/^([0-9]+) events.*/\1/' <<<"$summary")
  rate=$(sed -E 's/.*: ([0-9]+) events\/s.*/\1/' <<<"$summary")
  p50=$(sed -E 's/.*p50 ([0-9]+) ms.*/\1/' <<<"$summary")
  p99=$(sed -E 's/.*p99 ([0-9]+) ms.*/\1/' <<<"$summary")
  errors=$(sed -E 's/.*rejected ([0-9]+), kept with an error ([0-9]+).*/\1+\2/' <<<"$summary")
  cpu=$(awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" -v n="$events" 'BEGIN { printf "%.2f", t * 1000 / hz / n }')
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
  export BARE_CONFIG="$work/$backend-bare.json"
  key=$(setup_agents | tail -n 1)
  .venv/bin/python bench/cti_ingest_bare.py
  portal_port=$(free_port); bare_port=$(free_port)
  serve "$backend-portal" "$portal_port" app:app
  portal_pid=$server_pid
  serve "$backend-bare" "$bare_port" --pythonpath bench cti_ingest_bare:app
  bare_pid=$server_pid
  portal="http://127.0.0.1:$portal_port" bare="http://127.0.0.1:$bare_port"

  echo "  warm-up: 50 calls to each, one connection"
  drive "$backend-portal" "$portal" "$portal_pid" 1 20 50 >/dev/null
  drive "$backend-bare" "$bare" "$bare_pid" 1 20 50 >/dev/null
  drive "$backend-bare" "$bare/insert" "$bare_pid" 1 20 50 >/dev/null
  for run in $runs; do
    connections=${run%x*} batch=${run#*x}
    n=$(( calls * connections / agents ))  # fewer calls where each event costs more wall time
    (( batch == 1 )) && n=$(( n / 4 ))
    reset_agents
    before=($(row_counts))
    echo "  portal: $agents agents on $connections connection(s), batch $batch, $n calls → $portal/api/v1/cti/events"
    drive "$backend-portal" "$portal" "$portal_pid" "$connections" "$batch" "$n"
    portal_rate=$rate portal_p50=$p50 portal_p99=$p99 portal_cpu=$cpu portal_errors=$errors portal_events=$events
    echo "  bare, same rows: the same, → $bare/api/v1/cti/events"
    drive "$backend-bare" "$bare" "$bare_pid" "$connections" "$batch" "$n"
    same_rate=$rate same_p50=$p50 same_p99=$p99 same_cpu=$cpu same_errors=$errors same_events=$events
    after=($(row_counts))
    for i in 0 4; do
      echo "    rows written by the $([[ $i == 0 ]] && echo "portal:   " || echo "same rows:")" \
        "cti_event +$(( after[i] - before[i] )), call +$(( after[i+1] - before[i+1] )), ticket" \
        "+$(( after[i+2] - before[i+2] )), agent_state_interval +$(( after[i+3] - before[i+3] ))"
    done
    echo "  bare, insert only: the same, → $bare/insert/api/v1/cti/events"
    drive "$backend-bare" "$bare/insert" "$bare_pid" "$connections" "$batch" "$n"
    ratio=$(awk -v p="$portal_rate" -v b="$same_rate" 'BEGIN { if (p + 0 > 0 && b + 0 > 0) printf "%.2f", p / b; else printf "-" }')
    ratio_insert=$(awk -v p="$portal_rate" -v b="$rate" 'BEGIN { if (p + 0 > 0 && b + 0 > 0) printf "%.2f", p / b; else printf "-" }')
    met=$(awk -v r="$ratio" 'BEGIN { printf "same>=0.50 %s", (r != "-" && r >= 0.5 ? "yes" : "NO") }')
    results+=("$backend|$connections|$batch|portal ingest|$portal_events|$portal_rate|$portal_p50|$portal_p99|$ratio|$ratio_insert|$met|$portal_cpu|$portal_errors")
    results+=("$backend|$connections|$batch|bare same rows|$same_events|$same_rate|$same_p50|$same_p99| | | |$same_cpu|$same_errors")
    results+=("$backend|$connections|$batch|bare insert|$events|$rate|$p50|$p99| | | |$cpu|$errors")
  done
  echo "  rows now (cti_event, call, ticket, agent_state_interval of the portal, then of the same rows;" \
    "bench_cti_event): $(row_counts)"

  for pid in "${pids[@]}"; do kill "$pid"; wait "$pid" 2>/dev/null || true; done
  pids=()
done

echo
commit=$(git describe --always --dirty 2>/dev/null || echo "no git")
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit, $(nproc) CPUs, gunicorn -w 2, $agents agents, BENCH_CALLS=$calls"
row='| %-8s | %5s | %5s | %-14s | %6s | %8s | %6s | %6s | %11s | %13s | %-14s | %12s | %6s |\n'
printf "$row" backend conns batch endpoint events 'events/s' 'p50 ms' 'p99 ms' 'portal/same' 'portal/insert' target \
  'CPU ms/event' errors
printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' ---------- ------: ------: ---------------- -------: ---------: \
  -------: -------: ------------: --------------: ---------------- -------------: -------:
for result in "${results[@]}"; do
  IFS='|' read -r -a cells <<<"$result"
  printf "$row" "${cells[@]}"
done
