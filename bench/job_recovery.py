"""Recovery of a check whose worker is killed (see bench/README.md, "Killed check → resumed").

With the production defaults (heartbeat every JOB_HEARTBEAT_SECONDS = 10 s, stale after JOB_STALE_SECONDS = 60 s,
worker tick PORTAL_WORKER_MAINTENANCE_SECONDS = 30 s): a fresh SQLite (or --db) schema, an organization with one
service and agent, a file of --rows rows uploaded and its check enqueued as the upload route does. Two real
`rq worker -w jobs.worker.PortalWorker` processes run; once the check reports progress, the one running it is
killed with SIGKILL (its process group and its work horse). Nobody runs a sweep: the survivor's reconciler must
notice the stale heartbeat and run the check again. Printed, never asserted:

- kill → resumed: until the second attempt started (the batch's check_attempts is 2);
- kill → checked: until the batch is ready;
- the floor of the same run: from the kill until the last heartbeat written before it is stale (a restart cannot
  come sooner), and the ratio resumed / floor; the rest is the wait for the next worker tick (at most one tick);
- the goal: resumed within 120 s.

    .venv/bin/python bench/job_recovery.py                           # SQLite, 20,000 rows, Redis DB 2
    .venv/bin/python bench/job_recovery.py --db postgresql+psycopg://postgres@127.0.0.1:5433/throwaway

A PostgreSQL database given with --db is emptied (DROP SCHEMA public CASCADE): give a throwaway one. The Redis
database (--redis-url) must be yours: the script refuses to start when jobs are queued there, and empties it at
the end.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PORTAL_DOTENV", "/dev/null")
for name in ("JOB_HEARTBEAT_SECONDS", "JOB_STALE_SECONDS", "PORTAL_WORKER_MAINTENANCE_SECONDS"):
    os.environ.pop(name, None)  # the production defaults, here and in the workers

from bench.migration import fresh_schema, generate, make_app, queued_jobs, seed, worker_env  # noqa: E402

GOAL_SECONDS = 120


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    children.setdefault(int(f.read().rsplit(")", 1)[1].split()[1]), []).append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def start_worker(database_url: str, redis_url: str, log: Path) -> subprocess.Popen:
    command = [str(Path(sys.executable).parent / "rq"), "worker", "-w", "jobs.worker.PortalWorker", "--url",
               redis_url, "--path", str(ROOT), "default", "scheduled"]
    return subprocess.Popen(command, cwd=ROOT, env=worker_env(database_url, redis_url), stdout=open(log, "ab"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def kill(proc: subprocess.Popen) -> None:
    """SIGKILL the worker and its work horse (which calls setpgrp: a group of its own) at once."""
    pids = [proc.pid] + descendants(proc.pid)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=10)


def wait_for(predicate, what: str, timeout: float, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    sys.exit(f"timed out after {timeout:.0f} s waiting for {what}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="sqlite", help="'sqlite' (a temp file) or a throwaway PostgreSQL URL")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/2")
    parser.add_argument("--rows", type=int, default=20_000)
    args = parser.parse_args()

    from rq import Worker

    from portal.extensions import db
    from portal.models import BatchStatus, MigrationBatch, Service
    from portal.queue import get_redis
    from portal.services import Actor, migration
    from portal.services.jobs import start_job

    workdir = Path(tempfile.mkdtemp(prefix="job-recovery-"))
    database_url = f"sqlite:///{workdir}/bench.db" if args.db == "sqlite" else args.db
    app = make_app(database_url, args.redis_url)
    if queued_jobs(app):
        sys.exit(f"jobs are queued in {args.redis_url}: another user's? Give a Redis database of your own.")
    fresh_schema(app)
    ids = seed(app)
    path = workdir / "tickets.xlsx"
    generate(ids["template"], args.rows, path)
    config = app.config
    print(f"heartbeat every {config['JOB_HEARTBEAT_SECONDS']:.0f} s, stale after {config['JOB_STALE_SECONDS']:.0f} s, "
          f"worker tick {config['WORKER_TICK_SECONDS']:.0f} s; {args.rows:,} rows; {database_url.split(':')[0]}")

    def batch() -> MigrationBatch:
        with app.app_context():
            row = db.session.get(MigrationBatch, batch_id)
            db.session.expunge(row)
            return row

    workers = []
    try:
        workers.append(start_worker(database_url, args.redis_url, workdir / "worker-1.log"))
        with app.app_context():
            batch_id = migration.upload(Actor(ids["org"], ids["admin"]), db.session.get(Service, ids["desk"]),
                                        "tickets.xlsx", path.read_bytes()).id
            start_job("migration.check", batch_id, organization_id=ids["org"], member_id=ids["admin"])
            db.session.commit()
        wait_for(lambda: batch().progress > 0, "the check to report progress", 120, every=0.02)
        workers.append(start_worker(database_url, args.redis_url, workdir / "worker-2.log"))
        with app.app_context():
            wait_for(lambda: len(Worker.all(connection=get_redis())) >= 2, "the second worker to listen", 60)
        last_beat = batch().heartbeat_at
        killed_at = datetime.now(timezone.utc)
        kill(workers[0])
        left = batch()
        if left.status != BatchStatus.checking:
            sys.exit(f"the check ended before the kill ({left.status.value}); give more --rows")
        print(f"killed at {left.progress} %, {(killed_at - last_beat).total_seconds():.1f} s after the last heartbeat")

        resumed = wait_for(lambda: (b := batch()).check_attempts >= 2 and b, "the check to start again", 300)
        resumed_s = (resumed.heartbeat_at - killed_at).total_seconds()  # begin_check stamps the new attempt
        done = wait_for(lambda: (b := batch()).status != BatchStatus.checking and b, "the check to end", 300)
        floor_s = (last_beat - killed_at).total_seconds() + config["JOB_STALE_SECONDS"]
        met = "met" if resumed_s <= GOAL_SECONDS else "NOT met"
        print(f"kill → resumed   {resumed_s:6.1f} s   (goal {GOAL_SECONDS} s: {met})")
        print(f"kill → {done.status.value:<9} {(done.finished_at - killed_at).total_seconds():6.1f} s   "
              f"({done.rows:,} rows, attempts {done.check_attempts})")
        print(f"floor (heartbeat stale) {floor_s:6.1f} s   resumed / floor {resumed_s / floor_s:.2f}   "
              f"waited for the tick {resumed_s - floor_s:.1f} s (at most {config['WORKER_TICK_SECONDS']:.0f} s)")
    finally:
        for proc in workers:
            if proc.poll() is None:
                kill(proc)
        with app.app_context():
            get_redis().flushdb()
        print(f"logs in {workdir}")


if __name__ == "__main__":
    main()
