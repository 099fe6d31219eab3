"""Does a migration apply hold up the rest of its service? (see bench/README.md, "Apply contention").

On PostgreSQL, with the portal served by `gunicorn -w 2` (as the Procfile runs it), steady traffic on one service:
CTI ingest requests that each open a ticket (ringing, answered, hangup of a new call; 2 connections, one agent
each, one request every 0.2 s), the service's ticket list page (GET /services/desk/tickets as the org admin,
every 0.25 s) and /healthz (every 0.5 s). Each request's latency is recorded in three phases:

- quiet: the traffic alone (the floor);
- cpu: the traffic beside a process that only burns one CPU (what any busy worker costs on this machine,
  locks aside);
- apply: the traffic while a real `rq worker` (jobs.worker.PortalWorker) applies a batch of ROWS rows to the
  same service, from the worker's start until the batch is completed.

It prints p50 / p99 / max and errors per request kind and phase, and p99 and p50 as ratios to the quiet phase
(the goal of issue 15, item 4: within 2× during a 200,000-row apply). Numbers are printed, never asserted.

    .venv/bin/python bench/apply_contention.py --db postgresql+psycopg://postgres@127.0.0.1:5499/bench
    .venv/bin/python bench/apply_contention.py --db … --rows 200000 --compare-with main   # + the code of main

`--compare-with REF` exports REF with `git archive` into a temporary directory and runs the same round with its
code (its migrations, its gunicorn, its worker). The database given with --db is emptied (DROP SCHEMA public
CASCADE) for every round: give a throwaway one. The Redis database (--redis-url) must be nobody else's.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')
PASSWORD = "bench-pass-1234"
KINDS = ("cti", "page", "healthz")
PHASES = ("quiet", "cpu", "apply")


def _migration_bench():
    """bench/migration.py of this checkout (the file generator, the app and schema helpers)."""
    spec = importlib.util.spec_from_file_location("migration_bench", ROOT / "bench" / "migration.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- one round, in a process of its own whose `portal` is the code under test ---------------------------------

def seed(app) -> dict:
    from portal.extensions import db
    from portal.models import CtiAgent, Organization, ServiceRole, ServiceStatus, ServiceType
    from portal.services import Actor, cti
    from portal.services.accounts import create_member
    from portal.services.contracts import sign_contract
    from portal.services.migration_files import template_workbook
    from portal.services.organizations import provision_organization, rotate_api_key
    from portal.services.permissions import add_service_member
    from portal.services.service_setup import create_service
    from portal.services.ticket_fields import fields_of

    with app.app_context():
        done = provision_organization(name="Bench", domain="bench", admin_login="admin",
                                      admin_email="admin@bench.example", password=PASSWORD)
        org = done.organization
        actor = Actor(org.id, None)
        desk = create_service(org.id, service_key="desk", name="Desk", type=ServiceType.counseling, languages=["ko"],
                              default_language="ko", status=ServiceStatus.active)
        sign_contract(actor, desk, {"base.seat": 5, "ticket.phone_cti": 3}, base_version=None)
        cti.set_toggle(actor, desk, "log_monitoring", True)
        for n, login in enumerate(("agent", "cti0", "cti1")):  # "agent" is the file's assignee
            member = create_member(org.id, login_id=login, name=login.title(), email=f"{login}@bench.example",
                                   password=PASSWORD)
            add_service_member(actor, desk, member, ServiceRole.agent, ticket=True, chat=True, phone=True)
            if login.startswith("cti"):
                db.session.add(CtiAgent(organization_id=org.id, member_id=member.id, cti_id=login,
                                        cti_number=f"700{n}"))
        key = rotate_api_key(actor, db.session.get(Organization, org.id))
        template = template_workbook(desk, fields_of(desk), "en")
        db.session.commit()
        return {"org": org.id, "desk": desk.id, "admin": done.admin.id, "key": key, "template": template}


def reserved_batch(app, ids: dict, path: Path) -> int:
    """Upload, check (in this process) and confirm the file, made due now."""
    from sqlalchemy import update

    from jobs.migration import check_now
    from portal.extensions import db
    from portal.models import BatchStatus, MigrationBatch, Service
    from portal.services import Actor, migration

    with app.app_context():
        actor = Actor(ids["org"], ids["admin"])
        batch_id = migration.upload(actor, db.session.get(Service, ids["desk"]), path.name, path.read_bytes()).id
        db.session.commit()
        checked = check_now(batch_id)
        db.session.commit()
        if checked.status != BatchStatus.ready:
            sys.exit(f"check ended {checked.status.value}: {checked.message_code} {checked.message_args}")
        migration.confirm(actor, db.session.get(MigrationBatch, batch_id))
        db.session.execute(update(MigrationBatch).where(MigrationBatch.id == batch_id).values(
            scheduled_for=datetime.now(timezone.utc) - timedelta(minutes=1)))
        db.session.commit()
        return batch_id


class Traffic:
    """Paced request loops in threads; every request's (phase, kind, seconds, ok) is recorded."""

    def __init__(self, base: str, key: str, session):
        self.base, self.key, self.session = base, key, session
        self.phase = "warm-up"
        self.samples: list[tuple[str, str, float, bool]] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def _timed(self, kind: str, send) -> None:
        phase, started = self.phase, time.perf_counter()
        try:
            ok = send().status_code == 200
        except Exception:  # a refused or dropped connection (gunicorn killed the worker) counts as an error
            ok = False
        with self.lock:
            self.samples.append((phase, kind, time.perf_counter() - started, ok))

    def _loop(self, kind: str, every: float, send) -> None:
        next_at = time.perf_counter()
        while not self.stop.is_set():
            self._timed(kind, send)
            next_at = max(next_at + every, time.perf_counter())
            self.stop.wait(max(0.0, next_at - time.perf_counter()))

    def start(self) -> list[threading.Thread]:
        import requests

        def cti(agent: str):
            client, calls = requests.Session(), iter(range(10**9))

            def send():
                call = f"{agent}-{next(calls)}"
                now = datetime.now(timezone.utc)
                events = [{"kind": kind, "event_id": f"{call}-{kind}", "cti_id": agent, "call_id": call,
                           "occurred_at": (now + timedelta(milliseconds=i)).isoformat(),
                           **({"direction": "IB", "counterpart": "01012345678"} if kind == "inbound_ringing" else {})}
                          for i, kind in enumerate(("inbound_ringing", "answered", "hangup"))]
                return client.post(f"{self.base}/api/v1/cti/events", json={"service": "desk", "events": events},
                                   headers={"Authorization": f"Bearer {self.key}"}, timeout=120)
            return send

        health = requests.Session()
        loops = [("cti", 0.2, cti("cti0")), ("cti", 0.2, cti("cti1")),
                 ("page", 0.25, lambda: self.session.get(f"{self.base}/services/desk/tickets", timeout=120)),
                 ("healthz", 0.5, lambda: health.get(f"{self.base}/healthz", timeout=120))]
        threads = [threading.Thread(target=self._loop, args=loop, daemon=True) for loop in loops]
        for thread in threads:
            thread.start()
        return threads


