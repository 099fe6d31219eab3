"""My performance and supervisor board benchmark (see bench/README.md, "My performance and supervisor board").

One freshly migrated database (a SQLite file in a temp dir, or the PostgreSQL database of BENCH_DATABASE_URL,
which is emptied: give a throwaway one) gets an organization, a service `support` (Asia/Seoul) with 500 agents,
and a second service `shop` where some of them work on chat. One agent, `heavy`, has a year (365 days, up to
now) of phone and chat state intervals (≈ 50,000 rows, contiguous within each shift, a realistic mix of states,
a night shift across local midnight every 29th day, the last interval of each channel still open), a call row
for every call interval (a few thousand) and tickets. Every other agent has a few closed intervals today, an
open one now and a few calls today; the service has TICKETS (--tickets, default 6,000) more tickets over the
year. Everything is loaded with bulk ORM inserts (`db.session.execute(insert(Model), rows)`).

The figures are first checked against the generated rows (seconds per state computed here, independently) for
today, the day after a night shift and an ordinary day. Then, in one process, RUNS timed calls after WARMUP
calls each (wall median, p95 and min; this process's CPU; SQL statements and time in the driver per call):

- service functions, each in its own transaction with the member and service loaded first (not timed):
  `performance.figures(heavy, support, day)` for today and the past day, `agent_states.board(support)`;
- templates alone: `me/_performance.html` (the dialog) and `board/_board_rows.html` re-rendered inside a real
  request with the context the route built (caught with Flask's `before_render_template` signal);
- requests through the Flask test client, logged in with CSRF like the tests: as `heavy`, GET /me/performance
  as htmx (the dialog) for today and for the past day, and ?part=body (what the open dialog polls every 5 s);
  as the org admin, GET /services/support/board (the full page) and ?part=rows (what the board polls every 5 s).

Targets (from the tracker): the dialog and the board under 50 ms each. Numbers are printed, never asserted.

    .venv/bin/python bench/performance.py                        # SQLite; about a minute
    .venv/bin/python bench/performance.py --runs 20 --profile    # + SQL per statement and cProfile of each
    .venv/bin/python bench/performance.py --tickets 500000       # a service with a year of tickets
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5499/bench .venv/bin/python bench/performance.py
    bench/performance.sh                                         # SQLite, then a throwaway PostgreSQL

Rate limiting is off (RATELIMIT_ENABLED=false), so the log-ins write nothing to Redis; REDIS_URL points at
database 12 of the local Redis (BENCH_REDIS_URL) in case something asks for it.
"""
from __future__ import annotations

import argparse
import cProfile
import gc
import io
import logging
import os
import pstats
import random
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import event, insert, select, text  # noqa: E402

ZONE_NAME = "Asia/Seoul"
AGENTS = 500  # in `support`, the heavy one included
DAYS = 365
PASSWORD = "bench-pass-1234"
CHUNK = 5_000
TARGET_MS = 50.0
CHANGED = 10  # agents who change state between two polls of the board (of 500)
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')

# Phone: after `ready` comes one of these (weights); after a call, after-call ticket work mostly.
FROM_READY = {"inbound_call": 34, "outbound_call": 14, "ticket_work": 22, "chat_work": 16, "break": 6,
              "training": 2, "reporting": 2, "meeting": 2, "coaching": 2}
AFTER_CALL = {"ticket_work": 80, "ready": 15, "transfer": 5}
# Relative length of an interval in each state (scaled to fill the shift).
WEIGHT = {"ready": 0.6, "inbound_call": 1.0, "outbound_call": 0.7, "transfer": 0.4, "ticket_work": 0.8,
          "chat_work": 1.2, "break": 2.5, "meal": 12.0, "training": 6.0, "reporting": 3.0, "meeting": 6.0,
          "coaching": 4.0, "waiting": 1.0, "online": 1.3}
