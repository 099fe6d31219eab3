#!/usr/bin/env bash
# Permission log paging benchmark (see bench/README.md). For SQLite and then PostgreSQL: migrate, seed the
# demo, create the `bench` organization (demo roster, empty log), time `flask seed-load --permission-log
# BENCH_ROWS --domain bench`, then run bench/permission_log.py (first, walked and deep page of each filter,
# medians, query plans). Starts a throwaway PostgreSQL on a free loopback port and stops it on exit.
#   BENCH_ROWS (2000000)  BENCH_BACKENDS ("sqlite postgres")  BENCH_RUNS (7)  BENCH_PLANS=1 prints the plans
#   BENCH_DOMAIN=demo     load into the demo organization, as the issue's recipe says (see README: the rows
#                         then all fall within a few seconds)
#   BENCH_KEEP=DIR        keep the databases and results in DIR and reuse a loaded database on the next run
#   BENCH_SQLITE_ANALYZE=1  run ANALYZE on SQLite first too (PostgreSQL always gets VACUUM ANALYZE)
# Extra arguments go to `bench/permission_log.py run` (e.g. --walk 400 --jump 500000).
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -x .venv/bin/python ]] && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || scripts/bootstrap.sh --test
source scripts/lib.sh  # free_port, pg_run, start_postgres/stop_postgres

rows=${BENCH_ROWS:-2000000}
backends=${BENCH_BACKENDS:-sqlite postgres}
domain=${BENCH_DOMAIN:-bench}
runs=${BENCH_RUNS:-7}
if [[ -n "${BENCH_KEEP:-}" ]]; then
  work=$(mkdir -p "$BENCH_KEEP" && cd "$BENCH_KEEP" && pwd)
else
  work=$(mktemp -d /tmp/portal-bench-log.XXXXXX)
fi
chmod 755 "$work"
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
cleanup() {
  stop_postgres "$work/pg"
  if [[ -z "${BENCH_KEEP:-}" ]]; then rm -rf "$work"; fi
}
trap cleanup EXIT
export SECRET_KEY=bench-secret-key PASSWORD_HASH_PROFILE=fast RATELIMIT_ENABLED=false PORTAL_DOTENV=/dev/null
flask=(.venv/bin/flask --app app)
plans=(); [[ "${BENCH_PLANS:-}" == 1 ]] && plans=(--plans)

# load BACKEND — schema (always upgraded), then demo, bench organization and the bulk rows unless a kept
# database already has them.
load() {
  "${flask[@]}" db upgrade >/dev/null 2>&1
  if [[ -f "$work/$1.$domain.loaded" ]]; then
    echo "==> $1: reusing the loaded database in $work ($(cat "$work/$1.$domain.loaded"))"
    return
  fi
  "${flask[@]}" seed-demo --password demo-pass-1234 >/dev/null
  [[ "$domain" == demo ]] || .venv/bin/python bench/permission_log.py prepare --domain "$domain"
  echo "==> $1: flask seed-load --permission-log $rows --domain $domain"
  local t0 t1
  t0=$(date +%s.%N)
  "${flask[@]}" seed-load --permission-log "$rows" --domain "$domain" | tail -n 1
  t1=$(date +%s.%N)
  local took
  took=$(.venv/bin/python -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.0f} s')" "$t0" "$t1")
  echo "==> $1: seed-load took $took"
  echo "seed-load of $rows rows took $took" >"$work/$1.$domain.loaded"
}

for backend in $backends; do
  echo
  case $backend in
    sqlite)
      export DATABASE_URL="sqlite:///$work/portal.$domain.db"
      load sqlite
      echo "==> sqlite: database file $(du -h "$work/portal.$domain.db" | cut -f1)"
      analyze=(); [[ "${BENCH_SQLITE_ANALYZE:-}" == 1 ]] && analyze=(--analyze)
      ;;
    postgres)
      port=$(free_port)
      if [[ -d "$work/pg/data" ]]; then
        pg_run "$pg_bin/pg_ctl" -D "$work/pg/data" -l "$work/pg/postgres.log" -w -o \
          "-p $port -k $work/pg -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
          start >/dev/null
      else
        start_postgres "$work/pg" "$port"
      fi
      export DATABASE_URL="postgresql://postgres@127.0.0.1:$port/portal_test"
      load postgres
      echo "==> postgres: permission_change with indexes $(pg_run "$pg_bin/psql" -h 127.0.0.1 -p "$port" -U postgres \
        -Atc "select pg_size_pretty(pg_total_relation_size('permission_change'))" portal_test)"
      analyze=(--analyze)
      ;;
    *) echo "unknown backend $backend" >&2; exit 2 ;;
  esac
  .venv/bin/python bench/permission_log.py run --domain "$domain" --runs "$runs" "${analyze[@]}" "${plans[@]}" \
    --json "$work/results-$backend-$domain.json" "$@"
  if [[ $backend == postgres ]]; then stop_postgres "$work/pg"; fi
done
if [[ -n "${BENCH_KEEP:-}" ]]; then echo "results (with plans) in $work/results-*.json"; fi
