"""Automatic assignment of a big waiting queue (see bench/README.md, "Automatic assignment").

One service with AGENTS agents (equal: same capacity, never assigned) and TICKETS unassigned tickets, all offline;
then everyone becomes eligible at once (an open "ready" interval each) and the queue drains:

- portal: `jobs.assignment.drain` as the worker runs it: `assignment.drain` chunk after chunk (DRAIN_CHUNK
  tickets, each chunk its own committed transaction: service row and membership locks, eligibility, loads, the
  SKIP LOCKED claim, one executemany UPDATE, round-robin order kept, one activity row per ticket);
- floor, same run, same database, same tickets reset to waiting: in chunks of the same size, one query for the
  loads, the least-loaded agent picked in Python, and one Core UPDATE per ticket (executemany), committed per
  chunk. No eligibility, locks, order bookkeeping or trail: the writes any drain must make.

Then the spread of open tickets across the equal agents after the round-robin drain (target: within ±1), and the
same drain in least-loaded order. Printed: seconds, tickets/s, this process's CPU ms per 1,000 tickets (the
database server's CPU is not in it on PostgreSQL), portal/floor ratio (target ≤ 2). Numbers are printed, never
asserted.

    .venv/bin/python bench/assignment.py                              # SQLite in a temp dir
    .venv/bin/python bench/assignment.py --db postgresql+psycopg://postgres@127.0.0.1:5433/throwaway

--db takes a THROWAWAY PostgreSQL database: its public schema is dropped first. The Redis database
(--redis-url) is emptied at the end.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PASSWORD = "bench-pass-1234"


def build(app, agents: int, tickets: int, capacity: int) -> dict:
    from sqlalchemy import insert

    from portal.extensions import db
    from portal.models import ServiceRole, ServiceStatus, ServiceType, Ticket, TicketStatus
    from portal.models.base import utcnow
    from portal.services import Actor
    from portal.services.accounts import create_member
    from portal.services.organizations import provision_organization
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
        now = utcnow() - timedelta(hours=1)
        db.session.execute(insert(Ticket), [
            {"organization_id": org.id, "service_id": service.id, "number": i + 1, "title": f"Waiting {i}",
             "status": TicketStatus.unassigned, "channel": "web", "created_at": now + timedelta(milliseconds=i),
             "updated_at": now} for i in range(tickets)])
        service.ticket_seq = tickets
        db.session.commit()
        return {"org": org.id, "sid": service.id, "members": members}


def everyone_ready(app, ids: dict) -> None:
    from sqlalchemy import insert

    from portal.extensions import db
    from portal.models import AgentStateInterval
    from portal.models.base import utcnow

    with app.app_context():
        db.session.execute(insert(AgentStateInterval), [
            {"organization_id": ids["org"], "member_id": m, "service_id": ids["sid"], "channel": "phone",
             "state": "ready", "started_at": utcnow()} for m in ids["members"]])
        db.session.commit()


def reset(app, ids: dict, mode: str) -> None:
    """All tickets waiting again, no trail, nobody assigned yet; the service in `mode`."""
    from sqlalchemy import delete, update

    from portal.extensions import db
    from portal.models import Activity, AssignMode, Service, ServiceMember, Ticket, TicketStatus

    with app.app_context():
        db.session.execute(update(Ticket).where(Ticket.service_id == ids["sid"]).values(
            status=TicketStatus.unassigned, assignee_id=None))
        db.session.execute(delete(Activity).where(Activity.action == "ticket.assigned"))
        db.session.execute(update(ServiceMember).where(ServiceMember.service_id == ids["sid"]).values(
            last_assigned_at=None))
        db.session.execute(update(Service).where(Service.id == ids["sid"]).values(assign_mode=AssignMode(mode)))
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE ticket")


def timed(work) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def portal_drain(app, ids: dict) -> int:
    from jobs import assignment as assignment_jobs

    with app.app_context():
        return assignment_jobs.drain(ids["sid"])


def floor_drain(app, ids: dict, chunk: int) -> int:
    import heapq

    from sqlalchemy import bindparam, func, select, update

    from portal.extensions import db
    from portal.models import Ticket, TicketStatus

    table, total = Ticket.__table__, 0
    with app.app_context():
        while True:
            waiting = list(db.session.scalars(select(Ticket.id).where(
                Ticket.service_id == ids["sid"], Ticket.status == TicketStatus.unassigned)
                .order_by(Ticket.created_at, Ticket.id).limit(chunk)))
            if not waiting:
                return total
            loads = dict(db.session.execute(select(Ticket.assignee_id, func.count()).where(
                Ticket.service_id == ids["sid"], Ticket.status == TicketStatus.in_progress)
                .group_by(Ticket.assignee_id)).all())
            heap = [(loads.get(m, 0), m) for m in ids["members"]]
            heapq.heapify(heap)
            rows = []
            for ticket_id in waiting:
                load, member_id = heapq.heappop(heap)
                rows.append({"tid": ticket_id, "mid": member_id})
                heapq.heappush(heap, (load + 1, member_id))
            db.session.execute(update(table).where(table.c.id == bindparam("tid"))
                               .values(assignee_id=bindparam("mid"), status=TicketStatus.in_progress.value), rows)
            db.session.commit()
            total += len(rows)


def spread(app, ids: dict) -> tuple[int, int, int]:
    from portal.extensions import db
    from portal.services import assignment

    with app.app_context():
        loads = assignment.loads(ids["sid"])
        counts = [loads.get(m, 0) for m in ids["members"]]
        db.session.rollback()
        return min(counts), max(counts), sum(counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="sqlite", help="sqlite (a temp file) or a throwaway PostgreSQL URL")
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument("--tickets", type=int, default=20_000)
    parser.add_argument("--capacity", type=int, default=50, help="per agent; agents × capacity ≥ tickets drains all")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/8")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="bench-assign-")
    url = f"sqlite:///{workdir}/bench.db" if args.db == "sqlite" else args.db
    os.environ.setdefault("PORTAL_DOTENV", "/dev/null")
    import flask_migrate
    from redis import Redis
    from sqlalchemy import text

    from portal import create_app
    from portal.extensions import db
    from portal.services import assignment

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": args.redis_url,
                      "RATELIMIT_STORAGE_URI": args.redis_url, "PASSWORD_HASH_PROFILE": "fast", "MAIL_SERVER": "",
                      "PORTAL_URL": "http://portal.test"})
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        flask_migrate.upgrade(directory=str(ROOT / "migrations"))
        backend = db.engine.dialect.name

    setup, _cpu, ids = timed(lambda: build(app, args.agents, args.tickets, args.capacity))
    everyone_ready(app, ids)
    print(f"{backend}: {args.agents} agents, {args.tickets:,} waiting tickets, capacity {args.capacity}, "
          f"chunk {assignment.DRAIN_CHUNK} (set-up {setup:.1f} s)")

    results = {}
    for name, mode, work in (("floor", "least_loaded", lambda: floor_drain(app, ids, assignment.DRAIN_CHUNK)),
                             ("portal round-robin", "round_robin", lambda: portal_drain(app, ids)),
                             ("portal least-loaded", "least_loaded", lambda: portal_drain(app, ids))):
        reset(app, ids, mode)
        wall, cpu, done = timed(work)
        low, high, total = spread(app, ids)
        results[name] = (wall, cpu, done, low, high, total)

    floor_wall = results["floor"][0]
    print()
    print("| drain | tickets | seconds | tickets/s | CPU ms / 1,000 | vs floor | open per agent (min–max) | target |")
    print("|---|---:|---:|---:|---:|---:|---|---|")
    for name, (wall, cpu, done, low, high, total) in results.items():
        ratio = wall / floor_wall
        target = "" if name == "floor" else (f"≤2× {'yes' if ratio <= 2 else 'NO'}"
                                              + (f", ±1 {'yes' if high - low <= 1 else 'NO'}"
                                                 if "round" in name else ""))
        print(f"| {name} | {done:,} | {wall:.2f} | {done / wall:,.0f} | {1000 * cpu / max(done, 1) * 1000:.0f} | "
              f"{ratio:.2f} | {low}–{high} | {target} |")
    Redis.from_url(args.redis_url).flushdb()


if __name__ == "__main__":
    main()
