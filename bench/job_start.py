"""How long a job waits to start: enqueue → finished, one job at a time (see bench/README.md, "Job start-up").

For each database (a SQLite file in a temp dir, or a PostgreSQL URL given with --db, which is emptied: give a
throwaway one): a freshly migrated schema, an organization with a service (after-call work limit 60 s) and agents,
a small day of CTI events (--events, 500) and a 50-row migration file. Then real `rq worker` processes, each in
turn, started and left idle until registered, get jobs one at a time (the next is enqueued once the last finished):

- floor: a plain `rq worker` running `os.getpid` — RQ's own dequeue, fork, bookkeeping; no portal at all;
- app in each horse: a plain `rq worker` (no `-w`) running portal jobs — each work horse imports the portal and
  builds the app, what every job paid before the worker built it once (--slow-jobs of them, 4);
- before: `rq worker -w jobs.worker.PortalWorker` from the revision given with --before (an exported copy of it);
- portal: `rq worker -w jobs.worker.PortalWorker` of this checkout.

The portal jobs: `os.getpid` (the fork of a big parent), an empty untracked job (`agents.sweep` finding nothing), an
empty tracked job (`demo.count_to(1)`: claimed, committed, a progress commit, finished), a CTI log export of the
small day, a migration check of 50 rows and the after-call-work return (`agents.after_call_timeout` of an agent
whose limit ran out an hour ago). Each time is RQ's own: the job's `enqueued_at` → `ended_at`. Printed: p50 and
p99 (of --jobs, 30, per job; 10 for the three real jobs), p50 / floor p50, the worker's CPU ms per job (the
worker and the horses it reaped, from /proc), and whether the empty jobs meet the target (< 100 ms).

    .venv/bin/python bench/job_start.py                                   # SQLite; about a minute
    .venv/bin/python bench/job_start.py --db sqlite --db postgresql+psycopg://postgres@127.0.0.1:5433/throwaway \\
        --before 9c0c73c

The Redis database (--redis-url, default BENCH_REDIS_URL or redis://127.0.0.1:6379/13) must be yours: the script
refuses to start when jobs are queued there, and empties it at the end. Numbers are printed, never asserted.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PORTAL_DOTENV", "/dev/null")
os.environ["PASSWORD_HASH_PROFILE"] = "fast"

from bench.cti_log import events  # noqa: E402
from bench.migration import VENV_BIN, fresh_schema, generate, make_app, queued_jobs, seed, worker_env  # noqa: E402

TARGET_MS = 100
DAY = date(2026, 1, 5)
CLK_TCK = os.sysconf("SC_CLK_TCK")
EMPTY = ("getpid", "empty untracked", "empty tracked")
REAL = ("CTI export (small day)", "migration check (50 rows)", "ACW return")


def cpu_s(pid: int) -> float:
    """User + system CPU of the process and of the children it reaped (the work horses)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / CLK_TCK


def prepare(app, n_acw: int, n_events: int, workdir: Path) -> dict:
    from sqlalchemy import insert, update

    from portal.extensions import db
    from portal.models import CtiEvent, CtiSettings, Member, Service, ServiceRole
    from portal.services import Actor
    from portal.services.accounts import create_member
    from portal.services.permissions import add_service_member

    ids = seed(app)
    path = workdir / "tickets-50.xlsx"
    generate(ids["template"], 50, path)
    ids["file"] = path.read_bytes()
    with app.app_context():
        service = db.session.get(Service, ids["desk"])
        db.session.execute(update(CtiSettings).where(CtiSettings.service_id == service.id)
                           .values(acw_limit_seconds=60))
        agents = []
        for i in range(n_acw):
            member = create_member(ids["org"], login_id=f"acw{i}", name=f"ACW {i}", email=f"acw{i}@bench.example",
                                   password="bench-pass-1234")
            add_service_member(Actor(ids["org"], None), service, member, ServiceRole.agent, phone=True)
            agents.append(member.id)
        from zoneinfo import ZoneInfo

        agent = db.session.get(Member, agents[0]) if agents else None
        rows = list(events(n_events, DAY, ZoneInfo(service.time_zone), ids["org"], service.id,
                           [("bench-cti", agent.id if agent else None)]))
        db.session.execute(insert(CtiEvent), rows)
        db.session.commit()
    ids["acw_agents"] = agents
    return ids


