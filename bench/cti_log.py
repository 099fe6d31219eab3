"""CTI log export benchmark (see bench/README.md, "CTI log export").

One database holds the demo organization and, for its service `support`, BENCH_ROWS / 10 logged CTI events on
one day and BENCH_ROWS (default 1,000,000) on the next, all loaded with bulk ORM inserts in chunks. Then, for
each day, each in a fresh process:

- app: `portal.services.cti_log.workbook(service, day, day)`, the function behind the CTI Log download: the .xlsx
  in a spooled temporary file;
- raw (db): no portal code. SQLAlchemy Core reads the same 12 columns (the event joined to its member and CTI
  agent, same order, same column types, 2,000 rows a batch), formats them the same way and writes them with
  openpyxl in write-only mode into the same kind of spooled file;
- raw (write): openpyxl write-only alone, writing as many generated rows of the same shape (no database).

Each process reports its wall and CPU seconds for the call and its peak RSS (getrusage RUSAGE_SELF), and its RSS
just before the call. The processes are started by this script, which imports no portal code and stays small:
Linux counts in a child's peak RSS its parent's resident memory at fork time. The first rows of the app's
and the raw file are compared. Numbers are printed, never asserted.

    .venv/bin/python bench/cti_log.py                             # SQLite, 100,000 and 1,000,000 rows
    BENCH_ROWS=100000 .venv/bin/python bench/cti_log.py           # quicker: 10,000 and 100,000 rows
    .venv/bin/python bench/cti_log.py --keep /tmp/ctilog          # keep the database; the next run skips the load
    .venv/bin/python bench/cti_log.py --profile                   # + cProfile of workbook() on the smaller day
    .venv/bin/python bench/cti_log.py --keep /tmp/ctilog --repeat 3   # medians of 3 turns each (a noisy machine)
    .venv/bin/python bench/cti_log.py --db postgresql+psycopg://postgres@127.0.0.1:5499/bench

A PostgreSQL database given with --db is emptied (DROP SCHEMA public CASCADE): give a throwaway one.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SMALL_DAY, BIG_DAY = date(2026, 1, 5), date(2026, 1, 6)
CHUNK = 10_000
BATCH = 2_000  # rows fetched at a time, as workbook() does (yield_per=2000)
SHEET_ROWS = 1_000_000
# One agent's working pattern, repeated: kind, direction, detail.
CYCLE = [("inbound_ringing", "IB", None), ("answered", "IB", None), ("hangup", "IB", None),
         ("state_change", None, {"state": "ticket_work"}), ("state_change", None, {"state": "ready"}),
         ("outbound_dial", "OB", None), ("connected", "OB", None), ("transfer", "OB", {"to": "queue"}),
         ("hangup", "OB", None), ("state_change", None, {"state": "break"}), ("state_change", None, {"state": "ready"})]


def env(database_url: str) -> dict:
    return {**os.environ, "DATABASE_URL": database_url, "PORTAL_DOTENV": "/dev/null", "SECRET_KEY": "bench",
            "PASSWORD_HASH_PROFILE": "fast", "RATELIMIT_ENABLED": "false", "PYTHONPATH": str(ROOT)}


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def report_done(out: str, spool, xlsx: str, seconds: float, cpu: float, rows: int, before_mb: float) -> None:
    """Write the measurement (peak RSS taken first), then copy the file out in chunks, not read whole."""
    peak = peak_mb()
    with open(xlsx, "wb") as target:
        shutil.copyfileobj(spool, target, 1024 * 1024)
        size = target.tell()
    Path(out).write_text(json.dumps({"seconds": seconds, "cpu": cpu, "rows": rows, "bytes": size,
                                     "before_mb": before_mb, "peak_mb": peak}))


# -- the data ---------------------------------------------------------------------------------------------------

def events(n: int, day: date, zone, organization_id: int, service_id: int, agents: list[tuple[str, int]]):
    """n logged events spread over the day (service time), agents taking turns, 1 % from an unknown CTI ID."""
    start = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(timezone.utc)
    step = 86_400 / n
    received = datetime.now(timezone.utc)
    for i in range(n):
        kind, direction, detail = CYCLE[i % len(CYCLE)]
        call = i // len(CYCLE)
        if i % 100 == 99:
            cti_id, member_id, error = "ghost99", None, "Unknown CTI ID ghost99."
        else:
            (cti_id, member_id), error = agents[call % len(agents)], None
        yield {"organization_id": organization_id, "service_id": service_id, "external_id": f"{day:%Y%m%d}-{i}",
               "kind": kind, "occurred_at": start + timedelta(seconds=i * step), "received_at": received,
               "local_day": day, "logged": True, "cti_id": cti_id, "member_id": member_id,
               "call_id": f"{day:%Y%m%d}-call-{call}" if direction else None, "direction": direction,
               "counterpart": f"010{(call * 7919) % 10**8:08d}" if direction else None, "detail": detail,
               "error": error}


def fill_main(database_url: str, small: int, big: int, out: str) -> None:
    """Fresh schema (PostgreSQL: emptied first), the demo, then the two days of events."""
    import logging

    import flask_migrate
    from sqlalchemy import insert, select, text
    from zoneinfo import ZoneInfo

    from portal import create_app
    from portal.extensions import db
    from portal.models import CtiAgent, CtiEvent, Organization, Service
    from portal.devtools.demo import seed_demo

    logging.disable(logging.INFO)
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "RATELIMIT_ENABLED": False, "MAIL_SERVER": ""})
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        flask_migrate.upgrade()
        seed_demo("demo-pass-1234")
        db.session.commit()
        org = db.session.scalars(select(Organization).where(Organization.domain == "demo")).one()
        service = db.session.scalars(select(Service).where(Service.organization_id == org.id,
                                                           Service.service_key == "support")).one()
        agents = list(db.session.execute(select(CtiAgent.cti_id, CtiAgent.member_id)
                                         .where(CtiAgent.organization_id == org.id).order_by(CtiAgent.cti_id)))
        zone = ZoneInfo(service.time_zone)
        seconds = {}
        for day, n in ((SMALL_DAY, small), (BIG_DAY, big)):
            started = time.perf_counter()
            chunk = []
            for row in events(n, day, zone, org.id, service.id, [tuple(a) for a in agents]):
                chunk.append(row)
                if len(chunk) == CHUNK:
                    db.session.execute(insert(CtiEvent), chunk)
                    db.session.commit()
                    chunk = []
            if chunk:
                db.session.execute(insert(CtiEvent), chunk)
                db.session.commit()
            seconds[str(n)] = time.perf_counter() - started
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE cti_event"))
        Path(out).write_text(json.dumps({"service_id": service.id, "agents": len(agents), "fill_s": seconds}))


def upgrade_main(database_url: str, out: str) -> None:
    """A kept database brought up to the current schema (the code may have moved on since it was filled)."""
    import logging

    import flask_migrate

    from portal import create_app

    logging.disable(logging.INFO)
    with create_app({"SQLALCHEMY_DATABASE_URI": database_url, "RATELIMIT_ENABLED": False}).app_context():
        flask_migrate.upgrade()
    Path(out).write_text("{}")


# -- the measured processes -------------------------------------------------------------------------------------

def app_main(database_url: str, service_id: int, day: date, out: str, xlsx: str, profile: str | None) -> None:
    """workbook() as the download calls it, in an app context."""
    from portal import create_app
    from portal.extensions import db
    from portal.models import Service
    from portal.services import cti_log

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "RATELIMIT_ENABLED": False, "MAIL_SERVER": ""})
    with app.app_context():
        service = db.session.get(Service, service_id)
        before, cpu, started = rss_mb(), cpu_s(), time.perf_counter()
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            spool, count = profiler.runcall(cti_log.workbook, service, day, day)
            profiler.dump_stats(profile)
        else:
            spool, count = cti_log.workbook(service, day, day)
        seconds, cpu = time.perf_counter() - started, cpu_s() - cpu
        report_done(out, spool, xlsx, seconds, cpu, count, before)


def _safe(value):
    return "'" + value if isinstance(value, str) and value.startswith(("=", "+", "-", "@", "\t", "\r")) else value


def _writer(columns: list[str], sheet_name: str):
    """A write-only workbook with a bold header; returns (workbook, append) where append starts a new sheet
    every SHEET_ROWS rows, as workbook() does."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    wb = Workbook(write_only=True)
    state = {"sheet": None, "in_sheet": SHEET_ROWS, "count": 0}

    def append(row: list) -> None:
        if state["in_sheet"] >= SHEET_ROWS:
            sheet = state["sheet"] = wb.create_sheet(f"{sheet_name}-{state['count'] // SHEET_ROWS + 1}")
            header = []
            for title in columns:
                cell = WriteOnlyCell(sheet, value=title)
                cell.font = Font(bold=True)
                header.append(cell)
            sheet.append(header)
            state["in_sheet"] = 0
        state["sheet"].append(row)
        state["count"] += 1
        state["in_sheet"] += 1

    return wb, append