CHAT_NEXT = {"waiting": {"online": 70, "break": 30}, "online": {"waiting": 85, "break": 15},
             "break": {"waiting": 100}}


# -- the data ---------------------------------------------------------------------------------------------------

def pick(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def phone_states(rng: random.Random, n: int) -> list[str]:
    """n phone states as an agent goes through them: ready between tasks, after-call work after calls, a meal
    in the middle of the shift."""
    states: list[str] = []
    while len(states) < n:
        last = states[-1] if states else None
        if last in ("inbound_call", "outbound_call"):
            states.append(pick(rng, AFTER_CALL))
        elif last == "transfer":
            states.append("ticket_work")
        elif last != "ready":
            states.append("ready")
        elif len(states) >= n // 2 and "meal" not in states:
            states.append("meal")
        else:
            states.append(pick(rng, FROM_READY))
    return states


def across_midnight(began: datetime, ended: datetime | None, zone: ZoneInfo) -> bool:
    return ended is not None and began.astimezone(zone).date() != ended.astimezone(zone).date()


def chat_states(rng: random.Random, n: int) -> list[str]:
    states = ["waiting"]
    while len(states) < n:
        states.append(pick(rng, CHAT_NEXT[states[-1]]))
    return states


def spread(rng: random.Random, states: list[str], start: datetime, end: datetime) -> list[tuple]:
    """Contiguous intervals filling [start, end): lengths drawn per state, scaled to the shift, whole seconds."""
    raw = [WEIGHT[s] * rng.expovariate(1.0) + 0.05 for s in states]
    total, span = sum(raw), (end - start).total_seconds()
    out, at, acc = [], start, 0.0
    for state, weight in zip(states, raw):
        acc += weight
        nxt = start + timedelta(seconds=max(round(acc / total * span), (at - start).total_seconds() + 1))
        nxt = min(nxt, end)
        if nxt > at:
            out.append((state, at, nxt))
        at = nxt
    return out


def heavy_timeline(rng: random.Random, zone: ZoneInfo, today: date, now: datetime):
    """The heavy agent's year: per channel a list of (state, started, ended or None). Day shifts 09:00–18:00
    (± a few minutes); every 29th day a night shift 22:00–07:00, across local midnight; today's shift runs until
    now with the last interval of each channel open."""
    phone, chat = [], []
    for back in range(DAYS - 1, -1, -1):
        day = today - timedelta(days=back)

        def local(h, m=0, d=day):
            return datetime(d.year, d.month, d.day, h, m, tzinfo=zone).astimezone(timezone.utc)
        if back == 0:
            start, end = min(local(9), now - timedelta(hours=3)), now
        elif day.toordinal() % 29 == 0 and back >= 2:
            start, end = local(22, rng.randint(0, 10)), local(7, rng.randint(0, 10), day + timedelta(days=1))
        else:
            start, end = local(9, rng.randint(0, 10)), local(18, rng.randint(0, 20))
        # ≈ 137 intervals a shift: 365 × 137 ≈ 50,000
        p = spread(rng, phone_states(rng, max(60, round(rng.gauss(95, 10)))), start, end)
        c = spread(rng, chat_states(rng, max(20, round(rng.gauss(42, 6)))), start + timedelta(minutes=2), end)
        if back == 0:
            p[-1], c[-1] = (p[-1][0], p[-1][1], None), (c[-1][0], c[-1][1], None)
        phone += p
        chat += c
    return phone, chat


def bulk(model, rows) -> int:
    from portal.extensions import db

    rows = list(rows)
    for at in range(0, len(rows), CHUNK):
        db.session.execute(insert(model), rows[at:at + CHUNK])
    db.session.commit()
    return len(rows)


def build(database_url: str, seed: int, service_tickets: int = 6_000):
    """The app on a fresh schema, filled. Returns (app, ids, the heavy agent's generated intervals)."""
    import flask_migrate

    from portal import create_app
    from portal.extensions import db
    from portal.models import (AgentStateInterval, Call, Member, MemberStatus, ServiceMember, ServiceRole,
                               ServiceStatus, ServiceType, Ticket, TicketChannel, TicketStatus)
    from portal.models.base import utcnow
    from portal.services.organizations import provision_organization
    from portal.services.passwords import hash_password
    from portal.services.service_setup import create_service

    app = create_app({
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12"),
        "RATELIMIT_ENABLED": False, "RATELIMIT_STORAGE_URI": "memory://",
        "PASSWORD_HASH_PROFILE": "fast", "MAIL_SERVER": "", "PORTAL_URL": "http://portal.bench",
    })
    rng = random.Random(seed)
    started = time.perf_counter()
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        flask_migrate.upgrade()
        org = provision_organization(name="성능 벤치", domain="perf", admin_login="admin",
                                     admin_email="admin@perf.example", admin_name="관리자",
                                     password=PASSWORD).organization
        support = create_service(org.id, service_key="support", name="고객지원", type=ServiceType.counseling,
                                 languages=["ko"], default_language="ko", time_zone=ZONE_NAME,
                                 status=ServiceStatus.active)
        shop = create_service(org.id, service_key="shop", name="쇼핑몰", type=ServiceType.counseling,
                              languages=["ko"], default_language="ko", time_zone=ZONE_NAME,
                              status=ServiceStatus.active)
        db.session.commit()
        org_id, support_id, shop_id = org.id, support.id, shop.id
        admin_id = db.session.scalar(select(Member.id).where(Member.organization_id == org_id,
                                                             Member.is_org_admin.is_(True)))
        zone = ZoneInfo(ZONE_NAME)
        now = utcnow()
        today = now.astimezone(zone).date()

        # Members: the heavy agent and 499 others, one password hash for all.
        password_hash = hash_password(PASSWORD)
        family, given = "김이박최정강조윤장임한오서신권황안송류홍", "민서지현준우예은도윤하주수아시영태건"
        members = [{"organization_id": org_id, "login_id": "heavy", "name": "가나다 상담원",
                    "email": "heavy@perf.example", "password_hash": password_hash, "status": MemberStatus.active,
                    "is_org_admin": False, "ui_language": "ko"}]
        for i in range(1, AGENTS):
            name = rng.choice(family) + rng.choice(given) + rng.choice(given)
            members.append({"organization_id": org_id, "login_id": f"agent{i:03d}", "name": name,
                            "email": f"agent{i:03d}@perf.example", "password_hash": password_hash,
                            "status": MemberStatus.active, "is_org_admin": False, "ui_language": "ko"})
        bulk(Member, members)
        ids = dict(db.session.execute(select(Member.login_id, Member.id).where(Member.organization_id == org_id,
                                                                               Member.is_org_admin.is_(False))).all())
        heavy_id = ids["heavy"]
        others = [ids[f"agent{i:03d}"] for i in range(1, AGENTS)]

        links, perms = [], {heavy_id: (True, True)}
        links.append({"organization_id": org_id, "service_id": support_id, "member_id": heavy_id,
                      "role": ServiceRole.agent, "can_ticket": True, "can_phone": True, "can_chat": True})
        for member_id in others:
            can_phone = rng.random() < 0.85
            can_chat = (not can_phone) or rng.random() < 0.6
            perms[member_id] = (can_phone, can_chat)
            links.append({"organization_id": org_id, "service_id": support_id, "member_id": member_id,
                          "role": ServiceRole.agent, "can_ticket": True, "can_phone": can_phone, "can_chat": can_chat})
        shop_chat = set(rng.sample(others, 40))  # they may be working on chat in `shop` right now
        for member_id in shop_chat:
            links.append({"organization_id": org_id, "service_id": shop_id, "member_id": member_id,
                          "role": ServiceRole.agent, "can_ticket": True, "can_phone": False, "can_chat": True})
        bulk(ServiceMember, links)

        # The heavy agent's year.
        phone, chat = heavy_timeline(rng, zone, today, now)
        intervals, calls, tickets = [], [], []
        number = 0
        for channel, timeline in (("phone", phone), ("chat", chat)):
            for k, (state, began, ended) in enumerate(timeline):
                follows = k + 1 < len(timeline) and timeline[k + 1][1] == ended
                intervals.append({"organization_id": org_id, "member_id": heavy_id, "service_id": support_id,
                                  "channel": channel, "state": state, "started_at": began, "ended_at": ended,
                                  "reason": "after-call" if state == "ticket_work" and k and
                                  timeline[k - 1][0] in ("inbound_call", "outbound_call", "transfer") else None,
                                  "end_reason": None if follows or ended is None else "logout",
                                  "changed_by_id": None if state in ("inbound_call", "outbound_call", "transfer")
                                  else heavy_id})
                if state in ("inbound_call", "outbound_call"):
                    direction = "IB" if state == "inbound_call" else "OB"
                    ring = timedelta(seconds=rng.randint(3, 25))
                    talk = None if ended is None else int((ended - began).total_seconds())
                    calls.append({"organization_id": org_id, "service_id": support_id,
                                  "call_id": f"heavy-{len(calls)}", "direction": direction, "member_id": heavy_id,
                                  "counterpart": f"010{rng.randrange(10**8):08d}", "started_at": began - ring,
                                  "answered_at": began, "ended_at": ended, "talk_seconds": talk,
                                  "outcome": None if ended is None else "answered"})
                    if direction == "OB" and rng.random() < 0.3:  # an unanswered dial before this one
                        calls.append({"organization_id": org_id, "service_id": support_id,
                                      "call_id": f"heavy-{len(calls)}", "direction": "OB", "member_id": heavy_id,
                                      "counterpart": f"010{rng.randrange(10**8):08d}",
                                      "started_at": began - ring - timedelta(seconds=40), "answered_at": None,
                                      "ended_at": began - ring - timedelta(seconds=10), "talk_seconds": 0,
                                      "outcome": "no_answer"})
                if state in ("inbound_call", "chat_work") and ended is not None and rng.random() < 0.5:
                    number += 1
                    status = rng.choices([TicketStatus.completed, TicketStatus.resolved, TicketStatus.in_progress],
                                         [70, 25, 5])[0]
                    closed = (None if status == TicketStatus.in_progress
                              else ended + timedelta(minutes=rng.randint(1, 90)))
                    channel_ = TicketChannel.phone_ib if state == "inbound_call" else TicketChannel.chat
                    tickets.append({"organization_id": org_id, "service_id": support_id, "number": number,
                                    "title": f"문의 {number}", "status": status, "channel": channel_,
                                    "assignee_id": heavy_id, "created_at": began, "updated_at": closed or ended,
                                    "closed_at": closed})
        # The rest of the service's tickets over the year: others', and some still unassigned.
        first = datetime.combine(today - timedelta(days=DAYS - 1), datetime.min.time(), tzinfo=zone)
        for _ in range(service_tickets):
            number += 1
            created = first + timedelta(seconds=rng.uniform(0, (now - first).total_seconds()))
            unassigned = rng.random() < 0.05
            status = TicketStatus.unassigned if unassigned else rng.choice(list(TicketStatus)[1:])
            closed = created + timedelta(hours=2) if status in (TicketStatus.resolved, TicketStatus.completed) else None
            tickets.append({"organization_id": org_id, "service_id": support_id, "number": number,
                            "title": f"문의 {number}", "status": status, "channel": TicketChannel.web,
                            "assignee_id": None if unassigned else rng.choice(others),
                            "created_at": created, "updated_at": closed or created, "closed_at": closed})

        # Everybody else: the shift so far today (a few closed intervals, then an open one) and calls today.
        midnight = datetime.combine(today, datetime.min.time(), tzinfo=zone).astimezone(timezone.utc)
        shift_start = max(midnight + timedelta(minutes=1), min(midnight + timedelta(hours=9), now - timedelta(hours=6)))
        for member_id in others:
            can_phone, can_chat = perms[member_id]
            for channel, allowed in (("phone", can_phone), ("chat", can_chat)):
                if not allowed or (channel == "phone" and rng.random() < 0.04):
                    continue  # a few phone agents logged out of the phone
                elsewhere = channel == "chat" and member_id in shop_chat and rng.random() < 0.5
                service_id = shop_id if elsewhere else support_id
                states = (phone_states(rng, rng.randint(6, 14)) if channel == "phone"
                          else chat_states(rng, rng.randint(3, 7)))
                begin = min(shift_start + timedelta(minutes=rng.randint(0, 30)), now - timedelta(minutes=5))
                timeline = spread(rng, states, begin, now)
                timeline[-1] = (timeline[-1][0], timeline[-1][1], None)
                for state, began, ended in timeline:
                    intervals.append({"organization_id": org_id, "member_id": member_id, "service_id": service_id,
                                      "channel": channel, "state": state, "started_at": began, "ended_at": ended,
                                      "reason": None, "end_reason": None, "changed_by_id":
                                      None if state in ("inbound_call", "outbound_call") else member_id})
            if can_phone:
                for _ in range(rng.randint(0, 6)):
                    began = midnight + timedelta(seconds=rng.uniform(0, max((now - midnight).total_seconds() - 600, 1)))
                    talk = rng.randint(20, 500)
                    calls.append({"organization_id": org_id, "service_id": support_id,
                                  "call_id": f"c-{len(calls)}", "direction": rng.choice(["IB", "IB", "OB"]),
                                  "member_id": member_id, "counterpart": f"010{rng.randrange(10**8):08d}",
                                  "started_at": began, "answered_at": began + timedelta(seconds=5),
                                  "ended_at": began + timedelta(seconds=5 + talk), "talk_seconds": talk,
                                  "outcome": "answered"})
        counts = {"intervals": bulk(AgentStateInterval, intervals), "calls": bulk(Call, calls),
                  "tickets": bulk(Ticket, tickets)}
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
        heavy_intervals = sum(1 for r in intervals if r["member_id"] == heavy_id)
        heavy_calls = sum(1 for r in calls if r["member_id"] == heavy_id)
        spanning = sum(1 for _s, b, e in phone + chat if across_midnight(b, e, zone))
        heavy_tickets = sum(1 for t in tickets if t["assignee_id"] == heavy_id)
        print(f"{db.engine.dialect.name}: built in {time.perf_counter() - started:.1f} s — {AGENTS} agents in support;"
              f" heavy: {heavy_intervals:,} intervals ({len(phone):,} phone, {len(chat):,} chat, {spanning} across"
              f" local midnight), {heavy_calls:,} calls, {heavy_tickets:,} tickets; in all {counts['intervals']:,}"
              f" intervals, {counts['calls']:,} calls, {counts['tickets']:,} tickets", flush=True)
    ids = {"org": org_id, "support": support_id, "admin": admin_id, "heavy": heavy_id, "today": today, "now": now}
    return app, ids, {"phone": phone, "chat": chat}


# -- measuring ----------------------------------------------------------------------------------------------------

class SqlMeter:
    """Statements sent and time spent in the driver (before → after cursor execute) since the last reset."""

    def __init__(self, engine):
        self.count, self.seconds, self._t0, self.statements = 0, 0.0, 0.0, []
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, *_args):
        self._t0 = time.perf_counter()

    def _after(self, _conn, _cursor, statement, *_args):
        elapsed = time.perf_counter() - self._t0
        self.count += 1
        self.seconds += elapsed
        self.statements.append((statement, elapsed))

    def reset(self):
        self.count, self.seconds, self.statements = 0, 0.0, []