class Submit:
    """Enqueue one job of each kind as the portal does; returns the RQ job id (and what to check afterwards)."""

    def __init__(self, app, ids: dict):
        self.app, self.ids, self.acw_left = app, ids, list(ids["acw_agents"])

    def __call__(self, kind: str) -> tuple[str, int | None]:
        from portal.extensions import db
        from portal.models import AgentStateInterval, Member, Service
        from portal.queue import get_queue
        from portal.services import Actor, cti_log, migration
        from portal.services.agent_states import AFTER_CALL
        from portal.services.jobs import enqueue_after_commit, rq_job_id_of, start_job

        with self.app.app_context():
            if kind == "getpid":
                return get_queue().enqueue("os.getpid").id, None
            if kind == "empty untracked":
                return get_queue("scheduled").enqueue("jobs.agents.sweep", job_id=f"sweep-{uuid.uuid4().hex}").id, None
            if kind == "empty tracked":
                run = start_job("demo.count_to", 1, organization_id=None)
            elif kind == REAL[0]:
                run = cti_log.start_export(db.session.get(Member, self.ids["admin"]),
                                           db.session.get(Service, self.ids["desk"]), DAY, DAY)
            elif kind == REAL[1]:
                actor, service = Actor(self.ids["org"], self.ids["admin"]), db.session.get(Service, self.ids["desk"])
                batch = migration.upload(actor, service, "tickets.xlsx", self.ids["file"])
                run = start_job("migration.check", batch.id, organization_id=self.ids["org"],
                                member_id=self.ids["admin"])
            elif kind == REAL[2]:
                interval = AgentStateInterval(organization_id=self.ids["org"], member_id=self.acw_left.pop(),
                                              service_id=self.ids["desk"],
                                              channel="phone", state="ticket_work", reason=AFTER_CALL,
                                              started_at=datetime.now(timezone.utc) - timedelta(hours=1))
                db.session.add(interval)
                db.session.flush()
                enqueue_after_commit("agents.after_call_timeout", interval.id, job_id=f"acw-{interval.id}")
                db.session.commit()
                return f"acw-{interval.id}", None
            else:
                raise ValueError(kind)
            db.session.commit()
            return rq_job_id_of(run.id), run.id


def wait_idle(redis, name: str, process: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"worker exited with {process.returncode}; see {log}")
        if redis.hget(f"rq:worker:{name}", "state") == b"idle":
            return
        time.sleep(0.05)
    sys.exit(f"worker {name} not idle after {timeout} s; see {log}")


def measure(app, redis, submit: Submit, kind: str, n: int, worker_pid: int) -> dict:
    from rq.job import Job, JobStatus

    from portal.extensions import db
    from portal.models import JobRun, JobState

    times, cpu = [], cpu_s(worker_pid)
    for _ in range(n):
        job_id, run_id = submit(kind)
        deadline = time.monotonic() + 120
        while True:
            job = Job.fetch(job_id, connection=redis)
            status = job.get_status(refresh=False)
            if status in (JobStatus.FINISHED, JobStatus.FAILED):
                break
            if time.monotonic() > deadline:
                sys.exit(f"{kind}: job {job_id} still {status} after 120 s")
            time.sleep(0.005)
        if status != JobStatus.FINISHED:
            sys.exit(f"{kind}: job {job_id} {status}: {job.exc_info}")
        if run_id is not None:
            with app.app_context():
                state = db.session.get(JobRun, run_id).state
                if state != JobState.succeeded:
                    sys.exit(f"{kind}: run {run_id} {state}")
        times.append((job.ended_at - job.enqueued_at).total_seconds() * 1000)
    cpu = (cpu_s(worker_pid) - cpu) * 1000 / n
    times.sort()
    return {"n": n, "p50": statistics.median(times), "p99": times[min(n - 1, round(0.99 * (n - 1)))],
            "cpu_ms": cpu}