COLUMNS = ["시간", "서비스", "상담원", "로그인 ID", "CTI ID", "CTI 번호", "이벤트", "방향", "상대 번호", "통화 ID",
           "통화 시간(초)", "상세"]


def raw_main(database_url: str, service_id: int, day: date, out: str, xlsx: str) -> None:
    """The floor with the database: Core reads the same columns, openpyxl write-only writes them."""
    import sqlite3

    import sqlalchemy as sa
    from zoneinfo import ZoneInfo

    engine = sa.create_engine(database_url)

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            for pragma in ("journal_mode=WAL", "busy_timeout=5000", "foreign_keys=ON", "synchronous=NORMAL"):
                dbapi_connection.execute("PRAGMA " + pragma)

    meta = sa.MetaData()
    event = sa.Table("cti_event", meta, sa.Column("id", sa.Integer), sa.Column("service_id", sa.Integer),
                     sa.Column("kind", sa.String), sa.Column("occurred_at", sa.DateTime), sa.Column("local_day", sa.Date),
                     sa.Column("logged", sa.Boolean), sa.Column("cti_id", sa.String), sa.Column("member_id", sa.Integer),
                     sa.Column("call_id", sa.String), sa.Column("direction", sa.String),
                     sa.Column("counterpart", sa.String), sa.Column("detail", sa.JSON), sa.Column("error", sa.String))
    member = sa.Table("member", meta, sa.Column("id", sa.Integer), sa.Column("name", sa.String),
                      sa.Column("login_id", sa.String))
    agent = sa.Table("cti_agent", meta, sa.Column("member_id", sa.Integer), sa.Column("cti_number", sa.String))
    service = sa.Table("service", meta, sa.Column("id", sa.Integer), sa.Column("name", sa.String),
                       sa.Column("time_zone", sa.String))
    with engine.connect() as conn:
        name, zone_name = conn.execute(sa.select(service.c.name, service.c.time_zone)
                                       .where(service.c.id == service_id)).one()
        zone = ZoneInfo(zone_name)
        before, cpu, started = rss_mb(), cpu_s(), time.perf_counter()
        query = (sa.select(event.c.occurred_at, member.c.name, member.c.login_id, event.c.cti_id, agent.c.cti_number,
                           event.c.kind, event.c.direction, event.c.counterpart, event.c.call_id, event.c.detail,
                           event.c.error)
                 .outerjoin(member, member.c.id == event.c.member_id).outerjoin(agent, agent.c.member_id == member.c.id)
                 .where(event.c.service_id == service_id, event.c.logged.is_(True),
                        event.c.local_day >= day, event.c.local_day <= day)  # workbook()'s day range
                 .order_by(event.c.occurred_at, event.c.id))
        wb, append = _writer(COLUMNS, f"{day:%Y%m%d}")
        count = 0
        service_name = _safe(name)
        for when, who, login, cti_id, number, kind, direction, counterpart, call_id, detail, error in \
                conn.execution_options(yield_per=BATCH).execute(query):
            detail = detail or {}
            append([when.replace(tzinfo=timezone.utc).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"), service_name,
                    _safe(who or ""), _safe(login or ""), _safe(cti_id or ""), _safe(number or ""), kind,
                    direction or "", _safe(counterpart or ""), _safe(call_id or ""), detail.get("duration"),
                    _safe(", ".join(f"{k}={v}" for k, v in detail.items()) + (f" ({error})" if error else ""))])
            count += 1
        spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
        wb.save(spool)
        spool.seek(0)
        seconds, cpu = time.perf_counter() - started, cpu_s() - cpu
    report_done(out, spool, xlsx, seconds, cpu, count, before)


