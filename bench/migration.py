"""Ticket migration benchmark (see bench/README.md, "Ticket migration").

For each database and each row count: a fresh migrated schema, an organization with one service and one
agent, and a generated file of ROWS rows with 12 filled columns made from that service's template. Then:

- check: the file is stored and the check job enqueued as the upload route does; a real `rq worker --burst`
  runs it. "upload → ready" is from the upload call to the batch's finished_at.
- apply: the batch is confirmed, made due, and the apply job enqueued now; a second `rq worker --burst`
  runs it. "enqueue → completed" is from the enqueue to the batch's finished_at; "transaction" is the
  batch's duration_ms (what apply() measures itself).
- floor, in a subprocess: the portal's streaming .xlsx reader alone reading the ticket sheet into lists, then one SQLAlchemy
  Core executemany inserting the rows into the ticket table (one transaction, same engine pragmas).

Peak memory is the max RSS of each worker process tree (os.wait4 on the worker: Linux reports the largest
of the worker and the work horses it reaped). Numbers are printed, never asserted.

    .venv/bin/python bench/migration.py                                  # SQLite, 10,000 and 100,000 rows
    .venv/bin/python bench/migration.py --db sqlite --db postgresql+psycopg://postgres@127.0.0.1:5499/bench
    .venv/bin/python bench/migration.py --rows 10000 --profile           # + py-spy of the check and the apply

A PostgreSQL database given with --db is emptied (DROP SCHEMA public CASCADE) for every row count: give a
throwaway one. The Redis database (--redis-url, default redis://127.0.0.1:6379/11) must not be used by
anyone else: a burst worker runs whatever is queued there (the script refuses to start if jobs are queued).
"""
from __future__ import annotations

import argparse
import io
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PORTAL_DOTENV", "/dev/null")  # no developer .env in the measured processes
VENV_BIN = Path(sys.executable).parent
PYSPY = Path(os.environ.get("PYSPY", "/tmp/pyspy/bin/py-spy"))
COLUMNS = 12  # filled per row; the template's category and closed_at stay empty


# -- the file ---------------------------------------------------------------------------------------------------

def rows(n: int):
    statuses = ("unassigned", "in_progress", "resolved", "completed")
    priorities, channels = ("low", "normal", "high", "urgent"), ("web", "email", "chat", "phone_ib", "phone_ob")
    start = datetime(2024, 1, 1, 9, 0)
    for i in range(n):
        # title, body, status, priority, channel, requester name/email/phone, assignee, category, tags,
        # external id, created at, closed at
        yield [f"Order {i} did not arrive", f"Customer wrote on the web form about order {i}. " * 2,
               statuses[i % 4], priorities[i % 4], channels[i % 5], f"Customer {i}", f"customer{i}@example.com",
               f"010-{i % 10000:04d}-{(i * 7) % 10000:04d}", "agent", None, "delivery, web",
               f"OLD-{i:07d}", start + timedelta(minutes=i), None]


def generate(template: bytes, n: int, path: Path) -> None:
    """The template with n rows under its header: every sheet kept in order (hidden ones hidden), written in
    openpyxl's write-only mode."""
    from openpyxl import Workbook, load_workbook

    source = load_workbook(io.BytesIO(template))
    out = Workbook(write_only=True)
    for ws in source.worksheets:
        copy = out.create_sheet(ws.title)
        copy.sheet_state = ws.sheet_state
        if ws.title == "tickets":
            copy.append([c.value for c in ws[1]])
            for row in rows(n):
                copy.append(row)
        else:
            for row in ws.iter_rows(values_only=True):
                copy.append(row)
    out.save(path)


# -- processes --------------------------------------------------------------------------------------------------

