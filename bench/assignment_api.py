"""One new ticket's assignment under `flask tickets simulate` load (see bench/README.md, "Automatic assignment").

One service assigning automatically (round-robin) with AGENTS equal agents, all ready; `gunicorn -w 2` serves the
portal (`app:app`) and bench/assignment_bare.py on the same database, one after the other, and the simulator
(`portal.devtools.ticket_simulator.send`, what `flask tickets simulate` runs) posts the same stream of COUNT web and
e-mail tickets at RATE a second over CONCURRENCY connections to each:

- portal: POST /api/v1/services/desk/tickets: API key, validation, Idempotency-Key, the ticket and its trail row,
  then `assignment.assign_waiting(ticket_ids=[…])` in the same transaction (service row and membership locks,
  eligibility, loads, SKIP LOCKED claim, conditional UPDATE, round-robin order, trail row), answered with the
  number and the assignee;
- floor: the same request to the bare app: a number from the service's counter, the ticket row inserted, one Core
  UPDATE assigning it to the least-loaded agent (correlated subquery), committed.

Each run starts with the service's tickets deleted. Printed: request p50 / p99 (ms), tickets/s, the workers' CPU per
ticket, portal/floor ratios (target ≤ 2), tickets assigned and the spread of the portal's tickets over the agents.
Numbers are printed, never asserted.

    .venv/bin/python bench/assignment_api.py                             # SQLite in a temp dir
    .venv/bin/python bench/assignment_api.py --db postgresql+psycopg://postgres@127.0.0.1:5433/throwaway

--db takes a THROWAWAY PostgreSQL database: its public schema is dropped first. The Redis database (--redis-url) is
emptied at the end.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
GUNICORN = Path(sys.executable).parent / "gunicorn"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(app_spec: list[str], env: dict, log: Path) -> tuple[subprocess.Popen, str]:
    """gunicorn -w 2 in the background (as bench/toggle.sh runs it); returns once it answers HTTP."""
    port = free_port()
    proc = subprocess.Popen([str(GUNICORN), "-w", "2", "-b", f"127.0.0.1:{port}", *app_spec], cwd=ROOT, env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(base + "/", timeout=1)
            return proc, base
        except urllib.error.HTTPError:
            return proc, base
        except OSError:
            time.sleep(0.1)
    stop(proc)
    raise SystemExit(f"{app_spec} did not start; its log:\n{log.read_text()}")


def stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


def worker_ticks(proc: subprocess.Popen) -> int:
    """CPU clock ticks used so far by the gunicorn workers (children) of the master."""
    total = 0
    for child in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split():
        fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total


def build(app, agents: int, capacity: int) -> dict:
    from assignment import PASSWORD, everyone_ready

    from portal.extensions import db
    from portal.models import ServiceRole, ServiceStatus, ServiceType
    from portal.services import Actor
    from portal.services.accounts import create_member
    from portal.services.organizations import provision_organization, rotate_api_key
    from portal.services.permissions import add_service_member
    from portal.services.service_setup import create_service

    with app.app_context():
        org = provision_organization(name="Bench", domain="bench", admin_login="admin",
                                     admin_email="admin@bench.example", password=PASSWORD).organization
        service = create_service(org.id, service_key="desk", name="Desk", type=ServiceType.counseling,
                                 languages=["ko"], default_language="ko", status=ServiceStatus.active)
        service.auto_assign, service.ticket_capacity = True, capacity
        actor, members = Actor(org.id, None), []
        for n in range(agents):
            member = create_member(org.id, login_id=f"agent{n:03d}", name=f"Agent {n}",
                                   email=f"agent{n}@bench.example", password=PASSWORD)
            add_service_member(actor, service, member, ServiceRole.agent, ticket=True, phone=True)
            members.append(member.id)
        key = rotate_api_key(actor, org)
        db.session.commit()
        ids = {"org": org.id, "sid": service.id, "members": members, "key": key}
    everyone_ready(app, ids)
    return ids


def empty(app, ids: dict) -> None:
    from sqlalchemy import delete

    from portal.extensions import db
    from portal.models import Activity, ServiceMember, Ticket

    with app.app_context():
        db.session.execute(delete(Activity).where(Activity.subject_type == "ticket"))
        db.session.execute(delete(Ticket).where(Ticket.service_id == ids["sid"]))
        db.session.execute(ServiceMember.__table__.update().values(last_assigned_at=None))
        db.session.commit()


def spread(app, ids: dict) -> tuple[int, int]:
    from portal.extensions import db
    from portal.services import assignment

    with app.app_context():
        loads = assignment.loads(ids["sid"])
        db.session.rollback()
        counts = [loads.get(m, 0) for m in ids["members"]]
        return min(counts), max(counts)


def drive(base: str, proc, key: str, args, seed: int):
    from portal.devtools import ticket_simulator

    stream = ticket_simulator.tickets(args.count, seed=seed)
    ticks = worker_ticks(proc)
    stats = ticket_simulator.send(base, key, "desk", stream, rate=args.rate, concurrency=args.concurrency)
    cpu_ms = (worker_ticks(proc) - ticks) * 1000 / os.sysconf("SC_CLK_TCK") / max(len(stats.created), 1)
    return stats, cpu_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="sqlite", help="sqlite (a temp file) or a throwaway PostgreSQL URL")
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--capacity", type=int, default=50)
    parser.add_argument("--count", type=int, default=300, help="tickets per run (≤ agents × capacity)")
    parser.add_argument("--rate", type=float, default=10,
                        help="tickets a second the simulator aims at (below what either server takes, so the "
                             "latencies are a ticket's, not a queue's)")
    parser.add_argument("--concurrency", type=int, default=4, help="the simulator's connections")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/8")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-assign-api-"))
    url = f"sqlite:///{workdir}/bench.db" if args.db == "sqlite" else args.db
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": args.redis_url, "RATELIMIT_STORAGE_URI": args.redis_url,
           "SECRET_KEY": "bench-secret-key", "PASSWORD_HASH_PROFILE": "fast", "RATELIMIT_ENABLED": "false",
           "PORTAL_DOTENV": "/dev/null", "MAIL_SERVER": ""}
    os.environ.update({k: env[k] for k in ("PORTAL_DOTENV",)})
    import flask_migrate
    from redis import Redis
    from sqlalchemy import text

    from portal import create_app
    from portal.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": args.redis_url,
                      "RATELIMIT_STORAGE_URI": args.redis_url, "PASSWORD_HASH_PROFILE": "fast", "MAIL_SERVER": "",
                      "PORTAL_URL": "http://portal.test"})
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        flask_migrate.upgrade(directory=str(ROOT / "migrations"))
        backend = db.engine.dialect.name
    ids = build(app, args.agents, args.capacity)
    print(f"{backend}: {args.agents} agents (capacity {args.capacity}, round-robin), {args.count} tickets a run at "
          f"{args.rate:g}/s over {args.concurrency} connections, gunicorn -w 2")

    results = {}
    for name, spec in (("floor", ["--pythonpath", "bench", "assignment_bare:app"]), ("portal", ["app:app"])):
        proc, base = serve(spec, env, workdir / f"{name}.log")
        try:
            empty(app, ids)
            drive(base, proc, ids["key"], argparse.Namespace(count=40, rate=args.rate, concurrency=args.concurrency),
                  seed=1)  # warm-up: connections, caches
            empty(app, ids)
            stats, cpu = drive(base, proc, ids["key"], args, seed=7)
        finally:
            stop(proc)
        assigned = sum(1 for t in stats.created if t.assignee)
        results[name] = (stats, cpu, assigned, spread(app, ids))

    floor = results["floor"][0]
    print()
    print("| endpoint | tickets | assigned | tickets/s | p50 ms | p99 ms | CPU ms / ticket | p50 vs floor | "
          "p99 vs floor | open per agent (min–max) | 5xx | target |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|")
    for name, (stats, cpu, assigned, (low, high)) in results.items():
        p50, p99 = stats.percentile(50) * 1000, stats.percentile(99) * 1000
        r50, r99 = p50 / (floor.percentile(50) * 1000), p99 / (floor.percentile(99) * 1000)
        target = "" if name == "floor" else (f"≤2× {'yes' if max(r50, r99) <= 2 else 'NO'}, "
                                              f"±1 {'yes' if high - low <= 1 else 'NO'}")
        print(f"| {name} | {len(stats.created)} | {assigned} | {len(stats.created) / stats.seconds:.1f} | {p50:.1f} | "
              f"{p99:.1f} | {cpu:.2f} | {r50:.2f} | {r99:.2f} | {low}–{high} | {stats.server_errors} | {target} |")
    Redis.from_url(args.redis_url).flushdb()


if __name__ == "__main__":
    main()
