# Helpers shared by scripts/dev.sh and scripts/test.sh (sourced, not run).

free_port() {
  .venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_redis DIR PORT — a throwaway Redis on loopback, nothing written to disk.
start_redis() {
  redis-server --bind 127.0.0.1 --port "$2" --save "" --appendonly no --daemonize yes \
    --pidfile "$1/redis.pid" --logfile "$1/redis.log" --dir "$1"
  for _ in $(seq 50); do redis-cli -p "$2" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "Redis did not start; see $1/redis.log" >&2; return 1
}

stop_redis() {
  [[ -f "$1/redis.pid" ]] && kill "$(cat "$1/redis.pid")" 2>/dev/null || true
}

# PostgreSQL runs as the `postgres` user when we are root (initdb refuses root).
pg_run() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# start_postgres DIR PORT — a throwaway cluster on loopback, trust auth, no fsync (tests only).
start_postgres() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  mkdir -p "$1"
  [[ $(id -u) -eq 0 ]] && chown postgres "$1"
  pg_run "$bin/initdb" -D "$1/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  pg_run "$bin/pg_ctl" -D "$1/data" -l "$1/postgres.log" -w -o \
    "-p $2 -k $1 -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" start >/dev/null
  pg_run "$bin/createdb" -h 127.0.0.1 -p "$2" -U postgres portal_test
}

stop_postgres() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  [[ -d "$1/data" ]] && pg_run "$bin/pg_ctl" -D "$1/data" -m immediate stop >/dev/null 2>&1 || true
}