def write_main(n: int, out: str, xlsx: str) -> None:
    """openpyxl write-only alone: n generated rows shaped like the log's."""
    before, cpu, started = rss_mb(), cpu_s(), time.perf_counter()
    wb, append = _writer(COLUMNS, "20260106")
    base = datetime(2026, 1, 6)
    for i in range(n):
        kind, direction, detail = CYCLE[i % len(CYCLE)]
        detail = detail or {}
        append([(base + timedelta(seconds=i * 86_400 / n)).strftime("%Y-%m-%d %H:%M:%S"), "고객지원센터", "이상담",
                "agent", "agent01", "7001", kind, direction or "", f"010{i % 10**8:08d}" if direction else "",
                f"20260106-call-{i // 11}" if direction else "", None,
                ", ".join(f"{k}={v}" for k, v in detail.items())])
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
    wb.save(spool)
    spool.seek(0)
    seconds, cpu = time.perf_counter() - started, cpu_s() - cpu
    report_done(out, spool, xlsx, seconds, cpu, n, before)


# -- the driver -------------------------------------------------------------------------------------------------

def run(args: list[str], database_url: str, workdir: Path, name: str) -> dict:
    out = workdir / f"{name}.json"
    out.unlink(missing_ok=True)
    started = time.perf_counter()
    subprocess.run([sys.executable, __file__, *args, str(out)], cwd=ROOT, env=env(database_url), check=True)
    result = json.loads(out.read_text())
    result["process_s"] = time.perf_counter() - started
    return result