def run_measured(command: list[str], env: dict, log_path: Path) -> tuple[int, float, float, float]:
    """Run a command to its end: (exit status, wall seconds, peak RSS in MB, CPU seconds), RSS and CPU of the
    process and the children it reaped (an rq worker reaps its work horses). It is started from a small
    launcher process (`_rss`), because Linux counts in a child's peak RSS the parent's resident memory at
    fork time, and this script's own process is large."""
    out = log_path.with_suffix(".rss")
    with open(log_path, "ab") as log:
        started = time.perf_counter()
        subprocess.run([sys.executable, __file__, "_rss", str(out), "--", *command], cwd=ROOT, env=env, stdout=log,
                       stderr=subprocess.STDOUT)
        wall = time.perf_counter() - started
    status, maxrss_kb, cpu = json.loads(out.read_text())
    return status, wall, maxrss_kb / 1024, cpu


def rss_main(out: str, command: list[str]) -> None:
    proc = subprocess.Popen(command)
    _pid, status, usage = os.wait4(proc.pid, 0)
    Path(out).write_text(json.dumps([os.waitstatus_to_exitcode(status), usage.ru_maxrss,
                                     usage.ru_utime + usage.ru_stime]))


def worker_command(redis_url: str) -> list[str]:
    return [str(VENV_BIN / "rq"), "worker", "-w", "jobs.worker.PortalWorker", "--burst", "--url", redis_url, "--path",
            str(ROOT), "default", "scheduled"]


def worker_env(database_url: str, redis_url: str) -> dict:
    return {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "RATELIMIT_STORAGE_URI": redis_url,
            "PASSWORD_HASH_PROFILE": "fast", "PORTAL_DOTENV": "/dev/null", "MAIL_SERVER": "", "PYTHONUNBUFFERED": "1"}


def profiled(command: list[str], out: Path) -> list[str]:
    return [str(PYSPY), "record", "--subprocesses", "--rate", "250", "-f", "raw", "-o", str(out), "--", *command]


# -- one round ---------------------------------------------------------------------------------------------------

def make_app(database_url: str, redis_url: str):
    from portal import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": redis_url,
                       "RATELIMIT_STORAGE_URI": redis_url, "RATELIMIT_ENABLED": False, "MAIL_SERVER": ""})


def fresh_schema(app) -> None:
    import flask_migrate
    from sqlalchemy import text

    from portal.extensions import db

    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        flask_migrate.upgrade()
        db.engine.dispose()


def seed(app) -> dict:
    from portal.extensions import db
    from portal.models import ServiceRole, ServiceStatus, ServiceType
    from portal.services import Actor
    from portal.services.accounts import create_member
    from portal.services.migration_files import template_workbook
    from portal.services.organizations import provision_organization
    from portal.services.permissions import add_service_member
    from portal.services.service_setup import create_service
    from portal.services.ticket_fields import fields_of

    with app.app_context():
        done = provision_organization(name="Bench", domain="bench", admin_login="admin",
                                      admin_email="admin@bench.example", password="bench-pass-1234")
        org = done.organization
        services = {}
        for key in ("desk", "floor"):
            services[key] = create_service(org.id, service_key=key, name=key.title(), type=ServiceType.counseling,
                                           languages=["ko"], default_language="ko", status=ServiceStatus.active)
        agent = create_member(org.id, login_id="agent", name="Agent", email="agent@bench.example",
                              password="bench-pass-1234")
        add_service_member(Actor(org.id, None), services["desk"], agent, ServiceRole.agent, ticket=True)
        fields = fields_of(services["desk"])
        template = template_workbook(services["desk"], fields, "en")
        db.session.commit()
        return {"org": org.id, "desk": services["desk"].id, "floor": services["floor"].id, "admin": done.admin.id,
                "template": template}


def queued_jobs(app) -> int:
    from portal.queue import get_queue

    with app.app_context():
        return sum(get_queue(name).count for name in ("default", "scheduled"))


def drop_scheduled_sweeps(app) -> None:
    """The sweep schedules its next run; this script runs no scheduler, so take it out again."""
    from rq.registry import ScheduledJobRegistry

    from portal.queue import get_queue

    with app.app_context():
        registry = ScheduledJobRegistry(queue=get_queue("scheduled"))
        for job_id in registry.get_job_ids():
            if job_id.startswith("migration-sweep-"):
                registry.remove(job_id, delete_job=True)