def log_in(base: str):
    import requests

    session = requests.Session()
    token = CSRF_RE.search(session.get(f"{base}/login", timeout=30).text)
    response = session.post(f"{base}/login", data={"csrf_token": token.group(1) or token.group(2),
                                                   "organization": "bench", "login_id": "admin",
                                                   "password": PASSWORD}, allow_redirects=False, timeout=30)
    if response.status_code != 303:
        sys.exit(f"log-in failed: {response.status_code}")
    return session


def round_main(code: Path, database_url: str, redis_url: str, rows: int, quiet_s: float, cpu_s: float,
               out: Path) -> None:
    mb = _migration_bench()  # it puts this checkout first on sys.path: the code under test goes before it
    sys.path.insert(0, str(code))
    from portal.extensions import db
    from portal.models import BatchStatus, MigrationBatch
    from portal.services.jobs import start_job

    app = mb.make_app(database_url, redis_url)
    mb.fresh_schema(app)
    ids = seed(app)
    if mb.queued_jobs(app):
        sys.exit(f"jobs are queued in {redis_url}: another user's? Give a Redis database of your own.")
    workdir = Path(tempfile.mkdtemp(prefix="apply-contention-"))
    path = workdir / f"tickets-{rows}.xlsx"
    mb.generate(ids["template"], rows, path)
    batch_id = reserved_batch(app, ids, path)
    with app.app_context():
        db.engine.dispose()

    env = {**mb.worker_env(database_url, redis_url), "SECRET_KEY": "bench-secret-key", "RATELIMIT_ENABLED": "false"}
    port = free_port()
    server = subprocess.Popen([str(VENV_BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", "app:app"], cwd=code,
                              env=env, stdout=open(workdir / "gunicorn.log", "wb"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    worker = burner = None
    try:
        import requests

        for _ in range(200):
            try:
                requests.get(f"{base}/healthz", timeout=10)
                break
            except requests.RequestException:
                time.sleep(0.1)
        traffic = Traffic(base, ids["key"], log_in(base))
        threads = traffic.start()
        time.sleep(3)
        traffic.phase = "quiet"
        time.sleep(quiet_s)
        traffic.phase = "cpu"
        burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(cpu_s)
        burner.kill()
        burner.wait()
        traffic.phase = "between"
        time.sleep(2)

        with app.app_context():
            start_job("migration.apply", batch_id, organization_id=ids["org"])
            db.session.commit()
        traffic.phase = "apply"
        started = time.perf_counter()
        worker = subprocess.Popen([str(VENV_BIN / "rq"), "worker", "-w", "jobs.worker.PortalWorker", "--burst", "--url",
                                   redis_url, "--path", str(code), "default", "scheduled"], cwd=code, env=env,
                                  stdout=open(workdir / "worker.log", "wb"), stderr=subprocess.STDOUT)
        while True:
            with app.app_context():
                batch = db.session.get(MigrationBatch, batch_id)
                status, created = batch.status, batch.created_tickets
                db.session.remove()
            if status in (BatchStatus.completed, BatchStatus.failed) or worker.poll() is not None:
                break
            time.sleep(0.2)
        apply_s = time.perf_counter() - started
        traffic.phase = "after"
        traffic.stop.set()
        for thread in threads:
            thread.join(150)
        worker.wait(600)
        gunicorn_log = (workdir / "gunicorn.log").read_text(errors="replace")
        out.write_text(json.dumps({
            "rows": rows, "apply_s": apply_s, "status": status.value, "created": created,
            "worker_timeouts": gunicorn_log.count("WORKER TIMEOUT"), "samples": traffic.samples,
            "load": os.getloadavg()}))
    finally:
        for proc in (burner, worker, server):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
        with app.app_context():
            db.engine.dispose()


# -- driver ----------------------------------------------------------------------------------------------------

def export(ref: str, into: Path) -> Path:
    """The code of `ref` (git archive), with its catalogs compiled."""
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    subprocess.run([str(VENV_BIN / "pybabel"), "compile", "-d", str(into / "portal" / "translations")],
                   check=True, capture_output=True)
    return into


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def report(name: str, result: dict) -> None:
    print(f"\n{name}: {result['rows']:,} rows applied in {result['apply_s']:.1f} s ({result['status']}, "
          f"{result['created']} tickets); gunicorn WORKER TIMEOUTs: {result['worker_timeouts']}; "
          f"load average at the end {result['load'][0]:.1f}")
    print("| request | phase | n | p50 ms | p99 ms | max ms | errors | p50 / quiet | p99 / quiet |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for kind in KINDS:
        quiet = [s for p, k, s, _ok in result["samples"] if p == "quiet" and k == kind]
        for phase in PHASES:
            got = [(s, ok) for p, k, s, ok in result["samples"] if p == phase and k == kind]
            seconds = [s for s, _ok in got]
            if not seconds:
                continue
            p50, p99 = pct(seconds, 0.5), pct(seconds, 0.99)
            ratios = ("", "") if phase == "quiet" else (f"{p50 / pct(quiet, 0.5):.2f}", f"{p99 / pct(quiet, 0.99):.2f}")
            print(f"| {kind} | {phase} | {len(seconds)} | {p50 * 1000:.0f} | {p99 * 1000:.0f} | "
                  f"{max(seconds) * 1000:.0f} | {sum(not ok for _s, ok in got)} | {ratios[0]} | {ratios[1]} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True, help="a throwaway PostgreSQL database (emptied)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/11")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--quiet", type=float, default=20, help="seconds of traffic alone")
    parser.add_argument("--cpu", type=float, default=15, help="seconds of traffic beside a CPU burner")
    parser.add_argument("--compare-with", metavar="REF", help="also run the round with the code of this git ref")
    args = parser.parse_args()
    if not args.db.startswith("postgresql"):
        sys.exit("PostgreSQL only: on SQLite every write waits for the single writer anyway")
    rounds = [("this checkout", ROOT)]
    tmp = None
    if args.compare_with:
        tmp = tempfile.TemporaryDirectory(prefix="apply-contention-ref-")
        rounds.append((args.compare_with, export(args.compare_with, Path(tmp.name))))
    results = {}
    for name, code in rounds:
        out = Path(tempfile.mkstemp(suffix=".json")[1])
        print(f"{name}: seeding, generating and checking {args.rows:,} rows, then the traffic …", flush=True)
        subprocess.run([sys.executable, __file__, "_round", str(code), args.db, args.redis_url, str(args.rows),
                        str(args.quiet), str(args.cpu), str(out)], check=True,
                       env={**os.environ, "PORTAL_DOTENV": "/dev/null"})
        results[name] = json.loads(out.read_text())
        out.unlink()
    for name, result in results.items():
        report(name, result)
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_round":
        code, db_url, redis_url, rows, quiet_s, cpu_s, out = sys.argv[2:]
        round_main(Path(code), db_url, redis_url, int(rows), float(quiet_s), float(cpu_s), Path(out))
    else:
        main()