def first_rows(path: Path, n: int = 4) -> list[tuple]:
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True)
    rows = []
    for row in wb.worksheets[0].iter_rows(min_row=2, values_only=True):
        rows.append(row)
        if len(rows) == n:
            break
    wb.close()
    return rows


def profile_report(path: Path, top: int = 25) -> None:
    import pstats

    stats = pstats.Stats(str(path))
    total = max(v[3] for v in stats.stats.values())  # the workbook() call's cumulative time
    print(f"\ncProfile of workbook() ({total:.1f} s under the profiler), by own time:")
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    for (file, line, func), (_cc, calls, own, cum, _callers) in rows:
        where = f"{Path(file).name}:{line}" if line else file
        print(f"  {own / total:6.1%} own {cum / total:6.1%} cum {calls:>9,}  {func} ({where})")
    print("by cumulative time, portal and the steps under it:")
    wanted = ("cti_log.py", "safe_text", "strftime", "astimezone", "append", "_write_row", "write_cell",
              "_load_on_pk_identity", "instances", "fetchmany", "process_result_value", "save", "_header",
              "__get__", "join", "get")
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][3], reverse=True)
    shown = 0
    for (file, line, func), (_cc, calls, own, cum, _callers) in rows:
        if any(w in func or w in file for w in wanted) and cum / total > 0.01:
            print(f"  {cum / total:6.1%} cum {own / total:6.1%} own {calls:>9,}  {func} ({Path(file).name}:{line})")
            shown += 1
            if shown == top:
                break


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1].startswith("_"):
        command, rest = sys.argv[1], sys.argv[2:]
        if command == "_upgrade":
            upgrade_main(rest[0], rest[1])
        elif command == "_fill":
            fill_main(rest[0], int(rest[1]), int(rest[2]), rest[3])
        elif command == "_app":
            app_main(rest[0], int(rest[1]), date.fromisoformat(rest[2]), rest[-1], rest[3],
                     rest[4] if len(rest) > 5 else None)
        elif command == "_raw":
            raw_main(rest[0], int(rest[1]), date.fromisoformat(rest[2]), rest[4], rest[3])
        elif command == "_write":
            write_main(int(rest[0]), rest[2], rest[1])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=int(os.environ.get("BENCH_ROWS", 1_000_000)),
                        help="events on the big day (the small day gets a tenth)")
    parser.add_argument("--db", help="a throwaway PostgreSQL URL (emptied); default: a SQLite file")
    parser.add_argument("--keep", help="directory for the SQLite file, kept; a second run with the same rows "
                                       "reuses it")
    parser.add_argument("--profile", action="store_true", help="also profile workbook() on the small day")
    parser.add_argument("--repeat", type=int, default=1, help="measure app and raw (db) this many times each, "
                                                               "taking turns; the table shows medians")
    args = parser.parse_args()
    big, small = args.rows, args.rows // 10
    workdir = Path(args.keep or tempfile.mkdtemp(prefix="bench-cti-log-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if args.db:
        url, backend = args.db.replace("postgresql://", "postgresql+psycopg://", 1), "postgres"
    else:
        url, backend = f"sqlite:///{workdir}/cti_log-{big}.db", "sqlite"
    try:
        marker = workdir / f"fill-{big}.json"
        if args.keep and not args.db and marker.exists():
            filled = json.loads(marker.read_text())
            print(f"{backend}: reusing {url} ({small:,} + {big:,} events)")
            run(["_upgrade", url], url, workdir, "upgrade")
        else:
            print(f"{backend}: loading {small:,} + {big:,} events …", flush=True)
            filled = run(["_fill", url, str(small), str(big)], url, workdir, f"fill-{big}")
            print("  " + ", ".join(f"{int(n):,} rows in {s:.1f} s" for n, s in filled["fill_s"].items()))
        service = str(filled["service_id"])
        results = {}
        for n, day in ((small, SMALL_DAY), (big, BIG_DAY)):
            measured = {"app": [], "raw (db)": [], "raw (write)": []}
            for repeat in range(args.repeat):  # app and raw (db) take turns, so a busy spell hits both
                for kind, argv in (
                        ("app", ["_app", url, service, day.isoformat(), str(workdir / f"app-{n}.xlsx")]),
                        ("raw (db)", ["_raw", url, service, day.isoformat(), str(workdir / f"raw-{n}.xlsx")]),
                        ("raw (write)", ["_write", str(n), str(workdir / f"write-{n}.xlsx")])):
                    if kind == "raw (write)" and repeat:
                        continue
                    print(f"  {kind:<11} {n:>9,} rows …", end="", flush=True)
                    result = run(argv, url, workdir, f"{kind[:3]}-{n}")
                    measured[kind].append(result)
                    print(f" {result['seconds']:6.1f} s, CPU {result['cpu']:6.1f} s, peak {result['peak_mb']:5.0f} MB",
                          flush=True)
                    if result["rows"] != n:
                        print(f"    wrote {result['rows']:,} rows, expected {n:,}")
            for kind, runs in measured.items():
                results[kind, n] = {**runs[0], "seconds": statistics.median(r["seconds"] for r in runs),
                                    "cpu": statistics.median(r["cpu"] for r in runs),
                                    "peak_mb": max(r["peak_mb"] for r in runs)}
            app_rows, raw_rows = first_rows(workdir / f"app-{n}.xlsx"), first_rows(workdir / f"raw-{n}.xlsx")
            if app_rows != raw_rows:
                print(f"    the app's first rows differ from raw (db):\n      {app_rows}\n      {raw_rows}")
        if args.profile:
            prof = workdir / "workbook.prof"
            run(["_app", url, service, SMALL_DAY.isoformat(), str(workdir / "profiled.xlsx"), str(prof)], url,
                workdir, "profiled")
            profile_report(prof)
        report(backend, small, big, results, args.repeat)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def report(backend: str, small: int, big: int, results: dict, repeat: int) -> None:
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    print(f"\n{datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}, commit {commit}, {os.cpu_count()} CPUs, {backend}, "
          f"load average {os.getloadavg()[0]:.1f}" + (f"; app and raw (db): medians of {repeat} runs" if repeat > 1 else ""))
    row = "| {:<11} | {:>9} | {:>8} | {:>7} | {:>8} | {:>9} | {:>7} | {:>9} | {:>11} |"
    print(row.format("", "rows", "seconds", "CPU s", "rows/s", "before MB", "peak MB", "file MB", "raw(db)/app"))
    print("|" + "|".join(["-------------", "----------:", "---------:", "--------:", "---------:", "----------:",
                          "--------:", "----------:", "------------:"]) + "|")
    for n in (small, big):
        for kind in ("app", "raw (db)", "raw (write)"):
            r = results[kind, n]
            ratio = ""
            if kind == "app":
                ratio = f"{results['raw (db)', n]['seconds'] / r['seconds']:.2f}"
            print(row.format(kind, f"{n:,}", f"{r['seconds']:.1f}", f"{r['cpu']:.1f}", f"{n / r['seconds']:,.0f}",
                             f"{r['before_mb']:.0f}", f"{r['peak_mb']:.0f}", f"{r['bytes'] / 2**20:.1f}", ratio))
    app_small, app_big = results["app", small], results["app", big]
    speed = results["raw (db)", big]["seconds"] / app_big["seconds"]
    print(f"\napp speed vs raw (db) at {big:,} rows: {speed:.0%} (target ≥ 80 %: {'yes' if speed >= 0.8 else 'NO'}); "
          f"by CPU: {results['raw (db)', big]['cpu'] / app_big['cpu']:.0%}")
    print(f"app peak memory: {app_small['peak_mb']:.0f} MB at {small:,} rows, {app_big['peak_mb']:.0f} MB at "
          f"{big:,} rows (growth above the pre-call RSS: {app_small['peak_mb'] - app_small['before_mb']:.0f} → "
          f"{app_big['peak_mb'] - app_big['before_mb']:.0f} MB)")


if __name__ == "__main__":
    main()