def round_(database_url: str, redis_url: str, n: int, workdir: Path, profile: bool) -> dict:
    from sqlalchemy import update

    from portal.extensions import db
    from portal.models import BatchStatus, JobRun, MigrationBatch, Service
    from portal.queue import get_queue
    from portal.services import Actor, migration
    from portal.services.jobs import start_job

    app = make_app(database_url, redis_url)
    fresh_schema(app)
    ids = seed(app)
    path = workdir / f"tickets-{n}.xlsx"
    started = time.perf_counter()
    generate(ids["template"], n, path)
    result = {"rows": n, "generate_s": time.perf_counter() - started, "file_mb": path.stat().st_size / 1e6}
    data = path.read_bytes()
    env, log = worker_env(database_url, redis_url), workdir / f"worker-{n}.log"
    if queued_jobs(app):
        sys.exit(f"jobs are queued in {redis_url}: another user's? Give a Redis database of your own.")

    def batch():
        with app.app_context():
            row = db.session.get(MigrationBatch, batch_id)
            db.session.expunge(row)
            return row

    def job_seconds(kind: str) -> float:
        with app.app_context():
            run = db.session.scalars(db.select(JobRun).where(JobRun.kind == kind).order_by(JobRun.id.desc())).first()
            return (run.finished_at - run.started_at).total_seconds()

    # the fixed cost of a job: a burst worker whose horse imports the jobs, builds the app and finds nothing to do
    with app.app_context():
        get_queue("default").enqueue("jobs.migration.sweep", job_timeout=600)
    _status, wall, rss, cpu = run_measured(worker_command(redis_url), env, log)
    drop_scheduled_sweeps(app)
    result.update(empty_worker_s=wall, empty_cpu_s=cpu, empty_rss_mb=rss)

    # check: upload (store + enqueue, as the route does) → a burst worker → ready
    uploaded_at = datetime.now(timezone.utc)
    with app.app_context():
        service = db.session.get(Service, ids["desk"])
        batch_id = migration.upload(Actor(ids["org"], ids["admin"]), service, "tickets.xlsx", data).id
        start_job("migration.check", batch_id, organization_id=ids["org"], member_id=ids["admin"])
        db.session.commit()
    status, wall, rss, cpu = run_measured(worker_command(redis_url), env, log)
    checked = batch()
    if checked.status != BatchStatus.ready:
        sys.exit(f"check ended {checked.status.value}: {checked.message} (exit {status}, see {log})")
    result.update(check_s=(checked.finished_at - uploaded_at).total_seconds(), check_job_s=job_seconds(
        "migration.check"), check_worker_s=wall, check_rss_mb=rss, check_cpu_s=cpu)

    # apply: confirm, make due, enqueue now → a burst worker → completed
    with app.app_context():
        migration.confirm(Actor(ids["org"], ids["admin"]), db.session.get(MigrationBatch, batch_id))
        db.session.execute(update(MigrationBatch).where(MigrationBatch.id == batch_id).values(
            scheduled_for=datetime.now(timezone.utc) - timedelta(minutes=1)))
        db.session.commit()
        enqueued_at = datetime.now(timezone.utc)
        start_job("migration.apply", batch_id, organization_id=ids["org"])
        db.session.commit()
    status, wall, rss, cpu = run_measured(worker_command(redis_url), env, log)
    applied = batch()
    if applied.status != BatchStatus.completed or applied.created_tickets != n:
        sys.exit(f"apply ended {applied.status.value}: {applied.message} (exit {status}, see {log})")
    result.update(apply_s=(applied.finished_at - enqueued_at).total_seconds(), apply_job_s=job_seconds(
        "migration.apply"), apply_tx_s=applied.duration_ms / 1000, apply_worker_s=wall, apply_rss_mb=rss,
                  apply_cpu_s=cpu)

    # floor: the reader alone, then one Core executemany (into another service, numbers 1..n)
    floor_out = workdir / f"floor-{n}.json"
    status, wall, rss, cpu = run_measured([sys.executable, __file__, "_floor", database_url, str(path), str(ids["org"]),
                                      str(ids["floor"]), str(floor_out)], env, log)
    if status != 0:
        sys.exit(f"floor failed (exit {status}), see {log}")
    floor = json.loads(floor_out.read_text())
    result.update(floor_read_s=floor["read_s"], floor_insert_s=floor["insert_s"], floor_build_s=floor["build_s"],
                  floor_s=floor["read_s"] + floor["build_s"] + floor["insert_s"], floor_rss_mb=rss,
                  floor_cpu_s=floor["cpu_s"])

    if profile:
        result["profile"] = profile_round(app, ids, data, database_url, redis_url, workdir, n)
    with app.app_context():
        db.engine.dispose()
    return result