def run_worker(label: str, command: list[str], cwd: Path, env: dict, workdir: Path, redis, jobs: dict,
               app, submit: Submit) -> dict:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    log = workdir / f"{name}.log"
    with open(log, "ab") as out:
        process = subprocess.Popen([*command, "--name", name], cwd=cwd, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_idle(redis, name, process, log)
        results = {}
        for kind, n in jobs.items():
            results[kind] = measure(app, redis, submit, kind, n, process.pid)
            print(f"  {label:22} {kind:27} p50 {results[kind]['p50']:8.1f} ms  p99 {results[kind]['p99']:8.1f} ms",
                  flush=True)
        return results
    except SystemExit:
        print(log.read_text(errors="replace")[-4000:])
        raise
    finally:
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()


def export_revision(rev: str, workdir: Path) -> Path:
    """An exported copy of the revision, with its catalogs compiled (they are build products)."""
    target = workdir / f"rev-{rev}"
    target.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    subprocess.run([str(VENV_BIN / "pybabel"), "compile", "-d", str(target / "portal/translations")],
                   capture_output=True,
                   check=True)
    return target


def round_(database_url: str, redis_url: str, args, workdir: Path, before: Path | None) -> dict:
    from redis import Redis

    app = make_app(database_url, redis_url)
    fresh_schema(app)
    if queued_jobs(app):
        sys.exit(f"jobs are queued in {redis_url}: another user's? Give a Redis database of your own.")
    n_real = max(1, args.jobs // 3)
    workers = [("floor", False, None), ("app in each horse", False, ROOT)]
    if before is not None:
        workers.append((f"before ({args.before})", True, before))
    workers.append(("portal", True, ROOT))
    ids = prepare(app, n_real * sum(1 for w in workers if w[2] is not None and w[1]), args.events, workdir)
    submit, redis, env = Submit(app, ids), Redis.from_url(redis_url), worker_env(database_url, redis_url)
    results = {}
    try:
        for label, portal_worker, tree in workers:
            command = [str(VENV_BIN / "rq"), "worker", "--url", redis_url, "--path", str(tree or ROOT)]
            if portal_worker:
                command += ["-w", "jobs.worker.PortalWorker"]
                jobs = {**{k: args.jobs for k in EMPTY}, **{k: n_real for k in REAL}}
            elif tree is None:
                jobs = {"getpid": args.jobs}
            else:
                jobs = {"empty untracked": args.slow_jobs}
            command += ["default", "scheduled"]
            results[label] = run_worker(label, command, tree or ROOT, env, workdir, redis, jobs, app, submit)
    finally:
        redis.flushdb()
        with app.app_context():
            from portal.extensions import db

            db.engine.dispose()
    return results


def report(backend: str, results: dict) -> None:
    floor = results["floor"]["getpid"]["p50"]
    print(f"\n{backend}: enqueue → finished, one job at a time (floor: plain rq worker, os.getpid, p50 "
          f"{floor:.1f} ms)\n")
    print("| worker | job | n | p50 ms | p99 ms | p50 / floor | CPU ms/job | target < 100 ms |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for label, jobs in results.items():
        for kind, r in jobs.items():
            target = ""
            if kind in EMPTY[1:]:
                target = f"p50 {'yes' if r['p50'] < TARGET_MS else 'NO'}, p99 {'yes' if r['p99'] < TARGET_MS else 'NO'}"
            print(f"| {label} | {kind} | {r['n']} | {r['p50']:.1f} | {r['p99']:.1f} | {r['p50'] / floor:.1f} | "
                  f"{r['cpu_ms']:.1f} | {target} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", action="append", help="'sqlite' (a temporary file) or a PostgreSQL URL to empty")
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"))
    parser.add_argument("--jobs", type=int, default=30, help="empty jobs per kind and worker")
    parser.add_argument("--slow-jobs", type=int, default=4, help="jobs for the worker that builds the app per job")
    parser.add_argument("--events", type=int, default=500, help="CTI events of the exported day")
    parser.add_argument("--before", help="a git revision whose PortalWorker to measure too")
    args = parser.parse_args()
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.disable(logging.INFO)
    workdir = Path(tempfile.mkdtemp(prefix="bench-job-start-"))
    try:
        before = export_revision(args.before, workdir) if args.before else None
        for db_arg in args.db or ["sqlite"]:
            if db_arg == "sqlite":
                url, backend = f"sqlite:///{workdir}/bench.db", "sqlite"
            else:
                from portal.config import _normalise_db_url

                url, backend = _normalise_db_url(db_arg), "postgres"
            print(f"{backend} …", flush=True)
            report(backend, round_(url, args.redis_url, args, workdir, before))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
