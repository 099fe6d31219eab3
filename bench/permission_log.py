"""Permission log paging benchmark (see bench/README.md, "Permission log paging").

Times `portal.services.permission_log.page` (the function behind /admin/permission-log) on a database
that already holds the bulk rows, for typical filters over the last 365 days: the first page; the page
reached by following the cursor WALK times; the page after the cursor of the row in the middle of the
result (at most JUMP rows deep); and that deep page again with the filter's end moved down to the
cursor's time ("deep*", the query shape that lets SQLite seek straight to the cursor); and for target
filters, the first and deep page with a candidate query shape ("first†", "deep†": member IDs first, then
one ordered index range per member). Each time is the
median of RUNS calls after one warm-up call. Every call runs in its own transaction with an empty ORM
session, like a request (the rollback also drops psycopg's prepared statements, as the end of a request
does). It prints the plan of the exact SQL page() sent: EXPLAIN QUERY PLAN on SQLite; EXPLAIN (ANALYZE,
BUFFERS) on PostgreSQL, plus the generic plan PostgreSQL would switch to if one connection ran the same
statement 10+ times in a transaction (psycopg prepares it at the 5th). Numbers are printed, never asserted.

    DATABASE_URL=... .venv/bin/python bench/permission_log.py prepare --domain bench
    DATABASE_URL=... .venv/bin/flask --app app seed-load --permission-log 2000000 --domain bench
    DATABASE_URL=... .venv/bin/python bench/permission_log.py run --domain bench [--analyze] [--plans] [--json F]

`prepare` creates an organization with the demo's roster (the same 31 names and login IDs, services
support/shop/bugs) but without the demo's month of permission history: `seed-load` spreads its rows
from the organization's last log row to now, and the demo history ends "now", so in the `demo`
organization the 2,000,000 rows would all land in the few seconds between the two commands.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
import unicodedata
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event, func, select, text  # noqa: E402

PAGE = 50
NEWCOMER = "newcomer"


def make_app():
    from portal import create_app

    url = os.environ.get("DATABASE_URL")
    if not url:
        sys.exit("set DATABASE_URL (sqlite:////path/file.db or postgresql://…)")
    from portal.config import _normalise_db_url

    return create_app({"SQLALCHEMY_DATABASE_URI": _normalise_db_url(url), "RATELIMIT_ENABLED": False})


# -- prepare ------------------------------------------------------------------------------------------------

def prepare(domain: str, password: str) -> None:
    """An organization shaped like the demo one (members, services) with an empty permission log."""
    from portal.extensions import db
    from portal.models import Organization, ServiceStatus
    from portal.devtools import demo
    from portal.services.accounts import create_member
    from portal.services.organizations import provision_organization
    from portal.services.service_setup import create_service

    if db.session.scalars(select(Organization).where(Organization.domain == domain)).first() is not None:
        print(f"organization {domain} exists; nothing to do")
        return
    org = provision_organization(name=f"벤치마크 {domain}", domain=domain, admin_login="admin",
                                 admin_email=f"admin@{domain}.example", admin_name="관리자",
                                 password=password).organization
    for key, name, type_, languages, default, _status in demo.SERVICES[:3]:
        create_service(org.id, service_key=key, name=name, type=type_, languages=languages,
                       default_language=default, status=ServiceStatus.active)
    for login, name, _email, _placements in demo.MEMBERS + demo._extra_agents():
        create_member(org.id, login_id=login, name=name, email=f"{login}@{domain}.example", password=password)
    db.session.commit()
    print(f"organization {domain}: {len(demo.MEMBERS) + demo.EXTRA_AGENTS + 1} members, 3 services, empty log")


# -- measuring -----------------------------------------------------------------------------------------------

class Captured:
    """The last SELECT on permission_change sent to the database (statement and parameters as sent)."""

    def __init__(self, engine):
        self.engine, self.last = engine, None

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._hook)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._hook)

    def _hook(self, _conn, _cursor, statement, parameters, _context, _executemany):
        if "FROM permission_change" in statement:
            self.last = (statement, parameters)


def timed_page(org_id, flt, cursor, runs, page=None):
    """Median, min and max milliseconds of `runs` calls of page() (after a warm-up call), and its result."""
    from portal.extensions import db
    from portal.services import permission_log

    page = page or permission_log.page
    db.session.rollback()
    db.session.expunge_all()
    rows, next_cursor = page(org_id, flt, cursor)  # warm-up (and the result we check)
    keys = [(r.created_at, r.id) for r in rows]
    times = []
    for _ in range(runs):
        db.session.rollback()
        db.session.expunge_all()
        t0 = time.perf_counter()
        page(org_id, flt, cursor)
        times.append((time.perf_counter() - t0) * 1000)
    return {"median": statistics.median(times), "min": min(times), "max": max(times)}, (keys, next_cursor)


def explain(statement, parameters, dialect):
    from portal.extensions import db

    conn = db.session.connection()
    if dialect == "sqlite":
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
        depth = {0: -1}
        lines = []
        for node_id, parent, _unused, detail in rows:
            depth[node_id] = depth.get(parent, -1) + 1
            lines.append("  " * depth[node_id] + detail)
        return {"custom": "\n".join(lines)}
    plans = {"custom": "\n".join(r[0] for r in conn.exec_driver_sql(
        "EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).all())}
    # psycopg prepares a statement from its 5th execution on, and PostgreSQL may then run a generic plan
    # (planned without the parameter values): show that one too.
    names = []

    def numbered(match):
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    generic_sql = re.sub(r"%\((\w+)\)s", numbered, statement)
    raw = conn.connection.dbapi_connection
    import psycopg

    args = psycopg.ClientCursor(raw).mogrify(", ".join(["%s"] * len(names)), [parameters[n] for n in names])
    conn.exec_driver_sql("DEALLOCATE ALL")
    conn.exec_driver_sql("PREPARE bench_page AS " + generic_sql)
    conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
    try:
        plans["generic"] = "\n".join(r[0] for r in conn.exec_driver_sql(
            f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_page({args})").all())
    finally:
        conn.exec_driver_sql("RESET plan_cache_mode")
        conn.exec_driver_sql("DEALLOCATE bench_page")
    return plans


def plan_of(org_id, flt, cursor, dialect, page=None):
    from portal.extensions import db
    from portal.services import permission_log

    page = page or permission_log.page
    db.session.rollback()
    with Captured(db.engine) as cap:
        page(org_id, flt, cursor)
    if cap.last is None:
        db.session.rollback()
        return None, None, {"custom": "(no query on permission_change: no member matches)"}
    statement, parameters = cap.last
    plans = explain(statement, parameters, dialect)
    db.session.rollback()
    return statement, parameters, plans


def by_member_page(org_id, flt, cursor=None, size=PAGE):
    """A candidate shape for the target filter, NOT what the app runs: the matching member IDs first, then
    one ordered range of ix_permission_change_org_target_time per member (UNION ALL), then the newest
    `size` of those few rows. Same arguments and result as permission_log.page."""
    from sqlalchemy import literal, tuple_, union_all

    from portal.extensions import db
    from portal.models import PermissionChange as PC
    from portal.models.base import UTCDateTime
    from portal.services.pagination import decode_cursor, encode_cursor
    from portal.services.permission_log import _member_ids, query

    ids = list(db.session.scalars(_member_ids(org_id, flt.target)))
    if not ids:
        return [], None
    base = replace(flt, target="")
    position = decode_cursor(cursor) if cursor else None
    if position:
        base = replace(base, end=min(base.end, position[0]))
    parts = []
    for member_id in ids:
        q = query(org_id, base).with_only_columns(PC.id).where(PC.target_member_id == member_id)
        if position:
            q = q.where(tuple_(PC.created_at, PC.id) < tuple_(literal(position[0], UTCDateTime()),
                                                               literal(position[1])))
        parts.append(q.order_by(PC.created_at.desc(), PC.id.desc()).limit(size + 1).subquery())
    newest = union_all(*[select(p.c.id) for p in parts]).subquery()
    rows = list(db.session.scalars(select(PC).where(PC.id.in_(select(newest.c.id)))
                                   .order_by(PC.created_at.desc(), PC.id.desc()).limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    return rows, (encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None)


def check(keys, after=None):
    """Rows (their (created_at, id) keys) strictly newest first, all older than the cursor row."""
    ordered = all(a > b for a, b in zip(keys, keys[1:]))
    below = after is None or not keys or keys[0] < after
    return ordered and below


def ensure_newcomer(org_id) -> None:
    """A member who joined after the bulk load, with the 3 log rows of joining a service: the usual shape
    of a target search (most members have few changes), unlike the bulk rows spread over everyone."""
    from portal.extensions import db
    from portal.models import Member, Service, ServiceRole
    from portal.services import Actor
    from portal.services.accounts import create_member
    from portal.services.permissions import add_service_member, set_channel

    if db.session.scalar(select(Member.id).where(Member.organization_id == org_id, Member.login_id == NEWCOMER)):
        return
    admin_id = db.session.scalar(select(Member.id).where(Member.organization_id == org_id,
                                                         Member.login_id == "admin"))
    support = db.session.scalars(select(Service).where(Service.organization_id == org_id,
                                                       Service.service_key == "support")).one()
    member = create_member(org_id, login_id=NEWCOMER, name="신입상담", email=f"{NEWCOMER}@{org_id}.example",
                           password="demo-pass-1234")
    actor = Actor(org_id, admin_id)
    add_service_member(actor, support, member, ServiceRole.agent, ticket=True)
    set_channel(actor, support, member, "chat", True)
    set_channel(actor, support, member, "phone", True)
    db.session.commit()
    print(f"added member {NEWCOMER} with 3 permission log rows (now)")


def filters(org_id, now, service_key):
    from portal.extensions import db
    from portal.models import Service
    from portal.services.permission_log import make_filter

    start = now - timedelta(days=365)
    service_id = db.session.scalar(select(Service.id).where(Service.organization_id == org_id,
                                                           Service.service_key == service_key))
    return [
        ("a. 365 days, no filter", make_filter(start=start, end=now)),
        ("b. operation=change_role", make_filter(start=start, end=now, operation="change_role")),
        ("c1. target=김 (3 members)", make_filter(start=start, end=now, target="김")),
        ("c2. target=agent05 (login)", make_filter(start=start, end=now, target="agent05")),
        (f"c3. target={NEWCOMER} (3 rows)", make_filter(start=start, end=now, target=NEWCOMER)),
        ("c4. target=없는사람 (no member)", make_filter(start=start, end=now, target="없는사람")),
        (f"d. service={service_key}", make_filter(start=start, end=now, service_id=service_id)),
    ]


def run(args) -> dict:
    from portal.extensions import db
    from portal.models import Organization, PermissionChange
    from portal.models.base import utcnow
    from portal.services.pagination import decode_cursor, encode_cursor
    from portal.services.permission_log import page, query

    dialect = db.engine.dialect.name
    org_id = db.session.scalar(select(Organization.id).where(Organization.domain == args.domain))
    if org_id is None:
        sys.exit(f"no organization {args.domain}")
    ensure_newcomer(org_id)
    if args.analyze:
        t0 = time.perf_counter()
        if dialect == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM (ANALYZE) permission_change")
        else:
            db.session.execute(text("ANALYZE"))
            db.session.commit()
        print(f"ANALYZE took {time.perf_counter() - t0:.1f} s")
    total = db.session.scalar(select(func.count()).select_from(PermissionChange))
    org_rows = db.session.scalar(select(func.count()).where(PermissionChange.organization_id == org_id))
    span = db.session.execute(select(func.min(PermissionChange.created_at), func.max(PermissionChange.created_at))
                              .where(PermissionChange.organization_id == org_id)).one()
    print(f"{dialect}: {total:,} permission_change rows, {org_rows:,} in {args.domain} "
          f"(from {span[0]:%Y-%m-%d %H:%M:%S} to {span[1]:%Y-%m-%d %H:%M:%S} UTC)")
    now = utcnow()
    report = {"dialect": dialect, "total_rows": total, "org_rows": org_rows, "runs": args.runs,
              "walk": args.walk, "filters": []}
    for name, flt in filters(org_id, now, args.service):
        sub = query(org_id, flt).subquery()
        matching = db.session.scalar(select(func.count()).select_from(sub))
        print(f"\n== {name}: {matching:,} rows match", flush=True)
        entry = {"filter": name, "matching": matching, "pages": {}}

        first, (rows, cursor) = timed_page(org_id, flt, None, args.runs)
        entry["pages"]["first"] = {**first, "rows": len(rows), "ok": check(rows), "ids": [k[1] for k in rows]}
        plan_cursors = {"first": (flt, None)}

        # Follow the cursor like a person clicking "next" WALK times.
        walk_times, depth = [], len(rows)
        for _ in range(args.walk):
            if cursor is None:
                break
            db.session.expunge_all()
            t0 = time.perf_counter()
            rows, next_cursor = page(org_id, flt, cursor)
            walk_times.append((time.perf_counter() - t0) * 1000)
            depth += len(rows)
            cursor = next_cursor
            db.session.rollback()
        if cursor is not None:
            walked, (rows, _c) = timed_page(org_id, flt, cursor, args.runs)
            entry["pages"]["walked"] = {**walked, "depth": depth, "rows": len(rows),
                                        "ok": check(rows, decode_cursor(cursor)),
                                        "walk_median": statistics.median(walk_times),
                                        "walk_total_s": sum(walk_times) / 1000}
            plan_cursors["walked"] = (flt, cursor)

        # Jump: the cursor of the row in the middle of the result (at most JUMP rows deep).
        jump = min(args.jump, matching // 2)
        if jump > PAGE:
            row = db.session.scalars(query(org_id, flt).order_by(PermissionChange.created_at.desc(),
                                                                 PermissionChange.id.desc())
                                     .offset(jump - 1).limit(1)).one()
            key = (row.created_at, row.id)
            cursor = encode_cursor(*key)
            expected = list(db.session.scalars(
                query(org_id, flt).order_by(PermissionChange.created_at.desc(), PermissionChange.id.desc())
                .with_only_columns(PermissionChange.id).offset(jump).limit(PAGE)))
            deep, (rows, _c) = timed_page(org_id, flt, cursor, args.runs)
            entry["pages"]["deep"] = {**deep, "depth": jump, "rows": len(rows), "ids": [k[1] for k in rows],
                                      "ok": check(rows, key) and [k[1] for k in rows] == expected}
            plan_cursors["deep"] = (flt, cursor)
            # The same page with the filter's end moved down to the cursor's time: then the first upper
            # bound on created_at in the WHERE clause is the cursor's, which is what SQLite seeks on.
            narrowed = replace(flt, end=min(flt.end, key[0]))
            deep, (rows, _c) = timed_page(org_id, narrowed, cursor, args.runs)
            entry["pages"]["deep*"] = {**deep, "depth": jump, "rows": len(rows),
                                       "ok": check(rows, key) and [k[1] for k in rows] == expected}
            plan_cursors["deep*"] = (narrowed, cursor)

        page_fns = {}
        if flt.target:  # the candidate shape, on the first page and on the deep cursor
            for label, (_f, page_cursor) in list(plan_cursors.items()):
                if label not in ("first", "deep"):
                    continue
                after = decode_cursor(page_cursor) if page_cursor else None
                stats, (rows, _c) = timed_page(org_id, flt, page_cursor, args.runs, page=by_member_page)
                expected_keys = entry["pages"][label]["ids"]
                entry["pages"][label + "†"] = {**stats, **({"depth": entry["pages"][label]["depth"]}
                                                           if "depth" in entry["pages"][label] else {}),
                                               "rows": len(rows), "ok": check(rows, after) and
                                               [k[1] for k in rows] == expected_keys}
                plan_cursors[label + "†"] = (flt, page_cursor)
                page_fns[label + "†"] = by_member_page
        for label, (page_flt, page_cursor) in plan_cursors.items():
            statement, parameters, plans = plan_of(org_id, page_flt, page_cursor, dialect, page_fns.get(label))
            entry["pages"][label]["plan"] = plans
            if label == "first":
                entry["sql"] = statement
        for label, result in entry["pages"].items():
            where = f" ({result['depth']:,} rows in)" if "depth" in result else ""
            extra = (f"; walking there: median {result['walk_median']:.1f} ms/page, "
                     f"{result['walk_total_s']:.1f} s in all") if "walk_median" in result else ""
            print(f"  {label:6s}{where}: median {result['median']:.1f} ms (min {result['min']:.1f}, "
                  f"max {result['max']:.1f}), {result['rows']} rows, order/content "
                  f"{'ok' if result['ok'] else 'WRONG'}{extra}")
            if args.plans:
                for kind, plan in result["plan"].items():
                    print(f"    -- {kind} plan:")
                    print("\n".join("      " + line for line in plan.splitlines()))
        report["filters"].append(entry)
    summary(report)
    return report


def pad(label: str, width: int = 32) -> str:
    """Left-justify for a terminal: Hangul takes two columns."""
    wide = sum(unicodedata.east_asian_width(ch) in "WF" for ch in label)
    return label + " " * max(width - len(label) - wide, 0)


def summary(report) -> None:
    print(f"\n{report['dialect']}: median ms of {report['runs']} runs (target: first page < 50 ms, "
          "deep pages no slower)")
    print(f"{'filter':32s} {'matching':>10s} {'first':>8s} {'walked':>8s} {'deep':>8s} {'deep*':>8s}  depth")
    for entry in report["filters"]:
        pages = entry["pages"]
        cell = lambda label: f"{pages[label]['median']:8.1f}" if label in pages else f"{'-':>8s}"  # noqa: E731
        deep_at = f"{pages['deep']['depth']:,}" if "deep" in pages else "-"
        walked_at = f"{pages['walked']['depth']:,}" if "walked" in pages else "-"
        generic = ""
        if "generic" in pages["first"].get("plan", {}):
            found = re.search(r"Execution Time: ([\d.]+) ms", pages["first"]["plan"]["generic"])
            generic = f"; first page with the generic plan: {float(found.group(1)):.2f} ms" if found else ""
        print(f"{pad(entry['filter'])} {entry['matching']:>10,} {cell('first')} {cell('walked')} "
              f"{cell('deep')} {cell('deep*')}  walked {walked_at}, deep {deep_at}{generic}")
    print("walked: after following the cursor from the first page; deep: from the cursor of the row in the middle;\n"
          "deep*: the deep page with the filter's end moved down to the cursor's time (what page() could send).")
    print("\ntarget filters with the candidate shape (member IDs first, one ordered index range per member, "
          "UNION ALL; not app code):")
    print(f"{'filter':32s} {'matching':>10s} {'first†':>8s} {'deep†':>8s}")
    for entry in report["filters"]:
        pages = entry["pages"]
        if "first†" in pages:
            deep = f"{pages['deep†']['median']:8.1f}" if "deep†" in pages else f"{'-':>8s}"
            print(f"{pad(entry['filter'])} {entry['matching']:>10,} {pages['first†']['median']:8.1f} {deep}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="create an organization like the demo one with an empty log")
    p.add_argument("--domain", default="bench")
    p.add_argument("--password", default="demo-pass-1234")
    r = sub.add_parser("run", help="time the pages")
    r.add_argument("--domain", default="bench")
    r.add_argument("--runs", type=int, default=7, help="timed calls per page (median printed)")
    r.add_argument("--walk", type=int, default=200, help="pages to follow by cursor before the 'walked' page")
    r.add_argument("--jump", type=int, default=1_000_000, help="deepest row for the 'deep' cursor")
    r.add_argument("--service", default="support", help="service key for filter d")
    r.add_argument("--analyze", action="store_true", help="ANALYZE (PostgreSQL: VACUUM ANALYZE) first")
    r.add_argument("--plans", action="store_true", help="print the query plans")
    r.add_argument("--json", help="write the results (with plans) to this file")
    args = parser.parse_args()
    app = make_app()
    with app.app_context():
        if args.command == "prepare":
            prepare(args.domain, args.password)
            return
        report = run(args)
        if args.json:
            Path(args.json).write_text(json.dumps(report, ensure_ascii=False, indent=1, default=str))


if __name__ == "__main__":
    main()