def profile_round(app, ids, data, database_url, redis_url, workdir: Path, n: int) -> dict:
    """The same check and apply once more, each worker under py-spy (raw stacks), summarised."""
    from sqlalchemy import update

    from portal.extensions import db
    from portal.models import MigrationBatch, Service
    from portal.services import Actor, migration
    from portal.services.jobs import start_job

    if not PYSPY.exists():
        print(f"  (no py-spy at {PYSPY}; set PYSPY=…)")
        return {}
    env, log, summaries = worker_env(database_url, redis_url), workdir / f"profile-{n}.log", {}
    with app.app_context():
        batch_id = migration.upload(Actor(ids["org"], ids["admin"]), db.session.get(Service, ids["desk"]),
                                    "again.xlsx", data).id
        start_job("migration.check", batch_id, organization_id=ids["org"])
        db.session.commit()
    run_measured(profiled(worker_command(redis_url), workdir / f"check-{n}.txt"), env, log)
    summaries["check"] = summarise(workdir / f"check-{n}.txt")
    with app.app_context():
        # The first batch's tickets hold numbers 1..n: this one follows them (the same work, a bigger table).
        migration.confirm(Actor(ids["org"], ids["admin"]), db.session.get(MigrationBatch, batch_id))
        db.session.execute(update(MigrationBatch).where(MigrationBatch.id == batch_id).values(
            scheduled_for=datetime.now(timezone.utc) - timedelta(minutes=1)))
        start_job("migration.apply", batch_id, organization_id=ids["org"])
        db.session.commit()
    run_measured(profiled(worker_command(redis_url), workdir / f"apply-{n}.txt"), env, log)
    summaries["apply"] = summarise(workdir / f"apply-{n}.txt")
    return summaries


def summarise(raw: Path, top: int = 14) -> dict:
    """From py-spy raw stacks: the share of samples spent in (inclusive) interesting functions of the job,
    and the leaf frames (self time) with the most samples. Only the work horse's job samples count."""
    inclusive, leaves, total = Counter(), Counter(), 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if "perform_job" not in stack and "jobs/" not in stack:
            continue  # the worker's own loop, imports before the job
        frames = stack.split(";")
        total += int(count)
        seen = set()
        for frame in frames:
            name = frame.rsplit(":", 1)[0] + ")" if " (" in frame else frame  # function (file) without the line
            if name not in seen:
                inclusive[name] += int(count)
                seen.add(name)
        leaves[frames[-1]] += int(count)
    return {"samples": total,
            "inclusive": [(name, count / total) for name, count in inclusive.most_common(60)] if total else [],
            "self": [(name, count / total) for name, count in leaves.most_common(top)] if total else []}


# -- the floor (runs in its own process) ------------------------------------------------------------------------