def stats(times: list[float]) -> dict:
    times = sorted(times)
    return {"median": statistics.median(times), "p95": statistics.quantiles(times, n=20, method="inclusive")[18],
            "min": times[0]}


def measure(label: str, call, runs: int, warmup: int, meter: SqlMeter, results: list, kind: str,
            profile: bool = False, setup=None) -> None:
    """Time `call` `runs` times after `warmup` calls; `setup` (not timed) runs before each call. Wall and CPU
    (this process: the app and SQLite run in it; PostgreSQL's server does not) per call."""
    setup = setup or (lambda: None)
    for _ in range(warmup):
        setup()
        call()
    wall, cpu, sql_ms, queries, per_statement = [], [], [], [], defaultdict(list)
    for _ in range(runs):
        setup()
        meter.reset()
        c0, t0 = time.process_time(), time.perf_counter()
        call()
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        sql_ms.append(meter.seconds * 1000)
        queries.append(meter.count)
        for n, (statement, elapsed) in enumerate(meter.statements):
            per_statement[(n, statement)].append(elapsed * 1000)
    row = {"label": label, "kind": kind, **stats(wall), "cpu": statistics.median(cpu),
           "sql_ms": statistics.median(sql_ms), "queries": statistics.median(queries)}
    results.append(row)
    print(f"  {label:52s} median {row['median']:6.1f}  p95 {row['p95']:6.1f}  min {row['min']:6.1f}  "
          f"CPU {row['cpu']:6.1f} ms   {row['queries']:3.0f} statements, SQL {row['sql_ms']:5.1f} ms", flush=True)
    if profile:
        for (n, statement), times in sorted(per_statement.items()):
            flat = " ".join(statement.split())
            print(f"      SQL {n + 1:2d}: {statistics.median(times):6.2f} ms  {flat[:150]}")
        profiler = cProfile.Profile()
        for _ in range(max(runs // 2, 5)):
            setup()
            profiler.runcall(call)
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(18)
        print("\n".join("      " + line for line in out.getvalue().splitlines()[5:] if line.strip()))


def expected_seconds(timeline, start: datetime, end: datetime, now: datetime) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for state, began, ended in timeline:
        low, high = max(began, start), min(ended or now, end, now)
        if high > low:
            totals[state] += (high - low).total_seconds()
    return dict(totals)


def csrf_token(client, path: str) -> str:
    html = client.get(path).get_data(as_text=True)
    match = CSRF_RE.search(html)
    if not match:
        sys.exit(f"no CSRF token on {path}")
    return match.group(1) or match.group(2)


def logged_in(app, login_id: str):
    client = app.test_client()
    response = client.post("/login", data={"csrf_token": csrf_token(client, "/login"), "organization": "perf",
                                           "login_id": login_id, "password": PASSWORD})
    if response.status_code != 303:
        sys.exit(f"log-in as {login_id} failed: {response.status_code}")
    return client


def run(app, ids: dict, timelines: dict, runs: int, warmup: int, profile: bool) -> list[dict]:
    from portal.extensions import db
    from portal.models import Member, Service
    from portal.services import agent_states, performance

    zone = ZoneInfo(ZONE_NAME)
    today = ids["today"]
    # The past day: the day after the most recent night shift (its first hours come from the evening before).
    night = max(b for _s, b, e in timelines["phone"] if across_midnight(b, e, zone))
    past = night.astimezone(zone).date() + timedelta(days=1)
    ordinary = today - timedelta(days=100)
    results: list[dict] = []
    with app.app_context():
        meter = SqlMeter(db.engine)

        # Exactness: the figures against seconds computed from the generated rows.
        member, service = db.session.get(Member, ids["heavy"]), db.session.get(Service, ids["support"])
        checks = []
        for day in (today, past, ordinary):
            now = datetime.now(timezone.utc)
            got = performance.figures(member, service, day, now)
            for channel in ("phone", "chat"):
                want = expected_seconds(timelines[channel], got.start, got.end, now)
                same = set(want) == set(getattr(got, channel)) and all(
                    abs(want[s] - getattr(got, channel)[s]) < 1e-6 for s in want)
                checks.append(f"{day} {channel} {'exact' if same else 'DIFFERENT'} ({sum(want.values()) / 3600:.2f} h)")
        print("figures vs generated rows: " + "; ".join(checks))
        db.session.rollback()
        # The generated rows are not the app's: drop them, so the collector does not walk them while timing.
        timelines.clear()
        gc.collect()

        print(f"\nservice functions (today {today}, past day {past}; {runs} runs after {warmup} warm-up):")

        loaded = {}

        def fresh():
            """Like a request: a new transaction, an empty session, the member and service loaded."""
            db.session.rollback()
            db.session.expunge_all()
            loaded["m"], loaded["s"] = db.session.get(Member, ids["heavy"]), db.session.get(Service, ids["support"])

        for label, fn in (
                ("figures(heavy, support, today)", lambda: performance.figures(loaded["m"], loaded["s"], today)),
                (f"figures(heavy, support, {past})", lambda: performance.figures(loaded["m"], loaded["s"], past)),
                ("board(support)", lambda: agent_states.board(loaded["s"]))):
            measure(label, fn, runs, warmup, meter, results, "function", profile=profile, setup=fresh)
        db.session.rollback()
        db.session.remove()

    agent, admin = logged_in(app, "heavy"), logged_in(app, "admin")
    htmx, poll = {"HX-Request": "true"}, {"HX-Request": "true", "X-Poll": "1"}

    # The templates alone: inside a real request, with the context the route built (whatever it is today).
    print(f"\ntemplates alone, re-rendered inside the route's request with its context ({runs} runs after {warmup} "
          "warm-up):")
    from flask import before_render_template

    for label, client, path in (("me/_performance.html (the dialog, today)", agent, "/me/performance"),
                                ("board/_board_rows.html (500 rows)", admin, "/services/support/board?part=rows")):
        def rerender(_app, template, context, label=label, **_extra):
            if not any(r["label"] == label for r in results):
                measure(label, lambda: template.render(context), runs, warmup, meter, results, "template",
                        profile=profile)

        before_render_template.connect(rerender, app)
        try:
            client.get(path, headers=poll)  # X-Poll: no activity write, so nothing is committed and expired
        finally:
            before_render_template.disconnect(rerender, app)

    requests = [
        ("dialog today: GET /me/performance (htmx)", agent, "/me/performance", htmx, 'data-figure="phone-ready"'),
        (f"dialog past day: ?day={past} (htmx)", agent, f"/me/performance?day={past}", htmx,
         'data-figure="phone-ready"'),
        ("dialog poll: ?part=body (htmx, X-Poll)", agent, f"/me/performance?day={today}&part=body", poll,
         'data-figure="phone-ready"'),
        ("board page: GET /services/support/board", admin, "/services/support/board", {}, 'id="agent-'),
        ("board poll, every row: ?part=rows (no version)", admin, "/services/support/board?part=rows", poll, 'id="agent-'),
    ]
    print(f"\nrequests through the test client ({runs} runs after {warmup} warm-up):")
    for label, client, path, headers, marker in requests:
        response = client.get(path, headers=headers)
        body = response.get_data(as_text=True)
        if response.status_code != 200 or marker not in body:
            sys.exit(f"{path}: {response.status_code}, {marker!r} {'found' if marker in body else 'missing'}")
        rows = body.count('id="agent-')
        note = f" [{rows} rows, {len(body) // 1024} KiB]" if rows else f" [{len(body) // 1024} KiB]"

        def call(client=client, path=path, headers=headers):
            client.get(path, headers=headers)

        measure(label + note, call, runs, warmup, meter, results, "request", profile=profile)

    # The board's poll as an open board sends it (issue 18): with the version it shows (If-None-Match). Nothing
    # changed → 304; CHANGED agents changed their phone state since (a busy floor in 5 s) → only their rows.
    board_poll = "/services/support/board?part=rows"
    current = {}

    def version():
        """Not timed: the board's version now, as the browser holds it after its last answer."""
        current["tag"] = admin.get(board_poll, headers=poll).headers["ETag"]

    def flip_some():
        """Not timed: the version the browser shows, then CHANGED agents change state elsewhere."""
        version()
        with app.app_context():
            from portal.models import AgentStateInterval
            from sqlalchemy import update

            chosen = flip_rng.sample(flip_ids, CHANGED)
            for member_id in chosen:
                db.session.execute(update(AgentStateInterval).where(
                    AgentStateInterval.member_id == member_id, AgentStateInterval.channel == "phone",
                    AgentStateInterval.ended_at.is_(None)).values(
                    state=flip_rng.choice(("ready", "break", "ticket_work", "meeting"))))
            db.session.commit()

    with app.app_context():
        from portal.models import AgentStateInterval

        flip_ids = list(db.session.scalars(select(AgentStateInterval.member_id).where(
            AgentStateInterval.service_id == ids["support"], AgentStateInterval.channel == "phone",
            AgentStateInterval.ended_at.is_(None), AgentStateInterval.member_id != ids["heavy"])))
    flip_rng = random.Random(11)
    version()
    unchanged = admin.get(board_poll, headers={**poll, "If-None-Match": current["tag"]})
    if unchanged.status_code != 304:
        sys.exit(f"board poll with its own version: {unchanged.status_code}, not 304")
    flip_some()
    some = admin.get(board_poll, headers={**poll, "If-None-Match": current["tag"]})
    sent = some.get_data(as_text=True).count('<tr id="agent-')
    size = f"{sent} rows, {len(some.get_data()) / 1024:.1f} KiB"
    if some.status_code != 200 or some.headers.get("HX-Reswap") != "none":
        sys.exit(f"board poll after {CHANGED} changes: {some.status_code}, {some.headers.get('HX-Reswap')}")
    measure("board poll, nothing changed (If-None-Match → 304)",
            lambda: admin.get(board_poll, headers={**poll, "If-None-Match": current["tag"]}), runs, warmup, meter,
            results, "request", profile=profile, setup=version)
    measure(f"board poll, {CHANGED} agents changed [{size}]",
            lambda: admin.get(board_poll, headers={**poll, "If-None-Match": current["tag"]}), runs, warmup, meter,
            results, "request", profile=profile, setup=flip_some)
    return results


def summary(results: list[dict], dialect: str) -> None:
    print(f"\n{dialect}: requests against the target of {TARGET_MS:.0f} ms (wall median / p95, CPU median, ms)")
    for row in results:
        if row["kind"] == "request":
            ok = "yes" if row["p95"] < TARGET_MS else ("median only" if row["median"] < TARGET_MS else "NO")
            print(f"  {row['label']:60s} {row['median']:6.1f} / {row['p95']:6.1f}   CPU {row['cpu']:6.1f}   {ok}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50, help="timed runs per measurement (default 50)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", action="store_true",
                        help="after each timing: the median time of each SQL statement and a cProfile of the call")
    parser.add_argument("--tickets", type=int, default=6_000,
                        help="tickets of the other agents in the service, over the year (default 6,000)")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    from portal.config import _normalise_db_url

    with tempfile.TemporaryDirectory(prefix="perf-bench-") as tmp:
        url = _normalise_db_url(os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{tmp}/bench.db")
        app, ids, timelines = build(url, args.seed, args.tickets)
        results = run(app, ids, timelines, args.runs, args.warmup, args.profile)
        with app.app_context():
            from portal.extensions import db

            dialect = db.engine.dialect.name
            db.engine.dispose()
        summary(results, dialect)


if __name__ == "__main__":
    main()