def _utc(value) -> datetime:
    """The reader gives a date-formatted cell as datetime, or as date when its time is 00:00."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, datetime.min.time())
    return value.replace(tzinfo=timezone.utc)


def floor_main(database_url: str, path: str, org_id: int, service_id: int, out: str) -> None:
    """Wall and CPU seconds of: the streaming reader reading the ticket sheet into lists; building the parameter dicts;
    one Core executemany of them into the ticket table, committed. (On PostgreSQL the server's CPU is not in
    this process's CPU.)"""
    from sqlalchemy import create_engine

    from portal.services.xlsx_reader import Workbook

    import portal  # noqa: F401  (its engine listener sets the same SQLite pragmas as the app)
    from portal.config import _normalise_db_url
    from portal.models import Ticket

    engine = create_engine(_normalise_db_url(database_url))
    with engine.connect() as conn:  # connected first: the floor is the insert, not the first connection
        conn.exec_driver_sql("SELECT 1")
        conn.commit()
        wall, cpu = time.perf_counter(), time.process_time()
        # the portal's own streaming reader: reading the file is part of the work, not of the overhead
        data = (row for _number, row in Workbook(Path(path).read_bytes()).rows("tickets"))
        next(data)
        table_rows = [row + [None] * (14 - len(row)) for row in data]
        read_s = time.perf_counter() - wall

        started = time.perf_counter()
        now = datetime.now(timezone.utc)
        params = [{
            "organization_id": org_id, "service_id": service_id, "number": number, "title": r[0], "body": r[1],
            "status": r[2], "priority": r[3], "channel": r[4], "requester_name": r[5], "requester_email": r[6],
            "requester_phone": r[7], "assignee_id": None, "category": None,
            "tags": [t.strip() for t in r[10].split(",")], "custom": None, "external_id": r[11],
            "created_at": _utc(r[12]), "updated_at": now, "closed_at": None, "source_batch_id": None,
            "source_row": number + 1,
        } for number, r in enumerate(table_rows, start=1)]
        build_s = time.perf_counter() - started

        started = time.perf_counter()
        conn.execute(Ticket.__table__.insert(), params)
        conn.commit()
        insert_s = time.perf_counter() - started
        cpu_s = time.process_time() - cpu
    Path(out).write_text(json.dumps({"read_s": read_s, "build_s": build_s, "insert_s": insert_s, "cpu_s": cpu_s}))


# -- report -----------------------------------------------------------------------------------------------------

def report(results: list[dict]) -> None:
    print()
    print("| backend | rows | file MB | check s (upload→ready) | apply s (enqueue→done) | check+apply s | "
          "floor s (read+build+insert) | ratio | worker peak MB (check / apply) | targets |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        total = r["check_s"] + r["apply_s"]
        ratio = total / r["floor_s"]
        peak = max(r["check_rss_mb"], r["apply_rss_mb"])
        targets = f"ratio<=2 {'yes' if ratio <= 2 else 'NO'}, peak<300MB {'yes' if peak < 300 else 'NO'}"
        print(f"| {r['backend']} | {r['rows']:,} | {r['file_mb']:.1f} | {r['check_s']:.2f} | {r['apply_s']:.2f} | "
              f"{total:.2f} | {r['floor_s']:.2f} ({r['floor_read_s']:.2f}+{r['floor_build_s']:.2f}+"
              f"{r['floor_insert_s']:.2f}) | {ratio:.1f} | {r['check_rss_mb']:.0f} / {r['apply_rss_mb']:.0f} | "
              f"{targets} |")
    print()
    print("| backend | rows | check job s | apply job s | apply transaction s | jobs / floor | worker CPU s (check / "
          "apply) | empty job: wall s / CPU s / MB | (CPU − empty) / floor CPU | floor CPU s | floor peak MB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        jobs_ratio = (r["check_job_s"] + r["apply_job_s"]) / r["floor_s"]
        cpu_ratio = (r["check_cpu_s"] + r["apply_cpu_s"] - 2 * r["empty_cpu_s"]) / r["floor_cpu_s"]
        print(f"| {r['backend']} | {r['rows']:,} | {r['check_job_s']:.2f} | {r['apply_job_s']:.2f} | "
              f"{r['apply_tx_s']:.2f} | {jobs_ratio:.1f} | {r['check_cpu_s']:.2f} / {r['apply_cpu_s']:.2f} | "
              f"{r['empty_worker_s']:.2f} / {r['empty_cpu_s']:.2f} / {r['empty_rss_mb']:.0f} | {cpu_ratio:.1f} | "
              f"{r['floor_cpu_s']:.2f} | {r['floor_rss_mb']:.0f} |")
    by_backend: dict[str, list[dict]] = {}
    for r in results:
        by_backend.setdefault(r["backend"], []).append(r)
    for backend, rounds in by_backend.items():
        rounds.sort(key=lambda r: r["rows"])
        if len(rounds) < 2:
            continue
        small, big = rounds[0], rounds[-1]
        scale = big["rows"] / small["rows"]
        print(f"\n{backend}: growth from {small['rows']:,} to {big['rows']:,} rows (linear = ×{scale:g}):")
        for r in (small, big):
            r["jobs_cpu_s"] = r["check_cpu_s"] + r["apply_cpu_s"] - 2 * r["empty_cpu_s"]
            r["rss_over_empty_mb"] = max(r["check_rss_mb"], r["apply_rss_mb"]) - r["empty_rss_mb"]
        for key, label in (("check_s", "check upload→ready"), ("check_job_s", "check job"),
                           ("apply_s", "apply enqueue→done"), ("apply_tx_s", "apply transaction"),
                           ("jobs_cpu_s", "check+apply CPU − empty"), ("floor_s", "floor"),
                           ("floor_cpu_s", "floor CPU"), ("check_rss_mb", "check peak RSS"),
                           ("apply_rss_mb", "apply peak RSS"), ("rss_over_empty_mb", "peak RSS − empty job")):
            growth = big[key] / small[key]
            print(f"  {label:24} ×{growth:5.1f}  {'(more than linear)' if growth > scale * 1.1 else ''}")
    for r in results:
        for phase, summary in (r.get("profile") or {}).items():
            if not summary.get("samples"):
                continue
            print(f"\npy-spy, {r['backend']} {r['rows']:,} rows, {phase} job ({summary['samples']} samples):")
            print("  inclusive:")
            for name, share in summary["inclusive"]:
                if any(part in name for part in ("migration", "validate", "convert", "execute", "_text",
                                                 "_datetime", "strptime", "email", "commit", "insert", "read_rows",
                                                 "open_workbook", "load", "iter_rows", "flush", "gettext", "_blank",
                                                 "fetch", "cursor", "do_execute")):
                    print(f"    {share:6.1%}  {name}")
            print("  self:")
            for name, share in summary["self"]:
                print(f"    {share:6.1%}  {name}")


def main() -> None:
    if len(sys.argv) > 3 and sys.argv[1] == "_rss" and sys.argv[3] == "--":
        rss_main(sys.argv[2], sys.argv[4:])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_floor":
        database_url, path, org_id, service_id, out = sys.argv[2:7]
        floor_main(database_url, path, int(org_id), int(service_id), out)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="10000,100000", help="comma-separated row counts")
    parser.add_argument("--db", action="append", help="'sqlite' (a temporary file) or a PostgreSQL URL to empty")
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11"))
    parser.add_argument("--profile", action="store_true", help="also run check and apply under py-spy")
    parser.add_argument("--json", help="write the raw results here")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (files, worker logs)")
    args = parser.parse_args()
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.disable(logging.INFO)
    workdir = Path(tempfile.mkdtemp(prefix="bench-migration-"))
    results = []
    try:
        for db_arg in args.db or ["sqlite"]:
            for n in [int(x) for x in args.rows.split(",")]:
                if db_arg == "sqlite":
                    url, backend = f"sqlite:///{workdir}/bench-{n}.db", "sqlite"
                else:
                    from portal.config import _normalise_db_url

                    url, backend = _normalise_db_url(db_arg), "postgres"
                print(f"{backend}, {n:,} rows …", flush=True)
                result = round_(url, args.redis_url, n, workdir, args.profile)
                result["backend"] = backend
                results.append(result)
                print(f"  check {result['check_s']:.2f} s, apply {result['apply_s']:.2f} s, floor "
                      f"{result['floor_s']:.2f} s, peak {max(result['check_rss_mb'], result['apply_rss_mb']):.0f} MB",
                      flush=True)
    finally:
        report(results)
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1, default=str))
        if args.keep:
            print(f"\nwork directory: {workdir}")
        else:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
